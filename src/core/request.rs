//! The request loop: what to do after each outcome of a statement on a node (a pure decision,
//! [`decide`]), and the loop that applies it over the nodes a [`Backend`] offers. The backend is
//! the seam: `Cluster` runs it on real nodes, the unit tests below on scripted outcomes.

use std::time::{Duration, Instant};

use mysql::{Error as DbError, Value};

use super::cancel::Cancel;
use super::config::Config;
use super::error::{Error, Result};
use super::events::EventKind;
use super::fault::{classify, code, describe, message, Fault, Kind, Phase, ER_DUP_ENTRY};
use super::liveness::{Ended, Liveness};
use super::node::Claim;
use super::sql::{quote_ident, quote_table};

/// How often a caller with no live node looks again (nodes come back through probes).
const IDLE_POLL: Duration = Duration::from_millis(25);

/// What to do when a statement's reply is lost on a dead node (the README's "Failure
/// semantics").
#[derive(Clone, Copy, Debug)]
pub enum IfLost<'a> {
    /// Run it again on another node: a read, or a write the caller declared idempotent.
    RunAgain,
    /// A write whose rows are found by a unique key: looked up (after the fence) before writing
    /// again.
    CheckKey(&'a KeyCheck),
    /// Any other write: its outcome is unknown, raise `Ambiguous`.
    Raise,
}

/// How to find out whether a write committed: the rows `table.column IN values` exist. One
/// value for a single-row write; a multi-row INSERT's keys, which commit all or none.
#[derive(Clone, Debug)]
pub struct KeyCheck {
    pub table: String,
    pub column: String,
    pub values: Vec<Value>,
}

impl KeyCheck {
    pub fn one(table: &str, column: &str, value: Value) -> Self {
        KeyCheck {
            table: table.to_owned(),
            column: column.to_owned(),
            values: vec![value],
        }
    }

    /// `title='Title7'`, or `title='T0'..'T99' (100 keys)`, for events and logs.
    pub(crate) fn describe(&self) -> String {
        let sql = |v: Option<&Value>| v.map_or_else(|| "?".into(), |v| v.as_sql(true));
        match self.values.as_slice() {
            [one] => format!("{}={}", self.column, one.as_sql(true)),
            many => format!(
                "{}={}..{} ({} keys)",
                self.column,
                sql(many.first()),
                sql(many.last()),
                many.len()
            ),
        }
    }

    /// How many of the keys exist, counted once each.
    pub(crate) fn sql(&self) -> String {
        let marks = vec!["?"; self.values.len().max(1)].join(", ");
        format!(
            "SELECT COUNT(DISTINCT {col}) FROM {} WHERE {col} IN ({marks})",
            quote_table(&self.table),
            col = quote_ident(&self.column)
        )
    }

    /// The keys, each once: what the check must find all of, or none of.
    pub(crate) fn distinct(&self) -> u64 {
        let mut seen: Vec<&Value> = Vec::with_capacity(self.values.len());
        for v in &self.values {
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen.len() as u64
    }
}

/// What one statement took on its way to its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Took {
    /// Retries after retryable server errors (conflicts, not-ready nodes).
    pub retries: u32,
    /// Nodes left because of a failure while running this statement.
    pub failovers: u32,
    /// The policy's first choice was not the node that ran it (down, or failed).
    pub rerouted: bool,
    /// Its reply was lost and it was found committed (by a key check, or a duplicate key on
    /// the retry): the README's "ambiguous resolved".
    pub resolved: bool,
}

/// The result of one statement and how it got there.
#[derive(Debug)]
pub struct Outcome<T> {
    /// `None` when a keyed write's reply was lost and it was found committed.
    pub value: Option<T>,
    /// Index of the node that ran it.
    pub node: usize,
    pub took: Took,
    /// The statement returned, but only after it was killed for its time limit (how long it
    /// ran): some statements (`SLEEP`) end normally when killed. The caller decides whether
    /// that result stands (a write that changed rows had committed) or is a timeout.
    pub killed_after: Option<Duration>,
    /// The last node that failed under this statement, if any.
    failed_on: Option<usize>,
}

