//! The `Baseline` aggregate: everything `train` learns about normal behaviour and `score`
//! compares against — per-host histories, destination prevalence, known periodic pairs,
//! seasonal robust volume statistics with peer-group fallback, peer groups, an isolation
//! forest over host-window features, and per-detector calibration thresholds.
//!
//! Params follow linfa's idiom ([`BaselineParams`] → [`linfa::ParamGuard`] →
//! [`BaselineValidParams::fit`] → [`Baseline`]); the fitting itself is in `crate::train`,
//! which runs the detectors to calibrate, so that they can depend on the types here. Every
//! collection is ordered (sorted vectors, no hash maps) so identical input and params
//! serialise to identical bytes.

use flowhound_features::{AddressBlocks, HostWindow, feature_names};
use flowhound_flowlog::Addr;
use linfa::ParamGuard;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::calibration::{Calibration, Threshold};
use crate::config::DetectConfig;
use crate::history::{Histories, HostHistory};
use crate::iforest::{IsolationForest, IsolationForestError, IsolationForestParams};
use crate::peer_groups::{PeerGroupError, PeerGroupParams, PeerGroupParamsError, PeerGroups};
use crate::scaling::{RobustScaler, ScalingError};
use crate::seasonal::{SeasonalError, SeasonalParams, SeasonalPrior};

/// Smallest σ of a log-volume cell: a host that sends exactly the same bytes every hour
/// would otherwise make a 10 % change look like a 30σ event.
const VOLUME_MIN_SCALE: f64 = 0.35;

