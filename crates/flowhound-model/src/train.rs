//! Training: how a [`Baseline`] is learned from a period of features — peer groups, the
//! seasonal volume baseline, the histories, the window forest, and the calibration, which
//! replays the detectors against histories of earlier days.
//!
//! Fitting needs the detectors (the calibration replays them, and the histories remember the
//! pairs the beaconing detector finds periodic) while the detectors score against the fitted
//! types; fitting lives here, apart from those types ([`crate::baseline`]), so that the
//! dependency runs one way: baseline, then detect, then train.

use std::collections::{BTreeMap, BTreeSet};

use flowhound_features::{FEATURE_SCHEMA_VERSION, Features, HostWindow, PairSeries, feature_names};
use flowhound_flowlog::Addr;
use flowhound_flowlog::time::DAY;
use linfa::ParamGuard;
use linfa::traits::Fit;
use ndarray::Array2;
use rayon::prelude::*;

use crate::baseline::{
    Baseline, BaselineError, BaselineParams, BaselineValidParams, PROFILE_FEATURES, TrainInfo, WindowForest,
    profile_of, window_matrix,
};
use crate::calibration::Calibration;
use crate::config::DetectConfig;
use crate::detect::{self, initiated, periodic_pairs};
use crate::history::{
    DestUse, EdgeUse, Histories, HostHistory, Prevalence, VOLUME_FEATURE, bytes_by_window, dest_key, find_gateways,
    net_of, trailing_sums,
};
use crate::peer_groups::PeerGroups;
use crate::robust::quantile_in_place;
use crate::scaling::RobustScaler;
use crate::seasonal::{SeasonalAccumulator, SeasonalBaseline, SeasonalError, SeasonalParams};

/// Per (calibration key, host) of one replayed day, the largest raw score.
type DayMaxima = Vec<(String, String, f64)>;
/// Raw score standing for "no candidate that host-day" in the calibration sample.
const NO_CANDIDATE: f64 = -1e6;

fn hour_of(t: u64) -> usize {
    ((t % DAY) / 3600) as usize
}

/// Which days (since the epoch) a time falls on.
fn day_of(t: u64) -> u64 {
    t / DAY
}

/// The estimated aggregation interval: record durations never exceed it, so the 99th
/// percentile of the durations of long-lived connections is close to it.
fn estimate_aggregation(features: &Features) -> u64 {
    let mut longest = Vec::new();
    for p in &features.pairs {
        for &d in &p.durations {
            if d > 5 {
                longest.push(f64::from(d));
            }
        }
        if longest.len() > 200_000 {
            break;
        }
    }
    match quantile_in_place(&mut longest, 0.99) {
        Some(q) if q > 120.0 => 600,
        _ => 60,
    }
}

/// Fits the seasonal baseline of [`VOLUME_FEATURE`] on the host windows that started before
/// `until`, with each host's peer group as its prior.
pub(crate) fn fit_volume(
    features: &Features,
    group_of: &BTreeMap<Addr, usize>,
    until: u64,
    params: &SeasonalParams,
) -> Result<SeasonalBaseline, SeasonalError> {
    let params = params.check_ref()?;
    let mut acc = SeasonalAccumulator::new(vec![VOLUME_FEATURE.to_string()])?;
    let mut names: BTreeMap<Addr, String> = BTreeMap::new();
    for r in features.rows.iter().filter(|r| r.window_start < until) {
        let name = names.entry(r.host).or_insert_with(|| r.host.to_string());
        let cell = params.season_cell(i64::try_from(r.window_start).unwrap_or(i64::MAX), 0);
        let external = r.bytes_out_external.saturating_sub(r.bytes_out_aws);
        acc.push(name, cell, &[external as f64])?;
    }
    let mut host_groups = BTreeMap::new();
    for (host, name) in names {
        if let Some(&g) = group_of.get(&host) {
            host_groups.insert(name, g);
        }
    }
    params.fit(&acc, &host_groups)
}

