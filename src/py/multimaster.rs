//! `multimaster.MultiMaster`: the Python face of `core::cluster::Cluster`.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};

use crate::core::cancel::Cancel;
use crate::core::cluster::{Cluster, IfLost};
use crate::core::error::Error;
use crate::core::settings::config::{self, Secret, OPTIONS};
use crate::core::settings::url;
use crate::core::settings::{self, Layer};
use crate::core::sync::lock;
use crate::core::work::insert::{key_column, Progress, INSERT_LIMIT};
use crate::core::work::transaction::Tx;

use super::display::{self, stats_dict, Live};
use super::errors::PyMmError;
use super::insert;
use super::report::PyReport;
use super::sigint;
use super::transaction::{PyTransaction, PyTxResult};
use super::values::{description, row_to_tuple, to_key, to_params, to_row};

/// A set of writable nodes of one multi-master cluster.
///
/// Statements are balanced over the nodes by `policy`; a node that fails is taken out of
/// rotation and retried in the background with capped exponential backoff; errors follow the
/// failure contract in the README. One instance is safe to share between threads.
#[pyclass(name = "MultiMaster", module = "multimaster", frozen)]
pub struct PyMultiMaster {
    cluster: Cluster,
    last_insert_id: Mutex<Option<u64>>,
    /// Insert loops that outlived a Ctrl-C: joined by `close()`.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Where the nodes come from: a connection URL or addresses as text, or a list of addresses.
fn parse_nodes(nodes: &Bound<'_, PyAny>) -> PyResult<Layer> {
    let config_error = |e: String| PyErr::from(PyMmError::from(Error::Config(e)));
    if let Ok(s) = nodes.cast::<PyString>() {
        return settings::from_text(&s.to_cow()?).map_err(config_error);
    }
    let list: Vec<String> = nodes.extract().map_err(|_| {
        PyTypeError::new_err(
            "nodes must be a list of \"host\" or \"host:port\" strings, or a mysql:// URL",
        )
    })?;
    settings::from_list(&list).map_err(config_error)
}

impl PyMultiMaster {
    /// A write under the exactly-once rules: `(rows affected, last insert id)`.
    fn write(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        idempotent: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<(u64, Option<u64>)> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(|e| PyMmError::from(Error::Config(e)))?;
        let params = to_params(params)?;
        let key = key.map(to_key).transpose()?;
        let write = match (&key, idempotent) {
            (Some(k), _) => IfLost::CheckKey(k),
            (None, true) => IfLost::RunAgain,
            (None, false) => IfLost::Raise,
        };
        let (cancel, interrupt) = sigint::aware(limit);
        let out = py
            .detach(|| self.cluster.execute(sql, &params, write, None, &cancel))
            .map_err(|e| sigint::raised(&interrupt, e))?;
        Ok(match out.value {
            Some(e) => (e.affected, e.last_insert_id),
            // The lost write was found committed by its key: one row.
            None => (1, None),
        })
    }

