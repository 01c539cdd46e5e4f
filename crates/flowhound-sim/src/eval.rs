//! Scoring findings against labels (docs/simulator.md, "Evaluation"): matching, per-detector metrics, and
//! attribution of false positives to the scenario's look-alikes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::EvalError;
use flowhound_flowlog::time::parse_rfc3339 as parse_time;

/// One attack instance (a line of `labels.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub detector: String,
    pub host: String,
    pub peer: Option<String>,
    pub start: u64,
    pub end: u64,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub note: String,
}

/// The fields of a finding (docs/findings.md) that evaluation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: String,
    pub host: String,
    pub peer: Option<String>,
    pub window_start: u64,
    pub window_end: u64,
    pub score: f64,
    pub severity: String,
}

/// A look-alike as listed in scenario.json.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LookAlikeRef {
    pub id: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    /// Detectors it is meant to fool; preferred when attributing their false positives.
    #[serde(default)]
    pub fools: Vec<String>,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub end: Option<u64>,
}

/// What evaluation needs from scenario.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioInfo {
    pub aggregation: u32,
    pub test_host_days: f64,
    pub lookalikes: Vec<LookAlikeRef>,
}

impl ScenarioInfo {
    /// Reads the fields evaluation needs from the text of scenario.json.
    pub fn from_json(text: &str) -> Result<ScenarioInfo, EvalError> {
        let v: Value = serde_json::from_str(text).map_err(|e| EvalError::Scenario(format!("not valid JSON: {e}")))?;
        let aggregation = v
            .pointer("/parameters/aggregation")
            .and_then(Value::as_u64)
            .ok_or_else(|| EvalError::Scenario("missing parameters.aggregation".into()))?;
        let test_host_days = v
            .pointer("/test/host_days")
            .and_then(Value::as_f64)
            .ok_or_else(|| EvalError::Scenario("missing test.host_days".into()))?;
        let lookalikes = match v.get("lookalikes") {
            Some(l) => {
                serde_json::from_value(l.clone()).map_err(|e| EvalError::Scenario(format!("bad lookalikes: {e}")))?
            }
            None => Vec::new(),
        };
        Ok(ScenarioInfo { aggregation: u32::try_from(aggregation).unwrap_or(u32::MAX), test_host_days, lookalikes })
    }
}

/// Parses `labels.jsonl` text; blank lines are skipped.
pub fn parse_labels(text: &str) -> Result<Vec<Label>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let label: Label = serde_json::from_str(line).map_err(|e| EvalError::Line {
            what: "labels",
            line: i + 1,
            message: e.to_string(),
        })?;
        if label.end < label.start {
            return Err(EvalError::Line { what: "labels", line: i + 1, message: "end is before start".into() });
        }
        out.push(label);
    }
    Ok(out)
}

/// Parses findings (JSON lines); times may be RFC 3339 strings or epoch seconds.
pub fn parse_findings(text: &str) -> Result<Vec<Finding>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Line { what: "findings", line: i + 1, message };
        let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let text_field = |name: &str| -> Result<String, EvalError> {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("missing string `{name}`")))
        };
        let time_field = |name: &str| -> Result<u64, EvalError> {
            match v.get(name) {
                Some(Value::String(s)) => parse_time(s).ok_or_else(|| bad(format!("`{name}` is not RFC 3339: {s}"))),
                Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(format!("`{name}` is not epoch seconds"))),
                _ => Err(bad(format!("missing `{name}`"))),
            }
        };
        let peer = match v.get("peer") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(bad(format!("`peer` must be a string or null, got {other}"))),
        };
        let finding = Finding {
            detector: text_field("detector")?,
            host: text_field("host")?,
            peer,
            window_start: time_field("window_start")?,
            window_end: time_field("window_end")?,
            score: v.get("score").and_then(Value::as_f64).ok_or_else(|| bad("missing number `score`".into()))?,
            severity: text_field("severity")?,
        };
        if finding.window_end < finding.window_start {
            return Err(bad("window_end is before window_start".into()));
        }
        out.push(finding);
    }
    Ok(out)
}

/// Time-to-detect statistics over the detected labels, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeToDetect {
    pub median: f64,
    pub mean: f64,
    pub max: f64,
}

/// The metrics of one detector (or of all of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorMetrics {
    pub detector: String,
    pub instances: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Labels detected by a finding that also names the label's peer (any finding when the label has no peer).
    pub detected_with_peer: usize,
    pub recall_with_peer: Option<f64>,
    pub findings: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub precision: Option<f64>,
    pub false_positives_per_1000_host_days: Option<f64>,
    pub time_to_detect_secs: Option<TimeToDetect>,
}

