//! The compact flow record and its small value types.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::intern::Sym;

/// An IPv4 or IPv6 address held as one number: IPv4 addresses are stored IPv4-mapped
/// (`::ffff:a.b.c.d`), so comparisons, hashing and ordering are plain integer operations.
///
/// Aligned to 8 bytes, not `u128`'s 16: every table key and accumulator holding addresses
/// (host-window, edge, pair keys, counting conditions) would otherwise carry up to 15
/// bytes of padding per address, a fifth of the feature tables' memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(Rust, packed(8))]
pub struct Addr(pub u128);

const V4_MAPPED_PREFIX: u128 = 0xffff_0000_0000;

impl Addr {
    /// An IPv4 address given as its 32-bit number.
    pub const fn from_ipv4_bits(bits: u32) -> Addr {
        Addr(V4_MAPPED_PREFIX | bits as u128)
    }

    /// The 32-bit number of an IPv4 address, or `None` for a genuine IPv6 address.
    pub const fn ipv4_bits(self) -> Option<u32> {
        if self.0 >> 32 == V4_MAPPED_PREFIX >> 32 { Some(self.0 as u32) } else { None }
    }

    /// True for addresses that were IPv4 in the log.
    pub const fn is_ipv4(self) -> bool {
        self.ipv4_bits().is_some()
    }

    /// The standard-library form of the address.
    pub fn to_ip(self) -> IpAddr {
        match self.ipv4_bits() {
            Some(bits) => IpAddr::V4(Ipv4Addr::from(bits)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::from_ipv4_bits(u32::from(v4)),
            IpAddr::V6(v6) => Addr(u128::from(v6)),
        }
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(ip: Ipv4Addr) -> Addr {
        Addr::from_ipv4_bits(u32::from(ip))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

/// `action`: whether security groups and network ACLs let the traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Accept,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// `log-status`: `OK`, or a record that stands for missing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogStatus {
    Ok,
    /// No traffic on the interface during the window.
    NoData,
    /// Some records of the window were skipped by AWS; counts for it are incomplete.
    SkipData,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Ok => "OK",
            LogStatus::NoData => "NODATA",
            LogStatus::SkipData => "SKIPDATA",
        }
    }
}

/// `flow-direction`, relative to the interface that captured the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowDirection {
    Ingress,
    Egress,
}

impl FlowDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::Ingress => "ingress",
            FlowDirection::Egress => "egress",
        }
    }
}

/// `type`: the traffic type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrafficType {
    Ipv4,
    Ipv6,
    Efa,
}

impl TrafficType {
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficType::Ipv4 => "IPv4",
            TrafficType::Ipv6 => "IPv6",
            TrafficType::Efa => "EFA",
        }
    }
}

/// The identifiers of the Amazon ECS fields (version 7), interned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EcsFields {
    pub cluster_arn: Sym,
    pub cluster_name: Sym,
    pub container_instance_arn: Sym,
    pub container_instance_id: Sym,
    pub container_id: Sym,
    pub second_container_id: Sym,
    pub service_name: Sym,
    pub task_definition_arn: Sym,
    pub task_arn: Sym,
    pub task_id: Sym,
}

/// One flow-log record: one 5-tuple on one network interface during one aggregation
/// interval. Every field is optional because a custom format may omit it and `-`
/// marks a value that does not apply. String identifiers are [`Sym`]s of the
/// [`Interner`](crate::Interner) of the object the record was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlowRecord {
    pub version: Option<u8>,
    pub account_id: Sym,
    pub interface_id: Sym,
    pub srcaddr: Option<Addr>,
    pub dstaddr: Option<Addr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Unix seconds of the first packet of the flow in the window.
    pub start: Option<u64>,
    /// Unix seconds of the last packet of the flow in the window.
    pub end: Option<u64>,
    pub action: Option<Action>,
    pub log_status: Option<LogStatus>,
    pub vpc_id: Sym,
    pub subnet_id: Sym,
    pub instance_id: Sym,
    /// OR of the TCP flags seen in the window (FIN 1, SYN 2, RST 4, SYN-ACK 18).
    pub tcp_flags: Option<u16>,
    pub traffic_type: Option<TrafficType>,
    pub pkt_srcaddr: Option<Addr>,
    pub pkt_dstaddr: Option<Addr>,
    pub region: Sym,
    pub az_id: Sym,
    pub sublocation_type: Sym,
    pub sublocation_id: Sym,
    pub pkt_src_aws_service: Sym,
    pub pkt_dst_aws_service: Sym,
    pub flow_direction: Option<FlowDirection>,
    pub traffic_path: Option<u8>,
    pub ecs: EcsFields,
    pub reject_reason: Sym,
    pub resource_id: Sym,
    pub encryption_status: Option<u8>,
}

impl FlowRecord {
    /// True for NODATA and SKIPDATA records, which carry no flow.
    pub fn is_placeholder(&self) -> bool {
        matches!(self.log_status, Some(LogStatus::NoData | LogStatus::SkipData))
    }

    /// The packet-level source address when the log has it, else the interface-level one.
    pub fn packet_src(&self) -> Option<Addr> {
        self.pkt_srcaddr.or(self.srcaddr)
    }

    /// The packet-level destination address when the log has it, else the interface-level one.
    pub fn packet_dst(&self) -> Option<Addr> {
        self.pkt_dstaddr.or(self.dstaddr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_mapped_and_round_trips() {
        let ip: Ipv4Addr = "10.20.4.17".parse().unwrap();
        let addr = Addr::from(ip);
        assert!(addr.is_ipv4());
        assert_eq!(addr.ipv4_bits(), Some(u32::from(ip)));
        assert_eq!(addr.to_string(), "10.20.4.17");
        assert_eq!(addr.to_ip(), IpAddr::V4(ip));
    }

    #[test]
    fn ipv6_is_kept_whole() {
        let ip: Ipv6Addr = "2001:db8:1234:a100:8d6e:3477:df66:f105".parse().unwrap();
        let addr = Addr::from(IpAddr::V6(ip));
        assert!(!addr.is_ipv4());
        assert_eq!(addr.to_string(), "2001:db8:1234:a100:8d6e:3477:df66:f105");
    }

    #[test]
    fn record_stays_small() {
        // Records are copied on the hot path; keep them within a few cache lines.
        assert!(std::mem::size_of::<FlowRecord>() <= 320, "{}", std::mem::size_of::<FlowRecord>());
    }
}
