//! The partial feature computation: a [`RecordSink`] that folds records into mergeable
//! accumulators, and [`FeatureState::finish`], which applies the de-duplication rules
//! once every copy of every flow has been seen.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use flowhound_flowlog::{Action, Addr, FlowDirection, FlowRecord, Interner, LogStatus, Partial, RecordSink, Sym};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::acc::{
    Cond, Contribution, EdgeAcc, EdgeParts, Event, Flow, HostAcc, IdIx, MAX_IDS_PER_HOST, PairAcc, push_event, trim,
};
use crate::config::FeatureConfig;
use crate::output::{ExtractStats, Features, HostWindow, InternalEdge, PairId, PairSeries};

const NO_ID: IdIx = IdIx::MAX;

/// Errors resuming a checkpointed [`FeatureState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "the checkpoint was made under another feature configuration (fingerprint {checkpoint:016x}, this one {config:016x})"
    )]
    ConfigMismatch { checkpoint: u64, config: u64 },
}

/// Identifier strings (interface and instance ids) of one partial. Serialized as the
/// list of strings; the index is rebuilt.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(from = "Vec<Box<str>>", into = "Vec<Box<str>>")]
struct IdTable {
    strings: Vec<Box<str>>,
    index: FxHashMap<Box<str>, IdIx>,
}

impl IdTable {
    fn intern(&mut self, s: &str) -> IdIx {
        if let Some(&ix) = self.index.get(s) {
            return ix;
        }
        let ix = IdIx::try_from(self.strings.len()).unwrap_or(NO_ID - 1);
        self.strings.push(s.into());
        self.index.insert(s.into(), ix);
        ix
    }

    fn get(&self, ix: IdIx) -> &str {
        self.strings.get(ix as usize).map_or("", |s| s)
    }
}

impl From<Vec<Box<str>>> for IdTable {
    fn from(strings: Vec<Box<str>>) -> IdTable {
        let mut table = IdTable::default();
        for s in strings {
            table.intern(&s);
        }
        table
    }
}

impl From<IdTable> for Vec<Box<str>> {
    fn from(table: IdTable) -> Vec<Box<str>> {
        table.strings
    }
}

/// What the records of one interface say about its own address: the interface-level
/// `srcaddr`/`dstaddr` of every record include it, so it is the intersection of their pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Candidates {
    #[default]
    Unseen,
    Two(Addr, Addr),
    One(Addr),
    Empty,
}

impl Candidates {
    fn intersect(self, other: Candidates) -> Candidates {
        // Called once per record: no temporary collections.
        match (self, other) {
            (Candidates::Unseen, x) | (x, Candidates::Unseen) => x,
            (Candidates::Empty, _) | (_, Candidates::Empty) => Candidates::Empty,
            (Candidates::One(a), x) | (x, Candidates::One(a)) => {
                if x.contains(a) {
                    Candidates::One(a)
                } else {
                    Candidates::Empty
                }
            }
            (Candidates::Two(a, b), Candidates::Two(c, d)) => {
                let a_common = a == c || a == d;
                let b_common = b != a && (b == c || b == d);
                match (a_common, b_common) {
                    (true, true) => Candidates::of_pair(a, b),
                    (true, false) => Candidates::One(a),
                    (false, true) => Candidates::One(b),
                    (false, false) => Candidates::Empty,
                }
            }
        }
    }

    fn of_pair(a: Addr, b: Addr) -> Candidates {
        if a == b { Candidates::One(a) } else { Candidates::Two(a.min(b), a.max(b)) }
    }

    fn contains(self, a: Addr) -> bool {
        match self {
            Candidates::Unseen => true,
            Candidates::Two(x, y) => a == x || a == y,
            Candidates::One(x) => a == x,
            Candidates::Empty => false,
        }
    }
}

/// Bytes an interface address received from internal senders and sent to external
/// destinations on one (destination port, protocol): a gateway forwards one to the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Relay {
    from_internal: u64,
    to_external: u64,
}

/// Relay keys remembered per interface; past it, bytes count as unmatched.
const MAX_RELAY_KEYS: usize = 1024;

/// Share of an address's relayed bytes that must match port for port, both ways, for its
/// interface to be recognised as a gateway (see docs/features.md).
const GATEWAY_MATCH: f64 = 0.95;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EniInfo {
    own: Candidates,
    instances: Vec<IdIx>,
    /// By (candidate own address, destination port, protocol). Only candidate addresses are
    /// recorded, and the final own address is a candidate at every record, so its entries
    /// are complete whatever the order of the records.
    #[serde(with = "crate::serde_pairs")]
    relay: FxHashMap<(Addr, u16, u8), Relay>,
    /// Relayed bytes that found no key below [`MAX_RELAY_KEYS`], by candidate address.
    relay_unkeyed: Vec<(Addr, u64)>,
    /// Up to two distinct internal senders per candidate address.
    relay_sources: Vec<(Addr, Addr)>,
}

