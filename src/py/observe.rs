//! `Native.observe(callback)`: the core's per-statement hook (`core/observe.rs`) calling a
//! Python function, for `multimaster.otel`. Set only while instrumented.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::core::observe::{Observed, Observer};

pub struct PyObserver(pub Py<PyAny>);

impl Observer for PyObserver {
    fn statement(&self, s: &Observed<'_>) {
        // Set by the `atexit` hook (`_shutdown`): a loop that outlived a Ctrl-C must not call
        // into an interpreter that is finalizing.
        if crate::core::logs::quiet() {
            return;
        }
        Python::attach(|py| {
            let (code, class) = match s.error {
                Some((code, class)) => (code, Some(class)),
                None => (None, None),
            };
            let args = (s.node, s.operation, s.took.as_secs_f64(), code, class);
            // An exporter's failure must not fail the statement: Python reports it as
            // unraisable (sys.unraisablehook).
            if let Err(e) = self.0.call1(py, args) {
                e.write_unraisable(py, Some(self.0.bind(py)));
            }
        });
    }
}

pub fn observer(callback: Option<Py<PyAny>>) -> Option<Arc<dyn Observer>> {
    callback.map(|c| Arc::new(PyObserver(c)) as Arc<dyn Observer>)
}
