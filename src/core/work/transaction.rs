//! Multi-statement transactions pinned to one node, replayed on a live node when the database
//! interrupts them before COMMIT (a conflict, a lost connection).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError, Params, Row};

use crate::core::cancel::Cancel;
use crate::core::cluster::run::{conn, decide_after, raise, why_down, Backend, Sent};
use crate::core::cluster::{exec_on, rows_on, Cluster, Exec, IfLost};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::{jitter, Backoff};
use crate::core::failure::decide::{self, Step};
use crate::core::failure::fault::{describe, Kind};
use crate::core::failure::liveness::{Ended, Session};
use crate::core::logs::log_debug;
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
    /// The session holds state of its own (a DB-API connection's settings, a temporary
    /// table, a named lock): never handed to another caller through the pool.
    discard: bool,
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
    /// The connection died during COMMIT: it may or may not have committed. Its session is
    /// fenced: it can no longer commit, so a check now answers for good.
    Ambiguous(Error),
    /// The connection died during COMMIT and no fence held (or the wait was stopped): it may
    /// still commit, so no check may run.
    Unsettled(Error),
    Fatal(Error),
}

/// A committed transaction: the body's value and what it took.
#[derive(Debug)]
pub struct TxDone<T> {
    pub value: T,
    pub attempts: u32,
    pub node: String,
}

fn over() -> Error {
    Error::Misuse("the transaction is over".into())
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

    /// Runs a statement of the attempt on its connection, watched like any other, and applies
    /// [`decide::in_transaction`] to its failure.
    pub(crate) fn statement<T>(
        &self,
        sql: &str,
        params: &Params,
        f: impl Fn(&mut Conn) -> std::result::Result<T, DbError>,
    ) -> Result<T> {
        self.cancel.check()?;
        let mut st = self.lock();
        if let Some(e) = &st.interrupted {
            return Err(e.clone());
        }
        if st.conn.is_none() {
            return Err(over());
        }
        let (node, idx, b) = (Arc::clone(&st.node), st.idx, &self.cluster);
        log_debug(|| format!("{} (transaction): {sql}", node.name));
        let at = Instant::now();
        let (result, ended) = b.watched(idx, &mut st.conn, &self.cancel, &mut |_, lease| {
            node.check_size(sql, params)?;
            Ok(f(conn(lease)?)?)
        });
        b.record_statement(idx, sql, at.elapsed(), result.as_ref().err());
        let e = match (result, ended) {
            (Ok(v), Ended::Itself) => return Ok(v),
            // The watchdog acted on it, whatever it answered: judged by how it was ended (its
            // connection is gone, so the attempt cannot reach COMMIT).
            (Ok(_), _) => DbError::server_disconnected().into(),
            (Err(e), _) => e,
        };
        let (_, step) = decide_after(b, idx, &e, ended, decide::in_transaction);
        let err = match step {
            // The statement is wrong: the attempt stays open for the body to decide.
            Step::Raise(_) => return Err(self.sent(&node, sql, at).error(step, &e)),
            Step::Replay { node_down: false } => raise(&node.name, &e, Kind::Operational),
            Step::Replay { node_down: true } => {
                st.conn = None;
                let detection = b.config().failure_detection;
                b.node_failed(idx, why_down(&e, ended, detection));
                let (node, cause) = (node.name.clone(), describe(&e));
                Error::Lost { node, cause }
            }
            ended => {
                st.conn = None;
                return Err(self.sent(&node, sql, at).error(ended, &e));
            }
        };
        st.interrupted = Some(err.clone());
        Err(err)
    }

    /// Runs the next statements under `cancel`: a DB-API session's statements are separate
    /// calls, each with its own Ctrl-C and time limit.
    pub(crate) fn rearm(&mut self, cancel: &Cancel) {
        self.cancel = cancel.clone();
    }

    /// Keeps the connection out of the pool when the attempt ends: it holds session state.
    pub(crate) fn discard(&self) {
        self.lock().discard = true;
    }

    /// Why the database interrupted this attempt, if it did (taken: asked once).
    pub(crate) fn take_interrupted(&self) -> Option<Error> {
        self.lock().interrupted.take()
    }

    fn sent<'a>(&'a self, node: &'a Node, sql: &'a str, at: Instant) -> Sent<'a> {
        Sent {
            node: &node.name,
            sql,
            at,
            cancel: &self.cancel,
        }
    }

    /// Ends the attempt without committing; the connection goes back to the pool if it is
    /// still sound.
    pub(crate) fn rollback(&self) {
        let mut st = self.lock();
        rollback(&self.cluster, &mut st);
    }

    /// Applies [`decide::commit`] to the attempt's COMMIT.
    pub(crate) fn commit(&self) -> Commit {
        let mut st = self.lock();
        if st.conn.is_none() {
            return Commit::Fatal(over());
        }
        let (node, idx, b) = (Arc::clone(&st.node), st.idx, &self.cluster);
        // No time limit and no Ctrl-C for COMMIT: stopping it would only make it ambiguous.
        let (never, at) = (Cancel::new(), Instant::now());
        let (result, ended) = b.watched(idx, &mut st.conn, &never, &mut |_, lease| {
            Ok(conn(lease)?.query_drop("COMMIT")?)
        });
        b.record_statement(idx, "COMMIT", at.elapsed(), result.as_ref().err());
        let Err(e) = result else {
            let conn = st.conn.take().filter(|_| !st.discard);
            node.checkin_some(conn);
            return Commit::Done;
        };
        let (failure, step) = decide_after(b, idx, &e, ended, decide::commit);
        let sent = Sent {
            node: &node.name,
            sql: "COMMIT",
            at,
            cancel: &never,
        };
        match step {
            Step::Replay { .. } => {
                rollback(b, &mut st);
                Commit::Replay(raise(&node.name, &e, Kind::Operational))
            }
            Step::Ambiguous => {
                st.conn = None;
                b.node_failed(idx, describe(&e));
                // The check (if any) must not run while the COMMIT could still land.
                if let Err(e) = b.fence(idx, &st.session, failure.pending(), &self.cancel) {
                    return Commit::Unsettled(e);
                }
                Commit::Ambiguous(sent.error(step, &e))
            }
            raised => {
                rollback(b, &mut st);
                Commit::Fatal(sent.error(raised, &e))
            }
        }
    }
}

