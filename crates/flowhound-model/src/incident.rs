//! Incidents: the findings of one detector about one host, peer and port, from the first
//! to the last, until the activity has been quiet for `incident_quiet_secs`
//! ([`DetectConfig`](crate::DetectConfig), default one day).
//!
//! A beacon that sleeps between bursts, or an exfiltration that resumes every night,
//! is one incident, not one finding per burst or per scoring cycle, so it pages once.
//! `score` and `hunt` fold a batch's findings into one line per incident (`fold`);
//! `serve` keeps the open incidents in its checkpoint ([`Tracker`]) and reports an
//! incident when it opens, when its severity rises, and when it closes — never again
//! for each cycle it goes on. The on-call runbook (docs/serve.md) relies on this.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::{Finding, IncidentRef, IncidentState, Severity};

/// What makes two findings the same incident: detector, host, peer, port, protocol.
fn key(f: &Finding) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    format!(
        "{}|{}|{}|{}|{}",
        f.detector,
        f.host,
        opt(f.peer.clone()),
        opt(f.port.map(|p| p.to_string())),
        opt(f.protocol.map(|p| p.to_string()))
    )
}

fn incident_id(key: &str, first_start: u64) -> String {
    let digest = Sha256::digest(format!("{key}|{first_start}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("inc-{hex}")
}

/// Folds a batch's findings into one line per incident: the incident's strongest finding,
/// spanning its first to its last window, with the count of findings folded in. An
/// incident whose last activity is `quiet_secs` or more before `data_end` is closed,
/// any other open. Output is sorted like [`crate::finding::merge`]'s.
pub(crate) fn fold(mut findings: Vec<Finding>, quiet_secs: u64, data_end: u64) -> Vec<Finding> {
    findings.sort_by(|a, b| key(a).cmp(&key(b)).then(a.window_start.cmp(&b.window_start)));
    let mut out: Vec<Finding> = Vec::new();
    let mut current: Option<(String, Finding, u64, u64)> = None;
    let finish = |(k, mut f, first, n): (String, Finding, u64, u64), out: &mut Vec<Finding>| {
        f.window_start = first;
        let state = if f.window_end.saturating_add(quiet_secs) <= data_end {
            IncidentState::Closed
        } else {
            IncidentState::Open
        };
        f.incident = Some(IncidentRef { id: incident_id(&k, first), state, findings: n });
        out.push(f);
    };
    for f in findings {
        let k = key(&f);
        if let Some((ck, strongest, _, n)) = current.as_mut()
            && *ck == k
            && f.window_start <= strongest.window_end.saturating_add(quiet_secs)
        {
            let end = strongest.window_end.max(f.window_end);
            *n += 1;
            if f.score > strongest.score {
                *strongest = f;
            }
            strongest.window_end = end;
            continue;
        }
        if let Some(done) = current.take() {
            finish(done, &mut out);
        }
        let first = f.window_start;
        current = Some((k, f, first, 1));
    }
    if let Some(done) = current.take() {
        finish(done, &mut out);
    }
    out.sort_by(|a, b| {
        (a.window_start, a.detector, &a.host, &a.peer).cmp(&(b.window_start, b.detector, &b.host, &b.peer))
    });
    out
}

/// An incident `serve` has reported and not closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OpenIncident {
    id: String,
    first_start: u64,
    last_end: u64,
    severity: Severity,
    max_score: f64,
    findings: u64,
    /// The strongest finding so far, as written: the closing line repeats it.
    strongest: serde_json::Value,
}

/// The open incidents of `serve`, kept in its checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    open: BTreeMap<String, OpenIncident>,
}

/// Open incidents a tracker holds at most; past it the longest-quiet ones are closed
/// early (each still reported), so a flood of findings cannot grow the checkpoint without
/// bound.
pub const MAX_OPEN_INCIDENTS: usize = 20_000;

