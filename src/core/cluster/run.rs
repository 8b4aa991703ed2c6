//! The loop that applies [`decide`] over the nodes a [`Backend`] offers, one try at a time.

use std::time::{Duration, Instant};

use mysql::Error as DbError;

use crate::core::cancel::Cancel;
use crate::core::error::{Error, Result};
use crate::core::events::EventKind;
use crate::core::failure::backoff::jitter;
use crate::core::failure::decide::KeyCheck;
use crate::core::failure::decide::{
    decide, server_error, Failure, History, IfLost, Outcome, Step, Took,
};
use crate::core::failure::fault::{classify, code, describe, message, Fault, Phase};
use crate::core::failure::liveness::{Ended, Liveness};
use crate::core::node::Claim;
use crate::core::settings::config::Config;

/// How often a caller with no live node looks again (nodes come back through probes).
const IDLE_POLL: Duration = Duration::from_millis(25);

/// The nodes the loop runs on: real ones (`Cluster`) or scripted ones (the tests).
pub(crate) trait Backend {
    type Conn;
    fn config(&self) -> &Config;
    fn name(&self, idx: usize) -> &str;
    fn is_closed(&self) -> bool;
    fn claim(&self, idx: usize) -> Claim;
    /// Starts the one reconnect attempt the claim granted, off the request path.
    fn probe(&self, idx: usize);
    /// A connection; an error here means nothing was sent.
    fn checkout(&self, idx: usize) -> std::result::Result<Self::Conn, DbError>;
    fn checkin(&self, idx: usize, conn: Self::Conn);
    /// What identifies the connection's server session, to fence it after a lost reply.
    type Session;
    fn session(&self, idx: usize, conn: &Self::Conn) -> Self::Session;
    /// Runs `op` on the node's leased connection while the watchdog watches it (liveness,
    /// `cancel` and its statement time limit); says how it ended. A connection the watchdog
    /// acted on is dropped.
    fn watched<T>(
        &self,
        idx: usize,
        lease: &mut Option<Self::Conn>,
        cancel: &Cancel,
        op: &mut LeasedOp<'_, Self::Conn, T>,
    ) -> (std::result::Result<T, DbError>, Ended);
    /// Asks the node on a separate connection whether it still answers.
    fn liveness(&self, idx: usize) -> Liveness;
    fn record_statement(&self, idx: usize, error: Option<&DbError>);
    /// Takes the node out of rotation for a backoff period; `reason` is for events and stats.
    fn node_failed(&self, idx: usize, reason: String);
    /// Fences `session` on the node, then asks the cluster whether `key` exists.
    fn resolve_lost(
        &self,
        idx: usize,
        session: &Self::Session,
        key: &KeyCheck,
        cancel: &Cancel,
    ) -> Result<bool>;
    fn note(&self, kind: EventKind, idx: usize, detail: String);
    /// Per node, its state and last error: for `AllNodesDown`.
    fn down_detail(&self) -> String;
}

/// A statement run on a leased connection, which it may take out of the lease to keep.
pub(crate) type LeasedOp<'a, C, T> =
    dyn FnMut(usize, &mut Option<C>) -> std::result::Result<T, DbError> + 'a;

