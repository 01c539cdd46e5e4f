//! Robust seasonal baselines of volume features per host, backed off to the host's peer group.
//!
//! Each volume feature is modelled on the `log1p` scale, where traffic is roughly symmetric and
//! "ten times more" is the same step for every host. For a season cell (hour of day × weekday or
//! weekend) the baseline is the median, and the spread is the MAD scaled by 1.4826 so it estimates
//! σ under normality. Both have a 50 % breakdown point, so a training week that contains an
//! exfiltration burst or a one-off backup still yields the normal level.
//!
//! Thin data is handled by minimum-support rules plus shrinkage. Levels, most specific first:
//!
//! 1. host × cell;
//! 2. host over all hours, shifted by the group's seasonal shape (group cell − group);
//! 3. group × cell;
//! 4. group over all hours;
//! 5. global (all hosts), the same two levels when the host has no group.
//!
//! A level below its minimum support is skipped. A supported level with `n` points is blended with
//! the estimate of the level below it: `(n·own + k·prior) / (n + k)`, `k` = `shrinkage`. So a cell
//! with six points leans on its prior and one with sixty barely does.
//!
//! Training data goes into a [`SeasonalAccumulator`], which keeps the raw values per host and cell.
//! Accumulators can be merged, for example one per day file built in parallel. The result does not
//! depend on merge order because medians sort their input. [`SeasonalParams`] checked through
//! [`linfa::ParamGuard`] then fit a [`SeasonalBaseline`]. That follows the shape of the other
//! estimators without linfa's `Fit` trait, whose record matrix cannot carry host keys and cells.

use std::collections::BTreeMap;

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::robust::{MAD_SCALE, median_mad};

/// Number of season cells: 24 hours × {weekday, weekend}.
const N_CELLS: usize = 48;

/// Hour of day × weekday/weekend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeasonCell(u8);

impl SeasonCell {
    /// Cell for `hour` (0–23) on a weekday or a weekend day; `None` for an hour out of range.
    pub fn new(hour: u8, weekend: bool) -> Option<Self> {
        (hour < 24).then_some(Self(hour + if weekend { 24 } else { 0 }))
    }

    /// Cell of a Unix timestamp (seconds) shifted by `utc_offset_secs`, so seasons follow the
    /// workload's local day rather than UTC.
    pub fn from_unix(secs: i64, utc_offset_secs: i32) -> Self {
        let local = secs + i64::from(utc_offset_secs);
        let days = local.div_euclid(86_400);
        let hour = (local.rem_euclid(86_400) / 3600) as u8;
        // 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
        let weekday = (days + 3).rem_euclid(7);
        Self(hour + if weekday >= 5 { 24 } else { 0 })
    }

    /// Index 0..48.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Hour of day.
    pub fn hour(self) -> u8 {
        self.0 % 24
    }

    /// Whether the cell is a weekend cell.
    pub fn is_weekend(self) -> bool {
        self.0 >= 24
    }
}

/// Errors from [`SeasonalParams`] checking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeasonalParamsError {
    /// A minimum support below two: a MAD of one point is always zero.
    #[error("{name} must be at least 2, got {got}")]
    SupportTooSmall {
        /// Which parameter.
        name: &'static str,
        /// Its value.
        got: usize,
    },
    /// Shrinkage pseudo-count must be finite and non-negative.
    #[error("shrinkage must be finite and non-negative, got {0}")]
    BadShrinkage(f64),
    /// Scale floor must be finite and positive.
    #[error("min_scale must be finite and positive, got {0}")]
    BadMinScale(f64),
    /// Degrees of freedom must be finite and positive.
    #[error("degrees of freedom must be finite and positive, got {0}")]
    BadDof(f64),
}

/// Errors from accumulating, fitting or querying seasonal baselines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeasonalError {
    /// The hyperparameters were rejected.
    #[error("invalid seasonal parameters: {0}")]
    Params(#[from] SeasonalParamsError),
    /// An accumulator needs at least one feature.
    #[error("no feature names given")]
    NoFeatures,
    /// A row has the wrong number of values.
    #[error("expected {expected} feature values, got {got}")]
    WidthMismatch {
        /// Number of features.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// NaN or ±∞.
    #[error("feature {feature} has non-finite value {value}")]
    NonFinite {
        /// Feature index.
        feature: usize,
        /// The value.
        value: f64,
    },
    /// Volumes are non-negative counts.
    #[error("feature {feature} has negative volume {value}")]
    NegativeVolume {
        /// Feature index.
        feature: usize,
        /// The value.
        value: f64,
    },
    /// Merging accumulators over different feature lists.
    #[error("feature schemas differ: {left:?} vs {right:?}")]
    FeatureSchemaMismatch {
        /// This accumulator's features.
        left: Vec<String>,
        /// The other's.
        right: Vec<String>,
    },
    /// Fitting with no observations.
    #[error("no observations to fit a seasonal baseline on")]
    Empty,
    /// A feature index beyond the baseline's features.
    #[error("feature index {0} out of range")]
    UnknownFeature(usize),
    /// statrs refused to build the tail distribution.
    #[error("tail distribution: {0}")]
    Distribution(String),
}

/// Raw training values (already `log1p`-transformed), mergeable and serialisable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalAccumulator {
    feature_names: Vec<String>,
    /// host → cell → row-major values (`n_rows × n_features`).
    hosts: BTreeMap<String, BTreeMap<SeasonCell, Vec<f64>>>,
}

