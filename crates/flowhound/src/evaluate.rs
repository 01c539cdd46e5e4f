//! `flowhound evaluate`: score findings against labels (docs/simulator.md, "Evaluation").

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use flowhound_sim::{ScenarioInfo, evaluate, parse_findings, parse_labels, render_table};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Findings, JSON lines (docs/findings.md).
    #[arg(long)]
    pub findings: PathBuf,
    /// Labels, JSON lines (docs/simulator.md, "Output").
    #[arg(long)]
    pub labels: PathBuf,
    /// The scenario.json, to attribute false positives to look-alikes and count host-days.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: &EvaluateArgs) -> Result<ExitCode> {
    let labels = parse_labels(&read(&args.labels)?).with_context(|| format!("parsing {}", args.labels.display()))?;
    let findings =
        parse_findings(&read(&args.findings)?).with_context(|| format!("parsing {}", args.findings.display()))?;
    let scenario = match &args.scenario {
        Some(path) => {
            Some(ScenarioInfo::from_json(&read(path)?).with_context(|| format!("parsing {}", path.display()))?)
        }
        None => None,
    };
    let report = evaluate(&labels, &findings, scenario.as_ref());
    tracing::info!(
        labels = labels.len(),
        findings = findings.len(),
        detected = report.overall.detected,
        false_positives = report.overall.false_positives,
        "evaluated findings"
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(render_table(&report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