/// Rolls the attempt back on its connection, if it still has one: watched like any statement (a
/// frozen node would hold it forever), but neither Ctrl-C nor a time limit stops the clean-up.
/// The connection goes back to the pool if it is still sound.
fn rollback(b: &Cluster, st: &mut State) {
    if st.conn.is_none() {
        return;
    }
    let (result, ended) = b.watched(st.idx, &mut st.conn, &Cancel::new(), &mut |_, lease| {
        Ok(conn(lease)?.query_drop("ROLLBACK")?)
    });
    let conn = st.conn.take();
    if result.is_ok() && ended == Ended::Itself && !st.discard {
        st.node.checkin_some(conn);
    }
}

impl Cluster {
    /// Starts an attempt: START TRANSACTION is a statement on its own, run by the request
    /// loop, which leaves the attempt its connection.
    /// `request` fixes the balancing slot (a DB-API connection's own), `None` takes the next.
    /// `causal`: START TRANSACTION waits until the node has applied every write committed
    /// anywhere before it (Galera's `wsrep_sync_wait` covers BEGIN), so the transaction's
    /// snapshot sees them, as on one server.
    /// `prelude`: a DB-API connection's session state, run before START TRANSACTION (its
    /// connection is then never pooled again).
    pub(crate) fn begin(
        &self,
        request: Option<u64>,
        affinity: Option<u64>,
        causal: bool,
        prelude: &[(String, Params)],
        attempt: u32,
        cancel: &Cancel,
    ) -> Result<Tx> {
        let start = "START TRANSACTION";
        let out = self.run(
            start,
            IfLost::RunAgain,
            request,
            affinity,
            cancel,
            &mut |idx, lease| {
                let sync = causal
                    .then(|| self.node(idx).flavour().causal_read())
                    .flatten();
                let conn = conn(lease)?;
                for (sql, params) in prelude {
                    exec_on(conn, sql, params)?;
                }
                match sync {
                    // One round trip (the connection allows multiple statements): the wait
                    // covers START TRANSACTION, and the default is back inside it, where later
                    // reads are its snapshot and need no wait.
                    Some((on, off)) => conn.query_drop(format!("{on}; {start}; {off}"))?,
                    None => conn.query_drop(start)?,
                }
                let session = self.session(idx, conn);
                Ok((idx, lease.take(), session))
            },
        )?;
        let (idx, conn, session) = out
            .value
            .ok_or_else(|| Error::Internal("a transaction began without its connection".into()))?;
        Ok(Tx {
            cluster: self.clone(),
            cancel: cancel.clone(),
            state: Arc::new(Mutex::new(State {
                node: self.node(idx),
                idx,
                conn,
                session,
                interrupted: None,
                discard: !prelude.is_empty(),
            })),
            attempt,
        })
    }

