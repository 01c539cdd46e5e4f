//! The detectors: beaconing, exfiltration and lateral movement, scored against a
//! [`Baseline`] and calibrated on the training period's own score distribution.
//!
//! Each detector turns features into raw hits (a raw score in the detector's natural
//! unit: beacon strength, bits of volume excess, bits of edge surprise). Calibration maps
//! a raw score onto 0–100 so that 50 sits just above what the training period itself
//! produced; the isolation forest then adds up to 10 points and explains which window
//! features were unusual; hits of one incident are merged into one finding.

pub mod beaconing;
pub mod exfiltration;
pub mod lateral;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use flowhound_features::{Cidr, Features, HostWindow};
use flowhound_flowlog::Addr;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, DestUse, HostHistory, Prevalence, profile_of, window_matrix};
use crate::finding::{Finding, Hit, SeverityThresholds, merge};
use crate::safelist::Safelist;

pub use beaconing::BeaconConfig;
pub use exfiltration::ExfilConfig;
pub use lateral::LateralConfig;

/// Detector settings (the `[detect]` table of the configuration file). Every field has a
/// documented default (docs/detectors.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Length of the sliding beaconing horizon, seconds (24 h; shorten for short sessions).
    pub horizon_secs: u64,
    pub severity: SeverityThresholds,
    pub beaconing: BeaconConfig,
    pub exfiltration: ExfilConfig,
    pub lateral: LateralConfig,
    /// Quiet time after which an incident closes: findings of one detector, host, peer and
    /// port less than this apart are one incident, reported once (see [`crate::incident`]).
    pub incident_quiet_secs: u64,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            incident_quiet_secs: 86_400,
            horizon_secs: flowhound_features::DEFAULT_HORIZON_SECS,
            severity: SeverityThresholds::default(),
            beaconing: BeaconConfig::default(),
            exfiltration: ExfilConfig::default(),
            lateral: LateralConfig::default(),
        }
    }
}

/// Errors in detector settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectConfigError {
    #[error("horizon_secs must be between 600 and 604800, got {0}")]
    Horizon(u64),
    #[error("incident_quiet_secs must be between 600 and 2592000 (30 days), got {0}")]
    IncidentQuiet(u64),
    #[error("severity thresholds must be in 0-100 and increasing")]
    Severity,
    #[error("beaconing.jitter_tolerance must be in (0, 1), got {0}")]
    Jitter(f64),
    #[error("beaconing.min_connections must be at least 4, got {0}")]
    MinConnections(usize),
    #[error("exfiltration.group_service_quantile must be in [0, 1], got {0}")]
    GroupServiceQuantile(f64),
}

impl DetectConfig {
    pub fn validate(&self) -> Result<(), DetectConfigError> {
        if !(600..=604_800).contains(&self.horizon_secs) {
            return Err(DetectConfigError::Horizon(self.horizon_secs));
        }
        if !(600..=2_592_000).contains(&self.incident_quiet_secs) {
            return Err(DetectConfigError::IncidentQuiet(self.incident_quiet_secs));
        }
        if !self.severity.is_valid() {
            return Err(DetectConfigError::Severity);
        }
        let j = self.beaconing.jitter_tolerance;
        if !(j > 0.0 && j < 1.0) {
            return Err(DetectConfigError::Jitter(j));
        }
        if self.beaconing.min_connections < 4 {
            return Err(DetectConfigError::MinConnections(self.beaconing.min_connections));
        }
        let q = self.exfiltration.group_service_quantile;
        if !(0.0..=1.0).contains(&q) {
            return Err(DetectConfigError::GroupServiceQuantile(q));
        }
        Ok(())
    }
}

