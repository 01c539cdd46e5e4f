//! The mergeable accumulators: per host-window contributions, internal edge counts and
//! pair connection events. Every `merge` is associative and commutative.

use flowhound_flowlog::Addr;
use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

/// Index into a partial's identifier table (interface and instance ids).
pub(crate) type IdIx = u32;

/// When a contribution counts, decided once every record has been seen: a flow logged
/// by several interfaces must be counted from exactly one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Cond {
    /// The sender's own interface copy, or traffic only one side can log.
    Always,
    /// A receiver's copy: counts only if the sender has no capture of its own in the window.
    Unmonitored(Addr),
    /// A gateway's translated copy: counts only if neither end has a capture of its own.
    Neither(Addr, Addr),
    /// Internal-to-internal without `flow-direction`: the side is known once the
    /// interface's own address is (the one address present in all its records): the
    /// sender's copy when it is `iface_src`, else the receiver's.
    ByEni { eni: IdIx, src: Addr, iface_src: Addr },
}

impl Cond {
    pub(crate) fn remap(self, map: &[IdIx]) -> Cond {
        match self {
            Cond::ByEni { eni, src, iface_src } => Cond::ByEni { eni: map[eni as usize], src, iface_src },
            other => other,
        }
    }
}

/// Flows (records), packets and bytes of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Volume {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl Volume {
    #[inline]
    pub fn add(&mut self, packets: u64, bytes: u64) {
        self.flows += 1;
        self.packets = self.packets.saturating_add(packets);
        self.bytes = self.bytes.saturating_add(bytes);
    }

    pub fn merge(&mut self, o: &Volume) {
        self.flows += o.flows;
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
    }
}

/// A set that stops growing at a limit and counts what it refused.
#[inline]
pub(crate) fn capped_insert<T: std::hash::Hash + Eq>(set: &mut FxHashSet<T>, value: T, cap: usize, overflow: &mut u64) {
    if set.len() < cap {
        set.insert(value);
    } else if !set.contains(&value) {
        *overflow += 1;
    }
}

/// One flow record as seen from one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flow {
    pub peer: Addr,
    pub peer_internal: bool,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    pub reject: bool,
    pub syn: bool,
    pub aws_service: bool,
}

/// What one host did in one window, from the copies sharing one [`Cond`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Acc {
    /// Records for which this host was the primary attribution (the sender when it is
    /// internal, else the receiver): the unit of the record conservation law.
    pub records: u64,
    pub out: Volume,
    pub inn: Volume,
    pub out_internal: Volume,
    pub in_internal: Volume,
    pub out_external: Volume,
    pub in_external: Volume,
    pub bytes_out_aws: u64,
    pub bytes_in_aws: u64,
    pub rejects_out: u64,
    pub rejects_in: u64,
    pub syn_out: u64,
    pub syn_in: u64,
    pub max_flow_bytes_out: u64,
    /// Every peer, with what this host sent it (one map serves the peer counts, the
    /// destination counts and the top destination: one lookup per flow, not two).
    #[serde(with = "crate::serde_pairs")]
    pub peers: FxHashMap<Addr, PeerOut>,
    pub dst_ports_out: FxHashSet<u16>,
    pub dst_ports_in: FxHashSet<u16>,
    pub src_ports_out: FxHashSet<u16>,
    /// Connections (peer, admin port, source port, protocol) to internal admin ports.
    pub admin_out: FxHashSet<(Addr, u16, u16, u8)>,
    pub admin_in: FxHashSet<(Addr, u16, u16, u8)>,
    pub overflow: u64,
}

/// What one host sent one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerOut {
    pub bytes: u64,
    /// The host sent the peer at least one flow (possibly of 0 bytes).
    pub sent: bool,
}

/// Administrative and database ports whose internal use is the signature of lateral movement.
pub const ADMIN_PORTS: [u16; 12] = [22, 135, 445, 1433, 1521, 3306, 3389, 5432, 5985, 5986, 6379, 27017];