/// What happened to one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelOutcome {
    pub detector: String,
    pub host: String,
    pub peer: Option<String>,
    pub variant: String,
    pub start: u64,
    pub end: u64,
    pub detected: bool,
    pub detected_with_peer: bool,
    pub time_to_detect_secs: Option<u64>,
}

/// False positives one look-alike caused, per detector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribution {
    pub lookalike: String,
    pub detector: String,
    pub false_positives: usize,
}

/// The full evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub slack_secs: u64,
    pub host_days: Option<f64>,
    pub detectors: Vec<DetectorMetrics>,
    pub overall: DetectorMetrics,
    pub labels: Vec<LabelOutcome>,
    /// Present when a scenario was given.
    pub false_positives_by_lookalike: Option<Vec<Attribution>>,
    pub unattributed_false_positives: Option<usize>,
}

/// Slack when no scenario says the aggregation interval: the AWS default of 600 s.
pub const DEFAULT_SLACK_SECS: u64 = 600;

fn same_addr(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Whether `f` counts for `l`: same detector and host, overlapping `[start, end]` widened by `slack` each side.
pub fn matches(f: &Finding, l: &Label, slack: u64) -> bool {
    f.detector == l.detector
        && same_addr(&f.host, &l.host)
        && f.window_start <= l.end.saturating_add(slack)
        && f.window_end >= l.start.saturating_sub(slack)
}

fn peer_matches(f: &Finding, l: &Label) -> bool {
    match (&l.peer, &f.peer) {
        (None, _) => true,
        (Some(want), Some(got)) => same_addr(want, got),
        (Some(_), None) => false,
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn ttd_stats(mut v: Vec<u64>) -> Option<TimeToDetect> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 };
    let mean = v.iter().sum::<u64>() as f64 / n as f64;
    Some(TimeToDetect { median, mean, max: v[n - 1] as f64 })
}

/// The look-alike a false positive most plausibly comes from: one whose hosts include
/// the finding's host and whose peers include its peer (an exact peer beats a
/// look-alike listing no peers), or the reverse pairing (a monitored target reported
/// with the monitoring host as peer). Look-alikes meant to fool the finding's detector
/// win over those that merely share the host (every host runs NTP).
fn attribute<'a>(f: &Finding, lookalikes: &'a [LookAlikeRef]) -> Option<&'a LookAlikeRef> {
    let in_list = |list: &[String], x: &str| list.iter().any(|h| same_addr(h, x));
    let in_time =
        |l: &LookAlikeRef| l.start.is_none_or(|s| f.window_end >= s) && l.end.is_none_or(|e| f.window_start <= e);
    let mut best: Option<(&LookAlikeRef, u8)> = None;
    for l in lookalikes.iter().filter(|l| in_time(l)) {
        let host_in = in_list(&l.hosts, &f.host);
        let rank = match &f.peer {
            Some(p) if host_in && in_list(&l.peers, p) => 4,
            Some(p) if in_list(&l.peers, &f.host) && in_list(&l.hosts, p) => 3,
            _ if host_in && l.peers.is_empty() => 2,
            None if host_in => 2,
            _ if l.hosts.is_empty() && in_list(&l.peers, &f.host) => 1,
            _ => 0,
        };
        let aimed = l.fools.is_empty() || l.fools.iter().any(|d| d == &f.detector);
        let rank = if rank > 0 && aimed { rank + 10 } else { rank };
        if rank > 0 && best.is_none_or(|(_, r)| rank > r) {
            best = Some((l, rank));
        }
    }
    best.map(|(l, _)| l)
}