impl SeasonalAccumulator {
    /// Empty accumulator over the named volume features.
    pub fn new(feature_names: Vec<String>) -> Result<Self, SeasonalError> {
        if feature_names.is_empty() {
            return Err(SeasonalError::NoFeatures);
        }
        Ok(Self { feature_names, hosts: BTreeMap::new() })
    }

    /// Feature names.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Record one window of raw (non-negative) volumes for `host` in `cell`.
    pub fn push(&mut self, host: &str, cell: SeasonCell, values: &[f64]) -> Result<(), SeasonalError> {
        let d = self.feature_names.len();
        if values.len() != d {
            return Err(SeasonalError::WidthMismatch { expected: d, got: values.len() });
        }
        for (feature, &value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(SeasonalError::NonFinite { feature, value });
            }
            if value < 0.0 {
                return Err(SeasonalError::NegativeVolume { feature, value });
            }
        }
        let cells = self.hosts.entry(host.to_owned()).or_default();
        cells.entry(cell).or_default().extend(values.iter().map(|v| v.ln_1p()));
        Ok(())
    }

    /// Add another accumulator's observations to this one.
    pub fn merge(&mut self, other: SeasonalAccumulator) -> Result<(), SeasonalError> {
        if other.feature_names != self.feature_names {
            return Err(SeasonalError::FeatureSchemaMismatch {
                left: self.feature_names.clone(),
                right: other.feature_names,
            });
        }
        for (host, cells) in other.hosts {
            let mine = self.hosts.entry(host).or_default();
            for (cell, values) in cells {
                mine.entry(cell).or_default().extend(values);
            }
        }
        Ok(())
    }

    /// Number of windows recorded.
    pub fn n_observations(&self) -> usize {
        let d = self.feature_names.len();
        self.hosts.values().flat_map(|c| c.values()).map(|v| v.len() / d).sum()
    }
}

/// How tail probabilities are derived from the robust z.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TailModel {
    /// Standard normal.
    Normal,
    /// Student's t with fixed degrees of freedom.
    StudentsT {
        /// Degrees of freedom.
        dof: f64,
    },
    /// Student's t with `support − 1` degrees of freedom (capped): thin baselines get heavier
    /// tails, so a surprise against six points counts for less than one against sixty.
    SupportAdaptive {
        /// Cap on the degrees of freedom.
        max_dof: f64,
    },
}

/// Checked seasonal-baseline hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalValidParams {
    min_cell_support: usize,
    min_host_support: usize,
    min_group_support: usize,
    shrinkage: f64,
    min_scale: f64,
    tail: TailModel,
    weekly: bool,
}

impl SeasonalValidParams {
    /// Windows a host × cell needs to count (Slips uses 6 baseline points).
    pub fn min_cell_support(&self) -> usize {
        self.min_cell_support
    }
    /// Windows a host needs across all hours to count.
    pub fn min_host_support(&self) -> usize {
        self.min_host_support
    }
    /// Windows a group (or global) cell or level needs to count.
    pub fn min_group_support(&self) -> usize {
        self.min_group_support
    }
    /// Pseudo-count of the prior in each blend.
    pub fn shrinkage(&self) -> f64 {
        self.shrinkage
    }
    /// Floor on the spread (log1p units), so a perfectly constant series does not make every
    /// change infinitely surprising.
    pub fn min_scale(&self) -> f64 {
        self.min_scale
    }
    /// Tail model.
    pub fn tail(&self) -> TailModel {
        self.tail
    }
    /// Whether weekdays and weekends have separate cells (48) or only the hour of day counts (24).
    pub fn weekly(&self) -> bool {
        self.weekly
    }
    /// The season cell of a Unix timestamp under these params (see [`SeasonCell::from_unix`]).
    pub fn season_cell(&self, secs: i64, utc_offset_secs: i32) -> SeasonCell {
        let cell = SeasonCell::from_unix(secs, utc_offset_secs);
        if self.weekly { cell } else { SeasonCell(cell.hour()) }
    }
}

/// Unchecked seasonal-baseline hyperparameters (builder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalParams(SeasonalValidParams);

impl Default for SeasonalParams {
    fn default() -> Self {
        Self::new()
    }
}

impl SeasonalParams {
    /// Defaults: cell support 6, host support 24, group support 6, shrinkage 6, scale floor
    /// 0.1 (≈ ±10 % volume), support-adaptive Student's t capped at 30 degrees of freedom,
    /// weekday and weekend cells.
    pub fn new() -> Self {
        Self(SeasonalValidParams {
            min_cell_support: 6,
            min_host_support: 24,
            min_group_support: 6,
            shrinkage: 6.0,
            min_scale: 0.1,
            tail: TailModel::SupportAdaptive { max_dof: 30.0 },
            weekly: true,
        })
    }
    /// Set the host × cell minimum support.
    pub fn min_cell_support(mut self, n: usize) -> Self {
        self.0.min_cell_support = n;
        self
    }
    /// Set the host minimum support.
    pub fn min_host_support(mut self, n: usize) -> Self {
        self.0.min_host_support = n;
        self
    }
    /// Set the group minimum support.
    pub fn min_group_support(mut self, n: usize) -> Self {
        self.0.min_group_support = n;
        self
    }
    /// Set the shrinkage pseudo-count.
    pub fn shrinkage(mut self, k: f64) -> Self {
        self.0.shrinkage = k;
        self
    }
    /// Set the scale floor.
    pub fn min_scale(mut self, s: f64) -> Self {
        self.0.min_scale = s;
        self
    }
    /// Set the tail model.
    pub fn tail(mut self, tail: TailModel) -> Self {
        self.0.tail = tail;
        self
    }
    /// Split weekdays from weekends (`true`) or model the hour of day only (`false`).
    pub fn weekly(mut self, weekly: bool) -> Self {
        self.0.weekly = weekly;
        self
    }
}

