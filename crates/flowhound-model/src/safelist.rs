//! The safelist: known-good traffic a hunter has signed off, applied at score time (not at
//! ingest, so changing it re-scores history — RITA's import-time filters cannot).
//!
//! A file (TOML with `[[entry]]` tables, or JSON `{"entry": [...]}` / a bare array) lists
//! entries; each narrows by any of `cidr` (the peer), `host` (an address or CIDR of the
//! internal host), `port` and `detector`, and must say who owns it, why, and until when.
//! Expired entries are ignored with a warning so a forgotten exception cannot live forever.

use flowhound_features::Cidr;
use flowhound_flowlog::Addr;
use serde::Deserialize;

/// Errors reading a safelist.
#[derive(Debug, thiserror::Error)]
pub enum SafelistError {
    #[error("safelist is neither valid TOML nor JSON: {0}")]
    Syntax(String),
    #[error("safelist entry {index}: {message}")]
    Entry { index: usize, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    cidr: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    detector: Option<String>,
    owner: String,
    reason: String,
    /// RFC 3339 time or a date (`2027-03-31`, meaning its end); absent = never expires.
    expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, alias = "entries")]
    entry: Vec<RawEntry>,
}

/// One checked safelist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SafelistEntry {
    pub peer: Option<Cidr>,
    pub host: Option<Cidr>,
    pub port: Option<u16>,
    pub detector: Option<String>,
    pub owner: String,
    pub reason: String,
    pub expires: Option<u64>,
}

/// The entries in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Safelist {
    entries: Vec<SafelistEntry>,
}

fn parse_cidr_or_ip(s: &str) -> Option<Cidr> {
    if s.contains('/') {
        return s.parse().ok();
    }
    let ip: std::net::IpAddr = s.trim().parse().ok()?;
    Cidr::new(ip, if ip.is_ipv4() { 32 } else { 128 })
}

