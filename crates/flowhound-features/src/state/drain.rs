//! Turning the state into output: [`FeatureState::finish`], the drains of closed windows
//! and horizons, the pair series of a horizon and the eviction of old pair events, with
//! the de-duplication rules they share (which copies of a flow count).

use flowhound_flowlog::Addr;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::FeatureState;
use super::interfaces::Candidates;
use crate::acc::{Cond, EdgeAcc, Event, IdIx, PairAcc, trim};
use crate::config::FeatureConfig;
use crate::output::{Features, HostWindow, InternalEdge, PairId, PairSeries};

/// Which copy of a flow a record is, relative to the interface that logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
    Unknown,
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
            if acc.monitored || acc.conds().any(|c| resolution.is_own_capture(host, *c).is_some()) {
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
        // Host-windows are marked and folded in parallel: each is independent of the
        // others, and a drain of a whole run's windows is otherwise one thread's work.
        let (cap_peers, cap_ports) =
            (self.cfg.limits.max_peers_per_host_window, self.cfg.limits.max_ports_per_host_window);
        hosts.par_iter_mut().for_each(|((host, _), acc)| {
            let found: Vec<IdIx> = acc.conds().filter_map(|c| resolution.is_own_capture(*host, *c)).collect();
            for eni in found {
                acc.monitored = true;
                acc.note_eni(Some(eni));
            }
        });
        let mut monitored: FxHashSet<(Addr, u64)> = FxHashSet::default();
        for (key, acc) in &hosts {
            let (host, window) = *key;
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
        let (cfg, ids, skipdata) = (&self.cfg, &self.ids, &self.skipdata);
        // Each host-window's row (if anything of it counts), its records dropped as
        // duplicates and its sets' overflow.
        let folded: Vec<(Option<HostWindow>, u64, u64)> = hosts
            .par_drain(..)
            .map(|((host, window), mut acc)| {
                if resolution.gateway_addrs.contains(&host) {
                    return (None, acc.records(), 0);
                }
                // Moved out, not copied: the fold below needs the rest only.
                let enis_of_host = std::mem::take(&mut acc.enis);
                let (total, dropped) = acc.fold(|cond| counts(cond, window), cap_peers, cap_ports);
                if total.out.flows + total.inn.flows == 0 {
                    return (None, dropped, 0);
                }
                let incomplete = enis_of_host.iter().any(|e| skipdata.contains(&(*e, window)));
                let mut interface_id: Option<&str> = None;
                let mut instance_id: Option<&str> = None;
                for &e in &enis_of_host {
                    let name = ids.get(e);
                    if interface_id.is_none_or(|cur| name < cur) {
                        interface_id = Some(name);
                    }
                    for &inst in enis.get(e as usize).map_or(&[][..], |i| &i.instances[..]) {
                        let name = ids.get(inst);
                        if instance_id.is_none_or(|cur| name < cur) {
                            instance_id = Some(name);
                        }
                    }
                }
                let row = row(cfg, host, window, &total, interface_id, instance_id, incomplete);
                (Some(row), dropped, total.overflow)
            })
            .collect();
        let mut rows = Vec::with_capacity(folded.len());
        for (row, dropped, overflow) in folded {
            self.stats.duplicates_dropped += dropped;
            self.stats.set_overflow += overflow;
            rows.extend(row);
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
