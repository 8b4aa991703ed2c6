//! Reaching a node apart from its pooled connections: liveness checks and questions about
//! cluster members over the monitor connection, killing a statement over a connection of its
//! own, fencing a lost session over a new one.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as DbError};

use super::{Fence, Node, StateChange};
use crate::core::events::{EventKind, EventLog};
use crate::core::failure::fault::{no_such_session, refused};
use crate::core::failure::liveness::{Answer, Incarnation, Life};
use crate::core::node::fitness::{self, Fitness};
use crate::core::node::flavour::Flavour;
use crate::core::node::members;
use crate::core::settings::address::Endpoint;
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
            Ok(()) => {}
            Err(e) if no_such_session(&e) => {}
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

    /// Stops the statement running in session `connection_id`, over the kill connection (the
    /// session's own connection is busy with it, and the monitor connection may be held by a
    /// check). Best effort: the watchdog cuts the connection if the statement does not end
    /// soon after.
    pub fn kill_query(&self, connection_id: u32) {
        self.kept(&self.killer, |conn| {
            conn.query_drop(format!("KILL QUERY {connection_id}"))
        });
    }

    /// Galera: whether this node's view of the cluster has the member `uuid`; `None` when it
    /// cannot tell (unreachable, or no members table before MariaDB 10.4).
    pub fn has_member(&self, uuid: &str) -> Option<bool> {
        self.kept(&self.monitor, |conn| {
            conn.exec_first::<u64, _, _>(
                "SELECT COUNT(*) FROM mysql.wsrep_cluster_members WHERE node_uuid = ?",
                (uuid,),
            )
        })
        .flatten()
        .map(|n| n > 0)
    }

    /// The cluster's members as this node reports them (`members.rs`), on its monitor
    /// connection. `None`: the node did not answer, or its engine has no members to read.
    /// `Err`: the server refused the query (a missing privilege), said why. `given` lends its
    /// domain to Aurora's instance names.
    pub fn read_members(&self, given: &Endpoint) -> Option<Result<Vec<Endpoint>, String>> {
        let sql = members::members_sql(self.flavour())?;
        let refused =
            |e: &mysql::MySqlError| format!("cannot read the members: {} ({})", e.message, e.code);
        self.kept(&self.monitor, |conn| {
            let read = match self.flavour() {
                Flavour::Galera => conn
                    .query_first::<(String, Option<String>), _>(sql)
                    .map(|r| members::parse_galera(&r.and_then(|(_, v)| v).unwrap_or_default())),
                Flavour::GroupReplication => conn
                    .query::<(Option<String>, Option<u16>), _>(sql)
                    .map(|rows| members::parse_group_replication(&rows)),
                _ => conn.query::<Option<String>, _>(sql).map(|ids| {
                    let ids = ids.into_iter().flatten();
                    ids.filter_map(|id| members::aurora_endpoint(&id, given))
                        .collect()
                }),
            };
            match read {
                Ok(list) => Ok(Ok(list)),
                Err(DbError::MySqlError(e)) => Ok(Err(refused(&e))),
                Err(e) => Err(e),
            }
        })
    }

    /// Reads the node's state on the monitor connection and judges it (`fitness.rs`). `None`:
    /// the node did not answer (its liveness is judged apart) or there is nothing to read on
    /// its engine. `Err`: the server refused the read (a missing privilege), said why.
    pub fn read_fitness(&self) -> Option<Result<Fitness, String>> {
        let flavour = self.flavour();
        let sql = fitness::state_sql(flavour);
        if sql.is_empty() {
            return None;
        }
        self.kept(&self.monitor, |conn| {
            let mut rows: Vec<(String, String)> = Vec::new();
            for q in sql {
                match conn.query::<(String, Option<String>), _>(*q) {
                    Ok(r) => rows.extend(r.into_iter().map(|(n, v)| (n, v.unwrap_or_default()))),
                    Err(DbError::MySqlError(e)) => {
                        let why = format!("cannot read its state: {} ({})", e.message, e.code);
                        return Ok(Err(why));
                    }
                    Err(e) => return Err(e),
                }
            }
            let named = rows.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            Ok(Ok(fitness::judge(flavour, named)))
        })
    }

    /// Reads the node's state and records it; a change is an event (`node_draining`,
    /// `node_ready`), a state that cannot be read a warning, once.
    pub fn refresh_state(&self, events: &EventLog) {
        let Some(read) = self.read_fitness() else {
            return;
        };
        match self.set_fitness(read) {
            Some(StateChange::Draining(why)) => {
                events.note(EventKind::NodeDraining, &self.name, why)
            }
            Some(StateChange::Ready(was)) => {
                let detail = format!("fit again (was {was})");
                events.note(EventKind::NodeReady, &self.name, detail);
            }
            Some(StateChange::Unreadable(why)) => {
                log::warn!(target: "multimaster", "node {}: {why}; used as if fit", self.name);
            }
            None => {}
        }
    }

    /// Runs `f` on the connection kept in `slot` (the monitor or the kill connection), opened
    /// if needed: the connect is bounded as a whole (see `open`), its queries by the
    /// failure-detection time. `None` when the node cannot be reached or `f` fails.
    fn kept<T>(
        &self,
        slot: &Mutex<Option<Conn>>,
        f: impl Fn(&mut Conn) -> Result<T, DbError>,
    ) -> Option<T> {
        let mut slot = lock(slot);
        let out = reuse_or_reopen(&mut slot, || self.open().ok().map(|(c, _)| c), f);
        // Retired meanwhile (`retire` drops the slot's connection after this lock): not kept.
        if self.is_retired() {
            slot.take();
        }
        out
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
                if !self.is_retired() {
                    *mon = Some(conn);
                }
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

/// Runs `f` on the connection in `slot`, opening one if there is none. A kept connection that
/// fails other than by a server error may have gone stale while it sat unused (the node
/// restarted, or dropped it): it is dropped and `f` runs once more on a new one. A server error
/// is `f`'s answer, not the connection's fault: not retried, the connection kept.
fn reuse_or_reopen<C, T>(
    slot: &mut Option<C>,
    mut open: impl FnMut() -> Option<C>,
    f: impl Fn(&mut C) -> Result<T, DbError>,
) -> Option<T> {
    for _ in 0..2 {
        if slot.is_none() {
            *slot = Some(open()?);
        }
        match f(slot.as_mut()?) {
            Ok(v) => return Some(v),
            Err(DbError::MySqlError(_)) => return None,
            Err(_) => *slot = None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io;

    use mysql::MySqlError;

    use super::*;

    /// A connection, known by its number: 100 + n for the n-th one opened.
    struct Fake(u32);

    fn broken() -> DbError {
        DbError::IoError(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
    }

    fn refused_by_server() -> DbError {
        DbError::MySqlError(MySqlError {
            state: "HY000".into(),
            code: 1094,
            message: "Unknown thread id".into(),
        })
    }

    /// Runs `answer` through `reuse_or_reopen`; returns its result and how many were opened.
    fn run(
        slot: &mut Option<Fake>,
        reachable: bool,
        answer: impl Fn(u32) -> Result<u32, DbError>,
    ) -> (Option<u32>, u32) {
        let opened = Cell::new(0);
        let open = || {
            opened.set(opened.get() + 1);
            reachable.then(|| Fake(100 + opened.get()))
        };
        let got = reuse_or_reopen(slot, open, |c: &mut Fake| answer(c.0));
        (got, opened.get())
    }

    #[test]
    fn opens_once_then_reuses() {
        let mut slot = None;
        assert_eq!(run(&mut slot, true, Ok), (Some(101), 1));
        assert_eq!(run(&mut slot, true, Ok), (Some(101), 0));
    }

    #[test]
    fn a_stale_connection_is_replaced_once() {
        let mut slot = Some(Fake(1));
        let stale = |id| if id == 1 { Err(broken()) } else { Ok(id) };
        assert_eq!(run(&mut slot, true, stale), (Some(101), 1));
        assert_eq!(slot.as_ref().map(|c| c.0), Some(101));
    }

    #[test]
    fn a_server_error_is_the_answer_and_keeps_the_connection() {
        let mut slot = Some(Fake(1));
        assert_eq!(
            run(&mut slot, true, |_| Err(refused_by_server())),
            (None, 0)
        );
        assert_eq!(slot.as_ref().map(|c| c.0), Some(1));
    }

    #[test]
    fn gives_up_after_a_new_connection_fails_too() {
        let mut slot = Some(Fake(1));
        assert_eq!(run(&mut slot, true, |_| Err(broken())), (None, 1));
        assert!(slot.is_none());
    }

    #[test]
    fn an_unreachable_node_gives_none() {
        let mut slot = None;
        assert_eq!(run(&mut slot, false, Ok), (None, 1));
        assert!(slot.is_none());
    }
}
