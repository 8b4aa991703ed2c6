//! `insert_many` from Python: the Rust loop runs on a thread of its own, so that the caller's
//! thread stays free to answer Ctrl-C and to redraw a live progress view while statements wait
//! on the network.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::cancel::Cancel;
use crate::core::cluster::Cluster;
use crate::core::error::Error;
use crate::core::sync::lock;
use crate::core::work::insert::{insert_many, Batch, Progress, Report};

use super::display::Live;
use super::errors::{to_pyerr, PyMmError};
use super::report::report_dict;

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
    pub rows: Vec<Vec<mysql::Value>>,
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
        rows: &job.rows,
        key: job.key,
        interval: job.interval,
        concurrency: job.concurrency,
        batch: job.batch,
    };
    let (report, result) = insert_many(cluster, &batch, cancel, counters, &mut |done| {
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
    pub fn wait<'py>(
        self,
        py: Python<'py>,
        cluster: &Cluster,
        mut live: Option<Live<'_>>,
        cancel: &Cancel,
        workers: &Mutex<Vec<JoinHandle<()>>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut interrupted: Option<(PyErr, Instant)> = None;
        let mut shown = Instant::now();
        loop {
            match py.detach(|| lock(&self.rx).recv_timeout(SIGNAL_POLL)) {
                Ok((report, result)) => {
                    let _ = self.handle.join();
                    if let Some(live) = live.as_mut() {
                        live.show(py, true)?;
                    }
                    let report = report_dict(py, &report, cluster)?;
                    let err = match (interrupted, result) {
                        (Some((e, _)), _) => e,
                        (None, Ok(())) => return Ok(report),
                        (None, Err(e)) => PyErr::from(e),
                    };
                    // Rows written before the error stay written: say which.
                    err.value(py).setattr("report", report)?;
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
                        interrupted = Some((e, Instant::now()));
                    }
                }
            }
        }
    }
}
