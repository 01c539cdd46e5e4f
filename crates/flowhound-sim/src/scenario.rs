//! Building a scenario from its config: the VPC, the background traffic, the
//! legitimate look-alikes and the attacks. Everything here is small (thousands of
//! activities); the records themselves are generated later, chunk by chunk.
//!
//! This module owns the scenario, the builder with its topology and background traffic,
//! and the helpers every part builds activities with; the look-alikes are in
//! `lookalikes`, the attacks in `attacks`.

mod attacks;
mod lookalikes;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use flowhound_flowlog::time::days_from_civil;
use serde::Serialize;

use crate::config::SimConfig;
use crate::eval::Label;
use crate::model::{Activity, Endpoint, Eni, EniKind, Pattern, Role, Schedule, Size, Subnet, Svc, TCP, Tag, WEEKDAYS};
use crate::rng::{Rng, hash};
use crate::{DAY, SimError};

/// The first simulated day, a Monday (00:00 UTC), so weekly seasonality lines up with
/// the week of training.
pub fn epoch_start() -> u64 {
    (days_from_civil(2026, 11, 2) * 86_400) as u64
}

/// us-east-1 S3 ranges reached through the VPC's gateway endpoint.
const S3_RANGES: &[(Ipv4Addr, u32)] = &[(Ipv4Addr::new(52, 216, 0, 0), 1 << 15), (Ipv4Addr::new(3, 5, 0, 0), 1 << 13)];

/// Internet populations drawn per event by [`Endpoint::Internet`].
pub const POOL_CLIENTS: u8 = 0;
pub const POOL_SCANNERS: u8 = 1;

/// A named internet peer of the legitimate workload, listed in scenario.json.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalPeer {
    pub ip: String,
    pub name: String,
    pub kind: String,
}

/// A legitimate behaviour that resembles an attack, with what it is meant to fool.
#[derive(Debug, Clone, Serialize)]
pub struct LookAlike {
    pub id: String,
    pub description: String,
    /// Detectors a naive implementation would fire on it.
    pub fools: Vec<String>,
    /// Internal hosts that initiate it.
    pub hosts: Vec<String>,
    /// The other ends (internal or external); empty when too many to list (every host, rotating CDN addresses).
    pub peers: Vec<String>,
    pub ports: Vec<u16>,
    pub start: u64,
    pub end: u64,
    /// Whether it also happens in the training period (so a baseline can learn it).
    pub in_training: bool,
}

/// A fully built scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub config: SimConfig,
    pub account_id: String,
    pub region: String,
    pub vpc_id: String,
    pub flow_log_id: String,
    pub train_start: u64,
    pub test_start: u64,
    pub test_end: u64,
    pub subnets: Vec<Subnet>,
    pub enis: Vec<Eni>,
    pub nat: u32,
    pub activities: Vec<Activity>,
    pub lookalikes: Vec<LookAlike>,
    pub labels: Vec<Label>,
    pub external: Vec<ExternalPeer>,
    ip_index: HashMap<u32, u32>,
}

impl Scenario {
    /// The interface holding `ip`, if any.
    pub fn eni_by_ip(&self, ip: u32) -> Option<u32> {
        self.ip_index.get(&ip).copied()
    }

