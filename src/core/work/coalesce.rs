//! Coalesced keyed INSERTs (`AsyncMultiMaster(coalesce=True)`): concurrent calls of one
//! single-row `INSERT ... VALUES (?, ...)`, each with its key, that wait for a free slot are
//! sent together as one multi-row INSERT: one statement, one commit, one certification on
//! Galera, where each commit costs the server more than each row (3 rows a statement: 2.1x the
//! rows per second of single rows, measured with asyncmy on the lab). Only calls that wait are
//! grouped: a pool thread takes every waiting call of one statement when it gets to them, so a
//! call that finds a thread free runs alone, as without coalescing, and none waits to be
//! grouped.
//!
//! The rules that keep each caller's answer its own:
//! - the group's rows commit together or not at all (one statement);
//! - a server's refusal of the group (a duplicate key, a bad value, too large) means nothing
//!   was written: each member then runs alone and gets its own answer;
//! - a lost reply is settled by the members' keys, as a batch of `insert_many` is;
//! - any other error (timed out, all nodes down, closed) is every member's.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use mysql::{Params, Value};

use crate::core::cancel::Cancel;
use crate::core::cluster::{Cluster, Exec, IfLost, Outcome};
use crate::core::error::{Error, Result};
use crate::core::failure::decide::KeyCheck;
use crate::core::sync::lock;

/// The most rows one coalesced statement carries.
pub const MAX_GROUP: usize = 32;

/// The most placeholders a prepared statement takes (the protocol's two-byte count).
const MAX_PLACEHOLDERS: usize = 65_535;

/// A single-row `INSERT INTO t (cols) VALUES (?, 'x', ...)` taken apart: the text up to and
/// including `VALUES`, its one row as written, and the number of placeholders in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    head: String,
    row: String,
    width: usize,
}

impl Shape {
    /// The statement's shape if it is one this module may group: `INSERT INTO`, a table and
    /// columns without placeholders, quotes or comments, `VALUES` and one row of placeholders
    /// and constants (numbers, quoted strings, `NULL`, `TRUE`, `FALSE`, `DEFAULT`) only, nothing
    /// after it: no `ON DUPLICATE KEY`, `RETURNING`, `IGNORE`, `SELECT` or function, whose
    /// per-row answers or values a multi-row statement would not give.
    pub fn of(sql: &str) -> Option<Shape> {
        let sql = sql.trim();
        let sql = sql.strip_suffix(';').unwrap_or(sql).trim_end();
        let upper = sql.to_ascii_uppercase();
        let mut words = upper.split_ascii_whitespace();
        if words.next() != Some("INSERT") || words.next() != Some("INTO") {
            return None;
        }
        // The first word VALUES outside a quoted name: the row's strings may say anything.
        let end = after_values(&upper)?;
        let (head, row) = sql.split_at(end);
        let row = row.trim();
        if head.contains(['?', '\'', '"', ';', '#'])
            || head.contains("--")
            || head.contains("/*")
            || upper[..end].contains("SELECT")
        {
            return None;
        }
        let width = row_placeholders(row)?;
        Some(Shape {
            head: head.to_owned(),
            row: row.to_owned(),
            width,
        })
    }

    /// Placeholders in one row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The statement for `rows` rows.
    pub fn sql(&self, rows: usize) -> String {
        format!("{} {}", self.head, vec![self.row.as_str(); rows].join(", "))
    }

    /// How many of `waiting` rows the next statement takes: a power of two (few distinct
    /// statements, each prepared once per connection), at most [`MAX_GROUP`] and within the
    /// protocol's placeholders.
    pub fn take(&self, waiting: usize) -> usize {
        let most = waiting
            .min(MAX_GROUP)
            .min(MAX_PLACEHOLDERS / self.width.max(1))
            .max(1);
        1 << most.ilog2()
    }
}

const VALUES: &str = "VALUES";

/// Just after the keyword `VALUES`'s first appearance in `upper` (the statement in capitals):
/// a word of its own (after a space or a closing parenthesis, before a space or an opening
/// one), outside a `quoted` name.
fn after_values(upper: &str) -> Option<usize> {
    let mut quoted = false;
    let mut before = ' ';
    for (i, c) in upper.char_indices() {
        match c {
            '`' => quoted = !quoted,
            'V' if !quoted
                && (before.is_ascii_whitespace() || before == ')')
                && upper[i..].starts_with(VALUES)
                && upper[i + VALUES.len()..]
                    .starts_with(|n: char| n.is_ascii_whitespace() || n == '(') =>
            {
                return Some(i + VALUES.len())
            }
            _ => {}
        }
        before = c;
    }
    None
}

/// The placeholders in `row`, if it is `(item, ...)` and nothing more, each item a
/// placeholder or a constant.
fn row_placeholders(row: &str) -> Option<usize> {
    let mut rest = row.strip_prefix('(')?.trim_start();
    let mut width = 0;
    loop {
        rest = if let Some(after) = rest.strip_prefix('?') {
            width += 1;
            after
        } else if rest.starts_with('\'') {
            after_string(rest)?
        } else {
            let end = rest
                .find(|c: char| c == ',' || c == ')' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let word = rest[..end].to_ascii_uppercase();
            let number = word.parse::<f64>().is_ok() && !word.contains(['I', 'N']);
            if !(number || ["NULL", "TRUE", "FALSE", "DEFAULT"].contains(&word.as_str())) {
                return None;
            }
            &rest[end..]
        }
        .trim_start();
        match rest.as_bytes().first()? {
            b',' => rest = rest[1..].trim_start(),
            b')' if rest.len() == 1 => return Some(width),
            _ => return None,
        }
    }
}

/// What follows the single-quoted string `s` starts with (`''` and backslash escapes inside).
fn after_string(s: &str) -> Option<&str> {
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '\'' if s[i + 1..].starts_with('\'') => {
                chars.next();
            }
            '\'' => return Some(&s[i + 1..]),
            _ => {}
        }
    }
    None
}

