//! The simulated VPC: subnets, network interfaces, roles, and the activities that make
//! traffic between them.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// What a monitored host does; it decides its traffic and its security-group rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Web,
    App,
    Db,
    Batch,
    Bastion,
    Monitoring,
    Ci,
    Windows,
    Scanner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::App => "app",
            Role::Db => "db",
            Role::Batch => "batch",
            Role::Bastion => "bastion",
            Role::Monitoring => "monitoring",
            Role::Ci => "ci",
            Role::Windows => "windows",
            Role::Scanner => "scanner",
        }
    }

    /// Ports a host of this role listens on (a probe to any other port that the
    /// security group lets through is answered with a reset).
    pub fn listens(self, port: u16) -> bool {
        let common = matches!(port, 22 | 9100);
        common
            || match self {
                Role::Web => matches!(port, 80 | 8080),
                Role::App => matches!(port, 8080 | 8443 | 9000),
                Role::Db => matches!(port, 5432 | 6379),
                Role::Windows => matches!(port, 53 | 88 | 135 | 139 | 389 | 445 | 3389 | 5985 | 5986),
                Role::Monitoring => matches!(port, 9090 | 3000),
                Role::Ci => matches!(port, 8080),
                Role::Batch | Role::Bastion | Role::Scanner => false,
            }
    }
}

/// The kind of a network interface the flow log covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EniKind {
    Host(Role),
    NatGateway,
    LoadBalancer,
    /// A Lambda function's VPC interface: mostly idle, so it is where NODATA shows up.
    Lambda,
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub name: &'static str,
    pub id: String,
    /// Network address.
    pub base: u32,
    pub prefix: u8,
    pub az_id: &'static str,
    pub public: bool,
}

impl Subnet {
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }

    /// Usable host addresses (AWS reserves the first four and the last one).
    pub fn usable(&self) -> std::ops::Range<u32> {
        let size = 1u32 << (32 - self.prefix);
        self.base + 4..self.base + size - 1
    }
}

/// One network interface covered by the flow log.
#[derive(Debug, Clone)]
pub struct Eni {
    pub kind: EniKind,
    pub name: String,
    pub interface_id: String,
    /// `None` for requester-managed interfaces (NAT gateway, load balancer, Lambda).
    pub instance_id: Option<String>,
    pub subnet: usize,
    pub ip: u32,
    /// Public address for interfaces that reach the internet gateway directly.
    pub public_ip: Option<u32>,
    /// Epoch seconds the interface appears (autoscaling); traffic starts no earlier.
    pub first_seen: u64,
}

impl Eni {
    pub fn role(&self) -> Option<Role> {
        match self.kind {
            EniKind::Host(role) => Some(role),
            _ => None,
        }
    }
}

/// The AWS service an external address belongs to (`pkt-*-aws-service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Svc {
    None,
    S3,
    Amazon,
    Ec2,
    CloudFront,
}

impl Svc {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Svc::None => None,
            Svc::S3 => Some("S3"),
            Svc::Amazon => Some("AMAZON"),
            Svc::Ec2 => Some("EC2"),
            Svc::CloudFront => Some("CLOUDFRONT"),
        }
    }
}

/// One end of an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A covered interface, by index into the scenario's interfaces.
    Eni(u32),
    /// An internet address. `gateway` marks S3 addresses reached through the VPC's
    /// gateway endpoint instead of the NAT gateway.
    Ext { ip: u32, svc: Svc, gateway: bool },
    /// A different internet address for every event, drawn from a heavy-tailed
    /// population (`pool` keys the population: clients, scanners ...).
    Internet { pool: u8 },
    /// A random address in an S3 range reached through the gateway endpoint (S3
    /// answers from many addresses; every connection may hit a new one).
    S3Range { base: u32, size: u32 },
}

/// A window of time the activity may run in.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub from: u64,
    pub to: u64,
    /// Seconds after UTC midnight and duration of a daily slot, when the activity is daily.
    pub daily: Option<(u32, u32)>,
    /// Days it runs on, bit 0 = Monday.
    pub weekdays: u8,
    /// Active seconds then sleeping seconds, repeating from `from` (beacon active/sleep cycles).
    pub cycle: Option<(u32, u32)>,
    /// Whether volumes follow the diurnal and weekly curve.
    pub seasonal: bool,
}

pub const EVERY_DAY: u8 = 0x7f;
pub const WEEKDAYS: u8 = 0x1f;

impl Schedule {
    pub fn span(from: u64, to: u64) -> Schedule {
        Schedule { from, to, daily: None, weekdays: EVERY_DAY, cycle: None, seasonal: false }
    }

    pub fn seasonal(mut self) -> Schedule {
        self.seasonal = true;
        self
    }

    pub fn daily(mut self, offset: u32, duration: u32) -> Schedule {
        self.daily = Some((offset, duration));
        self
    }

    pub fn on(mut self, weekdays: u8) -> Schedule {
        self.weekdays = weekdays;
        self
    }

    /// Whether the activity runs at `t`.
    pub fn active(&self, t: u64) -> bool {
        if t < self.from || t >= self.to {
            return false;
        }
        let day = t / 86_400;
        // 1970-01-01 was a Thursday (bit 3 with Monday = bit 0).
        let weekday = (day + 3) % 7;
        if self.weekdays & (1 << weekday) == 0 {
            return false;
        }
        if let Some((offset, duration)) = self.daily {
            let into = (t % 86_400 + 86_400 - u64::from(offset)) % 86_400;
            if into >= u64::from(duration) {
                return false;
            }
        }
        if let Some((on, off)) = self.cycle {
            let period = u64::from(on) + u64::from(off);
            if period > 0 && (t - self.from) % period >= u64::from(on) {
                return false;
            }
        }
        true
    }

