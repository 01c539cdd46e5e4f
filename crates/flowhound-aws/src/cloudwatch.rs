//! CloudWatch metrics of docs/metrics.md: a plain data type ([`Metric`]) the scorer fills
//! without knowing the SDK, the pure rules that make a set of metrics publishable
//! ([`prepare`]), and the [`Publisher`] that sends them.
//!
//! Rules applied by [`prepare`], each counted in [`PrepareReport`]:
//! - NaN and ±Inf values, and values outside CloudWatch's ±2^360, are dropped.
//! - Metrics with an empty or over-long name or dimension (name 1–255, value 1–1024
//!   characters, at most 30 dimensions) are dropped.
//! - Timestamps: CloudWatch accepts data up to 14 days old and up to 2 hours ahead.
//!   Older metrics are dropped (they cannot be stored, and moving them to "now" would
//!   put old counts in the wrong period). Metrics more than [`PublisherOptions::max_future`]
//!   ahead are clamped to "now" (their counts are real; only a clock is wrong). Both
//!   limits keep a safety margin against clock skew.
//! - `HostScore` cardinality is bounded: per timestamp (window) only the
//!   [`PublisherOptions::host_score_top_n`] highest scores are kept.
//! - What is left goes out in batches of at most 1000 datums per `PutMetricData`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde::{Deserialize, Serialize};

use crate::retry::{self, RetryPolicy};

/// The namespace of docs/metrics.md unless configured.
pub const DEFAULT_NAMESPACE: &str = "Flowhound";
/// CloudWatch's limit of datums per `PutMetricData`.
pub const MAX_BATCH: usize = 1000;
/// CloudWatch accepts data points up to this old.
pub const CLOUDWATCH_MAX_AGE: Duration = Duration::from_secs(14 * 86_400);
/// CloudWatch accepts data points up to this far in the future.
pub const CLOUDWATCH_MAX_FUTURE: Duration = Duration::from_secs(2 * 3600);
const MAX_ABS_VALUE: f64 = 2.348_542_582_773_833e108; // 2^360

/// Metric names of docs/metrics.md.
pub mod names {
    pub const FINDINGS: &str = "Findings";
    pub const MAX_SCORE: &str = "MaxScore";
    pub const RECORDS_PROCESSED: &str = "RecordsProcessed";
    pub const RECORDS_MALFORMED: &str = "RecordsMalformed";
    pub const WINDOWS_SCORED: &str = "WindowsScored";
    pub const INGEST_LAG_SECONDS: &str = "IngestLagSeconds";
    pub const HOST_SCORE: &str = "HostScore";
    pub const MODEL_REFUSED: &str = "ModelRefused";
    /// Dimension names.
    pub const DETECTOR: &str = "Detector";
    pub const SEVERITY: &str = "Severity";
    pub const HOST: &str = "Host";
}

/// The unit of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Count,
    Seconds,
    None,
}

impl Unit {
    fn sdk(self) -> StandardUnit {
        match self {
            Unit::Count => StandardUnit::Count,
            Unit::Seconds => StandardUnit::Seconds,
            Unit::None => StandardUnit::None,
        }
    }
}

/// One data point, independent of the SDK.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub unit: Unit,
    /// `(name, value)` pairs.
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
    /// Epoch seconds: the time the data is about (the window), not the publishing time.
    pub timestamp: u64,
}

impl Metric {
    pub fn new(name: impl Into<String>, unit: Unit, value: f64, timestamp: u64) -> Metric {
        Metric { name: name.into(), unit, dimensions: Vec::new(), value, timestamp }
    }

