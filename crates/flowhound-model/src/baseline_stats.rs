//! Seasonal robust statistics used by the [`Baseline`](crate::baseline::Baseline).
//!
//! The model crate's `robust` module gives order statistics; the seasonal cells, the
//! shrinkage toward a prior live here because the baseline is their only user.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::robust::{MAD_SCALE, median_mad};

/// Smallest σ of a log-volume cell: a host that sends exactly the same bytes every hour
/// would otherwise make a 10 % change look like a 50σ event.
pub const MIN_LOG_SIGMA: f64 = 0.35;

/// Median, MAD-based σ and support of one sample (log1p units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Cell {
    pub median: f64,
    pub sigma: f64,
    pub n: u32,
}

impl Cell {
    pub fn of(values: &[f64]) -> Cell {
        match median_mad(values) {
            Some((median, mad)) => {
                Cell { median, sigma: mad * MAD_SCALE, n: u32::try_from(values.len()).unwrap_or(u32::MAX) }
            }
            None => Cell::default(),
        }
    }

    /// This cell shrunk toward `prior`: a cell with at least `k` points keeps its own
    /// estimate (a nightly backup hour must not be pulled toward the quiet hours), thinner
    /// cells blend linearly toward the prior.
    pub fn shrink(&self, prior: &Cell, k: f64) -> Cell {
        let n = f64::from(self.n);
        let w = (n / k.max(1.0)).min(1.0);
        Cell {
            median: w * self.median + (1.0 - w) * prior.median,
            sigma: w * self.sigma + (1.0 - w) * prior.sigma,
            n: self.n.max(prior.n),
        }
    }
}

/// Hour-of-day cells of a log1p volume plus the all-hours cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Seasonal {
    pub hours: Vec<Cell>,
    pub all: Cell,
}

/// What a seasonal baseline expects at one hour, and how surprising a value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// Expected value, in the original units (expm1 of the log median).
    pub expected: f64,
    /// Robust z of the observed value's log1p.
    pub z: f64,
    /// Upper-tail probability of z under a Student t with the cell's support.
    pub tail_p: f64,
}

impl Seasonal {
    /// Fits from (hour of day, value) samples.
    pub fn fit(samples: &[(usize, f64)]) -> Seasonal {
        let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); 24];
        let mut all = Vec::with_capacity(samples.len());
        for &(h, v) in samples {
            let y = v.max(0.0).ln_1p();
            by_hour[h % 24].push(y);
            all.push(y);
        }
        let mut hours = Vec::with_capacity(24);
        for values in &by_hour {
            hours.push(Cell::of(values));
        }
        Seasonal { hours, all: Cell::of(&all) }
    }

    /// The cell of `hour`, shrunk toward the all-hours cell, which is in turn shrunk
    /// toward `prior` (the peer group's) when the host has little history.
    pub fn cell(&self, hour: usize, prior: Option<&Cell>, k: f64) -> Cell {
        let all = match prior {
            Some(p) => self.all.shrink(p, k),
            None => self.all,
        };
        match self.hours.get(hour % 24) {
            Some(c) => c.shrink(&all, k),
            None => all,
        }
    }

    /// Compares `observed` with the cell of `hour`.
    pub fn expect(&self, hour: usize, observed: f64, prior: Option<&Cell>, k: f64) -> Expectation {
        let cell = self.cell(hour, prior, k);
        let sigma = cell.sigma.max(MIN_LOG_SIGMA);
        let z = (observed.max(0.0).ln_1p() - cell.median) / sigma;
        Expectation { expected: cell.median.exp_m1(), z, tail_p: upper_tail(z, cell.n) }
    }
}

/// Upper-tail probability of `z` under a Student t with `n − 1` degrees of freedom
/// (a normal is too confident when a cell has a handful of points).
pub fn upper_tail(z: f64, n: u32) -> f64 {
    if !z.is_finite() {
        return if z > 0.0 { 0.0 } else { 1.0 };
    }
    let df = f64::from(n.saturating_sub(1).max(1));
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.sf(z),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_cells_and_shrinkage() {
        let mut samples = Vec::new();
        for day in 0..7 {
            for h in 0..24 {
                let v = if h == 1 { 5e9 } else { 1e6 * (1.0 + 0.1 * f64::from(day % 3)) };
                samples.push((h, v));
            }
        }
        let s = Seasonal::fit(&samples);
        let night = s.expect(1, 5e9, None, 4.0);
        assert!(night.z.abs() < 1.0, "{night:?}");
        let day = s.expect(14, 5e9, None, 4.0);
        assert!(day.z > 5.0 && day.tail_p < 1e-3, "{day:?}");
        // A thin host leans on its group's prior.
        let thin = Seasonal::fit(&[(3, 10.0)]);
        let prior = Cell { median: 20.0, sigma: 1.0, n: 100 };
        assert!(thin.cell(3, Some(&prior), 8.0).median > 10.0);
    }
}
