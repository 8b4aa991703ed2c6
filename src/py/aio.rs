//! The native half of `multimaster.aio`: `execute`, `query` and `insert_many` of a list of
//! rows run on the threads of a
//! [`Pool`] (plain Rust threads: no Python thread state, never the interpreter lock), and
//! their results come back through one loop's [`Wake`] descriptor, which the loop watches
//! with `add_reader`. Only the loop's thread makes Python objects of them: it converts the
//! parameters before a call is queued and the results when it drains the queue, a batch at a
//! time, setting each call's future. Cancellation is the core's (`CancelHandle`'s flag).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mysql::Params;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::core::cancel::Cancel;
use crate::core::cluster::{Cluster, Exec, IfLost, Outcome, Rows};
use crate::core::dispatch::{Pool, Refused, Wake};
use crate::core::error::Error;
use crate::core::settings::options;
use crate::core::sync::lock;
use crate::core::work::coalesce::{run_group, Row, Shape, Signature, Waiting};
use crate::core::work::insert::{insert_many, Batch, Progress, Report, INSERT_LIMIT};
use crate::core::work::stream::Feed;

use super::cancel::PyCancelHandle;
use super::errors::{to_pyerr, PyMmError};
use super::insert;
use super::multimaster::{PyExecResult, PyNative};
use super::report::report_dict;
use super::values::{row_to_tuple, to_key, to_params};

/// What a call hands back to its loop: the core's own result, converted on the loop's thread.
pub enum Answer {
    /// With the address of the node that ran it.
    Exec(Result<(Outcome<Exec>, String), Error>),
    Rows(Result<Outcome<Rows>, Error>),
    /// The insert loop's report and outcome, and the cluster its report reads events from.
    Insert(Report, Result<(), Error>, Cluster),
}

impl Answer {
    /// The call's value, or its error (Python's, made here on the loop's thread).
    fn into_py(self, py: Python<'_>) -> Result<Py<PyAny>, PyMmError> {
        match self {
            Answer::Insert(report, result, cluster) => {
                let report = report_dict(py, &report, &cluster)?;
                match result {
                    Ok(()) => Ok(report.into_any().unbind()),
                    Err(Error::Interrupted) => Err(PyMmError::Core(Error::Interrupted)),
                    Err(e) => {
                        // Rows written before the error stay written: say which.
                        let err = to_pyerr(py, &e);
                        err.value(py).setattr("report", report)?;
                        Err(PyMmError::Py(err))
                    }
                }
            }
            Answer::Exec(out) => {
                let (out, node) = out?;
                let (rowcount, last_insert_id, matched) = match out.value {
                    Some(e) => (e.affected, e.last_insert_id, e.matched),
                    // The lost write was found committed by its key: one row.
                    None => (1, None, None),
                };
                let result = PyExecResult {
                    rowcount,
                    last_insert_id,
                    node,
                    retries: out.took.retries,
                    failovers: out.took.failovers,
                    ambiguous_resolved: out.took.resolved,
                    matched,
                };
                Ok(Py::new(py, result)?.into_any())
            }
            Answer::Rows(out) => {
                let rows = out?.value.map(|r| r.rows).unwrap_or_default();
                let tuples = rows
                    .iter()
                    .map(|r| row_to_tuple(py, r))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok(PyList::new(py, tuples)?.into_any().unbind())
            }
        }
    }
}

/// One loop's completions for one instance: the descriptor the loop watches, and the futures
/// of the calls in flight, set by [`PyCompletions::drain`] on the loop's thread.
#[pyclass(name = "Completions", module = "multimaster._native", frozen)]
pub struct PyCompletions {
    wake: Arc<Wake<Answer>>,
    /// Call id -> (its future, whether only its end is awaited: a cancelled call's).
    pending: Mutex<HashMap<u64, (Py<PyAny>, bool)>>,
}

#[pymethods]
impl PyCompletions {
    #[new]
    fn new() -> PyResult<Self> {
        let wake = Wake::new().map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(PyCompletions {
            wake: Arc::new(wake),
            pending: Mutex::default(),
        })
    }

    /// The descriptor to watch (`loop.add_reader`); readable while results wait.
    fn fileno(&self) -> PyResult<i32> {
        self.wake
            .fileno()
            .ok_or_else(|| PyRuntimeError::new_err("the completions are closed"))
    }

