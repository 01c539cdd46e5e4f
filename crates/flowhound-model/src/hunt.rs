//! Hunting without a clean period: the hunted data is its own baseline.
//!
//! A hunter's archive has no "before", and an implant may be older than every log in it.
//! [`hunt`] fits a [`Baseline`] on the hunted features themselves (peer groups, window
//! forest, calibration), then scores every day against histories built from all the
//! *other* days (leave one day out): an internal edge or a volume is new or unusual on the
//! day it happened, whatever came before or after, and no day vouches for itself.
//! Beaconing needs no history at all (regularity is judged against chance, and
//! prevalence comes from the same data), so an implant present on every day is found on
//! every day.

use std::collections::{BTreeMap, BTreeSet};

use flowhound_features::Features;
use flowhound_flowlog::Addr;
use flowhound_flowlog::time::DAY;
use rayon::prelude::*;

use linfa::ParamGuard;

use crate::baseline::{Baseline, BaselineError, BaselineParams};
use crate::calibration::{KEY_BEACON, KEY_SCAN};
use crate::config::DetectConfig;
use crate::detect::{self, RawHit, ScoreOutput};
use crate::history::Histories;
use crate::safelist::Safelist;
use crate::train::{build_histories, fit_volume};

/// Model id written in the `model` field of findings that came from a self-baseline hunt.
pub const SELF_BASELINE_MODEL: &str = "hunt:self-baseline";

/// What a self-baseline hunt found, with the fitted baseline for the summary.
#[derive(Debug)]
pub struct HuntOutput {
    pub scored: ScoreOutput,
    pub baseline: Baseline,
    /// Days scored, each against the histories of the others.
    pub days: usize,
}

/// The features of `features` outside day `[day, day + DAY)`, and those inside it.
fn split_day(features: &Features, day: u64) -> (Features, Features) {
    let inside = detect::slice_features(features, day, day + DAY);
    let outside = Features {
        rows: features.rows.iter().filter(|r| r.window_start / DAY * DAY != day).cloned().collect(),
        pairs: features.pairs.iter().filter(|p| p.horizon_start / DAY * DAY != day).cloned().collect(),
        edges: features.edges.iter().filter(|e| e.window_start / DAY * DAY != day).cloned().collect(),
        stats: features.stats,
        addresses: features.addresses.clone(),
    };
    (outside, inside)
}

