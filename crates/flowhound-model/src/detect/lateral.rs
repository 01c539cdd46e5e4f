//! Lateral movement: internal edges a host opens that its history, its peer group and the
//! fleet make improbable, and internal scans.
//!
//! Per host and window, every (destination, port) the host never opened in training costs
//! its surprise in bits (see [`Context::edge_surprise`]): that the host opens this port at
//! all, under a Dirichlet back-off host → peer group → fleet in which the group counts only
//! as far as the host resembles it; that it opens it towards this destination's group
//! (nothing for a port the host routinely opens across the fleet — its role); and that the
//! destination, present all through training, never served this port. Administrative ports
//! weigh more, and so does an hour of day in which the host never opened internal
//! connections. A window that opens many new
//! (destination, port) pairs — far more than the host ever did — is a scan, reported with
//! `evidence.kind = "scan"`, with the share of REJECTed flows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use flowhound_features::{ADMIN_PORTS, InternalEdge};
use flowhound_flowlog::Addr;

use super::edge_model::EdgeSurprise;
use super::{Context, RawHit, round3};
use crate::calibration::{KEY_LATERAL, KEY_SCAN};
use crate::finding::{Hit, LATERAL_MOVEMENT};

#[derive(Debug, Default)]
struct WindowEdges<'a> {
    edges: Vec<&'a InternalEdge>,
}

/// Lowest port of the IANA / Windows ephemeral range, inside Linux's (32768–60999) too.
const EPHEMERAL_PORTS_FROM: u16 = 32_768;

/// The edges that open connections. The features carry both directions of a flow, so a
/// server's replies appear as edges to its clients' ephemeral ports: an edge whose port is
/// above 1023 and whose reverse (same window) uses a lower port is a reply and is dropped.
/// A reply to an ephemeral port is dropped when the reverse uses a lower port in any
/// window: when one interface's records of an interval are missing (SKIPDATA), the
/// de-duplicated features keep the server's reply but not the client's request, and the
/// server would otherwise look like it opened a new edge to its client's ephemeral port.
pub(crate) fn initiated(edges: &[InternalEdge]) -> Vec<&InternalEdge> {
    let mut lowest: HashMap<(u64, Addr, Addr), u16> = HashMap::new();
    let mut lowest_anywhere: HashMap<(Addr, Addr), u16> = HashMap::new();
    for e in edges {
        let p = lowest.entry((e.window_start, e.src, e.dst)).or_insert(e.dst_port);
        *p = (*p).min(e.dst_port);
        let p = lowest_anywhere.entry((e.src, e.dst)).or_insert(e.dst_port);
        *p = (*p).min(e.dst_port);
    }
    let mut out = Vec::with_capacity(edges.len());
    for e in edges {
        if e.src == e.dst {
            continue;
        }
        let reply_same_window =
            e.dst_port >= 1024 && lowest.get(&(e.window_start, e.dst, e.src)).is_some_and(|&p| p < e.dst_port);
        let reply_to_ephemeral =
            e.dst_port >= EPHEMERAL_PORTS_FROM && lowest_anywhere.get(&(e.dst, e.src)).is_some_and(|&p| p < e.dst_port);
        if !reply_same_window && !reply_to_ephemeral {
            out.push(e);
        }
    }
    out
}

/// Sources with a window that opens enough new pairs on enough destinations to be a scan.
fn scanning_sources(ctx: &Context<'_>, by_window: &BTreeMap<(Addr, u64), WindowEdges<'_>>) -> BTreeSet<Addr> {
    let cfg = &ctx.baseline.detect.lateral;
    let mut out = BTreeSet::new();
    for ((src, _), w) in by_window {
        let mut new_pairs: BTreeSet<(Addr, u16)> = BTreeSet::new();
        let mut destinations: BTreeSet<Addr> = BTreeSet::new();
        for e in &w.edges {
            destinations.insert(e.dst);
            if !ctx.edge_known(*src, e.dst, e.dst_port) {
                new_pairs.insert((e.dst, e.dst_port));
            }
        }
        if new_pairs.len() >= cfg.scan_min_pairs && destinations.len() >= cfg.scan_min_destinations {
            out.insert(*src);
        }
    }
    out
}

