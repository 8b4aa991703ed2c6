//! `CancelHandle`: how `multimaster.aio` stops a call that runs on a worker thread when its
//! asyncio task is cancelled. The loop's thread sets the flag; the call's `Cancel` shares it,
//! so the watchdog kills the statement on the server as it does for Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

/// A stop request for the calls it is passed to (`cancel=`); setting it is one atomic store,
/// safe from any thread and never blocking.
#[pyclass(name = "CancelHandle", module = "multimaster._native", frozen)]
#[derive(Default)]
pub struct PyCancelHandle {
    pub flag: Arc<AtomicBool>,
}

#[pymethods]
impl PyCancelHandle {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Stops the calls holding this handle: a statement running is killed on the server.
    fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn __repr__(&self) -> String {
        format!("<CancelHandle cancelled={}>", self.cancelled())
    }
}
