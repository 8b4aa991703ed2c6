//! The insert loop's report, as the dict `multimaster.InsertReport` is made from.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::core::cluster::Cluster;
use crate::core::work::insert::Report;

use super::display::{epoch, events_since};

/// The fields of `multimaster.InsertReport` (`python/multimaster/results.py`).
pub fn report_dict<'py>(
    py: Python<'py>,
    r: &Report,
    cluster: &Cluster,
) -> PyResult<Bound<'py, PyDict>> {
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
    let d = PyDict::new(py);
    d.set_item("rows", r.rows)?;
    d.set_item("per_node", per_node)?;
    d.set_item("retries", r.retries)?;
    d.set_item("failovers", r.failovers)?;
    d.set_item("rerouted", r.rerouted)?;
    d.set_item("ambiguous_resolved", r.resolved)?;
    d.set_item("elapsed", r.elapsed.as_secs_f64())?;
    d.set_item("timeline_data", timeline)?;
    Ok(d)
}
