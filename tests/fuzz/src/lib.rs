//! Shared bits of the fuzz targets: every target runs its input through code that must
//! never panic, whatever the bytes, and checks invariants the code promises.

use flowhound_flowlog::{FlowRecord, Interner, ReadOptions, RecordSink, check_plausible};

/// Reader options small enough that the fuzzer reaches the limits (line length,
/// decompressed size) with inputs of a few KB.
pub fn small_read_options() -> ReadOptions {
    ReadOptions {
        max_line_bytes: 256,
        max_decompressed_bytes: 64 * 1024,
        in_memory_gzip_bytes: 64 * 1024,
        ..ReadOptions::default()
    }
}

/// A sink that asserts every record the readers hand out is plausible.
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