    /// A cheap test that the activity may run somewhere in `[lo, hi)`.
    pub fn may_run(&self, lo: u64, hi: u64) -> bool {
        hi > self.from && lo < self.to
    }
}

/// Bytes per event: log-normal around a median.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub median: f64,
    pub sigma: f64,
}

impl Size {
    pub const fn new(median: f64, sigma: f64) -> Size {
        Size { median, sigma }
    }
}

/// How an activity turns into connections.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// One short connection per beat at `phase + k*period`, each beat displaced by up to
    /// `jitter*period/2` either way.
    Periodic { period: f64, jitter: f64, phase: f64, out: Size, inb: Size },
    /// Long-lived connections, one record pair per aggregation interval, a new source
    /// port every `reconnect` seconds. With `beat`, data flows only on beats (a beacon
    /// over one persistent connection); otherwise `out`/`inb` are bytes per second.
    Persistent { out: Size, inb: Size, reconnect: u32, beat: Option<(f64, f64)> },
    /// Independent short connections at `per_hour` (scaled by the seasonal curve).
    Poisson { per_hour: f64, out: Size, inb: Size, max_secs: u32 },
    /// Probes of every (target, port) pair, `per_sec` probes a second from `from`.
    Scan { targets: Vec<u32>, ports: Vec<u16>, per_sec: f64, sg_open: bool },
}

// One-line constructors, so that a scenario description states each activity's
// numbers on one line instead of spelling out every field name.
impl Pattern {
    pub fn periodic(period: f64, jitter: f64, phase: f64, out: Size, inb: Size) -> Pattern {
        Pattern::Periodic { period, jitter, phase, out, inb }
    }

    /// Long-lived connections carrying `out`/`inb` bytes per second, no beats.
    pub fn persistent(out: Size, inb: Size, reconnect: u32) -> Pattern {
        Pattern::Persistent { out, inb, reconnect, beat: None }
    }

    pub fn poisson(per_hour: f64, out: Size, inb: Size, max_secs: u32) -> Pattern {
        Pattern::Poisson { per_hour, out, inb, max_secs }
    }
}

/// Who an activity belongs to: background, a look-alike, or an attack (for accounting and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    Background,
    LookAlike(u16),
    Attack(u16),
}

impl Tag {
    pub fn code(self) -> u16 {
        match self {
            Tag::Background => 0,
            Tag::LookAlike(i) => 1 + i,
            Tag::Attack(i) => 0x8000 | i,
        }
    }

    pub fn from_code(code: u16) -> Tag {
        match code {
            0 => Tag::Background,
            c if c & 0x8000 != 0 => Tag::Attack(c & 0x7fff),
            c => Tag::LookAlike(c - 1),
        }
    }
}

/// A source of traffic: an initiator, one or several responders (chosen per event), ports, a pattern and a schedule.
#[derive(Debug, Clone)]
pub struct Activity {
    pub src: Endpoint,
    pub dsts: Vec<Endpoint>,
    pub dports: Vec<u16>,
    pub proto: u8,
    pub pattern: Pattern,
    pub schedule: Schedule,
    pub tag: Tag,
    /// Security groups drop it: only the inbound record, with action REJECT.
    pub rejected: bool,
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_daily_weekday_and_cycle() {
        // 2026-11-02 is a Monday.
        let monday = (flowhound_flowlog::time::days_from_civil(2026, 11, 2) * 86_400) as u64;
        assert_eq!((monday / 86_400 + 3) % 7, 0);
        let s = Schedule::span(monday, monday + 7 * 86_400).daily(3600, 1800).on(WEEKDAYS);
        assert!(s.active(monday + 3600));
        assert!(s.active(monday + 5399));
        assert!(!s.active(monday + 5400));
        assert!(!s.active(monday + 3599));
        // Saturday is off.
        assert!(!s.active(monday + 5 * 86_400 + 4000));
        assert!(s.active(monday + 4 * 86_400 + 4000));
        let mut c = Schedule::span(monday, monday + 86_400);
        c.cycle = Some((100, 200));
        assert!(c.active(monday + 99));
        assert!(!c.active(monday + 100));
        assert!(c.active(monday + 300));
        assert!(!c.active(monday + 86_400));
    }

    #[test]
    fn tag_codes_round_trip() {
        for tag in [Tag::Background, Tag::LookAlike(0), Tag::LookAlike(41), Tag::Attack(0), Tag::Attack(7)] {
            assert_eq!(Tag::from_code(tag.code()), tag);
        }
    }

    #[test]
    fn subnet_usable_range_skips_reserved() {
        let s = Subnet {
            name: "app",
            id: "subnet-1".into(),
            base: u32::from(Ipv4Addr::new(10, 20, 12, 0)),
            prefix: 22,
            az_id: "use1-az1",
            public: false,
        };
        assert_eq!(s.cidr(), "10.20.12.0/22");
        let r = s.usable();
        assert_eq!(Ipv4Addr::from(r.start), Ipv4Addr::new(10, 20, 12, 4));
        assert_eq!(Ipv4Addr::from(r.end - 1), Ipv4Addr::new(10, 20, 15, 254));
        assert!(Role::Windows.listens(445) && !Role::Web.listens(445) && Role::Web.listens(22));
    }
}
