//! Turning SOURCE arguments into objects, reading them with progress, and the
//! run-level policy for damaged objects.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use flowhound_aws::s3::S3Url;
use flowhound_flowlog::{
    ObjectRef, ObjectReport, Partial, ReadOptions, RemoteOpener, ScanSummary, discover_local, scan,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::UsageError;
use crate::aws::{S3Remote, s3_error};
use crate::cli::SourceArgs;

/// Parses `--from/--to`: RFC 3339 or epoch seconds.
pub fn parse_time(value: &str) -> Result<u64, UsageError> {
    let out_of_range = || {
        UsageError(format!(
            "time out of range: {value} (flow-log times end at {} = 2262-04-11T23:47:16Z)",
            flowhound_flowlog::limits::MAX_UNIX_SECS
        ))
    };
    let secs = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().map_err(|_| out_of_range())?
    } else {
        flowhound_flowlog::time::parse_rfc3339(value).ok_or_else(|| {
            UsageError(format!(
                "invalid time {value:?}: use RFC 3339 with its offset (2026-11-20T13:00:00Z) or epoch seconds, \
                 from 1970"
            ))
        })?
    };
    // A bound past the last time a record can hold selects nothing, and would overflow
    // the window arithmetic: say so rather than report "no objects found".
    if secs > flowhound_flowlog::limits::MAX_UNIX_SECS {
        return Err(out_of_range());
    }
    Ok(secs)
}

/// The objects to read, after date pruning.
#[derive(Debug)]
pub struct Plan {
    pub objects: Vec<ObjectRef>,
    pub pruned: u64,
    pub opts: ReadOptions,
    /// S3 access, when a SOURCE is `s3://…` (owns the AWS I/O runtime).
    pub remote: Option<S3Remote>,
}

pub fn plan(args: &SourceArgs) -> Result<Plan> {
    if args.sources.is_empty() {
        return Err(UsageError("no SOURCE given (files, directories, s3://bucket/prefix, or -)".into()).into());
    }
    let (from, to) = match args.last {
        Some(last) => {
            let to = crate::metrics::now_secs() / 3600 * 3600;
            (Some(to.saturating_sub(last.0)), Some(to))
        }
        None => (args.from.as_deref().map(parse_time).transpose()?, args.to.as_deref().map(parse_time).transpose()?),
    };
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(UsageError(format!("--from ({f}) must be before --to ({t})")).into());
    }
    let mut objects = Vec::new();
    let mut stdin_seen = false;
    let mut remote: Option<S3Remote> = None;
    let mut s3_pruned = 0;
    for source in &args.sources {
        if source.starts_with("s3://") {
            let url = S3Url::parse(source).map_err(s3_error)?;
            let s3 = match remote.take() {
                Some(s3) => s3,
                None => S3Remote::connect()?,
            };
            let listing = s3.list(&url, from, to)?;
            tracing::info!(source = %source, objects = listing.objects.len(), pruned = listing.pruned, "s3 source listed");
            s3_pruned += listing.pruned;
            objects.extend(listing.objects.iter().map(|o| o.to_object_ref()));
            remote = Some(s3);
            continue;
        }
        if source == "-" {
            if stdin_seen {
                return Err(UsageError("stdin (-) given twice".into()).into());
            }
            stdin_seen = true;
        }
        let found = discover_local(source).map_err(|e| UsageError(e.to_string()))?;
        objects.extend(found);
    }
    let before = objects.len();
    objects.retain(|o| o.may_overlap(from, to));
    let pruned = (before - objects.len()) as u64 + s3_pruned;
    let opts = ReadOptions {
        from,
        to,
        max_line_bytes: args.max_line_bytes,
        max_decompressed_bytes: args.max_object_bytes,
        in_memory_gzip_bytes: args.in_memory_gzip_bytes,
        ..ReadOptions::default()
    };
    Ok(Plan { objects, pruned, opts, remote })
}

/// Reads the plan's objects, all at once or in groups, with one progress bar on a terminal.
pub struct Reader<'a> {
    plan: &'a Plan,
    bar: ProgressBar,
}

impl<'a> Reader<'a> {
    pub fn new(plan: &'a Plan) -> Reader<'a> {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(plan.objects.len() as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} objects {elapsed_precise} eta {eta}")
            {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        Reader { plan, bar }
    }

    /// Reads `objects` (some of the plan's) into partials made by `make`, merged.
    pub fn read<P, F>(&self, objects: &[ObjectRef], make: F) -> (Vec<ObjectReport>, P)
    where
        P: Partial,
        F: Fn() -> P + Sync,
    {
        let on_object = |report: &ObjectReport| {
            self.bar.inc(1);
            if let Some(err) = &report.error {
                tracing::warn!(object = %report.name, error = %err, "object not fully read");
            }
            if report.records > 0 {
                let fields: Vec<&str> = report.fields.iter().map(String::as_str).collect();
                let missing = flowhound_features::missing_needed_fields(&fields);
                if !missing.is_empty() {
                    tracing::warn!(
                        object = %report.name,
                        missing = missing.join(", "),
                        fields = fields.join(" "),
                        "the object's format lacks fields the features need: its records count for nothing there"
                    );
                }
            }
        };
        let remote = self.plan.remote.as_ref().map(|r| r.opener() as &dyn RemoteOpener);
        scan(objects, remote, &self.plan.opts, make, &on_object)
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Reads every object of the plan into partials made by `make`, with a progress bar
/// on a terminal.
pub fn read_all<P, F>(plan: &Plan, make: F) -> (Vec<ObjectReport>, P)
where
    P: Partial,
    F: Fn() -> P + Sync,
{
    Reader::new(plan).read(&plan.objects, make)
}

/// Logs the malformed-line samples and decides whether damaged objects fail the run.
pub fn check_damage(summary: &ScanSummary, skip_corrupt: bool) -> Result<()> {
    for sample in &summary.malformed_samples {
        tracing::warn!(object = %sample.object, line = sample.line, reason = %sample.reason, "malformed line skipped");
    }
    if summary.malformed > summary.malformed_samples.len() as u64 {
        tracing::warn!(
            malformed = summary.malformed,
            shown = summary.malformed_samples.len(),
            "more malformed lines were skipped"
        );
    }
    if summary.errors.is_empty() || skip_corrupt {
        return Ok(());
    }
    let first = &summary.errors[0];
    Err(anyhow::anyhow!("{first}")).with_context(|| {
        format!("{} object(s) could not be read completely (use --skip-corrupt to continue)", summary.errors.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_both_forms() {
        assert_eq!(parse_time("1795849200").unwrap(), 1_795_849_200);
        assert_eq!(parse_time("2026-11-28T07:00:00Z").unwrap(), 1_795_849_200);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_time("2026-11-28T08:00:00+01:00").unwrap(), 1_795_849_200);
        assert!(parse_time("2026-11-28T07:00:00").unwrap_err().0.contains("with its offset"));
        assert!(parse_time("").is_err());
        assert!(parse_time("18446744073709551615").unwrap_err().0.contains("out of range"));
        assert!(parse_time("99999999999999999999999").unwrap_err().0.contains("out of range"));
        assert_eq!(parse_time("9223372036").unwrap(), 9_223_372_036);
    }
}
