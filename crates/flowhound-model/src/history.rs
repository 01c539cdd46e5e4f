//! Histories: what training remembers about each host and destination (the [`Histories`]
//! of a [`Baseline`]), and the keys and volume sums by which they are built and looked up.
//!
//! The training code builds histories and the detectors look them up; both key destinations
//! with [`net_of`] and [`dest_key`] and sum volumes with [`bytes_by_window`], so what a
//! detector compares is what training recorded.
//!
//! [`Baseline`]: crate::Baseline

use std::collections::{BTreeMap, BTreeSet};

use flowhound_features::{Features, PairSeries};
use flowhound_flowlog::Addr;
use serde::{Deserialize, Serialize};

use crate::seasonal::HostSeasonal;

/// Cumulative horizons of the exfiltration sums: 1 h, 6 h, 24 h.
pub const VOLUME_HORIZONS: [u64; 3] = [3600, 6 * 3600, 86_400];
/// The seasonal volume feature: bytes to external addresses outside AWS, per window.
pub const VOLUME_FEATURE: &str = "bytes_out_external_non_aws";

/// How one host used one external destination in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestUse {
    /// An IP address, or `aws:<prefix>/16` for AWS-service destinations.
    pub key: String,
    pub days: u32,
    pub first_seen: u64,
    /// Largest bytes sent within 1 h, 6 h and 24 h.
    pub max: [u64; 3],
    /// Hours of day (bit per hour, UTC) in which bytes were sent.
    pub hours: u32,
}

/// A directed internal edge a host opened in training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeUse {
    pub dst: String,
    pub port: u16,
    pub days: u32,
    pub first_seen: u64,
}

/// Everything known about one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostHistory {
    pub ip: String,
    pub group: usize,
    pub first_seen: u64,
    pub last_seen: u64,
    pub windows: u64,
    pub dests: Vec<DestUse>,
    pub edges: Vec<EdgeUse>,
    /// Edge-days per (destination peer group, port): the host's back-off counts.
    pub edge_counts: Vec<(usize, u16, u32)>,
    pub edge_total: u32,
    /// Largest number of distinct internal destinations in one window.
    pub max_fanout: u32,
    /// Largest number of distinct (internal destination, port) pairs in one window.
    pub max_pairs: u32,
    /// Largest bytes to any single non-AWS external destination, per volume horizon.
    pub max_external: [u64; 3],
    /// Hours of day in which the host opened internal connections.
    pub edge_hours: u32,
    /// The host's seasonal statistics of [`VOLUME_FEATURE`] (hour-of-day cells), from the
    /// seasonal estimator; its peer group's [`Baseline::group_volume`](crate::Baseline::group_volume)
    /// is the prior.
    pub volume: HostSeasonal,
}

impl HostHistory {
    /// A host seen from `first_seen` to `last_seen` with nothing recorded yet.
    pub fn new(ip: String, group: usize, first_seen: u64, last_seen: u64) -> HostHistory {
        HostHistory {
            ip,
            group,
            first_seen,
            last_seen,
            windows: 0,
            dests: Vec::new(),
            edges: Vec::new(),
            edge_counts: Vec::new(),
            edge_total: 0,
            max_fanout: 0,
            max_pairs: 0,
            max_external: [0; 3],
            edge_hours: 0,
            volume: HostSeasonal::default(),
        }
    }
}

/// How widely a destination (address or /24) is used across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prevalence {
    pub key: String,
    pub hosts: u32,
    pub first_seen: u64,
    /// Hosts per peer group, as (group, hosts), for the groups that reach it.
    #[serde(default)]
    pub groups: Vec<(usize, u32)>,
}

/// A (host, peer /24, port) that beaconed regularly in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicPair {
    pub host: String,
    pub net: String,
    pub port: u16,
    pub period_secs: f64,
    pub strength: f64,
}

/// Histories that can be rebuilt for any prefix of the training period (the calibration
/// replays later days against histories of earlier ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Histories {
    pub until: u64,
    pub hosts: Vec<HostHistory>,
    pub prevalence: Vec<Prevalence>,
    /// Edge-days per (source group, destination group, port).
    pub group_edges: Vec<(usize, usize, u16, u32)>,
    pub periodic: Vec<PeriodicPair>,
}