/// What calls must share to be grouped: the statement, the key's table and column, the time
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    pub sql: String,
    pub table: String,
    pub column: String,
    pub limit: Option<Duration>,
}

/// One call's row: its parameters, its key's value, its own cancel (used when it runs alone).
pub struct Row {
    pub params: Vec<Value>,
    pub key: Value,
    pub cancel: Cancel,
}

/// Calls waiting to be grouped, by signature, in arrival order; `M` is a call (its row and
/// whatever its answer goes back through).
pub struct Waiting<M> {
    groups: Mutex<HashMap<Signature, Vec<(u64, M)>>>,
}

impl<M> Default for Waiting<M> {
    fn default() -> Self {
        Waiting {
            groups: Mutex::default(),
        }
    }
}

impl<M> Waiting<M> {
    /// Adds call `id`; true when none of its signature was waiting: the caller then queues a
    /// runner for the signature (a runner queued earlier will take this call otherwise).
    pub fn join(&self, sig: &Signature, id: u64, call: M) -> bool {
        let mut groups = lock(&self.groups);
        // A signature's calls are removed with its last one: one found is not empty.
        if let Some(calls) = groups.get_mut(sig) {
            calls.push((id, call));
            return false;
        }
        groups.insert(sig.clone(), vec![(id, call)]);
        true
    }

    /// The next group of `sig`'s calls (`take(waiting)` of them, oldest first) and whether
    /// some are still waiting (the caller then queues another runner).
    pub fn take(&self, sig: &Signature, take: impl Fn(usize) -> usize) -> (Vec<(u64, M)>, bool) {
        let mut groups = lock(&self.groups);
        let Some(calls) = groups.get_mut(sig) else {
            return (Vec::new(), false);
        };
        let n = take(calls.len()).min(calls.len());
        let group: Vec<_> = calls.drain(..n).collect();
        let more = !calls.is_empty();
        if !more {
            groups.remove(sig);
        }
        (group, more)
    }

    /// Takes call `id` out if it is still waiting (it then never runs), and gives it back.
    pub fn withdraw(&self, id: u64) -> Option<M> {
        let mut groups = lock(&self.groups);
        let (sig, at) = groups.iter().find_map(|(sig, calls)| {
            let at = calls.iter().position(|(i, _)| *i == id)?;
            Some((sig.clone(), at))
        })?;
        let calls = groups.get_mut(&sig)?;
        let (_, call) = calls.remove(at);
        if calls.is_empty() {
            groups.remove(&sig);
        }
        Some(call)
    }

    /// Every waiting call of `sig` (the pool closed: they are answered with its error).
    pub fn take_all(&self, sig: &Signature) -> Vec<(u64, M)> {
        lock(&self.groups).remove(sig).unwrap_or_default()
    }
}

/// Runs `rows` (in order) as one statement of `shape`, and answers each: alone when there is
/// one, or when the server refused the group (see the module's rules).
pub fn run_group(
    cluster: &Cluster,
    sig: &Signature,
    shape: &Shape,
    rows: &[&Row],
) -> Vec<Result<Outcome<Exec>>> {
    let alone = |row: &Row| {
        let key = KeyCheck::one(&sig.table, &sig.column, row.key.clone());
        let params = Params::Positional(row.params.clone());
        cluster.execute(&sig.sql, &params, IfLost::CheckKey(&key), None, &row.cancel)
    };
    match rows {
        // Every call withdrawn before its runner started: nothing to send.
        [] => return Vec::new(),
        [row] => return vec![alone(row)],
        _ => {}
    }
    let key = KeyCheck {
        table: sig.table.clone(),
        column: sig.column.clone(),
        values: rows.iter().map(|r| r.key.clone()).collect(),
    };
    let params = Params::Positional(rows.iter().flat_map(|r| r.params.clone()).collect());
    // Nobody's own cancel: one member's cancellation must not kill its neighbours' rows.
    let cancel = Cancel::new().with_limit(sig.limit);
    let sql = shape.sql(rows.len());
    match cluster.execute(&sql, &params, IfLost::CheckKey(&key), None, &cancel) {
        Ok(out) => rows.iter().map(|_| Ok(share(&out))).collect(),
        Err(e) if nothing_written(&e) => rows.iter().map(|r| alone(r)).collect(),
        Err(e) => rows.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// One member's part of the group's outcome: its one row, without an insert id (a multi-row
/// INSERT reports only its first row's).
fn share(out: &Outcome<Exec>) -> Outcome<Exec> {
    Outcome {
        value: out.value.as_ref().map(|_| Exec {
            affected: 1,
            last_insert_id: None,
            matched: None,
        }),
        node: out.node,
        took: out.took,
        killed_after: out.killed_after,
        failed_on: out.failed_on,
    }
}

/// The group's statement was refused as a whole before or when it ran, so none of its rows
/// was written and each may run alone: the server's error for the statement (a duplicate key,
/// a bad value, a conflict it rolled back), or the library's refusal before sending it.
pub(crate) fn nothing_written(e: &Error) -> bool {
    matches!(
        e,
        Error::Server { .. } | Error::Refused { .. } | Error::Driver { .. }
    )
}

#[cfg(test)]
mod tests;
