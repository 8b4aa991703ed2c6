//! The loop that applies the decisions of `failure/decide.rs`: [`run`] tries a statement on
//! its own over the nodes a [`Backend`] offers; a transaction's statements and COMMIT, on their
//! one node, share its pieces ([`Backend::watched`], [`decide_after`], [`Sent::error`]).

use std::time::{Duration, Instant};

use mysql::Error as DbError;

use crate::core::cancel::Cancel;
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::jitter;
use crate::core::failure::decide::{
    self, Failure, History, IfLost, KeyCheck, Outcome, Pending, Step, Took,
};
use crate::core::failure::fault::{
    classify, code, describe, keeps_connection, message, server_words, Fault, Kind, NodeError,
    Phase,
};
use crate::core::failure::liveness::{Ended, Liveness, Session};
use crate::core::failure::policy::{key_hash, node_id, Load};
use crate::core::node::fitness;
use crate::core::settings::config::Config;

/// How often a caller with no live node looks again (nodes come back through probes).
const IDLE_POLL: Duration = Duration::from_millis(25);

/// What the loop needs from the nodes: real ones (`Cluster`) or scripted ones (the tests).
pub(crate) trait Backend {
    type Conn;
    fn name(&self, idx: usize) -> &str;
    /// Indexes of the nodes in rotation now (not retired), in the order they became known;
    /// an index once handed out is valid for the backend's life.
    fn in_rotation(&self) -> Vec<usize>;
    /// Whether the loop may use node `idx` now. A down node whose backoff has passed gets its
    /// one reconnect attempt, started off the request path, and is skipped meanwhile. `Closed`
    /// once the instance is closed.
    fn claim(&self, idx: usize) -> Result<bool>;
    /// A connection and its server session (to fence after a lost reply); an error here means
    /// nothing was sent.
    fn checkout(&self, idx: usize) -> std::result::Result<(Self::Conn, Session), NodeError>;
    fn checkin(&self, idx: usize, conn: Self::Conn);
    /// Runs `op` on the node's leased connection while the watchdog watches it (liveness,
    /// `cancel` and its statement time limit); says how it ended. A connection the watchdog
    /// acted on is dropped: a late `KILL QUERY` must not hit its next statement.
    fn watched<T>(
        &self,
        idx: usize,
        lease: &mut Option<Self::Conn>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, Self::Conn, T>,
    ) -> (std::result::Result<T, NodeError>, Ended);
    /// Counts a statement (its time and error) in the node's statistics, and tells an
    /// exporter when one is set.
    fn record_statement(&self, idx: usize, sql: &str, took: Duration, error: Option<&NodeError>);
    /// Asks the node on a separate connection whether it still answers.
    fn liveness(&self, idx: usize) -> Liveness;
    /// Takes the node out of rotation for a backoff period; `reason` is for events and stats.
    fn node_failed(&self, idx: usize, reason: String);
    /// The node refused a statement in a way its own state may explain (`fitness::explains`):
    /// reads that state now; true when the node is draining (it then stays out of rotation
    /// as draining, not taken for dead).
    fn draining_now(&self, _idx: usize) -> bool {
        false
    }
    /// Statements in flight on the node and its recent latency (`least-loaded`).
    fn load(&self, _idx: usize) -> Load {
        Load::default()
    }
    /// Fences what may still commit the write (`pending`: `session` on the node, or its write
    /// set), then asks the cluster whether `key` exists.
    fn resolve_lost(
        &self,
        idx: usize,
        session: &Session,
        pending: Pending,
        key: &KeyCheck,
        cancel: &Cancel,
    ) -> Result<bool>;
    /// Records an event about node `node` (by name) and logs it.
    fn note(&self, kind: EventKind, node: &str, detail: String);
    /// Per node, its state and last error: for `AllNodesDown`.
    fn down_detail(&self) -> String;
}

/// A statement run on node `idx`'s leased connection, which it may take out of the lease to
/// keep (a transaction keeps it).
pub(crate) type LeasedOp<'a, C, T> =
    dyn FnMut(usize, &mut Option<C>) -> std::result::Result<T, NodeError> + 'a;

/// The leased connection; gone when the watchdog dropped it.
pub(crate) fn conn<C>(lease: &mut Option<C>) -> std::result::Result<&mut C, NodeError> {
    lease
        .as_mut()
        .ok_or_else(|| DbError::server_disconnected().into())
}