/// Parses `2027-03-31` (end of that day) or RFC 3339 with `Z` / offset.
fn parse_expiry(s: &str) -> Option<u64> {
    let s = s.trim();
    let date = s.get(..10)?;
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = flowhound_flowlog::time::days_from_civil(y, m, d);
    let base = u64::try_from(day).ok()? * 86_400;
    if s.len() == 10 {
        return Some(base + 86_399);
    }
    let rest = s.get(10..)?;
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')).or_else(|| rest.strip_prefix(' '))?;
    let hh: u64 = rest.get(0..2)?.parse().ok()?;
    let mm: u64 = rest.get(3..5)?.parse().ok()?;
    let ss: u64 = rest.get(6..8)?.parse().ok()?;
    let mut tail = rest.get(8..)?;
    if let Some(frac) = tail.strip_prefix('.') {
        tail = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let local = base + hh * 3600 + mm * 60 + ss;
    if tail.eq_ignore_ascii_case("z") {
        return Some(local);
    }
    let sign = tail.get(0..1)?;
    let oh: u64 = tail.get(1..3)?.parse().ok()?;
    let om: u64 = tail.get(4..6)?.parse().ok()?;
    let offset = oh * 3600 + om * 60;
    match sign {
        "+" => local.checked_sub(offset),
        "-" => Some(local + offset),
        _ => None,
    }
}

impl Safelist {
    /// Parses a safelist file's text (TOML or JSON) and keeps the entries in force at
    /// `now` (epoch seconds); expired entries are logged and dropped.
    pub fn parse(text: &str, now: u64) -> Result<Safelist, SafelistError> {
        let trimmed = text.trim_start();
        let raw: Vec<RawEntry> =
            if trimmed.starts_with('[') && trimmed.trim_end().ends_with(']') && !trimmed.starts_with("[[") {
                serde_json::from_str(text).map_err(|e| SafelistError::Syntax(e.to_string()))?
            } else if trimmed.starts_with('{') {
                let f: RawFile = serde_json::from_str(text).map_err(|e| SafelistError::Syntax(e.to_string()))?;
                f.entry
            } else {
                let f: RawFile = toml::from_str(text).map_err(|e| SafelistError::Syntax(e.to_string()))?;
                f.entry
            };
        let mut entries = Vec::new();
        for (index, r) in raw.into_iter().enumerate() {
            let bad = |message: String| SafelistError::Entry { index, message };
            if r.owner.trim().is_empty() || r.reason.trim().is_empty() {
                return Err(bad("owner and reason must not be empty".into()));
            }
            let peer = match &r.cidr {
                Some(c) => Some(parse_cidr_or_ip(c).ok_or_else(|| bad(format!("invalid cidr {c:?}")))?),
                None => None,
            };
            let host = match &r.host {
                Some(c) => Some(parse_cidr_or_ip(c).ok_or_else(|| bad(format!("invalid host {c:?}")))?),
                None => None,
            };
            if let Some(d) = &r.detector
                && !matches!(d.as_str(), "beaconing" | "exfiltration" | "lateral_movement")
            {
                return Err(bad(format!("unknown detector {d:?}")));
            }
            if peer.is_none() && host.is_none() && r.port.is_none() {
                return Err(bad("an entry must name at least one of cidr, host or port".into()));
            }
            let expires = match &r.expires {
                Some(e) => Some(
                    parse_expiry(e)
                        .ok_or_else(|| bad(format!("invalid expires {e:?} (use 2027-03-31 or RFC 3339)")))?,
                ),
                None => None,
            };
            if let Some(t) = expires
                && t < now
            {
                tracing::warn!(entry = index, owner = %r.owner, reason = %r.reason, expires = %r.expires.as_deref().unwrap_or(""), "safelist entry expired, ignored");
                continue;
            }
            entries.push(SafelistEntry {
                peer,
                host,
                port: r.port,
                detector: r.detector,
                owner: r.owner,
                reason: r.reason,
                expires,
            });
        }
        Ok(Safelist { entries })
    }

    /// Entries in force.
    pub fn entries(&self) -> &[SafelistEntry] {
        &self.entries
    }

    /// The first entry covering a detector's view of (host, peer, port), if any. An
    /// entry with a `cidr` never matches a finding without a peer.
    pub fn matches(&self, detector: &str, host: Addr, peer: Option<Addr>, port: Option<u16>) -> Option<&SafelistEntry> {
        for e in &self.entries {
            if let Some(d) = &e.detector
                && d != detector
            {
                continue;
            }
            if let Some(h) = &e.host
                && !h.contains(host)
            {
                continue;
            }
            if let Some(c) = &e.peer {
                match peer {
                    Some(p) if c.contains(p) => {}
                    _ => continue,
                }
            }
            if let Some(p) = e.port
                && port != Some(p)
            {
                continue;
            }
            return Some(e);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Addr {
        Addr::from(s.parse::<std::net::IpAddr>().unwrap())
    }

    const NOW: u64 = 1_795_000_000; // 2026-11-18

    #[test]
    fn toml_entries_match_by_scope() {
        let text = r#"
            [[entry]]
            cidr = "198.51.100.0/24"
            port = 443
            detector = "beaconing"
            owner = "secops"
            reason = "vendor telemetry"
            expires = "2030-01-01"

            [[entry]]
            host = "10.0.5.9"
            owner = "dba"
            reason = "replication host"
        "#;
        let s = Safelist::parse(text, NOW).unwrap();
        assert_eq!(s.entries().len(), 2);
        assert!(s.matches("beaconing", a("10.1.1.1"), Some(a("198.51.100.23")), Some(443)).is_some());
        assert!(s.matches("beaconing", a("10.1.1.1"), Some(a("198.51.100.23")), Some(8443)).is_none());
        assert!(s.matches("exfiltration", a("10.1.1.1"), Some(a("198.51.100.23")), Some(443)).is_none());
        assert!(s.matches("lateral_movement", a("10.0.5.9"), None, None).is_some());
        assert!(s.matches("lateral_movement", a("10.0.5.10"), None, None).is_none());
    }

    #[test]
    fn expired_entries_are_ignored() {
        let text = r#"[
            {"cidr": "203.0.113.5", "owner": "a", "reason": "old test", "expires": "2026-01-01T00:00:00Z"},
            {"cidr": "203.0.113.6", "owner": "a", "reason": "current", "expires": "2026-12-01T10:00:00+02:00"}
        ]"#;
        let s = Safelist::parse(text, NOW).unwrap();
        assert_eq!(s.entries().len(), 1);
        assert!(s.matches("beaconing", a("10.0.0.1"), Some(a("203.0.113.5")), None).is_none());
        assert!(s.matches("beaconing", a("10.0.0.1"), Some(a("203.0.113.6")), None).is_some());
        assert_eq!(s.entries()[0].expires, Some(1_796_112_000));
    }

    #[test]
    fn bad_entries_are_refused() {
        let no_owner = r#"[{"cidr": "203.0.113.5", "owner": "", "reason": "x"}]"#;
        assert!(matches!(Safelist::parse(no_owner, NOW), Err(SafelistError::Entry { index: 0, .. })));
        let no_scope = r#"{"entry": [{"owner": "a", "reason": "x"}]}"#;
        assert!(Safelist::parse(no_scope, NOW).is_err());
        let bad_detector = r#"[{"port": 22, "owner": "a", "reason": "x", "detector": "dns"}]"#;
        assert!(Safelist::parse(bad_detector, NOW).is_err());
        let bad_date = r#"[{"port": 22, "owner": "a", "reason": "x", "expires": "soon"}]"#;
        assert!(Safelist::parse(bad_date, NOW).is_err());
        assert!(matches!(Safelist::parse("not [valid", NOW), Err(SafelistError::Syntax(_))));
    }
}
