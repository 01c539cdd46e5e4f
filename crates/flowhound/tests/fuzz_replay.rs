//! Replays every committed fuzz input (tests/fuzz/corpus/TARGET/, the campaigns' minimised
//! corpora, and tests/fuzz/regressions/TARGET/, inputs that once crashed) through the
//! fuzz targets' bodies, without AFL: the coverage the campaigns reached is re-checked on
//! every `cargo test`, and a fixed crash stays fixed. RELIABILITY.md records the campaigns.

#![allow(dead_code)]

use std::path::PathBuf;

include!("../../../tests/fuzz/src/targets.rs");

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else { continue };
        files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(!files.is_empty(), "no committed inputs for the fuzz target {target}");
    files
}

fn replay(target: &str, mut run: impl FnMut(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data)));
        assert!(outcome.is_ok(), "fuzz input {} fails the {target} target", path.display());
    }
}

#[test]
fn line_parser_corpus() {
    replay("line_parser", line_parser);
}

#[test]
fn reader_corpus() {
    let mut gzip = GzipInMemory::default();
    replay("reader", |d| reader(d, &mut gzip));
}

#[test]
fn features_score_corpus() {
    let cfg = Arc::new(FeatureConfig::default());
    replay("features_score", |d| features_score(d, &cfg));
}

#[test]
fn model_load_corpus() {
    let dir = tempfile::tempdir().unwrap();
    replay("model_load", |d| model_load(d, dir.path()));
}

#[test]
fn serve_config_corpus() {
    replay("serve_config", serve_config);
}