    /// Indexes of the interfaces of monitored hosts (not NAT, load balancer, Lambda).
    pub fn host_indexes(&self) -> impl Iterator<Item = u32> + '_ {
        self.enis.iter().enumerate().filter(|(_, e)| e.role().is_some()).map(|(i, _)| i as u32)
    }

    /// Host-days of monitored hosts in `[from, to)`, counting autoscaled hosts from their first appearance.
    pub fn host_days(&self, from: u64, to: u64) -> f64 {
        self.enis
            .iter()
            .filter(|e| e.role().is_some())
            .map(|e| to.saturating_sub(e.first_seen.max(from)) as f64 / DAY as f64)
            .sum()
    }

    /// Whether the security groups let `src` open `port` on `dst` (used by scans; the
    /// regular workload only uses allowed paths).
    pub fn sg_allows(&self, src: u32, dst: u32, port: u16) -> bool {
        let (s, d) = (&self.enis[src as usize], &self.enis[dst as usize]);
        let src_role = s.role();
        let Some(dst_role) = d.role() else { return false };
        if src_role == Some(Role::Scanner) {
            return true;
        }
        match (dst_role, port) {
            // The lazy but common rule: SSH open to the whole VPC on Linux hosts.
            (Role::Windows, 445 | 3389 | 5985 | 5986 | 135 | 139 | 88 | 389 | 53) => true,
            (Role::Windows, _) => false,
            (_, 22) => true,
            (_, 9100) => src_role == Some(Role::Monitoring),
            (Role::Web, 80 | 8080) => s.kind == EniKind::LoadBalancer,
            (Role::App, 8080 | 8443 | 9000) => matches!(src_role, Some(Role::Web | Role::App | Role::Batch)),
            (Role::Db, 5432 | 6379) => matches!(src_role, Some(Role::App | Role::Batch | Role::Db)),
            (Role::Ci, 8080) | (Role::Monitoring, 9090 | 3000) => src_role == Some(Role::Bastion),
            _ => false,
        }
    }

    pub fn ip_string(&self, eni: u32) -> String {
        Ipv4Addr::from(self.enis[eni as usize].ip).to_string()
    }
}

/// Builds the scenario of `config`.
pub fn build(config: &SimConfig) -> Result<Scenario, SimError> {
    config.validate()?;
    let mut b = Builder::new(config.clone());
    b.topology();
    b.background();
    b.lookalikes();
    b.attacks();
    Ok(b.finish())
}

struct Builder {
    cfg: SimConfig,
    rng: Rng,
    s: Scenario,
    used_ext: HashSet<u32>,
    by_role: HashMap<Role, Vec<u32>>,
    alb: Vec<u32>,
    lambda: u32,
    /// Hosts already used as attackers, to spread attacks over distinct hosts.
    attackers: HashSet<u32>,
}

/// An agent's periodic check-in: one short connection every `period` seconds, displaced
/// by up to `jitter·period/2`, with `out`/`inb` bytes.
#[derive(Debug, Clone, Copy)]
struct CheckIn {
    period: f64,
    jitter: f64,
    out: Size,
    inb: Size,
}

fn ip(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}

fn hex_id(prefix: &str, h: u64, digits: usize) -> String {
    let full = format!("{h:016x}{:016x}", crate::rng::mix(h));
    format!("{prefix}{}", &full[..digits])
}

impl Builder {
    fn new(cfg: SimConfig) -> Builder {
        let train_start = epoch_start();
        let test_start = train_start + u64::from(cfg.train_days) * DAY;
        let test_end = test_start + u64::from(cfg.test_days) * DAY;
        let seed = cfg.seed;
        let s = Scenario {
            config: cfg.clone(),
            account_id: format!("{:012}", 100_000_000_000 + hash(&[seed, 1]) % 900_000_000_000),
            region: "us-east-1".into(),
            vpc_id: hex_id("vpc-0", hash(&[seed, 2]), 16),
            flow_log_id: hex_id("fl-0", hash(&[seed, 3]), 16),
            train_start,
            test_start,
            test_end,
            subnets: Vec::new(),
            enis: Vec::new(),
            nat: 0,
            activities: Vec::new(),
            lookalikes: Vec::new(),
            labels: Vec::new(),
            external: Vec::new(),
            ip_index: HashMap::new(),
        };
        Builder {
            cfg,
            rng: Rng::keyed(&[seed, 0x5ce0]),
            s,
            used_ext: HashSet::new(),
            by_role: HashMap::new(),
            alb: Vec::new(),
            lambda: 0,
            attackers: HashSet::new(),
        }
    }

    fn finish(self) -> Scenario {
        self.s
    }

