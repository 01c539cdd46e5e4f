//! The parser's unit and property tests: lines and what they give, the SWAR and IPv4
//! scanners against scalar and standard-library parsers, and the fast paths against
//! the general path.

use proptest::prelude::Strategy;
use proptest::strategy::Just;
use proptest::{prelude::any, prelude::prop, prop_oneof};

use super::fast::{ALL_V3, ALL_V4, ALL_V5, STRAIGHT_LINE_ORDERS};
use super::swar::{digit_run, digits_at};
use super::value::{ipv4_run, parse_ipv4};
use super::*;
use crate::intern::Sym;
use crate::record::{Action, FlowDirection, LogStatus, TrafficType};

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
fn numbers_beyond_physical_limits_are_malformed_on_every_path() {
    use crate::limits::{MAX_RECORD_BYTES, MAX_RECORD_PACKETS, MAX_UNIX_SECS};
    let line = |packets: u64, bytes: u64, start: u64, end: u64| {
        format!("2 123456789012 eni-0a1b 10.0.0.1 10.0.0.2 443 49152 6 {packets} {bytes} {start} {end} ACCEPT OK")
    };
    // The default (fast) path, the framed path and a custom header.
    for header in [
        None,
        Some(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
        ),
    ] {
        let mut p = LineParser::new();
        if let Some(h) = header {
            assert_eq!(p.parse_line(h.as_bytes()), Ok(Line::Header));
        }
        let ok = record(&mut p, &line(MAX_RECORD_PACKETS, MAX_RECORD_BYTES, 100, MAX_UNIX_SECS));
        assert_eq!(
            (ok.packets, ok.bytes, ok.end),
            (Some(MAX_RECORD_PACKETS), Some(MAX_RECORD_BYTES), Some(MAX_UNIX_SECS))
        );
        assert_eq!(
            p.parse_line(line(1, 18_446_744_068_709_552_616, 100, 160).as_bytes()),
            Err(LineError::Implausible {
                field: Field::Bytes,
                value: 18_446_744_068_709_552_616,
                limit: MAX_RECORD_BYTES
            })
        );
        assert_eq!(
            p.parse_line(line(MAX_RECORD_PACKETS + 1, 1, 100, 160).as_bytes()),
            Err(LineError::Implausible {
                field: Field::Packets,
                value: MAX_RECORD_PACKETS + 1,
                limit: MAX_RECORD_PACKETS
            })
        );
        assert_eq!(
            p.parse_line(line(1, 1, u64::MAX, u64::MAX).as_bytes()),
            Err(LineError::Implausible { field: Field::Start, value: u64::MAX, limit: MAX_UNIX_SECS })
        );
        assert_eq!(
            p.parse_line(line(1, 1, 160, 100).as_bytes()),
            Err(LineError::EndBeforeStart { start: 160, end: 100 })
        );
        // Through the reader's in-place path too.
        let mut r = FlowRecord::default();
        let text = format!("{}\n{}\n", line(1, 1, 160, 100), line(1, 1, 100, 160));
        assert_eq!(p.parse_record_line(text.as_bytes(), &mut r), None);
    }
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
    let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 99999999999999999999999 10 20 ACCEPT OK").unwrap_err();
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
    for bad in [
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        "01.2.3.4",
        "256.1.1.1",
        "1.2.3.",
        ".1.2.3",
        "a.b.c.d",
        "",
        "1.2.3.1234",
        "10::1",
    ] {
        assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
    }
    assert_eq!(parse_ipv4(b"0.0.0.0"), Some(0));
    assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
    assert_eq!(parse_ipv4(b"10.20.4.17"), Some(0x0a14_0411));
    assert_eq!(parse_ipv4(b"192.168.100.200"), Some(0xc0a8_64c8));
}

/// Elastic's "all fields" sample: a version-5 line of 29 fields with no header.
const V5_ALL: &str = "5 64111117617 eni-069xxxxxb7a490 89.160.20.156 10.200.0.0 50041 33004 17 52 1 164000066 1640000297 REJECT OK vpc-09676f97xxxxxb8a7 subnet-02d645xxxxxxxdbc0 i-0axxxxxx1ad77 1 IPv4 89.160.20.156 10.200.0.80 us-east-1 use1-az5 - - AMAZON CLOUDFRONT ingress 1";

