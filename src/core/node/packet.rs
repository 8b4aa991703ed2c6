//! How large a statement is on the wire, so that one the node would refuse is refused before
//! it is sent: a server that gets a packet over its `max_allowed_packet` drops the connection,
//! which would look like a dead node and send the same poison to the next one.

use mysql::{Params, Value};

use crate::core::failure::fault::Refusal;

/// The largest packet the statement needs: the SQL text (COM_QUERY, or COM_STMT_PREPARE), or
/// the execution with its parameters (COM_STMT_EXECUTE), whichever is larger.
pub fn wire_size(sql: &str, params: &Params) -> u64 {
    let text = 1 + sql.len() as u64;
    let values: Vec<&Value> = match params {
        Params::Empty => return text,
        Params::Positional(v) => v.iter().collect(),
        Params::Named(m) => m.values().collect(),
    };
    let n = values.len() as u64;
    // Command, statement id, flags, iteration count; the null bitmap; two type bytes each.
    let header = 1 + 4 + 1 + 4 + n.div_ceil(8) + 1 + 2 * n;
    text.max(header + values.iter().map(|v| value_size(v)).sum::<u64>())
}

fn value_size(v: &Value) -> u64 {
    match v {
        Value::NULL => 0,
        Value::Bytes(b) => lenenc(b.len() as u64) + b.len() as u64,
        Value::Float(_) => 4,
        Value::Int(_) | Value::UInt(_) | Value::Double(_) => 8,
        Value::Date(..) => 12,
        Value::Time(..) => 13,
    }
}

/// The length prefix of a length-encoded string.
fn lenenc(len: u64) -> u64 {
    match len {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 9,
    }
}

/// Refuses a statement over `limit` (0: the limit is not known yet). Nothing is sent, so
/// the refusal is raised at once (see `failure/decide.rs`), neither failed over nor ambiguous.
pub fn check(sql: &str, params: &Params, limit: u64) -> Result<(), Refusal> {
    let size = wire_size(sql, params);
    if limit == 0 || size <= limit {
        return Ok(());
    }
    Err(Refusal::PacketTooLarge { size, limit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::failure::fault::{classify, Fault, Phase, Unfit};

    #[test]
    fn text_statements_count_their_sql() {
        assert_eq!(wire_size("SELECT 1", &Params::Empty), 9);
    }

    #[test]
    fn parameters_count_their_encoded_size() {
        let blob = Value::Bytes(vec![0; 70_000]);
        let p = Params::Positional(vec![blob, Value::Int(1), Value::NULL]);
        // header 1+4+1+4 + bitmap 1 + bound flag 1 + types 6; blob 4+70000; int 8; null 0
        assert_eq!(
            wire_size("INSERT INTO t VALUES (?, ?, ?)", &p),
            18 + 70_004 + 8
        );
        // A long statement with small parameters is as large as its text.
        let long = format!("SELECT ? /* {} */", "x".repeat(1000));
        assert_eq!(
            wire_size(&long, &Params::Positional(vec![Value::Int(1)])),
            1 + long.len() as u64
        );
    }

    #[test]
    fn oversize_is_refused_before_sending_as_the_statements_fault() {
        let p = Params::Positional(vec![Value::Bytes(vec![0; 2000])]);
        assert!(
            check("INSERT INTO t VALUES (?)", &p, 0).is_ok(),
            "no limit known"
        );
        assert!(check("INSERT INTO t VALUES (?)", &p, 4096).is_ok());
        let e = check("INSERT INTO t VALUES (?)", &p, 1024).unwrap_err();
        assert!(
            e.to_string().contains("max_allowed_packet (1024 bytes)"),
            "{e}"
        );
        assert_eq!(
            classify(&e.into(), Phase::Statement),
            Fault::Refused(Unfit::Statement)
        );
    }
}
