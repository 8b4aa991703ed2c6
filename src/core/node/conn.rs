//! A node's connections: opened (bounded as a whole), detected (engine, packet limit, process,
//! readiness), pooled and pinged when stale.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Instant;

use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Error as DbError, Params};

use super::{Node, MAX_IDLE, STALE_AFTER};
use crate::core::failure::fault::{plain_login_hint, NodeError, Refusal};
use crate::core::failure::liveness::Incarnation;
use crate::core::node::flavour::{galera_ready, Flavour, DETECT_SQL, STATUS_SQL};
use crate::core::node::{packet, sock};
use crate::core::sync::lock;

/// What a connect found out about the server, besides the connection.
pub(super) struct Detected {
    pub flavour: Flavour,
    pub max_packet: u64,
    pub incarnation: Incarnation,
    /// Why a Galera node cannot serve queries yet, if it cannot.
    pub not_ready: Option<String>,
}

impl Node {
    /// An idle connection, pinged first if it sat unused long enough to have gone stale,
    /// or a new one. Errors here happen before any statement was sent.
    pub fn checkout(&self) -> Result<Conn, NodeError> {
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
                let silent = std::io::Error::new(std::io::ErrorKind::TimedOut, silent);
                return Err(DbError::IoError(silent).into());
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

    pub fn checkin(&self, conn: Conn) {
        // Retired while the statement ran: its connection is not kept.
        if self.is_retired() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    /// A new pooled connection: the node's engine, packet limit and process are recorded,
    /// and the connection waits for replies as long as a statement needs.
    fn connect(&self) -> Result<Conn, NodeError> {
        let (conn, found) = self.open()?;
        if let Some(detail) = found.not_ready {
            return Err(Refusal::NotReady { detail }.into());
        }
        sock::set_read_timeout(conn.as_raw_fd(), None).map_err(DbError::IoError)?;
        let mut st = lock(&self.state);
        st.flavour = Some(found.flavour);
        st.incarnation = Some(Arc::new(found.incarnation));
        self.max_packet.store(found.max_packet, Ordering::Relaxed);
        Ok(conn)
    }

    /// A new connection, bounded by the connect timeout as a whole: the driver bounds the TCP
    /// connect by `tcp_connect_timeout` but the handshake only by the read timeout, and a frozen
    /// server accepts TCP connections it never answers. The attempt runs on its own thread and is
    /// abandoned (it ends by itself at the read timeout) when the deadline passes.
    pub(super) fn open(&self) -> Result<(Conn, Detected), DbError> {
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
            .map_err(|e| if self.plain { plain_login_hint(e) } else { e })
    }

    /// The node's `max_allowed_packet`, as read at connect (0 before the first connect).
    pub fn max_packet(&self) -> u64 {
        self.max_packet.load(Ordering::Relaxed)
    }

    /// Refuses, before it is sent, a statement larger than the node accepts (see `packet.rs`).
    pub fn check_size(&self, sql: &str, params: &Params) -> Result<(), Refusal> {
        packet::check(sql, params, self.max_packet.load(Ordering::Relaxed))
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
