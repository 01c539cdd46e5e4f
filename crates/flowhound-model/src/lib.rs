//! Baselines of normal behaviour for flowhound: the isolation forest, peer groups of hosts,
//! robust seasonal statistics and the on-disk model directory.
//!
//! Every estimator follows linfa's idiom: an unchecked params builder, checked params obtained
//! through [`linfa::ParamGuard`], a fit step returning a separate fitted type, and serde on both so
//! the `train` command can record exactly what produced a model. Every random choice is seeded
//! from the params, so identical input and params give bit-identical models.

pub mod artifact;
pub mod baseline;
pub mod beacon;
pub mod detect;
pub mod finding;
pub mod hunt;
pub mod iforest;
pub mod incident;
pub mod peer_groups;
pub mod robust;
pub mod safelist;
pub mod scaling;
pub mod seasonal;

pub use iforest::{IsolationForest, IsolationForestError, IsolationForestParams, IsolationForestParamsError};
pub use peer_groups::{PeerAssignment, PeerGroupError, PeerGroupParams, PeerGroupParamsError, PeerGroups};
pub use scaling::{RobustScaler, ScalingError};
pub use seasonal::{
    SeasonCell, SeasonalAccumulator, SeasonalBaseline, SeasonalError, SeasonalParams, SeasonalParamsError,
};