    pub fn with_dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Metric {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    /// The value of a dimension, if set.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `Findings` (Count) by `Detector`, `Severity`.
    pub fn findings(detector: &str, severity: &str, count: u64, timestamp: u64) -> Metric {
        Metric::new(names::FINDINGS, Unit::Count, count as f64, timestamp)
            .with_dimension(names::DETECTOR, detector)
            .with_dimension(names::SEVERITY, severity)
    }

    /// `MaxScore` (None) by `Detector`.
    pub fn max_score(detector: &str, score: f64, timestamp: u64) -> Metric {
        Metric::new(names::MAX_SCORE, Unit::None, score, timestamp).with_dimension(names::DETECTOR, detector)
    }

    /// `RecordsProcessed` (Count).
    pub fn records_processed(count: u64, timestamp: u64) -> Metric {
        Metric::new(names::RECORDS_PROCESSED, Unit::Count, count as f64, timestamp)
    }

    /// `RecordsMalformed` (Count).
    pub fn records_malformed(count: u64, timestamp: u64) -> Metric {
        Metric::new(names::RECORDS_MALFORMED, Unit::Count, count as f64, timestamp)
    }

    /// `WindowsScored` (Count).
    pub fn windows_scored(count: u64, timestamp: u64) -> Metric {
        Metric::new(names::WINDOWS_SCORED, Unit::Count, count as f64, timestamp)
    }

    /// `IngestLagSeconds` (Seconds): now minus the newest record's `end`.
    pub fn ingest_lag_seconds(lag: f64, timestamp: u64) -> Metric {
        Metric::new(names::INGEST_LAG_SECONDS, Unit::Seconds, lag, timestamp)
    }

    /// `ModelRefused` (Count): the model the pointer names was refused (failed
    /// verification, or needs other features than the running state's).
    pub fn model_refused(timestamp: u64) -> Metric {
        Metric::new(names::MODEL_REFUSED, Unit::Count, 1.0, timestamp)
    }

    /// `HostScore` (None) by `Detector`, `Host`; only for hosts with a finding.
    pub fn host_score(detector: &str, host: &str, score: f64, timestamp: u64) -> Metric {
        Metric::new(names::HOST_SCORE, Unit::None, score, timestamp)
            .with_dimension(names::DETECTOR, detector)
            .with_dimension(names::HOST, host)
    }

    fn to_sdk(&self) -> MetricDatum {
        let mut datum = MetricDatum::builder()
            .metric_name(&self.name)
            .unit(self.unit.sdk())
            .value(self.value)
            .timestamp(DateTime::from_secs(i64::try_from(self.timestamp).unwrap_or(i64::MAX)))
            .storage_resolution(60);
        for (name, value) in &self.dimensions {
            datum = datum.dimensions(Dimension::builder().name(name).value(value).build());
        }
        datum.build()
    }
}

/// Errors of the publisher; each names the namespace.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error("invalid CloudWatch namespace {namespace:?}: {reason}")]
    BadNamespace { namespace: String, reason: &'static str },
    #[error(
        "cloudwatch namespace {namespace}: PutMetricData batch {batch} of {batches} failed after {sent} datum(s) were sent: {message}"
    )]
    Put { namespace: String, batch: usize, batches: usize, sent: u64, code: Option<String>, message: String },
}

/// Checks a namespace against CloudWatch's rules (ASCII, 1–255 characters, no control
/// characters, not starting with `AWS/`).
pub fn validate_namespace(namespace: &str) -> Result<(), CloudWatchError> {
    let bad = |reason| Err(CloudWatchError::BadNamespace { namespace: namespace.to_string(), reason });
    if namespace.is_empty() || namespace.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if !namespace.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
        return bad("must be printable ASCII");
    }
    if namespace.starts_with("AWS/") {
        return bad("the AWS/ prefix is reserved for AWS services");
    }
    Ok(())
}

/// Publisher settings.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    pub namespace: String,
    /// `HostScore` datums kept per timestamp (the highest scores).
    pub host_score_top_n: usize,
    /// Datums per `PutMetricData` (at most [`MAX_BATCH`]).
    pub batch_size: usize,
    pub retry: RetryPolicy,
    /// Metrics older than this are dropped (CloudWatch's 14 days minus a margin).
    pub max_age: Duration,
    /// Metrics further ahead than this are clamped to now (CloudWatch's 2 h minus a margin).
    pub max_future: Duration,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions {
            namespace: DEFAULT_NAMESPACE.to_string(),
            host_score_top_n: 20,
            batch_size: MAX_BATCH,
            retry: RetryPolicy::default(),
            max_age: CLOUDWATCH_MAX_AGE - Duration::from_secs(600),
            max_future: CLOUDWATCH_MAX_FUTURE - Duration::from_secs(300),
        }
    }
}