#[inline]
pub(crate) fn is_admin_port(port: u16) -> bool {
    ADMIN_PORTS.contains(&port)
}

impl Acc {
    #[inline]
    fn note_peer(&mut self, peer: Addr, out: PeerOut, cap: usize) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.bytes = p.bytes.saturating_add(out.bytes);
            p.sent |= out.sent;
        } else if self.peers.len() < cap {
            self.peers.insert(peer, out);
        } else {
            self.overflow += 1;
        }
    }

    #[inline]
    pub fn add_out(&mut self, f: &Flow, primary: bool, cap_peers: usize, cap_ports: usize) {
        self.records += u64::from(primary);
        self.out.add(f.packets, f.bytes);
        if f.peer_internal {
            self.out_internal.add(f.packets, f.bytes);
        } else {
            self.out_external.add(f.packets, f.bytes);
        }
        if f.aws_service {
            self.bytes_out_aws = self.bytes_out_aws.saturating_add(f.bytes);
        }
        self.rejects_out += u64::from(f.reject);
        self.syn_out += u64::from(f.syn);
        self.max_flow_bytes_out = self.max_flow_bytes_out.max(f.bytes);
        self.note_peer(f.peer, PeerOut { bytes: f.bytes, sent: true }, cap_peers);
        if let Some(p) = f.dst_port {
            capped_insert(&mut self.dst_ports_out, p, cap_ports, &mut self.overflow);
        }
        if let Some(p) = f.src_port {
            capped_insert(&mut self.src_ports_out, p, cap_ports, &mut self.overflow);
        }
        if f.peer_internal
            && let Some(port) = f.dst_port.filter(|p| is_admin_port(*p))
        {
            let conn = (f.peer, port, f.src_port.unwrap_or(0), f.protocol);
            capped_insert(&mut self.admin_out, conn, cap_ports, &mut self.overflow);
        }
    }

    #[inline]
    pub fn add_in(&mut self, f: &Flow, primary: bool, cap_peers: usize, cap_ports: usize) {
        self.records += u64::from(primary);
        self.inn.add(f.packets, f.bytes);
        if f.peer_internal {
            self.in_internal.add(f.packets, f.bytes);
        } else {
            self.in_external.add(f.packets, f.bytes);
        }
        if f.aws_service {
            self.bytes_in_aws = self.bytes_in_aws.saturating_add(f.bytes);
        }
        self.rejects_in += u64::from(f.reject);
        self.syn_in += u64::from(f.syn);
        self.note_peer(f.peer, PeerOut::default(), cap_peers);
        if let Some(p) = f.dst_port {
            capped_insert(&mut self.dst_ports_in, p, cap_ports, &mut self.overflow);
        }
        if f.peer_internal
            && let Some(port) = f.dst_port.filter(|p| is_admin_port(*p))
        {
            let conn = (f.peer, port, f.src_port.unwrap_or(0), f.protocol);
            capped_insert(&mut self.admin_in, conn, cap_ports, &mut self.overflow);
        }
    }

    pub fn merge(&mut self, o: &Acc, cap_peers: usize, cap_ports: usize) {
        self.records += o.records;
        self.out.merge(&o.out);
        self.inn.merge(&o.inn);
        self.out_internal.merge(&o.out_internal);
        self.in_internal.merge(&o.in_internal);
        self.out_external.merge(&o.out_external);
        self.in_external.merge(&o.in_external);
        self.bytes_out_aws = self.bytes_out_aws.saturating_add(o.bytes_out_aws);
        self.bytes_in_aws = self.bytes_in_aws.saturating_add(o.bytes_in_aws);
        self.rejects_out += o.rejects_out;
        self.rejects_in += o.rejects_in;
        self.syn_out += o.syn_out;
        self.syn_in += o.syn_in;
        self.max_flow_bytes_out = self.max_flow_bytes_out.max(o.max_flow_bytes_out);
        self.overflow += o.overflow;
        for (&peer, &out) in &o.peers {
            self.note_peer(peer, out, cap_peers);
        }
        for &p in &o.dst_ports_out {
            capped_insert(&mut self.dst_ports_out, p, cap_ports, &mut self.overflow);
        }
        for &p in &o.dst_ports_in {
            capped_insert(&mut self.dst_ports_in, p, cap_ports, &mut self.overflow);
        }
        for &p in &o.src_ports_out {
            capped_insert(&mut self.src_ports_out, p, cap_ports, &mut self.overflow);
        }
        for &c in &o.admin_out {
            capped_insert(&mut self.admin_out, c, cap_ports, &mut self.overflow);
        }
        for &c in &o.admin_in {
            capped_insert(&mut self.admin_in, c, cap_ports, &mut self.overflow);
        }
    }
}

