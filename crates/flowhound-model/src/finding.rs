//! Findings as docs/findings.md defines them (with the reference to the incident a finding
//! line reports, folded in by [`crate::incident`]), severities, and the merging of
//! consecutive anomalous windows of one incident into one finding.

use flowhound_flowlog::time::format_rfc3339;
use serde::{Deserialize, Serialize, Serializer};

/// Detector names of docs/findings.md.
pub(crate) const BEACONING: &str = "beaconing";
pub(crate) const EXFILTRATION: &str = "exfiltration";
pub(crate) const LATERAL_MOVEMENT: &str = "lateral_movement";

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Score thresholds of the severities (docs/findings.md: 50 / 70 / 90 unless configured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityThresholds {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Default for SeverityThresholds {
    fn default() -> SeverityThresholds {
        SeverityThresholds { low: 50.0, medium: 70.0, high: 90.0 }
    }
}

impl SeverityThresholds {
    /// The severity of `score`, or `None` below the reporting threshold.
    pub fn classify(&self, score: f64) -> Option<Severity> {
        if score >= self.high {
            Some(Severity::High)
        } else if score >= self.medium {
            Some(Severity::Medium)
        } else if score >= self.low {
            Some(Severity::Low)
        } else {
            None
        }
    }

    /// True when the thresholds are finite, in 0–100 and increasing.
    pub fn is_valid(&self) -> bool {
        let all = [self.low, self.medium, self.high];
        all.iter().all(|v| v.is_finite() && (0.0..=100.0).contains(v))
            && self.low <= self.medium
            && self.medium <= self.high
    }
}

fn rfc3339<S: Serializer>(t: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*t))
}

fn one_decimal<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 10.0).round() / 10.0)
}

/// One finding, serialising exactly to a line of docs/findings.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub detector: &'static str,
    pub host: String,
    pub peer: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<u8>,
    #[serde(serialize_with = "rfc3339")]
    pub window_start: u64,
    #[serde(serialize_with = "rfc3339")]
    pub window_end: u64,
    #[serde(serialize_with = "one_decimal")]
    pub score: f64,
    pub severity: Severity,
    pub summary: String,
    pub evidence: serde_json::Map<String, serde_json::Value>,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// The other hosts of the same campaign (beaconing to the same destination network).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_hosts: Vec<String>,
    /// The incident this line reports ([`crate::incident`]); set once findings are folded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRef>,
}

/// Where a finding line stands in its incident's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// The first report of the incident (serve), or an incident still active at the end
    /// of a batch's data (score, hunt).
    Open,
    /// Its severity rose since it was last reported (serve).
    Escalated,
    /// Quiet for the quiet period: nothing more will be reported under this id.
    Closed,
}

impl IncidentState {
    /// The name used in findings lines.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Escalated => "escalated",
            IncidentState::Closed => "closed",
        }
    }
}

/// The incident a finding line belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    /// `inc-` and 16 hex digits, stable for the incident's life.
    pub id: String,
    pub state: IncidentState,
    /// Findings (merged windows of scoring cycles or of a batch) folded into it so far.
    pub findings: u64,
}

/// A scored window of one detector before merging: what [`merge`] folds into findings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub detector: &'static str,
    pub host: String,
    pub peer: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<u8>,
    /// What the incident is keyed by besides host and peer (e.g. "scan" for scans), so
    /// a scan and a quiet admin session of one host stay separate findings.
    pub kind: &'static str,
    pub start: u64,
    pub end: u64,
    pub score: f64,
    pub summary: String,
    pub evidence: serde_json::Map<String, serde_json::Value>,
    pub interface_id: Option<String>,
    pub instance_id: Option<String>,
}

/// Folds hits of one incident — same detector, host, peer, port and kind, with activity
/// no more than `gap_secs` apart — into one finding spanning all of it. The finding
/// keeps the summary and evidence of its strongest hit, and records how many windows
/// were merged. Hits below `thresholds.low` are dropped first. Output is sorted by
/// (window_start, detector, host, peer).
pub(crate) fn merge(mut hits: Vec<Hit>, gap_secs: u64, thresholds: &SeverityThresholds, model: &str) -> Vec<Finding> {
    hits.retain(|h| h.score.is_finite() && thresholds.classify(h.score).is_some());
    hits.sort_by(|a, b| {
        (a.detector, &a.host, &a.peer, a.port, a.kind, a.start)
            .cmp(&(b.detector, &b.host, &b.peer, b.port, b.kind, b.start))
    });
    let mut out: Vec<Finding> = Vec::new();
    let mut current: Option<(Hit, u64)> = None;
    for hit in hits {
        if let Some((acc, merged)) = current.as_mut() {
            let same = acc.detector == hit.detector
                && acc.host == hit.host
                && acc.peer == hit.peer
                && acc.port == hit.port
                && acc.kind == hit.kind;
            if same && hit.start <= acc.end.saturating_add(gap_secs) {
                acc.end = acc.end.max(hit.end);
                *merged += 1;
                if hit.score > acc.score {
                    let (start, end) = (acc.start, acc.end);
                    *acc = Hit { start, end, ..hit };
                }
                continue;
            }
        }
        if let Some((acc, merged)) = current.take() {
            out.push(to_finding(acc, merged, thresholds, model));
        }
        current = Some((hit, 1));
    }
    if let Some((acc, merged)) = current.take() {
        out.push(to_finding(acc, merged, thresholds, model));
    }
    out.sort_by(|a, b| {
        (a.window_start, a.detector, &a.host, &a.peer).cmp(&(b.window_start, b.detector, &b.host, &b.peer))
    });
    out
}

