//! End-to-end tests of the AWS pipeline against the emulator (`FLOWHOUND_EMULATOR`, see
//! `aws_s3.rs`): simulated flow logs in a bucket → `score s3://… --publish` → metrics
//! read back with the `aws` CLI; the same through a fault-injecting proxy. Each test
//! uses its own bucket and namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::*;

const DETECTORS: [&str; 3] = ["beaconing", "exfiltration", "lateral_movement"];
const SEVERITIES: [&str; 3] = ["low", "medium", "high"];

fn reference_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/reference")
}

/// Runs `score s3://bucket/AWSLogs/ --publish` with `endpoint` as every service's
/// endpoint; returns the findings and the process output.
fn score_and_publish(endpoint: &str, bucket: &str, namespace: &str, findings: &Path) -> std::process::Output {
    let model = reference_model();
    let out = flowhound(
        endpoint,
        &[
            "--log-format",
            "json",
            "score",
            &format!("s3://{bucket}/AWSLogs/"),
            "--model",
            model.to_str().unwrap(),
            "--findings",
            findings.to_str().unwrap(),
            "--publish",
            "--namespace",
            namespace,
        ],
    );
    assert!(out.status.success(), "score --publish failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The queries of every metric a findings file determines, plus the run totals.
fn queries(findings: &[Value]) -> Vec<Query<'static>> {
    let mut out = Vec::new();
    for d in DETECTORS {
        for s in SEVERITIES {
            out.push((
                format!("f_{d}_{s}"),
                "Findings",
                vec![("Detector", d.to_string()), ("Severity", s.to_string())],
                "Sum",
            ));
        }
        out.push((format!("max_{d}"), "MaxScore", vec![("Detector", d.to_string())], "Maximum"));
    }
    let mut hosts: Vec<(String, String)> = findings
        .iter()
        .map(|f| (f["detector"].as_str().unwrap().to_string(), f["host"].as_str().unwrap().to_string()))
        .collect();
    hosts.sort();
    hosts.dedup();
    for (i, (d, h)) in hosts.into_iter().enumerate() {
        out.push((format!("host_{i}"), "HostScore", vec![("Detector", d), ("Host", h)], "Maximum"));
    }
    out.push(("records".into(), "RecordsProcessed", vec![], "Sum"));
    out.push(("malformed".into(), "RecordsMalformed", vec![], "Sum"));
    out.push(("windows".into(), "WindowsScored", vec![], "Sum"));
    out.push(("lag".into(), "IngestLagSeconds", vec![], "Maximum"));
    out
}

/// The time range holding every datum of a run over the shifted test day.
fn range(shift: u64) -> (u64, u64) {
    let day = flowhound_sim::epoch_start() + 2 * 86_400 + shift;
    (day - 3600, now() + 600)
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

#[test]
fn score_publishes_metrics_that_match_its_findings() {
    let Some(endpoint) = emulator() else { return };
    let (dir, shift) = recent_test_day();
    let bucket = upload_tree(&endpoint, "publish", dir);
    let namespace = format!("FlowhoundTest/{}", unique("publish"));
    let tmp = tempfile::tempdir().unwrap();
    let findings_path = tmp.path().join("findings.jsonl");
    let out = score_and_publish(&endpoint, &bucket, &namespace, &findings_path);
    let published_at = now();
    let summary = log_fields(&out.stderr, "scoring finished");
    let findings = read_findings(&findings_path);
    assert!(findings.len() >= 3, "the test day holds attacks: {findings:?}");

    let (start, end) = range(*shift);
    let got = metric_values(&endpoint, &namespace, &queries(&findings), start, end);
    for d in DETECTORS {
        let of_detector: Vec<&Value> = findings.iter().filter(|f| f["detector"] == d).collect();
        for s in SEVERITIES {
            let n = of_detector.iter().filter(|f| f["severity"] == s).count();
            let values = &got[&format!("f_{d}_{s}")];
            if n == 0 {
                assert!(values.is_empty(), "{d}/{s}: nothing to count, nothing published: {values:?}");
            } else {
                assert_eq!(sum(values), n as f64, "{d}/{s}");
            }
        }
        let expected = of_detector.iter().map(|f| f["score"].as_f64().unwrap()).reduce(f64::max);
        assert_eq!(max(&got[&format!("max_{d}")]), expected, "MaxScore {d}");
    }
    for (id, _, dims, _) in queries(&findings).iter().filter(|q| q.1 == "HostScore") {
        let expected = findings
            .iter()
            .filter(|f| f["detector"] == dims[0].1.as_str() && f["host"] == dims[1].1.as_str())
            .map(|f| f["score"].as_f64().unwrap())
            .reduce(f64::max);
        assert_eq!(max(&got[id]), expected, "HostScore {dims:?}");
    }
    let records = summary["records"].as_u64().unwrap();
    assert!(records > 100_000, "{summary}");
    assert_eq!(sum(&got["records"]), records as f64);
    assert_eq!(got["malformed"], vec![summary["malformed"].as_f64().unwrap()]);
    assert_eq!(sum(&got["windows"]), summary["windows"].as_f64().unwrap());
    // The newest record ends just before the end of the shifted test day.
    let day_end = flowhound_sim::epoch_start() + 3 * 86_400 + shift;
    let lag = max(&got["lag"]).expect("IngestLagSeconds published");
    let expected_lag = (published_at - day_end) as f64;
    assert!((lag - expected_lag).abs() < 900.0, "lag {lag} vs {expected_lag}");
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
struct FaultLog {
    requests: AtomicU64,
    injected: AtomicU64,
    truncated: AtomicU64,
}

/// A loopback HTTP proxy in front of the emulator that breaks every third request, in
/// turn: S3's 503 SlowDown, a 500, throttling (CloudWatch's `Throttling` error for CBOR
/// requests, a bare 429 for others), a 1.5 s delay, a dropped connection, and an object
/// body cut in half (other requests pass at that turn).
async fn proxy(listener: TcpListener, upstream: String, log: Arc<FaultLog>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { return };
        let (upstream, log) = (upstream.clone(), Arc::clone(&log));
        tokio::spawn(async move {
            let _ = handle(client, &upstream, &log).await;
        });
    }
}

/// Reads one HTTP/1.1 message head and its `content-length` body.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head with `connection: close`: one request per connection keeps the proxy simple.
fn closing(head: &str) -> String {
    let mut out = String::new();
    for line in head.trim_end().lines() {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    out
}

fn response(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

async fn handle(mut client: TcpStream, upstream: &str, log: &FaultLog) -> std::io::Result<()> {
    let Some((head, body)) = read_message(&mut client).await? else { return Ok(()) };
    let n = log.requests.fetch_add(1, Ordering::Relaxed);
    let cbor = header(&head, "content-type") == Some("application/cbor");
    let object_get = head.starts_with("GET ") && head.lines().next().is_some_and(|l| l.contains(".log.gz"));
    let mut truncate = false;
    if n % 3 == 2 {
        let fault = match (n / 3) % 6 {
            0 => Some(response(
                "503 Slow Down",
                "content-type: application/xml\r\n",
                b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            )),
            1 => Some(response(
                "500 Internal Server Error",
                "content-type: application/xml\r\n",
                b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
            )),
            // CBOR {"__type": "Throttling"}: what CloudWatch's RPC v2 protocol sends.
            2 if cbor => Some(response(
                "400 Bad Request",
                "content-type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n",
                b"\xa1\x66__type\x6aThrottling",
            )),
            2 => Some(response("429 Too Many Requests", "content-type: text/plain\r\n", b"slow down")),
            3 => {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                None
            }
            4 => Some(Vec::new()),
            _ => {
                truncate = object_get;
                None
            }
        };
        if let Some(bytes) = fault {
            log.injected.fetch_add(1, Ordering::Relaxed);
            client.write_all(&bytes).await?;
            return client.shutdown().await;
        }
        if n / 3 % 6 == 3 || truncate {
            log.injected.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(closing(&head).as_bytes()).await?;
    server.write_all(&body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        return client.shutdown().await;
    };
    let response_head = String::from_utf8_lossy(&answer[..head_end]).to_string();
    let mut body = &answer[head_end..];
    if truncate && body.len() > 64 {
        log.truncated.fetch_add(1, Ordering::Relaxed);
        body = &body[..body.len() / 2];
    }
    client.write_all(closing(&response_head).as_bytes()).await?;
    client.write_all(body).await?;
    client.shutdown().await
}

#[test]
fn faults_change_nothing_in_findings_or_metrics() {
    let Some(endpoint) = emulator() else { return };
    let (dir, shift) = recent_test_day();
    let bucket = upload_tree(&endpoint, "faults", dir);
    let clean_ns = format!("FlowhoundTest/{}", unique("clean"));
    let faulty_ns = format!("FlowhoundTest/{}", unique("faulty"));
    let tmp = tempfile::tempdir().unwrap();
    let (clean_path, faulty_path) = (tmp.path().join("clean.jsonl"), tmp.path().join("faulty.jsonl"));
    score_and_publish(&endpoint, &bucket, &clean_ns, &clean_path);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let log = Arc::new(FaultLog::default());
    runtime.spawn(proxy(listener, upstream, Arc::clone(&log)));
    let out = score_and_publish(&proxy_url, &bucket, &faulty_ns, &faulty_path);
    let stderr = String::from_utf8_lossy(&out.stderr);

    let injected = log.injected.load(Ordering::Relaxed);
    assert!(injected >= 20, "faults injected: {log:?}");
    assert!(log.truncated.load(Ordering::Relaxed) >= 1, "{log:?}");
    assert!(stderr.contains("retrying aws call"), "retries are logged");
    assert!(stderr.contains("resuming s3 body"), "cut bodies are resumed");
    assert_eq!(std::fs::read(&faulty_path).unwrap(), std::fs::read(&clean_path).unwrap(), "identical findings");

    let findings = read_findings(&clean_path);
    let qs: Vec<Query<'static>> = queries(&findings).into_iter().filter(|q| q.0 != "lag").collect();
    let (start, end) = range(*shift);
    let clean = metric_values(&endpoint, &clean_ns, &qs, start, end);
    let faulty = metric_values(&endpoint, &faulty_ns, &qs, start, end);
    assert!(clean["records"].iter().sum::<f64>() > 0.0);
    let ordered = |m: BTreeMap<String, Vec<f64>>| -> BTreeMap<String, Vec<f64>> {
        m.into_iter()
            .map(|(k, mut v)| {
                v.sort_by(f64::total_cmp);
                (k, v)
            })
            .collect()
    };
    assert_eq!(ordered(faulty), ordered(clean), "identical metric values");
}

/// The shifted test day's objects whose 5-minute stamp is before `hour`:00, copied into
/// two folders (first half and second half by time).
fn split_objects(dir: &Path, hour: u32, out: &Path) -> (PathBuf, PathBuf, usize) {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                let stamp = name.split('_').find(|p| p.len() == 14 && p.ends_with('Z')).unwrap().to_string();
                let hh: u32 = stamp[9..11].parse().unwrap();
                if hh < hour {
                    files.push((stamp, path));
                }
            }
        }
    }
    files.sort();
    let (first, second) = (out.join("first"), out.join("second"));
    let half = files.len() / 2;
    for (i, (_, path)) in files.iter().enumerate() {
        let rel = path.strip_prefix(dir).unwrap();
        let target = if i < half { first.join(rel) } else { second.join(rel) };
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(path, target).unwrap();
    }
    (first, second, files.len())
}

fn ledger(state: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(state.join("checkpoint.json")) else { return Vec::new() };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["ledger"].as_object().unwrap().keys().cloned().collect()
}

fn start_serve(endpoint: &str, config: &Path, log: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flowhound"));
    aws_env(&mut cmd, endpoint);
    cmd.args(["serve", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap());
    cmd.spawn().unwrap()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_counts_every_object_once_across_a_crash() {
    let Some(endpoint) = emulator() else { return };
    let (dir, shift) = recent_test_day();
    let test_started = now();
    let tmp = tempfile::tempdir().unwrap();
    let (first, second, total) = split_objects(dir, 4, tmp.path());
    let bucket = unique("serve");
    let queue = unique("serve-q");
    let namespace = format!("FlowhoundTest/{}", unique("serve"));
    aws(&endpoint, &["s3", "mb", &format!("s3://{bucket}")]);
    let created: Value =
        serde_json::from_slice(&aws(&endpoint, &["sqs", "create-queue", "--queue-name", &queue]).stdout).unwrap();
    let queue_url = created["QueueUrl"].as_str().unwrap().to_string();
    let attrs: Value = serde_json::from_slice(
        &aws(&endpoint, &["sqs", "get-queue-attributes", "--queue-url", &queue_url, "--attribute-names", "QueueArn"])
            .stdout,
    )
    .unwrap();
    let arn = attrs["Attributes"]["QueueArn"].as_str().unwrap();
    let notification =
        serde_json::json!({"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]});
    aws(
        &endpoint,
        &[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            &bucket,
            "--notification-configuration",
            &notification.to_string(),
        ],
    );
    let state = tmp.path().join("state");
    let findings = tmp.path().join("findings.jsonl");
    let config = tmp.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "queue_url = {queue_url:?}\nmodel = {:?}\nstate_dir = \"state\"\nfindings = \"findings.jsonl\"\n\
             namespace = {namespace:?}\nwait = \"1s\"\nvisibility_timeout = \"10s\"\nmax_messages = 5\n\
             lag_interval = \"1s\"\n",
            reference_model().to_str().unwrap()
        ),
    )
    .unwrap();
    let log = tmp.path().join("serve.log");

    let mut serve = start_serve(&endpoint, &config, &log);
    aws(
        &endpoint,
        &["s3", "cp", "--recursive", "--only-show-errors", first.to_str().unwrap(), &format!("s3://{bucket}/")],
    );
    wait_for("a first checkpoint", Duration::from_secs(30), || !ledger(&state).is_empty());
    serve.kill().unwrap(); // SIGKILL
    serve.wait().unwrap();
    let before = ledger(&state).len();
    assert!(before >= 1 && before < total, "killed after {before} of {total} objects");
    // The kill lands right after a checkpoint, i.e. while that cycle's metrics may be in
    // flight: if CloudWatch got them before `published.json` was written, the restart
    // sends them again (at least once, docs/serve.md). That can only be the last cycle's.
    let killed: Value = serde_json::from_slice(&std::fs::read(state.join("checkpoint.json")).unwrap()).unwrap();
    let last_cycle_at =
        killed["ledger"].as_object().unwrap().values().map(|e| e["processed_at"].as_u64().unwrap()).max();
    let last_cycle_records: u64 = killed["ledger"]
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["processed_at"].as_u64() == last_cycle_at)
        .map(|e| e["records"].as_u64().unwrap())
        .sum();

    aws(
        &endpoint,
        &["s3", "cp", "--recursive", "--only-show-errors", second.to_str().unwrap(), &format!("s3://{bucket}/")],
    );
    let mut serve = start_serve(&endpoint, &config, &log);
    wait_for("every object", Duration::from_secs(40), || ledger(&state).len() == total);
    // Idle from here on: serve keeps publishing IngestLagSeconds every `lag_interval`.
    std::thread::sleep(Duration::from_secs(4));
    // SIGTERM: final checkpoint and exit 0.
    let status = std::process::Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = serve.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "serve exit {exit:?}: {log_text}");
    assert!(log_text.contains("final checkpoint written"), "{log_text}");

    // Exactly once: the ledger names every object once, the records counted (in the
    // checkpoint and in CloudWatch) are those of a one-shot read of the bucket.
    let keys = ledger(&state);
    assert_eq!(keys.len(), total);
    let checkpoint: Value = serde_json::from_slice(&std::fs::read(state.join("checkpoint.json")).unwrap()).unwrap();
    let ledger_records: u64 =
        checkpoint["ledger"].as_object().unwrap().values().map(|e| e["records"].as_u64().unwrap()).sum();
    let one_shot = inspect_json(&endpoint, &[&format!("s3://{bucket}/")]);
    assert_eq!(one_shot["objects"].as_u64(), Some(total as u64));
    assert_eq!(ledger_records, one_shot["records"].as_u64().unwrap());
    let lines: Vec<String> = std::fs::read_to_string(&findings).unwrap().lines().map(str::to_string).collect();
    let unique_lines: std::collections::BTreeSet<&String> = lines.iter().collect();
    assert_eq!(unique_lines.len(), lines.len(), "no finding written twice");
    // One incident pages once: each incident is opened once and closed at most once,
    // whatever the crash and the cycles in between (escalations may follow the opening).
    let mut states: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for line in &lines {
        let f: Value = serde_json::from_str(line).unwrap();
        let id = f["incident"]["id"].as_str().unwrap_or_else(|| panic!("a serve finding without an incident: {line}"));
        states.entry(id.to_string()).or_default().push(f["incident"]["state"].as_str().unwrap().to_string());
    }
    assert!(!states.is_empty(), "the planted attacks open incidents");
    for (id, seen) in &states {
        assert_eq!(seen.iter().filter(|s| *s == "open").count(), 1, "incident {id} opened more than once: {seen:?}");
        assert_eq!(seen[0], "open", "incident {id} reported before it opened: {seen:?}");
        assert!(seen.iter().filter(|s| *s == "closed").count() <= 1, "incident {id}: {seen:?}");
    }

    let (start, end) = range(*shift);
    let qs: Vec<Query<'static>> = vec![
        ("records".into(), "RecordsProcessed", vec![], "Sum"),
        ("malformed".into(), "RecordsMalformed", vec![], "Sum"),
        ("windows".into(), "WindowsScored", vec![], "Sum"),
    ];
    let got = metric_values(&endpoint, &namespace, &qs, start, end);
    let records = one_shot["records"].as_f64().unwrap();
    let published = sum(&got["records"]);
    assert!(
        published == records || published == records + last_cycle_records as f64,
        "RecordsProcessed {published}: every object once ({records}), plus at most the killed cycle's {last_cycle_records}"
    );
    assert_eq!(sum(&got["malformed"]), one_shot["malformed"].as_f64().unwrap());
    assert!(sum(&got["windows"]) > 0.0, "windows were closed and scored: {got:?}");

    // One lag datum per cycle that read objects (`outbox_seq` of them) plus the idle
    // heartbeats, each "now minus the newest record's end" at its publishing time.
    let newest_end = checkpoint["newest_end"].as_u64().unwrap();
    let lag_queries: Vec<Query<'static>> = vec![
        ("lag_count".into(), "IngestLagSeconds", vec![], "SampleCount"),
        ("lag_min".into(), "IngestLagSeconds", vec![], "Minimum"),
    ];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let lag = metric_values(&endpoint, &namespace, &lag_queries, now - 3600, now + 60);
    let cycles = checkpoint["outbox_seq"].as_u64().unwrap() as f64;
    assert!(sum(&lag["lag_count"]) >= cycles + 2.0, "idle heartbeats published: {lag:?}, {cycles} cycles");
    // Earlier cycles saw an older newest end (a larger lag); the idle heartbeats of the
    // last seconds see the final one.
    let lag_min = lag["lag_min"].iter().copied().reduce(f64::min).unwrap();
    let expected = now.saturating_sub(newest_end) as f64;
    assert!(lag_min <= expected && lag_min > expected - 120.0, "lag {lag_min} vs {expected}");

    // Findings are stamped with the processing time, where alarms look: every incident
    // opened or escalated is counted after the test started (at least once: the killed
    // cycle's may be sent twice), none at the time of the data.
    let reported = states.values().flatten().filter(|s| *s != "closed").count() as f64;
    let mut finding_queries: Vec<Query<'static>> = Vec::new();
    for detector in ["beaconing", "exfiltration", "lateral_movement"] {
        for severity in ["high", "medium", "low"] {
            let dims = vec![("Detector", detector.to_string()), ("Severity", severity.to_string())];
            finding_queries.push((format!("{}_{severity}", &detector[..4]), "Findings", dims, "Sum"));
        }
    }
    let total = |values: &std::collections::BTreeMap<String, Vec<f64>>| values.values().flatten().sum::<f64>();
    let recent = total(&metric_values(&endpoint, &namespace, &finding_queries, test_started - 60, now + 60));
    assert!(recent >= reported, "Findings {recent} after the start vs {reported} incidents reported");
    let (day_start, _) = range(*shift);
    let at_data_time = total(&metric_values(&endpoint, &namespace, &finding_queries, day_start, test_started - 120));
    assert_eq!(at_data_time, 0.0, "no Findings stamped with the data's time");
}
