//! What to do after each outcome of a statement on a node: the README's "Failure semantics"
//! table, as three pure decisions side by side — a statement on its own ([`statement`], an
//! autocommit statement or a transaction's START), a statement inside a transaction
//! ([`in_transaction`]), and a transaction's COMMIT ([`commit`]). The pieces in `cluster/run.rs`
//! apply them: the request loop over the nodes, and a transaction's statements and COMMIT on
//! its one node.

use std::time::Duration;

use mysql::Value;

use crate::core::failure::fault::{classify, said, Fault, Kind, NodeError, Phase, Said, Unfit};
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

/// What must be stopped before a write whose outcome is unknown is looked up by its key (or a
/// COMMIT by the caller's check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// The session that sent it, which may still commit it (its reply was lost): killed, its
    /// process gone, or its node evicted.
    Session,
    /// Its write set, which the node's replication may have handed to the others before the
    /// node refused the commit ([`Fault::Unsettled`]): the others have ordered or dropped it
    /// once their view no longer has the node.
    WriteSet,
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

/// What to do after a failed try (or one the watchdog stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The statement or the credentials are wrong: raise as this class, no failover (inside a
    /// transaction the attempt stays open for the body to decide; a COMMIT is rolled back).
    Raise(Kind),
    /// A duplicate key after an earlier lost reply: that write had committed. Success.
    Committed,
    /// Refused but not applied: back off and run it again, on this node or the next.
    Retry { same_node: bool },
    /// Refused too often: raise `RetriesExhausted`.
    GiveUp,
    /// Not sent, or a reply lost on a statement safe to repeat: take the node out, try the next.
    NextNode,
    /// The transaction's attempt is over, rolled back: run it again from START on a live node,
    /// after taking this node out when `node_down`.
    Replay { node_down: bool },
    /// The connection died after sending: ask the node, on a separate connection, whether it
    /// still answers, then decide again with its answer.
    AskNode,
    /// A reply lost (or a commit unsettled) on a write nothing can check: raise `Ambiguous` (a
    /// COMMIT: after its fence, unless the caller's check settles it).
    Ambiguous,
    /// A reply lost (or a commit unsettled) on a keyed write: fence what may still commit it
    /// ([`Pending`]), check the key; if it is absent, write again on another node, or (when the
    /// node is alive and the statement broke its own connection) raise `Broken`.
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
    /// What the server's words say beyond the fault (a duplicate key, a kill).
    pub said: Said,
    /// Whether the watchdog ended the statement (timeout, Ctrl-C, a silent node).
    pub ended: Ended,
    /// The node's answer after a lost connection (`Unknown` until [`Step::AskNode`] asked it).
    pub node: Liveness,
}

impl Failure {
    /// What `e` on a connect (`Phase::Connect`) or a statement, ended as `ended`, tells.
    pub fn of(phase: Phase, e: &NodeError, ended: Ended) -> Self {
        Failure {
            phase,
            fault: classify(e, phase),
            said: said(e),
            ended,
            // Cut by the watchdog because the node went silent: nothing to ask.
            node: match ended {
                Ended::NodeDead => Liveness::Dead,
                _ => Liveness::Unknown,
            },
        }
    }

    /// What its fence must stop before its outcome is looked up.
    pub fn pending(&self) -> Pending {
        match self.fault {
            Fault::Unsettled => Pending::WriteSet,
            _ => Pending::Session,
        }
    }

    /// The node has left the cluster's Primary component, or is dead: out of rotation, whatever
    /// happens to the statement.
    pub fn node_out(&self) -> bool {
        self.node == Liveness::Dead || self.fault == Fault::Unsettled
    }

    /// The watchdog stopped it, and its own error (if any) did not come first.
    fn stopped(&self) -> Option<Step> {
        match self.ended {
            Ended::Interrupted => Some(Step::Interrupted),
            // The kill's own error (or none): a refusal or a fatal error raised first stands.
            Ended::TimedOut
                if !matches!(self.fault, Fault::Fatal(_) | Fault::Refused(_))
                    || self.said == Said::Killed =>
            {
                Some(Step::TimedOut)
            }
            _ => None,
        }
    }
}

/// What the request went through before this try.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    /// An earlier try's reply was lost.
    pub was_ambiguous: bool,
    pub retries: u32,
    pub max_retries: u32,
}