#[test]
fn headerless_all_fields_lines_are_inferred_from_their_version() {
    assert_eq!(catalogue_len(2), 14);
    assert_eq!(catalogue_len(3), 21);
    assert_eq!(catalogue_len(5), 29);
    assert_eq!(catalogue_len(6), 29);
    assert_eq!(catalogue_len(8), 40);
    assert_eq!(catalogue_len(10), 42);
    let mut p = LineParser::new();
    let r = record(&mut p, V5_ALL);
    assert_eq!(r.version, Some(5));
    assert_eq!((r.start, r.end), (Some(164000066), Some(1640000297)));
    assert_eq!(r.action, Some(Action::Reject));
    assert_eq!(p.interner.resolve(r.subnet_id), Some("subnet-02d645xxxxxxxdbc0"));
    assert_eq!(r.tcp_flags, Some(1));
    assert_eq!(r.pkt_dstaddr.unwrap().to_string(), "10.200.0.80");
    assert_eq!(p.interner.resolve(r.az_id), Some("use1-az5"));
    assert_eq!(p.interner.resolve(r.pkt_src_aws_service), Some("AMAZON"));
    assert_eq!(p.interner.resolve(r.pkt_dst_aws_service), Some("CLOUDFRONT"));
    assert_eq!(r.flow_direction, Some(FlowDirection::Ingress));
    assert_eq!(r.traffic_path, Some(1));
    assert_eq!(p.last_schema().unwrap().len(), 29);
    let generation = p.schema_generation();
    // A v2 line after it goes back to the default order, without the v5 values.
    let r = record(&mut p, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK");
    assert_eq!((r.vpc_id, r.traffic_path), (Sym::NONE, None));
    assert_eq!(p.last_schema().unwrap().len(), 14);
    assert!(p.schema_generation() > generation);
    // Reusing one record across both kinds of line gives the same values.
    let mut reused = FlowRecord::default();
    assert_eq!(p.parse_line_reusing(V5_ALL.as_bytes(), &mut reused), Ok(LineKind::Record));
    assert_eq!(reused.traffic_path, Some(1));
    assert_eq!(
        p.parse_line_reusing(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK", &mut reused),
        Ok(LineKind::Record)
    );
    assert_eq!((reused.traffic_path, reused.vpc_id), (None, Sym::NONE));
}

#[test]
fn a_line_of_the_wrong_length_is_reported_as_such() {
    let mut p = LineParser::new();
    // A Transit Gateway line: its third token is no address, but its length is the problem.
    let tgw = "6 - 748335378900 tgw-0a12bc34de56f7890 tgw-attach-0789ijkl - - vpc-0jkl5678 vpc-0ghi9012 - - eni-0cc3 eni-0cc3 - - - 1.128.0.0 2a02:cf40:: 39464 22 6 49 8947 1755592533 1755592558 SKIPDATA";
    assert_eq!(p.parse_line(tgw.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 26 }));
}

#[test]
fn inference_needs_a_matching_count_and_no_header() {
    let mut p = LineParser::new();
    // Version 3 names 21 fields, not 29.
    let v3_with_29 = V5_ALL.replacen('5', "3", 1);
    assert_eq!(p.parse_line(v3_with_29.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
    // Version 11 is outside the catalogue this parser infers.
    let v11 = V5_ALL.replacen('5', "11", 1);
    assert_eq!(p.parse_line(v11.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
    // After a header, the header rules.
    p.parse_line(DEFAULT_V2.iter().map(|f| f.name()).collect::<Vec<_>>().join(" ").as_bytes()).unwrap();
    assert_eq!(p.parse_line(V5_ALL.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
    // A custom default format is never second-guessed.
    let mut p = LineParser::with_schema(Schema::from_fields(&DEFAULT_V2[..3]));
    assert_eq!(p.parse_line(V5_ALL.as_bytes()), Err(LineError::FieldCount { expected: 3, found: 29 }));
}

#[test]
fn every_catalogue_field_parses_from_an_all_versions_header() {
    let mut p = LineParser::new();
    let header: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(p.parse_line(header.join(" ").as_bytes()), Ok(Line::Header));
    let values = [
        "10",
        "123456789012",
        "eni-1",
        "10.0.0.1",
        "2001:db8::1",
        "1024",
        "443",
        "6",
        "9",
        "900",
        "100",
        "160",
        "ACCEPT",
        "OK",
        "vpc-1",
        "subnet-1",
        "i-1",
        "19",
        "IPv6",
        "192.168.0.1",
        "::ffff:1.2.3.4",
        "eu-west-1",
        "euw1-az1",
        "outpost",
        "op-1",
        "S3",
        "EC2",
        "egress",
        "8",
        "arn:c",
        "c",
        "arn:ci",
        "ci",
        "ct1",
        "ct2",
        "svc",
        "arn:td",
        "arn:t",
        "t",
        "EC",
        "nat-1",
        "3",
    ];
    assert_eq!(values.len(), Field::ALL.len());
    let r = record(&mut p, &values.join(" "));
    let s = |sym| p.interner.resolve(sym).unwrap().to_string();
    assert_eq!(r.version, Some(10));
    assert_eq!(s(r.account_id), "123456789012");
    assert_eq!(s(r.interface_id), "eni-1");
    assert_eq!(r.srcaddr.unwrap().to_string(), "10.0.0.1");
    assert_eq!(r.dstaddr.unwrap().to_string(), "2001:db8::1");
    assert_eq!((r.srcport, r.dstport, r.protocol), (Some(1024), Some(443), Some(6)));
    assert_eq!((r.packets, r.bytes, r.start, r.end), (Some(9), Some(900), Some(100), Some(160)));
    assert_eq!((r.action, r.log_status), (Some(Action::Accept), Some(LogStatus::Ok)));
    assert_eq!((s(r.vpc_id), s(r.subnet_id), s(r.instance_id)), ("vpc-1".into(), "subnet-1".into(), "i-1".into()));
    assert_eq!((r.tcp_flags, r.traffic_type), (Some(19), Some(TrafficType::Ipv6)));
    assert_eq!(r.pkt_srcaddr.unwrap().to_string(), "192.168.0.1");
    // An IPv4-mapped IPv6 address is the same number as the IPv4 address.
    assert_eq!(r.pkt_dstaddr.unwrap().to_string(), "1.2.3.4");
    assert_eq!((s(r.region), s(r.az_id)), ("eu-west-1".into(), "euw1-az1".into()));
    assert_eq!((s(r.sublocation_type), s(r.sublocation_id)), ("outpost".into(), "op-1".into()));
    assert_eq!((s(r.pkt_src_aws_service), s(r.pkt_dst_aws_service)), ("S3".into(), "EC2".into()));
    assert_eq!((r.flow_direction, r.traffic_path), (Some(FlowDirection::Egress), Some(8)));
    let ecs = [
        r.ecs.cluster_arn,
        r.ecs.cluster_name,
        r.ecs.container_instance_arn,
        r.ecs.container_instance_id,
        r.ecs.container_id,
        r.ecs.second_container_id,
        r.ecs.service_name,
        r.ecs.task_definition_arn,
        r.ecs.task_arn,
        r.ecs.task_id,
    ];
    assert_eq!(
        ecs.map(s),
        ["arn:c", "c", "arn:ci", "ci", "ct1", "ct2", "svc", "arn:td", "arn:t", "t"].map(String::from)
    );
    assert_eq!((s(r.reject_reason), s(r.resource_id)), ("EC".into(), "nat-1".into()));
    assert_eq!(r.encryption_status, Some(3));
    // Every field missing: a line of dashes is a record with nothing in it.
    let dashes = vec!["-"; Field::ALL.len()].join(" ");
    assert_eq!(record(&mut p, &dashes), FlowRecord::default());
}

#[test]
fn swar_number_parsing_matches_the_scalar_one() {
    let line =
        b"0 7 42 65535 99999999 123456789 1795849200 18446744073709551615 18446744073709551616 1a 12345678x 0000000001";
    let mut pos = 0;
    for token in line.split(|&b| b == b' ') {
        let end = pos + token.len();
        assert_eq!(digits_at(line, pos, end), parse_u64(token), "{}", String::from_utf8_lossy(token));
        pos = end + 1;
    }
    assert_eq!(digits_at(b"1795849200", 0, 10), Some(1_795_849_200));
    assert_eq!(digits_at(b"x9", 1, 2), Some(9));
    for bad in [&b"9/"[..], b"9:", b"\xff1", b"1 2", b"+1", b"-1"] {
        assert_eq!(digits_at(bad, 0, bad.len()), None, "{bad:?}");
    }
}

#[test]
fn digit_runs_match_the_scalar_parser() {
    let line = b"0 7 42 65535 99999999 123456789 1795849200 123456789012345 1234567890123456 1a 00000001x";
    let mut pos = 0;
    for token in line.split(|&b| b == b' ') {
        let digits = token.iter().take_while(|b| b.is_ascii_digit()).count();
        let expected = match digits {
            1..=15 => {
                parse_u64(&token[..digits]).map(|v| (v, pos + digits, line.get(pos + digits).copied().unwrap_or(0)))
            }
            _ => None,
        };
        assert_eq!(digit_run(line, pos), expected, "{}", String::from_utf8_lossy(token));
        pos += token.len() + 1;
    }
    for not_digits in [&b"/"[..], b":", b"\xff", b" 1", b"", b"-1"] {
        assert_eq!(digit_run(not_digits, 0), None, "{not_digits:?}");
    }
    // A 0xff byte after the digits must not disturb them (the +6 carries out of it).
    assert_eq!(digit_run(b"12\xff\xff\xff\xff\xff\xff", 0), Some((12, 2, 0xff)));
}

#[test]
fn ipv4_runs_stop_at_the_end_of_the_address() {
    assert_eq!(ipv4_run(b"10.0.0.1 rest", 0), Some((0x0a00_0001, 8)));
    assert_eq!(ipv4_run(b"x 192.168.100.200", 2), Some((0xc0a8_64c8, 17)));
    // A fourth digit is left for the caller, who finds no separator after the address.
    assert_eq!(ipv4_run(b"1.2.3.1234", 0), Some((0x0102_037b, 9)));
}

/// One value per v2 field: mostly well-formed, sometimes missing, sometimes wrong.
fn v2_value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u64..=u64::MAX).prop_map(|v| v.to_string()),
        8 => (0u64..70_000).prop_map(|v| v.to_string()),
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        2 => Just("-".to_string()),
        2 => prop::sample::select(vec!["ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "eni-0abc", "123456789012"]).prop_map(String::from),
        1 => prop::sample::select(vec!["2001:db8::1", "01.2.3.4", "1.2.3.4x", "12345678901234567890", "99999999999999999999", "0000000000000000001", "ACCEPTX", "OKAY", "-1", "--", "1e3", "é"]).prop_map(String::from),
    ]
}

/// A v2 line in the field order, with its usual value kinds at their places.
fn v2_line() -> impl Strategy<Value = String> {
    let sep = prop_oneof![20 => Just(" "), 1 => Just("  "), 1 => Just("\t")];
    let number = prop_oneof![6 => (0u64..5_000_000_000).prop_map(|v| v.to_string()), 1 => v2_value()];
    let addr = prop_oneof![6 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")), 1 => v2_value()];
    let symbol = prop_oneof![6 => (0u32..50).prop_map(|v| format!("eni-{v:x}")), 1 => v2_value()];
    let action =
        prop_oneof![6 => prop::sample::select(vec!["ACCEPT", "REJECT", "-"]).prop_map(String::from), 1 => v2_value()];
    let status = prop_oneof![6 => prop::sample::select(vec!["OK", "NODATA", "SKIPDATA", "-"]).prop_map(String::from), 1 => v2_value()];
    let fields = (
        (number.clone(), symbol.clone(), symbol, addr.clone(), addr),
        proptest::collection::vec(number, 7),
        action,
        status,
    );
    let tail = prop_oneof![10 => Just(""), 1 => Just(" "), 1 => Just("\r"), 1 => Just(" 7")];
    (fields, proptest::collection::vec(sep, 13), tail).prop_map(|(((v, a, i, s, d), numbers, act, st), seps, tail)| {
        let mut values = vec![v, a, i, s, d];
        values.extend(numbers);
        values.push(act);
        values.push(st);
        let mut line = String::new();
        for (index, value) in values.iter().enumerate() {
            line.push_str(value);
            if let Some(sep) = seps.get(index) {
                line.push_str(sep);
            }
        }
        line.push_str(tail);
        line
    })
}

/// A value for one slot of a plan: mostly one of its kind, sometimes anything.
fn slot_value(slot: Slot) -> proptest::strategy::BoxedStrategy<String> {
    prop_oneof![8 => valid_value(slot), 1 => v2_value()].boxed()
}

/// A value of the slot's kind.
fn valid_value(slot: Slot) -> proptest::strategy::BoxedStrategy<String> {
    let number = prop_oneof![
        3 => (0u64..256).prop_map(|v| v.to_string()),
        2 => (0u64..5_000_000_000).prop_map(|v| v.to_string()),
        1 => Just("-".to_string()),
    ]
    .boxed();
    let words = |words: &[&'static str]| prop::sample::select(words.to_vec()).prop_map(String::from).boxed();
    match slot {
        Slot::Known(Field::SrcAddr | Field::DstAddr | Field::PktSrcAddr | Field::PktDstAddr) => prop_oneof![
            6 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            1 => Just("2001:db8::5".to_string()),
            1 => Just("-".to_string()),
        ]
        .boxed(),
        Slot::Known(Field::Action) => words(&["ACCEPT", "REJECT", "-"]),
        Slot::Known(Field::LogStatus) => words(&["OK", "NODATA", "SKIPDATA", "-"]),
        Slot::Known(Field::Type) => words(&["IPv4", "IPv6", "EFA", "-"]),
        Slot::Known(Field::FlowDirection) => words(&["ingress", "egress", "-"]),
        Slot::Known(
            Field::Version
            | Field::SrcPort
            | Field::DstPort
            | Field::Protocol
            | Field::Packets
            | Field::Bytes
            | Field::Start
            | Field::End
            | Field::TcpFlags
            | Field::TrafficPath
            | Field::EncryptionStatus,
        ) => number,
        // Identifiers of up to five words, across the 32 bytes the cache takes.
        Slot::Known(_) | Slot::Unknown => prop_oneof![
            6 => (0u32..50).prop_map(|v| format!("id-{v:x}")),
            2 => "[a-z0-9-]{1,40}",
            1 => Just("-".to_string()),
        ]
        .boxed(),
    }
}

/// A header of known fields in a random order (sometimes with an unknown name) and
/// lines for it; half the time the header is one of the straight-line orders.
fn planned_lines() -> impl Strategy<Value = (String, Vec<String>)> {
    let order = Just(Field::ALL.to_vec()).prop_shuffle();
    let keep = proptest::collection::vec(proptest::bool::weighted(0.4), Field::ALL.len());
    let unknown_at = proptest::option::of(0usize..Field::ALL.len());
    let random_order = (order, keep, unknown_at).prop_filter_map("no fields", |(order, keep, unknown_at)| {
        let mut slots: Vec<Slot> = order.iter().zip(&keep).filter(|(_, k)| **k).map(|(f, _)| Slot::Known(*f)).collect();
        if let Some(at) = unknown_at {
            slots.insert(at.min(slots.len()), Slot::Unknown);
        }
        (!slots.is_empty()).then_some(slots)
    });
    let straight_line = prop::sample::select(STRAIGHT_LINE_ORDERS.to_vec())
        .prop_map(|(order, _)| order.iter().map(|&field| Slot::Known(field)).collect::<Vec<_>>());
    prop_oneof![random_order, straight_line].prop_flat_map(|slots| {
        let sep = prop_oneof![20 => Just(" "), 1 => Just("  "), 1 => Just("\t")];
        let tail = prop_oneof![10 => Just(""), 1 => Just(" "), 1 => Just("\r"), 1 => Just(" 7")];
        // Lines of many fields are rarely all valid with one value per field left to
        // chance: half the lines are built of valid values only.
        let values = prop_oneof![
            slots.iter().map(|&slot| slot_value(slot)).collect::<Vec<_>>(),
            slots.iter().map(|&slot| valid_value(slot)).collect::<Vec<_>>(),
        ];
        let seps = prop_oneof![proptest::collection::vec(sep, slots.len()), Just(vec![" "; slots.len()]),];
        let line = (values, seps, tail).prop_map(|(values, seps, tail)| {
            let mut line = String::new();
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    line.push_str(seps[index]);
                }
                line.push_str(value);
            }
            line.push_str(tail);
            line
        });
        let header = slots
            .iter()
            .map(|slot| match slot {
                Slot::Known(field) => field.name(),
                Slot::Unknown => "future-field",
            })
            .collect::<Vec<_>>()
            .join(" ");
        (Just(header), proptest::collection::vec(line, 1..5))
    })
}

/// A line that [`LineParser::parse_record_line`] takes from the start of `text` is
/// all of `line` and gives the record the general path gives.
fn assert_record_line_agrees(
    parser: &mut LineParser,
    text: &[u8],
    line: &str,
    expected: &Result<Line, LineError>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut record = FlowRecord::default();
    if let Some(len) = parser.parse_record_line(text, &mut record) {
        proptest::prop_assert_eq!(len, line.len(), "{:?}", line);
        proptest::prop_assert_eq!(expected, &Ok(Line::Record(record)), "{:?}", line);
    }
    Ok(())
}

#[test]
fn record_lines_end_at_a_bare_newline() {
    let line = "2 123456789012 eni-0f1e2d3c4b5a69788 203.0.113.45 10.20.1.17 49822 443 6 14 2210 1795849200 1795849259 ACCEPT OK";
    let mut p = LineParser::new();
    let mut record = FlowRecord::default();
    let text = format!("{line}\n{line}\n");
    assert_eq!(p.parse_record_line(text.as_bytes(), &mut record), Some(line.len()));
    assert_eq!(Ok(Line::Record(record)), p.parse_line(line.as_bytes()));
    // CR, a trailing space, no newline yet, a header, a blank line: framed instead.
    for text in [format!("{line}\r\n"), format!("{line} \n"), line.to_string(), "version srcaddr\n".into(), "\n".into()]
    {
        assert_eq!(p.parse_record_line(text.as_bytes(), &mut record), None, "{text:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

    /// The straight-line v2 path gives what the general path gives, record or error,
    /// also when the line sits in a buffer followed by its `\n` and more lines.
    #[test]
    fn fast_v2_path_agrees_with_the_general_path(lines in proptest::collection::vec(v2_line(), 1..6)) {
        let mut fast = LineParser::new();
        let mut general = LineParser::new();
        let schema = Schema::default_v2();
        general.schema = Ok(Schema { fast_path: FastPath::None, ..schema });
        for line in &lines {
            let expected = general.parse_line(line.as_bytes());
            let got = fast.parse_line(line.as_bytes());
            proptest::prop_assert_eq!(&got, &expected, "{:?}", line);
            let mut in_buffer = line.clone().into_bytes();
            in_buffer.extend_from_slice(b"\n2 123 9 9\n");
            let mut record = FlowRecord::default();
            let kind = fast.parse_line_in(&in_buffer, line.len(), &mut record);
            proptest::prop_assert_eq!(kind.clone(), got.clone().map(|l| match l { Line::Blank => LineKind::Blank, Line::Header => LineKind::Header, Line::Record(_) => LineKind::Record }));
            if let Ok(Line::Record(expected)) = &expected {
                proptest::prop_assert_eq!(&record, expected);
                proptest::prop_assert_eq!(fast.interner.resolve(record.interface_id), general.interner.resolve(expected.interface_id));
            }
            assert_record_line_agrees(&mut fast, &in_buffer, line, &expected)?;
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

    /// The planned path gives what the general path gives, record or error, for
    /// any field order, also when the line is followed by its `\n` and more lines.
    #[test]
    fn planned_path_agrees_with_the_general_path((header, lines) in planned_lines()) {
        let mut planned = LineParser::new();
        let mut general = LineParser::new();
        proptest::prop_assert_eq!(planned.parse_line(header.as_bytes()), Ok(Line::Header));
        proptest::prop_assert_eq!(general.parse_line(header.as_bytes()), Ok(Line::Header));
        let schema = general.schema.clone().map_err(proptest::test_runner::TestCaseError::fail)?;
        general.schema = Ok(Schema { fast_path: FastPath::None, ..schema });
        for line in &lines {
            let expected = general.parse_line(line.as_bytes());
            let mut in_buffer = line.clone().into_bytes();
            in_buffer.extend_from_slice(b"\n2 123 9 9\n");
            let mut record = FlowRecord::default();
            let kind = planned.parse_line_in(&in_buffer, line.len(), &mut record);
            assert_record_line_agrees(&mut planned, &in_buffer, line, &expected)?;
            match &expected {
                Ok(Line::Record(expected)) => {
                    proptest::prop_assert_eq!(kind, Ok(LineKind::Record), "{:?}", line);
                    proptest::prop_assert_eq!(&record, expected, "{:?}", line);
                }
                Ok(Line::Blank) => proptest::prop_assert_eq!(kind, Ok(LineKind::Blank)),
                Ok(Line::Header) => proptest::prop_assert_eq!(kind, Ok(LineKind::Header)),
                Err(err) => proptest::prop_assert_eq!(kind, Err(err.clone()), "{:?}", line),
            }
        }
    }
}

proptest::proptest! {
    /// Dotted quads follow the standard library's rules (which also refuse leading
    /// zeros), whatever the digits, dots and lengths.
    #[test]
    fn ipv4_addresses_parse_as_the_standard_library_parses_them(text in "[0-9.]{0,17}") {
        let expected = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
        proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), expected, "{:?}", text);
    }

    #[test]
    fn ipv4_addresses_of_four_octets_parse(octets in proptest::array::uniform4(0u32..300), zero_pad in 0usize..4) {
        let mut parts: Vec<String> = octets.iter().map(|o| o.to_string()).collect();
        if zero_pad < 4 {
            parts[zero_pad].insert(0, '0');
        }
        let text = parts.join(".");
        let expected = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
        proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), expected, "{:?}", text);
    }
}

#[test]
fn straight_line_orders_are_recognised_from_their_headers() {
    for &(order, fast_path) in STRAIGHT_LINE_ORDERS {
        let header = order.iter().map(|f| f.name()).collect::<Vec<_>>().join(" ");
        assert_eq!(Schema::from_header(header.as_bytes()).unwrap().fast_path, fast_path, "{header}");
        // One field less, or two swapped, is another order: planned.
        assert_eq!(Schema::from_fields(&order[1..]).fast_path, FastPath::Planned);
        let mut swapped = order.to_vec();
        swapped.swap(1, 2);
        assert_eq!(Schema::from_fields(&swapped).fast_path, FastPath::Planned);
    }
    // The "all fields" orders are the catalogue up to their version.
    for (order, version) in [(ALL_V3, 3), (ALL_V4, 4), (ALL_V5, 5)] {
        let catalogue: Vec<Field> = Field::ALL.iter().copied().filter(|f| f.version() <= version).collect();
        assert_eq!(order, catalogue.as_slice());
    }
    assert_eq!(Schema::default_v2().fast_path, FastPath::DefaultV2);
}

#[test]
fn token_end_stops_at_the_first_unprintable_byte() {
    assert_eq!(token_end(b"eni-0123456789abcdef0 x", 0), 21);
    assert_eq!(token_end(b"abc", 0), 3);
    assert_eq!(token_end(b"abcdefgh\tij", 0), 8);
    assert_eq!(token_end(b"abcdefghij\x7fk", 0), 10);
    assert_eq!(token_end(b"abcdefghijk\xc3\xa9", 0), 11);
    assert_eq!(token_end(b"a\x00bcdefghijk", 0), 1);
    assert_eq!(token_end(b"~~~~~~~~~~!", 0), 11);
}

#[test]
fn unprintable_identifiers_are_rejected() {
    let mut p = LineParser::new();
    let err = p.parse_line(b"2 1 eni-\x01bad 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
    assert!(matches!(err, LineError::BadValue { field: Field::InterfaceId, .. }), "{err}");
    p.parse_line(b"version tgw-id").unwrap();
    let err = p.parse_line("6 tgw-\u{e9}".as_bytes()).unwrap_err();
    assert!(matches!(&err, LineError::BadUnknown { name, .. } if name == "tgw-id"), "{err}");
}

#[test]
fn tabs_and_runs_of_spaces_separate_fields() {
    let mut p = LineParser::new();
    let r = record(&mut p, "  2\t1  eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT\tOK");
    assert_eq!((r.version, r.log_status), (Some(2), Some(LogStatus::Ok)));
}

#[test]
fn binary_junk_is_malformed_not_a_panic() {
    let mut p = LineParser::new();
    let junk = [0xffu8, 0x00, 0x1f, 0x8b, b' ', 0xc3, 0x28];
    assert!(p.parse_line(&junk).is_err());
}