    /// Sets the future of every call that has ended since the last drain (its value or its
    /// exception; a future already done, its task cancelled, is left alone): the loop's reader
    /// callback. Returns how many calls are still in flight.
    fn drain(&self, py: Python<'_>) -> usize {
        for (id, answer) in self.wake.take() {
            let Some((future, settling)) = lock(&self.pending).remove(&id) else {
                continue;
            };
            // One call's future refusing its value must not keep the others from theirs.
            let _ = settle(py, future.bind(py), settling, answer);
        }
        lock(&self.pending).len()
    }

    /// Call `id` was cancelled after it started: `future` is set to None when it has ended.
    /// False if it has ended already.
    fn settle(&self, id: u64, future: Py<PyAny>) -> bool {
        match lock(&self.pending).get_mut(&id) {
            Some(entry) => {
                *entry = (future, true);
                true
            }
            None => false,
        }
    }

    /// Forgets call `id` (withdrawn before it started).
    fn forget(&self, id: u64) {
        lock(&self.pending).remove(&id);
    }

    /// Calls in flight.
    #[getter]
    fn pending(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Closes the descriptor (the loop's reader must be removed first) and forgets every call
    /// in flight: their results are dropped as they come. Idempotent.
    fn close(&self) {
        drop(self.wake.close());
        let futures = std::mem::take(&mut *lock(&self.pending));
        drop(futures);
    }
}

/// Sets `future` from `answer`.
fn settle(
    py: Python<'_>,
    future: &Bound<'_, PyAny>,
    settling: bool,
    answer: Answer,
) -> PyResult<()> {
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    if settling {
        future.call_method1(intern!(py, "set_result"), (py.None(),))?;
        return Ok(());
    }
    match answer.into_py(py) {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
        // Stopped by its cancel flag while its task was not (a handle shared with another
        // call): a cancellation, never a KeyboardInterrupt escaping the loop.
        Err(PyMmError::Core(Error::Interrupted)) => future.call_method0(intern!(py, "cancel"))?,
        Err(e) => {
            let e = PyErr::from(e);
            future.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?
        }
    };
    Ok(())
}

/// One `AsyncMultiMaster`'s threads: at most `limit` calls at once, the rest queued in order;
/// with `coalesce`, the keyed single-row INSERTs among those that wait are grouped
/// (`core/work/coalesce.rs`).
#[pyclass(name = "AioPool", module = "multimaster._native", frozen)]
pub struct PyAioPool {
    cluster: Cluster,
    pool: Pool,
    waiting: Option<Arc<Waiting<Member>>>,
}

/// A coalesced call: its row, and the queue its answer goes to.
struct Member {
    row: Row,
    wake: Arc<Wake<Answer>>,
}

/// An `Exec` answer with the name of the node that ran it.
fn exec_answer(cluster: &Cluster, out: Result<Outcome<Exec>, Error>) -> Answer {
    Answer::Exec(out.map(|o| {
        let node = cluster.node_name(o.node);
        (o, node)
    }))
}

/// Queues a runner for `sig`'s waiting calls: on a thread of the pool it takes the next
/// group (queuing another runner if calls are left), runs it and answers each call. Refused
/// (the pool closed), every waiting call of `sig` gets the refusal.
fn queue_runner(
    pool: &Pool,
    cluster: &Cluster,
    waiting: &Arc<Waiting<Member>>,
    sig: Signature,
    shape: Shape,
) {
    let (p, c, w) = (pool.clone(), cluster.clone(), Arc::clone(waiting));
    let sig_ = sig.clone();
    let job = Box::new(move || {
        let (group, more) = w.take(&sig_, |n| shape.take(n));
        if more {
            queue_runner(&p, &c, &w, sig_.clone(), shape.clone());
        }
        let rows: Vec<&Row> = group.iter().map(|(_, m)| &m.row).collect();
        let answers = run_group(&c, &sig_, &shape, &rows);
        for ((id, member), answer) in group.iter().zip(answers) {
            member.wake.push(*id, exec_answer(&c, answer));
        }
    });
    if let Err(refused) = pool.submit(pool.next_id(), job) {
        let e = refusal(refused);
        for (id, member) in waiting.take_all(&sig) {
            member.wake.push(id, Answer::Exec(Err(e.clone())));
        }
    }
}

fn refusal(refused: Refused) -> Error {
    match refused {
        Refused::Closed => Error::Closed,
        Refused::NoThread(why) => Error::Internal(format!("cannot start a worker thread: {why}")),
    }
}

impl Drop for PyAioPool {
    fn drop(&mut self) {
        self.pool.close();
    }
}

impl PyAioPool {
    /// Registers `future` with `done` and queues `run`, whose answer goes to `done`.
    fn submit(
        &self,
        done: &PyCompletions,
        future: Py<PyAny>,
        run: impl FnOnce(&Cluster) -> Answer + Send + 'static,
    ) -> PyResult<u64> {
        let id = self.pool.next_id();
        lock(&done.pending).insert(id, (future, false));
        let (cluster, wake) = (self.cluster.clone(), Arc::clone(&done.wake));
        let job = Box::new(move || {
            let answer = run(&cluster);
            wake.push(id, answer);
        });
        self.pool.submit(id, job).map_err(|refused| {
            lock(&done.pending).remove(&id);
            PyErr::from(PyMmError::from(refusal(refused)))
        })?;
        Ok(id)
    }

    /// Adds a keyed single-row INSERT to the calls waiting to be grouped, and queues a
    /// runner for them if none is on its way.
    fn join_group(
        &self,
        waiting: &Arc<Waiting<Member>>,
        done: &PyCompletions,
        future: Py<PyAny>,
        sig: Signature,
        shape: Shape,
        row: Row,
    ) -> u64 {
        let id = self.pool.next_id();
        lock(&done.pending).insert(id, (future, false));
        let member = Member {
            row,
            wake: Arc::clone(&done.wake),
        };
        if waiting.join(&sig, id, member) {
            queue_runner(&self.pool, &self.cluster, waiting, sig, shape);
        }
        id
    }

    fn cancel_of(
        &self,
        statement_timeout: Option<f64>,
        cancel: &PyCancelHandle,
    ) -> PyResult<Cancel> {
        self.cancel_with(statement_timeout, None, cancel)
    }

    fn cancel_with(
        &self,
        statement_timeout: Option<f64>,
        default: Option<std::time::Duration>,
        cancel: &PyCancelHandle,
    ) -> PyResult<Cancel> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, default)
            .map_err(|e| PyErr::from(PyMmError::from(Error::from(e))))?;
        Ok(Cancel::new()
            .with_flag(Arc::clone(&cancel.flag))
            .with_limit(limit))
    }
}

