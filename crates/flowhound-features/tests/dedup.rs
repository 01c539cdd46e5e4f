//! Hand-computed fixtures for the counting and de-duplication rules (docs/features.md).

use std::sync::Arc;

use flowhound_features::{FeatureConfig, FeatureState, Features, HostWindow};
use flowhound_flowlog::{Addr, Partial, ReadOptions, read_stream};

const T0: u64 = 1_800_000_000; // a multiple of 900

const V5: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
                  action log-status instance-id tcp-flags pkt-srcaddr pkt-dstaddr pkt-dst-aws-service flow-direction";

fn state_of(objects: &[&str], cfg: &Arc<FeatureConfig>) -> FeatureState {
    let mut state = FeatureState::new(cfg.clone());
    for (i, text) in objects.iter().enumerate() {
        let report = read_stream(&format!("fixture{i}"), text.as_bytes(), &ReadOptions::default(), &mut state);
        assert_eq!(report.malformed, 0, "{:?}", report.malformed_samples);
    }
    state
}

fn run(objects: &[&str]) -> Features {
    state_of(objects, &Arc::new(FeatureConfig::default())).finish()
}

fn addr(s: &str) -> Addr {
    Addr::from(s.parse::<std::net::IpAddr>().unwrap())
}

fn row<'a>(f: &'a Features, host: &str, window: u64) -> &'a HostWindow {
    f.rows
        .iter()
        .find(|r| r.host == addr(host) && r.window_start == window)
        .unwrap_or_else(|| panic!("no row for {host} at {window}: {:#?}", f.rows))
}

fn t(offset: u64) -> u64 {
    T0 + offset
}

#[test]
fn flow_on_both_interfaces_counts_once_per_direction() {
    let a = format!(
        "{V5}\n\
         5 1 eni-a 10.0.0.1 10.0.0.2 40000 22 6 10 1000 {} {} ACCEPT OK i-a 2 10.0.0.1 10.0.0.2 - egress\n\
         5 1 eni-a 10.0.0.2 10.0.0.1 22 40000 6 8 5000 {} {} ACCEPT OK i-a 18 10.0.0.2 10.0.0.1 - ingress\n",
        t(10),
        t(60),
        t(10),
        t(60)
    );
    let b = format!(
        "{V5}\n\
         5 1 eni-b 10.0.0.1 10.0.0.2 40000 22 6 10 1000 {} {} ACCEPT OK i-b 2 10.0.0.1 10.0.0.2 - ingress\n\
         5 1 eni-b 10.0.0.2 10.0.0.1 22 40000 6 8 5000 {} {} ACCEPT OK i-b 18 10.0.0.2 10.0.0.1 - egress\n",
        t(12),
        t(61),
        t(12),
        t(61)
    );
    let f = run(&[&a, &b]);
    assert_eq!(f.rows.len(), 2);
    let ra = row(&f, "10.0.0.1", T0);
    assert_eq!((ra.flows_out, ra.bytes_out, ra.packets_out), (1, 1000, 10));
    assert_eq!((ra.flows_in, ra.bytes_in, ra.packets_in), (1, 5000, 8));
    assert_eq!((ra.bytes_out_internal, ra.bytes_out_external), (1000, 0));
    assert_eq!((ra.peers_internal, ra.peers_external, ra.dst_ports, ra.src_ports_out), (1, 0, 1, 1));
    assert_eq!((ra.admin_conns_out, ra.admin_conns_in, ra.syn_out, ra.syn_in), (1, 0, 1, 0));
    assert_eq!(ra.interface_id.as_deref(), Some("eni-a"));
    assert_eq!(ra.instance_id.as_deref(), Some("i-a"));
    assert_eq!(ra.window_end, T0 + 900);
    assert_eq!(ra.out_in_ratio, 1001.0 / 5001.0);
    let rb = row(&f, "10.0.0.2", T0);
    assert_eq!((rb.flows_out, rb.bytes_out, rb.flows_in, rb.bytes_in), (1, 5000, 1, 1000));
    assert_eq!((rb.admin_conns_out, rb.admin_conns_in, rb.dst_ports, rb.dst_ports_in), (0, 1, 1, 1));
    assert_eq!(rb.interface_id.as_deref(), Some("eni-b"));
    assert_eq!(f.stats.duplicates_dropped, 2);
    assert_eq!(f.edges.len(), 2);
    let e = &f.edges[0];
    assert_eq!((e.src, e.dst, e.dst_port, e.protocol), (addr("10.0.0.1"), addr("10.0.0.2"), 22, 6));
    assert_eq!((e.flows_accept, e.flows_reject, e.bytes, e.packets, e.syn), (1, 0, 1000, 10, 1));
    assert_eq!((f.edges[1].dst_port, f.edges[1].bytes), (40000, 5000));
    // Internal peers are not beaconing pairs.
    assert!(f.pairs.is_empty());
    // Read the other way round, the receiver's copy of the first flow (not the second)
    // arrives after its sender's capture and is dropped on arrival: same result.
    let reversed = run(&[&b, &a]);
    assert_eq!(reversed.rows, f.rows);
    assert_eq!(reversed.edges, f.edges);
    assert_eq!(reversed.stats.duplicates_dropped, 2);
}

