//! Arrow record batches as statement parameters: which Arrow types `insert_many` writes, and
//! each value read straight from its column's buffers (no Python object per value).
//!
//! Dates and timestamps become `DATE`/`DATETIME` values. A timestamp is an instant counted from
//! the Unix epoch in UTC; without a time zone its wall time is that count read as UTC, and
//! with one it is written as its UTC time (MySQL's DATETIME holds no zone: convert the frame's
//! column first for another zone's wall time). Nanoseconds are cut to microseconds, MySQL's
//! finest.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use mysql::Value;

use crate::core::error::{Error, Result};

const US_PER_DAY: i64 = 86_400_000_000;

/// Whether `insert_many` writes columns of this Arrow type.
pub fn supported(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal32(..)
            | Decimal64(..)
            | Decimal128(..)
            | Decimal256(..)
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | FixedSizeBinary(_)
            | Date32
            | Date64
            | Timestamp(..)
            | Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
            | Duration(_)
    )
}

/// The frame's column names, each of a type `insert_many` writes: an error naming the first
/// column that is not, before anything is written.
pub fn columns(schema: &Schema) -> Result<Vec<String>> {
    if schema.fields().is_empty() {
        return Err(Error::Config("the frame has no columns".into()));
    }
    for f in schema.fields() {
        if !supported(f.data_type()) {
            return Err(Error::Config(format!(
                "column {:?} of the frame has the Arrow type {}, which insert_many cannot write \
                 (cast it to a number, string, binary, date or timestamp type first)",
                f.name(),
                f.data_type()
            )));
        }
    }
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Microseconds since the epoch as a DATETIME value; years outside 0..=9999 are no date MySQL
/// takes.
pub fn datetime(us: i64) -> Option<Value> {
    let (days, of_day) = (us.div_euclid(US_PER_DAY), us.rem_euclid(US_PER_DAY));
    let (y, m, d) = civil(days);
    let y = u16::try_from(y).ok().filter(|y| *y <= 9999)?;
    let s = of_day / 1_000_000;
    Some(Value::Date(
        y,
        m,
        d,
        (s / 3600) as u8,
        (s / 60 % 60) as u8,
        (s % 60) as u8,
        (of_day % 1_000_000) as u32,
    ))
}

/// Microseconds as a TIME value (a time of day, or a signed duration).
pub fn time(us: i64) -> Value {
    let neg = us < 0;
    let us = us.unsigned_abs();
    let s = us / 1_000_000;
    Value::Time(
        neg,
        (s / 86_400) as u32,
        (s / 3600 % 24) as u8,
        (s / 60 % 60) as u8,
        (s % 60) as u8,
        (us % 1_000_000) as u32,
    )
}

fn to_us(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v.div_euclid(1_000),
    }
}

/// Value `i` of column `c` (of a supported type).
pub fn value(c: &dyn Array, i: usize) -> Option<Value> {
    use DataType::*;
    if c.is_null(i) {
        return Some(Value::NULL);
    }
    let int = |v: i64| Value::Int(v);
    Some(match c.data_type() {
        Null => Value::NULL,
        Boolean => int(i64::from(c.as_boolean().value(i))),
        Int8 => int(c.as_primitive::<Int8Type>().value(i).into()),
        Int16 => int(c.as_primitive::<Int16Type>().value(i).into()),
        Int32 => int(c.as_primitive::<Int32Type>().value(i).into()),
        Int64 => int(c.as_primitive::<Int64Type>().value(i)),
        UInt8 => int(c.as_primitive::<UInt8Type>().value(i).into()),
        UInt16 => int(c.as_primitive::<UInt16Type>().value(i).into()),
        UInt32 => int(c.as_primitive::<UInt32Type>().value(i).into()),
        UInt64 => Value::UInt(c.as_primitive::<UInt64Type>().value(i)),
        Float16 => Value::Float(c.as_primitive::<Float16Type>().value(i).to_f32()),
        Float32 => Value::Float(c.as_primitive::<Float32Type>().value(i)),
        Float64 => Value::Double(c.as_primitive::<Float64Type>().value(i)),
        Decimal32(..) => text(c.as_primitive::<Decimal32Type>().value_as_string(i)),
        Decimal64(..) => text(c.as_primitive::<Decimal64Type>().value_as_string(i)),
        Decimal128(..) => text(c.as_primitive::<Decimal128Type>().value_as_string(i)),
        Decimal256(..) => text(c.as_primitive::<Decimal256Type>().value_as_string(i)),
        Utf8 => bytes(c.as_string::<i32>().value(i).as_bytes()),
        LargeUtf8 => bytes(c.as_string::<i64>().value(i).as_bytes()),
        Utf8View => bytes(c.as_string_view().value(i).as_bytes()),
        Binary => bytes(c.as_binary::<i32>().value(i)),
        LargeBinary => bytes(c.as_binary::<i64>().value(i)),
        BinaryView => bytes(c.as_binary_view().value(i)),
        FixedSizeBinary(_) => bytes(c.as_fixed_size_binary().value(i)),
        Date32 => datetime(i64::from(c.as_primitive::<Date32Type>().value(i)) * US_PER_DAY)?,
        Date64 => datetime(
            c.as_primitive::<Date64Type>()
                .value(i)
                .div_euclid(86_400_000)
                .saturating_mul(US_PER_DAY),
        )?,
        Timestamp(unit, _) => datetime(to_us(timestamp(c, *unit, i), *unit))?,
        Time32(TimeUnit::Second) => time(to_us(
            c.as_primitive::<Time32SecondType>().value(i).into(),
            TimeUnit::Second,
        )),
        Time32(_) => time(to_us(
            c.as_primitive::<Time32MillisecondType>().value(i).into(),
            TimeUnit::Millisecond,
        )),
        Time64(TimeUnit::Microsecond) => time(c.as_primitive::<Time64MicrosecondType>().value(i)),
        Time64(_) => time(to_us(
            c.as_primitive::<Time64NanosecondType>().value(i),
            TimeUnit::Nanosecond,
        )),
        Duration(unit) => time(to_us(duration(c, *unit, i), *unit)),
        _ => return None,
    })
}

fn timestamp(c: &dyn Array, unit: TimeUnit, i: usize) -> i64 {
    match unit {
        TimeUnit::Second => c.as_primitive::<TimestampSecondType>().value(i),
        TimeUnit::Millisecond => c.as_primitive::<TimestampMillisecondType>().value(i),
        TimeUnit::Microsecond => c.as_primitive::<TimestampMicrosecondType>().value(i),
        TimeUnit::Nanosecond => c.as_primitive::<TimestampNanosecondType>().value(i),
    }
}

fn duration(c: &dyn Array, unit: TimeUnit, i: usize) -> i64 {
    match unit {
        TimeUnit::Second => c.as_primitive::<DurationSecondType>().value(i),
        TimeUnit::Millisecond => c.as_primitive::<DurationMillisecondType>().value(i),
        TimeUnit::Microsecond => c.as_primitive::<DurationMicrosecondType>().value(i),
        TimeUnit::Nanosecond => c.as_primitive::<DurationNanosecondType>().value(i),
    }
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn text(s: String) -> Value {
    Value::Bytes(s.into_bytes())
}

/// Row `i` of `batch` (whose index in the whole input is `index`, for the error).
pub fn row(batch: &RecordBatch, i: usize, index: usize) -> Result<Vec<Value>> {
    let schema = batch.schema();
    batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            value(c.as_ref(), i).ok_or_else(|| {
                Error::Config(format!(
                    "row {index}: the value of column {:?} is no date MySQL takes (years 0 to 9999)",
                    f.name()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
