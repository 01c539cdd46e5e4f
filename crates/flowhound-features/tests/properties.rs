//! Property tests: conservation of bytes and packets, merge equals union, and every
//! record in exactly one window.

use std::sync::Arc;

use flowhound_features::{CheckpointError, FeatureConfig, FeatureState, Features};
use flowhound_flowlog::{Action, Addr, FlowDirection, FlowRecord, Interner, LogStatus, Partial, RecordSink};
use proptest::prelude::*;

const T0: u64 = 1_800_000_000;

/// A record description small enough for proptest to shrink well.
#[derive(Debug, Clone)]
struct Spec {
    src: u8,
    dst: u8,
    dst_port: u16,
    bytes: u64,
    packets: u64,
    end: u64,
    direction: u8,
    eni: u8,
    reject: bool,
    syn: bool,
    nat: bool,
    status: u8,
}

/// Addresses 0..4 are internal, 4..7 external.
fn address(i: u8) -> Addr {
    if i < 4 {
        Addr::from_ipv4_bits(0x0a00_0001 + u32::from(i))
    } else {
        Addr::from_ipv4_bits(0x0808_0800 + u32::from(i))
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0u8..7, 0u8..7, prop_oneof![Just(22u16), Just(443), Just(5432), 1000u16..1010]),
        (0u64..5000, 0u64..50, 0u64..3600),
        (
            0u8..3,
            0u8..5,
            any::<bool>(),
            any::<bool>(),
            prop::bool::weighted(0.1),
            prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 1, 2]),
        ),
    )
        .prop_map(|((src, dst, dst_port), (bytes, packets, end), (direction, eni, reject, syn, nat, status))| {
            Spec { src, dst, dst_port, bytes, packets, end, direction, eni, reject, syn, nat, status }
        })
}

fn record(s: &Spec, interner: &mut Interner) -> FlowRecord {
    let mut r = FlowRecord {
        interface_id: interner.intern(format!("eni-{}", s.eni).as_bytes()),
        start: Some(T0 + s.end.saturating_sub(30)),
        end: Some(T0 + s.end),
        ..FlowRecord::default()
    };
    match s.status {
        1 => r.log_status = Some(LogStatus::NoData),
        2 => r.log_status = Some(LogStatus::SkipData),
        _ => {
            r.log_status = Some(LogStatus::Ok);
            r.srcaddr = Some(address(s.src));
            r.dstaddr = Some(address(s.dst));
            r.srcport = Some(40_000);
            r.dstport = Some(s.dst_port);
            r.protocol = Some(6);
            r.bytes = Some(s.bytes);
            r.packets = Some(s.packets);
            r.action = Some(if s.reject { Action::Reject } else { Action::Accept });
            r.tcp_flags = Some(if s.syn { 2 } else { 0 });
            r.flow_direction = match s.direction {
                0 => Some(FlowDirection::Egress),
                1 => Some(FlowDirection::Ingress),
                _ => None,
            };
            if s.nat {
                // A gateway copy: the interface address differs from the packet's.
                r.pkt_srcaddr = Some(address(s.src));
                r.pkt_dstaddr = Some(address(s.dst));
                r.dstaddr = Some(Addr::from_ipv4_bits(0x0a00_00fe));
            } else {
                r.instance_id = interner.intern(format!("i-{}", s.eni).as_bytes());
            }
        }
    }
    r
}

/// Feeds specs as one object per chunk, each with its own interner (symbols are per object).
fn feed(state: &mut FeatureState, specs: &[Spec], chunk: usize) {
    for part in specs.chunks(chunk.max(1)) {
        let mut interner = Interner::new();
        let records: Vec<FlowRecord> = part.iter().map(|s| record(s, &mut interner)).collect();
        for r in &records {
            state.record(r, &interner);
        }
        state.end_object(&interner);
    }
}

