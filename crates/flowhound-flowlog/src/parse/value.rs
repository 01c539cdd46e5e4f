//! One token into one record field. [`set_value`] is the one place that maps each
//! [`Field`] to its record field and kind; it reads through [`ValueSource`], which the
//! general path implements here ([`SplitToken`]) and the planned path in `fast`.
//! [`Fields`] interns identifiers, with the last one of each field cached.

use std::net::Ipv6Addr;

use super::swar::{digits_at, load8, token_end};
use super::{LineError, truncate_for_message};
use crate::field::Field;
use crate::intern::{CACHED_BYTES, CacheEntry, CachedId, Interner, Sym};
use crate::record::{Action, Addr, FlowDirection, FlowRecord, LogStatus, TrafficType};

#[inline]
fn is_missing(token: &[u8]) -> bool {
    token == b"-"
}

/// The dotted-quad IPv4 address that is all of `token` (see [`ipv4_run`] for the rules).
#[inline]
pub(super) fn parse_ipv4(token: &[u8]) -> Option<u32> {
    ipv4_run(token, 0).filter(|&(_, end)| end == token.len()).map(|(bits, _)| bits)
}

/// The interner and its per-field cache, borrowed together while a line is parsed.
pub(super) struct Fields<'p> {
    pub(super) interner: &'p mut Interner,
    pub(super) recent: &'p mut [CacheEntry; Field::ALL.len()],
}

impl Fields<'_> {
    /// The symbol of the token `line[start..end]`, `clean` if all printable.
    #[inline(always)]
    fn symbol(&mut self, field: Field, line: &[u8], start: usize, end: usize, clean: bool) -> Result<Sym, LineError> {
        let token = &line[start..end];
        if !clean {
            if is_missing(token) {
                return Ok(Sym::NONE);
            }
            return Err(LineError::BadValue { field, value: truncate_for_message(token) });
        }
        let len = token.len();
        if len > CACHED_BYTES {
            return Ok(self.interner.intern(token));
        }
        // The identifier's words straight from the line: the bytes after the token are
        // masked off, so no copy of its tail and no compare through the interner's strings.
        let mut id = CachedId { words: [0; CACHED_BYTES / 8], len };
        for (index, word) in id.words.iter_mut().enumerate() {
            let offset = 8 * index;
            if offset + 8 > len {
                if offset < len {
                    *word = load8(line, start + offset) & ((1u64 << (8 * (len - offset))) - 1);
                }
                break;
            }
            *word = load8(line, start + offset);
        }
        if len == 1 && id.words[0] == u64::from(b'-') {
            return Ok(Sym::NONE);
        }
        Ok(self.cached_symbol(field, &id, token))
    }

    /// The symbol of `token`, whose padded words are `id`: the field's previous
    /// identifier when it repeats (one compare of a few words), else the interner's.
    #[inline(always)]
    pub(super) fn cached_symbol(&mut self, field: Field, id: &CachedId, token: &[u8]) -> Sym {
        let recent = &mut self.recent[field as usize];
        // An empty entry has length 0, which no token has: no separate test of its symbol.
        if recent.id == *id {
            return recent.sym;
        }
        let sym = self.interner.intern_cached(id, token);
        *recent = CacheEntry { id: *id, sym };
        sym
    }
}

#[inline(always)]
fn number<T: TryFrom<u64>>(field: Field, line: &[u8], start: usize, end: usize) -> Result<Option<T>, LineError> {
    if end - start == 1 && line[start] == b'-' {
        return Ok(None);
    }
    digits_at(line, start, end)
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| LineError::BadNumber { field, value: truncate_for_message(&line[start..end]) })
}

#[inline(always)]
pub(super) fn address(field: Field, token: &[u8]) -> Result<Option<Addr>, LineError> {
    if let Some(bits) = parse_ipv4(token) {
        return Ok(Some(Addr::from_ipv4_bits(bits)));
    }
    if is_missing(token) {
        return Ok(None);
    }
    std::str::from_utf8(token)
        .ok()
        .filter(|s| s.contains(':'))
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
        .map(|v6| Some(Addr(u128::from(v6))))
        .ok_or_else(|| LineError::BadAddress { field, value: truncate_for_message(token) })
}

