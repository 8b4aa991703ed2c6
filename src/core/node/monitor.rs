//! Reaching a node apart from its pooled connections, over one monitor connection: liveness
//! checks, killing a statement, fencing a lost session, asking about cluster members.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError, MySqlError};

use super::{Fence, Node};
use crate::core::failure::fault::refused;
use crate::core::failure::liveness::{Answer, Incarnation, Life};
use crate::core::sync::lock;

impl Node {
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
    pub fn incarnation(&self) -> Option<Arc<Incarnation>> {
        lock(&self.state).incarnation.clone()
    }
}