/// Decides with `decision` what a statement that failed on node `idx` (or that the watchdog
/// stopped) means, asking the node whether it still answers when the decision needs to know.
pub(crate) fn decide_after<B: Backend>(
    b: &B,
    idx: usize,
    e: &NodeError,
    ended: Ended,
    decision: impl Fn(&Failure) -> Step,
) -> (Failure, Step) {
    let mut failure = Failure::of(Phase::Statement, e, ended);
    let mut step = decision(&failure);
    if step == Step::AskNode {
        failure.node = b.liveness(idx);
        step = decision(&failure);
    }
    (failure, step)
}

/// Why a node goes down after `e`: what happened, not the cut connection's own error.
pub(crate) fn why_down(e: &NodeError, ended: Ended, detection: Duration) -> String {
    match ended {
        Ended::NodeDead => format!(
            "no answer to liveness checks for {:.1} s",
            detection.as_secs_f64()
        ),
        _ => describe(e),
    }
}

/// One statement sent on one node, as the errors that end it name it.
pub(crate) struct Sent<'a> {
    pub node: &'a str,
    pub sql: &'a str,
    pub at: Instant,
    pub cancel: &'a Cancel,
}

impl Sent<'_> {
    /// The error `step` ends the statement with, where every loop ends it the same way.
    pub(crate) fn error(&self, step: Step, e: &NodeError) -> Error {
        let (node, statement) = (self.node.to_owned(), self.sql.to_owned());
        match step {
            Step::Raise(kind) => raise(self.node, e, kind),
            Step::TimedOut => timed_out(self.node, self.sql, self.at.elapsed(), self.cancel),
            Step::Interrupted => Error::Interrupted,
            Step::Broken => Error::Broken {
                node,
                statement,
                cause: describe(e),
            },
            Step::Ambiguous => Error::Ambiguous {
                node,
                statement,
                cause: why_unknown(e),
            },
            other => Error::Internal(format!("{other:?} does not end a statement ({node})")),
        }
    }
}

/// Why a write's outcome is unknown after `e`, in words.
fn why_unknown(e: &NodeError) -> String {
    match classify(e, Phase::Statement) {
        Fault::Unsettled => format!(
            "the node refused the commit after it may have replicated: {}",
            describe(e)
        ),
        _ => format!("the connection was lost: {}", describe(e)),
    }
}

/// A failed try as the core's error, raised as `kind`.
pub(crate) fn raise(node: &str, e: &NodeError, kind: Kind) -> Error {
    let node = node.to_owned();
    if let NodeError::Refused(refusal) = e {
        let refusal = refusal.clone();
        return Error::Refused { node, refusal };
    }
    match server_words(e) {
        Some((code, state, message)) => Error::Server {
            node,
            code,
            state: state.to_owned(),
            message: message.to_owned(),
            kind,
        },
        None => Error::Driver {
            node,
            message: describe(e),
            kind,
        },
    }
}

/// A statement killed for its time limit.
pub(crate) fn timed_out(node: &str, sql: &str, elapsed: Duration, cancel: &Cancel) -> Error {
    Error::TimedOut {
        node: node.to_owned(),
        statement: sql.to_owned(),
        elapsed,
        limit: cancel.limit().unwrap_or_default(),
    }
}

