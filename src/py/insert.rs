//! `insert_many` from Python: the Rust loop runs on a thread of its own, so that the caller's
//! thread stays free to answer Ctrl-C and to redraw a live progress view while statements wait
//! on the network. The caller's thread also reads the input, a chunk at a time as the feed has
//! room (`core::work::stream`): a Python iterator is advanced with the interpreter lock held,
//! which the writing workers never wait for.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::Value;
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyTuple};

use crate::core::cancel::Cancel;
use crate::core::cluster::Cluster;
use crate::core::error::Error;
use crate::core::sync::lock;
use crate::core::work::insert::{insert_many, key_column, Batch, Progress, Report};
use crate::core::work::stream::{capacity, chunk_rows, Chunker, Feed};

use super::arrow::{self, FrameReader};
use super::display::Live;
use super::errors::{to_pyerr, PyMmError};
use super::report::report_dict;
use super::values::to_row;

/// How often a waiting caller looks for Ctrl-C while a worker thread runs the loop.
const SIGNAL_POLL: Duration = Duration::from_millis(50);
/// How often a live progress view is redrawn: about ten times a second.
const REDRAW: Duration = Duration::from_millis(100);
/// After Ctrl-C, how long the caller waits for the statements in flight to end (the watchdog
/// kills them) before raising.
const INTERRUPT_GRACE: Duration = Duration::from_millis(300);

/// The loop's inputs, converted from Python.
pub struct Job {
    pub table: String,
    pub columns: Vec<String>,
    pub feed: Arc<Feed>,
    pub key: Option<usize>,
    pub interval: Duration,
    pub concurrency: usize,
    pub batch: usize,
    pub on_row: Option<Py<PyAny>>,
}

type Done = (Report, Result<(), PyMmError>);

/// A loop running on its thread.
pub struct Running {
    handle: JoinHandle<()>,
    // Behind a mutex only so the receiver can cross into `detach`.
    rx: Mutex<Receiver<Done>>,
}

/// Starts the loop on its own thread.
pub fn start(
    cluster: &Cluster,
    job: Job,
    cancel: &Cancel,
    counters: &Arc<Progress>,
) -> PyResult<Running> {
    let (tx, rx) = mpsc::channel::<Done>();
    let (cluster, cancel, counters) = (cluster.clone(), cancel.clone(), Arc::clone(counters));
    let handle = std::thread::Builder::new()
        .name("multimaster-insert".into())
        .spawn(move || {
            let _ = tx.send(run(&cluster, &job, &cancel, &counters));
        })
        .map_err(|e| {
            PyMmError::from(Error::Internal(format!(
                "cannot start the insert thread: {e}"
            )))
        })?;
    Ok(Running {
        handle,
        rx: Mutex::new(rx),
    })
}

/// The loop itself, calling `on_row` (under the interpreter lock) after each row.
fn run(cluster: &Cluster, job: &Job, cancel: &Cancel, counters: &Progress) -> Done {
    let mut callback_error = None;
    let batch = Batch {
        table: &job.table,
        columns: &job.columns,
        key: job.key,
        interval: job.interval,
        concurrency: job.concurrency,
        batch: job.batch,
    };
    let (report, result) = insert_many(cluster, &batch, &job.feed, cancel, counters, &mut |done| {
        // After Ctrl-C the caller has moved on (the interpreter may be exiting): report no
        // more rows to it.
        let Some(cb) = job.on_row.as_ref().filter(|_| !cancel.is_cancelled()) else {
            return Ok(());
        };
        Python::attach(|py| {
            cb.call1(py, (done.index, &done.node, done.took.rerouted))
                .map(drop)
        })
        .map_err(|e| {
            callback_error = Some(e);
            Error::Interrupted
        })
    });
    let result = match (result, callback_error) {
        (Err(_), Some(e)) => Err(PyMmError::Py(e)),
        (r, _) => r.map_err(PyMmError::from),
    };
    (report, result)
}

