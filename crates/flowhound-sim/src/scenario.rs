//! Building a scenario from its config: the VPC, the background traffic, the
//! legitimate look-alikes and the attacks. Everything here is small (thousands of
//! activities); the records themselves are generated later, chunk by chunk.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use flowhound_flowlog::time::days_from_civil;
use serde::Serialize;

use crate::config::SimConfig;
use crate::eval::Label;
use crate::model::{
    Activity, Endpoint, Eni, EniKind, Pattern, Role, Schedule, Size, Subnet, Svc, TCP, Tag, UDP, WEEKDAYS,
};
use crate::rng::{Rng, hash};
use crate::{DAY, SimError};

/// The first simulated day, a Monday (00:00 UTC), so weekly seasonality lines up with
/// the week of training.
pub fn epoch_start() -> u64 {
    (days_from_civil(2026, 11, 2) * 86_400) as u64
}

/// us-east-1 S3 ranges reached through the VPC's gateway endpoint.
const S3_RANGES: &[(Ipv4Addr, u32)] = &[(Ipv4Addr::new(52, 216, 0, 0), 1 << 15), (Ipv4Addr::new(3, 5, 0, 0), 1 << 13)];
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

/// Internet populations drawn per event by [`Endpoint::Internet`].
pub const POOL_CLIENTS: u8 = 0;
pub const POOL_SCANNERS: u8 = 1;

