//! The CloudWatch metrics of docs/metrics.md for scored windows, shared by `score --publish`
//! and `serve`, and the blocking publisher both use.
//!
//! For `score --publish` (backfills, dashboards), timestamps are the time the data is about:
//! - `Findings` (per `Detector`, `Severity`), `MaxScore` (per `Detector`) and `HostScore`
//!   (per `Detector`, `Host`) at each finding's `window_start`;
//! - `WindowsScored` (host windows scored) at each window's start;
//! - `RecordsProcessed` and `RecordsMalformed` at the newest scored window.
//!
//! `serve` stamps every metric with the processing time instead ([`Scored::at`]): a
//! window is scored lateness + window after its start, and a CloudWatch alarm only
//! evaluates the last few periods, so data stamped with the window's start would land
//! in periods it has already passed and never page anyone.
//!
//! `IngestLagSeconds` is always at publishing time (it is "now minus the newest record's end").
//!
//! `flowhound_aws::cloudwatch::prepare` then drops what CloudWatch cannot store (data
//! more than 14 days old, minus a margin) and keeps the top N `HostScore` per timestamp.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use flowhound_aws::cloudwatch::{Metric, PublishReport, Publisher, PublisherOptions};
use flowhound_aws::{AwsOptions, load_config};
use flowhound_model::Finding;

use crate::UsageError;

/// What was scored, as counts: the input of [`window_metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scored {
    /// Host windows scored, by window start.
    pub windows: BTreeMap<u64, u64>,
    pub records: u64,
    pub malformed: u64,
    /// Timestamp of the records metrics.
    pub records_at: u64,
    /// When set, the timestamp of every metric (`serve`: the processing time).
    pub at: Option<u64>,
    /// Newest record `end` seen, for `IngestLagSeconds`.
    pub newest_end: Option<u64>,
}

/// The metrics of `findings` and `scored`, at `now` for the lag.
pub fn window_metrics(findings: &[Finding], scored: &Scored, now: u64) -> Vec<Metric> {
    let mut counts: BTreeMap<(&str, &str, u64), u64> = BTreeMap::new();
    let mut max_scores: BTreeMap<(&str, u64), f64> = BTreeMap::new();
    let mut host_scores: BTreeMap<(&str, &str, u64), f64> = BTreeMap::new();
    let at = |t: u64| scored.at.unwrap_or(t);
    for f in findings {
        let t = at(f.window_start);
        // The findings file shows scores to one decimal: publish the same numbers.
        let score = (f.score * 10.0).round() / 10.0;
        *counts.entry((f.detector, f.severity.as_str(), t)).or_default() += 1;
        let max = max_scores.entry((f.detector, t)).or_insert(score);
        *max = max.max(score);
        let host = host_scores.entry((f.detector, f.host.as_str(), t)).or_insert(score);
        *host = host.max(score);
    }
    let mut out = Vec::new();
    for ((detector, severity, t), n) in counts {
        out.push(Metric::findings(detector, severity, n, t));
    }
    for ((detector, t), score) in max_scores {
        out.push(Metric::max_score(detector, score, t));
    }
    for ((detector, host, t), score) in host_scores {
        out.push(Metric::host_score(detector, host, score, t));
    }
    let mut windows: BTreeMap<u64, u64> = BTreeMap::new();
    for (&t, &n) in &scored.windows {
        *windows.entry(at(t)).or_default() += n;
    }
    for (t, n) in windows {
        out.push(Metric::windows_scored(n, t));
    }
    out.push(Metric::records_processed(scored.records, at(scored.records_at)));
    out.push(Metric::records_malformed(scored.malformed, at(scored.records_at)));
    if let Some(end) = scored.newest_end {
        out.push(Metric::ingest_lag_seconds(now.saturating_sub(end) as f64, now));
    }
    out
}

/// Publisher settings from the command line or configuration file.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub namespace: String,
    pub host_score_top_n: usize,
}

/// Builds a publisher on `runtime` (standard credential chain and `AWS_ENDPOINT_URL*`).
pub fn publisher(runtime: &tokio::runtime::Runtime, settings: &PublishSettings) -> Result<Publisher> {
    let config = runtime.block_on(load_config(&AwsOptions::default()));
    let opts = PublisherOptions {
        namespace: settings.namespace.clone(),
        host_score_top_n: settings.host_score_top_n,
        ..PublisherOptions::default()
    };
    Publisher::new(&config, opts).map_err(|e| UsageError(e.to_string()).into())
}