/// Errors in baseline parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineParamsError {
    #[error("invalid peer-group parameters: {0}")]
    PeerGroups(#[from] PeerGroupParamsError),
    #[error("shrinkage must be finite and positive, got {0}")]
    Shrinkage(f64),
    #[error("calibration_quantile must be in (0.5, 1), got {0}")]
    CalibrationQuantile(f64),
    #[error("invalid isolation forest parameters: {0}")]
    Forest(#[from] crate::iforest::IsolationForestParamsError),
}

/// Errors fitting a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    Params(#[from] BaselineParamsError),
    #[error("no host windows to learn from (is the training range empty?)")]
    Empty,
    #[error("scaling host-window features: {0}")]
    Scaling(#[from] ScalingError),
    #[error("isolation forest: {0}")]
    Forest(#[from] IsolationForestError),
    #[error("peer groups: {0}")]
    PeerGroups(#[from] PeerGroupError),
    #[error("seasonal volume baseline: {0}")]
    Seasonal(#[from] SeasonalError),
}

/// Checked baseline parameters; obtain through [`BaselineParams`]. The fields are private
/// so that only checked values get here; the getters read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineValidParams {
    peer_groups: PeerGroupParams,
    seed: u64,
    shrinkage: f64,
    calibration_quantile: f64,
    forest: IsolationForestParams,
}

impl BaselineValidParams {
    /// Peer grouping of host profiles (KMeans, k chosen by silhouette).
    pub fn peer_groups(&self) -> &PeerGroupParams {
        &self.peer_groups
    }
    /// Seed from which the peer-group and forest seeds were derived.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Pseudo-observations of the prior when shrinking a thin seasonal cell.
    pub fn shrinkage(&self) -> f64 {
        self.shrinkage
    }
    /// Quantile of the training period's per-host-day scores that sets each detector's threshold.
    pub fn calibration_quantile(&self) -> f64 {
        self.calibration_quantile
    }
    /// The isolation forest over host windows.
    pub fn forest(&self) -> &IsolationForestParams {
        &self.forest
    }

    /// Parameters of the seasonal volume baseline: this baseline's shrinkage, hour-of-day
    /// cells (the exfiltration detector asks by hour of day) and a scale floor of
    /// `VOLUME_MIN_SCALE`; supports and tails are the estimator's defaults.
    pub fn volume_params(&self) -> SeasonalParams {
        SeasonalParams::new().shrinkage(self.shrinkage).min_scale(VOLUME_MIN_SCALE).weekly(false)
    }
}

/// Unchecked baseline parameters (builder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineParams(BaselineValidParams);

impl Default for BaselineParams {
    fn default() -> BaselineParams {
        BaselineParams(BaselineValidParams {
            peer_groups: PeerGroups::params()
                .k_max(8)
                .log1p_columns((0..PROFILE_FEATURES.len()).collect())
                .seed(0x666C_6F77),
            seed: 0x666C_6F77,
            shrinkage: 8.0,
            calibration_quantile: 0.999,
            forest: IsolationForestParams::new().n_trees(100).subsample_size(256),
        })
    }
}

impl BaselineParams {
    pub fn new() -> BaselineParams {
        BaselineParams::default()
    }
    pub fn peer_groups(mut self, p: PeerGroupParams) -> Self {
        self.0.peer_groups = p;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self.0.peer_groups = self.0.peer_groups.clone().seed(seed);
        self.0.forest = self.0.forest.clone().seed(seed ^ 0x5eed);
        self
    }
    pub fn shrinkage(mut self, k: f64) -> Self {
        self.0.shrinkage = k;
        self
    }
    pub fn calibration_quantile(mut self, q: f64) -> Self {
        self.0.calibration_quantile = q;
        self
    }
    pub fn forest(mut self, forest: IsolationForestParams) -> Self {
        self.0.forest = forest;
        self
    }
}

impl ParamGuard for BaselineParams {
    type Checked = BaselineValidParams;
    type Error = BaselineParamsError;

    fn check_ref(&self) -> Result<&BaselineValidParams, BaselineParamsError> {
        let p = &self.0;
        p.peer_groups.check_ref()?;
        if !(p.shrinkage.is_finite() && p.shrinkage > 0.0) {
            return Err(BaselineParamsError::Shrinkage(p.shrinkage));
        }
        if !(p.calibration_quantile > 0.5 && p.calibration_quantile < 1.0) {
            return Err(BaselineParamsError::CalibrationQuantile(p.calibration_quantile));
        }
        p.forest.check_ref()?;
        Ok(p)
    }

    fn check(self) -> Result<BaselineValidParams, BaselineParamsError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// What the training period was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    pub start: u64,
    pub end: u64,
    pub window_secs: u64,
    pub aggregation_secs: u64,
    pub hosts: usize,
    pub windows: usize,
    pub pairs: usize,
    pub edges: usize,
    pub days: u64,
    /// The address blocks the training features were computed with; scoring computes its
    /// features with the same blocks.
    pub addresses: AddressBlocks,
}

/// The isolation forest over host-window features and its training score distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowForest {
    pub feature_names: Vec<String>,
    pub log1p_columns: Vec<usize>,
    pub scaler: RobustScaler,
    pub forest: IsolationForest,
    /// 99th percentile of training scores: above it a window is unusual.
    pub q99: f64,
    /// Per-group median of the scaled training windows, for peer-group distances.
    pub group_medians: Vec<Vec<f64>>,
}

/// The fitted baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub schema_version: u32,
    pub feature_schema_version: u32,
    pub params: BaselineValidParams,
    pub detect: DetectConfig,
    pub train: TrainInfo,
    pub groups: PeerGroups,
    /// Per-group seasonal expectation of [`VOLUME_FEATURE`](crate::history::VOLUME_FEATURE), the
    /// prior of thin hosts.
    pub group_volume: Vec<SeasonalPrior>,
    /// Per-group median of the hosts' largest single-destination volumes.
    pub group_max_external: Vec<[u64; 3]>,
    pub histories: Histories,
    /// Addresses that relay other hosts' traffic (NAT gateways): never the subject of a
    /// finding and never counted in prevalence.
    pub gateways: Vec<String>,
    pub forest: WindowForest,
    pub calibration: Calibration,
}

/// Host profile columns used for peer grouping (means per window, log-scaled by the scaler).
pub(crate) const PROFILE_FEATURES: [&str; 10] = [
    "bytes_out_internal",
    "bytes_in_internal",
    "bytes_out_external",
    "bytes_in_external",
    "peers_internal",
    "peers_external",
    "dst_ports",
    "dst_ports_in",
    "admin_conns_out",
    "syn_in",
];

/// A host's profile for peer grouping: the mean of each of [`PROFILE_FEATURES`] over its
/// windows.
pub(crate) fn profile_of(rows: &[&HostWindow]) -> Vec<f64> {
    let mut p = vec![0.0; PROFILE_FEATURES.len()];
    for r in rows {
        let v = [
            r.bytes_out_internal,
            r.bytes_in_internal,
            r.bytes_out_external,
            r.bytes_in_external,
            r.peers_internal,
            r.peers_external,
            r.dst_ports,
            r.dst_ports_in,
            r.admin_conns_out,
            r.syn_in,
        ];
        for (acc, x) in p.iter_mut().zip(v) {
            *acc += x as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    for x in &mut p {
        *x /= n;
    }
    p
}

/// Feature matrix of host windows (finite values only; ratios are clipped).
pub(crate) fn window_matrix(rows: &[&HostWindow]) -> Array2<f64> {
    let d = feature_names().len();
    let mut data = Vec::with_capacity(rows.len() * d);
    for r in rows {
        for v in r.feature_vector() {
            data.push(if v.is_finite() { v.clamp(0.0, 1e15) } else { 0.0 });
        }
    }
    Array2::from_shape_vec((rows.len(), d), data).unwrap_or_else(|_| Array2::zeros((0, d)))
}

impl Baseline {
    pub fn params() -> BaselineParams {
        BaselineParams::new()
    }

    /// The history of the host at address `ip`. Histories are in address order (numeric:
    /// 10.0.0.9 before 10.0.0.10), not text order.
    pub fn host(&self, ip: &str) -> Option<&HostHistory> {
        let want = Addr::from(ip.parse::<std::net::IpAddr>().ok()?);
        let at = |h: &HostHistory| h.ip.parse::<std::net::IpAddr>().map(Addr::from).ok();
        self.histories.hosts.binary_search_by(|h| at(h).cmp(&Some(want))).ok().map(|i| &self.histories.hosts[i])
    }

    /// Thresholds as a short table for the train summary.
    pub fn thresholds(&self) -> Vec<(&str, &Threshold)> {
        self.calibration.thresholds.iter().map(|(k, t)| (k.as_str(), t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_guard_rejects_each_error() {
        assert!(matches!(
            BaselineParams::new().peer_groups(PeerGroups::params().k_max(1)).check(),
            Err(BaselineParamsError::PeerGroups(_))
        ));
        assert!(matches!(BaselineParams::new().shrinkage(f64::NAN).check(), Err(BaselineParamsError::Shrinkage(_))));
        assert!(matches!(
            BaselineParams::new().calibration_quantile(1.0).check(),
            Err(BaselineParamsError::CalibrationQuantile(_))
        ));
        assert!(matches!(
            BaselineParams::new().forest(IsolationForestParams::new().n_trees(0)).check(),
            Err(BaselineParamsError::Forest(_))
        ));
        assert!(BaselineParams::new().check().is_ok());
    }
}
