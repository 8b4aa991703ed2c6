//! The failover-aware set of nodes: runs each statement on a live node by the balancing
//! policy (the loop is `cluster/run.rs`, its decisions `failure/decide.rs`), probes down nodes
//! in the background, fences lost sessions and checks keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use mysql::prelude::Queryable;
use mysql::{Conn, Params};

use crate::core::cancel::Cancel;
use crate::core::cluster::discovery::Discovery;
use crate::core::cluster::roster::{plan_add, plan_remove, AddPlan, Roster};
use crate::core::cluster::run::{conn, timed_out, Backend, LeasedOp};
use crate::core::cluster::watchdog::Watchdog;
use crate::core::error::{Error, Result};
use crate::core::events::{Event, EventKind, EventLog, NodeStats};
pub use crate::core::failure::decide::{IfLost, KeyCheck, Outcome};
use crate::core::failure::fault::describe;
use crate::core::logs::log_debug;
pub(crate) use crate::core::node::exec::{exec_on, rows_on};
pub use crate::core::node::exec::{Exec, Rows};
use crate::core::node::{Claim, KnownBy, Node};
use crate::core::observe::{Hook, Observer};
use crate::core::settings::address::Endpoint;
use crate::core::settings::config::Config;
use crate::core::sync::lock;

struct Inner {
    cfg: Config,
    nodes: Arc<Roster>,
    watchdog: Watchdog,
    events: Arc<EventLog>,
    next: AtomicU64,
    closed: AtomicBool,
    probes: Mutex<Vec<JoinHandle<()>>>,
    /// An exporter's per-statement hook (`observe.rs`), unset unless instrumented.
    hook: Hook,
    /// The members' reader (`discover`); idle unless on.
    discovery: Arc<Discovery>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watchdog.stop();
        self.discovery.stop();
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
        let nodes = Arc::new(Roster::new(
            cfg.endpoints
                .iter()
                .map(|e| Node::new(e.clone(), &cfg, KnownBy::Given)),
        ));
        let events = Arc::new(EventLog::new(cfg.event_capacity));
        let watchdog = Watchdog::start(
            Arc::downgrade(&nodes),
            cfg.failure_detection,
            Arc::clone(&events),
        )
        .map_err(|e| Error::Internal(format!("cannot start the watchdog thread: {e}")))?;
        let discover = cfg.discover;
        let cluster = Cluster {
            inner: Arc::new(Inner {
                watchdog,
                events,
                cfg,
                nodes,
                next: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                probes: Mutex::new(Vec::new()),
                hook: Hook::default(),
                discovery: Arc::default(),
            }),
        };
        if discover {
            let (d, inner) = (&cluster.inner.discovery, &cluster.inner);
            discovery::start(Arc::clone(d), Arc::downgrade(inner))
                .map_err(|e| Error::Internal(format!("cannot start the discovery thread: {e}")))?;
        }
        Ok(cluster)
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// The most nodes an instance can know: per-node counters sized by this never run out.
    pub fn capacity(&self) -> usize {
        roster::MAX_NODES
    }

    /// Node `idx`, for work that stays on it (a transaction's attempt).
    pub(crate) fn node(&self, idx: usize) -> Arc<Node> {
        Arc::clone(&self.inner.nodes[idx])
    }

    /// Node `idx`'s address (the node a statement's outcome names).
    pub fn node_name(&self, idx: usize) -> String {
        self.inner.nodes[idx].name.clone()
    }

    /// Every node known so far by index, retired ones included (an index stays valid).
    pub fn node_names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The nodes in rotation (not retired): their addresses and how each became known.
    pub fn members(&self) -> Vec<(String, KnownBy, &'static str)> {
        let nodes = &self.inner.nodes;
        let members = nodes.in_rotation().into_iter().map(|i| &nodes[i]);
        members
            .map(|n| (n.name.clone(), n.known_by, n.stats().state))
            .collect()
    }

