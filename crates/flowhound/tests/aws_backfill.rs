//! The partitioned backfill's steps against the AWS emulator, as the backfill stack's
//! Batch jobs run them (docs/scale.md): N array children `extract --partition array/N
//! --state-out s3://…/parts/`, `merge` of that prefix, then `train --state` into an S3
//! model directory and `hunt --state --findings s3://…`. The model and the findings equal
//! those of one process reading a local copy of the same tree.

mod common;

use std::process::{Command, Output};

use common::{aws, aws_env, emulator, unique, upload_tree};

fn run(endpoint: &str, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowhound"));
    aws_env(&mut cmd, endpoint);
    cmd.env("RUST_LOG", "warn").env_remove("AWS_BATCH_JOB_ARRAY_INDEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(out.status.success(), "flowhound {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn model_id(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    text.lines().find(|l| l.starts_with("model ")).unwrap().split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn the_backfill_steps_on_s3_equal_one_local_process() {
    let Some(endpoint) = emulator() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    run(
        &endpoint,
        &[],
        &[
            "simulate",
            "--out",
            sim.to_str().unwrap(),
            "--seed",
            "6",
            "--hosts",
            "12",
            "--train-days",
            "2",
            "--test-days",
            "1",
        ],
    );
    let train_tree = sim.join("train");
    let flow_bucket = upload_tree(&endpoint, "backfill-logs", &train_tree);
    let work_bucket = unique("backfill-work");
    aws(&endpoint, &["s3", "mb", &format!("s3://{work_bucket}")]);
    let start = flowhound_sim::epoch_start();
    let (from, to) = (start.to_string(), (start + 2 * 86_400).to_string());
    let source = format!("s3://{flow_bucket}/AWSLogs/");
    let run_prefix = format!("s3://{work_bucket}/runs/test-run");
    let parts = format!("{run_prefix}/parts/");
    let n = 3;
    for index in 0..n {
        let partition = format!("array/{n}");
        run(
            &endpoint,
            &[("AWS_BATCH_JOB_ARRAY_INDEX", index.to_string())],
            &[
                "--log-format",
                "json",
                "extract",
                &source,
                "--from",
                &from,
                "--to",
                &to,
                "--partition",
                &partition,
                "--state-out",
                &parts,
            ],
        );
    }
    let listed = aws(&endpoint, &["s3", "ls", &parts]).stdout;
    let listed = String::from_utf8_lossy(&listed);
    for k in 1..=n {
        assert!(listed.contains(&format!("part-{k:04}-of-{n:04}.state")), "{listed}");
    }
    let merged = format!("{run_prefix}/merged.state");
    run(&endpoint, &[], &["--log-format", "json", "merge", &parts, "--state-out", &merged]);

    let models = format!("s3://{work_bucket}/models/");
    let trained =
        run(&endpoint, &[], &["--log-format", "json", "train", "--state", &merged, "--seed", "2", "--model", &models]);
    let findings_url = format!("{run_prefix}/findings.jsonl");
    run(&endpoint, &[], &["--log-format", "json", "hunt", "--state", &merged, "--findings", &findings_url]);

    // One local process over the same objects.
    let local_model = tmp.path().join("model");
    let local = run(
        &endpoint,
        &[],
        &["train", train_tree.to_str().unwrap(), "--seed", "2", "--model", local_model.to_str().unwrap()],
    );
    assert_eq!(model_id(&trained.stdout), model_id(&local.stdout), "the model's id is the hash of its content");
    let local_findings = tmp.path().join("hunt.jsonl");
    run(&endpoint, &[], &["hunt", train_tree.to_str().unwrap(), "--findings", local_findings.to_str().unwrap()]);
    let remote_findings = aws(&endpoint, &["s3", "cp", "--only-show-errors", &findings_url, "-"]).stdout;
    assert!(!remote_findings.is_empty());
    assert!(remote_findings == std::fs::read(&local_findings).unwrap(), "hunt findings differ");
}
