//! The legitimate look-alikes: workload behaviours that resemble an attack, each listed
//! in scenario.json with what it would fool. Every one is a [`Brief`] (what it is) and
//! the activities generating it.

use super::{Builder, CheckIn, ExternalPeer, LookAlike, POOL_SCANNERS, ext_name, ip, public_ip};
use crate::DAY;
use crate::model::{Activity, Endpoint, Pattern, Role, Schedule, Size, Svc, TCP, Tag, UDP, WEEKDAYS};

/// Ports an internet scanner tries on public addresses.
const INTERNET_SCAN_PORTS: &[u16] = &[22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200];
/// Ports the VPC's vulnerability scanner checks on every host.
const VULN_SCAN_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 88, 110, 135, 139, 389, 443, 445, 1433, 2049, 3000, 3306, 3389, 5432, 5900, 5985, 5986,
    6379, 8080, 8443, 9000, 9090, 9100, 9200, 27017,
];

/// What a look-alike is, what a naive detector would fire on and its ports: the part of
/// its [`LookAlike`] listing that does not depend on the topology.
struct Brief {
    id: &'static str,
    description: &'static str,
    fools: &'static [&'static str],
    ports: &'static [u16],
}

// The look-alikes, in the order scenario.json lists them.

const NTP_POLLING: Brief = Brief {
    id: "ntp_polling",
    description: "every host polls two public NTP servers every 1024 s with zero jitter (UDP 123, 76-byte packets)",
    fools: &["beaconing"],
    ports: &[123],
};

const EDR_AGENT_CHECKIN: Brief = Brief {
    id: "edr_agent_checkin",
    description: "every host's security agent opens a new HTTPS connection to one shared SaaS endpoint every 300 s (±2%) with near-constant payloads",
    fools: &["beaconing"],
    ports: &[443],
};

const AWS_AGENT_POLLING: Brief = Brief {
    id: "aws_agent_polling",
    description: "the SSM agent on every host long-polls the AWS API (pkt-dst-aws-service AMAZON) every 300 s through the NAT gateway",
    fools: &["beaconing"],
    ports: &[443],
};

const MONITORING_SCRAPES: Brief = Brief {
    id: "monitoring_scrapes",
    description: "the monitoring host scrapes node exporters on every host every 15 s (TCP 9100) over persistent connections: maximal internal fan-out, perfectly periodic",
    fools: &["lateral_movement", "beaconing"],
    ports: &[9100],
};

const LB_HEALTH_CHECKS: Brief = Brief {
    id: "lb_health_checks",
    description: "both load balancer nodes open a new connection to every web host every 60 s (GET /health on 8080)",
    fools: &["beaconing", "lateral_movement"],
    ports: &[8080],
};

const DNS_FORWARDING: Brief = Brief {
    id: "dns_forwarding",
    description: "the domain controller forwards DNS to two public resolvers (UDP 53), including a cache refresh every 30 s",
    fools: &["beaconing"],
    ports: &[53],
};

const LICENCE_CHECKIN: Brief = Brief {
    id: "licence_checkin",
    description: "only the Windows hosts check in with a vendor licence server every 300 s (±10%): periodic AND low-prevalence external, in training too",
    fools: &["beaconing"],
    ports: &[443],
};

const STATUS_WEBHOOK: Brief = Brief {
    id: "status_webhook",
    description: "one app host posts a status message to a chat webhook every 300 s (±20%), and bursts of alerts in business hours",
    fools: &["beaconing"],
    ports: &[443],
};

const OS_UPDATE_CDN: Brief = Brief {
    id: "os_update_cdn",
    description: "every host checks for OS updates every hour (±2%) against a CDN whose address rotates per request, and downloads 50-300 MB once a day",
    fools: &["beaconing", "exfiltration"],
    ports: &[443],
};

const NIGHTLY_BACKUP_S3: Brief = Brief {
    id: "nightly_backup_s3",
    description: "every database host uploads a 2-8 GB backup to S3 at about 01:00 UTC over four parallel connections (pkt-dst-aws-service S3, gateway endpoint)",
    fools: &["exfiltration"],
    ports: &[443],
};

