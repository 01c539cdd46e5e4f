//! Helpers shared by the emulator tests: the emulator endpoint, unique names, an
//! environment that keeps every client on loopback, and the `aws` CLI as an independent
//! client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// 2026-11-20T00:00:00Z
pub const DAY0: u64 = 1_795_132_800;

/// The emulator's endpoint. A test that needs it fails when it is not configured,
/// unless the caller asked to skip the emulator tests with `FLOWHOUND_NO_EMULATOR=1`
/// (tests/run.sh then says so in its last line): a missing service never passes silently.
pub fn emulator() -> Option<String> {
    match std::env::var("FLOWHOUND_EMULATOR") {
        Ok(url) if !url.is_empty() => {
            assert!(
                url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
                "FLOWHOUND_EMULATOR must be a loopback URL, got {url}"
            );
            Some(url)
        }
        _ if std::env::var_os("FLOWHOUND_NO_EMULATOR").is_some_and(|v| v == "1") => {
            eprintln!("skipped: FLOWHOUND_NO_EMULATOR=1");
            None
        }
        _ => panic!(
            "this test needs the AWS emulator: set FLOWHOUND_EMULATOR to its loopback URL \
             (deploy/emulator/start.sh prints it; tests/run.sh starts one), \
             or FLOWHOUND_NO_EMULATOR=1 to skip the emulator tests"
        ),
    }
}

/// A name unique to this test run, for buckets and namespaces.
pub fn unique(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("fh-{test}-{}-{nanos}", std::process::id())
}

/// Dummy credentials, the emulator endpoint, no profile files and no instance metadata:
/// nothing leaves loopback.
pub fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_CLOUDWATCH")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

pub fn aws_cli() -> PathBuf {
    if let Ok(path) = std::env::var("FLOWHOUND_AWS_CLI") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/emulator/venv/bin/aws");
    if venv.exists() { venv } else { PathBuf::from("aws") }
}

pub fn aws(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(aws_cli());
    aws_env(&mut cmd, endpoint);
    cmd.args(["--endpoint-url", endpoint, "--output", "json"]).args(args);
    let out = cmd.output().expect("run the aws CLI");
    assert!(out.status.success(), "aws {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn flowhound(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowhound"));
    aws_env(&mut cmd, endpoint);
    cmd.args(args).output().expect("run flowhound")
}