impl EniInfo {
    /// Notes what a record of this interface says about forwarding (after `own` took it in).
    /// `known` are the record's packet addresses with whether each is internal: the
    /// interface addresses are usually the same, and classifying an address costs a scan
    /// of the configured blocks.
    fn note_relay(&mut self, cfg: &FeatureConfig, r: &FlowRecord, known: [(Addr, bool); 2]) {
        let (Some(from), Some(to)) = (r.srcaddr, r.dstaddr) else { return };
        let internal = |a: Addr| match known.iter().find(|(k, _)| *k == a) {
            Some(&(_, internal)) => internal,
            None => cfg.is_internal(a),
        };
        let (from_internal, to_internal) = (internal(from), internal(to));
        let (port, protocol, bytes) = (r.dstport.unwrap_or(0), r.protocol.unwrap_or(0), r.bytes.unwrap_or(0));
        let (addr, inbound) = if from_internal && to_internal && from != to && self.own.contains(to) {
            let seen = self.relay_sources.iter().filter(|(a, _)| *a == to).count();
            if seen < 2 && !self.relay_sources.contains(&(to, from)) {
                self.relay_sources.push((to, from));
            }
            (to, true)
        } else if from_internal && !to_internal && self.own.contains(from) {
            (from, false)
        } else {
            return;
        };
        let len = self.relay.len();
        let relay = match self.relay.entry((addr, port, protocol)) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) if len < MAX_RELAY_KEYS => v.insert(Relay::default()),
            Entry::Vacant(_) => {
                match self.relay_unkeyed.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, b)) => *b = b.saturating_add(bytes),
                    None => self.relay_unkeyed.push((addr, bytes)),
                }
                return;
            }
        };
        if inbound {
            relay.from_internal = relay.from_internal.saturating_add(bytes);
        } else {
            relay.to_external = relay.to_external.saturating_add(bytes);
        }
    }

    fn merge_relay(&mut self, other: &EniInfo) {
        for (&key, r) in &other.relay {
            let len = self.relay.len();
            match self.relay.entry(key) {
                Entry::Occupied(mut o) => {
                    o.get_mut().from_internal = o.get_mut().from_internal.saturating_add(r.from_internal);
                    o.get_mut().to_external = o.get_mut().to_external.saturating_add(r.to_external);
                }
                Entry::Vacant(v) if len < MAX_RELAY_KEYS => {
                    v.insert(*r);
                }
                Entry::Vacant(_) => self.relay_unkeyed.push((key.0, r.from_internal + r.to_external)),
            }
        }
        self.relay_unkeyed.extend_from_slice(&other.relay_unkeyed);
        for &(addr, src) in &other.relay_sources {
            let seen = self.relay_sources.iter().filter(|(a, _)| *a == addr).count();
            if seen < 2 && !self.relay_sources.contains(&(addr, src)) {
                self.relay_sources.push((addr, src));
            }
        }
    }

    /// True when the interface's own address `own` forwards: at least two internal senders,
    /// some bytes out to external destinations, and, port for port, what it received from
    /// internal senders matching what it sent out to external ones (both ways).
    fn is_gateway(&self, own: Addr) -> bool {
        let senders = self.relay_sources.iter().filter(|(a, _)| *a == own).count();
        let (mut from_internal, mut to_external, mut matched) = (0u64, 0u64, 0u64);
        for (&(addr, _, _), r) in &self.relay {
            if addr == own {
                from_internal = from_internal.saturating_add(r.from_internal);
                to_external = to_external.saturating_add(r.to_external);
                matched = matched.saturating_add(r.from_internal.min(r.to_external));
            }
        }
        for &(addr, bytes) in &self.relay_unkeyed {
            if addr == own {
                // Unmatched either way: counts against both shares.
                from_internal = from_internal.saturating_add(bytes);
                to_external = to_external.saturating_add(bytes);
            }
        }
        senders >= 2 && to_external > 0 && matched as f64 >= GATEWAY_MATCH * from_internal.max(to_external) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct EdgeKey {
    window: u64,
    src: Addr,
    dst: Addr,
    port: u16,
    protocol: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct PairKey {
    host: Addr,
    peer: Addr,
    port: u16,
    protocol: u8,
    horizon: u64,
}

/// Which copy of a flow a record is, relative to the interface that logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
    Unknown,
}

/// Host-window features, pair series and internal edges over some objects. Feed it
/// records (it is a [`RecordSink`]), merge partials over disjoint inputs
/// ([`Partial::merge`]), then call [`FeatureState::finish`].
///
/// A long-running process instead drains finished windows as its watermark advances
/// ([`FeatureState::drain_finished`]), reads the pair series of the last horizon
/// ([`FeatureState::pair_series`]), evicts old pair events
/// ([`FeatureState::evict_pairs_before`]) and checkpoints the state with serde between
/// objects. The configuration is not serialized: a deserialized state must be given it
/// back with [`FeatureState::resume`] before use, which refuses a checkpoint made under a
/// different configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureState {
    /// Replaced by [`FeatureState::resume`] after deserialization.
    #[serde(skip)]
    cfg: Arc<FeatureConfig>,
    /// [`FeatureConfig::fingerprint`] of the configuration the state was built under.
    config_fingerprint: u64,
    ids: IdTable,
    /// Per-object cache from the object's symbols to `ids`; reset at each object's end
    /// (so not part of a checkpoint, which is taken between objects).
    #[serde(skip)]
    sym_ids: Vec<IdIx>,
    enis: Vec<EniInfo>,
    #[serde(with = "crate::serde_pairs")]
    hosts: FxHashMap<(Addr, u64), HostAcc>,
    #[serde(with = "crate::serde_pairs")]
    edges: FxHashMap<EdgeKey, EdgeParts>,
    #[serde(with = "crate::serde_pairs")]
    pairs: FxHashMap<PairKey, PairAcc>,
    skipdata: FxHashSet<(IdIx, u64)>,
    /// (host, horizon start) of hosts with a capture of their own in an already drained
    /// window: the pair series rule needs it after the window itself is gone.
    monitored_horizons: FxHashSet<(Addr, u64)>,
    /// Counts since the last drain.
    stats: ExtractStats,
    /// What a drain takes out of the tables, kept (empty) from drain to drain: collected
    /// afresh, these lists of wide entries grew by doubling into freshly faulted memory
    /// at every drain.
    #[serde(skip)]
    drained: Drained,
}

/// Reused lists of the entries a drain removes (always empty between calls), and the size
/// of the last drain's edge rows.
#[derive(Debug, Clone, Default)]
struct Drained {
    hosts: Vec<((Addr, u64), HostAcc)>,
    /// Edge rows of the last drain: the next one's first guess.
    edge_rows: usize,
    pairs: Vec<(PairKey, PairAcc)>,
}

/// What the interfaces' records say about their own addresses, from everything seen so far.
struct Resolution {
    own: Vec<Option<Addr>>,
    /// Interfaces recognised as gateways from their traffic, and their own addresses:
    /// what they log is other hosts' traffic, never their own behaviour.
    gateway_enis: FxHashSet<IdIx>,
    gateway_addrs: FxHashSet<Addr>,
    /// Interfaces that only ever saw one peer, by that pair: the one whose copies count.
    canonical: FxHashMap<(Addr, Addr), IdIx>,
    unresolved: u64,
}

