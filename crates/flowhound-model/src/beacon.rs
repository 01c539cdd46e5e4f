//! Beacon statistics over the connection start times of one (host, peer, port) pair.
//!
//! Two complementary signals:
//! - [`rita_score`]: RITA v5's beacon score, reproduced exactly (timestamp and data-size
//!   regularity by Bowley skew and MAD, duration/coverage, hourly histogram), so a hunter
//!   who knows RITA can read our evidence in its terms;
//! - [`periodicity`]: a jitter-tolerant period estimate (share of intervals within ±J of
//!   the modal interval, with missed beats folded back onto the period), which RITA lacks:
//!   implants with 20–50 % jitter keep a clear mode where Bowley skew and MAD already fail.

use serde::{Deserialize, Serialize};

/// RITA v5's sub-scores and total, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct RitaScore {
    /// Timestamp regularity: mean of (1 − |Bowley skew|) and MAD score of the intervals.
    pub ts: f64,
    /// Data-size regularity: the same statistics over bytes per connection.
    pub ds: f64,
    /// max(coverage of the window, longest run of active hours / 12), when ≥ 6 hours are active.
    pub duration: f64,
    /// max(1 − CV of the 24 bin counts, bimodal fit), over 24 equal bins of the window.
    pub histogram: f64,
    /// 0.25 × (ts + ds + duration + histogram).
    pub score: f64,
}

/// Minimum distinct timestamps for RITA to analyse a pair.
const RITA_MIN_TIMESTAMPS: usize = 4;
const HIST_BINS: usize = 24;
const BIMODAL_MIN_HOURS: usize = 11;
const BIMODAL_SENSITIVITY: f64 = 0.05;
const BIMODAL_OUTLIER_REMOVAL: usize = 1;
const DURATION_MIN_HOURS: usize = 6;
const DURATION_IDEAL_HOURS: f64 = 12.0;

/// Linear-interpolation quantile of sorted data (type 7).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    quantile(sorted, 0.5)
}

/// Median absolute deviation (unscaled), as RITA uses it.
fn mad(sorted: &[f64], median: f64) -> f64 {
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    median_of_sorted(&dev)
}

