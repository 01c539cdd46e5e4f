//! The object readers on arbitrary bytes: as plain text, as the same bytes gzipped (so the
//! fuzzer's mutations reach the parser through the gzip paths), and as Parquet. Never
//! panics; counts stay within what the input can hold.
use std::io::Write;

use flowhound_flowlog::{GzipInMemory, NullSink, read_parquet, read_stream};
use flowhound_fuzz::{CheckingSink, small_read_options};

fn main() {
    let mut gzip = GzipInMemory::default();
    afl::fuzz!(|data: &[u8]| {
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
    });
}