/// Builds the histories from everything in `features` that started before `until`; `volume`
/// is the seasonal baseline fitted on the same range ([`fit_volume`]).
pub(crate) fn build_histories(
    features: &Features,
    group_of: &BTreeMap<Addr, usize>,
    window_secs: u64,
    until: u64,
    volume: &SeasonalBaseline,
    detect: &DetectConfig,
    aggregation_secs: u64,
) -> Result<Histories, SeasonalError> {
    let rows: Vec<&HostWindow> = features.rows.iter().filter(|r| r.window_start < until).collect();
    let mut hosts: BTreeMap<Addr, HostHistory> = BTreeMap::new();
    let mut host_days: BTreeMap<Addr, BTreeSet<u64>> = BTreeMap::new();
    for r in &rows {
        let h = hosts.entry(r.host).or_insert_with(|| {
            HostHistory::new(
                r.host.to_string(),
                group_of.get(&r.host).copied().unwrap_or(0),
                r.window_start,
                r.window_end,
            )
        });
        h.first_seen = h.first_seen.min(r.window_start);
        h.last_seen = h.last_seen.max(r.window_end);
        h.windows += 1;
        host_days.entry(r.host).or_default().insert(day_of(r.window_start));
    }
    for h in hosts.values_mut() {
        h.volume = volume.host(&h.ip, 0)?;
    }

    // External destinations: per-window bytes, trailing sums, days and hours.
    let pairs: Vec<PairSeries> = features.pairs.iter().filter(|p| p.horizon_start < until).cloned().collect();
    let by_window = bytes_by_window(&pairs, window_secs);
    let mut prevalence: BTreeMap<String, (BTreeSet<Addr>, u64)> = BTreeMap::new();
    for ((host, key), series) in &by_window {
        let series: BTreeMap<u64, u64> = series.range(..until).map(|(&t, &b)| (t, b)).collect();
        let Some((&first, _)) = series.iter().next() else { continue };
        let mut days = BTreeSet::new();
        let mut hours = 0u32;
        for (&t, &b) in &series {
            if b > 0 {
                days.insert(day_of(t));
                hours |= 1 << hour_of(t);
            }
        }
        let mut max = [0u64; 3];
        for (_, sums) in trailing_sums(&series, window_secs) {
            for h in 0..3 {
                max[h] = max[h].max(sums[h]);
            }
        }
        let Some(h) = hosts.get_mut(host) else { continue };
        if !key.starts_with("aws:") {
            for (m, v) in h.max_external.iter_mut().zip(max) {
                *m = (*m).max(v);
            }
        }
        h.dests.push(DestUse { key: key.clone(), days: days.len() as u32, first_seen: first, max, hours });
    }
    let gateways = find_gateways(features);
    for p in &pairs {
        if gateways.contains(&p.host) {
            continue;
        }
        for key in [dest_key(p.peer, p.aws_service), net_of(p.peer)] {
            let e = prevalence.entry(key).or_insert_with(|| (BTreeSet::new(), p.horizon_start));
            e.0.insert(p.host);
            e.1 = e.1.min(p.horizon_start);
        }
    }

    // Internal edges: per host, per (dst, port) days; group back-off counts; fan-out.
    let mut edge_days: BTreeMap<(Addr, Addr, u16), (BTreeSet<u64>, u64)> = BTreeMap::new();
    let mut per_window: BTreeMap<(Addr, u64), (BTreeSet<Addr>, u32)> = BTreeMap::new();
    for e in initiated(&features.edges).into_iter().filter(|e| e.window_start < until) {
        let x = edge_days.entry((e.src, e.dst, e.dst_port)).or_insert_with(|| (BTreeSet::new(), e.window_start));
        x.0.insert(day_of(e.window_start));
        let w = per_window.entry((e.src, e.window_start)).or_default();
        w.0.insert(e.dst);
        w.1 += 1;
        if let Some(h) = hosts.get_mut(&e.src) {
            h.edge_hours |= 1 << hour_of(e.window_start);
        }
    }
    for ((src, _), (dsts, pairs)) in &per_window {
        if let Some(h) = hosts.get_mut(src) {
            h.max_fanout = h.max_fanout.max(dsts.len() as u32);
            h.max_pairs = h.max_pairs.max(*pairs);
        }
    }
    let n_groups = group_of.values().copied().max().map_or(1, |g| g + 1);
    let mut group_edges: BTreeMap<(usize, usize, u16), u32> = BTreeMap::new();
    let mut host_counts: BTreeMap<(Addr, usize, u16), u32> = BTreeMap::new();
    for ((src, dst, port), (days, first)) in &edge_days {
        let sg = group_of.get(src).copied().unwrap_or(n_groups);
        let dg = group_of.get(dst).copied().unwrap_or(n_groups);
        let n = days.len() as u32;
        *group_edges.entry((sg, dg, *port)).or_default() += n;
        *host_counts.entry((*src, dg, *port)).or_default() += n;
        if let Some(h) = hosts.get_mut(src) {
            h.edges.push(EdgeUse { dst: dst.to_string(), port: *port, days: n, first_seen: *first });
            h.edge_total += n;
        }
    }
    for ((src, g, port), n) in host_counts {
        if let Some(h) = hosts.get_mut(&src) {
            h.edge_counts.push((g, port, n));
        }
    }

    let periodic = periodic_pairs(&pairs, detect, aggregation_secs);

    Ok(Histories {
        until,
        hosts: hosts.into_values().collect(),
        prevalence: prevalence
            .into_iter()
            .map(|(key, (hosts, first_seen))| {
                let mut groups: BTreeMap<usize, u32> = BTreeMap::new();
                for h in &hosts {
                    if let Some(&g) = group_of.get(h) {
                        *groups.entry(g).or_default() += 1;
                    }
                }
                Prevalence { key, hosts: hosts.len() as u32, first_seen, groups: groups.into_iter().collect() }
            })
            .collect(),
        group_edges: group_edges.into_iter().map(|((a, b, p), n)| (a, b, p, n)).collect(),
        periodic,
    })
}

