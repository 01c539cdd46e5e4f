//! The detectors: beaconing, exfiltration and lateral movement, scored against a
//! [`Baseline`] and calibrated on the training period's own score distribution.
//!
//! Each detector turns features into raw hits (a raw score in the detector's natural
//! unit: beacon strength, bits of volume excess, bits of edge surprise). Calibration maps
//! a raw score onto 0–100 so that 50 sits just above what the training period itself
//! produced; the isolation forest then adds up to 10 points and explains which window
//! features were unusual; hits of one incident are merged into one finding.

mod beaconing;
mod edge_model;
mod exfiltration;
mod lateral;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use flowhound_features::{Features, HostWindow};
use flowhound_flowlog::Addr;
use ndarray::Array2;

use crate::baseline::{Baseline, profile_of, window_matrix};
use crate::finding::{Finding, Hit, merge};
use crate::history::{DestUse, HostHistory, Prevalence, find_gateways, net_of};
use crate::safelist::Safelist;
use edge_model::EdgeModel;

// Training builds its histories with these.
pub(crate) use beaconing::periodic_pairs;
pub(crate) use lateral::initiated;

/// A hit with its raw score, before calibration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawHit {
    pub hit: Hit,
    pub raw: f64,
    pub calibration_key: &'static str,
    /// Start of the host window that best represents the hit (for the forest's explanation).
    pub window: u64,
}

fn parse_addr(s: &str) -> Option<Addr> {
    s.parse::<IpAddr>().ok().map(Addr::from)
}

/// Lookup tables over a baseline and the features being scored. Private to `detect`: the
/// detectors (its child modules) share it.
#[derive(Debug)]
struct Context<'a> {
    baseline: &'a Baseline,
    features: &'a Features,
    window_secs: u64,
    hosts: HashMap<Addr, &'a HostHistory>,
    dests: HashMap<(Addr, &'a str), &'a DestUse>,
    edges: HashSet<(Addr, Addr, u16)>,
    prevalence: HashMap<&'a str, &'a Prevalence>,
    periodic: HashSet<(&'a str, &'a str, u16)>,
    group_of: HashMap<Addr, usize>,
    rows: HashMap<(Addr, u64), &'a HostWindow>,
    ids: HashMap<Addr, (Option<String>, Option<String>)>,
    /// Hosts per /24 (or AWS key) in the data being scored.
    current_prevalence: HashMap<String, HashSet<Addr>>,
    fleet_size: usize,
    n_groups: usize,
    /// The logs carry tcp-flags (v3+): some record shows a SYN. Without them no record does.
    tcp_flags: bool,
    gateways: HashSet<Addr>,
    edge_model: EdgeModel,
    /// Hosts per peer group in the baseline's histories.
    group_sizes: HashMap<usize, usize>,
    /// Internal sources per (destination, port) in the scored edges, for the (host, port)
    /// of the scored external pairs.
    clients: HashMap<(Addr, u16), HashSet<Addr>>,
}

/// Fewest hosts of one peer group whose shared destination counts as the group's habit.
const GROUP_HABIT_MIN_HOSTS: usize = 3;