    /// A read on any live node: its rows as tuples, and its PEP 249 description.
    fn read<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
        causal: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<(Bound<'py, PyList>, Option<Bound<'py, PyList>>)> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(|e| PyMmError::from(Error::Config(e)))?;
        let params = to_params(params)?;
        let (cancel, interrupt) = sigint::aware(limit);
        let out = py
            .detach(|| self.cluster.query(sql, &params, causal, &cancel))
            .map_err(|e| sigint::raised(&interrupt, e))?;
        let Some(result) = out.value else {
            return Ok((PyList::empty(py), None));
        };
        let tuples = result
            .rows
            .iter()
            .map(|r| row_to_tuple(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        let description = (!result.columns.is_empty())
            .then(|| description(py, &result.columns))
            .transpose()?;
        Ok((PyList::new(py, tuples)?, description))
    }
}

#[pymethods]
impl PyMultiMaster {
    /// `nodes` is a list of `"host"` / `"host:port"` addresses, or a connection URL:
    /// `mysql://user:password@host1:3306,host2/database?policy=parity&connect_timeout=1`
    /// (also `mariadb://`, and `?host=` repeated). `read_default_file="~/.my.cnf"` reads the
    /// `[client]` group of a MySQL option file. Settings come from, in order of precedence:
    /// the arguments given here, the URL, the option file, the environment (`MYSQL_PWD`,
    /// `MYSQL_HOST`), the defaults (see the README).
    #[new]
    #[pyo3(signature = (
        nodes=None, database=None, user=None, password=None, *,
        policy=None, connect_timeout=None, failure_detection=None, statement_timeout=None,
        write_timeout=None, failover_timeout=None, max_retries=None, backoff_base=None, backoff_cap=None,
        event_capacity=None, ssl_mode=None, ssl_ca=None, ssl_cert=None, ssl_key=None,
        read_default_file=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        nodes: Option<&Bound<'_, PyAny>>,
        database: Option<String>,
        user: Option<String>,
        password: Option<String>,
        policy: Option<String>,
        connect_timeout: Option<f64>,
        failure_detection: Option<f64>,
        statement_timeout: Option<f64>,
        write_timeout: Option<f64>,
        failover_timeout: Option<f64>,
        max_retries: Option<u32>,
        backoff_base: Option<f64>,
        backoff_cap: Option<f64>,
        event_capacity: Option<usize>,
        ssl_mode: Option<String>,
        ssl_ca: Option<std::path::PathBuf>,
        ssl_cert: Option<std::path::PathBuf>,
        ssl_key: Option<std::path::PathBuf>,
        read_default_file: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let config_error = |e: String| PyErr::from(PyMmError::from(Error::Config(e)));
        let text = |v: Option<f64>| v.map(|v| v.to_string());
        let path = |p: Option<std::path::PathBuf>| {
            p.map(|p| settings::expand_home(&p).display().to_string())
        };
        let options = [
            ("policy", policy),
            ("connect_timeout", text(connect_timeout)),
            ("failure_detection", text(failure_detection)),
            ("statement_timeout", text(statement_timeout)),
            ("write_timeout", text(write_timeout)),
            ("failover_timeout", text(failover_timeout)),
            ("max_retries", max_retries.map(|v| v.to_string())),
            ("backoff_base", text(backoff_base)),
            ("backoff_cap", text(backoff_cap)),
            ("event_capacity", event_capacity.map(|v| v.to_string())),
            ("ssl_mode", ssl_mode),
            ("ssl_ca", path(ssl_ca)),
            ("ssl_cert", path(ssl_cert)),
            ("ssl_key", path(ssl_key)),
        ];
        let explicit = Layer {
            user,
            password: password.map(Secret::new),
            database,
            options: options
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
            ..Layer::default()
        };
        let nodes = nodes
            .filter(|n| !n.is_none())
            .map(parse_nodes)
            .transpose()?;
        let env = |k: &str| std::env::var(k).ok();
        let cfg = settings::gather(explicit, nodes, read_default_file.as_deref(), env)
            .map_err(config_error)?;
        let cluster = Cluster::new(cfg).map_err(PyMmError::from)?;
        Ok(PyMultiMaster {
            cluster,
            last_insert_id: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
        })
    }

    /// `MultiMaster(url, **overrides)`, for a connection URL: keyword arguments win over it.
    #[classmethod]
    #[pyo3(signature = (url, **overrides))]
    fn from_url<'py>(
        cls: &Bound<'py, PyType>,
        url: &str,
        overrides: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !url::is_url(url) {
            let e = url::parse(url, OPTIONS).err().map(|e| e.to_string());
            let msg = e.unwrap_or_else(|| "expected a mysql:// URL".into());
            return Err(PyMmError::from(Error::Config(msg)).into());
        }
        cls.call((url,), overrides)
    }

    /// Runs one write (or any statement without a result set) and returns the rows affected.
    ///
    /// `key=(table, column, value)` names the unique key of the row written: if the reply is
    /// lost, the row is looked up (causally) before writing again. `idempotent=True` lets a
    /// write with a lost reply run again as is. Otherwise a lost reply raises
    /// `AmbiguousCommitError`.
    #[pyo3(signature = (sql, params=None, *, key=None, idempotent=false, statement_timeout=None))]
    fn execute(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        idempotent: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<u64> {
        let (affected, id) = self.write(py, sql, params, key, idempotent, statement_timeout)?;
        *lock(&self.last_insert_id) = id;
        Ok(affected)
    }

    /// The AUTO_INCREMENT id generated by the last `execute` on this instance, if any.
    #[getter]
    fn last_insert_id(&self) -> Option<u64> {
        *lock(&self.last_insert_id)
    }

    /// Runs a read on a live node and returns its rows as tuples. A read whose connection is
    /// lost is retried on another node. `causal=True` makes it see every write the cluster
    /// committed before it, whichever node took the write.
    #[pyo3(signature = (sql, params=None, *, causal=false, statement_timeout=None))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
        causal: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        Ok(self.read(py, sql, params, causal, statement_timeout)?.0)
    }

