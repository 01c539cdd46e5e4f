//! Peer groups: hosts clustered by behaviour profile with linfa-clustering's KMeans, the number
//! of groups chosen from the data by the silhouette criterion.
//!
//! A host with little history inherits its group's baseline, and "new for the host but common for
//! its group" scores low. The fitted [`PeerGroups`] carries its [`RobustScaler`], so assigning a
//! host at scoring time applies exactly the transform the groups were learned in.
//!
//! Shape: [`PeerGroupParams`] → [`PeerGroupValidParams`] (via [`linfa::ParamGuard`]) →
//! [`linfa::traits::Fit`] → [`PeerGroups`], which implements [`linfa::traits::Predict`].

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict, PredictInplace};
use linfa_clustering::{KMeans, KMeansError, KMeansInit};
use ndarray::{Array1, Array2, ArrayBase, ArrayView1, Axis, Data, Ix2};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::robust::median_in_place;
use crate::scaling::{RobustScaler, ScalingError};

/// Default seed for group selection.
const DEFAULT_SEED: u64 = 0x7065_6572_6772_7570;

/// Errors from [`PeerGroupParams`] checking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeerGroupParamsError {
    /// `k_max` below 2 leaves no choice to make.
    #[error("k_max must be at least 2, got {0}")]
    KMaxTooSmall(usize),
    /// `n_runs` was zero.
    #[error("n_runs must be at least 1")]
    ZeroRuns,
    /// `max_iterations` was zero.
    #[error("max_iterations must be at least 1")]
    ZeroIterations,
    /// Tolerance must be a positive finite number.
    #[error("tolerance must be positive and finite, got {0}")]
    BadTolerance(f64),
    /// Silhouette threshold must lie in [-1, 1].
    #[error("min_silhouette must lie in [-1, 1], got {0}")]
    BadMinSilhouette(f64),
    /// Clip must be positive and finite when set.
    #[error("clip must be positive and finite, got {0}")]
    BadClip(f64),
    /// Silhouette sample too small to compare clusterings.
    #[error("silhouette_sample must be at least 10, got {0}")]
    SilhouetteSampleTooSmall(usize),
}

