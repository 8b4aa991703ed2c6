//! `Transaction`: the handle a `MultiMaster.transaction` body runs its statements through.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::core::work::transaction::Tx;

use super::errors::PyMmError;
use super::values::{row_to_tuple, to_params};

/// One attempt of a transaction, pinned to one node. Statements run on that node's connection;
/// after the body returns the handle is closed and further statements raise.
#[pyclass(name = "Transaction", module = "multimaster", frozen)]
pub struct PyTransaction {
    pub tx: Tx,
}

#[pymethods]
impl PyTransaction {
    /// Runs a statement in the transaction and returns the rows affected.
    #[pyo3(signature = (sql, params=None))]
    fn execute(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let params = to_params(params)?;
        let out = py
            .detach(|| self.tx.execute(sql, &params))
            .map_err(PyMmError::from)?;
        Ok(out.affected)
    }

    /// Runs a read in the transaction and returns its rows as tuples.
    #[pyo3(signature = (sql, params=None))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let params = to_params(params)?;
        let rows = py
            .detach(|| self.tx.query(sql, &params))
            .map_err(PyMmError::from)?;
        let tuples = rows
            .iter()
            .map(|r| row_to_tuple(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, tuples)
    }

    /// The node this attempt runs on, as `host:port`. Read without the interpreter lock: the
    /// transaction's lock is held for a whole statement by the thread running it, which may
    /// itself need the interpreter (an exporter's hook, src/core/observe.rs).
    #[getter]
    fn node(&self, py: Python<'_>) -> String {
        py.detach(|| self.tx.node())
    }

    /// 1 for the first attempt, 2 for the first replay, ...
    #[getter]
    fn attempt(&self) -> u32 {
        self.tx.attempt
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Transaction on {} attempt {}>",
            py.detach(|| self.tx.node()),
            self.tx.attempt
        )
    }
}
