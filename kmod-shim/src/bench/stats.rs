//! Per-case statistics: median and p99 (nearest rank) of per-iteration
//! round-trip times, and operations per second over the measured loop.

use std::time::Duration;

use serde::Serialize;

/// What one measured case came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Measured iterations (warm-up excluded).
    pub iters: usize,
    /// Median round trip, nanoseconds.
    pub median_ns: u64,
    /// 99th percentile round trip, nanoseconds.
    pub p99_ns: u64,
    /// Fastest round trip, nanoseconds.
    pub min_ns: u64,
    /// Mean round trip, nanoseconds.
    pub mean_ns: f64,
    /// Round trips per second over the whole measured loop (timer reads
    /// included).
    pub ops_s: f64,
}

/// One case as the benchmarks' JSON holds it: times in microseconds,
/// to the nanosecond.
#[derive(Debug, Serialize)]
pub struct JsonRow<'a> {
    /// The mechanism's name.
    pub mech: &'a str,
    /// `same` or `split`.
    pub placement: &'a str,
    /// Bytes each way.
    pub payload: usize,
    /// See [`Summary`].
    pub iters: usize,
    /// See [`Summary`].
    pub median_us: f64,
    /// See [`Summary`].
    pub p99_us: f64,
    /// See [`Summary`].
    pub min_us: f64,
    /// See [`Summary`].
    pub mean_us: f64,
    /// See [`Summary`], to a tenth.
    pub ops_s: f64,
}

impl Summary {
    /// This summary as a JSON row of `mech` in `placement`.
    pub fn json_row<'a>(&self, mech: &'a str, placement: &'a str, payload: usize) -> JsonRow<'a> {
        let us = |ns: f64| ns.round() / 1e3;
        JsonRow {
            mech,
            placement,
            payload,
            iters: self.iters,
            median_us: us(self.median_ns as f64),
            p99_us: us(self.p99_ns as f64),
            min_us: us(self.min_ns as f64),
            mean_us: us(self.mean_ns),
            ops_s: (self.ops_s * 10.0).round() / 10.0,
        }
    }
}

/// The nearest-rank `q` quantile (0 < q <= 1) of sorted samples.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // ceil(q * n) as a 1-based rank, clamped to 1..=n.
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Sorts `samples` (nanoseconds per round trip) and summarizes them; `total`
/// is the wall time of the whole measured loop.
pub fn summarize(samples: &mut [u64], total: Duration) -> Summary {
    samples.sort_unstable();
    let n = samples.len();
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    let secs = total.as_secs_f64();
    Summary {
        iters: n,
        median_ns: nearest_rank(samples, 0.5),
        p99_ns: nearest_rank(samples, 0.99),
        min_ns: samples.first().copied().unwrap_or(0),
        mean_ns: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
        ops_s: if secs > 0.0 { n as f64 / secs } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = summarize(&mut v, Duration::from_secs(1));
        assert_eq!(s.median_ns, 50);
        assert_eq!(s.p99_ns, 99);
        assert_eq!(s.min_ns, 1);
        assert_eq!(s.iters, 100);
        assert!((s.ops_s - 100.0).abs() < 1e-9);
        assert!((s.mean_ns - 50.5).abs() < 1e-9);
    }

    #[test]
    fn small_and_empty_sets() {
        let mut one = vec![7];
        let s = summarize(&mut one, Duration::from_millis(1));
        assert_eq!((s.median_ns, s.p99_ns), (7, 7));
        let s = summarize(&mut [], Duration::ZERO);
        assert_eq!((s.median_ns, s.p99_ns, s.iters), (0, 0, 0));
        assert_eq!(s.ops_s, 0.0);
    }

    #[test]
    fn p99_of_a_thousand_is_the_990th() {
        let mut v: Vec<u64> = (0..1000).collect();
        let s = summarize(&mut v, Duration::from_secs(1));
        assert_eq!(s.p99_ns, 989);
        assert_eq!(s.median_ns, 499);
    }
}
