//! Isolation forest (Liu, Ting & Zhou, ICDM 2008) in linfa's shape: [`IsolationForestParams`] →
//! [`IsolationForestValidParams`] (via [`linfa::ParamGuard`]) → [`linfa::traits::Fit`] →
//! [`IsolationForest`], which implements [`linfa::traits::Predict`] and returns anomaly scores.
//!
//! linfa has no outlier detector, so this is our own. It follows scikit-learn's
//! `IsolationForest` closely (same split rule, same depth limit, same path-length correction) so
//! that its scores rank points the same way and the bench can compare the two directly.
//!
//! Layout choices are for speed on two cores: every tree lives in one flat node array whose
//! children are allocated as adjacent pairs (`right = left + 1`), trees are built in parallel from
//! seeds drawn up front (so the result does not depend on the thread count), and scoring walks
//! all trees for a block of rows at a time so one tree's nodes stay in L1 while the block passes.

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, ArrayView1, ArrayView2, Data, Ix1, Ix2};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default number of trees; scores stabilise well before 100 (Liu et al., §5).
const DEFAULT_N_TREES: usize = 100;
/// Default subsample per tree; small subsamples reduce swamping and masking (Liu et al., §3).
const DEFAULT_SUBSAMPLE_SIZE: usize = 256;
/// Default seed ("flowhoun" in ASCII) so two runs with default params agree bit for bit.
const DEFAULT_SEED: u64 = 0x666C_6F77_686F_756E;

const LEAF: u32 = u32::MAX;
/// Rows scored per parallel task: large enough to amortise task overhead, small enough that the
/// block plus one tree fits in L1/L2.
const SCORE_BLOCK: usize = 256;
/// Rows walked through a tree in lockstep.
const LANES: usize = 8;

/// Errors from [`IsolationForestParams`] checking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationForestParamsError {
    /// `n_trees` was zero.
    #[error("n_trees must be at least 1")]
    ZeroTrees,
    /// `subsample_size` below two: a single point cannot be isolated from anything.
    #[error("subsample_size must be at least 2, got {0}")]
    SubsampleTooSmall(usize),
    /// `max_depth` of zero would make every tree a single leaf.
    #[error("max_depth must be at least 1 when set")]
    ZeroMaxDepth,
    /// `max_features` of zero leaves nothing to split on.
    #[error("max_features must be at least 1 when set")]
    ZeroMaxFeatures,
}

/// Errors from fitting or scoring an isolation forest.
#[derive(Debug, thiserror::Error)]
pub enum IsolationForestError {
    /// The hyperparameters were rejected.
    #[error("invalid isolation forest parameters: {0}")]
    Params(#[from] IsolationForestParamsError),
    /// Fewer than two rows.
    #[error("cannot fit an isolation forest on {0} rows: at least 2 are needed")]
    NotEnoughSamples(usize),
    /// The record matrix has no columns.
    #[error("records have no feature columns")]
    NoFeatures,
    /// NaN or ±∞ in the input; the split rule and the scores are undefined for them.
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// `max_features` asks for more columns than the records have.
    #[error("max_features is {max_features} but the records have only {n_features} columns")]
    TooManyFeatures {
        /// Requested features per tree.
        max_features: usize,
        /// Columns in the records.
        n_features: usize,
    },
    /// Scoring input has a different width from the training data.
    #[error("model was fitted on {expected} feature columns, input has {got}")]
    FeatureCountMismatch {
        /// Width at fit time.
        expected: usize,
        /// Width of the input.
        got: usize,
    },
    /// An error reported by linfa itself.
    #[error(transparent)]
    Linfa(#[from] linfa::error::Error),
}

/// Checked isolation-forest hyperparameters; obtain through [`IsolationForestParams`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationForestValidParams {
    n_trees: usize,
    subsample_size: usize,
    max_depth: Option<usize>,
    max_features: Option<usize>,
    seed: u64,
}

impl IsolationForestValidParams {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }
    /// Rows drawn (without replacement) for each tree; capped at the number of rows at fit time.
    pub fn subsample_size(&self) -> usize {
        self.subsample_size
    }
    /// Depth limit; `None` means `ceil(log2(subsample))`, the average depth of an unbalanced
    /// tree on ψ points, beyond which splits only refine normal points.
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }
    /// Columns each tree may split on (drawn per tree); `None` means all.
    pub fn max_features(&self) -> Option<usize> {
        self.max_features
    }
    /// Seed of every random choice made while fitting.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Unchecked isolation-forest hyperparameters (builder).
