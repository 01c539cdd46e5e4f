//! Beaconing: regular contact from one host to one external peer and port over a sliding
//! horizon.
//!
//! Flow logs carry records, not connections: a record is one 5-tuple per aggregation
//! interval, so a long-lived connection yields one record per interval and looks like a
//! perfect beacon at exactly that interval. Records are therefore folded into connections
//! (same source port, no silence longer than two intervals), and two views are scored:
//! - per connection: the start times of new connections, scored by RITA v5 and by the
//!   jitter-tolerant periodicity (implants that reconnect per beat);
//! - persistent: one connection held open for hours with steady, small records (implants
//!   that keep a socket open; beats below the interval are invisible, so the signal is
//!   the channel's length and the regularity of its record sizes).
//!
//! Timing regularity is judged against chance ([`crate::beacon::Periodicity::regularity`]),
//! so the score means the same with or without history. History never whitelists: the
//! stronger view is discounted only by evidence of benign automation — more hosts reach
//! the peer's network than a campaign would infect (`campaign_hosts`), or the peer is an
//! AWS-managed service endpoint (skipped unless `include_aws_services`; EC2 public
//! addresses are not managed endpoints: anyone can run C2 there). A pair that was
//! already periodic in training and that few hosts share is an implant's dwell time, not
//! a habit, and counts slightly more.

use std::collections::BTreeMap;

use flowhound_features::PairSeries;

use super::{Context, RawHit, round3};
use crate::beacon::{RitaScore, periodicity, regularity, rita_score};
use crate::calibration::KEY_BEACON;
use crate::config::{BeaconConfig, DetectConfig};
use crate::finding::{BEACONING, Hit, human_bytes, human_secs};
use crate::history::{PeriodicPair, net_of};

/// Internal clients of the same port from which an outbound pair on it is relaying.
const RELAY_MIN_CLIENTS: usize = 3;

/// Timing resolution of flow-log start times, seconds.
const RESOLUTION_SECS: f64 = 2.0;

#[derive(Debug, Clone, Copy)]
struct Event {
    start: u64,
    end: u64,
    bytes: u64,
    packets: u64,
    src_port: u16,
    /// The record carries the host's SYN (without ACK): the host opened the connection.
    syn: bool,
}

#[derive(Debug, Clone)]
struct Conn {
    start: u64,
    end: u64,
    bytes: u64,
    records: Vec<usize>,
}

/// Folds records into connections: same source port, no silence longer than two
/// aggregation intervals (plus a minute of delivery jitter).
fn connections(events: &[Event], aggregation: u64) -> Vec<Conn> {
    let max_gap = 2 * aggregation + 60;
    let mut conns: Vec<Conn> = Vec::new();
    let mut open: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(&c) = open.get(&e.src_port)
            && e.start <= conns[c].end + max_gap
        {
            let conn = &mut conns[c];
            conn.end = conn.end.max(e.end);
            conn.bytes += e.bytes;
            conn.records.push(i);
            continue;
        }
        open.insert(e.src_port, conns.len());
        conns.push(Conn { start: e.start, end: e.end, bytes: e.bytes, records: vec![i] });
    }
    conns
}

/// What one pair did over one span.
#[derive(Debug, Clone)]
struct BeaconStats {
    pub method: &'static str,
    pub strength: f64,
    pub period_secs: f64,
    pub jitter: f64,
    pub mode_share: f64,
    pub regularity: f64,
    pub rita: RitaScore,
    pub connections: usize,
    pub records: usize,
    pub bytes_per_beat: f64,
    pub first: u64,
    pub last: u64,
    pub longest_connection_secs: u64,
}

/// Strength of a per-connection beacon: timing regularity beyond chance weighs most, then
/// RITA's size regularity (hundreds of identical check-ins are machine-made), then its
/// persistence over the horizon (duration or an even hourly histogram) — a beacon active
/// one hour of the day is still one.
fn per_connection_strength(rita: &RitaScore, p: &crate::beacon::Periodicity) -> f64 {
    0.5 * p.regularity + 0.35 * rita.ds + 0.15 * rita.duration.max(rita.histogram)
}

