//! Multi-statement transactions pinned to one node, replayed on a live node when the database
//! interrupts them before COMMIT (a conflict, a lost connection).

use std::sync::{Arc, Mutex, MutexGuard};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError, Params, Row};

use super::backoff::jitter;
use super::cancel::Cancel;
use super::cluster::{exec_on, rows_on, server_error, Cluster, Exec, Write};
use super::error::{Error, Result};
use super::events::EventKind;
use super::fault::{classify, describe, Fault, Phase};
use super::node::Node;

struct State {
    node: Arc<Node>,
    /// `None` once the transaction has ended or its connection was lost.
    conn: Option<Conn>,
    connection_id: u32,
    /// Set when the database interrupted this attempt in a way a replay can fix.
    interrupted: Option<Error>,
}

/// One attempt of a transaction: a handle the caller's code runs statements through.
/// Cloning shares the attempt; once it has ended every statement raises.
#[derive(Clone)]
pub struct Tx {
    cluster: Cluster,
    state: Arc<Mutex<State>>,
    pub attempt: u32,
}

enum Commit {
    Done,
    Replay(Error),
    Ambiguous(Error),
    Fatal(Error),
}

/// A committed transaction: the body's value and what it took.
pub struct TxDone<T> {
    pub value: T,
    pub attempts: u32,
    pub node: String,
}

impl Tx {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn node(&self) -> String {
        self.lock().node.name.clone()
    }

    pub fn execute(&self, sql: &str, params: &Params) -> Result<Exec> {
        self.statement(sql, |conn| exec_on(conn, sql, params))
    }

    pub fn query(&self, sql: &str, params: &Params) -> Result<Vec<Row>> {
        self.statement(sql, |conn| rows_on(conn, sql, params))
    }

    fn statement<T>(
        &self,
        sql: &str,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, DbError>,
    ) -> Result<T> {
        let mut st = self.lock();
        if let Some(e) = &st.interrupted {
            return Err(e.clone());
        }
        let node = Arc::clone(&st.node);
        let Some(conn) = st.conn.as_mut() else {
            return Err(Error::Config("the transaction is over".into()));
        };
        super::cluster::log_debug(|| format!("{} (transaction): {sql}", node.name));
        let result = f(conn);
        node.record_statement(result.as_ref().err());
        let e = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let err = match classify(&e, Phase::Statement) {
            // The statement is wrong; the transaction stays open for the caller to decide.
            Fault::Fatal(kind) => return Err(server_error(&node, &e, kind)),
            // The server rolled the transaction back (conflict) or cannot serve it.
            Fault::Retry { .. } => server_error(&node, &e, super::fault::Kind::Operational),
            // Before COMMIT a lost connection means the server rolls back: nothing applied.
            Fault::Lost | Fault::Unreachable => {
                st.conn = None;
                self.cluster.mark_failed(&node, &e);
                Error::Lost {
                    node: node.name.clone(),
                    cause: describe(&e),
                }
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
            if conn.query_drop("ROLLBACK").is_ok() {
                st.node.checkin(conn);
            }
        }
    }

    fn commit(&self) -> Commit {
        let mut st = self.lock();
        let node = Arc::clone(&st.node);
        let Some(mut conn) = st.conn.take() else {
            return Commit::Fatal(Error::Config("the transaction is over".into()));
        };
        let result = conn.query_drop("COMMIT");
        node.record_statement(result.as_ref().err());
        let Err(e) = result else {
            node.checkin(conn);
            return Commit::Done;
        };
        match classify(&e, Phase::Statement) {
            Fault::Retry { .. } => {
                let _ = conn.query_drop("ROLLBACK");
                node.checkin(conn);
                Commit::Replay(server_error(&node, &e, super::fault::Kind::Operational))
            }
            Fault::Fatal(kind) => {
                let _ = conn.query_drop("ROLLBACK");
                node.checkin(conn);
                Commit::Fatal(server_error(&node, &e, kind))
            }
            Fault::Lost | Fault::Unreachable => {
                drop(conn);
                self.cluster.mark_failed(&node, &e);
                self.cluster.fence(&node, st.connection_id);
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
            Write::Read,
            None,
            cancel,
            &mut |node, lease| {
                let conn = lease.as_mut().ok_or_else(DbError::server_disconnected)?;
                conn.query_drop("START TRANSACTION")?;
                let id = conn.connection_id();
                Ok((Arc::clone(node), lease.take(), id))
            },
        )?;
        let (node, conn, connection_id) = out.value.ok_or(Error::Closed)?;
        Ok(Tx {
            cluster: self.clone(),
            state: Arc::new(Mutex::new(State {
                node,
                conn,
                connection_id,
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
        mut check: Option<&mut dyn FnMut() -> std::result::Result<bool, E>>,
    ) -> std::result::Result<TxDone<T>, E> {
        let mut last: Option<Error> = None;
        for attempt in 1..=attempts.max(1) {
            if let Some(e) = &last {
                self.note(
                    EventKind::Retry,
                    e.node().unwrap_or("?"),
                    format!("transaction replayed (attempt {attempt}): {e}"),
                );
                cancel.sleep(self.config().backoff.delay(attempt - 1, jitter()))?;
            }
            let tx = self.begin(attempt, cancel)?;
            let result = body(&tx);
            let interrupted = tx.lock().interrupted.take();
            if let Some(e) = interrupted {
                tx.rollback();
                last = Some(e);
                continue;
            }
            let value = match result {
                Ok(v) => v,
                Err(e) => {
                    tx.rollback();
                    return Err(e);
                }
            };
            let node = tx.node();
            match tx.commit() {
                Commit::Done => {
                    return Ok(TxDone {
                        value,
                        attempts: attempt,
                        node,
                    })
                }
                Commit::Replay(e) => last = Some(e),
                Commit::Fatal(e) => return Err(e.into()),
                Commit::Ambiguous(e) => {
                    let Some(check) = check.as_mut() else {
                        return Err(e.into());
                    };
                    if check()? {
                        self.note(
                            EventKind::AmbiguousResolved,
                            &node,
                            "COMMIT lost, the check found it committed",
                        );
                        return Ok(TxDone {
                            value,
                            attempts: attempt,
                            node,
                        });
                    }
                    self.note(
                        EventKind::AmbiguousResolved,
                        &node,
                        "COMMIT lost, the check found nothing: replaying",
                    );
                    last = Some(e);
                }
            }
        }
        let e = last.unwrap_or(Error::Closed);
        Err(Error::RetriesExhausted {
            node: e.node().unwrap_or("?").to_owned(),
            attempts: attempts.max(1),
            code: e.code().unwrap_or(0),
            message: e.to_string(),
        }
        .into())
    }
}
