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

    /// The node this attempt runs on, as `host:port`.
    #[getter]
    fn node(&self) -> String {
        self.tx.node()
    }

    /// 1 for the first attempt, 2 for the first replay, ...
    #[getter]
    fn attempt(&self) -> u32 {
        self.tx.attempt
    }

    fn __repr__(&self) -> String {
        format!(
            "<Transaction on {} attempt {}>",
            self.tx.node(),
            self.tx.attempt
        )
    }
}