/// The factor by which prevalence discounts a pair whose destination network `hosts`
/// hosts reach: none up to a campaign's size, then the square root of the campaign's
/// share of them (4x the campaign: half; 36x: a sixth), so a destination half the fleet
/// polls is discounted and the sixth host of a worm is not.
fn prevalence_factor(hosts: usize, campaign_hosts: usize) -> f64 {
    let campaign = campaign_hosts.max(1);
    if hosts <= campaign { 1.0 } else { (campaign as f64 / hosts as f64).sqrt() }
}

fn median_u64(v: &mut [f64]) -> f64 {
    crate::robust::median_in_place(v).unwrap_or(0.0)
}

/// Scores the events of one pair in `[from, to)`.
fn analyse(events: &[Event], from: u64, to: u64, aggregation: u64, cfg: &BeaconConfig) -> Option<BeaconStats> {
    if events.len() < cfg.min_connections.min(4) {
        return None;
    }
    let conns = connections(events, aggregation);
    let first = events.first()?.start;
    let last = events.iter().map(|e| e.end).max()?;
    let longest = conns.iter().map(|c| c.end - c.start).max().unwrap_or(0);

    let mut best: Option<BeaconStats> = None;
    if conns.len() >= cfg.min_connections {
        let starts: Vec<u64> = conns.iter().map(|c| c.start).collect();
        let bytes: Vec<u64> = conns.iter().map(|c| c.bytes).collect();
        let mut sizes: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
        let per_beat = median_u64(&mut sizes);
        if per_beat <= cfg.max_beat_bytes as f64 {
            let rita = rita_score(&starts, &bytes, from, to);
            let p = periodicity(&starts, cfg.jitter_tolerance, RESOLUTION_SECS);
            if p.intervals >= cfg.min_connections - 1 {
                best = Some(BeaconStats {
                    method: "per_connection",
                    strength: per_connection_strength(&rita, &p),
                    period_secs: p.period_secs,
                    jitter: p.jitter,
                    mode_share: p.mode_share,
                    regularity: p.regularity,
                    rita,
                    connections: conns.len(),
                    records: events.len(),
                    bytes_per_beat: per_beat,
                    first,
                    last,
                    longest_connection_secs: longest,
                });
            }
        }
    }
    // The longest channel, if it was held open long enough.
    if let Some(c) = conns.iter().max_by_key(|c| (c.end - c.start, c.start))
        && c.end - c.start >= cfg.min_persistent_secs
        && c.records.len() >= cfg.min_connections
    {
        let starts: Vec<u64> = c.records.iter().map(|&i| events[i].start).collect();
        let mut sizes: Vec<f64> = c.records.iter().map(|&i| events[i].bytes as f64).collect();
        sizes.sort_by(f64::total_cmp);
        let per_record = median_u64(&mut sizes.clone());
        if per_record <= cfg.max_beat_bytes as f64 {
            let ds = regularity(&sizes, 0.0, 10.0);
            let p = periodicity(&starts, cfg.jitter_tolerance, RESOLUTION_SECS);
            let coverage = ((c.end - c.start) as f64 / (4.0 * 3600.0)).min(1.0);
            let strength = 0.4 * coverage + 0.3 * ds + 0.3 * p.regularity;
            if best.as_ref().is_none_or(|b| strength > b.strength) {
                let bytes: Vec<u64> = c.records.iter().map(|&i| events[i].bytes).collect();
                best = Some(BeaconStats {
                    method: "persistent",
                    strength,
                    period_secs: p.period_secs,
                    jitter: p.jitter,
                    mode_share: p.mode_share,
                    regularity: p.regularity,
                    rita: rita_score(&starts, &bytes, from, to),
                    connections: conns.len(),
                    records: c.records.len(),
                    bytes_per_beat: per_record,
                    first,
                    last,
                    longest_connection_secs: c.end - c.start,
                });
            }
        }
    }
    best
}

/// The events of a run of series of one (host, peer, port, protocol), in start order.
fn events_of(series: &[&PairSeries]) -> Vec<Event> {
    let mut out = Vec::new();
    for s in series {
        let mut t = s.horizon_start;
        for i in 0..s.start_deltas.len() {
            t += u64::from(s.start_deltas[i]);
            out.push(Event {
                start: t,
                end: t + u64::from(s.durations.get(i).copied().unwrap_or(0)),
                bytes: s.bytes.get(i).copied().unwrap_or(0),
                packets: s.packets.get(i).copied().unwrap_or(0),
                src_port: s.src_ports.get(i).copied().unwrap_or(0),
                syn: s.syn.get(i).copied().unwrap_or(false),
            });
        }
    }
    out.sort_by_key(|e| (e.start, e.src_port));
    out
}