/// The model tables of a configuration file: `[detect]` (a [`DetectConfig`]), `[train]`
/// (`seed`) and `[features]` (`internal` and `external` address blocks, the file's
/// equivalent of `--internal` / `--external`). Other tables belong to other commands and
/// are ignored here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub detect: DetectConfig,
    pub seed: Option<u64>,
    pub internal: Vec<Cidr>,
    pub external: Vec<Cidr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainTable {
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FeaturesTable {
    internal: Vec<String>,
    external: Vec<String>,
}

fn parse_blocks(list: &str, values: &[String]) -> Result<Vec<Cidr>, SettingsError> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let cidr = v
            .parse::<Cidr>()
            .map_err(|e| SettingsError::Table { table: "features", message: format!("{list}: {e}") })?;
        out.push(cidr);
    }
    Ok(out)
}

/// Errors reading the configuration file's model tables.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("[{table}]: {message}")]
    Table { table: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] DetectConfigError),
}

/// Parses the `[detect]` and `[train]` tables of a TOML configuration file.
pub fn parse_settings(text: &str) -> Result<Settings, SettingsError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| SettingsError::Toml(e.to_string()))?;
    let mut settings = Settings::default();
    if let Some(d) = table.get("detect") {
        settings.detect = d
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "detect", message: e.to_string() })?;
    }
    if let Some(t) = table.get("train") {
        let t: TrainTable = t
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "train", message: e.to_string() })?;
        settings.seed = t.seed;
    }
    if let Some(f) = table.get("features") {
        let f: FeaturesTable = f
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "features", message: e.to_string() })?;
        settings.internal = parse_blocks("internal", &f.internal)?;
        settings.external = parse_blocks("external", &f.external)?;
    }
    settings.detect.validate()?;
    Ok(settings)
}

/// One detector's mapping from raw score to 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The raw score that maps to the low-severity boundary (score 50).
    pub threshold: f64,
    /// Raw score distance from the threshold to score 90.
    pub span: f64,
    /// Bounds of the learned threshold.
    pub floor: f64,
    pub ceiling: f64,
    /// Added to the training quantile: findings must be clearly above training.
    pub margin: f64,
    /// The training quantile of per-host-day maxima, when there was one.
    pub observed_quantile: Option<f64>,
    pub host_days: u64,
}

impl Threshold {
    fn new(floor: f64, ceiling: f64, margin: f64, span: f64) -> Threshold {
        Threshold { threshold: floor, span, floor, ceiling, margin, observed_quantile: None, host_days: 0 }
    }

    /// 50 at the threshold, 90 one span above it, capped to 0–100.
    pub fn score(&self, raw: f64) -> f64 {
        (50.0 + 40.0 * (raw - self.threshold) / self.span.max(1e-9)).clamp(0.0, 100.0)
    }
}

/// Per-detector thresholds (keys: `beaconing`, `exfiltration`, `lateral_movement`,
/// `lateral_movement/scan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub thresholds: BTreeMap<String, Threshold>,
}

pub const KEY_BEACON: &str = "beaconing";
pub const KEY_EXFIL: &str = "exfiltration";
pub const KEY_LATERAL: &str = "lateral_movement";
pub const KEY_SCAN: &str = "lateral_movement/scan";

impl Calibration {
    pub fn defaults(cfg: &DetectConfig) -> Calibration {
        let b = &cfg.beaconing;
        let e = &cfg.exfiltration;
        let l = &cfg.lateral;
        let mut thresholds = BTreeMap::new();
        thresholds.insert(KEY_BEACON.into(), Threshold::new(b.floor, b.ceiling, b.margin, b.span));
        thresholds.insert(KEY_EXFIL.into(), Threshold::new(e.floor, e.ceiling, e.margin, e.span));
        thresholds.insert(KEY_LATERAL.into(), Threshold::new(l.floor, l.ceiling, l.margin, l.span));
        thresholds.insert(KEY_SCAN.into(), Threshold::new(l.scan_floor, l.scan_ceiling, l.scan_margin, l.scan_span));
        Calibration { thresholds }
    }
}

/// A hit with its raw score, before calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct RawHit {
    pub hit: Hit,
    pub raw: f64,
    pub calibration_key: &'static str,
    /// Start of the host window that best represents the hit (for the forest's explanation).
    pub window: u64,
}

fn parse_addr(s: &str) -> Option<Addr> {
    s.parse::<IpAddr>().ok().map(Addr::from)
}