    fn role(&self, role: Role) -> Vec<u32> {
        self.by_role.get(&role).cloned().unwrap_or_default()
    }

    fn hosts(&self) -> Vec<u32> {
        self.s.host_indexes().collect()
    }

    fn names(&self, enis: &[u32]) -> Vec<String> {
        enis.iter().map(|&e| self.s.ip_string(e)).collect()
    }

    fn first_seen(&self, eni: u32) -> u64 {
        self.s.enis[eni as usize].first_seen
    }

    // ---- topology -------------------------------------------------------------------

    fn topology(&mut self) {
        let seed = self.cfg.seed;
        let subnet = |name: &'static str, third: u8, prefix: u8, az: &'static str, public: bool, i: u64| Subnet {
            name,
            id: hex_id("subnet-0", hash(&[seed, 10, i]), 16),
            base: u32::from(Ipv4Addr::new(10, 20, third, 0)),
            prefix,
            az_id: az,
            public,
        };
        self.s.subnets = vec![
            subnet("public-a", 0, 24, "use1-az1", true, 0),
            subnet("public-b", 1, 24, "use1-az2", true, 1),
            subnet("web", 8, 22, "use1-az1", false, 2),
            subnet("app", 12, 22, "use1-az2", false, 3),
            subnet("data", 16, 22, "use1-az1", false, 4),
            subnet("batch", 20, 22, "use1-az2", false, 5),
            subnet("mgmt", 24, 22, "use1-az1", false, 6),
            subnet("windows", 28, 22, "use1-az2", false, 7),
            subnet("lambda", 32, 24, "use1-az1", false, 8),
        ];
        let n = self.cfg.hosts;
        let ci = (n / 40).max(1);
        let db = (n / 10).max(2);
        let batch = (n * 6 / 100).max(1);
        let win = (n * 8 / 100).max(2);
        // Small fleets keep at least one app host; web gives way first.
        let web = (n / 4).max(2).min(n.saturating_sub(3 + ci + db + batch + win + 1)).max(2);
        let fixed = 3 + ci + db + batch + win + web;
        let app = n.saturating_sub(fixed).max(1);
        let plan: [(Role, usize, usize); 9] = [
            (Role::Bastion, 1, 0),
            (Role::Monitoring, 1, 6),
            (Role::Scanner, 1, 6),
            (Role::Ci, ci, 6),
            (Role::Web, web, 2),
            (Role::App, app, 3),
            (Role::Db, db, 4),
            (Role::Batch, batch, 5),
            (Role::Windows, win, 7),
        ];
        // Infrastructure interfaces first: the NAT gateway and the load balancer nodes live in the public subnets.
        self.s.nat = self.add_eni(EniKind::NatGateway, "nat-gateway".into(), 0, true);
        let alb_a = self.add_eni(EniKind::LoadBalancer, "alb-node-a".into(), 0, true);
        let alb_b = self.add_eni(EniKind::LoadBalancer, "alb-node-b".into(), 1, true);
        self.alb = vec![alb_a, alb_b];
        self.lambda = self.add_eni(EniKind::Lambda, "lambda-report-fn".into(), 8, false);
        for (role, count, subnet) in plan {
            for k in 0..count {
                let name = format!("{}-{:02}", role.as_str(), k + 1);
                let public = role == Role::Bastion;
                let e = self.add_eni(EniKind::Host(role), name, subnet, public);
                self.by_role.entry(role).or_default().push(e);
            }
        }
        self.autoscaling();
    }