/// One flow as it counts for one host: sent by it (`out`) or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Contribution {
    pub flow: Flow,
    pub out: bool,
    /// The host is the record's primary attribution (see [`Acc::records`]).
    pub primary: bool,
}

impl Contribution {
    #[inline]
    fn add_to(&self, acc: &mut Acc, cap_peers: usize, cap_ports: usize) {
        if self.out {
            acc.add_out(&self.flow, self.primary, cap_peers, cap_ports);
        } else {
            acc.add_in(&self.flow, self.primary, cap_peers, cap_ports);
        }
    }
}

/// Contributions kept as they are before a conditional part is folded into an [`Acc`].
/// Most conditional parts (one per internal peer whose copy this host's interface logged)
/// hold a flow or two: an `Acc` with its seven sets would cost ~1 KiB each.
pub(crate) const INLINE_CONTRIBUTIONS: usize = 8;

/// The contributions sharing one counting condition: the flows themselves while few
/// (the first without any allocation), folded into an [`Acc`] past
/// [`INLINE_CONTRIBUTIONS`]. Every form gives the same `Acc` when folded, because every
/// `Acc` aggregate is independent of the order of additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Part {
    One(Contribution),
    Few(Vec<Contribution>),
    Folded(Box<Acc>),
}

impl Part {
    #[inline]
    pub fn add(&mut self, c: Contribution, cap_peers: usize, cap_ports: usize) {
        match self {
            Part::One(first) => *self = Part::Few(vec![*first, c]),
            // Doubling (2, 4, 8): two reallocations on the way to the limit instead of six,
            // for at most twice the exact size while the lists are short.
            Part::Few(list) if list.len() < INLINE_CONTRIBUTIONS => list.push(c),
            Part::Few(list) => {
                let mut acc = Box::<Acc>::default();
                for old in list.iter() {
                    old.add_to(&mut acc, cap_peers, cap_ports);
                }
                c.add_to(&mut acc, cap_peers, cap_ports);
                *self = Part::Folded(acc);
            }
            Part::Folded(acc) => c.add_to(acc, cap_peers, cap_ports),
        }
    }

    /// Adds this part's contributions to `total`.
    pub fn fold_into(&self, total: &mut Acc, cap_peers: usize, cap_ports: usize) {
        match self {
            Part::One(c) => c.add_to(total, cap_peers, cap_ports),
            Part::Few(list) => {
                for c in list {
                    c.add_to(total, cap_peers, cap_ports);
                }
            }
            Part::Folded(acc) => total.merge(acc, cap_peers, cap_ports),
        }
    }

    /// Records for which the host is the primary attribution.
    pub fn records(&self) -> u64 {
        match self {
            Part::One(c) => u64::from(c.primary),
            Part::Few(list) => list.iter().filter(|c| c.primary).count() as u64,
            Part::Folded(acc) => acc.records,
        }
    }

