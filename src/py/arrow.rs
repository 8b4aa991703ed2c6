//! Arrow frames as `insert_many`'s input: any object exporting an Arrow C stream
//! (`__arrow_c_stream__`: pyarrow tables and readers, polars and pandas frames, DuckDB
//! relations), read batch by batch in Rust, each value straight from its column's buffers
//! (`core::work::frame`), never a Python object per value. Only the capsule API is used, which
//! the limited API (the abi3 wheel) has.

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use mysql::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::core::error::Error;
use crate::core::work::frame;

use super::errors::PyMmError;

/// A frame being read, one batch held at a time.
pub struct FrameReader {
    reader: RecordBatchStreamReader,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    at: usize,
}

/// Whether `obj` is a frame (checked before iterating it: a polars DataFrame iterates its
/// columns).
pub fn is_frame(obj: &Bound<'_, PyAny>) -> bool {
    obj.hasattr("__arrow_c_stream__").unwrap_or(false)
}

fn frame_error(e: impl std::fmt::Display) -> PyErr {
    PyMmError::from(Error::Config(format!("cannot read the frame: {e}"))).into()
}

/// The frame's stream and its columns' names, every column's type checked before anything is
/// written.
pub fn open(obj: &Bound<'_, PyAny>) -> PyResult<(FrameReader, Vec<String>)> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| PyTypeError::new_err("__arrow_c_stream__() did not return a PyCapsule"))?;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: a capsule named "arrow_array_stream" holds an FFI_ArrowArrayStream (the Arrow
    // PyCapsule interface); from_raw moves the stream out and leaves it released, so the
    // capsule's destructor frees only the struct.
    let reader =
        unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr().cast::<FFI_ArrowArrayStream>()) }
            .map_err(frame_error)?;
    let names = frame::columns(&reader.schema()).map_err(PyMmError::from)?;
    Ok((
        FrameReader {
            reader,
            batch: None,
            at: 0,
        },
        names,
    ))
}

impl FrameReader {
    /// The next row (`index` in the whole frame), or None at the frame's end. The stream's
    /// producer may take the interpreter lock (a reader over Python batches): it is held here.
    pub fn next_row(&mut self, index: usize) -> PyResult<Option<Vec<Value>>> {
        loop {
            if let Some(b) = self.batch.as_ref().filter(|b| self.at < b.num_rows()) {
                let row = frame::row(b, self.at, index).map_err(PyMmError::from)?;
                self.at += 1;
                return Ok(Some(row));
            }
            // Drop the batch written before reading the next: one batch held at a time.
            self.batch = None;
            match self.reader.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(frame_error(e)),
                Some(Ok(b)) => {
                    self.batch = Some(b);
                    self.at = 0;
                }
            }
        }
    }
}