    fn add_eni(&mut self, kind: EniKind, name: String, subnet: usize, public: bool) -> u32 {
        let idx = self.s.enis.len() as u32;
        let usable = self.s.subnets[subnet].usable();
        let ip = loop {
            // AWS hands out addresses scattered over the subnet, not sequentially.
            let candidate = self.rng.range(u64::from(usable.start), u64::from(usable.end)) as u32;
            if !self.s.ip_index.contains_key(&candidate) {
                break candidate;
            }
        };
        let h = hash(&[self.cfg.seed, 20, u64::from(idx)]);
        let instance_id = matches!(kind, EniKind::Host(_)).then(|| hex_id("i-0", h ^ 1, 16));
        let public_ip = public.then(|| self.fresh_public_ip());
        self.s.ip_index.insert(ip, idx);
        self.s.enis.push(Eni {
            kind,
            name,
            interface_id: hex_id("eni-0", h, 16),
            instance_id,
            subnet,
            ip,
            public_ip,
            first_seen: self.s.train_start,
        });
        idx
    }

    /// Some web and app hosts are launched by autoscaling during training; one app host
    /// appears only in the test period, with no history at all.
    fn autoscaling(&mut self) {
        let train_span = self.s.test_start - self.s.train_start;
        let mut scalable: Vec<u32> = self.role(Role::Web).into_iter().skip(2).collect();
        scalable.extend(self.role(Role::App).into_iter().skip(2));
        let count = scalable.len() * 15 / 100;
        for &e in scalable.iter().rev().take(count) {
            let at = self.s.train_start + DAY / 2 + self.rng.range(0, train_span.saturating_sub(DAY / 2));
            self.s.enis[e as usize].first_seen = at - at % 60;
        }
        let apps = self.role(Role::App);
        let test_start = self.s.test_start;
        let new_host = self.add_eni(EniKind::Host(Role::App), format!("app-{:02}", apps.len() + 1), 3, false);
        let at = test_start + 3600 + self.rng.range(0, 4 * 3600);
        self.s.enis[new_host as usize].first_seen = at - at % 60;
        self.by_role.entry(Role::App).or_default().push(new_host);
    }

    fn fresh_public_ip(&mut self) -> u32 {
        loop {
            let v = public_ip(self.rng.next_u64());
            if self.used_ext.insert(v) {
                return v;
            }
        }
    }

    fn ext(&mut self, name: &str, kind: &str) -> Endpoint {
        let v = self.fresh_public_ip();
        self.s.external.push(ExternalPeer { ip: ip(v), name: name.into(), kind: kind.into() });
        Endpoint::Ext { ip: v, svc: Svc::None, gateway: false }
    }

    fn aws_ext(&mut self, name: &str, svc: Svc) -> Endpoint {
        // AWS API endpoints sit in 52.94.0.0/16 / 54.239.0.0/16 style ranges.
        let v = (u32::from(Ipv4Addr::new(52, 94, 0, 0)) + self.rng.range(256, 1 << 16) as u32) | 1;
        self.used_ext.insert(v);
        self.s.external.push(ExternalPeer {
            ip: ip(v),
            name: name.into(),
            kind: format!("aws:{}", svc.name().unwrap_or("-")),
        });
        Endpoint::Ext { ip: v, svc, gateway: false }
    }

    fn s3(&mut self) -> Endpoint {
        let (base, size) = S3_RANGES[self.rng.index(S3_RANGES.len())];
        Endpoint::S3Range { base: u32::from(base), size }
    }

    fn push(&mut self, a: Activity) {
        self.s.activities.push(a);
    }

    fn all_time(&self) -> Schedule {
        Schedule::span(self.s.train_start, self.s.test_end)
    }

    #[allow(clippy::too_many_arguments)]
    fn activity(
        &mut self,
        src: Endpoint,
        dsts: Vec<Endpoint>,
        dports: Vec<u16>,
        proto: u8,
        pattern: Pattern,
        schedule: Schedule,
        tag: Tag,
    ) {
        self.push(Activity { src, dsts, dports, proto, pattern, schedule, tag, rejected: false });
    }

    /// The usual activity: interface `src` opens TCP connections to `port` on one of `dsts`.
    fn tcp(&mut self, src: u32, dsts: Vec<Endpoint>, port: u16, pattern: Pattern, schedule: Schedule, tag: Tag) {
        self.activity(Endpoint::Eni(src), dsts, vec![port], TCP, pattern, schedule, tag);
    }

