//! Fencing a write whose outcome is unknown before its key is checked: its session killed, its
//! process gone, or its node evicted from the cluster; a write set its node may have handed on
//! before refusing the commit, only the last.

use std::time::{Duration, Instant};

use super::Cluster;
use crate::core::cancel::Cancel;
use crate::core::error::{Error, Result};
use crate::core::failure::decide::Pending;
use crate::core::failure::liveness::{Incarnation, Session};
use crate::core::logs::log_debug;
use crate::core::node::flavour::Flavour;
use crate::core::node::Fence;

/// How often a lost session's fence is tried again while its node does not answer.
const FENCE_RETRY: Duration = Duration::from_millis(250);

impl Cluster {
    /// Before asking the cluster whether a lost write committed, make sure it can no longer
    /// commit: its session killed on the node, the process that ran it gone, or (Galera) the
    /// node evicted from the cluster, which rolls back whatever it had not replicated. A frozen
    /// or cut-off node is judged dead within the failure-detection time, before the cluster
    /// evicts it (about 6 s), so the check waits for one of these, up to the failover timeout.
    /// A Galera write set handed on before its node refused the commit (`Pending::WriteSet`)
    /// is beyond the session: the others order it or drop it as they leave the node out of
    /// their view (virtual synchrony), so only the eviction fences it.
    pub(crate) fn fence(
        &self,
        idx: usize,
        session: &Session,
        pending: Pending,
        cancel: &Cancel,
    ) -> Result<&'static str> {
        let node = &self.inner.nodes[idx];
        let (incarnation, session) = (session.incarnation.as_deref(), session.id);
        let write_set = pending == Pending::WriteSet && node.flavour() == Flavour::Galera;
        let deadline = Instant::now() + self.inner.cfg.failover_timeout;
        loop {
            if !write_set {
                let fence = node.fence(session, incarnation);
                log_debug(|| format!("{}: session {session}: {}", node.name, fence.describe()));
                if fence != Fence::Unreachable {
                    return Ok(fence.describe());
                }
            }
            if self.evicted(idx, incarnation) {
                return Ok("node evicted");
            }
            if Instant::now() >= deadline {
                let (what, may) = if write_set {
                    (
                        "is still in the others' view",
                        "its write set may still commit there",
                    )
                } else {
                    (
                        "neither answers nor left the cluster",
                        "the lost write may still commit",
                    )
                };
                let secs = self.inner.cfg.failover_timeout.as_secs_f64();
                return Err(Error::Ambiguous {
                    node: node.name.clone(),
                    statement: format!("session {session}"),
                    cause: format!("the node {what} after {secs:.1} s, so {may}"),
                });
            }
            cancel.sleep(FENCE_RETRY)?;
        }
    }

    /// Galera: the survivors' view no longer has the node's process as a member.
    fn evicted(&self, idx: usize, incarnation: Option<&Incarnation>) -> bool {
        let node = &self.inner.nodes[idx];
        let Some(member) = incarnation.and_then(|i| i.member.clone()) else {
            return false;
        };
        if node.flavour() != Flavour::Galera {
            return false;
        }
        let others = self
            .inner
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, other)| *i != idx && !other.is_retired());
        let mut answers = others.filter_map(|(_, other)| other.has_member(&member));
        answers.next() == Some(false)
    }
}
