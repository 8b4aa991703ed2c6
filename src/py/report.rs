//! The insert loop's report, as a Python object.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::insert::Report;

/// What `insert_many` did: rows written, where, and what it took.
#[pyclass(name = "InsertReport", module = "multimaster", frozen, get_all)]
pub struct PyReport {
    /// Rows written (each exactly once).
    pub rows: u64,
    /// Rows written per node address, in the order the nodes were given.
    pub per_node: Py<PyDict>,
    /// Statements retried after a retryable server error (conflict, node not ready).
    pub retries: u64,
    /// Times a row left a node because that node failed under it.
    pub failovers: u64,
    /// Rows written by a node other than the policy's first choice.
    pub rerouted: u64,
    /// Lost replies resolved by a key check (written once, not twice).
    pub ambiguous_resolved: u64,
    /// Seconds the loop ran.
    pub elapsed: f64,
}

impl PyReport {
    pub fn new(py: Python<'_>, r: &Report) -> PyResult<Self> {
        let per_node = PyDict::new(py);
        for (node, n) in &r.per_node {
            per_node.set_item(node, n)?;
        }
        Ok(PyReport {
            rows: r.rows,
            per_node: per_node.unbind(),
            retries: r.retries,
            failovers: r.failovers,
            rerouted: r.rerouted,
            ambiguous_resolved: r.resolved,
            elapsed: r.elapsed.as_secs_f64(),
        })
    }
}

#[pymethods]
impl PyReport {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "InsertReport(rows={}, per_node={}, retries={}, failovers={}, rerouted={}, ambiguous_resolved={}, elapsed={:.2})",
            self.rows,
            self.per_node.bind(py).repr()?,
            self.retries,
            self.failovers,
            self.rerouted,
            self.ambiguous_resolved,
            self.elapsed
        ))
    }
}
