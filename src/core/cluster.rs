//! The failover-aware set of nodes: runs each statement on a live node by the balancing
//! policy (the loop is `cluster/run.rs`, its decisions `failure/decide.rs`), probes down nodes
//! in the background, fences lost sessions and checks keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use mysql::prelude::Queryable;
use mysql::{Conn, Params};

use crate::core::cancel::Cancel;
use crate::core::cluster::run::{conn, timed_out, Backend, LeasedOp};
use crate::core::cluster::watchdog::Watchdog;
use crate::core::error::{Error, Result};
use crate::core::events::{Event, EventKind, EventLog, NodeStats};
pub use crate::core::failure::decide::{IfLost, KeyCheck, Outcome};
use crate::core::failure::fault::describe;
use crate::core::logs::log_debug;
pub(crate) use crate::core::node::exec::{exec_on, rows_on};
pub use crate::core::node::exec::{Exec, Rows};
use crate::core::node::Node;
use crate::core::observe::{Hook, Observer};
use crate::core::settings::config::Config;
use crate::core::sync::lock;

struct Inner {
    cfg: Config,
    nodes: Arc<Vec<Arc<Node>>>,
    watchdog: Watchdog,
    events: EventLog,
    next: AtomicU64,
    closed: AtomicBool,
    probes: Mutex<Vec<JoinHandle<()>>>,
    /// An exporter's per-statement hook (`observe.rs`), unset unless instrumented.
    hook: Hook,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watchdog.stop();
    }
}

