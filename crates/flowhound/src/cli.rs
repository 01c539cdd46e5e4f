//! Command-line arguments (docs/cli.md).

use clap::{Args, Parser, Subcommand, ValueEnum};
use flowhound_features::Cidr;

#[derive(Debug, Parser)]
#[command(name = "flowhound", version, about = "Hunts attackers in AWS VPC Flow Logs", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Worker threads for reading and parsing (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count records, versions and fields seen, time span, interfaces and malformed lines.
    Inspect(InspectArgs),
    /// Compute host-window features and write them as Parquet, CSV or JSON lines.
    Extract(crate::extract::ExtractArgs),
    /// Write a labelled, realistic VPC scenario (train and test flow logs, labels).
    Simulate(crate::simulate::SimulateArgs),
    /// Score findings against labels: recall, precision, false positives per 1000 host-days.
    Evaluate(crate::evaluate::EvaluateArgs),
    /// Fit baselines on a training period and write a model directory.
    Train(crate::train::TrainArgs),
    /// Score flow logs against a model: findings as JSON lines.
    Score(crate::score::ScoreArgs),
    /// Sweep historical logs without a clean period: the data is its own baseline (a model adds history).
    Hunt(crate::hunt::HuntArgs),
    /// Merge feature states of disjoint partitions (extract --state-out) into one.
    Merge(crate::partial::MergeArgs),
    /// Score the same flow logs with two models: findings added, removed and re-scored, and with labels recall and precision.
    Compare(crate::compare::CompareArgs),
    /// Verify a model version and make it the current one of its model directory (or roll back).
    Promote(crate::models::PromoteArgs),
    /// Production loop: SQS notifications -> S3 -> score -> findings and CloudWatch, with checkpoints.
    Serve(crate::serve::ServeArgs),
    /// Simulate, train, score and evaluate the embedded default scenario.
    Demo(crate::demo::DemoArgs),
}

/// Where flow logs come from, and how strictly to read them (docs/cli.md, "SOURCE").
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Files (.log.gz, .gz, .log, .txt, .parquet), directories (read recursively), s3://bucket/prefix
    /// (every object below it; standard AWS credentials and AWS_ENDPOINT_URL*), or - for stdin.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Keep records whose start is at or after this time (RFC 3339 or epoch seconds).
    #[arg(long)]
    pub from: Option<String>,
    /// Keep records whose start is before this time (RFC 3339 or epoch seconds).
    #[arg(long)]
    pub to: Option<String>,
    /// Keep the records of the last DURATION of whole hours before now (e.g. 30d, for
    /// scheduled jobs): --from is now minus DURATION, --to the start of the current hour.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    pub last: Option<crate::config::Secs>,
    /// Treat corrupt or truncated objects as a warning instead of failing the run (exit 1).
    #[arg(long)]
    pub skip_corrupt: bool,
    /// Largest decompressed size of one object, in bytes (decompression-bomb guard).
    #[arg(long, default_value_t = flowhound_flowlog::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    pub max_object_bytes: u64,
    /// Longest accepted line, in bytes; longer lines are counted as malformed.
    #[arg(long, default_value_t = flowhound_flowlog::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Gzip objects up to this size (compressed and declared decompressed) are inflated in
    /// memory, one buffer per thread, which is faster; larger ones stream. 0 streams all.
    #[arg(long, default_value_t = flowhound_flowlog::DEFAULT_IN_MEMORY_GZIP_BYTES)]
    pub in_memory_gzip_bytes: u64,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Malformed lines to show with their file and line number.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
}

/// Feature states instead of SOURCE (docs/scale.md).
#[derive(Debug, Args, Clone, Default)]
pub struct StateArgs {
    /// Read feature states written by `extract --state-out` (or `merge`) instead of SOURCE:
    /// files, s3://bucket/key, or a folder or S3 prefix ending with `/` (every *.state
    /// below it); several are merged (repeatable).
    #[arg(long = "state", value_name = "STATE", conflicts_with_all = ["sources", "from", "to", "last"])]
    pub states: Vec<String>,
}

/// Which addresses are inside the monitored estate (docs/features.md, "Internal and external").
#[derive(Debug, Args, Clone, Default)]
pub struct AddressArgs {
    /// Extra internal address blocks beyond RFC 1918/6598 and ULA (the VPC CIDRs, e.g. its
    /// IPv6 block, or a public server's own address); repeatable.
    #[arg(long = "internal", visible_alias = "vpc-cidr", value_name = "CIDR")]
    pub internal: Vec<Cidr>,
    /// Address blocks that are outside the estate even inside a private range (a lab's C2
    /// server in 192.168.0.0/16, a partner reached over VPN); repeatable. The most specific
    /// block wins between --internal (and the built-in ranges) and --external.
    #[arg(long = "external", value_name = "CIDR")]
    pub external: Vec<Cidr>,
}