fn nat_objects() -> (String, String) {
    let instance = format!(
        "{V5}\n\
         5 1 eni-i 10.0.1.5 203.0.113.9 50000 443 6 5 700 {} {} ACCEPT OK i-i 2 10.0.1.5 203.0.113.9 - egress\n\
         5 1 eni-i 203.0.113.9 10.0.1.5 443 50000 6 4 3000 {} {} ACCEPT OK i-i 18 203.0.113.9 10.0.1.5 - ingress\n",
        t(100),
        t(130),
        t(100),
        t(130)
    );
    let nat = format!(
        "{V5}\n\
         5 1 eni-nat 10.0.1.5 10.0.0.100 50000 443 6 5 700 {} {} ACCEPT OK - 2 10.0.1.5 203.0.113.9 - ingress\n\
         5 1 eni-nat 10.0.0.100 203.0.113.9 61000 443 6 5 700 {} {} ACCEPT OK - 2 10.0.0.100 203.0.113.9 - egress\n\
         5 1 eni-nat 203.0.113.9 10.0.0.100 443 61000 6 4 3000 {} {} ACCEPT OK - 18 203.0.113.9 10.0.0.100 - ingress\n\
         5 1 eni-nat 10.0.0.100 10.0.1.5 443 50000 6 4 3000 {} {} ACCEPT OK - 18 203.0.113.9 10.0.1.5 - egress\n",
        t(101),
        t(131),
        t(101),
        t(131),
        t(101),
        t(131),
        t(101),
        t(131)
    );
    (instance, nat)
}

#[test]
fn nat_gateway_copies_are_not_double_counted() {
    let (instance, nat) = nat_objects();
    let f = run(&[&instance, &nat]);
    let ri = row(&f, "10.0.1.5", T0);
    assert_eq!((ri.flows_out, ri.bytes_out, ri.flows_in, ri.bytes_in), (1, 700, 1, 3000));
    assert_eq!((ri.bytes_out_external, ri.bytes_in_external, ri.peers_external, ri.peers_internal), (700, 3000, 1, 0));
    assert_eq!(ri.top_external_dst, Some(addr("203.0.113.9")));
    assert_eq!((ri.top_external_dst_bytes, ri.top_external_dst_share), (700, 1.0));
    assert_eq!(ri.interface_id.as_deref(), Some("eni-i"));
    // The gateway's own public leg is the gateway's traffic.
    let rn = row(&f, "10.0.0.100", T0);
    assert_eq!((rn.bytes_out, rn.bytes_in, rn.peers_internal), (700, 3000, 0));
    assert_eq!(f.stats.duplicates_dropped, 2);
    // Two series: the host's, and the gateway's own public leg.
    assert_eq!(f.pairs.len(), 2);
    let p = f.pairs.iter().find(|p| p.host == addr("10.0.1.5")).unwrap();
    assert_eq!((p.host, p.peer, p.port, p.protocol), (addr("10.0.1.5"), addr("203.0.113.9"), 443, 6));
    assert_eq!((p.events_total, p.starts(), p.bytes.clone()), (1, vec![t(100)], vec![700]));
}

#[test]
fn nat_gateway_records_are_attributed_to_the_real_host() {
    let (_, nat) = nat_objects();
    let f = run(&[&nat]);
    let ri = row(&f, "10.0.1.5", T0);
    assert_eq!((ri.flows_out, ri.bytes_out, ri.flows_in, ri.bytes_in), (1, 700, 1, 3000));
    assert_eq!((ri.bytes_out_external, ri.bytes_in_external, ri.peers_external), (700, 3000, 1));
    assert_eq!(ri.interface_id, None);
    assert_eq!(f.stats.duplicates_dropped, 0);
    // The host's pair series falls back to the gateway's copy.
    assert_eq!(f.pairs.len(), 2);
    let p = f.pairs.iter().find(|p| p.host == addr("10.0.1.5")).unwrap();
    assert_eq!(p.events_total, 1);
}