/// Ports an internet scanner tries on public addresses.
const INTERNET_SCAN_PORTS: &[u16] = &[22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200];
/// Ports the VPC's vulnerability scanner checks on every host.
const VULN_SCAN_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 88, 110, 135, 139, 389, 443, 445, 1433, 2049, 3000, 3306, 3389, 5432, 5900, 5985, 5986,
    6379, 8080, 8443, 9000, 9090, 9100, 9200, 27017,
];
/// Ports an attacker's internal scan probes.
const ATTACK_SCAN_PORTS: &[u16] = &[22, 23, 135, 445, 1433, 3306, 3389, 5432, 5985, 6379, 9200, 27017];
/// `reconnect` of an attacker's session: one source port for the whole label.
const ONE_SESSION: u32 = u32::MAX / 2;

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

    fn list_lookalike(&mut self, l: LookAlike) -> Tag {
        let idx = self.s.lookalikes.len() as u16;
        self.s.lookalikes.push(l);
        Tag::LookAlike(idx)
    }

    /// Lists a look-alike that runs through training and test, so a baseline can learn
    /// it, and returns the tag its activities carry.
    fn lookalike(
        &mut self,
        id: &str,
        description: &str,
        fools: &[&str],
        hosts: Vec<String>,
        peers: Vec<String>,
        ports: &[u16],
    ) -> Tag {
        self.list_lookalike(LookAlike {
            id: id.into(),
            description: description.into(),
            fools: fools.iter().map(|f| f.to_string()).collect(),
            hosts,
            peers,
            ports: ports.to_vec(),
            start: self.s.train_start,
            end: self.s.test_end,
            in_training: true,
        })
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

    // ---- look-alikes ----------------------------------------------------------------

    #[allow(clippy::too_many_lines)]
    fn lookalikes(&mut self) {
        let all = self.all_time();
        let (t0, test_start, test_end) = (self.s.train_start, self.s.test_start, self.s.test_end);
        let hosts = self.hosts();
        let host_names = self.names(&hosts);
        let web = self.role(Role::Web);
        let app = self.role(Role::App);
        let db = self.role(Role::Db);
        let batch = self.role(Role::Batch);
        let win = self.role(Role::Windows);
        let ci = self.role(Role::Ci);
        let bastion = self.role(Role::Bastion)[0];
        let monitoring = self.role(Role::Monitoring)[0];
        let scanner = self.role(Role::Scanner)[0];
        let new_host = *app.last().unwrap_or(&hosts[0]);

        // NTP: every host polls two pool servers at a fixed interval, to the second.
        let ntp: Vec<Endpoint> = (0..4).map(|i| self.ext(&format!("ntp-pool-{}", i + 1), "ntp")).collect();
        let tag = self.lookalike(
            "ntp_polling",
            "every host polls two public NTP servers every 1024 s with zero jitter (UDP 123, 76-byte packets)",
            &["beaconing"],
            host_names.clone(),
            ntp.iter().map(ext_name).collect(),
            &[123],
        );
        for &h in &hosts {
            for k in 0..2 {
                let server = ntp[(h as usize + k) % ntp.len()];
                let phase = self.rng.uniform(0.0, 1024.0);
                let poll = Pattern::periodic(1024.0, 0.0, phase, Size::new(76.0, 0.0), Size::new(76.0, 0.0));
                self.activity(Endpoint::Eni(h), vec![server], vec![123], UDP, poll, all, tag);
            }
        }

        // The EDR agent on every host checks in with one shared SaaS endpoint.
        let edr = self.ext("edr-agent-cloud", "saas");
        let tag = self.lookalike(
            "edr_agent_checkin",
            "every host's security agent opens a new HTTPS connection to one shared SaaS endpoint every 300 s (±2%) with near-constant payloads",
            &["beaconing"],
            host_names.clone(),
            vec![ext_name(&edr)],
            &[443],
        );
        let checkin =
            CheckIn { period: 300.0, jitter: 0.02, out: Size::new(1_400.0, 0.05), inb: Size::new(700.0, 0.05) };
        self.check_in(&hosts, edr, 443, checkin, all, tag);

        // AWS agents (SSM) poll the regional API.
        let ssm = self.aws_ext("ssm-endpoint", Svc::Amazon);
        let tag = self.lookalike(
            "aws_agent_polling",
            "the SSM agent on every host long-polls the AWS API (pkt-dst-aws-service AMAZON) every 300 s through the NAT gateway",
            &["beaconing"],
            host_names.clone(),
            vec![ext_name(&ssm)],
            &[443],
        );
        let poll = CheckIn { period: 300.0, jitter: 0.05, out: Size::new(2_200.0, 0.1), inb: Size::new(4_500.0, 0.2) };
        self.check_in(&hosts, ssm, 443, poll, all, tag);

        // Monitoring scrapes every host every 15 s over kept-alive connections.
        let others: Vec<u32> = hosts.iter().copied().filter(|&h| h != monitoring).collect();
        let tag = self.lookalike(
            "monitoring_scrapes",
            "the monitoring host scrapes node exporters on every host every 15 s (TCP 9100) over persistent connections: maximal internal fan-out, perfectly periodic",
            &["lateral_movement", "beaconing"],
            self.names(&[monitoring]),
            self.names(&others),
            &[9100],
        );
        let scrapes = Pattern::Persistent {
            out: Size::new(240.0, 0.05),
            inb: Size::new(14_000.0, 0.3),
            reconnect: 6 * 3600,
            beat: Some((15.0, 0.0)),
        };
        for &h in &others {
            self.tcp(monitoring, vec![Endpoint::Eni(h)], 9100, scrapes.clone(), all, tag);
        }

        // Load-balancer health checks: a new connection every 60 s from each node to each target.
        let tag = self.lookalike(
            "lb_health_checks",
            "both load balancer nodes open a new connection to every web host every 60 s (GET /health on 8080)",
            &["beaconing", "lateral_movement"],
            self.alb.iter().map(|&a| self.s.ip_string(a)).collect(),
            self.names(&web),
            &[8080],
        );
        let health = CheckIn { period: 60.0, jitter: 0.0, out: Size::new(180.0, 0.0), inb: Size::new(250.0, 0.02) };
        for &alb in &self.alb.clone() {
            for &w in &web {
                self.check_in(&[alb], Endpoint::Eni(w), 8080, health, all, tag);
            }
        }

        // DNS: the domain controller forwards to public resolvers.
        let resolvers: Vec<Endpoint> = (0..2).map(|i| self.ext(&format!("public-dns-{}", i + 1), "dns")).collect();
        let dc = win[0];
        let tag = self.lookalike(
            "dns_forwarding",
            "the domain controller forwards DNS to two public resolvers (UDP 53), including a cache refresh every 30 s",
            &["beaconing"],
            self.names(&[dc]),
            resolvers.iter().map(ext_name).collect(),
            &[53],
        );
        let refresh = Pattern::periodic(30.0, 0.1, 7.0, Size::new(80.0, 0.2), Size::new(160.0, 0.4));
        self.activity(Endpoint::Eni(dc), resolvers.clone(), vec![53], UDP, refresh, all, tag);
        let lookups = Pattern::poisson(120.0, Size::new(75.0, 0.2), Size::new(180.0, 0.5), 1);
        self.activity(Endpoint::Eni(dc), resolvers, vec![53], UDP, lookups, all.seasonal(), tag);

        // A licence server only the Windows hosts talk to: periodic, low prevalence.
        let licence = self.ext("licence-server", "saas");
        let tag = self.lookalike(
            "licence_checkin",
            "only the Windows hosts check in with a vendor licence server every 300 s (±10%): periodic AND low-prevalence external, in training too",
            &["beaconing"],
            self.names(&win),
            vec![ext_name(&licence)],
            &[443],
        );
        let checkin =
            CheckIn { period: 300.0, jitter: 0.1, out: Size::new(900.0, 0.05), inb: Size::new(1_300.0, 0.05) };
        self.check_in(&win, licence, 443, checkin, all, tag);

        // A status reporter webhook: one app host, a rare SaaS, every 5 minutes.
        let webhook = self.ext("chat-webhook", "saas");
        let reporter = app[0];
        let tag = self.lookalike(
            "status_webhook",
            "one app host posts a status message to a chat webhook every 300 s (±20%), and bursts of alerts in business hours",
            &["beaconing"],
            self.names(&[reporter]),
            vec![ext_name(&webhook)],
            &[443],
        );
        let status = Pattern::periodic(300.0, 0.2, 40.0, Size::new(1_800.0, 0.2), Size::new(600.0, 0.1));
        self.tcp(reporter, vec![webhook], 443, status, all, tag);
        let alerts = Pattern::poisson(6.0, Size::new(2_500.0, 0.5), Size::new(600.0, 0.1), 2);
        self.tcp(reporter, vec![webhook], 443, alerts, all.daily(14 * 3600, 8 * 3600).on(WEEKDAYS), tag);

        // OS updates: an hourly check against a CDN whose address rotates, and a daily download.
        let cdn: Vec<Endpoint> = (0..3)
            .flat_map(|_| {
                let base = public_ip(self.rng.next_u64()) & 0xffff_ff00;
                (0..8).map(move |k| base + 10 + k * 17)
            })
            .map(|v| Endpoint::Ext { ip: v, svc: Svc::CloudFront, gateway: false })
            .collect();
        for e in &cdn {
            if let Endpoint::Ext { ip: v, .. } = e {
                self.used_ext.insert(*v);
                self.s.external.push(ExternalPeer { ip: ip(*v), name: "os-update-cdn".into(), kind: "cdn".into() });
            }
        }
        let tag = self.lookalike(
            "os_update_cdn",
            "every host checks for OS updates every hour (±2%) against a CDN whose address rotates per request, and downloads 50-300 MB once a day",
            &["beaconing", "exfiltration"],
            host_names.clone(),
            Vec::new(),
            &[443],
        );
        for &h in &hosts {
            let phase = self.rng.uniform(0.0, 3600.0);
            let check = Pattern::periodic(3600.0, 0.02, phase, Size::new(800.0, 0.1), Size::new(3_000.0, 0.3));
            self.tcp(h, cdn.clone(), 443, check, all, tag);
            let offset = self.rng.range(0, 86_400 - 900) as u32;
            let size = self.rng.log_uniform(50e6, 300e6);
            let mirror = cdn[self.rng.index(cdn.len())];
            let download = Pattern::persistent(Size::new(2_000.0, 0.3), Size::new(size / 600.0, 0.2), 600);
            self.tcp(h, vec![mirror], 443, download, all.daily(offset, 600), tag);
        }

        // Nightly database backups to S3: several GB each night over parallel connections.
        let tag = self.lookalike(
            "nightly_backup_s3",
            "every database host uploads a 2-8 GB backup to S3 at about 01:00 UTC over four parallel connections (pkt-dst-aws-service S3, gateway endpoint)",
            &["exfiltration"],
            self.names(&db),
            Vec::new(),
            &[443],
        );
        for &d in &db {
            let total = self.rng.log_uniform(2e9, 8e9);
            let offset = 3600 + self.rng.range(0, 1200) as u32;
            let duration = 2400;
            let upload = Pattern::persistent(
                Size::new(total / 4.0 / f64::from(duration), 0.15),
                Size::new(4_000.0, 0.3),
                duration,
            );
            for _ in 0..4 {
                let s3 = self.s3();
                self.tcp(d, vec![s3], 443, upload.clone(), all.daily(offset, duration), tag);
            }
        }

        // A nightly SFTP upload to a partner: a rare external IP, once a day, hundreds of MB.
        let partner = self.ext("partner-sftp", "partner");
        let etl = batch[0];
        let tag = self.lookalike(
            "partner_sftp_cron",
            "a batch host uploads 150-300 MB by SFTP to a partner's IP that nobody else contacts, every night at 02:15 (a daily beacon and a volume spike to a rare IP)",
            &["exfiltration", "beaconing"],
            self.names(&[etl]),
            vec![ext_name(&partner)],
            &[22],
        );
        let size = self.rng.uniform(150e6, 300e6);
        let upload = Pattern::persistent(Size::new(size / 600.0, 0.3), Size::new(3_000.0, 0.3), 600);
        self.tcp(etl, vec![partner], 22, upload, all.daily(2 * 3600 + 900, 600), tag);

        // CI uploads build artefacts to S3 at irregular hours.
        let tag = self.lookalike(
            "ci_artifact_uploads",
            "CI hosts push 50-500 MB build artefacts to S3 several times a day, at irregular hours",
            &["exfiltration"],
            self.names(&ci),
            Vec::new(),
            &[443],
        );
        for &c in &ci {
            let s3 = self.s3();
            let uploads = Pattern::poisson(0.6, Size::new(150e6, 0.8), Size::new(50_000.0, 0.5), 59);
            self.tcp(c, vec![s3], 443, uploads, all.seasonal(), tag);
        }

        // The bastion SSHes to many hosts, RDPs to Windows hosts.
        let linux: Vec<u32> = hosts
            .iter()
            .copied()
            .filter(|&h| !matches!(self.s.enis[h as usize].role(), Some(Role::Windows | Role::Bastion)))
            .collect();
        let tag = self.lookalike(
            "bastion_fanout",
            "admins on the bastion SSH to many Linux hosts and RDP to Windows hosts in business hours: admin-port fan-out and new edges every week",
            &["lateral_movement"],
            self.names(&[bastion]),
            Vec::new(),
            &[22, 3389],
        );
        let ssh = Pattern::poisson(4.0, Size::new(30_000.0, 1.2), Size::new(150_000.0, 1.6), 59);
        self.tcp(bastion, interfaces(&linux), 22, ssh, all.daily(13 * 3600, 10 * 3600).on(WEEKDAYS), tag);
        let rdp = Pattern::persistent(Size::new(3_000.0, 0.8), Size::new(30_000.0, 1.0), 1800);
        self.tcp(bastion, interfaces(&win), 3389, rdp, all.daily(15 * 3600, 1800).on(WEEKDAYS), tag);

        // The vulnerability scanner sweeps every host weekly, and every new host soon after it appears.
        let tag = self.lookalike(
            "vulnerability_scanner",
            "the security team's scanner probes 30 ports on every host on Sundays at 03:00 and each autoscaled host within the hour after it appears: RSTs, some REJECTs where SGs predate the scanner rule, huge internal fan-out",
            &["lateral_movement"],
            self.names(&[scanner]),
            Vec::new(),
            VULN_SCAN_PORTS,
        );
        let targets: Vec<u32> =
            hosts.iter().copied().filter(|&h| h != scanner).map(|h| self.s.enis[h as usize].ip).collect();
        let sweep_secs = (targets.len() * VULN_SCAN_PORTS.len()) as u64 / 20 + 60;
        let mut sunday = t0 + 6 * DAY;
        while sunday < test_end {
            let from = sunday + 3 * 3600;
            let ports = VULN_SCAN_PORTS.to_vec();
            let sweep = Pattern::Scan { targets: targets.clone(), ports, per_sec: 20.0, sg_open: true };
            self.scan(scanner, sweep, Schedule::span(from, from + sweep_secs), tag);
            sunday += 7 * DAY;
        }
        for &h in &hosts {
            let seen = self.first_seen(h);
            if seen > t0 {
                let from = seen + self.rng.range(600, 3600);
                let ports = VULN_SCAN_PORTS.to_vec();
                let sweep =
                    Pattern::Scan { targets: vec![self.s.enis[h as usize].ip], ports, per_sec: 5.0, sg_open: true };
                let schedule = Schedule::span(from, from + 60 + VULN_SCAN_PORTS.len() as u64 / 5);
                self.scan(scanner, sweep, schedule, tag);
            }
        }

        // Internet background radiation: scanners hit every public address; security groups reject it.
        let public: Vec<u32> = std::iter::once(bastion).chain(self.alb.iter().copied()).collect();
        let tag = self.lookalike(
            "internet_scanning",
            "random internet hosts probe the bastion and the load balancer on common ports; security groups REJECT them (REJECT-heavy, many peers, but inbound)",
            &["lateral_movement"],
            Vec::new(),
            self.names(&public),
            INTERNET_SCAN_PORTS,
        );
        for &p in &public {
            self.push(Activity {
                src: Endpoint::Internet { pool: POOL_SCANNERS },
                dsts: vec![Endpoint::Eni(p)],
                dports: INTERNET_SCAN_PORTS.to_vec(),
                proto: TCP,
                pattern: Pattern::poisson(90.0, Size::new(60.0, 0.0), Size::new(0.0, 0.0), 1),
                schedule: all,
                tag,
                rejected: true,
            });
        }

        // The new host: no history, launched in the test period.
        self.list_lookalike(LookAlike {
            id: "new_host".into(),
            description: "an autoscaled app host that first appears in the test period: every edge and peer it has is new".into(),
            fools: vec!["lateral_movement".into(), "exfiltration".into(), "beaconing".into()],
            hosts: self.names(&[new_host]),
            peers: Vec::new(),
            ports: Vec::new(),
            start: self.first_seen(new_host),
            end: test_end,
            in_training: false,
        });
        let autoscaled: Vec<u32> =
            hosts.iter().copied().filter(|&h| self.first_seen(h) > t0 && self.first_seen(h) < test_start).collect();
        if !autoscaled.is_empty() {
            self.list_lookalike(LookAlike {
                id: "autoscaled_hosts".into(),
                description: "web and app hosts launched by autoscaling during training: short history, same behaviour as their peers".into(),
                fools: vec!["lateral_movement".into(), "exfiltration".into()],
                hosts: self.names(&autoscaled),
                peers: Vec::new(),
                ports: Vec::new(),
                start: t0,
                end: test_start,
                in_training: true,
            });
        }

        self.deploys(&web, &app, &ci, new_host);
        self.migration(&db, &batch);
    }

    /// Deploys: CI SSHes into every web/app host on weekday afternoons; on the test
    /// period's deploy day a release also opens new edges (a new internal service and a new SaaS).
    fn deploys(&mut self, web: &[u32], app: &[u32], ci: &[u32], new_host: u32) {
        let (t0, test_start, test_end) = (self.s.train_start, self.s.test_start, self.s.test_end);
        let targets: Vec<u32> = web.iter().chain(app.iter()).copied().collect();
        let deploy_at = test_start + 15 * 3600 + self.rng.range(0, 3600);
        let deploy_at = deploy_at - deploy_at % 60;
        let flags = self.ext("feature-flag-saas", "saas");
        let mut peers = self.names(&targets);
        peers.push(ext_name(&flags));
        let tag = self.lookalike(
            "deploy_day",
            "CI SSHes into every web and app host to deploy on weekday afternoons; on the test deploy day the release makes every app host poll a new feature-flag SaaS every 30 s and call the new app host on 8443: many brand-new edges at once",
            &["lateral_movement", "beaconing"],
            self.names(ci).into_iter().chain(self.names(app)).collect(),
            peers,
            &[22, 443, 8443],
        );
        let tuesday_thursday = 0b0000_1010;
        let pushes =
            Pattern::poisson(targets.len() as f64 * 2.0, Size::new(2_000_000.0, 1.0), Size::new(20_000.0, 0.8), 40);
        for &c in ci {
            let weekly = Schedule::span(t0, test_end).daily(16 * 3600, 1800).on(tuesday_thursday);
            self.tcp(c, interfaces(&targets), 22, pushes.clone(), weekly, tag);
            self.tcp(c, interfaces(&targets), 22, pushes.clone(), Schedule::span(deploy_at - 1800, deploy_at), tag);
        }
        let release = Schedule::span(deploy_at, test_end);
        let flag_poll =
            CheckIn { period: 30.0, jitter: 0.05, out: Size::new(600.0, 0.05), inb: Size::new(2_000.0, 0.2) };
        let new_service = Pattern::poisson(20.0, Size::new(2_000.0, 0.8), Size::new(8_000.0, 1.0), 3);
        for &a in app.iter().filter(|&&a| a != new_host) {
            self.check_in(&[a], flags, 443, flag_poll, release, tag);
            self.tcp(a, vec![Endpoint::Eni(new_host)], 8443, new_service.clone(), release.seasonal(), tag);
        }
    }

    /// A one-off data migration in the test period: a batch host copies a database to
    /// another database host it never talked to, tens of GB in a few hours.
    fn migration(&mut self, db: &[u32], batch: &[u32]) {
        let (test_start, test_end) = (self.s.test_start, self.s.test_end);
        let src = *batch.last().unwrap_or(&db[0]);
        let dst = *db.last().unwrap_or(&db[0]);
        let from = test_start + 9 * 3600 + self.rng.range(0, 4 * 3600);
        let duration: u32 = 3 * 3600;
        let end = (from + u64::from(duration)).min(test_end);
        let total = self.rng.log_uniform(10e9, 25e9);
        let tag = self.list_lookalike(LookAlike {
            id: "data_migration".into(),
            description: "a one-off migration in the test period: a batch host streams 10-25 GB into a database host it never talked to before (new internal edge, huge volume)".into(),
            fools: vec!["lateral_movement".into(), "exfiltration".into()],
            hosts: self.names(&[src]),
            peers: self.names(&[dst]),
            ports: vec![5432],
            start: from,
            end,
            in_training: false,
        });
        let copy = Pattern::persistent(Size::new(total / f64::from(duration), 0.2), Size::new(20_000.0, 0.3), 3600);
        self.tcp(src, vec![Endpoint::Eni(dst)], 5432, copy, Schedule::span(from, end), tag);
    }

    // ---- attacks --------------------------------------------------------------------

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

    fn attacks(&mut self) {
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

/// The interfaces `hosts` as activity endpoints.
fn interfaces(hosts: &[u32]) -> Vec<Endpoint> {
    hosts.iter().map(|&h| Endpoint::Eni(h)).collect()
}

fn ext_name(e: &Endpoint) -> String {
    match e {
        Endpoint::Ext { ip: v, .. } => ip(*v),
        _ => String::new(),
    }
}

/// The head of every beacon label's note: `c2 beacon every P s ±J% to PEER:PORT` (tests
/// read the period from it).
fn beacon_note(c: &CheckIn, peer: &str, port: u16) -> String {
    format!("c2 beacon every {} s ±{:.0}% to {peer}:{port}", c.period, c.jitter * 100.0)
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