    /// `query` that also returns the PEP 249 `description` (None for a statement without a
    /// result set): for `multimaster.dbapi`.
    #[pyo3(signature = (sql, params=None, *, causal=false, statement_timeout=None))]
    fn _query_described<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
        causal: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<(Bound<'py, PyList>, Option<Bound<'py, PyList>>)> {
        self.read(py, sql, params, causal, statement_timeout)
    }

    /// `execute` that returns `(rows affected, last insert id)` instead of keeping the id on
    /// the instance (shared between threads): for `multimaster.dbapi`.
    #[pyo3(signature = (sql, params=None, *, key=None, idempotent=false, statement_timeout=None))]
    fn _execute_result(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        idempotent: bool,
        statement_timeout: Option<f64>,
    ) -> PyResult<(u64, Option<u64>)> {
        self.write(py, sql, params, key, idempotent, statement_timeout)
    }

    /// Inserts `rows` into `table`, one autocommit row at a time, balanced over the nodes and
    /// `interval` seconds apart, surviving node failures. `key` names the column that
    /// identifies a row (unique per row): with it every row is written exactly once even when
    /// a reply is lost. `on_row(index, node, rerouted)` is called after each row; `rerouted` is
    /// true when a node other than the policy's first choice took it.
    ///
    /// `progress=True` shows the run live: in a notebook one display updated in place (its
    /// final state stays in the saved notebook), in a terminal a line on stderr; a callable
    /// gets the same snapshots (dicts) instead. It is drawn from this thread at most ten
    /// times a second, from counters the loop keeps, so it costs the loop nothing per row.
    ///
    /// `concurrency=N` keeps up to N statements in flight at once (N threads), spread over the
    /// nodes as one at a time would be; `interval` is then the pause between two statements of
    /// each of them. `batch=K` writes K rows per multi-row INSERT (fewer where a node's
    /// `max_allowed_packet` or the 65,535-placeholder limit says so); with a key, a batch whose
    /// reply is lost is looked up by all its keys. A refused row stops the run with its error,
    /// whose `row` is the row's index in `rows` when the server says which. `statement_timeout`
    /// bounds each statement (default 60 s, or the instance's).
    ///
    /// Ctrl-C stops the loop within half a second; rows already written stay written, and the
    /// partial report is attached to the `KeyboardInterrupt` as `.report` when known.
    #[pyo3(signature = (
        table, columns, rows, key=None, interval=0.0, on_row=None, *, progress=None,
        statement_timeout=None, concurrency=1, batch=1,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn insert_many(
        &self,
        py: Python<'_>,
        table: String,
        columns: Vec<String>,
        rows: &Bound<'_, PyAny>,
        key: Option<String>,
        interval: f64,
        on_row: Option<Py<PyAny>>,
        progress: Option<&Bound<'_, PyAny>>,
        statement_timeout: Option<f64>,
        concurrency: usize,
        batch: usize,
    ) -> PyResult<PyReport> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, Some(INSERT_LIMIT))
            .map_err(|e| PyMmError::from(Error::Config(e)))?;
        let rows: Vec<Vec<mysql::Value>> = rows
            .try_iter()?
            .map(|r| to_row(&r?))
            .collect::<PyResult<_>>()?;
        let key = key_column(&columns, key.as_deref()).map_err(PyMmError::from)?;
        let interval =
            config::seconds("interval", interval).map_err(|e| PyMmError::from(Error::Config(e)))?;
        let sink = match progress {
            Some(p) if !p.is_none() => {
                Some(display::module(py)?.call_method1("progress_sink", (p,))?)
                    .filter(|s| !s.is_none())
                    .map(Bound::unbind)
            }
            _ => None,
        };
        let counters = Arc::new(Progress::new(self.cluster.node_names().len()));
        let live = sink.map(|sink| Live {
            sink,
            cluster: &self.cluster,
            progress: &counters,
            total: rows.len(),
            started: Instant::now(),
            shown_until: SystemTime::now(),
        });
        let job = insert::Job {
            table,
            columns,
            rows,
            key,
            interval,
            concurrency,
            batch,
            on_row,
        };
        let cancel = Cancel::new().with_limit(limit);
        let running = insert::start(&self.cluster, job, &cancel, &counters)?;
        running.wait(py, &self.cluster, live, &cancel, &self.workers)
    }

    /// Runs `body(tx)` as one transaction pinned to one node, and commits it.
    ///
    /// If the database interrupts an attempt before COMMIT (a certification conflict, a lock
    /// wait timeout, a lost connection) it is rolled back and `body` runs again on a live node,
    /// up to `attempts` times; so `body` must only act through `tx`. If the connection is lost
    /// during COMMIT the outcome is unknown: `check()` (if given) must say whether it committed
    /// (for instance with `mm.query(..., causal=True)`); otherwise `AmbiguousCommitError`.
    #[pyo3(signature = (body, *, check=None, attempts=5, statement_timeout=None))]
    fn transaction(
        &self,
        py: Python<'_>,
        body: Py<PyAny>,
        check: Option<Py<PyAny>>,
        attempts: u32,
        statement_timeout: Option<f64>,
    ) -> PyResult<PyTxResult> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(|e| PyMmError::from(Error::Config(e)))?;
        let (cancel, interrupt) = sigint::aware(limit);
        let mut run_body = |tx: &Tx| -> Result<Py<PyAny>, PyMmError> {
            Python::attach(|py| {
                let handle = Py::new(py, PyTransaction { tx: tx.clone() })?;
                Ok(body.call1(py, (handle,))?)
            })
        };
        let mut run_check = || -> Result<bool, PyMmError> {
            Python::attach(|py| match &check {
                Some(c) => Ok(c.call0(py)?.is_truthy(py)?),
                None => Ok(false),
            })
        };
        let has_check = check.is_some();
        let done = py
            .detach(|| {
                let check_fn: Option<&mut dyn FnMut() -> Result<bool, PyMmError>> = if has_check {
                    Some(&mut run_check)
                } else {
                    None
                };
                self.cluster
                    .transaction(attempts, &cancel, &mut run_body, check_fn)
            })
            .map_err(|e| sigint::raised(&interrupt, e))?;
        Ok(PyTxResult {
            value: done.value,
            attempts: done.attempts,
            node: done.node,
        })
    }

    /// Per node: address, state ("up" or "down"), statements, errors, failovers (statements
    /// that left it because it failed), reconnects, last error, flavour. A list (of dicts)
    /// that also shows as a table in a notebook and has `to_pandas()` / `to_polars()`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .cluster
            .stats()
            .iter()
            .map(|s| stats_dict(py, s))
            .collect::<PyResult<Vec<_>>>()?;
        display::module(py)?.call_method1("Stats", (PyList::new(py, items)?,))
    }

    /// What happened, oldest first (the newest `event_capacity` events): each a dict with
    /// `time` (seconds since the epoch), `kind` (node_down, node_up, failover, retry,
    /// ambiguous, ambiguous_resolved), `node` and `detail`. A list that also shows as a table
    /// in a notebook and has `to_pandas()` / `to_polars()`.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = display::events_since(py, &self.cluster, UNIX_EPOCH)?;
        display::module(py)?.call_method1("Events", (items,))
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        display::render(slf.py(), "multimaster_html", slf.as_any())
    }

    fn _repr_pretty_(slf: &Bound<'_, Self>, p: &Bound<'_, PyAny>, cycle: bool) -> PyResult<()> {
        let _ = cycle; // IPython's protocol; the text view holds no object that could recurse
        display::pretty("multimaster_text", slf.as_any(), p)
    }

    /// The node addresses, as `host:port`.
    #[getter]
    fn nodes(&self) -> Vec<String> {
        self.cluster.node_names()
    }

    #[getter]
    fn policy(&self) -> String {
        self.cluster.config().policy.to_string()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.cluster.is_closed()
    }

    /// Stops using the nodes and drops every connection. Idempotent.
    fn close(&self, py: Python<'_>) {
        let workers = std::mem::take(&mut *lock(&self.workers));
        py.detach(|| {
            self.cluster.close();
            for w in workers {
                let _ = w.join();
            }
        });
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let nodes: Vec<String> = self
            .cluster
            .stats()
            .iter()
            .map(|s| format!("{} {}", s.address, s.state))
            .collect();
        format!(
            "<MultiMaster [{}] user={:?} database={:?} policy={}{}>",
            nodes.join(", "),
            self.cluster.config().user,
            self.cluster.config().database.as_deref().unwrap_or(""),
            self.cluster.config().policy,
            if self.cluster.is_closed() {
                " closed"
            } else {
                ""
            }
        )
    }
}