const PARTNER_SFTP_CRON: Brief = Brief {
    id: "partner_sftp_cron",
    description: "a batch host uploads 150-300 MB by SFTP to a partner's IP that nobody else contacts, every night at 02:15 (a daily beacon and a volume spike to a rare IP)",
    fools: &["exfiltration", "beaconing"],
    ports: &[22],
};

const CI_ARTIFACT_UPLOADS: Brief = Brief {
    id: "ci_artifact_uploads",
    description: "CI hosts push 50-500 MB build artefacts to S3 several times a day, at irregular hours",
    fools: &["exfiltration"],
    ports: &[443],
};

const BASTION_FANOUT: Brief = Brief {
    id: "bastion_fanout",
    description: "admins on the bastion SSH to many Linux hosts and RDP to Windows hosts in business hours: admin-port fan-out and new edges every week",
    fools: &["lateral_movement"],
    ports: &[22, 3389],
};

const VULNERABILITY_SCANNER: Brief = Brief {
    id: "vulnerability_scanner",
    description: "the security team's scanner probes 30 ports on every host on Sundays at 03:00 and each autoscaled host within the hour after it appears: RSTs, some REJECTs where SGs predate the scanner rule, huge internal fan-out",
    fools: &["lateral_movement"],
    ports: VULN_SCAN_PORTS,
};

const INTERNET_SCANNING: Brief = Brief {
    id: "internet_scanning",
    description: "random internet hosts probe the bastion and the load balancer on common ports; security groups REJECT them (REJECT-heavy, many peers, but inbound)",
    fools: &["lateral_movement"],
    ports: INTERNET_SCAN_PORTS,
};

const NEW_HOST: Brief = Brief {
    id: "new_host",
    description: "an autoscaled app host that first appears in the test period: every edge and peer it has is new",
    fools: &["lateral_movement", "exfiltration", "beaconing"],
    ports: &[],
};

const AUTOSCALED_HOSTS: Brief = Brief {
    id: "autoscaled_hosts",
    description: "web and app hosts launched by autoscaling during training: short history, same behaviour as their peers",
    fools: &["lateral_movement", "exfiltration"],
    ports: &[],
};

const DEPLOY_DAY: Brief = Brief {
    id: "deploy_day",
    description: "CI SSHes into every web and app host to deploy on weekday afternoons; on the test deploy day the release makes every app host poll a new feature-flag SaaS every 30 s and call the new app host on 8443: many brand-new edges at once",
    fools: &["lateral_movement", "beaconing"],
    ports: &[22, 443, 8443],
};

const DATA_MIGRATION: Brief = Brief {
    id: "data_migration",
    description: "a one-off migration in the test period: a batch host streams 10-25 GB into a database host it never talked to before (new internal edge, huge volume)",
    fools: &["lateral_movement", "exfiltration"],
    ports: &[5432],
};

impl Builder {
    /// Lists the look-alike `brief`, initiated by `hosts` with `peers` (empty when too
    /// many to list), running through training and test so a baseline can learn it, and
    /// returns the tag its activities carry.
    fn lookalike(&mut self, brief: &Brief, hosts: &[u32], peers: &[Endpoint]) -> Tag {
        let span = (self.s.train_start, self.s.test_end);
        self.list_lookalike(brief, hosts, peers, span, true)
    }

    /// Lists the look-alike `brief` over `(start, end)`, and returns the tag its
    /// activities carry.
    fn list_lookalike(
        &mut self,
        brief: &Brief,
        hosts: &[u32],
        peers: &[Endpoint],
        (start, end): (u64, u64),
        in_training: bool,
    ) -> Tag {
        let listing = LookAlike {
            id: brief.id.into(),
            description: brief.description.into(),
            fools: brief.fools.iter().map(|f| f.to_string()).collect(),
            hosts: self.names(hosts),
            peers: peers.iter().map(|p| self.peer_name(p)).collect(),
            ports: brief.ports.to_vec(),
            start,
            end,
            in_training,
        };
        let idx = self.s.lookalikes.len() as u16;
        self.s.lookalikes.push(listing);
        Tag::LookAlike(idx)
    }

