//! One node: its endpoint, idle connections, health (up, or down until a time with backoff)
//! and counters.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql::{Conn, Opts, OptsBuilder};

use crate::core::events::NodeStats;
use crate::core::failure::backoff::{jitter, Backoff};
use crate::core::failure::fault::{describe, NodeError};
use crate::core::failure::liveness::{Incarnation, Life};
use crate::core::failure::policy::Load;
use crate::core::node::fitness::Fitness;
use crate::core::node::flavour::Flavour;
use crate::core::node::latency::Latency;
use crate::core::settings::address::Endpoint;
use crate::core::settings::config::Config;
use crate::core::sync::lock;

/// A pooled connection unused for longer than this is pinged before a statement is sent on it,
/// so a node that died while idle is found before a write, not by an ambiguous write.
const STALE_AFTER: Duration = Duration::from_millis(1000);

/// Idle connections kept per node; more concurrent callers open more and close the extra.
const MAX_IDLE: usize = 16;

#[derive(Debug)]
struct Down {
    until: Instant,
    failures: u32,
    /// A reconnect attempt is under way: other callers skip the node instead of piling on.
    probing: bool,
}

#[derive(Debug, Default)]
struct State {
    down: Option<Down>,
    statements: u64,
    errors: u64,
    failovers: u64,
    reconnects: u64,
    last_error: Option<String>,
    flavour: Option<Flavour>,
    /// The server process the pooled connections belong to: shared, since every statement's
    /// `Session` names it (a clone is a reference count, not its Galera UUID copied).
    incarnation: Option<Arc<Incarnation>>,
    /// What the node's own state said when last read (`fitness.rs`).
    fitness: Fitness,
    /// Why its state could not be read, once it could not: the node is used as if fit.
    unreadable: Option<String>,
    /// A discovered address never reached: since when, and whether it was reported
    /// (`mark_unreachable`).
    unreachable_since: Option<Instant>,
    unreachable_reported: bool,
}

/// A change of a node's fitness worth an event (or, unreadable, a log line).
#[derive(Debug, PartialEq, Eq)]
pub enum StateChange {
    Draining(String),
    /// Fit again; what had made it drain.
    Ready(String),
    Unreadable(String),
}

/// When the node's state was last read, and whether a read is under way.
#[derive(Debug, Default)]
struct StateReads {
    reading: bool,
    last: Option<Instant>,
}

/// How fencing a lost session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// `KILL CONNECTION` ran and the session is gone: whatever it ran committed or rolled back.
    Killed,
    /// The server process that held it is gone (nothing listens, or a new process answers).
    ProcessGone,
    /// The node does not answer: try again later (or wait for the cluster to evict it).
    Unreachable,
}

impl Fence {
    pub fn describe(self) -> &'static str {
        match self {
            Fence::Killed => "killed",
            Fence::ProcessGone => "process gone",
            Fence::Unreachable => "node unreachable",
        }
    }
}

/// What a caller may do with a node right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Up: use it.
    Use,
    /// Down and its backoff has passed: this caller owns the one reconnect attempt.
    Probe,
    /// Down, backing off or being probed by someone else.
    Skip,
}

/// How a node became known to the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownBy {
    /// In the addresses the instance was made with: never dropped.
    Given,
    /// By `add_node` at run time.
    Added,
    /// Read from the cluster's own membership (`discover`).
    Discovered,
}

impl KnownBy {
    pub fn name(self) -> &'static str {
        match self {
            KnownBy::Given => "given",
            KnownBy::Added => "added",
            KnownBy::Discovered => "discovered",
        }
    }
}

pub struct Node {
    pub endpoint: Endpoint,
    pub name: String,
    pub known_by: KnownBy,
    /// Out of rotation for good (`remove_node`): never claimed, probed or read, its
    /// connections dropped as they come back. Cleared when the address is added again.
    retired: AtomicBool,
    opts: Opts,
    connect_timeout: Duration,
    /// The failure-detection time: bounds a stale connection's ping and a liveness check's query.
    detection: Duration,
    life: Mutex<Life>,
    /// A connection kept for liveness checks and cluster questions, apart from the pool.
    monitor: Mutex<Option<Conn>>,
    /// A connection kept for `KILL QUERY` alone: a check holds `monitor` through a connect
    /// that a silent node makes last 1.5 × `connect_timeout`, and a kill for a timeout or
    /// Ctrl-C must not wait behind it.
    killer: Mutex<Option<Conn>>,
    backoff: Backoff,
    state: Mutex<State>,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// The node's `max_allowed_packet`, read at connect (0 until then).
    max_packet: AtomicU64,
    /// Connections are plain TCP (ssl_mode DISABLED).
    plain: bool,
    /// Statement times, apart from `state`: recorded without taking its lock.
    latency: Latency,
    reads: Mutex<StateReads>,
    /// Statements running on the node now, and their recent time (µs, a moving average):
    /// the `least-loaded` policy's view.
    in_flight: AtomicU32,
    latency_us: AtomicU64,
}

