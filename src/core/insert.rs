//! The course's insert loop: one autocommit row at a time, balanced, each row written once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mysql::{Params, Value};

use super::cancel::Cancel;
use super::cluster::{Cluster, KeyCheck, Write};
use super::error::{Error, Result};
use super::sql::insert_row;
use super::timeline::Timeline;

/// The default `statement_timeout` of one row's INSERT: longer than InnoDB's lock wait (50 s,
/// which ends in a retryable 1205 of the server's own) and ten times Galera's write pause after
/// a crash (about 6 s), so it only fires on a cluster that is stuck while its nodes still
/// answer (flow control, a lock never released); then the loop stops with a clear error
/// instead of hanging. Single-row INSERTs take about a millisecond here.
pub const INSERT_LIMIT: Duration = Duration::from_secs(60);

/// Counters the loop keeps as it goes, read by another thread (a live progress view) without
/// stopping it: relaxed atomics, no lock and no interpreter per row.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub per_node: Vec<AtomicU64>,
    pub retries: AtomicU64,
    pub failovers: AtomicU64,
    pub resolved: AtomicU64,
}

impl Progress {
    pub fn new(nodes: usize) -> Self {
        Progress {
            per_node: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
            ..Progress::default()
        }
    }

    fn add(&self, node: usize, retries: u32, failovers: u32, resolved: bool) {
        let add = |c: &AtomicU64, n: u64| {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.per_node[node], 1);
        add(&self.retries, retries.into());
        add(&self.failovers, failovers.into());
        add(&self.resolved, resolved.into());
        // Last, so a reader never sees more rows done than rows placed on nodes.
        add(&self.done, 1);
    }
}

/// What one row's insert came to, passed to the caller's progress callback.
#[derive(Debug, Clone)]
pub struct RowDone {
    pub index: usize,
    pub node: String,
    pub retries: u32,
    pub failovers: u32,
    pub rerouted: bool,
    /// The reply was lost and the key check found the row committed.
    pub resolved: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub rows: u64,
    /// Rows written per node, in the order the nodes were given.
    pub per_node: Vec<(String, u64)>,
    pub retries: u64,
    pub failovers: u64,
    pub rerouted: u64,
    pub resolved: u64,
    pub elapsed: Duration,
    /// Rows per node per short interval over the run.
    pub timeline: Timeline,
}

pub struct Batch<'a> {
    pub table: &'a str,
    pub columns: &'a [String],
    pub rows: &'a [Vec<Value>],
    /// Index into `columns` of the unique key that tells whether a row was written.
    pub key: Option<usize>,
    pub interval: Duration,
}

impl Batch<'_> {
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::Config("columns must not be empty".into()));
        }
        if let Some(bad) = self.rows.iter().position(|r| r.len() != self.columns.len()) {
            return Err(Error::Config(format!(
                "row {bad} has {} values for {} columns",
                self.rows[bad].len(),
                self.columns.len()
            )));
        }
        Ok(())
    }
}

/// Inserts every row, stopping at the first error or when cancelled. The report covers the
/// rows written before that, whatever the result.
pub fn insert_many(
    cluster: &Cluster,
    batch: &Batch<'_>,
    cancel: &Cancel,
    progress: &Progress,
    on_row: &mut dyn FnMut(&RowDone) -> Result<()>,
) -> (Report, Result<()>) {
    let names = cluster.node_names();
    let mut report = Report {
        rows: 0,
        per_node: names.iter().map(|n| (n.clone(), 0)).collect(),
        retries: 0,
        failovers: 0,
        rerouted: 0,
        resolved: 0,
        elapsed: Duration::ZERO,
        timeline: Timeline::new(names.len()),
    };
    let started = Instant::now();
    let result = (|| {
        batch.validate()?;
        let sql = insert_row(batch.table, batch.columns);
        for (index, row) in batch.rows.iter().enumerate() {
            if index > 0 {
                cancel.sleep(batch.interval)?;
            }
            cancel.check()?;
            let key = batch.key.map(|k| KeyCheck {
                table: batch.table.to_owned(),
                column: batch.columns[k].clone(),
                value: row[k].clone(),
            });
            let write = key.as_ref().map_or(Write::Unkeyed, Write::Keyed);
            let out = cluster.execute(
                &sql,
                &Params::Positional(row.clone()),
                write,
                Some(index as u64),
                cancel,
            )?;
            report.rows += 1;
            report.per_node[out.node].1 += 1;
            report.retries += u64::from(out.retries);
            report.failovers += u64::from(out.failovers);
            report.rerouted += u64::from(out.rerouted);
            report.resolved += u64::from(out.resolved);
            report.elapsed = started.elapsed();
            report.timeline.record(out.node);
            progress.add(out.node, out.retries, out.failovers, out.resolved);
            on_row(&RowDone {
                index,
                node: names[out.node].clone(),
                retries: out.retries,
                failovers: out.failovers,
                rerouted: out.rerouted,
                resolved: out.resolved,
            })?;
        }
        Ok(())
    })();
    report.elapsed = started.elapsed();
    (report, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_must_match_columns() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let rows = vec![vec![Value::Int(1), Value::Int(2)], vec![Value::Int(1)]];
        let b = Batch {
            table: "t",
            columns: &cols,
            rows: &rows,
            key: None,
            interval: Duration::ZERO,
        };
        let e = b.validate().unwrap_err().to_string();
        assert!(e.contains("row 1 has 1 values for 2 columns"), "{e}");
        let b = Batch {
            table: "t",
            columns: &[],
            rows: &[],
            key: None,
            interval: Duration::ZERO,
        };
        assert!(b.validate().is_err());
    }
}
