//! The failover-aware set of nodes: runs each statement on a live node by the balancing
//! policy, and applies DESIGN.md §3 to every failure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError, Params, Row, Value};

use super::cancel::Cancel;
use super::config::Config;
use super::error::{Error, Result};
use super::events::{Event, EventKind, EventLog, NodeStats};
use super::fault::{classify, code, describe, Fault, Kind, Phase, ER_DUP_ENTRY};
use super::node::{Claim, Node};
use super::sql::{quote_ident, quote_table};

/// How often a caller with no live node looks again (nodes come back through probes).
const IDLE_POLL: Duration = Duration::from_millis(25);

/// A statement run on a leased connection, which it may take out of the lease to keep.
pub(crate) type LeasedOp<'a, T> =
    dyn FnMut(&Arc<Node>, &mut Option<Conn>) -> std::result::Result<T, DbError> + 'a;

/// How a statement's lost reply is resolved (DESIGN.md §3).
pub enum Write<'a> {
    /// A read: retried elsewhere.
    Read,
    /// A write whose row is found by a unique key: asked for before writing again.
    Keyed(&'a KeyCheck),
    /// A write the caller declared safe to repeat.
    Idempotent,
    /// Any other write: an ambiguous outcome raises.
    Unkeyed,
}

/// How to find out whether a write committed: the row `table.column = value` exists.
#[derive(Clone, Debug)]
pub struct KeyCheck {
    pub table: String,
    pub column: String,
    pub value: Value,
}

impl KeyCheck {
    /// `title='Title7'`, for events and logs.
    fn describe(&self) -> String {
        format!("{}={}", self.column, self.value.as_sql(true))
    }

    fn sql(&self) -> String {
        format!(
            "SELECT COUNT(*) FROM {} WHERE {} = ?",
            quote_table(&self.table),
            quote_ident(&self.column)
        )
    }
}

/// The result of one statement and how it got there.
#[derive(Debug)]
pub struct Outcome<T> {
    /// `None` when a keyed write's reply was lost and its key check found the row committed.
    pub value: Option<T>,
    /// Index of the node that ran it.
    pub node: usize,
    /// Retries after retryable server errors (conflicts, not-ready nodes).
    pub retries: u32,
    /// Nodes left because of a failure while running this statement.
    pub failovers: u32,
    /// The policy's first choice was not the node that ran it (down, or failed).
    pub rerouted: bool,
    /// A lost reply was resolved by a key check.
    pub resolved: bool,
    /// The last node that failed under this statement, if any.
    failed_on: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub affected: u64,
    pub last_insert_id: Option<u64>,
}

pub struct Rows {
    pub rows: Vec<Row>,
}

struct Inner {
    cfg: Config,
    nodes: Vec<Arc<Node>>,
    events: EventLog,
    next: AtomicU64,
    closed: AtomicBool,
    probes: Mutex<Vec<JoinHandle<()>>>,
}

/// Cheap to clone: clones share the nodes, their connections and the event log.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// Set once the host process is shutting down: logging then would reach a dying interpreter.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn silence_logging() {
    QUIET.store(true, Ordering::SeqCst);
}