    /// A sweep from interface `src`: its targets and ports are in the [`Pattern::Scan`],
    /// not in the activity's peers.
    fn scan(&mut self, src: u32, sweep: Pattern, schedule: Schedule, tag: Tag) {
        self.activity(Endpoint::Eni(src), Vec::new(), Vec::new(), TCP, sweep, schedule, tag);
    }

    /// Each of `srcs` checks in with `dst` on TCP `port`, at a random phase of its own:
    /// agents start when their host boots, not in lockstep across the fleet.
    fn check_in(&mut self, srcs: &[u32], dst: Endpoint, port: u16, c: CheckIn, schedule: Schedule, tag: Tag) {
        for &src in srcs {
            let phase = self.rng.uniform(0.0, c.period);
            self.tcp(src, vec![dst], port, Pattern::periodic(c.period, c.jitter, phase, c.out, c.inb), schedule, tag);
        }
    }

    // ---- background -----------------------------------------------------------------

    fn background(&mut self) {
        let tag = Tag::Background;
        let all = self.all_time();
        let web = self.role(Role::Web);
        let app = self.role(Role::App);
        let db = self.role(Role::Db);
        let batch = self.role(Role::Batch);
        let win = self.role(Role::Windows);
        let ci = self.role(Role::Ci);
        let bastion = self.role(Role::Bastion)[0];
        let payments = self.ext("payments-api", "saas");
        let email = self.ext("email-api", "saas");
        let crm = self.ext("crm-api", "saas");
        let github = self.ext("github", "saas");
        let registry = self.ext("container-registry-cdn", "cdn");
        let pager = self.ext("alerting-saas", "saas");
        let offices: Vec<Endpoint> = (0..3).map(|i| self.ext(&format!("office-{}", i + 1), "office")).collect();
        let saas = vec![payments, email, crm];

        // Customers reach the public load balancer; heavy-tailed responses leave through it.
        for &alb in &self.alb.clone() {
            let clients = Endpoint::Internet { pool: POOL_CLIENTS };
            let requests =
                Pattern::poisson(40.0 * web.len() as f64, Size::new(900.0, 0.8), Size::new(25_000.0, 1.6), 20);
            self.activity(clients, vec![Endpoint::Eni(alb)], vec![443], TCP, requests, all.seasonal(), tag);
            // The load balancer keeps connections to its targets open and multiplexes requests over them.
            for &w in &web {
                let keep_alive = Pattern::persistent(Size::new(150.0, 0.6), Size::new(4_000.0, 0.9), 3600);
                self.tcp(alb, vec![Endpoint::Eni(w)], 8080, keep_alive, all.seasonal(), tag);
            }
        }
        for (i, &w) in web.iter().enumerate() {
            let peers: Vec<Endpoint> = (0..2.min(app.len())).map(|k| Endpoint::Eni(app[(i + k) % app.len()])).collect();
            let pool = Pattern::persistent(Size::new(400.0, 0.7), Size::new(3_000.0, 0.9), 1800);
            self.tcp(w, peers, 8080, pool, all.seasonal(), tag);
        }
        for (i, &a) in app.iter().enumerate() {
            let primary = db[i % db.len().max(1)];
            let pool = Pattern::persistent(Size::new(600.0, 0.8), Size::new(6_000.0, 1.0), 7200);
            self.tcp(a, vec![Endpoint::Eni(primary)], 5432, pool, all.seasonal(), tag);
            let rate = self.rng.log_uniform(3.0, 20.0);
            let api_calls = Pattern::poisson(rate, Size::new(3_000.0, 1.2), Size::new(12_000.0, 1.5), 5);
            self.tcp(a, saas.clone(), 443, api_calls, all.seasonal(), tag);
            let s3 = self.s3();
            let objects = Pattern::poisson(4.0, Size::new(150_000.0, 1.8), Size::new(400_000.0, 2.0), 30);
            self.tcp(a, vec![s3], 443, objects, all.seasonal(), tag);
        }
        // Database replication: primary to replica, all the time.
        if db.len() >= 2 {
            let stream = Pattern::persistent(Size::new(20_000.0, 1.0), Size::new(500.0, 0.5), 86_400);
            self.tcp(db[0], vec![Endpoint::Eni(db[1])], 5432, stream, all.seasonal(), tag);
        }
        // Nightly ETL: pull from the databases, write to S3.
        for (i, &bh) in batch.iter().enumerate() {
            let offset = 2 * 3600 + self.rng.range(0, 3600) as u32;
            let source = db[i % db.len()];
            let pull = Pattern::persistent(Size::new(8_000.0, 0.5), Size::new(2_000_000.0, 0.6), 3600);
            self.tcp(bh, vec![Endpoint::Eni(source)], 5432, pull, all.daily(offset, 5400), tag);
            let s3 = self.s3();
            let write = Pattern::persistent(Size::new(1_000_000.0, 0.6), Size::new(20_000.0, 0.5), 600);
            self.tcp(bh, vec![s3], 443, write, all.daily(offset + 1800, 3600), tag);
        }
        // Windows: Kerberos/LDAP/SMB to the domain controller, the file server.
        let dc = win[0];
        for &w in win.iter().skip(1) {
            let logons = Pattern::poisson(20.0, Size::new(1_500.0, 0.8), Size::new(3_000.0, 0.9), 3);
            self.activity(
                Endpoint::Eni(w),
                vec![Endpoint::Eni(dc)],
                vec![88, 389, 445, 53],
                TCP,
                logons,
                all.seasonal(),
                tag,
            );
        }
        // Admins SSH into the bastion from the office during business hours.
        for office in offices {
            let sessions = Pattern::poisson(2.0, Size::new(40_000.0, 1.2), Size::new(200_000.0, 1.5), 55);
            let business_hours = all.daily(13 * 3600, 10 * 3600).on(WEEKDAYS);
            self.activity(office, vec![Endpoint::Eni(bastion)], vec![22], TCP, sessions, business_hours, tag);
        }
        // CI: clones, image pulls.
        let build_hours = all.daily(13 * 3600, 11 * 3600).on(WEEKDAYS);
        for &c in &ci {
            let clones = Pattern::poisson(6.0, Size::new(20_000.0, 1.0), Size::new(8_000_000.0, 1.5), 50);
            self.tcp(c, vec![github], 443, clones, build_hours, tag);
            let pulls = Pattern::poisson(4.0, Size::new(30_000.0, 1.0), Size::new(40_000_000.0, 1.2), 50);
            self.tcp(c, vec![registry], 443, pulls, build_hours, tag);
        }
        let monitoring = self.role(Role::Monitoring)[0];
        let alerts = Pattern::poisson(1.0, Size::new(2_000.0, 0.6), Size::new(1_000.0, 0.5), 2);
        self.tcp(monitoring, vec![pager], 443, alerts, all, tag);
        // The Lambda function runs a few times an hour; its interface is idle (NODATA) otherwise.
        let s3 = self.s3();
        let runs = Pattern::poisson(3.0, Size::new(5_000.0, 1.0), Size::new(50_000.0, 1.2), 10);
        self.tcp(self.lambda, vec![s3, crm], 443, runs, all.seasonal(), tag);
    }
}