impl Node {
    pub fn new(endpoint: Endpoint, cfg: &Config, known_by: KnownBy) -> Self {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(endpoint.host.clone()))
            .tcp_port(endpoint.port)
            .user(Some(cfg.user.clone()))
            .pass(Some(cfg.password.expose().to_owned()))
            .db_name(cfg.database.clone())
            // On loopback the driver would silently switch to the local Unix socket, and every
            // node would be the same server.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(cfg.connect_timeout))
            // Bounds the handshake and a monitor connection's queries; pooled connections clear it
            // after connecting (a statement may run as long as it needs: the watchdog judges
            // the node).
            .read_timeout(Some(cfg.failure_detection))
            .write_timeout(Some(cfg.write_timeout))
            .tcp_nodelay(true)
            .stmt_cache_size(Some(64))
            .ssl_opts(cfg.tls.ssl_opts());
        Node {
            name: endpoint.to_string(),
            endpoint,
            known_by,
            retired: AtomicBool::new(false),
            opts: opts.into(),
            connect_timeout: cfg.connect_timeout,
            detection: cfg.failure_detection,
            life: Mutex::new(Life::default()),
            monitor: Mutex::new(None),
            killer: Mutex::new(None),
            backoff: cfg.backoff,
            state: Mutex::new(State::default()),
            idle: Mutex::new(Vec::new()),
            max_packet: AtomicU64::new(0),
            plain: cfg.tls.ssl_opts().is_none(),
            latency: Latency::default(),
            reads: Mutex::new(StateReads::default()),
            in_flight: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
        }
    }

    pub fn claim(&self, now: Instant) -> Claim {
        if self.is_retired() {
            return Claim::Skip;
        }
        let mut st = lock(&self.state);
        let fit = st.fitness.is_fit();
        match st.down.as_mut() {
            // Draining: statements in flight finish, nothing new goes there.
            None if !fit => Claim::Skip,
            None => Claim::Use,
            Some(d) if d.probing || now < d.until => Claim::Skip,
            Some(d) => {
                d.probing = true;
                Claim::Probe
            }
        }
    }

    /// Drops the idle connections and the monitor and kill connections (the instance is
    /// closing).
    pub fn drop_idle(&self) {
        lock(&self.idle).clear();
        lock(&self.monitor).take();
        lock(&self.killer).take();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Takes the node out of rotation for good: nothing new goes there, statements in flight
    /// finish (their connections are dropped when they come back), idle ones are dropped now.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.drop_idle();
    }

    /// Brings a retired node (or a new one) in as a returning node is: down, with its one
    /// reconnect attempt due now; it takes statements after that connect and a read of its
    /// state say it is up and fit.
    pub fn await_connect(&self, why: &str) {
        let mut st = lock(&self.state);
        st.last_error = Some(why.to_owned());
        st.down = Some(Down {
            until: Instant::now(),
            failures: 0,
            probing: false,
        });
        drop(st);
        self.retired.store(false, Ordering::Release);
    }

    /// Taken for dead (backing off, or being probed).
    pub fn is_down(&self) -> bool {
        lock(&self.state).down.is_some()
    }

    /// Whether a connect ever succeeded (its engine is then known).
    pub fn ever_connected(&self) -> bool {
        lock(&self.state).flavour.is_some()
    }

    /// A discovered address that could never be reached (a node advertising an address the
    /// client cannot reach): down with the backoff at its ceiling at once, so it is probed at
    /// that rate, never at full rate. Returns true once, when it has been unreachable for
    /// `report_after` (a joining node is refused until its state transfer is done: that is no
    /// news).
    pub fn mark_unreachable(&self, reason: &str, report_after: Duration) -> bool {
        let mut st = lock(&self.state);
        st.last_error = Some(reason.to_owned());
        let since = *st.unreachable_since.get_or_insert_with(Instant::now);
        let first = !st.unreachable_reported && since.elapsed() >= report_after;
        st.unreachable_reported |= first;
        st.down = Some(Down {
            until: Instant::now() + self.backoff.delay(u32::MAX, jitter()),
            failures: u32::MAX,
            probing: false,
        });
        first
    }

    pub fn flavour(&self) -> Flavour {
        lock(&self.state).flavour.unwrap_or(Flavour::Plain)
    }

    /// Marks the node down for one backoff period; drops its idle connections (they died
    /// with it). Returns true when it was up until now.
    pub fn mark_down(&self, reason: &str) -> bool {
        lock(&self.idle).clear();
        let mut st = lock(&self.state);
        st.last_error = Some(reason.to_owned());
        let failures = st.down.as_ref().map_or(0, |d| d.failures).saturating_add(1);
        let was_up = st.down.is_none();
        st.down = Some(Down {
            until: Instant::now() + self.backoff.delay(failures, jitter()),
            failures,
            probing: false,
        });
        was_up
    }

    /// Marks the node up after a successful (re)connect. Returns true when it was down.
    pub fn mark_up(&self) -> bool {
        let mut st = lock(&self.state);
        let was_down = st.down.take().is_some();
        if was_down {
            st.reconnects += 1;
        }
        was_down
    }

    pub fn record_statement(&self, took: Duration, error: Option<&NodeError>) {
        self.latency.record(took);
        let mut st = lock(&self.state);
        st.statements += 1;
        if let Some(e) = error {
            st.errors += 1;
            st.last_error = Some(describe(e));
        }
    }

    pub fn record_failover(&self) {
        lock(&self.state).failovers += 1;
    }

    pub fn stats(&self) -> NodeStats {
        let st = lock(&self.state);
        NodeStats {
            address: self.name.clone(),
            state: match &st.down {
                _ if self.is_retired() => "removed",
                None if !st.fitness.is_fit() => "draining",
                None => "up",
                Some(_) => "down",
            },
            statements: st.statements,
            errors: st.errors,
            failovers: st.failovers,
            reconnects: st.reconnects,
            last_error: st.last_error.clone(),
            flavour: st.flavour.map(Flavour::name),
            latency: self.latency.snapshot(),
            known_by: self.known_by.name(),
            state_reason: st
                .fitness
                .reason()
                .map(str::to_owned)
                .or_else(|| st.unreadable.clone()),
            ..NodeStats::default()
        }
    }

    /// Starts a read of the node's state if one is due (`every` since the last) and none is
    /// under way, and the node is up (a down node is probed instead) with a known engine.
    pub fn begin_state_read(&self, now: Instant, every: Duration) -> bool {
        {
            let st = lock(&self.state);
            if st.down.is_some() || st.flavour.is_none() || self.is_retired() {
                return false;
            }
        }
        let mut reads = lock(&self.reads);
        let due = reads
            .last
            .map_or(true, |l| now.saturating_duration_since(l) >= every);
        if reads.reading || !due {
            return false;
        }
        reads.reading = true;
        reads.last = Some(now);
        true
    }

    pub fn end_state_read(&self) {
        lock(&self.reads).reading = false;
    }

    /// Records what a read of the node's state found (`Err`: why it could not be read; the
    /// node is then used as if fit). Says what changed, if anything worth telling.
    pub fn set_fitness(&self, read: Result<Fitness, String>) -> Option<StateChange> {
        let mut st = lock(&self.state);
        let fitness = read.as_ref().cloned().unwrap_or_default();
        let old = std::mem::replace(&mut st.fitness, fitness);
        match read {
            Err(why) if st.unreadable.as_ref() != Some(&why) => {
                st.unreadable = Some(why.clone());
                Some(StateChange::Unreadable(why))
            }
            Err(_) => None,
            Ok(f) => {
                st.unreadable = None;
                match (old, f) {
                    (Fitness::Fit, Fitness::Draining(why)) => Some(StateChange::Draining(why)),
                    (Fitness::Draining(was), Fitness::Fit) => Some(StateChange::Ready(was)),
                    _ => None,
                }
            }
        }
    }

    /// A statement starts on the node; hand what this returns to `end_statement`.
    pub fn begin_statement(&self) -> Instant {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Instant::now()
    }

    /// A statement started at `started` ended: one eighth of its time goes into the average.
    pub fn end_statement(&self, started: Instant) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let took = started.elapsed().as_micros().min(u128::from(u64::MAX / 8)) as u64;
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        self.latency_us.store(new, Ordering::Relaxed);
    }

    pub fn load(&self) -> Load {
        Load {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            latency_us: self.latency_us.load(Ordering::Relaxed),
        }
    }

    pub fn fitness(&self) -> Fitness {
        lock(&self.state).fitness.clone()
    }
}

mod conn;
pub mod exec;
pub mod fitness;
pub mod flavour;
pub mod latency;
pub mod members;
mod monitor;
pub mod packet;
pub mod sock;

#[cfg(test)]
mod tests;
