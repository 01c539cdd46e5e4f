//! `flowhound score`: findings as JSON lines (docs/findings.md) from flow logs and a verified model.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;
use flowhound_features::Features;
use flowhound_model::artifact::Manifest;
use flowhound_model::detect::{self, ScoreOutput};
use flowhound_model::{Baseline, Finding, Safelist};

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs, StateArgs};
use crate::config::Secs;
use crate::metrics::{self, PublishSettings, Scored};
use crate::models::{ModelLocation, parse_model_arg};
use crate::train::extract;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Model directory written by `flowhound train` (local or s3://bucket/prefix/), or one
    /// version of it (DIR/<id>).
    #[arg(long, value_name = "DIR", value_parser = parse_model_arg)]
    pub model: ModelLocation,
    /// Write findings (JSON lines, ranked by score) here instead of stdout: a file or
    /// s3://bucket/key.
    #[arg(long)]
    pub findings: Option<PathBuf>,
    /// Safelist (TOML or JSON: cidr/host/port/detector with owner, reason, expires): a file or
    /// s3://bucket/key.
    #[arg(long)]
    pub safelist: Option<PathBuf>,
    /// Beaconing horizon (e.g. 24h, 1h for short sessions); default: the model's.
    #[arg(long)]
    pub horizon: Option<Secs>,
    /// TOML configuration (a file or s3://bucket/key): only the [features] table is read (the
    /// detector settings are the model's).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Not needed: the model's address blocks are used. Blocks given here must equal the
    /// model's (other blocks are refused: retrain instead).
    #[command(flatten)]
    pub addresses: AddressArgs,
    /// Publish the CloudWatch metrics of the scored windows (standard AWS credentials and
    /// AWS_ENDPOINT_URL*; data older than CloudWatch's 14 days is not published).
    #[arg(long)]
    pub publish: bool,
    /// CloudWatch namespace for --publish.
    #[arg(long, default_value = flowhound_aws::cloudwatch::DEFAULT_NAMESPACE, requires = "publish")]
    pub namespace: String,
    /// Also write a self-contained HTML report: the findings ranked, each with a picture of
    /// its evidence (docs/report.md).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// HostScore datums kept per window for --publish (the highest scores).
    #[arg(long, default_value_t = 20, requires = "publish")]
    pub host_score_top: usize,
}

pub fn read_safelist(path: Option<&Path>) -> Result<Safelist> {
    let Some(path) = path else { return Ok(Safelist::default()) };
    let text = crate::aws::read_text(&path.to_string_lossy())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let list = Safelist::parse(&text, now).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    tracing::info!(entries = list.entries().len(), "safelist loaded");
    Ok(list)
}

/// Findings by score, highest first (ties: earliest, then host).
pub fn ranked(findings: &[Finding]) -> Vec<Finding> {
    let mut out = findings.to_vec();
    out.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then(a.window_start.cmp(&b.window_start)).then_with(|| a.host.cmp(&b.host))
    });
    out
}

/// Findings per detector as [high, medium, low] counts; the summaries of `hunt` and of
/// the report.
pub fn counts_by_detector(findings: &[Finding]) -> BTreeMap<&'static str, [usize; 3]> {
    let mut counts: BTreeMap<&'static str, [usize; 3]> = BTreeMap::new();
    for f in findings {
        let c = counts.entry(f.detector).or_default();
        match f.severity.as_str() {
            "high" => c[0] += 1,
            "medium" => c[1] += 1,
            _ => c[2] += 1,
        }
    }
    counts
}

/// Scores features and writes the findings, ranked by score; shared by `score` and `demo`.
pub fn score_and_write(
    baseline: &Baseline,
    manifest: &Manifest,
    features: &Features,
    safelist: &Safelist,
    out: Option<&Path>,
) -> Result<ScoreOutput> {
    let mut result = detect::score(baseline, features, safelist, &manifest.id);
    result.findings = ranked(&result.findings);
    match out {
        Some(path) => write_findings_file(path, &result.findings)?,
        None => {
            let mut w = std::io::stdout().lock();
            write_findings(&mut w, &result.findings)?;
            w.flush()?;
        }
    }
    Ok(result)
}