impl ParamGuard for SeasonalParams {
    type Checked = SeasonalValidParams;
    type Error = SeasonalParamsError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        let p = &self.0;
        for (name, got) in [
            ("min_cell_support", p.min_cell_support),
            ("min_host_support", p.min_host_support),
            ("min_group_support", p.min_group_support),
        ] {
            if got < 2 {
                return Err(SeasonalParamsError::SupportTooSmall { name, got });
            }
        }
        if !(p.shrinkage.is_finite() && p.shrinkage >= 0.0) {
            return Err(SeasonalParamsError::BadShrinkage(p.shrinkage));
        }
        if !(p.min_scale.is_finite() && p.min_scale > 0.0) {
            return Err(SeasonalParamsError::BadMinScale(p.min_scale));
        }
        match p.tail {
            TailModel::StudentsT { dof: v } | TailModel::SupportAdaptive { max_dof: v }
                if !(v.is_finite() && v > 0.0) =>
            {
                return Err(SeasonalParamsError::BadDof(v));
            }
            _ => {}
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// Median, scaled MAD and support of one feature at one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RobustStat {
    /// Median (log1p units).
    pub median: f64,
    /// MAD × 1.4826 (log1p units), before the floor.
    pub scale: f64,
    /// Number of windows.
    pub n: usize,
}

/// Per-feature statistics of one level (host, group or global), overall and per supported cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelStats {
    /// Over all hours; `None` when below the level's minimum support.
    pub all: Option<Vec<RobustStat>>,
    /// Supported cells only.
    pub cells: BTreeMap<SeasonCell, Vec<RobustStat>>,
}

impl LevelStats {
    fn from_cells(cells: &BTreeMap<SeasonCell, Vec<f64>>, d: usize, min_cell: usize, min_all: usize) -> Self {
        let stats_of = |values: &[f64]| -> Vec<RobustStat> {
            let n = values.len() / d;
            (0..d)
                .map(|f| {
                    let col: Vec<f64> = values.iter().skip(f).step_by(d).copied().collect();
                    let (median, mad) = median_mad(&col).unwrap_or((0.0, 0.0));
                    RobustStat { median, scale: mad * MAD_SCALE, n }
                })
                .collect()
        };
        let out_cells = cells.iter().filter(|(_, v)| v.len() / d >= min_cell).map(|(&c, v)| (c, stats_of(v))).collect();
        let pooled: Vec<f64> = cells.values().flatten().copied().collect();
        let all = (pooled.len() / d >= min_all).then(|| stats_of(&pooled));
        Self { all, cells: out_cells }
    }
}

/// Which level dominated an expectation (the most specific one with enough support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaselineSource {
    /// The host in this season cell.
    HostCell,
    /// The host over all hours, shaped by its group's seasonality.
    HostAllHours,
    /// The host's peer group in this cell.
    GroupCell,
    /// The peer group over all hours.
    Group,
    /// All hosts in this cell.
    GlobalCell,
    /// All hosts over all hours.
    Global,
}

/// What the baseline expects for one feature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// Expected `log1p(value)`.
    pub location: f64,
    /// Spread of `log1p(value)` (σ-comparable). Floored when returned by a query; a stored
    /// [`SeasonalPrior`] keeps it unfloored so blending sees the real spread.
    pub scale: f64,
    /// Windows behind the dominant level.
    pub support: usize,
    /// The dominant level.
    pub source: BaselineSource,
}

impl Expectation {
    /// Expected value on the original scale (the median volume).
    pub fn expected_value(&self) -> f64 {
        self.location.exp_m1()
    }

    /// `(n·own + k·prior) / (n + k)` for location and scale: a level with `n` windows blended
    /// with the level below it.
    fn blend(stat: &RobustStat, prior: Expectation, k: f64, source: BaselineSource) -> Expectation {
        let n = stat.n as f64;
        Expectation {
            location: (n * stat.median + k * prior.location) / (n + k),
            scale: (n * stat.scale + k * prior.scale) / (n + k),
            support: stat.n,
            source,
        }
    }
}

/// An observation judged against its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RobustScore {
    /// `(log1p(observed) − location) / scale`.
    pub z: f64,
    /// P(Z ≥ z) under the tail model: small for unusually high volume.
    pub tail_p: f64,
    /// P(Z ≤ z): small for unusually low volume.
    pub lower_tail_p: f64,
    /// The expected value on the original scale (`expm1(location)`).
    pub expected: f64,
    /// The expectation used.
    pub expectation: Expectation,
}

/// One host's statistics of one feature, taken out of a [`SeasonalBaseline`] so a per-host
/// history can keep them; [`HostSeasonal::score`] completes the back-off chain with the
/// host's [`SeasonalPrior`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HostSeasonal {
    /// Over all hours; `None` below the minimum host support.
    pub all: Option<RobustStat>,
    /// Supported cells only.
    pub cells: BTreeMap<SeasonCell, RobustStat>,
}