pub(super) fn detect(ctx: &Context<'_>) -> Vec<RawHit> {
    let cfg = &ctx.baseline.detect.lateral;
    let opened = initiated(&ctx.features.edges);
    let mut by_window: BTreeMap<(Addr, u64), WindowEdges<'_>> = BTreeMap::new();
    for e in &opened {
        by_window.entry((e.src, e.window_start)).or_default().edges.push(e);
    }
    let scanning = scanning_sources(ctx, &by_window);
    // New (destination, port) pairs opened by several sources at once are a rollout (a new
    // service every client starts calling), not one intruder moving. Hosts for which the
    // port is routine (the bastion's SSH, the scanner's probes) and hosts sweeping the
    // network touch everything and are no sign of a rollout: an intruder's SSH to a host
    // the bastion or another intruder's sweep also touched that day is still an intruder.
    let mut sources_of: HashMap<(Addr, u16), BTreeSet<Addr>> = HashMap::new();
    for e in &opened {
        if !ctx.edge_known(e.src, e.dst, e.dst_port)
            && !ctx.routine_port(e.src, e.dst_port)
            && !scanning.contains(&e.src)
        {
            sources_of.entry((e.dst, e.dst_port)).or_default().insert(e.src);
        }
    }
    let mut out = Vec::new();
    for ((src, window), w) in &by_window {
        if ctx.is_gateway(*src) {
            continue;
        }
        let hist = ctx.host(*src);
        let hour = ((window % 86_400) / 3600) as usize;
        let odd_hour = hist.is_some_and(|h| h.edge_hours & (1 << hour) == 0);
        let mut new_pairs: BTreeSet<(Addr, u16)> = BTreeSet::new();
        let mut destinations: BTreeSet<Addr> = BTreeSet::new();
        let mut flows = 0u64;
        let mut rejects = 0u64;
        let mut best: Option<(f64, &InternalEdge, EdgeSurprise)> = None;
        let mut new_edges = 0usize;
        for e in &w.edges {
            destinations.insert(e.dst);
            flows += e.flows_accept + e.flows_reject;
            rejects += e.flows_reject;
            if ctx.edge_known(*src, e.dst, e.dst_port) {
                continue;
            }
            new_pairs.insert((e.dst, e.dst_port));
            new_edges += 1;
            let surprise = ctx.edge_surprise(*src, e.dst, e.dst_port);
            let mut bits = surprise.port_bits + surprise.group_bits;
            if surprise.unserved {
                bits += cfg.unserved_bits;
            }
            if surprise.first_remote_access {
                bits += cfg.first_remote_access_bits;
            }
            if ADMIN_PORTS.contains(&e.dst_port) {
                bits *= cfg.admin_weight;
            }
            if odd_hour {
                bits += cfg.odd_hour_bits;
            }
            let sources = sources_of.get(&(e.dst, e.dst_port)).map_or(1, BTreeSet::len).max(1);
            bits /= 1.0 + 0.5 * (sources as f64 - 1.0);
            if best.is_none_or(|(b, _, _)| bits > b) {
                best = Some((bits, e, surprise));
            }
        }
        let (interface_id, instance_id) = ctx.ids(*src);
        let start = *window;
        let end = window + ctx.window_secs;
        let reject_share = if flows > 0 { rejects as f64 / flows as f64 } else { 0.0 };
        let historic_pairs = match hist {
            Some(h) => h.max_pairs as f64,
            None => 0.0,
        };
        if new_pairs.len() >= cfg.scan_min_pairs && destinations.len() >= cfg.scan_min_destinations {
            let reference = historic_pairs.max(cfg.scan_min_pairs as f64);
            let raw = (new_pairs.len() as f64 / reference).log2() + reject_share;
            let ports: BTreeSet<u16> = new_pairs.iter().map(|(_, p)| *p).collect();
            let mut evidence = serde_json::Map::new();
            evidence.insert("kind".into(), "scan".into());
            evidence.insert("new_pairs".into(), new_pairs.len().into());
            evidence.insert("destinations".into(), destinations.len().into());
            evidence.insert("ports".into(), ports.iter().take(32).copied().collect::<Vec<u16>>().into());
            evidence.insert("reject_share".into(), round3(reject_share).into());
            evidence.insert("historic_max_pairs_per_window".into(), (historic_pairs as u64).into());
            let summary = format!(
                "{} probed {} new (host, port) pairs on {} internal addresses in {} min ({} ports, {:.0}% rejected); its busiest window in the history had {}",
                src,
                new_pairs.len(),
                destinations.len(),
                ctx.window_secs / 60,
                ports.len(),
                reject_share * 100.0,
                historic_pairs as u64
            );
            out.push(RawHit {
                hit: Hit {
                    detector: LATERAL_MOVEMENT,
                    host: src.to_string(),
                    peer: None,
                    port: None,
                    protocol: None,
                    kind: "scan",
                    start,
                    end,
                    score: 0.0,
                    summary,
                    evidence,
                    interface_id: interface_id.clone(),
                    instance_id: instance_id.clone(),
                },
                raw,
                calibration_key: KEY_SCAN,
                window: *window,
            });
            // The scan's own probes are not separate quiet edges.
            continue;
        }
        let Some((bits, edge, surprise)) = best else { continue };
        let raw = bits + 0.5 * (new_edges as f64).log2().max(0.0);
        tracing::trace!(host = %src, peer = %edge.dst, port = edge.dst_port, window, raw, port_bits = surprise.port_bits, group_bits = surprise.group_bits, cohesion = surprise.cohesion, unserved = surprise.unserved, first_remote_access = surprise.first_remote_access, "lateral edge");
        let fanout = destinations.len();
        let historic_fanout = hist.map_or(0, |h| h.max_fanout);
        let dst_group = ctx.group(edge.dst);
        let admin = ADMIN_PORTS.contains(&edge.dst_port);
        let mut evidence = serde_json::Map::new();
        evidence.insert("kind".into(), "new_edge".into());
        evidence.insert("new_edges".into(), new_edges.into());
        evidence.insert("surprise_bits".into(), round3(bits).into());
        evidence.insert("port_bits".into(), round3(surprise.port_bits).into());
        evidence.insert("group_bits".into(), round3(surprise.group_bits).into());
        evidence.insert("routine_port".into(), surprise.routine.into());
        evidence.insert("destination_served_by".into(), surprise.served_by.into());
        evidence.insert("destination_never_served_port".into(), surprise.unserved.into());
        evidence.insert("first_remote_access".into(), surprise.first_remote_access.into());
        evidence.insert("source_group_cohesion".into(), round3(surprise.cohesion).into());
        evidence.insert("admin_port".into(), admin.into());
        evidence.insert("odd_hour".into(), odd_hour.into());
        evidence.insert("peer_group".into(), dst_group.into());
        evidence.insert("source_peer_group".into(), ctx.group(*src).into());
        evidence.insert("fanout".into(), fanout.into());
        evidence.insert("historic_max_fanout".into(), historic_fanout.into());
        evidence.insert("flows".into(), (edge.flows_accept + edge.flows_reject).into());
        evidence.insert("rejects".into(), edge.flows_reject.into());
        evidence.insert("bytes".into(), edge.bytes.into());
        let history = match hist {
            Some(h) if h.edges.is_empty() => "it opened no internal connections in the history".to_string(),
            Some(h) => format!("it opened {} distinct internal edges in the history, never this one", h.edges.len()),
            None => "the host has no history".to_string(),
        };
        let port_history = if surprise.first_remote_access {
            "; it never used SSH, SMB, RDP or WinRM before".to_string()
        } else if surprise.routine {
            String::new()
        } else if ctx.edge_model_port_days(*src, edge.dst_port) == 0 {
            format!("; it never used port {} before", edge.dst_port)
        } else {
            String::new()
        };
        let summary = format!(
            "{} opened a new {}connection to {}:{} ({:.0} bits of surprise: {}{}){}{}",
            src,
            if admin { "administrative " } else { "" },
            edge.dst,
            edge.dst_port,
            bits,
            history,
            port_history,
            match (surprise.unserved, surprise.served_by) {
                (false, _) => "",
                (true, 0) => "; nothing connected to that port of the destination in the history",
                (true, _) => "; only administration hosts connected to that port of the destination in the history",
            },
            if odd_hour { "; at an hour it never does" } else { "" }
        );
        out.push(RawHit {
            hit: Hit {
                detector: LATERAL_MOVEMENT,
                host: src.to_string(),
                peer: Some(edge.dst.to_string()),
                port: Some(edge.dst_port),
                protocol: Some(edge.protocol),
                kind: "new_edge",
                start,
                end,
                score: 0.0,
                summary,
                evidence,
                interface_id,
                instance_id,
            },
            raw,
            calibration_key: KEY_LATERAL,
            window: *window,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Addr {
        Addr::from(s.parse::<std::net::IpAddr>().unwrap())
    }

    fn edge(window: u64, src: &str, dst: &str, port: u16) -> InternalEdge {
        InternalEdge {
            window_start: window,
            window_end: window + 900,
            src: addr(src),
            dst: addr(dst),
            dst_port: port,
            protocol: 6,
            flows_accept: 1,
            flows_reject: 0,
            packets: 10,
            bytes: 1000,
            syn: 0,
        }
    }

    fn opened(edges: &[InternalEdge]) -> Vec<(u64, String, u16)> {
        initiated(edges).into_iter().map(|e| (e.window_start, e.src.to_string(), e.dst_port)).collect()
    }

    #[test]
    fn replies_are_dropped_in_the_same_window() {
        let edges = [edge(0, "10.0.0.1", "10.0.0.2", 5432), edge(0, "10.0.0.2", "10.0.0.1", 51_222)];
        assert_eq!(opened(&edges), [(0, "10.0.0.1".to_string(), 5432)]);
    }

    #[test]
    fn a_reply_to_an_ephemeral_port_is_dropped_when_its_request_is_in_another_window() {
        // Window 900 lost the client's records (SKIPDATA): only the server's reply is left.
        let edges = [
            edge(0, "10.0.0.1", "10.0.0.2", 5432),
            edge(0, "10.0.0.2", "10.0.0.1", 51_222),
            edge(900, "10.0.0.2", "10.0.0.1", 51_222),
        ];
        assert_eq!(opened(&edges), [(0, "10.0.0.1".to_string(), 5432)]);
    }

    #[test]
    fn a_service_port_in_another_window_is_not_a_reply() {
        // 3389 is not ephemeral: RDP from the host a server once called stays an initiation.
        let edges = [edge(0, "10.0.0.2", "10.0.0.1", 445), edge(900, "10.0.0.1", "10.0.0.2", 3389)];
        assert_eq!(opened(&edges), [(0, "10.0.0.2".to_string(), 445), (900, "10.0.0.1".to_string(), 3389)]);
    }
}
