//! A small seeded PRNG (SplitMix64) and keyed sub-streams.
//!
//! Every random decision of the simulator is drawn from a stream keyed by what it is
//! about (seed, activity, window, beat ...), never from a shared sequential stream: a
//! chunk of time can then be generated on any thread, in any order, and still produce
//! the same bytes.

/// The SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes a key made of several numbers into one 64-bit value.
pub fn hash(parts: &[u64]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c908_u64;
    for &p in parts {
        h = mix(h ^ mix(p.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    h
}

/// SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: mix(seed ^ 0xd1b5_4a32_d192_ed03) }
    }

    /// A stream keyed by `parts` (see the module documentation).
    pub fn keyed(parts: &[u64]) -> Rng {
        Rng::new(hash(parts))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        // Lemire's multiply-shift: unbiased enough for simulation ranges far below 2^32.
        lo + ((u128::from(self.next_u64()) * u128::from(hi - lo)) >> 64) as u64
    }

    /// Uniform index into a slice of length `len` (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.range(0, len as u64) as usize
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller; one of the pair is discarded to keep draws keyed).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape: the heavy-tailed size of most transfers.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Pareto with scale `xm` and tail index `alpha`, capped at `cap`.
    pub fn pareto(&mut self, xm: f64, alpha: f64, cap: f64) -> f64 {
        let u = 1.0 - self.f64();
        (xm / u.powf(1.0 / alpha)).min(cap)
    }

    /// Log-uniform in `[lo, hi)`: periods and sizes spanning orders of magnitude.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.f64()).exp()
    }

    /// Poisson-distributed count with mean `lambda`.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            // Knuth's product method; exact and cheap for small means.
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = self.f64();
            while p > limit {
                k += 1;
                p *= self.f64();
            }
            return k;
        }
        (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
    }

    /// An ephemeral source port in the Linux default range.
    pub fn ephemeral_port(&mut self) -> u16 {
        self.range(32_768, 61_000) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_stream() {
        let mut a = Rng::keyed(&[1, 2, 3]);
        let mut b = Rng::keyed(&[1, 2, 3]);
        let mut c = Rng::keyed(&[1, 2, 4]);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]));
    }

    #[test]
    fn distributions_have_expected_moments() {
        let mut rng = Rng::new(7);
        let n = 20_000;
        let mean_u: f64 = (0..n).map(|_| rng.f64()).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.01, "{mean_u}");
        let mean_p: f64 = (0..n).map(|_| rng.poisson(4.0) as f64).sum::<f64>() / n as f64;
        assert!((mean_p - 4.0).abs() < 0.1, "{mean_p}");
        let mean_big: f64 = (0..n).map(|_| rng.poisson(100.0) as f64).sum::<f64>() / n as f64;
        assert!((mean_big - 100.0).abs() < 1.0, "{mean_big}");
        let mut logs: Vec<f64> = (0..n).map(|_| rng.lognormal(1000.0, 1.0)).collect();
        logs.sort_by(f64::total_cmp);
        let median = logs[n / 2];
        assert!((median / 1000.0 - 1.0).abs() < 0.05, "{median}");
        for _ in 0..1000 {
            let r = rng.range(10, 20);
            assert!((10..20).contains(&r));
            let p = rng.ephemeral_port();
            assert!((32_768..61_000).contains(&p));
        }
        assert_eq!(rng.range(5, 5), 5);
        assert_eq!(rng.poisson(0.0), 0);
    }
}
