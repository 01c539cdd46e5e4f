//! Rendering records as flow-log text in any field order: the simulator's writer and
//! the round-trip property tests use it.

use std::io::{self, Write};

use crate::field::Field;
use crate::intern::{Interner, Sym};
use crate::record::{Addr, FlowRecord};

/// Writes the header line for `fields`.
pub fn write_header(out: &mut impl Write, fields: &[Field]) -> io::Result<()> {
    let mut first = true;
    for field in fields {
        if !first {
            out.write_all(b" ")?;
        }
        first = false;
        out.write_all(field.name().as_bytes())?;
    }
    out.write_all(b"\n")
}

/// Writes one record as a line with `fields` in that order.
pub fn write_record(
    out: &mut impl Write,
    fields: &[Field],
    record: &FlowRecord,
    interner: &Interner,
) -> io::Result<()> {
    let mut first = true;
    for &field in fields {
        if !first {
            out.write_all(b" ")?;
        }
        first = false;
        write_field(out, field, record, interner)?;
    }
    out.write_all(b"\n")
}

fn num<T: itoa_like::Num>(out: &mut impl Write, value: Option<T>) -> io::Result<()> {
    match value {
        Some(v) => v.write_to(out),
        None => out.write_all(b"-"),
    }
}

fn addr(out: &mut impl Write, value: Option<Addr>) -> io::Result<()> {
    match value {
        Some(a) => write!(out, "{a}"),
        None => out.write_all(b"-"),
    }
}

fn sym(out: &mut impl Write, value: Sym, interner: &Interner) -> io::Result<()> {
    out.write_all(interner.display(value).as_bytes())
}

fn word(out: &mut impl Write, value: Option<&str>) -> io::Result<()> {
    out.write_all(value.unwrap_or("-").as_bytes())
}

fn write_field(out: &mut impl Write, field: Field, r: &FlowRecord, i: &Interner) -> io::Result<()> {
    match field {
        Field::Version => num(out, r.version),
        Field::AccountId => sym(out, r.account_id, i),
        Field::InterfaceId => sym(out, r.interface_id, i),
        Field::SrcAddr => addr(out, r.srcaddr),
        Field::DstAddr => addr(out, r.dstaddr),
        Field::SrcPort => num(out, r.srcport),
        Field::DstPort => num(out, r.dstport),
        Field::Protocol => num(out, r.protocol),
        Field::Packets => num(out, r.packets),
        Field::Bytes => num(out, r.bytes),
        Field::Start => num(out, r.start),
        Field::End => num(out, r.end),
        Field::Action => word(out, r.action.map(|a| a.as_str())),
        Field::LogStatus => word(out, r.log_status.map(|s| s.as_str())),
        Field::VpcId => sym(out, r.vpc_id, i),
        Field::SubnetId => sym(out, r.subnet_id, i),
        Field::InstanceId => sym(out, r.instance_id, i),
        Field::TcpFlags => num(out, r.tcp_flags),
        Field::Type => word(out, r.traffic_type.map(|t| t.as_str())),
        Field::PktSrcAddr => addr(out, r.pkt_srcaddr),
        Field::PktDstAddr => addr(out, r.pkt_dstaddr),
        Field::Region => sym(out, r.region, i),
        Field::AzId => sym(out, r.az_id, i),
        Field::SublocationType => sym(out, r.sublocation_type, i),
        Field::SublocationId => sym(out, r.sublocation_id, i),
        Field::PktSrcAwsService => sym(out, r.pkt_src_aws_service, i),
        Field::PktDstAwsService => sym(out, r.pkt_dst_aws_service, i),
        Field::FlowDirection => word(out, r.flow_direction.map(|d| d.as_str())),
        Field::TrafficPath => num(out, r.traffic_path),
        Field::EcsClusterArn => sym(out, r.ecs.cluster_arn, i),
        Field::EcsClusterName => sym(out, r.ecs.cluster_name, i),
        Field::EcsContainerInstanceArn => sym(out, r.ecs.container_instance_arn, i),
        Field::EcsContainerInstanceId => sym(out, r.ecs.container_instance_id, i),
        Field::EcsContainerId => sym(out, r.ecs.container_id, i),
        Field::EcsSecondContainerId => sym(out, r.ecs.second_container_id, i),
        Field::EcsServiceName => sym(out, r.ecs.service_name, i),
        Field::EcsTaskDefinitionArn => sym(out, r.ecs.task_definition_arn, i),
        Field::EcsTaskArn => sym(out, r.ecs.task_arn, i),
        Field::EcsTaskId => sym(out, r.ecs.task_id, i),
        Field::RejectReason => sym(out, r.reject_reason, i),
        Field::ResourceId => sym(out, r.resource_id, i),
        Field::EncryptionStatus => num(out, r.encryption_status),
    }
}

mod itoa_like {
    use std::io::{self, Write};

    /// Unsigned integers written in decimal without allocating.
    pub trait Num: Copy {
        fn write_to(self, out: &mut impl Write) -> io::Result<()>;
    }

    fn write_u64(out: &mut impl Write, mut v: u64) -> io::Result<()> {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.write_all(&buf[i..])
    }

    macro_rules! impl_num {
        ($($t:ty),*) => {$(
            impl Num for $t {
                fn write_to(self, out: &mut impl Write) -> io::Result<()> {
                    write_u64(out, u64::from(self))
                }
            }
        )*};
    }
    impl_num!(u8, u16, u32, u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{DEFAULT_V2, Line, LineParser};

    #[test]
    fn renders_and_parses_back() {
        let mut p = LineParser::new();
        let line = "2 123456789012 eni-0f1e2d3c4b5a69788 203.0.113.45 10.20.1.17 49822 443 6 14 2210 1795849200 1795849259 ACCEPT OK";
        let Ok(Line::Record(r)) = p.parse_line(line.as_bytes()) else { panic!() };
        let mut out = Vec::new();
        write_record(&mut out, DEFAULT_V2, &r, &p.interner).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n"));
        let mut header = Vec::new();
        write_header(&mut header, &DEFAULT_V2[..3]).unwrap();
        assert_eq!(header, b"version account-id interface-id\n");
    }
}