/// Responses of a server to clients look like outbound pairs towards the clients'
/// ephemeral ports: a constant lower source port talking to a peer port in the ephemeral
/// ranges (10000 and up; a client of a service on 8443 must not look like a server), or
/// source ports that are all system ports (below 1024: clients never send from them) —
/// a server answering one scanner's fixed port on its SSH, HTTP and HTTPS at once.
fn is_server_response(port: u16, events: &[Event]) -> bool {
    if port < 10_000 || events.is_empty() {
        return false;
    }
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for e in events {
        *counts.entry(e.src_port).or_default() += 1;
    }
    let (top, n) = counts.iter().max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p))).map_or((0, 0), |(p, n)| (*p, *n));
    let system = events.iter().filter(|e| e.src_port < 1024).count();
    (top < port && n * 10 >= events.len() * 9) || system * 10 >= events.len() * 9
}

/// A TCP pair in which the host answers a peer instead of contacting it: a server's
/// replies to a scanner probing its ports look like a peer service port the host contacts
/// at a fast, regular pace.
///
/// With tcp-flags (v3+ logs, `tcp_flags`), the host's SYNs say who opened what: a pair
/// with one is the host's own contact; several connections (source ports) none of which
/// the host opened are its SYN-ACKs, RSTs and ACKs. One connection without a SYN may be
/// a channel opened before the data began and is judged as below.
///
/// Without tcp-flags, a pair whose records are (nearly) all bare headers is replies: the
/// host sent no payload and no segment with options, so it never opened a connection there
/// (every SYN carries options, at least the MSS) and never sent data — its RSTs and bare
/// ACKs.
fn answers_peer(protocol: u8, peer: flowhound_flowlog::Addr, events: &[Event], tcp_flags: bool) -> bool {
    if protocol != 6 || events.is_empty() {
        return false;
    }
    if tcp_flags {
        if events.iter().any(|e| e.syn) {
            return false;
        }
        let first_port = events[0].src_port;
        if events.iter().any(|e| e.src_port != first_port) {
            return true;
        }
    }
    // IPv4 20 + TCP 20 bytes; IPv6 40 + 20.
    let header: u64 = if peer.is_ipv4() { 40 } else { 60 };
    let bare = events.iter().filter(|e| e.packets > 0 && e.bytes <= header * e.packets).count();
    bare * 10 >= events.len() * 9
}

/// Largest TCP options of one handshake segment (MSS, window scale, SACK-permitted and
/// timestamps: 20 bytes on Linux, 12 on Windows).
const MAX_HANDSHAKE_OPTIONS: u64 = 20;

/// A TCP pair whose records are (nearly) all single segments no larger than a handshake
/// segment: whichever side opened, the host never sent a byte of payload there, so there
/// is no check-in to carry commands (a server's SYN-ACKs to a scanner's fixed source port
/// when the logs lack tcp-flags).
fn payload_free(protocol: u8, peer: flowhound_flowlog::Addr, events: &[Event]) -> bool {
    if protocol != 6 || events.is_empty() {
        return false;
    }
    let header: u64 = if peer.is_ipv4() { 40 } else { 60 };
    let empty = events.iter().filter(|e| e.packets == 1 && e.bytes <= header + MAX_HANDSHAKE_OPTIONS).count();
    empty * 10 >= events.len() * 9
}

/// A UDP/123 pair of standard NTP client packets only (48 bytes of NTP over UDP: 76 bytes
/// per IPv4 packet, 96 per IPv6): time synchronisation is periodic by design, and a
/// packet of exactly that size has no room for anything but the protocol's own fields.
/// An implant using the port with any other packet size is still scored.
fn time_sync(protocol: u8, port: u16, peer: flowhound_flowlog::Addr, events: &[Event]) -> bool {
    if protocol != 17 || port != 123 || events.is_empty() {
        return false;
    }
    let size: u64 = if peer.is_ipv4() { 76 } else { 96 };
    events.iter().all(|e| e.packets > 0 && e.bytes == size * e.packets)
}

