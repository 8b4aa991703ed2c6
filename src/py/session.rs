//! `Session`: a DB-API connection's transaction (autocommit off), over the core's
//! `work::session`. It converts values and releases the interpreter lock; the core decides.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::core::cluster::Cluster;
use crate::core::sync::lock;
use crate::core::work::session::Session;
use crate::core::work::transaction::Tx;

use super::cancel::PyCancelHandle;
use super::sigint;
use super::values::{description, row_to_tuple, to_params, to_row};

/// One DB-API connection's session: its open transaction (if any) and replay log, pinned to
/// the node its balancing slot chose. Every method takes the session's lock without the
/// interpreter lock: a statement holds it for its whole run on a worker thread (the asyncio
/// adaptor's), and may need the interpreter meanwhile (an exporter's hook, src/core/observe.rs).
#[pyclass(name = "Session", module = "multimaster._native", frozen)]
pub struct PySession {
    pub cluster: Cluster,
    pub session: Mutex<Session<Tx>>,
    /// The statement time limit of the instance, for each statement.
    pub limit: Option<std::time::Duration>,
}

/// What one statement returned: rows, description (None without a result set), rowcount,
/// lastrowid.
type Returned<'py> = (
    Bound<'py, PyList>,
    Option<Bound<'py, PyList>>,
    u64,
    Option<u64>,
);

#[pymethods]
impl PySession {
    /// Runs a statement in the transaction, beginning it if none is open (`causal`: begun
    /// after the node caught up with the cluster). `cancel` (from `multimaster.aiodbapi`)
    /// stops it as Ctrl-C does: the statement killed, the transaction rolled back.
    #[pyo3(signature = (sql, params=None, *, causal=true, cancel=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
        causal: bool,
        cancel: Option<PyRef<'py, PyCancelHandle>>,
    ) -> PyResult<Returned<'py>> {
        let params = to_params(params)?;
        let (cancel, interrupt) = sigint::aware(self.limit, cancel.as_deref());
        let answer = py
            .detach(|| {
                let mut session = lock(&self.session);
                session.causal = causal;
                session.execute(&self.cluster, sql, &params, &cancel)
            })
            .map_err(|e| sigint::raised(&interrupt, e))?;
        let tuples = answer
            .rows
            .rows
            .iter()
            .map(|r| row_to_tuple(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        let columns = &answer.rows.columns;
        let description = (!columns.is_empty())
            .then(|| description(py, columns))
            .transpose()?;
        Ok((
            PyList::new(py, tuples)?,
            description,
            answer.affected,
            answer.last_insert_id,
        ))
    }

    /// `executemany` of an `INSERT INTO table (columns) VALUES (?, ...)`: the rows as
    /// multi-row INSERTs of `batch` rows in the transaction; the rows affected in total.
    #[pyo3(signature = (table, columns, rows, *, batch, causal=true, cancel=None))]
    #[allow(clippy::too_many_arguments)]
    fn insert_rows(
        &self,
        py: Python<'_>,
        table: &str,
        columns: Vec<String>,
        rows: &Bound<'_, PyAny>,
        batch: usize,
        causal: bool,
        cancel: Option<PyRef<'_, PyCancelHandle>>,
    ) -> PyResult<u64> {
        let rows = rows
            .try_iter()?
            .map(|r| to_row(&r?))
            .collect::<PyResult<Vec<_>>>()?;
        let (cancel, interrupt) = sigint::aware(self.limit, cancel.as_deref());
        let answers = py
            .detach(|| {
                let mut session = lock(&self.session);
                session.causal = causal;
                session.insert_rows(&self.cluster, table, &columns, &rows, batch, &cancel)
            })
            .map_err(|e| sigint::raised(&interrupt, e))?;
        Ok(answers.iter().map(|a| a.affected).sum())
    }

    /// Commits the open transaction; nothing to do without one. Cancelled during its COMMIT,
    /// the outcome is ambiguous (the COMMIT may have won the race with the kill).
    #[pyo3(signature = (*, cancel=None))]
    fn commit(&self, py: Python<'_>, cancel: Option<PyRef<'_, PyCancelHandle>>) -> PyResult<()> {
        let (cancel, interrupt) = sigint::aware(None, cancel.as_deref());
        py.detach(|| lock(&self.session).commit(&self.cluster, &cancel))
            .map_err(|e| sigint::raised(&interrupt, e))
    }

    /// Rolls the open transaction back; never raises (a dead node's transaction is gone).
    fn rollback(&self, py: Python<'_>) {
        py.detach(|| lock(&self.session).rollback(&self.cluster));
    }

    /// Rolls back an open transaction and deletes the connection's last commit marker.
    fn close(&self, py: Python<'_>) {
        let cancel = crate::core::cancel::Cancel::new();
        py.detach(|| lock(&self.session).close(&self.cluster, &cancel));
    }

    /// Raises OperationalError 2006 once the connection was discarded (a transaction that
    /// made a temporary table or took a named lock ended): pools then throw it away.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| lock(&self.session).usable())
            .map_err(|e| PyErr::from(super::errors::PyMmError::from(e)))
    }

    /// The node the open transaction is pinned to (None without one).
    #[getter]
    fn node(&self, py: Python<'_>) -> Option<String> {
        py.detach(|| lock(&self.session).node(&self.cluster))
    }

    /// Whether a statement began a transaction not yet committed or rolled back.
    #[getter]
    fn in_transaction(&self, py: Python<'_>) -> bool {
        py.detach(|| lock(&self.session).in_transaction())
    }
}