///
/// ```
/// use flowhound_model::IsolationForest;
/// use linfa::traits::{Fit, Predict};
/// use linfa::DatasetBase;
/// use ndarray::array;
///
/// let x = array![[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [5.0, 5.0]];
/// let model = IsolationForest::params().n_trees(50).seed(7).fit(&DatasetBase::from(x.clone())).unwrap();
/// let scores = model.predict(&x);
/// assert!(scores[4] > scores[0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationForestParams(IsolationForestValidParams);

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    /// Defaults: 100 trees, subsample 256, depth `ceil(log2(subsample))`, all features, fixed seed.
    pub fn new() -> Self {
        Self(IsolationForestValidParams {
            n_trees: DEFAULT_N_TREES,
            subsample_size: DEFAULT_SUBSAMPLE_SIZE,
            max_depth: None,
            max_features: None,
            seed: DEFAULT_SEED,
        })
    }
    /// Set the number of trees.
    pub fn n_trees(mut self, n_trees: usize) -> Self {
        self.0.n_trees = n_trees;
        self
    }
    /// Set the per-tree subsample size.
    pub fn subsample_size(mut self, subsample_size: usize) -> Self {
        self.0.subsample_size = subsample_size;
        self
    }
    /// Set (or clear) the depth limit.
    pub fn max_depth(mut self, max_depth: Option<usize>) -> Self {
        self.0.max_depth = max_depth;
        self
    }
    /// Set (or clear) the number of columns sampled per tree.
    pub fn max_features(mut self, max_features: Option<usize>) -> Self {
        self.0.max_features = max_features;
        self
    }
    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
}

impl ParamGuard for IsolationForestParams {
    type Checked = IsolationForestValidParams;
    type Error = IsolationForestParamsError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        let p = &self.0;
        if p.n_trees == 0 {
            return Err(IsolationForestParamsError::ZeroTrees);
        }
        if p.subsample_size < 2 {
            return Err(IsolationForestParamsError::SubsampleTooSmall(p.subsample_size));
        }
        if p.max_depth == Some(0) {
            return Err(IsolationForestParamsError::ZeroMaxDepth);
        }
        if p.max_features == Some(0) {
            return Err(IsolationForestParamsError::ZeroMaxFeatures);
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// One node of a flat tree. Internal: `feature` is the split column, `value` the threshold
/// (`x <= value` goes to `left`, otherwise `left + 1`). Leaf: a self-loop (`left` is its own
/// index, `value` is +∞ so every row "goes left"), which lets scoring walk a fixed number of
/// steps for a whole batch of rows without a data-dependent branch; the leaf's path length lives
/// in [`Forest::path_len`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    value: f64,
    feature: u32,
    left: u32,
}

/// Columnar on-disk form of the forest: parallel arrays a notebook can load as a table. Leaves
/// have `feature` = 4294967295 and `value` = their finished path length `depth + c(size)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ForestColumns {
    roots: Vec<u32>,
    feature: Vec<u32>,
    left: Vec<u32>,
    value: Vec<f64>,
}

/// All trees back to back; `roots[t]` is the index of tree `t`'s root.
#[derive(Debug, Clone, PartialEq)]
struct Forest {
    roots: Vec<u32>,
    nodes: Vec<Node>,
    /// Path length of each leaf (0 for internal nodes).
    path_len: Vec<f64>,
    /// Depth of the deepest leaf: walking this many steps from any root reaches a leaf.
    depth: usize,
}

impl Forest {
    fn is_leaf(&self, i: usize) -> bool {
        self.nodes[i].left as usize == i
    }

    fn to_columns(&self) -> ForestColumns {
        let leaf = |i: usize| self.is_leaf(i);
        ForestColumns {
            roots: self.roots.clone(),
            feature: (0..self.nodes.len()).map(|i| if leaf(i) { LEAF } else { self.nodes[i].feature }).collect(),
            left: (0..self.nodes.len()).map(|i| if leaf(i) { 0 } else { self.nodes[i].left }).collect(),
            value: (0..self.nodes.len())
                .map(|i| if leaf(i) { self.path_len[i] } else { self.nodes[i].value })
                .collect(),
        }
    }