/// What [`prepare`] kept, dropped and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrepareReport {
    pub accepted: u64,
    pub dropped_non_finite: u64,
    pub dropped_invalid: u64,
    pub dropped_too_old: u64,
    pub clamped_future: u64,
    pub dropped_host_scores: u64,
}

impl PrepareReport {
    pub fn dropped(&self) -> u64 {
        self.dropped_non_finite + self.dropped_invalid + self.dropped_too_old + self.dropped_host_scores
    }
}

/// Applies the rules of this module at `now` (epoch seconds) and splits what is left
/// into batches. Pure.
pub fn prepare(metrics: Vec<Metric>, now: u64, opts: &PublisherOptions) -> (Vec<Vec<Metric>>, PrepareReport) {
    let mut report = PrepareReport::default();
    let oldest = now.saturating_sub(opts.max_age.as_secs());
    let latest = now.saturating_add(opts.max_future.as_secs());
    let mut kept = Vec::with_capacity(metrics.len());
    for mut metric in metrics {
        if !metric.value.is_finite() {
            report.dropped_non_finite += 1;
            continue;
        }
        if metric.value.abs() > MAX_ABS_VALUE || !valid_shape(&metric) {
            report.dropped_invalid += 1;
            continue;
        }
        if metric.timestamp < oldest {
            report.dropped_too_old += 1;
            continue;
        }
        if metric.timestamp > latest {
            report.clamped_future += 1;
            metric.timestamp = now;
        }
        kept.push(metric);
    }
    let (kept, dropped) = top_host_scores(kept, opts.host_score_top_n);
    report.dropped_host_scores = dropped;
    report.accepted = kept.len() as u64;
    let size = opts.batch_size.clamp(1, MAX_BATCH);
    let batches = kept.chunks(size).map(<[Metric]>::to_vec).collect();
    (batches, report)
}

fn valid_shape(metric: &Metric) -> bool {
    let len_ok = |s: &str, max: usize| !s.is_empty() && s.chars().count() <= max;
    len_ok(&metric.name, 255)
        && metric.dimensions.len() <= 30
        && metric.dimensions.iter().all(|(n, v)| len_ok(n, 255) && len_ok(v, 1024))
}

/// Keeps, per timestamp, the `n` highest `HostScore` metrics (ties: by host, then
/// detector, so the choice is deterministic) and every other metric; returns how many
/// were dropped. Order of the kept metrics is preserved.
pub fn top_host_scores(metrics: Vec<Metric>, n: usize) -> (Vec<Metric>, u64) {
    let mut by_time: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, m) in metrics.iter().enumerate() {
        if m.name == names::HOST_SCORE {
            by_time.entry(m.timestamp).or_default().push(i);
        }
    }
    let mut drop = vec![false; metrics.len()];
    let mut dropped = 0u64;
    for indices in by_time.values_mut() {
        if indices.len() <= n {
            continue;
        }
        indices.sort_by(|&a, &b| {
            let (ma, mb) = (&metrics[a], &metrics[b]);
            mb.value
                .total_cmp(&ma.value)
                .then_with(|| ma.dimension(names::HOST).cmp(&mb.dimension(names::HOST)))
                .then_with(|| ma.dimension(names::DETECTOR).cmp(&mb.dimension(names::DETECTOR)))
        });
        for &i in &indices[n..] {
            drop[i] = true;
            dropped += 1;
        }
    }
    let kept = metrics.into_iter().zip(drop).filter(|(_, d)| !d).map(|(m, _)| m).collect();
    (kept, dropped)
}

/// What one [`Publisher::publish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    #[serde(flatten)]
    pub prepare: PrepareReport,
    pub requests: u64,
    pub sent: u64,
}

/// Sends metrics to CloudWatch.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: aws_sdk_cloudwatch::Client,
    opts: PublisherOptions,
}

impl Publisher {
    pub fn new(config: &SdkConfig, opts: PublisherOptions) -> Result<Publisher, CloudWatchError> {
        Publisher::from_client(aws_sdk_cloudwatch::Client::new(config), opts)
    }