/// Errors from fitting or applying peer groups.
#[derive(Debug, thiserror::Error)]
pub enum PeerGroupError {
    /// The hyperparameters were rejected.
    #[error("invalid peer-group parameters: {0}")]
    Params(#[from] PeerGroupParamsError),
    /// Scaling the profiles failed (empty, non-finite, negative volume, width mismatch).
    #[error("profile scaling failed: {0}")]
    Scaling(#[from] ScalingError),
    /// KMeans itself failed.
    #[error("k-means failed: {0}")]
    KMeans(#[from] KMeansError),
    /// An error reported by linfa itself.
    #[error(transparent)]
    Linfa(#[from] linfa::error::Error),
}

/// Checked peer-group hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerGroupValidParams {
    k_max: usize,
    min_silhouette: f64,
    n_runs: usize,
    max_iterations: u64,
    tolerance: f64,
    log1p_columns: Vec<usize>,
    clip: Option<f64>,
    silhouette_sample: usize,
    seed: u64,
}

impl PeerGroupValidParams {
    /// Largest number of groups tried (k = 2..=k_max).
    pub fn k_max(&self) -> usize {
        self.k_max
    }
    /// Best silhouette below this → a single group (the fleet has no clear roles).
    pub fn min_silhouette(&self) -> f64 {
        self.min_silhouette
    }
    /// KMeans restarts per k (best inertia kept).
    pub fn n_runs(&self) -> usize {
        self.n_runs
    }
    /// KMeans iteration cap.
    pub fn max_iterations(&self) -> u64 {
        self.max_iterations
    }
    /// KMeans convergence tolerance on centroid movement.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }
    /// Profile columns holding volumes or counts, compared on a log scale.
    pub fn log1p_columns(&self) -> &[usize] {
        &self.log1p_columns
    }
    /// Clip of the robust-scaled values.
    pub fn clip(&self) -> Option<f64> {
        self.clip
    }
    /// Hosts used for the O(n²) silhouette; larger fleets are subsampled with the seed.
    pub fn silhouette_sample(&self) -> usize {
        self.silhouette_sample
    }
    /// Seed of every random choice.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Unchecked peer-group hyperparameters (builder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerGroupParams(PeerGroupValidParams);

impl Default for PeerGroupParams {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerGroupParams {
    /// Defaults: k = 2..=12, single group below silhouette 0.25 (Kaufman & Rousseeuw's "no
    /// substantial structure" line), 10 KMeans++ runs, 300 iterations, tolerance 1e-4, no log
    /// columns, clip ±10, silhouette on at most 2000 hosts, fixed seed.
    pub fn new() -> Self {
        Self(PeerGroupValidParams {
            k_max: 12,
            min_silhouette: 0.25,
            n_runs: 10,
            max_iterations: 300,
            tolerance: 1e-4,
            log1p_columns: Vec::new(),
            clip: Some(10.0),
            silhouette_sample: 2000,
            seed: DEFAULT_SEED,
        })
    }
    /// Set the largest k tried.
    pub fn k_max(mut self, k_max: usize) -> Self {
        self.0.k_max = k_max;
        self
    }
    /// Set the silhouette below which the fleet is one group.
    pub fn min_silhouette(mut self, v: f64) -> Self {
        self.0.min_silhouette = v;
        self
    }
    /// Set KMeans restarts.
    pub fn n_runs(mut self, n: usize) -> Self {
        self.0.n_runs = n;
        self
    }
    /// Set the KMeans iteration cap.
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.0.max_iterations = n;
        self
    }
    /// Set the KMeans tolerance.
    pub fn tolerance(mut self, t: f64) -> Self {
        self.0.tolerance = t;
        self
    }
    /// Set the volume columns compared on a log scale.
    pub fn log1p_columns(mut self, cols: Vec<usize>) -> Self {
        self.0.log1p_columns = cols;
        self
    }
    /// Set (or clear) the clip of scaled values.
    pub fn clip(mut self, clip: Option<f64>) -> Self {
        self.0.clip = clip;
        self
    }
    /// Set the silhouette subsample size.
    pub fn silhouette_sample(mut self, n: usize) -> Self {
        self.0.silhouette_sample = n;
        self
    }
    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
}

impl ParamGuard for PeerGroupParams {
    type Checked = PeerGroupValidParams;
    type Error = PeerGroupParamsError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        let p = &self.0;
        if p.k_max < 2 {
            return Err(PeerGroupParamsError::KMaxTooSmall(p.k_max));
        }
        if p.n_runs == 0 {
            return Err(PeerGroupParamsError::ZeroRuns);
        }
        if p.max_iterations == 0 {
            return Err(PeerGroupParamsError::ZeroIterations);
        }
        if !(p.tolerance.is_finite() && p.tolerance > 0.0) {
            return Err(PeerGroupParamsError::BadTolerance(p.tolerance));
        }
        if !(-1.0..=1.0).contains(&p.min_silhouette) {
            return Err(PeerGroupParamsError::BadMinSilhouette(p.min_silhouette));
        }
        if let Some(c) = p.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(PeerGroupParamsError::BadClip(c));
        }
        if p.silhouette_sample < 10 {
            return Err(PeerGroupParamsError::SilhouetteSampleTooSmall(p.silhouette_sample));
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// Where one host sits among the peer groups.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeerAssignment {
    /// Group index (0 is the largest group).
    pub group: usize,
    /// Euclidean distance to the group centroid in scaled units (≈ robust σ per column).
    pub distance: f64,
    /// `distance` divided by the group's median member distance: ≈ 1 is a typical member, ≫ 1 a
    /// host that behaves unlike its peers. This is the "peer-group distance" of explanations.
    pub relative_distance: f64,
}

/// Silhouette obtained for one candidate k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KCandidate {
    /// Number of groups.
    pub k: usize,
    /// Mean silhouette of the clustering (−1..1).
    pub silhouette: f64,
}

/// Fitted peer groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerGroups {
    params: PeerGroupValidParams,
    scaler: RobustScaler,
    /// k × d centroids in scaled space, ordered by group size (largest first).
    centroids: Array2<f64>,
    sizes: Vec<usize>,
    /// Median member distance per group (floored), the yardstick of `relative_distance`.
    typical_distance: Vec<f64>,
    candidates: Vec<KCandidate>,
    training: Vec<PeerAssignment>,
}

/// Floor of the typical distance: a group of identical hosts would otherwise divide by zero.
const MIN_TYPICAL_DISTANCE: f64 = 0.1;

impl PeerGroups {
    /// Default hyperparameters.
    pub fn params() -> PeerGroupParams {
        PeerGroupParams::new()
    }
    /// Number of groups chosen.
    pub fn k(&self) -> usize {
        self.centroids.nrows()
    }
    /// Centroids in the scaled space (k × d).
    pub fn centroids(&self) -> &Array2<f64> {
        &self.centroids
    }
    /// Training hosts per group.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }
    /// Silhouette of every k tried (empty when too few distinct hosts to compare).
    pub fn candidates(&self) -> &[KCandidate] {
        &self.candidates
    }
    /// Assignments of the training hosts, in input order.
    pub fn training_assignments(&self) -> &[PeerAssignment] {
        &self.training
    }
    /// The profile scaler.
    pub fn scaler(&self) -> &RobustScaler {
        &self.scaler
    }
    /// The checked hyperparameters used.
    pub fn fitted_params(&self) -> &PeerGroupValidParams {
        &self.params
    }

    /// Assign profile rows to groups (checked path: errors on width mismatch, non-finite values,
    /// negative volumes).
    pub fn assign<D: Data<Elem = f64>>(
        &self,
        profiles: &ArrayBase<D, Ix2>,
    ) -> Result<Vec<PeerAssignment>, PeerGroupError> {
        let z = self.scaler.transform(profiles)?;
        Ok(z.outer_iter().map(|row| self.assign_scaled(row)).collect())
    }

    fn assign_scaled(&self, row: ArrayView1<f64>) -> PeerAssignment {
        let (group, distance) = nearest(&self.centroids, row);
        PeerAssignment { group, distance, relative_distance: distance / self.typical_distance[group] }
    }
}

fn nearest(centroids: &Array2<f64>, row: ArrayView1<f64>) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (g, c) in centroids.outer_iter().enumerate() {
        let d2: f64 = c.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum();
        if d2 < best.1 {
            best = (g, d2);
        }
    }
    (best.0, best.1.sqrt())
}

/// Mean silhouette (Rousseeuw 1987) with the standard convention that a point alone in its
/// cluster scores 0. linfa's `SilhouetteScore` scores such points 1, which rewards splitting every
/// outlying host into a group of its own: exactly the hosts we want judged against their peers.
fn silhouette(z: &Array2<f64>, labels: &[usize], k: usize) -> f64 {
    let m = labels.len();
    if m == 0 || z.nrows() != m {
        return 0.0;
    }
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l] += 1;
    }
    let per_point: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if counts[own] <= 1 {
                return 0.0;
            }
            let mut sums = vec![0.0; k];
            let zi = z.row(i);
            for (j, zj) in z.outer_iter().enumerate() {
                if j != i {
                    sums[labels[j]] += zi.iter().zip(zj).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                }
            }
            let a = sums[own] / (counts[own] - 1) as f64;
            let b = (0..k)
                .filter(|&l| l != own && counts[l] > 0)
                .map(|l| sums[l] / counts[l] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() || a.max(b) == 0.0 { 0.0 } else { (b - a) / a.max(b) }
        })
        .collect();
    per_point.iter().sum::<f64>() / m as f64
}