/// Runs `op` on a live node in the policy's order for `request`, applying
/// [`decide::statement`] to every failure, and waits (without spinning) for a node to come
/// back when none is live. `request` and `affinity` place it (`failure/policy.rs`).
#[allow(clippy::too_many_arguments)] // what one statement is, each part from its own caller
pub(crate) fn run<B: Backend, T>(
    b: &B,
    cfg: &Config,
    sql: &str,
    write: IfLost<'_>,
    request: u64,
    affinity: Option<u64>,
    cancel: &Cancel,
    op: &mut LeasedOp<'_, B::Conn, T>,
) -> Result<Outcome<T>> {
    let started = Instant::now();
    let deadline = started + cfg.failover_timeout;
    // Key affinity: the one given (a transaction's), else a keyed write's first key (a
    // batch's keys commit together on one node).
    let affinity = affinity.or(match write {
        IfLost::CheckKey(k) => k.values.first().map(value_hash),
        _ => None,
    });
    // The nodes in rotation, taken again each round: indexes are stable (`cluster/roster.rs`),
    // so a node added meanwhile joins the next round and a removed one leaves it.
    let order = || {
        let members = b.in_rotation();
        let ids: Vec<u64> = members.iter().map(|&i| node_id(b.name(i))).collect();
        let by = cfg
            .policy
            .order(request, affinity, &ids, |k| b.load(members[k]));
        by.into_iter().map(|k| members[k]).collect::<Vec<_>>()
    };
    let first_choice = order().first().copied().unwrap_or(0);
    let mut r = Request {
        b,
        cfg,
        sql,
        write,
        cancel,
        history: History {
            max_retries: cfg.max_retries,
            ..History::default()
        },
        last: None,
        out: Outcome {
            value: None,
            node: first_choice,
            took: Took::default(),
            killed_after: None,
            failed_on: None,
        },
    };
    'request: loop {
        cancel.check()?;
        for idx in order() {
            if !b.claim(idx)? {
                continue;
            }
            match r.attempt(idx, op)? {
                Flow::Done => return Ok(finish(b, r.out, idx)),
                Flow::Again => continue 'request,
                Flow::Next => {}
            }
        }
        // No node ran it this round: every node is down or backing off.
        let now = Instant::now();
        if now >= deadline {
            let (node, code) = r
                .last
                .map_or((None, None), |(i, c)| (Some(b.name(i).into()), c));
            return Err(Error::AllNodesDown {
                waited: now - started,
                detail: b.down_detail(),
                node,
                code,
            });
        }
        cancel.sleep(IDLE_POLL.min(deadline - now))?;
    }
}

/// A key's hash for key affinity: of its SQL literal, so that `affinity="a"` and
/// `key=(table, column, "a")` pick the same node.
pub(crate) fn value_hash(v: &mysql::Value) -> u64 {
    key_hash(v.as_sql(false).as_bytes())
}

/// What the loop does after one try.
enum Flow {
    /// `out.value` (or `out.took.resolved`) holds the result.
    Done,
    /// Try the same node again (after a backoff already slept).
    Again,
    /// Go on to the next node.
    Next,
}

/// One request's state across its tries.
struct Request<'a, B: Backend, T> {
    b: &'a B,
    cfg: &'a Config,
    sql: &'a str,
    write: IfLost<'a>,
    cancel: &'a Cancel,
    history: History,
    /// The node and code of the last error, for `AllNodesDown`.
    last: Option<(usize, Option<u16>)>,
    out: Outcome<T>,
}

