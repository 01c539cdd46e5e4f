//! The partitioned read of docs/scale.md equals the single-process one: a generated
//! three-day tree is read as N = 1, 2 and 5 partitions by separate `extract --state-out
//! --partition K/N` processes, merged by `flowhound merge`, and the model `train --state`
//! writes, the findings of `hunt --state` and the Parquet of `extract --state` are
//! byte-identical to those of one process reading the tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn flowhound(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_flowhound")).env("RUST_LOG", "warn").args(args).output().unwrap();
    assert!(out.status.success(), "flowhound {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The model files of the only version in `dir`.
fn model_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let id = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let version = dir.join(id.trim());
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&version)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn partitioned_reads_merge_to_the_single_process_results() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    flowhound(&[
        "simulate",
        "--out",
        path(&sim),
        "--seed",
        "4",
        "--hosts",
        "12",
        "--train-days",
        "3",
        "--test-days",
        "1",
    ]);
    let tree = sim.join("train");
    let tree = path(&tree);

    let single_model = tmp.path().join("model-1p");
    flowhound(&["train", tree, "--seed", "3", "--model", path(&single_model)]);
    let single_findings = tmp.path().join("hunt-1p.jsonl");
    flowhound(&["hunt", tree, "--findings", path(&single_findings)]);
    let single_parquet = tmp.path().join("features-1p.parquet");
    flowhound(&["extract", tree, "--out", path(&single_parquet)]);
    let expected_model = model_files(&single_model);
    assert_eq!(expected_model.len(), 2, "manifest and baseline");
    let expected_findings = std::fs::read(&single_findings).unwrap();
    assert!(!expected_findings.is_empty(), "the tree holds attacks to find");
    let expected_parquet = std::fs::read(&single_parquet).unwrap();

    for n in [1u32, 2, 5] {
        let dir = tmp.path().join(format!("n{n}"));
        std::fs::create_dir(&dir).unwrap();
        let partials: Vec<PathBuf> = (1..=n).map(|k| dir.join(format!("part-{k}.state"))).collect();
        for (k, partial) in (1..=n).zip(&partials) {
            let partition = format!("{k}/{n}");
            flowhound(&["extract", tree, "--partition", &partition, "--state-out", path(partial)]);
        }
        let merged = dir.join("merged.state");
        let mut args = vec!["merge"];
        args.extend(partials.iter().map(|p| path(p)));
        args.extend(["--state-out", path(&merged)]);
        flowhound(&args);

        let model = dir.join("model");
        flowhound(&["train", "--state", path(&merged), "--seed", "3", "--model", path(&model)]);
        assert!(model_files(&model) == expected_model, "N = {n}: the model differs from the single-process one");
        let findings = dir.join("hunt.jsonl");
        flowhound(&["hunt", "--state", path(&merged), "--findings", path(&findings)]);
        assert!(std::fs::read(&findings).unwrap() == expected_findings, "N = {n}: hunt findings differ");
        let parquet = dir.join("features.parquet");
        flowhound(&["extract", "--state", path(&merged), "--out", path(&parquet)]);
        assert!(std::fs::read(&parquet).unwrap() == expected_parquet, "N = {n}: Parquet features differ");
    }
}

#[test]
fn states_are_verified_before_use() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    flowhound(&[
        "simulate",
        "--out",
        path(&sim),
        "--seed",
        "5",
        "--hosts",
        "12",
        "--train-days",
        "1",
        "--test-days",
        "1",
    ]);
    let state = tmp.path().join("day.state");
    flowhound(&["extract", path(&sim.join("test")), "--partition", "1/2", "--state-out", path(&state)]);
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_flowhound")).args(args).output().unwrap();

    // The same partition twice would count its objects twice.
    let out = run(&["merge", path(&state), path(&state), "--state-out", path(&tmp.path().join("x.state"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("partition 1/2 is already in the merge"));
    // One partition of two is not the whole period.
    let out = run(&["hunt", "--state", path(&state)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lack partitions 2/2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other_cut = tmp.path().join("other.state");
    flowhound(&["extract", path(&sim.join("test")), "--partition", "2/3", "--state-out", path(&other_cut)]);
    let out = run(&["merge", path(&state), path(&other_cut), "--state-out", path(&tmp.path().join("y.state"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("of another cut"));
    let whole = tmp.path().join("whole.state");
    flowhound(&["extract", path(&sim.join("test")), "--state-out", path(&whole)]);
    // Another window than the state was made with.
    let out = run(&["hunt", "--state", path(&whole), "--window", "5m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the feature state was extracted with --window 900s"));
    // A damaged file: one byte of the body changed.
    let mut bytes = std::fs::read(&state).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    let damaged = tmp.path().join("damaged.state");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = run(&["hunt", "--state", path(&damaged)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged feature state"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a state at all, and SOURCE with --state.
    let out = run(&["train", "--state", path(&sim.join("labels.jsonl")), "--model", path(&tmp.path().join("m"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a flowhound feature state"));
    let out = run(&["hunt", path(&sim.join("test")), "--state", path(&state)]);
    assert_eq!(out.status.code(), Some(2), "SOURCE and --state conflict");
    let out = run(&["hunt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SOURCE given"));
}
