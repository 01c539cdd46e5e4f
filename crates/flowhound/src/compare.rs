//! `flowhound compare`: what a new model changes. Both models score the same flow logs;
//! their findings are matched (same detector, host and peer, overlapping windows) and
//! counted per detector as added, removed and re-scored; with labels, each model's recall
//! and precision and the labels one finds and the other misses. `train --gate-labels`
//! uses the same comparison to decide whether a new model may become the current one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use flowhound_features::{AddressBlocks, Features};
use flowhound_model::artifact::Manifest;
use flowhound_model::{Baseline, Finding, Safelist, detect};
use flowhound_sim::{Label, LabelOutcome, Report, ScenarioInfo, evaluate, parse_labels};
use serde::Serialize;

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs};
use crate::models::{self, ModelLocation, parse_model_arg};
use crate::score::{ranked, read_safelist};
use crate::train::{address_blocks, blocks_for_model, extract, read_settings};

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The two models, the one in use first, then the candidate: model directories (local
    /// or s3://bucket/prefix/, their current version) or single versions (DIR/<id>).
    #[arg(long = "model", value_name = "DIR", value_parser = parse_model_arg, required = true)]
    pub models: Vec<ModelLocation>,
    /// Labels, JSON lines (docs/simulator.md, "Output"), a file or s3://bucket/key: adds
    /// each model's recall and precision and the labels one detects and the other misses.
    #[arg(long)]
    pub labels: Option<String>,
    /// The scenario.json of a simulation, to count host-days and attribute false positives.
    #[arg(long, requires = "labels")]
    pub scenario: Option<PathBuf>,
    /// Safelist applied to both models' findings.
    #[arg(long)]
    pub safelist: Option<PathBuf>,
    /// TOML configuration (a file or s3://bucket/key): only the [features] table is read (the
    /// detector settings are the models').
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub addresses: AddressArgs,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// How one detector's findings changed from model A to model B.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetectorChange {
    pub detector: String,
    /// Findings of A and of B.
    pub findings_a: usize,
    pub findings_b: usize,
    /// Findings of B that match none of A's, and of A that match none of B's.
    pub added: usize,
    pub removed: usize,
    /// Matched findings, and those whose score differs.
    pub matched: usize,
    pub rescored: usize,
    /// Mean and largest |score B − score A| over the matched findings.
    pub mean_abs_delta: f64,
    pub max_abs_delta: f64,
    /// Matched findings whose severity differs.
    pub severity_changed: usize,
}

/// A model as compared: its id, location and number of findings.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub id: String,
    pub location: String,
    pub findings: usize,
    /// With labels: the evaluation of its findings.
    pub evaluation: Option<Report>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    pub detectors: Vec<DetectorChange>,
    /// With labels: labels A detects and B misses (what promoting B would lose), and the reverse.
    pub lost_labels: Vec<LabelOutcome>,
    pub gained_labels: Vec<LabelOutcome>,
}

/// Whether two findings' windows overlap.
fn overlap(a: &Finding, b: &Finding) -> bool {
    a.window_start < b.window_end && b.window_start < a.window_end
}

type DetectionKey<'f> = (&'static str, &'f str, Option<&'f str>);

/// Findings by detector, host and peer, each list in time order.
fn by_detection(findings: &[Finding]) -> BTreeMap<DetectionKey<'_>, Vec<&Finding>> {
    let mut groups: BTreeMap<DetectionKey<'_>, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        groups.entry((f.detector, f.host.as_str(), f.peer.as_deref())).or_default().push(f);
    }
    for list in groups.values_mut() {
        list.sort_by_key(|f| (f.window_start, f.window_end));
    }
    groups
}

