//! One node: its endpoint, idle connections, health (up, or down until a time with backoff)
//! and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Error as DbError, MySqlError, Opts, OptsBuilder, Params};

use super::address::Endpoint;
use super::backoff::{jitter, Backoff};
use super::config::Config;
use super::events::NodeStats;
use super::fault::{describe, refused};
use super::flavour::{galera_ready, Flavour, DETECT_SQL, STATUS_SQL};
use super::liveness::{Answer, Incarnation, Life};
use super::sync::lock;
use super::{packet, sock};

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
    /// The server process the pooled connections belong to.
    incarnation: Option<Incarnation>,
}

/// What a connect found out about the server, besides the connection.
struct Detected {
    flavour: Flavour,
    max_packet: u64,
    incarnation: Incarnation,
    /// Why a Galera node cannot serve queries yet, if it cannot.
    not_ready: Option<String>,
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

pub struct Node {
    pub endpoint: Endpoint,
    pub name: String,
    opts: Opts,
    connect_timeout: Duration,
    /// The failure-detection time: bounds a stale connection's ping and a liveness check's query.
    detection: Duration,
    life: Mutex<Life>,
    /// A connection kept for liveness checks and kills, apart from the pool.
    monitor: Mutex<Option<Conn>>,
    backoff: Backoff,
    state: Mutex<State>,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// The node's `max_allowed_packet`, read at connect (0 until then).
    max_packet: AtomicU64,
    /// Connections are plain TCP (ssl_mode DISABLED).
    plain: bool,
}

/// A server error made up by the client, so that "not ready" takes the same path as the
/// server's own 1047.
pub fn not_ready_error(detail: &str) -> DbError {
    DbError::MySqlError(MySqlError {
        state: "08S01".into(),
        code: 1047,
        message: format!("node not ready: {detail}"),
    })
}

impl Node {
    pub fn new(endpoint: Endpoint, cfg: &Config) -> Self {
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
            opts: opts.into(),
            connect_timeout: cfg.connect_timeout,
            detection: cfg.failure_detection,
            life: Mutex::new(Life::default()),
            monitor: Mutex::new(None),
            backoff: cfg.backoff,
            state: Mutex::new(State::default()),
            idle: Mutex::new(Vec::new()),
            max_packet: AtomicU64::new(0),
            plain: cfg.tls.ssl_opts().is_none(),
        }
    }

    pub fn claim(&self, now: Instant) -> Claim {
        let mut st = lock(&self.state);
        match st.down.as_mut() {
            None => Claim::Use,
            Some(d) if d.probing || now < d.until => Claim::Skip,
            Some(d) => {
                d.probing = true;
                Claim::Probe
            }
        }
    }