/// What the loop does after a statement (or a connect) failed on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The statement or the credentials are wrong: raise as this class, no failover.
    Raise(Kind),
    /// A duplicate key after an earlier lost reply: that write had committed. Success.
    Committed,
    /// Refused but not applied: back off and run it again, on this node or the next.
    Retry { same_node: bool },
    /// Refused too often: raise `RetriesExhausted`.
    GiveUp,
    /// Not sent, or a reply lost on a statement safe to repeat: take the node out, try the next.
    NextNode,
    /// A reply lost on a write nothing can check: raise `Ambiguous`.
    Ambiguous,
    /// A reply lost on a keyed write: fence the session, check the key; if it is absent, write
    /// again on another node, or (when the node is alive and the statement broke its own
    /// connection) raise `Broken`.
    CheckKey { write_again: bool },
    /// The statement broke the connection of a node that still answers: raise `Broken`.
    Broken,
    /// Killed on the server for `statement_timeout`: raise `TimedOut`.
    TimedOut,
    /// Stopped for Ctrl-C: raise `Interrupted`.
    Interrupted,
}

/// What happened to one try of a statement on a node.
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    pub phase: Phase,
    pub fault: Fault,
    pub code: Option<u16>,
    /// Whether the watchdog ended the statement (timeout, Ctrl-C, a silent node).
    pub ended: Ended,
    /// The node's liveness answer after a lost connection (`Unknown` when not asked).
    pub node: Liveness,
}

/// What the request went through before this try.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    /// An earlier try's reply was lost.
    pub was_ambiguous: bool,
    pub retries: u32,
    pub max_retries: u32,
}

/// The decision after a failed try of `write`.
pub fn decide(f: &Failure, write: &IfLost<'_>, h: &History) -> Step {
    match f.ended {
        Ended::Interrupted => return Step::Interrupted,
        // The kill's own error (or none): anything else the statement raised first stands.
        Ended::TimedOut
            if !matches!(f.fault, Fault::Fatal(_)) || f.code == Some(ER_QUERY_INTERRUPTED) =>
        {
            return Step::TimedOut
        }
        _ => {}
    }
    match (f.phase, f.fault) {
        (_, Fault::Fatal(_)) if h.was_ambiguous && f.code == Some(ER_DUP_ENTRY) => Step::Committed,
        (_, Fault::Fatal(kind)) => Step::Raise(kind),
        // Before the statement was sent anything else means this node cannot serve now.
        (Phase::Connect, _) | (Phase::Statement, Fault::Unreachable) => Step::NextNode,
        (Phase::Statement, Fault::Retry { .. }) if h.retries >= h.max_retries => Step::GiveUp,
        (Phase::Statement, Fault::Retry { same_node }) => Step::Retry { same_node },
        (Phase::Statement, Fault::Lost) => match (f.node, write) {
            // The node answers: the statement broke its own connection. Never carry it on.
            (Liveness::Alive, IfLost::RunAgain) => Step::Broken,
            (Liveness::Alive, IfLost::Raise) => Step::Ambiguous,
            (Liveness::Alive, IfLost::CheckKey(_)) => Step::CheckKey { write_again: false },
            (_, IfLost::RunAgain) => Step::NextNode,
            (_, IfLost::Raise) => Step::Ambiguous,
            (_, IfLost::CheckKey(_)) => Step::CheckKey { write_again: true },
        },
    }
}

