//! `multimaster._native`: the Rust core behind the `multimaster` Python package.
//!
//! `core` is pyo3-free and tested with `cargo test`; `py` is the thin binding layer.

pub mod core;
mod py;

use pyo3::prelude::*;

#[pymodule]
mod _native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::py::_latency_cost;
    #[pymodule_export]
    use crate::py::_shutdown;
    #[pymodule_export]
    use crate::py::aio::{PyAioPool, PyCompletions, Slot};
    #[pymodule_export]
    use crate::py::cancel::PyCancelHandle;
    #[pymodule_export]
    use crate::py::multimaster::{PyExecResult, PyNative};
    #[pymodule_export]
    use crate::py::parse_address;
    #[pymodule_export]
    use crate::py::parse_url;
    #[pymodule_export]
    use crate::py::session::PySession;
    #[pymodule_export]
    use crate::py::transaction::PyTransaction;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::py::init_module(m)
    }
}