/// Columns of the window forest's features that the scaler log-scales: all but the ratios
/// and flags.
fn log1p_columns() -> Vec<usize> {
    let names = feature_names();
    let mut cols = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if !matches!(*n, "top_external_dst_share" | "out_in_ratio" | "incomplete") {
            cols.push(i);
        }
    }
    cols
}

impl BaselineParams {
    /// Checks the params and fits (see [`BaselineValidParams::fit`]).
    pub fn fit(self, features: &Features, detect: &DetectConfig) -> Result<Baseline, BaselineError> {
        self.check()?.fit(features, detect)
    }
}

impl BaselineValidParams {
    /// Learns the baseline of `features` (the training period) with detector settings `detect`.
    pub fn fit(&self, features: &Features, detect: &DetectConfig) -> Result<Baseline, BaselineError> {
        if features.rows.is_empty() {
            return Err(BaselineError::Empty);
        }
        let window_secs = features.rows[0].window_end - features.rows[0].window_start;
        let start = features.rows.iter().map(|r| r.window_start).min().unwrap_or(0);
        let end = features.rows.iter().map(|r| r.window_end).max().unwrap_or(0);

        // Peer groups from per-host profiles.
        let mut by_host: BTreeMap<Addr, Vec<&HostWindow>> = BTreeMap::new();
        for r in &features.rows {
            by_host.entry(r.host).or_default().push(r);
        }
        let host_list: Vec<Addr> = by_host.keys().copied().collect();
        let mut flat = Vec::with_capacity(host_list.len() * PROFILE_FEATURES.len());
        for rows in by_host.values() {
            flat.extend(profile_of(rows));
        }
        let profiles = Array2::from_shape_vec((host_list.len(), PROFILE_FEATURES.len()), flat)
            .unwrap_or_else(|_| Array2::zeros((0, PROFILE_FEATURES.len())));
        let groups: PeerGroups = self.peer_groups().clone().fit(&linfa::DatasetBase::from(profiles.clone()))?;
        let mut group_of = BTreeMap::new();
        for (host, a) in host_list.iter().zip(groups.training_assignments()) {
            group_of.insert(*host, a.group);
        }
        tracing::info!(hosts = host_list.len(), groups = groups.k(), "peer groups fitted");

        let volume_params = self.volume_params();
        let volume = fit_volume(features, &group_of, u64::MAX, &volume_params)?;
        let aggregation_secs = estimate_aggregation(features);
        let histories = build_histories(features, &group_of, window_secs, u64::MAX, &volume, detect, aggregation_secs)?;

        // Group priors for thin hosts.
        let mut group_volume = Vec::with_capacity(groups.k());
        let mut group_max_external = Vec::with_capacity(groups.k());
        for g in 0..groups.k() {
            group_volume.push(volume.prior(Some(g), 0)?);
            let mut maxes: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for h in &histories.hosts {
                if h.group == g {
                    for (m, v) in maxes.iter_mut().zip(h.max_external) {
                        m.push(v as f64);
                    }
                }
            }
            let mut m = [0u64; 3];
            for i in 0..3 {
                m[i] = quantile_in_place(&mut maxes[i], 0.5).unwrap_or(0.0) as u64;
            }
            group_max_external.push(m);
        }

        // Isolation forest over host windows.
        let all_rows: Vec<&HostWindow> = features.rows.iter().collect();
        let x = window_matrix(&all_rows);
        let log_cols = log1p_columns();
        let scaler = RobustScaler::fit(&x, &log_cols, Some(10.0))?;
        let xs = scaler.transform(&x)?;
        let forest = self.forest().clone().fit(&linfa::DatasetBase::from(xs.clone()))?;
        let scores = forest.score(&xs)?;
        let mut sv = scores.to_vec();
        let q99 = quantile_in_place(&mut sv, 0.99).unwrap_or(0.6);
        let mut group_medians = Vec::with_capacity(groups.k());
        for g in 0..groups.k() {
            let mut cols: Vec<Vec<f64>> = vec![Vec::new(); xs.ncols()];
            for (i, r) in all_rows.iter().enumerate() {
                if group_of.get(&r.host) == Some(&g) {
                    for (c, v) in xs.row(i).iter().enumerate() {
                        cols[c].push(*v);
                    }
                }
            }
            group_medians.push(cols.iter_mut().map(|c| quantile_in_place(c, 0.5).unwrap_or(0.0)).collect());
        }
        let window_forest = WindowForest {
            feature_names: feature_names().iter().map(|s| s.to_string()).collect(),
            log1p_columns: log_cols,
            scaler,
            forest,
            q99,
            group_medians,
        };

        let train = TrainInfo {
            start,
            end,
            window_secs,
            aggregation_secs,
            hosts: host_list.len(),
            windows: features.rows.len(),
            pairs: features.pairs.len(),
            edges: features.edges.len(),
            days: (end - start).div_ceil(DAY),
            addresses: features.addresses.clone(),
        };
        let mut baseline = Baseline {
            schema_version: crate::artifact::MODEL_SCHEMA_VERSION,
            feature_schema_version: FEATURE_SCHEMA_VERSION,
            params: self.clone(),
            detect: detect.clone(),
            train,
            groups,
            group_volume,
            group_max_external,
            histories,
            gateways: find_gateways(features).iter().map(Addr::to_string).collect(),
            forest: window_forest,
            calibration: Calibration::defaults(detect),
        };
        baseline.calibration = self.calibrate(&baseline, features, &group_of, start, end)?;
        Ok(baseline)
    }