    /// Build from columns, validating the structure so a crafted file can neither index out of
    /// bounds nor make a walk miss its leaf: children lie strictly after their parent, every
    /// node has at most one parent and roots have none (so each tree is a proper tree), split
    /// columns exist, values are finite.
    fn from_columns(c: ForestColumns, n_features: usize) -> Result<Self, String> {
        let n = c.feature.len();
        if c.left.len() != n || c.value.len() != n {
            return Err("forest columns have different lengths".into());
        }
        if c.roots.is_empty() {
            return Err("forest has no trees".into());
        }
        let mut parents = vec![0u8; n];
        for &r in &c.roots {
            let r = r as usize;
            if r >= n || parents[r] != 0 {
                return Err("forest root index out of range or shared".into());
            }
            parents[r] = 1;
        }
        let mut nodes = Vec::with_capacity(n);
        let mut path_len = vec![0.0; n];
        let mut depth = vec![0usize; n];
        for i in 0..n {
            let (feature, left, value) = (c.feature[i], c.left[i] as usize, c.value[i]);
            if !value.is_finite() {
                return Err(format!("forest node {i} has a non-finite value"));
            }
            if feature == LEAF {
                path_len[i] = value;
                nodes.push(Node { value: f64::INFINITY, feature: 0, left: i as u32 });
                continue;
            }
            if feature as usize >= n_features {
                return Err(format!("forest node {i} splits on column {feature} of {n_features}"));
            }
            if left <= i || left + 1 >= n || parents[left] != 0 || parents[left + 1] != 0 {
                return Err(format!("forest node {i} has invalid children"));
            }
            parents[left] = 1;
            parents[left + 1] = 1;
            depth[left] = depth[i] + 1;
            depth[left + 1] = depth[i] + 1;
            nodes.push(Node { value, feature, left: left as u32 });
        }
        if parents.contains(&0) {
            return Err("forest has unreachable nodes".into());
        }
        let depth = depth.into_iter().max().unwrap_or(0);
        Ok(Forest { roots: c.roots, nodes, path_len, depth })
    }
}

/// Serialised form of [`IsolationForest`]; loading goes through validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IsolationForestRepr {
    params: IsolationForestValidParams,
    n_features: usize,
    subsample_size: usize,
    forest: ForestColumns,
}

impl From<IsolationForest> for IsolationForestRepr {
    fn from(m: IsolationForest) -> Self {
        Self {
            forest: m.forest.to_columns(),
            params: m.params,
            n_features: m.n_features,
            subsample_size: m.subsample_size,
        }
    }
}

impl TryFrom<IsolationForestRepr> for IsolationForest {
    type Error = String;

    fn try_from(r: IsolationForestRepr) -> Result<Self, String> {
        if r.subsample_size < 2 || r.n_features == 0 {
            return Err("isolation forest needs subsample_size >= 2 and at least one feature".into());
        }
        let forest = Forest::from_columns(r.forest, r.n_features)?;
        Ok(Self { params: r.params, n_features: r.n_features, subsample_size: r.subsample_size, forest })
    }
}

/// A fitted isolation forest. Scores lie in (0, 1]: about 0.5 or less for ordinary points,
/// approaching 1 for points isolated in very few splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "IsolationForestRepr", try_from = "IsolationForestRepr")]
pub struct IsolationForest {
    params: IsolationForestValidParams,
    n_features: usize,
    /// Effective subsample ψ = min(subsample_size, rows); the normaliser c(ψ) depends on it.
    subsample_size: usize,
    forest: Forest,
}