#[test]
fn reject_nodata_and_skipdata() {
    // Default version-2 format, no header.
    let text = format!(
        "2 1 eni-w 198.51.100.77 10.0.2.7 61104 3389 6 1 44 {} {} REJECT OK\n\
         2 1 eni-w 10.0.2.7 198.51.100.80 443 50123 6 3 900 {} {} ACCEPT OK\n\
         2 1 eni-x - - - - - - - {} {} - NODATA\n\
         2 1 eni-w - - - - - - - {} {} - SKIPDATA\n\
         2 1 eni-w 198.51.100.77 10.0.2.7 61105 3389 6 1 44 {} {} REJECT OK\n",
        t(5),
        t(5),
        t(7),
        t(9),
        t(0),
        t(59),
        t(0),
        t(59),
        t(905),
        t(905)
    );
    let f = run(&[&text]);
    let r = row(&f, "10.0.2.7", T0);
    assert_eq!((r.flows_in, r.bytes_in, r.rejects_in, r.rejects_out), (1, 44, 1, 0));
    assert_eq!((r.flows_out, r.bytes_out, r.dst_ports_in, r.admin_conns_in), (1, 900, 1, 0));
    assert_eq!((r.peers_external, r.syn_in), (2, 0));
    assert!(r.incomplete);
    assert_eq!(r.interface_id.as_deref(), Some("eni-w"));
    let next = row(&f, "10.0.2.7", T0 + 900);
    assert_eq!((next.flows_in, next.rejects_in), (1, 1));
    assert!(!next.incomplete);
    assert_eq!(f.rows.len(), 2);
    assert_eq!((f.stats.records, f.stats.nodata, f.stats.skipdata), (5, 1, 1));
}

#[test]
fn version_2_learns_interface_addresses() {
    let a = format!(
        "2 1 eni-a2 10.0.3.1 10.0.3.2 40000 5432 6 10 1000 {t} {t} ACCEPT OK\n\
         2 1 eni-a2 10.0.3.2 10.0.3.1 5432 40000 6 10 2000 {t} {t} ACCEPT OK\n\
         2 1 eni-a2 10.0.3.1 8.8.8.8 53000 53 17 1 100 {t} {t} ACCEPT OK\n",
        t = t(300)
    );
    let b = format!(
        "2 1 eni-b2 10.0.3.1 10.0.3.2 40000 5432 6 10 1000 {t} {t} ACCEPT OK\n\
         2 1 eni-b2 10.0.3.2 10.0.3.1 5432 40000 6 10 2000 {t} {t} ACCEPT OK\n\
         2 1 eni-b2 10.0.3.3 10.0.3.2 41000 5432 6 2 300 {t} {t} REJECT OK\n",
        t = t(320)
    );
    let f = run(&[&a, &b]);
    let ra = row(&f, "10.0.3.1", T0);
    assert_eq!((ra.bytes_out, ra.bytes_in, ra.bytes_out_internal, ra.bytes_out_external), (1100, 2000, 1000, 100));
    assert_eq!((ra.admin_conns_out, ra.dst_ports, ra.dsts_out, ra.dsts_out_internal), (1, 2, 2, 1));
    let rb = row(&f, "10.0.3.2", T0);
    assert_eq!((rb.bytes_in, rb.bytes_out, rb.rejects_in, rb.admin_conns_in, rb.peers_internal), (1300, 2000, 1, 2, 2));
    // 10.0.3.3 has no interface of its own: the receiver's copy is its only record.
    let rc = row(&f, "10.0.3.3", T0);
    assert_eq!((rc.bytes_out, rc.rejects_out, rc.admin_conns_out, rc.interface_id.clone()), (300, 1, 1, None));
    assert_eq!(f.stats.duplicates_dropped, 2);
    assert_eq!(f.stats.interfaces_unresolved, 0);
}