    /// A look-alike's peer as listed: its address.
    fn peer_name(&self, peer: &Endpoint) -> String {
        match *peer {
            Endpoint::Eni(e) => self.s.ip_string(e),
            _ => ext_name(peer),
        }
    }

    /// Agents on each of `srcs` checking in with the external `peer` on TCP `port`, all the
    /// time (see [`Builder::check_in`]), listed as the look-alike `brief`.
    fn agent_check_ins(&mut self, brief: &Brief, srcs: &[u32], peer: Endpoint, port: u16, c: CheckIn) {
        let tag = self.lookalike(brief, srcs, &[peer]);
        let all = self.all_time();
        self.check_in(srcs, peer, port, c, all, tag);
    }

    /// Lists the look-alikes and generates their activities. The order is part of what a
    /// seed gives: it decides the builder's random draws and the listing in scenario.json.
    pub(super) fn lookalikes(&mut self) {
        let hosts = self.hosts();
        let web = self.role(Role::Web);
        let app = self.role(Role::App);
        let db = self.role(Role::Db);
        let batch = self.role(Role::Batch);
        let ci = self.role(Role::Ci);
        let new_host = *app.last().unwrap_or(&hosts[0]);
        self.periodic_lookalikes(&hosts);
        self.os_updates(&hosts);
        self.upload_lookalikes();
        self.fan_out_lookalikes(&hosts);
        self.new_host_lookalikes(&hosts, new_host);
        self.deploys(&web, &app, &ci, new_host);
        self.migration(&db, &batch);
    }

    /// Periodic connections to the same peers that would pass for beaconing: time sync,
    /// agents, scrapes, health checks, DNS refreshes, a licence check and a webhook.
    fn periodic_lookalikes(&mut self, hosts: &[u32]) {
        let all = self.all_time();
        let web = self.role(Role::Web);
        let app = self.role(Role::App);
        let win = self.role(Role::Windows);
        let monitoring = self.role(Role::Monitoring)[0];

        // NTP: every host polls two pool servers at a fixed interval, to the second.
        let ntp: Vec<Endpoint> = (0..4).map(|i| self.ext(&format!("ntp-pool-{}", i + 1), "ntp")).collect();
        let tag = self.lookalike(&NTP_POLLING, hosts, &ntp);
        for &h in hosts {
            for k in 0..2 {
                let server = ntp[(h as usize + k) % ntp.len()];
                let phase = self.rng.uniform(0.0, 1024.0);
                let poll = Pattern::periodic(1024.0, 0.0, phase, Size::new(76.0, 0.0), Size::new(76.0, 0.0));
                self.activity(Endpoint::Eni(h), vec![server], vec![123], UDP, poll, all, tag);
            }
        }

        // The EDR agent on every host checks in with one shared SaaS endpoint.
        let edr = self.ext("edr-agent-cloud", "saas");
        let checkin =
            CheckIn { period: 300.0, jitter: 0.02, out: Size::new(1_400.0, 0.05), inb: Size::new(700.0, 0.05) };
        self.agent_check_ins(&EDR_AGENT_CHECKIN, hosts, edr, 443, checkin);

        // AWS agents (SSM) poll the regional API.
        let ssm = self.aws_ext("ssm-endpoint", Svc::Amazon);
        let poll = CheckIn { period: 300.0, jitter: 0.05, out: Size::new(2_200.0, 0.1), inb: Size::new(4_500.0, 0.2) };
        self.agent_check_ins(&AWS_AGENT_POLLING, hosts, ssm, 443, poll);

        // Monitoring scrapes every host every 15 s over kept-alive connections.
        let others: Vec<u32> = hosts.iter().copied().filter(|&h| h != monitoring).collect();
        let tag = self.lookalike(&MONITORING_SCRAPES, &[monitoring], &interfaces(&others));
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
        let albs = self.alb.clone();
        let tag = self.lookalike(&LB_HEALTH_CHECKS, &albs, &interfaces(&web));
        let health = CheckIn { period: 60.0, jitter: 0.0, out: Size::new(180.0, 0.0), inb: Size::new(250.0, 0.02) };
        for &alb in &albs {
            for &w in &web {
                self.check_in(&[alb], Endpoint::Eni(w), 8080, health, all, tag);
            }
        }

        // DNS: the domain controller forwards to public resolvers.
        let resolvers: Vec<Endpoint> = (0..2).map(|i| self.ext(&format!("public-dns-{}", i + 1), "dns")).collect();
        let dc = win[0];
        let tag = self.lookalike(&DNS_FORWARDING, &[dc], &resolvers);
        let refresh = Pattern::periodic(30.0, 0.1, 7.0, Size::new(80.0, 0.2), Size::new(160.0, 0.4));
        self.activity(Endpoint::Eni(dc), resolvers.clone(), vec![53], UDP, refresh, all, tag);
        let lookups = Pattern::poisson(120.0, Size::new(75.0, 0.2), Size::new(180.0, 0.5), 1);
        self.activity(Endpoint::Eni(dc), resolvers, vec![53], UDP, lookups, all.seasonal(), tag);

        // A licence server only the Windows hosts talk to: periodic, low prevalence.
        let licence = self.ext("licence-server", "saas");
        let checkin =
            CheckIn { period: 300.0, jitter: 0.1, out: Size::new(900.0, 0.05), inb: Size::new(1_300.0, 0.05) };
        self.agent_check_ins(&LICENCE_CHECKIN, &win, licence, 443, checkin);

        // A status reporter webhook: one app host, a rare SaaS, every 5 minutes.
        let webhook = self.ext("chat-webhook", "saas");
        let reporter = app[0];
        let tag = self.lookalike(&STATUS_WEBHOOK, &[reporter], &[webhook]);
        let status = Pattern::periodic(300.0, 0.2, 40.0, Size::new(1_800.0, 0.2), Size::new(600.0, 0.1));
        self.tcp(reporter, vec![webhook], 443, status, all, tag);
        let alerts = Pattern::poisson(6.0, Size::new(2_500.0, 0.5), Size::new(600.0, 0.1), 2);
        self.tcp(reporter, vec![webhook], 443, alerts, all.daily(14 * 3600, 8 * 3600).on(WEEKDAYS), tag);
    }