impl Resolution {
    /// The own address is one of every record's two interface addresses, so if it is
    /// not the source it is the destination.
    fn side(&self, eni: IdIx, iface_src: Addr) -> Side {
        match self.own.get(eni as usize).copied().flatten() {
            Some(a) if a == iface_src => Side::Sender,
            Some(_) => Side::Receiver,
            None => Side::Unknown,
        }
    }

    /// True when this copy of `host`'s traffic was logged by `host`'s own interface.
    fn is_own_capture(&self, host: Addr, cond: Cond) -> Option<IdIx> {
        let Cond::ByEni { eni, src, iface_src } = cond else { return None };
        let mine = match self.side(eni, iface_src) {
            Side::Sender => host == src,
            Side::Receiver => host != src,
            Side::Unknown => false,
        };
        mine.then_some(eni)
    }
}

impl FeatureState {
    pub fn new(cfg: Arc<FeatureConfig>) -> FeatureState {
        FeatureState {
            ids: IdTable::default(),
            sym_ids: Vec::new(),
            enis: Vec::new(),
            hosts: FxHashMap::default(),
            edges: FxHashMap::default(),
            pairs: FxHashMap::default(),
            skipdata: FxHashSet::default(),
            monitored_horizons: FxHashSet::default(),
            stats: ExtractStats::default(),
            drained: Drained::default(),
            config_fingerprint: cfg.fingerprint(),
            cfg,
        }
    }

    /// Gives a deserialized checkpoint its configuration back. Refuses a checkpoint made
    /// under a different configuration: its windows, limits and internal blocks would not
    /// match what is fed next.
    pub fn resume(mut self, cfg: Arc<FeatureConfig>) -> Result<FeatureState, CheckpointError> {
        let config = cfg.fingerprint();
        if config != self.config_fingerprint {
            return Err(CheckpointError::ConfigMismatch { checkpoint: self.config_fingerprint, config });
        }
        self.cfg = cfg;
        self.sym_ids.clear();
        Ok(self)
    }

    /// Host-windows held: the memory of the computation grows with this, not with records.
    pub fn host_windows(&self) -> usize {
        self.hosts.len()
    }

    #[inline]
    fn id_of(&mut self, interner: &Interner, sym: Sym) -> Option<IdIx> {
        if sym.is_none() {
            return None;
        }
        let i = sym.index();
        if i >= self.sym_ids.len() {
            self.sym_ids.resize(i + 1, NO_ID);
        }
        if self.sym_ids[i] == NO_ID {
            let s = interner.resolve(sym)?;
            let ix = self.ids.intern(s);
            self.sym_ids[i] = ix;
            if self.enis.len() < self.ids.strings.len() {
                self.enis.resize(self.ids.strings.len(), EniInfo::default());
            }
        }
        Some(self.sym_ids[i])
    }