/// The server's answer to a statement stopped by `KILL QUERY`.
const ER_QUERY_INTERRUPTED: u16 = 1317;

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
    fn after(
        &mut self,
        idx: usize,
        e: &DbError,
        ended: Ended,
        session: B::Session,
        sent: Instant,
    ) -> Result<Flow> {
        let (b, cfg) = (self.b, self.b.config());
        self.last = Some((idx, code(e)));
        let fault = classify(e, Phase::Statement);
        let node = match ended {
            Ended::NodeDead => Liveness::Dead,
            Ended::Itself if fault == Fault::Lost => b.liveness(idx),
            _ => Liveness::Unknown,
        };
        // Why the node goes down: what happened, not the cut connection's own error.
        let why = || match ended {
            Ended::NodeDead => format!(
                "no answer to liveness checks for {:.1} s",
                cfg.failure_detection.as_secs_f64()
            ),
            _ => describe(e),
        };
        let failure = Failure {
            phase: Phase::Statement,
            fault,
            code: code(e),
            ended,
            node,
        };
        self.history.retries = self.out.took.retries;
        let (name, sql) = (b.name(idx).to_owned(), self.sql.to_owned());
        let broken = || Error::Broken {
            node: name.clone(),
            statement: sql.clone(),
            cause: describe(e),
        };
        match decide(&failure, &self.write, &self.history) {
            Step::TimedOut => Err(Error::TimedOut {
                node: name,
                statement: sql,
                elapsed: sent.elapsed(),
                limit: self.cancel.limit().unwrap_or_default(),
            }),
            Step::Interrupted => Err(Error::Interrupted),
            Step::Broken => Err(broken()),
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
                    let delay = cfg
                        .backoff
                        .delay(self.out.took.retries, super::backoff::jitter());
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
                if node == Liveness::Dead {
                    self.failed(idx, why());
                }
                b.note(EventKind::Ambiguous, idx, format!("{sql}: {}", describe(e)));
                Err(Error::Ambiguous {
                    node: name,
                    statement: sql,
                    cause: describe(e),
                })
            }
            Step::CheckKey { write_again } => {
                if node == Liveness::Dead {
                    self.failed(idx, why());
                }
                let IfLost::CheckKey(key) = self.write else {
                    unreachable!("decide() checks keys of keyed writes only")
                };
                self.history.was_ambiguous = true;
                if b.resolve_lost(idx, &session, key, self.cancel)? {
                    self.out.took.resolved = true;
                    return Ok(Flow::Done);
                }
                if write_again {
                    Ok(Flow::Next)
                } else {
                    Err(broken())
                }
            }
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

/// A driver or server error as the core's error, with the PEP 249 class decided.
pub(crate) fn server_error(node: &str, e: &DbError, kind: Kind) -> Error {
    match e {
        DbError::MySqlError(m) => Error::Server {
            node: node.to_owned(),
            code: m.code,
            state: m.state.clone(),
            message: m.message.clone(),
            kind,
        },
        other => Error::Driver {
            node: node.to_owned(),
            message: describe(other),
            kind,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Endpoint;
    use crate::core::config::Secret;
    use mysql::MySqlError;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io;

    // --- the decision, class by class -------------------------------------------------------

    /// `decide` with its inputs spelled out, for tables.
    #[allow(clippy::too_many_arguments)]
    fn d(
        phase: Phase,
        fault: Fault,
        code: Option<u16>,
        write: &IfLost<'_>,
        was_ambiguous: bool,
        retries: u32,
        max_retries: u32,
        ended: Ended,
        node: Liveness,
    ) -> Step {
        let f = Failure {
            phase,
            fault,
            code,
            ended,
            node,
        };
        let h = History {
            was_ambiguous,
            retries,
            max_retries,
        };
        decide(&f, write, &h)
    }

    fn key() -> KeyCheck {
        KeyCheck::one("t", "k", Value::from("a"))
    }

    #[test]
    fn decide_covers_every_class_and_write_kind() {
        use Fault::*;
        let k = key();
        let writes = [
            ("run again", IfLost::RunAgain),
            ("check key", IfLost::CheckKey(&k)),
            ("raise", IfLost::Raise),
        ];
        let st = Phase::Statement;
        for (name, w) in &writes {
            let lost = match *name {
                "run again" => Step::NextNode,
                "check key" => Step::CheckKey { write_again: true },
                _ => Step::Ambiguous,
            };
            let cases = [
                (Lost, None, false, 0, lost),
                (Unreachable, None, false, 0, Step::NextNode),
                (
                    Retry { same_node: true },
                    Some(1213),
                    false,
                    0,
                    Step::Retry { same_node: true },
                ),
                (
                    Retry { same_node: false },
                    Some(1047),
                    false,
                    3,
                    Step::Retry { same_node: false },
                ),
                (
                    Retry { same_node: true },
                    Some(1213),
                    false,
                    10,
                    Step::GiveUp,
                ),
                (
                    Fatal(Kind::Programming),
                    Some(1064),
                    false,
                    0,
                    Step::Raise(Kind::Programming),
                ),
                (
                    Fatal(Kind::Integrity),
                    Some(1062),
                    false,
                    0,
                    Step::Raise(Kind::Integrity),
                ),
                (Fatal(Kind::Integrity), Some(1062), true, 0, Step::Committed),
                (
                    Fatal(Kind::Data),
                    Some(1406),
                    true,
                    0,
                    Step::Raise(Kind::Data),
                ),
            ];
            for (fault, code, ambiguous, retries, want) in cases {
                // Only a lost connection asks the node; a dead answer is the one that fails over
                // (the live answers are in the next test).
                let answers: &[Liveness] = if fault == Lost {
                    &[Liveness::Dead]
                } else {
                    &[Liveness::Unknown, Liveness::Alive, Liveness::Dead]
                };
                for &node in answers {
                    let got = d(st, fault, code, w, ambiguous, retries, 10, I, node);
                    assert_eq!(got, want, "{name} {fault:?} {code:?} {ambiguous} {node:?}");
                }
            }
        }
    }

    const I: Ended = Ended::Itself;
    const U: Liveness = Liveness::Unknown;

    #[test]
    fn decide_after_a_lost_connection_follows_the_liveness_answer() {
        let k = key();
        let st = Phase::Statement;
        let cases = [
            (IfLost::RunAgain, Liveness::Alive, Step::Broken),
            (IfLost::RunAgain, Liveness::Alive, Step::Broken),
            (IfLost::Raise, Liveness::Alive, Step::Ambiguous),
            (
                IfLost::CheckKey(&k),
                Liveness::Alive,
                Step::CheckKey { write_again: false },
            ),
            (IfLost::RunAgain, Liveness::Dead, Step::NextNode),
            (IfLost::RunAgain, Liveness::Dead, Step::NextNode),
            (IfLost::Raise, Liveness::Dead, Step::Ambiguous),
            (
                IfLost::CheckKey(&k),
                Liveness::Dead,
                Step::CheckKey { write_again: true },
            ),
        ];
        for (w, node, want) in cases {
            assert_eq!(
                d(st, Fault::Lost, None, &w, false, 0, 10, I, node),
                want,
                "{w:?} {node:?}"
            );
            // Cut by the watchdog because the node went silent: the same as a dead answer.
            if node == Liveness::Dead {
                let ended = Ended::NodeDead;
                assert_eq!(
                    d(st, Fault::Lost, None, &w, false, 0, 10, ended, node),
                    want
                );
            }
        }
    }

    #[test]
    fn decide_after_the_watchdog_stopped_a_statement() {
        let k = key();
        let st = Phase::Statement;
        let killed = Fault::Fatal(Kind::Operational);
        for w in [IfLost::RunAgain, IfLost::CheckKey(&k), IfLost::Raise] {
            let timed_out = Ended::TimedOut;
            assert_eq!(
                d(st, killed, Some(1317), &w, false, 0, 10, timed_out, U),
                Step::TimedOut
            );
            // The statement's own error came first: it stands.
            let dup = Fault::Fatal(Kind::Integrity);
            assert_eq!(
                d(st, dup, Some(1062), &w, false, 0, 10, timed_out, U),
                Step::Raise(Kind::Integrity)
            );
            for fault in [killed, Fault::Lost, Fault::Retry { same_node: true }] {
                let ended = Ended::Interrupted;
                assert_eq!(
                    d(st, fault, Some(1317), &w, false, 0, 10, ended, U),
                    Step::Interrupted
                );
            }
        }
    }

    #[test]
    fn decide_before_sending_never_checks_or_retries() {
        let k = key();
        for w in [IfLost::RunAgain, IfLost::CheckKey(&k), IfLost::Raise] {
            let c = Phase::Connect;
            assert_eq!(
                d(c, Fault::Unreachable, None, &w, false, 0, 0, I, U),
                Step::NextNode
            );
            // A restarted Galera node refuses with 1047 until it is ready: skip it, no retry.
            let not_ready = Fault::Retry { same_node: false };
            assert_eq!(
                d(c, not_ready, Some(1047), &w, false, 0, 0, I, U),
                Step::NextNode
            );
            let denied = Fault::Fatal(Kind::Operational);
            assert_eq!(
                d(c, denied, Some(1045), &w, false, 0, 0, I, U),
                Step::Raise(Kind::Operational)
            );
        }
    }

    // --- the loop, on scripted nodes ---------------------------------------------------------

    fn lost() -> DbError {
        DbError::IoError(io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn refused() -> DbError {
        DbError::IoError(io::Error::from(io::ErrorKind::ConnectionRefused))
    }

    fn server(code: u16, state: &str) -> DbError {
        DbError::MySqlError(MySqlError {
            state: state.into(),
            code,
            message: format!("error {code}"),
        })
    }

    type Scripted = std::result::Result<u32, DbError>;

    /// Nodes whose connects, statements and key checks answer from a script; every call the
    /// loop makes is written to `log` ("stmt 0", "down 1", "check 0", ...).
    struct Script {
        cfg: Config,
        up: RefCell<Vec<bool>>,
        connects: RefCell<Vec<VecDeque<Scripted>>>,
        statements: RefCell<Vec<VecDeque<Scripted>>>,
        checks: RefCell<VecDeque<Result<bool>>>,
        /// How the watchdog ends each statement, in order (then: by itself).
        endings: RefCell<VecDeque<Ended>>,
        /// Liveness answers after lost connections, in order (then: dead).
        answers: RefCell<VecDeque<Liveness>>,
        log: RefCell<Vec<String>>,
        events: RefCell<Vec<(EventKind, usize)>>,
    }

    impl Script {
        fn new(nodes: usize) -> Self {
            let endpoints = (0..nodes)
                .map(|i| format!("10.0.0.{i}").parse::<Endpoint>().unwrap())
                .collect();
            let mut cfg = Config::new(endpoints, "u", Secret::new("p"));
            cfg.failover_timeout = Duration::from_millis(60);
            cfg.backoff.base = Duration::from_millis(1);
            cfg.backoff.cap = Duration::from_millis(2);
            cfg.max_retries = 3;
            Script {
                cfg,
                up: RefCell::new(vec![true; nodes]),
                connects: RefCell::new((0..nodes).map(|_| VecDeque::new()).collect()),
                statements: RefCell::new((0..nodes).map(|_| VecDeque::new()).collect()),
                checks: RefCell::default(),
                endings: RefCell::default(),
                answers: RefCell::default(),
                log: RefCell::default(),
                events: RefCell::default(),
            }
        }

        /// The next statements on node `idx` answer these, in order; then they succeed.
        fn statements(self, idx: usize, outcomes: Vec<Scripted>) -> Self {
            self.statements.borrow_mut()[idx].extend(outcomes);
            self
        }

        fn connects(self, idx: usize, outcomes: Vec<Scripted>) -> Self {
            self.connects.borrow_mut()[idx].extend(outcomes);
            self
        }

        fn checks(self, answers: Vec<Result<bool>>) -> Self {
            self.checks.borrow_mut().extend(answers);
            self
        }

        fn endings(self, endings: Vec<Ended>) -> Self {
            self.endings.borrow_mut().extend(endings);
            self
        }

        fn answers(self, answers: Vec<Liveness>) -> Self {
            self.answers.borrow_mut().extend(answers);
            self
        }

        fn down(self, idx: usize) -> Self {
            self.up.borrow_mut()[idx] = false;
            self
        }

        fn log(&self) -> Vec<String> {
            self.log.borrow().clone()
        }

        fn kinds(&self) -> Vec<EventKind> {
            self.events.borrow().iter().map(|e| e.0).collect()
        }

        fn run(&self, write: IfLost<'_>, request: u64) -> Result<Outcome<u32>> {
            self.run_with(write, request, &Cancel::new())
        }

        fn run_with(
            &self,
            write: IfLost<'_>,
            request: u64,
            cancel: &Cancel,
        ) -> Result<Outcome<u32>> {
            run(
                self,
                "INSERT",
                write,
                request,
                cancel,
                &mut |idx, _lease| {
                    self.log.borrow_mut().push(format!("stmt {idx}"));
                    let next = self.statements.borrow_mut()[idx].pop_front();
                    next.unwrap_or(Ok(idx as u32))
                },
            )
        }
    }

    impl Backend for Script {
        type Conn = u32;
        fn config(&self) -> &Config {
            &self.cfg
        }
        fn name(&self, idx: usize) -> &str {
            ["n0", "n1", "n2", "n3"][idx]
        }
        fn is_closed(&self) -> bool {
            false
        }
        fn claim(&self, idx: usize) -> Claim {
            if self.up.borrow()[idx] {
                Claim::Use
            } else {
                Claim::Skip
            }
        }
        fn probe(&self, _idx: usize) {}
        fn checkout(&self, idx: usize) -> std::result::Result<u32, DbError> {
            let next = self.connects.borrow_mut()[idx].pop_front();
            next.unwrap_or(Ok(100 + idx as u32))
        }
        fn checkin(&self, idx: usize, _conn: u32) {
            self.log.borrow_mut().push(format!("checkin {idx}"));
        }
        type Session = u32;
        fn session(&self, _idx: usize, conn: &u32) -> u32 {
            *conn
        }
        fn watched<T>(
            &self,
            idx: usize,
            lease: &mut Option<u32>,
            _cancel: &Cancel,
            op: &mut LeasedOp<'_, u32, T>,
        ) -> (std::result::Result<T, DbError>, Ended) {
            let result = op(idx, lease);
            let ended = self
                .endings
                .borrow_mut()
                .pop_front()
                .unwrap_or(Ended::Itself);
            if ended != Ended::Itself {
                lease.take();
            }
            (result, ended)
        }
        fn liveness(&self, idx: usize) -> Liveness {
            let answer = self.answers.borrow_mut().pop_front();
            let answer = answer.unwrap_or(Liveness::Dead);
            self.log
                .borrow_mut()
                .push(format!("alive? {idx}: {answer:?}"));
            answer
        }
        fn record_statement(&self, _idx: usize, _error: Option<&DbError>) {}
        fn node_failed(&self, idx: usize, _reason: String) {
            self.up.borrow_mut()[idx] = false;
            self.log.borrow_mut().push(format!("down {idx}"));
        }
        fn resolve_lost(
            &self,
            idx: usize,
            session: &u32,
            _k: &KeyCheck,
            _c: &Cancel,
        ) -> Result<bool> {
            self.log
                .borrow_mut()
                .push(format!("check {idx} fencing {session}"));
            let next = self.checks.borrow_mut().pop_front();
            next.expect("an unscripted key check")
        }
        fn note(&self, kind: EventKind, idx: usize, _detail: String) {
            self.events.borrow_mut().push((kind, idx));
        }
        fn down_detail(&self) -> String {
            "scripted".into()
        }
    }

    #[test]
    fn success_on_the_first_choice() {
        let s = Script::new(2);
        let out = s.run(IfLost::Raise, 1).unwrap();
        assert_eq!(
            (out.value, out.node, out.took.rerouted, out.took.failovers),
            (Some(1), 1, false, 0)
        );
        assert_eq!(s.log(), ["stmt 1", "checkin 1"]);
    }

    #[test]
    fn keyed_lost_reply_found_committed_is_not_written_again() {
        let k = key();
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .checks(vec![Ok(true)]);
        let out = s.run(IfLost::CheckKey(&k), 0).unwrap();
        assert!(out.took.resolved && out.value.is_none());
        assert_eq!(
            s.log(),
            ["stmt 0", "alive? 0: Dead", "down 0", "check 0 fencing 100"]
        );
    }

    #[test]
    fn keyed_lost_reply_not_found_is_written_on_the_next_node() {
        let k = key();
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .checks(vec![Ok(false)]);
        let out = s.run(IfLost::CheckKey(&k), 0).unwrap();
        assert_eq!(
            (out.value, out.node, out.took.rerouted, out.took.failovers),
            (Some(1), 1, true, 1)
        );
        assert!(!out.took.resolved);
        assert_eq!(
            s.log(),
            [
                "stmt 0",
                "alive? 0: Dead",
                "down 0",
                "check 0 fencing 100",
                "stmt 1",
                "checkin 1"
            ]
        );
        assert_eq!(s.kinds(), [EventKind::Failover]);
    }

    #[test]
    fn duplicate_key_after_a_lost_reply_means_committed() {
        let k = key();
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .statements(1, vec![Err(server(1062, "23000"))])
            .checks(vec![Ok(false)]);
        let out = s.run(IfLost::CheckKey(&k), 0).unwrap();
        assert!(out.took.resolved && out.value.is_none());
        assert_eq!(out.node, 1);
        assert!(s.kinds().contains(&EventKind::AmbiguousResolved));
    }

    #[test]
    fn duplicate_key_without_a_lost_reply_is_an_integrity_error() {
        let k = key();
        let s = Script::new(2).statements(0, vec![Err(server(1062, "23000"))]);
        let e = s.run(IfLost::CheckKey(&k), 0).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Server {
                    code: 1062,
                    kind: Kind::Integrity,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(s.log(), ["stmt 0", "checkin 0"], "no failover, node kept");
    }

    #[test]
    fn a_key_check_that_cannot_run_writes_nothing() {
        let k = key();
        let down = Error::AllNodesDown {
            waited: Duration::ZERO,
            detail: String::new(),
            node: None,
            code: None,
        };
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .checks(vec![Err(down)]);
        let e = s.run(IfLost::CheckKey(&k), 0).unwrap_err();
        assert!(matches!(e, Error::AllNodesDown { .. }), "{e:?}");
        assert_eq!(
            s.log(),
            ["stmt 0", "alive? 0: Dead", "down 0", "check 0 fencing 100"]
        );
    }

    #[test]
    fn unkeyed_lost_reply_raises_ambiguous_and_is_not_repeated() {
        let s = Script::new(2).statements(0, vec![Err(lost())]);
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        assert!(
            matches!(&e, Error::Ambiguous { node, .. } if node == "n0"),
            "{e:?}"
        );
        assert_eq!(s.log(), ["stmt 0", "alive? 0: Dead", "down 0"]);
        assert_eq!(s.kinds(), [EventKind::Ambiguous]);
    }

    #[test]
    fn a_statement_that_broke_a_live_nodes_connection_is_not_carried_on() {
        let k = key();
        {
            let w = IfLost::RunAgain;
            let s = Script::new(2)
                .statements(0, vec![Err(lost())])
                .answers(vec![Liveness::Alive]);
            let e = s.run(w, 0).unwrap_err();
            assert!(
                matches!(&e, Error::Broken { node, .. } if node == "n0"),
                "{e:?}"
            );
            assert_eq!(s.log(), ["stmt 0", "alive? 0: Alive"], "no node down");
        }
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .answers(vec![Liveness::Alive]);
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
        assert_eq!(s.log(), ["stmt 0", "alive? 0: Alive"]);
        // Keyed: checked (it may have committed), never written elsewhere.
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .answers(vec![Liveness::Alive])
            .checks(vec![Ok(false)]);
        let e = s.run(IfLost::CheckKey(&k), 0).unwrap_err();
        assert!(matches!(e, Error::Broken { .. }), "{e:?}");
        assert_eq!(
            s.log(),
            ["stmt 0", "alive? 0: Alive", "check 0 fencing 100"]
        );
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .answers(vec![Liveness::Alive])
            .checks(vec![Ok(true)]);
        let out = s.run(IfLost::CheckKey(&k), 0).unwrap();
        assert!(out.took.resolved && out.value.is_none());
    }

    #[test]
    fn a_node_the_watchdog_found_dead_is_failed_over_without_asking_again() {
        let s = Script::new(2)
            .statements(0, vec![Err(lost())])
            .endings(vec![Ended::NodeDead]);
        let out = s.run(IfLost::RunAgain, 0).unwrap();
        assert_eq!((out.value, out.node), (Some(1), 1));
        assert_eq!(s.log(), ["stmt 0", "down 0", "stmt 1", "checkin 1"]);
    }

    #[test]
    fn a_statement_past_its_time_limit_raises_and_keeps_the_node() {
        let killed = || Err(server(1317, "70100"));
        let s = Script::new(2)
            .statements(0, vec![killed()])
            .endings(vec![Ended::TimedOut]);
        let cancel = Cancel::new().with_limit(Some(Duration::from_secs(2)));
        let e = s.run_with(IfLost::Raise, 0, &cancel).unwrap_err();
        assert!(
            matches!(&e, Error::TimedOut { node, limit, .. } if node == "n0" && limit.as_secs() == 2),
            "{e:?}"
        );
        assert_eq!(s.log(), ["stmt 0"], "the connection dropped, no node down");
        let s = Script::new(2)
            .statements(0, vec![killed()])
            .endings(vec![Ended::Interrupted]);
        assert!(matches!(
            s.run(IfLost::RunAgain, 0),
            Err(Error::Interrupted)
        ));
        assert_eq!(s.log(), ["stmt 0"]);
    }

    #[test]
    fn reads_and_idempotent_writes_with_a_lost_reply_run_elsewhere() {
        {
            let w = IfLost::RunAgain;
            let s = Script::new(2).statements(0, vec![Err(lost())]);
            let out = s.run(w, 0).unwrap();
            assert_eq!((out.value, out.node), (Some(1), 1));
            assert_eq!(
                s.log(),
                ["stmt 0", "alive? 0: Dead", "down 0", "stmt 1", "checkin 1"]
            );
        }
    }

    #[test]
    fn conflicts_retry_on_the_same_node_then_give_up() {
        let conflict = || Err(server(1213, "40001"));
        let s = Script::new(2).statements(0, vec![conflict(), conflict()]);
        let out = s.run(IfLost::Raise, 0).unwrap();
        assert_eq!((out.node, out.took.retries, out.took.failovers), (0, 2, 0));

        let s = Script::new(2).statements(0, (0..10).map(|_| conflict()).collect());
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        // max_retries = 3: the first try and 3 retries.
        assert!(
            matches!(
                e,
                Error::RetriesExhausted {
                    attempts: 4,
                    code: 1213,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(s.log().iter().filter(|l| *l == "stmt 0").count(), 4);
        assert!(
            !s.log().iter().any(|l| l.starts_with("down")),
            "a conflict is not a failure"
        );
    }

    #[test]
    fn an_unhealthy_node_sends_the_statement_elsewhere() {
        let s = Script::new(2).statements(0, vec![Err(server(1047, "08S01"))]);
        let out = s.run(IfLost::Raise, 0).unwrap();
        assert_eq!((out.node, out.took.retries, out.took.failovers), (1, 1, 1));
        assert_eq!(
            s.log(),
            ["stmt 0", "checkin 0", "down 0", "stmt 1", "checkin 1"]
        );
    }

    #[test]
    fn fatal_errors_raise_without_failover() {
        let s = Script::new(2).statements(0, vec![Err(server(1064, "42000"))]);
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        assert!(matches!(
            e,
            Error::Server {
                kind: Kind::Programming,
                ..
            }
        ));
        assert_eq!(s.log(), ["stmt 0", "checkin 0"]);
    }

    #[test]
    fn unreachable_node_is_skipped_before_sending() {
        let s = Script::new(2).connects(0, vec![Err(refused())]);
        let out = s.run(IfLost::Raise, 0).unwrap();
        assert_eq!(
            (out.node, out.took.failovers, out.took.rerouted),
            (1, 1, true)
        );
        assert_eq!(s.log(), ["down 0", "stmt 1", "checkin 1"]);
    }

    #[test]
    fn a_refused_login_raises_and_marks_nothing_down() {
        let s = Script::new(2).connects(0, vec![Err(server(1045, "28000"))]);
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        assert!(matches!(
            e,
            Error::Server {
                code: 1045,
                kind: Kind::Operational,
                ..
            }
        ));
        assert!(s.log().is_empty(), "{:?}", s.log());
    }

    #[test]
    fn all_nodes_down_raises_after_the_failover_timeout() {
        let s = Script::new(2).down(0).down(1);
        let started = Instant::now();
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        let Error::AllNodesDown { waited, .. } = e else {
            panic!("{e:?}")
        };
        assert!(waited >= s.cfg.failover_timeout && started.elapsed() >= waited);
        assert!(s.log().is_empty());
    }

    #[test]
    fn every_node_failing_in_turn_ends_in_all_nodes_down_naming_the_last() {
        let s = Script::new(2)
            .connects(0, vec![Err(refused())])
            .connects(1, vec![Err(refused())]);
        let e = s.run(IfLost::Raise, 0).unwrap_err();
        assert!(
            matches!(&e, Error::AllNodesDown { node: Some(n), .. } if n == "n1"),
            "{e:?}"
        );
    }

    #[test]
    fn cancelled_while_waiting_for_a_node() {
        let s = Script::new(1).down(0);
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(
            s.run_with(IfLost::RunAgain, 0, &cancel),
            Err(Error::Interrupted)
        ));
    }
}