    /// OS updates: an hourly check against a CDN whose address rotates, and a daily download.
    fn os_updates(&mut self, hosts: &[u32]) {
        let all = self.all_time();
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
        let tag = self.lookalike(&OS_UPDATE_CDN, hosts, &[]);
        for &h in hosts {
            let phase = self.rng.uniform(0.0, 3600.0);
            let check = Pattern::periodic(3600.0, 0.02, phase, Size::new(800.0, 0.1), Size::new(3_000.0, 0.3));
            self.tcp(h, cdn.clone(), 443, check, all, tag);
            let offset = self.rng.range(0, 86_400 - 900) as u32;
            let size = self.rng.log_uniform(50e6, 300e6);
            let mirror = cdn[self.rng.index(cdn.len())];
            let download = Pattern::persistent(Size::new(2_000.0, 0.3), Size::new(size / 600.0, 0.2), 600);
            self.tcp(h, vec![mirror], 443, download, all.daily(offset, 600), tag);
        }
    }

    /// Large uploads that would pass for exfiltration: database backups, a partner's
    /// nightly SFTP, CI artefacts.
    fn upload_lookalikes(&mut self) {
        let all = self.all_time();
        let db = self.role(Role::Db);
        let batch = self.role(Role::Batch);
        let ci = self.role(Role::Ci);

        // Nightly database backups to S3: several GB each night over parallel connections.
        let tag = self.lookalike(&NIGHTLY_BACKUP_S3, &db, &[]);
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
        let tag = self.lookalike(&PARTNER_SFTP_CRON, &[etl], &[partner]);
        let size = self.rng.uniform(150e6, 300e6);
        let upload = Pattern::persistent(Size::new(size / 600.0, 0.3), Size::new(3_000.0, 0.3), 600);
        self.tcp(etl, vec![partner], 22, upload, all.daily(2 * 3600 + 900, 600), tag);

        // CI uploads build artefacts to S3 at irregular hours.
        let tag = self.lookalike(&CI_ARTIFACT_UPLOADS, &ci, &[]);
        for &c in &ci {
            let s3 = self.s3();
            let uploads = Pattern::poisson(0.6, Size::new(150e6, 0.8), Size::new(50_000.0, 0.5), 59);
            self.tcp(c, vec![s3], 443, uploads, all.seasonal(), tag);
        }
    }

