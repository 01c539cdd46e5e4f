//! Features and a self-baseline hunt on arbitrary flow-log text: whatever the records
//! (extreme counters, times at the limits, IPv6, placeholders), extraction and every
//! detector run without panicking and findings keep their 0–100 scores.
use std::sync::Arc;

use flowhound_features::{FeatureConfig, FeatureState};
use flowhound_flowlog::read_stream;
use flowhound_fuzz::{CheckingSink, small_read_options};
use flowhound_model::baseline::BaselineParams;
use flowhound_model::detect::DetectConfig;
use flowhound_model::hunt::hunt;
use flowhound_model::safelist::Safelist;

fn main() {
    let cfg = Arc::new(FeatureConfig::default());
    afl::fuzz!(|data: &[u8]| {
        let mut sink = CheckingSink { inner: FeatureState::new(cfg.clone()), records: 0 };
        read_stream("fuzz", data, &small_read_options(), &mut sink);
        let features = sink.inner.finish();
        for row in &features.rows {
            assert!(row.window_start < row.window_end, "{row:?}");
        }
        let params = BaselineParams::default();
        if let Ok(out) = hunt(&params, &features, &DetectConfig::default(), &Safelist::default()) {
            for f in &out.scored.findings {
                assert!((0.0..=100.0).contains(&f.score), "{f:?}");
            }
        }
    });
}
