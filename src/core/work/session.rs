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
use crate::core::cluster::{rows_on, Cluster, IfLost, Rows};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::jitter;
use crate::core::failure::decide::KeyCheck;
use crate::core::node::exec::matched_rows;
use crate::core::sql::{insert_rows, quote_table};
use crate::core::work::insert::chunks;
use crate::core::work::transaction::{exhausted, Attempts, Commit, Tx};

pub mod state;
use state::State;

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

/// What a session needs of a pinned transaction beyond what a transaction's replay needs
/// ([`Attempts`]: its interruption, rollback, COMMIT, node, events, backoff): the real one
/// (`Cluster` and its `Tx`), or scripted ones in the tests.
pub(crate) trait Pinned: Attempts {
    type Answer;
    /// Begins a transaction on a live node, chosen by the balancing policy for `slot`, after
    /// running `prelude` (the connection's session state) on its session.
    fn begin_at(
        &self,
        slot: u64,
        causal: bool,
        prelude: &[(String, Params)],
        attempt: u32,
        cancel: &Cancel,
    ) -> Result<Self::Tx>;
    /// Runs one statement in it, under `cancel` (this call's Ctrl-C and time limit).
    fn run(
        &self,
        tx: &mut Self::Tx,
        sql: &str,
        params: &Params,
        cancel: &Cancel,
    ) -> Result<Self::Answer>;
    fn digest(answer: &Self::Answer) -> Digest;
    /// The answer of a statement only remembered (a `SET` between transactions).
    fn nothing() -> Self::Answer;
    /// Keeps the transaction's connection out of the pool: it holds session state.
    fn discard(&self, tx: &Self::Tx);
    /// Runs an autocommit statement on any live node that may be repeated (the marker table's
    /// `CREATE TABLE IF NOT EXISTS` and clean-up).
    fn idempotent(&self, sql: &str, params: &Params, cancel: &Cancel) -> Result<()>;
    /// Whether the commit marker `id` exists in `table`, read causally (after the fence).
    fn marked(&self, table: &str, id: &str, cancel: &Cancel) -> Result<bool>;
}

/// The table of commit markers, in the connection's database. A marker row is written inside
/// each transaction, so it commits with it or not at all: after a lost COMMIT reply (and the
/// fence), a causal look-up of its id says which.
pub const MARKER_TABLE: &str = "multimaster_commit_marker";
/// Markers older than this are deleted when a connection first uses the table: each
/// connection deletes its own markers as it goes (see [`Marker`]), so only a client that died
/// leaves any, and none is looked up after the call that wrote it.
pub const MARKER_KEPT_HOURS: u32 = 24;

/// A session's commit markers: the table made sure of once, this transaction's id, and the
/// previous transaction's id, deleted inside the next transaction (no extra round trip of its
/// own) or when the connection is closed.
#[derive(Debug, Default)]
pub struct Marker {
    /// `database.multimaster_commit_marker`, in the connection's configured database: a
    /// `USE` in the session must not move it.
    table: String,
    ready: bool,
    id: Option<String>,
    previous: Option<String>,
}

