//! Order statistics shared by the scaler, the seasonal baselines and the peer groups.
//!
//! Everything here works on slices of finite values; callers validate finiteness once at the
//! boundary so these helpers stay branch-free on the hot path.

/// Consistency constant that makes the MAD an unbiased estimate of σ under a normal model.
pub(crate) const MAD_SCALE: f64 = 1.482_602_218_505_602;

/// Median of `values`, reordering the slice in place. `None` when empty.
pub(crate) fn median_in_place(values: &mut [f64]) -> Option<f64> {
    quantile_in_place(values, 0.5)
}

/// Quantile with linear interpolation between order statistics (the "type 7" rule numpy and R use
/// by default), so figures line up with what an analyst computes in a notebook.
pub(crate) fn quantile_in_place(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some(quantile_sorted(values, q))
}

/// Type-7 quantile of an already sorted, non-empty slice.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Median and raw (unscaled) median absolute deviation. `None` when empty.
pub(crate) fn median_mad(values: &[f64]) -> Option<(f64, f64)> {
    let mut buf = values.to_vec();
    let med = median_in_place(&mut buf)?;
    for v in &mut buf {
        *v = (*v - med).abs();
    }
    let mad = median_in_place(&mut buf)?;
    Some((med, mad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_in_place(&mut []), None);
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.25, 0.75]) == [2.0, 4.0]
        let mut v = [10.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile_in_place(&mut v, 0.25), Some(2.0));
        assert_eq!(quantile_in_place(&mut v, 0.75), Some(4.0));
        // numpy.quantile([1, 2, 3, 4], 0.1) == 1.3
        let q = quantile_in_place(&mut [1.0, 2.0, 3.0, 4.0], 0.1).unwrap();
        assert!((q - 1.3).abs() < 1e-12);
        assert_eq!(quantile_in_place(&mut [1.0], 1.5), None);
    }

    #[test]
    fn mad_ignores_a_gross_outlier() {
        let (med, mad) = median_mad(&[1.0, 2.0, 3.0, 4.0, 1000.0]).unwrap();
        assert_eq!(med, 3.0);
        // deviations 2, 1, 0, 1, 997 → median 1
        assert_eq!(mad, 1.0);
    }
}