    /// Runs `body` in a transaction on one node and commits it. An attempt the database
    /// interrupts before COMMIT (certification conflict, lock wait, lost connection) is rolled
    /// back and replayed on a live node, up to `attempts` times. A connection lost during
    /// COMMIT leaves the outcome unknown: `check` (if given) tells whether it committed,
    /// otherwise it raises `Ambiguous`. An error from `body` itself rolls back and is returned.
    /// `affinity`: the hash of a key (`run::value_hash`) that places every attempt with
    /// `key-affinity`, beside the keyed writes to that key.
    pub fn transaction<T, E: From<Error>>(
        &self,
        attempts: u32,
        affinity: Option<u64>,
        cancel: &Cancel,
        body: &mut dyn FnMut(&Tx) -> std::result::Result<T, E>,
        check: Option<&mut dyn FnMut() -> std::result::Result<bool, E>>,
    ) -> std::result::Result<TxDone<T>, E> {
        replay(&Placed(self, affinity), attempts, cancel, body, check)
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
        Cluster::begin(self, None, None, false, &[], attempt, cancel)
    }
    fn interrupted(&self, tx: &Tx) -> Option<Error> {
        tx.take_interrupted()
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
        Backend::note(self, kind, node, detail);
    }
    fn backoff(&self) -> Backoff {
        self.config().backoff
    }
}

/// A transaction's attempts on the cluster, each placed by the transaction's key affinity.
struct Placed<'a>(&'a Cluster, Option<u64>);

impl Attempts for Placed<'_> {
    type Tx = Tx;
    fn begin(&self, attempt: u32, cancel: &Cancel) -> Result<Tx> {
        Cluster::begin(self.0, None, self.1, false, &[], attempt, cancel)
    }
    fn interrupted(&self, tx: &Tx) -> Option<Error> {
        self.0.interrupted(tx)
    }
    fn rollback(&self, tx: &Tx) {
        Attempts::rollback(self.0, tx);
    }
    fn commit(&self, tx: &Tx) -> Commit {
        Attempts::commit(self.0, tx)
    }
    fn node(&self, tx: &Tx) -> String {
        Attempts::node(self.0, tx)
    }
    fn note(&self, kind: EventKind, node: &str, detail: String) {
        Attempts::note(self.0, kind, node, detail);
    }
    fn backoff(&self) -> Backoff {
        Attempts::backoff(self.0)
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
            Commit::Fatal(e) | Commit::Unsettled(e) => return Err(e.into()),
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
    Err(exhausted(last, attempts.max(1)).into())
}

/// The error of a transaction interrupted on each of its `attempts`: the last interruption's.
pub(crate) fn exhausted(last: Option<Error>, attempts: u32) -> Error {
    let e = last.unwrap_or_else(|| Error::Internal("no attempt of the transaction ran".into()));
    let message = match &e {
        Error::Server { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Error::RetriesExhausted {
        node: e.node().unwrap_or("?").to_owned(),
        attempts,
        code: e.code().unwrap_or(0),
        message,
    }
}

#[cfg(test)]
mod tests;
