// The fuzz targets' bodies, free of AFL: tests/fuzz/src/bin/* run them under AFL++, and
// crates/flowhound/tests/fuzz_replay.rs (through `include!`) runs every committed corpus
// and regression input through them in `cargo test`. Each must never panic on any input
// and checks the invariants its code promises.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use flowhound_features::{FeatureConfig, FeatureState};
use flowhound_flowlog::{
    FlowRecord, GzipInMemory, Interner, Line, LineParser, NullSink, ReadOptions, RecordSink, check_plausible,
    read_parquet, read_stream,
};
use flowhound_model::artifact::{BASELINE_FILE, MANIFEST_FILE, load};
use flowhound_model::hunt::hunt;
use flowhound_model::{BaselineParams, DetectConfig, Safelist};

/// Reader options small enough that inputs of a few KB reach the limits (line length,
/// decompressed size).
pub fn small_read_options() -> ReadOptions {
    ReadOptions {
        max_line_bytes: 256,
        max_decompressed_bytes: 64 * 1024,
        in_memory_gzip_bytes: 64 * 1024,
        ..ReadOptions::default()
    }
}

/// A sink that asserts every record the readers hand out is plausible.
#[derive(Debug)]
pub struct CheckingSink<S> {
    pub inner: S,
    pub records: u64,
}

impl<S: RecordSink> RecordSink for CheckingSink<S> {
    fn record(&mut self, record: &FlowRecord, interner: &Interner) {
        if let Err(err) = check_plausible(record) {
            panic!("reader passed an implausible record: {err}: {record:?}");
        }
        self.records += 1;
        self.inner.record(record, interner);
    }

    fn end_object(&mut self, interner: &Interner) {
        self.inner.end_object(interner);
    }
}

/// The line parser on arbitrary lines: every record it returns is plausible.
pub fn line_parser(data: &[u8]) {
    let mut parser = LineParser::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(Line::Record(record)) = parser.parse_line(line) {
            assert!(check_plausible(&record).is_ok(), "{record:?}");
        }
    }
    let mut record = FlowRecord::default();
    let _ = parser.parse_line_into(data, &mut record);
}

/// The object readers: the bytes as plain text, the same bytes gzipped (so mutations
/// reach the parser through the gzip paths), the bytes as a gzip object in memory, and
/// as Parquet. Counts stay within what the input can hold.
pub fn reader(data: &[u8], gzip: &mut GzipInMemory) {
    let opts = small_read_options();
    let mut sink = CheckingSink { inner: NullSink, records: 0 };
    let report = read_stream("fuzz", data, &opts, &mut sink);
    assert!(report.records + report.malformed <= data.len() as u64 + 1);
    assert_eq!(report.records, sink.records);

    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    let compressed = enc.finish().unwrap();
    let mut sink = CheckingSink { inner: NullSink, records: 0 };
    let report = read_stream("fuzz.gz", &compressed[..], &opts, &mut sink);
    assert_eq!(report.records, sink.records);
    let _ = gzip.inflate(data, 1 << 20);

    let mut sink = CheckingSink { inner: NullSink, records: 0 };
    let _ = read_parquet("fuzz.parquet", bytes::Bytes::copy_from_slice(data), &opts, &mut sink);
}

/// Features and a self-baseline hunt on arbitrary flow-log text: whatever the records,
/// extraction and every detector run, windows are real ranges and scores stay in 0–100.
pub fn features_score(data: &[u8], cfg: &Arc<FeatureConfig>) {
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
}

/// The model loader on an arbitrary directory: the input split at its first NUL into a
/// manifest and a payload, written as a model version in `dir`, and loaded.
pub fn model_load(data: &[u8], dir: &Path) {
    let (manifest, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    std::fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
    std::fs::write(dir.join(BASELINE_FILE), payload).unwrap();
    let _ = load(dir);
}

/// The serve configuration parser on arbitrary text: what it accepts has its bounds.
pub fn serve_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = flowhound::ServeConfig::parse(text, Path::new("/nonexistent")) {
        assert!(!cfg.queue_url.is_empty());
        assert!(cfg.wait.as_secs() <= 20);
    }
}