fn to_finding(hit: Hit, merged: u64, thresholds: &SeverityThresholds, model: &str) -> Finding {
    let score = hit.score.clamp(0.0, 100.0);
    let severity = thresholds.classify(score).unwrap_or(Severity::Low);
    let mut evidence = hit.evidence;
    evidence.insert("windows_merged".into(), merged.into());
    Finding {
        detector: hit.detector,
        host: hit.host,
        peer: hit.peer,
        port: hit.port,
        protocol: hit.protocol,
        window_start: hit.start,
        window_end: hit.end.max(hit.start),
        score,
        severity,
        summary: hit.summary,
        evidence,
        model: model.to_string(),
        interface_id: hit.interface_id,
        instance_id: hit.instance_id,
        vpc_id: None,
        related_hosts: Vec::new(),
        incident: None,
    }
}

/// Human-readable byte counts for summaries ("1.8 GB").
pub fn human_bytes(bytes: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes.max(0.0);
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 { format!("{v:.0} {}", units[i]) } else { format!("{v:.1} {}", units[i]) }
}

/// Human-readable durations for summaries ("9 h", "40 min", "45 s").
pub(crate) fn human_secs(secs: f64) -> String {
    if secs >= 5400.0 {
        format!("{:.0} h", secs / 3600.0)
    } else if secs >= 90.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(start: u64, end: u64, score: f64) -> Hit {
        Hit {
            detector: BEACONING,
            host: "10.0.0.5".into(),
            peer: Some("198.51.100.7".into()),
            port: Some(443),
            protocol: Some(6),
            kind: "beacon",
            start,
            end,
            score,
            summary: format!("score {score}"),
            evidence: serde_json::Map::new(),
            interface_id: Some("eni-1".into()),
            instance_id: None,
        }
    }

    #[test]
    fn serialises_to_the_contract_shape() {
        let f = merge(vec![hit(1_795_694_400, 1_795_698_000, 87.54)], 900, &SeverityThresholds::default(), "m1");
        let v: serde_json::Value = serde_json::to_value(&f[0]).unwrap();
        assert_eq!(v["detector"], "beaconing");
        assert_eq!(v["window_start"], "2026-11-26T12:00:00Z");
        assert_eq!(v["score"], 87.5);
        assert_eq!(v["severity"], "medium");
        assert_eq!(v["model"], "m1");
        assert_eq!(v["interface_id"], "eni-1");
        assert!(v.get("instance_id").is_none());
        assert!(v["evidence"].is_object());
        assert_eq!(v["port"], 443);
    }

    #[test]
    fn consecutive_windows_merge_into_one_finding() {
        let hits = vec![hit(0, 900, 60.0), hit(900, 1800, 95.0), hit(1800, 2700, 55.0), hit(10_000, 10_900, 70.0)];
        let f = merge(hits, 900, &SeverityThresholds::default(), "m");
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].window_start, f[0].window_end), (0, 2700));
        assert_eq!(f[0].score, 95.0);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].evidence["windows_merged"], 3);
        assert_eq!(f[1].window_start, 10_000);
    }

    #[test]
    fn different_peers_and_low_scores_stay_apart() {
        let mut other = hit(900, 1800, 80.0);
        other.peer = Some("203.0.113.9".into());
        let f = merge(vec![hit(0, 900, 80.0), other, hit(1800, 2700, 20.0)], 900, &SeverityThresholds::default(), "m");
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|x| x.window_end <= 1800));
    }

    #[test]
    fn severities_follow_thresholds() {
        let t = SeverityThresholds::default();
        assert_eq!(t.classify(49.9), None);
        assert_eq!(t.classify(50.0), Some(Severity::Low));
        assert_eq!(t.classify(70.0), Some(Severity::Medium));
        assert_eq!(t.classify(90.0), Some(Severity::High));
        assert!(t.is_valid());
        assert!(!SeverityThresholds { low: 80.0, medium: 70.0, high: 90.0 }.is_valid());
    }
}