    /// An idle connection, pinged first if it sat unused long enough to have gone stale,
    /// or a new one. Errors here happen before any statement was sent.
    pub fn checkout(&self) -> Result<Conn, DbError> {
        loop {
            let Some((mut conn, since)) = lock(&self.idle).pop() else {
                return self.connect();
            };
            let pinged = Instant::now();
            if since.elapsed() < STALE_AFTER || self.ping_bounded(&mut conn) {
                return Ok(conn);
            }
            // The node restarted or dropped us while idle; the rest of the pool is as stale.
            lock(&self.idle).clear();
            if pinged.elapsed() >= self.detection {
                // Silent for the failure-detection time: dead, without a connect's wait too.
                let silent = format!(
                    "no answer to a ping for {:.1} s",
                    self.detection.as_secs_f64()
                );
                return Err(DbError::IoError(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    silent,
                )));
            }
        }
    }

    pub fn checkin_some(&self, conn: Option<Conn>) {
        if let Some(conn) = conn {
            self.checkin(conn);
        }
    }

    /// A ping no longer than the failure-detection time (pooled connections have no read
    /// timeout of their own).
    fn ping_bounded(&self, conn: &mut Conn) -> bool {
        let fd = conn.as_raw_fd();
        sock::set_read_timeout(fd, Some(self.detection)).is_ok()
            && conn.ping().is_ok()
            && sock::set_read_timeout(fd, None).is_ok()
    }

    /// Ends the server session `connection_id` of the process `incarnation` (left behind by a
    /// lost connection) and waits until it is gone, so whatever it ran has committed or rolled
    /// back. A session of an earlier process is never killed by number: that number may now
    /// be someone else's.
    pub fn fence(&self, connection_id: u32, incarnation: Option<&Incarnation>) -> Fence {
        let (mut conn, found) = match self.open() {
            Ok(c) => c,
            Err(e) if refused(&e) => return Fence::ProcessGone,
            Err(_) => return Fence::Unreachable,
        };
        if incarnation.is_some_and(|i| !i.same(&found.incarnation)) {
            return Fence::ProcessGone;
        }
        match conn.query_drop(format!("KILL CONNECTION {connection_id}")) {
            // 1094: no such session: it already ended.
            Ok(()) | Err(DbError::MySqlError(MySqlError { code: 1094, .. })) => {}
            Err(_) => return Fence::Unreachable,
        }
        let deadline = Instant::now() + self.detection;
        loop {
            let alive: Result<Option<u64>, DbError> = conn.exec_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
                (connection_id,),
            );
            match alive {
                Ok(Some(0)) => return Fence::Killed,
                Ok(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => return Fence::Unreachable,
            }
        }
    }

    /// Stops the statement running in session `connection_id`, over the monitor connection
    /// (the session's own connection is busy with it). Best effort: the watchdog cuts the
    /// connection if the statement does not end soon after.
    pub fn kill_query(&self, connection_id: u32) {
        self.on_monitor(|conn| conn.query_drop(format!("KILL QUERY {connection_id}")));
    }

    /// Galera: whether this node's view of the cluster has the member `uuid`; `None` when it
    /// cannot tell (unreachable, or no members table before MariaDB 10.4).
    pub fn has_member(&self, uuid: &str) -> Option<bool> {
        self.on_monitor(|conn| {
            conn.exec_first::<u64, _, _>(
                "SELECT COUNT(*) FROM mysql.wsrep_cluster_members WHERE node_uuid = ?",
                (uuid,),
            )
        })
        .flatten()
        .map(|n| n > 0)
    }

    /// Runs `f` on the monitor connection (opened if needed; its queries are bounded by the
    /// failure-detection time); `None` when the node cannot be reached or `f` fails.
    fn on_monitor<T>(&self, f: impl Fn(&mut Conn) -> Result<T, DbError>) -> Option<T> {
        let mut mon = lock(&self.monitor);
        for _ in 0..2 {
            if mon.is_none() {
                *mon = Some(self.open().ok()?.0);
            }
            let conn = mon.as_mut()?;
            match f(conn) {
                Ok(v) => return Some(v),
                Err(DbError::MySqlError(_)) => return None,
                Err(_) => *mon = None,
            }
        }
        None
    }

    /// One liveness check: the monitor connection's ping, or a new connection and a trivial
    /// query, each bounded (connect timeout, failure-detection time).
    pub fn check(&self) -> Answer {
        let mut mon = lock(&self.monitor);
        if let Some(conn) = mon.as_mut() {
            if conn.ping().is_ok() {
                return Answer::Alive;
            }
            *mon = None;
        }
        match self.open() {
            Ok((conn, found)) => {
                *mon = Some(conn);
                let st = lock(&self.state);
                match &st.incarnation {
                    Some(known) if !known.same(&found.incarnation) => Answer::Restarted,
                    _ => Answer::Alive,
                }
            }
            Err(e) if refused(&e) => Answer::Refused,
            Err(_) => Answer::NoAnswer,
        }
    }

    /// Starts a liveness check unless one is under way; `false` when one is.
    pub fn begin_check(&self, now: Instant) -> bool {
        let mut life = lock(&self.life);
        if life.checking {
            return false;
        }
        life.checking = true;
        life.check_started = Some(now);
        true
    }

    pub fn end_check(&self, answer: Answer) {
        let mut life = lock(&self.life);
        life.checking = false;
        let now = Instant::now();
        match answer {
            Answer::Alive => life.last_answer = Some(now),
            Answer::Restarted | Answer::Refused => life.gone_at = Some(now),
            Answer::NoAnswer => {}
        }
    }

    pub fn life(&self) -> Life {
        *lock(&self.life)
    }

    /// The process the pooled connections belong to, as last seen.
    pub fn incarnation(&self) -> Option<Incarnation> {
        lock(&self.state).incarnation.clone()
    }

    pub fn checkin(&self, conn: Conn) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    /// A new pooled connection: the node's engine, packet limit and process are recorded,
    /// and the connection waits for replies as long as a statement needs.
    fn connect(&self) -> Result<Conn, DbError> {
        let (conn, found) = self.open()?;
        if let Some(detail) = found.not_ready {
            return Err(not_ready_error(&detail));
        }
        sock::set_read_timeout(conn.as_raw_fd(), None).map_err(DbError::IoError)?;
        let mut st = lock(&self.state);
        st.flavour = Some(found.flavour);
        st.incarnation = Some(found.incarnation);
        self.max_packet.store(found.max_packet, Ordering::Relaxed);
        Ok(conn)
    }

    /// A new connection, bounded by the connect timeout as a whole: the driver bounds the TCP
    /// connect by `tcp_connect_timeout` but the handshake only by the read timeout, and a frozen
    /// server accepts TCP connections it never answers. The attempt runs on its own thread and is
    /// abandoned (it ends by itself at the read timeout) when the deadline passes.
    fn open(&self) -> Result<(Conn, Detected), DbError> {
        let opts = self.opts.clone();
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name(format!("multimaster-connect-{}", self.name))
            .spawn(move || {
                let _ = tx.send(Conn::new(opts).and_then(|mut c| {
                    let found = detect(&mut c)?;
                    Ok((c, found))
                }));
            })
            .map_err(DbError::IoError)?;
        // The handshake and two small queries: allow a little beyond the TCP connect itself.
        rx.recv_timeout(self.connect_timeout + self.connect_timeout / 2)
            .unwrap_or(Err(DbError::DriverError(DriverError::ConnectTimeout)))
            .map_err(|e| self.hint(e))
    }

    /// A server that requires TLS refuses a plain login with 1045 "Access denied", the same
    /// words as a wrong password (measured on MariaDB with require_secure_transport=ON).
    fn hint(&self, e: DbError) -> DbError {
        match e {
            DbError::MySqlError(mut m) if self.plain && m.code == 1045 => {
                m.message
                    .push_str(" (with ssl_mode DISABLED: the server may require TLS)");
                DbError::MySqlError(m)
            }
            other => other,
        }
    }

    /// The node's `max_allowed_packet`, as read at connect (0 before the first connect).
    pub fn max_packet(&self) -> u64 {
        self.max_packet.load(Ordering::Relaxed)
    }

    /// Refuses, before it is sent, a statement larger than the node accepts (see `packet.rs`).
    pub fn check_size(&self, sql: &str, params: &Params) -> Result<(), DbError> {
        packet::check(sql, params, self.max_packet.load(Ordering::Relaxed))
    }

    /// Drops the idle connections and the monitor connection (the instance is closing).
    pub fn drop_idle(&self) {
        lock(&self.idle).clear();
        lock(&self.monitor).take();
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
        let failures = st.down.as_ref().map_or(0, |d| d.failures) + 1;
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

    pub fn record_statement(&self, error: Option<&DbError>) {
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
                None => "up",
                Some(_) => "down",
            },
            statements: st.statements,
            errors: st.errors,
            failovers: st.failovers,
            reconnects: st.reconnects,
            last_error: st.last_error.clone(),
            flavour: st.flavour.map(Flavour::name),
        }
    }
}

/// Detects the engine, the node's `max_allowed_packet` and its process and, on Galera,
/// whether it is ready: a restarted node accepts connections for a second or so before it can
/// run queries (1047).
fn detect(conn: &mut Conn) -> Result<Detected, DbError> {
    let vars: Vec<(String, String)> = conn.query(DETECT_SQL)?;
    let flavour = Flavour::detect(vars.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let max_packet = vars
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("max_allowed_packet"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let status: Vec<(String, String)> = conn.query(STATUS_SQL)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let named = || status.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let incarnation = Incarnation::from_status(named(), now);
    let not_ready = (flavour == Flavour::Galera && !galera_ready(named())).then(|| {
        named()
            .filter(|(n, _)| n.starts_with("wsrep_") && *n != "wsrep_gcomm_uuid")
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Ok(Detected {
        flavour,
        max_packet,
        incarnation,
        not_ready,
    })
}

#[cfg(test)]
mod tests;
