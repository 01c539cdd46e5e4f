//! Object-level behaviour of the reader: containers (plain, gzip, multi-member gzip,
//! Parquet), damaged input, limits, accounting, directory discovery and key layout.
//! Every fixture is written here or lives under `tests/fixtures/`.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use flowhound_flowlog::{
    Action, FlowRecord, Interner, LogStatus, ObjectError, ObjectFormat, ObjectRef, ReadOptions, ScanSummary,
    discover_local, read_object, read_stream, scan,
};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

fn v2_line(i: u64) -> String {
    format!(
        "2 123456789012 eni-{:05} 10.0.{}.{} 203.0.113.{} {} 443 6 {} {} {} {} {} OK\n",
        i % 7,
        i / 250 % 250,
        1 + i % 250,
        1 + i % 200,
        30_000 + i % 1000,
        1 + i % 50,
        40 * (1 + i % 50),
        1_795_849_200 + i,
        1_795_849_260 + i,
        if i.is_multiple_of(10) { "REJECT" } else { "ACCEPT" }
    )
}

fn v2_text(records: u64) -> String {
    let mut text = String::from(HEADER);
    for i in 0..records {
        text.push_str(&v2_line(i));
    }
    text
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Reads `bytes` as one object, collecting the records with their identifiers resolved.
fn read(bytes: &[u8], opts: &ReadOptions) -> (flowhound_flowlog::ObjectReport, Vec<(FlowRecord, String)>) {
    let mut records = Vec::new();
    let mut sink = |r: &FlowRecord, i: &Interner| records.push((*r, i.display(r.interface_id).to_string()));
    let report = read_stream("obj", bytes, opts, &mut sink);
    (report, records)
}

#[test]
fn plain_text_counts_every_record() {
    let (report, records) = read(v2_text(1000).as_bytes(), &ReadOptions::default());
    assert_eq!(report.format, ObjectFormat::Text);
    assert_eq!((report.records, report.malformed, report.header_lines), (1000, 0, 1));
    assert_eq!((report.accept, report.reject), (900, 100));
    assert_eq!(report.first_start, Some(1_795_849_200));
    assert_eq!(report.last_end, Some(1_795_849_260 + 999));
    assert_eq!(report.interfaces.len(), 7);
    assert_eq!(report.versions.iter().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(report.fields.len(), 14);
    assert_eq!(records.len(), 1000);
    assert_eq!(records[3].0.srcaddr.unwrap().to_string(), "10.0.0.4");
    assert_eq!(records[3].1, "eni-00003");
    assert_eq!(records[10].0.action, Some(Action::Reject));
    assert!(report.error.is_none());
}

#[test]
fn gzip_single_and_multi_member() {
    let text = v2_text(3000);
    let (report, _) = read(&gzip(text.as_bytes()), &ReadOptions::default());
    assert_eq!((report.format, report.records, report.malformed), (ObjectFormat::Gzip, 3000, 0));
    assert_eq!(report.bytes_decompressed, text.len() as u64);
    // Members split mid-line: framing must not care where members end.
    let bytes = text.as_bytes();
    let mut multi = gzip(&bytes[..1000]);
    multi.extend(gzip(&bytes[1000..50_000]));
    multi.extend(gzip(&bytes[50_000..]));
    let (report, records) = read(&multi, &ReadOptions::default());
    assert_eq!((report.records, report.malformed, report.error), (3000, 0, None));
    assert_eq!(records[2999].0.start, Some(1_795_849_200 + 2999));
}

#[test]
fn truncated_gzip_keeps_the_records_before_the_damage() {
    let text = v2_text(20_000);
    let full = gzip(text.as_bytes());
    let cut = &full[..full.len() / 2];
    let (report, records) = read(cut, &ReadOptions::default());
    let Some(ObjectError::Corrupt { object, offset, .. }) = &report.error else {
        panic!("expected a corrupt-gzip error, got {:?}", report.error)
    };
    assert_eq!(object, "obj");
    assert!(*offset > 0 && *offset <= cut.len() as u64, "offset {offset} of {}", cut.len());
    assert!(report.records > 1000 && report.records < 20_000, "{}", report.records);
    assert_eq!(report.records, records.len() as u64);
    assert_eq!(report.malformed, 0, "the cut-off line must be discarded, not parsed");
    // What was kept is exactly a prefix of the object.
    for (i, (r, _)) in records.iter().enumerate() {
        assert_eq!(r.start, Some(1_795_849_200 + i as u64));
    }
    let message = report.error.unwrap().to_string();
    assert!(message.starts_with("obj: corrupt or truncated gzip at compressed offset"), "{message}");
}

#[test]
fn corrupt_gzip_in_the_middle_is_reported_with_its_offset() {
    let text = v2_text(20_000);
    let mut damaged = gzip(text.as_bytes());
    let middle = damaged.len() / 2;
    for b in &mut damaged[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let (report, records) = read(&damaged, &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Corrupt { .. })), "{:?}", report.error);
    assert!(report.records < 20_000);
    assert_eq!(report.records, records.len() as u64);
}

#[test]
fn decompression_bomb_stops_at_the_limit() {
    // 64 MiB of zeros-like text compresses to ~64 KiB.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    let opts = ReadOptions { max_decompressed_bytes: 1 << 20, ..ReadOptions::default() };
    let (report, _) = read(&bomb, &opts);
    assert_eq!(report.error, Some(ObjectError::TooLarge { object: "obj".into(), limit: 1 << 20, line: 0 }));
    assert_eq!(report.bytes_decompressed, 1 << 20);
    // Exactly at the limit is fine.
    let text = v2_text(100);
    let opts = ReadOptions { max_decompressed_bytes: text.len() as u64, ..ReadOptions::default() };
    let (report, _) = read(&gzip(text.as_bytes()), &opts);
    assert_eq!((report.records, report.error), (100, None));
}

#[test]
fn empty_header_only_and_binary_objects() {
    let (report, _) = read(b"", &ReadOptions::default());
    assert_eq!((report.records, report.malformed, report.error), (0, 0, None));
    let (report, _) = read(&gzip(b""), &ReadOptions::default());
    assert_eq!((report.format, report.records, report.error), (ObjectFormat::Gzip, 0, None));
    let (report, _) = read(HEADER.as_bytes(), &ReadOptions::default());
    assert_eq!((report.records, report.header_lines, report.malformed), (0, 1, 0));
    assert_eq!(report.fields.len(), 14);
    let mut junk = b"2 123 eni-1 ".to_vec();
    junk.extend([0u8, 1, 2, 0xff, 0xfe, b'\n']);
    let (report, _) = read(&junk, &ReadOptions::default());
    assert_eq!(report.error, Some(ObjectError::Binary { object: "obj".into(), offset: 12 }));
    // The same junk inside gzip is named the same way.
    let (report, _) = read(&gzip(&junk), &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Binary { offset: 12, .. })), "{:?}", report.error);
}

