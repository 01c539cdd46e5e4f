//! Times the baseline fit alone on a tree of flow logs: features are extracted once (timed
//! separately), then `Baseline` is fitted with the default parameters and detector settings.
//!
//! ```text
//! cargo build --release -p flowhound-model --example train_bench
//! /usr/bin/time -v target/release/examples/train_bench DIR [THREADS] [WINDOW_SECS]
//! ```
//!
//! Prints one line of `key=value` figures; `rss_after_extract_mib` and `peak_rss_mib` come from
//! /proc/self/status (Linux), so the fit's own memory is the difference when it sets the peak.

use std::sync::Arc;
use std::time::Instant;

use flowhound_features::{FeatureConfig, FeatureState};
use flowhound_flowlog::{ReadOptions, discover_local, scan};
use flowhound_model::{BaselineParams, DetectConfig};

/// A `VmRSS`/`VmHWM` line of /proc/self/status in MiB, if available.
fn status_mib(key: &str) -> String {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else { return "n/a".into() };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(key) {
            let kib: f64 = rest.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap_or(0.0);
            return format!("{:.0}", kib / 1024.0);
        }
    }
    "n/a".into()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: train_bench DIR [THREADS] [WINDOW_SECS]")?;
    let threads: usize = args.get(1).map_or(Ok(2), |s| s.parse())?;
    let window: u64 = args.get(2).map_or(Ok(900), |s| s.parse())?;
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;

    let started = Instant::now();
    let objects = discover_local(dir)?;
    let cfg = Arc::new(FeatureConfig::new(window, 86_400, &[])?);
    let (_, state) = scan(&objects, None, &ReadOptions::default(), || FeatureState::new(cfg.clone()), &|_| {});
    let features = state.finish();
    let extract_secs = started.elapsed().as_secs_f64();
    let rss_after_extract = status_mib("VmRSS");

    let started = Instant::now();
    let baseline = BaselineParams::new().fit(&features, &DetectConfig::default())?;
    let fit_secs = started.elapsed().as_secs_f64();
    println!(
        "threads={threads} hosts={} windows={} pair_series={} edges={} peer_groups={} extract_seconds={extract_secs:.2} \
         fit_seconds={fit_secs:.2} rss_after_extract_mib={rss_after_extract} peak_rss_mib={}",
        baseline.train.hosts,
        baseline.train.windows,
        baseline.train.pairs,
        baseline.train.edges,
        baseline.groups.k(),
        status_mib("VmHWM"),
    );
    Ok(())
}
