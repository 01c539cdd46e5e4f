//! Models in S3 against the AWS emulator: `train --model s3://…` (the scheduled
//! retraining's exact command, `--last` included), the versions and the pointer it writes,
//! `score`/`compare`/`promote` reading them, a tampered version refused, and `serve`
//! following the pointer (configured through `FLOWHOUND_SERVE_TOML`, as on ECS), refusing a
//! bad model while it keeps the running one and publishing `ModelRefused`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{aws, aws_env, emulator, flowhound, metric_values, now, recent_test_day, unique, upload_tree};

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed ({:?}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The model id `train` printed.
fn trained_id(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.starts_with("model ")).expect("train prints the model line");
    line.split_whitespace().nth(1).unwrap().to_string()
}

fn object(endpoint: &str, url: &str) -> Vec<u8> {
    aws(endpoint, &["s3", "cp", "--only-show-errors", url, "-"]).stdout
}

fn put_object(endpoint: &str, url: &str, bytes: &[u8], dir: &Path) {
    let file = dir.join("upload.tmp");
    std::fs::write(&file, bytes).unwrap();
    aws(endpoint, &["s3", "cp", "--only-show-errors", file.to_str().unwrap(), url]);
}

fn train(endpoint: &str, flow_bucket: &str, models: &str, extra: &[&str]) -> String {
    let source = format!("s3://{flow_bucket}/");
    let mut args = vec!["train", &source, "--last", "14d", "--model", models];
    args.extend_from_slice(extra);
    trained_id(&ok(&flowhound(endpoint, &args), "train"))
}

/// Flips one digit of a JSON payload: still valid JSON, but not the bytes the manifest hashed.
fn tamper(bytes: &mut [u8]) {
    let at = bytes.iter().rposition(|b| b.is_ascii_digit()).unwrap();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
}