#[test]
fn long_lines_are_malformed_and_the_limit_itself_is_accepted() {
    let limit = 64 * 1024;
    let opts = ReadOptions::default();
    assert_eq!(opts.max_line_bytes, limit);
    let base = v2_line(1);
    let base = base.trim_end();
    // Padding with trailing spaces keeps the record valid at any length.
    let at_limit = format!("{base}{}", " ".repeat(limit - base.len()));
    assert_eq!(at_limit.len(), limit);
    let over = format!("{at_limit} ");
    let huge = "9".repeat(5 * limit);
    let text = format!("{HEADER}{at_limit}\n{over}\n{}{huge}\n{}", v2_line(2), v2_line(3));
    let (report, records) = read(text.as_bytes(), &opts);
    assert_eq!((report.records, report.malformed), (3, 2));
    assert_eq!(records[0].0.start, Some(1_795_849_201));
    assert_eq!(report.malformed_samples[0].line, 3);
    assert_eq!(
        report.malformed_samples[0].reason,
        format!("line is {} bytes, longer than the {limit}-byte limit", limit + 1)
    );
    assert_eq!(report.malformed_samples[1].line, 5);
    // An over-long last line without a newline is counted too.
    let text = format!("{}{huge}", v2_line(4));
    let (report, _) = read(text.as_bytes(), &opts);
    assert_eq!((report.records, report.malformed), (1, 1));
}

