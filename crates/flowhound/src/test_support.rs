//! Fixtures shared by the binary's unit tests.

use flowhound_model::{Finding, Severity};

/// A finding of `detector` about `host` over the 15-minute window starting at `start`,
/// with every optional field empty; tests set the fields they need with `..finding(…)`.
pub(crate) fn finding(detector: &'static str, host: &str, start: u64, score: f64, severity: Severity) -> Finding {
    Finding {
        detector,
        host: host.to_string(),
        peer: None,
        port: None,
        protocol: None,
        window_start: start,
        window_end: start + 900,
        score,
        severity,
        summary: String::new(),
        evidence: serde_json::Map::new(),
        model: "m".into(),
        interface_id: None,
        instance_id: None,
        vpc_id: None,
        related_hosts: Vec::new(),
        incident: None,
    }
}
