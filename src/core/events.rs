//! What happened: a bounded ring of timestamped events, and per-node counters.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::core::logs;
use crate::core::node::latency::Snapshot;
use crate::core::sync::lock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum EventKind {
    NodeDown,
    NodeUp,
    Failover,
    Retry,
    Ambiguous,
    AmbiguousResolved,
    /// The node's own state says it takes no new statements (`node/fitness.rs`).
    NodeDraining,
    /// A draining node is fit again.
    NodeReady,
    /// A node joined the instance's rotation (`add_node`, or a retired one added again).
    NodeAdded,
    /// A node left it for good (`remove_node`, or a discovered node that left the cluster).
    NodeRemoved,
    /// A discovered address the client cannot reach: reported once, probed at the backoff's
    /// ceiling.
    NodeUnreachable,
    /// What `discover` found about the cluster itself (no membership to read, a refused query).
    Discovery,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::NodeDown,
        EventKind::NodeUp,
        EventKind::Failover,
        EventKind::Retry,
        EventKind::Ambiguous,
        EventKind::AmbiguousResolved,
        EventKind::NodeDraining,
        EventKind::NodeReady,
        EventKind::NodeAdded,
        EventKind::NodeRemoved,
        EventKind::NodeUnreachable,
        EventKind::Discovery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::NodeDown => "node_down",
            EventKind::NodeUp => "node_up",
            EventKind::Failover => "failover",
            EventKind::Retry => "retry",
            EventKind::Ambiguous => "ambiguous",
            EventKind::AmbiguousResolved => "ambiguous_resolved",
            EventKind::NodeDraining => "node_draining",
            EventKind::NodeReady => "node_ready",
            EventKind::NodeAdded => "node_added",
            EventKind::NodeRemoved => "node_removed",
            EventKind::NodeUnreachable => "node_unreachable",
            EventKind::Discovery => "discovery",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at: SystemTime,
    pub kind: EventKind,
    pub node: String,
    pub detail: String,
}

/// Keeps the newest `capacity` events: a flapping node must not grow memory without bound.
pub struct EventLog {
    ring: Mutex<VecDeque<Event>>,
    capacity: usize,
    /// Per node name, events of each kind since the start: the ring forgets, metrics must not.
    counts: Mutex<Vec<(String, [u64; EventKind::ALL.len()])>>,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            counts: Mutex::new(Vec::new()),
        }
    }

    pub fn push(&self, kind: EventKind, node: &str, detail: impl Into<String>) {
        {
            let mut counts = lock(&self.counts);
            let at = match counts.iter().position(|(n, _)| n == node) {
                Some(at) => at,
                None => {
                    counts.push((node.to_owned(), [0; EventKind::ALL.len()]));
                    counts.len() - 1
                }
            };
            counts[at].1[kind as usize] += 1;
        }
        let event = Event {
            at: SystemTime::now(),
            kind,
            node: node.to_owned(),
            detail: detail.into(),
        };
        let mut ring = lock(&self.ring);
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(event);
    }

    /// Records an event and logs it: failures at WARNING, recoveries, retries and drains at INFO.
    pub fn note(&self, kind: EventKind, node: &str, detail: String) {
        if !logs::quiet() {
            let level = match kind {
                EventKind::NodeDown
                | EventKind::Ambiguous
                | EventKind::NodeUnreachable
                | EventKind::Discovery => log::Level::Warn,
                _ => log::Level::Info,
            };
            let what = match kind {
                EventKind::NodeDown => "down",
                EventKind::NodeUp => "back up",
                EventKind::Failover => "took over",
                EventKind::Retry => "retry",
                EventKind::Ambiguous => "outcome unknown",
                EventKind::AmbiguousResolved => "outcome resolved",
                EventKind::NodeDraining => "draining",
                EventKind::NodeReady => "ready",
                EventKind::NodeAdded => "added",
                EventKind::NodeRemoved => "removed",
                EventKind::NodeUnreachable => "unreachable",
                EventKind::Discovery => "discovery",
            };
            log::log!(target: "multimaster", level, "node {node} {what}: {detail}");
        }
        self.push(kind, node, detail);
    }

    /// How many events of each kind (in `EventKind::ALL`'s order) node `node` has had.
    pub fn counts(&self, node: &str) -> [u64; EventKind::ALL.len()] {
        let counts = lock(&self.counts);
        counts
            .iter()
            .find(|(n, _)| n == node)
            .map_or([0; EventKind::ALL.len()], |(_, c)| *c)
    }

    pub fn snapshot(&self) -> Vec<Event> {
        let ring = lock(&self.ring);
        ring.iter().cloned().collect()
    }
}

/// A node's counters as returned by `stats()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStats {
    pub address: String,
    /// "up", "down", "draining" or "removed" (retired by `remove_node`).
    pub state: &'static str,
    /// "given", "added" or "discovered" (`node::KnownBy`).
    pub known_by: &'static str,
    pub statements: u64,
    pub errors: u64,
    pub failovers: u64,
    pub reconnects: u64,
    pub last_error: Option<String>,
    /// The engine detected at connect: "galera", "aurora-mm", "group-replication", "mysql".
    pub flavour: Option<&'static str>,
    /// Statement times on this node (`node/latency.rs`).
    pub latency: Snapshot,
    /// Events of each kind on this node since the start, in `EventKind::ALL`'s order.
    pub events: [u64; EventKind::ALL.len()],
    /// Why the node is draining ("wsrep_desync=ON"), or why its state cannot be read.
    pub state_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest() {
        let log = EventLog::new(3);
        for i in 0..10 {
            log.push(EventKind::Retry, "n1", format!("{i}"));
        }
        let details: Vec<_> = log.snapshot().into_iter().map(|e| e.detail).collect();
        assert_eq!(details, ["7", "8", "9"]);
        // The counts outlive the ring.
        assert_eq!(log.counts("n1")[EventKind::Retry as usize], 10);
        assert_eq!(log.counts("n2"), [0; EventKind::ALL.len()]);
    }

    #[test]
    fn all_kinds_in_discriminant_order() {
        for (i, k) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(
            EventKind::AmbiguousResolved.to_string(),
            "ambiguous_resolved"
        );
        assert_eq!(EventKind::NodeDown.name(), "node_down");
    }
}