/// Matches findings one to one and counts the changes per detector: within one detector,
/// host and peer, each of A's findings (earliest first) takes the earliest unmatched
/// finding of B whose window overlaps its own.
pub fn compare_findings(a: &[Finding], b: &[Finding]) -> Vec<DetectorChange> {
    let (groups_a, groups_b) = (by_detection(a), by_detection(b));
    let mut changes: BTreeMap<&'static str, DetectorChange> = BTreeMap::new();
    let mut deltas: BTreeMap<&'static str, f64> = BTreeMap::new();
    for f in a {
        changes.entry(f.detector).or_default().findings_a += 1;
    }
    for f in b {
        changes.entry(f.detector).or_default().findings_b += 1;
    }
    for (key, list_a) in &groups_a {
        let list_b = groups_b.get(key).map_or(&[][..], Vec::as_slice);
        let mut used = vec![false; list_b.len()];
        let change = changes.get_mut(key.0).expect("counted above");
        for fa in list_a {
            let found = (0..list_b.len()).find(|&i| !used[i] && overlap(fa, list_b[i]));
            let Some(i) = found else { continue };
            used[i] = true;
            let fb = list_b[i];
            change.matched += 1;
            let delta = (fb.score - fa.score).abs();
            if delta > 0.0 {
                change.rescored += 1;
            }
            *deltas.entry(key.0).or_default() += delta;
            change.max_abs_delta = change.max_abs_delta.max(delta);
            if fa.severity != fb.severity {
                change.severity_changed += 1;
            }
        }
    }
    changes
        .into_iter()
        .map(|(detector, mut c)| {
            c.detector = detector.to_string();
            c.added = c.findings_b - c.matched;
            c.removed = c.findings_a - c.matched;
            if c.matched > 0 {
                c.mean_abs_delta = deltas.get(detector).copied().unwrap_or(0.0) / c.matched as f64;
            }
            c
        })
        .collect()
}

/// The evaluation's view of a finding.
fn eval_finding(f: &Finding) -> flowhound_sim::Finding {
    flowhound_sim::Finding {
        detector: f.detector.to_string(),
        host: f.host.clone(),
        peer: f.peer.clone(),
        window_start: f.window_start,
        window_end: f.window_end,
        score: f.score,
        severity: f.severity.as_str().to_string(),
    }
}

/// Labels detected in `from` and missed in `to` (both evaluations of the same labels).
fn labels_lost(from: &Report, to: &Report) -> Vec<LabelOutcome> {
    from.labels.iter().zip(&to.labels).filter(|(f, t)| f.detected && !t.detected).map(|(f, _)| f.clone()).collect()
}

/// Reads labels, local or `s3://bucket/key`.
pub fn read_labels(location: &str) -> Result<Vec<Label>> {
    let labels = parse_labels(&crate::aws::read_text(location)?).with_context(|| format!("parsing {location}"))?;
    tracing::info!(labels = labels.len(), source = location, "labels read");
    Ok(labels)
}

/// Scores SOURCE with each model; features are extracted once per distinct window,
/// horizon and address blocks (once when the models agree, the usual case).
pub fn score_models(
    models: &[(&Manifest, &Baseline)],
    source: &SourceArgs,
    given: &AddressBlocks,
    safelist: &Safelist,
) -> Result<Vec<Vec<Finding>>> {
    let mut extracted: Vec<((u64, u64, AddressBlocks), Features)> = Vec::new();
    let mut out = Vec::new();
    for (manifest, baseline) in models {
        let blocks = blocks_for_model(&baseline.train.addresses, given.clone())?;
        let key = (baseline.train.window_secs, baseline.detect.horizon_secs, blocks);
        let at = match extracted.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let (features, _) = extract(source, &[], key.0, key.1, &key.2)?;
                extracted.push((key, features));
                extracted.len() - 1
            }
        };
        let result = detect::score(baseline, &extracted[at].1, safelist, &manifest.id);
        out.push(ranked(&result.findings));
    }
    Ok(out)
}

