//! The insert loop's report, as a Python object.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::core::cluster::Cluster;
use crate::core::work::insert::Report;

use super::display::{epoch, events_since, pretty, render};

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
    /// Rows per node per short interval and the node events of the run: what
    /// `timeline()` draws.
    pub timeline_data: Py<PyDict>,
}

impl PyReport {
    pub fn new(py: Python<'_>, r: &Report, cluster: &Cluster) -> PyResult<Self> {
        let per_node = PyDict::new(py);
        for (node, n) in &r.per_node {
            per_node.set_item(node, n)?;
        }
        let timeline = PyDict::new(py);
        let nodes: Vec<&str> = r.per_node.iter().map(|(n, _)| n.as_str()).collect();
        timeline.set_item("nodes", &nodes)?;
        timeline.set_item("elapsed", r.elapsed.as_secs_f64())?;
        let t = &r.timeline;
        timeline.set_item("started", epoch(t.started))?;
        timeline.set_item("bucket", t.bucket.as_secs_f64())?;
        let width = t.buckets();
        let rows = t.rows.iter().map(|series| {
            let mut padded = series.clone();
            padded.resize(width, 0);
            padded
        });
        timeline.set_item("rows", PyList::new(py, rows)?)?;
        timeline.set_item("events", events_since(py, cluster, t.started)?)?;
        Ok(PyReport {
            rows: r.rows,
            per_node: per_node.unbind(),
            retries: r.retries,
            failovers: r.failovers,
            rerouted: r.rerouted,
            ambiguous_resolved: r.resolved,
            elapsed: r.elapsed.as_secs_f64(),
            timeline_data: timeline.unbind(),
        })
    }
}

#[pymethods]
impl PyReport {
    /// Rows/s per node over the run with node-down, node-up and failover marks: an SVG
    /// (`multimaster.display.Timeline`), shown inline in a notebook, `.save(path)` to keep it.
    fn timeline<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::display::module(py)?.call_method1("Timeline", (self.timeline_data.bind(py),))
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.py(), "report_html", slf.as_any())
    }

    fn _repr_pretty_(slf: &Bound<'_, Self>, p: &Bound<'_, PyAny>, cycle: bool) -> PyResult<()> {
        let _ = cycle; // IPython's protocol; the text view holds no object that could recurse
        pretty("report_text", slf.as_any(), p)
    }

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