/// A peer group's expectation of one feature in every cell, already backed off to the global
/// levels, with the fit's parameters: what a host shrinks toward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalPrior {
    /// The fit's parameters (floor, tail model, season cells).
    pub params: SeasonalValidParams,
    /// Over all hours (scale unfloored).
    pub all: Expectation,
    /// Cells that differ from `all` (scale unfloored); a missing cell means `all`.
    pub cells: BTreeMap<SeasonCell, Expectation>,
}

/// The host end of the back-off chain: host cell, then host over all hours moved by the
/// level's seasonal shape (`level_cell − level`), then the level's cell.
fn host_chain(
    all: Option<&RobustStat>,
    cell: Option<&RobustStat>,
    level: Expectation,
    level_cell: Expectation,
    k: f64,
) -> Expectation {
    let prior = match all {
        Some(s) => {
            let host_all = Expectation::blend(s, level, k, BaselineSource::HostAllHours);
            Expectation { location: host_all.location + (level_cell.location - level.location), ..host_all }
        }
        None => level_cell,
    };
    match cell {
        Some(s) => Expectation::blend(s, prior, k, BaselineSource::HostCell),
        None => prior,
    }
}

/// Upper and lower tail probabilities of `z` under `tail` for a level with `support` windows.
fn tails(tail: TailModel, z: f64, support: usize) -> Result<(f64, f64), SeasonalError> {
    let err = |e: &dyn std::fmt::Display| SeasonalError::Distribution(e.to_string());
    let t = |dof: f64| StudentsT::new(0.0, 1.0, dof).map_err(|e| err(&e)).map(|d| (d.sf(z), d.cdf(z)));
    match tail {
        TailModel::Normal => Normal::new(0.0, 1.0).map_err(|e| err(&e)).map(|d| (d.sf(z), d.cdf(z))),
        TailModel::StudentsT { dof } => t(dof),
        TailModel::SupportAdaptive { max_dof } => t((support as f64 - 1.0).clamp(1.0, max_dof)),
    }
}

/// Scores a raw (non-negative) `observed` value against `expectation` (scale floored at
/// `params.min_scale`).
fn score_against(
    params: &SeasonalValidParams,
    mut expectation: Expectation,
    feature: usize,
    observed: f64,
) -> Result<RobustScore, SeasonalError> {
    if !observed.is_finite() {
        return Err(SeasonalError::NonFinite { feature, value: observed });
    }
    if observed < 0.0 {
        return Err(SeasonalError::NegativeVolume { feature, value: observed });
    }
    expectation.scale = expectation.scale.max(params.min_scale);
    let z = (observed.ln_1p() - expectation.location) / expectation.scale;
    let (tail_p, lower_tail_p) = tails(params.tail, z, expectation.support)?;
    Ok(RobustScore { z, tail_p, lower_tail_p, expected: expectation.expected_value(), expectation })
}

impl HostSeasonal {
    /// Judges `observed` in `cell` against the host's levels backed off to `prior` (its peer
    /// group's), each level blended with `k` pseudo-windows of the one below. Without a prior
    /// the host is judged on its own levels with default parameters.
    pub fn score(
        &self,
        cell: SeasonCell,
        observed: f64,
        prior: Option<&SeasonalPrior>,
        k: f64,
    ) -> Result<RobustScore, SeasonalError> {
        let (params, level, level_cell) = match prior {
            Some(p) => (p.params.clone(), p.all, p.cells.get(&cell).copied().unwrap_or(p.all)),
            None => {
                let own = self.all.map_or(
                    Expectation { location: 0.0, scale: 0.0, support: 0, source: BaselineSource::Global },
                    |s| Expectation {
                        location: s.median,
                        scale: s.scale,
                        support: s.n,
                        source: BaselineSource::HostAllHours,
                    },
                );
                (SeasonalParams::new().0, own, own)
            }
        };
        let expectation = host_chain(self.all.as_ref(), self.cells.get(&cell), level, level_cell, k);
        score_against(&params, expectation, 0, observed)
    }

    /// [`HostSeasonal::score`] at an hour of day, for baselines fitted without the weekday split
    /// (a weekly baseline would need the day: use `score` with the cell). Bad input (a
    /// negative or non-finite observation) scores as unsurprising: z = 0, tail probability 1.
    pub fn expect(&self, hour: usize, observed: f64, prior: Option<&SeasonalPrior>, k: f64) -> RobustScore {
        let cell = SeasonCell((hour % 24) as u8);
        self.score(cell, observed, prior, k).unwrap_or(RobustScore {
            z: 0.0,
            tail_p: 1.0,
            lower_tail_p: 1.0,
            expected: 0.0,
            expectation: Expectation { location: 0.0, scale: 0.0, support: 0, source: BaselineSource::Global },
        })
    }
}

/// A fitted seasonal baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalBaseline {
    params: SeasonalValidParams,
    feature_names: Vec<String>,
    global: LevelStats,
    groups: BTreeMap<usize, LevelStats>,
    hosts: BTreeMap<String, LevelStats>,
    host_groups: BTreeMap<String, usize>,
}

