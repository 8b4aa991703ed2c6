//! What the Python views (`multimaster.display`) are drawn from: events and stats as dicts, and
//! the live snapshots of an insert loop handed to the sink the Python class chose. The views
//! themselves, and the reprs, are Python's: nothing here imports a Python module.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::core::cluster::Cluster;
use crate::core::events::{Event, EventKind, NodeStats};
use crate::core::node::latency::SPEC_BOUNDS;
use crate::core::work::insert::Progress;

pub fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn event_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("time", epoch(e.at))?;
    d.set_item("kind", e.kind.name())?;
    d.set_item("node", &e.node)?;
    d.set_item("detail", &e.detail)?;
    Ok(d)
}

pub fn stats_dict<'py>(py: Python<'py>, s: &NodeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("address", &s.address)?;
    d.set_item("state", s.state)?;
    d.set_item("known_by", s.known_by)?;
    d.set_item("statements", s.statements)?;
    d.set_item("errors", s.errors)?;
    d.set_item("failovers", s.failovers)?;
    d.set_item("reconnects", s.reconnects)?;
    d.set_item("last_error", &s.last_error)?;
    d.set_item("flavour", s.flavour)?;
    d.set_item("state_reason", &s.state_reason)?;
    let secs = |t: Option<std::time::Duration>| t.map(|t| t.as_secs_f64());
    let l = &s.latency;
    d.set_item("p50", secs(l.quantile(0.5)))?;
    d.set_item("p99", secs(l.quantile(0.99)))?;
    d.set_item("max", secs(l.max()))?;
    // Cumulative, by the OpenTelemetry bounds, then +Inf: a scrape reads a true histogram.
    let mut seen = 0;
    let buckets = SPEC_BOUNDS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(&l.spec)
        .map(|(le, &n)| {
            seen += n;
            (le, seen)
        })
        .collect::<Vec<_>>();
    d.set_item("duration_buckets", buckets)?;
    d.set_item("duration_sum", l.sum_us as f64 / 1e6)?;
    let events = PyDict::new(py);
    for (k, n) in EventKind::ALL.iter().zip(s.events) {
        events.set_item(k.name(), n)?;
    }
    d.set_item("events", events)?;
    Ok(d)
}

/// Events at or after `since`, as dicts.
pub fn events_since<'py>(
    py: Python<'py>,
    cluster: &Cluster,
    since: SystemTime,
) -> PyResult<Bound<'py, PyList>> {
    let items = cluster
        .events()
        .iter()
        .filter(|e| e.at >= since)
        .map(|e| event_dict(py, e))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A running insert loop as the live view sees it, read from the loop's counters.
pub struct Live<'a> {
    pub sink: Py<PyAny>,
    pub cluster: &'a Cluster,
    pub progress: &'a Progress,
    /// None for an input of unknown length (a generator).
    pub total: Option<usize>,
    pub started: Instant,
    /// Events after this were not shown yet.
    pub shown_until: SystemTime,
}

impl Live<'_> {
    /// Hands the sink one snapshot (see `multimaster.display.progress_sink`).
    pub fn show(&mut self, py: Python<'_>, finished: bool) -> PyResult<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let p = self.progress;
        let d = PyDict::new(py);
        d.set_item("done", p.done.load(Relaxed))?;
        d.set_item("total", self.total)?;
        let per_node = PyDict::new(py);
        let stats = self.cluster.stats();
        for (s, n) in stats.iter().zip(&p.per_node) {
            per_node.set_item(&s.address, n.load(Relaxed))?;
        }
        d.set_item("per_node", per_node)?;
        d.set_item("failovers", p.failovers.load(Relaxed))?;
        d.set_item("retries", p.retries.load(Relaxed))?;
        d.set_item("ambiguous_resolved", p.resolved.load(Relaxed))?;
        let named = |state: &str| -> Vec<&str> {
            let of = stats.iter().filter(|s| s.state == state);
            of.map(|s| s.address.as_str()).collect()
        };
        d.set_item("down", named("down"))?;
        d.set_item("draining", named("draining"))?;
        let now = SystemTime::now();
        let events = self
            .cluster
            .events()
            .into_iter()
            .filter(|e| e.at >= self.shown_until && e.at < now)
            .map(|e| event_dict(py, &e))
            .collect::<PyResult<Vec<_>>>()?;
        self.shown_until = now;
        d.set_item("events", events)?;
        d.set_item("elapsed", self.started.elapsed().as_secs_f64())?;
        d.set_item("finished", finished)?;
        self.sink.call1(py, (d,))?;
        Ok(())
    }
}
