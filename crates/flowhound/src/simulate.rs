//! `flowhound simulate`: write a labelled scenario (CONTRACT §6).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output directory (train/, test/, labels.jsonl, scenario.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of monitored hosts.
    #[arg(long, default_value_t = 60)]
    pub hosts: usize,
    /// Days of attack-free training traffic.
    #[arg(long, default_value_t = 7)]
    pub train_days: u32,
    /// Days of test traffic (attacks happen here).
    #[arg(long, default_value_t = 1)]
    pub test_days: u32,
}

pub fn run(_args: &SimulateArgs) -> Result<ExitCode> {
    anyhow::bail!("simulate is being built (issue 3)")
}
