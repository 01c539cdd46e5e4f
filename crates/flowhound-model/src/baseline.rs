//! The `Baseline` aggregate: everything `train` learns about normal behaviour and `score`
//! compares against — per-host histories, destination prevalence, known periodic pairs,
//! seasonal robust volume statistics with peer-group fallback, peer groups, an isolation
//! forest over host-window features, and per-detector calibration thresholds.
//!
//! Params follow linfa's idiom ([`BaselineParams`] → [`linfa::ParamGuard`] →
//! [`BaselineValidParams::fit`] → [`Baseline`]). Every collection is ordered (sorted
//! vectors, no hash maps) so identical input and params serialise to identical bytes.

use std::collections::{BTreeMap, BTreeSet};

use flowhound_features::{AddressBlocks, FEATURE_SCHEMA_VERSION, Features, HostWindow, PairSeries, feature_names};
use flowhound_flowlog::Addr;
use linfa::ParamGuard;
use linfa::traits::Fit;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::{self, Calibration, DetectConfig, Threshold};
use crate::iforest::{IsolationForest, IsolationForestError, IsolationForestParams};
use crate::peer_groups::{PeerGroupError, PeerGroupParams, PeerGroupParamsError, PeerGroups};
use crate::robust::quantile_in_place;
use crate::scaling::{RobustScaler, ScalingError};
use crate::seasonal::{
    HostSeasonal, SeasonalAccumulator, SeasonalBaseline, SeasonalError, SeasonalParams, SeasonalPrior,
};

/// Cumulative horizons of the exfiltration sums: 1 h, 6 h, 24 h.
pub const VOLUME_HORIZONS: [u64; 3] = [3600, 6 * 3600, 86_400];
pub use flowhound_flowlog::time::DAY;
/// The seasonal volume feature: bytes to external addresses outside AWS, per window.
pub const VOLUME_FEATURE: &str = "bytes_out_external_non_aws";
/// Smallest σ of a log-volume cell: a host that sends exactly the same bytes every hour
/// would otherwise make a 10 % change look like a 30σ event.
pub const VOLUME_MIN_SCALE: f64 = 0.35;
/// Per (calibration key, host) of one replayed day, the largest raw score.
type DayMaxima = Vec<(String, String, f64)>;
/// Raw score standing for "no candidate that host-day" in the calibration sample.
const NO_CANDIDATE: f64 = -1e6;

