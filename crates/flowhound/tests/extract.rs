//! Runs the real `flowhound extract` binary on a small tree the test writes itself and
//! reads the CSV and JSON lines back with exact, hand-computed values.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;

const ACCOUNT: &str = "123456789012";
/// 2026-11-20T00:00:00Z, a multiple of 900.
const T0: u64 = 1_795_132_800;
const V5: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
                  action log-status instance-id tcp-flags pkt-srcaddr pkt-dstaddr pkt-dst-aws-service flow-direction";

fn flowhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowhound")).args(args).output().expect("run flowhound")
}

fn ok(output: &Output) {
    assert!(output.status.success(), "status {:?}, stderr: {}", output.status, String::from_utf8_lossy(&output.stderr));
}

fn write_gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

fn object_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/2026/11/20"))
        .join(format!("{ACCOUNT}_vpcflowlogs_us-east-1_fl-0abc1234_20261120T0005Z_{name}.log.gz"))
}

/// Two monitored hosts talking over SSH (logged on both interfaces), a host behind a
/// NAT gateway (logged on its interface and the gateway's), a rejected RDP probe, NODATA,
/// and one record in the next window.
fn tree(root: &Path) {
    let t = |o: u64| T0 + o;
    let a = format!(
        "{V5}\n\
         5 1 eni-a 10.0.0.1 10.0.0.2 40000 22 6 10 1000 {} {} ACCEPT OK i-a 2 10.0.0.1 10.0.0.2 - egress\n\
         5 1 eni-a 10.0.0.2 10.0.0.1 22 40000 6 8 5000 {} {} ACCEPT OK i-a 18 10.0.0.2 10.0.0.1 - ingress\n\
         5 1 eni-a 198.51.100.77 10.0.0.1 61104 3389 6 1 44 {} {} REJECT OK i-a 2 198.51.100.77 10.0.0.1 - ingress\n\
         5 1 eni-a 10.0.0.1 203.0.113.9 40001 443 6 3 600 {} {} ACCEPT OK i-a 2 10.0.0.1 203.0.113.9 - egress\n\
         5 1 eni-z - - - - - - - {} {} - NODATA - - - - - -\n",
        t(10),
        t(60),
        t(10),
        t(60),
        t(20),
        t(20),
        t(950),
        t(960),
        t(0),
        t(59)
    );
    let b = format!(
        "{V5}\n\
         5 1 eni-b 10.0.0.1 10.0.0.2 40000 22 6 10 1000 {} {} ACCEPT OK i-b 2 10.0.0.1 10.0.0.2 - ingress\n\
         5 1 eni-b 10.0.0.2 10.0.0.1 22 40000 6 8 5000 {} {} ACCEPT OK i-b 18 10.0.0.2 10.0.0.1 - egress\n\
         5 1 eni-i 10.0.1.5 203.0.113.9 50000 443 6 5 700 {} {} ACCEPT OK i-i 2 10.0.1.5 203.0.113.9 S3 egress\n\
         5 1 eni-i 203.0.113.9 10.0.1.5 443 50000 6 4 3000 {} {} ACCEPT OK i-i 18 203.0.113.9 10.0.1.5 - ingress\n\
         5 1 eni-nat 10.0.1.5 10.0.0.100 50000 443 6 5 700 {} {} ACCEPT OK - 2 10.0.1.5 203.0.113.9 - ingress\n\
         5 1 eni-nat 10.0.0.100 10.0.1.5 443 50000 6 4 3000 {} {} ACCEPT OK - 18 203.0.113.9 10.0.1.5 - egress\n",
        t(12),
        t(61),
        t(12),
        t(61),
        t(100),
        t(130),
        t(100),
        t(130),
        t(101),
        t(131),
        t(101),
        t(131)
    );
    write_gz(&object_path(root, "a"), &a);
    write_gz(&object_path(root, "b"), &b);
}