    /// Adds one side of a flow to `host`'s window; the logging interface is the host's own
    /// when `local` names it. A `superseded` copy (see [`FeatureState::superseded`]) only
    /// marks the logging host as monitored and counts as a dropped duplicate (without
    /// opening a window for a host it does not mark: that window would have no row).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn credit(
        &mut self,
        host: Addr,
        window: u64,
        local: Option<Addr>,
        eni: Option<IdIx>,
        cond: Cond,
        superseded: bool,
        c: Contribution,
    ) {
        if superseded && local != Some(host) {
            // Nothing to note for this host: no lookup either.
            self.stats.duplicates_dropped += u64::from(c.primary);
            return;
        }
        let limits = &self.cfg.limits;
        let (cap_peers, cap_ports) = (limits.max_peers_per_host_window, limits.max_ports_per_host_window);
        let Some(acc) = self.host_acc(host, window) else { return };
        if local == Some(host) {
            acc.monitored = true;
            acc.note_eni(eni);
        }
        if superseded {
            self.stats.duplicates_dropped += u64::from(c.primary);
        } else {
            acc.add(cond, c, cap_peers, cap_ports);
        }
    }

    /// True when a copy under `cond` can already be seen never to count: a receiver's or a
    /// gateway's copy whose sender (or either end) has a capture of its own in the window.
    /// Being monitored only ever turns on (merges keep it, drains take the whole window),
    /// so the drain would drop the copy; dropping it now spares the conditional part
    /// that would hold it until then. Half the records of logs with `flow-direction` are
    /// such copies of flows between monitored hosts.
    #[inline]
    fn superseded(&self, cond: Cond, window: u64) -> bool {
        let monitored = |a: Addr| self.hosts.get(&(a, window)).is_some_and(|h| h.monitored);
        match cond {
            Cond::Unmonitored(a) => monitored(a),
            Cond::Neither(a, b) => monitored(a) || monitored(b),
            Cond::Always | Cond::ByEni { .. } => false,
        }
    }

    #[inline]
    fn host_acc(&mut self, host: Addr, window: u64) -> Option<&mut HostAcc> {
        let len = self.hosts.len();
        match self.hosts.entry((host, window)) {
            Entry::Occupied(o) => Some(o.into_mut()),
            Entry::Vacant(v) if len < self.cfg.limits.max_host_windows => Some(v.insert(HostAcc::default())),
            Entry::Vacant(_) => {
                self.stats.host_windows_refused += 1;
                None
            }
        }
    }

    fn add(&mut self, r: &FlowRecord, interner: &Interner) {
        self.stats.records += 1;
        match r.log_status {
            Some(LogStatus::NoData) => {
                self.stats.nodata += 1;
                return;
            }
            Some(LogStatus::SkipData) => {
                self.stats.skipdata += 1;
                let eni = self.id_of(interner, r.interface_id);
                if let (Some(eni), Some(t)) = (eni, r.end.or(r.start)) {
                    // A capture window can straddle two feature windows: mark both.
                    self.skipdata.insert((eni, self.cfg.window_of(t)));
                    if let Some(s) = r.start {
                        self.skipdata.insert((eni, self.cfg.window_of(s)));
                    }
                }
                return;
            }
            _ => {}
        }
        let Some(t) = r.end.or(r.start) else {
            self.stats.untimed += 1;
            return;
        };
        let (Some(ps), Some(pd)) = (r.packet_src(), r.packet_dst()) else {
            self.stats.unattributed += 1;
            return;
        };
        let src_internal = self.cfg.is_internal(ps);
        let dst_internal = self.cfg.is_internal(pd);
        if !src_internal && !dst_internal {
            self.stats.unattributed += 1;
            return;
        }
        let window = self.cfg.window_of(t);
        let eni = self.id_of(interner, r.interface_id);
        let translated = (r.pkt_srcaddr.is_some() && r.pkt_srcaddr != r.srcaddr)
            || (r.pkt_dstaddr.is_some() && r.pkt_dstaddr != r.dstaddr);
        // Requester-managed interfaces (NAT gateway, transit gateway) have no instance and
        // log other hosts' packets under their own interface address.
        let gateway = translated && r.instance_id.is_none();
        if let Some(e) = eni {
            let info = &mut self.enis[e as usize];
            if let (Some(ls), Some(ld)) = (r.srcaddr, r.dstaddr) {
                info.own = info.own.intersect(Candidates::of_pair(ls, ld));
            }
            info.note_relay(&self.cfg, r, [(ps, src_internal), (pd, dst_internal)]);
            if !gateway {
                let inst = self.id_of(interner, r.instance_id);
                if let Some(inst) = inst {
                    let info = &mut self.enis[e as usize];
                    if !info.instances.contains(&inst) && info.instances.len() < MAX_IDS_PER_HOST {
                        info.instances.push(inst);
                    }
                }
            }
        }
        let (cond, local) = if gateway {
            let cond = match (src_internal, dst_internal) {
                (true, true) => Cond::Neither(ps, pd),
                (true, false) => Cond::Unmonitored(ps),
                _ => Cond::Unmonitored(pd),
            };
            (cond, None)
        } else {
            match r.flow_direction {
                Some(FlowDirection::Egress) => (Cond::Always, Some(ps)),
                Some(FlowDirection::Ingress) => {
                    (if src_internal { Cond::Unmonitored(ps) } else { Cond::Always }, Some(pd))
                }
                None => match (src_internal, dst_internal, eni, r.srcaddr, r.dstaddr) {
                    (true, true, Some(eni), Some(iface_src), Some(_)) => {
                        (Cond::ByEni { eni, src: ps, iface_src }, None)
                    }
                    (true, true, ..) => (Cond::Unmonitored(ps), None),
                    (true, false, ..) => (Cond::Always, Some(ps)),
                    _ => (Cond::Always, Some(pd)),
                },
            }
        };
        let packets = r.packets.unwrap_or(0);
        let bytes = r.bytes.unwrap_or(0);
        let reject = r.action == Some(Action::Reject);
        let syn = r.tcp_flags.is_some_and(|f| f & 0x02 != 0 && f & 0x10 == 0);
        let protocol = r.protocol.unwrap_or(0);
        let out_flow = Flow {
            peer: pd,
            peer_internal: dst_internal,
            src_port: r.srcport,
            dst_port: r.dstport,
            protocol,
            packets,
            bytes,
            reject,
            syn,
            aws_service: managed_endpoint(interner, r.pkt_dst_aws_service),
        };
        let superseded = self.superseded(cond, window);
        if src_internal {
            let c = Contribution { flow: out_flow, out: true, primary: true };
            self.credit(ps, window, local, eni, cond, superseded, c);
        }
        if dst_internal {
            let flow = Flow {
                peer: ps,
                peer_internal: src_internal,
                aws_service: managed_endpoint(interner, r.pkt_src_aws_service),
                ..out_flow
            };
            let c = Contribution { flow, out: false, primary: !src_internal };
            self.credit(pd, window, local, eni, cond, superseded, c);
        }
        // A superseded copy's edge counts would be dropped with it.
        if src_internal && dst_internal && !superseded && self.cfg.keeps_edges() {
            let key = EdgeKey { window, src: ps, dst: pd, port: r.dstport.unwrap_or(0), protocol };
            let len = self.edges.len();
            let parts = match self.edges.entry(key) {
                Entry::Occupied(o) => Some(o.into_mut()),
                Entry::Vacant(v) if len < self.cfg.limits.max_edges => Some(v.insert(EdgeParts::new(cond))),
                Entry::Vacant(_) => None,
            };
            match parts {
                Some(parts) => {
                    let e = parts.get_mut(cond);
                    if reject {
                        e.reject += 1;
                    } else {
                        e.accept += 1;
                    }
                    e.packets = e.packets.saturating_add(packets);
                    e.bytes = e.bytes.saturating_add(bytes);
                    e.syn += u64::from(syn);
                }
                None => self.stats.edges_refused += 1,
            }
        }
        if src_internal && !dst_internal && self.cfg.keeps_pair_series() {
            let start = r.start.unwrap_or(t);
            let key = PairKey {
                host: ps,
                peer: pd,
                port: r.dstport.unwrap_or(0),
                protocol,
                horizon: self.cfg.horizon_of(start),
            };
            let len = self.pairs.len();
            let pair = match self.pairs.entry(key) {
                Entry::Occupied(o) => Some(o.into_mut()),
                Entry::Vacant(v) if len < self.cfg.limits.max_pairs => Some(v.insert(PairAcc::default())),
                Entry::Vacant(_) => None,
            };
            match pair {
                Some(pair) => {
                    let event =
                        Event { start, end: t.max(start), bytes, packets, src_port: r.srcport.unwrap_or(0), syn };
                    let cap = self.cfg.limits.max_events_per_pair;
                    pair.aws_service |= managed_endpoint(interner, r.pkt_dst_aws_service);
                    if cond == Cond::Always {
                        pair.own_total += 1;
                        push_event(&mut pair.own, event, cap);
                    } else {
                        pair.other_total += 1;
                        push_event(&mut pair.other, event, cap);
                    }
                }
                None => self.stats.pairs_refused += 1,
            }
        }
    }

    /// Applies the de-duplication rules and computes the output. Deterministic: the
    /// result depends only on the records, not on how they were split or ordered.
    pub fn finish(mut self) -> Features {
        let resolution = self.resolution();
        let (rows, edges) = self.take_windows(u64::MAX, &resolution);
        self.stats.interfaces_unresolved += resolution.unresolved;
        let pairs = self.take_pairs(u64::MAX, &resolution);
        tracing::debug!(rows = rows.len(), edges = edges.len(), pairs = pairs.len(), "features finished");
        Features { rows, pairs, edges, stats: self.stats, addresses: self.cfg.declared_blocks().clone() }
    }

    /// Removes and returns, finished, the pair series whose horizon ends at or before
    /// `watermark`, with the copy rule of [`FeatureState::finish`]. Call it after
    /// [`FeatureState::drain_finished`] with the same watermark: the rule needs to know
    /// which hosts had a capture of their own in any window of the horizon. Lets a run over
    /// time-ordered objects write each horizon out and forget it (per horizon, the series
    /// come sorted like those of `finish`).
    pub fn drain_finished_pairs(&mut self, watermark: u64) -> Vec<PairSeries> {
        let resolution = self.resolution();
        let pairs = self.take_pairs(watermark, &resolution);
        let horizon = self.cfg.horizon_secs();
        self.monitored_horizons.retain(|&(_, h)| h.saturating_add(horizon) > watermark);
        pairs
    }

    fn take_pairs(&mut self, watermark: u64, resolution: &Resolution) -> Vec<PairSeries> {
        let horizon = self.cfg.horizon_secs();
        let cap = self.cfg.limits.max_events_per_pair;
        let closed = |h: u64| h.saturating_add(horizon) <= watermark;
        let mut taken = std::mem::take(&mut self.drained.pairs);
        taken.extend(self.pairs.extract_if(|key, _| closed(key.horizon)));
        // Sorted on the unique keys rather than the wide series after.
        taken.sort_unstable_by_key(|(k, _)| (k.host, k.peer, k.port, k.protocol, k.horizon));
        let mut pairs = Vec::with_capacity(taken.len());
        for (key, pair) in taken.drain(..) {
            if resolution.gateway_addrs.contains(&key.host) {
                continue;
            }
            let PairAcc { mut own, own_total, other, other_total, aws_service } = pair;
            let mut total = own_total;
            if !self.monitored_horizons.contains(&(key.host, key.horizon)) {
                own.extend(other);
                total += other_total;
            }
            if total == 0 {
                continue;
            }
            trim(&mut own, cap);
            own.sort_unstable();
            let id = PairId {
                host: key.host,
                peer: key.peer,
                port: key.port,
                protocol: key.protocol,
                horizon_start: key.horizon,
                horizon_end: key.horizon + horizon,
            };
            let series = PairSeries::from_events(id, &own, total, aws_service);
            self.stats.events_dropped += series.events_dropped;
            pairs.push(series);
        }
        self.drained.pairs = taken;
        pairs
    }

    /// Removes and returns, finished, the host windows and internal edges whose window
    /// ends at or before `watermark` (Unix seconds), applying the same de-duplication
    /// rules as [`FeatureState::finish`]; later windows stay open. The returned
    /// [`Features::stats`] are the counts since the previous drain, so the stats of all
    /// drains plus the final `finish` add up to those of one `finish` over everything.
    /// Pair series are not drained: see [`FeatureState::pair_series`].
    ///
    /// Exact only if every copy of every flow in those windows (both ends' interfaces, a
    /// gateway's) has been fed by then: a copy arriving later opens the window again and
    /// is counted in a second, partial row. Choosing a watermark that lags the newest
    /// record by the logs' delivery lateness is the caller's job.
    pub fn drain_finished(&mut self, watermark: u64) -> Features {
        let resolution = self.resolution();
        let (rows, edges) = self.take_windows(watermark, &resolution);
        tracing::debug!(watermark, rows = rows.len(), edges = edges.len(), "finished windows drained");
        Features {
            rows,
            pairs: Vec::new(),
            edges,
            stats: std::mem::take(&mut self.stats),
            addresses: self.cfg.declared_blocks().clone(),
        }
    }

    /// The pair series over the horizon ending at `watermark`: one per (host, external
    /// peer, port, protocol) with events starting in `[watermark - horizon, watermark)`,
    /// with the same copy rule as [`FeatureState::finish`] (a gateway's copies count only
    /// for hosts with no capture of their own in the stored horizon the event falls in).
    /// The state is not changed; `horizon_start`/`horizon_end` of each series are the
    /// bounds above. Pairs past the per-pair event limit report a lower bound.
    pub fn pair_series(&self, watermark: u64) -> Vec<PairSeries> {
        let horizon = self.cfg.horizon_secs();
        let from = watermark.saturating_sub(horizon);
        let resolution = self.resolution();
        let mut monitored: FxHashSet<(Addr, u64)> = self.monitored_horizons.clone();
        for (host, window) in self.monitored_windows(&resolution) {
            monitored.insert((host, self.cfg.horizon_of(window)));
        }
        let mut grouped: FxHashMap<(Addr, Addr, u16, u8), SeriesParts> = FxHashMap::default();
        for (key, pair) in &self.pairs {
            if key.horizon >= watermark || key.horizon + horizon <= from || resolution.gateway_addrs.contains(&key.host)
            {
                continue;
            }
            let entry = grouped.entry((key.host, key.peer, key.port, key.protocol)).or_default();
            let lists = [(&pair.own, pair.own_total), (&pair.other, pair.other_total)];
            // A gateway's or the peer side's copies count only for hosts without a capture of their own.
            let counted = if monitored.contains(&(key.host, key.horizon)) { 1 } else { 2 };
            for &(list, total) in &lists[..counted] {
                // Events beyond the per-pair limit are the bucket's latest: count them as in range.
                entry.total += total.saturating_sub(list.len() as u64);
                for e in list {
                    if e.start >= from && e.start < watermark {
                        entry.events.push(*e);
                        entry.total += 1;
                    }
                }
            }
            entry.aws_service |= pair.aws_service;
        }
        let cap = self.cfg.limits.max_events_per_pair;
        // Sorted here, on the unique keys, rather than the wide series after (all series
        // share the horizon bounds, so this is the order of `take_pairs`).
        let mut grouped: Vec<((Addr, Addr, u16, u8), SeriesParts)> = grouped.into_iter().collect();
        grouped.sort_unstable_by_key(|(key, _)| *key);
        let mut out = Vec::with_capacity(grouped.len());
        for ((host, peer, port, protocol), SeriesParts { mut events, total, aws_service }) in grouped {
            if total == 0 {
                continue;
            }
            trim(&mut events, cap);
            events.sort_unstable();
            let id = PairId { host, peer, port, protocol, horizon_start: from, horizon_end: watermark };
            out.push(PairSeries::from_events(id, &events, total, aws_service));
        }
        out
    }

    /// Forgets pair events that started before `cutoff` (Unix seconds), so that a
    /// long-running process holds at most the horizon it reads. Returns the events removed.
    pub fn evict_pairs_before(&mut self, cutoff: u64) -> u64 {
        let horizon = self.cfg.horizon_secs();
        let mut removed = 0u64;
        self.pairs.retain(|key, pair| {
            if key.horizon + horizon <= cutoff {
                removed += pair.own.len() as u64 + pair.other.len() as u64;
                return false;
            }
            if key.horizon < cutoff {
                let (own, other) = (pair.own.len(), pair.other.len());
                pair.own.retain(|e| e.start >= cutoff);
                pair.other.retain(|e| e.start >= cutoff);
                let own_gone = (own - pair.own.len()) as u64;
                let other_gone = (other - pair.other.len()) as u64;
                pair.own_total -= own_gone;
                pair.other_total -= other_gone;
                removed += own_gone + other_gone;
            }
            pair.own_total + pair.other_total > 0
        });
        self.monitored_horizons.retain(|&(_, h)| h + horizon > cutoff);
        removed
    }

    fn resolution(&self) -> Resolution {
        let own: Vec<Option<Addr>> = self
            .enis
            .iter()
            .map(|e| match e.own {
                Candidates::One(a) => Some(a),
                _ => None,
            })
            .collect();
        // Interfaces that only ever saw one peer cannot tell which end is theirs. Two such
        // interfaces logging the same pair are the two ends' copies: count the copies of the
        // interface whose id sorts first, so the flow still counts once.
        let mut canonical: FxHashMap<(Addr, Addr), IdIx> = FxHashMap::default();
        let mut unresolved = 0;
        for (ix, info) in self.enis.iter().enumerate() {
            if let Candidates::Two(a, b) = info.own {
                unresolved += 1;
                let ix = ix as IdIx;
                let slot = canonical.entry((a, b)).or_insert(ix);
                if self.ids.get(ix) < self.ids.get(*slot) {
                    *slot = ix;
                }
            }
        }
        let mut gateway_enis = FxHashSet::default();
        let mut gateway_addrs = FxHashSet::default();
        for (ix, (info, own)) in self.enis.iter().zip(&own).enumerate() {
            if let Some(own) = *own
                && info.is_gateway(own)
            {
                gateway_enis.insert(ix as IdIx);
                gateway_addrs.insert(own);
            }
        }
        Resolution { own, gateway_enis, gateway_addrs, canonical, unresolved }
    }

    /// Host-windows held that have a capture of their own, including the captures only
    /// known once interface addresses are.
    fn monitored_windows(&self, resolution: &Resolution) -> FxHashSet<(Addr, u64)> {
        let mut monitored = FxHashSet::default();
        for (&(host, window), acc) in &self.hosts {
            if acc.monitored || acc.others.keys().any(|c| resolution.is_own_capture(host, *c).is_some()) {
                monitored.insert((host, window));
            }
        }
        monitored
    }

    /// Removes the host windows and edges ending at or before `watermark` and turns them
    /// into output rows, de-duplicated.
    fn take_windows(&mut self, watermark: u64, resolution: &Resolution) -> (Vec<HostWindow>, Vec<InternalEdge>) {
        let window_secs = self.cfg.window_secs();
        let closed = |window: u64| window + window_secs <= watermark;
        let mut hosts = std::mem::take(&mut self.drained.hosts);
        hosts.extend(self.hosts.extract_if(|key, _| closed(key.1)));
        // Sorted here, on the unique keys, rather than the wide output rows after.
        hosts.sort_unstable_by_key(|((host, window), _)| (*window, *host));
        // Captures only known once interface addresses are: mark those hosts as monitored.
        let mut monitored: FxHashSet<(Addr, u64)> = FxHashSet::default();
        for (key, acc) in hosts.iter_mut() {
            let (host, window) = *key;
            let found: Vec<IdIx> = acc.others.keys().filter_map(|c| resolution.is_own_capture(host, *c)).collect();
            for eni in found {
                acc.monitored = true;
                acc.note_eni(Some(eni));
            }
            if acc.monitored {
                monitored.insert((host, window));
                self.monitored_horizons.insert((host, self.cfg.horizon_of(window)));
            }
        }
        let enis = &self.enis;
        let counts = |cond: Cond, window: u64| -> bool {
            let unmonitored = |a: Addr| !monitored.contains(&(a, window));
            match cond {
                Cond::Always => true,
                Cond::Unmonitored(a) => unmonitored(a),
                Cond::Neither(a, b) => unmonitored(a) && unmonitored(b),
                Cond::ByEni { eni, .. } if resolution.gateway_enis.contains(&eni) => false,
                Cond::ByEni { eni, src, iface_src } => match resolution.side(eni, iface_src) {
                    Side::Sender => true,
                    Side::Receiver => unmonitored(src),
                    Side::Unknown => match enis.get(eni as usize).map(|e| e.own) {
                        Some(Candidates::Two(a, b)) => resolution.canonical.get(&(a, b)).is_none_or(|&c| c == eni),
                        _ => true,
                    },
                },
            }
        };
        let limits = &self.cfg.limits;
        let mut rows = Vec::with_capacity(hosts.len());
        for ((host, window), acc) in hosts.drain(..) {
            if resolution.gateway_addrs.contains(&host) {
                self.stats.duplicates_dropped += acc.records();
                continue;
            }
            // The always-counting part starts the total: moved, not merged into an empty one.
            let mut total = acc.always;
            let (cap_peers, cap_ports) = (limits.max_peers_per_host_window, limits.max_ports_per_host_window);
            for (&cond, part) in &acc.others {
                if counts(cond, window) {
                    part.fold_into(&mut total, cap_peers, cap_ports);
                } else {
                    self.stats.duplicates_dropped += part.records();
                }
            }
            if total.out.flows + total.inn.flows == 0 {
                continue;
            }
            self.stats.set_overflow += total.overflow;
            let incomplete = acc.enis.iter().any(|e| self.skipdata.contains(&(*e, window)));
            let mut interface_id: Option<&str> = None;
            let mut instance_id: Option<&str> = None;
            for &e in &acc.enis {
                let name = self.ids.get(e);
                if interface_id.is_none_or(|cur| name < cur) {
                    interface_id = Some(name);
                }
                for &inst in enis.get(e as usize).map_or(&[][..], |i| &i.instances[..]) {
                    let name = self.ids.get(inst);
                    if instance_id.is_none_or(|cur| name < cur) {
                        instance_id = Some(name);
                    }
                }
            }
            rows.push(row(&self.cfg, host, window, &total, interface_id, instance_id, incomplete));
        }

        self.drained.hosts = hosts;
        // Rows are built as the entries come out and sorted after: an output row is half
        // the width of a table entry, and the entries need no list of their own.
        let mut edges = Vec::with_capacity(self.drained.edge_rows);
        for (key, parts) in self.edges.extract_if(|key, _| closed(key.window)) {
            if resolution.gateway_addrs.contains(&key.src) || resolution.gateway_addrs.contains(&key.dst) {
                continue;
            }
            let mut e = EdgeAcc::default();
            for (cond, part) in parts.iter() {
                if counts(*cond, key.window) {
                    e.merge(part);
                }
            }
            if e.accept + e.reject == 0 {
                continue;
            }
            edges.push(InternalEdge {
                window_start: key.window,
                window_end: key.window + window_secs,
                src: key.src,
                dst: key.dst,
                dst_port: key.port,
                protocol: key.protocol,
                flows_accept: e.accept,
                flows_reject: e.reject,
                packets: e.packets,
                bytes: e.bytes,
                syn: e.syn,
            });
        }
        edges.sort_unstable_by_key(|e| (e.window_start, e.src, e.dst, e.dst_port, e.protocol));
        self.drained.edge_rows = edges.len();
        self.skipdata.retain(|&(_, window)| !closed(window));
        (rows, edges)
    }
}