    pub fn merge(&mut self, other: Part, cap_peers: usize, cap_ports: usize) {
        match other {
            Part::One(c) => self.add(c, cap_peers, cap_ports),
            Part::Few(list) => {
                for c in list {
                    self.add(c, cap_peers, cap_ports);
                }
            }
            Part::Folded(mut theirs) => {
                self.fold_into(&mut theirs, cap_peers, cap_ports);
                *self = Part::Folded(theirs);
            }
        }
    }
}

/// Everything known about one host in one window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HostAcc {
    /// The host has a capture of its own (a record logged by its interface) in the window.
    pub monitored: bool,
    /// Interfaces that logged this host's own traffic (at most [`MAX_IDS_PER_HOST`]).
    pub enis: Vec<IdIx>,
    /// Contributions that always count (kept inline: most host-windows have nothing else).
    pub always: Acc,
    /// Contributions that may be duplicates, by counting condition: one per internal
    /// sender whose copy was logged by the receiver (hashed: a server has many senders).
    #[serde(with = "crate::serde_pairs")]
    pub others: FxHashMap<Cond, Part>,
    /// Conditional contributions not yet added to `others` (see [`HostAcc::add`]). Empty
    /// after [`HostAcc::settle`]; kept in a checkpoint taken without settling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<(Cond, Contribution)>,
}

/// Interface ids remembered per host-window (an instance rarely has more than a few ENIs).
pub(crate) const MAX_IDS_PER_HOST: usize = 8;

/// Conditional contributions a host-window buffers before adding any to its tables, at least.
const PENDING_MIN: usize = 1024;

impl HostAcc {
    /// Adds a contribution. One that always counts goes straight into `always`. A
    /// conditional one is buffered: most (a receiver's copy of one internal peer's flows,
    /// in logs without `flow-direction`) would each open an entry of their own in `others`,
    /// in a different host's table every time (records arrive in no order of host), only
    /// for the drain to drop half of them as duplicates. Buffered, a host-window's
    /// conditional contributions are added in bursts (each table brought into cache once
    /// per burst) or, most often, only at the drain, straight into the total when their
    /// condition counts, without an entry at all. The buffer grows to [`PENDING_MIN`] or
    /// twice the entries of the host-window's tables, whichever is larger: memory stays
    /// bounded by a constant and by what the host-window holds, not by its records. Exact:
    /// every aggregate is independent of the order of additions (until a cap on peers or
    /// ports is reached).
    #[inline]
    pub fn add(&mut self, cond: Cond, c: Contribution, cap_peers: usize, cap_ports: usize) {
        if cond == Cond::Always {
            c.add_to(&mut self.always, cap_peers, cap_ports);
            return;
        }
        self.pending.push((cond, c));
        self.settle_if_full(cap_peers, cap_ports);
    }

    #[inline]
    fn settle_if_full(&mut self, cap_peers: usize, cap_ports: usize) {
        if self.pending.len() >= PENDING_MIN.max(2 * (self.others.len() + self.always.peers.len())) {
            self.settle(cap_peers, cap_ports);
        }
    }

    /// Adds the buffered contributions to the tables.
    pub fn settle(&mut self, cap_peers: usize, cap_ports: usize) {
        let mut pending = std::mem::take(&mut self.pending);
        for (cond, c) in pending.drain(..) {
            self.add_now(cond, c, cap_peers, cap_ports);
        }
        // The emptied buffer is kept: the next burst is as large.
        self.pending = pending;
    }

    /// What the host-window counts once `counts` tells which conditions do: the total of
    /// the always-counting part and of every part and buffered contribution whose
    /// condition counts, and the records (primary attributions) of the others, dropped
    /// as duplicates.
    pub fn fold(self, counts: impl Fn(Cond) -> bool, cap_peers: usize, cap_ports: usize) -> (Acc, u64) {
        let mut dropped = 0;
        // The always-counting part starts the total: moved, not merged into an empty one.
        let mut total = self.always;
        for (&cond, part) in &self.others {
            if counts(cond) {
                part.fold_into(&mut total, cap_peers, cap_ports);
            } else {
                dropped += part.records();
            }
        }
        for (cond, c) in &self.pending {
            if counts(*cond) {
                c.add_to(&mut total, cap_peers, cap_ports);
            } else {
                dropped += u64::from(c.primary);
            }
        }
        (total, dropped)
    }

