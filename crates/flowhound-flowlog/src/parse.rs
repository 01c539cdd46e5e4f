//! The header-driven line parser.
//!
//! A line whose tokens are all field names is a header: it defines the field order of
//! the lines after it, until the next header. Before any header the default version-2
//! order applies. Tokens are separated by runs of spaces; trailing spaces and a CR are
//! ignored. `-` is a missing value.

use std::net::Ipv6Addr;

use rustc_hash::FxHashSet;

use crate::field::{DEFAULT_V2, Field};
use crate::intern::{Interner, Sym};
use crate::record::{Action, Addr, FlowDirection, FlowRecord, LogStatus, TrafficType};

/// The largest number of fields a header may name. AWS formats have fewer than 60.
pub const MAX_HEADER_FIELDS: usize = 256;

/// Why a line could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("field {field}: not a valid number: {value:?}")]
    BadNumber { field: Field, value: String },
    #[error("field {field}: not a valid IP address: {value:?}")]
    BadAddress { field: Field, value: String },
    #[error("field {field}: unexpected value {value:?}")]
    BadValue { field: Field, value: String },
    #[error("unknown field {name:?}: unexpected value {value:?}")]
    BadUnknown { name: String, value: String },
    #[error("line is {len} bytes, longer than the {limit}-byte limit")]
    TooLong { len: usize, limit: usize },
    #[error("invalid header: {reason}")]
    BadHeader { reason: String },
    #[error("no usable header before this line (the last header was invalid: {reason})")]
    NoSchema { reason: String },
}

/// One slot of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Known(Field),
    /// A field name this version does not know; its values are checked to be tokens and skipped.
    Unknown,
}

/// The field order of a run of lines, from a header or the version-2 default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    slots: Vec<Slot>,
    names: Vec<String>,
}

impl Schema {
    /// The default version-2 format.
    pub fn default_v2() -> Schema {
        Schema::from_fields(DEFAULT_V2)
    }

    /// A schema of known fields in the given order.
    pub fn from_fields(fields: &[Field]) -> Schema {
        Schema {
            slots: fields.iter().map(|&f| Slot::Known(f)).collect(),
            names: fields.iter().map(|f| f.name().to_string()).collect(),
        }
    }

    /// Parses a header line. Unknown names are kept (and ignored when parsing);
    /// duplicate names and empty headers are errors.
    pub fn from_header(line: &[u8]) -> Result<Schema, LineError> {
        let mut slots = Vec::new();
        let mut names = Vec::new();
        let mut seen = FxHashSet::default();
        for token in tokens(line) {
            if slots.len() == MAX_HEADER_FIELDS {
                return Err(LineError::BadHeader { reason: format!("more than {MAX_HEADER_FIELDS} fields") });
            }
            let name = String::from_utf8_lossy(token).into_owned();
            if !seen.insert(name.clone()) {
                return Err(LineError::BadHeader { reason: format!("field {name:?} named twice") });
            }
            slots.push(match Field::from_name(token) {
                Some(field) => Slot::Known(field),
                None => Slot::Unknown,
            });
            names.push(name);
        }
        if slots.is_empty() {
            return Err(LineError::BadHeader { reason: "no field names".into() });
        }
        Ok(Schema { slots, names })
    }

    /// The field names, in order, as written in the header.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names that are not known fields.
    pub fn unknown_names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().zip(&self.names).filter(|(s, _)| **s == Slot::Unknown).map(|(_, n)| n.as_str())
    }

    /// The known fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Known(f) => Some(*f),
            Slot::Unknown => None,
        })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What a line turned out to be.
// Records are returned by value on the hot path; boxing them would cost an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Blank,
    Header,
    Record(FlowRecord),
}

/// A stateful parser for the lines of one object: it remembers the current schema and
/// interns identifiers into its own [`Interner`].
#[derive(Debug)]
pub struct LineParser {
    schema: Result<Schema, String>,
    /// Bumped whenever the schema changes, so callers can notice headers cheaply.
    schema_generation: u64,
    pub interner: Interner,
}