    /// Adds `address` to the rotation: a new node (or a retired one again, with its index and
    /// counters) that takes statements once a first connect and a read of its state find it
    /// up and fit, as a returning node does; the connect starts now, off the caller's thread.
    /// An address already in rotation: nothing happens. Returns the node's index.
    pub fn add_node(&self, address: &str) -> Result<usize> {
        let endpoint = parse_address(address)?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let nodes = &self.inner.nodes;
        let _change = nodes.changing();
        let idx = match plan_add(&nodes.known(), &endpoint) {
            AddPlan::InRotation(i) => return Ok(i),
            AddPlan::Revive(i) => {
                self.inner.discovery.forget_left(i);
                nodes[i].await_connect("added again: not connected yet");
                i
            }
            AddPlan::New => {
                let node = Node::new(endpoint, &self.inner.cfg, KnownBy::Added);
                node.await_connect("added: not connected yet");
                nodes.push(node)?
            }
        };
        let node = Arc::clone(&nodes[idx]);
        self.note(
            EventKind::NodeAdded,
            &node.name,
            "in rotation once connected and fit".into(),
        );
        if node.claim(std::time::Instant::now()) == Claim::Probe {
            self.probe(&node);
        }
        Ok(idx)
    }

    /// Takes `address` out of rotation for good: nothing new goes there, statements in flight
    /// finish (returns without waiting for them), its idle connections are dropped, it is no
    /// longer probed. Refuses an address not in rotation and the last node in rotation.
    pub fn remove_node(&self, address: &str) -> Result<()> {
        let endpoint = parse_address(address)?;
        let nodes = &self.inner.nodes;
        let _change = nodes.changing();
        let idx = plan_remove(&nodes.known(), &endpoint)?;
        self.inner.discovery.forget_left(idx);
        nodes[idx].retire();
        let why = "removed: statements in flight finish, nothing new goes there";
        self.note(EventKind::NodeRemoved, &nodes[idx].name, why.into());
        Ok(())
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

    /// Per node known so far (retired ones show as "removed"), in index order.
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
        self.inner.discovery.stop();
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
        let out = self.run(sql, write, request, None, cancel, &mut |idx, lease| {
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
        let out = self.run(
            sql,
            IfLost::RunAgain,
            None,
            None,
            cancel,
            &mut |idx, lease| {
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
            },
        )?;
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
    /// slot; `None` takes the next one of this instance. `affinity`: a key's hash for
    /// `key-affinity` (a keyed write's own key otherwise).
    pub(crate) fn run<T>(
        &self,
        sql: &str,
        write: IfLost<'_>,
        request: Option<u64>,
        affinity: Option<u64>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, Conn, T>,
    ) -> Result<Outcome<T>> {
        let request = request.unwrap_or_else(|| self.inner.next.fetch_add(1, Ordering::Relaxed));
        let (cfg, nodes) = (&self.inner.cfg, &self.inner.nodes);
        run::run(
            self,
            cfg,
            sql,
            write,
            request,
            affinity,
            cancel,
            &mut |idx, lease| {
                log_debug(|| format!("{}: {}", nodes[idx].name, sql));
                op(idx, lease)
            },
        )
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
                        // Its state first: a node back but draining takes no statement.
                        node.refresh_state(&this.inner.events);
                        if node.mark_up() {
                            let up = "reconnected".into();
                            this.note(EventKind::NodeUp, &node.name, up);
                        }
                    }
                    // A discovered address never reached (a node advertising an address the
                    // client cannot reach): said once, probed at the backoff's ceiling.
                    Err(e) if node.known_by == KnownBy::Discovered && !node.ever_connected() => {
                        let why = format!("advertised by the cluster, but: {}", describe(&e));
                        if node.mark_unreachable(&why, discovery::REPORT_UNREACHABLE) {
                            this.note(EventKind::NodeUnreachable, &node.name, why);
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

/// An address for `add_node` / `remove_node`, as the constructor takes it; a malformed one is
/// the caller's `ValueError`.
fn parse_address(address: &str) -> Result<Endpoint> {
    address
        .parse::<Endpoint>()
        .map_err(|e| Error::Membership(e.to_string()))
}

mod backend;
mod discovery;
mod fence;
pub mod roster;
pub mod run;
pub mod watchdog;