impl<'a> Context<'a> {
    fn new(baseline: &'a Baseline, features: &'a Features) -> Context<'a> {
        let h = &baseline.histories;
        let mut hosts = HashMap::new();
        let mut dests = HashMap::new();
        let mut edges = HashSet::new();
        let mut group_of = HashMap::new();
        for host in &h.hosts {
            let Some(addr) = parse_addr(&host.ip) else { continue };
            hosts.insert(addr, host);
            group_of.insert(addr, host.group);
            for d in &host.dests {
                dests.insert((addr, d.key.as_str()), d);
            }
            for e in &host.edges {
                if let Some(dst) = parse_addr(&e.dst) {
                    edges.insert((addr, dst, e.port));
                }
            }
        }
        let mut prevalence = HashMap::new();
        for p in &h.prevalence {
            prevalence.insert(p.key.as_str(), p);
        }
        let mut periodic = HashSet::new();
        for p in &h.periodic {
            periodic.insert((p.host.as_str(), p.net.as_str(), p.port));
        }
        let mut rows = HashMap::new();
        let mut ids: HashMap<Addr, (Option<String>, Option<String>)> = HashMap::new();
        let mut by_host: BTreeMap<Addr, Vec<&HostWindow>> = BTreeMap::new();
        let mut tcp_flags = false;
        for r in &features.rows {
            tcp_flags |= r.syn_out > 0 || r.syn_in > 0;
            rows.insert((r.host, r.window_start), r);
            if r.interface_id.is_some() || r.instance_id.is_some() {
                ids.entry(r.host).or_insert_with(|| (r.interface_id.clone(), r.instance_id.clone()));
            }
            by_host.entry(r.host).or_default().push(r);
        }
        // Hosts the baseline never saw join the peer group their behaviour is closest to.
        for (host, rs) in &by_host {
            if !group_of.contains_key(host) {
                let profile = profile_of(rs);
                let g = Array2::from_shape_vec((1, profile.len()), profile)
                    .ok()
                    .and_then(|x| baseline.groups.assign(&x).ok())
                    .and_then(|a| a.first().map(|a| a.group))
                    .unwrap_or(0);
                group_of.insert(*host, g);
            }
        }
        let mut gateways: HashSet<Addr> = baseline.gateways.iter().filter_map(|s| parse_addr(s)).collect();
        gateways.extend(find_gateways(features));
        let mut current_prevalence: HashMap<String, HashSet<Addr>> = HashMap::new();
        for p in features.pairs.iter().filter(|p| !gateways.contains(&p.host)) {
            current_prevalence.entry(net_of(p.peer)).or_default().insert(p.host);
        }
        let mut fleet: HashSet<Addr> = hosts.keys().copied().collect();
        fleet.extend(by_host.keys().copied());
        let edge_model = EdgeModel::new(h, &group_of, &baseline.detect.lateral);
        let mut group_sizes: HashMap<usize, usize> = HashMap::new();
        for host in &h.hosts {
            *group_sizes.entry(host.group).or_default() += 1;
        }
        // Clients are only ever asked of a host on the port of one of its external pairs:
        // the edge tables are far larger than that, so only those (host, port) are kept.
        let pair_ports: HashSet<(Addr, u16)> = features.pairs.iter().map(|p| (p.host, p.port)).collect();
        let mut clients: HashMap<(Addr, u16), HashSet<Addr>> = HashMap::new();
        for e in &features.edges {
            if e.src != e.dst && e.flows_accept > 0 && pair_ports.contains(&(e.dst, e.dst_port)) {
                clients.entry((e.dst, e.dst_port)).or_default().insert(e.src);
            }
        }
        // The window is the model's: every path computes the scored features with it
        // (score, serve, hunt), so a detector is told the window, never guesses it.
        let window_secs = baseline.train.window_secs.max(1);
        debug_assert!(
            features.rows.first().is_none_or(|r| r.window_end - r.window_start == window_secs),
            "features of another window than the model's"
        );
        Context {
            baseline,
            features,
            window_secs,
            hosts,
            dests,
            edges,
            prevalence,
            periodic,
            group_of,
            rows,
            ids,
            current_prevalence,
            fleet_size: fleet.len().max(1),
            n_groups: baseline.groups.k().max(1),
            tcp_flags,
            gateways,
            edge_model,
            group_sizes,
            clients,
        }
    }

    /// True for NAT gateways and other relays, which are never the subject of a finding.
    fn is_gateway(&self, a: Addr) -> bool {
        self.gateways.contains(&a)
    }

    fn host(&self, a: Addr) -> Option<&'a HostHistory> {
        self.hosts.get(&a).copied()
    }

    fn dest(&self, host: Addr, key: &str) -> Option<&'a DestUse> {
        self.dests.get(&(host, key)).copied()
    }

    fn edge_known(&self, src: Addr, dst: Addr, port: u16) -> bool {
        self.edges.contains(&(src, dst, port))
    }

    /// The peer group of a host; hosts never seen anywhere get the extra "unknown" group.
    fn group(&self, a: Addr) -> usize {
        self.group_of.get(&a).copied().unwrap_or(self.n_groups)
    }

    fn prevalence(&self, key: &str) -> Option<&'a Prevalence> {
        self.prevalence.get(key).copied()
    }

    fn current_hosts(&self, net: &str) -> usize {
        self.current_prevalence.get(net).map_or(0, HashSet::len)
    }

    /// True when at least [`GROUP_HABIT_MIN_HOSTS`] hosts of `host`'s peer group, and at
    /// least half of the group, reached `net` — in the baseline's history or in the data
    /// being scored: a habit or a rollout of the role (a licence check-in every member
    /// runs, a new SaaS every app host starts polling), not one implant's channel.
    fn group_habit(&self, host: Addr, net: &str) -> bool {
        let g = self.group(host);
        let members = self.group_sizes.get(&g).copied().unwrap_or(0);
        let historic =
            self.prevalence(net).and_then(|p| p.groups.iter().find(|(pg, _)| *pg == g)).map_or(0, |(_, n)| *n as usize);
        let current =
            self.current_prevalence.get(net).map_or(0, |hosts| hosts.iter().filter(|h| self.group(**h) == g).count());
        let reached = historic.max(current);
        reached >= GROUP_HABIT_MIN_HOSTS && 2 * reached >= members
    }

    /// Distinct internal hosts that opened `port` on `host` in the data being scored: a
    /// host that serves a port to many clients and contacts the outside on the same port
    /// relays (a DNS forwarder, a proxy).
    fn clients_on(&self, host: Addr, port: u16) -> usize {
        self.clients.get(&(host, port)).map_or(0, HashSet::len)
    }

    fn is_periodic(&self, host: &str, net: &str, port: u16) -> bool {
        self.periodic.contains(&(host, net, port))
    }

    /// The interface and instance ids of a host, when the logs carry them.
    fn ids(&self, host: Addr) -> (Option<String>, Option<String>) {
        self.ids.get(&host).cloned().unwrap_or((None, None))
    }

    fn row(&self, host: Addr, window: u64) -> Option<&'a HostWindow> {
        self.rows.get(&(host, window)).copied()
    }
}