pub fn inspect_json(endpoint: &str, args: &[&str]) -> Value {
    let mut all = vec!["inspect", "--json"];
    all.extend_from_slice(args);
    let out = flowhound(endpoint, &all);
    assert!(out.status.success(), "flowhound {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// One `get-metric-data` query: id, metric name, dimensions, statistic.
pub type Query<'a> = (String, &'a str, Vec<(&'a str, String)>, &'a str);

/// Reads metrics back with the `aws` CLI over `[start, end)` in one period, and returns
/// every value of each query by id.
pub fn metric_values(
    endpoint: &str,
    namespace: &str,
    queries: &[Query<'_>],
    start: u64,
    end: u64,
) -> std::collections::BTreeMap<String, Vec<f64>> {
    let period = (end - start).div_ceil(60) * 60;
    let json: Vec<Value> = queries
        .iter()
        .map(|(id, name, dims, stat)| {
            serde_json::json!({"Id": id, "ReturnData": true, "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name,
                           "Dimensions": dims.iter().map(|(n, v)| serde_json::json!({"Name": n, "Value": v})).collect::<Vec<_>>()},
                "Period": period, "Stat": stat}})
        })
        .collect();
    let out = aws(
        endpoint,
        &[
            "cloudwatch",
            "get-metric-data",
            "--start-time",
            &start.to_string(),
            "--end-time",
            &end.to_string(),
            "--metric-data-queries",
            &Value::Array(json).to_string(),
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut values = std::collections::BTreeMap::new();
    for result in v["MetricDataResults"].as_array().unwrap() {
        let id = result["Id"].as_str().unwrap().to_string();
        let vals: Vec<f64> = result["Values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        values.insert(id, vals);
    }
    values
}

/// A small simulated scenario (the one `models/reference` was trained on: seed 1, 12
/// hosts, 2 training days) whose test day is moved forward by whole weeks to end within
/// the last 8 days, so CloudWatch accepts metrics about it. Built once per test binary;
/// returns the directory holding the shifted `AWSLogs/` tree and the shift in seconds.
pub fn recent_test_day() -> &'static (PathBuf, u64) {
    static SCENARIO: std::sync::OnceLock<(PathBuf, u64)> = std::sync::OnceLock::new();
    SCENARIO.get_or_init(|| {
        // Under the build's scratch folder, replaced by each run of the binary.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("recent-test-day");
        let _ = std::fs::remove_dir_all(&root);
        let sim = root.join("sim");
        let out = Command::new(env!("CARGO_BIN_EXE_flowhound"))
            .args(["simulate", "--out", sim.to_str().unwrap(), "--seed", "1", "--hosts", "12"])
            .args(["--train-days", "2", "--test-days", "1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
        let test_start = flowhound_sim::epoch_start() + 2 * 86_400;
        let week = 7 * 86_400;
        let shift = (now() - 86_400 - test_start) / week * week;
        let shifted = root.join("shifted");
        shift_tree(&sim.join("test"), &sim.join("test"), &shifted, shift);
        (shifted, shift)
    })
}

/// Copies every `.log.gz` below `dir` to the same place below `dst` with `start`/`end`
/// moved by `shift` seconds (a whole number of days) and the key's date moved with them.
fn shift_tree(base: &Path, dir: &Path, dst: &Path, shift: u64) {
    use std::io::{Read, Write};
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            shift_tree(base, &path, dst, shift);
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_string(&mut text).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let names: Vec<&str> = header.split(' ').collect();
        let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
        let (start, end) = (at("start"), at("end"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(gz, "{header}").unwrap();
        for line in lines {
            let mut fields: Vec<String> = line.split(' ').map(str::to_string).collect();
            for i in [start, end] {
                if let Ok(t) = fields[i].parse::<u64>() {
                    fields[i] = (t + shift).to_string();
                }
            }
            writeln!(gz, "{}", fields.join(" ")).unwrap();
        }
        // .../<yyyy>/<MM>/<dd>/<account>_vpcflowlogs_<region>_<id>_<yyyyMMdd>T<HHmm>Z_<hash>.log.gz
        let rel = path.strip_prefix(base).unwrap().to_str().unwrap().to_string();
        let parts: Vec<&str> = rel.split('/').collect();
        let n = parts.len();
        let (y, m, d): (i64, u32, u32) =
            (parts[n - 4].parse().unwrap(), parts[n - 3].parse().unwrap(), parts[n - 2].parse().unwrap());
        let days = flowhound_flowlog::time::days_from_civil(y, m, d) + (shift / 86_400) as i64;
        let (ny, nm, nd) = flowhound_flowlog::time::civil_from_days(days);
        let name = parts[n - 1].replace(&format!("_{y:04}{m:02}{d:02}T"), &format!("_{ny:04}{nm:02}{nd:02}T"));
        let mut new_rel: Vec<String> = parts[..n - 4].iter().map(|s| s.to_string()).collect();
        new_rel.extend([format!("{ny:04}"), format!("{nm:02}"), format!("{nd:02}"), name]);
        let target = dst.join(new_rel.join("/"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, gz.finish().unwrap()).unwrap();
    }
}

/// A fresh bucket holding the files below `dir` (keys relative to it).
pub fn upload_tree(endpoint: &str, test: &str, dir: &Path) -> String {
    let bucket = unique(test);
    aws(endpoint, &["s3", "mb", &format!("s3://{bucket}")]);
    aws(
        endpoint,
        &["s3", "cp", "--recursive", "--only-show-errors", dir.to_str().unwrap(), &format!("s3://{bucket}/")],
    );
    bucket
}

/// Parses a findings file (JSON lines).
pub fn read_findings(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The fields of the first JSON log line (`--log-format json`) with this message.
pub fn log_fields(stderr: &[u8], message: &str) -> Value {
    for line in String::from_utf8_lossy(stderr).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["fields"]["message"] == message
        {
            return v["fields"].clone();
        }
    }
    panic!("no log line {message:?} in:\n{}", String::from_utf8_lossy(stderr));
}
