//! A DB-API session with autocommit off: a transaction pinned to one node from its first
//! statement to COMMIT or ROLLBACK, replayed from its first statement on a live node when the
//! database interrupts it before COMMIT (`decide::in_transaction`, `decide::commit`) — but
//! only if everything the application saw comes out the same. Each statement is kept with a
//! digest of what it returned (its rows, row count and generated id) in a bounded
//! [`ReplayLog`]; a replay that answers differently, or a log that outgrew its bounds, ends
//! the transaction with `Error::ReplayDiverged` instead of committing something the
//! application never saw.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use mysql::{Params, Value};

use crate::core::cancel::Cancel;
use crate::core::cluster::run::Backend;
use crate::core::cluster::{rows_on, Cluster, Rows};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::{jitter, Backoff};
use crate::core::work::transaction::{Commit, Tx};

/// At most this many statements are kept for a replay: a transaction longer than this is not
/// replayed (an ORM flush of a few hundred rows fits; a bulk load belongs in `insert_many`).
pub const REPLAY_STATEMENTS: usize = 1_000;
/// At most this many bytes of SQL and parameters are kept for a replay (16 MiB, the size of
/// MariaDB's default `max_allowed_packet`, so one largest statement still fits).
pub const REPLAY_BYTES: usize = 16 << 20;

/// What the application saw of one statement, hashed: two answers with the same digest showed
/// the application the same thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

impl Digest {
    /// Of a statement's rows (each value as the server's text), row count and generated id.
    pub fn of(rows: &[Vec<Value>], affected: u64, last_insert_id: Option<u64>) -> Self {
        // SipHash with fixed keys: the same answer gives the same digest within the process,
        // which is all a replay compares.
        let mut h = DefaultHasher::new();
        rows.len().hash(&mut h);
        for row in rows {
            row.len().hash(&mut h);
            for v in row {
                v.as_sql(true).hash(&mut h);
            }
        }
        (affected, last_insert_id).hash(&mut h);
        Digest(h.finish())
    }
}

/// One statement of the transaction, as sent, and the digest of its answer.
#[derive(Clone, Debug)]
struct Logged {
    sql: String,
    params: Params,
    digest: Digest,
}

/// The statements of the current transaction, in order, within [`REPLAY_STATEMENTS`] and
/// [`REPLAY_BYTES`]; beyond them it forgets them all and says so.
#[derive(Debug, Default)]
pub struct ReplayLog {
    entries: Vec<Logged>,
    bytes: usize,
    overflowed: bool,
}

fn size(sql: &str, params: &Params) -> usize {
    let values = |v: &Value| v.as_sql(true).len();
    sql.len()
        + match params {
            Params::Empty => 0,
            Params::Positional(p) => p.iter().map(values).sum(),
            Params::Named(m) => m.iter().map(|(k, v)| k.len() + values(v)).sum(),
        }
}

