//! Python values <-> `mysql::Value`. Parameters are bound by the driver, never formatted
//! into SQL.

use mysql::consts::ColumnType;

use crate::core::failure::decide::KeyCheck;
use crate::core::text::{parse_date, parse_datetime, parse_time};
use mysql::{Column, Params, Row, Value};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

/// The binary collation id: a string column with it holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

struct Types {
    datetime: Py<PyAny>,
    date: Py<PyAny>,
    timedelta: Py<PyAny>,
    time: Py<PyAny>,
    decimal: Py<PyAny>,
}

fn types(py: Python<'_>) -> PyResult<&Types> {
    static TYPES: PyOnceLock<Types> = PyOnceLock::new();
    TYPES.get_or_try_init(py, || {
        let dt = py.import("datetime")?;
        Ok(Types {
            datetime: dt.getattr("datetime")?.unbind(),
            date: dt.getattr("date")?.unbind(),
            timedelta: dt.getattr("timedelta")?.unbind(),
            time: dt.getattr("time")?.unbind(),
            decimal: py.import("decimal")?.getattr("Decimal")?.unbind(),
        })
    })
}

fn attr<T: TryFrom<i64>>(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    let v: i64 = obj.getattr(name)?.extract()?;
    T::try_from(v).map_err(|_| PyTypeError::new_err(format!("{name}={v} is out of range")))
}

/// One Python value as a statement parameter.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::NULL);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Int(i64::from(obj.extract::<bool>()?)));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::UInt(obj.extract::<u64>()?)),
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Double(obj.extract::<f64>()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Bytes(s.to_cow()?.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    let t = types(py)?;
    // datetime is a subclass of date: test it first.
    if obj.is_instance(t.datetime.bind(py))? {
        return Ok(Value::Date(
            attr::<u16>(obj, "year")?,
            attr::<u8>(obj, "month")?,
            attr::<u8>(obj, "day")?,
            attr::<u8>(obj, "hour")?,
            attr::<u8>(obj, "minute")?,
            attr::<u8>(obj, "second")?,
            attr::<u32>(obj, "microsecond")?,
        ));
    }
    if obj.is_instance(t.date.bind(py))? {
        return Ok(Value::Date(
            attr::<u16>(obj, "year")?,
            attr::<u8>(obj, "month")?,
            attr::<u8>(obj, "day")?,
            0,
            0,
            0,
            0,
        ));
    }
    if obj.is_instance(t.timedelta.bind(py))? {
        let total_us: i64 = attr::<i64>(obj, "days")? * 86_400_000_000
            + attr::<i64>(obj, "seconds")? * 1_000_000
            + attr::<i64>(obj, "microseconds")?;
        let neg = total_us < 0;
        let us = total_us.unsigned_abs();
        let secs = us / 1_000_000;
        return Ok(Value::Time(
            neg,
            (secs / 86_400) as u32,
            ((secs / 3600) % 24) as u8,
            ((secs / 60) % 60) as u8,
            (secs % 60) as u8,
            (us % 1_000_000) as u32,
        ));
    }
    if obj.is_instance(t.time.bind(py))? {
        return Ok(Value::Time(
            false,
            0,
            attr::<u8>(obj, "hour")?,
            attr::<u8>(obj, "minute")?,
            attr::<u8>(obj, "second")?,
            attr::<u32>(obj, "microsecond")?,
        ));
    }
    if obj.is_instance(t.decimal.bind(py))? {
        return Ok(Value::Bytes(obj.str()?.to_cow()?.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "cannot bind a value of type {} as a statement parameter",
        obj.get_type().name()?
    )))
}

/// A sequence of values (positional `?` markers) or a mapping (`:name` markers).
pub fn to_params(params: Option<&Bound<'_, PyAny>>) -> PyResult<Params> {
    let Some(params) = params.filter(|p| !p.is_none()) else {
        return Ok(Params::Empty);
    };
    if let Ok(d) = params.cast::<PyDict>() {
        let mut named = std::collections::HashMap::new();
        for (k, v) in d.iter() {
            named.insert(k.extract::<String>()?.into_bytes(), to_value(&v)?);
        }
        return Ok(Params::Named(named));
    }
    if params.is_instance_of::<PyString>() || params.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "params must be a sequence or a mapping, not a string",
        ));
    }
    let values = to_row(params)?;
    Ok(if values.is_empty() {
        Params::Empty
    } else {
        Params::Positional(values)
    })
}

/// A Python sequence as a row of values.
pub fn to_row(seq: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    seq.try_iter()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a sequence of values, got {}",
                seq.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?
        .map(|v| to_value(&v?))
        .collect()
}