#[test]
fn placeholders_are_accounted_per_interface() {
    let text = "\
2 1 eni-a - - - - - - - 100 160 - NODATA
2 1 eni-a - - - - - - - 160 220 - NODATA
2 1 eni-b - - - - - - - 100 160 - SKIPDATA
2 1 eni-b 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK
";
    let (report, _) = read(text.as_bytes(), &ReadOptions::default());
    assert_eq!((report.records, report.nodata, report.skipdata), (4, 2, 1));
    assert_eq!(report.placeholders["eni-a"].nodata, 2);
    assert_eq!(report.placeholders["eni-a"].skipdata, 0);
    assert_eq!(report.placeholders["eni-b"].skipdata, 1);
    assert_eq!(report.interfaces.len(), 2);
}

#[test]
fn malformed_lines_are_counted_and_sampled_with_line_numbers() {
    let text = format!(
        "{HEADER}{}2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT\n{}2 1 eni-1 x 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK\nversion srcaddr srcaddr\n2 10.0.0.1\n{HEADER}{}",
        v2_line(0),
        v2_line(1),
        v2_line(2)
    );
    let (report, _) = read(text.as_bytes(), &ReadOptions { malformed_samples: 2, ..ReadOptions::default() });
    assert_eq!((report.records, report.malformed, report.header_lines), (3, 4, 2));
    let lines: Vec<u64> = report.malformed_samples.iter().map(|m| m.line).collect();
    assert_eq!(lines, vec![3, 5]);
    assert_eq!(report.malformed_samples[0].reason, "expected 14 fields, found 13");
    assert_eq!(report.malformed_samples[0].object, "obj");
    assert!(report.malformed_samples[1].reason.contains("srcaddr"), "{}", report.malformed_samples[1].reason);
}

#[test]
fn headers_mid_file_switch_the_order_and_the_record_is_reset() {
    let text = "\
2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK
start end bytes vpc-id log-status
100 160 5000 vpc-1 OK
version interface-id start log-status
3 eni-2 200 OK
";
    let (report, records) = read(text.as_bytes(), &ReadOptions::default());
    assert_eq!((report.records, report.header_lines, report.malformed), (3, 2, 0));
    assert_eq!(records[1].0.bytes, Some(5000));
    assert_eq!(records[1].0.version, None, "no value may leak from the previous order");
    assert_eq!(records[1].0.srcaddr, None);
    assert_eq!(records[2].0.bytes, None);
    assert_eq!(records[2].0.vpc_id, Default::default());
    assert_eq!(records[2].1, "eni-2");
    assert!(report.fields.contains("vpc-id") && report.fields.contains("srcaddr"));
}

#[test]
fn crlf_ipv6_unknown_fields_and_trailing_spaces() {
    let text = "version interface-id tgw-id srcaddr dstaddr log-status\r\n\
2 eni-1 tgw-0abc 2001:db8::1 fe80::1%x OK\r\n\
2 eni-1 tgw-0abc 2001:db8::1 ::1 OK   \r\n\
\r\n";
    let (report, records) = read(text.as_bytes(), &ReadOptions::default());
    assert_eq!((report.records, report.malformed, report.blank_lines), (1, 1, 1));
    assert_eq!(records[0].0.dstaddr.unwrap().to_string(), "::1");
    assert!(report.unknown_fields.contains("tgw-id"));
    assert!(report.fields.contains("tgw-id"));
}