/// Publishes and logs; a failure after retries is a runtime error.
pub async fn publish(publisher: &Publisher, metrics: Vec<Metric>) -> Result<PublishReport> {
    let report = publisher.publish(metrics).await.context("publishing metrics to CloudWatch")?;
    if report.prepare.dropped_too_old > 0 {
        tracing::warn!(
            namespace = publisher.namespace(),
            dropped = report.prepare.dropped_too_old,
            "metrics older than CloudWatch accepts (14 days) were not published"
        );
    }
    Ok(report)
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhound_model::Severity;

    fn finding(detector: &'static str, host: &str, start: u64, score: f64, severity: Severity) -> Finding {
        Finding { model: "fh-test".into(), ..crate::test_support::finding(detector, host, start, score, severity) }
    }

    #[test]
    fn metrics_count_findings_per_detector_severity_and_window() {
        let findings = vec![
            finding("beaconing", "10.0.0.1", 900, 95.0, Severity::High),
            finding("beaconing", "10.0.0.2", 900, 91.04, Severity::High),
            finding("beaconing", "10.0.0.1", 900, 60.0, Severity::Low),
            finding("exfiltration", "10.0.0.3", 1800, 75.0, Severity::Medium),
        ];
        let scored = Scored {
            windows: BTreeMap::from([(900, 12), (1800, 11)]),
            records: 5000,
            malformed: 3,
            records_at: 1800,
            at: None,
            newest_end: Some(2650),
        };
        let metrics = window_metrics(&findings, &scored, 3000);
        let find = |name: &str, dims: &[(&str, &str)], t: u64| -> Vec<f64> {
            metrics
                .iter()
                .filter(|m| m.name == name && m.timestamp == t && dims.iter().all(|(n, v)| m.dimension(n) == Some(v)))
                .map(|m| m.value)
                .collect()
        };
        assert_eq!(find("Findings", &[("Detector", "beaconing"), ("Severity", "high")], 900), vec![2.0]);
        assert_eq!(find("Findings", &[("Detector", "beaconing"), ("Severity", "low")], 900), vec![1.0]);
        assert_eq!(find("Findings", &[("Detector", "exfiltration"), ("Severity", "medium")], 1800), vec![1.0]);
        assert_eq!(find("MaxScore", &[("Detector", "beaconing")], 900), vec![95.0]);
        assert_eq!(find("HostScore", &[("Detector", "beaconing"), ("Host", "10.0.0.1")], 900), vec![95.0]);
        assert_eq!(find("HostScore", &[("Detector", "beaconing"), ("Host", "10.0.0.2")], 900), vec![91.0]);
        assert_eq!(find("WindowsScored", &[], 900), vec![12.0]);
        assert_eq!(find("WindowsScored", &[], 1800), vec![11.0]);
        assert_eq!(find("RecordsProcessed", &[], 1800), vec![5000.0]);
        assert_eq!(find("RecordsMalformed", &[], 1800), vec![3.0]);
        assert_eq!(find("IngestLagSeconds", &[], 3000), vec![350.0]);
        assert_eq!(metrics.len(), 3 + 1 + 1 + 2 + 1 + 2 + 2 + 1);

        // serve: everything at the processing time, where the alarms look.
        let metrics = window_metrics(&findings, &Scored { at: Some(3000), ..scored }, 3000);
        assert!(metrics.iter().all(|m| m.timestamp == 3000), "{metrics:?}");
        let total = |name: &str| metrics.iter().filter(|m| m.name == name).map(|m| m.value).sum::<f64>();
        assert_eq!(total("Findings"), 4.0);
        assert_eq!(total("WindowsScored"), 23.0);
        let max = metrics.iter().filter(|m| m.name == "MaxScore" && m.dimension("Detector") == Some("beaconing"));
        assert_eq!(max.map(|m| m.value).collect::<Vec<_>>(), vec![95.0]);
    }

    #[test]
    fn no_lag_without_records() {
        let metrics = window_metrics(&[], &Scored::default(), 3000);
        assert!(metrics.iter().all(|m| m.name != "IngestLagSeconds"));
        assert_eq!(metrics.len(), 2);
    }
}