/// Errors in baseline parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineParamsError {
    #[error("invalid peer-group parameters: {0}")]
    PeerGroups(#[from] PeerGroupParamsError),
    #[error("shrinkage must be finite and positive, got {0}")]
    Shrinkage(f64),
    #[error("calibration_quantile must be in (0.5, 1), got {0}")]
    CalibrationQuantile(f64),
    #[error("invalid isolation forest parameters: {0}")]
    Forest(#[from] crate::iforest::IsolationForestParamsError),
}

/// Errors fitting a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    Params(#[from] BaselineParamsError),
    #[error("no host windows to learn from (is the training range empty?)")]
    Empty,
    #[error("scaling host-window features: {0}")]
    Scaling(#[from] ScalingError),
    #[error("isolation forest: {0}")]
    Forest(#[from] IsolationForestError),
    #[error("peer groups: {0}")]
    PeerGroups(#[from] PeerGroupError),
    #[error("seasonal volume baseline: {0}")]
    Seasonal(#[from] SeasonalError),
}

/// Checked baseline parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineValidParams {
    /// Peer grouping of host profiles (KMeans, k chosen by silhouette).
    pub peer_groups: PeerGroupParams,
    /// Seed from which the peer-group and forest seeds were derived.
    pub seed: u64,
    /// Pseudo-observations of the prior when shrinking a thin seasonal cell.
    pub shrinkage: f64,
    /// Quantile of the training period's per-host-day scores that sets each detector's threshold.
    pub calibration_quantile: f64,
    pub forest: IsolationForestParams,
}

/// Unchecked baseline parameters (builder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineParams(BaselineValidParams);

impl Default for BaselineParams {
    fn default() -> BaselineParams {
        BaselineParams(BaselineValidParams {
            peer_groups: PeerGroups::params()
                .k_max(8)
                .log1p_columns((0..PROFILE_FEATURES.len()).collect())
                .seed(0x666C_6F77),
            seed: 0x666C_6F77,
            shrinkage: 8.0,
            calibration_quantile: 0.999,
            forest: IsolationForestParams::new().n_trees(100).subsample_size(256),
        })
    }
}

impl BaselineParams {
    pub fn new() -> BaselineParams {
        BaselineParams::default()
    }
    pub fn peer_groups(mut self, p: PeerGroupParams) -> Self {
        self.0.peer_groups = p;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self.0.peer_groups = self.0.peer_groups.clone().seed(seed);
        self.0.forest = self.0.forest.clone().seed(seed ^ 0x5eed);
        self
    }
    pub fn shrinkage(mut self, k: f64) -> Self {
        self.0.shrinkage = k;
        self
    }
    pub fn calibration_quantile(mut self, q: f64) -> Self {
        self.0.calibration_quantile = q;
        self
    }
    pub fn forest(mut self, forest: IsolationForestParams) -> Self {
        self.0.forest = forest;
        self
    }

    /// Checks the params and fits (see [`BaselineValidParams::fit`]).
    pub fn fit(self, features: &Features, detect: &DetectConfig) -> Result<Baseline, BaselineError> {
        self.check()?.fit(features, detect)
    }
}

impl ParamGuard for BaselineParams {
    type Checked = BaselineValidParams;
    type Error = BaselineParamsError;

    fn check_ref(&self) -> Result<&BaselineValidParams, BaselineParamsError> {
        let p = &self.0;
        p.peer_groups.check_ref()?;
        if !(p.shrinkage.is_finite() && p.shrinkage > 0.0) {
            return Err(BaselineParamsError::Shrinkage(p.shrinkage));
        }
        if !(p.calibration_quantile > 0.5 && p.calibration_quantile < 1.0) {
            return Err(BaselineParamsError::CalibrationQuantile(p.calibration_quantile));
        }
        p.forest.check_ref()?;
        Ok(p)
    }

    fn check(self) -> Result<BaselineValidParams, BaselineParamsError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

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
    /// seasonal estimator; its peer group's [`Baseline::group_volume`] is the prior.
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

/// What the training period was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    pub start: u64,
    pub end: u64,
    pub window_secs: u64,
    pub aggregation_secs: u64,
    pub hosts: usize,
    pub windows: usize,
    pub pairs: usize,
    pub edges: usize,
    pub days: u64,
    /// The address blocks the training features were computed with; scoring computes its
    /// features with the same blocks.
    pub addresses: AddressBlocks,
}

/// The isolation forest over host-window features and its training score distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowForest {
    pub feature_names: Vec<String>,
    pub log1p_columns: Vec<usize>,
    pub scaler: RobustScaler,
    pub forest: IsolationForest,
    /// 99th percentile of training scores: above it a window is unusual.
    pub q99: f64,
    /// Per-group median of the scaled training windows, for peer-group distances.
    pub group_medians: Vec<Vec<f64>>,
}

/// The fitted baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub schema_version: u32,
    pub feature_schema_version: u32,
    pub params: BaselineValidParams,
    pub detect: DetectConfig,
    pub train: TrainInfo,
    pub groups: PeerGroups,
    /// Per-group seasonal expectation of [`VOLUME_FEATURE`], the prior of thin hosts.
    pub group_volume: Vec<SeasonalPrior>,
    /// Per-group median of the hosts' largest single-destination volumes.
    pub group_max_external: Vec<[u64; 3]>,
    pub histories: Histories,
    /// Addresses that relay other hosts' traffic (NAT gateways): never the subject of a
    /// finding and never counted in prevalence.
    pub gateways: Vec<String>,
    pub forest: WindowForest,
    pub calibration: Calibration,
}

/// Host profile columns used for peer grouping (means per window, log-scaled by the scaler).
pub const PROFILE_FEATURES: [&str; 10] = [
    "bytes_out_internal",
    "bytes_in_internal",
    "bytes_out_external",
    "bytes_in_external",
    "peers_internal",
    "peers_external",
    "dst_ports",
    "dst_ports_in",
    "admin_conns_out",
    "syn_in",
];

pub fn profile_of(rows: &[&HostWindow]) -> Vec<f64> {
    let mut p = vec![0.0; PROFILE_FEATURES.len()];
    for r in rows {
        let v = [
            r.bytes_out_internal,
            r.bytes_in_internal,
            r.bytes_out_external,
            r.bytes_in_external,
            r.peers_internal,
            r.peers_external,
            r.dst_ports,
            r.dst_ports_in,
            r.admin_conns_out,
            r.syn_in,
        ];
        for (acc, x) in p.iter_mut().zip(v) {
            *acc += x as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    for x in &mut p {
        *x /= n;
    }
    p
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
pub fn trailing_sums(series: &BTreeMap<u64, u64>, window_secs: u64) -> Vec<(u64, [u64; 3])> {
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

fn hour_of(t: u64) -> usize {
    ((t % DAY) / 3600) as usize
}

/// Which days (since the epoch) a time falls on.
fn day_of(t: u64) -> u64 {
    t / DAY
}

/// The estimated aggregation interval: record durations never exceed it, so the 99th
/// percentile of the durations of long-lived connections is close to it.
pub fn estimate_aggregation(features: &Features) -> u64 {
    let mut longest = Vec::new();
    for p in &features.pairs {
        for &d in &p.durations {
            if d > 5 {
                longest.push(f64::from(d));
            }
        }
        if longest.len() > 200_000 {
            break;
        }
    }
    match quantile_in_place(&mut longest, 0.99) {
        Some(q) if q > 120.0 => 600,
        _ => 60,
    }
}

/// Hosts that relay the fleet's traffic: on a NAT gateway's interface every translated
/// flow appears as the gateway's own, so it contacts a large share of all external peers.
/// Interfaces without an instance id (requester-managed, v3+ logs) are gateways outright.
pub fn find_gateways(features: &Features) -> BTreeSet<Addr> {
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

/// Fits the seasonal baseline of [`VOLUME_FEATURE`] on the host windows that started before
/// `until`, with each host's peer group as its prior.
pub fn fit_volume(
    features: &Features,
    group_of: &BTreeMap<Addr, usize>,
    until: u64,
    params: &SeasonalParams,
) -> Result<SeasonalBaseline, SeasonalError> {
    let params = params.check_ref()?;
    let mut acc = SeasonalAccumulator::new(vec![VOLUME_FEATURE.to_string()])?;
    let mut names: BTreeMap<Addr, String> = BTreeMap::new();
    for r in features.rows.iter().filter(|r| r.window_start < until) {
        let name = names.entry(r.host).or_insert_with(|| r.host.to_string());
        let cell = params.season_cell(i64::try_from(r.window_start).unwrap_or(i64::MAX), 0);
        let external = r.bytes_out_external.saturating_sub(r.bytes_out_aws);
        acc.push(name, cell, &[external as f64])?;
    }
    let mut host_groups = BTreeMap::new();
    for (host, name) in names {
        if let Some(&g) = group_of.get(&host) {
            host_groups.insert(name, g);
        }
    }
    params.fit(&acc, &host_groups)
}

/// Builds the histories from everything in `features` that started before `until`; `volume`
/// is the seasonal baseline fitted on the same range ([`fit_volume`]).
pub fn build_histories(
    features: &Features,
    group_of: &BTreeMap<Addr, usize>,
    window_secs: u64,
    until: u64,
    volume: &SeasonalBaseline,
    detect: &DetectConfig,
) -> Result<Histories, SeasonalError> {
    let rows: Vec<&HostWindow> = features.rows.iter().filter(|r| r.window_start < until).collect();
    let mut hosts: BTreeMap<Addr, HostHistory> = BTreeMap::new();
    let mut host_days: BTreeMap<Addr, BTreeSet<u64>> = BTreeMap::new();
    for r in &rows {
        let h = hosts.entry(r.host).or_insert_with(|| {
            HostHistory::new(
                r.host.to_string(),
                group_of.get(&r.host).copied().unwrap_or(0),
                r.window_start,
                r.window_end,
            )
        });
        h.first_seen = h.first_seen.min(r.window_start);
        h.last_seen = h.last_seen.max(r.window_end);
        h.windows += 1;
        host_days.entry(r.host).or_default().insert(day_of(r.window_start));
    }
    for h in hosts.values_mut() {
        h.volume = volume.host(&h.ip, 0)?;
    }

    // External destinations: per-window bytes, trailing sums, days and hours.
    let pairs: Vec<PairSeries> = features.pairs.iter().filter(|p| p.horizon_start < until).cloned().collect();
    let by_window = bytes_by_window(&pairs, window_secs);
    let mut prevalence: BTreeMap<String, (BTreeSet<Addr>, u64)> = BTreeMap::new();
    for ((host, key), series) in &by_window {
        let series: BTreeMap<u64, u64> = series.range(..until).map(|(&t, &b)| (t, b)).collect();
        let Some((&first, _)) = series.iter().next() else { continue };
        let mut days = BTreeSet::new();
        let mut hours = 0u32;
        for (&t, &b) in &series {
            if b > 0 {
                days.insert(day_of(t));
                hours |= 1 << hour_of(t);
            }
        }
        let mut max = [0u64; 3];
        for (_, sums) in trailing_sums(&series, window_secs) {
            for h in 0..3 {
                max[h] = max[h].max(sums[h]);
            }
        }
        let Some(h) = hosts.get_mut(host) else { continue };
        if !key.starts_with("aws:") {
            for (m, v) in h.max_external.iter_mut().zip(max) {
                *m = (*m).max(v);
            }
        }
        h.dests.push(DestUse { key: key.clone(), days: days.len() as u32, first_seen: first, max, hours });
    }
    let gateways = find_gateways(features);
    for p in &pairs {
        if gateways.contains(&p.host) {
            continue;
        }
        for key in [dest_key(p.peer, p.aws_service), net_of(p.peer)] {
            let e = prevalence.entry(key).or_insert_with(|| (BTreeSet::new(), p.horizon_start));
            e.0.insert(p.host);
            e.1 = e.1.min(p.horizon_start);
        }
    }

    // Internal edges: per host, per (dst, port) days; group back-off counts; fan-out.
    let mut edge_days: BTreeMap<(Addr, Addr, u16), (BTreeSet<u64>, u64)> = BTreeMap::new();
    let mut per_window: BTreeMap<(Addr, u64), (BTreeSet<Addr>, u32)> = BTreeMap::new();
    for e in detect::lateral::initiated(&features.edges).into_iter().filter(|e| e.window_start < until) {
        let x = edge_days.entry((e.src, e.dst, e.dst_port)).or_insert_with(|| (BTreeSet::new(), e.window_start));
        x.0.insert(day_of(e.window_start));
        let w = per_window.entry((e.src, e.window_start)).or_default();
        w.0.insert(e.dst);
        w.1 += 1;
        if let Some(h) = hosts.get_mut(&e.src) {
            h.edge_hours |= 1 << hour_of(e.window_start);
        }
    }
    for ((src, _), (dsts, pairs)) in &per_window {
        if let Some(h) = hosts.get_mut(src) {
            h.max_fanout = h.max_fanout.max(dsts.len() as u32);
            h.max_pairs = h.max_pairs.max(*pairs);
        }
    }
    let n_groups = group_of.values().copied().max().map_or(1, |g| g + 1);
    let mut group_edges: BTreeMap<(usize, usize, u16), u32> = BTreeMap::new();
    let mut host_counts: BTreeMap<(Addr, usize, u16), u32> = BTreeMap::new();
    for ((src, dst, port), (days, first)) in &edge_days {
        let sg = group_of.get(src).copied().unwrap_or(n_groups);
        let dg = group_of.get(dst).copied().unwrap_or(n_groups);
        let n = days.len() as u32;
        *group_edges.entry((sg, dg, *port)).or_default() += n;
        *host_counts.entry((*src, dg, *port)).or_default() += n;
        if let Some(h) = hosts.get_mut(src) {
            h.edges.push(EdgeUse { dst: dst.to_string(), port: *port, days: n, first_seen: *first });
            h.edge_total += n;
        }
    }
    for ((src, g, port), n) in host_counts {
        if let Some(h) = hosts.get_mut(&src) {
            h.edge_counts.push((g, port, n));
        }
    }

    let periodic = detect::beaconing::periodic_pairs(&pairs, detect);

    Ok(Histories {
        until,
        hosts: hosts.into_values().collect(),
        prevalence: prevalence
            .into_iter()
            .map(|(key, (hosts, first_seen))| {
                let mut groups: BTreeMap<usize, u32> = BTreeMap::new();
                for h in &hosts {
                    if let Some(&g) = group_of.get(h) {
                        *groups.entry(g).or_default() += 1;
                    }
                }
                Prevalence { key, hosts: hosts.len() as u32, first_seen, groups: groups.into_iter().collect() }
            })
            .collect(),
        group_edges: group_edges.into_iter().map(|((a, b, p), n)| (a, b, p, n)).collect(),
        periodic,
    })
}

fn log1p_columns() -> Vec<usize> {
    let names = feature_names();
    let mut cols = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if !matches!(*n, "top_external_dst_share" | "out_in_ratio" | "incomplete") {
            cols.push(i);
        }
    }
    cols
}

/// Feature matrix of host windows (finite values only; ratios are clipped).
pub fn window_matrix(rows: &[&HostWindow]) -> Array2<f64> {
    let d = feature_names().len();
    let mut data = Vec::with_capacity(rows.len() * d);
    for r in rows {
        for v in r.feature_vector() {
            data.push(if v.is_finite() { v.clamp(0.0, 1e15) } else { 0.0 });
        }
    }
    Array2::from_shape_vec((rows.len(), d), data).unwrap_or_else(|_| Array2::zeros((0, d)))
}

impl BaselineValidParams {
    /// Learns the baseline of `features` (the training period) with detector settings `detect`.
    pub fn fit(&self, features: &Features, detect: &DetectConfig) -> Result<Baseline, BaselineError> {
        if features.rows.is_empty() {
            return Err(BaselineError::Empty);
        }
        let window_secs = features.rows[0].window_end - features.rows[0].window_start;
        let start = features.rows.iter().map(|r| r.window_start).min().unwrap_or(0);
        let end = features.rows.iter().map(|r| r.window_end).max().unwrap_or(0);

        // Peer groups from per-host profiles.
        let mut by_host: BTreeMap<Addr, Vec<&HostWindow>> = BTreeMap::new();
        for r in &features.rows {
            by_host.entry(r.host).or_default().push(r);
        }
        let host_list: Vec<Addr> = by_host.keys().copied().collect();
        let mut flat = Vec::with_capacity(host_list.len() * PROFILE_FEATURES.len());
        for rows in by_host.values() {
            flat.extend(profile_of(rows));
        }
        let profiles = Array2::from_shape_vec((host_list.len(), PROFILE_FEATURES.len()), flat)
            .unwrap_or_else(|_| Array2::zeros((0, PROFILE_FEATURES.len())));
        let groups: PeerGroups = self.peer_groups.clone().fit(&linfa::DatasetBase::from(profiles.clone()))?;
        let mut group_of = BTreeMap::new();
        for (host, a) in host_list.iter().zip(groups.training_assignments()) {
            group_of.insert(*host, a.group);
        }
        tracing::info!(hosts = host_list.len(), groups = groups.k(), "peer groups fitted");

        let volume_params = self.volume_params();
        let volume = fit_volume(features, &group_of, u64::MAX, &volume_params)?;
        let histories = build_histories(features, &group_of, window_secs, u64::MAX, &volume, detect)?;

        // Group priors for thin hosts.
        let mut group_volume = Vec::with_capacity(groups.k());
        let mut group_max_external = Vec::with_capacity(groups.k());
        for g in 0..groups.k() {
            group_volume.push(volume.prior(Some(g), 0)?);
            let mut maxes: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for h in &histories.hosts {
                if h.group == g {
                    for (m, v) in maxes.iter_mut().zip(h.max_external) {
                        m.push(v as f64);
                    }
                }
            }
            let mut m = [0u64; 3];
            for i in 0..3 {
                m[i] = quantile_in_place(&mut maxes[i], 0.5).unwrap_or(0.0) as u64;
            }
            group_max_external.push(m);
        }

        // Isolation forest over host windows.
        let all_rows: Vec<&HostWindow> = features.rows.iter().collect();
        let x = window_matrix(&all_rows);
        let log_cols = log1p_columns();
        let scaler = RobustScaler::fit(&x, &log_cols, Some(10.0))?;
        let xs = scaler.transform(&x)?;
        let forest = self.forest.clone().fit(&linfa::DatasetBase::from(xs.clone()))?;
        let scores = forest.score(&xs)?;
        let mut sv = scores.to_vec();
        let q99 = quantile_in_place(&mut sv, 0.99).unwrap_or(0.6);
        let mut group_medians = Vec::with_capacity(groups.k());
        for g in 0..groups.k() {
            let mut cols: Vec<Vec<f64>> = vec![Vec::new(); xs.ncols()];
            for (i, r) in all_rows.iter().enumerate() {
                if group_of.get(&r.host) == Some(&g) {
                    for (c, v) in xs.row(i).iter().enumerate() {
                        cols[c].push(*v);
                    }
                }
            }
            group_medians.push(cols.iter_mut().map(|c| quantile_in_place(c, 0.5).unwrap_or(0.0)).collect());
        }
        let window_forest = WindowForest {
            feature_names: feature_names().iter().map(|s| s.to_string()).collect(),
            log1p_columns: log_cols,
            scaler,
            forest,
            q99,
            group_medians,
        };

        let train = TrainInfo {
            start,
            end,
            window_secs,
            aggregation_secs: estimate_aggregation(features),
            hosts: host_list.len(),
            windows: features.rows.len(),
            pairs: features.pairs.len(),
            edges: features.edges.len(),
            days: (end - start).div_ceil(DAY),
            addresses: features.addresses.clone(),
        };
        let mut baseline = Baseline {
            schema_version: crate::artifact::MODEL_SCHEMA_VERSION,
            feature_schema_version: FEATURE_SCHEMA_VERSION,
            params: self.clone(),
            detect: detect.clone(),
            train,
            groups,
            group_volume,
            group_max_external,
            histories,
            gateways: find_gateways(features).iter().map(Addr::to_string).collect(),
            forest: window_forest,
            calibration: Calibration::defaults(detect),
        };
        baseline.calibration = self.calibrate(&baseline, features, &group_of, start, end)?;
        Ok(baseline)
    }

    /// Parameters of the seasonal volume baseline: this baseline's shrinkage, hour-of-day
    /// cells (the exfiltration detector asks by hour of day) and a scale floor of
    /// [`VOLUME_MIN_SCALE`]; supports and tails are the estimator's defaults.
    pub fn volume_params(&self) -> SeasonalParams {
        SeasonalParams::new().shrinkage(self.shrinkage).min_scale(VOLUME_MIN_SCALE).weekly(false)
    }

    /// Replays the second half of the training days against histories of the days before
    /// each, and sets every detector's threshold at a high quantile of the per-host-day
    /// maxima of its raw scores (bounded by the detector's floor and ceiling, so neither a
    /// spotless nor a contaminated training period can switch a detector off).
    fn calibrate(
        &self,
        baseline: &Baseline,
        features: &Features,
        group_of: &BTreeMap<Addr, usize>,
        start: u64,
        end: u64,
    ) -> Result<Calibration, BaselineError> {
        let first_day = day_of(start) + 1;
        let last_day = day_of(end.saturating_sub(1));
        let mut calib = Calibration::defaults(&baseline.detect);
        if last_day < first_day {
            return Ok(calib);
        }
        let days_total = last_day + 1 - day_of(start);
        let from = (day_of(start) + days_total / 2).max(first_day);
        let days: Vec<u64> = (from..=last_day).collect();
        let volume_params = self.volume_params();
        let results: Result<Vec<DayMaxima>, BaselineError> = days
            .par_iter()
            .map(|&d| {
                let cut = d * DAY;
                let volume = fit_volume(features, group_of, cut, &volume_params)?;
                let histories =
                    build_histories(features, group_of, baseline.train.window_secs, cut, &volume, &baseline.detect)?;
                let day_features = detect::slice_features(features, cut, cut + DAY);
                let mut b = baseline.clone();
                b.histories = histories;
                let raws = detect::raw_hits(&b, &day_features);
                let mut best: BTreeMap<(String, String), f64> = BTreeMap::new();
                for r in raws {
                    let e = best.entry((r.calibration_key.to_string(), r.hit.host.clone())).or_insert(f64::MIN);
                    *e = e.max(r.raw);
                }
                Ok(best.into_iter().map(|((k, h), v)| (k, h, v)).collect())
            })
            .collect();
        let results = results?;
        let host_days = (baseline.train.hosts as f64 * days.len() as f64).max(1.0);
        let mut by_key: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for day in results {
            for (k, _, v) in day {
                by_key.entry(k).or_default().push(v);
            }
        }
        for (key, t) in calib.thresholds.iter_mut() {
            let values = by_key.remove(key).unwrap_or_default();
            t.observed_quantile = observed_quantile(values, host_days as usize, self.calibration_quantile);
            t.threshold = match t.observed_quantile {
                Some(q) => (q + t.margin).clamp(t.floor, t.ceiling),
                None => t.floor,
            };
            t.host_days = host_days as u64;
        }
        Ok(calib)
    }
}

/// The `quantile` of per-host-day maxima `candidates` over `host_days` host-days, or `None`
/// when it falls among the host-days that had no candidate at all.
fn observed_quantile(mut candidates: Vec<f64>, host_days: usize, quantile: f64) -> Option<f64> {
    let lowest_candidate = candidates.iter().copied().fold(f64::INFINITY, f64::min);
    // Host-days without any candidate count as far below any threshold.
    let missing = host_days.saturating_sub(candidates.len());
    candidates.extend(std::iter::repeat_n(NO_CANDIDATE, missing));
    let q = quantile_in_place(&mut candidates, quantile)?;
    // Below every candidate, the quantile is interpolated towards the empty host-days.
    if q.is_finite() && q >= lowest_candidate { Some(q) } else { None }
}

impl Baseline {
    pub fn params() -> BaselineParams {
        BaselineParams::new()
    }

    /// The history of the host at address `ip`. Histories are in address order (numeric:
    /// 10.0.0.9 before 10.0.0.10), not text order.
    pub fn host(&self, ip: &str) -> Option<&HostHistory> {
        let want = Addr::from(ip.parse::<std::net::IpAddr>().ok()?);
        let at = |h: &HostHistory| h.ip.parse::<std::net::IpAddr>().map(Addr::from).ok();
        self.histories.hosts.binary_search_by(|h| at(h).cmp(&Some(want))).ok().map(|i| &self.histories.hosts[i])
    }

    /// Thresholds as a short table for the train summary.
    pub fn thresholds(&self) -> Vec<(&str, &Threshold)> {
        self.calibration.thresholds.iter().map(|(k, t)| (k.as_str(), t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_quantile_ignores_host_days_without_candidates() {
        // 256 host-days, one scan candidate: the 0.999 quantile would interpolate between the
        // empty host-days and the candidate; it is no training observation.
        assert_eq!(observed_quantile(vec![1.5], 256, 0.999), None);
        assert_eq!(observed_quantile(Vec::new(), 256, 0.999), None);
        // Enough candidates: the quantile is theirs.
        let candidates: Vec<f64> = (0..1000).map(|i| f64::from(i) / 100.0).collect();
        let q = observed_quantile(candidates, 1000, 0.999).unwrap();
        assert!((q - 9.98).abs() < 0.01, "{q}");
        // Host-days without a candidate pull the quantile down but it stays a candidate's value.
        let q = observed_quantile(vec![3.0, 4.0, 5.0], 4, 0.5).unwrap();
        assert!((3.0..=4.0).contains(&q), "{q}");
    }

    #[test]
    fn params_guard_rejects_each_error() {
        assert!(matches!(
            BaselineParams::new().peer_groups(PeerGroups::params().k_max(1)).check(),
            Err(BaselineParamsError::PeerGroups(_))
        ));
        assert!(matches!(BaselineParams::new().shrinkage(f64::NAN).check(), Err(BaselineParamsError::Shrinkage(_))));
        assert!(matches!(
            BaselineParams::new().calibration_quantile(1.0).check(),
            Err(BaselineParamsError::CalibrationQuantile(_))
        ));
        assert!(matches!(
            BaselineParams::new().forest(IsolationForestParams::new().n_trees(0)).check(),
            Err(BaselineParamsError::Forest(_))
        ));
        assert!(BaselineParams::new().check().is_ok());
    }

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