    /// Replays the second half of the training days against histories of the days before
    /// each, and sets every detector's threshold at a high quantile of the per-host-day
    /// maxima of its raw scores (bounded by the detector's floor and ceiling, so neither a
    /// spotless nor a contaminated training period can switch a detector off).
    fn calibrate(
        &self,
        baseline: &Baseline,
        features: &Features,
        group_of: &BTreeMap<Addr, usize>,
        start: u64,
        end: u64,
    ) -> Result<Calibration, BaselineError> {
        let first_day = day_of(start) + 1;
        let last_day = day_of(end.saturating_sub(1));
        let mut calib = Calibration::defaults(&baseline.detect);
        if last_day < first_day {
            return Ok(calib);
        }
        let days_total = last_day + 1 - day_of(start);
        let from = (day_of(start) + days_total / 2).max(first_day);
        let days: Vec<u64> = (from..=last_day).collect();
        let volume_params = self.volume_params();
        let results: Result<Vec<DayMaxima>, BaselineError> = days
            .par_iter()
            .map(|&d| {
                let cut = d * DAY;
                let volume = fit_volume(features, group_of, cut, &volume_params)?;
                let histories = build_histories(
                    features,
                    group_of,
                    baseline.train.window_secs,
                    cut,
                    &volume,
                    &baseline.detect,
                    baseline.train.aggregation_secs,
                )?;
                let day_features = detect::slice_features(features, cut, cut + DAY);
                let mut b = baseline.clone();
                b.histories = histories;
                let raws = detect::raw_hits(&b, &day_features);
                let mut best: BTreeMap<(String, String), f64> = BTreeMap::new();
                for r in raws {
                    let e = best.entry((r.calibration_key.to_string(), r.hit.host.clone())).or_insert(f64::MIN);
                    *e = e.max(r.raw);
                }
                Ok(best.into_iter().map(|((k, h), v)| (k, h, v)).collect())
            })
            .collect();
        let results = results?;
        let host_days = (baseline.train.hosts as f64 * days.len() as f64).max(1.0);
        let mut by_key: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for day in results {
            for (k, _, v) in day {
                by_key.entry(k).or_default().push(v);
            }
        }
        for (key, t) in calib.thresholds.iter_mut() {
            let values = by_key.remove(key).unwrap_or_default();
            t.observed_quantile = observed_quantile(values, host_days as usize, self.calibration_quantile());
            t.threshold = match t.observed_quantile {
                Some(q) => (q + t.margin).clamp(t.floor, t.ceiling),
                None => t.floor,
            };
            t.host_days = host_days as u64;
        }
        Ok(calib)
    }
}

