//! Core errors -> the Python exceptions of `multimaster.exceptions` (defined in Python so
//! users can catch and subclass them; looked up once here).

use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use pyo3::PyTypeInfo;

use crate::core::error::{describe_rows, Error};
use crate::core::failure::fault::Kind;
use crate::core::settings::error::SettingsError;

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

// The classes of `multimaster.exceptions`, bound here by name once (as cryptography's
// `import_exception!`): they are defined in Python so users can catch and subclass them.
pyo3::import_exception!(multimaster.exceptions, InterfaceError);
pyo3::import_exception!(multimaster.exceptions, DatabaseError);
pyo3::import_exception!(multimaster.exceptions, InternalError);
pyo3::import_exception!(multimaster.exceptions, OperationalError);
pyo3::import_exception!(multimaster.exceptions, IntegrityError);
pyo3::import_exception!(multimaster.exceptions, ProgrammingError);
pyo3::import_exception!(multimaster.exceptions, DataError);
pyo3::import_exception!(multimaster.exceptions, NotSupportedError);
pyo3::import_exception!(multimaster.exceptions, AllNodesDownError);
pyo3::import_exception!(multimaster.exceptions, AmbiguousCommitError);
pyo3::import_exception!(multimaster.exceptions, StatementTimeoutError);
pyo3::import_exception!(multimaster.exceptions, TransactionReplayError);

fn class_of(py: Python<'_>, kind: Kind) -> Bound<'_, PyType> {
    match kind {
        Kind::Interface => InterfaceError::type_object(py),
        Kind::Database => DatabaseError::type_object(py),
        Kind::Operational => OperationalError::type_object(py),
        Kind::Integrity => IntegrityError::type_object(py),
        Kind::Programming => ProgrammingError::type_object(py),
        Kind::Data => DataError::type_object(py),
        Kind::NotSupported => NotSupportedError::type_object(py),
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
    let class = match e {
        // Python's own KeyboardInterrupt when its handler has not run yet (a statement stopped
        // by Ctrl-C while this thread was blocked): running it now keeps it from firing a
        // second time after the call.
        Error::Interrupted => {
            let pending = py.check_signals().err();
            return Ok(pending.unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted")));
        }
        // A call Python itself would refuse: its own TypeError, without our attributes.
        Error::Settings(SettingsError::UnexpectedKeyword(_) | SettingsError::WrongType { .. }) => {
            return Ok(PyTypeError::new_err(e.to_string()))
        }
        Error::Membership(m) => return Ok(PyValueError::new_err(m.clone())),
        Error::Config(_) | Error::Settings(_) | Error::Misuse(_) | Error::Closed => {
            InterfaceError::type_object(py)
        }
        Error::Internal(_) => InternalError::type_object(py),
        Error::Server { kind, state, .. } => {
            kwargs.set_item("sqlstate", state)?;
            class_of(py, *kind)
        }
        Error::Driver { kind, .. } => class_of(py, *kind),
        // As the server's own refusal of the same (1153): an OperationalError.
        Error::Refused { refusal, .. } => {
            kwargs.set_item("sqlstate", refusal.state())?;
            OperationalError::type_object(py)
        }
        Error::AllNodesDown { waited, .. } => {
            kwargs.set_item("waited", waited.as_secs_f64())?;
            AllNodesDownError::type_object(py)
        }
        Error::Ambiguous { statement, .. } => {
            kwargs.set_item("statement", statement)?;
            AmbiguousCommitError::type_object(py)
        }
        Error::RetriesExhausted { attempts, .. } => {
            kwargs.set_item("attempts", attempts)?;
            OperationalError::type_object(py)
        }
        Error::Lost { .. } | Error::Discarded { .. } => OperationalError::type_object(py),
        Error::ReplayDiverged { statement, .. } => {
            kwargs.set_item("statement", statement)?;
            TransactionReplayError::type_object(py)
        }
        Error::PartialBatch {
            found, expected, ..
        } => {
            kwargs.set_item("found", found)?;
            kwargs.set_item("expected", expected)?;
            InternalError::type_object(py)
        }
        Error::Row { .. } => unreachable!("unwrapped above"),
        Error::Broken { statement, .. } => {
            kwargs.set_item("statement", statement)?;
            OperationalError::type_object(py)
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
            StatementTimeoutError::type_object(py)
        }
    };
    let message = match rows {
        Some((index, first, last)) => format!("{e} ({})", describe_rows(index, first, last)),
        None => e.to_string(),
    };
    let instance = class.call((message,), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}