#[test]
fn version_2_interfaces_that_only_see_each_other_count_once() {
    let line = |eni: &str| {
        format!(
            "2 1 {eni} 10.0.4.1 10.0.4.2 40000 80 6 1 100 {t} {t} ACCEPT OK\n\
             2 1 {eni} 10.0.4.2 10.0.4.1 80 40000 6 1 200 {t} {t} ACCEPT OK\n",
            t = t(10)
        )
    };
    let f = run(&[&line("eni-p"), &line("eni-q")]);
    let rp = row(&f, "10.0.4.1", T0);
    assert_eq!((rp.bytes_out, rp.bytes_in), (100, 200));
    let rq = row(&f, "10.0.4.2", T0);
    assert_eq!((rq.bytes_out, rq.bytes_in), (200, 100));
    assert_eq!((f.stats.interfaces_unresolved, f.stats.duplicates_dropped), (2, 2));
}

#[test]
fn ipv6_ula_and_configured_vpc_blocks() {
    let text = format!(
        "{V5}\n\
         5 1 eni-6 fd00::1 2001:db8::5 40000 443 6 3 1200 {t} {t} ACCEPT OK i-6 2 fd00::1 2001:db8::5 - egress\n\
         5 1 eni-7 2600:1f18:1234:5601::7 2001:db8::5 40001 443 6 2 800 {t} {t} ACCEPT OK i-7 2 \
         2600:1f18:1234:5601::7 2001:db8::5 S3 egress\n",
        t = t(10)
    );
    let f = run(&[&text]);
    // Without the VPC block the global IPv6 address is external: only the ULA host has a row.
    assert_eq!(f.rows.len(), 1);
    assert_eq!(row(&f, "fd00::1", T0).bytes_out_external, 1200);
    assert_eq!(f.stats.unattributed, 1);
    let cfg = FeatureConfig::new(900, 86_400, &["2600:1f18:1234:5600::/56".parse().unwrap()]).unwrap();
    let f = state_of(&[&text], &Arc::new(cfg)).finish();
    assert_eq!(f.rows.len(), 2);
    let r = row(&f, "2600:1f18:1234:5601::7", T0);
    assert_eq!((r.bytes_out, r.bytes_out_external, r.bytes_out_aws), (800, 800, 800));
    assert_eq!(f.pairs.len(), 2);
    assert!(f.pairs.iter().any(|p| p.aws_service));
}

#[test]
fn windows_are_cut_by_end_time() {
    let text = format!(
        "2 1 eni-t 10.0.5.1 1.1.1.1 1 2 6 1 10 {} {} ACCEPT OK\n\
         2 1 eni-t 10.0.5.1 1.1.1.1 1 2 6 1 20 {} {} ACCEPT OK\n\
         2 1 eni-t 10.0.5.1 1.1.1.1 1 2 6 1 40 {} {} ACCEPT OK\n",
        t(850),
        t(899),
        t(850),
        t(900),
        t(1799),
        t(1800)
    );
    let f = run(&[&text]);
    let windows: Vec<(u64, u64)> = f.rows.iter().map(|r| (r.window_start, r.bytes_out)).collect();
    assert_eq!(windows, vec![(T0, 10), (T0 + 900, 20), (T0 + 1800, 40)]);
}

#[test]
fn merging_partials_equals_one_pass() {
    let (instance, nat) = nat_objects();
    let cfg = Arc::new(FeatureConfig::default());
    let whole = state_of(&[&instance, &nat], &cfg).finish();
    let mut a = state_of(&[&nat], &cfg);
    let b = state_of(&[&instance], &cfg);
    a.merge(b);
    assert_eq!(a.finish(), whole);
}

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Version 2 (no instance-id, no pkt-* fields): hosts A (10.0.1.5) and B (10.0.1.6) reach the
/// internet through a NAT gateway N (10.0.0.10). Their own interfaces log the real flows;
/// the NAT's interface logs each connection again as two legs, instance -> N and N -> internet,
/// and the replies. A database S (10.0.2.9) takes connections from A and B and calls an
/// external API itself: it is not a gateway.
fn nat_v2_objects() -> Vec<String> {
    let (s, e) = (t(10), t(60));
    let a = format!(
        "{V2}\n\
         2 1 eni-a 10.0.1.5 203.0.113.5 40000 443 6 10 1000 {s} {e} ACCEPT OK\n\
         2 1 eni-a 203.0.113.5 10.0.1.5 443 40000 6 8 5000 {s} {e} ACCEPT OK\n\
         2 1 eni-a 10.0.1.5 10.0.2.9 40100 5432 6 5 700 {s} {e} ACCEPT OK\n"
    );
    let b = format!(
        "{V2}\n\
         2 1 eni-b 10.0.1.6 198.51.100.7 40001 443 6 4 400 {s} {e} ACCEPT OK\n\
         2 1 eni-b 198.51.100.7 10.0.1.6 443 40001 6 3 3000 {s} {e} ACCEPT OK\n\
         2 1 eni-b 10.0.1.6 10.0.2.9 40101 5432 6 5 650 {s} {e} ACCEPT OK\n"
    );
    let nat = format!(
        "{V2}\n\
         2 1 eni-nat 10.0.1.5 10.0.0.10 40000 443 6 10 1000 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 10.0.0.10 203.0.113.5 61000 443 6 10 1000 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 203.0.113.5 10.0.0.10 443 61000 6 8 5000 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 10.0.0.10 10.0.1.5 443 40000 6 8 5000 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 10.0.1.6 10.0.0.10 40001 443 6 4 400 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 10.0.0.10 198.51.100.7 61001 443 6 4 400 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 198.51.100.7 10.0.0.10 443 61001 6 3 3000 {s} {e} ACCEPT OK\n\
         2 1 eni-nat 10.0.0.10 10.0.1.6 443 40001 6 3 3000 {s} {e} ACCEPT OK\n"
    );
    let db = format!(
        "{V2}\n\
         2 1 eni-s 10.0.1.5 10.0.2.9 40100 5432 6 5 700 {s} {e} ACCEPT OK\n\
         2 1 eni-s 10.0.1.6 10.0.2.9 40101 5432 6 5 650 {s} {e} ACCEPT OK\n\
         2 1 eni-s 10.0.2.9 192.0.2.80 41000 443 6 6 900 {s} {e} ACCEPT OK\n"
    );
    vec![a, b, nat, db]
}

