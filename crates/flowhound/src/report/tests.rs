//! The report's data and page on a small hand-written estate: two days of routine traffic,
//! a beacon, a bulk upload and an SMB sweep on the second day.

use std::sync::Arc;

use flowhound_features::{FeatureConfig, FeatureState, Features};
use flowhound_flowlog::time::DAY;
use flowhound_flowlog::{ReadOptions, read_stream};
use flowhound_model::{Baseline, BaselineParams, DetectConfig, Finding, Severity};

use super::data::{self, EdgeState, Evidence, Run};
use super::page;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const T0: u64 = 1_800_000_000 - 1_800_000_000 % DAY;
const BEACON: &str = "10.0.0.5";
const C2: &str = "198.51.100.7";
const UPLOADER: &str = "10.0.0.6";
const DROP: &str = "203.0.113.9";
const SWEEPER: &str = "10.0.0.7";

fn line(text: &mut String, src: &str, dst: &str, sport: u32, dport: u16, bytes: u64, t: u64) {
    text.push_str(&format!(
        "2 123456789012 eni-0abc {src} {dst} {sport} {dport} 6 10 {bytes} {t} {} ACCEPT OK\n",
        t + 5
    ));
}

fn estate() -> Features {
    let mut text = format!("{HEADER}\n");
    let mut sport = 40_000;
    let mut next_port = || {
        sport = if sport >= 60_000 { 40_000 } else { sport + 1 };
        sport
    };
    for day in 0..2 {
        let d = T0 + day * DAY;
        // Routine: every host browses and talks to the database every 15 min, both days.
        for w in 0..96u64 {
            let t = d + w * 900 + 60;
            for (i, h) in ["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"].iter().enumerate() {
                line(
                    &mut text,
                    h,
                    &format!("93.184.216.{}", 10 + (w as usize + i) % 7),
                    next_port(),
                    443,
                    20_000 + 1_000 * i as u64,
                    t + i as u64,
                );
                line(&mut text, h, "10.0.1.10", next_port(), 5432, 4_000, t + 30 + i as u64);
            }
        }
        // The sweeper's usual administration: SSH to one server, every day.
        line(&mut text, SWEEPER, "10.0.1.20", next_port(), 22, 9_000, d + 3_600);
    }
    let day2 = T0 + DAY;
    // Beacon on day 2 from 06:00 for 6 h, every 300 s ± 3 s.
    for k in 0..72u64 {
        let jitter = [0, 3, 1, 2, 0, 2][(k % 6) as usize];
        line(&mut text, BEACON, C2, next_port(), 443, 800, day2 + 6 * 3600 + k * 300 + jitter);
    }
    // Upload on day 2 at 14:00: 40 × 25 MB.
    for k in 0..40u64 {
        line(&mut text, UPLOADER, DROP, next_port(), 443, 25_000_000, day2 + 14 * 3600 + k * 10);
    }
    // Sweep on day 2 at 20:00: 50 internal hosts on 445.
    for k in 0..50u64 {
        line(&mut text, SWEEPER, &format!("10.0.2.{}", k + 1), next_port(), 445, 300, day2 + 20 * 3600 + k * 2);
    }
    let mut state = FeatureState::new(Arc::new(FeatureConfig::default()));
    let report = read_stream("fixture", text.as_bytes(), &ReadOptions::default(), &mut state);
    assert_eq!(report.malformed, 0, "{:?}", report.malformed_samples);
    state.finish()
}

fn finding(detector: &'static str, host: &str, peer: &str, port: u16, from: u64, to: u64, score: f64) -> Finding {
    Finding {
        detector,
        host: host.into(),
        peer: Some(peer.into()),
        port: Some(port),
        protocol: Some(6),
        window_start: from,
        window_end: to,
        score,
        severity: if score >= 90.0 { Severity::High } else { Severity::Medium },
        summary: format!("{host} <did> \"something\" & more"),
        evidence: serde_json::Map::new(),
        model: "hunt:self-baseline".into(),
        interface_id: Some("eni-0abc".into()),
        instance_id: None,
        vpc_id: None,
        related_hosts: Vec::new(),
        incident: None,
    }
}

fn findings() -> Vec<Finding> {
    let day2 = T0 + DAY;
    let mut beacon = finding("beaconing", BEACON, C2, 443, day2 + 6 * 3600, day2 + 6 * 3600 + 71 * 300 + 2, 93.0);
    beacon.evidence.insert("period_secs".into(), 300.0.into());
    beacon.evidence.insert("jitter".into(), 0.01.into());
    let mut upload = finding("exfiltration", UPLOADER, DROP, 443, day2 + 14 * 3600, day2 + 15 * 3600, 99.0);
    upload.evidence.insert("destination_key".into(), DROP.into());
    let sweep = finding("lateral_movement", SWEEPER, "10.0.2.1", 445, day2 + 20 * 3600, day2 + 20 * 3600 + 900, 97.0);
    vec![upload, sweep, beacon]
}

