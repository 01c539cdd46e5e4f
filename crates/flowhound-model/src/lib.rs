//! Baselines of normal behaviour for flowhound: the isolation forest, peer groups of hosts,
//! robust seasonal statistics and the on-disk model directory.
//!
//! Every estimator follows linfa's idiom: an unchecked params builder, checked params obtained
//! through [`linfa::ParamGuard`], a fit step returning a separate fitted type, and serde on both so
//! the `train` command can record exactly what produced a model. Every random choice is seeded
//! from the params, so identical input and params give bit-identical models.
//!
//! # Modules
//!
//! Dependencies run one way; each module uses only modules above it in this list:
//!
//! 1. `robust`, then the estimators `scaling`, `iforest`, `peer_groups`, `seasonal`, and the
//!    beacon statistics `beacon`;
//! 2. `finding` (findings, severities, the incident a finding reports), [`incident`]
//!    (folding findings into incidents), `safelist`;
//! 3. `config` (the detector settings) and `calibration` (raw score to 0–100);
//! 4. [`history`] (what training remembers per host and destination, and its keys);
//! 5. `baseline` (the fitted [`Baseline`] and its params), then [`artifact`] (the model
//!    directory of a baseline);
//! 6. [`detect`] (the detectors, scoring against a baseline);
//! 7. `train` (fitting a baseline: it calibrates by replaying the detectors);
//! 8. [`hunt`] (self-baseline hunting: fits, then scores each day).
//!
//! The public modules are the ones the outside calls functions of ([`artifact::save`],
//! [`detect::score`], [`hunt::hunt`], [`history::net_of`], [`incident::Tracker`]); the types
//! of the other modules are re-exported here.

pub mod artifact;
mod baseline;
mod beacon;
mod calibration;
mod config;
pub mod detect;
mod finding;
pub mod history;
pub mod hunt;
mod iforest;
pub mod incident;
mod peer_groups;
mod robust;
mod safelist;
mod scaling;
mod seasonal;
mod train;

pub use baseline::{
    Baseline, BaselineError, BaselineParams, BaselineParamsError, BaselineValidParams, TrainInfo, WindowForest,
};
pub use calibration::{Calibration, Threshold};
pub use config::{
    BeaconConfig, DetectConfig, DetectConfigError, ExfilConfig, LateralConfig, Settings, SettingsError, parse_settings,
};
pub use finding::{Finding, IncidentRef, IncidentState, Severity, SeverityThresholds, human_bytes};
pub use iforest::{
    IsolationForest, IsolationForestError, IsolationForestParams, IsolationForestParamsError,
    IsolationForestValidParams,
};
pub use peer_groups::{
    KCandidate, PeerAssignment, PeerGroupError, PeerGroupParams, PeerGroupParamsError, PeerGroupValidParams, PeerGroups,
};
pub use safelist::{Safelist, SafelistEntry, SafelistError};
pub use scaling::{RobustScaler, ScalingError};
pub use seasonal::{
    BaselineSource, Expectation, HostSeasonal, LevelStats, RobustScore, RobustStat, SeasonCell, SeasonalAccumulator,
    SeasonalBaseline, SeasonalError, SeasonalParams, SeasonalParamsError, SeasonalPrior, SeasonalValidParams,
    TailModel,
};