/// Consecutive series of the same (host, peer, port, protocol).
fn runs(pairs: &[PairSeries]) -> Vec<Vec<&PairSeries>> {
    let mut out: Vec<Vec<&PairSeries>> = Vec::new();
    for p in pairs {
        match out.last_mut() {
            Some(run)
                if run
                    .last()
                    .is_some_and(|q| (q.host, q.peer, q.port, q.protocol) == (p.host, p.peer, p.port, p.protocol)) =>
            {
                run.push(p);
            }
            _ => out.push(vec![p]),
        }
    }
    out
}

/// Spans `[from, to)` of length `horizon` sliding by half a horizon over `[first, last]`.
fn spans(first: u64, last: u64, horizon: u64) -> Vec<(u64, u64)> {
    let step = (horizon / 2).max(60);
    let start = first - first % step;
    let mut out = Vec::new();
    let mut s = start;
    loop {
        out.push((s, s + horizon));
        if s + horizon > last {
            break;
        }
        s += step;
    }
    out
}

/// The shortest aggregation interval AWS offers (60 s; the other is 600 s): a floor for
/// the estimated one, which a few long records can put below it.
const MIN_AGGREGATION_SECS: u64 = 60;

/// Training pairs that beaconed: remembered so the same pair is not news at scoring.
/// Connections are rebuilt from records with the training data's aggregation interval,
/// exactly as scoring rebuilds them, so "the same pair" means the same analysis.
pub(crate) fn periodic_pairs(pairs: &[PairSeries], cfg: &DetectConfig, aggregation_secs: u64) -> Vec<PeriodicPair> {
    let mut best: BTreeMap<(String, String, u16), PeriodicPair> = BTreeMap::new();
    let aggregation = aggregation_secs.max(MIN_AGGREGATION_SECS);
    for s in pairs {
        let events = events_of(&[s]);
        if events.len() < cfg.beaconing.min_connections || is_server_response(s.port, &events) {
            continue;
        }
        let Some(stats) = analyse(&events, s.horizon_start, s.horizon_end, aggregation, &cfg.beaconing) else {
            continue;
        };
        if stats.strength < cfg.beaconing.learn_strength {
            continue;
        }
        let key = (s.host.to_string(), net_of(s.peer), s.port);
        let entry = PeriodicPair {
            host: key.0.clone(),
            net: key.1.clone(),
            port: s.port,
            period_secs: round3(stats.period_secs),
            strength: round3(stats.strength),
        };
        match best.get(&key) {
            Some(b) if b.strength >= entry.strength => {}
            _ => {
                best.insert(key, entry);
            }
        }
    }
    best.into_values().collect()
}