/// A result row as a tuple, each value typed by its column.
pub fn row_to_tuple<'py>(py: Python<'py>, row: &Row) -> PyResult<Bound<'py, PyTuple>> {
    let columns = row.columns_ref();
    let items = (0..row.len())
        .map(|i| from_value(py, row.as_ref(i).unwrap_or(&Value::NULL), &columns[i]))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, items)
}

fn from_value<'py>(py: Python<'py>, v: &Value, col: &Column) -> PyResult<Bound<'py, PyAny>> {
    use ColumnType::*;
    let t = types(py)?;
    Ok(match v {
        Value::NULL => py.None().into_bound(py),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Double(f) => f.into_pyobject(py)?.into_any(),
        Value::Date(y, mo, d, h, mi, s, us) => match col.column_type() {
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => t.date.bind(py).call1((*y, *mo, *d))?,
            _ => t.datetime.bind(py).call1((*y, *mo, *d, *h, *mi, *s, *us))?,
        },
        Value::Time(neg, days, h, mi, s, us) => {
            let secs = i64::from(*days) * 86_400
                + i64::from(*h) * 3600
                + i64::from(*mi) * 60
                + i64::from(*s);
            let sign = if *neg { -1 } else { 1 };
            t.timedelta
                .bind(py)
                .call1((0, sign * secs, sign * i64::from(*us)))?
        }
        Value::Bytes(b) => from_text(py, t, b, col)?,
    })
}

/// Values of the text protocol (and strings and decimals of the binary one) by column type.
fn from_text<'py>(
    py: Python<'py>,
    t: &Types,
    b: &[u8],
    col: &Column,
) -> PyResult<Bound<'py, PyAny>> {
    use ColumnType::*;
    let text = || std::str::from_utf8(b).ok();
    let parsed = match col.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_INT24 | MYSQL_TYPE_YEAR => text()
            .and_then(|s| s.parse::<i128>().ok())
            .map(|i| Ok(i.into_pyobject(py)?.into_any())),
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => text()
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| Ok(f.into_pyobject(py)?.into_any())),
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            text().map(|s| t.decimal.bind(py).call1((s,)))
        }
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => text()
            .and_then(parse_date)
            .map(|(y, m, d)| t.date.bind(py).call1((y, m, d))),
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP2 => text()
            .and_then(parse_datetime)
            .map(|(y, mo, d, h, mi, s, us)| t.datetime.bind(py).call1((y, mo, d, h, mi, s, us))),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => text()
            .and_then(parse_time)
            .map(|us| t.timedelta.bind(py).call1((0, 0, us))),
        _ => None,
    };
    match parsed {
        Some(obj) => obj,
        // Zero dates and the like, which Python cannot represent, come back as text.
        None if col.character_set() == BINARY_CHARSET && is_string(col.column_type()) => {
            Ok(PyBytes::new(py, b).into_any())
        }
        // Text that is not UTF-8 comes back as the bytes it is, never mangled.
        None => Ok(match std::str::from_utf8(b) {
            Ok(s) => PyString::new(py, s).into_any(),
            Err(_) => PyBytes::new(py, b).into_any(),
        }),
    }
}

/// Columns whose values are strings of bytes rather than numbers or dates.
fn is_string(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BIT
            | MYSQL_TYPE_GEOMETRY
    )
}

/// PEP 249's seven items per column: name, type code (MySQL's column type number, as PyMySQL
/// gives), display size, internal size, precision, scale, null_ok.
pub fn description<'py>(
    py: Python<'py>,
    columns: &[mysql::Column],
) -> PyResult<Bound<'py, PyList>> {
    let items = columns.iter().map(|c| {
        let nullable = !c
            .flags()
            .contains(mysql::consts::ColumnFlags::NOT_NULL_FLAG);
        (
            c.name_str().into_owned(),
            c.column_type() as u8,
            None::<u32>,
            c.column_length(),
            None::<u32>,
            c.decimals(),
            nullable,
        )
    });
    PyList::new(py, items)
}

/// `(table, column, value)` from Python.
pub fn to_key(obj: &Bound<'_, PyAny>) -> PyResult<KeyCheck> {
    let t = obj
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 3)
        .ok_or_else(|| PyTypeError::new_err("key must be a (table, column, value) tuple"))?;
    let table: String = t.get_item(0)?.extract()?;
    let column: String = t.get_item(1)?.extract()?;
    Ok(KeyCheck::one(&table, &column, to_value(&t.get_item(2)?)?))
}