#[test]
fn headerless_v5_all_fields_object() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v5-all-fields.log"))
        .unwrap();
    let (report, records) = read(text.as_bytes(), &ReadOptions::default());
    assert_eq!((report.records, report.malformed), (3, 1), "{:?}", report.malformed_samples);
    assert_eq!(records[0].0.version, Some(5));
    assert_eq!(records[0].0.traffic_path, Some(1));
    assert_eq!(records[1].0.version, Some(2));
    assert_eq!(records[1].0.traffic_path, None);
    assert_eq!(records[2].0.traffic_path, Some(3));
    assert!(report.fields.contains("traffic-path"));
    assert_eq!(report.versions.iter().copied().collect::<Vec<_>>(), vec![2, 5]);
}

#[test]
fn time_range_filters_records_by_start() {
    let opts = ReadOptions { from: Some(1_795_849_200 + 10), to: Some(1_795_849_200 + 20), ..ReadOptions::default() };
    let (report, records) = read(v2_text(100).as_bytes(), &opts);
    assert_eq!((report.records, report.out_of_range), (10, 90));
    assert_eq!(records.first().unwrap().0.start, Some(1_795_849_210));
    assert_eq!(report.first_start, Some(1_795_849_210));
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn directory_discovery_is_recursive_sorted_and_ignores_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("b/2.log.gz"), &gzip(v2_text(5).as_bytes()));
    write(&root.join("a/z/1.log"), v2_text(3).as_bytes());
    write(&root.join("a/0.txt"), v2_text(2).as_bytes());
    write(&root.join("a/README.md"), b"not a flow log");
    write(&root.join("a/.hidden.log"), v2_text(1).as_bytes());
    write(&root.join("c.parquet.json"), b"{}");
    let found = discover_local(root.to_str().unwrap()).unwrap();
    let names: Vec<String> =
        found.iter().map(|o| Path::new(&o.name).strip_prefix(root).unwrap().display().to_string()).collect();
    assert_eq!(names, vec!["a/0.txt", "a/z/1.log", "b/2.log.gz"]);
    let (reports, total) = scan(&found, None, &ReadOptions::default(), Counter::default, &|_| {});
    assert_eq!(reports.iter().map(|r| r.records).collect::<Vec<_>>(), vec![2, 3, 5]);
    assert_eq!(total.0, 10);
    let summary = ScanSummary::from_reports(&reports, 0, 5);
    assert_eq!((summary.objects, summary.records, summary.interfaces), (3, 10, 5));
    assert!(discover_local(root.join("missing").to_str().unwrap()).is_err());
}

#[derive(Default)]
struct Counter(u64);

impl flowhound_flowlog::RecordSink for Counter {
    fn record(&mut self, _record: &FlowRecord, _interner: &Interner) {
        self.0 += 1;
    }
}

impl flowhound_flowlog::Partial for Counter {
    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
}

#[test]
fn key_layout_prunes_objects_outside_the_range() {
    let key = |stamp: &str| {
        ObjectRef::remote(
            format!(
                "s3://b/AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/20/123456789012_vpcflowlogs_us-east-1_fl-0abc_{stamp}_ab.log.gz"
            ),
            None,
        )
    };
    let noon = key("20261120T1200Z");
    let t = noon.key.as_ref().unwrap().file_time.unwrap();
    assert!(noon.may_overlap(Some(t), Some(t + 300)));
    assert!(!noon.may_overlap(Some(t + 300), None), "ends before the range starts");
    assert!(noon.may_overlap(Some(t + 299), None));
    assert!(!noon.may_overlap(None, Some(t - 3600)), "starts after the range ends");
    assert!(noon.may_overlap(None, Some(t - 3599)));
    let plain = ObjectRef::local("/tmp/x.log.gz".into(), None);
    assert!(plain.may_overlap(Some(u64::MAX - 1), None), "unknown layout is never pruned");
}

