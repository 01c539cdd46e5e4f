//! The labelled attacks of the test period: beacons (and the implant already there when
//! the data begins), exfiltration and lateral movement, each with the label it is
//! scored against.

use std::net::Ipv4Addr;

use super::{Builder, CheckIn, ext_name, ip};
use crate::DAY;
use crate::eval::Label;
use crate::model::{Endpoint, Pattern, Role, Schedule, Size, Svc, TCP, Tag, UDP};

/// An S3 range of another region: not reachable through the gateway endpoint, never
/// used by the legitimate workload.
const S3_FOREIGN: (Ipv4Addr, u32) = (Ipv4Addr::new(52, 95, 148, 0), 1 << 10);

/// Public EC2 ranges of us-east-1 (`pkt-dst-aws-service` EC2): where a rented C2 server lives.
const EC2_RANGES: &[(Ipv4Addr, u32)] = &[
    (Ipv4Addr::new(3, 80, 0, 0), 1 << 20),
    (Ipv4Addr::new(18, 204, 0, 0), 1 << 18),
    (Ipv4Addr::new(34, 192, 0, 0), 1 << 20),
    (Ipv4Addr::new(44, 192, 0, 0), 1 << 21),
    (Ipv4Addr::new(54, 144, 0, 0), 1 << 18),
];

/// Ports an attacker's internal scan probes.
const ATTACK_SCAN_PORTS: &[u16] = &[22, 23, 135, 445, 1433, 3306, 3389, 5432, 5985, 6379, 9200, 27017];
/// `reconnect` of an attacker's session: one source port for the whole label.
const ONE_SESSION: u32 = u32::MAX / 2;

impl Builder {
    /// A host to attack from: a workload host present at `at`, distinct from earlier attackers while any are left.
    fn attacker(&mut self, at: u64, linux_only: bool) -> u32 {
        let mut candidates: Vec<u32> = self
            .hosts()
            .into_iter()
            .filter(|&h| {
                let e = &self.s.enis[h as usize];
                let ok_role = match e.role() {
                    Some(Role::Web | Role::App | Role::Db | Role::Batch) => true,
                    Some(Role::Windows) => !linux_only,
                    _ => false,
                };
                ok_role && e.first_seen + 3600 <= at
            })
            .collect();
        let fresh: Vec<u32> = candidates.iter().copied().filter(|h| !self.attackers.contains(h)).collect();
        if !fresh.is_empty() {
            candidates = fresh;
        }
        let h = candidates[self.rng.index(candidates.len())];
        self.attackers.insert(h);
        h
    }

    #[allow(clippy::too_many_arguments)]
    fn label(
        &mut self,
        detector: &str,
        host: u32,
        peer: Option<String>,
        start: u64,
        end: u64,
        variant: &str,
        note: String,
    ) -> Tag {
        let idx = self.s.labels.len() as u16;
        self.s.labels.push(Label {
            detector: detector.into(),
            host: self.s.ip_string(host),
            peer,
            start,
            end,
            variant: variant.into(),
            note,
        });
        Tag::Attack(idx)
    }

    fn attack_peer(&mut self) -> (Endpoint, String) {
        let v = self.fresh_public_ip();
        (Endpoint::Ext { ip: v, svc: Svc::None, gateway: false }, ip(v))
    }

    pub(super) fn attacks(&mut self) {
        // The implant that predates the data is placed first, so that no later attack
        // shares its host while fresh hosts are left.
        self.dwell_beacon();
        for day in 0..self.cfg.test_days {
            let day_start = self.s.test_start + u64::from(day) * DAY;
            self.beacons(day_start);
            self.exfiltration(day_start);
            self.lateral(day_start, day);
        }
    }

    /// When a beacon of the test day starting at `day` runs: it starts in the first hours
    /// of the day (on a minute) and lasts 10-16 h, or to the end of the test period.
    fn beacon_span(&mut self, day: u64) -> (u64, u64) {
        let start = day + 1800 + self.rng.range(0, 6 * 3600);
        let start = start - start % 60;
        let end = (start + self.rng.range(10 * 3600, 16 * 3600)).min(self.s.test_end);
        (start, end)
    }

    /// The port a C2 server listens on.
    fn c2_port(&mut self) -> u16 {
        [443, 443, 443, 8443, 80][self.rng.index(5)]
    }