impl Default for LineParser {
    fn default() -> Self {
        LineParser::new()
    }
}

impl LineParser {
    pub fn new() -> LineParser {
        LineParser { schema: Ok(Schema::default_v2()), schema_generation: 0, interner: Interner::new() }
    }

    /// A parser whose lines before the first header follow `schema` (e.g. a custom
    /// format known from `DescribeFlowLogs`).
    pub fn with_schema(schema: Schema) -> LineParser {
        LineParser { schema: Ok(schema), schema_generation: 0, interner: Interner::new() }
    }

    /// The schema in force, or the reason the last header was rejected.
    pub fn schema(&self) -> Result<&Schema, &str> {
        self.schema.as_ref().map_err(|e| e.as_str())
    }

    pub fn schema_generation(&self) -> u64 {
        self.schema_generation
    }

    /// Parses one line (without its `\n`).
    pub fn parse_line(&mut self, line: &[u8]) -> Result<Line, LineError> {
        let line = trim_end(line);
        let Some(&first) = line.iter().find(|b| !is_separator(**b)) else {
            return Ok(Line::Blank);
        };
        if first.is_ascii_lowercase() && looks_like_header(line) {
            self.schema_generation += 1;
            return match Schema::from_header(line) {
                Ok(schema) => {
                    self.schema = Ok(schema);
                    Ok(Line::Header)
                }
                Err(err) => {
                    self.schema = Err(err.to_string());
                    Err(err)
                }
            };
        }
        let schema = match &self.schema {
            Ok(schema) => schema,
            Err(reason) => return Err(LineError::NoSchema { reason: reason.clone() }),
        };
        parse_record(schema, &mut self.interner, line).map(Line::Record)
    }
}

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if *last == b'\r' || is_separator(*last) {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// Splits on runs of spaces or tabs.
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_separator(b)).filter(|t| !t.is_empty())
}

/// A header names fields: every token is a lowercase name (`[a-z][a-z0-9_-]*`) and at
/// least one is a field we know. Data lines always hold a number, an address, `-` or
/// an upper-case keyword, none of which fits.
fn looks_like_header(line: &[u8]) -> bool {
    let mut any_known = false;
    for token in tokens(line) {
        let name_like = token[0].is_ascii_lowercase()
            && token.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_like {
            return false;
        }
        any_known |= Field::from_name(token).is_some();
    }
    any_known
}

fn truncate_for_message(value: &[u8]) -> String {
    const MAX: usize = 48;
    let shown = &value[..value.len().min(MAX)];
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if value.len() > MAX {
        s.push('…');
    }
    s
}

fn parse_record(schema: &Schema, interner: &mut Interner, line: &[u8]) -> Result<FlowRecord, LineError> {
    let mut record = FlowRecord::default();
    let mut index = 0usize;
    let expected = schema.slots.len();
    let mut pos = 0usize;
    let len = line.len();
    loop {
        while pos < len && is_separator(line[pos]) {
            pos += 1;
        }
        if pos >= len {
            break;
        }
        let start = pos;
        while pos < len && !is_separator(line[pos]) {
            pos += 1;
        }
        let token = &line[start..pos];
        if index < expected {
            match schema.slots[index] {
                Slot::Known(field) => set_field(&mut record, interner, field, token)?,
                Slot::Unknown => {
                    if !is_printable(token) {
                        return Err(LineError::BadUnknown {
                            name: schema.names[index].clone(),
                            value: truncate_for_message(token),
                        });
                    }
                }
            }
        }
        index += 1;
    }
    if index != expected {
        return Err(LineError::FieldCount { expected, found: index });
    }
    Ok(record)
}

fn is_printable(token: &[u8]) -> bool {
    token.iter().all(|&b| (0x21..=0x7e).contains(&b))
}

#[inline]
fn is_missing(token: &[u8]) -> bool {
    token == b"-"
}