/// A pair series being gathered from its stored horizons.
#[derive(Default)]
struct SeriesParts {
    events: Vec<Event>,
    total: u64,
    aws_service: bool,
}

/// AWS `pkt-*-aws-service` values whose addresses only AWS's own services answer on
/// (AMAZON is shown for AWS's API endpoints: overlapping ranges show the most specific
/// code, so a customer's EC2 address shows EC2). EC2, CLOUDFRONT, API_GATEWAY and
/// GLOBALACCELERATOR front endpoints any customer runs, command-and-control included, so
/// their flows are not "managed service" flows.
pub const MANAGED_AWS_SERVICES: [&str; 16] = [
    "AMAZON",
    "AURORA_DSQL",
    "S3",
    "DYNAMODB",
    "ROUTE53",
    "ROUTE53_HEALTHCHECKS",
    "ROUTE53_HEALTHCHECKS_PUBLISHING",
    "ROUTE53_RESOLVER",
    "EBS",
    "EC2_INSTANCE_CONNECT",
    "CODEBUILD",
    "AMAZON_APPFLOW",
    "AMAZON_CONNECT",
    "KINESIS_VIDEO_STREAMS",
    "WORKSPACES_GATEWAYS",
    "CLOUD9",
];

/// True when `service` names an AWS-managed endpoint ([`MANAGED_AWS_SERVICES`]).
fn managed_endpoint(interner: &Interner, service: Sym) -> bool {
    service.is_some() && MANAGED_AWS_SERVICES.iter().any(|m| m.as_bytes().eq_ignore_ascii_case(interner.bytes(service)))
}

