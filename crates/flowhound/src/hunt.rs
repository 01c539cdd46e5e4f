//! `flowhound hunt`: sweep historical logs for C2 beaconing, exfiltration and lateral
//! movement without a clean period. Without `--model` the hunted data is its own baseline
//! (flowhound_model::hunt); with one, the model's history is added.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use flowhound_flowlog::time::format_rfc3339;
use flowhound_model::detect;
use flowhound_model::{BaselineError, BaselineParams, Finding};

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs, StateArgs};
use crate::config::{self, Secs};
use crate::models::{ModelLocation, parse_model_arg};
use crate::score::{counts_by_detector, ranked, read_safelist, write_findings, write_findings_file};
use crate::train::{address_blocks, blocks_for_model, extract, read_settings};

#[derive(Debug, Args)]
pub struct HuntArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Model directory written by `flowhound train` (local or s3://bucket/prefix/), to add
    /// its history; without one the hunted data is its own baseline (each day judged
    /// against the others).
    #[arg(long, value_name = "DIR", value_parser = parse_model_arg)]
    pub model: Option<ModelLocation>,
    /// Write the findings (JSON lines, ranked by score) here: a file, s3://bucket/key, or `-`
    /// for stdout (the summary table then goes to stderr).
    #[arg(long)]
    pub findings: Option<PathBuf>,
    /// Findings listed in the summary table (all are written to --findings).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Feature window without --model (e.g. 10m, 15m, 1h); with --model, the model's.
    #[arg(long, default_value_t = config::DEFAULT_WINDOW)]
    pub window: Secs,
    /// Beaconing horizon (e.g. 24h; 1h for short sessions); default: the model's or [detect]'s (24h).
    #[arg(long)]
    pub horizon: Option<Secs>,
    /// TOML configuration (a file or s3://bucket/key): [detect], [train] and [features] tables
    /// (docs/detectors.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Safelist (TOML or JSON: cidr/host/port/detector with owner, reason, expires): a file or
    /// s3://bucket/key.
    #[arg(long)]
    pub safelist: Option<PathBuf>,
    #[command(flatten)]
    pub addresses: AddressArgs,
    /// Also write a self-contained HTML report: the findings ranked, each with a picture of
    /// its evidence (docs/report.md).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

pub fn run(args: &HuntArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let settings = read_settings(args.config.as_deref())?;
    let mut detect_cfg = settings.detect.clone();
    let horizon = args.horizon.map(|h| h.0);
    let safelist = read_safelist(args.safelist.as_deref())?;
    let given = address_blocks(&settings, &args.addresses);
    let (scored, model_id, baseline, features, summary) = match &args.model {
        Some(dir) => {
            let (manifest, mut baseline) = crate::models::load(dir)?;
            if let Some(h) = horizon {
                baseline.detect.horizon_secs = h;
            }
            baseline.detect.validate().map_err(|e| UsageError(format!("--horizon: {e}")))?;
            let blocks = blocks_for_model(&baseline.train.addresses, given)?;
            let (features, summary) = extract(
                &args.source,
                &args.state.states,
                baseline.train.window_secs,
                baseline.detect.horizon_secs,
                &blocks,
            )?;
            let scored = detect::score(&baseline, &features, &safelist, &manifest.id);
            (scored, manifest.id, baseline, features, summary)
        }
        None => {
            if let Some(h) = horizon {
                detect_cfg.horizon_secs = h;
            }
            detect_cfg.validate().map_err(|e| UsageError(format!("invalid detector settings: {e}")))?;
            let (features, summary) =
                extract(&args.source, &args.state.states, args.window.0, detect_cfg.horizon_secs, &given)?;
            if features.rows.is_empty() {
                return Err(
                    UsageError("no host windows in the hunted range (check SOURCE and --from/--to)".into()).into()
                );
            }
            let mut params = BaselineParams::new();
            if let Some(seed) = settings.seed {
                params = params.seed(seed);
            }
            let out = flowhound_model::hunt::hunt(&params, &features, &detect_cfg, &safelist).map_err(|e| match e {
                BaselineError::Params(p) => anyhow::Error::new(UsageError(format!("invalid parameters: {p}"))),
                other => anyhow::Error::new(other).context("hunting failed"),
            })?;
            tracing::info!(days = out.days, groups = out.baseline.groups.k(), "self-baseline fitted");
            (out.scored, flowhound_model::hunt::SELF_BASELINE_MODEL.to_string(), out.baseline, features, summary)
        }
    };
    let ranked = ranked(&scored.findings);
    let to_stdout = args.findings.as_deref().is_some_and(|p| p.as_os_str() == "-");
    match args.findings.as_deref() {
        Some(_) if to_stdout => {
            let mut w = std::io::stdout().lock();
            write_findings(&mut w, &ranked)?;
            w.flush()?;
        }
        Some(path) => write_findings_file(path, &ranked)?,
        None => {}
    }
    if let Some(path) = &args.report {
        let run = crate::report::Run {
            command: "hunt",
            sources: &args.source.sources,
            records: summary.records,
            malformed: summary.malformed,
            first: summary.first_start,
            last: summary.last_end,
            model: args.model.is_some().then_some(model_id.as_str()),
            baseline: &baseline,
            features: &features,
            findings: &ranked,
        };
        crate::report::write(path, &run)?;
    }
    let hosts = features.rows.iter().map(|r| r.host).collect::<std::collections::BTreeSet<_>>().len();
    let table =
        summary_table(&ranked, args.top, &model_id, hosts, summary.records, summary.first_start, summary.last_end);
    if to_stdout {
        std::io::stderr().lock().write_all(table.as_bytes())?;
    } else {
        std::io::stdout().lock().write_all(table.as_bytes())?;
    }
    tracing::info!(
        model = %model_id,
        hosts,
        records = summary.records,
        malformed = summary.malformed,
        findings = ranked.len(),
        safelisted = scored.safelisted,
        secs = started.elapsed().as_secs_f64(),
        "hunt finished"
    );
    Ok(ExitCode::SUCCESS)
}

/// The readable summary: what was hunted, findings per detector, hosts ranked by their
/// best finding, and the top findings with their one-line explanation.
fn summary_table(
    ranked: &[Finding],
    top: usize,
    model: &str,
    hosts: usize,
    records: u64,
    first: Option<u64>,
    last: Option<u64>,
) -> String {
    let mut s = String::new();
    let span = match (first, last) {
        (Some(a), Some(b)) => format!("{} .. {}", format_rfc3339(a), format_rfc3339(b)),
        _ => "-".to_string(),
    };
    s.push_str(&format!("hunted       {records} records, {hosts} hosts, {span}\n"));
    s.push_str(&format!("baseline     {model}\n"));
    s.push_str(&format!("findings     {}\n", ranked.len()));
    for (d, [h, m, l]) in &counts_by_detector(ranked) {
        s.push_str(&format!("  {d:<18} {h} high, {m} medium, {l} low\n"));
    }
    // Campaigns: one line per destination network several hosts beacon to.
    let mut campaigns: BTreeMap<String, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for f in ranked.iter().filter(|f| !f.related_hosts.is_empty()) {
        let Some(peer) = f.peer.as_deref().and_then(|p| p.parse::<std::net::IpAddr>().ok()) else { continue };
        let hosts = campaigns.entry(flowhound_model::history::net_of(peer.into())).or_default();
        hosts.insert(&f.host);
        hosts.extend(f.related_hosts.iter().map(String::as_str));
    }
    for (net, hosts) in &campaigns {
        let hosts: Vec<&str> = hosts.iter().copied().collect();
        s.push_str(&format!("campaign     {} hosts beacon to {net}: {}\n", hosts.len(), hosts.join(", ")));
    }
    let mut by_host: Vec<(&str, f64, usize)> = Vec::new();
    for f in ranked {
        match by_host.iter_mut().find(|(h, _, _)| *h == f.host) {
            Some(e) => e.2 += 1,
            None => by_host.push((&f.host, f.score, 1)),
        }
    }
    if !by_host.is_empty() {
        s.push_str("\ntop hosts    (best score, findings)\n");
        for (h, score, n) in by_host.iter().take(top) {
            s.push_str(&format!("  {h:<40} {score:>5.1} {n:>4}\n"));
        }
        s.push_str(&format!(
            "\n{:<6} {:<8} {:<17} {:<20} explanation\n",
            "score", "severity", "detector", "window start"
        ));
        for f in ranked.iter().take(top) {
            s.push_str(&format!(
                "{:<6.1} {:<8} {:<17} {:<20} {}\n",
                f.score,
                f.severity.as_str(),
                f.detector,
                format_rfc3339(f.window_start),
                f.summary
            ));
        }
        if ranked.len() > top {
            s.push_str(&format!("… {} more (all in --findings)\n", ranked.len() - top));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhound_model::Severity;
    use flowhound_model::detect::ScoreOutput;

    fn finding(detector: &'static str, host: &str, score: f64, severity: Severity, start: u64) -> Finding {
        Finding {
            summary: format!("{host} did something"),
            ..crate::test_support::finding(detector, host, start, score, severity)
        }
    }

    #[test]
    fn table_ranks_hosts_by_their_best_finding_and_counts_per_detector() {
        let scored = ScoreOutput {
            findings: vec![
                finding("beaconing", "10.0.0.2", 61.0, Severity::Low, 100),
                finding("lateral_movement", "10.0.0.1", 93.0, Severity::High, 200),
                finding("beaconing", "10.0.0.1", 75.0, Severity::Medium, 50),
            ],
            raw_hits: 3,
            safelisted: 0,
        };
        let mut scored = scored;
        scored.findings[0].peer = Some("198.51.100.7".into());
        scored.findings[0].related_hosts = vec!["10.0.0.1".into()];
        scored.findings[2].peer = Some("198.51.100.9".into());
        scored.findings[2].related_hosts = vec!["10.0.0.2".into()];
        let ranked = ranked(&scored.findings);
        let scores: Vec<f64> = ranked.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![93.0, 75.0, 61.0]);
        let t = summary_table(&ranked, 2, "hunt:self-baseline", 2, 1234, Some(0), Some(3600));
        assert!(t.contains("hunted       1234 records, 2 hosts, 1970-01-01T00:00:00Z .. 1970-01-01T01:00:00Z"), "{t}");
        assert!(t.contains("  beaconing          0 high, 1 medium, 1 low\n"), "{t}");
        assert!(t.contains("  lateral_movement   1 high, 0 medium, 0 low\n"), "{t}");
        let host_lines: Vec<&str> = t.lines().filter(|l| l.starts_with("  10.0.0.")).collect();
        assert_eq!(host_lines.len(), 2);
        assert!(host_lines[0].starts_with("  10.0.0.1") && host_lines[0].ends_with("93.0    2"), "{t}");
        assert!(t.contains("… 1 more (all in --findings)"), "{t}");
        assert!(t.contains("campaign     2 hosts beacon to 198.51.100.0/24: 10.0.0.1, 10.0.0.2\n"), "{t}");
    }
}