    /// Frees the (empty) buffer of a settled host-window; it grows again if needed.
    pub fn release_buffer(&mut self) {
        self.pending = Vec::new();
    }

    /// The conditions of every contribution, buffered or not (possibly repeated).
    pub fn conds(&self) -> impl Iterator<Item = &Cond> {
        self.others.keys().chain(self.pending.iter().map(|(cond, _)| cond))
    }

    #[inline]
    fn add_now(&mut self, cond: Cond, c: Contribution, cap_peers: usize, cap_ports: usize) {
        match cond {
            Cond::Always => c.add_to(&mut self.always, cap_peers, cap_ports),
            _ => match self.others.entry(cond) {
                Entry::Occupied(mut o) => o.get_mut().add(c, cap_peers, cap_ports),
                Entry::Vacant(v) => {
                    v.insert(Part::One(c));
                }
            },
        }
    }

    /// Records for which the host is the primary attribution, over every part.
    pub fn records(&self) -> u64 {
        self.always.records
            + self.others.values().map(Part::records).sum::<u64>()
            + self.pending.iter().filter(|(_, c)| c.primary).count() as u64
    }

    #[inline]
    pub fn note_eni(&mut self, eni: Option<IdIx>) {
        if let Some(eni) = eni
            && !self.enis.contains(&eni)
            && self.enis.len() < MAX_IDS_PER_HOST
        {
            self.enis.push(eni);
        }
    }

    pub fn remap(&mut self, map: &[IdIx]) {
        for eni in &mut self.enis {
            *eni = map[*eni as usize];
        }
        // Only interface-bound conditions change: the others keep their slots (with
        // `flow-direction` in the logs there are none to move, and no rehashing at all).
        let moved: Vec<(Cond, Part)> = self.others.extract_if(|cond, _| matches!(cond, Cond::ByEni { .. })).collect();
        for (cond, part) in moved {
            self.others.insert(cond.remap(map), part);
        }
        for (cond, _) in &mut self.pending {
            *cond = cond.remap(map);
        }
    }

    pub fn merge(&mut self, mut o: HostAcc, cap_peers: usize, cap_ports: usize) {
        self.monitored |= o.monitored;
        for eni in o.enis {
            self.note_eni(Some(eni));
        }
        self.always.merge(&o.always, cap_peers, cap_ports);
        for (cond, part) in o.others {
            match self.others.get_mut(&cond) {
                Some(mine) => mine.merge(part, cap_peers, cap_ports),
                None => {
                    self.others.insert(cond, part);
                }
            }
        }
        self.pending.append(&mut o.pending);
        self.settle_if_full(cap_peers, cap_ports);
    }
}

/// Counts of one internal edge from the copies sharing one [`Cond`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EdgeAcc {
    pub accept: u64,
    pub reject: u64,
    pub packets: u64,
    pub bytes: u64,
    pub syn: u64,
}

impl EdgeAcc {
    pub fn merge(&mut self, o: &EdgeAcc) {
        self.accept += o.accept;
        self.reject += o.reject;
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.syn += o.syn;
    }
}

/// The counts of one internal edge by counting condition. Nearly every edge has a single
/// condition, kept inline: a list per edge cost an allocation per new edge. Serialized as
/// the list of (condition, counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(Cond, EdgeAcc)>", into = "Vec<(Cond, EdgeAcc)>")]
pub(crate) struct EdgeParts {
    first: (Cond, EdgeAcc),
    more: Vec<(Cond, EdgeAcc)>,
}

