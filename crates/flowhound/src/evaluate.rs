//! `flowhound evaluate`: score findings against labels (CONTRACT §5).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Findings, JSON lines (CONTRACT §4).
    #[arg(long)]
    pub findings: PathBuf,
    /// Labels, JSON lines (CONTRACT §5).
    #[arg(long)]
    pub labels: PathBuf,
    /// The scenario.json, to attribute false positives to look-alikes and count host-days.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &EvaluateArgs) -> Result<ExitCode> {
    anyhow::bail!("evaluate is being built (issue 3)")
}