/// Lookup tables over a baseline and the features being scored.
#[derive(Debug)]
pub struct Context<'a> {
    pub baseline: &'a Baseline,
    pub features: &'a Features,
    pub window_secs: u64,
    hosts: HashMap<Addr, &'a HostHistory>,
    dests: HashMap<(Addr, &'a str), &'a DestUse>,
    edges: HashSet<(Addr, Addr, u16)>,
    host_edge_counts: HashMap<(Addr, usize, u16), u32>,
    global_edges: HashMap<(usize, u16), u32>,
    global_total: u32,
    prevalence: HashMap<&'a str, &'a Prevalence>,
    periodic: HashSet<(&'a str, &'a str, u16)>,
    group_of: HashMap<Addr, usize>,
    rows: HashMap<(Addr, u64), &'a HostWindow>,
    ids: HashMap<Addr, (Option<String>, Option<String>)>,
    /// Hosts per /24 (or AWS key) in the data being scored.
    current_prevalence: HashMap<String, HashSet<Addr>>,
    pub fleet_size: usize,
    pub n_groups: usize,
    /// The logs carry tcp-flags (v3+): some record shows a SYN. Without them no record does.
    pub tcp_flags: bool,
    gateways: HashSet<Addr>,
    edge_model: EdgeModel,
    /// Hosts per peer group in the baseline's histories.
    group_sizes: HashMap<usize, usize>,
    /// Internal sources per (destination, port) in the scored edges, for the (host, port)
    /// of the scored external pairs.
    clients: HashMap<(Addr, u16), HashSet<Addr>>,
}

/// Fewest hosts of one peer group whose shared destination counts as the group's habit.
pub const GROUP_HABIT_MIN_HOSTS: usize = 3;

