//! The course's insert loop: one autocommit row at a time, balanced, each row written once.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql::{Params, Value};

use crate::core::cancel::Cancel;
use crate::core::cluster::{Cluster, IfLost, KeyCheck};
use crate::core::error::{Error, Result};
use crate::core::failure::decide::Took;
use crate::core::failure::fault::{at_row, duplicate_entry, Refusal};
use crate::core::node::packet::wire_size;
use crate::core::sql::{insert_row, insert_rows};
use crate::core::sync::lock;
use crate::core::work::stream::{chunk_rows, Feed, Taken};
use crate::core::work::timeline::Timeline;

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

    /// `rows` rows written by one statement on `node` (counted per node only within the
    /// nodes it was sized for: `Cluster::capacity` covers every node an instance can know).
    fn add(&self, node: usize, rows: u64, took: Took) {
        let add = |c: &AtomicU64, n: u64| {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        };
        if let Some(c) = self.per_node.get(node) {
            add(c, rows);
        }
        add(&self.retries, took.retries.into());
        add(&self.failovers, took.failovers.into());
        add(&self.resolved, u64::from(took.resolved) * rows);
        // Last, so a reader never sees more rows done than rows placed on nodes.
        add(&self.done, rows);
    }
}

/// What one row's insert came to, passed to the caller's progress callback.
#[derive(Debug, Clone)]
pub struct RowDone {
    pub index: usize,
    pub node: String,
    /// What its statement took (shared by the rows of a batch).
    pub took: Took,
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
    /// Index into `columns` of the unique key that tells whether a row was written.
    pub key: Option<usize>,
    /// The pause between two statements of one worker.
    pub interval: Duration,
    /// Statements in flight at once, each on a worker thread of its own.
    pub concurrency: usize,
    /// Rows per multi-row INSERT.
    pub batch: usize,
}

/// More workers than this would only queue on the nodes' connections.
const MAX_CONCURRENCY: usize = 256;

/// The index of the key column `key` among `columns`.
pub fn key_column(columns: &[String], key: Option<&str>) -> Result<Option<usize>> {
    key.map(|k| {
        columns
            .iter()
            .position(|c| c == k)
            .ok_or_else(|| Error::Config(format!("key {k:?} is not one of the columns")))
    })
    .transpose()
}

impl Batch<'_> {
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::Config("columns must not be empty".into()));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::Config(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, not {}",
                self.concurrency
            )));
        }
        if self.batch == 0 {
            return Err(Error::Config("batch must be at least 1".into()));
        }
        Ok(())
    }
}

/// The rows of each multi-row INSERT of `rows` rows of `columns` values, as a load's feed cuts
/// them ([`chunk_rows`]): the DB-API's `executemany` writes its rows with the same statements.
pub fn chunks(rows: usize, columns: usize, batch: usize) -> Vec<Range<usize>> {
    let size = chunk_rows(batch, columns);
    (0..rows)
        .step_by(size)
        .map(|start| start..(start + size).min(rows))
        .collect()
}

/// Inserts every row `feed` gives (chunks of `stream::chunk_rows` rows, read as the load goes),
/// stopping at the first error or when cancelled; the feed is then stopped, so its reader reads
/// no more. The report covers the rows written before that, whatever the result. With `concurrency` above 1 the statements run
/// on that many threads; each row still goes first to its own node (row x to node x mod N
/// under the parity policy) and is written exactly once by the same rules as one at a time.
pub fn insert_many(
    cluster: &Cluster,
    batch: &Batch<'_>,
    feed: &Feed,
    cancel: &Cancel,
    progress: &Progress,
    on_row: &mut OnRow<'_>,
) -> (Report, Result<()>) {
    let names = cluster.node_names();
    let report = Report {
        rows: 0,
        per_node: names.iter().map(|n| (n.clone(), 0)).collect(),
        retries: 0,
        failovers: 0,
        rerouted: 0,
        resolved: 0,
        elapsed: Duration::ZERO,
        timeline: Timeline::new(names.len()),
    };
    if let Err(e) = batch.validate() {
        feed.stop();
        return (report, Err(e));
    }
    let run = Run {
        cluster,
        batch,
        feed,
        cancel,
        progress,
        one_row: insert_row(batch.table, batch.columns),
        started: Instant::now(),
        report: Mutex::new(report),
        on_row: Mutex::new(on_row),
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
    };
    if batch.concurrency == 1 {
        run.worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..batch.concurrency {
                s.spawn(|| run.worker());
            }
        });
    }
    // A run that ends with the feed's input not yet ended (an error, Ctrl-C) stops its reader.
    feed.stop();
    let mut report = run.report.into_inner().unwrap_or_else(|p| p.into_inner());
    report.elapsed = run.started.elapsed();
    let failure = run.failure.into_inner().unwrap_or_else(|p| p.into_inner());
    (report, failure.map_or(Ok(()), |(_, e)| Err(e)))
}

/// The caller's callback after each row (called under a lock, one row at a time).
pub type OnRow<'a> = dyn FnMut(&RowDone) -> Result<()> + Send + 'a;

/// One run of [`insert_many`], shared by its workers.
struct Run<'a, 'b> {
    cluster: &'a Cluster,
    batch: &'a Batch<'b>,
    feed: &'a Feed,
    cancel: &'a Cancel,
    progress: &'a Progress,
    one_row: String,
    started: Instant,
    report: Mutex<Report>,
    on_row: Mutex<&'a mut OnRow<'b>>,
    stop: AtomicBool,
    /// The first failure, by chunk: the one the run reports.
    failure: Mutex<Option<(usize, Error)>>,
}