impl Tracker {
    /// Open incidents.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Folds one cycle's findings in and returns the lines to report: findings that open
    /// an incident or raise its severity (state `open` / `escalated`, spanning the whole
    /// incident so far). A finding of an open incident that changes nothing the on-call
    /// acts on is folded in silently.
    pub fn observe(&mut self, mut findings: Vec<Finding>) -> Vec<Finding> {
        findings.sort_by_key(|f| f.window_start);
        let mut report = Vec::new();
        for mut f in findings {
            let k = key(&f);
            let line = |f: &Finding| serde_json::to_value(f).unwrap_or(serde_json::Value::Null);
            match self.open.get_mut(&k) {
                None => {
                    let id = incident_id(&k, f.window_start);
                    f.incident = Some(IncidentRef { id: id.clone(), state: IncidentState::Open, findings: 1 });
                    self.open.insert(
                        k,
                        OpenIncident {
                            id,
                            first_start: f.window_start,
                            last_end: f.window_end,
                            severity: f.severity,
                            max_score: f.score,
                            findings: 1,
                            strongest: line(&f),
                        },
                    );
                    report.push(f);
                }
                Some(inc) => {
                    inc.findings += 1;
                    inc.last_end = inc.last_end.max(f.window_end);
                    inc.first_start = inc.first_start.min(f.window_start);
                    let escalated = f.severity > inc.severity;
                    if f.score > inc.max_score {
                        inc.max_score = f.score;
                        inc.severity = inc.severity.max(f.severity);
                        f.window_start = inc.first_start;
                        f.incident = Some(IncidentRef {
                            id: inc.id.clone(),
                            state: if escalated { IncidentState::Escalated } else { IncidentState::Open },
                            findings: inc.findings,
                        });
                        inc.strongest = line(&f);
                        if escalated {
                            report.push(f);
                        }
                    }
                }
            }
        }
        report
    }