impl<'a> Context<'a> {
    pub fn new(baseline: &'a Baseline, features: &'a Features) -> Context<'a> {
        let h = &baseline.histories;
        let mut hosts = HashMap::new();
        let mut dests = HashMap::new();
        let mut edges = HashSet::new();
        let mut host_edge_counts = HashMap::new();
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
            for &(g, port, n) in &host.edge_counts {
                host_edge_counts.insert((addr, g, port), n);
            }
        }
        let mut global_edges: HashMap<(usize, u16), u32> = HashMap::new();
        let mut global_total = 0u32;
        for &(_, dg, port, n) in &h.group_edges {
            *global_edges.entry((dg, port)).or_default() += n;
            global_total += n;
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
        gateways.extend(crate::baseline::find_gateways(features));
        let mut current_prevalence: HashMap<String, HashSet<Addr>> = HashMap::new();
        for p in features.pairs.iter().filter(|p| !gateways.contains(&p.host)) {
            current_prevalence.entry(crate::baseline::net_of(p.peer)).or_default().insert(p.host);
        }
        let mut fleet: HashSet<Addr> = hosts.keys().copied().collect();
        fleet.extend(by_host.keys().copied());
        let edge_model = EdgeModel::new(&h.hosts, &group_of, &baseline.detect.lateral);
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
        let window_secs =
            features.rows.first().map(|r| r.window_end - r.window_start).unwrap_or(baseline.train.window_secs).max(1);
        Context {
            baseline,
            features,
            window_secs,
            hosts,
            dests,
            edges,
            host_edge_counts,
            global_edges,
            global_total,
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
    pub fn is_gateway(&self, a: Addr) -> bool {
        self.gateways.contains(&a)
    }

    pub fn host(&self, a: Addr) -> Option<&'a HostHistory> {
        self.hosts.get(&a).copied()
    }

    pub fn dest(&self, host: Addr, key: &str) -> Option<&'a DestUse> {
        self.dests.get(&(host, key)).copied()
    }

    pub fn edge_known(&self, src: Addr, dst: Addr, port: u16) -> bool {
        self.edges.contains(&(src, dst, port))
    }

    /// The peer group of a host; hosts never seen anywhere get the extra "unknown" group.
    pub fn group(&self, a: Addr) -> usize {
        self.group_of.get(&a).copied().unwrap_or(self.n_groups)
    }

    pub fn prevalence(&self, key: &str) -> Option<&'a Prevalence> {
        self.prevalence.get(key).copied()
    }

    pub fn current_hosts(&self, net: &str) -> usize {
        self.current_prevalence.get(net).map_or(0, HashSet::len)
    }

    /// True when at least [`GROUP_HABIT_MIN_HOSTS`] hosts of `host`'s peer group, and at
    /// least half of the group, reached `net` — in the baseline's history or in the data
    /// being scored: a habit or a rollout of the role (a licence check-in every member
    /// runs, a new SaaS every app host starts polling), not one implant's channel.
    pub fn group_habit(&self, host: Addr, net: &str) -> bool {
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
    pub fn clients_on(&self, host: Addr, port: u16) -> usize {
        self.clients.get(&(host, port)).map_or(0, HashSet::len)
    }

    pub fn is_periodic(&self, host: &str, net: &str, port: u16) -> bool {
        self.periodic.contains(&(host, net, port))
    }

    /// The interface and instance ids of a host, when the logs carry them.
    pub fn ids(&self, host: Addr) -> (Option<String>, Option<String>) {
        self.ids.get(&host).cloned().unwrap_or((None, None))
    }

    pub fn row(&self, host: Addr, window: u64) -> Option<&'a HostWindow> {
        self.rows.get(&(host, window)).copied()
    }

    /// Edge-days on which `host` opened `port` (to any destination) in training.
    pub fn edge_model_port_days(&self, host: Addr, port: u16) -> u32 {
        self.edge_model.host_port.get(&(host, port)).copied().unwrap_or(0)
    }

    /// True when `port` is the host's role: it opened it on at least
    /// `routine_destinations` destinations in training (a bastion's SSH, CI's deploys), or
    /// it is a probing host (scanner, poller) that opened it at all.
    pub fn routine_port(&self, src: Addr, port: u16) -> bool {
        self.edge_model.routine(src, port, self.baseline.detect.lateral.routine_destinations)
    }

    /// How surprising it is that `src` opens `port` on `dst`, in bits, factored as
    /// "this host opens this port at all" × "towards this destination's group" plus
    /// destination-side novelty (see [`EdgeSurprise`]).
    pub fn edge_surprise(&self, src: Addr, dst: Addr, port: u16) -> EdgeSurprise {
        let cfg = &self.baseline.detect.lateral;
        let m = &self.edge_model;
        let n_fleet_port = f64::from(m.fleet_port.get(&port).copied().unwrap_or(0));
        let p_fleet = (n_fleet_port + 1.0) / (f64::from(self.global_total) + PORT_VOCABULARY);
        // The group's habit is the average of its members' port mixes (each member weighs
        // one, so a single busy admin host does not make RDP "common for the group"),
        // leaving the host itself out.
        let sg = self.group(src);
        let own_share = m.host_share.get(&(src, port)).copied().unwrap_or(0.0);
        let is_member = m.members_with_edges.contains(&src);
        let members = m.group_members.get(&sg).copied().unwrap_or(0) - usize::from(is_member);
        let share_sum = m.group_share.get(&(sg, port)).copied().unwrap_or(0.0) - own_share;
        let members = members as f64;
        let p_group = (share_sum.max(0.0) + cfg.alpha_group * p_fleet) / (members + cfg.alpha_group);
        let (n_host_port, total_host) = match self.host(src) {
            Some(h) => (f64::from(m.host_port.get(&(src, port)).copied().unwrap_or(0)), f64::from(h.edge_total)),
            None => (0.0, 0.0),
        };
        // A host whose own edges look nothing like its group's (a web host clustered with
        // the Windows hosts by volume) should not inherit the group's habits: the prior
        // leans on the group only as far as the host resembles it.
        let cohesion = m.cohesion.get(&src).copied().unwrap_or(1.0);
        let prior = cohesion * p_group + (1.0 - cohesion) * p_fleet;
        let p_port = (n_host_port + cfg.alpha_host * prior) / (total_host + cfg.alpha_host);
        let port_bits = -p_port.max(1e-300).log2();

        // A port the host routinely opens on many destinations is its role (a bastion's
        // SSH, a scanner's probes): a new destination group is its job, not a surprise.
        let routine = self.routine_port(src, port);
        let dst_group = self.group(dst);
        let group_bits = if routine || dst_group >= self.n_groups {
            0.0
        } else {
            let n_fleet_group = f64::from(self.global_edges.get(&(dst_group, port)).copied().unwrap_or(0));
            let p_fleet_group = (n_fleet_group + 1.0) / (n_fleet_port + self.n_groups as f64 + 1.0);
            let n_host_group = match self.host(src) {
                Some(_) => f64::from(self.host_edge_counts.get(&(src, dst_group, port)).copied().unwrap_or(0)),
                None => 0.0,
            };
            let p = (n_host_group + cfg.alpha_host * p_fleet_group) / (n_host_port + cfg.alpha_host);
            -p.max(1e-300).log2()
        };
        // A destination that was there all through training and never accepted this port
        // from anyone but a scanner is not a server of it.
        // Nor, for a source whose role this port is not, a server of ordinary clients: a
        // host whose SSH only the bastion and CI ever used has administrators, not clients,
        // and an application server that turns up there is neither.
        let served_by = m.served.get(&(dst, port)).copied().unwrap_or(0);
        let clients = m.served_clients.get(&(dst, port)).copied().unwrap_or(0);
        let unserved = self.hosts.contains_key(&dst) && (served_by == 0 || (!routine && clients == 0));
        // A host the model knows that never opened any remote-access protocol is not an
        // administrator's machine: its first SSH, SMB, RDP or WinRM session is a change of
        // role, however common the port is elsewhere in the fleet.
        let first_remote_access = lateral::REMOTE_ACCESS_PORTS.contains(&port)
            && self.hosts.contains_key(&src)
            && !m.remote_access.contains(&src);
        EdgeSurprise { port_bits, group_bits, cohesion, routine, served_by, unserved, first_remote_access }
    }
}

