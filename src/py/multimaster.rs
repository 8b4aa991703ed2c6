//! `multimaster._native.Native`: the native half of `multimaster.MultiMaster` (the Python
//! class in `python/multimaster/client.py` holds one): one method per operation, values
//! converted, the interpreter lock released around every wait. Reprs, views and the choice of a
//! progress view are the Python class's.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::core::cancel::Cancel;
use crate::core::cluster::run::value_hash;
use crate::core::cluster::{Cluster, IfLost};
use crate::core::error::Error;
use crate::core::settings::config::Secret;
use crate::core::settings::error::SettingsError;
use crate::core::settings::options::{self, Kind, Setting, Spec};
use crate::core::settings::{self, Layer};
use crate::core::sync::lock;
use crate::core::work::insert::{Progress, INSERT_LIMIT};
use crate::core::work::session::Session;
use crate::core::work::transaction::Tx;

use super::cancel::PyCancelHandle;
use super::display::{stats_dict, Live};
use super::errors::PyMmError;
use super::insert;
use super::session::PySession;
use super::sigint;
use super::transaction::PyTransaction;
use super::values::{description, row_to_tuple, to_key, to_params, to_value};

/// The nodes of one multi-master cluster, as the Python class `multimaster.MultiMaster` uses
/// them. One instance is safe to share between threads.
#[pyclass(name = "Native", module = "multimaster._native", frozen)]
pub struct PyNative {
    cluster: Cluster,
    /// Insert loops that outlived a Ctrl-C: joined by `close()`.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// What one `execute` did: its own return value, never state on the shared instance.
#[pyclass(name = "ExecResult", module = "multimaster", frozen, get_all)]
pub struct PyExecResult {
    /// Rows affected (1 for a keyed write whose lost reply was found committed).
    pub rowcount: u64,
    /// The AUTO_INCREMENT id this statement generated, if any (None when its reply was lost).
    pub last_insert_id: Option<u64>,
    /// The node that answered, as `host:port` (for a write found committed by its key, the
    /// node whose answer settled it).
    pub node: String,
    /// Retries after retryable server errors (a conflict, a node not ready).
    pub retries: u32,
    /// Nodes it left because they failed under it.
    pub failovers: u32,
    /// Its reply was lost and it was found committed by its key.
    pub ambiguous_resolved: bool,
    /// The rows an UPDATE matched, changed or not (None for other statements): the DB-API's
    /// rowcount, as SQLAlchemy's MySQL dialects expect (CLIENT_FOUND_ROWS).
    pub matched: Option<u64>,
}

#[pymethods]
impl PyExecResult {
    fn __repr__(&self) -> String {
        let id = self.last_insert_id.map_or("None".into(), |i| i.to_string());
        format!(
            "ExecResult(rowcount={}, last_insert_id={id}, node={:?}, retries={}, failovers={}, ambiguous_resolved={})",
            self.rowcount,
            self.node,
            self.retries,
            self.failovers,
            if self.ambiguous_resolved { "True" } else { "False" }
        )
    }
}

fn settings_error(e: SettingsError) -> PyErr {
    PyMmError::from(Error::from(e)).into()
}

/// Where the nodes come from: a connection URL or addresses as text, or a list of addresses.
fn parse_nodes(nodes: &Bound<'_, PyAny>) -> PyResult<Layer> {
    if let Ok(s) = nodes.cast::<PyString>() {
        return settings::from_text(&s.to_cow()?).map_err(settings_error);
    }
    let list: Vec<String> = nodes.extract().map_err(|_| {
        PyTypeError::new_err(
            "nodes must be a list of \"host\" or \"host:port\" strings, or a mysql:// URL",
        )
    })?;
    settings::from_list(&list).map_err(settings_error)
}

/// A keyword argument as the option `spec` takes it, by its kind: numbers stay numbers.
fn option_value(spec: &'static Spec, value: &Bound<'_, PyAny>) -> PyResult<Setting> {
    let wrong = |e: PyErr| {
        let message = e.value(value.py()).to_string();
        settings_error(SettingsError::WrongType {
            name: spec.name.to_owned(),
            message,
        })
    };
    let setting = match spec.kind {
        Kind::Seconds | Kind::Limit => spec.number(value.extract().map_err(wrong)?),
        Kind::Count => spec.whole(value.extract().map_err(wrong)?),
        Kind::Switch => spec.switch(value.extract().map_err(wrong)?),
        Kind::Policy | Kind::SslMode => spec.parse(&value.extract::<String>().map_err(wrong)?),
        Kind::Path => {
            let path: std::path::PathBuf = value.extract().map_err(wrong)?;
            spec.path(settings::expand_home(&path))
        }
    };
    setting.map_err(settings_error)
}

/// The explicit layer: what the arguments say. A `None` says nothing.
fn explicit_layer(
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Layer> {
    let mut layer = Layer {
        user,
        password: password.map(Secret::new),
        database,
        ..Layer::default()
    };
    for (name, value) in options.into_iter().flatten() {
        let name: String = name.extract()?;
        // Not an option (read_timeout included, gone): Python's own TypeError for a keyword.
        let spec = options::find(&name)
            .map_err(|_| settings_error(SettingsError::UnexpectedKeyword(name.clone())))?;
        if !value.is_none() {
            layer.options.push(option_value(spec, &value)?);
        }
    }
    Ok(layer)
}

impl PyNative {
    /// The nodes this instance uses (`aio.rs` runs calls on them from its own threads).
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

#[pymethods]
impl PyNative {
    /// See `multimaster.MultiMaster`: `options` are the table's (`options::OPTIONS`), by name.
    #[new]
    #[pyo3(signature = (nodes=None, database=None, user=None, password=None, *, read_default_file=None, **options))]
    fn new(
        nodes: Option<&Bound<'_, PyAny>>,
        database: Option<String>,
        user: Option<String>,
        password: Option<String>,
        read_default_file: Option<std::path::PathBuf>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let explicit = explicit_layer(user, password, database, options)?;
        let nodes = nodes
            .filter(|n| !n.is_none())
            .map(parse_nodes)
            .transpose()?;
        let env = |k: &str| std::env::var(k).ok();
        let cfg = settings::gather(explicit, nodes, read_default_file.as_deref(), env)
            .map_err(settings_error)?;
        let cluster = Cluster::new(cfg).map_err(PyMmError::from)?;
        Ok(PyNative {
            cluster,
            workers: Mutex::new(Vec::new()),
        })
    }

    /// One write (or any statement without a result set) under the exactly-once rules: what
    /// it did.
    #[pyo3(signature = (sql, params=None, *, key=None, idempotent=false, statement_timeout=None, cancel=None))]
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        idempotent: bool,
        statement_timeout: Option<f64>,
        cancel: Option<PyRef<'_, PyCancelHandle>>,
    ) -> PyResult<PyExecResult> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(settings_error)?;
        let params = to_params(params)?;
        let key = key.map(to_key).transpose()?;
        let write = match (&key, idempotent) {
            (Some(k), _) => IfLost::CheckKey(k),
            (None, true) => IfLost::RunAgain,
            (None, false) => IfLost::Raise,
        };
        let (cancel, interrupt) = sigint::aware(limit, cancel.as_deref());
        let out = py
            .detach(|| self.cluster.execute(sql, &params, write, None, &cancel))
            .map_err(|e| sigint::raised(&interrupt, e))?;
        let (rowcount, last_insert_id, matched) = match out.value {
            Some(e) => (e.affected, e.last_insert_id, e.matched),
            // The lost write was found committed by its key: one row.
            None => (1, None, None),
        };
        let node = self.cluster.node_name(out.node);
        Ok(PyExecResult {
            rowcount,
            last_insert_id,
            node,
            retries: out.took.retries,
            failovers: out.took.failovers,
            ambiguous_resolved: out.took.resolved,
            matched,
        })
    }

    /// A read on any live node: its rows as tuples, and its PEP 249 description (None for a
    /// statement without a result set).
    #[pyo3(signature = (sql, params=None, *, causal=false, statement_timeout=None, cancel=None))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
        causal: bool,
        statement_timeout: Option<f64>,
        cancel: Option<PyRef<'py, PyCancelHandle>>,
    ) -> PyResult<(Bound<'py, PyList>, Option<Bound<'py, PyList>>)> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(settings_error)?;
        let params = to_params(params)?;
        let (cancel, interrupt) = sigint::aware(limit, cancel.as_deref());
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