fn row(
    cfg: &FeatureConfig,
    host: Addr,
    window: u64,
    acc: &crate::acc::Acc,
    interface_id: Option<&str>,
    instance_id: Option<&str>,
    incomplete: bool,
) -> HostWindow {
    let mut peers_internal = 0;
    let mut peers_external = 0;
    let mut top: Option<(Addr, u64)> = None;
    let mut dsts_out = 0;
    let mut dsts_out_internal = 0;
    for (&peer, out) in &acc.peers {
        let internal = cfg.is_internal(peer);
        if out.sent {
            dsts_out += 1;
            dsts_out_internal += u64::from(internal);
        }
        if internal {
            peers_internal += 1;
            continue;
        }
        let bytes = out.bytes;
        peers_external += 1;
        let better = match top {
            None => bytes > 0,
            Some((a, b)) => bytes > b || (bytes == b && peer < a),
        };
        if better {
            top = Some((peer, bytes));
        }
    }
    let top_bytes = top.map_or(0, |(_, b)| b);
    let share = if acc.out_external.bytes > 0 { top_bytes as f64 / acc.out_external.bytes as f64 } else { 0.0 };
    HostWindow {
        host,
        window_start: window,
        window_end: window + cfg.window_secs(),
        interface_id: interface_id.map(str::to_string),
        instance_id: instance_id.map(str::to_string),
        flows_out: acc.out.flows,
        flows_in: acc.inn.flows,
        bytes_out: acc.out.bytes,
        bytes_in: acc.inn.bytes,
        packets_out: acc.out.packets,
        packets_in: acc.inn.packets,
        flows_out_internal: acc.out_internal.flows,
        flows_in_internal: acc.in_internal.flows,
        bytes_out_internal: acc.out_internal.bytes,
        bytes_in_internal: acc.in_internal.bytes,
        packets_out_internal: acc.out_internal.packets,
        packets_in_internal: acc.in_internal.packets,
        flows_out_external: acc.out_external.flows,
        flows_in_external: acc.in_external.flows,
        bytes_out_external: acc.out_external.bytes,
        bytes_in_external: acc.in_external.bytes,
        packets_out_external: acc.out_external.packets,
        packets_in_external: acc.in_external.packets,
        bytes_out_aws: acc.bytes_out_aws,
        bytes_in_aws: acc.bytes_in_aws,
        top_external_dst: top.map(|(a, _)| a),
        top_external_dst_bytes: top_bytes,
        top_external_dst_share: share,
        peers_internal,
        peers_external,
        dsts_out,
        dsts_out_internal,
        dst_ports: acc.dst_ports_out.len() as u64,
        dst_ports_in: acc.dst_ports_in.len() as u64,
        src_ports_out: acc.src_ports_out.len() as u64,
        syn_out: acc.syn_out,
        syn_in: acc.syn_in,
        rejects_out: acc.rejects_out,
        rejects_in: acc.rejects_in,
        admin_conns_out: acc.admin_out.len() as u64,
        admin_conns_in: acc.admin_in.len() as u64,
        max_flow_bytes_out: acc.max_flow_bytes_out,
        out_in_ratio: (acc.out.bytes as f64 + 1.0) / (acc.inn.bytes as f64 + 1.0),
        incomplete,
        overflow: acc.overflow,
    }
}