impl Running {
    /// Waits for the loop's report, redrawing `live` and answering Ctrl-C meanwhile. A loop
    /// that outlives a Ctrl-C by more than a moment is left to end by itself in `workers`.
    #[allow(clippy::too_many_arguments)]
    pub fn wait<'py>(
        self,
        py: Python<'py>,
        cluster: &Cluster,
        mut live: Option<Live<'_>>,
        cancel: &Cancel,
        workers: &Mutex<Vec<JoinHandle<()>>>,
        mut input: Input<'py>,
        feed: &Feed,
    ) -> PyResult<Bound<'py, PyDict>> {
        // However this returns (a progress sink that raises, Ctrl-C's grace run out), the
        // workers must not wait for chunks that will never come.
        let _stop = StopOnReturn(feed);
        let mut interrupted: Option<(PyErr, Instant)> = None;
        // The input's own error (its iterator raised, a row was malformed): raised once the
        // chunks in flight are written, unless one of them failed first.
        let mut input_error: Option<PyErr> = None;
        let mut reading = true;
        let mut shown = Instant::now();
        loop {
            // Read while the feed has room, a chunk at a time, looking for Ctrl-C and redrawing
            // between two chunks.
            while reading && interrupted.is_none() && feed.wants_more() {
                match input.fill(py, feed) {
                    Ok(more) => reading = more,
                    Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
                        cancel.cancel();
                        interrupted = Some((e, Instant::now()));
                    }
                    Err(e) => {
                        feed.stop();
                        input_error = Some(e);
                    }
                }
                if interrupted.is_none() {
                    if let Err(e) = py.check_signals() {
                        cancel.cancel();
                        interrupted = Some((e, Instant::now()));
                    }
                }
                if let Some(live) = live.as_mut().filter(|_| shown.elapsed() >= REDRAW) {
                    live.show(py, false)?;
                    shown = Instant::now();
                }
            }
            reading &= interrupted.is_none() && !feed.is_stopped();
            let got = py.detach(|| {
                if reading {
                    // The feed is full: wait for room, then see whether the run has ended.
                    feed.wait_room(SIGNAL_POLL);
                    lock(&self.rx).try_recv().map_err(|e| match e {
                        mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                        mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    })
                } else {
                    lock(&self.rx).recv_timeout(SIGNAL_POLL)
                }
            });
            match got {
                Ok((report, result)) => {
                    let _ = self.handle.join();
                    if let Some(live) = live.as_mut() {
                        live.show(py, true)?;
                    }
                    let report = report_dict(py, &report, cluster)?;
                    let err = match (interrupted, result, input_error) {
                        (Some((e, _)), _, _) => e,
                        (None, Err(e), _) => PyErr::from(e),
                        (None, Ok(()), Some(e)) => e,
                        (None, Ok(()), None) => return Ok(report),
                    };
                    // Rows written before the error stay written: say which. (An exception
                    // of the input's own that takes no attribute is raised as it is.)
                    let _ = err.value(py).setattr("report", report);
                    return Err(err);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.handle.join();
                    let e = Error::Internal("the insert thread ended without a result".into());
                    return Err(to_pyerr(py, &e));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(live) = live.as_mut().filter(|_| shown.elapsed() >= REDRAW) {
                live.show(py, false)?;
                shown = Instant::now();
            }
            match &interrupted {
                Some((_, since)) if since.elapsed() >= INTERRUPT_GRACE => {
                    if let Some(live) = live.as_mut() {
                        live.show(py, true)?;
                    }
                    // A statement in flight has not returned yet: the watchdog kills it (or
                    // cuts its connection) and the loop ends by itself; give control back now.
                    lock(workers).push(self.handle);
                    let (e, _) = interrupted.expect("matched Some");
                    return Err(e);
                }
                Some(_) => {}
                None => {
                    if let Err(e) = py.check_signals() {
                        cancel.cancel();
                        feed.stop();
                        interrupted = Some((e, Instant::now()));
                    }
                }
            }
        }
    }
}

struct StopOnReturn<'a>(&'a Feed);

impl Drop for StopOnReturn<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Where the rows come from, read on the caller's thread.
pub enum Source<'py> {
    /// Any Python iterable of sequences, advanced with the interpreter lock held.
    Rows(Bound<'py, PyIterator>),
    /// An Arrow frame, read in Rust.
    Frame(FrameReader),
}

/// An input being read into chunks.
pub struct Input<'py> {
    pub source: Source<'py>,
    pub chunker: Chunker,
}