    /// An implant's check-in: `period` and `jitter`, steady small payloads.
    fn c2_checkin(&mut self, period: f64, jitter: f64) -> CheckIn {
        let out = Size::new(self.rng.uniform(200.0, 1_500.0).round(), 0.05);
        let inb = Size::new(self.rng.uniform(150.0, 1_200.0).round(), 0.05);
        CheckIn { period, jitter, out, inb }
    }

    /// A labelled beacon with a new connection (a new UDP exchange) per beat from `host`
    /// to `peer`, beats counted from the schedule's start; the label spans the schedule.
    #[allow(clippy::too_many_arguments)]
    fn per_beat(
        &mut self,
        host: u32,
        peer: Endpoint,
        port: u16,
        proto: u8,
        c: CheckIn,
        schedule: Schedule,
        variant: &str,
        note: String,
    ) {
        let tag = self.label("beaconing", host, Some(ext_name(&peer)), schedule.from, schedule.to, variant, note);
        let pattern = Pattern::periodic(c.period, c.jitter, schedule.from as f64, c.out, c.inb);
        self.activity(Endpoint::Eni(host), vec![peer], vec![port], proto, pattern, schedule, tag);
    }

    /// A fresh public address in an EC2 range (`pkt-dst-aws-service` EC2), used by no one else.
    fn fresh_ec2_ip(&mut self) -> u32 {
        loop {
            let (base, size) = EC2_RANGES[self.rng.index(EC2_RANGES.len())];
            let v = u32::from(base) + self.rng.range(1, u64::from(size) - 1) as u32;
            if v & 0xff != 0 && v & 0xff != 255 && self.used_ext.insert(v) {
                return v;
            }
        }
    }

    /// An implant that was already there when the data begins: it beacons to the same
    /// peer through the whole training period, unlabelled (the baseline learns it as
    /// normal), and on through the test period, where it is labelled.
    fn dwell_beacon(&mut self) {
        let (t0, test_start, test_end) = (self.s.train_start, self.s.test_start, self.s.test_end);
        // Only hosts present from the first training minute qualify.
        let host = self.attacker(t0 + 3600, false);
        let (peer, peer_name) = self.attack_peer();
        let period = self.rng.log_uniform(30.0, 3600.0).round();
        let jitter = self.rng.uniform(0.0, 0.5);
        let port = self.c2_port();
        let c = self.c2_checkin(period, jitter);
        // One beat sequence for both halves. Beats sit half a period either side of
        // test_start and move by at most a quarter period, so none straddles the split.
        let pattern = Pattern::periodic(period, jitter, test_start as f64 + period / 2.0, c.out, c.inb);
        self.tcp(host, vec![peer], port, pattern.clone(), Schedule::span(t0, test_start), Tag::Background);
        let note = format!(
            "{}, a new connection per beat, already beaconing through the whole training period (unlabelled there)",
            beacon_note(&c, &peer_name, port)
        );
        let tag = self.label("beaconing", host, Some(peer_name), test_start, test_end, "dwell", note);
        self.tcp(host, vec![peer], port, pattern, Schedule::span(test_start, test_end), tag);
    }

