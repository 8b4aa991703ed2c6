//! Statement time per node: a fixed log-spaced histogram of atomic counters. Recording is two
//! relaxed `fetch_add`s and a `fetch_max`, with no lock and no allocation, so it runs on every
//! statement (its cost is measured by `make bench`, `tests/bench/latency.py`). Quantiles are
//! read from a snapshot; the buckets of OpenTelemetry's `db.client.operation.duration` are
//! counted beside them, so an exporter reads a true histogram at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: a bucket spans at most 1/8 of its lower bound, so a quantile
/// read from it is within 12.5 % of the true value.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered, in microseconds: up to 2^40 µs (12.7 days); longer lands in the last.
const OCTAVES: usize = 40;
pub const BUCKETS: usize = SUB as usize * OCTAVES;

/// The bucket boundaries (seconds) the OpenTelemetry database conventions ask for
/// (`db.client.operation.duration`); the last count is everything above the last bound.
pub const SPEC_BOUNDS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
const SPEC_BOUNDS_US: [u64; 9] = [
    1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000, 10_000_000,
];

/// The bucket of a time in microseconds: exact below `SUB`, then `SUB` per power of two.
pub fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let e = 63 - us.leading_zeros(); // us >= SUB, so e >= SUB_BITS
    let sub = (us >> (e - SUB_BITS)) & (SUB - 1);
    let i = (SUB * (u64::from(e - SUB_BITS) + 1) + sub) as usize;
    i.min(BUCKETS - 1)
}

/// The exclusive upper bound of bucket `i`, in microseconds.
pub fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i + 1;
    }
    let (octave, sub) = (i / SUB - 1, i % SUB);
    (SUB + sub + 1) << octave
}

pub struct Latency {
    counts: [AtomicU64; BUCKETS],
    spec: [AtomicU64; SPEC_BOUNDS.len() + 1],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            spec: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl Latency {
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
        let s = SPEC_BOUNDS_US.partition_point(|&b| b < us);
        self.spec[s].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counters as they are now (each read on its own: a statement recorded meanwhile may
    /// show in one and not yet in another).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            spec: self
                .spec
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub counts: Vec<u64>,
    /// Per `SPEC_BOUNDS` bucket (not cumulative), then the count above the last bound.
    pub spec: Vec<u64>,
    pub sum_us: u64,
    pub max_us: u64,
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The time below which a fraction `q` of the statements ran: the upper bound of the bucket
    /// holding that rank, never above the longest time seen. None before any statement.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_micros(upper(i).min(self.max_us.max(1))));
            }
        }
        Some(Duration::from_micros(self.max_us))
    }

    pub fn max(&self) -> Option<Duration> {
        (self.count() > 0).then(|| Duration::from_micros(self.max_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_hold_their_values() {
        for i in 0..BUCKETS - 1 {
            let lower = if i == 0 { 0 } else { upper(i - 1) };
            assert!(upper(i) > lower, "bucket {i}");
            assert_eq!(bucket(lower), i, "lower bound of {i}");
            assert_eq!(bucket(upper(i) - 1), i, "last value of {i}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_bucket_spans_at_most_an_eighth() {
        for i in SUB as usize..BUCKETS - 1 {
            let lower = upper(i - 1);
            assert!((upper(i) - lower) * 8 <= lower, "bucket {i}");
        }
    }

    fn of(us: &[u64]) -> Snapshot {
        let l = Latency::default();
        for &u in us {
            l.record(Duration::from_micros(u));
        }
        l.snapshot()
    }

    #[test]
    fn quantiles_within_an_eighth() {
        // 1..=1000 µs once each: p50 = 500 µs, p99 = 990 µs.
        let s = of(&(1..=1000).collect::<Vec<_>>());
        let p50 = s.quantile(0.5).unwrap().as_micros() as f64;
        let p99 = s.quantile(0.99).unwrap().as_micros() as f64;
        assert!((500.0..=500.0 * 1.125).contains(&p50), "p50 {p50}");
        assert!(
            (990.0..=1000.0).contains(&p99),
            "p99 {p99} (capped by the max)"
        );
        assert_eq!(s.max(), Some(Duration::from_micros(1000)));
        assert_eq!(s.count(), 1000);
        assert_eq!(s.sum_us, 500_500);
    }

    #[test]
    fn a_slow_tail_shows_in_p99_not_p50() {
        let mut us = vec![200; 98];
        us.extend([2_000_000, 3_000_000]);
        let s = of(&us);
        assert!(s.quantile(0.5).unwrap() < Duration::from_micros(226));
        assert!(s.quantile(0.99).unwrap() >= Duration::from_secs(2));
        assert_eq!(s.max(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn no_statements_no_quantiles() {
        let s = of(&[]);
        assert_eq!((s.quantile(0.5), s.max()), (None, None));
    }

    #[test]
    fn one_statement_is_every_quantile() {
        let s = of(&[1234]);
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(s.quantile(q), Some(Duration::from_micros(1234)));
        }
    }

    #[test]
    fn spec_buckets_follow_the_conventions_bounds() {
        // A time equal to a bound belongs to it (le = "less or equal"), just above to the next.
        let s = of(&[999, 1000, 1001, 10_000_000, 10_000_001]);
        assert_eq!(s.spec, [2, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
    }
}
