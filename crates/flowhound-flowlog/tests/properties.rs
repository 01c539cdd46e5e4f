//! Property tests: no input makes the parser or the reader panic, and any record
//! rendered in any field order (with its header) parses back equal.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use flowhound_flowlog::limits::{MAX_RECORD_BYTES, MAX_RECORD_PACKETS, MAX_UNIX_SECS};
use flowhound_flowlog::{
    Action, Addr, EcsFields, Field, FlowDirection, FlowRecord, Interner, Line, LineParser, LogStatus, NullSink,
    ReadOptions, Sym, TrafficType, read_stream, write_header, write_record,
};
use proptest::prelude::*;

/// Bytes that look enough like flow logs to reach deep into the parser.
fn flowish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"2 ".to_vec()),
        Just(b"- ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"10.0.0.1 ".to_vec()),
        Just(b"2001:db8::1 ".to_vec()),
        Just(b"ACCEPT ".to_vec()),
        Just(b"NODATA".to_vec()),
        Just(b"version srcaddr bytes log-status\n".to_vec()),
        Just(b"5 1 eni-1 ".to_vec()),
        Just(b"eni-0abc ".to_vec()),
        Just(b"18446744073709551616 ".to_vec()),
        Just(b"99999999 ".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn small_opts() -> ReadOptions {
    ReadOptions { max_line_bytes: 64, max_decompressed_bytes: 4096, ..ReadOptions::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn line_parser_never_panics(lines in proptest::collection::vec(prop_oneof![flowish_bytes(), proptest::collection::vec(any::<u8>(), 0..200)], 1..8)) {
        let mut parser = LineParser::new();
        for line in &lines {
            let _ = parser.parse_line(line);
        }
    }

    #[test]
    fn read_stream_never_panics(bytes in prop_oneof![flowish_bytes(), proptest::collection::vec(any::<u8>(), 0..2048)]) {
        for opts in [ReadOptions::default(), small_opts()] {
            let report = read_stream("p", &bytes[..], &opts, &mut NullSink);
            prop_assert!(report.records + report.malformed <= bytes.len() as u64 + 1);
        }
    }

    #[test]
    fn read_stream_never_panics_inside_gzip(bytes in flowish_bytes(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let compressed = gzip(&bytes);
        for opts in [ReadOptions::default(), small_opts()] {
            let whole = read_stream("p", &compressed[..], &opts, &mut NullSink);
            if opts.max_decompressed_bytes as usize >= bytes.len() {
                prop_assert_eq!(&whole.error, &read_stream("p", &bytes[..], &opts, &mut NullSink).error);
            }
            let truncated = &compressed[..cut.index(compressed.len())];
            let _ = read_stream("p", truncated, &opts, &mut NullSink);
            let mut damaged = compressed.clone();
            let at = flip.0.index(damaged.len());
            damaged[at] ^= flip.1 | 1;
            let _ = read_stream("p", &damaged[..], &opts, &mut NullSink);
        }
    }

    #[test]
    fn records_round_trip_in_any_field_order(
        values in record_values(),
        order in Just(Field::ALL.to_vec()).prop_shuffle(),
        keep in proptest::collection::vec(any::<bool>(), Field::ALL.len()),
    ) {
        let fields: Vec<Field> = order.iter().zip(&keep).filter(|(_, k)| **k).map(|(f, _)| *f).collect();
        prop_assume!(!fields.is_empty());
        let mut interner = Interner::new();
        let original = values.build(&mut interner);
        let mut text = Vec::new();
        write_header(&mut text, &fields).unwrap();
        write_record(&mut text, &fields, &original, &interner).unwrap();
        let mut parser = LineParser::new();
        let mut lines = text.split(|&b| b == b'\n');
        prop_assert_eq!(parser.parse_line(lines.next().unwrap()), Ok(Line::Header));
        let parsed = match parser.parse_line(lines.next().unwrap()) {
            Ok(Line::Record(r)) => r,
            other => return Err(TestCaseError::fail(format!("{other:?} from {}", String::from_utf8_lossy(&text)))),
        };
        // Only the rendered fields come back; compare through the text form, which
        // resolves symbols of both interners.
        let mut again = Vec::new();
        write_record(&mut again, &fields, &parsed, &parser.interner).unwrap();
        let mut expected = Vec::new();
        write_record(&mut expected, &fields, &original, &interner).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&expected));
        // And field by field, for the fields that are numbers or enums.
        let mut projected = FlowRecord::default();
        for &f in &fields {
            copy_field(&mut projected, &original, f);
        }
        prop_assert_eq!(strip_syms(parsed), strip_syms(projected));
    }
}

/// version, srcport, dstport, protocol, packets, bytes, start, end.
type Numbers = (Option<u8>, Option<u16>, Option<u16>, Option<u8>, Option<u64>, Option<u64>, Option<u64>, Option<u64>);

/// Generated values for every field; identifiers are strings interned at build time.
#[derive(Debug, Clone)]
struct Values {
    numbers: Numbers,
    small: (Option<u16>, Option<u8>, Option<u8>),
    addrs: [Option<Addr>; 4],
    enums: (Option<Action>, Option<LogStatus>, Option<TrafficType>, Option<FlowDirection>),
    ids: Vec<Option<String>>,
}

const ID_FIELDS: usize = 23;

fn addr() -> impl Strategy<Value = Option<Addr>> {
    prop_oneof![
        Just(None),
        any::<u32>().prop_map(|b| Some(Addr::from_ipv4_bits(b))),
        any::<u128>().prop_map(|b| Some(Addr(b))),
    ]
}

fn record_values() -> impl Strategy<Value = Values> {
    let numbers = (
        any::<Option<u8>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        proptest::option::of(0..=MAX_RECORD_PACKETS),
        proptest::option::of(0..=MAX_RECORD_BYTES),
        proptest::option::of(0..=MAX_UNIX_SECS),
        proptest::option::of(0..=MAX_UNIX_SECS),
    );
    let small = (any::<Option<u16>>(), any::<Option<u8>>(), any::<Option<u8>>());
    let addrs = [addr(), addr(), addr(), addr()];
    let enums = (
        proptest::option::of(prop_oneof![Just(Action::Accept), Just(Action::Reject)]),
        proptest::option::of(prop_oneof![Just(LogStatus::Ok), Just(LogStatus::NoData), Just(LogStatus::SkipData)]),
        proptest::option::of(prop_oneof![Just(TrafficType::Ipv4), Just(TrafficType::Ipv6), Just(TrafficType::Efa)]),
        proptest::option::of(prop_oneof![Just(FlowDirection::Ingress), Just(FlowDirection::Egress)]),
    );
    // `-` alone means missing, so identifiers are printable tokens other than "-".
    let id = proptest::option::of("[!-~]{1,24}".prop_filter("not a dash", |s| s != "-"));
    let ids = proptest::collection::vec(id, ID_FIELDS);
    (numbers, small, addrs, enums, ids).prop_map(|(numbers, small, addrs, enums, ids)| Values {
        numbers,
        small,
        addrs,
        enums,
        ids,
    })
}

impl Values {
    fn build(&self, interner: &mut Interner) -> FlowRecord {
        let mut syms = self.ids.iter().map(|id| id.as_ref().map_or(Sym::NONE, |s| interner.intern(s.as_bytes())));
        let mut next = || syms.next().unwrap_or(Sym::NONE);
        let (version, srcport, dstport, protocol, packets, bytes, mut start, mut end) = self.numbers;
        // A record ends no earlier than it starts (anything else is malformed).
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            (start, end) = (end, start);
        }
        let (tcp_flags, traffic_path, encryption_status) = self.small;
        let (action, log_status, traffic_type, flow_direction) = self.enums;
        FlowRecord {
            version,
            account_id: next(),
            interface_id: next(),
            srcaddr: self.addrs[0],
            dstaddr: self.addrs[1],
            srcport,
            dstport,
            protocol,
            packets,
            bytes,
            start,
            end,
            action,
            log_status,
            vpc_id: next(),
            subnet_id: next(),
            instance_id: next(),
            tcp_flags,
            traffic_type,
            pkt_srcaddr: self.addrs[2],
            pkt_dstaddr: self.addrs[3],
            region: next(),
            az_id: next(),
            sublocation_type: next(),
            sublocation_id: next(),
            pkt_src_aws_service: next(),
            pkt_dst_aws_service: next(),
            flow_direction,
            traffic_path,
            ecs: EcsFields {
                cluster_arn: next(),
                cluster_name: next(),
                container_instance_arn: next(),
                container_instance_id: next(),
                container_id: next(),
                second_container_id: next(),
                service_name: next(),
                task_definition_arn: next(),
                task_arn: next(),
                task_id: next(),
            },
            reject_reason: next(),
            resource_id: next(),
            encryption_status,
        }
    }
}

/// The record with every identifier blanked, for comparing the typed fields.
fn strip_syms(mut r: FlowRecord) -> FlowRecord {
    let none = Sym::NONE;
    r.account_id = none;
    r.interface_id = none;
    r.vpc_id = none;
    r.subnet_id = none;
    r.instance_id = none;
    r.region = none;
    r.az_id = none;
    r.sublocation_type = none;
    r.sublocation_id = none;
    r.pkt_src_aws_service = none;
    r.pkt_dst_aws_service = none;
    r.ecs = EcsFields::default();
    r.reject_reason = none;
    r.resource_id = none;
    r
}

fn copy_field(to: &mut FlowRecord, from: &FlowRecord, field: Field) {
    match field {
        Field::Version => to.version = from.version,
        Field::SrcAddr => to.srcaddr = from.srcaddr,
        Field::DstAddr => to.dstaddr = from.dstaddr,
        Field::SrcPort => to.srcport = from.srcport,
        Field::DstPort => to.dstport = from.dstport,
        Field::Protocol => to.protocol = from.protocol,
        Field::Packets => to.packets = from.packets,
        Field::Bytes => to.bytes = from.bytes,
        Field::Start => to.start = from.start,
        Field::End => to.end = from.end,
        Field::Action => to.action = from.action,
        Field::LogStatus => to.log_status = from.log_status,
        Field::TcpFlags => to.tcp_flags = from.tcp_flags,
        Field::Type => to.traffic_type = from.traffic_type,
        Field::PktSrcAddr => to.pkt_srcaddr = from.pkt_srcaddr,
        Field::PktDstAddr => to.pkt_dstaddr = from.pkt_dstaddr,
        Field::FlowDirection => to.flow_direction = from.flow_direction,
        Field::TrafficPath => to.traffic_path = from.traffic_path,
        Field::EncryptionStatus => to.encryption_status = from.encryption_status,
        _ => {}
    }
}
