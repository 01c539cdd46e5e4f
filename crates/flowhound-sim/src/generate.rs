//! Turning activities into flow-log records, one chunk of time at a time.
//!
//! A chunk is `max(aggregation, 300)` seconds long: it holds whole aggregation intervals
//! and whole 5-minute objects, so a chunk can be generated, rendered and written on its
//! own, in parallel with the others. Every random draw is keyed by (activity, interval,
//! beat ...), so the bytes do not depend on which thread generated what.

use flowhound_flowlog::LogStatus;

use crate::model::{Activity, Endpoint, Pattern, Size, Svc, TCP, Tag};
use crate::rng::{Rng, hash, mix};
use crate::scenario::{POOL_CLIENTS, Scenario, public_ip};

/// Objects are cut every 5 minutes of record end time.
pub const OBJECT_SECS: u64 = 300;

/// One record before rendering: addresses as IPv4 numbers, the interface as an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub eni: u32,
    pub src: u32,
    pub dst: u32,
    pub pkt_src: u32,
    pub pkt_dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    pub start: u64,
    pub end: u64,
    pub reject: bool,
    pub status: LogStatus,
    pub flags: u16,
    pub egress: bool,
    /// `traffic-path`, 0 when it does not apply (ingress).
    pub path: u8,
    pub src_svc: Svc,
    pub dst_svc: Svc,
    /// [`Tag::code`] of the activity that made it.
    pub tag: u16,
}

impl Rec {
    fn placeholder(eni: u32, start: u64, end: u64, status: LogStatus) -> Rec {
        Rec {
            eni,
            src: 0,
            dst: 0,
            pkt_src: 0,
            pkt_dst: 0,
            sport: 0,
            dport: 0,
            proto: 0,
            packets: 0,
            bytes: 0,
            start,
            end,
            reject: false,
            status,
            flags: 0,
            egress: false,
            path: 0,
            src_svc: Svc::None,
            dst_svc: Svc::None,
            tag: 0,
        }
    }

    pub fn is_placeholder(&self) -> bool {
        self.status != LogStatus::Ok
    }

    fn key(&self) -> (u32, u32, u32, u16, u16, u8, bool, bool) {
        (self.eni, self.src, self.dst, self.sport, self.dport, self.proto, self.reject, self.egress)
    }
}

/// The records of one 5-minute object.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Epoch seconds of the first end time the object can hold.
    pub start: u64,
    pub records: Vec<Rec>,
}

/// Length of a chunk in seconds.
pub fn chunk_secs(s: &Scenario) -> u64 {
    u64::from(s.config.aggregation).max(OBJECT_SECS)
}

/// Diurnal and weekly load curve: quiet nights, a peak in the (US) afternoon, weekends at 45 %.
pub fn season(t: u64) -> f64 {
    let h = (t % 86_400) as f64 / 3600.0;
    let mut d = (h - 17.0).abs();
    if d > 12.0 {
        d = 24.0 - d;
    }
    let x = d / 4.5;
    let diurnal = 0.15 + 1.35 * (-x * x).exp();
    let weekday = (t / 86_400 + 3) % 7;
    diurnal * if weekday >= 5 { 0.45 } else { 1.0 }
}

/// Generates the objects of the chunk starting at `chunk_start`.
pub fn generate_chunk(s: &Scenario, chunk_start: u64) -> Vec<Bucket> {
    let len = chunk_secs(s);
    let agg = u64::from(s.config.aggregation);
    let mut buckets: Vec<Bucket> =
        (0..len / OBJECT_SECS).map(|k| Bucket { start: chunk_start + k * OBJECT_SECS, records: Vec::new() }).collect();
    let mut g = WindowGen { s, seed: s.config.seed, agg, recs: Vec::new(), seen: vec![false; s.enis.len()] };
    let mut w = chunk_start;
    while w < chunk_start + len {
        g.window(w);
        for r in g.recs.drain(..) {
            let k = ((r.end - chunk_start) / OBJECT_SECS).min(buckets.len() as u64 - 1) as usize;
            buckets[k].records.push(r);
        }
        w += agg;
    }
    buckets
}