fn run(specs: &[Spec], chunk: usize) -> Features {
    let mut state = FeatureState::new(Arc::new(FeatureConfig::default()));
    feed(&mut state, specs, chunk);
    state.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn merge_equals_union(specs in prop::collection::vec(spec(), 0..60), split in 0usize..60, chunk in 1usize..8) {
        let cfg = Arc::new(FeatureConfig::default());
        let split = split.min(specs.len());
        let whole = run(&specs, chunk);
        let mut a = FeatureState::new(cfg.clone());
        feed(&mut a, &specs[..split], chunk);
        let mut b = FeatureState::new(cfg.clone());
        feed(&mut b, &specs[split..], chunk + 1);
        // Both orders: merge is commutative.
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        prop_assert_eq!(&ab.finish(), &whole);
        prop_assert_eq!(&ba.finish(), &whole);
    }

    /// The partitioned read of docs/scale.md: each part goes through serialisation (the
    /// feature-state file's body) and back before the merge, in a random order of parts.
    #[test]
    fn serialised_partials_of_random_splits_merge_to_the_whole(
        specs in prop::collection::vec(spec(), 0..60),
        cuts in prop::collection::vec(0usize..60, 0..5),
        order in any::<u64>(),
    ) {
        let cfg = Arc::new(FeatureConfig::default());
        let whole = run(&specs, 3);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(specs.len())).collect();
        bounds.push(0);
        bounds.push(specs.len());
        bounds.sort_unstable();
        let mut parts: Vec<FeatureState> = bounds
            .windows(2)
            .map(|w| {
                let mut part = FeatureState::new(cfg.clone());
                feed(&mut part, &specs[w[0]..w[1]], 3);
                let bytes = serde_json::to_vec(&part).unwrap();
                let back: FeatureState = serde_json::from_slice(&bytes).unwrap();
                back.resume(cfg.clone()).unwrap()
            })
            .collect();
        let rotate = (order as usize) % parts.len();
        parts.rotate_left(rotate);
        let mut merged = FeatureState::new(cfg.clone());
        for part in parts {
            merged.merge(part);
        }
        prop_assert_eq!(&merged.finish(), &whole);
    }

    #[test]
    fn leaving_out_tables_changes_no_row(specs in prop::collection::vec(spec(), 0..80), edges in any::<bool>(), pairs in any::<bool>()) {
        let whole = run(&specs, 5);
        let cfg = Arc::new(FeatureConfig::default().with_tables(edges, pairs));
        let mut state = FeatureState::new(cfg);
        feed(&mut state, &specs, 5);
        let f = state.finish();
        prop_assert_eq!(&f.rows, &whole.rows);
        prop_assert_eq!(&f.stats, &whole.stats);
        if edges {
            prop_assert_eq!(&f.edges, &whole.edges);
        } else {
            prop_assert!(f.edges.is_empty());
        }
        if pairs {
            prop_assert_eq!(&f.pairs, &whole.pairs);
        } else {
            prop_assert!(f.pairs.is_empty());
        }
    }

    #[test]
    fn sender_copies_conserve_bytes_and_packets(specs in prop::collection::vec(spec(), 0..80)) {
        // Egress copies from instance interfaces are never duplicates: every byte counts once.
        let specs: Vec<Spec> = specs.into_iter().map(|s| Spec { direction: 0, nat: false, ..s }).collect();
        let f = run(&specs, 7);
        let ok = |s: &&Spec| s.status == 0;
        let out_bytes: u64 = specs.iter().filter(ok).filter(|s| s.src < 4).map(|s| s.bytes).sum();
        let in_bytes: u64 = specs.iter().filter(ok).filter(|s| s.dst < 4).map(|s| s.bytes).sum();
        let out_packets: u64 = specs.iter().filter(ok).filter(|s| s.src < 4).map(|s| s.packets).sum();
        let in_packets: u64 = specs.iter().filter(ok).filter(|s| s.dst < 4).map(|s| s.packets).sum();
        prop_assert_eq!(f.rows.iter().map(|r| r.bytes_out).sum::<u64>(), out_bytes);
        prop_assert_eq!(f.rows.iter().map(|r| r.bytes_in).sum::<u64>(), in_bytes);
        prop_assert_eq!(f.rows.iter().map(|r| r.packets_out).sum::<u64>(), out_packets);
        prop_assert_eq!(f.rows.iter().map(|r| r.packets_in).sum::<u64>(), in_packets);
        prop_assert_eq!(f.stats.duplicates_dropped, 0);
        let internal_edges: u64 = specs.iter().filter(ok).filter(|s| s.src < 4 && s.dst < 4).map(|s| s.bytes).sum();
        prop_assert_eq!(f.edges.iter().map(|e| e.bytes).sum::<u64>(), internal_edges);
    }

    #[test]
    fn every_record_is_counted_or_dropped_once(specs in prop::collection::vec(spec(), 0..80)) {
        // Whatever the copies, each record with an internal end is either counted once for
        // its primary host (the sender if internal, else the receiver) or dropped as a duplicate.
        let f = run(&specs, 5);
        let attributed = specs.iter().filter(|s| s.status == 0 && (s.src < 4 || s.dst < 4)).count() as u64;
        let counted: u64 = f.rows.iter().map(|r| r.flows_out + r.flows_in_external).sum();
        prop_assert_eq!(counted + f.stats.duplicates_dropped, attributed);
        let placeholders = specs.iter().filter(|s| s.status != 0).count() as u64;
        prop_assert_eq!(f.stats.nodata + f.stats.skipdata, placeholders);
        prop_assert_eq!(f.stats.records, specs.len() as u64);
        let bytes_out: u64 = f.rows.iter().map(|r| r.bytes_out).sum();
        let max: u64 = specs.iter().filter(|s| s.status == 0 && s.src < 4).map(|s| s.bytes).sum();
        prop_assert!(bytes_out <= max);
    }

    #[test]
    fn every_record_lands_in_exactly_one_window(specs in prop::collection::vec(spec(), 0..80)) {
        let specs: Vec<Spec> = specs.into_iter().map(|s| Spec { direction: 0, nat: false, status: 0, ..s }).collect();
        let f = run(&specs, 3);
        let mut expected: std::collections::BTreeMap<(Addr, u64), u64> = Default::default();
        for s in specs.iter().filter(|s| s.src < 4) {
            let end = T0 + s.end;
            *expected.entry((address(s.src), end - end % 900)).or_default() += 1;
        }
        let mut got: std::collections::BTreeMap<(Addr, u64), u64> = Default::default();
        for r in &f.rows {
            prop_assert_eq!(r.window_end - r.window_start, 900);
            if r.flows_out > 0 {
                got.insert((r.host, r.window_start), r.flows_out);
            }
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn drained_windows_plus_the_rest_equal_finish(specs in prop::collection::vec(spec(), 0..80), at in 0u64..4600) {
        let whole = run(&specs, 4);
        let mut state = FeatureState::new(Arc::new(FeatureConfig::default()));
        feed(&mut state, &specs, 4);
        let watermark = T0 + at;
        let drained = state.drain_finished(watermark);
        prop_assert!(drained.rows.iter().all(|r| r.window_end <= watermark));
        prop_assert!(drained.edges.iter().all(|e| e.window_end <= watermark));
        prop_assert!(drained.pairs.is_empty());
        let rest = state.finish();
        prop_assert!(rest.rows.iter().all(|r| r.window_end > watermark));
        let mut rows = drained.rows;
        rows.extend(rest.rows);
        let mut edges = drained.edges;
        edges.extend(rest.edges);
        let mut stats = drained.stats;
        stats.merge(&rest.stats);
        prop_assert_eq!(rows, whole.rows);
        prop_assert_eq!(edges, whole.edges);
        prop_assert_eq!(rest.pairs, whole.pairs);
        prop_assert_eq!(stats, whole.stats);
    }

    #[test]
    fn drained_pair_horizons_plus_the_rest_equal_finish(specs in prop::collection::vec(spec(), 0..80), at in 0u64..4600) {
        // 15-minute horizons: the specs' hour spans four of them, the watermark closes some.
        let cfg = Arc::new(FeatureConfig::new(900, 900, &[]).unwrap());
        let mut whole = FeatureState::new(cfg.clone());
        feed(&mut whole, &specs, 4);
        let whole = whole.finish();
        let mut state = FeatureState::new(cfg);
        feed(&mut state, &specs, 4);
        let watermark = T0 + at;
        let drained = state.drain_finished(watermark);
        let drained_pairs = state.drain_finished_pairs(watermark);
        prop_assert!(drained_pairs.iter().all(|p| p.horizon_end <= watermark));
        let rest = state.finish();
        prop_assert!(rest.pairs.iter().all(|p| p.horizon_end > watermark));
        let mut pairs = drained_pairs;
        pairs.extend(rest.pairs);
        pairs.sort_by_key(|p| (p.host, p.peer, p.port, p.protocol, p.horizon_start));
        let mut stats = drained.stats;
        stats.merge(&rest.stats);
        prop_assert_eq!(pairs, whole.pairs);
        prop_assert_eq!(stats, whole.stats);
    }

    #[test]
    fn checkpoint_and_resume_changes_nothing(specs in prop::collection::vec(spec(), 0..60), split in 0usize..60, drain in any::<bool>()) {
        let cfg = Arc::new(FeatureConfig::default());
        let split = split.min(specs.len());
        let mut straight = FeatureState::new(cfg.clone());
        feed(&mut straight, &specs[..split], 3);
        let mut resumed = FeatureState::new(cfg.clone());
        feed(&mut resumed, &specs[..split], 3);
        let (mut drained_straight, mut drained_resumed) = (None, None);
        if drain {
            drained_straight = Some(straight.drain_finished(T0 + 1800));
            drained_resumed = Some(resumed.drain_finished(T0 + 1800));
        }
        let text = serde_json::to_string(&resumed).unwrap();
        let restored: FeatureState = serde_json::from_str(&text).unwrap();
        let mut resumed = restored.resume(cfg).unwrap();
        feed(&mut straight, &specs[split..], 3);
        feed(&mut resumed, &specs[split..], 3);
        prop_assert_eq!(drained_resumed, drained_straight);
        prop_assert_eq!(resumed.finish(), straight.finish());
    }

    #[test]
    fn pair_series_over_a_stored_horizon_equal_finish(specs in prop::collection::vec(spec(), 0..80)) {
        let mut state = FeatureState::new(Arc::new(FeatureConfig::default()));
        feed(&mut state, &specs, 4);
        // T0 + 3600 lies inside one stored day: ending the horizon with that day reads it whole.
        let day_end = T0 - T0 % 86_400 + 86_400;
        let series = state.pair_series(day_end);
        prop_assert_eq!(&state.pair_series(day_end), &series);
        let finished = state.finish();
        prop_assert_eq!(series, finished.pairs);
    }

    #[test]
    fn eviction_forgets_only_what_is_before_the_cutoff(specs in prop::collection::vec(spec(), 0..80), cut in 0u64..3600) {
        // One-hour horizon: the specs start in [T0, T0 + 3600), one stored horizon, which
        // `pair_series(T0 + 3600)` reads whole; the cutoff falls inside it.
        let cfg = Arc::new(FeatureConfig::new(900, 3600, &[]).unwrap());
        let mut state = FeatureState::new(cfg);
        feed(&mut state, &specs, 4);
        let cutoff = T0 + cut;
        let watermark = cutoff + 3600;
        let before = state.pair_series(watermark);
        let whole = state.pair_series(T0 + 3600);
        let stored: u64 = whole.iter().map(|p| p.events_total).sum();
        let removed = state.evict_pairs_before(cutoff);
        prop_assert_eq!(state.pair_series(watermark), before);
        // What is left is what was there, minus the events that started before the cutoff.
        let mut expected = Vec::new();
        for p in &whole {
            let kept: Vec<(u64, u64)> =
                p.starts().into_iter().zip(p.bytes.iter().copied()).filter(|(t, _)| *t >= cutoff).collect();
            if !kept.is_empty() {
                expected.push((p.host, p.peer, p.port, kept.len() as u64, kept));
            }
        }
        let after = state.pair_series(T0 + 3600);
        let got: Vec<_> = after
            .iter()
            .map(|p| (p.host, p.peer, p.port, p.events_total, p.starts().into_iter().zip(p.bytes.iter().copied()).collect::<Vec<_>>()))
            .collect();
        prop_assert_eq!(got, expected);
        // Removed counts stored events, including gateway copies the series do not use.
        prop_assert!(removed >= stored - after.iter().map(|p| p.events_total).sum::<u64>());
    }
}

#[test]
fn a_checkpoint_is_refused_under_another_configuration() {
    let state = FeatureState::new(Arc::new(FeatureConfig::default()));
    let text = serde_json::to_string(&state).unwrap();
    let restored: FeatureState = serde_json::from_str(&text).unwrap();
    let other = Arc::new(FeatureConfig::new(300, 86_400, &[]).unwrap());
    let err = restored.clone().resume(other.clone()).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::ConfigMismatch {
            checkpoint: FeatureConfig::default().fingerprint(),
            config: other.fingerprint()
        }
    );
    assert!(restored.resume(Arc::new(FeatureConfig::default())).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Long runs of one window's copies without `flow-direction`: the internal ones are
    /// conditional and buffered, past the buffer's threshold (bursts into the tables on the
    /// way). Settling at any object boundary, checkpoints taken settled or not, and merges of
    /// such partials in either order all give the one-pass result.
    #[test]
    fn settling_and_bursts_change_nothing(
        seed in prop::collection::vec(spec(), 1..40),
        settle_at in prop::collection::vec(0usize..60, 0..4),
        split in 0usize..60,
    ) {
        let specs: Vec<Spec> = seed
            .iter()
            .cycle()
            .take(3000)
            .enumerate()
            .map(|(i, s)| Spec { end: (s.end + i as u64) % 250, direction: 2, status: 0, ..s.clone() })
            .collect();
        let cfg = Arc::new(FeatureConfig::default());
        let chunk = 50;
        let whole = run(&specs, chunk);
        let mut settled = FeatureState::new(cfg.clone());
        for (i, part) in specs.chunks(chunk).enumerate() {
            feed(&mut settled, part, chunk);
            if settle_at.contains(&i) {
                settled.settle();
            }
        }
        prop_assert_eq!(&settled.finish(), &whole);
        let split = (split * chunk).min(specs.len());
        let mut a = FeatureState::new(cfg.clone());
        feed(&mut a, &specs[..split], chunk);
        a.settle();
        let mut b = FeatureState::new(cfg.clone());
        feed(&mut b, &specs[split..], chunk + 7);
        let round_trip = |s: &FeatureState| {
            let bytes = serde_json::to_vec(s).unwrap();
            serde_json::from_slice::<FeatureState>(&bytes).unwrap().resume(cfg.clone()).unwrap()
        };
        let (a, b) = (round_trip(&a), round_trip(&b));
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        prop_assert_eq!(&ab.finish(), &whole);
        prop_assert_eq!(&ba.finish(), &whole);
    }
}