/// The part of `features` in `[from, to)`: rows and edges by window, pairs by horizon.
pub fn slice_features(features: &Features, from: u64, to: u64) -> Features {
    Features {
        rows: features.rows.iter().filter(|r| r.window_start >= from && r.window_start < to).cloned().collect(),
        pairs: features.pairs.iter().filter(|p| p.horizon_start >= from && p.horizon_start < to).cloned().collect(),
        edges: features.edges.iter().filter(|e| e.window_start >= from && e.window_start < to).cloned().collect(),
        stats: features.stats,
        addresses: features.addresses.clone(),
    }
}

/// Every detector's raw hits on `features`.
pub(crate) fn raw_hits(baseline: &Baseline, features: &Features) -> Vec<RawHit> {
    let ctx = Context::new(baseline, features);
    let mut out = beaconing::detect(&ctx);
    out.extend(exfiltration::detect(&ctx));
    out.extend(lateral::detect(&ctx));
    out
}

/// What scoring produced, with counts for the command's summary.
#[derive(Debug, Clone, Default)]
pub struct ScoreOutput {
    pub findings: Vec<Finding>,
    pub raw_hits: usize,
    pub safelisted: usize,
}

/// Scores `features` against `baseline`: calibrated, explained, safelisted and merged findings.
pub fn score(baseline: &Baseline, features: &Features, safelist: &Safelist, model_id: &str) -> ScoreOutput {
    let raws = raw_hits(baseline, features);
    score_raw(baseline, features, raws, safelist, model_id)
}

/// Calibrates, explains, safelists and merges raw hits found in `features` (however the
/// histories behind them were chosen) into findings, and names each beacon's campaign.
pub(crate) fn score_raw(
    baseline: &Baseline,
    features: &Features,
    raws: Vec<RawHit>,
    safelist: &Safelist,
    model_id: &str,
) -> ScoreOutput {
    let n_raw = raws.len();
    let ctx = Context::new(baseline, features);
    let cfg = &baseline.detect;
    let mut hits = Vec::new();
    let mut safelisted = 0usize;
    for r in raws {
        let Some(t) = baseline.calibration.thresholds.get(r.calibration_key) else { continue };
        let mut score = t.score(r.raw);
        tracing::trace!(detector = r.hit.detector, host = %r.hit.host, peer = ?r.hit.peer, raw = r.raw, score, summary = %r.hit.summary, "raw hit");
        // The forest can lift a hit by at most 10 points: it ranks, it does not create findings.
        if score + 10.0 < cfg.severity.low {
            continue;
        }
        let host = parse_addr(&r.hit.host);
        let peer = r.hit.peer.as_deref().and_then(parse_addr);
        if let Some(h) = host
            && let Some(entry) = safelist.matches(r.hit.detector, h, peer, r.hit.port)
        {
            tracing::debug!(host = %r.hit.host, owner = %entry.owner, reason = %entry.reason, "hit safelisted");
            safelisted += 1;
            continue;
        }
        let mut hit = r.hit;
        if let Some(h) = host
            && let Some(row) = ctx.row(h, r.window)
        {
            let (boost, explanation) = explain(&ctx, row);
            score = (score + boost).min(100.0);
            hit.evidence.insert("window_features".into(), explanation);
        }
        hit.evidence.insert("raw_score".into(), round3(r.raw).into());
        hit.evidence.insert("raw_threshold".into(), round3(t.threshold).into());
        hit.score = score;
        hits.push(hit);
    }
    let gap = ctx.window_secs;
    let mut findings = merge(hits, gap, &cfg.severity, model_id);
    name_campaigns(&mut findings);
    let data_end = features.rows.iter().map(|r| r.window_end).chain(findings.iter().map(|f| f.window_end)).max();
    let findings = crate::incident::fold(findings, cfg.incident_quiet_secs, data_end.unwrap_or(0));
    ScoreOutput { findings, raw_hits: n_raw, safelisted }
}

