//! Running one statement on a connection: rows affected, or the rows of its first result set.

use mysql::prelude::{Protocol, Queryable};
use mysql::{Column, Conn, Error as DbError, Params, QueryResult, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub affected: u64,
    pub last_insert_id: Option<u64>,
    /// The rows an UPDATE matched, changed or not (what a connection with CLIENT_FOUND_ROWS
    /// reports as affected); None for other statements.
    pub matched: Option<u64>,
}

/// The rows an UPDATE matched, from its OK packet's info (`Rows matched: 3  Changed: 1
/// Warnings: 0`): what CLIENT_FOUND_ROWS would count, without setting the flag, which would
/// change every connection's affected rows (MultiMaster.execute's rowcount with them).
pub fn matched_rows(info: &str) -> Option<u64> {
    let rest = info.strip_prefix("Rows matched:")?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

pub struct Rows {
    /// The result's columns, also when it has no rows (a DB-API `description` needs them).
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Runs a statement without a result set: the text protocol without parameters (some
/// statements cannot be prepared), a prepared statement with them.
pub(crate) fn exec_on(
    conn: &mut Conn,
    sql: &str,
    params: &Params,
) -> std::result::Result<Exec, DbError> {
    match params {
        Params::Empty => conn.query_drop(sql)?,
        p => conn.exec_drop(sql, p.clone())?,
    }
    Ok(Exec {
        affected: conn.affected_rows(),
        last_insert_id: Some(conn.last_insert_id()).filter(|&id| id != 0),
        matched: matched_rows(&conn.info_str()),
    })
}

/// Runs a statement and collects its rows, as [`exec_on`] chooses the protocol.
pub(crate) fn rows_on(
    conn: &mut Conn,
    sql: &str,
    params: &Params,
) -> std::result::Result<Rows, DbError> {
    match params {
        Params::Empty => first_set(conn.query_iter(sql)?),
        p => first_set(conn.exec_iter(sql, p.clone())?),
    }
}

/// The first result set's columns and rows (what `Queryable::query` collects, plus columns).
fn first_set<P: Protocol>(
    mut result: QueryResult<'_, '_, '_, P>,
) -> std::result::Result<Rows, DbError> {
    let columns = result.columns().as_ref().to_vec();
    let mut rows = Vec::new();
    if let Some(set) = result.iter() {
        for row in set {
            rows.push(row?);
        }
    }
    Ok(Rows { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_rows_of_an_update() {
        assert_eq!(
            matched_rows("Rows matched: 3  Changed: 1  Warnings: 0"),
            Some(3)
        );
        assert_eq!(
            matched_rows("Rows matched: 0  Changed: 0  Warnings: 0"),
            Some(0)
        );
        assert_eq!(matched_rows("Records: 3  Duplicates: 0  Warnings: 0"), None);
        assert_eq!(matched_rows(""), None);
    }
}