/// Compares the findings of two models, with an evaluation of each when labels are given.
pub fn compare(
    a: (String, String, &[Finding]),
    b: (String, String, &[Finding]),
    labels: Option<&[Label]>,
    scenario: Option<&ScenarioInfo>,
) -> Comparison {
    let detectors = compare_findings(a.2, b.2);
    let evaluate_side = |findings: &[Finding]| {
        labels.map(|labels| {
            let view: Vec<_> = findings.iter().map(eval_finding).collect();
            evaluate(labels, &view, scenario)
        })
    };
    let (eval_a, eval_b) = (evaluate_side(a.2), evaluate_side(b.2));
    let (lost_labels, gained_labels) = match (&eval_a, &eval_b) {
        (Some(ea), Some(eb)) => (labels_lost(ea, eb), labels_lost(eb, ea)),
        _ => (Vec::new(), Vec::new()),
    };
    Comparison {
        a: Side { id: a.0, location: a.1, findings: a.2.len(), evaluation: eval_a },
        b: Side { id: b.0, location: b.1, findings: b.2.len(), evaluation: eval_b },
        detectors,
        lost_labels,
        gained_labels,
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// The comparison as text tables.
pub fn render(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model A   {}  {}", c.a.id, c.a.location);
    let _ = writeln!(s, "model B   {}  {}", c.b.id, c.b.location);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<18} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "detector", "A", "B", "added", "removed", "rescored", "mean|d|", "max|d|", "severity"
    );
    for d in &c.detectors {
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8.1} {:>8.1} {:>9}",
            d.detector,
            d.findings_a,
            d.findings_b,
            d.added,
            d.removed,
            d.rescored,
            d.mean_abs_delta,
            d.max_abs_delta,
            d.severity_changed
        );
    }
    if c.detectors.is_empty() {
        let _ = writeln!(s, "(no findings from either model)");
    }
    if let (Some(ea), Some(eb)) = (&c.a.evaluation, &c.b.evaluation) {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<18} {:>7} {:>9} {:>9} {:>12} {:>12} {:>6} {:>6}",
            "detector", "labels", "recall A", "recall B", "precision A", "precision B", "FP A", "FP B"
        );
        let rows = ea.detectors.iter().chain(std::iter::once(&ea.overall));
        for da in rows {
            let db = if da.detector == ea.overall.detector {
                Some(&eb.overall)
            } else {
                eb.detectors.iter().find(|d| d.detector == da.detector)
            };
            let Some(db) = db else { continue };
            let _ = writeln!(
                s,
                "{:<18} {:>7} {:>9} {:>9} {:>12} {:>12} {:>6} {:>6}",
                da.detector,
                da.instances,
                percent(da.recall),
                percent(db.recall),
                percent(da.precision),
                percent(db.precision),
                da.false_positives,
                db.false_positives
            );
        }
        for (title, list) in [("lost by B", &c.lost_labels), ("gained by B", &c.gained_labels)] {
            let _ = writeln!(s);
            let _ = writeln!(s, "labels {title}: {}", list.len());
            for l in list {
                let peer = l.peer.as_deref().unwrap_or("-");
                let _ = writeln!(s, "  {} {} -> {} ({})", l.detector, l.host, peer, l.variant);
            }
        }
    }
    s
}

pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    let [a, b] = args.models.as_slice() else {
        return Err(UsageError(format!(
            "--model is given twice (the model in use, then the candidate), not {} times",
            args.models.len()
        ))
        .into());
    };
    let (model_a, location_a) = (models::load(a)?, a.to_string());
    let (model_b, location_b) = (models::load(b)?, b.to_string());
    let labels = args.labels.as_deref().map(read_labels).transpose()?;
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
            Some(ScenarioInfo::from_json(&text).with_context(|| format!("parsing {}", path.display()))?)
        }
        None => None,
    };
    let safelist = read_safelist(args.safelist.as_deref())?;
    let given = address_blocks(&read_settings(args.config.as_deref())?, &args.addresses);
    let findings =
        score_models(&[(&model_a.0, &model_a.1), (&model_b.0, &model_b.1)], &args.source, &given, &safelist)?;
    let comparison = compare(
        (model_a.0.id, location_a, &findings[0]),
        (model_b.0.id, location_b, &findings[1]),
        labels.as_deref(),
        scenario.as_ref(),
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &comparison)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&comparison).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhound_model::Severity;

    fn finding(detector: &'static str, host: &str, peer: Option<&str>, start: u64, score: f64) -> Finding {
        let severity = if score >= 80.0 {
            Severity::High
        } else if score >= 50.0 {
            Severity::Medium
        } else {
            Severity::Low
        };
        Finding { peer: peer.map(Into::into), ..crate::test_support::finding(detector, host, start, score, severity) }
    }

    #[test]
    fn findings_are_matched_one_to_one_and_counted_per_detector() {
        let a = vec![
            finding("beaconing", "10.0.0.1", Some("203.0.113.9"), 0, 60.0),
            finding("beaconing", "10.0.0.1", Some("203.0.113.9"), 3600, 90.0),
            finding("beaconing", "10.0.0.2", Some("203.0.113.9"), 0, 55.0),
            finding("exfiltration", "10.0.0.3", None, 0, 70.0),
        ];
        let b = vec![
            // Same detection, window shifted but overlapping: re-scored 60 -> 82, severity up.
            finding("beaconing", "10.0.0.1", Some("203.0.113.9"), 300, 82.0),
            // Same score, exact window.
            finding("beaconing", "10.0.0.1", Some("203.0.113.9"), 3600, 90.0),
            // Another peer: not the same detection.
            finding("beaconing", "10.0.0.2", Some("198.51.100.1"), 0, 55.0),
            finding("lateral_movement", "10.0.0.4", Some("10.0.0.5"), 0, 40.0),
        ];
        let changes = compare_findings(&a, &b);
        let by: BTreeMap<_, _> = changes.iter().map(|c| (c.detector.as_str(), c)).collect();
        let beacon = by["beaconing"];
        assert_eq!((beacon.findings_a, beacon.findings_b), (3, 3));
        assert_eq!((beacon.matched, beacon.added, beacon.removed), (2, 1, 1));
        assert_eq!(beacon.rescored, 1);
        assert_eq!(beacon.severity_changed, 1);
        assert!((beacon.mean_abs_delta - 11.0).abs() < 1e-9, "{}", beacon.mean_abs_delta);
        assert!((beacon.max_abs_delta - 22.0).abs() < 1e-9);
        let exfil = by["exfiltration"];
        assert_eq!((exfil.findings_a, exfil.findings_b, exfil.removed, exfil.added), (1, 0, 1, 0));
        let lateral = by["lateral_movement"];
        assert_eq!((lateral.findings_a, lateral.findings_b, lateral.added, lateral.removed), (0, 1, 1, 0));
        // A model compared with itself changes nothing.
        for c in compare_findings(&a, &a) {
            assert_eq!((c.added, c.removed, c.rescored, c.matched), (0, 0, 0, c.findings_a));
        }
    }

    #[test]
    fn labels_lost_and_gained_are_named() {
        let labels = parse_labels(concat!(
            r#"{"detector":"beaconing","host":"10.0.0.1","peer":"203.0.113.9","start":0,"end":7200,"variant":"c2","note":""}"#,
            "\n",
            r#"{"detector":"exfiltration","host":"10.0.0.3","start":0,"end":900,"variant":"upload","note":""}"#,
            "\n",
        ))
        .unwrap();
        let a = vec![finding("beaconing", "10.0.0.1", Some("203.0.113.9"), 0, 60.0)];
        let b = vec![finding("exfiltration", "10.0.0.3", None, 0, 70.0)];
        let c = compare(("A".into(), "a".into(), &a), ("B".into(), "b".into(), &b), Some(&labels), None);
        assert_eq!(c.lost_labels.len(), 1);
        assert_eq!(c.lost_labels[0].detector, "beaconing");
        assert_eq!(c.gained_labels.len(), 1);
        assert_eq!(c.gained_labels[0].detector, "exfiltration");
        let text = render(&c);
        assert!(text.contains("labels lost by B: 1\n  beaconing 10.0.0.1 -> 203.0.113.9 (c2)"), "{text}");
        assert!(text.contains("recall A"), "{text}");
    }
}
