//! The real nodes behind the request loop (`request/run.rs`): each statement watched by the
//! watchdog, liveness asked on a separate connection, lost writes fenced and checked.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use mysql::{Conn, Error as DbError};

use super::Cluster;
use crate::core::cancel::Cancel;
use crate::core::cluster::run::{Backend, LeasedOp as Op};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::decide::KeyCheck;
use crate::core::failure::liveness::{Ended, Liveness, Session};
use crate::core::node::{Claim, Node};
use crate::core::settings::config::Config;

impl Cluster {
    /// Runs `f`, a statement on `conn` of node `idx`, under the watchdog's eye.
    pub(crate) fn watch<R>(
        &self,
        idx: usize,
        conn: &mut Conn,
        cancel: &Cancel,
        f: impl FnOnce(&mut Conn) -> R,
    ) -> (R, Ended) {
        let wd = &self.inner.watchdog;
        let (fd, session) = (conn.as_raw_fd(), conn.connection_id());
        let flight = wd.fly(idx, fd, session, cancel.limit(), cancel);
        let result = f(conn);
        (result, wd.land(&flight))
    }

    /// The index of one of this cluster's nodes.
    pub(crate) fn index(&self, node: &Arc<Node>) -> usize {
        let mut nodes = self.inner.nodes.iter();
        nodes.position(|n| Arc::ptr_eq(n, node)).unwrap_or(0)
    }
}

/// The request loop runs on the real nodes through this (see `request.rs`).
impl Backend for Cluster {
    type Conn = Conn;

    fn config(&self) -> &Config {
        &self.inner.cfg
    }

    fn name(&self, idx: usize) -> &str {
        &self.inner.nodes[idx].name
    }

    fn is_closed(&self) -> bool {
        Cluster::is_closed(self)
    }

    fn claim(&self, idx: usize) -> Claim {
        self.inner.nodes[idx].claim(Instant::now())
    }

    fn probe(&self, idx: usize) {
        Cluster::probe(self, &self.inner.nodes[idx]);
    }

    fn checkout(&self, idx: usize) -> std::result::Result<Conn, DbError> {
        self.inner.nodes[idx].checkout()
    }

    fn checkin(&self, idx: usize, conn: Conn) {
        self.inner.nodes[idx].checkin(conn);
    }

    type Session = Session;
    fn session(&self, idx: usize, conn: &Conn) -> Session {
        Session {
            id: conn.connection_id(),
            incarnation: self.inner.nodes[idx].incarnation(),
        }
    }

    fn watched<T>(
        &self,
        idx: usize,
        lease: &mut Option<Conn>,
        cancel: &Cancel,
        op: &mut Op<'_, Conn, T>,
    ) -> (std::result::Result<T, DbError>, Ended) {
        let Some(conn) = lease.as_ref() else {
            return (op(idx, lease), Ended::Itself);
        };
        let wd = &self.inner.watchdog;
        let (fd, session) = (conn.as_raw_fd(), conn.connection_id());
        let flight = wd.fly(idx, fd, session, cancel.limit(), cancel);
        let result = op(idx, lease);
        let ended = wd.land(&flight);
        if ended != Ended::Itself {
            // Killed or cut: a late KILL QUERY must not hit this connection's next statement.
            lease.take();
        }
        (result, ended)
    }

    fn liveness(&self, idx: usize) -> Liveness {
        Liveness::from(self.inner.nodes[idx].check())
    }

    fn record_statement(&self, idx: usize, error: Option<&DbError>) {
        self.inner.nodes[idx].record_statement(error);
    }

    fn node_failed(&self, idx: usize, reason: String) {
        self.mark_failed_for(&self.inner.nodes[idx], reason);
    }

    /// Fences the session that sent the lost write, then asks the cluster (causally) whether
    /// the row exists. True when the write had committed.
    fn resolve_lost(
        &self,
        idx: usize,
        session: &Session,
        key: &KeyCheck,
        cancel: &Cancel,
    ) -> Result<bool> {
        let node = &self.inner.nodes[idx];
        let how = self.fence(idx, session, cancel)?;
        let fence = format!("session {} fenced: {how}", session.id);
        let what = key.describe();
        self.note(
            EventKind::Ambiguous,
            &node.name,
            format!("reply lost, {fence}, checking {what}"),
        );
        // The check is the library's own statement: the caller's time limit is not for it.
        let found = self.count_key(key, &cancel.clone().with_limit(None))?;
        let expected = key.distinct();
        if found != 0 && found != expected {
            // One statement commits all its rows or none: this is not ours to paper over.
            let detail = format!("{what}: {found} of {expected} found");
            self.note(EventKind::AmbiguousResolved, &node.name, detail);
            return Err(Error::PartialBatch {
                node: node.name.clone(),
                found,
                expected,
                keys: what,
            });
        }
        let committed = found > 0;
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

    fn note(&self, kind: EventKind, idx: usize, detail: String) {
        Cluster::note(self, kind, &self.inner.nodes[idx].name, detail);
    }

    fn down_detail(&self) -> String {
        Cluster::down_detail(self)
    }
}