/// Scores `findings` against `labels`. Slack is one aggregation interval (from the
/// scenario, else [`DEFAULT_SLACK_SECS`]); false positives per 1000 host-days and
/// look-alike attribution need the scenario.
pub fn evaluate(labels: &[Label], findings: &[Finding], scenario: Option<&ScenarioInfo>) -> Report {
    let slack = scenario.map_or(DEFAULT_SLACK_SECS, |s| u64::from(s.aggregation));
    let host_days = scenario.map(|s| s.test_host_days);
    let mut detectors: Vec<String> =
        labels.iter().map(|l| l.detector.clone()).chain(findings.iter().map(|f| f.detector.clone())).collect();
    detectors.sort();
    detectors.dedup();

    let outcomes: Vec<LabelOutcome> = labels
        .iter()
        .map(|l| {
            let hits: Vec<&Finding> = findings.iter().filter(|f| matches(f, l, slack)).collect();
            let ttd = hits.iter().map(|f| f.window_start.saturating_sub(l.start)).min();
            LabelOutcome {
                detector: l.detector.clone(),
                host: l.host.clone(),
                peer: l.peer.clone(),
                variant: l.variant.clone(),
                start: l.start,
                end: l.end,
                detected: !hits.is_empty(),
                detected_with_peer: hits.iter().any(|f| peer_matches(f, l)),
                time_to_detect_secs: ttd,
            }
        })
        .collect();
    let true_positive: Vec<bool> = findings.iter().map(|f| labels.iter().any(|l| matches(f, l, slack))).collect();

    let metrics = |name: &str, pick: &dyn Fn(&str) -> bool| -> DetectorMetrics {
        let ls: Vec<&LabelOutcome> = outcomes.iter().filter(|o| pick(&o.detector)).collect();
        let fs: Vec<usize> = (0..findings.len()).filter(|&i| pick(&findings[i].detector)).collect();
        let detected = ls.iter().filter(|o| o.detected).count();
        let with_peer = ls.iter().filter(|o| o.detected_with_peer).count();
        let tp = fs.iter().filter(|&&i| true_positive[i]).count();
        let fp = fs.len() - tp;
        DetectorMetrics {
            detector: name.to_string(),
            instances: ls.len(),
            detected,
            recall: ratio(detected, ls.len()),
            detected_with_peer: with_peer,
            recall_with_peer: ratio(with_peer, ls.len()),
            findings: fs.len(),
            true_positives: tp,
            false_positives: fp,
            precision: ratio(tp, fs.len()),
            false_positives_per_1000_host_days: host_days.filter(|&d| d > 0.0).map(|d| fp as f64 * 1000.0 / d),
            time_to_detect_secs: ttd_stats(ls.iter().filter_map(|o| o.time_to_detect_secs).collect()),
        }
    };
    let per_detector: Vec<DetectorMetrics> = detectors.iter().map(|d| metrics(d, &|x: &str| x == d)).collect();
    let overall = metrics("overall", &|_: &str| true);

    let (by_lookalike, unattributed) = match scenario {
        Some(s) => {
            let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
            let mut unattributed = 0;
            for (f, _) in findings.iter().zip(&true_positive).filter(|(_, tp)| !**tp) {
                match attribute(f, &s.lookalikes) {
                    Some(l) => *counts.entry((l.id.clone(), f.detector.clone())).or_default() += 1,
                    None => unattributed += 1,
                }
            }
            let mut list: Vec<Attribution> = counts
                .into_iter()
                .map(|((lookalike, detector), false_positives)| Attribution { lookalike, detector, false_positives })
                .collect();
            list.sort_by(|a, b| b.false_positives.cmp(&a.false_positives).then(a.lookalike.cmp(&b.lookalike)));
            (Some(list), Some(unattributed))
        }
        None => (None, None),
    };
    Report {
        slack_secs: slack,
        host_days,
        detectors: per_detector,
        overall,
        labels: outcomes,
        false_positives_by_lookalike: by_lookalike,
        unattributed_false_positives: unattributed,
    }
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn opt_num(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

fn duration(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.0}s")
    } else if secs < 7200.0 {
        format!("{:.1}m", secs / 60.0)
    } else {
        format!("{:.1}h", secs / 3600.0)
    }
}

