//! `flowhound train`: fit the baselines on a training period and write a model directory
//! (models/README.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use flowhound_features::{AddressBlocks, FeatureConfig, Features};
use flowhound_flowlog::ScanSummary;
use flowhound_flowlog::time::format_rfc3339;
use flowhound_model::artifact::{self, Manifest};
use flowhound_model::{Baseline, BaselineError, BaselineParams, DetectConfig};

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs};
use crate::config::{self, Secs};
use crate::sources;

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Model directory to write: a new version DIR/<id>/, then DIR/CURRENT names it.
    #[arg(long)]
    pub model: PathBuf,
    /// Feature window (e.g. 5m, 15m, 1h); the scorer uses the model's.
    #[arg(long, default_value_t = config::DEFAULT_WINDOW)]
    pub window: Secs,
    /// TOML configuration: the [detect], [train] and [features] tables are read (see docs/detectors.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of every random choice of the fit (peer groups, isolation forest).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub addresses: AddressArgs,
}

/// The address blocks to score with under a model trained with `model`: the model's. Blocks
/// given at score time (`--internal`, `--external`, `[features]`) must be the same blocks
/// (in any order): other blocks would compute other features than the baselines were
/// learnt on, so they are refused rather than silently mixed.
pub fn blocks_for_model(model: &AddressBlocks, given: AddressBlocks) -> Result<AddressBlocks, UsageError> {
    let given = given.normalized();
    if !given.is_empty() && &given != model {
        return Err(UsageError(format!(
            "the model was trained with address blocks {model}, but {given} were given; features are computed \
             with the model's blocks, so give none (or the same), or retrain the model with the new blocks"
        )));
    }
    if !model.is_empty() {
        tracing::info!(blocks = %model, "address blocks of the model");
    }
    Ok(model.clone())
}

/// The tables of the configuration file the model commands read.
#[derive(Debug, Clone, Default)]
pub struct ModelSettings {
    pub detect: DetectConfig,
    pub seed: Option<u64>,
    pub addresses: AddressBlocks,
}

