//! `flowhound demo`: simulate the embedded default scenario, train on its training days,
//! score its test day and evaluate the findings against its labels.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use flowhound_features::AddressBlocks;
use flowhound_sim::{ScenarioInfo, SimConfig, evaluate, parse_findings, parse_labels, render_table};

use crate::cli::SourceArgs;
use crate::score::score_and_write;
use crate::train::{ModelSettings, extract, fit_and_save, print_summary};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the scenario, the model and the findings.
    #[arg(long, default_value = "flowhound-demo")]
    pub out: PathBuf,
    /// Scenario seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn source(dir: &Path) -> SourceArgs {
    SourceArgs {
        sources: vec![dir.display().to_string()],
        from: None,
        last: None,
        to: None,
        skip_corrupt: false,
        max_object_bytes: flowhound_flowlog::DEFAULT_MAX_DECOMPRESSED_BYTES,
        max_line_bytes: flowhound_flowlog::DEFAULT_MAX_LINE_BYTES,
        in_memory_gzip_bytes: flowhound_flowlog::DEFAULT_IN_MEMORY_GZIP_BYTES,
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let config = SimConfig { seed: args.seed, ..SimConfig::default() };
    println!(
        "1/4 simulating {} hosts, {} training days + {} test day ({}, {} s aggregation, seed {})",
        config.hosts,
        config.train_days,
        config.test_days,
        config.format.as_str(),
        config.aggregation,
        config.seed
    );
    let scenario = flowhound_sim::build(&config).context("building the scenario")?;
    flowhound_sim::write_scenario(&scenario, &args.out)
        .with_context(|| format!("writing the scenario to {}", args.out.display()))?;
    let t_sim = started.elapsed().as_secs_f64();

    println!("2/4 training on {}", args.out.join("train").display());
    let model_dir = args.out.join("model");
    let settings = ModelSettings::default();
    let (train_features, _) = extract(
        &source(&args.out.join("train")),
        &[],
        crate::config::DEFAULT_WINDOW.0,
        settings.detect.horizon_secs,
        &AddressBlocks::default(),
    )?;
    let location = crate::models::ModelLocation::Local(model_dir.clone());
    let (baseline, manifest) = fit_and_save(&train_features, &settings, &location, true)?;
    drop(train_features);
    let t_train = started.elapsed().as_secs_f64();
    print_summary(&baseline, &manifest, &location, t_train - t_sim);

    println!("3/4 scoring {}", args.out.join("test").display());
    let findings_path = args.out.join("findings.jsonl");
    let test_source = source(&args.out.join("test"));
    let (test_features, test_summary) = extract(
        &test_source,
        &[],
        baseline.train.window_secs,
        baseline.detect.horizon_secs,
        &baseline.train.addresses,
    )?;
    let result = score_and_write(
        &baseline,
        &manifest,
        &test_features,
        &flowhound_model::Safelist::default(),
        Some(&findings_path),
    )?;
    let report_path = args.out.join("report.html");
    crate::report::write(
        &report_path,
        &crate::report::Run {
            command: "demo",
            sources: &test_source.sources,
            records: test_summary.records,
            malformed: test_summary.malformed,
            first: test_summary.first_start,
            last: test_summary.last_end,
            model: Some(&manifest.id),
            baseline: &baseline,
            features: &test_features,
            findings: &result.findings,
        },
    )?;
    let t_score = started.elapsed().as_secs_f64();
    for f in &result.findings {
        println!("  [{:<6}] {:>5.1} {:<16} {}", f.severity.as_str(), f.score, f.detector, f.summary);
    }

    println!("4/4 evaluating against {}", args.out.join("labels.jsonl").display());
    let labels = parse_labels(&read(&args.out.join("labels.jsonl"))?)?;
    let findings = parse_findings(&read(&findings_path)?)?;
    let info = ScenarioInfo::from_json(&read(&args.out.join("scenario.json"))?)?;
    let report = evaluate(&labels, &findings, Some(&info));
    println!();
    print!("{}", render_table(&report));
    println!();
    println!("scenario  {}", args.out.display());
    println!("model     {}", model_dir.display());
    println!("findings  {}", findings_path.display());
    println!("report    {}", report_path.display());
    println!(
        "time      {:.1} s (simulate {:.1} s, train {:.1} s, score {:.1} s)",
        started.elapsed().as_secs_f64(),
        t_sim,
        t_train - t_sim,
        t_score - t_train
    );
    Ok(ExitCode::SUCCESS)
}
