//! The request loop: what to do after each outcome of a statement on a node (a pure decision,
//! [`decide`]), and the loop that applies it over the nodes a [`Backend`] offers (`run.rs`). The
//! backend is the seam: `Cluster` runs it on real nodes, the unit tests on scripted outcomes.

use std::time::Duration;

use mysql::{Error as DbError, Value};

use crate::core::error::Error;
use crate::core::failure::fault::{describe, Fault, Kind, Phase, ER_DUP_ENTRY};
use crate::core::failure::liveness::{Ended, Liveness};
use crate::core::sql::{quote_ident, quote_table};

/// What to do when a statement's reply is lost on a dead node (the README's "Failure
/// semantics").
#[derive(Clone, Copy, Debug)]
pub enum IfLost<'a> {
    /// Run it again on another node: a read, or a write the caller declared idempotent.
    RunAgain,
    /// A write whose rows are found by a unique key: looked up (after the fence) before writing
    /// again.
    CheckKey(&'a KeyCheck),
    /// Any other write: its outcome is unknown, raise `Ambiguous`.
    Raise,
}

/// How to find out whether a write committed: the rows `table.column IN values` exist. One
/// value for a single-row write; a multi-row INSERT's keys, which commit all or none.
#[derive(Clone, Debug)]
pub struct KeyCheck {
    pub table: String,
    pub column: String,
    pub values: Vec<Value>,
}

impl KeyCheck {
    pub fn one(table: &str, column: &str, value: Value) -> Self {
        KeyCheck {
            table: table.to_owned(),
            column: column.to_owned(),
            values: vec![value],
        }
    }

    /// `title='Title7'`, or `title='T0'..'T99' (100 keys)`, for events and logs.
    pub(crate) fn describe(&self) -> String {
        let sql = |v: Option<&Value>| v.map_or_else(|| "?".into(), |v| v.as_sql(true));
        match self.values.as_slice() {
            [one] => format!("{}={}", self.column, one.as_sql(true)),
            many => format!(
                "{}={}..{} ({} keys)",
                self.column,
                sql(many.first()),
                sql(many.last()),
                many.len()
            ),
        }
    }

    /// How many of the keys exist, counted once each.
    pub(crate) fn sql(&self) -> String {
        let marks = vec!["?"; self.values.len().max(1)].join(", ");
        format!(
            "SELECT COUNT(DISTINCT {col}) FROM {} WHERE {col} IN ({marks})",
            quote_table(&self.table),
            col = quote_ident(&self.column)
        )
    }

    /// The keys, each once: what the check must find all of, or none of.
    pub(crate) fn distinct(&self) -> u64 {
        distinct::first_of_each(&self.values).count() as u64
    }
}

/// What one statement took on its way to its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Took {
    /// Retries after retryable server errors (conflicts, not-ready nodes).
    pub retries: u32,
    /// Nodes left because of a failure while running this statement.
    pub failovers: u32,
    /// The policy's first choice was not the node that ran it (down, or failed).
    pub rerouted: bool,
    /// Its reply was lost and it was found committed (by a key check, or a duplicate key on
    /// the retry): the README's "ambiguous resolved".
    pub resolved: bool,
}

/// The result of one statement and how it got there.
#[derive(Debug)]
pub struct Outcome<T> {
    /// `None` when a keyed write's reply was lost and it was found committed.
    pub value: Option<T>,
    /// Index of the node that ran it.
    pub node: usize,
    pub took: Took,
    /// The statement returned, but only after it was killed for its time limit (how long it
    /// ran): some statements (`SLEEP`) end normally when killed. The caller decides whether
    /// that result stands (a write that changed rows had committed) or is a timeout.
    pub killed_after: Option<Duration>,
    /// The last node that failed under this statement, if any.
    pub(crate) failed_on: Option<usize>,
}