impl SeasonalValidParams {
    /// Fit from accumulated observations; `host_groups` maps hosts to peer groups (hosts absent
    /// from it back off to the global levels).
    pub fn fit(
        &self,
        acc: &SeasonalAccumulator,
        host_groups: &BTreeMap<String, usize>,
    ) -> Result<SeasonalBaseline, SeasonalError> {
        if acc.n_observations() == 0 {
            return Err(SeasonalError::Empty);
        }
        let d = acc.feature_names.len();
        let mut global_cells: BTreeMap<SeasonCell, Vec<f64>> = BTreeMap::new();
        let mut group_cells: BTreeMap<usize, BTreeMap<SeasonCell, Vec<f64>>> = BTreeMap::new();
        let mut hosts = BTreeMap::new();
        for (host, cells) in &acc.hosts {
            for (&cell, values) in cells {
                global_cells.entry(cell).or_default().extend(values);
                if let Some(&g) = host_groups.get(host) {
                    group_cells.entry(g).or_default().entry(cell).or_default().extend(values);
                }
            }
            hosts.insert(host.clone(), LevelStats::from_cells(cells, d, self.min_cell_support, self.min_host_support));
        }
        let (gc, ga) = (self.min_group_support, self.min_group_support);
        Ok(SeasonalBaseline {
            params: self.clone(),
            feature_names: acc.feature_names.clone(),
            // Global over all hours is the last resort, so it is kept whatever its support.
            global: LevelStats::from_cells(&global_cells, d, gc, 1),
            groups: group_cells.iter().map(|(&g, c)| (g, LevelStats::from_cells(c, d, gc, ga))).collect(),
            hosts,
            host_groups: host_groups
                .iter()
                .filter(|(h, _)| acc.hosts.contains_key(*h))
                .map(|(h, &g)| (h.clone(), g))
                .collect(),
        })
    }
}

impl SeasonalParams {
    /// Check the params, then fit (see [`SeasonalValidParams::fit`]).
    pub fn fit(
        &self,
        acc: &SeasonalAccumulator,
        host_groups: &BTreeMap<String, usize>,
    ) -> Result<SeasonalBaseline, SeasonalError> {
        self.check_ref()?.fit(acc, host_groups)
    }
}

impl SeasonalBaseline {
    /// Default hyperparameters.
    pub fn params() -> SeasonalParams {
        SeasonalParams::new()
    }

    /// Feature names, in index order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The checked hyperparameters used.
    pub fn fitted_params(&self) -> &SeasonalValidParams {
        &self.params
    }

    /// The group a host was trained in, if any.
    pub fn group_of(&self, host: &str) -> Option<usize> {
        self.host_groups.get(host).copied()
    }

    /// Statistics learned for a host, if it was seen in training.
    pub fn host_stats(&self, host: &str) -> Option<&LevelStats> {
        self.hosts.get(host)
    }

    fn check_feature(&self, feature: usize) -> Result<(), SeasonalError> {
        if feature >= self.feature_names.len() { Err(SeasonalError::UnknownFeature(feature)) } else { Ok(()) }
    }

    /// The level below a host in `cell`: (group or global over all hours, group or global cell).
    fn level(&self, group: Option<&LevelStats>, cell: SeasonCell, feature: usize) -> (Expectation, Expectation) {
        let k = self.params.shrinkage;
        let cell_stat = |l: &LevelStats| l.cells.get(&cell).map(|v| v[feature]);
        let all_stat = |l: &LevelStats| l.all.as_ref().map(|v| v[feature]);
        // Global over all hours always exists: fit refuses an empty accumulator.
        let g = all_stat(&self.global).unwrap_or(RobustStat { median: 0.0, scale: 0.0, n: 0 });
        let global = Expectation { location: g.median, scale: g.scale, support: g.n, source: BaselineSource::Global };
        match group {
            Some(gs) => {
                let level = all_stat(gs).map_or(global, |s| Expectation::blend(&s, global, k, BaselineSource::Group));
                let level_cell =
                    cell_stat(gs).map_or(level, |s| Expectation::blend(&s, level, k, BaselineSource::GroupCell));
                (level, level_cell)
            }
            None => {
                let global_cell = cell_stat(&self.global)
                    .map_or(global, |s| Expectation::blend(&s, global, k, BaselineSource::GlobalCell));
                (global, global_cell)
            }
        }
    }

    /// The prior of `group` (or of hosts without a group: the global levels) for `feature`.
    pub fn prior(&self, group: Option<usize>, feature: usize) -> Result<SeasonalPrior, SeasonalError> {
        self.check_feature(feature)?;
        let stats = group.and_then(|g| self.groups.get(&g));
        let n_cells = if self.params.weekly { N_CELLS } else { 24 };
        let mut cells = BTreeMap::new();
        // The all-hours level does not depend on the cell.
        let all = self.level(stats, SeasonCell(0), feature).0;
        for i in 0..n_cells {
            let cell = SeasonCell(i as u8);
            let (_, level_cell) = self.level(stats, cell, feature);
            if level_cell != all {
                cells.insert(cell, level_cell);
            }
        }
        Ok(SeasonalPrior { params: self.params.clone(), all, cells })
    }

    /// A host's own statistics of `feature` (empty for a host not seen in training).
    pub fn host(&self, host: &str, feature: usize) -> Result<HostSeasonal, SeasonalError> {
        self.check_feature(feature)?;
        let Some(stats) = self.hosts.get(host) else { return Ok(HostSeasonal::default()) };
        Ok(HostSeasonal {
            all: stats.all.as_ref().map(|v| v[feature]),
            cells: stats.cells.iter().map(|(&c, v)| (c, v[feature])).collect(),
        })
    }

