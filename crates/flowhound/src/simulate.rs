//! `flowhound simulate`: write a labelled scenario (docs/simulator.md).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use flowhound_sim::{Format, SimConfig, SimError};

use crate::UsageError;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output directory (train/, test/, labels.jsonl, scenario.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of monitored hosts (12 to 2000; one more appears by autoscaling in the test period).
    #[arg(long, default_value_t = 60)]
    pub hosts: usize,
    /// Days of attack-free training traffic.
    #[arg(long, default_value_t = 7)]
    pub train_days: u32,
    /// Days of test traffic (attacks happen here).
    #[arg(long, default_value_t = 1)]
    pub test_days: u32,
    /// Aggregation interval in seconds: 60 (Nitro instances) or 600 (the AWS default).
    #[arg(long, default_value_t = 60)]
    pub aggregation: u32,
    /// Record format of the objects: v2 (default AWS format), v5 (custom field order with metadata), parquet.
    #[arg(long, value_enum, default_value = "v5")]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    V2,
    V5,
    Parquet,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::V2 => Format::V2,
            FormatArg::V5 => Format::V5,
            FormatArg::Parquet => Format::Parquet,
        }
    }
}

fn usage_or_runtime(err: SimError) -> anyhow::Error {
    match err {
        SimError::Config(message) => UsageError(message).into(),
        other => anyhow::Error::new(other),
    }
}

pub fn run(args: &SimulateArgs) -> Result<ExitCode> {
    let config = SimConfig {
        seed: args.seed,
        hosts: args.hosts,
        train_days: args.train_days,
        test_days: args.test_days,
        aggregation: args.aggregation,
        format: args.format.into(),
    };
    let started = Instant::now();
    let scenario = flowhound_sim::build(&config).map_err(usage_or_runtime)?;
    tracing::info!(
        hosts = config.hosts,
        interfaces = scenario.enis.len(),
        activities = scenario.activities.len(),
        attacks = scenario.labels.len(),
        lookalikes = scenario.lookalikes.len(),
        "scenario built"
    );
    let summary = flowhound_sim::write_scenario(&scenario, &args.out)
        .map_err(usage_or_runtime)
        .with_context(|| format!("writing scenario to {}", args.out.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let records = summary.train.records + summary.test.records;
    tracing::info!(
        records,
        objects = summary.train.objects + summary.test.objects,
        seconds = format!("{elapsed:.1}"),
        "scenario written"
    );
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} to {}: train {} records in {} objects, test {} records in {} objects, {} host-days under test, {} attacks, {} look-alikes ({elapsed:.1} s)",
        config.format.as_str(),
        args.out.display(),
        summary.train.records,
        summary.train.objects,
        summary.test.records,
        summary.test.objects,
        (summary.test.host_days * 10.0).round() / 10.0,
        summary.labels,
        summary.lookalikes,
    )?;
    Ok(ExitCode::SUCCESS)
}