/// A statement on its own: an autocommit statement (`write` says what a lost reply allows), or
/// a transaction's START.
pub fn statement(f: &Failure, write: &IfLost<'_>, h: &History) -> Step {
    if let Some(stopped) = f.stopped() {
        return stopped;
    }
    match (f.phase, f.fault) {
        (_, Fault::Fatal(_)) if h.was_ambiguous && f.said == Said::Duplicate => Step::Committed,
        (_, Fault::Fatal(kind)) => Step::Raise(kind),
        // Every node would refuse it as this one did.
        (_, Fault::Refused(Unfit::Statement)) => Step::Raise(Kind::Operational),
        // Before the statement was sent anything else means this node cannot serve now.
        (Phase::Connect, _)
        | (Phase::Statement, Fault::Unreachable | Fault::Refused(Unfit::Node)) => Step::NextNode,
        (Phase::Statement, Fault::Retry { .. }) if h.retries >= h.max_retries => Step::GiveUp,
        (Phase::Statement, Fault::Retry { same_node }) => Step::Retry { same_node },
        // Refused after it may have replicated: as lost on a dead node, whose fence is the
        // others' view (`Pending::WriteSet`).
        (Phase::Statement, Fault::Unsettled) => match write {
            IfLost::RunAgain => Step::NextNode,
            IfLost::Raise => Step::Ambiguous,
            IfLost::CheckKey(_) => Step::CheckKey { write_again: true },
        },
        (Phase::Statement, Fault::Lost) => match (f.node, write) {
            (Liveness::Unknown, _) => Step::AskNode,
            // The node answers: the statement broke its own connection. Never carry it on.
            (Liveness::Alive, IfLost::RunAgain) => Step::Broken,
            (Liveness::Alive, IfLost::Raise) => Step::Ambiguous,
            (Liveness::Alive, IfLost::CheckKey(_)) => Step::CheckKey { write_again: false },
            (Liveness::Dead, IfLost::RunAgain) => Step::NextNode,
            (Liveness::Dead, IfLost::Raise) => Step::Ambiguous,
            (Liveness::Dead, IfLost::CheckKey(_)) => Step::CheckKey { write_again: true },
        },
    }
}

/// A statement inside a transaction, before COMMIT: whatever interrupts the attempt rolls it
/// back, so it is replayed whole rather than the statement retried.
pub fn in_transaction(f: &Failure) -> Step {
    match (f.ended, f.fault) {
        // Stopped by the watchdog, whatever the statement answered: the attempt ends.
        (Ended::Interrupted, _) => Step::Interrupted,
        (Ended::TimedOut, _) => Step::TimedOut,
        (Ended::NodeDead, _) => Step::Replay { node_down: true },
        (Ended::Itself, Fault::Fatal(kind)) => Step::Raise(kind),
        (Ended::Itself, Fault::Refused(Unfit::Statement)) => Step::Raise(Kind::Operational),
        // Unsettled before COMMIT: a streaming-replication fragment, which the others roll
        // back once its node has left.
        (Ended::Itself, Fault::Retry { .. } | Fault::Refused(Unfit::Node) | Fault::Unsettled) => {
            Step::Replay { node_down: false }
        }
        // The connection died before COMMIT, so the server rolls back.
        (Ended::Itself, Fault::Lost | Fault::Unreachable) => match f.node {
            Liveness::Unknown => Step::AskNode,
            // The node answers: the statement broke it; a replay would break it again.
            Liveness::Alive => Step::Broken,
            Liveness::Dead => Step::Replay { node_down: true },
        },
    }
}

/// A transaction's COMMIT (never stopped by the watchdog's time limit or Ctrl-C: that would
/// only make it ambiguous). A refusal can be replayed; a lost reply may have committed.
pub fn commit(f: &Failure) -> Step {
    match f.fault {
        Fault::Retry { .. } | Fault::Refused(Unfit::Node) => Step::Replay { node_down: false },
        Fault::Fatal(kind) => Step::Raise(kind),
        Fault::Refused(Unfit::Statement) => Step::Raise(Kind::Operational),
        Fault::Lost | Fault::Unreachable | Fault::Unsettled => Step::Ambiguous,
    }
}

mod distinct;

#[cfg(test)]
pub(crate) mod tests;