/// Average path length of an unsuccessful binary-search-tree lookup among `n` points: the
/// expected depth still to go when a leaf holds `n` unseparated points (Liu et al., eq. 1).
fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    /// Default hyperparameters.
    pub fn params() -> IsolationForestParams {
        IsolationForestParams::new()
    }

    /// The checked hyperparameters the model was fitted with.
    pub fn fitted_params(&self) -> &IsolationForestValidParams {
        &self.params
    }

    /// Number of feature columns the model expects.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Effective subsample size ψ used for the score normalisation.
    pub fn effective_subsample_size(&self) -> usize {
        self.subsample_size
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.forest.roots.len()
    }

    /// Scores for every row; errors on width mismatch or any non-finite value (the checked path
    /// production scoring should use; [`linfa::traits::Predict`] yields NaN instead).
    pub fn score<D: Data<Elem = f64>>(&self, records: &ArrayBase<D, Ix2>) -> Result<Array1<f64>, IsolationForestError> {
        if records.ncols() != self.n_features {
            return Err(IsolationForestError::FeatureCountMismatch { expected: self.n_features, got: records.ncols() });
        }
        check_finite(records.view())?;
        Ok(self.score_unchecked(records.view()))
    }

    /// Score of one row.
    pub fn score_one<D: Data<Elem = f64>>(&self, row: &ArrayBase<D, Ix1>) -> Result<f64, IsolationForestError> {
        let row = self.checked_row(row.view())?;
        let total: f64 = self.forest.roots.iter().map(|&r| self.path_length(r as usize, &row)).sum();
        Ok(self.normalise(total))
    }

    /// Which columns isolate `row`, as shares summing to 1 (zeros if the row is never split).
    ///
    /// DIFFI-style local importance (Carletti, Terzi & Susto, 2023): every split on the row's path
    /// credits its column with `1 / h_t(x)`, so columns used on short (isolating) paths gain most;
    /// dividing by how often each column appears on the paths removes the bias toward columns
    /// that were simply drawn more often.
    pub fn feature_contributions<D: Data<Elem = f64>>(
        &self,
        row: &ArrayBase<D, Ix1>,
    ) -> Result<Array1<f64>, IsolationForestError> {
        let row = self.checked_row(row.view())?;
        let mut credit = vec![0.0; self.n_features];
        let mut uses = vec![0u32; self.n_features];
        let mut path = Vec::new();
        for &root in &self.forest.roots {
            path.clear();
            let mut i = root as usize;
            while !self.forest.is_leaf(i) {
                let node = self.forest.nodes[i];
                path.push(node.feature as usize);
                i = node.left as usize + usize::from(row[node.feature as usize] > node.value);
            }
            let h = self.forest.path_len[i];
            for &f in &path {
                credit[f] += 1.0 / h.max(1.0);
                uses[f] += 1;
            }
        }
        let mut out: Array1<f64> =
            credit.iter().zip(&uses).map(|(&c, &u)| if u == 0 { 0.0 } else { c / f64::from(u) }).collect();
        let total = out.sum();
        if total > 0.0 {
            out /= total;
        }
        Ok(out)
    }

    fn checked_row(&self, row: ArrayView1<f64>) -> Result<Vec<f64>, IsolationForestError> {
        if row.len() != self.n_features {
            return Err(IsolationForestError::FeatureCountMismatch { expected: self.n_features, got: row.len() });
        }
        if let Some((col, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(IsolationForestError::NonFinite { row: 0, col, value });
        }
        Ok(row.to_vec())
    }

    fn normalise(&self, total_path: f64) -> f64 {
        let mean = total_path / self.forest.roots.len() as f64;
        (-mean / average_path_length(self.subsample_size)).exp2()
    }

    fn path_length(&self, root: usize, row: &[f64]) -> f64 {
        let mut i = root;
        while !self.forest.is_leaf(i) {
            let node = self.forest.nodes[i];
            i = node.left as usize + usize::from(row[node.feature as usize] > node.value);
        }
        self.forest.path_len[i]
    }

    /// Scores without validation; rows containing non-finite values get NaN.
    fn score_unchecked(&self, records: ArrayView2<f64>) -> Array1<f64> {
        let d = self.n_features;
        let n = records.nrows();
        let mut out = vec![0.0; n];
        if d == 0 {
            return Array1::from_vec(out);
        }
        // Logical iteration order is row-major whatever the memory layout.
        let owned: Vec<f64>;
        let flat = match records.as_slice() {
            Some(s) => s,
            None => {
                owned = records.iter().copied().collect();
                &owned
            }
        };
        out.par_chunks_mut(SCORE_BLOCK).zip(flat.par_chunks(SCORE_BLOCK * d)).for_each(|(out_block, rows)| {
            out_block.fill(0.0);
            let (nodes, path_len) = (&self.forest.nodes, &self.forest.path_len);
            for &root in &self.forest.roots {
                let mut lanes = out_block.chunks_exact_mut(LANES).zip(rows.chunks_exact(LANES * d));
                // Fixed-depth walk of LANES rows in lockstep: leaves are self-loops, so there is
                // no data-dependent branch and the independent loads of the lanes overlap.
                for (acc, rows) in &mut lanes {
                    let mut idx = [root as usize; LANES];
                    for _ in 0..self.forest.depth {
                        for (j, i) in idx.iter_mut().enumerate() {
                            let node = nodes[*i];
                            *i = node.left as usize + usize::from(rows[j * d + node.feature as usize] > node.value);
                        }
                    }
                    for (a, &i) in acc.iter_mut().zip(&idx) {
                        *a += path_len[i];
                    }
                }
                let done = out_block.len() / LANES * LANES;
                for (acc, row) in out_block[done..].iter_mut().zip(rows[done * d..].chunks_exact(d)) {
                    *acc += self.path_length(root as usize, row);
                }
            }
            for (acc, row) in out_block.iter_mut().zip(rows.chunks_exact(d)) {
                *acc = if row.iter().all(|v| v.is_finite()) { self.normalise(*acc) } else { f64::NAN };
            }
        });
        Array1::from_vec(out)
    }
}

