//! The watchdog: one thread per `Cluster` that watches every statement in flight and applies
//! `liveness::judge` to it: liveness checks of its node on a separate connection, `KILL QUERY`
//! for `statement_timeout` and Ctrl-C, and cutting the connection of a node that stopped
//! answering. The statement itself runs on the caller's thread, so a fast statement costs two
//! short lock holds and nothing else.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::core::cancel::Cancel;
use crate::core::cluster::roster::Roster;
use crate::core::events::EventLog;
use crate::core::failure::liveness::{judge, Action, Answer, Ended, InFlight, Watch};
use crate::core::node::sock;
use crate::core::sync::lock;

/// How often the watchdog looks at the statements in flight: well inside the half second a
/// user waits for Ctrl-C.
const TICK: Duration = Duration::from_millis(20);

/// A tick this late means the watchdog itself was not running (its process stopped, or
/// starved): what it did not see is not held against any node.
const STALL: Duration = Duration::from_millis(250);

/// With nothing in flight for this long the thread parks until the next statement, waking
/// every [`STATE_EVERY`] to read the nodes' states.
const IDLE: Duration = Duration::from_secs(1);

/// How often each up node's own state is read on its monitor connection (`node/fitness.rs`):
/// a node desynced, put in maintenance or cut into a minority leaves rotation within this
/// plus one read, and a draining node returns as soon.
pub const STATE_EVERY: Duration = Duration::from_secs(2);

/// One statement in flight.
pub struct Flight {
    node: usize,
    /// The connection's descriptor: valid while `watch` is not `None` (see [`Watchdog::land`]).
    fd: RawFd,
    session: u32,
    started: Instant,
    limit: Option<Duration>,
    cancel: Cancel,
    /// `None` once the statement has returned: the watchdog no longer touches it.
    watch: Mutex<Option<Watch>>,
}

struct Shared {
    flights: Mutex<Vec<Arc<Flight>>>,
    wake: Condvar,
    parked: AtomicBool,
    stopped: AtomicBool,
}

/// Cheap to clone; the thread stops when the last clone's owner is gone.
#[derive(Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
}

impl Watchdog {
    /// Starts the thread. It holds the nodes weakly: it ends when they are dropped.
    pub fn start(
        nodes: Weak<Roster>,
        detection: Duration,
        events: Arc<EventLog>,
    ) -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            flights: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            parked: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name("multimaster-watchdog".into())
            .spawn(move || run(weak, nodes, detection, events))?;
        Ok(Watchdog { shared })
    }

    /// Registers a statement about to be sent on `fd` (session `session` of node `node`),
    /// stopped by `cancel` and at its statement limit.
    pub fn fly(&self, node: usize, fd: RawFd, session: u32, cancel: &Cancel) -> Arc<Flight> {
        let flight = Arc::new(Flight {
            node,
            fd,
            session,
            started: Instant::now(),
            limit: cancel.limit(),
            cancel: cancel.clone(),
            watch: Mutex::new(Some(Watch::Running)),
        });
        lock(&self.shared.flights).push(Arc::clone(&flight));
        if self.shared.parked.swap(false, Ordering::AcqRel) {
            self.shared.wake.notify_one();
        }
        flight
    }

    /// Ends the thread (the cluster is closed or gone); statements in flight are left alone.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        let _flights = lock(&self.shared.flights);
        self.shared.wake.notify_all();
    }

    /// The statement returned: from now on the watchdog leaves its connection alone (it may be
    /// closed and its descriptor reused). Says how it ended.
    pub fn land(&self, flight: &Arc<Flight>) -> Ended {
        let watch = lock(&flight.watch).take();
        lock(&self.shared.flights).retain(|f| !Arc::ptr_eq(f, flight));
        match watch {
            Some(Watch::Killing { ending, .. }) | Some(Watch::Abandoned(ending)) => ending,
            Some(Watch::Running) | None => Ended::Itself,
        }
    }
}