fn baseline(features: &Features) -> Baseline {
    BaselineParams::new().seed(7).fit(features, &DetectConfig::default()).expect("fit")
}

#[test]
fn page_data_is_the_findings_evidence() {
    let features = estate();
    let baseline = baseline(&features);
    let findings = findings();
    let sources = vec!["fixture".to_string()];
    let run = Run {
        command: "hunt",
        sources: &sources,
        records: 1,
        malformed: 0,
        first: Some(T0),
        last: Some(T0 + 2 * DAY),
        model: None,
        baseline: &baseline,
        features: &features,
        findings: &findings,
    };
    let page = data::build(&run);
    assert_eq!(page.hosts, 5 + 2 + 50, "the five clients, the database, the SSH server and the swept hosts");
    assert_eq!(page.entries.len(), 3);
    assert_eq!(page.host_index.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(), vec![UPLOADER, SWEEPER, BEACON]);

    // Exfiltration: the upload's window holds the 1 GB, all of it to the drop.
    let Evidence::Volume(v) = &page.entries[0].evidence else { panic!("volume plot expected") };
    assert_eq!(v.window_secs, 900);
    assert_eq!(v.step_secs, 900, "two days of 15-min windows need no aggregation");
    assert_eq!(v.points.len(), 192);
    let peak = v.points.iter().max_by_key(|p| p.host_bytes).expect("points");
    assert_eq!(peak.t, T0 + DAY + 14 * 3600);
    assert_eq!(peak.dest_bytes, 1_000_000_000);
    assert_eq!(peak.host_bytes, 1_000_000_000 + 21_000);
    assert_eq!(v.destination.as_deref(), Some(DROP));
    let share = v.destination_share.expect("share");
    assert!((share - 1e9 / (1e9 + 4.0 * 21_000.0)).abs() < 1e-9, "{share}");
    let (lo, hi) = peak.band.expect("the uploader has a history");
    assert!(lo < 21_000.0 && hi > 21_000.0 && hi < 1e7, "band {lo}..{hi} should hold its usual 21 KB");

    // Lateral movement: 50 new destinations on 445; the database (known) and the SSH server
    // of the other day (history only) keep their places beside the 38 new ones drawn.
    let Evidence::Edges(e) = &page.entries[1].evidence else { panic!("edge plot expected") };
    assert_eq!(e.history, "the other days hunted");
    assert_eq!(e.edges.len(), data::MAX_GRAPH_DESTINATIONS);
    let states: Vec<EdgeState> = e.edges.iter().map(|x| x.state).collect();
    assert_eq!(states.iter().filter(|s| **s == EdgeState::New).count(), 38);
    assert!(e.edges.iter().filter(|x| x.state == EdgeState::New).all(|x| x.ports == vec![445]));
    let known: Vec<(&str, EdgeState)> =
        e.edges.iter().filter(|x| x.state != EdgeState::New).map(|x| (x.dst.as_str(), x.state)).collect();
    assert_eq!(known, vec![("10.0.1.10", EdgeState::Known), ("10.0.1.20", EdgeState::TrainingOnly)]);
    assert!(
        e.notes.iter().any(|n| n.starts_with("graph shows 40 of 52 destinations: 38 of 50 new, 1 of 1 known, 1 of 1")),
        "{:?}",
        e.notes
    );
    assert_eq!(e.ports[0].port, 445, "the finding's port leads the port chart");
    let p445 = &e.ports[0];
    assert_eq!((p445.new_dsts, p445.known_dsts, p445.training_dsts), (50, 0, 0));
    let p5432 = e.ports.iter().find(|p| p.port == 5432).expect("port 5432");
    assert_eq!((p5432.new_dsts, p5432.known_dsts, p5432.training_dsts), (0, 1, 1));

    // Beaconing: 72 connections, gaps of 297–303 s around the marked period.
    let Evidence::Beacon(b) = &page.entries[2].evidence else { panic!("beacon plot expected") };
    assert_eq!(b.events.len(), 72);
    assert!(b.events.iter().all(|&(_, bytes)| bytes == 800));
    assert_eq!(b.intervals.total, 71);
    assert_eq!(b.intervals.beyond, 0);
    let peak_bin = (0..b.intervals.counts.len()).max_by_key(|&i| b.intervals.counts[i]).expect("bins");
    let centre = (peak_bin as f64 + 0.5) * b.intervals.bin_secs;
    assert!((centre - 300.0).abs() < b.intervals.bin_secs, "peak at {centre}");
    assert_eq!((b.period, b.jitter), (Some(300.0), Some(0.01)));
}

