//! Criterion benches for the line parser: realistic default-format (v2) lines, the same
//! lines in a custom v5 order, and the full reader on an in-memory object (framing and
//! accounting included). Throughput is reported in records.
//!
//! `cargo bench -p flowhound-flowlog --bench parse`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowhound_flowlog::{FlowRecord, LineKind, LineParser, NullSink, ReadOptions, read_stream};

const LINES: usize = 10_000;

/// Deterministic, varied lines: a few hundred interfaces, internal and public peers,
/// numbers of realistic widths.
fn v2_lines() -> Vec<String> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    (0..LINES)
        .map(|_| {
            let eni = next(400);
            let end = 1_795_132_800 + next(300);
            if next(100) == 0 {
                return format!("2 123456789012 eni-0{eni:016x} - - - - - - - {} {end} - NODATA", end - 60);
            }
            let packets = 1 + next(2000);
            format!(
                "2 123456789012 eni-0{eni:016x} 10.20.{}.{} {}.{}.{}.{} {} {} 6 {packets} {} {} {end} {} OK",
                next(4),
                4 + next(200),
                1 + next(223),
                next(256),
                next(256),
                1 + next(254),
                32_768 + next(28_000),
                [443, 80, 22, 5432][next(4) as usize],
                packets * (40 + next(1460)),
                end - next(60),
                if next(10) == 0 { "REJECT" } else { "ACCEPT" },
            )
        })
        .collect()
}

fn bench_parser(c: &mut Criterion) {
    let lines = v2_lines();
    let mut group = c.benchmark_group("line_parser");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("v2_default", |b| {
        let mut parser = LineParser::new();
        let mut record = FlowRecord::default();
        b.iter(|| {
            let mut records = 0u32;
            for line in &lines {
                records += u32::from(parser.parse_line_into(line.as_bytes(), &mut record) == Ok(LineKind::Record));
            }
            black_box((records, record.bytes))
        })
    });
    // The same values behind a header naming them in another order, with v3-v5 extras.
    let header = "version start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status account-id interface-id vpc-id flow-direction traffic-path";
    let custom: Vec<String> = lines
        .iter()
        .map(|l| {
            let t: Vec<&str> = l.split(' ').collect();
            format!(
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} vpc-0a1b2c3d egress 1",
                t[0], t[10], t[11], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[12], t[13], t[1], t[2]
            )
        })
        .collect();
    group.bench_function("custom_header_order", |b| {
        let mut parser = LineParser::new();
        parser.parse_line(header.as_bytes()).ok();
        let mut record = FlowRecord::default();
        b.iter(|| {
            let mut records = 0u32;
            for line in &custom {
                records += u32::from(parser.parse_line_into(line.as_bytes(), &mut record) == Ok(LineKind::Record));
            }
            black_box(records)
        })
    });
    group.finish();

    let mut object = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for line in &lines {
        object.push_str(line);
        object.push('\n');
    }
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("plain_object", |b| {
        let opts = ReadOptions::default();
        b.iter(|| black_box(read_stream("bench", object.as_bytes(), &opts, &mut NullSink).records))
    });
    group.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
