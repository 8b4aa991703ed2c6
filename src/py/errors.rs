//! Core errors -> the Python exceptions of `multimaster.exceptions` (defined in Python so
//! users can catch and subclass them; looked up once here).

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::core::error::{describe_rows, Error};
use crate::core::fault::Kind;

/// The pyo3-side error: either a core error still to be mapped, or a Python error already made
/// (from a callback, or a conversion).
pub enum PyMmError {
    Core(Error),
    Py(PyErr),
}

impl From<Error> for PyMmError {
    fn from(e: Error) -> Self {
        PyMmError::Core(e)
    }
}

impl From<PyErr> for PyMmError {
    fn from(e: PyErr) -> Self {
        PyMmError::Py(e)
    }
}

impl From<PyMmError> for PyErr {
    fn from(e: PyMmError) -> Self {
        match e {
            PyMmError::Py(e) => e,
            PyMmError::Core(e) => Python::attach(|py| to_pyerr(py, &e)),
        }
    }
}

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || {
        py.import("multimaster.exceptions").map(Bound::unbind)
    })?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn class_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Interface => "InterfaceError",
        Kind::Database => "DatabaseError",
        Kind::Operational => "OperationalError",
        Kind::Integrity => "IntegrityError",
        Kind::Programming => "ProgrammingError",
        Kind::Data => "DataError",
        Kind::NotSupported => "NotSupportedError",
    }
}

pub fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    make(py, e).unwrap_or_else(|err| err)
}

fn make(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let kwargs = PyDict::new(py);
    // A refused row of insert_many: its source's class, with the row's index and both words.
    let (e, rows) = match e {
        Error::Row {
            index,
            first,
            last,
            source,
        } => (source.as_ref(), Some((*index, *first, *last))),
        other => (other, None),
    };
    kwargs.set_item("row", rows.and_then(|r| r.0))?;
    kwargs.set_item("errno", e.code())?;
    kwargs.set_item("node", e.node())?;
    let name = match e {
        // Python's own KeyboardInterrupt when its handler has not run yet (a statement stopped
        // by Ctrl-C while this thread was blocked): running it now keeps it from firing a
        // second time after the call.
        Error::Interrupted => {
            let pending = py.check_signals().err();
            return Ok(pending.unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted")));
        }
        Error::Config(_) | Error::Closed => "InterfaceError",
        Error::Server { kind, state, .. } => {
            kwargs.set_item("sqlstate", state)?;
            class_name(*kind)
        }
        Error::Driver { kind, .. } => class_name(*kind),
        Error::AllNodesDown { waited, .. } => {
            kwargs.set_item("waited", waited.as_secs_f64())?;
            "AllNodesDownError"
        }
        Error::Ambiguous { statement, .. } => {
            kwargs.set_item("statement", statement)?;
            "AmbiguousCommitError"
        }
        Error::RetriesExhausted { attempts, .. } => {
            kwargs.set_item("attempts", attempts)?;
            "OperationalError"
        }
        Error::Lost { .. } => "OperationalError",
        Error::PartialBatch {
            found, expected, ..
        } => {
            kwargs.set_item("found", found)?;
            kwargs.set_item("expected", expected)?;
            "InternalError"
        }
        Error::Row { .. } => unreachable!("unwrapped above"),
        Error::Broken { statement, .. } => {
            kwargs.set_item("statement", statement)?;
            "OperationalError"
        }
        Error::TimedOut {
            statement,
            elapsed,
            limit,
            ..
        } => {
            kwargs.set_item("statement", statement)?;
            kwargs.set_item("elapsed", elapsed.as_secs_f64())?;
            kwargs.set_item("timeout", limit.as_secs_f64())?;
            "StatementTimeoutError"
        }
    };
    let message = match rows {
        Some((index, first, last)) => format!("{e} ({})", describe_rows(index, first, last)),
        None => e.to_string(),
    };
    let instance = exception_class(py, name)?.call((message,), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}