    /// The insert loop (see `MultiMaster.insert_many`): the report's fields as a dict, also
    /// as the `report` of an error that stopped it. `progress` is the sink the Python class
    /// chose (`multimaster.display.progress_sink`), handed a snapshot dict ten times a second.
    #[pyo3(signature = (
        table, columns, rows, *, key=None, interval=0.0, on_row=None, progress=None,
        statement_timeout=None, concurrency=1, batch=1, cancel=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn insert_many<'py>(
        &self,
        py: Python<'py>,
        table: String,
        columns: Vec<String>,
        rows: &Bound<'py, PyAny>,
        key: Option<String>,
        interval: f64,
        on_row: Option<Py<PyAny>>,
        progress: Option<Py<PyAny>>,
        statement_timeout: Option<f64>,
        concurrency: usize,
        batch: usize,
        cancel: Option<PyRef<'py, PyCancelHandle>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, Some(INSERT_LIMIT))
            .map_err(settings_error)?;
        let insert::Opened {
            input,
            columns,
            key,
            feed,
            total,
        } = insert::open(rows, columns, key.as_deref(), concurrency, batch)?;
        let interval = options::seconds("interval", interval).map_err(settings_error)?;
        let counters = Arc::new(Progress::new(self.cluster.capacity()));
        let live = progress.filter(|p| !p.is_none(py)).map(|sink| Live {
            sink,
            cluster: &self.cluster,
            progress: &counters,
            total,
            started: Instant::now(),
            shown_until: SystemTime::now(),
        });
        let job = insert::Job {
            table,
            columns,
            feed: Arc::clone(&feed),
            key,
            interval,
            concurrency,
            batch,
            on_row,
        };
        let cancel = match cancel {
            Some(h) => Cancel::new().with_flag(Arc::clone(&h.flag)),
            None => Cancel::new(),
        }
        .with_limit(limit);
        let running = insert::start(&self.cluster, job, &cancel, &counters)?;
        let workers = &self.workers;
        running.wait(py, &self.cluster, live, &cancel, workers, input, &feed)
    }

    /// Runs `body(tx)` as one transaction (see `MultiMaster.transaction`): `(value, attempts,
    /// node)`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (body, *, check=None, attempts=5, statement_timeout=None, cancel=None, affinity=None))]
    fn transaction(
        &self,
        py: Python<'_>,
        body: Py<PyAny>,
        check: Option<Py<PyAny>>,
        attempts: u32,
        statement_timeout: Option<f64>,
        cancel: Option<PyRef<'_, PyCancelHandle>>,
        affinity: Option<Bound<'_, PyAny>>,
    ) -> PyResult<(Py<PyAny>, u32, String)> {
        let affinity = affinity
            .map(|a| to_value(&a))
            .transpose()?
            .map(|v| value_hash(&v));
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(settings_error)?;
        let (cancel, interrupt) = sigint::aware(limit, cancel.as_deref());
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
                    .transaction(attempts, affinity, &cancel, &mut run_body, check_fn)
            })
            .map_err(|e| sigint::raised(&interrupt, e))?;
        Ok((done.value, done.attempts, done.node))
    }

    /// A DB-API session (autocommit off): its transactions pinned to the node this
    /// connection's balancing slot chooses, replayed up to `attempts` times; `commit_marker`
    /// writes a marker row in each to settle a lost COMMIT reply.
    #[pyo3(signature = (*, attempts=5, statement_timeout=None, commit_marker=false))]
    fn session(
        &self,
        attempts: u32,
        statement_timeout: Option<f64>,
        commit_marker: bool,
    ) -> PyResult<PySession> {
        let limit = self
            .cluster
            .config()
            .statement_limit(statement_timeout, None)
            .map_err(settings_error)?;
        let slot = self.cluster.next_slot();
        Ok(PySession {
            cluster: self.cluster.clone(),
            session: Mutex::new(match commit_marker {
                true => Session::new(slot, attempts)
                    .with_marker(self.cluster.config().database.as_deref()),
                false => Session::new(slot, attempts),
            }),
            limit,
        })
    }

    /// Per node, a dict (`multimaster.NodeStats`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .cluster
            .stats()
            .iter()
            .map(|s| stats_dict(py, s))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Calls `callback(node, operation, seconds, code, error_class)` after every statement
    /// (code and class None on success); None stops it. For `multimaster.otel`.
    #[pyo3(signature = (callback))]
    fn observe(&self, callback: Option<Py<PyAny>>) {
        self.cluster.observe(super::observe::observer(callback));
    }

    /// The events kept, oldest first, each a dict (`multimaster.Event`).
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        super::display::events_since(py, &self.cluster, UNIX_EPOCH)
    }

    /// The nodes in rotation (not removed): `(host:port, known_by, state)` each.
    #[getter]
    fn nodes(&self) -> Vec<(String, &'static str, &'static str)> {
        let members = self.cluster.members().into_iter();
        members
            .map(|(a, by, state)| (a, by.name(), state))
            .collect()
    }

    /// Adds a node at run time (`Cluster::add_node`): it takes statements once connected and
    /// fit. Returns at once; an address already in rotation is left as it is.
    fn add_node(&self, address: &str) -> PyResult<()> {
        self.cluster.add_node(address).map_err(PyMmError::from)?;
        Ok(())
    }

    /// Takes a node out of rotation for good (`Cluster::remove_node`); statements in flight
    /// on it finish. Returns at once.
    fn remove_node(&self, address: &str) -> PyResult<()> {
        Ok(self.cluster.remove_node(address).map_err(PyMmError::from)?)
    }

    #[getter]
    fn policy(&self) -> String {
        self.cluster.config().policy.to_string()
    }

    #[getter]
    fn user(&self) -> String {
        self.cluster.config().user.clone()
    }

    #[getter]
    fn database(&self) -> Option<String> {
        self.cluster.config().database.clone()
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
}