fn ext_name(e: &Endpoint) -> String {
    match e {
        Endpoint::Ext { ip: v, .. } => ip(*v),
        _ => String::new(),
    }
}

/// A public unicast IPv4 address from 64 random bits (no private, shared, loopback,
/// link-local, documentation, multicast or reserved ranges, and none of the AWS
/// ranges the simulator gives a meaning to).
pub fn public_ip(bits: u64) -> u32 {
    let mut x = bits;
    loop {
        let v = (x >> 16) as u32;
        let [a, b, _, _] = v.to_be_bytes();
        let reserved = matches!(a, 0 | 10 | 127 | 224..=255)
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && (b == 168 || b == 0))
            || (a == 198 && (b == 18 || b == 19 || b == 51))
            || (a == 203 && b == 0)
            || (a == 52 && (b == 94 || b == 95 || b == 216 || b == 217))
            || (a == 3 && b == 5);
        if !reserved && v & 0xff != 0 && v & 0xff != 255 {
            return v;
        }
        x = crate::rng::mix(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UDP;

    fn small() -> Scenario {
        build(&SimConfig { hosts: 14, train_days: 1, test_days: 1, ..SimConfig::default() }).unwrap()
    }

    #[test]
    fn roles_and_infrastructure_are_present() {
        let s = small();
        let hosts: Vec<_> = s.host_indexes().collect();
        // 14 planned hosts plus the test-period autoscaled one.
        assert_eq!(hosts.len(), 15);
        for role in [
            Role::Web,
            Role::App,
            Role::Db,
            Role::Batch,
            Role::Bastion,
            Role::Monitoring,
            Role::Ci,
            Role::Windows,
            Role::Scanner,
        ] {
            assert!(s.enis.iter().any(|e| e.role() == Some(role)), "{role:?}");
        }
        assert_eq!(s.enis[s.nat as usize].kind, EniKind::NatGateway);
        assert!(s.enis[s.nat as usize].instance_id.is_none());
        let ips: HashSet<u32> = s.enis.iter().map(|e| e.ip).collect();
        assert_eq!(ips.len(), s.enis.len());
        for e in &s.enis {
            let sub = &s.subnets[e.subnet];
            assert!(sub.usable().contains(&e.ip), "{} not in {}", e.name, sub.cidr());
        }
        assert!(s.enis.iter().any(|e| e.first_seen >= s.test_start), "a host new in the test period");
    }

    #[test]
    fn attacks_are_in_the_test_period_and_lookalikes_cover_the_brief() {
        let s = small();
        // Per test day 8 beacons (two of them a campaign), 3 exfiltrations, 3 lateral movements; one dwell implant.
        assert_eq!(s.labels.len(), 15);
        for l in &s.labels {
            assert!(l.start >= s.test_start && l.end <= s.test_end && l.start < l.end, "{l:?}");
        }
        let variants: HashSet<&str> = s.labels.iter().map(|l| l.variant.as_str()).collect();
        for v in [
            "per_beat",
            "persistent",
            "active_sleep",
            "dwell",
            "campaign",
            "ec2_c2",
            "udp",
            "hourly",
            "burst",
            "low_and_slow",
            "s3_unusual",
            "scan",
        ] {
            assert!(variants.contains(v), "{v}");
        }
        let beacons: Vec<&Label> = s.labels.iter().filter(|l| l.detector == "beaconing").collect();
        assert_eq!(beacons.len(), 9);
        // The campaign: two hosts, one peer.
        let campaign: Vec<&&Label> = beacons.iter().filter(|l| l.variant == "campaign").collect();
        assert_eq!(campaign.len(), 2);
        assert!(campaign[0].host != campaign[1].host && campaign[0].peer == campaign[1].peer);
        // The activities behind the new variants: an EC2 peer, UDP 53, an hourly period.
        let activity_of = |variant: &str| {
            let i = s.labels.iter().position(|l| l.variant == variant).unwrap();
            s.activities.iter().find(|a| a.tag == Tag::Attack(i as u16)).unwrap()
        };
        assert!(matches!(activity_of("ec2_c2").dsts[..], [Endpoint::Ext { svc: Svc::Ec2, .. }]));
        let udp = activity_of("udp");
        assert_eq!((udp.proto, &udp.dports[..]), (UDP, &[53][..]));
        let Pattern::Periodic { period, jitter, .. } = activity_of("hourly").pattern else { panic!("hourly") };
        assert!(period == 3600.0 && jitter <= 0.1);
        let hourly = s.labels.iter().find(|l| l.variant == "hourly").unwrap();
        assert!((7 * 3600..=12 * 3600).contains(&(hourly.end - hourly.start)) || hourly.end == s.test_end);
        let ids: HashSet<&str> = s.lookalikes.iter().map(|l| l.id.as_str()).collect();
        for id in [
            "ntp_polling",
            "edr_agent_checkin",
            "monitoring_scrapes",
            "lb_health_checks",
            "nightly_backup_s3",
            "bastion_fanout",
            "deploy_day",
            "new_host",
            "vulnerability_scanner",
            "data_migration",
        ] {
            assert!(ids.contains(id), "{id}");
        }
        // Attack peers are never peers of the legitimate workload.
        let legit: HashSet<&str> = s.external.iter().map(|p| p.ip.as_str()).collect();
        for l in &s.labels {
            if let Some(peer) = &l.peer {
                assert!(!legit.contains(peer.as_str()), "{peer}");
            }
        }
    }

    #[test]
    fn the_dwell_implant_beacons_through_training_unlabelled() {
        let s = small();
        let dwell: Vec<&Label> = s.labels.iter().filter(|l| l.variant == "dwell").collect();
        assert_eq!(dwell.len(), 1, "one dwell implant per scenario");
        let l = dwell[0];
        assert_eq!((l.start, l.end), (s.test_start, s.test_end));
        let host: u32 = l.host.parse::<Ipv4Addr>().unwrap().into();
        let peer: u32 = l.peer.as_ref().unwrap().parse::<Ipv4Addr>().unwrap().into();
        let eni = s.eni_by_ip(host).unwrap();
        assert_eq!(s.enis[eni as usize].first_seen, s.train_start);
        let (mut training, mut c) = (Vec::new(), s.train_start);
        while c < s.test_start {
            for b in crate::generate::generate_chunk(&s, c) {
                training.extend(
                    b.records.into_iter().filter(|r| r.eni == eni && r.src == host && r.dst == peer && r.egress),
                );
            }
            c += crate::generate::chunk_secs(&s);
        }
        // At least one beat an hour (the slowest period) all through the training day, none labelled.
        assert!(training.len() >= 20, "{} training connections to the C2 peer", training.len());
        assert!(training.iter().all(|r| r.end < s.test_start && !matches!(Tag::from_code(r.tag), Tag::Attack(_))));
        let first = training.iter().map(|r| r.start).min().unwrap();
        let last = training.iter().map(|r| r.start).max().unwrap();
        // Beats move by up to a quarter period, so the first and last may sit up to 1.25 periods from the edges.
        assert!(first < s.train_start + 2 * 3600 && last + 2 * 3600 >= s.test_start, "{first} {last}");
    }

    #[test]
    fn public_ips_avoid_reserved_ranges() {
        for i in 0..10_000u64 {
            let [a, b, _, _] = public_ip(crate::rng::mix(i)).to_be_bytes();
            assert!(a != 10 && a != 127 && a < 224 && !(a == 192 && b == 168) && !(a == 172 && (16..32).contains(&b)));
        }
    }

    #[test]
    fn security_groups_follow_roles() {
        let s = small();
        let find = |r: Role| s.enis.iter().position(|e| e.role() == Some(r)).unwrap() as u32;
        let (web, app, db, win, scanner, mon) = (
            find(Role::Web),
            find(Role::App),
            find(Role::Db),
            find(Role::Windows),
            find(Role::Scanner),
            find(Role::Monitoring),
        );
        assert!(s.sg_allows(app, db, 5432));
        assert!(!s.sg_allows(web, db, 5432));
        assert!(s.sg_allows(app, web, 22));
        assert!(!s.sg_allows(app, web, 3389));
        assert!(s.sg_allows(app, win, 445));
        assert!(!s.sg_allows(app, win, 22));
        assert!(s.sg_allows(scanner, db, 27017));
        assert!(s.sg_allows(mon, web, 9100) && !s.sg_allows(app, web, 9100));
    }
}
