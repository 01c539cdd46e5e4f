//! AFL++ target: see `flowhound_fuzz::features_score`.
fn main() {
    let cfg = std::sync::Arc::new(flowhound_features::FeatureConfig::default());
    afl::fuzz!(|data: &[u8]| flowhound_fuzz::features_score(data, &cfg));
}