impl EdgeParts {
    pub fn new(cond: Cond) -> EdgeParts {
        EdgeParts { first: (cond, EdgeAcc::default()), more: Vec::new() }
    }

    /// The counts under `cond`, added (empty) if missing.
    #[inline]
    pub fn get_mut(&mut self, cond: Cond) -> &mut EdgeAcc {
        if self.first.0 == cond {
            return &mut self.first.1;
        }
        let index = match self.more.iter().position(|(c, _)| *c == cond) {
            Some(i) => i,
            None => {
                self.more.push((cond, EdgeAcc::default()));
                self.more.len() - 1
            }
        };
        &mut self.more[index].1
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Cond, EdgeAcc)> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// The same parts with interface ids translated by `map` (injective: no two merge).
    pub fn remap(mut self, map: &[IdIx]) -> EdgeParts {
        self.first.0 = self.first.0.remap(map);
        for (cond, _) in &mut self.more {
            *cond = cond.remap(map);
        }
        self
    }
}

impl From<Vec<(Cond, EdgeAcc)>> for EdgeParts {
    fn from(list: Vec<(Cond, EdgeAcc)>) -> EdgeParts {
        let mut list = list.into_iter();
        // A checkpoint never holds an edge without parts; were it to, an empty part
        // counts nothing.
        let mut parts = EdgeParts::new(Cond::Always);
        if let Some(first) = list.next() {
            parts.first = first;
        }
        for (cond, counts) in list {
            parts.get_mut(cond).merge(&counts);
        }
        parts
    }
}

impl From<EdgeParts> for Vec<(Cond, EdgeAcc)> {
    fn from(parts: EdgeParts) -> Vec<(Cond, EdgeAcc)> {
        let mut list = Vec::with_capacity(1 + parts.more.len());
        list.push(parts.first);
        list.extend(parts.more);
        list
    }
}

/// One connection event of a pair timing series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds of the record's first packet.
    pub start: u64,
    pub end: u64,
    pub bytes: u64,
    pub packets: u64,
    pub src_port: u16,
    /// SYN without ACK was seen (the host opened a connection in this record).
    pub syn: bool,
}

/// Events of one pair series, kept as the earliest `cap` of each list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PairAcc {
    pub own: Vec<Event>,
    pub own_total: u64,
    /// Copies logged by a gateway or the peer side, used only when the host has no capture of its own.
    pub other: Vec<Event>,
    pub other_total: u64,
    pub aws_service: bool,
}

/// Keeps the `cap` smallest events. Amortised: lists may grow to twice the cap between trims.
#[inline]
pub(crate) fn push_event(list: &mut Vec<Event>, e: Event, cap: usize) {
    list.push(e);
    if list.len() >= cap.saturating_mul(2).max(2) {
        trim(list, cap);
    }
}

pub(crate) fn trim(list: &mut Vec<Event>, cap: usize) {
    if list.len() > cap {
        list.select_nth_unstable(cap);
        list.truncate(cap);
    }
}