/// A resolved endpoint of one connection.
#[derive(Debug, Clone, Copy)]
enum Ep {
    Eni(u32),
    Ext { ip: u32, svc: Svc, gateway: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Dropped by the responder's security group (or inbound from the internet).
    Rejected,
    /// No interface at the address: the SYN goes nowhere.
    Unanswered,
    /// Allowed, but nothing listens: a reset comes back.
    Reset,
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    src: Ep,
    dst: Ep,
    sport: u16,
    dport: u16,
    proto: u8,
    t0: u64,
    t1: u64,
    out: f64,
    inb: f64,
    outcome: Outcome,
    syn: bool,
    fin: bool,
    tag: u16,
}

/// Where one record is captured and what its address fields say.
#[derive(Debug, Clone, Copy)]
struct Side {
    eni: u32,
    src: u32,
    dst: u32,
    pkt_src: u32,
    pkt_dst: u32,
    /// Request direction (client to server) rather than reply.
    request: bool,
    egress: bool,
    path: u8,
    reject: bool,
    src_svc: Svc,
    dst_svc: Svc,
}

impl Side {
    fn new(eni: u32, src: u32, dst: u32, request: bool, egress: bool) -> Side {
        Side {
            eni,
            src,
            dst,
            pkt_src: src,
            pkt_dst: dst,
            request,
            egress,
            path: 0,
            reject: false,
            src_svc: Svc::None,
            dst_svc: Svc::None,
        }
    }

    fn path(mut self, path: u8) -> Side {
        self.path = path;
        self
    }

    fn reject(mut self, reject: bool) -> Side {
        self.reject = reject;
        self
    }

    fn pkt(mut self, src: u32, dst: u32) -> Side {
        self.pkt_src = src;
        self.pkt_dst = dst;
        self
    }

    fn svc(mut self, src: Svc, dst: Svc) -> Side {
        self.src_svc = src;
        self.dst_svc = dst;
        self
    }
}

struct WindowGen<'a> {
    s: &'a Scenario,
    seed: u64,
    agg: u64,
    recs: Vec<Rec>,
    seen: Vec<bool>,
}

const K_BEAT: u64 = 0xbea7;
const K_EPOCH: u64 = 0xe90c;
const K_WIN: u64 = 0x3170;
const K_PROBE: u64 = 0x9b0e;
const K_SKIP: u64 = 0x5c1d;