impl Run<'_, '_> {
    /// Takes chunks in order until none is left or the run stops.
    fn worker(&self) {
        let mut first = true;
        while !self.stop.load(Ordering::SeqCst) {
            let chunk = match self.feed.take(self.cancel) {
                Taken::Chunk(chunk) => chunk,
                // Cancelled while waiting for the reader: the run's error says so.
                Taken::Done if self.cancel.is_cancelled() => {
                    return self.fail(usize::MAX, Error::Interrupted)
                }
                Taken::Done => return,
            };
            let i = chunk.number;
            let range = chunk.first..chunk.first + chunk.rows.len();
            let result = (|| {
                if !first {
                    self.cancel.sleep(self.batch.interval)?;
                }
                self.cancel.check()?;
                self.write(i, range, &chunk.rows)
            })();
            first = false;
            if let Err(e) = result {
                return self.fail(i, e);
            }
        }
    }

    /// Stops the run on chunk `i`'s error; the first chunk's error is the run's.
    fn fail(&self, i: usize, e: Error) {
        self.stop.store(true, Ordering::SeqCst);
        self.feed.stop();
        let mut failure = lock(&self.failure);
        if failure.as_ref().map_or(true, |(j, _)| i < *j) {
            *failure = Some((i, e));
        }
    }

    /// Writes the rows `range` (chunk `chunk`) in one statement, or in halves when the nodes'
    /// packet limit is smaller than the statement (nothing is sent that a node would refuse).
    /// The chunk's number picks its node (one row a chunk: the row's number, as the course).
    fn write(&self, chunk: usize, range: Range<usize>, rows: &[Vec<Value>]) -> Result<()> {
        let params = Params::Positional(rows.iter().flatten().cloned().collect());
        let sql = match rows.len() {
            1 => Cow::Borrowed(self.one_row.as_str()),
            n => Cow::Owned(insert_rows(self.batch.table, self.batch.columns, n)),
        };
        let halves = |this: &Self| {
            let (head, tail) = rows.split_at(rows.len() / 2);
            let mid = range.start + head.len();
            this.write(chunk, range.start..mid, head)?;
            this.write(chunk, mid..range.end, tail)
        };
        let limit = self.cluster.max_packet();
        if rows.len() > 1 && limit > 0 && wire_size(&sql, &params) > limit {
            return halves(self);
        }
        let key = self.batch.key.map(|k| KeyCheck {
            table: self.batch.table.to_owned(),
            column: self.batch.columns[k].clone(),
            values: rows.iter().map(|r| r[k].clone()).collect(),
        });
        let write = key.as_ref().map_or(IfLost::Raise, IfLost::CheckKey);
        let request = Some(chunk as u64);
        match self
            .cluster
            .execute(&sql, &params, write, request, self.cancel)
        {
            Ok(out) => self.record(range, out.node, out.took),
            // The first statement can go before any node's packet limit is known: the node
            // refused it before it was sent, so its halves are safe to send.
            Err(Error::Refused {
                refusal: Refusal::PacketTooLarge { .. },
                ..
            }) if rows.len() > 1 => halves(self),
            Err(e) => Err(row_error(e, range, rows, self.batch.key)),
        }
    }

    fn record(&self, range: Range<usize>, node: usize, took: Took) -> Result<()> {
        let n = range.len() as u64;
        {
            let mut report = lock(&self.report);
            report.rows += n;
            // A node added since the run started (`add_node`): its index is the next ones'.
            if node >= report.per_node.len() {
                let names = self.cluster.node_names();
                let known = report.per_node.len();
                report
                    .per_node
                    .extend(names[known..].iter().map(|n| (n.clone(), 0)));
                report.timeline.grow(names.len());
            }
            report.per_node[node].1 += n;
            report.retries += u64::from(took.retries);
            report.failovers += u64::from(took.failovers);
            report.rerouted += u64::from(took.rerouted) * n;
            report.resolved += u64::from(took.resolved) * n;
            report.elapsed = self.started.elapsed();
            for _ in range.clone() {
                report.timeline.record(node);
            }
        }
        self.progress.add(node, n, took);
        let mut on_row = lock(&self.on_row);
        for index in range {
            on_row(&RowDone {
                index,
                node: self.cluster.node(node).name.clone(),
                took,
            })?;
        }
        Ok(())
    }
}

/// A row refused (by the server, or before sending), with its index in the rows given: the
/// statement's own row for one row; for several, the row the server names ("at row N"), or the
/// one holding a duplicate entry. Other errors are the run's, not a row's.
fn row_error(e: Error, range: Range<usize>, rows: &[Vec<Value>], key: Option<usize>) -> Error {
    let named = match &e {
        Error::Server { message, code, .. } => Some((*code, message.as_str())),
        Error::Refused { .. } => None,
        _ => return e,
    };
    let index = if rows.len() == 1 {
        Some(0)
    } else {
        named.and_then(|(code, message)| {
            at_row(message)
                .filter(|&n| (1..=rows.len()).contains(&n))
                .map(|n| n - 1)
                .or_else(|| duplicate(duplicate_entry(code, message)?, rows, key))
        })
    };
    Error::Row {
        index: index.map(|i| range.start + i),
        first: range.start,
        last: range.end - 1,
        source: Box::new(e),
    }
}

/// The row holding `entry`, a duplicate key's value as the server wrote it: the key column
/// first.
fn duplicate(entry: &str, rows: &[Vec<Value>], key: Option<usize>) -> Option<usize> {
    let text = |v: &Value| match v {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => None,
    };
    let holds =
        |row: &Vec<Value>, col: usize| row.get(col).and_then(text).as_deref() == Some(entry);
    let by_key = key.and_then(|k| rows.iter().position(|r| holds(r, k)));
    by_key.or_else(|| rows.iter().position(|r| (0..r.len()).any(|c| holds(r, c))))
}

#[cfg(test)]
mod tests;
