//! The real nodes behind the request loop (`run.rs`): each statement watched by the watchdog,
//! liveness asked on a separate connection, lost writes fenced and checked.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mysql::Conn;

use super::Cluster;
use crate::core::cancel::Cancel;
use crate::core::cluster::run::{Backend, LeasedOp};
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::decide::{KeyCheck, Pending};
use crate::core::failure::fault::NodeError;
use crate::core::failure::liveness::{Ended, Liveness, Session};
use crate::core::failure::policy::Load;
use crate::core::node::Claim;

impl Cluster {
    /// What identifies `conn`'s server session on node `idx`, to fence it after a lost reply.
    pub(crate) fn session(&self, idx: usize, conn: &Conn) -> Session {
        Session {
            id: conn.connection_id(),
            incarnation: self.inner.nodes[idx].incarnation(),
        }
    }
}

/// The request loop, and a transaction's statements, run on the real nodes through this.
impl Backend for Cluster {
    type Conn = Conn;

    fn name(&self, idx: usize) -> &str {
        &self.inner.nodes[idx].name
    }

    fn in_rotation(&self) -> Vec<usize> {
        self.inner.nodes.in_rotation()
    }

    fn claim(&self, idx: usize) -> Result<bool> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let node = &self.inner.nodes[idx];
        match node.claim(Instant::now()) {
            Claim::Use => Ok(true),
            Claim::Probe => {
                self.probe(node);
                Ok(false)
            }
            Claim::Skip => Ok(false),
        }
    }

    fn checkout(&self, idx: usize) -> std::result::Result<(Conn, Session), NodeError> {
        let conn = self.inner.nodes[idx].checkout()?;
        let session = self.session(idx, &conn);
        Ok((conn, session))
    }

    fn checkin(&self, idx: usize, conn: Conn) {
        self.inner.nodes[idx].checkin(conn);
    }

    fn watched<T>(
        &self,
        idx: usize,
        lease: &mut Option<Conn>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, Conn, T>,
    ) -> (std::result::Result<T, NodeError>, Ended) {
        let Some(conn) = lease.as_ref() else {
            return (op(idx, lease), Ended::Itself);
        };
        let wd = &self.inner.watchdog;
        let (fd, session) = (conn.as_raw_fd(), conn.connection_id());
        let node = &self.inner.nodes[idx];
        let flight = wd.fly(idx, fd, session, cancel);
        let load = node.begin_statement();
        let result = op(idx, lease);
        node.end_statement(load);
        let ended = wd.land(&flight);
        if ended != Ended::Itself {
            lease.take();
        }
        (result, ended)
    }

    fn record_statement(&self, idx: usize, sql: &str, took: Duration, error: Option<&NodeError>) {
        let node = &self.inner.nodes[idx];
        node.record_statement(took, error);
        self.inner.hook.statement(&node.name, sql, took, error);
    }

    fn liveness(&self, idx: usize) -> Liveness {
        Liveness::from(self.inner.nodes[idx].check())
    }

    fn node_failed(&self, idx: usize, reason: String) {
        let node = &self.inner.nodes[idx];
        node.record_failover();
        if node.mark_down(&reason) {
            self.note(EventKind::NodeDown, &node.name, reason);
        }
    }

    fn load(&self, idx: usize) -> Load {
        self.inner.nodes[idx].load()
    }

    fn draining_now(&self, idx: usize) -> bool {
        let node = &self.inner.nodes[idx];
        node.refresh_state(&self.inner.events);
        !node.fitness().is_fit()
    }

    /// Fences what may still commit the write (`pending`), then asks the cluster (causally)
    /// whether the row exists. True when the write had committed.
    fn resolve_lost(
        &self,
        idx: usize,
        session: &Session,
        pending: Pending,
        key: &KeyCheck,
        cancel: &Cancel,
    ) -> Result<bool> {
        let node = &self.inner.nodes[idx];
        let how = self.fence(idx, session, pending, cancel)?;
        let fence = format!("session {} fenced: {how}", session.id);
        let what = key.describe();
        let unknown = match pending {
            Pending::Session => "reply lost",
            Pending::WriteSet => "commit refused after it may have replicated",
        };
        self.note(
            EventKind::Ambiguous,
            &node.name,
            format!("{unknown}, {fence}, checking {what}"),
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

    fn note(&self, kind: EventKind, node: &str, detail: String) {
        self.inner.events.note(kind, node, detail);
        // A node down or back: the membership may say why (`cluster/discovery.rs`).
        if self.inner.cfg.discover && matches!(kind, EventKind::NodeDown | EventKind::NodeUp) {
            self.inner.discovery.wake();
        }
    }

    fn down_detail(&self) -> String {
        let parts: Vec<String> = self
            .inner
            .nodes
            .iter()
            .filter(|n| !n.is_retired())
            .map(|n| {
                let s = n.stats();
                let why = s.state_reason.as_deref().filter(|_| s.state == "draining");
                format!(
                    "{} {} ({})",
                    s.address,
                    s.state,
                    why.or(s.last_error.as_deref()).unwrap_or("no error")
                )
            })
            .collect();
        parts.join("; ")
    }
}