fn count_distinct_rows(z: &Array2<f64>, cap: usize) -> usize {
    let mut rows: Vec<Vec<u64>> = z.outer_iter().map(|r| r.iter().map(|v| v.to_bits()).collect()).collect();
    rows.sort_unstable();
    rows.dedup();
    rows.len().min(cap)
}

impl<D: Data<Elem = f64>, T> Fit<ArrayBase<D, Ix2>, T, PeerGroupError> for PeerGroupValidParams {
    type Object = PeerGroups;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<PeerGroups, PeerGroupError> {
        let scaler = RobustScaler::fit(&dataset.records, &self.log1p_columns, self.clip)?;
        let z = scaler.transform(&dataset.records)?;
        let n = z.nrows();
        // KMeans++ needs at least k distinct points (its weighted draw fails on all-zero weights),
        // and a silhouette needs at least one cluster with two members.
        let k_limit = self.k_max.min(n.saturating_sub(1)).min(count_distinct_rows(&z, self.k_max));

        let sample: Vec<usize> = if n > self.silhouette_sample {
            let mut rng = Xoshiro256Plus::seed_from_u64(self.seed);
            let mut idx: Vec<usize> = (0..n).collect();
            for i in 0..self.silhouette_sample {
                let j = i + (rand_xoshiro::rand_core::RngCore::next_u64(&mut rng) % (n - i) as u64) as usize;
                idx.swap(i, j);
            }
            idx.truncate(self.silhouette_sample);
            idx.sort_unstable();
            idx
        } else {
            (0..n).collect()
        };
        let z_sample = z.select(Axis(0), &sample);

        let mut candidates = Vec::new();
        let mut best: Option<(f64, Array2<f64>)> = None;
        for k in 2..=k_limit {
            let rng = Xoshiro256Plus::seed_from_u64(self.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let model = KMeans::params_with_rng(k, rng)
                .n_runs(self.n_runs)
                .max_n_iterations(self.max_iterations)
                .tolerance(self.tolerance)
                .init_method(KMeansInit::KMeansPlusPlus)
                .fit(&DatasetBase::from(z.view()))?;
            let labels: Array1<usize> = model.predict(&z_sample);
            let silhouette = silhouette(&z_sample, labels.as_slice().unwrap_or(&[]), k);
            candidates.push(KCandidate { k, silhouette });
            // Strictly greater: ties go to the smaller, simpler k.
            if best.as_ref().is_none_or(|(s, _)| silhouette > *s) {
                best = Some((silhouette, model.centroids().clone()));
            }
        }
        let centroids = match best {
            Some((s, c)) if s >= self.min_silhouette => c,
            // No clear structure: one group around the per-column median of the scaled profiles.
            _ => {
                let mut c = Array2::zeros((1, z.ncols()));
                for (j, col) in z.columns().into_iter().enumerate() {
                    c[[0, j]] = median_in_place(&mut col.to_vec()).unwrap_or(0.0);
                }
                c
            }
        };
        Ok(finish(self.clone(), scaler, &centroids, &z, candidates))
    }
}

/// Order groups by size (then centroid) so group ids are stable and readable, then derive sizes,
/// typical distances and the training assignments.
fn finish(
    params: PeerGroupValidParams,
    scaler: RobustScaler,
    centroids: &Array2<f64>,
    z: &Array2<f64>,
    candidates: Vec<KCandidate>,
) -> PeerGroups {
    let k = centroids.nrows();
    let raw: Vec<(usize, f64)> = z.outer_iter().map(|r| nearest(centroids, r)).collect();
    let mut sizes = vec![0usize; k];
    for &(g, _) in &raw {
        sizes[g] += 1;
    }
    let mut order: Vec<usize> = (0..k).filter(|&g| sizes[g] > 0).collect();
    order.sort_by(|&a, &b| {
        sizes[b].cmp(&sizes[a]).then_with(|| {
            centroids
                .row(a)
                .iter()
                .zip(centroids.row(b))
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let centroids = centroids.select(Axis(0), &order);
    let mut model = PeerGroups {
        params,
        scaler,
        sizes: vec![0; order.len()],
        typical_distance: vec![MIN_TYPICAL_DISTANCE; order.len()],
        centroids,
        candidates,
        training: Vec::new(),
    };
    let assigned: Vec<(usize, f64)> = z.outer_iter().map(|r| nearest(&model.centroids, r)).collect();
    let mut per_group: Vec<Vec<f64>> = vec![Vec::new(); model.k()];
    for &(g, d) in &assigned {
        model.sizes[g] += 1;
        per_group[g].push(d);
    }
    for (g, mut d) in per_group.into_iter().enumerate() {
        model.typical_distance[g] = median_in_place(&mut d).unwrap_or(0.0).max(MIN_TYPICAL_DISTANCE);
    }
    model.training = z.outer_iter().map(|r| model.assign_scaled(r)).collect();
    model
}

/// Unchecked assignment for linfa's `Predict`: rows that cannot be scaled (non-finite, negative
/// volume, wrong width) get `usize::MAX`; use [`PeerGroups::assign`] to get errors.
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for PeerGroups {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        for (row, out) in x.outer_iter().zip(y.iter_mut()) {
            *out = match self.scaler.transform(&row.insert_axis(Axis(0))) {
                Ok(z) => self.assign_scaled(z.row(0)).group,
                Err(_) => usize::MAX,
            };
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::from_elem(x.nrows(), usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::rand_core::RngCore;

    /// `roles` well-separated behaviour roles, `per_role` hosts each, 4 profile columns with a
    /// volume column (0) spanning orders of magnitude between roles.
    fn planted(roles: usize, per_role: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
        let mut rng = Xoshiro256Plus::seed_from_u64(seed);
        let mut u = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut x = Array2::zeros((roles * per_role, 4));
        let mut truth = Vec::new();
        for h in 0..roles * per_role {
            let r = h % roles;
            truth.push(r);
            x[[h, 0]] = 10f64.powi(3 + 2 * r as i32) * (0.8 + 0.4 * u());
            x[[h, 1]] = (r * 20) as f64 + 2.0 * u();
            x[[h, 2]] = if r.is_multiple_of(2) { 1.0 } else { 5.0 } + 0.5 * u();
            // A weak per-role signal under noise: a pure-noise column would carry as much weight
            // as a signal column after robust scaling and split roles along it.
            x[[h, 3]] = 0.3 * r as f64 + 0.05 * u();
        }
        (x, truth)
    }

    fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
        let ka = a.iter().max().unwrap() + 1;
        let kb = b.iter().max().unwrap() + 1;
        let mut m = vec![vec![0f64; kb]; ka];
        for (&i, &j) in a.iter().zip(b) {
            m[i][j] += 1.0;
        }
        let c2 = |x: f64| x * (x - 1.0) / 2.0;
        let sum_ij: f64 = m.iter().flatten().map(|&v| c2(v)).sum();
        let sum_a: f64 = m.iter().map(|r| c2(r.iter().sum())).sum();
        let sum_b: f64 = (0..kb).map(|j| c2(m.iter().map(|r| r[j]).sum())).sum();
        let expected = sum_a * sum_b / c2(a.len() as f64);
        (sum_ij - expected) / ((sum_a + sum_b) / 2.0 - expected)
    }

    fn fit(x: &Array2<f64>, p: &PeerGroupParams) -> PeerGroups {
        p.fit(&DatasetBase::from(x.clone())).unwrap()
    }

    #[test]
    fn recovers_four_planted_roles() {
        let (x, truth) = planted(4, 30, 3);
        let m = fit(&x, &PeerGroups::params().log1p_columns(vec![0]).k_max(8));
        assert_eq!(m.k(), 4, "candidates {:?}", m.candidates());
        let groups: Vec<usize> = m.training_assignments().iter().map(|a| a.group).collect();
        assert!((adjusted_rand_index(&truth, &groups) - 1.0).abs() < 1e-12);
        assert_eq!(m.sizes(), &[30, 30, 30, 30]);
        let best = m.candidates().iter().max_by(|a, b| a.silhouette.total_cmp(&b.silhouette)).unwrap();
        assert_eq!(best.k, 4);
        assert!(best.silhouette > 0.7);
        assert_eq!(m.predict(&x).to_vec(), groups);
    }

    #[test]
    fn picks_the_planted_k_for_several_ks() {
        for roles in [2, 3, 6] {
            let (x, _) = planted(roles, 20, 9);
            let m = fit(&x, &PeerGroups::params().log1p_columns(vec![0]));
            assert_eq!(m.k(), roles);
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let (x, _) = planted(4, 25, 5);
        let p = PeerGroups::params().log1p_columns(vec![0]).seed(99);
        assert_eq!(fit(&x, &p), fit(&x, &p));
    }

    #[test]
    fn structureless_fleet_is_one_group() {
        let mut rng = Xoshiro256Plus::seed_from_u64(4);
        let x = Array2::from_shape_fn((80, 3), |_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64);
        let m = fit(&x, &PeerGroups::params().min_silhouette(0.5));
        assert_eq!(m.k(), 1);
        assert_eq!(m.sizes(), &[80]);
        assert!(!m.candidates().is_empty());
    }

    #[test]
    fn tiny_and_identical_fleets_do_not_panic() {
        let one = ndarray::array![[1.0, 2.0]];
        assert_eq!(fit(&one, &PeerGroups::params()).k(), 1);
        let same = Array2::from_elem((10, 2), 3.0);
        let m = fit(&same, &PeerGroups::params());
        assert_eq!(m.k(), 1);
        assert!(m.candidates().is_empty());
    }

    #[test]
    fn deviant_host_has_large_relative_distance() {
        let (mut x, _) = planted(3, 30, 8);
        // Host 0 (role 0) takes on role-0 volume but another role's port profile.
        x[[0, 1]] = 30.0;
        let m = fit(&x, &PeerGroups::params().log1p_columns(vec![0]));
        let a = m.assign(&x).unwrap();
        let typical = a.iter().skip(1).map(|a| a.relative_distance).fold(0.0, f64::max);
        assert!(a[0].relative_distance > 2.0 * typical, "{} vs {}", a[0].relative_distance, typical);
    }

    #[test]
    fn silhouette_subsample_is_used_for_large_fleets() {
        let (x, _) = planted(3, 20, 1);
        let m = fit(&x, &PeerGroups::params().log1p_columns(vec![0]).silhouette_sample(30));
        assert_eq!(m.k(), 3);
    }

    #[test]
    fn serde_round_trip() {
        let (x, _) = planted(3, 10, 2);
        let m = fit(&x, &PeerGroups::params().log1p_columns(vec![0]));
        let back: PeerGroups = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.assign(&x).unwrap(), m.assign(&x).unwrap());
    }

    #[test]
    fn silhouette_known_values_and_singletons() {
        let z = ndarray::array![[0.0], [1.0], [10.0], [11.0]];
        let want = (9.5 / 10.5 + 8.5 / 9.5) / 2.0;
        assert!((silhouette(&z, &[0, 0, 1, 1], 2) - want).abs() < 1e-12);
        // A singleton scores 0 (linfa would give it 1); the others: a = 1, b = 9.5 and 10.5.
        let z = ndarray::array![[0.0], [1.0], [10.0]];
        let want = ((10.0 - 1.0) / 10.0 + (9.0 - 1.0) / 9.0) / 3.0;
        assert!((silhouette(&z, &[0, 0, 1], 2) - want).abs() < 1e-12);
    }

    #[test]
    fn rejects_k_max_below_two() {
        assert_eq!(PeerGroups::params().k_max(1).check().unwrap_err(), PeerGroupParamsError::KMaxTooSmall(1));
    }

    #[test]
    fn rejects_zero_runs() {
        assert_eq!(PeerGroups::params().n_runs(0).check().unwrap_err(), PeerGroupParamsError::ZeroRuns);
    }

    #[test]
    fn rejects_zero_iterations() {
        assert_eq!(PeerGroups::params().max_iterations(0).check().unwrap_err(), PeerGroupParamsError::ZeroIterations);
    }

    #[test]
    fn rejects_bad_tolerance() {
        assert!(matches!(
            PeerGroups::params().tolerance(f64::NAN).check().unwrap_err(),
            PeerGroupParamsError::BadTolerance(_)
        ));
        assert_eq!(PeerGroups::params().tolerance(0.0).check().unwrap_err(), PeerGroupParamsError::BadTolerance(0.0));
    }

    #[test]
    fn rejects_bad_min_silhouette() {
        assert_eq!(
            PeerGroups::params().min_silhouette(1.5).check().unwrap_err(),
            PeerGroupParamsError::BadMinSilhouette(1.5)
        );
    }

    #[test]
    fn rejects_bad_clip() {
        assert_eq!(PeerGroups::params().clip(Some(-1.0)).check().unwrap_err(), PeerGroupParamsError::BadClip(-1.0));
    }

    #[test]
    fn rejects_tiny_silhouette_sample() {
        assert_eq!(
            PeerGroups::params().silhouette_sample(3).check().unwrap_err(),
            PeerGroupParamsError::SilhouetteSampleTooSmall(3)
        );
    }

    #[test]
    fn rejects_empty_nan_and_negative_volume() {
        let e = PeerGroups::params().fit(&DatasetBase::from(Array2::<f64>::zeros((0, 2)))).unwrap_err();
        assert!(matches!(e, PeerGroupError::Scaling(ScalingError::Empty)));
        let e = PeerGroups::params().fit(&DatasetBase::from(ndarray::array![[1.0], [f64::NAN]])).unwrap_err();
        assert!(matches!(e, PeerGroupError::Scaling(ScalingError::NonFinite { row: 1, .. })));
        let e = PeerGroups::params()
            .log1p_columns(vec![0])
            .fit(&DatasetBase::from(ndarray::array![[1.0], [-5.0]]))
            .unwrap_err();
        assert!(matches!(e, PeerGroupError::Scaling(ScalingError::NegativeVolume { row: 1, .. })));
        let (x, _) = planted(2, 5, 1);
        let m = fit(&x, &PeerGroups::params());
        assert!(m.assign(&ndarray::array![[1.0, 2.0]]).is_err());
        assert_eq!(m.predict(&ndarray::array![[f64::NAN, 0.0, 0.0, 0.0]])[0], usize::MAX);
    }
}