impl PairAcc {
    pub fn merge(&mut self, o: PairAcc, cap: usize) {
        self.own.extend(o.own);
        self.own_total += o.own_total;
        self.other.extend(o.other);
        self.other_total += o.other_total;
        self.aws_service |= o.aws_service;
        if self.own.len() > cap.saturating_mul(2) {
            trim(&mut self.own, cap);
        }
        if self.other.len() > cap.saturating_mul(2) {
            trim(&mut self.other, cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(peer: u32, internal: bool, dst_port: u16, bytes: u64) -> Flow {
        Flow {
            peer: Addr::from_ipv4_bits(peer),
            peer_internal: internal,
            src_port: Some(40_000),
            dst_port: Some(dst_port),
            protocol: 6,
            packets: 2,
            bytes,
            reject: false,
            syn: true,
            aws_service: false,
        }
    }

    #[test]
    fn out_flows_fill_every_counter() {
        let mut acc = Acc::default();
        acc.add_out(&flow(1, true, 22, 100), true, 10, 10);
        acc.add_out(&flow(2, false, 443, 50), true, 10, 10);
        assert_eq!(acc.records, 2);
        assert_eq!(acc.out, Volume { flows: 2, packets: 4, bytes: 150 });
        assert_eq!(acc.out_internal.bytes, 100);
        assert_eq!(acc.out_external.bytes, 50);
        assert_eq!(acc.syn_out, 2);
        assert_eq!(acc.max_flow_bytes_out, 100);
        assert_eq!(acc.admin_out.len(), 1);
        assert_eq!(acc.dst_ports_out.len(), 2);
        assert_eq!(acc.src_ports_out.len(), 1);
    }

    #[test]
    fn caps_count_what_they_refuse() {
        let mut acc = Acc::default();
        for peer in 0..5 {
            acc.add_out(&flow(peer, false, 443, 1), true, 3, 10);
        }
        assert_eq!(acc.peers.len(), 3);
        // Two refused peers.
        assert_eq!(acc.overflow, 2);
    }

    #[test]
    fn merge_adds_and_unions() {
        let mut a = Acc::default();
        let mut b = Acc::default();
        a.add_out(&flow(1, false, 443, 10), true, 10, 10);
        b.add_out(&flow(1, false, 80, 30), true, 10, 10);
        b.add_in(&flow(2, true, 22, 5), false, 10, 10);
        a.merge(&b, 10, 10);
        assert_eq!(a.out.bytes, 40);
        assert_eq!(a.peers.get(&Addr::from_ipv4_bits(1)), Some(&PeerOut { bytes: 40, sent: true }));
        assert_eq!(a.peers.get(&Addr::from_ipv4_bits(2)), Some(&PeerOut { bytes: 0, sent: false }));
        assert_eq!(a.dst_ports_out.len(), 2);
        assert_eq!(a.admin_in.len(), 1);
        assert_eq!(a.records, 2);
    }

    #[test]
    fn parts_fold_to_the_same_acc_in_either_form() {
        let contributions: Vec<Contribution> = (0..20u32)
            .map(|i| Contribution {
                flow: flow(i % 7, i % 2 == 0, 22 + (i % 3) as u16, u64::from(i)),
                out: i % 3 != 0,
                primary: i % 4 != 0,
            })
            .collect();
        let mut direct = Acc::default();
        for c in &contributions {
            c.add_to(&mut direct, 100, 100);
        }
        for split in [1, 3, 8, 9, 19] {
            let part_of = |list: &[Contribution]| -> Option<Part> {
                let (first, rest) = list.split_first()?;
                let mut part = Part::One(*first);
                for c in rest {
                    part.add(*c, 100, 100);
                }
                Some(part)
            };
            let (Some(mut a), Some(b)) = (part_of(&contributions[..split]), part_of(&contributions[split..])) else {
                continue;
            };
            assert_eq!(a.records() + b.records(), direct.records);
            a.merge(b, 100, 100);
            assert!(matches!(a, Part::Folded(_)), "20 contributions are past the inline limit");
            let mut folded = Acc::default();
            a.fold_into(&mut folded, 100, 100);
            assert_eq!(folded, direct, "split at {split}");
        }
        let mut few = Part::One(contributions[0]);
        few.add(contributions[1], 100, 100);
        assert!(matches!(few, Part::Few(ref list) if list.len() == 2));
    }

    #[test]
    fn buffered_contributions_add_up_to_the_direct_ones() {
        let conds = [
            Cond::Always,
            Cond::Unmonitored(Addr::from_ipv4_bits(9)),
            Cond::ByEni { eni: 3, src: Addr::from_ipv4_bits(1), iface_src: Addr::from_ipv4_bits(1) },
        ];
        // Caps not reached: past a cap, which peers and ports get in depends on the order
        // of additions, buffered or not (and so does the split between partials).
        const CAP: usize = 10_000;
        // Past PENDING_MIN: the buffer is settled into the tables on the way.
        let contributions: Vec<(Cond, Contribution)> = (0..3000u32)
            .map(|i| {
                let c = Contribution {
                    flow: flow(i % 300, i % 2 == 0, 22 + (i % 5) as u16, u64::from(i)),
                    out: i % 3 != 0,
                    primary: i % 4 != 0,
                };
                (conds[(i % 7 % 3) as usize], c)
            })
            .collect();
        let mut direct = HostAcc::default();
        let mut buffered = HostAcc::default();
        let (mut first, mut second) = (HostAcc::default(), HostAcc::default());
        for (i, &(cond, c)) in contributions.iter().enumerate() {
            direct.add_now(cond, c, CAP, CAP);
            buffered.add(cond, c, CAP, CAP);
            if i % 5 < 2 { &mut first } else { &mut second }.add(cond, c, CAP, CAP);
            if i % 97 == 0 {
                assert_eq!(buffered.records(), direct.records(), "after {i}");
            }
        }
        assert!(!buffered.pending.is_empty() && !buffered.others.is_empty(), "part settled, part buffered");
        // Folded at a drain, with a condition that does not count.
        let counts = |cond: Cond| cond != conds[1];
        let expected = direct.clone().fold(counts, CAP, CAP);
        assert!(expected.1 > 0);
        assert_eq!(buffered.clone().fold(counts, CAP, CAP), expected);
        first.merge(second, CAP, CAP);
        assert_eq!(first.fold(counts, CAP, CAP), expected, "merged partials");
        // A checkpoint taken unsettled resumes exactly.
        let text = serde_json::to_string(&buffered).unwrap();
        let mut resumed: HostAcc = serde_json::from_str(&text).unwrap();
        for acc in [&mut buffered, &mut resumed] {
            // The conditional ones: the others went straight into `always`.
            let conds: FxHashSet<Cond> = acc.conds().copied().collect();
            assert_eq!(conds.len(), 2);
            acc.settle(CAP, CAP);
            assert!(acc.pending.is_empty());
            assert_eq!(acc.always, direct.always);
            assert_eq!(acc.others, direct.others);
        }
        // Settled, nothing of the buffer is serialized.
        assert!(!serde_json::to_string(&buffered).unwrap().contains("pending"));
    }

    #[test]
    fn edge_parts_keep_one_count_per_condition() {
        let a = Addr::from_ipv4_bits(1);
        let mut parts = EdgeParts::new(Cond::Always);
        parts.get_mut(Cond::Always).accept += 2;
        parts.get_mut(Cond::Unmonitored(a)).reject += 1;
        parts.get_mut(Cond::Unmonitored(a)).reject += 1;
        let listed: Vec<(Cond, u64, u64)> = parts.iter().map(|(c, e)| (*c, e.accept, e.reject)).collect();
        assert_eq!(listed, vec![(Cond::Always, 2, 0), (Cond::Unmonitored(a), 0, 2)]);
        let text = serde_json::to_string(&parts).unwrap();
        assert_eq!(serde_json::from_str::<EdgeParts>(&text).unwrap(), parts);
        let remapped = EdgeParts::new(Cond::ByEni { eni: 0, src: a, iface_src: a }).remap(&[7]);
        assert_eq!(remapped.iter().next().map(|(c, _)| *c), Some(Cond::ByEni { eni: 7, src: a, iface_src: a }));
    }

    #[test]
    fn events_keep_the_earliest() {
        let mut list = Vec::new();
        for start in (0..10).rev() {
            push_event(&mut list, Event { start, end: start, bytes: 1, packets: 1, src_port: 1, syn: false }, 3);
        }
        trim(&mut list, 3);
        list.sort();
        let starts: Vec<u64> = list.iter().map(|e| e.start).collect();
        assert_eq!(starts, vec![0, 1, 2]);
    }
}