impl RecordSink for FeatureState {
    #[inline]
    fn record(&mut self, record: &FlowRecord, interner: &Interner) {
        self.add(record, interner);
    }

    fn end_object(&mut self, _interner: &Interner) {
        // Symbols are per object: forget the mapping so the next object's symbols
        // are looked up afresh.
        self.sym_ids.clear();
    }
}

impl Partial for FeatureState {
    fn merge(&mut self, mut other: FeatureState) {
        // Fold the smaller state into the larger: merging costs the size of what is moved.
        let size = |s: &FeatureState| s.hosts.len() + s.edges.len() + s.pairs.len();
        if size(&other) > size(self) {
            std::mem::swap(self, &mut other);
        }
        let FeatureState { ids, enis, hosts, edges, pairs, skipdata, monitored_horizons, stats, .. } = other;
        let mut map: Vec<IdIx> = Vec::with_capacity(ids.strings.len());
        for s in &ids.strings {
            map.push(self.ids.intern(s));
        }
        if self.enis.len() < self.ids.strings.len() {
            self.enis.resize(self.ids.strings.len(), EniInfo::default());
        }
        for (ix, info) in enis.into_iter().enumerate() {
            let Some(&target) = map.get(ix) else { continue };
            let mine = &mut self.enis[target as usize];
            mine.own = mine.own.intersect(info.own);
            mine.merge_relay(&info);
            for inst in info.instances {
                let inst = map[inst as usize];
                if !mine.instances.contains(&inst) && mine.instances.len() < MAX_IDS_PER_HOST {
                    mine.instances.push(inst);
                }
            }
        }
        let limits = self.cfg.limits.clone();
        for (key, mut acc) in hosts {
            acc.remap(&map);
            let len = self.hosts.len();
            match self.hosts.entry(key) {
                Entry::Occupied(mut o) => {
                    o.get_mut().merge(acc, limits.max_peers_per_host_window, limits.max_ports_per_host_window)
                }
                Entry::Vacant(v) if len < limits.max_host_windows => {
                    v.insert(acc);
                }
                Entry::Vacant(_) => {
                    self.stats.host_windows_refused += acc.records();
                }
            }
        }
        for (key, parts) in edges {
            let len = self.edges.len();
            match self.edges.entry(key) {
                Entry::Occupied(o) => {
                    let mine = o.into_mut();
                    for (cond, part) in parts.iter() {
                        mine.get_mut(cond.remap(&map)).merge(part);
                    }
                }
                Entry::Vacant(v) if len < limits.max_edges => {
                    v.insert(parts.remap(&map));
                }
                Entry::Vacant(_) => {
                    for (_, part) in parts.iter() {
                        self.stats.edges_refused += part.accept + part.reject;
                    }
                }
            }
        }
        for (key, pair) in pairs {
            let len = self.pairs.len();
            match self.pairs.entry(key) {
                Entry::Occupied(mut o) => o.get_mut().merge(pair, limits.max_events_per_pair),
                Entry::Vacant(v) if len < limits.max_pairs => {
                    v.insert(pair);
                }
                Entry::Vacant(_) => self.stats.pairs_refused += pair.own_total + pair.other_total,
            }
        }
        for (eni, window) in skipdata {
            self.skipdata.insert((map[eni as usize], window));
        }
        self.monitored_horizons.extend(monitored_horizons);
        self.stats.merge(&stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_intersect() {
        let a = Addr::from_ipv4_bits(1);
        let b = Addr::from_ipv4_bits(2);
        let c = Addr::from_ipv4_bits(3);
        let ab = Candidates::of_pair(a, b);
        assert_eq!(ab, Candidates::of_pair(b, a));
        assert_eq!(Candidates::Unseen.intersect(ab), ab);
        assert_eq!(ab.intersect(Candidates::Unseen), ab);
        assert_eq!(ab.intersect(Candidates::of_pair(a, c)), Candidates::One(a));
        assert_eq!(ab.intersect(Candidates::of_pair(c, c)), Candidates::Empty);
        assert_eq!(Candidates::One(a).intersect(ab), Candidates::One(a));
        assert_eq!(ab.intersect(Candidates::of_pair(b, a)), ab);
        assert_eq!(ab.intersect(Candidates::of_pair(c, b)), Candidates::One(b));
        assert_eq!(Candidates::One(a).intersect(Candidates::One(c)), Candidates::Empty);
        assert_eq!(Candidates::Empty.intersect(Candidates::Unseen), Candidates::Empty);
        assert_eq!(Candidates::Unseen.intersect(Candidates::Unseen), Candidates::Unseen);
    }
}
