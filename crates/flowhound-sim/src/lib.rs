//! Labelled VPC flow-log scenarios (legitimate traffic, look-alikes and attacks) and
//! the evaluation of findings against their labels.
//!
//! [`build`] turns a [`SimConfig`] into a [`Scenario`] (topology, activities, labels);
//! [`write_scenario`] streams its records to disk in the AWS S3 layout, one 5-minute
//! object at a time, in parallel and byte-for-byte deterministic per seed;
//! [`evaluate`] scores findings against the labels. Nothing here does network I/O.

mod config;
mod eval;
mod generate;
mod model;
mod output;

mod rng;
mod scenario;

use std::path::PathBuf;

pub use config::{Format, MAX_HOSTS, MIN_HOSTS, SimConfig};
pub use eval::{
    Attribution, DEFAULT_SLACK_SECS, DetectorMetrics, Finding, Label, LabelOutcome, LookAlikeRef, Report, ScenarioInfo,
    TimeToDetect, evaluate, matches, parse_findings, parse_labels, render_table,
};
pub use generate::{Bucket, OBJECT_SECS, Rec, chunk_secs, generate_chunk, season};
pub use model::{Endpoint, Eni, EniKind, Role, Svc, Tag};
pub use output::{
    SplitStats, V5_FIELDS, WriteSummary, object_key, parquet_fields, parquet_schema, render_text, write_scenario,
};
pub use scenario::{ExternalPeer, LookAlike, Scenario, build, epoch_start};

/// Seconds in a day.
pub use flowhound_flowlog::time::DAY;

/// Errors of building or writing a scenario.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing parquet {}: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
    #[error("serialising json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Errors of reading labels, findings or a scenario for evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{what} line {line}: {message}")]
    Line { what: &'static str, line: usize, message: String },
    #[error("scenario.json: {0}")]
    Scenario(String),
}
