//! `flowhound train`: fit the baselines on a training period and write a model directory
//! (models/README.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use flowhound_features::{AddressBlocks, FeatureConfig, Features};
use flowhound_flowlog::ScanSummary;
use flowhound_flowlog::time::format_rfc3339;
use flowhound_model::artifact::Manifest;
use flowhound_model::{Baseline, BaselineError, BaselineParams, DetectConfig};

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs, StateArgs};
use crate::config::{self, Secs};
use crate::models::{self, ModelLocation, parse_model_arg};
use crate::sources;

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Model directory to write, local or s3://bucket/prefix/: a new version DIR/<id>/,
    /// then DIR/CURRENT names it (models/README.md).
    #[arg(long, value_name = "DIR", value_parser = parse_model_arg)]
    pub model: ModelLocation,
    /// Write the new version but leave CURRENT as it is (compare it, then `flowhound promote`).
    #[arg(long)]
    pub no_promote: bool,
    /// Promotion gate: labels (JSON lines, a file or s3://bucket/key) of a labelled period.
    /// The new model becomes current only if it detects every label the current model
    /// detects in --gate-source; otherwise it is kept unpromoted and train exits with 3.
    #[arg(long, value_name = "LABELS", requires = "gate_source", conflicts_with = "no_promote")]
    pub gate_labels: Option<String>,
    /// Flow logs of the gate's labelled period (files, directories or s3://; repeatable).
    #[arg(long, value_name = "SOURCE", requires = "gate_labels")]
    pub gate_source: Vec<String>,
    /// Feature window (e.g. 5m, 15m, 1h); the scorer uses the model's.
    #[arg(long, default_value_t = config::DEFAULT_WINDOW)]
    pub window: Secs,
    /// TOML configuration (a file or s3://bucket/key): the [detect], [train] and [features] tables
    /// are read (see docs/detectors.md).
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
    let text = crate::aws::read_text(&path.to_string_lossy())?;
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
    states: &[String],
    window_secs: u64,
    horizon_secs: u64,
    blocks: &AddressBlocks,
) -> Result<(Features, ScanSummary)> {
    let cfg = feature_config(window_secs, horizon_secs, blocks)?;
    if !states.is_empty() {
        let (features, totals) = crate::partial::features(states, &cfg)?;
        return Ok((features, totals.summary()));
    }
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

/// Fits a baseline and writes it as a new model version (made current when `promote`);
/// shared by `train` and `demo`.
pub fn fit_and_save(
    features: &Features,
    settings: &ModelSettings,
    location: &ModelLocation,
    promote: bool,
) -> Result<(Baseline, Manifest)> {
    settings.detect.validate().map_err(|e| UsageError(format!("invalid [detect] settings: {e}")))?;
    let mut params = BaselineParams::new();
    if let Some(seed) = settings.seed {
        params = params.seed(seed);
    }
    let baseline = params.fit(features, &settings.detect).map_err(|e| match e {
        BaselineError::Params(p) => anyhow::Error::new(UsageError(format!("invalid parameters: {p}"))),
        other => anyhow::Error::new(other).context("training failed"),
    })?;
    let manifest = models::save(location, &baseline, promote)?;
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
    let (features, _) =
        extract(&args.source, &args.state.states, args.window.0, settings.detect.horizon_secs, &blocks)?;
    if features.rows.is_empty() {
        return Err(UsageError("no host windows in the training range (check SOURCE and --from/--to)".into()).into());
    }
    let gated = args.gate_labels.is_some();
    let (baseline, manifest) = fit_and_save(&features, &settings, &args.model, !args.no_promote && !gated)?;
    drop(features);
    print_summary(&baseline, &manifest, &args.model, started.elapsed().as_secs_f64());
    if let Some(labels) = &args.gate_labels {
        if !gate(args, labels, &baseline, &manifest)? {
            println!(
                "not promoted: the new model misses labels the current one detects; `flowhound promote --model {} {}` \
                 overrides the gate",
                args.model, manifest.id
            );
            return Ok(ExitCode::from(crate::EXIT_GATE_REFUSED));
        }
        models::promote(&args.model, &manifest.id)?;
        println!("promoted     {} is the current model of {}", manifest.id, args.model);
    } else if args.no_promote {
        println!("not promoted: `flowhound promote --model {} {}` makes it current", args.model, manifest.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// The promotion gate: scores the labelled gate source with the current model and the new
/// one; passes when no label the current model detects is lost (or there is no current
/// model). Prints the comparison.
fn gate(args: &TrainArgs, labels: &str, baseline: &Baseline, manifest: &Manifest) -> Result<bool> {
    let labels = crate::compare::read_labels(labels)?;
    let Some(current_id) = models::current_id(&args.model)? else {
        tracing::info!(model = %args.model, "no current model: the gate has nothing to lose");
        return Ok(true);
    };
    if current_id == manifest.id {
        return Ok(true);
    }
    let (current_manifest, current_baseline) = models::load(&args.model)?;
    let source =
        SourceArgs { sources: args.gate_source.clone(), from: None, to: None, last: None, ..args.source.clone() };
    let models = [(&current_manifest, &current_baseline), (manifest, baseline)];
    let findings = crate::compare::score_models(&models, &source, &AddressBlocks::default(), &Default::default())?;
    let comparison = crate::compare::compare(
        (current_manifest.id.clone(), args.model.to_string(), &findings[0]),
        (manifest.id.clone(), args.model.version(&manifest.id).to_string(), &findings[1]),
        Some(&labels),
        None,
    );
    print!("{}", crate::compare::render(&comparison));
    for lost in &comparison.lost_labels {
        tracing::warn!(detector = %lost.detector, host = %lost.host, peer = ?lost.peer, variant = %lost.variant, "gate: label lost by the new model");
    }
    Ok(comparison.lost_labels.is_empty())
}

pub fn print_summary(baseline: &Baseline, manifest: &Manifest, location: &ModelLocation, secs: f64) {
    let t = &baseline.train;
    println!("model        {} in {location}", manifest.id);
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