    fn beacons(&mut self, day: u64) {
        for variant in ["per_beat", "persistent", "active_sleep"] {
            let (start, end) = self.beacon_span(day);
            let host = self.attacker(start, false);
            let (peer, peer_name) = self.attack_peer();
            let period = match variant {
                "persistent" => self.rng.log_uniform(10.0, 300.0),
                _ => self.rng.log_uniform(10.0, 3600.0),
            }
            .round();
            let jitter = self.rng.uniform(0.0, 0.5);
            let port = self.c2_port();
            let c = self.c2_checkin(period, jitter);
            let mut schedule = Schedule::span(start, end);
            let mut note = beacon_note(&c, &peer_name, port);
            if variant == "persistent" {
                note.push_str(" over one long-lived connection");
                let tag = self.label("beaconing", host, Some(peer_name), start, end, variant, note);
                let pattern = Pattern::Persistent {
                    out: c.out,
                    inb: c.inb,
                    reconnect: ONE_SESSION,
                    beat: Some((period, jitter)),
                };
                self.tcp(host, vec![peer], port, pattern, schedule, tag);
                continue;
            }
            if variant == "active_sleep" {
                let active = self.rng.range(3600, 3 * 3600) as u32;
                let sleep = self.rng.range(2 * 3600, 5 * 3600) as u32;
                schedule.cycle = Some((active, sleep));
                note.push_str(&format!(", active {active} s then asleep {sleep} s"));
            } else {
                note.push_str(", a new connection per beat");
            }
            self.per_beat(host, peer, port, TCP, c, schedule, variant, note);
        }

        // A campaign: two hosts beacon to one fresh C2 server with the same period, each with its own jitter.
        let spans = [self.beacon_span(day), self.beacon_span(day)];
        let hosts = [self.attacker(spans[0].0, false), self.attacker(spans[1].0, false)];
        let (peer, peer_name) = self.attack_peer();
        let period = self.rng.log_uniform(10.0, 3600.0).round();
        let port = self.c2_port();
        for k in 0..2 {
            let jitter = self.rng.uniform(0.0, 0.5);
            let c = self.c2_checkin(period, jitter);
            let note = format!(
                "{}, a new connection per beat; campaign: {} beacons to the same peer with the same period",
                beacon_note(&c, &peer_name, port),
                self.s.ip_string(hosts[1 - k])
            );
            let (start, end) = spans[k];
            self.per_beat(hosts[k], peer, port, TCP, c, Schedule::span(start, end), "campaign", note);
        }

        // C2 on a rented EC2 instance: the peer carries pkt-dst-aws-service EC2.
        let (start, end) = self.beacon_span(day);
        let host = self.attacker(start, false);
        let peer = Endpoint::Ext { ip: self.fresh_ec2_ip(), svc: Svc::Ec2, gateway: false };
        let period = self.rng.log_uniform(10.0, 3600.0).round();
        let jitter = self.rng.uniform(0.0, 0.5);
        let port = self.c2_port();
        let c = self.c2_checkin(period, jitter);
        let note = format!(
            "{}, a new connection per beat, to an EC2 instance's public address (pkt-dst-aws-service EC2)",
            beacon_note(&c, &ext_name(&peer), port)
        );
        self.per_beat(host, peer, port, TCP, c, Schedule::span(start, end), "ec2_c2", note);

        // C2 over UDP 53 straight to the attacker's server (not through a resolver).
        let (start, end) = self.beacon_span(day);
        let host = self.attacker(start, false);
        let (peer, peer_name) = self.attack_peer();
        let period = self.rng.log_uniform(10.0, 3600.0).round();
        let jitter = self.rng.uniform(0.0, 0.5);
        let out = Size::new(self.rng.uniform(60.0, 300.0).round(), 0.1);
        let inb = Size::new(self.rng.uniform(80.0, 600.0).round(), 0.1);
        let c = CheckIn { period, jitter, out, inb };
        let note = format!(
            "{} over UDP, one query and answer per beat (DNS-port C2 to a server that is no resolver)",
            beacon_note(&c, &peer_name, 53)
        );
        self.per_beat(host, peer, 53, UDP, c, Schedule::span(start, end), "udp", note);

        // A slow beacon: hourly, for 7-12 h, so only a handful of connections in the day.
        let start = day + 1800 + self.rng.range(0, 6 * 3600);
        let start = start - start % 60;
        let end = (start + self.rng.range(7 * 3600, 12 * 3600 + 1)).min(self.s.test_end);
        let host = self.attacker(start, false);
        let (peer, peer_name) = self.attack_peer();
        let jitter = self.rng.uniform(0.0, 0.1);
        let port = self.c2_port();
        let c = self.c2_checkin(3600.0, jitter);
        let note = format!(
            "{}, a new connection per beat, for {:.1} h",
            beacon_note(&c, &peer_name, port),
            (end - start) as f64 / 3600.0
        );
        self.per_beat(host, peer, port, TCP, c, Schedule::span(start, end), "hourly", note);
    }