/// Cheap to clone: clones share the nodes, their connections and the event log.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Cluster {
    pub fn new(cfg: Config) -> Result<Self> {
        cfg.validate()?;
        let nodes: Arc<Vec<Arc<Node>>> = Arc::new(
            cfg.endpoints
                .iter()
                .map(|e| Arc::new(Node::new(e.clone(), &cfg)))
                .collect(),
        );
        let watchdog = Watchdog::start(Arc::downgrade(&nodes), cfg.failure_detection)
            .map_err(|e| Error::Internal(format!("cannot start the watchdog thread: {e}")))?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                watchdog,
                events: EventLog::new(cfg.event_capacity),
                cfg,
                nodes,
                next: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                probes: Mutex::new(Vec::new()),
                hook: Hook::default(),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// Node `idx`, for work that stays on it (a transaction's attempt).
    pub(crate) fn node(&self, idx: usize) -> Arc<Node> {
        Arc::clone(&self.inner.nodes[idx])
    }

    pub fn node_names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The smallest `max_allowed_packet` of the nodes connected so far (0: none yet).
    pub fn max_packet(&self) -> u64 {
        let known = self
            .inner
            .nodes
            .iter()
            .map(|n| n.max_packet())
            .filter(|&m| m > 0);
        known.min().unwrap_or(0)
    }

    pub fn stats(&self) -> Vec<NodeStats> {
        let events = &self.inner.events;
        self.inner
            .nodes
            .iter()
            .map(|n| NodeStats {
                events: events.counts(&n.name),
                ..n.stats()
            })
            .collect()
    }

    /// Sets (or with None, removes) the exporter told of every statement.
    pub fn observe(&self, observer: Option<Arc<dyn Observer>>) {
        self.inner.hook.set(observer);
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
        let probes = std::mem::take(&mut *lock(&self.inner.probes));
        for p in probes {
            let _ = p.join();
        }
        for n in self.inner.nodes.iter() {
            n.drop_idle();
        }
        self.inner.watchdog.stop();
    }

    /// Runs a write (or any statement without a result set) and returns rows affected.
    /// `request` fixes the balancing slot (the course's row number x goes to node x mod N
    /// first); `None` takes the next one of this instance.
    pub fn execute(
        &self,
        sql: &str,
        params: &Params,
        write: IfLost<'_>,
        request: Option<u64>,
        cancel: &Cancel,
    ) -> Result<Outcome<Exec>> {
        let nodes = &self.inner.nodes;
        let out = self.run(sql, write, request, cancel, &mut |idx, lease| {
            nodes[idx].check_size(sql, params)?;
            Ok(exec_on(conn(lease)?, sql, params)?)
        })?;
        // Killed for its time limit yet answered OK: a write that changed rows had committed
        // before the kill arrived, and stands; anything else (`DO SLEEP(60)`) timed out.
        let changed = out.value.as_ref().is_some_and(|e| e.affected > 0);
        match out.killed_after {
            Some(elapsed) if !changed => Err(timed_out(self.name(out.node), sql, elapsed, cancel)),
            _ => Ok(out),
        }
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
        let nodes = &self.inner.nodes;
        let out = self.run(sql, IfLost::RunAgain, None, cancel, &mut |idx, lease| {
            let node = &nodes[idx];
            node.check_size(sql, params)?;
            let conn = conn(lease)?;
            let Some((on, off)) = causal.then(|| node.flavour().causal_read()).flatten() else {
                return Ok(rows_on(conn, sql, params)?);
            };
            conn.query_drop(on)?;
            let rows = rows_on(conn, sql, params);
            // Reset whatever the read's outcome: a session left causal would make every later
            // read on it wait for the cluster to sync, through Galera's whole pause after a
            // crash. If it cannot be reset, the connection is not pooled again.
            if conn.query_drop(off).is_err() {
                lease.take();
            }
            Ok(rows?)
        })?;
        // Killed for its time limit yet answered (`SELECT SLEEP(60)` returns 1 when killed):
        // rows from an interrupted read are not the read's answer.
        match out.killed_after {
            Some(elapsed) => Err(timed_out(self.name(out.node), sql, elapsed, cancel)),
            None => Ok(out),
        }
    }

    /// How many of the keys exist (each counted once), read causally, on any live node.
    pub fn count_key(&self, key: &KeyCheck, cancel: &Cancel) -> Result<u64> {
        let params = Params::Positional(key.values.clone());
        let out = self.query(&key.sql(), &params, true, cancel)?;
        let first = out.value.and_then(|r| r.rows.into_iter().next());
        Ok(first.and_then(|row| row.get::<u64, _>(0)).unwrap_or(0))
    }

    /// The next balancing slot of this instance: a DB-API connection takes one for all its
    /// transactions, so that a pool's connections spread over the nodes.
    pub fn next_slot(&self) -> u64 {
        self.inner.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The request loop (`cluster/run.rs`) on these nodes: `op` runs on a leased connection
    /// of the node it is given, and may take the connection out of the lease to keep it (a
    /// transaction does; it is then not returned to the pool). `request` fixes the balancing
    /// slot; `None` takes the next one of this instance.
    pub(crate) fn run<T>(
        &self,
        sql: &str,
        write: IfLost<'_>,
        request: Option<u64>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, Conn, T>,
    ) -> Result<Outcome<T>> {
        let request = request.unwrap_or_else(|| self.inner.next.fetch_add(1, Ordering::Relaxed));
        let (cfg, nodes) = (&self.inner.cfg, &self.inner.nodes);
        run::run(self, cfg, sql, write, request, cancel, &mut |idx, lease| {
            log_debug(|| format!("{}: {}", nodes[idx].name, sql));
            op(idx, lease)
        })
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
                            let up = "reconnected".into();
                            this.note(EventKind::NodeUp, &node.name, up);
                        }
                    }
                    Err(e) => {
                        node.mark_down(&describe(&e));
                        log_debug(|| format!("{}: still down: {}", node.name, describe(&e)));
                    }
                }
            });
        let mut probes = lock(&self.inner.probes);
        probes.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => probes.push(h),
            Err(e) => {
                node.mark_down(&format!("cannot start a probe thread: {e}"));
            }
        }
    }
}

mod backend;
mod fence;
pub mod run;
pub mod watchdog;