#[test]
fn models_in_s3_are_versioned_verified_compared_and_promoted() {
    let Some(endpoint) = emulator() else { return };
    let (dir, _) = recent_test_day();
    let tmp = tempfile::tempdir().unwrap();
    let flow_bucket = upload_tree(&endpoint, "models-logs", dir);
    let model_bucket = unique("models");
    aws(&endpoint, &["s3", "mb", &format!("s3://{model_bucket}")]);
    let models = format!("s3://{model_bucket}/prod/flowhound");

    // The retraining task's command: the last 14 days of the flow-log bucket.
    let first = train(&endpoint, &flow_bucket, &models, &["--seed", "1"]);
    assert_eq!(object(&endpoint, &format!("{models}/CURRENT")), format!("{first}\n").into_bytes());
    // The same model trained locally is the same bytes: S3 holds exactly the local layout.
    let local = tmp.path().join("local");
    let source = format!("s3://{flow_bucket}/");
    let out =
        flowhound(&endpoint, &["train", &source, "--last", "14d", "--seed", "1", "--model", local.to_str().unwrap()]);
    assert_eq!(trained_id(&ok(&out, "local train")), first);
    for file in ["manifest.json", "baseline.json"] {
        let remote = object(&endpoint, &format!("{models}/{first}/{file}"));
        assert_eq!(remote, std::fs::read(local.join(&first).join(file)).unwrap(), "{file}");
    }

    // score reads the S3 model and finds what the local copy finds.
    let test = dir.to_str().unwrap();
    let s3_findings = tmp.path().join("s3.jsonl");
    let local_findings = tmp.path().join("local.jsonl");
    ok(
        &flowhound(&endpoint, &["score", test, "--model", &models, "--findings", s3_findings.to_str().unwrap()]),
        "score s3",
    );
    ok(
        &flowhound(
            &endpoint,
            &["score", test, "--model", local.to_str().unwrap(), "--findings", local_findings.to_str().unwrap()],
        ),
        "score local",
    );
    let s3_text = std::fs::read_to_string(&s3_findings).unwrap();
    assert!(!s3_text.is_empty(), "the test day holds attacks");
    assert_eq!(s3_text, std::fs::read_to_string(&local_findings).unwrap());

    // A safelist kept in S3 (what an ECS task can be given): the beaconing findings go.
    let safelist = format!("s3://{model_bucket}/config/safelist.toml");
    let entry = "[[entry]]\ncidr = \"0.0.0.0/0\"\ndetector = \"beaconing\"\nowner = \"secops\"\nreason = \"test\"\n";
    put_object(&endpoint, &safelist, entry.as_bytes(), tmp.path());
    let quiet = tmp.path().join("quiet.jsonl");
    ok(
        &flowhound(
            &endpoint,
            &["score", test, "--model", &models, "--safelist", &safelist, "--findings", quiet.to_str().unwrap()],
        ),
        "score with an S3 safelist",
    );
    let quiet_text = std::fs::read_to_string(&quiet).unwrap();
    assert!(s3_text.contains("\"detector\":\"beaconing\""), "beacons found without the safelist");
    assert!(!quiet_text.contains("\"detector\":\"beaconing\""), "{quiet_text}");
    assert!(quiet_text.lines().count() < s3_text.lines().count());

    // A candidate: written, not promoted.
    let second = train(&endpoint, &flow_bucket, &models, &["--seed", "2", "--no-promote"]);
    assert_ne!(second, first);
    assert_eq!(object(&endpoint, &format!("{models}/CURRENT")), format!("{first}\n").into_bytes());

    // compare the model in use with the candidate on the same day.
    let candidate = format!("{models}/{second}/");
    let out =
        ok(&flowhound(&endpoint, &["compare", test, "--model", &models, "--model", &candidate, "--json"]), "compare");
    let comparison: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(comparison["a"]["id"], first.as_str());
    assert_eq!(comparison["b"]["id"], second.as_str());
    assert_eq!(comparison["a"]["findings"].as_u64().unwrap() as usize, s3_text.lines().count());
    let detectors = comparison["detectors"].as_array().unwrap();
    assert!(!detectors.is_empty());
    for d in detectors {
        let n = |k: &str| d[k].as_u64().unwrap();
        assert_eq!(n("findings_a"), n("matched") + n("removed"), "{d}");
        assert_eq!(n("findings_b"), n("matched") + n("added"), "{d}");
    }

    // promote, then roll back.
    ok(&flowhound(&endpoint, &["promote", "--model", &models, &second]), "promote");
    assert_eq!(object(&endpoint, &format!("{models}/CURRENT")), format!("{second}\n").into_bytes());
    ok(&flowhound(&endpoint, &["promote", "--model", &models, &first]), "rollback");
    assert_eq!(object(&endpoint, &format!("{models}/CURRENT")), format!("{first}\n").into_bytes());

    // A tampered version is refused by promote, by score, and by pinning it.
    let payload = format!("{models}/{second}/baseline.json");
    let mut bytes = object(&endpoint, &payload);
    tamper(&mut bytes);
    put_object(&endpoint, &payload, &bytes, tmp.path());
    let out = flowhound(&endpoint, &["promote", "--model", &models, &second]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch for payload baseline.json"));
    assert_eq!(object(&endpoint, &format!("{models}/CURRENT")), format!("{first}\n").into_bytes());
    let out = flowhound(&endpoint, &["score", test, "--model", &candidate]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("refusing model {candidate}")));
    // A pointer at a version that is not there, and one naming no id.
    put_object(&endpoint, &format!("{models}/CURRENT"), b"fh-0000000000000000\n", tmp.path());
    let out = flowhound(&endpoint, &["score", test, "--model", &models]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no model"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    put_object(&endpoint, &format!("{models}/CURRENT"), b"../../elsewhere\n", tmp.path());
    let out = flowhound(&endpoint, &["score", test, "--model", &models]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a model id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_serve(endpoint: &str, toml: &str, log: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowhound"));
    aws_env(&mut cmd, endpoint);
    cmd.args(["--log-format", "json", "serve"])
        .env("FLOWHOUND_SERVE_TOML", toml)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    cmd.spawn().unwrap()
}

/// SIGTERM, exit 0; returns the log.
fn stop(serve: &mut Child, log: &Path) -> String {
    let status = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = serve.wait().unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(exit.success(), "serve exit {exit:?}: {text}");
    text
}

fn wait_for_log(log: &Path, needle: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {needle:?} in the serve log:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_follows_the_s3_pointer_and_refuses_a_bad_model() {
    let Some(endpoint) = emulator() else { return };
    let (dir, _) = recent_test_day();
    let tmp = tempfile::tempdir().unwrap();
    let flow_bucket = upload_tree(&endpoint, "serve-models-logs", dir);
    let model_bucket = unique("serve-models");
    aws(&endpoint, &["s3", "mb", &format!("s3://{model_bucket}")]);
    let models = format!("s3://{model_bucket}/models/");
    let first = train(&endpoint, &flow_bucket, &models, &["--seed", "1"]);
    let second = train(&endpoint, &flow_bucket, &models, &["--seed", "2", "--no-promote"]);
    let third = train(&endpoint, &flow_bucket, &models, &["--seed", "3", "--no-promote"]);

    let queue = unique("serve-models-q");
    let created: serde_json::Value =
        serde_json::from_slice(&aws(&endpoint, &["sqs", "create-queue", "--queue-name", &queue]).stdout).unwrap();
    let queue_url = created["QueueUrl"].as_str().unwrap();
    let namespace = format!("FlowhoundTest/{}", unique("models"));
    let state = tmp.path().join("state");
    let toml = format!(
        "queue_url = {queue_url:?}\nmodel = {models:?}\nstate_dir = {:?}\nfindings = \"-\"\nnamespace = {namespace:?}\n\
         wait = \"1s\"\nmodel_check = \"1s\"\nlag_interval = \"1s\"\n",
        state.to_str().unwrap()
    );
    let log = tmp.path().join("serve.log");
    let started_at = now();
    let mut serve = start_serve(&endpoint, &toml, &log);
    wait_for_log(&log, &format!("\"model\":\"{first}\""), Duration::from_secs(30));

    // Promoted: serve switches within a check or two.
    ok(&flowhound(&endpoint, &["promote", "--model", &models, &second]), "promote");
    wait_for_log(&log, &format!("\"new\":\"{second}\""), Duration::from_secs(30));

    // The pointer moved by hand to a tampered version: refused, the running model kept,
    // ModelRefused published while the pointer names it.
    let payload = format!("{models}{third}/baseline.json");
    let mut bytes = object(&endpoint, &payload);
    tamper(&mut bytes);
    put_object(&endpoint, &payload, &bytes, tmp.path());
    put_object(&endpoint, &format!("{models}CURRENT"), format!("{third}\n").as_bytes(), tmp.path());
    let text = wait_for_log(&log, "new model refused; keeping the current model", Duration::from_secs(30));
    assert!(text.contains("checksum mismatch for payload baseline.json"), "{text}");
    std::thread::sleep(Duration::from_secs(3));
    // One refusal was logged; the checks after it did not fetch the bad model again.
    assert_eq!(std::fs::read_to_string(&log).unwrap().matches("new model refused").count(), 1);

    // A restart while the pointer names the bad model: serve scores with the model of its
    // checkpoint instead of crash-looping, and keeps the alarm on.
    stop(&mut serve, &log);
    let restart_log = tmp.path().join("restart.log");
    let mut serve = start_serve(&endpoint, &toml, &restart_log);
    let text = wait_for_log(
        &restart_log,
        "current model refused at start; scoring with the checkpoint's model",
        Duration::from_secs(30),
    );
    assert!(text.contains(&format!("\"model\":\"{first}\"")), "{text}");

    // Fixed pointer: back to a good model.
    ok(&flowhound(&endpoint, &["promote", "--model", &models, &second]), "promote again");
    wait_for_log(&restart_log, &format!("\"new\":\"{second}\""), Duration::from_secs(30));
    let text = stop(&mut serve, &restart_log);
    // The restarted serve did not fetch the refused model again at each check.
    assert_eq!(text.matches("new model refused").count(), 0, "{text}");

    let queries = vec![("refused".to_string(), "ModelRefused", Vec::new(), "Sum")];
    let values = metric_values(&endpoint, &namespace, &queries, started_at - 60, now() + 60);
    let refused: f64 = values["refused"].iter().sum();
    assert!(refused >= 2.0, "ModelRefused is sent at every check while the pointer names the bad model: {values:?}");
}