impl Cluster {
    pub fn new(cfg: Config) -> Result<Self> {
        cfg.validate().map_err(Error::Config)?;
        let nodes = cfg
            .endpoints
            .iter()
            .map(|e| Arc::new(Node::new(e.clone(), &cfg)))
            .collect();
        Ok(Cluster {
            inner: Arc::new(Inner {
                events: EventLog::new(cfg.event_capacity),
                cfg,
                nodes,
                next: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                probes: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    pub fn node_names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn stats(&self) -> Vec<NodeStats> {
        self.inner.nodes.iter().map(|n| n.stats()).collect()
    }

    pub fn events(&self) -> Vec<Event> {
        self.inner.events.snapshot()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Stops using the nodes: no new statements, probes joined, connections dropped.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let probes =
            std::mem::take(&mut *self.inner.probes.lock().unwrap_or_else(|p| p.into_inner()));
        for p in probes {
            let _ = p.join();
        }
        for n in &self.inner.nodes {
            n.drop_idle();
        }
    }

    /// Runs a write (or any statement without a result set) and returns rows affected.
    /// `request` fixes the balancing slot (the course's row number x goes to node x mod N
    /// first); `None` takes the next one of this instance.
    pub fn execute(
        &self,
        sql: &str,
        params: &Params,
        write: Write<'_>,
        request: Option<u64>,
        cancel: &Cancel,
    ) -> Result<Outcome<Exec>> {
        self.run(sql, write, request, cancel, &mut |_, conn| {
            exec_on(conn, sql, params)
        })
    }

    /// Runs a read on any live node and returns its rows. `causal` makes the read see every
    /// write the cluster committed before it (Galera `wsrep_sync_wait`, and the Aurora and
    /// Group Replication equivalents), at the cost of waiting for the node to catch up.
    pub fn query(
        &self,
        sql: &str,
        params: &Params,
        causal: bool,
        cancel: &Cancel,
    ) -> Result<Outcome<Rows>> {
        self.run(sql, Write::Read, None, cancel, &mut |node, conn| {
            let session = causal.then(|| node.flavour().causal_read()).flatten();
            if let Some((on, _)) = session {
                conn.query_drop(on)?;
            }
            let rows = rows_on(conn, sql, params)?;
            if let Some((_, off)) = session {
                conn.query_drop(off)?;
            }
            Ok(Rows { rows })
        })
    }

    /// How many rows hold the key, read causally, on any live node.
    pub fn count_key(&self, key: &KeyCheck, cancel: &Cancel) -> Result<u64> {
        let params = Params::Positional(vec![key.value.clone()]);
        let out = self.query(&key.sql(), &params, true, cancel)?;
        let first = out.value.and_then(|r| r.rows.into_iter().next());
        Ok(first.and_then(|row| row.get::<u64, _>(0)).unwrap_or(0))
    }

    /// The request loop: tries nodes in the policy's order for this request, classifies each
    /// failure once, and waits (without spinning) for a node to come back when none is live.
    pub fn run<T>(
        &self,
        sql: &str,
        write: Write<'_>,
        request: Option<u64>,
        cancel: &Cancel,
        op: &mut dyn FnMut(&Node, &mut Conn) -> std::result::Result<T, DbError>,
    ) -> Result<Outcome<T>> {
        self.run_leased(
            sql,
            write,
            request,
            cancel,
            &mut |node, lease| match lease {
                Some(conn) => op(node, conn),
                None => Err(DbError::server_disconnected()),
            },
        )
    }

    /// [`run`](Self::run) for an `op` that may keep the connection (a transaction does): it
    /// takes it out of `lease`, and it is then not returned to the pool.
    pub(crate) fn run_leased<T>(
        &self,
        sql: &str,
        write: Write<'_>,
        request: Option<u64>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, T>,
    ) -> Result<Outcome<T>> {
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        let request = request.unwrap_or_else(|| inner.next.fetch_add(1, Ordering::Relaxed));
        let started = Instant::now();
        let deadline = started + cfg.failover_timeout;
        let first_choice = cfg
            .policy
            .order(request, inner.nodes.len())
            .next()
            .unwrap_or(0);
        let mut out = Outcome {
            value: None,
            node: first_choice,
            retries: 0,
            failovers: 0,
            rerouted: false,
            resolved: false,
            failed_on: None,
        };
        // Once a write's reply was lost, a duplicate-key error on a later try means it had
        // committed: success, not an error.
        let mut was_ambiguous = false;
        let mut last: Option<(String, Option<u16>, String)> = None;

        'request: loop {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            cancel.check()?;
            for idx in cfg.policy.order(request, inner.nodes.len()) {
                let node = &inner.nodes[idx];
                match node.claim(Instant::now()) {
                    Claim::Skip => continue,
                    Claim::Probe => {
                        self.probe(node);
                        continue;
                    }
                    Claim::Use => {}
                }
                let conn = match node.checkout() {
                    Ok(c) => c,
                    Err(e) => {
                        last = Some((node.name.clone(), code(&e), describe(&e)));
                        match classify(&e, Phase::Connect) {
                            Fault::Fatal(kind) => return Err(server_error(node, &e, kind)),
                            _ => {
                                self.node_failed(idx, &e, &mut out);
                                continue;
                            }
                        }
                    }
                };
                log_debug(|| format!("{}: {}", node.name, sql));
                let connection_id = conn.connection_id();
                let mut lease = Some(conn);
                let result = op(node, &mut lease);
                node.record_statement(result.as_ref().err());
                let e = match result {
                    Ok(v) => {
                        if let Some(conn) = lease {
                            node.checkin(conn);
                        }
                        out.value = Some(v);
                        return Ok(self.finish(out, idx, first_choice));
                    }
                    Err(e) => e,
                };
                // A server error leaves the connection usable; anything else does not.
                let conn = lease.filter(|_| matches!(e, DbError::MySqlError(_)));
                last = Some((node.name.clone(), code(&e), describe(&e)));
                match classify(&e, Phase::Statement) {
                    Fault::Fatal(_) if was_ambiguous && code(&e) == Some(ER_DUP_ENTRY) => {
                        node.checkin_some(conn);
                        out.resolved = true;
                        self.note(
                            EventKind::AmbiguousResolved,
                            &node.name,
                            "duplicate key on the retry: the lost write had committed",
                        );
                        return Ok(self.finish(out, idx, first_choice));
                    }
                    Fault::Fatal(kind) => {
                        node.checkin_some(conn);
                        return Err(server_error(node, &e, kind));
                    }
                    Fault::Retry { same_node } => {
                        node.checkin_some(conn);
                        out.retries += 1;
                        if out.retries > cfg.max_retries {
                            return Err(Error::RetriesExhausted {
                                node: node.name.clone(),
                                attempts: out.retries,
                                code: code(&e).unwrap_or(0),
                                message: describe(&e),
                            });
                        }
                        self.note(EventKind::Retry, &node.name, describe(&e));
                        if same_node {
                            cancel
                                .sleep(cfg.backoff.delay(out.retries, super::backoff::jitter()))?;
                            continue 'request;
                        }
                        self.node_failed(idx, &e, &mut out);
                    }
                    Fault::Unreachable => {
                        drop(conn);
                        self.node_failed(idx, &e, &mut out);
                    }
                    Fault::Lost => {
                        // The connection is in an unknown state: never reuse it.
                        drop(conn);
                        self.node_failed(idx, &e, &mut out);
                        match write {
                            Write::Read | Write::Idempotent => {}
                            Write::Unkeyed => {
                                self.note(
                                    EventKind::Ambiguous,
                                    &node.name,
                                    format!("{sql}: {}", describe(&e)),
                                );
                                return Err(Error::Ambiguous {
                                    node: node.name.clone(),
                                    statement: sql.to_owned(),
                                    cause: describe(&e),
                                });
                            }
                            Write::Keyed(key) => {
                                was_ambiguous = true;
                                if self.resolve_lost(node, connection_id, key, cancel)? {
                                    out.resolved = true;
                                    return Ok(self.finish(out, idx, first_choice));
                                }
                            }
                        }
                    }
                }
            }
            // No node ran it this round: every node is down or backing off.
            let now = Instant::now();
            if now >= deadline {
                let detail = self.down_detail();
                let (node, code) = last.map_or((None, None), |(n, c, _)| (Some(n), c));
                return Err(Error::AllNodesDown {
                    waited: now - started,
                    detail,
                    node,
                    code,
                });
            }
            cancel.sleep(IDLE_POLL.min(deadline - now))?;
        }
    }

    /// A keyed write's reply was lost on `node`: fences the session that sent it, then asks
    /// the cluster (causally) whether the row exists. True when the write had committed.
    fn resolve_lost(
        &self,
        node: &Node,
        connection_id: u32,
        key: &KeyCheck,
        cancel: &Cancel,
    ) -> Result<bool> {
        self.fence(node, connection_id);
        let what = key.describe();
        self.note(
            EventKind::Ambiguous,
            &node.name,
            format!("reply lost, checking {what}"),
        );
        let committed = self.count_key(key, cancel)? > 0;
        let verdict = if committed {
            "found: the write had committed"
        } else {
            "not found: writing it again"
        };
        self.note(
            EventKind::AmbiguousResolved,
            &node.name,
            format!("{what} {verdict}"),
        );
        Ok(committed)
    }

    fn finish<T>(&self, mut out: Outcome<T>, idx: usize, first_choice: usize) -> Outcome<T> {
        out.node = idx;
        out.rerouted = idx != first_choice;
        if let Some(from) = out.failed_on.filter(|&f| f != idx) {
            let (from, to) = (&self.inner.nodes[from].name, &self.inner.nodes[idx].name);
            self.note(
                EventKind::Failover,
                to,
                format!("statement failed over from {from}"),
            );
        }
        out
    }

    /// A node failed a connect or a statement: take it out of rotation for a backoff period.
    fn node_failed<T>(&self, idx: usize, e: &DbError, out: &mut Outcome<T>) {
        out.failovers += 1;
        out.failed_on = Some(idx);
        self.mark_failed(&self.inner.nodes[idx], e);
    }

    /// Takes a node that failed under a statement out of rotation for a backoff period.
    pub(crate) fn mark_failed(&self, node: &Node, e: &DbError) {
        node.record_failover();
        let reason = describe(e);
        if node.mark_down(&reason) {
            self.note(EventKind::NodeDown, &node.name, reason);
        }
    }

    /// One reconnect attempt for a down node, off the request path: a dead or frozen node
    /// costs the callers nothing while it is being probed.
    fn probe(&self, node: &Arc<Node>) {
        let this = self.clone();
        let target = Arc::clone(node);
        let spawned = thread::Builder::new()
            .name(format!("multimaster-probe-{}", node.name))
            .spawn(move || {
                let node = target;
                if this.is_closed() {
                    node.mark_down("closed");
                    return;
                }
                match node.checkout() {
                    Ok(conn) => {
                        node.checkin(conn);
                        if node.mark_up() {
                            this.note(EventKind::NodeUp, &node.name, "reconnected");
                        }
                    }
                    Err(e) => {
                        node.mark_down(&describe(&e));
                        log_debug(|| format!("{}: still down: {}", node.name, describe(&e)));
                    }
                }
            });
        let mut probes = self.inner.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => probes.push(h),
            Err(e) => {
                node.mark_down(&format!("cannot start a probe thread: {e}"));
            }
        }
    }

    /// Before asking the cluster whether a lost write committed, make sure it is not still
    /// running: on a node that is slow rather than dead, the statement could commit after
    /// the check said it had not. A node that cannot be reached cannot commit it either once
    /// the cluster has evicted it (read_timeout outlasts Galera's eviction).
    pub(crate) fn fence(&self, node: &Node, connection_id: u32) {
        let fenced = node.fence(connection_id, self.inner.cfg.read_timeout);
        log_debug(|| format!("{}: session {connection_id} fenced: {fenced}", node.name));
    }

    fn down_detail(&self) -> String {
        let parts: Vec<String> = self
            .inner
            .nodes
            .iter()
            .map(|n| {
                let s = n.stats();
                format!(
                    "{} {} ({})",
                    s.address,
                    s.state,
                    s.last_error.as_deref().unwrap_or("no error")
                )
            })
            .collect();
        parts.join("; ")
    }

    /// Records an event and logs it: failures at WARNING, recoveries and retries at INFO.
    pub(crate) fn note(&self, kind: EventKind, node: &str, detail: impl Into<String>) {
        let detail = detail.into();
        if !QUIET.load(Ordering::Relaxed) {
            let level = match kind {
                EventKind::NodeDown | EventKind::Ambiguous => log::Level::Warn,
                _ => log::Level::Info,
            };
            let what = match kind {
                EventKind::NodeDown => "down",
                EventKind::NodeUp => "back up",
                EventKind::Failover => "took over",
                EventKind::Retry => "retry",
                EventKind::Ambiguous => "outcome unknown",
                EventKind::AmbiguousResolved => "outcome resolved",
            };
            log::log!(target: "multimaster", level, "node {node} {what}: {detail}");
        }
        self.inner.events.push(kind, node, detail);
    }
}

pub(crate) fn log_debug(msg: impl FnOnce() -> String) {
    if !QUIET.load(Ordering::Relaxed) && log::log_enabled!(target: "multimaster", log::Level::Debug)
    {
        log::debug!(target: "multimaster", "{}", msg());
    }
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
) -> std::result::Result<Vec<Row>, DbError> {
    match params {
        Params::Empty => conn.query(sql),
        p => conn.exec(sql, p.clone()),
    }
}

pub(crate) fn server_error(node: &Node, e: &DbError, kind: Kind) -> Error {
    match e {
        DbError::MySqlError(m) => Error::Server {
            node: node.name.clone(),
            code: m.code,
            state: m.state.clone(),
            message: m.message.clone(),
            kind,
        },
        other => Error::Driver {
            node: node.name.clone(),
            message: describe(other),
            kind,
        },
    }
}