#[test]
fn local_objects_are_read_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mislabelled.log");
    write(&path, &gzip(v2_text(4).as_bytes()));
    let object = ObjectRef::local(path.clone(), None);
    let report = read_object(&object, None, &ReadOptions::default(), &mut flowhound_flowlog::NullSink);
    assert_eq!((report.format, report.records), (ObjectFormat::Gzip, 4));
    let missing = ObjectRef::local(dir.path().join("gone.log"), None);
    let report = read_object(&missing, None, &ReadOptions::default(), &mut flowhound_flowlog::NullSink);
    assert!(matches!(report.error, Some(ObjectError::Io { .. })));
    let remote = ObjectRef::remote("s3://b/k.log.gz".into(), None);
    let report = read_object(&remote, None, &ReadOptions::default(), &mut flowhound_flowlog::NullSink);
    assert!(matches!(report.error, Some(ObjectError::Io { .. })));
    assert_eq!(LogStatus::NoData.as_str(), "NODATA");
}

/// Reads `bytes` inflated in memory (as `opts` allows) and streamed, and checks that the
/// two give the same report and the same records.
fn read_both_ways(bytes: &[u8], opts: &ReadOptions) -> flowhound_flowlog::ObjectReport {
    let (in_memory, records_in_memory) = read(bytes, opts);
    let streamed_opts = ReadOptions { in_memory_gzip_bytes: 0, ..opts.clone() };
    let (streamed, records_streamed) = read(bytes, &streamed_opts);
    assert_eq!(in_memory, streamed);
    assert_eq!(records_in_memory.len(), records_streamed.len());
    for (a, b) in records_in_memory.iter().zip(&records_streamed) {
        assert_eq!(a, b);
    }
    in_memory
}

#[test]
fn gzip_in_memory_and_streamed_read_the_same() {
    let text = v2_text(20_000);
    let whole = gzip(text.as_bytes());
    let report = read_both_ways(&whole, &ReadOptions::default());
    assert_eq!((report.records, report.bytes_read, report.error), (20_000, whole.len() as u64, None));
    assert_eq!(report.bytes_decompressed, text.len() as u64);

    // A member cut in half, with the original trailer appended.
    let mut cut = whole[..whole.len() / 2].to_vec();
    cut.extend_from_slice(&whole[whole.len() - 8..]);
    let report = read_both_ways(&cut, &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Corrupt { .. })), "{:?}", report.error);
    assert!(report.records > 1000 && report.records < 20_000, "{}", report.records);

    // Wrong CRC-32: every record is there, and the object is still reported corrupt.
    let mut bad_crc = whole.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xff;
    let report = read_both_ways(&bad_crc, &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Corrupt { .. })), "{:?}", report.error);

    // Declared sizes that lie, below, above and far above the real one.
    for declared in [text.len() as u32 - 1, text.len() as u32 + 1, u32::MAX] {
        let mut lying = whole.clone();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&declared.to_le_bytes());
        let report = read_both_ways(&lying, &ReadOptions::default());
        assert!(matches!(report.error, Some(ObjectError::Corrupt { .. })), "{declared}: {:?}", report.error);
    }
}

#[test]
fn multi_member_gzip_is_streamed_whole() {
    let text = v2_text(3000);
    let bytes = text.as_bytes();
    let mut multi = gzip(&bytes[..1000]);
    multi.extend(gzip(&bytes[1000..]));
    let report = read_both_ways(&multi, &ReadOptions::default());
    assert_eq!((report.records, report.error), (3000, None));
    // The same member twice: its trailer is also the object's last 8 bytes.
    let one = gzip(bytes);
    let mut twice = one.clone();
    twice.extend(&one);
    let report = read_both_ways(&twice, &ReadOptions::default());
    assert_eq!((report.records, report.header_lines, report.error), (6000, 2, None));
    // Bytes after the last member are an error, as when streamed.
    let mut trailing = one.clone();
    trailing.extend(b"junk");
    let report = read_both_ways(&trailing, &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Corrupt { .. })), "{:?}", report.error);
    assert_eq!(report.records, 3000);
}