pub(super) fn detect(ctx: &Context<'_>) -> Vec<RawHit> {
    let cfg = &ctx.baseline.detect;
    let bc = &cfg.beaconing;
    let aggregation = ctx.baseline.train.aggregation_secs.max(MIN_AGGREGATION_SECS);
    let mut out = Vec::new();
    for run in runs(&ctx.features.pairs) {
        let head = run[0];
        // ICMP "pairs" are echo replies, and peer ports in the dynamic range are replies to
        // clients or scanners (a server answering a port scan looks like a fast beacon).
        let reply_like = head.protocol == 1 || head.protocol == 58 || head.port >= 32_768;
        let managed_endpoint = run.iter().any(|s| s.aws_service);
        if reply_like || ctx.is_gateway(head.host) || (managed_endpoint && !bc.include_aws_services) {
            continue;
        }
        if run.iter().map(|s| s.events_total).sum::<u64>() < bc.min_connections as u64 {
            continue;
        }
        let events = events_of(&run);
        if events.len() < bc.min_connections
            || is_server_response(head.port, &events)
            || answers_peer(head.protocol, head.peer, &events, ctx.tcp_flags)
            || payload_free(head.protocol, head.peer, &events)
            || time_sync(head.protocol, head.port, head.peer, &events)
        {
            continue;
        }
        let host = head.host.to_string();
        let net = net_of(head.peer);
        let first = events[0].start;
        let last = events.iter().map(|e| e.end).max().unwrap_or(first);
        for (from, to) in spans(first, last, cfg.horizon_secs) {
            let lo = events.partition_point(|e| e.start < from);
            let hi = events.partition_point(|e| e.start < to);
            if hi - lo < bc.min_connections {
                continue;
            }
            let Some(stats) = analyse(&events[lo..hi], from, to, aggregation, bc) else { continue };

            // Only evidence of benign automation discounts: many hosts on the peer's network.
            // Familiarity does not: an implant older than the training period is familiar.
            let trained_hosts = ctx.prevalence(&net).map_or(0, |p| p.hosts as usize);
            let hosts_on_peer = trained_hosts.max(ctx.current_hosts(&net)).max(1);
            let known_for_host = ctx.dest(head.host, &head.peer.to_string()).is_some();
            let known_periodic = ctx.is_periodic(&host, &net, head.port);
            let first_seen = ctx.prevalence(&net).map(|p| p.first_seen);
            let mut factor = prevalence_factor(hosts_on_peer, bc.campaign_hosts);
            let habit = ctx.group_habit(head.host, &net);
            let relay = ctx.clients_on(head.host, head.port) >= RELAY_MIN_CLIENTS;
            if habit || relay {
                factor *= bc.automation_factor;
            } else if known_periodic && hosts_on_peer <= bc.campaign_hosts {
                factor *= bc.dwell_factor;
            }
            let raw = stats.strength * factor;
            let window = stats.last.saturating_sub(1) - stats.last.saturating_sub(1) % ctx.window_secs;
            out.push(RawHit {
                hit: hit(
                    ctx,
                    head,
                    &stats,
                    &PeerFacts { hosts_on_peer, known_for_host, known_periodic, first_seen, habit, relay, factor },
                ),
                raw,
                calibration_key: KEY_BEACON,
                window,
            });
        }
    }
    out
}

/// What the history and the scored data say about a beaconing pair's destination.
struct PeerFacts {
    hosts_on_peer: usize,
    known_for_host: bool,
    known_periodic: bool,
    first_seen: Option<u64>,
    habit: bool,
    relay: bool,
    factor: f64,
}