/// The `quantile` of per-host-day maxima `candidates` over `host_days` host-days, or `None`
/// when it falls among the host-days that had no candidate at all.
fn observed_quantile(mut candidates: Vec<f64>, host_days: usize, quantile: f64) -> Option<f64> {
    let lowest_candidate = candidates.iter().copied().fold(f64::INFINITY, f64::min);
    // Host-days without any candidate count as far below any threshold.
    let missing = host_days.saturating_sub(candidates.len());
    candidates.extend(std::iter::repeat_n(NO_CANDIDATE, missing));
    let q = quantile_in_place(&mut candidates, quantile)?;
    // Below every candidate, the quantile is interpolated towards the empty host-days.
    if q.is_finite() && q >= lowest_candidate { Some(q) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_quantile_ignores_host_days_without_candidates() {
        // 256 host-days, one scan candidate: the 0.999 quantile would interpolate between the
        // empty host-days and the candidate; it is no training observation.
        assert_eq!(observed_quantile(vec![1.5], 256, 0.999), None);
        assert_eq!(observed_quantile(Vec::new(), 256, 0.999), None);
        // Enough candidates: the quantile is theirs.
        let candidates: Vec<f64> = (0..1000).map(|i| f64::from(i) / 100.0).collect();
        let q = observed_quantile(candidates, 1000, 0.999).unwrap();
        assert!((q - 9.98).abs() < 0.01, "{q}");
        // Host-days without a candidate pull the quantile down but it stays a candidate's value.
        let q = observed_quantile(vec![3.0, 4.0, 5.0], 4, 0.5).unwrap();
        assert!((3.0..=4.0).contains(&q), "{q}");
    }
}