/// The human-readable table of a report.
pub fn render_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<18} {:>9} {:>8} {:>7} {:>12} {:>8} {:>9} {:>5} {:>12} {:>10} {:>10}",
        "detector",
        "instances",
        "detected",
        "recall",
        "recall(peer)",
        "findings",
        "precision",
        "fp",
        "fp/1000 h-d",
        "ttd med",
        "ttd max"
    );
    for m in r.detectors.iter().chain(std::iter::once(&r.overall)) {
        let ttd = m.time_to_detect_secs;
        let _ = writeln!(
            s,
            "{:<18} {:>9} {:>8} {:>7} {:>12} {:>8} {:>9} {:>5} {:>12} {:>10} {:>10}",
            m.detector,
            m.instances,
            m.detected,
            opt_pct(m.recall),
            opt_pct(m.recall_with_peer),
            m.findings,
            opt_pct(m.precision),
            m.false_positives,
            opt_num(m.false_positives_per_1000_host_days),
            ttd.map_or("-".into(), |t| duration(t.median)),
            ttd.map_or("-".into(), |t| duration(t.max)),
        );
    }
    let _ = writeln!(s, "(slack {} s each side; host-days {})", r.slack_secs, opt_num(r.host_days));
    let missed: Vec<&LabelOutcome> = r.labels.iter().filter(|o| !o.detected).collect();
    if !missed.is_empty() {
        let _ = writeln!(s, "\nmissed:");
        for o in missed {
            let _ = writeln!(
                s,
                "  {:<17} {:<13} {} -> {}",
                o.detector,
                o.variant,
                o.host,
                o.peer.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(list) = &r.false_positives_by_lookalike {
        let _ = writeln!(s, "\nfalse positives by look-alike:");
        for a in list {
            let _ = writeln!(s, "  {:<24} {:<17} {}", a.lookalike, a.detector, a.false_positives);
        }
        let _ = writeln!(s, "  {:<24} {:<17} {}", "(unattributed)", "", r.unattributed_false_positives.unwrap_or(0));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(detector: &str, host: &str, peer: Option<&str>, start: u64, end: u64) -> Label {
        Label {
            detector: detector.into(),
            host: host.into(),
            peer: peer.map(str::to_string),
            start,
            end,
            variant: "v".into(),
            note: String::new(),
        }
    }

    fn lookalike(id: &str, hosts: &[&str], peers: &[&str], fools: &[&str]) -> LookAlikeRef {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        LookAlikeRef {
            id: id.into(),
            hosts: strings(hosts),
            peers: strings(peers),
            fools: strings(fools),
            start: None,
            end: None,
        }
    }

    fn finding(detector: &str, host: &str, peer: Option<&str>, ws: u64, we: u64) -> Finding {
        Finding {
            detector: detector.into(),
            host: host.into(),
            peer: peer.map(str::to_string),
            window_start: ws,
            window_end: we,
            score: 80.0,
            severity: "medium".into(),
        }
    }

    #[test]
    fn known_answer() {
        let labels = vec![
            label("beaconing", "10.0.0.1", Some("1.2.3.4"), 10_000, 20_000),
            label("beaconing", "10.0.0.2", Some("5.6.7.8"), 10_000, 20_000),
            label("exfiltration", "10.0.0.3", Some("9.9.9.9"), 30_000, 31_000),
            label("lateral_movement", "10.0.0.4", None, 40_000, 41_000),
        ];
        let findings = vec![
            // Detects label 0 with the right peer, 2000 s after it started.
            finding("beaconing", "10.0.0.1", Some("1.2.3.4"), 12_000, 15_600),
            // Detects label 1 but names the wrong peer.
            finding("beaconing", "10.0.0.2", Some("8.8.8.8"), 9_000, 12_600),
            // Right host, wrong detector: a false positive, and label 2 stays missed.
            finding("beaconing", "10.0.0.3", Some("9.9.9.9"), 30_000, 31_000),
            // Ends 60 s before the label starts: inside one 60 s interval of slack.
            finding("lateral_movement", "10.0.0.4", None, 39_000, 39_940),
            // Two unrelated false positives.
            finding("lateral_movement", "10.0.0.9", None, 1_000, 2_000),
            finding("exfiltration", "10.0.0.8", Some("4.4.4.4"), 1_000, 2_000),
        ];
        let scenario = ScenarioInfo { aggregation: 60, test_host_days: 50.0, lookalikes: Vec::new() };
        let r = evaluate(&labels, &findings, Some(&scenario));
        assert_eq!(r.slack_secs, 60);
        let b = &r.detectors[0];
        assert_eq!(b.detector, "beaconing");
        assert_eq!((b.instances, b.detected, b.detected_with_peer), (2, 2, 1));
        assert_eq!(b.recall, Some(1.0));
        assert_eq!(b.recall_with_peer, Some(0.5));
        assert_eq!((b.findings, b.true_positives, b.false_positives), (3, 2, 1));
        assert!((b.precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(b.false_positives_per_1000_host_days, Some(20.0));
        // ttd: label 0 -> 2000 s, label 1 -> 0 (finding started before the label).
        assert_eq!(b.time_to_detect_secs, Some(TimeToDetect { median: 1000.0, mean: 1000.0, max: 2000.0 }));
        let e = &r.detectors[1];
        assert_eq!(
            (e.detector.as_str(), e.instances, e.detected, e.findings, e.false_positives),
            ("exfiltration", 1, 0, 1, 1)
        );
        assert_eq!(e.precision, Some(0.0));
        assert_eq!(e.time_to_detect_secs, None);
        let l = &r.detectors[2];
        assert_eq!((l.instances, l.detected, l.detected_with_peer, l.findings, l.true_positives), (1, 1, 1, 2, 1));
        let o = &r.overall;
        assert_eq!((o.instances, o.detected, o.findings, o.true_positives, o.false_positives), (4, 3, 6, 3, 3));
        assert_eq!(o.recall, Some(0.75));
        assert_eq!(o.false_positives_per_1000_host_days, Some(60.0));
        assert_eq!(r.unattributed_false_positives, Some(3));
        // Outside the slack: the same lateral finding 61 s too early misses.
        let early = finding("lateral_movement", "10.0.0.4", None, 39_000, 39_939);
        assert!(!matches(&early, &labels[3], 60));
        let table = render_table(&r);
        assert!(table.contains("beaconing") && table.contains("66.7%") && table.contains("missed:"), "{table}");
    }

    #[test]
    fn false_positives_are_attributed_to_lookalikes() {
        let lookalikes = vec![
            lookalike("edr", &["10.0.0.1", "10.0.0.2"], &["7.7.7.7"], &[]),
            lookalike("bastion", &["10.0.0.5"], &[], &["lateral_movement"]),
            lookalike("ntp", &["10.0.0.5"], &[], &["beaconing"]),
            LookAlikeRef {
                start: Some(100),
                end: Some(200),
                ..lookalike("scrapes", &["10.0.0.6"], &["10.0.0.1"], &[])
            },
        ];
        let scenario = ScenarioInfo { aggregation: 600, test_host_days: 10.0, lookalikes };
        let findings = vec![
            finding("beaconing", "10.0.0.2", Some("7.7.7.7"), 0, 10),
            finding("lateral_movement", "10.0.0.5", Some("10.0.0.9"), 0, 10),
            // Reverse pairing: the scraped host reported with the scraper as peer.
            finding("lateral_movement", "10.0.0.1", Some("10.0.0.6"), 150, 160),
            // Same, outside the look-alike's time span.
            finding("lateral_movement", "10.0.0.1", Some("10.0.0.6"), 5_000, 5_100),
        ];
        let r = evaluate(&[], &findings, Some(&scenario));
        let list = r.false_positives_by_lookalike.unwrap();
        let get = |id: &str| list.iter().filter(|a| a.lookalike == id).map(|a| a.false_positives).sum::<usize>();
        assert_eq!((get("edr"), get("bastion"), get("scrapes")), (1, 1, 1));
        assert_eq!(r.unattributed_false_positives, Some(1));
        assert_eq!(r.overall.recall, None);
        assert_eq!(r.overall.false_positives_per_1000_host_days, Some(400.0));
    }

    #[test]
    fn parses_findings_and_labels_and_rejects_bad_lines() {
        let text = r#"{"detector":"beaconing","host":"10.20.4.17","peer":"198.51.100.23","port":443,"window_start":"2026-11-20T13:00:00Z","window_end":"2026-11-20T14:00:00Z","score":87.5,"severity":"high"}

{"detector":"lateral_movement","host":"10.20.4.18","peer":null,"window_start":1795849200,"window_end":1795849260,"score":55,"severity":"low"}"#;
        let f = parse_findings(text).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].window_start, 1_795_179_600);
        assert_eq!(f[0].window_end - f[0].window_start, 3600);
        assert_eq!(f[1].peer, None);
        let err = parse_findings("{\"detector\":\"x\"}\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(parse_findings("not json").is_err());
        assert!(
            parse_findings(
                r#"{"detector":"b","host":"h","window_start":"yesterday","window_end":1,"score":1,"severity":"low"}"#
            )
            .is_err()
        );
        let labels = parse_labels(
            r#"{"detector":"exfiltration","host":"10.20.7.9","peer":"203.0.113.50","start":1763600000,"end":1763605400,"variant":"burst","note":"x"}"#,
        )
        .unwrap();
        assert_eq!(labels[0].end - labels[0].start, 5400);
        assert!(parse_labels(r#"{"detector":"e","host":"h","peer":null,"start":5,"end":1}"#).is_err());
    }

    #[test]
    fn scenario_info_reads_the_needed_fields() {
        let info = ScenarioInfo::from_json(
            r#"{"parameters":{"aggregation":60},"test":{"host_days":61.5},"lookalikes":[{"id":"a","hosts":["1"],"peers":[],"fools":["x"]}]}"#,
        )
        .unwrap();
        assert_eq!(info.aggregation, 60);
        assert_eq!(info.test_host_days, 61.5);
        assert_eq!(info.lookalikes[0].id, "a");
        assert!(ScenarioInfo::from_json("{}").is_err());
    }
}