impl<B: Backend, T> Request<'_, B, T> {
    /// One try on node `idx`: a connection, the statement under the watchdog, the outcome.
    fn attempt(&mut self, idx: usize, op: &mut LeasedOp<'_, B::Conn, T>) -> Result<Flow> {
        let b = self.b;
        let (conn, session) = match b.checkout(idx) {
            Ok(c) => c,
            Err(e) => {
                self.last = Some((idx, code(&e)));
                let f = Failure::of(Phase::Connect, &e, Ended::Itself);
                if let Step::Raise(kind) = decide::statement(&f, &self.write, &History::default()) {
                    return Err(raise(b.name(idx), &e, kind));
                }
                self.failed(idx, describe(&e));
                return Ok(Flow::Next);
            }
        };
        let mut lease = Some(conn);
        let sent = Instant::now();
        let (result, ended) = b.watched(idx, &mut lease, self.cancel, op);
        b.record_statement(idx, self.sql, sent.elapsed(), result.as_ref().err());
        match result {
            Ok(v) => {
                if let Some(conn) = lease {
                    b.checkin(idx, conn);
                }
                self.out.value = Some(v);
                self.out.killed_after = (ended == Ended::TimedOut).then(|| sent.elapsed());
                Ok(Flow::Done)
            }
            Err(e) => {
                if let Some(conn) = lease.filter(|_| keeps_connection(&e)) {
                    b.checkin(idx, conn);
                }
                self.after(idx, &e, ended, &session, sent)
            }
        }
    }

    /// Applies [`decide::statement`] to a statement that failed on node `idx`.
    fn after(
        &mut self,
        idx: usize,
        e: &NodeError,
        ended: Ended,
        session: &Session,
        at: Instant,
    ) -> Result<Flow> {
        let b = self.b;
        self.last = Some((idx, code(e)));
        self.history.retries = self.out.took.retries;
        let (write, history) = (&self.write, &self.history);
        let (failure, step) =
            decide_after(b, idx, e, ended, |f| decide::statement(f, write, history));
        let out = failure.node_out();
        let why = || why_down(e, ended, self.cfg.failure_detection);
        let name = b.name(idx);
        match step {
            Step::GiveUp => Err(Error::RetriesExhausted {
                node: name.to_owned(),
                attempts: self.out.took.retries + 1,
                code: code(e).unwrap_or(0),
                message: message(e),
            }),
            Step::Committed => {
                self.out.took.resolved = true;
                let detail = "duplicate key on the retry: the lost write had committed";
                b.note(EventKind::AmbiguousResolved, name, detail.into());
                Ok(Flow::Done)
            }
            Step::Retry { same_node } => {
                self.out.took.retries += 1;
                b.note(EventKind::Retry, name, describe(e));
                if same_node {
                    let delay = self.cfg.backoff.delay(self.out.took.retries, jitter());
                    self.cancel.sleep(delay)?;
                    return Ok(Flow::Again);
                }
                let why = why();
                self.failed(idx, why);
                Ok(Flow::Next)
            }
            Step::NextNode => {
                let why = why();
                self.failed(idx, why);
                Ok(Flow::Next)
            }
            Step::CheckKey { write_again } => {
                if out {
                    let why = why();
                    self.failed(idx, why);
                }
                self.check_key(idx, e, (session, failure.pending()), write_again, at)
            }
            raised => {
                if raised == Step::Ambiguous {
                    if out {
                        let why = why();
                        self.failed(idx, why);
                    }
                    let detail = format!("{}: {}", self.sql, describe(e));
                    b.note(EventKind::Ambiguous, name, detail);
                }
                Err(self.sent(idx, at).error(raised, e))
            }
        }
    }

    fn sent(&self, idx: usize, at: Instant) -> Sent<'_> {
        Sent {
            node: self.b.name(idx),
            sql: self.sql,
            at,
            cancel: self.cancel,
        }
    }

    /// A lost (or unsettled) write's key check, after its fence (`pending`): found, it had
    /// committed; not found, it is written again on another node, or (its node alive: the
    /// statement broke its own connection) raised.
    fn check_key(
        &mut self,
        idx: usize,
        e: &NodeError,
        (session, pending): (&Session, Pending),
        write_again: bool,
        at: Instant,
    ) -> Result<Flow> {
        let IfLost::CheckKey(key) = self.write else {
            unreachable!("decide::statement checks keys of keyed writes only")
        };
        self.history.was_ambiguous = true;
        let found = self
            .b
            .resolve_lost(idx, session, pending, key, self.cancel)
            .map_err(|check| {
                // A server's error for the fence or the check says nothing of the write: it stays
                // ambiguous (never a refusal of the statement, which would say it was not written).
                match check {
                    Error::Server { .. } | Error::Driver { .. } | Error::Refused { .. } => {
                        Error::Ambiguous {
                            node: self.b.name(idx).to_owned(),
                            statement: self.sql.to_owned(),
                            cause: format!("{}; its key check failed: {check}", why_unknown(e)),
                        }
                    }
                    other => other,
                }
            })?;
        if found {
            self.out.took.resolved = true;
            return Ok(Flow::Done);
        }
        if write_again {
            Ok(Flow::Next)
        } else {
            Err(self.sent(idx, at).error(Step::Broken, e))
        }
    }

    fn failed(&mut self, idx: usize, why: String) {
        self.out.took.failovers += 1;
        self.out.failed_on = Some(idx);
        // Refused by a node desynced, rejecting queries or in a minority (1047): a refusal is
        // not death, its state decides.
        let refused = matches!(self.last, Some((i, Some(c))) if i == idx && fitness::explains(c));
        if refused && self.b.draining_now(idx) {
            return;
        }
        self.b.node_failed(idx, why);
    }
}

fn finish<B: Backend, T>(b: &B, mut out: Outcome<T>, idx: usize) -> Outcome<T> {
    let first_choice = out.node;
    out.node = idx;
    out.took.rerouted = idx != first_choice;
    if let Some(from) = out.failed_on.filter(|&f| f != idx) {
        let detail = format!("statement failed over from {}", b.name(from));
        b.note(EventKind::Failover, b.name(idx), detail);
    }
    out
}

#[cfg(test)]
mod tests;
