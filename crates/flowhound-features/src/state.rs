//! The partial feature computation: a [`RecordSink`] that folds records into mergeable
//! accumulators, and [`FeatureState::finish`], which applies the de-duplication rules
//! once every copy of every flow has been seen.
//!
//! This module owns the state and how records and partials enter it; what the records
//! say about each interface is in `interfaces`, and turning the state into output
//! (finishing, draining, reading pair series) is in `drain`.

mod drain;
mod interfaces;

use std::collections::hash_map::Entry;
use std::sync::Arc;

use flowhound_flowlog::{Action, Addr, FlowDirection, FlowRecord, Interner, LogStatus, Partial, RecordSink, Sym};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use self::interfaces::{Candidates, EniInfo};
use crate::acc::{Cond, Contribution, EdgeParts, Event, Flow, HostAcc, IdIx, MAX_IDS_PER_HOST, PairAcc, push_event};
use crate::config::FeatureConfig;
use crate::output::ExtractStats;

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

/// A record's packet-level source and destination, and whether each is internal.
#[derive(Debug, Clone, Copy)]
struct Ends {
    src: Addr,
    dst: Addr,
    src_internal: bool,
    dst_internal: bool,
}

/// A flow record as one copy of its flow: where it counts and under what condition.
#[derive(Debug, Clone, Copy)]
struct FlowCopy {
    /// The feature window the record falls in.
    window: u64,
    /// The interface that logged it.
    eni: Option<IdIx>,
    /// The host whose own interface logged it, when the record tells.
    local: Option<Addr>,
    /// When it counts, decided once every record has been seen.
    cond: Cond,
    /// Already known never to count (see [`FeatureState::superseded`]).
    superseded: bool,
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