impl WindowGen<'_> {
    fn window(&mut self, w: u64) {
        let end = w + self.agg;
        for (ai, a) in self.s.activities.iter().enumerate() {
            if !a.schedule.may_run(w, end) || !self.exists(a.src, w + self.agg - 1) {
                continue;
            }
            match &a.pattern {
                Pattern::Periodic { period, jitter, phase, out, inb } => {
                    self.periodic(ai as u64, a, w, *period, *jitter, *phase, *out, *inb);
                }
                Pattern::Persistent { out, inb, reconnect, beat } => {
                    self.persistent(ai as u64, a, w, *out, *inb, *reconnect, *beat);
                }
                Pattern::Poisson { per_hour, out, inb, max_secs } => {
                    self.poisson(ai as u64, a, w, *per_hour, *out, *inb, *max_secs);
                }
                Pattern::Scan { targets, ports, per_sec, sg_open } => {
                    self.scan(ai as u64, a, w, targets, ports, *per_sec, *sg_open);
                }
            }
        }
        self.finish_window(w);
    }

    fn exists(&self, e: Endpoint, t: u64) -> bool {
        match e {
            Endpoint::Eni(i) => self.s.enis[i as usize].first_seen <= t,
            _ => true,
        }
    }

    fn resolve(&self, e: Endpoint, rng: &mut Rng) -> Ep {
        match e {
            Endpoint::Eni(i) => Ep::Eni(i),
            Endpoint::Ext { ip, svc, gateway } => Ep::Ext { ip, svc, gateway },
            Endpoint::Internet { pool } => {
                // Clients follow a heavy-tailed popularity; scanners are uniformly spread.
                let k =
                    if pool == POOL_CLIENTS { rng.pareto(1.0, 0.8, 50_000.0) as u64 } else { rng.range(0, 200_000) };
                Ep::Ext { ip: public_ip(hash(&[self.seed, 0x1e7, u64::from(pool), k])), svc: Svc::None, gateway: false }
            }
            Endpoint::S3Range { base, size } => {
                Ep::Ext { ip: base + rng.range(1, u64::from(size) - 1) as u32, svc: Svc::S3, gateway: true }
            }
        }
    }

    fn pick(&self, a: &Activity, rng: &mut Rng) -> Option<(Endpoint, u16)> {
        if a.dsts.is_empty() || a.dports.is_empty() {
            return None;
        }
        let d = a.dsts[rng.index(a.dsts.len())];
        let p = a.dports[rng.index(a.dports.len())];
        Some((d, p))
    }

    fn sample(rng: &mut Rng, size: Size) -> f64 {
        if size.sigma == 0.0 { size.median } else { rng.lognormal(size.median, size.sigma) }
    }

    #[allow(clippy::too_many_arguments)]
    fn periodic(&mut self, ai: u64, a: &Activity, w: u64, period: f64, jitter: f64, phase: f64, out: Size, inb: Size) {
        let half = jitter * period / 2.0;
        let (lo, hi) = (w as f64, (w + self.agg) as f64);
        let k_lo = ((lo - phase - half) / period).ceil() as i64;
        let k_hi = ((hi - phase + half) / period).floor() as i64;
        for k in k_lo..=k_hi {
            let mut rng = Rng::keyed(&[self.seed, K_BEAT, ai, k as u64]);
            let t = phase + k as f64 * period + (rng.f64() * 2.0 - 1.0) * half;
            if t < lo || t >= hi {
                continue;
            }
            // A beat is a check-in: a connection of at most two seconds.
            self.short_connection(a, &mut rng, w, t as u64, 2, (out, inb));
        }
    }

    /// One connection at `t` that opens and closes within the interval starting at `w`
    /// and lasts up to `max_secs`, if the schedule runs then and the peer exists.
    fn short_connection(&mut self, a: &Activity, rng: &mut Rng, w: u64, t: u64, max_secs: u32, sizes: (Size, Size)) {
        if !a.schedule.active(t) {
            return;
        }
        let Some((dst, dport)) = self.pick(a, rng) else { return };
        if !self.exists(dst, t) {
            return;
        }
        let dur = rng.range(0, u64::from(max_secs) + 1).min(w + self.agg - 1 - t);
        let conn = Conn {
            src: self.resolve(a.src, rng),
            dst: self.resolve(dst, rng),
            sport: rng.ephemeral_port(),
            dport,
            proto: a.proto,
            t0: t,
            t1: t + dur,
            out: Self::sample(rng, sizes.0),
            inb: Self::sample(rng, sizes.1),
            outcome: if a.rejected { Outcome::Rejected } else { Outcome::Accepted },
            syn: true,
            fin: true,
            tag: a.tag.code(),
        };
        self.emit(&conn);
    }

    /// First and last second (inclusive) the schedule is active in the window, at 10 s resolution.
    fn active_span(&self, a: &Activity, w: u64) -> Option<(u64, u64)> {
        let mut first = None;
        let mut last = 0;
        let mut t = w;
        while t < w + self.agg {
            if a.schedule.active(t) {
                first.get_or_insert(t);
                last = (t + 9).min(w + self.agg - 1);
            }
            t += 10;
        }
        first.map(|f| (f, last))
    }

    #[allow(clippy::too_many_arguments)]
    fn persistent(
        &mut self,
        ai: u64,
        a: &Activity,
        w: u64,
        out: Size,
        inb: Size,
        reconnect: u32,
        beat: Option<(f64, f64)>,
    ) {
        let Some((first, last)) = self.active_span(a, w) else { return };
        let reconnect = u64::from(reconnect.max(60));
        let epoch = (first - a.schedule.from) / reconnect;
        let epoch_start = a.schedule.from + epoch * reconnect;
        let mut erng = Rng::keyed(&[self.seed, K_EPOCH, ai, epoch]);
        let sport = erng.ephemeral_port();
        let Some((dst, dport)) = self.pick(a, &mut erng) else { return };
        if !self.exists(dst, first) {
            return;
        }
        let src_ep = self.resolve(a.src, &mut erng);
        let dst_ep = self.resolve(dst, &mut erng);
        let mut rng = Rng::keyed(&[self.seed, K_WIN, ai, w]);
        let (t0, t1, out_b, in_b) = match beat {
            Some((period, jitter)) => {
                let half = jitter * period / 2.0;
                let phase = a.schedule.from as f64;
                let k_lo = ((first as f64 - phase - half) / period).ceil() as i64;
                let k_hi = ((last as f64 + 1.0 - phase + half) / period).floor() as i64;
                let mut beats = 0u32;
                let (mut b0, mut b1) = (u64::MAX, 0);
                for k in k_lo.max(0)..=k_hi {
                    let mut brng = Rng::keyed(&[self.seed, K_BEAT, ai, k as u64]);
                    let t = phase + k as f64 * period + (brng.f64() * 2.0 - 1.0) * half;
                    if t < first as f64 || t >= (last + 1) as f64 {
                        continue;
                    }
                    beats += 1;
                    b0 = b0.min(t as u64);
                    b1 = b1.max(t as u64);
                }
                if beats == 0 {
                    return;
                }
                let n = f64::from(beats);
                (b0, (b1 + 1).min(last), n * Self::sample(&mut rng, out), n * Self::sample(&mut rng, inb))
            }
            None => {
                let secs = (last + 1 - first) as f64;
                let factor = if a.schedule.seasonal { season(first) } else { 1.0 };
                let t0 = (first + rng.range(0, 3)).min(last);
                let t1 = last.saturating_sub(rng.range(0, 3)).max(t0);
                (t0, t1, secs * factor * Self::sample(&mut rng, out), secs * factor * Self::sample(&mut rng, inb))
            }
        };
        let syn = epoch_start >= w || !a.schedule.active(w.saturating_sub(1)) && first > w.saturating_sub(1);
        let next_epoch = epoch_start + reconnect;
        let fin = next_epoch <= w + self.agg || last + 1 < w + self.agg;
        let conn = Conn {
            src: src_ep,
            dst: dst_ep,
            sport,
            dport,
            proto: a.proto,
            t0,
            t1,
            out: out_b,
            inb: in_b,
            outcome: Outcome::Accepted,
            syn: syn && first >= epoch_start,
            fin,
            tag: a.tag.code(),
        };
        self.emit(&conn);
    }

    #[allow(clippy::too_many_arguments)]
    fn poisson(&mut self, ai: u64, a: &Activity, w: u64, per_hour: f64, out: Size, inb: Size, max_secs: u32) {
        let mut rng = Rng::keyed(&[self.seed, K_WIN, ai, w]);
        let factor = if a.schedule.seasonal { season(w) } else { 1.0 };
        let n = rng.poisson(per_hour / 3600.0 * self.agg as f64 * factor);
        for _ in 0..n {
            let t = w + rng.range(0, self.agg);
            self.short_connection(a, &mut rng, w, t, max_secs, (out, inb));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn scan(&mut self, ai: u64, a: &Activity, w: u64, targets: &[u32], ports: &[u16], per_sec: f64, sg_open: bool) {
        let Endpoint::Eni(src) = a.src else { return };
        let total = (targets.len() * ports.len()) as u64;
        let from = a.schedule.from;
        let i_lo = ((w.saturating_sub(from)) as f64 * per_sec).ceil() as u64;
        let i_hi = (((w + self.agg).saturating_sub(from)) as f64 * per_sec).ceil() as u64;
        for i in i_lo..i_hi.min(total) {
            let t = from + (i as f64 / per_sec) as u64;
            if t < w || t >= w + self.agg || !a.schedule.active(t) {
                continue;
            }
            let target = targets[(i / ports.len() as u64) as usize];
            let port = ports[(i % ports.len() as u64) as usize];
            let mut rng = Rng::keyed(&[self.seed, K_PROBE, ai, i]);
            let (dst, outcome) = match self.s.eni_by_ip(target) {
                Some(e) if self.s.enis[e as usize].first_seen <= t => {
                    let allowed = sg_open || self.s.sg_allows(src, e, port);
                    let listens = self.s.enis[e as usize].role().is_some_and(|r| r.listens(port));
                    let outcome = match (allowed, listens) {
                        (false, _) => Outcome::Rejected,
                        (true, true) => Outcome::Accepted,
                        (true, false) => Outcome::Reset,
                    };
                    (Ep::Eni(e), outcome)
                }
                _ => (Ep::Ext { ip: target, svc: Svc::None, gateway: false }, Outcome::Unanswered),
            };
            let conn = Conn {
                src: Ep::Eni(src),
                dst,
                sport: rng.ephemeral_port(),
                dport: port,
                proto: TCP,
                t0: t,
                t1: t + u64::from(outcome == Outcome::Accepted),
                out: 180.0 + rng.uniform(0.0, 200.0),
                inb: 120.0 + rng.uniform(0.0, 600.0),
                outcome,
                syn: true,
                fin: true,
                tag: a.tag.code(),
            };
            self.emit_probe(&conn);
        }
    }

    fn emit_probe(&mut self, c: &Conn) {
        match (c.src, c.dst) {
            (Ep::Eni(a), Ep::Ext { ip, .. }) if c.outcome == Outcome::Unanswered => {
                // An internal address nobody holds: only the prober's SYN is logged.
                let src_ip = self.s.enis[a as usize].ip;
                let p = 1 + u64::from(c.sport.is_multiple_of(3));
                let side = Side::new(a, src_ip, ip, true, true).path(1);
                self.push(side, c, 2, p, p * 60);
            }
            _ => self.emit(c),
        }
    }

    fn nat_port(&self, c: &Conn, host: u32, ext: u32) -> u16 {
        (1024
            + mix(hash(&[self.seed, u64::from(host), u64::from(c.sport), u64::from(ext), u64::from(c.dport)])) % 64_000)
            as u16
    }

    /// Writes the records one connection leaves on every covered interface it crosses.
    fn emit(&mut self, c: &Conn) {
        let tcp = c.proto == TCP;
        let (qf, rf) = match (tcp, c.outcome) {
            (false, _) => (0, 0),
            (true, Outcome::Accepted) => {
                ((u16::from(c.syn) * 2) | u16::from(c.fin), (u16::from(c.syn) * 18) | u16::from(c.fin))
            }
            (true, Outcome::Reset) => (2, 4),
            (true, _) => (2, 0),
        };
        let (qp, qb, rp, rb) = match c.outcome {
            Outcome::Accepted => {
                let (qp, qb) = packets_for(c.out, c.inb, tcp, c.syn, c.fin);
                let (rp, rb) = packets_for(c.inb, c.out, tcp, c.syn, c.fin);
                (qp, qb, rp, rb)
            }
            Outcome::Reset => (1, 60, 1, 40),
            Outcome::Rejected | Outcome::Unanswered => {
                let p = 1 + u64::from(c.sport.is_multiple_of(3));
                (p, p * 60, 0, 0)
            }
        };
        let reply = matches!(c.outcome, Outcome::Accepted | Outcome::Reset);
        let reject = c.outcome == Outcome::Rejected;
        match (c.src, c.dst) {
            (Ep::Eni(a), Ep::Eni(b)) => {
                let (ia, ib) = (self.s.enis[a as usize].ip, self.s.enis[b as usize].ip);
                // Both interfaces log it; the client's SYN leaves even when the server's SG drops it.
                self.push(Side::new(a, ia, ib, true, true).path(1), c, qf, qp, qb);
                self.push(Side::new(b, ia, ib, true, false).reject(reject), c, qf, qp, qb);
                if reply {
                    self.push(Side::new(a, ib, ia, false, false), c, rf, rp, rb);
                    self.push(Side::new(b, ib, ia, false, true).path(1), c, rf, rp, rb);
                }
            }
            (Ep::Eni(a), Ep::Ext { ip: x, svc, gateway }) => {
                let e = &self.s.enis[a as usize];
                let ia = e.ip;
                let direct = e.public_ip.is_some();
                let path = if direct {
                    8
                } else if gateway {
                    7
                } else {
                    1
                };
                self.push(Side::new(a, ia, x, true, true).path(path).svc(Svc::None, svc), c, qf, qp, qb);
                if reply {
                    self.push(Side::new(a, x, ia, false, false).svc(svc, Svc::None), c, rf, rp, rb);
                }
                if !direct && !gateway {
                    // The NAT gateway's interface sees both legs: instance -> NAT private address -> internet and back.
                    let nat = self.s.nat;
                    let n = self.s.enis[nat as usize].ip;
                    let nc = Conn { sport: self.nat_port(c, ia, x), ..*c };
                    self.push(Side::new(nat, ia, n, true, false).pkt(ia, x).svc(Svc::None, svc), c, qf, qp, qb);
                    self.push(Side::new(nat, n, x, true, true).path(8).svc(Svc::None, svc), &nc, qf, qp, qb);
                    if reply {
                        self.push(Side::new(nat, x, n, false, false).svc(svc, Svc::None), &nc, rf, rp, rb);
                        self.push(
                            Side::new(nat, n, ia, false, true).pkt(x, ia).path(1).svc(svc, Svc::None),
                            c,
                            rf,
                            rp,
                            rb,
                        );
                    }
                }
            }
            (Ep::Ext { ip: x, svc, .. }, Ep::Eni(b)) => {
                let ib = self.s.enis[b as usize].ip;
                self.push(Side::new(b, x, ib, true, false).reject(reject).svc(svc, Svc::None), c, qf, qp, qb);
                if reply {
                    self.push(Side::new(b, ib, x, false, true).path(8).svc(Svc::None, svc), c, rf, rp, rb);
                }
            }
            (Ep::Ext { .. }, Ep::Ext { .. }) => {}
        }
    }

    fn push(&mut self, side: Side, c: &Conn, flags: u16, packets: u64, bytes: u64) {
        // Ports follow the packet direction: replies swap them.
        let (sport, dport) = if side.request { (c.sport, c.dport) } else { (c.dport, c.sport) };
        self.recs.push(Rec {
            eni: side.eni,
            src: side.src,
            dst: side.dst,
            pkt_src: side.pkt_src,
            pkt_dst: side.pkt_dst,
            sport,
            dport,
            proto: c.proto,
            packets,
            bytes,
            start: c.t0,
            end: c.t1,
            reject: side.reject,
            status: LogStatus::Ok,
            flags,
            egress: side.egress,
            path: side.path,
            src_svc: side.src_svc,
            dst_svc: side.dst_svc,
            tag: c.tag,
        });
    }

    fn finish_window(&mut self, w: u64) {
        let end = w + self.agg - 1;
        // One record per 5-tuple per interface per interval: merge what collided.
        self.recs.sort_unstable_by_key(|r| (r.key(), r.start, r.end, r.bytes, r.tag));
        let mut merged: Vec<Rec> = Vec::with_capacity(self.recs.len());
        for r in self.recs.drain(..) {
            match merged.last_mut() {
                Some(m) if m.key() == r.key() => {
                    m.packets += r.packets;
                    m.bytes += r.bytes;
                    m.start = m.start.min(r.start);
                    m.end = m.end.max(r.end);
                    m.flags |= r.flags;
                    m.tag = m.tag.max(r.tag);
                    m.path = m.path.max(r.path);
                }
                _ => merged.push(r),
            }
        }
        self.seen.iter_mut().for_each(|s| *s = false);
        for r in &merged {
            self.seen[r.eni as usize] = true;
        }
        // SKIPDATA: rarely, AWS drops part of an interface's records for an interval.
        let mut skipped: Vec<u32> = Vec::new();
        for (i, seen) in self.seen.iter().enumerate() {
            if *seen && Rng::keyed(&[self.seed, K_SKIP, i as u64, w]).chance(1.0 / 5_000.0) {
                skipped.push(i as u32);
            }
        }
        if !skipped.is_empty() {
            merged.retain(|r| {
                !skipped.contains(&r.eni)
                    || matches!(Tag::from_code(r.tag), Tag::Attack(_))
                    || mix(hash(&[self.seed, u64::from(r.sport), u64::from(r.dst), w])).is_multiple_of(2)
            });
            for &e in &skipped {
                merged.push(Rec::placeholder(e, w, end, LogStatus::SkipData));
            }
        }
        // NODATA for every existing interface that carried nothing.
        for (i, e) in self.s.enis.iter().enumerate() {
            if !self.seen[i] && e.first_seen <= w {
                merged.push(Rec::placeholder(i as u32, w, end, LogStatus::NoData));
            }
        }
        self.recs = merged;
    }
}

/// Packets and bytes of one direction carrying `bytes` while the other carries `other`,
/// kept inside AWS's bounds (40 to 9001 bytes a packet).
fn packets_for(bytes: f64, other: f64, tcp: bool, syn: bool, fin: bool) -> (u64, u64) {
    let bytes = bytes.max(0.0);
    let data = (bytes / 1448.0).ceil();
    let acks = if tcp { (other / 2896.0).ceil() } else { 0.0 };
    let handshake = if tcp { f64::from(u8::from(syn)) + f64::from(u8::from(fin)) * 2.0 } else { 0.0 };
    let packets = (data + acks + handshake).max(1.0) as u64;
    let bytes = (bytes.round() as u64).clamp(packets * 40, packets * 9001);
    (packets, bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::config::SimConfig;
    use crate::scenario::build;

    fn tiny(aggregation: u32) -> Scenario {
        build(&SimConfig { seed: 3, hosts: 12, train_days: 1, test_days: 1, aggregation, ..SimConfig::default() })
            .unwrap()
    }

    fn all_records(s: &Scenario) -> Vec<(u64, Rec)> {
        let len = chunk_secs(s);
        let mut out = Vec::new();
        let mut c = s.train_start;
        while c < s.test_end {
            for b in generate_chunk(s, c) {
                out.extend(b.records.into_iter().map(|r| (b.start, r)));
            }
            c += len;
        }
        out
    }

    #[test]
    fn records_respect_aws_semantics() {
        for agg in [60u64, 600] {
            let s = tiny(agg as u32);
            let recs = all_records(&s);
            assert!(recs.len() > 10_000, "{}", recs.len());
            let mut tuples = HashSet::new();
            for (bucket, r) in &recs {
                let window = r.start - (r.start - s.train_start) % agg;
                assert!(r.start <= r.end && r.end < window + agg, "{r:?} outside its interval");
                assert!((*bucket..bucket + OBJECT_SECS).contains(&r.end), "{r:?} in bucket {bucket}");
                if r.is_placeholder() {
                    assert_eq!((r.start, r.end), (window, window + agg - 1));
                    continue;
                }
                assert!(r.packets >= 1 && r.packets * 40 <= r.bytes && r.bytes <= r.packets * 9001, "{r:?}");
                assert!(
                    tuples.insert((r.eni, r.src, r.dst, r.sport, r.dport, r.proto, r.reject, window)),
                    "duplicate 5-tuple on one interface in one interval: {r:?}"
                );
                assert_eq!(r.egress, r.path != 0, "traffic-path only on egress: {r:?}");
            }
        }
    }

    #[test]
    fn internal_flows_are_logged_on_both_interfaces_and_nat_legs_carry_packet_addresses() {
        let s = tiny(60);
        let recs = all_records(&s);
        let ok: Vec<&Rec> = recs.iter().map(|(_, r)| r).filter(|r| !r.is_placeholder()).collect();
        // SKIPDATA intervals legitimately miss records.
        let skipped: HashSet<(u32, u64)> =
            recs.iter().filter(|(_, r)| r.status == LogStatus::SkipData).map(|(_, r)| (r.eni, r.start / 60)).collect();
        let by_tuple: HashSet<(u32, u32, u32, u16, u16, u64)> =
            ok.iter().map(|r| (r.eni, r.src, r.dst, r.sport, r.dport, r.start / 60)).collect();
        let mut internal = 0;
        for r in &ok {
            let (Some(a), Some(b)) = (s.eni_by_ip(r.src), s.eni_by_ip(r.dst)) else { continue };
            if a == s.nat || b == s.nat || r.pkt_src != r.src || r.pkt_dst != r.dst {
                continue;
            }
            let other = if r.eni == a { b } else { a };
            if skipped.contains(&(other, r.start / 60)) || skipped.contains(&(r.eni, r.start / 60)) {
                continue;
            }
            internal += 1;
            assert!(
                by_tuple.contains(&(other, r.src, r.dst, r.sport, r.dport, r.start / 60)),
                "{r:?} only on one side"
            );
        }
        assert!(internal > 1000, "{internal}");
        let nat: Vec<&&Rec> = ok.iter().filter(|r| r.eni == s.nat).collect();
        assert!(
            nat.iter().any(|r| !r.egress && r.pkt_dst != r.dst),
            "instance -> NAT leg keeps the internet destination"
        );
        assert!(nat.iter().any(|r| r.egress && r.pkt_src != r.src), "NAT -> instance leg keeps the internet source");
        // Replies: every accepted TCP request has the mirror record on the same interface.
        let replies = ok.iter().filter(|r| r.flags & 18 == 18).count();
        assert!(replies > 1000);
        // S3 through the gateway endpoint is labelled and uses path 7.
        assert!(ok.iter().any(|r| r.dst_svc == Svc::S3 && r.path == 7));
        // Internet scanners are rejected by the security groups of public interfaces.
        assert!(ok.iter().any(|r| r.reject && s.eni_by_ip(r.src).is_none() && !r.egress));
        let placeholders: Vec<LogStatus> = recs.iter().map(|(_, r)| r.status).filter(|s| *s != LogStatus::Ok).collect();
        assert!(placeholders.contains(&LogStatus::NoData));
        assert!(placeholders.contains(&LogStatus::SkipData));
    }

    #[test]
    fn every_label_has_records_and_attacks_stay_in_the_test_period() {
        let s = tiny(60);
        let recs = all_records(&s);
        let mut per_attack: HashMap<u16, usize> = HashMap::new();
        for (_, r) in &recs {
            if let Tag::Attack(i) = Tag::from_code(r.tag) {
                assert!(r.start >= s.test_start, "attack traffic in training: {r:?}");
                let l = &s.labels[i as usize];
                assert!(r.start + 60 >= l.start && r.end <= l.end + 60, "{r:?} outside {l:?}");
                let host = s.eni_by_ip(l.host.parse::<std::net::Ipv4Addr>().unwrap().into()).unwrap();
                let host_ip = s.enis[host as usize].ip;
                if r.eni == host {
                    assert!(r.src == host_ip || r.dst == host_ip);
                    *per_attack.entry(i).or_default() += 1;
                }
            }
        }
        for (i, l) in s.labels.iter().enumerate() {
            let n = per_attack.get(&(i as u16)).copied().unwrap_or(0);
            assert!(n > 0, "label without records on the attacker's interface: {l:?}");
            if let Some(peer) = &l.peer {
                let peer: u32 = peer.parse::<std::net::Ipv4Addr>().unwrap().into();
                assert!(
                    recs.iter()
                        .any(|(_, r)| r.tag == Tag::Attack(i as u16).code() && (r.dst == peer || r.pkt_dst == peer)),
                    "no record reaches the labelled peer of {l:?}"
                );
            }
        }
        // The scan is mostly failures: SYNs nobody answers or that security groups reject.
        let scan = s.labels.iter().position(|l| l.variant == "scan").unwrap();
        let scan_recs: Vec<&Rec> =
            recs.iter().map(|(_, r)| r).filter(|r| r.tag == Tag::Attack(scan as u16).code()).collect();
        let syn_only = scan_recs.iter().filter(|r| r.egress && r.flags == 2).count();
        let answered = scan_recs.iter().filter(|r| !r.egress && r.flags & 18 == 18).count();
        assert!(syn_only > 100 && syn_only > 5 * answered, "failed probes {syn_only}, answered {answered}");
        assert!(scan_recs.iter().any(|r| r.reject));
    }

    #[test]
    fn beacon_beats_follow_the_period() {
        let s = tiny(60);
        let idx = s.labels.iter().position(|l| l.variant == "per_beat").unwrap();
        let recs = all_records(&s);
        let host: u32 = s.labels[idx].host.parse::<std::net::Ipv4Addr>().unwrap().into();
        let mut starts: Vec<u64> = recs
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.tag == Tag::Attack(idx as u16).code() && r.egress && r.src == host)
            .map(|r| r.start)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let note = &s.labels[idx].note;
        let period: f64 = note.split_whitespace().nth(3).unwrap().parse().unwrap();
        let gaps: Vec<f64> = starts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
        assert!(!gaps.is_empty());
        assert!((mean / period - 1.0).abs() < 0.35, "mean gap {mean} vs period {period} ({note})");
    }

    #[test]
    fn season_peaks_in_the_afternoon_and_drops_at_weekends() {
        let monday = crate::scenario::epoch_start();
        assert!(season(monday + 17 * 3600) > 1.4);
        assert!(season(monday + 5 * 3600) < 0.3);
        assert!(season(monday + 5 * 86_400 + 17 * 3600) < 0.7);
        let (p, b) = packets_for(10.0, 0.0, true, true, true);
        assert_eq!((p, b), (4, 160));
        let (p, b) = packets_for(1e6, 1e4, true, false, false);
        assert!(p * 40 <= b && b <= p * 9001 && p >= 691);
    }
}
