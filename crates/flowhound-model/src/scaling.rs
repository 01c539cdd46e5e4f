//! Robust column scaling fitted on training rows and replayed unchanged at scoring time.
//!
//! linfa-preprocessing only offers mean/std and min/max scalers, which a single exfiltrating host
//! in the training week can stretch arbitrarily. Median and IQR have a 25 % breakdown point, and
//! `log1p` on volume columns turns the multiplicative spread of byte counts into an additive one
//! so that "ten times more" means the same distance for a small and a large host.

use ndarray::{Array2, ArrayBase, ArrayView1, Data, Ix2};
use serde::{Deserialize, Serialize};

use crate::robust::{MAD_SCALE, median_mad, quantile_sorted};

/// IQR of a standard normal; dividing by it makes the IQR a σ estimate comparable to MAD·1.4826.
const IQR_TO_SIGMA: f64 = 1.348_979_500_392_163_5;

/// Errors from fitting or applying a [`RobustScaler`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScalingError {
    /// No rows to learn from.
    #[error("cannot fit a scaler on zero rows")]
    Empty,
    /// No columns.
    #[error("records have no feature columns")]
    NoFeatures,
    /// NaN or ±∞ in the input.
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A volume column (log-transformed) held a negative value.
    #[error("volume column {col} holds negative value {value} at row {row}")]
    NegativeVolume {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A log-transformed column index is outside the matrix.
    #[error("log1p column {col} is out of range for {n_features} columns")]
    LogColumnOutOfRange {
        /// Requested column.
        col: usize,
        /// Columns in the records.
        n_features: usize,
    },
    /// Input width differs from the width at fit time.
    #[error("scaler was fitted on {expected} columns, input has {got}")]
    FeatureCountMismatch {
        /// Width at fit time.
        expected: usize,
        /// Width of the input.
        got: usize,
    },
}

/// Per-column `(t(x) − median) / σ̂`, where `t` is `log1p` for volume columns and the identity
/// otherwise, and σ̂ is the first non-zero of IQR/1.349, MAD·1.4826, standard deviation and 1.
/// The fall-backs matter for sparse columns (mostly zero), whose IQR and MAD are both zero.
/// Scaled values are clipped to `±clip` so one extreme host cannot dominate a distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustScaler {
    log1p: Vec<bool>,
    center: Vec<f64>,
    scale: Vec<f64>,
    clip: Option<f64>,
}

impl RobustScaler {
    /// Fit on `records`, log-transforming the columns listed in `log1p_columns`.
    pub fn fit<D: Data<Elem = f64>>(
        records: &ArrayBase<D, Ix2>,
        log1p_columns: &[usize],
        clip: Option<f64>,
    ) -> Result<Self, ScalingError> {
        let (n, d) = records.dim();
        if n == 0 {
            return Err(ScalingError::Empty);
        }
        if d == 0 {
            return Err(ScalingError::NoFeatures);
        }
        let mut log1p = vec![false; d];
        for &c in log1p_columns {
            *log1p.get_mut(c).ok_or(ScalingError::LogColumnOutOfRange { col: c, n_features: d })? = true;
        }
        let mut center = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        for (c, col) in records.columns().into_iter().enumerate() {
            let mut v = transform_column(col, c, log1p[c])?;
            let (med, mad) = median_mad(&v).ok_or(ScalingError::Empty)?;
            v.sort_unstable_by(f64::total_cmp);
            let iqr = quantile_sorted(&v, 0.75) - quantile_sorted(&v, 0.25);
            let mean = v.iter().sum::<f64>() / n as f64;
            let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            let s = [iqr / IQR_TO_SIGMA, mad * MAD_SCALE, std].into_iter().find(|s| *s > 1e-12).unwrap_or(1.0);
            center.push(med);
            scale.push(s);
        }
        Ok(Self { log1p, center, scale, clip })
    }

    /// Number of columns.
    pub fn n_features(&self) -> usize {
        self.center.len()
    }

    /// Per-column centres (medians, after `log1p` where applied).
    pub fn center(&self) -> &[f64] {
        &self.center
    }

    /// Per-column scales.
    pub fn scale(&self) -> &[f64] {
        &self.scale
    }

