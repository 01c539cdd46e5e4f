//! Behavioural features per host and time window, computed from flow records.
//!
//! Feed records to a [`FeatureState`] (a [`flowhound_flowlog::RecordSink`] and
//! [`flowhound_flowlog::Partial`], so it plugs into [`flowhound_flowlog::scan`]), merge the
//! partials, and [`FeatureState::finish`] to get [`Features`]:
//!
//! - [`HostWindow`] rows, one per internal host and window, with the column schema in
//!   [`COLUMNS`], the model inputs in [`feature_names`] / [`HostWindow::feature_vector`]
//!   and its version in [`FEATURE_SCHEMA_VERSION`];
//! - [`PairSeries`]: connection events per (host, external peer, port, protocol) over a
//!   horizon, for beaconing;
//! - [`InternalEdge`]s per window, for lateral movement.
//!
//! A flow logged by several interfaces (both ends, a NAT gateway) is counted once per
//! direction; the rules are in docs/features.md. The crate is pure and synchronous; merges
//! and drains spread their host-windows over rayon's pool (the calling thread waits).

mod acc;
mod config;
mod output;
mod serde_pairs;
mod state;

pub use acc::{ADMIN_PORTS, Event};
pub use config::{
    AddressBlocks, Cidr, ConfigError, DEFAULT_HORIZON_SECS, DEFAULT_WINDOW_SECS, FeatureConfig, Limits,
    builtin_internal, missing_needed_fields,
};
pub use output::{
    COLUMNS, Column, ColumnKind, ExtractStats, FEATURE_SCHEMA_VERSION, Features, HostWindow, InternalEdge, PairSeries,
    Value, feature_names,
};
pub use state::{CheckpointError, FeatureState, MANAGED_AWS_SERVICES};