fn run(shared: Weak<Shared>, nodes: Weak<Roster>, detection: Duration, events: Arc<EventLog>) {
    let mut idle_since = Instant::now();
    let mut last_tick = Instant::now();
    let mut watched_since = last_tick;
    // Kept from tick to tick: a tick that decides nothing allocates nothing.
    let mut todo: Vec<Todo> = Vec::new();
    loop {
        let (Some(shared), Some(nodes)) = (shared.upgrade(), nodes.upgrade()) else {
            return;
        };
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let flights = lock(&shared.flights);
        let now = Instant::now();
        if now.duration_since(last_tick) > STALL {
            watched_since = now;
        }
        last_tick = now;
        todo.extend(
            flights
                .iter()
                .filter_map(|f| judge_flight(f, &nodes, now, watched_since, detection)),
        );
        let idle = flights.is_empty();
        drop(flights);
        read_states(&nodes, &events, now);
        if idle {
            if now.duration_since(idle_since) >= IDLE {
                park(&shared);
                let woke = Instant::now();
                (last_tick, watched_since) = (woke, woke);
                // Woken for a statement: a full idle period before parking again. Woken only
                // to read states: straight back to sleep after this round.
                if !lock(&shared.flights).is_empty() {
                    idle_since = woke;
                }
                continue;
            }
        } else {
            idle_since = now;
        }
        for t in todo.drain(..) {
            act(t, &nodes, now);
        }
        drop((shared, nodes));
        thread::sleep(TICK);
    }
}

/// Waits for the next statement, or until the nodes' states are due to be read.
fn park(shared: &Shared) {
    let flights = lock(&shared.flights);
    shared.parked.store(true, Ordering::Release);
    if flights.is_empty() && !shared.stopped.load(Ordering::SeqCst) {
        let _ = shared.wake.wait_timeout(flights, STATE_EVERY);
    }
    shared.parked.store(false, Ordering::Release);
}

/// What a tick decided for one statement, done once the flights' lock is released: starting a
/// thread (a check, a kill) there would hold up every statement's `fly` and `land`.
enum Todo {
    Check(usize),
    Kill { node: usize, session: u32 },
    Abandon(Arc<Flight>, Ended),
}

/// Judges one statement (under the flights' lock, so it cannot land meanwhile); `None`: wait.
fn judge_flight(
    f: &Arc<Flight>,
    nodes: &Roster,
    now: Instant,
    watched_since: Instant,
    detection: Duration,
) -> Option<Todo> {
    let node = nodes.get(f.node)?;
    let mut watch = lock(&f.watch);
    let w = (*watch)?;
    let state = InFlight {
        started: f.started,
        watched_since,
        limit: f.limit,
        cancelled: f.cancel.is_cancelled(),
        watch: w,
    };
    match judge(now, &state, &node.life(), detection) {
        Action::Wait => None,
        Action::Check => Some(Todo::Check(f.node)),
        Action::Kill(ending) => {
            // Marked before the kill is sent: a statement that lands first is then known to be
            // under a kill, and its connection is not used again (the late `KILL QUERY` would
            // stop its next statement).
            *watch = Some(Watch::Killing { ending, since: now });
            Some(Todo::Kill {
                node: f.node,
                session: f.session,
            })
        }
        Action::Abandon(ending) => Some(Todo::Abandon(Arc::clone(f), ending)),
    }
}

/// Starts a read of each node's state that is due, each on a thread of its own: a node that
/// does not answer holds up only its own read (its liveness is judged apart).
fn read_states(nodes: &Roster, events: &Arc<EventLog>, now: Instant) {
    for node in nodes.iter() {
        if !node.begin_state_read(now, STATE_EVERY) {
            continue;
        }
        let spawned = thread::Builder::new()
            .name(format!("multimaster-state-{}", node.name))
            .spawn({
                let (node, events) = (Arc::clone(node), Arc::clone(events));
                move || {
                    node.refresh_state(&events);
                    node.end_state_read();
                }
            });
        if spawned.is_err() {
            node.end_state_read();
        }
    }
}

fn act(todo: Todo, nodes: &Roster, now: Instant) {
    match todo {
        Todo::Check(idx) => {
            let node = &nodes[idx];
            if node.begin_check(now) {
                let spawned = thread::Builder::new()
                    .name(format!("multimaster-check-{}", node.name))
                    .spawn({
                        let node = Arc::clone(node);
                        move || node.end_check(node.check())
                    });
                if spawned.is_err() {
                    node.end_check(Answer::NoAnswer);
                }
            }
        }
        Todo::Kill { node, session } => {
            let node = Arc::clone(&nodes[node]);
            let _ = thread::Builder::new()
                .name(format!("multimaster-kill-{}", node.name))
                .spawn(move || node.kill_query(session));
        }
        Todo::Abandon(f, ending) => {
            // Under the flight's lock, and only while it has not landed: the statement's thread
            // cannot have closed the connection (and let its descriptor be reused). One that
            // landed since the judgement ended by itself.
            let mut watch = lock(&f.watch);
            if watch.is_some() {
                sock::abort(f.fd);
                *watch = Some(Watch::Abandoned(ending));
            }
        }
    }
}
