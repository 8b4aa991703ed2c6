use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    LargeStringArray, StringViewArray, TimestampMicrosecondArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow_schema::{Field, Fields};

use super::*;

#[test]
fn days_are_civil_dates_both_sides_of_the_epoch() {
    assert_eq!(civil(0), (1970, 1, 1));
    assert_eq!(civil(-1), (1969, 12, 31));
    assert_eq!(civil(10_680), (1999, 3, 30));
    assert_eq!(civil(11_016), (2000, 2, 29), "2000 is a leap year");
    assert_eq!(civil(11_017), (2000, 3, 1));
    assert_eq!(civil(-719_528), (0, 1, 1));
}

#[test]
fn timestamps_are_utc_datetimes_to_the_microsecond() {
    assert_eq!(
        datetime(922_790_096_123_456),
        Some(Value::Date(1999, 3, 30, 10, 34, 56, 123_456))
    );
    assert_eq!(
        datetime(-1),
        Some(Value::Date(1969, 12, 31, 23, 59, 59, 999_999))
    );
    assert_eq!(datetime(i64::MAX), None, "beyond year 9999");
    assert_eq!(time(-90_061_000_001), Value::Time(true, 1, 1, 1, 1, 1));
}

#[test]
fn every_value_from_its_column() {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(-5), None])),
        Arc::new(UInt64Array::from(vec![u64::MAX, 1])),
        Arc::new(Float64Array::from(vec![1.5, 2.0])),
        Arc::new(BooleanArray::from(vec![true, false])),
        Arc::new(LargeStringArray::from(vec!["é", "b"])),
        Arc::new(StringViewArray::from(vec![
            "a string longer than twelve bytes",
            "v",
        ])),
        Arc::new(
            Decimal128Array::from(vec![12_345, -5])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(Date32Array::from(vec![10_680, 0])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![922_790_096_000_001, 0]).with_timezone("+05:00"),
        ),
        Arc::new(TimestampNanosecondArray::from(vec![1_999, 0])),
    ];
    let fields: Fields = cols
        .iter()
        .enumerate()
        .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    assert_eq!(columns(&batch.schema()).unwrap().len(), 10);
    let r = row(&batch, 0, 0).unwrap();
    assert_eq!(
        r,
        vec![
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Double(1.5),
            Value::Int(1),
            Value::Bytes("é".into()),
            Value::Bytes("a string longer than twelve bytes".into()),
            Value::Bytes(b"123.45".to_vec()),
            Value::Date(1999, 3, 30, 0, 0, 0, 0),
            // The zone is the display's: the instant is written as its UTC time.
            Value::Date(1999, 3, 30, 10, 34, 56, 1),
            Value::Date(1970, 1, 1, 0, 0, 0, 1),
        ]
    );
    assert_eq!(row(&batch, 1, 1).unwrap()[0], Value::NULL);
    assert_eq!(
        row(&batch, 1, 1).unwrap()[6],
        Value::Bytes(b"-0.05".to_vec())
    );
}

#[test]
fn an_unsupported_type_is_named_with_its_column() {
    let schema = Schema::new(vec![
        Field::new("ok", DataType::Int32, false),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]);
    let e = columns(&schema).unwrap_err().to_string();
    assert!(
        e.contains("column \"tags\" of the frame has the Arrow type List"),
        "{e}"
    );
    let e = columns(&Schema::empty()).unwrap_err().to_string();
    assert!(e.contains("the frame has no columns"), "{e}");
}