#[pymethods]
impl PyAioPool {
    #[new]
    #[pyo3(signature = (native, limit, coalesce=false))]
    fn new(native: PyRef<'_, PyNative>, limit: usize, coalesce: bool) -> Self {
        PyAioPool {
            cluster: native.cluster().clone(),
            pool: Pool::new(limit),
            waiting: coalesce.then(Default::default),
        }
    }

    /// `Native.execute` on the pool; its `ExecResult` (or error) set on `future` by
    /// `done.drain()`. Returns the call's id.
    #[pyo3(signature = (done, future, sql, params, key, idempotent, statement_timeout, cancel))]
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        done: PyRef<'_, PyCompletions>,
        future: Py<PyAny>,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        idempotent: bool,
        statement_timeout: Option<f64>,
        cancel: PyRef<'_, PyCancelHandle>,
    ) -> PyResult<u64> {
        let cancel = self.cancel_of(statement_timeout, &cancel)?;
        let params = to_params(params)?;
        let key = key.map(to_key).transpose()?;
        if let (Some(waiting), Some(k), Params::Positional(values)) = (&self.waiting, &key, &params)
        {
            let shape = Shape::of(&sql).filter(|s| s.width() == values.len());
            if let (Some(shape), [value]) = (shape, k.values.as_slice()) {
                let sig = Signature {
                    table: k.table.clone(),
                    column: k.column.clone(),
                    limit: cancel.limit(),
                    sql,
                };
                let row = Row {
                    params: values.clone(),
                    key: value.clone(),
                    cancel,
                };
                return Ok(self.join_group(waiting, &done, future, sig, shape, row));
            }
        }
        self.submit(&done, future, move |cluster| {
            let write = match (&key, idempotent) {
                (Some(k), _) => IfLost::CheckKey(k),
                (None, true) => IfLost::RunAgain,
                (None, false) => IfLost::Raise,
            };
            exec_answer(
                cluster,
                cluster.execute(&sql, &params, write, None, &cancel),
            )
        })
    }

    /// `Native.query` on the pool: its rows (a list of tuples) set on `future`.
    #[pyo3(signature = (done, future, sql, params, causal, statement_timeout, cancel))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        done: PyRef<'_, PyCompletions>,
        future: Py<PyAny>,
        sql: String,
        params: Option<&Bound<'_, PyAny>>,
        causal: bool,
        statement_timeout: Option<f64>,
        cancel: PyRef<'_, PyCancelHandle>,
    ) -> PyResult<u64> {
        let cancel = self.cancel_of(statement_timeout, &cancel)?;
        let params = to_params(params)?;
        self.submit(&done, future, move |cluster| {
            Answer::Rows(cluster.query(&sql, &params, causal, &cancel))
        })
    }

    /// `Native.insert_many` of a list or tuple of rows (without `on_row` or a progress view)
    /// on the pool: every row is converted and checked here, on the loop's thread, before
    /// the call is queued (the list is whole in memory already: its values are held once
    /// more while it loads); the report's fields set on `future` as a dict, or the error with
    /// its `report`.
    #[pyo3(signature = (done, future, table, columns, rows, key, interval, statement_timeout, concurrency, batch, cancel))]
    #[allow(clippy::too_many_arguments)]
    fn insert_many(
        &self,
        py: Python<'_>,
        done: PyRef<'_, PyCompletions>,
        future: Py<PyAny>,
        table: String,
        columns: Vec<String>,
        rows: &Bound<'_, PyAny>,
        key: Option<String>,
        interval: f64,
        statement_timeout: Option<f64>,
        concurrency: usize,
        batch: usize,
        cancel: PyRef<'_, PyCancelHandle>,
    ) -> PyResult<u64> {
        let cancel = self.cancel_with(statement_timeout, Some(INSERT_LIMIT), &cancel)?;
        let settings = |e| PyErr::from(PyMmError::from(Error::from(e)));
        let interval = options::seconds("interval", interval).map_err(settings)?;
        let insert::Opened {
            mut input,
            columns,
            key,
            ..
        } = insert::open(rows, columns, key.as_deref(), concurrency, batch)?;
        // The whole input queued at once: a list's rows are all there.
        let feed = Feed::new(usize::MAX);
        while input.fill(py, &feed)? {}
        self.submit(&done, future, move |cluster| {
            let batch = Batch {
                table: &table,
                columns: &columns,
                key,
                interval,
                concurrency,
                batch,
            };
            let counters = Progress::new(cluster.node_names().len());
            let (report, result) =
                insert_many(cluster, &batch, &feed, &cancel, &counters, &mut |_| Ok(()));
            Answer::Insert(report, result, cluster.clone())
        })
    }

    /// Takes call `id` out of the queue (or out of the calls waiting to be grouped) if it has
    /// not started: true if it never will.
    fn withdraw(&self, id: u64) -> bool {
        let grouped = self.waiting.as_ref().and_then(|w| w.withdraw(id));
        grouped.is_some() || self.pool.withdraw(id)
    }

    /// Whether keyed single-row INSERTs that wait are grouped (`coalesce`).
    #[getter]
    fn coalesce(&self) -> bool {
        self.waiting.is_some()
    }

    /// On a thread of the caller's (a transaction's), waits for a slot among the pool's
    /// calls, without the interpreter lock: a `Slot` to release, or None if `cancel` was set
    /// first.
    fn hold(&self, py: Python<'_>, cancel: PyRef<'_, PyCancelHandle>) -> PyResult<Option<Slot>> {
        let cancel = Cancel::new().with_flag(Arc::clone(&cancel.flag));
        let held = py
            .detach(|| self.pool.hold(&cancel))
            .map_err(|_| PyErr::from(PyMmError::from(Error::Closed)))?;
        Ok(held.map(|h| Slot {
            held: Mutex::new(Some(h)),
        }))
    }

    /// The most calls at once (`max_in_flight`).
    #[getter]
    fn limit(&self) -> usize {
        self.pool.limit()
    }

    /// Threads alive (at most `limit`).
    #[getter]
    fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Calls running, and calls queued.
    #[getter]
    fn busy(&self) -> usize {
        self.pool.busy()
    }

    #[getter]
    fn queued(&self) -> usize {
        self.pool.queued()
    }

    /// Takes no more calls; the threads end once the queued ones have run (against the closed
    /// instance, they fail at once).
    fn close(&self) {
        self.pool.close();
    }
}

/// A slot of an `AioPool` held by a call on a thread of the caller's.
#[pyclass(name = "Slot", module = "multimaster._native", frozen)]
pub struct Slot {
    held: Mutex<Option<crate::core::dispatch::Held>>,
}

#[pymethods]
impl Slot {
    /// Gives the slot back. Idempotent.
    fn release(&self) {
        lock(&self.held).take();
    }
}