#[inline]
fn parse_u64(token: &[u8]) -> Option<u64> {
    if token.is_empty() || token.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in token {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

fn number<T: TryFrom<u64>>(field: Field, token: &[u8]) -> Result<Option<T>, LineError> {
    if is_missing(token) {
        return Ok(None);
    }
    parse_u64(token)
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| LineError::BadNumber { field, value: truncate_for_message(token) })
}

#[inline]
fn parse_ipv4(token: &[u8]) -> Option<u32> {
    let mut bits: u32 = 0;
    let mut octets = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &b in token {
        if b == b'.' {
            if digits == 0 || octets == 3 {
                return None;
            }
            bits = bits << 8 | value;
            octets += 1;
            value = 0;
            digits = 0;
        } else {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 || digits == 3 || (digits > 0 && value == 0) {
                // Leading zeros ("010") are ambiguous (octal in some parsers): refuse them.
                return None;
            }
            value = value * 10 + u32::from(digit);
            if value > 255 {
                return None;
            }
            digits += 1;
        }
    }
    if octets != 3 || digits == 0 {
        return None;
    }
    Some(bits << 8 | value)
}

fn address(field: Field, token: &[u8]) -> Result<Option<Addr>, LineError> {
    if is_missing(token) {
        return Ok(None);
    }
    if let Some(bits) = parse_ipv4(token) {
        return Ok(Some(Addr::from_ipv4_bits(bits)));
    }
    std::str::from_utf8(token)
        .ok()
        .filter(|s| s.contains(':'))
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
        .map(|v6| Some(Addr(u128::from(v6))))
        .ok_or_else(|| LineError::BadAddress { field, value: truncate_for_message(token) })
}

fn symbol(interner: &mut Interner, field: Field, token: &[u8]) -> Result<Sym, LineError> {
    if is_missing(token) {
        return Ok(Sym::NONE);
    }
    if !is_printable(token) {
        return Err(LineError::BadValue { field, value: truncate_for_message(token) });
    }
    Ok(interner.intern(token))
}

fn keyword<T: Copy>(field: Field, token: &[u8], choices: &[(&[u8], T)]) -> Result<Option<T>, LineError> {
    if is_missing(token) {
        return Ok(None);
    }
    for (name, value) in choices {
        if token == *name {
            return Ok(Some(*value));
        }
    }
    Err(LineError::BadValue { field, value: truncate_for_message(token) })
}

pub(crate) fn set_field(
    record: &mut FlowRecord,
    interner: &mut Interner,
    field: Field,
    token: &[u8],
) -> Result<(), LineError> {
    match field {
        Field::Version => record.version = number(field, token)?,
        Field::AccountId => record.account_id = symbol(interner, field, token)?,
        Field::InterfaceId => record.interface_id = symbol(interner, field, token)?,
        Field::SrcAddr => record.srcaddr = address(field, token)?,
        Field::DstAddr => record.dstaddr = address(field, token)?,
        Field::SrcPort => record.srcport = number(field, token)?,
        Field::DstPort => record.dstport = number(field, token)?,
        Field::Protocol => record.protocol = number(field, token)?,
        Field::Packets => record.packets = number(field, token)?,
        Field::Bytes => record.bytes = number(field, token)?,
        Field::Start => record.start = number(field, token)?,
        Field::End => record.end = number(field, token)?,
        Field::Action => {
            record.action = keyword(field, token, &[(b"ACCEPT", Action::Accept), (b"REJECT", Action::Reject)])?
        }
        Field::LogStatus => {
            record.log_status = keyword(
                field,
                token,
                &[(b"OK", LogStatus::Ok), (b"NODATA", LogStatus::NoData), (b"SKIPDATA", LogStatus::SkipData)],
            )?
        }
        Field::VpcId => record.vpc_id = symbol(interner, field, token)?,
        Field::SubnetId => record.subnet_id = symbol(interner, field, token)?,
        Field::InstanceId => record.instance_id = symbol(interner, field, token)?,
        Field::TcpFlags => record.tcp_flags = number(field, token)?,
        Field::Type => {
            record.traffic_type = keyword(
                field,
                token,
                &[(b"IPv4", TrafficType::Ipv4), (b"IPv6", TrafficType::Ipv6), (b"EFA", TrafficType::Efa)],
            )?
        }
        Field::PktSrcAddr => record.pkt_srcaddr = address(field, token)?,
        Field::PktDstAddr => record.pkt_dstaddr = address(field, token)?,
        Field::Region => record.region = symbol(interner, field, token)?,
        Field::AzId => record.az_id = symbol(interner, field, token)?,
        Field::SublocationType => record.sublocation_type = symbol(interner, field, token)?,
        Field::SublocationId => record.sublocation_id = symbol(interner, field, token)?,
        Field::PktSrcAwsService => record.pkt_src_aws_service = symbol(interner, field, token)?,
        Field::PktDstAwsService => record.pkt_dst_aws_service = symbol(interner, field, token)?,
        Field::FlowDirection => {
            record.flow_direction =
                keyword(field, token, &[(b"ingress", FlowDirection::Ingress), (b"egress", FlowDirection::Egress)])?
        }
        Field::TrafficPath => record.traffic_path = number(field, token)?,
        Field::EcsClusterArn => record.ecs.cluster_arn = symbol(interner, field, token)?,
        Field::EcsClusterName => record.ecs.cluster_name = symbol(interner, field, token)?,
        Field::EcsContainerInstanceArn => record.ecs.container_instance_arn = symbol(interner, field, token)?,
        Field::EcsContainerInstanceId => record.ecs.container_instance_id = symbol(interner, field, token)?,
        Field::EcsContainerId => record.ecs.container_id = symbol(interner, field, token)?,
        Field::EcsSecondContainerId => record.ecs.second_container_id = symbol(interner, field, token)?,
        Field::EcsServiceName => record.ecs.service_name = symbol(interner, field, token)?,
        Field::EcsTaskDefinitionArn => record.ecs.task_definition_arn = symbol(interner, field, token)?,
        Field::EcsTaskArn => record.ecs.task_arn = symbol(interner, field, token)?,
        Field::EcsTaskId => record.ecs.task_id = symbol(interner, field, token)?,
        Field::RejectReason => record.reject_reason = symbol(interner, field, token)?,
        Field::ResourceId => record.resource_id = symbol(interner, field, token)?,
        Field::EncryptionStatus => record.encryption_status = number(field, token)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(parser: &mut LineParser, line: &str) -> FlowRecord {
        match parser.parse_line(line.as_bytes()) {
            Ok(Line::Record(r)) => r,
            other => panic!("expected a record from {line:?}, got {other:?}"),
        }
    }

    #[test]
    fn default_v2_line() {
        let mut p = LineParser::new();
        let r = record(
            &mut p,
            "2 123456789012 eni-0f1e2d3c4b5a69788 203.0.113.45 10.20.1.17 49822 443 6 14 2210 1795849200 1795849259 ACCEPT OK",
        );
        assert_eq!(r.version, Some(2));
        assert_eq!(p.interner.resolve(r.account_id), Some("123456789012"));
        assert_eq!(p.interner.resolve(r.interface_id), Some("eni-0f1e2d3c4b5a69788"));
        assert_eq!(r.srcaddr.unwrap().to_string(), "203.0.113.45");
        assert_eq!(r.dstaddr.unwrap().to_string(), "10.20.1.17");
        assert_eq!((r.srcport, r.dstport, r.protocol), (Some(49822), Some(443), Some(6)));
        assert_eq!((r.packets, r.bytes), (Some(14), Some(2210)));
        assert_eq!((r.start, r.end), (Some(1795849200), Some(1795849259)));
        assert_eq!(r.action, Some(Action::Accept));
        assert_eq!(r.log_status, Some(LogStatus::Ok));
        assert_eq!(r.vpc_id, Sym::NONE);
    }

    #[test]
    fn nodata_and_skipdata() {
        let mut p = LineParser::new();
        let r = record(&mut p, "2 123456789012 eni-0f1e2d3c4b5a69788 - - - - - - - 1795849260 1795849319 - NODATA");
        assert_eq!(r.log_status, Some(LogStatus::NoData));
        assert!(r.is_placeholder());
        assert_eq!((r.srcaddr, r.packets, r.action), (None, None, None));
        assert_eq!(r.start, Some(1795849260));
        let r = record(&mut p, "2 123456789012 eni-0aa11bb22cc33dd44 - - - - - - - 1795849260 1795849319 - SKIPDATA");
        assert_eq!(r.log_status, Some(LogStatus::SkipData));
    }

    #[test]
    fn v5_custom_header_and_all_fields() {
        let mut p = LineParser::new();
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
        assert_eq!(p.parse_line(header.as_bytes()), Ok(Line::Header));
        let r = record(
            &mut p,
            "5 123456789012 eni-0aa11bb22cc33dd44 10.20.2.10 52.216.8.21 41876 443 6 38 61422 1795849204 1795849211 ACCEPT OK vpc-0a1b2c3d4e5f60718 subnet-0fedcba9876543210 i-0fedcba9876543210 3 IPv4 10.20.2.57 52.216.8.21 us-east-1 use1-az4 - - - S3 egress 7",
        );
        assert_eq!(r.version, Some(5));
        assert_eq!(p.interner.resolve(r.vpc_id), Some("vpc-0a1b2c3d4e5f60718"));
        assert_eq!(p.interner.resolve(r.instance_id), Some("i-0fedcba9876543210"));
        assert_eq!(r.tcp_flags, Some(3));
        assert_eq!(r.traffic_type, Some(TrafficType::Ipv4));
        assert_eq!(r.pkt_srcaddr.unwrap().to_string(), "10.20.2.57");
        assert_eq!(r.packet_src().unwrap().to_string(), "10.20.2.57");
        assert_eq!(p.interner.resolve(r.region), Some("us-east-1"));
        assert_eq!(p.interner.resolve(r.az_id), Some("use1-az4"));
        assert_eq!(r.sublocation_type, Sym::NONE);
        assert_eq!(r.pkt_src_aws_service, Sym::NONE);
        assert_eq!(p.interner.resolve(r.pkt_dst_aws_service), Some("S3"));
        assert_eq!(r.flow_direction, Some(FlowDirection::Egress));
        assert_eq!(r.traffic_path, Some(7));
    }

    #[test]
    fn custom_order_is_honoured() {
        let mut p = LineParser::new();
        p.parse_line(b"start end bytes packets srcaddr dstaddr log-status").unwrap();
        let r = record(&mut p, "100 160 5000 7 10.0.0.1 10.0.0.2 OK");
        assert_eq!((r.start, r.end, r.bytes, r.packets), (Some(100), Some(160), Some(5000), Some(7)));
        assert_eq!(r.version, None);
    }

    #[test]
    fn ecs_and_v8_fields() {
        let mut p = LineParser::new();
        p.parse_line(b"version interface-id ecs-cluster-name ecs-task-id reject-reason resource-id encryption-status")
            .unwrap();
        let r = record(&mut p, "8 eni-1 backend-cluster e504f037-35c BPA nat-0abc 2");
        assert_eq!(p.interner.resolve(r.ecs.cluster_name), Some("backend-cluster"));
        assert_eq!(p.interner.resolve(r.ecs.task_id), Some("e504f037-35c"));
        assert_eq!(p.interner.resolve(r.reject_reason), Some("BPA"));
        assert_eq!(p.interner.resolve(r.resource_id), Some("nat-0abc"));
        assert_eq!(r.encryption_status, Some(2));
    }

    #[test]
    fn repeated_headers_switch_schema() {
        let mut p = LineParser::new();
        p.parse_line(b"version srcaddr bytes").unwrap();
        let r = record(&mut p, "3 10.0.0.1 99");
        assert_eq!(r.bytes, Some(99));
        p.parse_line(b"bytes srcaddr").unwrap();
        let r = record(&mut p, "77 10.0.0.9");
        assert_eq!(r.bytes, Some(77));
        assert_eq!(p.schema_generation(), 2);
    }

    #[test]
    fn crlf_and_trailing_spaces() {
        let mut p = LineParser::new();
        let r = record(&mut p, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 REJECT OK   \r");
        assert_eq!(r.action, Some(Action::Reject));
        assert_eq!(p.parse_line(b"   \r").unwrap(), Line::Blank);
        assert_eq!(p.parse_line(b"").unwrap(), Line::Blank);
    }

    #[test]
    fn ipv6_addresses() {
        let mut p = LineParser::new();
        let r = record(
            &mut p,
            "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
        );
        assert!(!r.srcaddr.unwrap().is_ipv4());
        assert_eq!(r.dstaddr.unwrap().to_string(), "2001:db8:1234:a102:3304:8879:34cf:4071");
    }

    #[test]
    fn unknown_fields_are_carried_and_ignored() {
        let mut p = LineParser::new();
        p.parse_line(b"version tgw-id srcaddr future-field").unwrap();
        assert_eq!(p.schema().unwrap().unknown_names().collect::<Vec<_>>(), vec!["tgw-id", "future-field"]);
        let r = record(&mut p, "6 tgw-0abc 10.1.1.1 whatever");
        assert_eq!(r.version, Some(6));
        assert_eq!(r.srcaddr.unwrap().to_string(), "10.1.1.1");
    }

    #[test]
    fn malformed_lines_name_the_problem() {
        let mut p = LineParser::new();
        let err = p.parse_line(b"2 1 eni-1 - - - - - - - 1742570089 1742570142 -").unwrap_err();
        assert_eq!(err, LineError::FieldCount { expected: 14, found: 13 });
        let err = p.parse_line(b"2 1 eni-1 - - - - - - - 1742570089 1742570142 - NODATA extra").unwrap_err();
        assert_eq!(err, LineError::FieldCount { expected: 14, found: 15 });
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 x1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::Packets, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.256 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadAddress { field: Field::SrcAddr, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::SrcPort, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ALLOW OK").unwrap_err();
        assert!(matches!(err, LineError::BadValue { field: Field::Action, .. }), "{err}");
        let err =
            p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 99999999999999999999999 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::Bytes, .. }), "{err}");
    }

    #[test]
    fn duplicate_header_invalidates_following_lines() {
        let mut p = LineParser::new();
        let err = p.parse_line(b"version srcaddr srcaddr").unwrap_err();
        assert!(matches!(err, LineError::BadHeader { .. }), "{err}");
        let err = p.parse_line(b"2 10.0.0.1 10.0.0.2").unwrap_err();
        assert!(matches!(err, LineError::NoSchema { .. }), "{err}");
        p.parse_line(b"version srcaddr dstaddr").unwrap();
        assert!(matches!(p.parse_line(b"2 10.0.0.1 10.0.0.2"), Ok(Line::Record(_))));
    }

    #[test]
    fn ipv4_parser_rejects_oddities() {
        for bad in ["1.2.3", "1.2.3.4.5", "1..2.3", "01.2.3.4", "256.1.1.1", "1.2.3.", ".1.2.3", "a.b.c.d", ""] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_ipv4(b"0.0.0.0"), Some(0));
        assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
        assert_eq!(parse_ipv4(b"10.20.4.17"), Some(0x0a14_0411));
    }

    #[test]
    fn binary_junk_is_malformed_not_a_panic() {
        let mut p = LineParser::new();
        let junk = [0xffu8, 0x00, 0x1f, 0x8b, b' ', 0xc3, 0x28];
        assert!(p.parse_line(&junk).is_err());
    }
}
