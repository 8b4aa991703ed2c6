//! Multi-statement transactions pinned to one node, replayed on a live node when the database
//! interrupts them before COMMIT (a conflict, a lost connection).

use std::sync::{Arc, Mutex, MutexGuard};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError, Params, Row};

use crate::core::cancel::Cancel;
use crate::core::cluster::{exec_on, rows_on, Cluster, Exec, IfLost};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::{jitter, Backoff};
use crate::core::failure::decide::server_error;
use crate::core::failure::fault::{classify, describe, Fault, Kind, Phase};
use crate::core::failure::liveness::{Ended, Liveness, Session};
use crate::core::node::Node;
use crate::core::sync::lock;

struct State {
    node: Arc<Node>,
    idx: usize,
    /// `None` once the transaction has ended or its connection was lost.
    conn: Option<Conn>,
    session: Session,
    /// Set when the database interrupted this attempt in a way a replay can fix.
    interrupted: Option<Error>,
}

/// One attempt of a transaction: a handle the caller's code runs statements through.
/// Cloning shares the attempt; once it has ended every statement raises.
#[derive(Clone)]
pub struct Tx {
    cluster: Cluster,
    /// The call's Ctrl-C and statement time limit, for every statement of the attempt.
    cancel: Cancel,
    state: Arc<Mutex<State>>,
    pub attempt: u32,
}

/// How an attempt's COMMIT ended.
pub(crate) enum Commit {
    Done,
    /// Refused and rolled back (a certification conflict): run the body again.
    Replay(Error),
    /// The connection died during COMMIT: it may or may not have committed.
    Ambiguous(Error),
    Fatal(Error),
}

/// What a failed statement inside a transaction means for the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// The statement is wrong: raise it; the transaction stays open for the body to decide.
    Raise(Kind),
    /// The server rolled the attempt back or cannot serve it: replay on a live node.
    Replay,
    /// The connection died before COMMIT, so the server rolls back: take the node out and
    /// replay.
    Lost,
    /// The connection died but its node still answers: the statement broke it (rolled back);
    /// a replay would break it again, so raise.
    Broken,
    /// Killed for `statement_timeout`, whatever it answered: the attempt ends, rolled back.
    TimedOut,
    /// Stopped by Ctrl-C, whatever it answered: the attempt ends and never reaches COMMIT.
    Stopped,
}

/// What a failed (or stopped) statement means for its attempt: `ended` says whether the
/// watchdog stopped it, `node` whether its node still answers after a lost connection.
pub(crate) fn on_statement_error(fault: Fault, ended: Ended, node: Liveness) -> Interrupt {
    match (ended, fault) {
        (Ended::Interrupted, _) => Interrupt::Stopped,
        (Ended::TimedOut, _) => Interrupt::TimedOut,
        (Ended::NodeDead, _) => Interrupt::Lost,
        (Ended::Itself, Fault::Fatal(kind)) => Interrupt::Raise(kind),
        (Ended::Itself, Fault::Retry { .. }) => Interrupt::Replay,
        (Ended::Itself, Fault::Lost | Fault::Unreachable) if node == Liveness::Alive => {
            Interrupt::Broken
        }
        (Ended::Itself, Fault::Lost | Fault::Unreachable) => Interrupt::Lost,
    }
}

