//! The course's insert loop: one autocommit row at a time, balanced, each row written once.

use std::time::{Duration, Instant};

use mysql::{Params, Value};

use super::cancel::Cancel;
use super::cluster::{Cluster, KeyCheck, Write};
use super::error::{Error, Result};
use super::sql::insert_row;

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

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: u64,
    /// Rows written per node, in the order the nodes were given.
    pub per_node: Vec<(String, u64)>,
    pub retries: u64,
    pub failovers: u64,
    pub rerouted: u64,
    pub resolved: u64,
    pub elapsed: Duration,
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
    on_row: &mut dyn FnMut(&RowDone) -> Result<()>,
) -> (Report, Result<()>) {
    let names = cluster.node_names();
    let mut report = Report {
        per_node: names.iter().map(|n| (n.clone(), 0)).collect(),
        ..Report::default()
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