fn check_finite(records: ArrayView2<f64>) -> Result<(), IsolationForestError> {
    for (row, r) in records.outer_iter().enumerate() {
        if let Some((col, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(IsolationForestError::NonFinite { row, col, value });
        }
    }
    Ok(())
}

/// Uniform integer in `0..n` (n > 0) by Lemire's multiply-shift; the tiny bias at 64 bits is
/// irrelevant here and it avoids a division per draw.
fn uniform_below(rng: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Uniform float in [0, 1) from the top 53 bits.
fn uniform_unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `k` distinct indices from `0..n` (Floyd's algorithm: exactly `k` draws, no `n`-sized buffer,
/// which matters when a hundred trees each draw 256 of a million rows).
fn sample_without_replacement(rng: &mut Xoshiro256PlusPlus, n: usize, k: usize) -> Vec<usize> {
    let mut chosen = Vec::with_capacity(k);
    let mut seen = std::collections::HashSet::with_capacity(k);
    for j in n - k..n {
        let t = uniform_below(rng, j + 1);
        let pick = if seen.contains(&t) { j } else { t };
        seen.insert(pick);
        chosen.push(pick);
    }
    chosen
}

struct TreeSpec<'a> {
    records: ArrayView2<'a, f64>,
    subsample: usize,
    max_depth: usize,
    max_features: usize,
}

fn build_tree(spec: &TreeSpec, seed: u64) -> Vec<Node> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n_cols = spec.records.ncols();
    let rows = sample_without_replacement(&mut rng, spec.records.nrows(), spec.subsample);
    let features: Vec<usize> = if spec.max_features < n_cols {
        let mut f = sample_without_replacement(&mut rng, n_cols, spec.max_features);
        // Sorted so the column-major copy below walks memory in order.
        f.sort_unstable();
        f
    } else {
        (0..n_cols).collect()
    };
    // Column-major copy of the subsample: each split scans one column over a range of points.
    let psi = rows.len();
    let mut cols = vec![0.0; features.len() * psi];
    for (ci, &f) in features.iter().enumerate() {
        for (ri, &r) in rows.iter().enumerate() {
            cols[ci * psi + ri] = spec.records[[r, f]];
        }
    }

    let mut idx: Vec<u32> = (0..psi as u32).collect();
    let mut order: Vec<usize> = (0..features.len()).collect();
    let mut nodes = vec![Node { value: 0.0, feature: LEAF, left: 0 }];
    // (node, start, end, depth) over `idx`.
    let mut stack = vec![(0usize, 0usize, psi, 0usize)];
    while let Some((node, start, end, depth)) = stack.pop() {
        let size = end - start;
        let leaf = Node { value: depth as f64 + average_path_length(size), feature: LEAF, left: 0 };
        if depth >= spec.max_depth || size <= 1 {
            nodes[node] = leaf;
            continue;
        }
        // Try columns in random order without replacement until one is not constant on this
        // node, as scikit-learn's random splitter does; a node where all are constant is a leaf.
        let mut split = None;
        for k in 0..order.len() {
            let j = k + uniform_below(&mut rng, order.len() - k);
            order.swap(k, j);
            let col = &cols[order[k] * psi..(order[k] + 1) * psi];
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &i in &idx[start..end] {
                let v = col[i as usize];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi > lo {
                let mut t = lo + uniform_unit(&mut rng) * (hi - lo);
                // Rounding can land on `hi`, which would send everything left.
                if t >= hi {
                    t = lo;
                }
                split = Some((order[k], t));
                break;
            }
        }
        let Some((local, threshold)) = split else {
            nodes[node] = leaf;
            continue;
        };
        let col = &cols[local * psi..(local + 1) * psi];
        let mut mid = start;
        for i in start..end {
            if col[idx[i] as usize] <= threshold {
                idx.swap(i, mid);
                mid += 1;
            }
        }
        let left = nodes.len();
        nodes.push(Node { value: 0.0, feature: LEAF, left: 0 });
        nodes.push(Node { value: 0.0, feature: LEAF, left: 0 });
        nodes[node] = Node { value: threshold, feature: features[local] as u32, left: left as u32 };
        stack.push((left + 1, mid, end, depth + 1));
        stack.push((left, start, mid, depth + 1));
    }
    nodes
}

impl<D: Data<Elem = f64>, T> Fit<ArrayBase<D, Ix2>, T, IsolationForestError> for IsolationForestValidParams {
    type Object = IsolationForest;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<Self::Object, IsolationForestError> {
        let records = dataset.records.view();
        let (n, d) = records.dim();
        if n < 2 {
            return Err(IsolationForestError::NotEnoughSamples(n));
        }
        if d == 0 {
            return Err(IsolationForestError::NoFeatures);
        }
        check_finite(records)?;
        let max_features = self.max_features.unwrap_or(d);
        if max_features > d {
            return Err(IsolationForestError::TooManyFeatures { max_features, n_features: d });
        }
        let subsample = self.subsample_size.min(n);
        let max_depth = self.max_depth.unwrap_or_else(|| (subsample as f64).log2().ceil() as usize);
        let spec = TreeSpec { records, subsample, max_depth, max_features };

        let mut master = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let seeds: Vec<u64> = (0..self.n_trees).map(|_| master.next_u64()).collect();
        let trees: Vec<Vec<Node>> = seeds.par_iter().map(|&s| build_tree(&spec, s)).collect();

        let total: usize = trees.iter().map(Vec::len).sum();
        let mut cols = ForestColumns {
            roots: Vec::with_capacity(trees.len()),
            feature: Vec::with_capacity(total),
            left: Vec::with_capacity(total),
            value: Vec::with_capacity(total),
        };
        for tree in trees {
            let base = cols.feature.len() as u32;
            cols.roots.push(base);
            for nd in tree {
                cols.feature.push(nd.feature);
                cols.left.push(if nd.feature == LEAF { 0 } else { nd.left + base });
                cols.value.push(nd.value);
            }
        }
        // Same constructor as loading, so a fitted model and a loaded one are identical.
        let forest = Forest::from_columns(cols, d).map_err(|e| {
            IsolationForestError::Linfa(linfa::error::Error::Parameters(format!("internal forest invariant: {e}")))
        })?;
        Ok(IsolationForest { params: self.clone(), n_features: d, subsample_size: subsample, forest })
    }
}

/// Unchecked scoring for linfa's `Predict`: a width mismatch yields all-NaN and a row holding a
/// non-finite value yields NaN for that row (use [`IsolationForest::score`] to get errors).
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for IsolationForest {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        if x.ncols() != self.n_features || y.len() != x.nrows() {
            y.fill(f64::NAN);
            return;
        }
        y.assign(&self.score_unchecked(x.view()));
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;
    use ndarray::{Array2, ShapeBuilder, array};

    /// Deterministic pseudo-normal data: 400 inliers around 0 and 8 outliers far out.
    fn planted(n_in: usize, d: usize) -> (Array2<f64>, Vec<usize>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut x = Array2::zeros((n_in + 8, d));
        for v in x.iter_mut() {
            // Sum of uniforms: bell-shaped enough for a test.
            *v = (0..6).map(|_| uniform_unit(&mut rng)).sum::<f64>() - 3.0;
        }
        let outliers: Vec<usize> = (n_in..n_in + 8).collect();
        for (k, &r) in outliers.iter().enumerate() {
            x[[r, k % d]] = 6.0 + k as f64;
        }
        (x, outliers)
    }

    fn fit(x: &Array2<f64>, p: &IsolationForestParams) -> IsolationForest {
        p.fit(&DatasetBase::from(x.clone())).unwrap()
    }

    #[test]
    fn average_path_length_known_values() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2(ln 255 + γ) − 2·255/256, the value scikit-learn uses for ψ = 256.
        assert!((average_path_length(256) - 10.244_770_920_116_851).abs() < 1e-9);
    }

    #[test]
    fn outliers_score_higher_than_every_inlier() {
        let (x, outliers) = planted(400, 4);
        let s = fit(&x, &IsolationForest::params()).score(&x).unwrap();
        let max_inlier = s.iter().take(400).cloned().fold(f64::MIN, f64::max);
        let min_outlier = outliers.iter().map(|&r| s[r]).fold(f64::MAX, f64::min);
        assert!(min_outlier > max_inlier, "outlier {min_outlier} vs inlier {max_inlier}");
        assert!(min_outlier > 0.6);
        let mean_inlier = s.iter().take(400).sum::<f64>() / 400.0;
        assert!(mean_inlier < 0.5, "mean inlier score {mean_inlier}");
    }

    #[test]
    fn deterministic_per_seed_and_seed_matters() {
        let (x, _) = planted(300, 3);
        let a = fit(&x, &IsolationForest::params().seed(11));
        let b = fit(&x, &IsolationForest::params().seed(11));
        let c = fit(&x, &IsolationForest::params().seed(12));
        assert_eq!(a, b);
        assert_eq!(a.score(&x).unwrap(), b.score(&x).unwrap());
        assert_ne!(a.score(&x).unwrap(), c.score(&x).unwrap());
    }

    #[test]
    fn scores_in_unit_interval_and_predict_matches_score() {
        let (x, _) = planted(200, 5);
        let m = fit(&x, &IsolationForest::params().n_trees(30));
        let s = m.score(&x).unwrap();
        assert!(s.iter().all(|&v| v > 0.0 && v <= 1.0));
        assert_eq!(m.predict(&x), s);
        assert_eq!(m.score_one(&x.row(3)).unwrap(), s[3]);
        // Fortran-order input scores the same as C-order input.
        let mut f = Array2::zeros(x.dim().f());
        f.assign(&x);
        assert!(f.as_slice().is_none());
        assert_eq!(m.score(&f).unwrap(), s);
    }

    #[test]
    fn subsample_capped_at_rows_and_depth_default() {
        let x = array![[0.0], [1.0], [2.0], [3.0], [100.0]];
        let m = fit(&x, &IsolationForest::params());
        assert_eq!(m.effective_subsample_size(), 5);
        assert_eq!(m.n_trees(), 100);
        let s = m.score(&x).unwrap();
        assert!(s[4] > s[1]);
    }

    #[test]
    fn constant_data_gives_equal_scores() {
        let x = Array2::from_elem((50, 3), 2.5);
        let s = fit(&x, &IsolationForest::params().n_trees(10)).score(&x).unwrap();
        // Single-leaf trees: E[h] = c(ψ), so every score is exactly 0.5.
        assert!(s.iter().all(|&v| (v - 0.5).abs() < 1e-12));
    }

    #[test]
    fn max_features_restricts_split_columns() {
        let (x, _) = planted(200, 6);
        let m = fit(&x, &IsolationForest::params().max_features(Some(2)).n_trees(20));
        for t in 0..m.n_trees() {
            let start = m.forest.roots[t] as usize;
            let end = m.forest.roots.get(t + 1).map_or(m.forest.nodes.len(), |&r| r as usize);
            let mut cols: Vec<u32> =
                (start..end).filter(|&i| !m.forest.is_leaf(i)).map(|i| m.forest.nodes[i].feature).collect();
            cols.sort_unstable();
            cols.dedup();
            assert!(cols.len() <= 2, "tree {t} used {cols:?}");
        }
    }

    #[test]
    fn contributions_point_at_the_planted_column() {
        let (mut x, _) = planted(400, 5);
        x[[0, 3]] = 12.0;
        let m = fit(&x, &IsolationForest::params());
        let c = m.feature_contributions(&x.row(0)).unwrap();
        assert!((c.sum() - 1.0).abs() < 1e-9);
        let best = c.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(best, 3, "{c:?}");
    }

    #[test]
    fn serde_round_trip_preserves_scores() {
        let (x, _) = planted(100, 2);
        let m = fit(&x, &IsolationForest::params().n_trees(5));
        let json = serde_json::to_string(&m).unwrap();
        let back: IsolationForest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.score(&x).unwrap(), m.score(&x).unwrap());
    }

    #[test]
    fn crafted_forest_with_a_cycle_is_rejected() {
        let bad = r#"{"params":{"n_trees":1,"subsample_size":2,"max_depth":null,"max_features":null,"seed":0},
            "n_features":1,"subsample_size":2,
            "forest":{"roots":[0],"feature":[0,4294967295,4294967295],"left":[0,0,0],"value":[0.5,1.0,1.0]}}"#;
        assert!(serde_json::from_str::<IsolationForest>(bad).is_err());
        let params = r#"{"n_trees":1,"subsample_size":2,"max_depth":null,"max_features":null,"seed":0}"#;
        let with =
            |forest: &str| format!(r#"{{"params":{params},"n_features":1,"subsample_size":2,"forest":{forest}}}"#);
        let ok = with(r#"{"roots":[0],"feature":[0,4294967295,4294967295],"left":[1,0,0],"value":[0.5,1.0,1.0]}"#);
        let m: IsolationForest = serde_json::from_str(&ok).unwrap();
        assert_eq!(m.score(&array![[0.0], [1.0]]).unwrap().len(), 2);
        // Split on a column the model does not have.
        let bad_col = with(r#"{"roots":[0],"feature":[3,4294967295,4294967295],"left":[1,0,0],"value":[0.5,1.0,1.0]}"#);
        assert!(serde_json::from_str::<IsolationForest>(&bad_col).is_err());
        // Two trees sharing a subtree, and a root that is also a child.
        let shared =
            with(r#"{"roots":[0,1],"feature":[0,4294967295,4294967295],"left":[1,0,0],"value":[0.5,1.0,1.0]}"#);
        assert!(serde_json::from_str::<IsolationForest>(&shared).is_err());
        let no_trees = with(r#"{"roots":[],"feature":[],"left":[],"value":[]}"#);
        assert!(serde_json::from_str::<IsolationForest>(&no_trees).is_err());
    }

    #[test]
    fn rejects_zero_trees() {
        let err = IsolationForest::params().n_trees(0).check().unwrap_err();
        assert_eq!(err, IsolationForestParamsError::ZeroTrees);
    }

    #[test]
    fn rejects_subsample_below_two() {
        let err = IsolationForest::params().subsample_size(1).check().unwrap_err();
        assert_eq!(err, IsolationForestParamsError::SubsampleTooSmall(1));
    }

    #[test]
    fn rejects_zero_max_depth() {
        let err = IsolationForest::params().max_depth(Some(0)).check().unwrap_err();
        assert_eq!(err, IsolationForestParamsError::ZeroMaxDepth);
    }

    #[test]
    fn rejects_zero_max_features() {
        let err = IsolationForest::params().max_features(Some(0)).check().unwrap_err();
        assert_eq!(err, IsolationForestParamsError::ZeroMaxFeatures);
    }

    #[test]
    fn fit_surfaces_param_errors() {
        let x = array![[0.0], [1.0]];
        let err = IsolationForest::params().n_trees(0).fit(&DatasetBase::from(x)).unwrap_err();
        assert!(matches!(err, IsolationForestError::Params(IsolationForestParamsError::ZeroTrees)));
    }

    #[test]
    fn rejects_nan_input() {
        let x = array![[0.0, 1.0], [f64::NAN, 2.0], [3.0, 4.0]];
        let err = IsolationForest::params().fit(&DatasetBase::from(x)).unwrap_err();
        assert!(matches!(err, IsolationForestError::NonFinite { row: 1, col: 0, .. }));
    }

    #[test]
    fn rejects_infinite_input() {
        let x = array![[0.0, 1.0], [1.0, f64::INFINITY]];
        let err = IsolationForest::params().fit(&DatasetBase::from(x)).unwrap_err();
        assert!(matches!(err, IsolationForestError::NonFinite { row: 1, col: 1, .. }));
    }

    #[test]
    fn rejects_empty_and_single_row() {
        let err = IsolationForest::params().fit(&DatasetBase::from(Array2::<f64>::zeros((0, 3)))).unwrap_err();
        assert!(matches!(err, IsolationForestError::NotEnoughSamples(0)));
        let err = IsolationForest::params().fit(&DatasetBase::from(Array2::<f64>::zeros((1, 3)))).unwrap_err();
        assert!(matches!(err, IsolationForestError::NotEnoughSamples(1)));
    }

    #[test]
    fn rejects_zero_columns() {
        let err = IsolationForest::params().fit(&DatasetBase::from(Array2::<f64>::zeros((5, 0)))).unwrap_err();
        assert!(matches!(err, IsolationForestError::NoFeatures));
    }

    #[test]
    fn rejects_too_many_features() {
        let x = Array2::<f64>::zeros((5, 2));
        let err = IsolationForest::params().max_features(Some(3)).fit(&DatasetBase::from(x)).unwrap_err();
        assert!(matches!(err, IsolationForestError::TooManyFeatures { max_features: 3, n_features: 2 }));
    }

    #[test]
    fn scoring_checks_width_and_finiteness() {
        let (x, _) = planted(50, 2);
        let m = fit(&x, &IsolationForest::params().n_trees(5));
        let err = m.score(&Array2::<f64>::zeros((2, 3))).unwrap_err();
        assert!(matches!(err, IsolationForestError::FeatureCountMismatch { expected: 2, got: 3 }));
        let bad = array![[0.0, 0.0], [f64::NAN, 0.0]];
        assert!(matches!(m.score(&bad).unwrap_err(), IsolationForestError::NonFinite { row: 1, col: 0, .. }));
        let p = m.predict(&bad);
        assert!(p[0].is_finite() && p[1].is_nan());
        assert!(m.predict(&Array2::<f64>::zeros((2, 3))).iter().all(|v| v.is_nan()));
    }
}
