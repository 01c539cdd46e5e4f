//! Times the feature computation alone (reading + features, no output file) on a tree of
//! flow logs, without building the whole CLI:
//!
//! ```text
//! cargo run --release -p flowhound-features --example extract_bench -- DIR [THREADS] [WINDOW_SECS]
//! ```

use std::sync::Arc;
use std::time::Instant;

use flowhound_features::{FeatureConfig, FeatureState};
use flowhound_flowlog::{ReadOptions, discover_local, scan};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: extract_bench DIR [THREADS] [WINDOW_SECS]")?;
    let threads: usize = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let window: u64 = args.get(2).map_or(Ok(300), |s| s.parse())?;
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    let objects = discover_local(dir)?;
    let cfg = Arc::new(FeatureConfig::new(window, 86_400, &[])?);
    let started = Instant::now();
    let (reports, state) = scan(&objects, None, &ReadOptions::default(), || FeatureState::new(cfg.clone()), &|_| {});
    let read = started.elapsed().as_secs_f64();
    let held = state.host_windows();
    let features = state.finish();
    let total = started.elapsed().as_secs_f64();
    let records: u64 = reports.iter().map(|r| r.records).sum();
    println!(
        "records={records} rows={} host_windows={held} edges={} pairs={} read_seconds={read:.3} seconds={total:.3} \
         mrec_per_s={:.2}",
        features.rows.len(),
        features.edges.len(),
        features.pairs.len(),
        records as f64 / total / 1e6
    );
    Ok(())
}
