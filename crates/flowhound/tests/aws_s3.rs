//! Emulator tests for `s3://` SOURCEs and the CloudWatch publisher.
//!
//! They run against an AWS emulator on 127.0.0.1 whose endpoint URL is in
//! `FLOWHOUND_EMULATOR` (started by `deploy/emulator/start.sh`), and fail when it is not
//! set unless `FLOWHOUND_NO_EMULATOR=1` asks to skip them. Each test uses its own bucket or namespace. Uploads and
//! read-backs go through the `aws` CLI (an independent client): `FLOWHOUND_AWS_CLI`, else
//! the emulator venv's, else `aws` on PATH.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use flowhound_aws::cloudwatch::{Metric, Publisher, PublisherOptions};
use flowhound_aws::{AwsOptions, load_config};
use serde_json::Value;

mod common;
use common::*;

/// (day index, HHMM of the file's 5-minute bucket, records in the object)
const OBJECTS: &[(u64, u64, u64)] = &[(0, 1000, 3), (0, 1005, 3), (1, 1000, 4), (1, 1005, 4), (2, 1200, 5)];

/// Writes a gzip flow-log tree in the AWS key layout below `root/vpc/`; returns the
/// number of records (the NODATA record of the first object included).
fn write_tree(root: &Path) -> u64 {
    let mut total = 0;
    for (n, &(day, hhmm, records)) in OBJECTS.iter().enumerate() {
        let bucket_time = DAY0 + day * 86_400 + (hhmm / 100) * 3600 + (hhmm % 100) * 60;
        let (y, m, d) = (2026, 11, 20 + day);
        let dir = root.join(format!("vpc/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{y}/{m:02}/{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        let stamp = format!("{y}{m:02}{d:02}T{:04}Z", hhmm);
        let path = dir.join(format!("{ACCOUNT}_vpcflowlogs_{REGION}_fl-0abc_{stamp}_h{n}.log.gz"));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        writeln!(gz, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").unwrap();
        for r in 0..records {
            let end = bucket_time + 10 + r * 20;
            writeln!(
                gz,
                "2 {ACCOUNT} eni-0a{n} 10.0.{n}.{r} 203.0.113.9 4{r}000 443 6 3 900 {} {end} ACCEPT OK",
                end - 30
            )
            .unwrap();
            total += 1;
        }
        if n == 0 {
            writeln!(gz, "2 {ACCOUNT} eni-0a0 - - - - - - - {bucket_time} {} - NODATA", bucket_time + 59).unwrap();
            total += 1;
        }
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
    }
    total
}

/// A fresh bucket holding the generated tree.
fn bucket_with_tree(endpoint: &str, test: &str) -> (String, u64) {
    let bucket = unique(test);
    let dir = tempfile::tempdir().unwrap();
    let total = write_tree(dir.path());
    aws(endpoint, &["s3", "mb", &format!("s3://{bucket}")]);
    aws(
        endpoint,
        &["s3", "cp", "--recursive", "--only-show-errors", dir.path().to_str().unwrap(), &format!("s3://{bucket}/")],
    );
    (bucket, total)
}

#[test]
fn inspect_reads_every_object_of_a_prefix() {
    let Some(endpoint) = emulator() else { return };
    let (bucket, total) = bucket_with_tree(&endpoint, "counts");
    let v = inspect_json(&endpoint, &[&format!("s3://{bucket}/vpc/")]);
    assert_eq!(v["objects"], 5, "{v}");
    assert_eq!(v["records"], total);
    assert_eq!(v["records"], 20);
    assert_eq!(v["nodata"], 1);
    assert_eq!(v["malformed"], 0);
    assert_eq!(v["objects_failed"], 0);
    let first_end = DAY0 + 10 * 3600 + 10;
    assert_eq!(v["first_start"], first_end - 30);
    assert_eq!(v["last_end"], DAY0 + 2 * 86_400 + 12 * 3600 + 10 + 4 * 20);
    assert!(v["fields"].as_array().unwrap().iter().any(|f| f == "log-status"));

    // The same objects named through two SOURCEs (bucket root and a sub-prefix) and a
    // single object URL.
    let key = format!(
        "vpc/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/11/22/{ACCOUNT}_vpcflowlogs_{REGION}_fl-0abc_20261122T1200Z_h4.log.gz"
    );
    let v = inspect_json(&endpoint, &[&format!("s3://{bucket}/{key}")]);
    assert_eq!((v["objects"].as_u64(), v["records"].as_u64()), (Some(1), Some(5)), "{v}");
}

#[test]
fn from_to_prunes_objects_by_date() {
    let Some(endpoint) = emulator() else { return };
    let (bucket, _) = bucket_with_tree(&endpoint, "prune");
    let range = ["--from", "2026-11-21T00:00:00Z", "--to", "2026-11-21T23:00:00Z"];
    // Flat listing of a prefix above AWSLogs/, filtered by key: 3 objects skipped by date.
    let mut args = vec![format!("s3://{bucket}/vpc/")];
    args.extend(range.iter().map(|s| s.to_string()));
    let v = inspect_json(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        (v["objects"].as_u64(), v["objects_pruned"].as_u64(), v["records"].as_u64()),
        (Some(2), Some(3), Some(8))
    );
    assert_eq!(v["out_of_range"], 0);
    // Prefixes at AWSLogs/ and at the region folder: only the day folder of the range is
    // listed, so nothing outside it is even seen.
    for prefix in ["vpc/AWSLogs/".to_string(), format!("vpc/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/")] {
        let mut args = vec![format!("s3://{bucket}/{prefix}")];
        args.extend(range.iter().map(|s| s.to_string()));
        let v = inspect_json(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            (v["objects"].as_u64(), v["objects_pruned"].as_u64(), v["records"].as_u64()),
            (Some(2), Some(0), Some(8)),
            "{prefix}: {v}"
        );
    }
    // A range with no data at all.
    let v = inspect_json(&endpoint, &[&format!("s3://{bucket}/vpc/AWSLogs/"), "--from", "2026-12-01T00:00:00Z"]);
    assert_eq!(v["objects"], 0);
}

#[test]
fn a_missing_bucket_is_a_clear_usage_error() {
    let Some(endpoint) = emulator() else { return };
    let bucket = unique("missing");
    let out = flowhound(&endpoint, &["inspect", "--json", &format!("s3://{bucket}/AWSLogs/")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("s3://{bucket}: bucket does not exist")), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn published_metrics_read_back_with_the_cli() {
    let Some(endpoint) = emulator() else { return };
    let namespace = format!("FlowhoundTest/{}", unique("publish"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let window = now / 60 * 60 - 600;
    let metrics = vec![
        Metric::findings("beaconing", "high", 3, window),
        Metric::max_score("beaconing", 87.5, window),
        Metric::records_processed(1234, window),
        Metric::max_score("exfiltration", f64::NAN, window),
        Metric::host_score("beaconing", "10.0.0.1", 91.0, window),
        Metric::host_score("beaconing", "10.0.0.2", 75.0, window),
        Metric::host_score("beaconing", "10.0.0.3", 55.0, window),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = runtime.block_on(async {
        // Endpoint, region and credentials are explicit: the test process's environment is
        // not read for them, so nothing falls through to instance metadata.
        let opts = AwsOptions {
            endpoint_url: Some(endpoint.clone()),
            region: Some(REGION.into()),
            static_credentials: Some(("test".into(), "test".into())),
            ..AwsOptions::default()
        };
        let config = load_config(&opts).await;
        let publisher = Publisher::new(
            &config,
            PublisherOptions { namespace: namespace.clone(), host_score_top_n: 2, ..PublisherOptions::default() },
        )
        .unwrap();
        publisher.publish(metrics).await.unwrap()
    });
    assert_eq!(report.sent, 5);
    assert_eq!(report.prepare.dropped_non_finite, 1);
    assert_eq!(report.prepare.dropped_host_scores, 1);

    let query = |id: &str, name: &str, dims: &[(&str, &str)], stat: &str| {
        serde_json::json!({"Id": id, "ReturnData": true, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name,
                       "Dimensions": dims.iter().map(|(n, v)| serde_json::json!({"Name": n, "Value": v})).collect::<Vec<_>>()},
            "Period": 60, "Stat": stat}})
    };
    let queries = serde_json::json!([
        query("findings", "Findings", &[("Detector", "beaconing"), ("Severity", "high")], "Sum"),
        query("maxscore", "MaxScore", &[("Detector", "beaconing")], "Maximum"),
        query("records", "RecordsProcessed", &[], "Sum"),
        query("host1", "HostScore", &[("Detector", "beaconing"), ("Host", "10.0.0.1")], "Maximum"),
        query("host3", "HostScore", &[("Detector", "beaconing"), ("Host", "10.0.0.3")], "Maximum"),
        query("nan", "MaxScore", &[("Detector", "exfiltration")], "Maximum"),
    ]);
    let out = aws(
        &endpoint,
        &[
            "cloudwatch",
            "get-metric-data",
            "--start-time",
            &(window - 300).to_string(),
            "--end-time",
            &(window + 300).to_string(),
            "--metric-data-queries",
            &queries.to_string(),
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let values = |id: &str| -> Vec<f64> {
        let result = v["MetricDataResults"].as_array().unwrap().iter().find(|r| r["Id"] == id).unwrap();
        result["Values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    assert_eq!(values("findings"), vec![3.0], "{v}");
    assert_eq!(values("maxscore"), vec![87.5]);
    assert_eq!(values("records"), vec![1234.0]);
    assert_eq!(values("host1"), vec![91.0]);
    assert!(values("host3").is_empty(), "the lowest HostScore is over the top-N limit");
    assert!(values("nan").is_empty(), "NaN is never sent");
}