#[inline(always)]
fn keyword<T: Copy>(field: Field, token: &[u8], choices: &[(&[u8], T)]) -> Result<Option<T>, LineError> {
    for (name, value) in choices {
        if token == *name {
            return Ok(Some(*value));
        }
    }
    if is_missing(token) {
        return Ok(None);
    }
    Err(LineError::BadValue { field, value: truncate_for_message(token) })
}

/// The dotted-quad IPv4 address at `text[pos..]`: its bits and end; the caller checks
/// what follows it. Four decimal octets of at most three digits each, each at most 255;
/// leading zeros ("010") are ambiguous (octal in some parsers), so a leading 0 must
/// stand alone.
#[inline(always)]
pub(super) fn ipv4_run(text: &[u8], mut pos: usize) -> Option<(u32, usize)> {
    let digit = |pos: usize| text.get(pos).map_or(10, |b| b.wrapping_sub(b'0'));
    let mut bits = 0u32;
    for octet in 0..4 {
        if octet > 0 {
            if text.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let first = digit(pos);
        if first > 9 {
            return None;
        }
        let mut value = u32::from(first);
        let second = digit(pos + 1);
        if second <= 9 {
            // A leading 0 must stand alone.
            if value == 0 {
                return None;
            }
            value = value * 10 + u32::from(second);
            let third = digit(pos + 2);
            if third <= 9 {
                value = value * 10 + u32::from(third);
                pos += 3;
            } else {
                pos += 2;
            }
        } else {
            pos += 1;
        }
        if value > 255 {
            return None;
        }
        bits = bits << 8 | value;
    }
    Some((bits, pos))
}

/// Reads the value of one field for [`set_value`]: the general path from a token it
/// has split off, the planned path from the line at its position.
pub(super) trait ValueSource {
    type Error;
    fn number<T: TryFrom<u64>>(&mut self, field: Field) -> Result<Option<T>, Self::Error>;
    fn address(&mut self, field: Field) -> Result<Option<Addr>, Self::Error>;
    fn symbol(&mut self, field: Field) -> Result<Sym, Self::Error>;
    fn keyword<T: Copy>(&mut self, field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, Self::Error>;
}

/// The general path's value: the token `line[start..end]`, `clean` if all printable.
pub(super) struct SplitToken<'a, 'p> {
    pub(super) fields: &'a mut Fields<'p>,
    pub(super) line: &'a [u8],
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) clean: bool,
}

impl ValueSource for SplitToken<'_, '_> {
    type Error = LineError;

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, field: Field) -> Result<Option<T>, LineError> {
        number(field, self.line, self.start, self.end)
    }

    #[inline(always)]
    fn address(&mut self, field: Field) -> Result<Option<Addr>, LineError> {
        address(field, &self.line[self.start..self.end])
    }

    #[inline(always)]
    fn symbol(&mut self, field: Field) -> Result<Sym, LineError> {
        self.fields.symbol(field, self.line, self.start, self.end, self.clean)
    }

    #[inline(always)]
    fn keyword<T: Copy>(&mut self, field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, LineError> {
        keyword(field, &self.line[self.start..self.end], choices)
    }
}

/// Sets one field from its token, for the Parquet reader (which has no line around it).
pub(crate) fn set_field(
    record: &mut FlowRecord,
    interner: &mut Interner,
    field: Field,
    token: &[u8],
) -> Result<(), LineError> {
    let mut recent = [CacheEntry::default(); Field::ALL.len()];
    let mut fields = Fields { interner, recent: &mut recent };
    let clean = token_end(token, 0) == token.len();
    if token.is_empty() {
        return Err(LineError::BadValue { field, value: String::new() });
    }
    let mut value = SplitToken { fields: &mut fields, line: token, start: 0, end: token.len(), clean };
    set_value(record, field, &mut value)
}

/// The one place that knows which record field each [`Field`] goes to and its kind.
#[inline(always)]
pub(super) fn set_value<V: ValueSource>(record: &mut FlowRecord, field: Field, value: &mut V) -> Result<(), V::Error> {
    match field {
        Field::Version => record.version = value.number(field)?,
        Field::AccountId => record.account_id = value.symbol(field)?,
        Field::InterfaceId => record.interface_id = value.symbol(field)?,
        Field::SrcAddr => record.srcaddr = value.address(field)?,
        Field::DstAddr => record.dstaddr = value.address(field)?,
        Field::SrcPort => record.srcport = value.number(field)?,
        Field::DstPort => record.dstport = value.number(field)?,
        Field::Protocol => record.protocol = value.number(field)?,
        Field::Packets => record.packets = value.number(field)?,
        Field::Bytes => record.bytes = value.number(field)?,
        Field::Start => record.start = value.number(field)?,
        Field::End => record.end = value.number(field)?,
        Field::Action => {
            record.action = value.keyword(field, &[(b"ACCEPT", Action::Accept), (b"REJECT", Action::Reject)])?
        }
        Field::LogStatus => {
            record.log_status = value.keyword(
                field,
                &[(b"OK", LogStatus::Ok), (b"NODATA", LogStatus::NoData), (b"SKIPDATA", LogStatus::SkipData)],
            )?
        }
        Field::VpcId => record.vpc_id = value.symbol(field)?,
        Field::SubnetId => record.subnet_id = value.symbol(field)?,
        Field::InstanceId => record.instance_id = value.symbol(field)?,
        Field::TcpFlags => record.tcp_flags = value.number(field)?,
        Field::Type => {
            record.traffic_type = value.keyword(
                field,
                &[(b"IPv4", TrafficType::Ipv4), (b"IPv6", TrafficType::Ipv6), (b"EFA", TrafficType::Efa)],
            )?
        }
        Field::PktSrcAddr => record.pkt_srcaddr = value.address(field)?,
        Field::PktDstAddr => record.pkt_dstaddr = value.address(field)?,
        Field::Region => record.region = value.symbol(field)?,
        Field::AzId => record.az_id = value.symbol(field)?,
        Field::SublocationType => record.sublocation_type = value.symbol(field)?,
        Field::SublocationId => record.sublocation_id = value.symbol(field)?,
        Field::PktSrcAwsService => record.pkt_src_aws_service = value.symbol(field)?,
        Field::PktDstAwsService => record.pkt_dst_aws_service = value.symbol(field)?,
        Field::FlowDirection => {
            record.flow_direction =
                value.keyword(field, &[(b"ingress", FlowDirection::Ingress), (b"egress", FlowDirection::Egress)])?
        }
        Field::TrafficPath => record.traffic_path = value.number(field)?,
        Field::EcsClusterArn => record.ecs.cluster_arn = value.symbol(field)?,
        Field::EcsClusterName => record.ecs.cluster_name = value.symbol(field)?,
        Field::EcsContainerInstanceArn => record.ecs.container_instance_arn = value.symbol(field)?,
        Field::EcsContainerInstanceId => record.ecs.container_instance_id = value.symbol(field)?,
        Field::EcsContainerId => record.ecs.container_id = value.symbol(field)?,
        Field::EcsSecondContainerId => record.ecs.second_container_id = value.symbol(field)?,
        Field::EcsServiceName => record.ecs.service_name = value.symbol(field)?,
        Field::EcsTaskDefinitionArn => record.ecs.task_definition_arn = value.symbol(field)?,
        Field::EcsTaskArn => record.ecs.task_arn = value.symbol(field)?,
        Field::EcsTaskId => record.ecs.task_id = value.symbol(field)?,
        Field::RejectReason => record.reject_reason = value.symbol(field)?,
        Field::ResourceId => record.resource_id = value.symbol(field)?,
        Field::EncryptionStatus => record.encryption_status = value.number(field)?,
    }
    Ok(())
}
