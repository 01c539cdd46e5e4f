//! `flowhound extract`: host-window features to Parquet, CSV or JSON lines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::cli::SourceArgs;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output file; the format follows the extension: .parquet, .csv or .jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Feature window (e.g. 5m, 15m, 1h).
    #[arg(long, default_value = "15m")]
    pub window: String,
}

pub fn run(_args: &ExtractArgs) -> Result<ExitCode> {
    anyhow::bail!("extract is being built (issue 4)")
}