    pub fn from_client(
        client: aws_sdk_cloudwatch::Client,
        opts: PublisherOptions,
    ) -> Result<Publisher, CloudWatchError> {
        validate_namespace(&opts.namespace)?;
        Ok(Publisher { client, opts })
    }

    pub fn namespace(&self) -> &str {
        &self.opts.namespace
    }

    /// The SDK client, for operations this crate does not wrap.
    pub fn sdk(&self) -> &aws_sdk_cloudwatch::Client {
        &self.client
    }

    /// Prepares (see [`prepare`]) and sends `metrics`, batch after batch, retrying
    /// throttling and transient failures. On an error, the batches before the failed one
    /// were sent (the error says how many datums).
    pub async fn publish(&self, metrics: Vec<Metric>) -> Result<PublishReport, CloudWatchError> {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let (batches, prepare_report) = prepare(metrics, now, &self.opts);
        if prepare_report.dropped() + prepare_report.clamped_future > 0 {
            tracing::warn!(
                namespace = %self.opts.namespace,
                non_finite = prepare_report.dropped_non_finite,
                invalid = prepare_report.dropped_invalid,
                too_old = prepare_report.dropped_too_old,
                clamped_future = prepare_report.clamped_future,
                host_scores_over_limit = prepare_report.dropped_host_scores,
                "metrics dropped or adjusted before publishing"
            );
        }
        let mut report = PublishReport { prepare: prepare_report, ..PublishReport::default() };
        let total = batches.len();
        for (index, batch) in batches.iter().enumerate() {
            let data: Vec<MetricDatum> = batch.iter().map(Metric::to_sdk).collect();
            let result = retry::with_retries(&self.opts.retry, "cloudwatch put", retry::failure_of, || {
                self.client.put_metric_data().namespace(&self.opts.namespace).set_metric_data(Some(data.clone())).send()
            })
            .await;
            report.requests += 1;
            if let Err(err) = result {
                return Err(CloudWatchError::Put {
                    namespace: self.opts.namespace.clone(),
                    batch: index + 1,
                    batches: total,
                    sent: report.sent,
                    code: retry::error_code(&err),
                    message: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
                });
            }
            report.sent += batch.len() as u64;
        }
        tracing::info!(namespace = %self.opts.namespace, sent = report.sent, requests = report.requests, "metrics published");
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_849_200;

    fn opts(top_n: usize) -> PublisherOptions {
        PublisherOptions { host_score_top_n: top_n, ..PublisherOptions::default() }
    }

    #[test]
    fn batches_hold_at_most_1000() {
        let metrics: Vec<Metric> = (0..2_345).map(|i| Metric::records_processed(i, NOW)).collect();
        let (batches, report) = prepare(metrics, NOW, &opts(10));
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 1000, 345]);
        assert_eq!(report.accepted, 2_345);
        let (batches, _) =
            prepare(vec![Metric::windows_scored(1, NOW)], NOW, &PublisherOptions { batch_size: 5_000, ..opts(1) });
        assert_eq!(batches.len(), 1);
        let (batches, _) = prepare(Vec::new(), NOW, &opts(1));
        assert!(batches.is_empty());
    }

    #[test]
    fn non_finite_and_out_of_range_values_are_dropped() {
        let metrics = vec![
            Metric::max_score("beaconing", f64::NAN, NOW),
            Metric::max_score("beaconing", f64::INFINITY, NOW),
            Metric::max_score("beaconing", f64::NEG_INFINITY, NOW),
            Metric::max_score("beaconing", 1e300, NOW),
            Metric::max_score("beaconing", 87.5, NOW),
        ];
        let (batches, report) = prepare(metrics, NOW, &opts(10));
        assert_eq!(report.dropped_non_finite, 3);
        assert_eq!(report.dropped_invalid, 1);
        assert_eq!(batches.concat(), vec![Metric::max_score("beaconing", 87.5, NOW)]);
    }

    #[test]
    fn timestamps_stay_in_cloudwatch_range() {
        let o = opts(10);
        let metrics = vec![
            Metric::records_processed(1, NOW - 15 * 86_400),
            Metric::records_processed(2, NOW - 13 * 86_400),
            Metric::records_processed(3, NOW + 3 * 3600),
            Metric::records_processed(4, NOW + 3600),
        ];
        let (batches, report) = prepare(metrics, NOW, &o);
        assert_eq!(report.dropped_too_old, 1);
        assert_eq!(report.clamped_future, 1);
        let kept: Vec<(f64, u64)> = batches.concat().iter().map(|m| (m.value, m.timestamp)).collect();
        assert_eq!(kept, vec![(2.0, NOW - 13 * 86_400), (3.0, NOW), (4.0, NOW + 3600)]);
        // The margin: exactly 14 days old is already too old.
        let (_, report) = prepare(vec![Metric::records_processed(1, NOW - 14 * 86_400)], NOW, &o);
        assert_eq!(report.dropped_too_old, 1);
    }

    #[test]
    fn bad_dimensions_are_dropped() {
        let metrics = vec![
            Metric::host_score("beaconing", "", 90.0, NOW),
            Metric::host_score("beaconing", &"x".repeat(1025), 90.0, NOW),
            Metric::new("", Unit::Count, 1.0, NOW),
            (0..31).fold(Metric::new("Many", Unit::Count, 1.0, NOW), |m, i| m.with_dimension(format!("d{i}"), "v")),
            Metric::findings("exfiltration", "high", 2, NOW),
        ];
        let (batches, report) = prepare(metrics, NOW, &opts(10));
        assert_eq!(report.dropped_invalid, 4);
        assert_eq!(batches.concat().len(), 1);
    }

    #[test]
    fn host_scores_keep_the_top_n_per_window() {
        let mut metrics = Vec::new();
        for (i, score) in [50.0, 95.0, 70.0, 95.0, 60.0].into_iter().enumerate() {
            metrics.push(Metric::host_score("beaconing", &format!("10.0.0.{i}"), score, NOW));
            metrics.push(Metric::host_score("beaconing", &format!("10.0.1.{i}"), score, NOW + 300));
        }
        metrics.push(Metric::findings("beaconing", "high", 5, NOW));
        let (kept, dropped) = top_host_scores(metrics, 2);
        assert_eq!(dropped, 6);
        let hosts: Vec<(&str, u64)> =
            kept.iter().filter_map(|m| m.dimension(names::HOST).map(|h| (h, m.timestamp))).collect();
        assert_eq!(hosts, vec![("10.0.0.1", NOW), ("10.0.1.1", NOW + 300), ("10.0.0.3", NOW), ("10.0.1.3", NOW + 300)]);
        assert_eq!(kept.iter().filter(|m| m.name == names::FINDINGS).count(), 1);
        let (kept, dropped) = top_host_scores(kept, 0);
        assert_eq!((kept.len(), dropped), (1, 4));
    }

    #[test]
    fn contract_metrics_have_their_units_and_dimensions() {
        let f = Metric::findings("lateral_movement", "medium", 3, NOW);
        assert_eq!((f.name.as_str(), f.unit, f.value), ("Findings", Unit::Count, 3.0));
        assert_eq!(f.dimension("Detector"), Some("lateral_movement"));
        assert_eq!(f.dimension("Severity"), Some("medium"));
        assert_eq!(Metric::ingest_lag_seconds(12.5, NOW).unit, Unit::Seconds);
        assert_eq!(Metric::host_score("beaconing", "10.0.0.1", 90.0, NOW).dimensions.len(), 2);
        assert!(Metric::records_malformed(0, NOW).dimensions.is_empty());
        let datum = f.to_sdk();
        assert_eq!(datum.metric_name(), Some("Findings"));
        assert_eq!(datum.dimensions().len(), 2);
        assert_eq!(datum.timestamp().map(|t| t.secs()), Some(NOW as i64));
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(validate_namespace("Flowhound").is_ok());
        assert!(validate_namespace("Flowhound/Test-1").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("AWS/EC2").is_err());
        assert!(validate_namespace("Fl\u{00f6}whound").is_err());
        assert!(validate_namespace("a\tb").is_err());
        assert!(validate_namespace(&"n".repeat(256)).is_err());
    }
}
