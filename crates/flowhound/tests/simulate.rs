//! End to end: `simulate` writes the docs/simulator.md layout, `inspect` reads it back with
//! consistent counts, and `evaluate` scores a hand-written findings file.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn flowhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowhound")).args(args).env("RUST_LOG", "warn").output().expect("run flowhound")
}

fn count_files(dir: &Path, suffix: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += count_files(&path, suffix);
        } else if path.to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    n
}

#[test]
fn simulate_inspect_evaluate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scenario");
    let out_s = out.to_str().unwrap();
    let run = flowhound(&[
        "simulate",
        "--out",
        out_s,
        "--seed",
        "4",
        "--hosts",
        "12",
        "--train-days",
        "1",
        "--test-days",
        "1",
        "--aggregation",
        "600",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let scenario: Value = serde_json::from_slice(&std::fs::read(out.join("scenario.json")).unwrap()).unwrap();
    let account = scenario["parameters"]["account_id"].as_str().unwrap().to_string();
    let day_dir = out.join("test/AWSLogs").join(&account).join("vpcflowlogs/us-east-1/2026/11/03");
    assert!(day_dir.is_dir(), "{}", day_dir.display());
    assert_eq!(count_files(&day_dir, ".log.gz"), 288);
    assert_eq!(count_files(&out.join("train"), ".log.gz"), 288);

    let inspect = flowhound(&["inspect", "--json", out.join("test").to_str().unwrap()]);
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let report: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(report["objects"], 288);
    assert_eq!(report["records"], scenario["test"]["records"]);
    assert_eq!(report["nodata"], scenario["test"]["nodata"]);
    assert_eq!(report["skipdata"], scenario["test"]["skipdata"]);
    assert_eq!(report["malformed"], 0);
    let fields: Vec<&str> = report["fields"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(fields.contains(&"pkt-dst-aws-service") && fields.contains(&"traffic-path"), "{fields:?}");

    let labels_text = std::fs::read_to_string(out.join("labels.jsonl")).unwrap();
    let labels: Vec<Value> = labels_text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labels.len(), 15);
    let first = &labels[0];
    let monitoring = scenario["hosts"].as_array().unwrap().iter().find(|h| h["role"] == "monitoring").unwrap();
    let start = first["start"].as_u64().unwrap();
    let findings = [
        // Detects the first label, naming its peer, 300 s after it started.
        serde_json::json!({"detector": first["detector"], "host": first["host"], "peer": first["peer"],
            "window_start": start + 300, "window_end": start + 3900, "score": 91.0, "severity": "high"}),
        // A false positive on the monitoring scrapes look-alike.
        serde_json::json!({"detector": "lateral_movement", "host": monitoring["ip"], "peer": null,
            "window_start": "2026-11-03T10:00:00Z", "window_end": "2026-11-03T11:00:00Z", "score": 72.0, "severity": "medium"}),
    ];
    let findings_path = tmp.path().join("findings.jsonl");
    std::fs::write(&findings_path, findings.iter().map(|f| format!("{f}\n")).collect::<String>()).unwrap();
    let eval = flowhound(&[
        "evaluate",
        "--findings",
        findings_path.to_str().unwrap(),
        "--labels",
        out.join("labels.jsonl").to_str().unwrap(),
        "--scenario",
        out.join("scenario.json").to_str().unwrap(),
        "--json",
    ]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let r: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(r["overall"]["instances"], 15);
    assert_eq!(r["overall"]["detected"], 1);
    assert_eq!(r["overall"]["detected_with_peer"], 1);
    assert_eq!(r["overall"]["false_positives"], 1);
    assert_eq!(r["overall"]["time_to_detect_secs"]["median"], 300.0);
    assert_eq!(r["slack_secs"], 600);
    assert_eq!(r["false_positives_by_lookalike"][0]["lookalike"], "monitoring_scrapes");
    let host_days = scenario["test"]["host_days"].as_f64().unwrap();
    let fp_rate = r["overall"]["false_positives_per_1000_host_days"].as_f64().unwrap();
    assert!((fp_rate - 1000.0 / host_days).abs() < 1e-6);

    let table = flowhound(&[
        "evaluate",
        "--findings",
        findings_path.to_str().unwrap(),
        "--labels",
        out.join("labels.jsonl").to_str().unwrap(),
    ]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("overall"));

    let bad = flowhound(&["simulate", "--out", out_s, "--hosts", "3"]);
    assert_eq!(bad.status.code(), Some(2));
    let missing = flowhound(&["evaluate", "--findings", "/nonexistent/f.jsonl", "--labels", "/nonexistent/l.jsonl"]);
    assert_eq!(missing.status.code(), Some(1));
}