/// RITA's (skew score + MAD score) / 2 over a sorted sample.
pub(crate) fn regularity(sorted: &[f64], mad_default: f64, min_iqr: f64) -> f64 {
    let q1 = quantile(sorted, 0.25);
    let q2 = quantile(sorted, 0.5);
    let q3 = quantile(sorted, 0.75);
    let iqr = q3 - q1;
    let skew = if iqr >= min_iqr && q2 != q1 && q2 != q3 { (q1 + q3 - 2.0 * q2) / iqr } else { 0.0 };
    let skew_score = (1.0 - skew.abs()).clamp(0.0, 1.0);
    let mad_score = if q2 >= 1.0 { ((q2 - mad(sorted, q2)) / q2).max(0.0) } else { mad_default };
    (skew_score + mad_score) / 2.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// RITA v5's beacon score for connection start times `timestamps` (any order,
/// duplicates allowed) and bytes sent per connection, over the window
/// `[window_start, window_end]`. Pairs with fewer than four distinct timestamps score 0.
pub(crate) fn rita_score(timestamps: &[u64], bytes: &[u64], window_start: u64, window_end: u64) -> RitaScore {
    let mut ts: Vec<u64> = timestamps.to_vec();
    ts.sort_unstable();
    let mut unique = ts.clone();
    unique.dedup();
    if unique.len() < RITA_MIN_TIMESTAMPS || window_end <= window_start {
        return RitaScore::default();
    }

    let mut intervals: Vec<f64> = Vec::with_capacity(ts.len());
    for pair in ts.windows(2) {
        let delta = pair[1] - pair[0];
        if delta > 0 {
            intervals.push(delta as f64);
        }
    }
    intervals.sort_by(f64::total_cmp);
    let ts_score = if intervals.len() >= 3 { regularity(&intervals, 1.0, 10.0) } else { 0.0 };

    let mut sizes: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
    sizes.sort_by(f64::total_cmp);
    let ds_score = if sizes.len() >= 3 { regularity(&sizes, 0.0, 10.0) } else { 0.0 };

    let span = (window_end - window_start) as f64;
    let mut freq = [0u64; HIST_BINS];
    for &t in &ts {
        let offset = t.clamp(window_start, window_end) - window_start;
        let bin = ((offset as f64 / span) * HIST_BINS as f64) as usize;
        freq[bin.min(HIST_BINS - 1)] += 1;
    }
    let total_bars = freq.iter().filter(|&&c| c > 0).count();
    let longest_run = longest_circular_run(&freq);

    let mean = freq.iter().sum::<u64>() as f64 / HIST_BINS as f64;
    let var = freq.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / HIST_BINS as f64;
    let cv = if mean > 0.0 { var.sqrt() / mean } else { f64::INFINITY };
    let cv_score = if cv > 1.0 { 0.0 } else { 1.0 - cv };
    let mut bimodal = 0.0;
    if total_bars >= BIMODAL_MIN_HOURS {
        let max_bar = *freq.iter().max().unwrap_or(&0) as f64;
        let width = (max_bar * BIMODAL_SENSITIVITY).ceil().max(1.0);
        let mut buckets: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
        for &c in freq.iter().filter(|&&c| c > 0) {
            *buckets.entry((c as f64 / width) as u64).or_default() += 1;
        }
        let mut counts: Vec<usize> = buckets.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top2 = counts.iter().take(2).sum::<usize>();
        bimodal = (top2 as f64 / (total_bars.saturating_sub(BIMODAL_OUTLIER_REMOVAL).max(1)) as f64).min(1.0);
    }
    let hist_score = cv_score.max(bimodal);

    let duration = if total_bars >= DURATION_MIN_HOURS {
        let first = *ts.first().unwrap_or(&window_start);
        let last = *ts.last().unwrap_or(&window_start);
        let coverage = ((last - first) as f64 / span).min(1.0);
        let consistency = (longest_run as f64 / DURATION_IDEAL_HOURS).min(1.0);
        coverage.max(consistency)
    } else {
        0.0
    };

    let (ts_score, ds_score, duration, hist_score) =
        (round3(ts_score), round3(ds_score), round3(duration), round3(hist_score));
    RitaScore {
        ts: ts_score,
        ds: ds_score,
        duration,
        histogram: hist_score,
        score: round3(0.25 * (ts_score + ds_score + duration + hist_score)),
    }
}

/// Longest run of non-empty bins, wrapping around the end (RITA's office-hours rule).
fn longest_circular_run(freq: &[u64]) -> usize {
    if freq.iter().all(|&c| c > 0) {
        return freq.len();
    }
    let mut best = 0;
    let mut run = 0;
    for &c in freq.iter().chain(freq.iter()) {
        if c > 0 {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best.min(freq.len())
}

/// A jitter-tolerant period estimate, corrected for chance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct Periodicity {
    /// The modal interval between connections, in seconds.
    pub period_secs: f64,
    /// Share of intervals within the tolerance of the period or of a small multiple of
    /// it (a missed or slept-through beat), in [0, 1].
    pub mode_share: f64,
    /// Relative spread of the on-period intervals: MAD / period.
    pub jitter: f64,
    /// Number of intervals considered.
    pub intervals: usize,
    /// The relative tolerance (of the ladder up to the configured maximum) that gave the
    /// best `regularity`.
    pub tolerance: f64,
    /// Share of on-beat intervals that chance does not explain, in [0, 1]: the one-sided
    /// 95 % lower bound of `mode_share` (Wilson), less the share that memoryless arrivals
    /// with the same mean interval would put on the same beats, over what they leave.
    /// About 0 for Poisson traffic whatever the tolerance, 1 for a clockwork beacon with
    /// enough beats; few beats or wide tolerances cost confidence, not a fixed threshold.
    pub regularity: f64,
}

/// Relative tolerances tried, narrowest first: a clockwork beacon is judged in a narrow
/// band (where chance puts almost nothing), a jittered one in the band its jitter needs.
const TOLERANCE_LADDER: [f64; 7] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5];
/// Multiples of the period an interval may span (beats missed, dropped by sampling or
/// slept through), tried like the tolerances: one (only the beat itself) and sixteen.
/// Chance grows with every multiple admitted, and the correction charges for it: at wide
/// tolerances the folded bands cover everything and count for nothing.
const BEATS_LADDER: [f64; 2] = [1.0, 16.0];
/// One-sided 95 % normal quantile for the lower confidence bound of the on-beat share.
const Z_95: f64 = 1.645;

/// Wilson score lower bound of a proportion `k / n`.
fn wilson_lower(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = p + z2 / (2.0 * n);
    let margin = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

/// The on-beat test: `d` lies within the tolerance of 1–4 periods (the tolerance grows as
/// the square root of the beats, as independent jitter adds up).
fn on_beat(d: f64, period: f64, tolerance: f64, resolution_secs: f64, max_beats: f64) -> bool {
    let beats = (d / period).round().clamp(1.0, max_beats);
    (d - beats * period).abs() <= (period * tolerance).max(resolution_secs) * beats.sqrt()
}

/// Probability that an exponential interval with mean `mean` passes [`on_beat`].
fn on_beat_chance(mean: f64, period: f64, tolerance: f64, resolution_secs: f64, max_beats: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    let cdf = |x: f64| 1.0 - (-x.max(0.0) / mean).exp();
    let mut p = 0.0;
    let mut beat = 1.0;
    while beat <= max_beats {
        let half = (period * tolerance).max(resolution_secs) * f64::sqrt(beat);
        // The rounding region of this beat count, intersected with its band.
        let region_lo = if beat == 1.0 { 0.0 } else { (beat - 0.5) * period };
        let region_hi = if beat == max_beats { f64::INFINITY } else { (beat + 0.5) * period };
        let lo = (beat * period - half).max(region_lo);
        let hi = (beat * period + half).min(region_hi);
        if hi > lo {
            p += cdf(hi) - cdf(lo);
        }
        beat += 1.0;
    }
    p.min(1.0)
}

/// One tolerance's period estimate over sorted intervals.
fn periodicity_at(intervals: &[f64], mean: f64, tolerance: f64, resolution_secs: f64, max_beats: f64) -> Periodicity {
    let n = intervals.len();
    // The period is the densest interval cluster: for each candidate, count intervals
    // within its tolerance, and keep the one that covers the most (ties: the shorter).
    let mut best_period = intervals[0];
    let mut best_cover = 0usize;
    let mut lo = 0usize;
    let mut end = 0usize;
    for (hi, &candidate) in intervals.iter().enumerate() {
        let band = (candidate * tolerance).max(resolution_secs);
        while intervals[lo] < candidate - band {
            lo += 1;
        }
        end = end.max(hi);
        while end + 1 < n && intervals[end + 1] <= candidate + band {
            end += 1;
        }
        let cover = end + 1 - lo;
        if cover > best_cover {
            best_cover = cover;
            best_period = candidate;
        }
    }
    // Refine to the median of the covered cluster so the period is not an edge value.
    let band = (best_period * tolerance).max(resolution_secs);
    let cluster: Vec<f64> = intervals.iter().copied().filter(|&d| (d - best_period).abs() <= band).collect();
    let period = median_of_sorted(&cluster).max(1.0);
    let spread = mad(&cluster, period);
    let on = intervals.iter().filter(|&&d| on_beat(d, period, tolerance, resolution_secs, max_beats)).count();
    let chance = on_beat_chance(mean, period, tolerance, resolution_secs, max_beats);
    let lower = wilson_lower(on, n);
    let regularity = if chance < 1.0 { ((lower - chance) / (1.0 - chance)).clamp(0.0, 1.0) } else { 0.0 };
    Periodicity {
        period_secs: period,
        mode_share: on as f64 / n as f64,
        jitter: spread / period,
        intervals: n,
        tolerance,
        regularity,
    }
}

/// Estimates the period of `timestamps` (any order) tolerating relative jitter up to
/// `max_tolerance` (e.g. 0.5 for ±50 %) and absolute timing noise up to
/// `resolution_secs` (flow-log start times are only as precise as their capture), and
/// how much of that regularity chance cannot explain ([`Periodicity::regularity`]).
pub(crate) fn periodicity(timestamps: &[u64], max_tolerance: f64, resolution_secs: f64) -> Periodicity {
    let mut ts: Vec<u64> = timestamps.to_vec();
    ts.sort_unstable();
    ts.dedup();
    if ts.len() < 3 {
        return Periodicity::default();
    }
    // Starts closer than the timing resolution are one beat (an implant opening two
    // connections at once), not an interval.
    let mut intervals: Vec<f64> =
        ts.windows(2).map(|w| (w[1] - w[0]) as f64).filter(|&d| d > resolution_secs).collect();
    if intervals.len() < 2 {
        return Periodicity::default();
    }
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    intervals.sort_by(f64::total_cmp);
    let mut best: Option<Periodicity> = None;
    for &tolerance in TOLERANCE_LADDER.iter().filter(|&&t| t <= max_tolerance + 1e-12) {
        for &max_beats in &BEATS_LADDER {
            let p = periodicity_at(&intervals, mean, tolerance, resolution_secs, max_beats);
            if best.is_none_or(|b| p.regularity > b.regularity) {
                best = Some(p);
            }
        }
    }
    best.unwrap_or_else(|| periodicity_at(&intervals, mean, max_tolerance, resolution_secs, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn perfect_beacon_scores_near_one() {
        let ts: Vec<u64> = (0..288).map(|i| 1_000_000 + i * 300).collect();
        let bytes = vec![512u64; ts.len()];
        let s = rita_score(&ts, &bytes, 1_000_000, 1_000_000 + 86_400);
        assert_eq!(s.ts, 1.0);
        assert_eq!(s.ds, 1.0);
        assert_eq!(s.histogram, 1.0);
        assert!(s.duration > 0.99, "{s:?}");
        assert!(s.score > 0.99, "{s:?}");
    }

    #[test]
    fn too_few_timestamps_score_zero() {
        let s = rita_score(&[10, 20, 30], &[1, 1, 1], 0, 86_400);
        assert_eq!(s, RitaScore::default());
        let s = rita_score(&[10, 10, 10, 10, 10], &[1; 5], 0, 86_400);
        assert_eq!(s.score, 0.0);
    }

    #[test]
    fn random_traffic_scores_low() {
        let mut seed = 7;
        let mut ts: Vec<u64> = (0..200).map(|_| (lcg(&mut seed) * 86_400.0) as u64).collect();
        ts.sort_unstable();
        // Heavy-tailed (log-normal) sizes, as web traffic has.
        let bytes: Vec<u64> = (0..200).map(|_| (8.0 + 2.0 * (lcg(&mut seed) - 0.5) * 4.0).exp() as u64).collect();
        let s = rita_score(&ts, &bytes, 0, 86_400);
        // Poisson arrivals: Bowley skew ≈ 0.26 and MAD/median ≈ 0.7 give a TS score near 0.5-0.6.
        assert!(s.ts < 0.65, "{s:?}");
        assert!(s.ds < 0.7, "{s:?}");
        // Uniform arrivals over the whole day still max out duration and score well on the
        // histogram: RITA's known weakness, which prevalence and periodicity must offset.
        assert!(s.duration > 0.9, "{s:?}");
        assert!(s.score < 0.8, "{s:?}");
    }

    #[test]
    fn bowley_needs_a_wide_enough_iqr() {
        // Intervals 60,60,61,61,...: IQR < 10 → skew 0 → skew score 1.
        let mut ts = vec![0u64];
        for i in 0..40 {
            let last = *ts.last().unwrap();
            ts.push(last + 60 + (i % 2));
        }
        let s = rita_score(&ts, &[100; 41], 0, 86_400);
        assert!(s.ts > 0.98, "{s:?}");
    }

    #[test]
    fn office_hours_duration_uses_longest_run() {
        // 9 h of activity each day, one day window: coverage ≈ 0.37, run 9/12 = 0.75.
        let ts: Vec<u64> = (0..(9 * 60)).map(|i| 9 * 3600 + i * 60).collect();
        let s = rita_score(&ts, &vec![100; ts.len()], 0, 86_400);
        assert!((s.duration - 0.75).abs() < 0.05, "{s:?}");
    }

    #[test]
    fn circular_run_wraps() {
        let mut freq = [0u64; 24];
        for h in [22, 23, 0, 1, 2] {
            freq[h] = 3;
        }
        assert_eq!(longest_circular_run(&freq), 5);
        assert_eq!(longest_circular_run(&[1; 24]), 24);
        assert_eq!(longest_circular_run(&[0; 24]), 0);
    }

    #[test]
    fn jittered_beacon_keeps_its_period() {
        let mut seed = 42;
        let mut t = 0u64;
        let mut ts = Vec::new();
        for _ in 0..300 {
            ts.push(t);
            // 60 s ± 40 % uniform jitter, like Cobalt Strike's default jitter setting.
            t += (60.0 * (1.0 + 0.8 * (lcg(&mut seed) - 0.5))) as u64;
        }
        let p = periodicity(&ts, 0.5, 2.0);
        assert!((p.period_secs - 60.0).abs() < 8.0, "{p:?}");
        assert!(p.mode_share > 0.9, "{p:?}");
        assert!(p.jitter > 0.05 && p.jitter < 0.3, "{p:?}");
        // RITA's timestamp score degrades under the same jitter.
        let rita = rita_score(&ts, &vec![300; ts.len()], 0, t);
        assert!(rita.ts < p.mode_share, "{rita:?} vs {p:?}");
    }

    #[test]
    fn missed_beats_fold_back_onto_the_period() {
        let mut ts = Vec::new();
        for i in 0..100u64 {
            if i % 7 != 3 {
                ts.push(i * 300);
            }
        }
        let p = periodicity(&ts, 0.2, 2.0);
        assert!((p.period_secs - 300.0).abs() < 1.0, "{p:?}");
        assert!(p.mode_share > 0.99, "{p:?}");
    }

    #[test]
    fn random_arrivals_have_no_dominant_period() {
        let mut seed = 3;
        let mut t = 0u64;
        let mut ts = Vec::new();
        for _ in 0..300 {
            ts.push(t);
            // Exponential inter-arrival times (Poisson traffic), mean 120 s.
            t += (-120.0 * (1.0 - lcg(&mut seed)).ln()) as u64 + 1;
        }
        let p = periodicity(&ts, 0.2, 2.0);
        assert!(p.mode_share < 0.6, "{p:?}");
        // However wide the tolerance, chance explains what lands on the beat.
        let p = periodicity(&ts, 0.5, 2.0);
        assert!(p.regularity < 0.15, "{p:?}");
    }

    #[test]
    fn regularity_is_corrected_for_chance_and_sample_size() {
        // Nine hourly connections: few beats, but chance puts almost nothing in a narrow band.
        let hourly: Vec<u64> = (0..9).map(|i| 50_000 + i * 3600 + (i * 7) % 5).collect();
        let p = periodicity(&hourly, 0.5, 2.0);
        assert!((p.period_secs - 3600.0).abs() < 10.0, "{p:?}");
        assert!(p.regularity > 0.6, "{p:?}");
        // A 30 s beacon with ±37 % uniform jitter over 10 h.
        let mut seed = 5;
        let mut t = 0u64;
        let mut jittered = Vec::new();
        for _ in 0..1200 {
            jittered.push(t);
            t += (30.0 * (1.0 + 0.74 * (lcg(&mut seed) - 0.5))) as u64;
        }
        let p = periodicity(&jittered, 0.5, 2.0);
        assert!(p.regularity > 0.7, "{p:?}");
        // Four intervals cannot prove much however well they agree: the Wilson bound of 4/4
        // is 0.6 before chance is taken off.
        let p = periodicity(&[0, 100, 210, 300, 1400], 0.5, 2.0);
        assert!(p.mode_share == 1.0 && p.regularity < 0.6, "{p:?}");
    }

    #[test]
    fn sleep_gaps_keep_the_beat() {
        // 1 h of 60 s beats, 2 h of silence, repeated over a day.
        let mut ts = Vec::new();
        for cycle in 0..8u64 {
            for i in 0..60u64 {
                ts.push(cycle * 3 * 3600 + i * 60 + (i * 13) % 7);
            }
        }
        let p = periodicity(&ts, 0.5, 2.0);
        assert!((p.period_secs - 60.0).abs() < 5.0, "{p:?}");
        assert!(p.regularity > 0.8, "{p:?}");
    }

    #[test]
    fn chance_of_a_band_matches_the_exponential() {
        // One beat only (period far above the mean): the band [0.9, 1.1] x period.
        let p = on_beat_chance(1.0, 100.0, 0.1, 0.0, 16.0);
        let expected = (-90.0f64).exp() - (-110.0f64).exp();
        assert!((p - expected).abs() < 1e-12);
        // Everything is on some beat at full tolerance and tiny periods.
        assert!(on_beat_chance(1000.0, 1.0, 0.5, 2.0, 16.0) > 0.0);
        // Folding more beats can only add chance.
        assert!(on_beat_chance(30.0, 10.0, 0.1, 2.0, 16.0) > on_beat_chance(30.0, 10.0, 0.1, 2.0, 1.0));
        assert!(wilson_lower(10, 10) < 1.0 && wilson_lower(1000, 1000) > 0.99);
        assert_eq!(wilson_lower(0, 0), 0.0);
    }
}
