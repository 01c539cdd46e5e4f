//! Runs the real `flowhound inspect` binary on trees the test writes itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
/// 2026-11-20T00:00:00Z.
const T0: u64 = 1_795_132_800;
const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

fn flowhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowhound")).args(args).output().expect("run flowhound")
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "status {:?}, stderr: {}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn stamp(t: u64) -> String {
    let (y, m, d) = flowhound_flowlog::time::civil_from_days((t / 86_400) as i64);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}Z", t / 3600 % 24, t / 60 % 60)
}

fn object_path(root: &Path, bucket: u64) -> PathBuf {
    let (y, m, d) = flowhound_flowlog::time::civil_from_days((bucket / 86_400) as i64);
    root.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/{y:04}/{m:02}/{d:02}"))
        .join(format!("{ACCOUNT}_vpcflowlogs_us-east-1_fl-0abc1234_{}_{bucket:x}.log.gz", stamp(bucket)))
}

/// What a generated tree holds, computed while writing it.
#[derive(Debug, Default)]
struct Expected {
    objects: u64,
    records: u64,
    nodata: u64,
    skipdata: u64,
    malformed: u64,
    first_start: u64,
    last_end: u64,
}

/// Two days of hourly objects; every object has a header, NODATA/SKIPDATA records and
/// one malformed line. Record starts never precede their object's bucket, so a range
/// on hour boundaries selects whole objects.
fn write_tree(root: &Path, per_object: u64) -> Expected {
    let mut expected = Expected { first_start: u64::MAX, ..Expected::default() };
    for day in 0..2 {
        for hour in 0..24 {
            let bucket = T0 + day * 86_400 + hour * 3600;
            let mut text = String::from(HEADER);
            for i in 0..per_object {
                let end = bucket + 30 + i % 270;
                let start = end - i % 30;
                let eni = i % 37;
                let line = if i % 100 == 7 {
                    expected.nodata += 1;
                    format!("2 {ACCOUNT} eni-{eni:017x} - - - - - - - {start} {end} - NODATA\n")
                } else if i % 250 == 11 {
                    expected.skipdata += 1;
                    format!("2 {ACCOUNT} eni-{eni:017x} - - - - - - - {start} {end} - SKIPDATA\n")
                } else {
                    format!(
                        "2 {ACCOUNT} eni-{eni:017x} 10.0.{}.{} 198.51.100.{} {} 443 6 {} {} {start} {end} ACCEPT OK\n",
                        i % 200,
                        1 + i % 250,
                        1 + i % 254,
                        1024 + i % 60_000,
                        1 + i % 90,
                        60 * (1 + i % 90)
                    )
                };
                text.push_str(&line);
                expected.records += 1;
                expected.first_start = expected.first_start.min(start);
                expected.last_end = expected.last_end.max(end);
                if i == per_object / 2 {
                    text.push_str("2 123456789012 eni-0 this is not a flow record\n");
                    expected.malformed += 1;
                }
            }
            let path = object_path(root, bucket);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, gzip(text.as_bytes())).unwrap();
            expected.objects += 1;
        }
    }
    // Files that are not flow logs are ignored.
    std::fs::write(root.join("AWSLogs/manifest.json"), b"{}").unwrap();
    expected
}

#[test]
fn counts_every_record_of_a_large_tree() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_tree(dir.path(), 4200);
    assert!(expected.records >= 200_000);
    let root = dir.path().to_str().unwrap();
    let v = json(&flowhound(&["inspect", root, "--json"]));
    assert_eq!(v["objects"], expected.objects);
    assert_eq!(v["records"], expected.records);
    assert_eq!(v["nodata"], expected.nodata);
    assert_eq!(v["skipdata"], expected.skipdata);
    assert_eq!(v["malformed"], expected.malformed);
    assert_eq!(v["first_start"], expected.first_start);
    assert_eq!(v["last_end"], expected.last_end);
    let fields: Vec<&str> = v["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    let mut names: Vec<&str> = HEADER.split_whitespace().collect();
    names.sort_unstable();
    assert_eq!(fields, names);
    assert_eq!(v["interfaces"], 37);
    assert_eq!(v["accept"].as_u64().unwrap(), expected.records - expected.nodata - expected.skipdata);
    // Deterministic whatever the thread count.
    let one = json(&flowhound(&["--threads", "1", "inspect", root, "--json"]));
    assert_eq!(one, v);
    // The text report carries the same totals.
    let text = flowhound(&["inspect", root]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains(&format!("records      {} (", expected.records)), "{text}");
}

#[test]
fn time_range_filters_records_and_prunes_objects_by_key_date() {
    let dir = tempfile::tempdir().unwrap();
    let per_object = 500;
    write_tree(dir.path(), per_object);
    let from = T0 + 86_400;
    let to = from + 12 * 3600;
    let v = json(&flowhound(&[
        "inspect",
        dir.path().to_str().unwrap(),
        "--json",
        "--from",
        "2026-11-21T00:00:00Z",
        "--to",
        &to.to_string(),
    ]));
    // Day one ends before `from`; day-two objects from hour 13 on start after `to`
    // (hour 12 may hold starts up to an hour earlier, so it is read and filtered).
    assert_eq!(v["objects_pruned"], 24 + 11);
    assert_eq!(v["objects"], 13);
    assert_eq!(v["records"], 12 * per_object);
    assert_eq!(v["out_of_range"], per_object);
    assert_eq!(v["first_start"], from + 30);
    assert!(v["last_end"].as_u64().unwrap() < to + 300);
}

#[test]
fn truncated_object_fails_the_run_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(HEADER);
    for i in 0..20_000u64 {
        text.push_str(&format!(
            "2 1 eni-1 10.0.0.1 10.0.{}.2 1 2 6 1 40 {} {} ACCEPT OK\n",
            i % 250,
            T0 + i,
            T0 + i + 5
        ));
    }
    let good = dir.path().join("good.log.gz");
    std::fs::write(&good, gzip(text.as_bytes())).unwrap();
    let full = gzip(text.as_bytes());
    let bad = dir.path().join("cut-short.log.gz");
    std::fs::write(&bad, &full[..full.len() / 2]).unwrap();
    let root = dir.path().to_str().unwrap();
    let out = flowhound(&["inspect", root, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cut-short.log.gz"), "{stderr}");
    assert!(stderr.contains("compressed offset"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("the report is still printed");
    let kept = v["records"].as_u64().unwrap();
    assert!(kept > 20_000 && kept < 40_000, "records before the damage are kept: {kept}");
    let out = flowhound(&["inspect", root, "--json", "--skip-corrupt"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"].as_u64().unwrap(), kept);
    assert_eq!(v["objects_failed"], 1);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.log.gz");
    for args in [
        vec!["inspect"],
        vec!["inspect", missing.to_str().unwrap()],
        vec!["inspect", root, "--from", "yesterday"],
        vec!["inspect", root, "--from", "200", "--to", "100"],
        vec!["inspect", root, "--no-such-flag"],
        vec!["inspect", "-", "-"],
    ] {
        let out = flowhound(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn reads_stdin() {
    let text = format!(
        "{HEADER}2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 100 160 ACCEPT OK\n2 1 eni-2 - - - - - - - 100 160 - NODATA\nbad line\n"
    );
    for input in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowhound"))
            .args(["inspect", "-", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let v = json(&child.wait_with_output().unwrap());
        assert_eq!(v["objects"], 1);
        assert_eq!(v["records"], 2);
        assert_eq!(v["nodata"], 1);
        assert_eq!(v["malformed"], 1);
        assert_eq!(v["first_start"], 100);
        assert_eq!(v["last_end"], 160);
    }
}