    /// What the baseline expects of `feature` for `host` in `cell`. `group` overrides the host's
    /// training group (e.g. a new host assigned by [`crate::PeerGroups`]); `None` uses the
    /// training group, or global levels when there is none.
    pub fn expected(
        &self,
        host: &str,
        group: Option<usize>,
        cell: SeasonCell,
        feature: usize,
    ) -> Result<Expectation, SeasonalError> {
        self.check_feature(feature)?;
        let group = group.or_else(|| self.group_of(host)).and_then(|g| self.groups.get(&g));
        let (level, level_cell) = self.level(group, cell, feature);
        let mut est = match self.hosts.get(host) {
            Some(hs) => {
                let all = hs.all.as_ref().map(|v| v[feature]);
                let own = hs.cells.get(&cell).map(|v| v[feature]);
                host_chain(all.as_ref(), own.as_ref(), level, level_cell, self.params.shrinkage)
            }
            None => level_cell,
        };
        est.scale = est.scale.max(self.params.min_scale);
        Ok(est)
    }

    /// Judge a raw (non-negative) observation of `feature` against the baseline.
    pub fn score(
        &self,
        host: &str,
        group: Option<usize>,
        cell: SeasonCell,
        feature: usize,
        observed: f64,
    ) -> Result<RobustScore, SeasonalError> {
        let expectation = self.expected(host, group, cell, feature)?;
        score_against(&self.params, expectation, feature, observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    fn cell(h: u8) -> SeasonCell {
        SeasonCell::new(h, false).unwrap()
    }

    /// Push raw values whose log1p is exactly `logs` (up to rounding).
    fn push_logs(acc: &mut SeasonalAccumulator, host: &str, c: SeasonCell, logs: &[f64]) {
        for &l in logs {
            acc.push(host, c, &[l.exp_m1()]).unwrap();
        }
    }

    fn acc() -> SeasonalAccumulator {
        SeasonalAccumulator::new(vec!["bytes_out".into()]).unwrap()
    }

    #[test]
    fn season_cells_from_timestamps() {
        // 2024-01-01 00:30 UTC was a Monday.
        let c = SeasonCell::from_unix(1_704_069_000, 0);
        assert_eq!((c.hour(), c.is_weekend()), (0, false));
        // Same instant at UTC−1 is Sunday 23:30.
        let c = SeasonCell::from_unix(1_704_069_000, -3600);
        assert_eq!((c.hour(), c.is_weekend()), (23, true));
        assert_eq!(c.index(), 47);
        assert_eq!(SeasonCell::new(24, false), None);
    }

    #[test]
    fn host_cell_median_and_mad_without_shrinkage() {
        let mut a = acc();
        push_logs(&mut a, "h", cell(3), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        let b = SeasonalBaseline::params().shrinkage(0.0).min_host_support(2).fit(&a, &BTreeMap::new()).unwrap();
        let e = b.expected("h", None, cell(3), 0).unwrap();
        assert!((e.location - 5.0).abs() < EPS);
        // Deviations 4,3,2,1,0,1,2,3,4 → MAD 2.
        assert!((e.scale - 2.0 * MAD_SCALE).abs() < EPS);
        assert_eq!((e.support, e.source), (9, BaselineSource::HostCell));
        // Observed e^7 − 1 → z = 2 / (2·1.4826).
        let s = b.score("h", None, cell(3), 0, 7f64.exp_m1()).unwrap();
        assert!((s.z - 1.0 / MAD_SCALE).abs() < 1e-9);
        assert!((s.tail_p + s.lower_tail_p - 1.0).abs() < 1e-12);
    }

    #[test]
    fn thin_cell_is_shrunk_toward_the_group() {
        let mut a = acc();
        // Group 0: two well-observed hosts at log level 10 in cell 3 (spread 1).
        for h in ["a", "b"] {
            push_logs(&mut a, h, cell(3), &[9.0, 10.0, 11.0, 9.0, 10.0, 11.0, 10.0]);
        }
        // Host "c": six points at level 4 in cell 3, no spread.
        push_logs(&mut a, "c", cell(3), &[4.0; 6]);
        let groups: BTreeMap<String, usize> = [("a", 0), ("b", 0), ("c", 0)].map(|(h, g)| (h.to_string(), g)).into();
        let b = SeasonalBaseline::params().shrinkage(6.0).min_host_support(100).fit(&a, &groups).unwrap();
        // Group pooled values: 14 points of a/b plus six 4s; median of the 20 sorted values.
        let mut pooled = vec![9.0, 10.0, 11.0, 9.0, 10.0, 11.0, 10.0];
        pooled.extend_from_within(..);
        pooled.extend([4.0; 6]);
        let (gm, gmad) = median_mad(&pooled).unwrap();
        let e = b.expected("c", None, cell(3), 0).unwrap();
        // Group cell (n = 20) is blended with the group all-hours level (the same data), so the
        // prior is exactly the group stat; the host cell (n = 6, median 4, MAD 0) blends with it.
        let want_loc = (6.0 * 4.0 + 6.0 * gm) / 12.0;
        let want_scale = (6.0 * 0.0 + 6.0 * gmad * MAD_SCALE) / 12.0;
        assert!((e.location - want_loc).abs() < EPS, "{} vs {}", e.location, want_loc);
        assert!((e.scale - want_scale).abs() < EPS);
        assert_eq!(e.source, BaselineSource::HostCell);
    }

    #[test]
    fn fallback_chain_host_all_group_cell_group_global() {
        let mut a = acc();
        // Host "h" (group 1): 30 points at level 5 spread over cells 0..3, nothing in cell 9.
        for h in 0..3 {
            push_logs(&mut a, "h", cell(h), &[5.0; 10]);
        }
        // Group 1 peer "p": cell 9 at level 8, other cells at level 6.
        push_logs(&mut a, "p", cell(9), &[8.0; 10]);
        push_logs(&mut a, "p", cell(0), &[6.0; 30]);
        let groups: BTreeMap<String, usize> = [("h", 1), ("p", 1)].map(|(h, g)| (h.to_string(), g)).into();
        let b = SeasonalBaseline::params().shrinkage(0.0).fit(&a, &groups).unwrap();

        // Host-all at 5, shifted by the group's cell-9 offset (8 − group median).
        let group_median = b.groups[&1].all.as_ref().unwrap()[0].median;
        let e = b.expected("h", None, cell(9), 0).unwrap();
        assert_eq!(e.source, BaselineSource::HostAllHours);
        assert!((e.location - (5.0 + 8.0 - group_median)).abs() < EPS);

        // An unseen host in group 1 takes the group cell, then the group.
        let e = b.expected("new", Some(1), cell(9), 0).unwrap();
        assert_eq!((e.source, e.location), (BaselineSource::GroupCell, 8.0));
        let e = b.expected("new", Some(1), cell(20), 0).unwrap();
        assert_eq!((e.source, e.location), (BaselineSource::Group, group_median));

        // No group at all: global cell, then global.
        let e = b.expected("new", None, cell(9), 0).unwrap();
        assert_eq!((e.source, e.location), (BaselineSource::GlobalCell, 8.0));
        let e = b.expected("new", Some(42), cell(20), 0).unwrap();
        assert_eq!((e.source, e.location), (BaselineSource::Global, group_median));
        // Global MAD: deviations from 6 are 1 (×30), 0 (×30), 2 (×10) → 1.
        assert!((e.scale - MAD_SCALE).abs() < EPS);
        // A constant host cell has MAD 0: the scale floor applies.
        assert_eq!(b.expected("h", None, cell(0), 0).unwrap().scale, 0.1);
    }

    #[test]
    fn host_stats_with_their_group_prior_score_like_the_baseline() {
        let mut a = acc();
        push_logs(&mut a, "a", cell(3), &[9.0, 10.0, 11.0, 9.5, 10.0, 10.5, 10.0]);
        push_logs(&mut a, "a", cell(4), &[7.0; 30]);
        push_logs(&mut a, "b", cell(3), &[12.0; 8]);
        push_logs(&mut a, "c", cell(5), &[2.0, 3.0, 4.0, 3.0, 2.5, 3.5]);
        let groups: BTreeMap<String, usize> = [("a", 0), ("b", 0), ("c", 1)].map(|(h, g)| (h.to_string(), g)).into();
        let k = 4.0;
        let b = SeasonalBaseline::params().shrinkage(k).min_host_support(10).weekly(false).fit(&a, &groups).unwrap();
        for host in ["a", "b", "c", "unseen"] {
            let prior = b.prior(b.group_of(host), 0).unwrap();
            let stats = b.host(host, 0).unwrap();
            for c in [cell(3), cell(4), cell(5), cell(20)] {
                for observed in [0.0, 1e3, 5e5, 1e9] {
                    let direct = b.score(host, None, c, 0, observed).unwrap();
                    let via = stats.score(c, observed, Some(&prior), k).unwrap();
                    assert_eq!(direct, via, "{host} {c:?} {observed}");
                    assert_eq!(stats.expect(usize::from(c.hour()), observed, Some(&prior), k), via);
                }
            }
        }
        // Host "a" has its own all-hours level and cells; "unseen" has nothing of its own.
        assert!(b.host("a", 0).unwrap().all.is_some());
        assert_eq!(b.host("unseen", 0).unwrap(), HostSeasonal::default());
        assert_eq!(b.host("a", 1), Err(SeasonalError::UnknownFeature(1)));
    }

    #[test]
    fn hour_of_day_cells_without_the_weekly_split() {
        // 2024-01-07 14:10 UTC was a Sunday.
        let sunday = 1_704_636_600;
        let weekly = SeasonalBaseline::params().check().unwrap();
        assert_eq!(weekly.season_cell(sunday, 0), SeasonCell::new(14, true).unwrap());
        let daily = SeasonalBaseline::params().weekly(false).check().unwrap();
        assert_eq!(daily.season_cell(sunday, 0), SeasonCell::new(14, false).unwrap());
    }

    #[test]
    fn median_resists_contamination() {
        let mut a = acc();
        let mut logs = vec![10.0; 20];
        // 40 % of the training windows are an exfiltration burst at level 20.
        logs.extend([20.0; 13]);
        push_logs(&mut a, "h", cell(1), &logs);
        let b = SeasonalBaseline::params().shrinkage(0.0).fit(&a, &BTreeMap::new()).unwrap();
        let e = b.expected("h", None, cell(1), 0).unwrap();
        assert!((e.location - 10.0).abs() < EPS);
        let s = b.score("h", None, cell(1), 0, 20f64.exp_m1()).unwrap();
        assert!(s.z > 50.0);
    }

    #[test]
    fn tail_probabilities_known_values() {
        let mut a = acc();
        push_logs(&mut a, "h", cell(0), &[1.0, 2.0, 3.0]);
        let fit = |tail| {
            SeasonalBaseline::params()
                .tail(tail)
                .shrinkage(0.0)
                .min_cell_support(2)
                .min_host_support(2)
                .fit(&a, &BTreeMap::new())
                .unwrap()
        };
        // Median 2, MAD 1 → scale 1.4826; observe log level 2 + 1.4826·1.96 → z = 1.96.
        let x = (2.0 + MAD_SCALE * 1.96f64).exp_m1();
        let s = fit(TailModel::Normal).score("h", None, cell(0), 0, x).unwrap();
        assert!((s.z - 1.96).abs() < 1e-9);
        assert!((s.tail_p - 0.024_997_895_148_220_435).abs() < 1e-9);
        // Support 3 → 2 degrees of freedom; P(T₂ ≥ 1.96) = ½(1 − 1.96/√(1.96² + 2)).
        let s = fit(TailModel::SupportAdaptive { max_dof: 30.0 }).score("h", None, cell(0), 0, x).unwrap();
        let want = 0.5 * (1.0 - 1.96 / (1.96f64 * 1.96 + 2.0).sqrt());
        assert!((s.tail_p - want).abs() < 1e-9, "{} vs {}", s.tail_p, want);
    }

    #[test]
    fn merge_is_order_independent() {
        let mut x = acc();
        let mut y = acc();
        push_logs(&mut x, "h", cell(2), &[1.0, 5.0, 3.0, 2.0]);
        push_logs(&mut y, "h", cell(2), &[9.0, 4.0, 7.0]);
        let mut xy = x.clone();
        xy.merge(y.clone()).unwrap();
        let mut yx = y;
        yx.merge(x).unwrap();
        let p = SeasonalBaseline::params().min_host_support(2);
        let (a, b) = (p.fit(&xy, &BTreeMap::new()).unwrap(), p.fit(&yx, &BTreeMap::new()).unwrap());
        assert_eq!(a, b);
        assert_eq!(xy.n_observations(), 7);
        let e = a.expected("h", None, cell(2), 0).unwrap();
        assert_eq!(e.support, 7);
    }

    #[test]
    fn serde_round_trip() {
        let mut a = acc();
        push_logs(&mut a, "h", cell(2), &[1.0; 8]);
        let b = SeasonalBaseline::params().fit(&a, &BTreeMap::new()).unwrap();
        let back: SeasonalBaseline = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        let acc_back: SeasonalAccumulator = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(acc_back, a);
    }

    #[test]
    fn rejects_bad_observations_and_queries() {
        let mut a = acc();
        assert_eq!(a.push("h", cell(0), &[1.0, 2.0]), Err(SeasonalError::WidthMismatch { expected: 1, got: 2 }));
        assert!(matches!(a.push("h", cell(0), &[f64::NAN]), Err(SeasonalError::NonFinite { feature: 0, .. })));
        assert!(matches!(a.push("h", cell(0), &[-1.0]), Err(SeasonalError::NegativeVolume { feature: 0, .. })));
        assert_eq!(SeasonalBaseline::params().fit(&a, &BTreeMap::new()), Err(SeasonalError::Empty));
        assert_eq!(SeasonalAccumulator::new(vec![]), Err(SeasonalError::NoFeatures));
        let other = SeasonalAccumulator::new(vec!["x".into()]).unwrap();
        assert!(matches!(a.merge(other), Err(SeasonalError::FeatureSchemaMismatch { .. })));
        push_logs(&mut a, "h", cell(0), &[1.0; 8]);
        let b = SeasonalBaseline::params().fit(&a, &BTreeMap::new()).unwrap();
        assert_eq!(b.expected("h", None, cell(0), 3), Err(SeasonalError::UnknownFeature(3)));
        assert!(matches!(b.score("h", None, cell(0), 0, f64::INFINITY), Err(SeasonalError::NonFinite { .. })));
    }

    #[test]
    fn rejects_support_below_two() {
        let e = SeasonalBaseline::params().min_cell_support(1).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::SupportTooSmall { name: "min_cell_support", got: 1 });
        let e = SeasonalBaseline::params().min_host_support(0).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::SupportTooSmall { name: "min_host_support", got: 0 });
        let e = SeasonalBaseline::params().min_group_support(1).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::SupportTooSmall { name: "min_group_support", got: 1 });
    }

    #[test]
    fn rejects_bad_shrinkage() {
        let e = SeasonalBaseline::params().shrinkage(-1.0).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::BadShrinkage(-1.0));
    }

    #[test]
    fn rejects_bad_min_scale() {
        let e = SeasonalBaseline::params().min_scale(0.0).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::BadMinScale(0.0));
    }

    #[test]
    fn rejects_bad_dof() {
        let e = SeasonalBaseline::params().tail(TailModel::StudentsT { dof: 0.0 }).check().unwrap_err();
        assert_eq!(e, SeasonalParamsError::BadDof(0.0));
        let e = SeasonalBaseline::params().tail(TailModel::SupportAdaptive { max_dof: f64::NAN }).check().unwrap_err();
        assert!(matches!(e, SeasonalParamsError::BadDof(_)));
    }
}
