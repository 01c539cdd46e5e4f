//! Calibration: each detector's mapping from its raw score (in the detector's natural
//! unit) onto 0–100, stored in the [`Baseline`] and learned when it is fitted.
//!
//! [`Baseline`]: crate::Baseline

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::DetectConfig;

/// One detector's mapping from raw score to 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The raw score that maps to the low-severity boundary (score 50).
    pub threshold: f64,
    /// Raw score distance from the threshold to score 90.
    pub span: f64,
    /// Bounds of the learned threshold.
    pub floor: f64,
    pub ceiling: f64,
    /// Added to the training quantile: findings must be clearly above training.
    pub margin: f64,
    /// The training quantile of per-host-day maxima, when there was one.
    pub observed_quantile: Option<f64>,
    pub host_days: u64,
}

impl Threshold {
    fn new(floor: f64, ceiling: f64, margin: f64, span: f64) -> Threshold {
        Threshold { threshold: floor, span, floor, ceiling, margin, observed_quantile: None, host_days: 0 }
    }

    /// 50 at the threshold, 90 one span above it, capped to 0–100.
    pub fn score(&self, raw: f64) -> f64 {
        (50.0 + 40.0 * (raw - self.threshold) / self.span.max(1e-9)).clamp(0.0, 100.0)
    }
}

/// Per-detector thresholds (keys: `beaconing`, `exfiltration`, `lateral_movement`,
/// `lateral_movement/scan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub thresholds: BTreeMap<String, Threshold>,
}

/// Keys of [`Calibration::thresholds`] and of each raw hit: one per detector, and one for the
/// scans of the lateral-movement detector.
pub(crate) const KEY_BEACON: &str = "beaconing";
pub(crate) const KEY_EXFIL: &str = "exfiltration";
pub(crate) const KEY_LATERAL: &str = "lateral_movement";
pub(crate) const KEY_SCAN: &str = "lateral_movement/scan";

impl Calibration {
    pub fn defaults(cfg: &DetectConfig) -> Calibration {
        let b = &cfg.beaconing;
        let e = &cfg.exfiltration;
        let l = &cfg.lateral;
        let mut thresholds = BTreeMap::new();
        thresholds.insert(KEY_BEACON.into(), Threshold::new(b.floor, b.ceiling, b.margin, b.span));
        thresholds.insert(KEY_EXFIL.into(), Threshold::new(e.floor, e.ceiling, e.margin, e.span));
        thresholds.insert(KEY_LATERAL.into(), Threshold::new(l.floor, l.ceiling, l.margin, l.span));
        thresholds.insert(KEY_SCAN.into(), Threshold::new(l.scan_floor, l.scan_ceiling, l.scan_margin, l.scan_span));
        Calibration { thresholds }
    }
}