/// Hunts `features` with no model: fits a baseline on them, scores each day against the
/// histories of the other days, and returns calibrated, safelisted, merged findings.
pub fn hunt(
    params: &BaselineParams,
    features: &Features,
    detect_cfg: &DetectConfig,
    safelist: &Safelist,
) -> Result<HuntOutput, BaselineError> {
    let params = params.check_ref().map_err(BaselineError::Params)?;
    let baseline = params.fit(features, detect_cfg)?;
    let mut group_of: BTreeMap<Addr, usize> = BTreeMap::new();
    for h in &baseline.histories.hosts {
        if let Ok(ip) = h.ip.parse::<std::net::IpAddr>() {
            group_of.insert(Addr::from(ip), h.group);
        }
    }
    let days: BTreeSet<u64> = features.rows.iter().map(|r| r.window_start / DAY * DAY).collect();
    let days: Vec<u64> = days.into_iter().collect();
    let volume_params = params.volume_params();
    let per_day: Result<Vec<Vec<RawHit>>, BaselineError> = days
        .par_iter()
        .map(|&day| {
            let (others, today) = split_day(features, day);
            // A day with nothing else to compare with has no history (and nothing to fit
            // one on) and so no "new": only the detectors that need no history speak for it.
            let alone = others.rows.is_empty();
            let mut b = baseline.clone();
            b.histories = if alone {
                Histories::default()
            } else {
                let volume = fit_volume(&others, &group_of, u64::MAX, &volume_params)?;
                build_histories(
                    &others,
                    &group_of,
                    baseline.train.window_secs,
                    u64::MAX,
                    &volume,
                    detect_cfg,
                    baseline.train.aggregation_secs,
                )?
            };
            let mut raws = detect::raw_hits(&b, &today);
            if alone {
                raws.retain(|r| r.calibration_key == KEY_BEACON || r.calibration_key == KEY_SCAN);
            }
            Ok(raws)
        })
        .collect();
    let raws: Vec<RawHit> = per_day?.into_iter().flatten().collect();
    let scored = detect::score_raw(&baseline, features, raws, safelist, SELF_BASELINE_MODEL);
    Ok(HuntOutput { scored, baseline, days: days.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhound_features::{FeatureConfig, FeatureState};
    use flowhound_flowlog::{ReadOptions, read_stream};

    const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
                          start end action log-status";

    fn features(text: &str) -> Features {
        let mut state = FeatureState::new(std::sync::Arc::new(FeatureConfig::default()));
        let report = read_stream("fixture", text.as_bytes(), &ReadOptions::default(), &mut state);
        assert_eq!(report.malformed, 0, "{:?}", report.malformed_samples);
        state.finish()
    }

    /// Three days of a small office: web browsing to many sites, a daily database edge, and an
    /// implant beaconing every 5 min (±10 %) from before the first record to after the last.
    fn three_days() -> String {
        let t0 = 1_800_000_000 - 1_800_000_000 % DAY;
        let mut text = format!("{HEADER}\n");
        let mut seed = 17u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut port = 40_000u32;
        let mut line = |text: &mut String, src: &str, dst: &str, dport: u16, bytes: u64, t: u64| {
            port = if port >= 60_000 { 40_000 } else { port + 1 };
            text.push_str(&format!("2 1 eni-1 {src} {dst} {port} {dport} 6 8 {bytes} {t} {} ACCEPT OK\n", t + 2));
        };
        for day in 0..3u64 {
            let d = t0 + day * DAY;
            // The implant: every 300 s ± 10 %, ~900 bytes.
            let mut t = d + 17;
            while t < d + DAY {
                line(&mut text, "10.0.0.9", "203.0.113.50", 443, 880 + (next() * 40.0) as u64, t);
                t += (300.0 * (0.9 + 0.2 * next())) as u64;
            }
            // Four workstations browse at random times to random sites.
            for host in 1..=4 {
                for _ in 0..120 {
                    let t = d + (next() * DAY as f64) as u64;
                    let site = 1 + (next() * 250.0) as u64;
                    line(
                        &mut text,
                        &format!("10.0.0.{host}"),
                        &format!("198.51.{}.{}", site % 50, site),
                        443,
                        2_000 + (next() * 90_000.0) as u64,
                        t,
                    );
                }
            }
            // The app server queries its database every day.
            for k in 0..24 {
                line(&mut text, "10.0.0.5", "10.0.0.6", 5432, 4_000, d + k * 3600 + 100);
            }
        }
        text
    }

    #[test]
    fn an_implant_older_than_the_data_is_found_on_every_day() {
        let f = features(&three_days());
        let params = Baseline::params();
        let out = hunt(&params, &f, &DetectConfig::default(), &Safelist::default()).unwrap();
        assert_eq!(out.days, 3);
        let implant: Vec<_> =
            out.scored.findings.iter().filter(|x| x.detector == "beaconing" && x.host == "10.0.0.9").collect();
        assert!(!implant.is_empty(), "{:#?}", out.scored.findings);
        let first = implant.iter().map(|x| x.window_start).min().unwrap();
        let last = implant.iter().map(|x| x.window_end).max().unwrap();
        assert!(last - first >= 2 * DAY, "found only from {first} to {last}");
        assert!(implant.iter().all(|x| x.peer.as_deref() == Some("203.0.113.50") && x.model == SELF_BASELINE_MODEL));
        // Random browsing is not a beacon, and a database edge used every day is no news on any day.
        for x in &out.scored.findings {
            assert!(x.host == "10.0.0.9", "unexpected finding: {}", x.summary);
        }
    }

    #[test]
    fn a_single_day_is_hunted_by_the_detectors_that_need_no_history() {
        let all = features(&three_days());
        let first = all.rows.iter().map(|r| r.window_start).min().unwrap() / DAY * DAY;
        let one = detect::slice_features(&all, first, first + DAY);
        let out = hunt(&Baseline::params(), &one, &DetectConfig::default(), &Safelist::default()).unwrap();
        assert_eq!(out.days, 1);
        assert!(
            out.scored.findings.iter().any(|x| x.detector == "beaconing" && x.host == "10.0.0.9"),
            "{:#?}",
            out.scored.findings
        );
        assert!(out.scored.findings.iter().all(|x| x.detector == "beaconing" || x.detector == "lateral_movement"));
    }
}
