//! The pyo3 layer: wraps the core, converts values and errors, releases the interpreter lock
//! around every blocking call. Logic belongs in `crate::core`.

pub mod aio;
pub mod arrow;
pub mod cancel;
pub mod display;
pub mod errors;
pub mod insert;
pub mod multimaster;
pub mod observe;
pub mod report;
pub mod session;
pub mod sigint;
pub mod transaction;
pub mod values;

use pyo3::prelude::*;

/// Routes the core's `log` records to Python's `logging` under the `multimaster` logger.
/// Levels are read from Python on each record (not cached), so `logging.basicConfig` or a
/// level change made after import takes effect.
pub fn init_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The one version: Cargo.toml's (pyproject takes it from there too).
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The option names, in table order: `multimaster.client.Options` is checked against them.
    let names: Vec<&str> = crate::core::settings::options::names().collect();
    m.add("OPTIONS", pyo3::types::PyTuple::new(m.py(), names)?)?;
    let logger =
        pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Loggers)?.filter(log::LevelFilter::Trace);
    // A second import (subinterpreters, reloads) finds a logger already set: keep it.
    let _ = logger.install();
    // pyo3-log says yes to every level and filters in Python, under the interpreter lock:
    // the core asks Python itself whether DEBUG is on (at most once a second).
    crate::core::logs::set_debug_probe(Box::new(|| {
        Python::attach(|py| {
            let logger = py
                .import("logging")?
                .call_method1("getLogger", ("multimaster",))?;
            logger.call_method1("isEnabledFor", (10,))?.is_truthy()
        })
        .unwrap_or(false)
    }));
    Ok(())
}

/// Called from an `atexit` hook: a log record sent while the interpreter finalizes would
/// panic inside pyo3-log.
#[pyfunction]
pub fn _shutdown() {
    crate::core::logs::silence_logging();
}

/// What recording a statement's time adds to it, in seconds per statement, over `n` records:
/// the clock read and `Latency::record`, as `Backend::record_statement` does them. For
/// `make bench` (tests/bench/latency.py), which sets it beside the single-row loop's time.
#[pyfunction]
pub fn _latency_cost(py: Python<'_>, n: u32) -> f64 {
    use std::time::Instant;
    let latency = crate::core::node::latency::Latency::default();
    py.detach(|| {
        let begun = Instant::now();
        for _ in 0..n {
            let sent = Instant::now();
            latency.record(std::hint::black_box(sent).elapsed());
        }
        std::hint::black_box(&latency);
        begun.elapsed().as_secs_f64() / f64::from(n.max(1))
    })
}

/// `"host"`, `"host:port"` or `"[v6]:port"` as `(host, port)`, port 3306 by default.
/// Raises `InterfaceError` naming what is wrong.
#[pyfunction]
pub fn parse_address(address: &str) -> PyResult<(String, u16)> {
    let e = address
        .parse::<crate::core::settings::address::Endpoint>()
        .map_err(|e| errors::PyMmError::from(crate::core::error::Error::from(e)))?;
    Ok((e.host, e.port))
}

/// A connection URL's parts, without the password (only whether it has one): `nodes` as
/// `host:port`, `user`, `database`, `password_set`, and `options` (name to value: seconds as a
/// float, `None` for no limit, counts as ints, modes and paths as text). Raises
/// `InterfaceError` naming the bad part.
#[pyfunction]
pub fn parse_url<'py>(py: Python<'py>, url: &str) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    use crate::core::settings::options::OptionValue;
    let u = crate::core::settings::url::parse(url)
        .map_err(|e| errors::PyMmError::from(crate::core::error::Error::from(e)))?;
    let d = pyo3::types::PyDict::new(py);
    let nodes: Vec<String> = u.endpoints.iter().map(|e| e.to_string()).collect();
    d.set_item("nodes", nodes)?;
    d.set_item("user", u.user)?;
    d.set_item("database", u.database)?;
    d.set_item("password_set", u.password.is_some())?;
    let options = pyo3::types::PyDict::new(py);
    for s in &u.options {
        let name = s.spec.name;
        match &s.value {
            OptionValue::Seconds(d) => options.set_item(name, d.as_secs_f64())?,
            OptionValue::Limit(d) => options.set_item(name, d.map(|d| d.as_secs_f64()))?,
            OptionValue::Count(n) => options.set_item(name, n)?,
            OptionValue::Policy(p) => options.set_item(name, p.to_string())?,
            OptionValue::SslMode(m) => options.set_item(name, m.to_string())?,
            OptionValue::Path(p) => options.set_item(name, p.to_string_lossy())?,
            OptionValue::Switch(on) => options.set_item(name, on)?,
        }
    }
    d.set_item("options", options)?;
    Ok(d)
}