/// Parses CSV without quoted fields (none of ours need quoting) into header-keyed rows.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut rows = Vec::new();
    for line in lines {
        let values: Vec<&str> = line.split(',').collect();
        assert_eq!(values.len(), header.len(), "{line}");
        rows.push(header.iter().cloned().zip(values.iter().map(|v| v.to_string())).collect());
    }
    rows
}

#[test]
fn csv_rows_have_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = dir.path().join("features.csv");
    let edges = dir.path().join("edges.jsonl");
    let pairs = dir.path().join("pairs.jsonl");
    let src = dir.path().join("AWSLogs");
    ok(&flowhound(&[
        "extract",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--edges-out",
        edges.to_str().unwrap(),
        "--pairs-out",
        pairs.to_str().unwrap(),
    ]));
    let rows = read_csv(&out);
    let keys: Vec<(String, String)> = rows.iter().map(|r| (r["window_start"].clone(), r["host"].clone())).collect();
    // Sorted by window, then host (numerically).
    assert_eq!(
        keys,
        vec![
            ("2026-11-20T00:00:00Z".to_string(), "10.0.0.1".to_string()),
            ("2026-11-20T00:00:00Z".to_string(), "10.0.0.2".to_string()),
            ("2026-11-20T00:00:00Z".to_string(), "10.0.1.5".to_string()),
            ("2026-11-20T00:15:00Z".to_string(), "10.0.0.1".to_string()),
        ]
    );
    let get = |i: usize, col: &str| rows[i][col].clone();
    // 10.0.0.1: SSH out once (not twice), the reply once, the rejected probe in.
    assert_eq!(get(0, "window_end"), "2026-11-20T00:15:00Z");
    assert_eq!(get(0, "interface_id"), "eni-a");
    assert_eq!(get(0, "instance_id"), "i-a");
    for (col, want) in [
        ("flows_out", "1"),
        ("flows_in", "2"),
        ("bytes_out", "1000"),
        ("bytes_in", "5044"),
        ("packets_out", "10"),
        ("packets_in", "9"),
        ("bytes_out_external", "0"),
        ("bytes_in_external", "44"),
        ("peers_internal", "1"),
        ("peers_external", "1"),
        ("dst_ports", "1"),
        ("rejects_out", "0"),
        ("rejects_in", "1"),
        ("admin_conns_out", "1"),
        ("syn_out", "1"),
        ("syn_in", "1"),
        ("incomplete", "false"),
    ] {
        assert_eq!(get(0, col), want, "10.0.0.1 {col}");
    }
    for (col, want) in
        [("flows_out", "1"), ("flows_in", "1"), ("bytes_out", "5000"), ("bytes_in", "1000"), ("admin_conns_in", "1")]
    {
        assert_eq!(get(1, col), want, "10.0.0.2 {col}");
    }
    // The NAT gateway's copies are not counted again; the gateway's address gets no row here.
    for (col, want) in [
        ("bytes_out", "700"),
        ("bytes_in", "3000"),
        ("bytes_out_external", "700"),
        ("bytes_out_aws", "700"),
        ("top_external_dst", "203.0.113.9"),
        ("top_external_dst_share", "1"),
        ("out_in_ratio", &format!("{}", 701.0 / 3001.0)),
    ] {
        assert_eq!(get(2, col), want, "10.0.1.5 {col}");
    }
    assert_eq!(get(3, "bytes_out_external"), "600");
    // One edge per direction of the SSH conversation, counted once.
    let edges = std::fs::read_to_string(&edges).unwrap();
    let edges: Vec<serde_json::Value> = edges.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["src"], "10.0.0.1");
    assert_eq!(edges[0]["dst_port"], 22);
    assert_eq!(edges[0]["bytes"], 1000);
    assert_eq!(edges[0]["flows_accept"], 1);
    let pairs = std::fs::read_to_string(&pairs).unwrap();
    let pairs: Vec<serde_json::Value> = pairs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0]["host"], "10.0.0.1");
    assert_eq!(pairs[0]["start_deltas"], serde_json::json!([950]));
    assert_eq!(pairs[1]["host"], "10.0.1.5");
    assert_eq!(pairs[1]["events_total"], 1);
    assert_eq!(pairs[1]["aws_service"], true);
}