/// What a failed COMMIT means: a refusal can be replayed, a lost reply is ambiguous.
pub(crate) fn on_commit_error(fault: Fault) -> CommitError {
    match fault {
        Fault::Retry { .. } => CommitError::Replay,
        Fault::Fatal(kind) => CommitError::Fatal(kind),
        Fault::Lost | Fault::Unreachable => CommitError::Ambiguous,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommitError {
    Replay,
    Fatal(Kind),
    Ambiguous,
}

/// A committed transaction: the body's value and what it took.
#[derive(Debug)]
pub struct TxDone<T> {
    pub value: T,
    pub attempts: u32,
    pub node: String,
}

impl Tx {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn node(&self) -> String {
        self.lock().node.name.clone()
    }

    pub fn execute(&self, sql: &str, params: &Params) -> Result<Exec> {
        self.statement(sql, params, |conn| exec_on(conn, sql, params))
    }

    pub fn query(&self, sql: &str, params: &Params) -> Result<Vec<Row>> {
        self.statement(sql, params, |conn| {
            rows_on(conn, sql, params).map(|r| r.rows)
        })
    }

    fn statement<T>(
        &self,
        sql: &str,
        params: &Params,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, DbError>,
    ) -> Result<T> {
        self.cancel.check()?;
        let mut st = self.lock();
        if let Some(e) = &st.interrupted {
            return Err(e.clone());
        }
        let node = Arc::clone(&st.node);
        let idx = st.idx;
        let Some(conn) = st.conn.as_mut() else {
            return Err(Error::Misuse("the transaction is over".into()));
        };
        crate::core::logs::log_debug(|| format!("{} (transaction): {sql}", node.name));
        let sent = std::time::Instant::now();
        let (result, ended) = match node.check_size(sql, params) {
            Err(e) => (Err(e), Ended::Itself),
            Ok(()) => self.cluster.watch(idx, conn, &self.cancel, f),
        };
        node.record_statement(result.as_ref().err());
        let e = match (result, ended) {
            (Ok(v), Ended::Itself | Ended::NodeDead) => return Ok(v),
            (Ok(_), _) => DbError::server_disconnected(),
            (Err(e), _) => e,
        };
        let fault = classify(&e, Phase::Statement);
        // Only a lost connection asks the node whether it still answers.
        let lost = ended == Ended::Itself && matches!(fault, Fault::Lost | Fault::Unreachable);
        let alive = if lost {
            Liveness::from(node.check())
        } else {
            Liveness::Unknown
        };
        let (name, cause) = (node.name.clone(), describe(&e));
        let err = match on_statement_error(fault, ended, alive) {
            Interrupt::Raise(kind) => return Err(server_error(&name, &e, kind)),
            Interrupt::Replay => server_error(&name, &e, Kind::Operational),
            Interrupt::Stopped => {
                st.conn = None;
                return Err(Error::Interrupted);
            }
            Interrupt::TimedOut => {
                st.conn = None;
                let limit = self.cancel.limit().unwrap_or_default();
                let (statement, elapsed) = (sql.to_owned(), sent.elapsed());
                return Err(Error::TimedOut {
                    node: name,
                    statement,
                    elapsed,
                    limit,
                });
            }
            Interrupt::Broken => {
                st.conn = None;
                let statement = sql.to_owned();
                return Err(Error::Broken {
                    node: name,
                    statement,
                    cause,
                });
            }
            Interrupt::Lost => {
                st.conn = None;
                self.cluster.mark_failed(&node, &e);
                Error::Lost { node: name, cause }
            }
        };
        st.interrupted = Some(err.clone());
        Err(err)
    }

    /// Ends the attempt without committing; the connection goes back to the pool if it is
    /// still sound.
    fn rollback(&self) {
        let mut st = self.lock();
        if let Some(mut conn) = st.conn.take() {
            // Watched like any statement (a frozen node would hold it forever), but neither
            // Ctrl-C nor a time limit stops the clean-up.
            let rollback = |c: &mut Conn| c.query_drop("ROLLBACK");
            let (result, ended) = self
                .cluster
                .watch(st.idx, &mut conn, &Cancel::new(), rollback);
            if result.is_ok() && ended == Ended::Itself {
                st.node.checkin(conn);
            }
        }
    }

    fn commit(&self) -> Commit {
        let mut st = self.lock();
        let node = Arc::clone(&st.node);
        let Some(mut conn) = st.conn.take() else {
            return Commit::Fatal(Error::Misuse("the transaction is over".into()));
        };
        // No time limit and no Ctrl-C for COMMIT: stopping it would only make it ambiguous.
        let commit = |c: &mut Conn| c.query_drop("COMMIT");
        let (result, _) = self
            .cluster
            .watch(st.idx, &mut conn, &Cancel::new(), commit);
        node.record_statement(result.as_ref().err());
        let Err(e) = result else {
            node.checkin(conn);
            return Commit::Done;
        };
        match on_commit_error(classify(&e, Phase::Statement)) {
            CommitError::Replay => {
                let _ = conn.query_drop("ROLLBACK");
                node.checkin(conn);
                Commit::Replay(server_error(&node.name, &e, Kind::Operational))
            }
            CommitError::Fatal(kind) => {
                let _ = conn.query_drop("ROLLBACK");
                node.checkin(conn);
                Commit::Fatal(server_error(&node.name, &e, kind))
            }
            CommitError::Ambiguous => {
                drop(conn);
                self.cluster.mark_failed(&node, &e);
                // The check (if any) must not run while the COMMIT could still land.
                if let Err(e) = self.cluster.fence(st.idx, &st.session, &self.cancel) {
                    return Commit::Ambiguous(e);
                }
                Commit::Ambiguous(Error::Ambiguous {
                    node: node.name.clone(),
                    statement: "COMMIT".into(),
                    cause: describe(&e),
                })
            }
        }
    }
}

impl Cluster {
    fn begin(&self, attempt: u32, cancel: &Cancel) -> Result<Tx> {
        let out = self.run_leased(
            "START TRANSACTION",
            IfLost::RunAgain,
            None,
            cancel,
            &mut |node, lease| {
                let conn = lease.as_mut().ok_or_else(DbError::server_disconnected)?;
                conn.query_drop("START TRANSACTION")?;
                let session = Session {
                    id: conn.connection_id(),
                    incarnation: node.incarnation(),
                };
                Ok((Arc::clone(node), lease.take(), session))
            },
        )?;
        let (node, conn, session) = out
            .value
            .ok_or_else(|| Error::Internal("a transaction began without its connection".into()))?;
        Ok(Tx {
            cluster: self.clone(),
            cancel: cancel.clone(),
            state: Arc::new(Mutex::new(State {
                idx: self.index(&node),
                node,
                conn,
                session,
                interrupted: None,
            })),
            attempt,
        })
    }

    /// Runs `body` in a transaction on one node and commits it. An attempt the database
    /// interrupts before COMMIT (certification conflict, lock wait, lost connection) is rolled
    /// back and replayed on a live node, up to `attempts` times. A connection lost during
    /// COMMIT leaves the outcome unknown: `check` (if given) tells whether it committed,
    /// otherwise it raises `Ambiguous`. An error from `body` itself rolls back and is returned.
    pub fn transaction<T, E: From<Error>>(
        &self,
        attempts: u32,
        cancel: &Cancel,
        body: &mut dyn FnMut(&Tx) -> std::result::Result<T, E>,
        check: Option<&mut dyn FnMut() -> std::result::Result<bool, E>>,
    ) -> std::result::Result<TxDone<T>, E> {
        replay(self, attempts, cancel, body, check)
    }
}

/// What the replay loop needs of a transaction's attempts: real ones (`Cluster`), or
/// scripted ones in the tests below.
pub(crate) trait Attempts {
    type Tx;
    fn begin(&self, attempt: u32, cancel: &Cancel) -> Result<Self::Tx>;
    /// Why the database interrupted this attempt, if it did (taken: asked once).
    fn interrupted(&self, tx: &Self::Tx) -> Option<Error>;
    fn rollback(&self, tx: &Self::Tx);
    fn commit(&self, tx: &Self::Tx) -> Commit;
    fn node(&self, tx: &Self::Tx) -> String;
    fn note(&self, kind: EventKind, node: &str, detail: String);
    fn backoff(&self) -> Backoff;
}

impl Attempts for Cluster {
    type Tx = Tx;
    fn begin(&self, attempt: u32, cancel: &Cancel) -> Result<Tx> {
        Cluster::begin(self, attempt, cancel)
    }
    fn interrupted(&self, tx: &Tx) -> Option<Error> {
        tx.lock().interrupted.take()
    }
    fn rollback(&self, tx: &Tx) {
        tx.rollback();
    }
    fn commit(&self, tx: &Tx) -> Commit {
        tx.commit()
    }
    fn node(&self, tx: &Tx) -> String {
        tx.node()
    }
    fn note(&self, kind: EventKind, node: &str, detail: String) {
        Cluster::note(self, kind, node, detail);
    }
    fn backoff(&self) -> Backoff {
        self.config().backoff
    }
}

/// The replay loop of [`Cluster::transaction`].
pub(crate) fn replay<A: Attempts, T, E: From<Error>>(
    a: &A,
    attempts: u32,
    cancel: &Cancel,
    body: &mut dyn FnMut(&A::Tx) -> std::result::Result<T, E>,
    mut check: Option<&mut dyn FnMut() -> std::result::Result<bool, E>>,
) -> std::result::Result<TxDone<T>, E> {
    let mut last: Option<Error> = None;
    for attempt in 1..=attempts.max(1) {
        if let Some(e) = &last {
            a.note(
                EventKind::Retry,
                e.node().unwrap_or("?"),
                format!("transaction replayed (attempt {attempt}): {e}"),
            );
            cancel.sleep(a.backoff().delay(attempt - 1, jitter()))?;
        }
        let tx = a.begin(attempt, cancel)?;
        let result = body(&tx);
        if let Some(e) = a.interrupted(&tx) {
            a.rollback(&tx);
            last = Some(e);
            continue;
        }
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                a.rollback(&tx);
                return Err(e);
            }
        };
        // Ctrl-C while the body ran (and it carried on): roll back rather than commit.
        if let Err(e) = cancel.check() {
            a.rollback(&tx);
            return Err(e.into());
        }
        let node = a.node(&tx);
        let done = |value| TxDone {
            value,
            attempts: attempt,
            node: node.clone(),
        };
        match a.commit(&tx) {
            Commit::Done => return Ok(done(value)),
            Commit::Replay(e) => last = Some(e),
            Commit::Fatal(e) => return Err(e.into()),
            Commit::Ambiguous(e) => {
                let Some(check) = check.as_mut() else {
                    return Err(e.into());
                };
                let committed = check()?;
                let verdict = if committed {
                    "COMMIT lost, the check found it committed"
                } else {
                    "COMMIT lost, the check found nothing: replaying"
                };
                a.note(EventKind::AmbiguousResolved, &node, verdict.into());
                if committed {
                    return Ok(done(value));
                }
                last = Some(e);
            }
        }
    }
    let e = last.unwrap_or_else(|| Error::Internal("no attempt of the transaction ran".into()));
    let message = match &e {
        Error::Server { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Err(Error::RetriesExhausted {
        node: e.node().unwrap_or("?").to_owned(),
        attempts: attempts.max(1),
        code: e.code().unwrap_or(0),
        message,
    }
    .into())
}

#[cfg(test)]
mod tests;