/// Pseudo-vocabulary of ports for the fleet-level estimate.
const PORT_VOCABULARY: f64 = 1024.0;

/// The parts of a new edge's surprise, for the score and the evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeSurprise {
    /// −log2 P(port | host), backed off host → peer group (weighted by cohesion) → fleet.
    pub port_bits: f64,
    /// −log2 P(destination group | port, host), backed off to the fleet's use of the port.
    pub group_bits: f64,
    /// How much the host's own port mix resembles its peer group's (histogram intersection).
    pub cohesion: f64,
    /// The host opened this port on at least `routine_destinations` destinations in training.
    pub routine: bool,
    /// Non-scanning sources that opened this port on the destination in training.
    pub served_by: u32,
    /// The destination was known in training and no one (scanners aside) opened this port on
    /// it, or — when the port is not the source's routine — only hosts whose routine it is.
    pub unserved: bool,
    /// The port is a remote-access port and the host, known in training, never opened one.
    pub first_remote_access: bool,
}

/// Port-level counts behind [`Context::edge_surprise`], derived from the baseline's histories.
#[derive(Debug, Default)]
struct EdgeModel {
    host_port: HashMap<(Addr, u16), u32>,
    host_port_destinations: HashMap<(Addr, u16), u32>,
    /// Share of the host's edge-days on each port.
    host_share: HashMap<(Addr, u16), f64>,
    /// Sum of the members' shares per (group, port), and members with any edge.
    group_share: HashMap<(usize, u16), f64>,
    group_members: HashMap<usize, usize>,
    members_with_edges: HashSet<Addr>,
    /// Hosts that open many pairs in one window (scanners, pollers): every port they
    /// opened in training is their routine.
    probing: HashSet<Addr>,
    fleet_port: HashMap<u16, u32>,
    served: HashMap<(Addr, u16), u32>,
    /// Sources that opened the port on the destination in training without it being their
    /// routine: its ordinary clients, as opposed to the bastion, CI or a scanner.
    served_clients: HashMap<(Addr, u16), u32>,
    cohesion: HashMap<Addr, f64>,
    /// Hosts that opened a remote-access port (SSH, SMB, RDP, WinRM, RPC) in training.
    remote_access: HashSet<Addr>,
}

