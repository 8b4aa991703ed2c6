//! Capped exponential backoff with jitter, for reconnecting down nodes and retrying conflicts.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait before attempt `failures` (1 = after the first failure). `jitter` in [0, 1)
    /// spreads the wait over [d/2, d): clients that lost a node together do not all come back
    /// at the same instant, and the wait never drops below half the nominal value.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let nominal = self.base.saturating_mul(1u32 << exp).min(self.cap);
        nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A small per-thread xorshift generator: jitter needs spread, not cryptographic quality,
/// and this keeps the crate free of a random-number dependency.
pub fn jitter() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    (nanos ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };

    #[test]
    fn doubles_then_caps() {
        let full = |n| B.delay(n, 1.0);
        assert_eq!(full(1), Duration::from_millis(100));
        assert_eq!(full(2), Duration::from_millis(200));
        assert_eq!(full(4), Duration::from_millis(800));
        assert_eq!(full(6), Duration::from_secs(2));
        assert_eq!(full(1000), Duration::from_secs(2));
    }

    #[test]
    fn jitter_keeps_at_least_half() {
        assert_eq!(B.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(B.delay(0, 0.0), Duration::from_millis(50));
    }

    #[test]
    fn jitter_is_in_unit_interval_and_varies() {
        let xs: Vec<f64> = (0..1000).map(|_| jitter()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