/// Findings as JSON lines in a new file at `path`, written atomically (a failed or killed
/// run leaves the previous file as it was), or in the object `s3://bucket/key`; shared by
/// `score` and `hunt`.
pub fn write_findings_file(path: &Path, findings: &[Finding]) -> Result<()> {
    if let Some(url) = path.to_str().filter(|p| p.starts_with("s3://")) {
        let mut bytes = Vec::new();
        write_findings(&mut bytes, findings)?;
        return crate::aws::S3Remote::connect()?.put_bytes(url, bytes);
    }
    crate::extract::write_file_atomically(path, |w| write_findings(w, findings))
}

/// Findings as JSON lines (docs/findings.md); shared by `score` and `serve`.
pub fn write_findings(w: &mut impl Write, findings: &[Finding]) -> Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *w, f)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

pub fn run(args: &ScoreArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (manifest, mut baseline) = crate::models::load(&args.model)?;
    if let Some(h) = args.horizon {
        baseline.detect.horizon_secs = h.0;
        baseline.detect.validate().map_err(|e| UsageError(format!("--horizon: {e}")))?;
    }
    let safelist = read_safelist(args.safelist.as_deref())?;
    let settings = crate::train::read_settings(args.config.as_deref())?;
    let given = crate::train::address_blocks(&settings, &args.addresses);
    let blocks = crate::train::blocks_for_model(&baseline.train.addresses, given)?;
    // Fail on a bad namespace before reading anything.
    let publishing = if args.publish {
        let settings = PublishSettings { namespace: args.namespace.clone(), host_score_top_n: args.host_score_top };
        let runtime = crate::aws::aws_runtime()?;
        let publisher = metrics::publisher(&runtime, &settings)?;
        Some((runtime, publisher))
    } else {
        None
    };
    let (features, summary) =
        extract(&args.source, &args.state.states, baseline.train.window_secs, baseline.detect.horizon_secs, &blocks)?;
    let extracted = started.elapsed().as_secs_f64();
    let result = score_and_write(&baseline, &manifest, &features, &safelist, args.findings.as_deref())?;
    if let Some(path) = &args.report {
        crate::report::write(
            path,
            &crate::report::Run {
                command: "score",
                sources: &args.source.sources,
                records: summary.records,
                malformed: summary.malformed,
                first: summary.first_start,
                last: summary.last_end,
                model: Some(&manifest.id),
                baseline: &baseline,
                features: &features,
                findings: &result.findings,
            },
        )?;
    }
    let count = |s: &str| result.findings.iter().filter(|f| f.severity.as_str() == s).count();
    tracing::info!(
        model = %manifest.id,
        hosts = features.rows.iter().map(|r| r.host).collect::<std::collections::BTreeSet<_>>().len(),
        windows = features.rows.len(),
        records = summary.records,
        malformed = summary.malformed,
        findings = result.findings.len(),
        high = count("high"),
        medium = count("medium"),
        low = count("low"),
        safelisted = result.safelisted,
        extract_secs = extracted,
        score_secs = started.elapsed().as_secs_f64() - extracted,
        "scoring finished"
    );
    if let Some((runtime, publisher)) = publishing {
        let mut windows: BTreeMap<u64, u64> = BTreeMap::new();
        for row in &features.rows {
            *windows.entry(row.window_start).or_default() += 1;
        }
        let newest_window = windows.keys().next_back().copied();
        let scored = Scored {
            records_at: newest_window.or(summary.last_end).unwrap_or_else(metrics::now_secs),
            at: None,
            windows,
            records: summary.records,
            malformed: summary.malformed,
            newest_end: summary.last_end,
        };
        let data = metrics::window_metrics(&result.findings, &scored, metrics::now_secs());
        runtime.block_on(metrics::publish(&publisher, data))?;
    }
    Ok(ExitCode::SUCCESS)
}