impl ReplayLog {
    /// Keeps a statement the application has seen the answer of.
    pub fn record(&mut self, sql: &str, params: &Params, digest: Digest) {
        if self.overflowed {
            return;
        }
        self.bytes += size(sql, params);
        if self.entries.len() >= REPLAY_STATEMENTS || self.bytes > REPLAY_BYTES {
            // Nothing is kept once replay is off: the memory is the application's.
            *self = ReplayLog {
                overflowed: true,
                ..ReplayLog::default()
            };
            return;
        }
        self.entries.push(Logged {
            sql: sql.to_owned(),
            params: params.clone(),
            digest,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.overflowed
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn clear(&mut self) {
        *self = ReplayLog::default();
    }
}

/// What a session needs of a pinned transaction: the real one (`Cluster` and its `Tx`), or
/// scripted ones in the tests.
pub(crate) trait Pinned {
    type Tx;
    type Answer;
    /// Begins a transaction on a live node, chosen by the balancing policy for `slot`.
    fn begin(&self, slot: u64, causal: bool, attempt: u32, cancel: &Cancel) -> Result<Self::Tx>;
    /// Runs one statement in it, under `cancel` (this call's Ctrl-C and time limit).
    fn run(
        &self,
        tx: &mut Self::Tx,
        sql: &str,
        params: &Params,
        cancel: &Cancel,
    ) -> Result<Self::Answer>;
    fn digest(answer: &Self::Answer) -> Digest;
    /// Why the database interrupted the transaction, if it did (taken: asked once).
    fn interrupted(&self, tx: &Self::Tx) -> Option<Error>;
    /// Never fails: a transaction whose node died is simply gone.
    fn rollback(&self, tx: &Self::Tx);
    fn commit(&self, tx: &Self::Tx) -> Commit;
    fn node(&self, tx: &Self::Tx) -> String;
    fn note(&self, kind: EventKind, node: &str, detail: String);
    fn backoff(&self) -> Backoff;
}

/// A DB-API connection's transaction state: the open transaction (if a statement began one)
/// and its replay log.
pub struct Session<T> {
    tx: Option<T>,
    log: ReplayLog,
    /// The balancing slot of this connection, so that a pool's connections spread over nodes.
    slot: u64,
    /// How many times one call may begin the transaction (first try and replays).
    attempts: u32,
    /// Whether a transaction begins with a causal wait (the connection's `causal_reads`).
    pub causal: bool,
}

/// Why a replay did not bring the transaction back to where the application left it.
enum Replayed {
    /// Interrupted again: try once more.
    Interrupted(Error),
    /// The application would see something else: give up, rolled back.
    Diverged(Error),
}

fn diverged(node: &str, statement: &str, why: &str) -> Error {
    Error::ReplayDiverged {
        node: node.to_owned(),
        statement: statement.to_owned(),
        why: why.to_owned(),
    }
}

impl<T> Session<T> {
    pub fn new(slot: u64, attempts: u32) -> Self {
        Session {
            tx: None,
            log: ReplayLog::default(),
            slot,
            attempts: attempts.max(1),
            causal: true,
        }
    }

    /// Whether a transaction is open (a statement ran since the last COMMIT or ROLLBACK).
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    pub fn statements(&self) -> usize {
        self.log.len()
    }

    /// Runs a statement in the transaction, beginning it if none is open. An interruption
    /// (before or during this statement) replays the transaction on a live node and runs the
    /// statement again there; its own error leaves the transaction open.
    pub(crate) fn execute<P: Pinned<Tx = T>>(
        &mut self,
        p: &P,
        sql: &str,
        params: &Params,
        cancel: &Cancel,
    ) -> Result<P::Answer> {
        let mut last: Option<Error> = None;
        for attempt in 1..=self.attempts {
            if let Some(e) = &last {
                let why = format!("transaction replayed (attempt {attempt}): {e}");
                p.note(EventKind::Retry, e.node().unwrap_or("?"), why);
                cancel.sleep(p.backoff().delay(attempt - 1, jitter()))?;
            }
            if let Err(e) = self.ensure(p, attempt, cancel) {
                match e {
                    Replayed::Interrupted(e) => last = Some(e),
                    Replayed::Diverged(e) => return Err(e),
                }
                continue;
            }
            let tx = self
                .tx
                .as_mut()
                .expect("ensure() leaves a transaction open");
            match p.run(tx, sql, params, cancel) {
                Ok(answer) => {
                    self.log.record(sql, params, P::digest(&answer));
                    return Ok(answer);
                }
                Err(e) => match p.interrupted(tx) {
                    Some(why) => {
                        self.abandon(p);
                        last = Some(why);
                    }
                    // The statement's own error: the transaction stays open, and this
                    // statement, which changed nothing, is not part of a replay.
                    None => return Err(e),
                },
            }
        }
        Err(exhausted(last, self.attempts))
    }

    /// Commits the open transaction (nothing to do without one). A COMMIT refused before it
    /// applied (a certification conflict) replays the transaction and commits it again.
    pub(crate) fn commit<P: Pinned<Tx = T>>(&mut self, p: &P, cancel: &Cancel) -> Result<()> {
        let mut last: Option<Error> = None;
        for attempt in 1..=self.attempts {
            if let Some(e) = &last {
                let why = format!("transaction replayed at COMMIT (attempt {attempt}): {e}");
                p.note(EventKind::Retry, e.node().unwrap_or("?"), why);
                cancel.sleep(p.backoff().delay(attempt - 1, jitter()))?;
                match self.ensure(p, attempt, cancel) {
                    Ok(()) => {}
                    Err(Replayed::Interrupted(e)) => {
                        last = Some(e);
                        continue;
                    }
                    Err(Replayed::Diverged(e)) => return Err(e),
                }
            }
            let Some(tx) = self.tx.as_ref() else {
                return Ok(());
            };
            match p.commit(tx) {
                Commit::Done => {
                    self.finish();
                    return Ok(());
                }
                // Rolled back by the COMMIT's own failure: replayed below.
                Commit::Replay(e) => {
                    self.tx = None;
                    if self.log.overflowed() {
                        self.log.clear();
                        return Err(overflow(&e));
                    }
                    last = Some(e);
                }
                Commit::Ambiguous(e) | Commit::Fatal(e) => {
                    self.finish();
                    return Err(e);
                }
            }
        }
        Err(exhausted(last, self.attempts))
    }

    /// Rolls the open transaction back. Never fails: if its node died the transaction is gone
    /// already, which is what a rollback asks.
    pub(crate) fn rollback<P: Pinned<Tx = T>>(&mut self, p: &P) {
        if let Some(tx) = self.tx.take() {
            p.rollback(&tx);
        }
        self.log.clear();
    }

    fn finish(&mut self) {
        self.tx = None;
        self.log.clear();
    }

    /// Rolls back an interrupted attempt, keeping the log for its replay.
    fn abandon<P: Pinned<Tx = T>>(&mut self, p: &P) {
        if let Some(tx) = self.tx.take() {
            p.rollback(&tx);
        }
    }

    /// Makes sure a transaction is open, replaying the log into a new one when the last was
    /// interrupted.
    fn ensure<P: Pinned<Tx = T>>(
        &mut self,
        p: &P,
        attempt: u32,
        cancel: &Cancel,
    ) -> std::result::Result<(), Replayed> {
        if self.tx.is_some() {
            return Ok(());
        }
        if self.log.overflowed() {
            self.log.clear();
            let e = Error::Misuse("the transaction was interrupted".into());
            return Err(Replayed::Diverged(overflow(&e)));
        }
        let mut tx = p
            .begin(self.slot, self.causal, attempt, cancel)
            .map_err(Replayed::Diverged)?;
        let node = p.node(&tx);
        let mut broke = None;
        for (i, logged) in self.log.entries.iter().enumerate() {
            let why = match p.run(&mut tx, &logged.sql, &logged.params, cancel) {
                Ok(answer) if P::digest(&answer) == logged.digest => continue,
                Ok(_) => format!(
                    "statement {} answered differently on replay (its rows, row count or \
                     generated id)",
                    i + 1
                ),
                Err(e) => {
                    if let Some(why) = p.interrupted(&tx) {
                        p.rollback(&tx);
                        return Err(Replayed::Interrupted(why));
                    }
                    format!("statement {} failed on replay: {e}", i + 1)
                }
            };
            broke = Some(diverged(&node, &logged.sql, &why));
            break;
        }
        if let Some(e) = broke {
            p.rollback(&tx);
            self.log.clear();
            return Err(Replayed::Diverged(e));
        }
        self.tx = Some(tx);
        Ok(())
    }
}

fn overflow(cause: &Error) -> Error {
    diverged(
        cause.node().unwrap_or("?"),
        "",
        &format!(
            "the transaction outgrew the replay log ({REPLAY_STATEMENTS} statements or \
             {} MiB of SQL and parameters), so it cannot be replayed after: {cause}",
            REPLAY_BYTES >> 20
        ),
    )
}

fn exhausted(last: Option<Error>, attempts: u32) -> Error {
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

/// One statement's answer in a session: its result set (if it has one), row count and
/// generated id.
pub struct Answer {
    pub rows: Rows,
    pub affected: u64,
    pub last_insert_id: Option<u64>,
}

impl Pinned for Cluster {
    type Tx = Tx;
    type Answer = Answer;
    fn begin(&self, slot: u64, causal: bool, attempt: u32, cancel: &Cancel) -> Result<Tx> {
        Cluster::begin(self, Some(slot), causal, attempt, cancel)
    }
    fn run(&self, tx: &mut Tx, sql: &str, params: &Params, cancel: &Cancel) -> Result<Answer> {
        tx.rearm(cancel);
        tx.statement(sql, params, |lease| {
            let rows = rows_on(lease, sql, params)?;
            Ok(Answer {
                rows,
                affected: lease.affected_rows(),
                last_insert_id: Some(lease.last_insert_id()).filter(|&id| id != 0),
            })
        })
    }
    fn digest(a: &Answer) -> Digest {
        let rows: Vec<Vec<Value>> = a.rows.rows.iter().map(|r| r.clone().unwrap()).collect();
        Digest::of(&rows, a.affected, a.last_insert_id)
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

#[cfg(test)]
mod tests;