    fn exfiltration(&mut self, day: u64) {
        let test_end = self.s.test_end;
        // Burst: GBs in under an hour to a never-seen external address.
        let start = day + self.rng.range(3600, 20 * 3600);
        let start = start - start % 60;
        let duration = self.rng.range(20 * 60, 60 * 60);
        let end = (start + duration).min(test_end);
        let total = self.rng.log_uniform(2e9, 8e9);
        let host = self.attacker(start, false);
        let (peer, name) = self.attack_peer();
        let note = format!("{:.1} GB to {name}:443 in {} min", total / 1e9, duration / 60);
        let tag = self.label("exfiltration", host, Some(name), start, end, "burst", note);
        let upload = Pattern::persistent(Size::new(total / duration as f64, 0.2), Size::new(6_000.0, 0.3), 900);
        self.tcp(host, vec![peer], 443, upload, Schedule::span(start, end), tag);

        // Low and slow: tens of MB an hour for a day, in periodic chunks.
        let start = day + self.rng.range(600, 2 * 3600);
        let start = start - start % 60;
        let end = (start + DAY).min(test_end);
        let per_hour = self.rng.uniform(20e6, 60e6);
        let period = self.rng.uniform(300.0, 900.0).round();
        let host = self.attacker(start, false);
        let (peer, name) = self.attack_peer();
        let note = format!("{:.0} MB/h to {name}:443 in chunks every {period} s", per_hour / 1e6);
        let tag = self.label("exfiltration", host, Some(name), start, end, "low_and_slow", note);
        let chunk = Size::new(per_hour * period / 3600.0, 0.3);
        let chunks = Pattern::periodic(period, 0.3, start as f64, chunk, Size::new(5_000.0, 0.3));
        self.tcp(host, vec![peer], 443, chunks, Schedule::span(start, end), tag);

        // To an S3 bucket outside the region the workload uses.
        let start = day + self.rng.range(3600, 20 * 3600);
        let start = start - start % 60;
        let duration = self.rng.range(30 * 60, 90 * 60);
        let end = (start + duration).min(test_end);
        let total = self.rng.log_uniform(1e9, 5e9);
        let host = self.attacker(start, false);
        let v = u32::from(S3_FOREIGN.0) + self.rng.range(0, u64::from(S3_FOREIGN.1)) as u32;
        let name = ip(v);
        let note = format!("{:.1} GB to an S3 address of another region ({name}) through the NAT gateway", total / 1e9);
        let tag = self.label("exfiltration", host, Some(name), start, end, "s3_unusual", note);
        let bucket = Endpoint::Ext { ip: v, svc: Svc::S3, gateway: false };
        let upload = Pattern::persistent(Size::new(total / duration as f64, 0.2), Size::new(8_000.0, 0.3), 1200);
        self.tcp(host, vec![bucket], 443, upload, Schedule::span(start, end), tag);
    }

