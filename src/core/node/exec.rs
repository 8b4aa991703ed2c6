//! Running one statement on a connection: rows affected, or the rows of its first result set.

use mysql::prelude::{Protocol, Queryable};
use mysql::{Column, Conn, Error as DbError, Params, QueryResult, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub affected: u64,
    pub last_insert_id: Option<u64>,
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