#[test]
fn with_a_model_the_history_is_its_training() {
    let features = estate();
    let train = flowhound_model::detect::slice_features(&features, T0, T0 + DAY);
    let baseline = baseline(&train);
    let mut findings = findings();
    findings.truncate(2);
    let sources = vec!["fixture".to_string()];
    let run = Run {
        command: "score",
        sources: &sources,
        records: 1,
        malformed: 0,
        first: None,
        last: None,
        model: Some("fh-0123"),
        baseline: &baseline,
        features: &features,
        findings: &findings,
    };
    let page = data::build(&run);
    let Evidence::Edges(e) = &page.entries[1].evidence else { panic!("edge plot expected") };
    assert_eq!(e.history, "the model's training period");
    // The SSH edge of the training day is drawn, as history only; 22 is not a port of
    // the finding's span, so the port chart leaves it out.
    assert!(e.edges.iter().any(|x| x.dst == "10.0.1.20" && x.state == EdgeState::TrainingOnly && x.ports == vec![22]));
    assert!(e.ports.iter().all(|p| p.port != 22));
}

#[test]
fn the_page_is_self_contained_escaped_and_its_links_resolve() {
    let features = estate();
    let baseline = baseline(&features);
    let findings = findings();
    let sources = vec!["s3://logs/AWSLogs/<x>".to_string()];
    let run = Run {
        command: "hunt",
        sources: &sources,
        records: 1234,
        malformed: 2,
        first: Some(T0),
        last: Some(T0 + 2 * DAY),
        model: None,
        baseline: &baseline,
        features: &features,
        findings: &findings,
    };
    let html = page::render(&data::build(&run));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script");
    // Nothing to fetch: the only URL is the SVG namespace, which is a name, not a request.
    let urls = html.matches("http").count();
    assert_eq!(urls, html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    assert_eq!(html.matches("<svg").count(), 2 + 1 + 2, "beacon 2, volume 1, edges 2");
    assert!(html.contains("&lt;did&gt; &quot;something&quot; &amp; more"));
    assert!(html.contains("s3://logs/AWSLogs/&lt;x&gt;"));
    assert!(!html.contains("<did>"));
    assert!(html.contains("1234 (2 malformed)"));
    assert!(html.contains("no model: the hunted data is its own baseline"));
    // Every in-page link has its target.
    for link in html.split("href=\"#").skip(1) {
        let id = &link[..link.find('"').expect("closing quote")];
        assert!(html.contains(&format!("id=\"{id}\"")), "dangling #{id}");
    }
    assert!(html.contains("id=\"host-10-0-0-7\""));
    for id in ["f1", "f2", "f3"] {
        assert!(html.contains(&format!("href=\"#{id}\"")), "{id} linked");
    }
}

#[test]
fn findings_past_the_limit_are_listed_without_plots() {
    let features = estate();
    let baseline = baseline(&features);
    let one = findings().remove(2);
    let many: Vec<Finding> = (0..data::MAX_PLOTTED_FINDINGS + 3).map(|_| one.clone()).collect();
    let sources = Vec::new();
    let run = Run {
        command: "hunt",
        sources: &sources,
        records: 0,
        malformed: 0,
        first: None,
        last: None,
        model: None,
        baseline: &baseline,
        features: &features,
        findings: &many,
    };
    let page = data::build(&run);
    assert!(matches!(page.entries[data::MAX_PLOTTED_FINDINGS - 1].evidence, Evidence::Beacon(_)));
    let Evidence::None(why) = &page.entries[data::MAX_PLOTTED_FINDINGS].evidence else { panic!("no plot expected") };
    assert!(why.contains("first 100 findings"), "{why}");
    assert_eq!(page.host_index.len(), 1);
    assert_eq!(page.host_index[0].findings.len(), data::MAX_PLOTTED_FINDINGS + 3);
}

#[test]
fn every_history_is_found_by_its_address() {
    // Histories are in numeric address order: 10.0.2.9 before 10.0.2.10, which text order
    // reverses. A text-order search missed about half of the hosts' bands.
    let baseline = baseline(&estate());
    assert!(baseline.histories.hosts.iter().any(|h| h.ip == "10.0.2.10"));
    for h in &baseline.histories.hosts {
        assert_eq!(baseline.host(&h.ip).map(|x| x.ip.as_str()), Some(h.ip.as_str()));
    }
    assert!(baseline.host("10.9.9.9").is_none());
    assert!(baseline.host("not an address").is_none());
}