#[test]
fn gzip_limits_hold_in_memory() {
    // A bomb declares its size: over the decompression limit, it is streamed up to the limit.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    let opts = ReadOptions { max_decompressed_bytes: 1 << 20, ..ReadOptions::default() };
    let report = read_both_ways(&bomb, &opts);
    assert_eq!(report.error, Some(ObjectError::TooLarge { object: "obj".into(), limit: 1 << 20, line: 0 }));
    assert_eq!(report.bytes_decompressed, 1 << 20);

    // One byte over the in-memory limit: streamed, with the same counts.
    let text = v2_text(5000);
    let compressed = gzip(text.as_bytes());
    for limit in [text.len() as u64, text.len() as u64 - 1, compressed.len() as u64 - 1] {
        let opts = ReadOptions { in_memory_gzip_bytes: limit, ..ReadOptions::default() };
        let report = read_both_ways(&compressed, &opts);
        assert_eq!((report.records, report.malformed, report.error), (5000, 0, None), "limit {limit}");
    }

    // Lines over the line limit and binary text, inside gzip.
    let mut long = v2_text(10);
    long.push_str(&"x".repeat(70_000));
    long.push('\n');
    long.push_str(&v2_line(10));
    let report = read_both_ways(&gzip(long.as_bytes()), &ReadOptions::default());
    assert_eq!((report.records, report.malformed), (11, 1));
    let report = read_both_ways(&gzip(b"\0\0\0binary"), &ReadOptions::default());
    assert!(matches!(report.error, Some(ObjectError::Binary { .. })), "{:?}", report.error);
}

#[test]
fn a_local_object_over_the_in_memory_limit_is_streamed_with_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obj.log.gz");
    let compressed = gzip(v2_text(4000).as_bytes());
    write(&path, &compressed);
    let object = ObjectRef::local(path, Some(compressed.len() as u64));
    let read_with = |limit: u64| {
        let opts = ReadOptions { in_memory_gzip_bytes: limit, ..ReadOptions::default() };
        read_object(&object, None, &opts, &mut flowhound_flowlog::NullSink)
    };
    let in_memory = read_with(1 << 30);
    let streamed = read_with(compressed.len() as u64 - 1);
    assert_eq!((in_memory.records, in_memory.bytes_read, &in_memory.error), (4000, compressed.len() as u64, &None));
    assert_eq!(in_memory, streamed);
}

/// Yields `data`, then fails, as a connection reset would.
struct FailingAfter<'a> {
    data: &'a [u8],
}

impl std::io::Read for FailingAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = buf.len().min(self.data.len()).min(4096);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_object_keeps_the_records_before_it_in_memory_and_streamed() {
    let compressed = gzip(v2_text(20_000).as_bytes());
    let half = &compressed[..compressed.len() / 2];
    let mut reports = Vec::new();
    for limit in [flowhound_flowlog::DEFAULT_IN_MEMORY_GZIP_BYTES, 0] {
        let opts = ReadOptions { in_memory_gzip_bytes: limit, ..ReadOptions::default() };
        let mut records = 0u64;
        let mut sink = |_: &FlowRecord, _: &Interner| records += 1;
        let report = read_stream("obj", FailingAfter { data: half }, &opts, &mut sink);
        assert_eq!(report.records, records);
        assert!(report.records > 1000 && report.records < 20_000, "{}", report.records);
        assert_eq!(
            report.error,
            Some(ObjectError::Io { object: "obj".into(), message: "connection reset".into() }),
            "limit {limit}"
        );
        reports.push(report);
    }
    assert_eq!(reports[0], reports[1]);
}
