//! Rows per node per short interval during an insert loop, bounded in memory: when a run
//! outgrows the bucket budget, neighbouring buckets merge and the interval doubles, so a run
//! of any length keeps at most `MAX_BUCKETS` per node.

use std::time::{Duration, Instant, SystemTime};

/// The first bucket width: fine enough to show Galera's ~6 s write pause after a crash.
const FIRST_BUCKET: Duration = Duration::from_millis(100);
const MAX_BUCKETS: usize = 2000;

#[derive(Debug, Clone)]
pub struct Timeline {
    /// Wall-clock start, on the same clock as the events' times.
    pub started: SystemTime,
    start: Instant,
    pub bucket: Duration,
    /// `rows[node][k]`: rows node took in bucket k.
    pub rows: Vec<Vec<u64>>,
}

impl Timeline {
    pub fn new(nodes: usize) -> Self {
        Timeline {
            started: SystemTime::now(),
            start: Instant::now(),
            bucket: FIRST_BUCKET,
            rows: vec![Vec::new(); nodes],
        }
    }

    /// Series for `nodes` nodes in all (nodes added during the run).
    pub fn grow(&mut self, nodes: usize) {
        if self.rows.len() < nodes {
            self.rows.resize(nodes, Vec::new());
        }
    }

    /// One row taken by `node` now.
    pub fn record(&mut self, node: usize) {
        self.record_at(node, self.start.elapsed());
    }

    fn record_at(&mut self, node: usize, since_start: Duration) {
        let mut k = (since_start.as_nanos() / self.bucket.as_nanos()) as usize;
        while k >= MAX_BUCKETS {
            self.coarsen();
            k /= 2;
        }
        let Some(series) = self.rows.get_mut(node) else {
            return;
        };
        if series.len() <= k {
            series.resize(k + 1, 0);
        }
        series[k] += 1;
    }

    /// Halves the resolution: bucket pairs merge, the width doubles.
    fn coarsen(&mut self) {
        self.bucket *= 2;
        for series in &mut self.rows {
            *series = series.chunks(2).map(|pair| pair.iter().sum()).collect();
        }
    }

    /// Buckets covering the run so far, every series padded to the same length.
    pub fn buckets(&self) -> usize {
        self.rows.iter().map(Vec::len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_in_their_bucket_per_node() {
        let mut t = Timeline::new(2);
        t.record_at(0, Duration::from_millis(50));
        t.record_at(0, Duration::from_millis(99));
        t.record_at(1, Duration::from_millis(250));
        assert_eq!(t.rows, vec![vec![2], vec![0, 0, 1]]);
        assert_eq!(t.buckets(), 3);
        t.record_at(7, Duration::ZERO); // an unknown node is ignored, not a panic
    }

    #[test]
    fn a_long_run_stays_bounded_and_keeps_every_row() {
        let mut t = Timeline::new(2);
        let mut total = 0;
        // An hour of rows, one every 50 ms, alternating nodes.
        for i in 0..72_000u64 {
            t.record_at((i % 2) as usize, Duration::from_millis(i * 50));
            total += 1;
        }
        assert!(t.buckets() <= MAX_BUCKETS, "{}", t.buckets());
        assert!(t.bucket >= Duration::from_secs(1));
        let kept: u64 = t.rows.iter().flatten().sum();
        assert_eq!(kept, total);
        assert_eq!(t.rows[0].iter().sum::<u64>(), 36_000);
    }
}
