//! A batch's keys, each once, in linear time: `mysql::Value` has `PartialEq` but no `Hash`,
//! so the keys are hashed by a borrowed form that is equal exactly when the values are.

use std::collections::HashSet;

use mysql::Value;

/// `Value` as a hashable key with `Value`'s own equality: floats by their bits, with -0.0
/// folded into 0.0 (the two are `==`). A NaN has no form: it equals nothing, not even itself,
/// so each one counts apart.
#[derive(PartialEq, Eq, Hash)]
enum Form<'a> {
    Null,
    Bytes(&'a [u8]),
    Int(i64),
    UInt(u64),
    Float(u32),
    Double(u64),
    Date(u16, u8, u8, u8, u8, u8, u32),
    Time(bool, u32, u8, u8, u8, u32),
}

fn form(v: &Value) -> Option<Form<'_>> {
    Some(match *v {
        Value::NULL => Form::Null,
        Value::Bytes(ref b) => Form::Bytes(b),
        Value::Int(i) => Form::Int(i),
        Value::UInt(u) => Form::UInt(u),
        Value::Float(f) if f.is_nan() => return None,
        Value::Double(d) if d.is_nan() => return None,
        // -0.0 == 0.0 though their bits differ.
        Value::Float(f) => Form::Float(if f == 0.0 { 0 } else { f.to_bits() }),
        Value::Double(d) => Form::Double(if d == 0.0 { 0 } else { d.to_bits() }),
        Value::Date(y, mo, d, h, mi, s, us) => Form::Date(y, mo, d, h, mi, s, us),
        Value::Time(neg, d, h, mi, s, us) => Form::Time(neg, d, h, mi, s, us),
    })
}

/// The first of each run of equal values (by `Value`'s `==`), in their order.
pub(super) fn first_of_each(values: &[Value]) -> impl Iterator<Item = &Value> {
    let mut seen = HashSet::with_capacity(values.len());
    values
        .iter()
        .filter(move |&v| form(v).map_or(true, |f| seen.insert(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `first_of_each` must agree with: the plain quadratic scan by `==`.
    fn by_scan(values: &[Value]) -> Vec<&Value> {
        let mut seen: Vec<&Value> = Vec::new();
        for v in values {
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen
    }

    #[test]
    fn equal_exactly_when_the_values_are() {
        let values = vec![
            Value::NULL,
            Value::NULL,
            Value::Bytes(b"T1".to_vec()),
            Value::Bytes(b"T1".to_vec()),
            Value::Bytes(b"t1".to_vec()),
            Value::Int(1),
            Value::UInt(1),
            Value::Int(1),
            Value::Double(0.0),
            Value::Double(-0.0),
            Value::Double(f64::NAN),
            Value::Double(f64::NAN),
            Value::Float(-0.0),
            Value::Float(0.0),
            Value::Float(f32::NAN),
            Value::Date(2026, 12, 5, 0, 0, 0, 0),
            Value::Date(2026, 12, 5, 0, 0, 0, 0),
            Value::Time(false, 0, 1, 0, 0, 0),
            Value::Time(true, 0, 1, 0, 0, 0),
        ];
        // The same elements of the slice (NaN makes comparing them by `==` useless).
        let linear = first_of_each(&values).map(|v| v as *const Value);
        let scan = by_scan(&values).into_iter().map(|v| v as *const Value);
        assert!(linear.eq(scan));
        assert_eq!(first_of_each(&values).count(), 13);
    }

    #[test]
    fn a_large_batch_keeps_the_first_of_each_in_order() {
        // 50,000 keys, each of 20,000 titles two or three times, the repeats spread out.
        let titles = 20_000;
        let values: Vec<Value> = (0..50_000)
            .map(|i| Value::Bytes(format!("Title{}", (i * 7) % titles).into_bytes()))
            .collect();
        let firsts: Vec<&Value> = first_of_each(&values).collect();
        assert_eq!(firsts.len(), titles);
        let expected: Vec<Value> = (0..titles)
            .map(|i| Value::Bytes(format!("Title{}", (i * 7) % titles).into_bytes()))
            .collect();
        assert!(firsts.iter().copied().eq(expected.iter()));
    }
}