/// The /24 (IPv4) or /48 (IPv6) holding `addr`, as text.
pub fn net_of(addr: Addr) -> String {
    match addr.to_ip() {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The destination key of exfiltration histories: the address, or its AWS /16 for
/// AWS-service destinations (S3 rotates addresses within its ranges).
pub fn dest_key(addr: Addr, aws: bool) -> String {
    if !aws {
        return addr.to_string();
    }
    match addr.to_ip() {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("aws:{}.{}.0.0/16", o[0], o[1])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("aws:{:x}:{:x}::/32", s[0], s[1])
        }
    }
}

/// Bytes each (host, destination key) sent per window, from the pair series.
pub fn bytes_by_window(pairs: &[PairSeries], window_secs: u64) -> BTreeMap<(Addr, String), BTreeMap<u64, u64>> {
    let mut out: BTreeMap<(Addr, String), BTreeMap<u64, u64>> = BTreeMap::new();
    for p in pairs {
        let key = (p.host, dest_key(p.peer, p.aws_service));
        let series = out.entry(key).or_default();
        let mut t = p.horizon_start;
        for (d, b) in p.start_deltas.iter().zip(&p.bytes) {
            t += u64::from(*d);
            *series.entry(t - t % window_secs).or_default() += b;
        }
    }
    out
}

/// Largest trailing sums over each of [`VOLUME_HORIZONS`], and per window its trailing sums.
pub(crate) fn trailing_sums(series: &BTreeMap<u64, u64>, window_secs: u64) -> Vec<(u64, [u64; 3])> {
    let points: Vec<(u64, u64)> = series.iter().map(|(&t, &b)| (t, b)).collect();
    let mut out = Vec::with_capacity(points.len());
    let mut lo = [0usize; 3];
    let mut sums = [0u64; 3];
    for (i, &(t, b)) in points.iter().enumerate() {
        let end = t + window_secs;
        for h in 0..3 {
            sums[h] += b;
            let from = end.saturating_sub(VOLUME_HORIZONS[h]);
            while lo[h] < i && points[lo[h]].0 < from {
                sums[h] -= points[lo[h]].1;
                lo[h] += 1;
            }
        }
        out.push((t, sums));
    }
    out
}

/// Hosts that relay the fleet's traffic: on a NAT gateway's interface every translated
/// flow appears as the gateway's own, so it contacts a large share of all external peers.
/// Interfaces without an instance id (requester-managed, v3+ logs) are gateways outright.
pub(crate) fn find_gateways(features: &Features) -> BTreeSet<Addr> {
    let mut out = BTreeSet::new();
    let mut instance: BTreeMap<Addr, (bool, bool)> = BTreeMap::new();
    for r in &features.rows {
        let e = instance.entry(r.host).or_default();
        e.0 |= r.interface_id.is_some();
        e.1 |= r.instance_id.is_some();
    }
    let mut peers_of: BTreeMap<Addr, BTreeSet<Addr>> = BTreeMap::new();
    for p in &features.pairs {
        peers_of.entry(p.host).or_default().insert(p.peer);
    }
    let hosts_with_metadata = instance.values().filter(|(_, i)| *i).count();
    for (host, (iface, inst)) in &instance {
        if hosts_with_metadata > 0 && *iface && !*inst {
            out.insert(*host);
        }
    }
    if peers_of.len() >= 3 {
        // Every peer a NATed host contacts is contacted by the gateway too, so the gateway
        // covers nearly all peers that more than one host contacts; an ordinary host covers
        // only the fleet-wide services.
        let mut hosts_per_peer: BTreeMap<Addr, u32> = BTreeMap::new();
        for peers in peers_of.values() {
            for p in peers {
                *hosts_per_peer.entry(*p).or_default() += 1;
            }
        }
        let shared: BTreeSet<Addr> = hosts_per_peer.iter().filter(|(_, n)| **n >= 2).map(|(p, _)| *p).collect();
        for (host, peers) in &peers_of {
            let covered = peers.iter().filter(|p| shared.contains(p)).count();
            if peers.len() >= 50 && covered * 10 >= shared.len() * 6 {
                out.insert(*host);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_sums_cover_their_horizons() {
        let mut s = BTreeMap::new();
        for i in 0..48u64 {
            s.insert(i * 900, 100);
        }
        let sums = trailing_sums(&s, 900);
        let last = sums.last().unwrap().1;
        assert_eq!(last, [400, 2400, 4800]);
        assert_eq!(sums[0].1, [100, 100, 100]);
    }

    #[test]
    fn keys_group_aws_by_prefix() {
        let a = Addr::from("52.216.10.7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(dest_key(a, true), "aws:52.216.0.0/16");
        assert_eq!(dest_key(a, false), "52.216.10.7");
        assert_eq!(net_of(a), "52.216.10.0/24");
    }
}