impl EdgeModel {
    fn new(histories: &[HostHistory], group_of: &HashMap<Addr, usize>, cfg: &LateralConfig) -> EdgeModel {
        let mut m = EdgeModel::default();
        for h in histories {
            let Some(src) = parse_addr(&h.ip) else { continue };
            // Scanners and pollers (many pairs in one window) open everything; what they
            // touch says nothing about which ports a destination serves.
            let scanning = h.max_pairs as usize >= cfg.scan_min_pairs;
            if scanning {
                m.probing.insert(src);
            }
            for e in &h.edges {
                *m.host_port.entry((src, e.port)).or_default() += e.days;
                *m.host_port_destinations.entry((src, e.port)).or_default() += 1;
                if lateral::REMOTE_ACCESS_PORTS.contains(&e.port) {
                    m.remote_access.insert(src);
                }
            }
        }
        for h in histories {
            let Some(src) = parse_addr(&h.ip) else { continue };
            if m.probing.contains(&src) {
                continue;
            }
            for e in &h.edges {
                let Some(dst) = parse_addr(&e.dst) else { continue };
                *m.served.entry((dst, e.port)).or_default() += 1;
                if !m.routine(src, e.port, cfg.routine_destinations) {
                    *m.served_clients.entry((dst, e.port)).or_default() += 1;
                }
            }
        }
        let mut host_ports: HashMap<Addr, Vec<(u16, u32)>> = HashMap::new();
        for (&(src, port), &n) in &m.host_port {
            host_ports.entry(src).or_default().push((port, n));
            *m.fleet_port.entry(port).or_default() += n;
        }
        for (src, ports) in &host_ports {
            let total: u32 = ports.iter().map(|(_, n)| n).sum();
            if total == 0 {
                continue;
            }
            m.members_with_edges.insert(*src);
            let group = group_of.get(src).copied();
            if let Some(g) = group {
                *m.group_members.entry(g).or_default() += 1;
            }
            for &(port, n) in ports {
                let share = f64::from(n) / f64::from(total);
                m.host_share.insert((*src, port), share);
                if let Some(g) = group {
                    *m.group_share.entry((g, port)).or_default() += share;
                }
            }
        }
        // Cohesion: histogram intersection of the host's port mix with the mean mix of the
        // rest of its group (leave-one-out, so a host is not compared with itself).
        for (src, ports) in &host_ports {
            let Some(&g) = group_of.get(src) else { continue };
            let others = m.group_members.get(&g).copied().unwrap_or(0).saturating_sub(1);
            if others == 0 || !m.members_with_edges.contains(src) {
                continue;
            }
            let mut overlap = 0.0;
            for &(port, _) in ports {
                let own = m.host_share.get(&(*src, port)).copied().unwrap_or(0.0);
                let rest = (m.group_share.get(&(g, port)).copied().unwrap_or(0.0) - own).max(0.0) / others as f64;
                overlap += own.min(rest);
            }
            m.cohesion.insert(*src, overlap.clamp(0.0, 1.0));
        }
        m
    }