    fn lateral(&mut self, day: u64, round: u32) {
        let test_end = self.s.test_end;
        // A REJECT-heavy sweep of a subnet, then a few successful connections.
        let start = day + self.rng.range(2 * 3600, 20 * 3600);
        let start = start - start % 60;
        let host = self.attacker(start, true);
        let own_subnet = self.s.enis[host as usize].subnet;
        let subnet_choices = [2usize, 3, 4, 7];
        let target_subnet = if self.rng.chance(0.5) { own_subnet } else { subnet_choices[self.rng.index(4)] };
        let sub = &self.s.subnets[target_subnet];
        // Attackers sweep the /24 they are in (or the first /24 of the target subnet) first.
        let base = if target_subnet == own_subnet { self.s.enis[host as usize].ip & 0xffff_ff00 } else { sub.base };
        let mut targets: Vec<u32> = (base + 1..base + 255).filter(|&t| t != self.s.enis[host as usize].ip).collect();
        // Make sure live hosts are among the targets even when the /24 is sparse.
        for e in self.s.enis.iter().filter(|e| e.subnet == target_subnet && e.role().is_some()).take(32) {
            if e.ip != self.s.enis[host as usize].ip && !targets.contains(&e.ip) {
                targets.push(e.ip);
            }
        }
        let per_sec = self.rng.uniform(5.0, 20.0);
        let probes = (targets.len() * ATTACK_SCAN_PORTS.len()) as f64;
        let scan_end = start + (probes / per_sec).ceil() as u64 + 1;
        // Follow-ups: SSH or SMB sessions to live hosts that accepted.
        let live: Vec<u32> = targets
            .iter()
            .filter_map(|&t| self.s.eni_by_ip(t))
            .filter(|&e| self.s.enis[e as usize].role().is_some() && self.first_seen(e) < start)
            .collect();
        let mut end = scan_end;
        let follow = self.rng.range(1, 4) as usize;
        let mut sessions = Vec::new();
        for k in 0..follow.min(live.len()) {
            let t = live[self.rng.index(live.len())];
            let port = if self.s.enis[t as usize].role() == Some(Role::Windows) { 445 } else { 22 };
            let from = scan_end + 120 + self.rng.range(0, 1800) + k as u64 * 300;
            let to = (from + self.rng.range(120, 900)).min(test_end);
            end = end.max(to);
            sessions.push((t, port, from, to));
        }
        let end = end.min(test_end);
        let note = format!(
            "sweep of {} addresses × {} ports at {per_sec:.0}/s, then {} sessions",
            targets.len(),
            ATTACK_SCAN_PORTS.len(),
            sessions.len()
        );
        let tag = self.label("lateral_movement", host, None, start, end, "scan", note);
        let sweep = Pattern::Scan { targets, ports: ATTACK_SCAN_PORTS.to_vec(), per_sec, sg_open: false };
        self.scan(host, sweep, Schedule::span(start, scan_end.min(test_end)), tag);
        for (t, port, from, to) in sessions {
            let session = Pattern::persistent(Size::new(400.0, 0.8), Size::new(1_500.0, 1.0), ONE_SESSION);
            self.tcp(host, vec![Endpoint::Eni(t)], port, session, Schedule::span(from, to), tag);
        }

        // Quiet new admin edges to hosts never contacted before.
        let variants = ["ssh", "smb", "rdp", "winrm"];
        for k in 0..2u32 {
            let variant = variants[((round * 2 + k) as usize + self.cfg.seed as usize) % variants.len()];
            let start = day + self.rng.range(3600, 21 * 3600);
            let start = start - start % 60;
            let host = self.attacker(start, true);
            let pool = if variant == "ssh" {
                self.hosts()
                    .into_iter()
                    .filter(|&h| {
                        matches!(
                            self.s.enis[h as usize].role(),
                            Some(Role::Web | Role::App | Role::Db | Role::Batch | Role::Ci)
                        )
                    })
                    .collect::<Vec<_>>()
            } else {
                self.role(Role::Windows)
            };
            let pool: Vec<u32> = pool.into_iter().filter(|&h| h != host && self.first_seen(h) < start).collect();
            if pool.is_empty() {
                continue;
            }
            let target = pool[self.rng.index(pool.len())];
            // The port, the traffic of one session and how long it lasts (seconds, from..to).
            let (port, pattern, seconds) = match variant {
                "ssh" => {
                    (22, Pattern::persistent(Size::new(300.0, 0.8), Size::new(1_200.0, 1.0), ONE_SESSION), 600..1800)
                }
                "smb" => {
                    (445, Pattern::persistent(Size::new(2_000.0, 0.6), Size::new(60_000.0, 0.8), ONE_SESSION), 300..900)
                }
                "rdp" => (
                    3389,
                    Pattern::persistent(Size::new(1_500.0, 0.6), Size::new(20_000.0, 0.8), ONE_SESSION),
                    1200..3600,
                ),
                _ => (5985, Pattern::poisson(40.0, Size::new(3_000.0, 0.5), Size::new(5_000.0, 0.6), 3), 600..1200),
            };
            let end = (start + self.rng.range(seconds.start, seconds.end)).min(test_end);
            let note = format!(
                "new {variant} edge (port {port}) to {}, a host it never contacted",
                self.s.enis[target as usize].name
            );
            let tag = self.label("lateral_movement", host, Some(self.s.ip_string(target)), start, end, variant, note);
            self.tcp(host, vec![Endpoint::Eni(target)], port, pattern, Schedule::span(start, end), tag);
        }
    }
}

/// The head of every beacon label's note: `c2 beacon every P s ±J% to PEER:PORT` (tests
/// read the period from it).
fn beacon_note(c: &CheckIn, peer: &str, port: u16) -> String {
    format!("c2 beacon every {} s ±{:.0}% to {peer}:{port}", c.period, c.jitter * 100.0)
}