#[test]
fn version_2_nat_gateway_is_recognised_from_its_traffic() {
    let objects = nat_v2_objects();
    let texts: Vec<&str> = objects.iter().map(String::as_str).collect();
    let f = run(&texts);
    let hosts: Vec<Addr> = f.rows.iter().map(|r| r.host).collect();
    assert_eq!(hosts, vec![addr("10.0.1.5"), addr("10.0.1.6"), addr("10.0.2.9")], "no row for the NAT's address");
    let a = row(&f, "10.0.1.5", T0);
    assert_eq!((a.flows_out, a.bytes_out, a.bytes_out_external, a.bytes_out_internal), (2, 1700, 1000, 700));
    assert_eq!((a.flows_in, a.bytes_in, a.bytes_in_external), (1, 5000, 5000));
    assert_eq!((a.peers_internal, a.peers_external), (1, 1), "the NAT is not a peer");
    assert_eq!(a.top_external_dst, Some(addr("203.0.113.5")));
    let b = row(&f, "10.0.1.6", T0);
    assert_eq!((b.flows_out, b.bytes_out_external, b.bytes_in_external, b.peers_internal), (2, 400, 3000, 1));
    // The database forwards nothing: it keeps its own external traffic.
    let db = row(&f, "10.0.2.9", T0);
    assert_eq!((db.bytes_out_external, db.bytes_in_internal, db.flows_in), (900, 1350, 2));
    let pair_hosts: Vec<(Addr, Addr)> = f.pairs.iter().map(|p| (p.host, p.peer)).collect();
    assert_eq!(
        pair_hosts,
        vec![
            (addr("10.0.1.5"), addr("203.0.113.5")),
            (addr("10.0.1.6"), addr("198.51.100.7")),
            (addr("10.0.2.9"), addr("192.0.2.80"))
        ]
    );
    assert!(f.edges.iter().all(|e| e.src != addr("10.0.0.10") && e.dst != addr("10.0.0.10")));
    // The eight gateway records, plus the database's copies of A's and B's connections.
    assert_eq!(f.stats.duplicates_dropped, 10);
}

#[test]
fn a_host_that_only_receives_from_two_clients_is_not_a_gateway() {
    // The same records without the NAT's external legs: 10.0.0.10 is then a server with
    // internal clients on 443 and no traffic out, so it keeps its rows (its replies; the
    // clients' requests are counted from their own interfaces' copies).
    let objects = nat_v2_objects();
    let nat: String = objects[2]
        .lines()
        .filter(|l| !l.contains(" 10.0.0.10 203.") && !l.contains(" 10.0.0.10 198."))
        .map(|l| format!("{l}\n"))
        .collect();
    let f = run(&[&objects[0], &objects[1], &nat, &objects[3]]);
    let n = row(&f, "10.0.0.10", T0);
    assert_eq!((n.bytes_out_internal, n.bytes_out_external, n.flows_out), (8000, 0, 2));
}
