//! `discover`: one thread per `Cluster` that reads the cluster's members on the monitor
//! connection of one fit node (no statement pays) every `discover_interval` and right after a
//! node goes down or comes back, and applies `node/members.rs`'s [`plan`]: new members join as
//! discovered nodes, discovered nodes that left the cluster are retired, crashed ones kept.

use std::collections::{HashMap, HashSet};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::{Cluster, Inner};
use crate::core::cluster::run::Backend;
use crate::core::events::EventKind;
use crate::core::failure::liveness::Answer;
use crate::core::logs::log_debug;
use crate::core::node::flavour::Flavour;
use crate::core::node::members::{plan, KnownNode, Resolved};
use crate::core::node::{Claim, KnownBy, Node};
use crate::core::settings::address::Endpoint;
use crate::core::sync::lock;

/// A node that stops gracefully closes its sessions a moment before it leaves the membership:
/// a down node still listed is taken for crashed only after this (a crash keeps it listed
/// about 7 s, Galera's `evs.suspect_timeout` plus detection).
pub const LEAVE_GRACE: Duration = Duration::from_secs(2);

/// A discovered address not reached for this long is reported (once): a joining node refuses
/// connections until its state transfer is done, seconds here, minutes for a large one.
pub const REPORT_UNREACHABLE: Duration = Duration::from_secs(30);

/// How often each discovered node in rotation is pinged on its monitor connection. After a
/// `kill -9` the survivors pause writes until the crashed node is evicted (about 7 s), so a
/// writer would find it down only once it is no longer listed, and take the crash for a
/// leave: a gone process is seen here within this instead, while it is still listed.
pub const PING_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Discovery {
    /// Set by [`Discovery::wake`]: read at once.
    due: Mutex<bool>,
    cv: Condvar,
    stopped: AtomicBool,
    /// What the loop remembers between reads.
    memory: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    /// Per node index: since when discovery has seen it down, and whether it was judged
    /// crashed (then kept, whatever the membership says, until it is up again).
    down: HashMap<usize, (Instant, bool)>,
    /// Nodes retired because they left the cluster: they come back if listed again (one
    /// removed by hand does not).
    left: HashSet<usize>,
    /// What was reported once: a reason per node, an unreachable member's address.
    reported: Vec<String>,
}

impl Discovery {
    /// Node `idx` was added or removed by hand: discovery no longer brings it back by itself.
    pub fn forget_left(&self, idx: usize) {
        lock(&self.memory).left.remove(&idx);
    }

    /// A node went down or came back: read the members now.
    pub fn wake(&self) {
        *lock(&self.due) = true;
        self.cv.notify_all();
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Waits for a wake, or `timeout`; true when woken.
    fn sleep(&self, timeout: Duration) -> bool {
        let due = lock(&self.due);
        let (mut due, _) = self
            .cv
            .wait_timeout_while(due, timeout, |d| !*d)
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *due)
    }

    /// True the first time `what` is said.
    fn first_time(&self, what: String) -> bool {
        let mut memory = lock(&self.memory);
        if memory.reported.contains(&what) {
            return false;
        }
        memory.reported.push(what);
        true
    }
}

/// Starts the thread; it holds the instance weakly and ends when it is closed or dropped.
pub(super) fn start(discovery: Arc<Discovery>, inner: Weak<Inner>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("multimaster-discovery".into())
        .spawn(move || {
            let mut next_read = Instant::now();
            let mut woken = true;
            loop {
                if discovery.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let cluster = Cluster { inner };
                if cluster.is_closed() {
                    return;
                }
                // A node found gone here is marked down, which wakes this loop again.
                cluster.ping_discovered();
                if woken || Instant::now() >= next_read {
                    next_read = Instant::now() + cluster.discover_once(&discovery);
                }
                drop(cluster);
                let until_read = next_read.saturating_duration_since(Instant::now());
                woken = discovery.sleep(until_read.min(PING_EVERY));
            }
        })
        .map(drop)
}

fn resolve(e: &Endpoint) -> Resolved {
    let ips = (e.host.as_str(), e.port)
        .to_socket_addrs()
        .map(|a| a.map(|s| s.ip()).collect())
        .unwrap_or_default();
    Resolved { ips, port: e.port }
}