impl Input<'_> {
    /// Reads rows until one chunk is queued, or the input ends (its last chunk queued and the
    /// feed ended: false).
    pub fn fill(&mut self, py: Python<'_>, feed: &Feed) -> PyResult<bool> {
        loop {
            let index = self.chunker.rows_read();
            let row = match &mut self.source {
                Source::Rows(rows) => rows.next().map(|row| indexed_row(py, &row?, index)),
                Source::Frame(frame) => frame.next_row(index).transpose(),
            };
            let Some(row) = row.transpose()? else {
                if index == 0 && matches!(self.source, Source::Frame(_)) {
                    let e = Error::Config("the frame has no rows".into());
                    return Err(PyMmError::from(e).into());
                }
                if let Some(chunk) = self.chunker.finish() {
                    feed.push(chunk);
                }
                feed.end();
                return Ok(false);
            };
            if let Some(chunk) = self.chunker.add(row).map_err(PyMmError::from)? {
                feed.push(chunk);
                return Ok(true);
            }
        }
    }
}

/// Row `index` of the input as values; a value that cannot be bound says which row holds it.
fn indexed_row(py: Python<'_>, row: &Bound<'_, PyAny>, index: usize) -> PyResult<Vec<Value>> {
    to_row(row).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(format!("row {index}: {}", e.value(py)))
        } else {
            e
        }
    })
}

/// A list or tuple of rows is already whole in memory: every row is checked (its values bound,
/// its length, its key) before the first statement, so a bad row in it writes nothing, as
/// before rows were streamed. A generator's rows are checked as they are read (the load stops
/// at the first bad one, its `.report` says what was written).
fn check_whole(rows: &Bound<'_, PyAny>, chunker: &Chunker) -> PyResult<()> {
    let py = rows.py();
    let items = if let Ok(list) = rows.cast::<PyList>() {
        list.iter().collect::<Vec<_>>()
    } else if let Ok(tuple) = rows.cast::<PyTuple>() {
        tuple.iter().collect::<Vec<_>>()
    } else {
        return Ok(());
    };
    for (index, row) in items.iter().enumerate() {
        let values = indexed_row(py, row, index)?;
        chunker.check(index, &values).map_err(PyMmError::from)?;
    }
    Ok(())
}

/// The input of one load, its columns (a frame's own unless given), its feed, and its length
/// when known (a list's or a frame's, not a generator's): a clear error, before anything is
/// written, for an input that is neither iterable nor a frame, or a frame column of a type
/// that cannot be written.
pub fn open<'py>(
    rows: &Bound<'py, PyAny>,
    columns: Vec<String>,
    key: Option<&str>,
    concurrency: usize,
    batch: usize,
) -> PyResult<Opened<'py>> {
    let total = rows.len().ok();
    let (source, columns) = if arrow::is_frame(rows) {
        let (frame, names) = arrow::open(rows)?;
        let columns = match columns.len() {
            0 => names,
            n if n == names.len() => columns,
            n => {
                let e = format!("{n} columns given for the frame's {}", names.len());
                return Err(PyMmError::from(Error::Config(e)).into());
            }
        };
        (Source::Frame(frame), columns)
    } else {
        let iter = rows.try_iter().map_err(|_| {
            let kind = rows
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "rows must be an iterable of sequences (or a frame with __arrow_c_stream__), not {kind}"
            ))
        })?;
        (Source::Rows(iter), columns)
    };
    let key = key_column(&columns, key).map_err(PyMmError::from)?;
    let size = chunk_rows(batch, columns.len());
    let chunker = Chunker::new(size, columns.len(), key.map(|k| (k, columns[k].clone())));
    if matches!(source, Source::Rows(_)) {
        check_whole(rows, &chunker)?;
    }
    let input = Input { source, chunker };
    let feed = Arc::new(Feed::new(capacity(concurrency, size)));
    Ok(Opened {
        input,
        columns,
        key,
        feed,
        total,
    })
}

/// A load's input, opened: see [`open`].
pub struct Opened<'py> {
    pub input: Input<'py>,
    pub columns: Vec<String>,
    /// The key column's index among `columns`.
    pub key: Option<usize>,
    pub feed: Arc<Feed>,
    /// The input's length, when it has one.
    pub total: Option<usize>,
}