/// Reads `[detect]`, `[train]` and `[features]` from a TOML file; other tables belong to
/// other commands.
pub fn read_settings(path: Option<&Path>) -> Result<ModelSettings> {
    let Some(path) = path else { return Ok(ModelSettings::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let settings =
        flowhound_model::parse_settings(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    Ok(ModelSettings {
        detect: settings.detect,
        seed: settings.seed,
        addresses: AddressBlocks { internal: settings.internal, external: settings.external },
    })
}

/// The address blocks of the configuration file and the command line together.
pub fn address_blocks(settings: &ModelSettings, args: &AddressArgs) -> AddressBlocks {
    let mut blocks = settings.addresses.clone();
    blocks.internal.extend(&args.internal);
    blocks.external.extend(&args.external);
    if !blocks.external.is_empty() {
        let external: Vec<String> = blocks.external.iter().map(ToString::to_string).collect();
        tracing::info!(external = ?external, "address blocks declared external");
    }
    blocks
}

/// The feature configuration of a window, a pair horizon and the declared address blocks.
pub fn feature_config(
    window_secs: u64,
    horizon_secs: u64,
    blocks: &AddressBlocks,
) -> Result<FeatureConfig, UsageError> {
    Ok(FeatureConfig::new(window_secs, horizon_secs, &blocks.internal)
        .map_err(|e| UsageError(e.to_string()))?
        .with_external(&blocks.external))
}

/// Reads SOURCE into features with the given window, pair horizon (the beaconing
/// detector's) and address blocks.
pub fn extract(
    source: &SourceArgs,
    window_secs: u64,
    horizon_secs: u64,
    blocks: &AddressBlocks,
) -> Result<(Features, ScanSummary)> {
    let cfg = feature_config(window_secs, horizon_secs, blocks)?;
    let plan = sources::plan(source)?;
    if plan.objects.is_empty() {
        return Err(UsageError("no flow-log objects found in the given SOURCE".into()).into());
    }
    let (reports, features) = crate::extract::read_features(&plan, &Arc::new(cfg));
    let summary = ScanSummary::from_reports(&reports, plan.pruned, 10);
    sources::check_damage(&summary, source.skip_corrupt)?;
    let s = &features.stats;
    tracing::info!(
        records = s.records,
        rows = features.rows.len(),
        pairs = features.pairs.len(),
        edges = features.edges.len(),
        "features extracted"
    );
    if s.host_windows_refused + s.edges_refused + s.pairs_refused > 0 {
        tracing::warn!(
            host_windows_refused = s.host_windows_refused,
            edges_refused = s.edges_refused,
            pairs_refused = s.pairs_refused,
            "feature table limits reached: some records were not counted"
        );
    }
    Ok((features, summary))
}

/// Fits a baseline and writes the model directory; shared by `train` and `demo`.
pub fn fit_and_save(features: &Features, settings: &ModelSettings, dir: &Path) -> Result<(Baseline, Manifest)> {
    settings.detect.validate().map_err(|e| UsageError(format!("invalid [detect] settings: {e}")))?;
    let mut params = BaselineParams::new();
    if let Some(seed) = settings.seed {
        params = params.seed(seed);
    }
    let baseline = params.fit(features, &settings.detect).map_err(|e| match e {
        BaselineError::Params(p) => anyhow::Error::new(UsageError(format!("invalid parameters: {p}"))),
        other => anyhow::Error::new(other).context("training failed"),
    })?;
    let manifest = artifact::save(&baseline, dir).context("writing the model directory")?;
    Ok((baseline, manifest))
}

pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut settings = read_settings(args.config.as_deref())?;
    // The flag wins over `[train] seed` of the configuration file.
    if let Some(seed) = args.seed {
        settings.seed = Some(seed);
    }
    let blocks = address_blocks(&settings, &args.addresses);
    let (features, _) = extract(&args.source, args.window.0, settings.detect.horizon_secs, &blocks)?;
    if features.rows.is_empty() {
        return Err(UsageError("no host windows in the training range (check SOURCE and --from/--to)".into()).into());
    }
    let (baseline, manifest) = fit_and_save(&features, &settings, &args.model)?;
    print_summary(&baseline, &manifest, &args.model, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

pub fn print_summary(baseline: &Baseline, manifest: &Manifest, dir: &Path, secs: f64) {
    let t = &baseline.train;
    println!("model        {} in {}", manifest.id, dir.display());
    println!("training     {} .. {} ({} days)", format_rfc3339(t.start), format_rfc3339(t.end), t.days);
    println!(
        "data         {} hosts, {} host windows of {} s, {} pair series, {} internal edge-windows, aggregation ~{} s",
        t.hosts, t.windows, t.window_secs, t.pairs, t.edges, t.aggregation_secs
    );
    println!("peer groups  {} (sizes {:?})", baseline.groups.k(), baseline.groups.sizes());
    println!(
        "histories    {} periodic pairs, {} destinations, {} group edges",
        baseline.histories.periodic.len(),
        baseline.histories.prevalence.len(),
        baseline.histories.group_edges.len()
    );
    println!("forest       q99 of training window scores {:.3}", baseline.forest.q99);
    for (key, th) in baseline.thresholds() {
        let observed = th.observed_quantile.map_or_else(|| "-".to_string(), |q| format!("{q:.3}"));
        println!(
            "threshold    {key:<22} raw {:.3} (training quantile {observed}, bounds {:.2}..{:.2}, {} host-days)",
            th.threshold, th.floor, th.ceiling, th.host_days
        );
    }
    println!("time         {secs:.1} s");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(internal: &[&str], external: &[&str]) -> AddressBlocks {
        let parse = |list: &[&str]| list.iter().map(|s| s.parse::<flowhound_features::Cidr>().unwrap()).collect();
        AddressBlocks { internal: parse(internal), external: parse(external) }
    }

    #[test]
    fn score_time_blocks_must_be_the_models() {
        let model = blocks(&["10.9.0.0/16", "64.225.56.201/32"], &["192.168.0.4/31"]).normalized();
        // None given: the model's.
        assert_eq!(blocks_for_model(&model, AddressBlocks::default()).unwrap(), model);
        // The same blocks in another order, repeated: accepted.
        let same = blocks(&["64.225.56.201/32", "10.9.0.0/16", "10.9.0.0/16"], &["192.168.0.4/31"]);
        assert_eq!(blocks_for_model(&model, same).unwrap(), model);
        // A subset, a superset or another block: refused.
        for other in [
            blocks(&["64.225.56.201/32"], &[]),
            blocks(&["10.9.0.0/16", "64.225.56.201/32"], &["192.168.0.4/31", "198.51.100.0/24"]),
            blocks(&[], &["192.168.0.4/31"]),
        ] {
            let err = blocks_for_model(&model, other).unwrap_err();
            assert!(err.0.contains("internal [10.9.0.0/16, 64.225.56.201/32], external [192.168.0.4/31]"), "{}", err.0);
        }
        // A model trained without blocks refuses blocks at score time.
        assert!(blocks_for_model(&AddressBlocks::default(), blocks(&["64.225.56.201/32"], &[])).is_err());
    }
}