/// Runs `op` on a live node in the policy's order for `request`, applying [`decide`] to every
/// failure, and waits (without spinning) for a node to come back when none is live.
pub(crate) fn run<B: Backend, T>(
    b: &B,
    sql: &str,
    write: IfLost<'_>,
    request: u64,
    cancel: &Cancel,
    op: &mut LeasedOp<'_, B::Conn, T>,
) -> Result<Outcome<T>> {
    let cfg = b.config();
    let nodes = cfg.endpoints.len();
    let started = Instant::now();
    let deadline = started + cfg.failover_timeout;
    let first_choice = cfg.policy.order(request, nodes).next().unwrap_or(0);
    let mut r = Request {
        b,
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
        if b.is_closed() {
            return Err(Error::Closed);
        }
        cancel.check()?;
        for idx in cfg.policy.order(request, nodes) {
            match b.claim(idx) {
                Claim::Skip => continue,
                Claim::Probe => b.probe(idx),
                Claim::Use => match r.attempt(idx, op)? {
                    Flow::Done => return Ok(finish(b, r.out, idx)),
                    Flow::Again => continue 'request,
                    Flow::Next => {}
                },
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
        let conn = match b.checkout(idx) {
            Ok(c) => c,
            Err(e) => {
                self.last = Some((idx, code(&e)));
                let f = Failure {
                    phase: Phase::Connect,
                    fault: classify(&e, Phase::Connect),
                    code: code(&e),
                    ended: Ended::Itself,
                    node: Liveness::Unknown,
                };
                if let Step::Raise(kind) = decide(&f, &self.write, &History::default()) {
                    return Err(server_error(b.name(idx), &e, kind));
                }
                self.failed(idx, describe(&e));
                return Ok(Flow::Next);
            }
        };
        let session = b.session(idx, &conn);
        let mut lease = Some(conn);
        let sent = Instant::now();
        let (result, ended) = b.watched(idx, &mut lease, self.cancel, op);
        b.record_statement(idx, result.as_ref().err());
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
                // A server error leaves the connection usable; anything else does not.
                if let Some(conn) = lease.filter(|_| matches!(e, DbError::MySqlError(_))) {
                    b.checkin(idx, conn);
                }
                self.after(idx, &e, ended, session, sent)
            }
        }
    }

    /// Applies [`decide`] to a statement that failed on node `idx`.
    /// What happened to the statement that failed on node `idx`: its fault, and (for a lost
    /// connection the watchdog did not cut) whether the node still answers.
    fn failure(&self, idx: usize, e: &DbError, ended: Ended) -> Failure {
        let fault = classify(e, Phase::Statement);
        let node = match ended {
            Ended::NodeDead => Liveness::Dead,
            Ended::Itself if fault == Fault::Lost => self.b.liveness(idx),
            _ => Liveness::Unknown,
        };
        Failure {
            phase: Phase::Statement,
            fault,
            code: code(e),
            ended,
            node,
        }
    }

    /// Applies [`decide`] to a statement that failed on node `idx`.
    fn after(
        &mut self,
        idx: usize,
        e: &DbError,
        ended: Ended,
        session: B::Session,
        sent: Instant,
    ) -> Result<Flow> {
        let b = self.b;
        self.last = Some((idx, code(e)));
        let failure = self.failure(idx, e, ended);
        let dead = failure.node == Liveness::Dead;
        // Why the node goes down: what happened, not the cut connection's own error.
        let why = || match ended {
            Ended::NodeDead => format!(
                "no answer to liveness checks for {:.1} s",
                b.config().failure_detection.as_secs_f64()
            ),
            _ => describe(e),
        };
        self.history.retries = self.out.took.retries;
        let name = b.name(idx).to_owned();
        match decide(&failure, &self.write, &self.history) {
            Step::TimedOut => Err(Error::TimedOut {
                node: name,
                statement: self.sql.to_owned(),
                elapsed: sent.elapsed(),
                limit: self.cancel.limit().unwrap_or_default(),
            }),
            Step::Interrupted => Err(Error::Interrupted),
            Step::Broken => Err(self.broken(idx, e)),
            Step::Raise(kind) => Err(server_error(&name, e, kind)),
            Step::GiveUp => Err(Error::RetriesExhausted {
                node: name,
                attempts: self.out.took.retries + 1,
                code: code(e).unwrap_or(0),
                message: message(e),
            }),
            Step::Committed => {
                self.out.took.resolved = true;
                let detail = "duplicate key on the retry: the lost write had committed";
                b.note(EventKind::AmbiguousResolved, idx, detail.into());
                Ok(Flow::Done)
            }
            Step::Retry { same_node } => {
                self.out.took.retries += 1;
                b.note(EventKind::Retry, idx, describe(e));
                if same_node {
                    let delay = b.config().backoff.delay(self.out.took.retries, jitter());
                    self.cancel.sleep(delay)?;
                    return Ok(Flow::Again);
                }
                self.failed(idx, why());
                Ok(Flow::Next)
            }
            Step::NextNode => {
                self.failed(idx, why());
                Ok(Flow::Next)
            }
            Step::Ambiguous => {
                if dead {
                    self.failed(idx, why());
                }
                let sql = self.sql;
                b.note(EventKind::Ambiguous, idx, format!("{sql}: {}", describe(e)));
                Err(Error::Ambiguous {
                    node: name,
                    statement: sql.to_owned(),
                    cause: describe(e),
                })
            }
            Step::CheckKey { write_again } => {
                if dead {
                    self.failed(idx, why());
                }
                self.check_key(idx, e, &session, write_again)
            }
        }
    }

    /// A lost write's key check (after its fence): found, it had committed; not found, it is
    /// written again on another node, or (its node alive: the statement broke its own
    /// connection) raised.
    fn check_key(
        &mut self,
        idx: usize,
        e: &DbError,
        session: &B::Session,
        write_again: bool,
    ) -> Result<Flow> {
        let IfLost::CheckKey(key) = self.write else {
            unreachable!("decide() checks keys of keyed writes only")
        };
        self.history.was_ambiguous = true;
        if self.b.resolve_lost(idx, session, key, self.cancel)? {
            self.out.took.resolved = true;
            return Ok(Flow::Done);
        }
        if write_again {
            Ok(Flow::Next)
        } else {
            Err(self.broken(idx, e))
        }
    }

    fn broken(&self, idx: usize, e: &DbError) -> Error {
        Error::Broken {
            node: self.b.name(idx).to_owned(),
            statement: self.sql.to_owned(),
            cause: describe(e),
        }
    }

    fn failed(&mut self, idx: usize, why: String) {
        self.out.took.failovers += 1;
        self.out.failed_on = Some(idx);
        self.b.node_failed(idx, why);
    }
}

fn finish<B: Backend, T>(b: &B, mut out: Outcome<T>, idx: usize) -> Outcome<T> {
    let first_choice = out.node;
    out.node = idx;
    out.took.rerouted = idx != first_choice;
    if let Some(from) = out.failed_on.filter(|&f| f != idx) {
        let detail = format!("statement failed over from {}", b.name(from));
        b.note(EventKind::Failover, idx, detail);
    }
    out
}

#[cfg(test)]
mod tests;