fn hit(ctx: &Context<'_>, s: &PairSeries, stats: &BeaconStats, facts: &PeerFacts) -> Hit {
    let &PeerFacts { hosts_on_peer, known_for_host, known_periodic, first_seen, habit, relay, factor } = facts;
    let span = stats.last.saturating_sub(stats.first) as f64;
    let mut who = match hosts_on_peer {
        1 => "no other host talks to it".to_string(),
        n => format!("{} hosts talk to it", n),
    };
    if habit {
        who.push_str(" (most of its peer group did in the history)");
    }
    if relay {
        who.push_str(&format!(" (it serves port {} to internal clients: a relay)", s.port));
    }
    let novelty = if known_periodic {
        "already periodic in the history"
    } else if known_for_host {
        "the host contacted it in the history"
    } else if first_seen.is_some() {
        "new for this host"
    } else {
        "never seen in the history"
    };
    let summary = if stats.method == "persistent" {
        format!(
            "{} held one connection open to {}:{} for {} with steady {} records ({}); {}",
            s.host,
            s.peer,
            s.port,
            human_secs(stats.longest_connection_secs as f64),
            human_bytes(stats.bytes_per_beat),
            novelty,
            who
        )
    } else {
        format!(
            "{} contacted {}:{} every {} (±{:.0}%) for {}, {} connections of ~{}; {}, {}",
            s.host,
            s.peer,
            s.port,
            human_secs(stats.period_secs),
            stats.jitter * 100.0,
            human_secs(span),
            stats.connections,
            human_bytes(stats.bytes_per_beat),
            novelty,
            who
        )
    };
    let mut evidence = serde_json::Map::new();
    evidence.insert("kind".into(), "beacon".into());
    evidence.insert("method".into(), stats.method.into());
    evidence.insert("period_secs".into(), round3(stats.period_secs).into());
    evidence.insert("jitter".into(), round3(stats.jitter).into());
    evidence.insert("mode_share".into(), round3(stats.mode_share).into());
    evidence.insert("regularity".into(), round3(stats.regularity).into());
    evidence.insert("connections".into(), stats.connections.into());
    evidence.insert("records".into(), stats.records.into());
    evidence.insert("bytes_per_beat".into(), round3(stats.bytes_per_beat).into());
    evidence.insert("active_span_secs".into(), (stats.last - stats.first).into());
    evidence.insert("longest_connection_secs".into(), stats.longest_connection_secs.into());
    evidence.insert(
        "rita".into(),
        serde_json::json!({"ts": stats.rita.ts, "ds": stats.rita.ds, "duration": stats.rita.duration,
            "histogram": stats.rita.histogram, "score": stats.rita.score}),
    );
    evidence.insert("strength".into(), round3(stats.strength).into());
    evidence.insert("prevalence_hosts".into(), hosts_on_peer.into());
    evidence.insert("prevalence_share".into(), round3(hosts_on_peer as f64 / ctx.fleet_size as f64).into());
    evidence.insert(
        "peer_first_seen".into(),
        first_seen.map_or(serde_json::Value::Null, |t| flowhound_flowlog::time::format_rfc3339(t).into()),
    );
    evidence.insert("known_for_host".into(), known_for_host.into());
    evidence.insert("known_periodic_pair".into(), known_periodic.into());
    evidence.insert("group_habit".into(), habit.into());
    evidence.insert("relays_port_for_clients".into(), relay.into());
    evidence.insert("prevalence_factor".into(), round3(factor).into());
    let (interface_id, instance_id) = ctx.ids(s.host);
    Hit {
        detector: BEACONING,
        host: s.host.to_string(),
        peer: Some(s.peer.to_string()),
        port: Some(s.port),
        protocol: Some(s.protocol),
        kind: "beacon",
        start: stats.first,
        end: stats.last,
        score: 0.0,
        summary,
        evidence,
        interface_id,
        instance_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(start: u64, dur: u64, bytes: u64, port: u16) -> Event {
        Event { start, end: start + dur, bytes, packets: bytes.div_ceil(1000).max(2), src_port: port, syn: true }
    }

    #[test]
    fn records_of_one_long_connection_fold_into_one() {
        // One record per 60 s interval on the same source port for 3 h.
        let events: Vec<Event> = (0..180).map(|i| ev(i * 60, 59, 1200, 40_000)).collect();
        let conns = connections(&events, 60);
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].records.len(), 180);
        // A new source port per beat is a new connection each time.
        let events: Vec<Event> = (0..50).map(|i| ev(i * 300, 1, 900, 40_000 + i as u16)).collect();
        assert_eq!(connections(&events, 60).len(), 50);
    }

    #[test]
    fn per_beat_beacon_scores_high_and_random_low() {
        let cfg = BeaconConfig::default();
        let beacon: Vec<Event> = (0..144).map(|i| ev(i * 600 + (i * 37 % 60), 1, 900, 40_000 + i as u16)).collect();
        let s = analyse(&beacon, 0, 86_400, 60, &cfg).unwrap();
        assert_eq!(s.method, "per_connection");
        assert!(s.strength > 0.8, "{s:?}");
        assert!((s.period_secs - 600.0).abs() < 60.0);
        let mut t = 0u64;
        let mut seed = 11u64;
        let mut random = Vec::new();
        for i in 0..144u16 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
            t += (-600.0 * (1.0 - u).ln()) as u64 + 1;
            random.push(ev(t, 1, 500 + u64::from(i) * 97 % 5000, 40_000 + i));
        }
        let r = analyse(&random, 0, t + 1, 60, &cfg).unwrap();
        assert!(r.strength < s.strength - 0.25, "{r:?}");
    }

    #[test]
    fn persistent_channel_is_scored_as_such_and_bulk_transfers_are_not_beacons() {
        let cfg = BeaconConfig::default();
        let channel: Vec<Event> = (0..600).map(|i| ev(i * 60 + 3, 57, 1500 + (i % 3) * 10, 51_000)).collect();
        let s = analyse(&channel, 0, 86_400, 60, &cfg).unwrap();
        assert_eq!(s.method, "persistent");
        assert!(s.strength > 0.8, "{s:?}");
        let bulk: Vec<Event> = (0..600).map(|i| ev(i * 60 + 3, 57, 50_000_000, 51_000)).collect();
        assert!(analyse(&bulk, 0, 86_400, 60, &cfg).is_none());
    }

    #[test]
    fn server_responses_are_recognised() {
        let responses: Vec<Event> = (0..20).map(|i| ev(i * 10, 1, 100, 443)).collect();
        assert!(is_server_response(51_234, &responses));
        let client_of_8443: Vec<Event> = (0..20).map(|i| ev(i * 10, 1, 100, 5_000)).collect();
        assert!(!is_server_response(8443, &client_of_8443));
        let client: Vec<Event> = (0..20).map(|i| ev(i * 10, 1, 100, 50_000 + i as u16)).collect();
        assert!(!is_server_response(443, &client));
        // One scanner's fixed port answered on three services at once.
        let services: Vec<Event> = (0..30).map(|i| ev(i * 10, 1, 44, [22, 80, 443][i as usize % 3])).collect();
        assert!(is_server_response(23_456, &services));
        // A client sending from ephemeral ports to a high service port is not a server.
        let high_client: Vec<Event> = (0..30).map(|i| ev(i * 10, 1, 44, 40_000 + i as u16)).collect();
        assert!(!is_server_response(23_456, &high_client));
    }

    #[test]
    fn bare_header_replies_to_a_scanner_are_not_beacons_without_tcp_flags() {
        let scanner: flowhound_flowlog::Addr = "47.90.205.250".parse::<std::net::IpAddr>().unwrap().into();
        // One 40-byte segment per probed port, every few seconds (rita_missing_host).
        let replies: Vec<Event> = (0..60)
            .map(|i| Event {
                start: i * 3,
                end: i * 3 + 1,
                bytes: 40,
                packets: 1,
                src_port: 1000 + i as u16,
                syn: false,
            })
            .collect();
        assert!(answers_peer(6, scanner, &replies, false));
        // The same pace with payload (a beacon) or with SYN options is not.
        let beacon: Vec<Event> = replies.iter().map(|e| Event { bytes: 900, packets: 6, ..*e }).collect();
        assert!(!answers_peer(6, scanner, &beacon, false));
        let syns: Vec<Event> = replies.iter().map(|e| Event { bytes: 60, ..*e }).collect();
        assert!(!answers_peer(6, scanner, &syns, false));
        // UDP has no handshake to answer with.
        assert!(!answers_peer(17, scanner, &replies, false));
        let v6: flowhound_flowlog::Addr = "2600:1f18::9".parse::<std::net::IpAddr>().unwrap().into();
        let v6_replies: Vec<Event> = replies.iter().map(|e| Event { bytes: 60, ..*e }).collect();
        assert!(answers_peer(6, v6, &v6_replies, false));
    }

    /// Pair series of `host` extracted from v5 records.
    fn series_of(text: &str, host: &str) -> (Vec<PairSeries>, bool) {
        use flowhound_features::{FeatureConfig, FeatureState};
        use flowhound_flowlog::{ReadOptions, read_stream};
        let mut state = FeatureState::new(std::sync::Arc::new(FeatureConfig::default()));
        let report = read_stream("fixture", text.as_bytes(), &ReadOptions::default(), &mut state);
        assert_eq!(report.malformed, 0, "{:?}", report.malformed_samples);
        let features = state.finish();
        let tcp_flags = features.rows.iter().any(|r| r.syn_out > 0 || r.syn_in > 0);
        let host: flowhound_flowlog::Addr = host.parse::<std::net::IpAddr>().unwrap().into();
        (features.pairs.into_iter().filter(|p| p.host == host).collect(), tcp_flags)
    }

    #[test]
    fn syn_ack_and_rst_replies_to_a_scanner_are_not_beacons_with_tcp_flags() {
        const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
                              start end action log-status instance-id tcp-flags flow-direction";
        let t0 = 1_800_000_000u64;
        let mut text = format!("{HEADER}\n");
        // A scanner with a fixed source port probes one server port every 3 s; the server
        // answers open ports with a SYN-ACK carrying options (44 bytes, more than a bare
        // header) and closed ones with a RST.
        for i in 0..60u64 {
            let (t, port) = (t0 + i * 3, 1000 + i);
            let (flags, bytes) = if i % 2 == 0 { (18, 44) } else { (4, 40) };
            text.push_str(&format!(
                "5 1 eni-s 47.90.205.250 10.0.0.5 21830 {port} 6 1 44 {t} {} ACCEPT OK i-s 2 ingress\n",
                t + 1
            ));
            text.push_str(&format!(
                "5 1 eni-s 10.0.0.5 47.90.205.250 {port} 21830 6 1 {bytes} {t} {} ACCEPT OK i-s {flags} egress\n",
                t + 1
            ));
        }
        // A beacon: a new connection every 60 s (SYN+FIN in one record) carrying 900 bytes.
        for i in 0..30u64 {
            let t = t0 + i * 60;
            text.push_str(&format!(
                "5 1 eni-b 10.0.0.6 203.0.113.9 {} 443 6 6 900 {t} {} ACCEPT OK i-b 3 egress\n",
                40_000 + i,
                t + 2
            ));
        }
        let (replies, tcp_flags) = series_of(&text, "10.0.0.5");
        assert!(tcp_flags);
        assert_eq!(replies.len(), 1);
        let reply_events = events_of(&[&replies[0]]);
        assert_eq!(reply_events.len(), 60);
        assert!(answers_peer(6, replies[0].peer, &reply_events, tcp_flags));
        // Without tcp-flags the SYN-ACKs' options would pass for payload.
        assert!(!answers_peer(6, replies[0].peer, &reply_events, false));
        let (beacon, _) = series_of(&text, "10.0.0.6");
        assert_eq!(beacon.len(), 1);
        let beacon_events = events_of(&[&beacon[0]]);
        assert_eq!(beacon_events.len(), 30);
        assert!(beacon_events.iter().all(|e| e.syn));
        assert!(!answers_peer(6, beacon[0].peer, &beacon_events, tcp_flags));
        // A channel the host opened is its own contact even when it only sends bare ACKs.
        let acks: Vec<Event> = beacon_events.iter().map(|e| Event { bytes: 40, packets: 1, ..*e }).collect();
        assert!(!answers_peer(6, beacon[0].peer, &acks, true));
        // One connection opened before the data began (no SYN in view) is judged by payload.
        let channel: Vec<Event> =
            acks.iter().map(|e| Event { syn: false, src_port: 40_000, bytes: 900, ..*e }).collect();
        assert!(!answers_peer(6, beacon[0].peer, &channel, true));
    }

    #[test]
    fn handshake_only_pairs_and_standard_ntp_are_not_check_ins() {
        let peer: flowhound_flowlog::Addr = "60.191.20.210".parse::<std::net::IpAddr>().unwrap().into();
        let syn_acks: Vec<Event> = (0..40)
            .map(|i| Event { start: i * 960, end: i * 960, bytes: 44, packets: 1, src_port: 22, syn: false })
            .collect();
        assert!(payload_free(6, peer, &syn_acks));
        // One segment with 100 bytes of payload per check-in is data.
        let check_ins: Vec<Event> = syn_acks.iter().map(|e| Event { bytes: 140, ..*e }).collect();
        assert!(!payload_free(6, peer, &check_ins));
        assert!(!payload_free(17, peer, &syn_acks));
        let ntp: Vec<Event> = (0..40)
            .map(|i| Event { start: i * 2048, end: i * 2048, bytes: 76, packets: 1, src_port: 123, syn: false })
            .collect();
        assert!(time_sync(17, 123, peer, &ntp));
        // A tunnel on the NTP port sends packets of other sizes; other ports are not NTP.
        let mut tunnel = ntp.clone();
        tunnel[3].bytes = 300;
        assert!(!time_sync(17, 123, peer, &tunnel));
        assert!(!time_sync(17, 124, peer, &ntp));
        assert!(!time_sync(6, 123, peer, &ntp));
    }

    #[test]
    fn prevalence_discounts_only_beyond_a_campaign() {
        assert_eq!(prevalence_factor(1, 5), 1.0);
        assert_eq!(prevalence_factor(5, 5), 1.0);
        assert!((prevalence_factor(20, 5) - 0.5).abs() < 1e-12);
        assert!(prevalence_factor(300, 5) < 0.14);
        assert!(prevalence_factor(6, 5) > prevalence_factor(7, 5));
    }

    #[test]
    fn spans_slide_by_half_a_horizon() {
        assert_eq!(spans(100, 1000, 86_400), vec![(0, 86_400)]);
        let s = spans(0, 100_000, 86_400);
        assert_eq!(s, vec![(0, 86_400), (43_200, 129_600)]);
    }
}