/// Beaconing findings of several hosts towards one destination network are one campaign:
/// each names the others in `related_hosts` and in its summary.
fn name_campaigns(findings: &mut [Finding]) {
    let mut hosts_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.detector == crate::finding::BEACONING) {
        if let Some(peer) = f.peer.as_deref().and_then(parse_addr) {
            hosts_of.entry(net_of(peer)).or_default().insert(f.host.clone());
        }
    }
    for f in findings.iter_mut().filter(|f| f.detector == crate::finding::BEACONING) {
        let Some(net) = f.peer.as_deref().and_then(parse_addr).map(net_of) else { continue };
        let Some(hosts) = hosts_of.get(&net) else { continue };
        let others: Vec<String> = hosts.iter().filter(|h| **h != f.host).cloned().collect();
        if others.is_empty() {
            continue;
        }
        f.summary = format!("{}; campaign: {} other host(s) beacon to {net}", f.summary, others.len());
        f.related_hosts = others;
    }
}

fn round3(v: f64) -> f64 {
    if v.is_finite() { (v * 1000.0).round() / 1000.0 } else { 0.0 }
}

/// The forest's view of one host window: a score boost and which features made it unusual.
fn explain(ctx: &Context<'_>, row: &HostWindow) -> (f64, serde_json::Value) {
    let wf = &ctx.baseline.forest;
    let x: Array2<f64> = window_matrix(&[row]);
    let Ok(xs) = wf.scaler.transform(&x) else { return (0.0, serde_json::Value::Null) };
    let scaled = xs.row(0);
    let Ok(s) = wf.forest.score_one(&scaled) else { return (0.0, serde_json::Value::Null) };
    let boost = if wf.q99 < 1.0 { 10.0 * ((s - wf.q99) / (1.0 - wf.q99)).clamp(0.0, 1.0) } else { 0.0 };
    let group = ctx.group(row.host);
    let medians = wf.group_medians.get(group);
    let mut distance = 0.0;
    if let Some(m) = medians {
        for (a, b) in scaled.iter().zip(m) {
            distance += (a - b) * (a - b);
        }
    }
    let contributions = wf.forest.feature_contributions(&scaled).map(|c| c.to_vec()).unwrap_or_default();
    let mut order: Vec<usize> = (0..contributions.len()).collect();
    order.sort_by(|&a, &b| contributions[b].total_cmp(&contributions[a]).then(a.cmp(&b)));
    let values = row.feature_vector();
    let mut top = Vec::new();
    for &c in order.iter().take(3) {
        if contributions[c] <= 0.0 {
            continue;
        }
        let vs_group = medians.and_then(|m| m.get(c)).map_or(0.0, |m| scaled[c] - m);
        top.push(serde_json::json!({
            "feature": wf.feature_names.get(c).cloned().unwrap_or_default(),
            "observed": values.get(c).copied().unwrap_or(0.0),
            "robust_z_vs_peer_group": round3(vs_group),
            "share": round3(contributions[c]),
        }));
    }
    let value = serde_json::json!({
        "isolation_score": round3(s),
        "isolation_q99_training": round3(wf.q99),
        "peer_group": group,
        "peer_group_distance": round3(distance.sqrt()),
        "most_unusual": top,
    });
    (boost, value)
}