/// What the loop does after a statement (or a connect) failed on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The statement or the credentials are wrong: raise as this class, no failover.
    Raise(Kind),
    /// A duplicate key after an earlier lost reply: that write had committed. Success.
    Committed,
    /// Refused but not applied: back off and run it again, on this node or the next.
    Retry { same_node: bool },
    /// Refused too often: raise `RetriesExhausted`.
    GiveUp,
    /// Not sent, or a reply lost on a statement safe to repeat: take the node out, try the next.
    NextNode,
    /// A reply lost on a write nothing can check: raise `Ambiguous`.
    Ambiguous,
    /// A reply lost on a keyed write: fence the session, check the key; if it is absent, write
    /// again on another node, or (when the node is alive and the statement broke its own
    /// connection) raise `Broken`.
    CheckKey { write_again: bool },
    /// The statement broke the connection of a node that still answers: raise `Broken`.
    Broken,
    /// Killed on the server for `statement_timeout`: raise `TimedOut`.
    TimedOut,
    /// Stopped for Ctrl-C: raise `Interrupted`.
    Interrupted,
}

/// What happened to one try of a statement on a node.
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    pub phase: Phase,
    pub fault: Fault,
    pub code: Option<u16>,
    /// Whether the watchdog ended the statement (timeout, Ctrl-C, a silent node).
    pub ended: Ended,
    /// The node's liveness answer after a lost connection (`Unknown` when not asked).
    pub node: Liveness,
}

/// What the request went through before this try.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    /// An earlier try's reply was lost.
    pub was_ambiguous: bool,
    pub retries: u32,
    pub max_retries: u32,
}

/// The decision after a failed try of `write`.
pub fn decide(f: &Failure, write: &IfLost<'_>, h: &History) -> Step {
    match f.ended {
        Ended::Interrupted => return Step::Interrupted,
        // The kill's own error (or none): anything else the statement raised first stands.
        Ended::TimedOut
            if !matches!(f.fault, Fault::Fatal(_)) || f.code == Some(ER_QUERY_INTERRUPTED) =>
        {
            return Step::TimedOut
        }
        _ => {}
    }
    match (f.phase, f.fault) {
        (_, Fault::Fatal(_)) if h.was_ambiguous && f.code == Some(ER_DUP_ENTRY) => Step::Committed,
        (_, Fault::Fatal(kind)) => Step::Raise(kind),
        // Before the statement was sent anything else means this node cannot serve now.
        (Phase::Connect, _) | (Phase::Statement, Fault::Unreachable) => Step::NextNode,
        (Phase::Statement, Fault::Retry { .. }) if h.retries >= h.max_retries => Step::GiveUp,
        (Phase::Statement, Fault::Retry { same_node }) => Step::Retry { same_node },
        (Phase::Statement, Fault::Lost) => match (f.node, write) {
            // The node answers: the statement broke its own connection. Never carry it on.
            (Liveness::Alive, IfLost::RunAgain) => Step::Broken,
            (Liveness::Alive, IfLost::Raise) => Step::Ambiguous,
            (Liveness::Alive, IfLost::CheckKey(_)) => Step::CheckKey { write_again: false },
            (_, IfLost::RunAgain) => Step::NextNode,
            (_, IfLost::Raise) => Step::Ambiguous,
            (_, IfLost::CheckKey(_)) => Step::CheckKey { write_again: true },
        },
    }
}

/// The server's answer to a statement stopped by `KILL QUERY`.
const ER_QUERY_INTERRUPTED: u16 = 1317;

/// A driver or server error as the core's error, with the PEP 249 class decided.
pub(crate) fn server_error(node: &str, e: &DbError, kind: Kind) -> Error {
    match e {
        DbError::MySqlError(m) => Error::Server {
            node: node.to_owned(),
            code: m.code,
            state: m.state.clone(),
            message: m.message.clone(),
            kind,
        },
        other => Error::Driver {
            node: node.to_owned(),
            message: describe(other),
            kind,
        },
    }
}

mod distinct;

#[cfg(test)]
pub(crate) mod tests;