    /// Fan-out and new internal edges that would pass for lateral movement: admins on the
    /// bastion, the vulnerability scanner, and internet scanners the security groups reject.
    fn fan_out_lookalikes(&mut self, hosts: &[u32]) {
        let all = self.all_time();
        let (t0, test_end) = (self.s.train_start, self.s.test_end);
        let win = self.role(Role::Windows);
        let bastion = self.role(Role::Bastion)[0];
        let scanner = self.role(Role::Scanner)[0];

        // The bastion SSHes to many hosts, RDPs to Windows hosts.
        let linux: Vec<u32> = hosts
            .iter()
            .copied()
            .filter(|&h| !matches!(self.s.enis[h as usize].role(), Some(Role::Windows | Role::Bastion)))
            .collect();
        let tag = self.lookalike(&BASTION_FANOUT, &[bastion], &[]);
        let ssh = Pattern::poisson(4.0, Size::new(30_000.0, 1.2), Size::new(150_000.0, 1.6), 59);
        self.tcp(bastion, interfaces(&linux), 22, ssh, all.daily(13 * 3600, 10 * 3600).on(WEEKDAYS), tag);
        let rdp = Pattern::persistent(Size::new(3_000.0, 0.8), Size::new(30_000.0, 1.0), 1800);
        self.tcp(bastion, interfaces(&win), 3389, rdp, all.daily(15 * 3600, 1800).on(WEEKDAYS), tag);

        // The vulnerability scanner sweeps every host weekly, and every new host soon after it appears.
        let tag = self.lookalike(&VULNERABILITY_SCANNER, &[scanner], &[]);
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
        for &h in hosts {
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
        let tag = self.lookalike(&INTERNET_SCANNING, &[], &interfaces(&public));
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
    }

    /// Hosts with little or no history, whose every edge and peer is new.
    fn new_host_lookalikes(&mut self, hosts: &[u32], new_host: u32) {
        let (t0, test_start, test_end) = (self.s.train_start, self.s.test_start, self.s.test_end);
        // The new host: no history, launched in the test period.
        let span = (self.first_seen(new_host), test_end);
        self.list_lookalike(&NEW_HOST, &[new_host], &[], span, false);
        let autoscaled: Vec<u32> =
            hosts.iter().copied().filter(|&h| self.first_seen(h) > t0 && self.first_seen(h) < test_start).collect();
        if !autoscaled.is_empty() {
            self.list_lookalike(&AUTOSCALED_HOSTS, &autoscaled, &[], (t0, test_start), true);
        }
    }

    /// Deploys: CI SSHes into every web/app host on weekday afternoons; on the test
    /// period's deploy day a release also opens new edges (a new internal service and a new SaaS).
    fn deploys(&mut self, web: &[u32], app: &[u32], ci: &[u32], new_host: u32) {
        let (t0, test_start, test_end) = (self.s.train_start, self.s.test_start, self.s.test_end);
        let targets: Vec<u32> = web.iter().chain(app.iter()).copied().collect();
        let deploy_at = test_start + 15 * 3600 + self.rng.range(0, 3600);
        let deploy_at = deploy_at - deploy_at % 60;
        let flags = self.ext("feature-flag-saas", "saas");
        let mut peers = interfaces(&targets);
        peers.push(flags);
        let tag = self.lookalike(&DEPLOY_DAY, &[ci, app].concat(), &peers);
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
        let tag = self.list_lookalike(&DATA_MIGRATION, &[src], &[Endpoint::Eni(dst)], (from, end), false);
        let copy = Pattern::persistent(Size::new(total / f64::from(duration), 0.2), Size::new(20_000.0, 0.3), 3600);
        self.tcp(src, vec![Endpoint::Eni(dst)], 5432, copy, Schedule::span(from, end), tag);
    }
}

/// The interfaces `hosts` as activity endpoints.
fn interfaces(hosts: &[u32]) -> Vec<Endpoint> {
    hosts.iter().map(|&h| Endpoint::Eni(h)).collect()
}
