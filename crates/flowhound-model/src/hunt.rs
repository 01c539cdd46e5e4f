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
use rayon::prelude::*;

use linfa::ParamGuard;

use crate::baseline::{Baseline, BaselineError, BaselineParams, DAY, build_histories, fit_volume};
use crate::detect::{self, DetectConfig, RawHit, ScoreOutput};
use crate::safelist::Safelist;

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
            let volume = fit_volume(&others, &group_of, u64::MAX, &volume_params)?;
            let histories =
                build_histories(&others, &group_of, baseline.train.window_secs, u64::MAX, &volume, detect_cfg)?;
            let mut b = baseline.clone();
            b.histories = histories;
            // A day with nothing else to compare with has no "new": only the detectors
            // that need no history speak for it.
            let alone = others.rows.is_empty();
            let mut raws = detect::raw_hits(&b, &today);
            if alone {
                raws.retain(|r| r.calibration_key == detect::KEY_BEACON || r.calibration_key == detect::KEY_SCAN);
            }
            Ok(raws)
        })
        .collect();
    let raws: Vec<RawHit> = per_day?.into_iter().flatten().collect();
    let scored = detect::score_raw(&baseline, features, raws, safelist, SELF_BASELINE_MODEL);
    Ok(HuntOutput { scored, baseline, days: days.len() })
}