    /// Closes the incidents quiet since `quiet_secs` before `watermark` (and, past
    /// [`MAX_OPEN_INCIDENTS`], the longest-quiet others) and returns their closing lines:
    /// each incident's strongest finding over its whole span, state `closed`.
    pub fn close_quiet(&mut self, watermark: u64, quiet_secs: u64) -> Vec<serde_json::Value> {
        let mut closing: Vec<String> = self
            .open
            .iter()
            .filter(|(_, inc)| inc.last_end.saturating_add(quiet_secs) <= watermark)
            .map(|(k, _)| k.clone())
            .collect();
        let surplus = self.open.len().saturating_sub(closing.len()).saturating_sub(MAX_OPEN_INCIDENTS);
        if surplus > 0 {
            let mut rest: Vec<(&u64, &String)> =
                self.open.iter().filter(|(k, _)| !closing.contains(k)).map(|(k, inc)| (&inc.last_end, k)).collect();
            rest.sort();
            let early: Vec<String> = rest.iter().take(surplus).map(|(_, k)| (*k).clone()).collect();
            closing.extend(early);
        }
        let mut lines = Vec::new();
        for k in closing {
            let Some(inc) = self.open.remove(&k) else { continue };
            let mut line = inc.strongest;
            if let serde_json::Value::Object(map) = &mut line {
                map.insert("window_start".into(), flowhound_flowlog::time::format_rfc3339(inc.first_start).into());
                map.insert("window_end".into(), flowhound_flowlog::time::format_rfc3339(inc.last_end).into());
                map.insert(
                    "incident".into(),
                    serde_json::to_value(IncidentRef {
                        id: inc.id,
                        state: IncidentState::Closed,
                        findings: inc.findings,
                    })
                    .unwrap_or_default(),
                );
            }
            lines.push(line);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::BEACONING;

    const H: u64 = 3600;

    fn finding(host: &str, start: u64, end: u64, score: f64) -> Finding {
        let severity = if score >= 80.0 {
            Severity::High
        } else if score >= 60.0 {
            Severity::Medium
        } else {
            Severity::Low
        };
        Finding {
            detector: BEACONING,
            host: host.into(),
            peer: Some("203.0.113.9".into()),
            port: Some(443),
            protocol: Some(6),
            window_start: start,
            window_end: end,
            score,
            severity,
            summary: format!("beacon at {score}"),
            evidence: serde_json::Map::new(),
            model: "fh-test".into(),
            interface_id: None,
            instance_id: None,
            vpc_id: None,
            related_hosts: Vec::new(),
            incident: None,
        }
    }

    #[test]
    fn bursts_closer_than_the_quiet_period_are_one_incident() {
        // A beacon active 1 h in every 8 for two days, and another host once.
        let mut findings: Vec<Finding> =
            (0..6).map(|i| finding("10.0.0.1", i * 8 * H, i * 8 * H + H, 60.0 + i as f64)).collect();
        findings.push(finding("10.0.0.2", 0, H, 90.0));
        let folded = fold(findings.clone(), 24 * H, 48 * H);
        assert_eq!(folded.len(), 2, "{folded:#?}");
        let one = folded.iter().find(|f| f.host == "10.0.0.1").unwrap();
        assert_eq!((one.window_start, one.window_end, one.score), (0, 41 * H, 65.0));
        let inc = one.incident.as_ref().unwrap();
        assert_eq!((inc.state, inc.findings), (IncidentState::Open, 6));
        let other = folded.iter().find(|f| f.host == "10.0.0.2").unwrap();
        assert_eq!(other.incident.as_ref().unwrap().state, IncidentState::Closed);
        // A quiet period shorter than the sleep splits it into one incident per burst.
        assert_eq!(fold(findings, 6 * H, 78 * H).len(), 7);
    }

    #[test]
    fn serve_reports_an_incident_once_then_on_escalation_and_closing() {
        let mut tracker = Tracker::default();
        let quiet = 24 * H;
        // Cycle 1: it opens.
        let report = tracker.observe(vec![finding("10.0.0.1", 0, H, 65.0)]);
        assert_eq!(report.len(), 1);
        let id = report[0].incident.as_ref().unwrap().id.clone();
        assert_eq!(report[0].incident.as_ref().unwrap().state, IncidentState::Open);
        assert!(tracker.close_quiet(H, quiet).is_empty());
        // Cycles 2-10: it goes on at the same severity; nothing is reported.
        for c in 1..10 {
            assert!(tracker.observe(vec![finding("10.0.0.1", 0, (c + 1) * H, 66.0)]).is_empty());
            assert!(tracker.close_quiet((c + 1) * H, quiet).is_empty());
        }
        // It turns high: reported once as escalated, spanning the incident, same id.
        let report = tracker.observe(vec![finding("10.0.0.1", 9 * H, 11 * H, 85.0)]);
        assert_eq!(report.len(), 1);
        let inc = report[0].incident.as_ref().unwrap();
        assert_eq!((inc.id.as_str(), inc.state, inc.findings), (id.as_str(), IncidentState::Escalated, 11));
        assert_eq!((report[0].window_start, report[0].window_end), (0, 11 * H));
        assert!(tracker.observe(vec![finding("10.0.0.1", 11 * H, 12 * H, 84.0)]).is_empty());
        // A day of quiet closes it, with its whole span and strongest score.
        assert!(tracker.close_quiet(12 * H + quiet - 1, quiet).is_empty());
        let closed = tracker.close_quiet(12 * H + quiet, quiet);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0]["incident"]["state"], "closed");
        assert_eq!(closed[0]["incident"]["id"], id.as_str());
        assert_eq!(closed[0]["score"], 85.0);
        assert_eq!(closed[0]["window_end"], "1970-01-01T12:00:00Z");
        assert!(tracker.is_empty());
        // Activity after it closed is a new incident.
        let report = tracker.observe(vec![finding("10.0.0.1", 40 * H, 41 * H, 70.0)]);
        assert_ne!(report[0].incident.as_ref().unwrap().id, id);
        // The tracker survives a checkpoint.
        let json = serde_json::to_string(&tracker).unwrap();
        assert_eq!(serde_json::from_str::<Tracker>(&json).unwrap(), tracker);
    }
}