impl Cluster {
    /// One read of the members and what follows from it. Returns when to read again.
    fn discover_once(&self, d: &Discovery) -> Duration {
        let every = self.inner.cfg.discover_interval;
        let Some(members) = self.read_members(d) else {
            return every;
        };
        let resolved: Vec<Resolved> = members.iter().map(resolve).collect();
        for (m, r) in members.iter().zip(&resolved) {
            if r.ips.is_empty() && d.first_time(format!("resolve {m}")) {
                let why = "advertised by the cluster, but its name does not resolve here";
                self.note(EventKind::NodeUnreachable, &m.to_string(), why.into());
            }
        }
        let nodes = &self.inner.nodes;
        // Resolved before the change lock: a slow name service holds up no add or remove.
        let known_at: Vec<Resolved> = nodes.iter().map(|n| resolve(&n.endpoint)).collect();
        let _change = nodes.changing();
        let now = Instant::now();
        let mut memory = lock(&d.memory);
        let mut soonest = every;
        let known: Vec<KnownNode> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let down = n.is_down() && !n.is_retired();
                let (since, crashed) = if down {
                    *memory.down.entry(i).or_insert((now, false))
                } else {
                    memory.down.remove(&i);
                    (now, false)
                };
                let down_long = now.duration_since(since) >= LEAVE_GRACE;
                let unjudged = down && !crashed && n.known_by == KnownBy::Discovered;
                if unjudged && !down_long {
                    // Judged at the read after the grace, not a whole interval later.
                    soonest = soonest.min(LEAVE_GRACE - now.duration_since(since));
                }
                KnownNode {
                    at: known_at
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| resolve(&n.endpoint)),
                    retired: n.is_retired(),
                    discovered: n.known_by == KnownBy::Discovered,
                    left: memory.left.contains(&i),
                    down_unjudged: unjudged,
                    down_long,
                }
            })
            .collect();
        let p = plan(&known, &resolved);
        for &i in &p.crashed {
            memory.down.entry(i).or_insert((now, true)).1 = true;
            let detail = "still a member of the cluster: crashed, kept and probed";
            log_debug(|| format!("{}: {detail}", nodes[i].name));
        }
        memory.left.extend(&p.left);
        for i in &p.revive {
            memory.left.remove(i);
        }
        drop(memory);
        for &i in &p.left {
            nodes[i].retire();
            self.note(
                EventKind::NodeRemoved,
                &nodes[i].name,
                "left the cluster".into(),
            );
        }
        for &i in &p.revive {
            nodes[i].await_connect("a member again: not connected yet");
            self.joined(&nodes[i], "a member of the cluster again");
        }
        for &m in &p.new {
            let node = Node::new(members[m].clone(), &self.inner.cfg, KnownBy::Discovered);
            node.await_connect("discovered: not connected yet");
            match nodes.push(node) {
                Ok(i) => self.joined(&nodes[i], "discovered: a member of the cluster"),
                Err(e) => {
                    if d.first_time(format!("full {}", members[m])) {
                        self.note(EventKind::Discovery, &members[m].to_string(), e.to_string());
                    }
                }
            }
        }
        soonest
    }

    /// Pings each discovered node that is up (on its monitor connection); one whose process
    /// is gone (a connect refused) is down from now on, as a statement would find it.
    fn ping_discovered(&self) {
        for (i, node) in self.inner.nodes.iter().enumerate() {
            let watched = node.known_by == KnownBy::Discovered && node.ever_connected();
            if !watched || node.is_retired() || node.is_down() {
                continue;
            }
            if node.check() == Answer::Refused {
                let why = "no server process answers: connection refused".to_owned();
                self.node_failed(i, why);
            }
        }
    }

    /// A node in rotation from now on (once connected and fit): told, and its connect started.
    fn joined(&self, node: &Arc<Node>, why: &str) {
        self.note(EventKind::NodeAdded, &node.name, why.into());
        if node.claim(Instant::now()) == Claim::Probe {
            self.probe(node);
        }
    }

    /// The members as one fit node in rotation reports them, given nodes first; `None` when
    /// none can tell. Engines without members and refused queries are reported once each.
    fn read_members(&self, d: &Discovery) -> Option<Vec<Endpoint>> {
        let nodes = &self.inner.nodes;
        let given = &self.inner.cfg.endpoints[0];
        for node in nodes.iter() {
            if node.is_retired() || node.is_down() {
                continue;
            }
            // Not connected yet (an idle instance just made): one connect tells its engine.
            if !node.ever_connected() {
                match node.checkout() {
                    Ok(conn) => node.checkin(conn),
                    Err(_) => continue,
                }
            }
            // A node out of the primary component, or not synced, may list only some members.
            if !node.fitness().is_fit() {
                continue;
            }
            if node.flavour() == Flavour::Plain {
                if d.first_time(format!("plain {}", node.name)) {
                    let why = "a server without Galera, Group Replication or Aurora has no \
                               members to read: discover uses the given nodes";
                    self.note(EventKind::Discovery, &node.name, why.into());
                }
                continue;
            }
            match node.read_members(given) {
                Some(Ok(list)) if !list.is_empty() => return Some(list),
                Some(Ok(_)) | None => continue,
                Some(Err(why)) => {
                    if d.first_time(format!("refused {} {why}", node.name)) {
                        self.note(EventKind::Discovery, &node.name, why);
                    }
                }
            }
        }
        None
    }
}