    /// Adds the contributions every host-window buffers (see `HostAcc::add`) and frees the
    /// buffers. Call before serializing: a checkpoint or state file then holds the tables
    /// alone, in the format builds without the buffer read (a state serialized unsettled
    /// resumes exactly in this build, but an older one would ignore the buffer).
    pub fn settle(&mut self) {
        let limits = &self.cfg.limits;
        let (cap_peers, cap_ports) = (limits.max_peers_per_host_window, limits.max_ports_per_host_window);
        let accs: Vec<&mut HostAcc> = self.hosts.values_mut().collect();
        accs.into_par_iter().for_each(|acc| {
            acc.settle(cap_peers, cap_ports);
            acc.release_buffer();
        });
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
    /// when the copy's `local` names it. A superseded copy (see [`FeatureState::superseded`])
    /// only marks the logging host as monitored and counts as a dropped duplicate (without
    /// opening a window for a host it does not mark: that window would have no row).
    #[inline]
    fn credit(&mut self, host: Addr, copy: FlowCopy, c: Contribution) {
        if copy.superseded && copy.local != Some(host) {
            // Nothing to note for this host: no lookup either.
            self.stats.duplicates_dropped += u64::from(c.primary);
            return;
        }
        let limits = &self.cfg.limits;
        let (cap_peers, cap_ports) = (limits.max_peers_per_host_window, limits.max_ports_per_host_window);
        let Some(acc) = self.host_acc(host, copy.window) else { return };
        if copy.local == Some(host) {
            acc.monitored = true;
            acc.note_eni(copy.eni);
        }
        if copy.superseded {
            self.stats.duplicates_dropped += u64::from(c.primary);
        } else {
            acc.add(copy.cond, c, cap_peers, cap_ports);
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

    /// Folds in one record: a status record is only counted; a flow is attributed to its
    /// internal ends, tells what it can about the interface that logged it, and is credited
    /// to the host windows, the internal edge and the pair series it belongs to.
    fn add(&mut self, r: &FlowRecord, interner: &Interner) {
        self.stats.records += 1;
        match r.log_status {
            Some(LogStatus::NoData) => {
                self.stats.nodata += 1;
                return;
            }
            Some(LogStatus::SkipData) => {
                self.note_skipdata(r, interner);
                return;
            }
            _ => {}
        }
        let Some(t) = r.end.or(r.start) else {
            self.stats.untimed += 1;
            return;
        };
        let Some(ends) = self.packet_ends(r) else { return };
        let window = self.cfg.window_of(t);
        let eni = self.id_of(interner, r.interface_id);
        let translated = (r.pkt_srcaddr.is_some() && r.pkt_srcaddr != r.srcaddr)
            || (r.pkt_dstaddr.is_some() && r.pkt_dstaddr != r.dstaddr);
        // Requester-managed interfaces (NAT gateway, transit gateway) have no instance and
        // log other hosts' packets under their own interface address.
        let gateway = translated && r.instance_id.is_none();
        if let Some(e) = eni {
            self.note_interface(e, r, interner, ends, gateway);
        }
        let (cond, local) = copy_rule(r, ends, eni, gateway);
        let sent = sent_flow(r, interner, ends);
        let copy = FlowCopy { window, eni, local, cond, superseded: self.superseded(cond, window) };
        self.credit_ends(r, interner, ends, copy, sent);
        // A superseded copy's edge counts would be dropped with it.
        if ends.src_internal && ends.dst_internal && !copy.superseded && self.cfg.keeps_edges() {
            self.add_edge(ends, copy, &sent);
        }
        if ends.src_internal && !ends.dst_internal && self.cfg.keeps_pair_series() {
            self.add_pair_event(r, t, ends, cond, &sent);
        }
    }

    /// Counts a SKIPDATA record and marks its interface's windows incomplete.
    fn note_skipdata(&mut self, r: &FlowRecord, interner: &Interner) {
        self.stats.skipdata += 1;
        let eni = self.id_of(interner, r.interface_id);
        if let (Some(eni), Some(t)) = (eni, r.end.or(r.start)) {
            // A capture window can straddle two feature windows: mark both.
            self.skipdata.insert((eni, self.cfg.window_of(t)));
            if let Some(s) = r.start {
                self.skipdata.insert((eni, self.cfg.window_of(s)));
            }
        }
    }

    /// The record's packet-level ends, or `None` (counted as unattributed) when it lacks
    /// one or neither is internal: then it is no internal host's traffic.
    #[inline]
    fn packet_ends(&mut self, r: &FlowRecord) -> Option<Ends> {
        let (Some(src), Some(dst)) = (r.packet_src(), r.packet_dst()) else {
            self.stats.unattributed += 1;
            return None;
        };
        let src_internal = self.cfg.is_internal(src);
        let dst_internal = self.cfg.is_internal(dst);
        if !src_internal && !dst_internal {
            self.stats.unattributed += 1;
            return None;
        }
        Some(Ends { src, dst, src_internal, dst_internal })
    }

    /// Notes what a flow record says about the interface `eni` that logged it: the
    /// candidates for its own address, what it relays, and its instance (unless it is a
    /// `gateway`, whose records carry other hosts' packets).
    #[inline]
    fn note_interface(&mut self, eni: IdIx, r: &FlowRecord, interner: &Interner, ends: Ends, gateway: bool) {
        let info = &mut self.enis[eni as usize];
        if let (Some(ls), Some(ld)) = (r.srcaddr, r.dstaddr) {
            info.own = info.own.intersect(Candidates::of_pair(ls, ld));
        }
        info.note_relay(&self.cfg, r, [(ends.src, ends.src_internal), (ends.dst, ends.dst_internal)]);
        if !gateway {
            let inst = self.id_of(interner, r.instance_id);
            if let Some(inst) = inst {
                let info = &mut self.enis[eni as usize];
                if !info.instances.contains(&inst) && info.instances.len() < MAX_IDS_PER_HOST {
                    info.instances.push(inst);
                }
            }
        }
    }

    /// Host-window accounting: credits the flow to the window of each internal end, as
    /// `sent` by the source and received by the destination. The source is the record's
    /// primary attribution when it is internal, else the destination.
    #[inline]
    fn credit_ends(&mut self, r: &FlowRecord, interner: &Interner, ends: Ends, copy: FlowCopy, sent: Flow) {
        if ends.src_internal {
            let c = Contribution { flow: sent, out: true, primary: true };
            self.credit(ends.src, copy, c);
        }
        if ends.dst_internal {
            let flow = Flow {
                peer: ends.src,
                peer_internal: ends.src_internal,
                aws_service: managed_endpoint(interner, r.pkt_src_aws_service),
                ..sent
            };
            let c = Contribution { flow, out: false, primary: !ends.src_internal };
            self.credit(ends.dst, copy, c);
        }
    }

    /// Counts an internal flow on its edge (window, source, destination, port, protocol),
    /// in the part of the copy's condition.
    #[inline]
    fn add_edge(&mut self, ends: Ends, copy: FlowCopy, flow: &Flow) {
        let key = EdgeKey {
            window: copy.window,
            src: ends.src,
            dst: ends.dst,
            port: flow.dst_port.unwrap_or(0),
            protocol: flow.protocol,
        };
        let len = self.edges.len();
        let parts = match self.edges.entry(key) {
            Entry::Occupied(o) => Some(o.into_mut()),
            Entry::Vacant(v) if len < self.cfg.limits.max_edges => Some(v.insert(EdgeParts::new(copy.cond))),
            Entry::Vacant(_) => None,
        };
        match parts {
            Some(parts) => {
                let e = parts.get_mut(copy.cond);
                if flow.reject {
                    e.reject += 1;
                } else {
                    e.accept += 1;
                }
                e.packets = e.packets.saturating_add(flow.packets);
                e.bytes = e.bytes.saturating_add(flow.bytes);
                e.syn += u64::from(flow.syn);
            }
            None => self.stats.edges_refused += 1,
        }
    }

    /// Adds a flow to an external peer as an event of its pair series, in the horizon it
    /// starts in (`t` is the record's end, else its start). The sender's own copies
    /// (`Cond::Always`) are kept apart from the others, which count only for hosts with no
    /// capture of their own.
    #[inline]
    fn add_pair_event(&mut self, r: &FlowRecord, t: u64, ends: Ends, cond: Cond, flow: &Flow) {
        let start = r.start.unwrap_or(t);
        let key = PairKey {
            host: ends.src,
            peer: ends.dst,
            port: flow.dst_port.unwrap_or(0),
            protocol: flow.protocol,
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
                let event = Event {
                    start,
                    end: t.max(start),
                    bytes: flow.bytes,
                    packets: flow.packets,
                    src_port: flow.src_port.unwrap_or(0),
                    syn: flow.syn,
                };
                let cap = self.cfg.limits.max_events_per_pair;
                // The destination's service, as `sent` has it.
                pair.aws_service |= flow.aws_service;
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

/// Which copy of its flow a record is: the condition under which it counts, and the host
/// whose own interface logged it when the record tells (see docs/features.md).
#[inline]
fn copy_rule(r: &FlowRecord, ends: Ends, eni: Option<IdIx>, gateway: bool) -> (Cond, Option<Addr>) {
    let Ends { src: ps, dst: pd, src_internal, dst_internal } = ends;
    if gateway {
        let cond = match (src_internal, dst_internal) {
            (true, true) => Cond::Neither(ps, pd),
            (true, false) => Cond::Unmonitored(ps),
            _ => Cond::Unmonitored(pd),
        };
        (cond, None)
    } else {
        match r.flow_direction {
            Some(FlowDirection::Egress) => (Cond::Always, Some(ps)),
            Some(FlowDirection::Ingress) => (if src_internal { Cond::Unmonitored(ps) } else { Cond::Always }, Some(pd)),
            None => match (src_internal, dst_internal, eni, r.srcaddr, r.dstaddr) {
                (true, true, Some(eni), Some(iface_src), Some(_)) => (Cond::ByEni { eni, src: ps, iface_src }, None),
                (true, true, ..) => (Cond::Unmonitored(ps), None),
                (true, false, ..) => (Cond::Always, Some(ps)),
                _ => (Cond::Always, Some(pd)),
            },
        }
    }
}

/// The flow as its source sent it: the destination is the peer.
#[inline]
fn sent_flow(r: &FlowRecord, interner: &Interner, ends: Ends) -> Flow {
    Flow {
        peer: ends.dst,
        peer_internal: ends.dst_internal,
        src_port: r.srcport,
        dst_port: r.dstport,
        protocol: r.protocol.unwrap_or(0),
        packets: r.packets.unwrap_or(0),
        bytes: r.bytes.unwrap_or(0),
        reject: r.action == Some(Action::Reject),
        syn: r.tcp_flags.is_some_and(|f| f & 0x02 != 0 && f & 0x10 == 0),
        aws_service: managed_endpoint(interner, r.pkt_dst_aws_service),
    }
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
        // Host-windows both hold are merged in parallel after the others are placed: a
        // merge leaves the table's size alone, so which new ones the limit refuses is
        // the same as merging in one pass.
        let mut shared: FxHashMap<(Addr, u64), HostAcc> = FxHashMap::default();
        for (key, mut acc) in hosts {
            acc.remap(&map);
            let len = self.hosts.len();
            match self.hosts.entry(key) {
                Entry::Occupied(_) => {
                    shared.insert(key, acc);
                }
                Entry::Vacant(v) if len < limits.max_host_windows => {
                    v.insert(acc);
                }
                Entry::Vacant(_) => {
                    self.stats.host_windows_refused += acc.records();
                }
            }
        }
        let (cap_peers, cap_ports) = (limits.max_peers_per_host_window, limits.max_ports_per_host_window);
        // Partials of disjoint time (the partitions of a backfill) share few host-windows:
        // then a walk of the whole table would cost more than the merges.
        if shared.len() < 64 {
            for (key, theirs) in shared {
                if let Some(mine) = self.hosts.get_mut(&key) {
                    mine.merge(theirs, cap_peers, cap_ports);
                }
            }
        } else {
            let both: Vec<(&mut HostAcc, HostAcc)> =
                self.hosts.iter_mut().filter_map(|(key, mine)| Some((mine, shared.remove(key)?))).collect();
            both.into_par_iter().for_each(|(mine, theirs)| mine.merge(theirs, cap_peers, cap_ports));
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
