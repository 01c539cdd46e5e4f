//! What the records of each interface say about it: its own address (the one address
//! in every record's interface-level pair), its instances, and whether it forwards other
//! hosts' traffic like a gateway. The de-duplication rules decide from these which copies
//! of a flow count.

use std::collections::hash_map::Entry;

use flowhound_flowlog::{Addr, FlowRecord};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::acc::IdIx;
use crate::config::FeatureConfig;

/// What the records of one interface say about its own address: the interface-level
/// `srcaddr`/`dstaddr` of every record include it, so it is the intersection of their pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Candidates {
    #[default]
    Unseen,
    Two(Addr, Addr),
    One(Addr),
    Empty,
}

impl Candidates {
    pub(super) fn intersect(self, other: Candidates) -> Candidates {
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

    pub(super) fn of_pair(a: Addr, b: Addr) -> Candidates {
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
pub(super) struct EniInfo {
    pub(super) own: Candidates,
    pub(super) instances: Vec<IdIx>,
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
    pub(super) fn note_relay(&mut self, cfg: &FeatureConfig, r: &FlowRecord, known: [(Addr, bool); 2]) {
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

    pub(super) fn merge_relay(&mut self, other: &EniInfo) {
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
    pub(super) fn is_gateway(&self, own: Addr) -> bool {
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