/// 32 hex digits, unique across clients: 64 random bits (std's per-process random keys) and
/// the time in nanoseconds.
fn marker_id() -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{random:016x}{nanos:016x}")
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
    /// Commit markers (`commit_marker=True`): a lost COMMIT reply is settled by looking its
    /// marker up; without them it raises `Ambiguous`.
    marker: Option<Marker>,
    /// Session state (`SET`, `USE`), run again before each START TRANSACTION: every
    /// transaction begins on a pooled connection, possibly on another node after a failover.
    state: Vec<(String, Params)>,
    /// `SET TRANSACTION ...`: for the current transaction only (its replays too).
    one_shot: Vec<(String, Params)>,
    /// State made in the open transaction that cannot be carried (a temporary table).
    stuck: Option<&'static str>,
    /// Set once a transaction with stuck state ended: every later statement raises.
    discarded: Option<String>,
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
            marker: None,
            state: Vec::new(),
            one_shot: Vec::new(),
            stuck: None,
            discarded: None,
        }
    }

    /// With a commit marker in each transaction, in `database` (the connection's).
    pub fn with_marker(mut self, database: Option<&str>) -> Self {
        let table = match database {
            Some(db) => format!("{db}.{MARKER_TABLE}"),
            None => MARKER_TABLE.to_owned(),
        };
        self.marker = Some(Marker {
            table,
            ..Marker::default()
        });
        self
    }

    /// Deletes the last transaction's marker (when the connection is closed); errors are not
    /// the application's: an old marker is cleaned up later anyway.
    pub(crate) fn close<P: Pinned<Tx = T>>(&mut self, p: &P, cancel: &Cancel) {
        self.rollback(p);
        let Some(m) = self.marker.as_mut() else {
            return;
        };
        if let Some(previous) = m.previous.take() {
            let sql = format!("DELETE FROM {} WHERE id = ?", quote_table(&m.table));
            let _ = p.idempotent(&sql, &Params::Positional(vec![previous.into()]), cancel);
        }
    }

    /// Fails with `Error::Discarded` (2006, for pools to throw the connection away) once a
    /// transaction that made state which cannot move ended: its server session is gone. Every
    /// statement the connection runs asks first, those it runs outside the session too (a
    /// DDL after the implicit commit ended that transaction would not find a temporary table).
    pub fn usable(&self) -> Result<()> {
        match &self.discarded {
            Some(why) => Err(Error::Discarded { why: why.clone() }),
            None => Ok(()),
        }
    }

    /// Whether a transaction is open (a statement ran since the last COMMIT or ROLLBACK).
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// The node the open transaction is pinned to.
    pub(crate) fn node<P: Pinned<Tx = T>>(&self, p: &P) -> Option<String> {
        self.tx.as_ref().map(|tx| p.node(tx))
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
        self.usable()?;
        let kind = state::of(sql);
        match kind {
            State::Refused(why) => return Err(Error::Misuse(why.into())),
            // Between transactions: remembered, and applied by beginning one now (before its
            // START TRANSACTION), which is also where the server checks it.
            State::Carried { one_shot } if self.tx.is_none() => {
                let entry = (sql.to_owned(), params.clone());
                let kept = match one_shot {
                    true => &mut self.one_shot,
                    false => &mut self.state,
                };
                kept.retain(|e| e != &entry);
                kept.push(entry.clone());
                return match self.attempts_at(p, None, cancel) {
                    // Checked: the server took it. No transaction is left open by a SET, as
                    // on one server (a SET TRANSACTION after it must still be allowed).
                    Ok(_) => {
                        self.abandon(p);
                        Ok(P::nothing())
                    }
                    Err(e) => {
                        let kept = match one_shot {
                            true => &mut self.one_shot,
                            false => &mut self.state,
                        };
                        kept.retain(|e| e != &entry);
                        Err(e)
                    }
                };
            }
            _ => {}
        }
        let answer = self
            .attempts_at(p, Some((sql, params)), cancel)?
            .expect("a statement's answer");
        if let Some(tx) = self.tx.as_ref() {
            match kind {
                // Run inside the transaction (as on one server) and kept for the next ones.
                State::Carried { one_shot: false } => {
                    let entry = (sql.to_owned(), params.clone());
                    self.state.retain(|e| e != &entry);
                    self.state.push(entry);
                    p.discard(tx);
                }
                State::Stuck(why) => {
                    self.stuck = Some(why);
                    p.discard(tx);
                }
                _ => {}
            }
        }
        Ok(answer)
    }

    /// Inserts `rows` into `table` in the transaction as multi-row INSERTs of `batch` rows,
    /// as `insert_many(batch=...)` writes them (the same chunks and statement), each a
    /// statement of the replay log: the DB-API's `executemany` of an `INSERT ... VALUES`.
    /// The answers, in order; at the first error, that error.
    pub(crate) fn insert_rows<P: Pinned<Tx = T>>(
        &mut self,
        p: &P,
        table: &str,
        columns: &[String],
        rows: &[Vec<Value>],
        batch: usize,
        cancel: &Cancel,
    ) -> Result<Vec<P::Answer>> {
        if let Some(bad) = rows.iter().position(|r| r.len() != columns.len()) {
            return Err(Error::Config(format!(
                "parameter set {bad} has {} values for {} columns",
                rows[bad].len(),
                columns.len()
            )));
        }
        chunks(rows.len(), columns.len(), batch)
            .into_iter()
            .map(|range| {
                let sql = insert_rows(table, columns, range.len());
                let params = Params::Positional(rows[range].concat());
                self.execute(p, &sql, &params, cancel)
            })
            .collect()
    }

    /// The attempts of one call: the transaction open (replayed if it was interrupted), then
    /// `statement` run in it, if any.
    fn attempts_at<P: Pinned<Tx = T>>(
        &mut self,
        p: &P,
        statement: Option<(&str, &Params)>,
        cancel: &Cancel,
    ) -> Result<Option<P::Answer>> {
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
            let Some((sql, params)) = statement else {
                return Ok(None);
            };
            let tx = self
                .tx
                .as_mut()
                .expect("ensure() leaves a transaction open");
            match p.run(tx, sql, params, cancel) {
                Ok(answer) => {
                    self.log.record(sql, params, P::digest(&answer));
                    return Ok(Some(answer));
                }
                Err(e) => match p.interrupted(tx) {
                    Some(why) => {
                        self.abandon(p);
                        last = Some(why);
                    }
                    // Ctrl-C: the statement was killed on the server with its connection,
                    // and the transaction with them: rolled back, nothing left to commit.
                    None if matches!(e, Error::Interrupted) => {
                        self.rollback(p);
                        return Err(e);
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
                    self.committed();
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
                Commit::Ambiguous(e) => match self.settle(p, cancel) {
                    Some(Ok(true)) => {
                        let node = e.node().unwrap_or("?").to_owned();
                        let why = "COMMIT lost, its marker found: committed".into();
                        p.note(EventKind::AmbiguousResolved, &node, why);
                        self.committed();
                        return Ok(());
                    }
                    Some(Ok(false)) => {
                        let node = e.node().unwrap_or("?").to_owned();
                        let why = "COMMIT lost, its marker absent: replaying".into();
                        p.note(EventKind::AmbiguousResolved, &node, why);
                        self.tx = None;
                        last = Some(e);
                    }
                    // No marker, or the look-up failed: it may have committed.
                    Some(Err(_)) | None => {
                        self.finish();
                        return Err(e);
                    }
                },
                Commit::Unsettled(e) | Commit::Fatal(e) => {
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
        self.ended();
        if let Some(m) = self.marker.as_mut() {
            // Rolled back: its marker (and the previous one's delete) never committed.
            m.id = None;
        }
    }

    fn finish(&mut self) {
        self.tx = None;
        self.log.clear();
        self.ended();
        if let Some(m) = self.marker.as_mut() {
            // The next transaction gets its own id.
            m.id = None;
        }
    }

    /// The transaction is over: a one-shot setting with it; stuck state closes the connection
    /// (its session, with the temporary table or lock, was not pooled and is gone).
    fn ended(&mut self) {
        self.one_shot.clear();
        if let Some(why) = self.stuck.take() {
            self.discarded = Some(why.to_owned());
        }
    }

    /// Committed: its marker (and the previous one's delete) with it.
    fn committed(&mut self) {
        if let Some(m) = self.marker.as_mut() {
            m.previous = m.id.take();
        }
        self.finish();
    }

    /// After a lost COMMIT reply, fenced: whether this transaction's marker is there. `None`
    /// without markers.
    fn settle<P: Pinned<Tx = T>>(&self, p: &P, cancel: &Cancel) -> Option<Result<bool>> {
        let m = self.marker.as_ref()?;
        Some(p.marked(&m.table, m.id.as_ref()?, cancel))
    }

    /// Writes the marker row as the transaction's first statement (and deletes the previous
    /// transaction's), creating the table the first time.
    fn mark<P: Pinned<Tx = T>>(&mut self, p: &P, tx: &mut T, cancel: &Cancel) -> Result<()> {
        let Some(m) = self.marker.as_mut() else {
            return Ok(());
        };
        let id = m.id.get_or_insert_with(marker_id).clone();
        let table = quote_table(&m.table);
        let insert = format!("INSERT INTO {table} (id) VALUES (?)");
        p.run(tx, &insert, &Params::Positional(vec![id.into()]), cancel)?;
        if let Some(previous) = m.previous.clone() {
            let delete = format!("DELETE FROM {table} WHERE id = ?");
            p.run(
                tx,
                &delete,
                &Params::Positional(vec![previous.into()]),
                cancel,
            )?;
        }
        Ok(())
    }

    /// The marker table, made sure of once per connection (outside any transaction: DDL
    /// commits), with markers a dead client left deleted.
    fn prepare<P: Pinned<Tx = T>>(&mut self, p: &P, cancel: &Cancel) -> Result<()> {
        let Some(m) = self.marker.as_mut().filter(|m| !m.ready) else {
            return Ok(());
        };
        let table = quote_table(&m.table);
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (id CHAR(32) NOT NULL PRIMARY KEY, \
             at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        );
        p.idempotent(&create, &Params::Empty, cancel)?;
        let old =
            format!("DELETE FROM {table} WHERE at < NOW() - INTERVAL {MARKER_KEPT_HOURS} HOUR");
        p.idempotent(&old, &Params::Empty, cancel)?;
        m.ready = true;
        Ok(())
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
        self.prepare(p, cancel).map_err(Replayed::Diverged)?;
        let prelude: Vec<(String, Params)> =
            self.state.iter().chain(&self.one_shot).cloned().collect();
        let mut tx = p
            .begin_at(self.slot, self.causal, &prelude, attempt, cancel)
            .map_err(Replayed::Diverged)?;
        let node = p.node(&tx);
        if let Err(e) = self.mark(p, &mut tx, cancel) {
            let interrupted = p.interrupted(&tx);
            p.rollback(&tx);
            return Err(match interrupted {
                Some(why) => Replayed::Interrupted(why),
                None => Replayed::Diverged(e),
            });
        }
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
        // The replay ran the transaction's SETs, temporary tables and locks again on this
        // session: it must not go back to the pool either.
        if self.stuck.is_some()
            || self
                .log
                .entries
                .iter()
                .any(|e| state::of(&e.sql) != State::None)
        {
            p.discard(&tx);
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

/// One statement's answer in a session: its result set (if it has one), row count and
/// generated id.
pub struct Answer {
    pub rows: Rows,
    /// Rows affected; for an UPDATE the rows it matched, changed or not, as SQLAlchemy's MySQL
    /// dialects expect of a DB-API (CLIENT_FOUND_ROWS).
    pub affected: u64,
    pub last_insert_id: Option<u64>,
}

impl Pinned for Cluster {
    type Answer = Answer;
    fn begin_at(
        &self,
        slot: u64,
        causal: bool,
        prelude: &[(String, Params)],
        attempt: u32,
        cancel: &Cancel,
    ) -> Result<Tx> {
        Cluster::begin(self, Some(slot), causal, prelude, attempt, cancel)
    }
    fn run(&self, tx: &mut Tx, sql: &str, params: &Params, cancel: &Cancel) -> Result<Answer> {
        tx.rearm(cancel);
        tx.statement(sql, params, |lease| {
            let rows = rows_on(lease, sql, params)?;
            Ok(Answer {
                rows,
                affected: matched_rows(&lease.info_str()).unwrap_or_else(|| lease.affected_rows()),
                last_insert_id: Some(lease.last_insert_id()).filter(|&id| id != 0),
            })
        })
    }
    fn digest(a: &Answer) -> Digest {
        let rows: Vec<Vec<Value>> = a.rows.rows.iter().map(|r| r.clone().unwrap()).collect();
        Digest::of(&rows, a.affected, a.last_insert_id)
    }
    fn nothing() -> Answer {
        Answer {
            rows: Rows {
                columns: Vec::new(),
                rows: Vec::new(),
            },
            affected: 0,
            last_insert_id: None,
        }
    }
    fn discard(&self, tx: &Tx) {
        tx.discard();
    }
    fn idempotent(&self, sql: &str, params: &Params, cancel: &Cancel) -> Result<()> {
        self.execute(sql, params, IfLost::RunAgain, None, cancel)
            .map(drop)
    }
    fn marked(&self, table: &str, id: &str, cancel: &Cancel) -> Result<bool> {
        // The keyed writes' causal look-up, on the marker's primary key.
        let key = KeyCheck::one(table, "id", id.into());
        Ok(self.count_key(&key, cancel)? > 0)
    }
}

#[cfg(test)]
mod tests;