    /// Apply the fitted transform.
    pub fn transform<D: Data<Elem = f64>>(&self, records: &ArrayBase<D, Ix2>) -> Result<Array2<f64>, ScalingError> {
        let d = self.n_features();
        if records.ncols() != d {
            return Err(ScalingError::FeatureCountMismatch { expected: d, got: records.ncols() });
        }
        let mut out = Array2::zeros(records.dim());
        for (c, col) in records.columns().into_iter().enumerate() {
            let v = transform_column(col, c, self.log1p[c])?;
            let (m, s) = (self.center[c], self.scale[c]);
            for (o, x) in out.column_mut(c).iter_mut().zip(v) {
                let z = (x - m) / s;
                *o = match self.clip {
                    Some(k) => z.clamp(-k, k),
                    None => z,
                };
            }
        }
        Ok(out)
    }
}

fn transform_column(col: ArrayView1<f64>, c: usize, log: bool) -> Result<Vec<f64>, ScalingError> {
    col.iter()
        .enumerate()
        .map(|(row, &value)| {
            if !value.is_finite() {
                Err(ScalingError::NonFinite { row, col: c, value })
            } else if log && value < 0.0 {
                Err(ScalingError::NegativeVolume { row, col: c, value })
            } else if log {
                Ok(value.ln_1p())
            } else {
                Ok(value)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn median_iqr_scaling_known_values() {
        // Column 0: 1..5 → median 3, IQR 2 → σ̂ = 2 / 1.349.
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0]];
        let s = RobustScaler::fit(&x, &[], None).unwrap();
        assert_eq!(s.center(), &[3.0]);
        assert!((s.scale()[0] - 2.0 / IQR_TO_SIGMA).abs() < 1e-12);
        let z = s.transform(&array![[3.0], [5.0]]).unwrap();
        assert_eq!(z[[0, 0]], 0.0);
        assert!((z[[1, 0]] - IQR_TO_SIGMA).abs() < 1e-12);
    }

    #[test]
    fn log1p_columns_and_outlier_resistance() {
        // One gross outlier does not move the centre or the scale of the log column.
        let x = array![[0.0], [e1(1.0)], [e1(2.0)], [e1(3.0)], [e1(4.0)], [1e15]];
        let s = RobustScaler::fit(&x, &[0], None).unwrap();
        assert!((s.center()[0] - 2.5).abs() < 1e-12);
        let clipped = RobustScaler::fit(&x, &[0], Some(3.0)).unwrap().transform(&x).unwrap();
        assert_eq!(clipped[[5, 0]], 3.0);
    }

    fn e1(x: f64) -> f64 {
        x.exp_m1()
    }

    #[test]
    fn sparse_column_falls_back_to_std_then_one() {
        let x = array![[0.0, 7.0], [0.0, 7.0], [0.0, 7.0], [0.0, 7.0], [10.0, 7.0]];
        let s = RobustScaler::fit(&x, &[], None).unwrap();
        // IQR = MAD = 0 → population std of [0,0,0,0,10] = 4.
        assert!((s.scale()[0] - 4.0).abs() < 1e-12);
        assert_eq!(s.scale()[1], 1.0);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(RobustScaler::fit(&Array2::<f64>::zeros((0, 2)), &[], None), Err(ScalingError::Empty));
        assert_eq!(RobustScaler::fit(&Array2::<f64>::zeros((2, 0)), &[], None), Err(ScalingError::NoFeatures));
        assert!(matches!(
            RobustScaler::fit(&array![[1.0], [f64::NAN]], &[], None),
            Err(ScalingError::NonFinite { row: 1, col: 0, .. })
        ));
        assert!(matches!(
            RobustScaler::fit(&array![[1.0], [-2.0]], &[0], None),
            Err(ScalingError::NegativeVolume { row: 1, col: 0, .. })
        ));
        assert!(matches!(
            RobustScaler::fit(&array![[1.0]], &[1], None),
            Err(ScalingError::LogColumnOutOfRange { col: 1, n_features: 1 })
        ));
        let s = RobustScaler::fit(&array![[1.0], [2.0]], &[], None).unwrap();
        assert!(matches!(s.transform(&array![[1.0, 2.0]]), Err(ScalingError::FeatureCountMismatch { .. })));
    }
}