    /// True when `port` is `src`'s role: it opened it on at least `routine_destinations`
    /// destinations in training, or `src` is a probing host that opened it at all.
    fn routine(&self, src: Addr, port: u16, routine_destinations: u32) -> bool {
        let spread = self.host_port_destinations.get(&(src, port)).copied().unwrap_or(0);
        spread >= routine_destinations || (spread > 0 && self.probing.contains(&src))
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
pub fn raw_hits(baseline: &Baseline, features: &Features) -> Vec<RawHit> {
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
pub fn score_raw(
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
            hosts_of.entry(crate::baseline::net_of(peer)).or_default().insert(f.host.clone());
        }
    }
    for f in findings.iter_mut().filter(|f| f.detector == crate::finding::BEACONING) {
        let Some(net) = f.peer.as_deref().and_then(parse_addr).map(crate::baseline::net_of) else { continue };
        let Some(hosts) = hosts_of.get(&net) else { continue };
        let others: Vec<String> = hosts.iter().filter(|h| **h != f.host).cloned().collect();
        if others.is_empty() {
            continue;
        }
        f.summary = format!("{}; campaign: {} other host(s) beacon to {net}", f.summary, others.len());
        f.related_hosts = others;
    }
}

pub(crate) fn round3(v: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_table_gives_internal_and_external_blocks() {
        let text = "[features]\ninternal = [\"64.225.56.201/32\"]\nexternal = [\"192.168.0.4/31\", \"fd00:1::/64\"]\n[train]\nseed = 3\n";
        let settings = parse_settings(text).unwrap();
        let internal: Cidr = "64.225.56.201/32".parse().unwrap();
        assert_eq!(settings.internal, vec![internal]);
        let external: Vec<String> = settings.external.iter().map(ToString::to_string).collect();
        assert_eq!(external, ["192.168.0.4/31", "fd00:1::/64"]);
        assert_eq!(settings.seed, Some(3));
    }

    fn history(ip: &str, edges: &[(&str, u16)]) -> HostHistory {
        HostHistory {
            ip: ip.to_string(),
            group: 0,
            first_seen: 0,
            last_seen: 86_400,
            windows: 96,
            dests: Vec::new(),
            edges: edges
                .iter()
                .map(|&(dst, port)| crate::baseline::EdgeUse { dst: dst.to_string(), port, days: 1, first_seen: 0 })
                .collect(),
            edge_counts: Vec::new(),
            edge_total: edges.len() as u32,
            max_fanout: 1,
            max_pairs: 1,
            max_external: [0; 3],
            edge_hours: 0,
            volume: Default::default(),
        }
    }

    #[test]
    fn remote_access_users_and_ordinary_clients_are_told_apart() {
        let hosts = [
            // A bastion: SSH to three hosts is its routine.
            history("10.0.0.1", &[("10.0.0.3", 22), ("10.0.0.7", 22), ("10.0.0.8", 22)]),
            history("10.0.0.2", &[("10.0.0.3", 5432), ("10.0.0.4", 8080)]),
            history("10.0.0.5", &[("10.0.0.6", 445)]),
        ];
        let group_of: HashMap<Addr, usize> = hosts.iter().map(|h| (parse_addr(&h.ip).unwrap(), 0)).collect();
        let m = EdgeModel::new(&hosts, &group_of, &LateralConfig::default());
        let mut users: Vec<String> = m.remote_access.iter().map(ToString::to_string).collect();
        users.sort();
        // A database client is not a remote-access user: 5432 is an admin port, not a shell.
        assert_eq!(users, ["10.0.0.1", "10.0.0.5"]);
        let db = parse_addr("10.0.0.3").unwrap();
        // The bastion served 10.0.0.3's SSH, but only as an administrator: no ordinary client.
        assert_eq!(m.served.get(&(db, 22)), Some(&1));
        assert_eq!(m.served_clients.get(&(db, 22)), None);
        assert_eq!(m.served_clients.get(&(db, 5432)), Some(&1));
    }

    #[test]
    fn group_service_quantile_outside_0_1_is_refused() {
        let err = parse_settings("[detect.exfiltration]\ngroup_service_quantile = 1.5\n").unwrap_err();
        assert!(err.to_string().contains("group_service_quantile must be in [0, 1], got 1.5"), "{err}");
        let settings = parse_settings("[detect.exfiltration]\ngroup_service_quantile = 0.5\n").unwrap();
        assert_eq!(settings.detect.exfiltration.group_service_quantile, 0.5);
    }

    #[test]
    fn bad_features_table_is_refused() {
        let err = parse_settings("[features]\nexternal = [\"192.168.0.4\"]\n").unwrap_err();
        assert!(err.to_string().contains("[features]: external"), "{err}");
        assert!(parse_settings("[features]\nexternals = []\n").is_err());
    }
}