#[test]
fn jsonl_and_time_range() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = dir.path().join("features.jsonl");
    let src = dir.path().join("AWSLogs");
    // --to drops the record that starts in the second window.
    ok(&flowhound(&[
        "extract",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--to",
        &(T0 + 900).to_string(),
        "--window",
        "5m",
    ]));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["host"], "10.0.0.1");
    assert_eq!(rows[0]["window_start"], "2026-11-20T00:00:00Z");
    assert_eq!(rows[0]["window_end"], "2026-11-20T00:05:00Z");
    assert_eq!(rows[0]["bytes_in"], 5044);
    assert_eq!(rows[0]["instance_id"], "i-a");
    assert_eq!(rows[2]["host"], "10.0.1.5");
    assert_eq!(rows[2]["top_external_dst_share"], 1.0);
    assert_eq!(rows[2]["interface_id"], "eni-i");
}

#[test]
fn damage_policy_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let src = dir.path().join("AWSLogs");
    let broken = object_path(dir.path(), "c");
    let mut bytes = std::fs::read(object_path(dir.path(), "a")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).unwrap();
    let out = dir.path().join("f.csv");
    let failed = flowhound(&["extract", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stderr));
    assert!(!out.exists(), "nothing is written when the run fails");
    // A failed run leaves a previous output as it was, and no temporary file behind.
    std::fs::write(&out, "previous output\n").unwrap();
    let failed = flowhound(&["extract", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous output\n");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    ok(&flowhound(&["extract", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--skip-corrupt"]));
    assert!(out.exists());
    let bad_window = flowhound(&["extract", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--window", "7m"]);
    assert_eq!(bad_window.status.code(), Some(2));
    let bad_ext = flowhound(&["extract", src.to_str().unwrap(), "--out", "x.xlsx"]);
    assert_eq!(bad_ext.status.code(), Some(2));
}

/// Numbers no interface can produce (a byte count that would wrap a sum, times at
/// `u64::MAX`, an end before its start) are malformed lines named with their object and
/// line: they change no count, and the window of every row stays a real time range.
#[test]
fn extreme_numbers_are_malformed_and_change_no_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("extreme.log");
    let line = |bytes: &str, start: &str, end: &str| {
        format!("2 {ACCOUNT} eni-a 10.0.0.1 203.0.113.9 40001 443 6 5 {bytes} {start} {end} ACCEPT OK\n")
    };
    let (s, e) = ((T0 + 10).to_string(), (T0 + 60).to_string());
    let max = u64::MAX.to_string();
    let text = [
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
            .to_string(),
        line("5000000000", &s, &e),
        line("18446744068709552616", &s, &e),
        line("100", &max, &max),
        line("100", &e, &s),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let csv = dir.path().join("f.csv");
    let run =
        flowhound(&["extract", log.to_str().unwrap(), "--out", csv.to_str().unwrap(), "--internal", "10.0.0.0/8"]);
    ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    for (line_no, reason) in [(3, "above the physical limit"), (4, "above the physical limit"), (5, "before start")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("extreme.log") && l.contains(&format!("line={line_no}")) && l.contains(reason)),
            "line {line_no} ({reason}) not reported: {stderr}"
        );
    }
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["host"], "10.0.0.1");
    assert_eq!(rows[0]["bytes_out"], "5000000000");
    assert_eq!(rows[0]["window_start"], "2026-11-20T00:00:00Z");
    assert_eq!(rows[0]["window_end"], "2026-11-20T00:15:00Z");
    // The same through Parquet: written, and read back by extract itself as a flow-log
    // table would not be, so check the file is complete (footer magic) and non-empty.
    let parquet = dir.path().join("f.parquet");
    ok(&flowhound(&["extract", log.to_str().unwrap(), "--out", parquet.to_str().unwrap(), "--internal", "10.0.0.0/8"]));
    let bytes = std::fs::read(&parquet).unwrap();
    assert!(bytes.len() > 8 && bytes.ends_with(b"PAR1"), "{} bytes", bytes.len());
}
