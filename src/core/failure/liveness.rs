//! Whether a node is alive, judged apart from any statement on it (the README's "Failure
//! semantics"): a statement may be slow, a node that answers a liveness check on a separate
//! connection is alive. These are the pure decisions; `watchdog.rs` applies them.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a statement killed for Ctrl-C may take to return before its connection is cut:
/// the user waits at most half a second in all.
pub const INTERRUPT_WAIT: Duration = Duration::from_millis(300);

/// What one liveness check (connect + a trivial query, on a separate connection) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The same server process answered.
    Alive,
    /// A new server process answered: the old one, and every session it held, is gone.
    Restarted,
    /// Nothing listens: the process is gone.
    Refused,
    /// No answer within the check's time (frozen, cut off, or overloaded).
    NoAnswer,
}

/// What the request loop knows of a node after a statement on it lost its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Not asked: the statement did not lose its connection.
    Unknown,
    /// The node answers: the statement broke its own connection (a server-side kill, a
    /// packet the server refused). It is not carried to another node.
    Alive,
    /// The node is gone or silent: lost-reply rules, and the node goes down.
    Dead,
}

impl From<Answer> for Liveness {
    fn from(a: Answer) -> Self {
        match a {
            Answer::Alive => Liveness::Alive,
            Answer::Restarted | Answer::Refused | Answer::NoAnswer => Liveness::Dead,
        }
    }
}

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// By itself: its result, or an error from the server or the socket.
    Itself,
    /// Killed on the server: it ran past `statement_timeout`.
    TimedOut,
    /// Killed on the server (or cut off): the caller asked to stop (Ctrl-C).
    Interrupted,
    /// Its connection was cut: the node stopped answering liveness checks.
    NodeDead,
}

/// What the node's liveness checks found so far (kept by the node, read by the watchdog).
#[derive(Clone, Copy, Debug, Default)]
pub struct Life {
    pub last_answer: Option<Instant>,
    /// When a check last found the node's process gone (refused, or restarted).
    pub gone_at: Option<Instant>,
    pub check_started: Option<Instant>,
    pub checking: bool,
}

/// A watched statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Running,
    /// `KILL QUERY` was sent at `since`; the statement should return any moment.
    Killing {
        ending: Ended,
        since: Instant,
    },
    /// Its connection was cut.
    Abandoned(Ended),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Wait,
    /// Start a liveness check of the statement's node.
    Check,
    /// Kill the statement on the server (over a separate connection).
    Kill(Ended),
    /// Cut the statement's connection.
    Abandon(Ended),
}

/// A statement in flight, as the watchdog sees it at `now`.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub started: Instant,
    /// Since when the watchdog has been watching without a gap: its own process may have been
    /// stopped (Ctrl-Z, a paused VM), and a silence it did not see is not the node's.
    pub watched_since: Instant,
    pub limit: Option<Duration>,
    pub cancelled: bool,
    pub watch: Watch,
}

/// What to do about a statement in flight. `detection` is the failure-detection time: a node
/// whose last sign of life (the statement's start, or a check's answer) is older than that is
/// dead. Checks start after a grace of a third of it, so short statements cost nothing, and
/// repeat as often, so a live node answers two or three of them before it could be judged.
pub fn judge(now: Instant, s: &InFlight, life: &Life, detection: Duration) -> Action {
    let ran = now.saturating_duration_since(s.started);
    match s.watch {
        Watch::Abandoned(_) => Action::Wait,
        Watch::Killing { ending, since } => {
            // Liveness goes on being judged while the kill takes effect (a killed UPDATE may
            // roll back for a while on a live node): a silent node is dead, a live one that is
            // slow to act on the kill only loses the connection. A user who pressed Ctrl-C
            // does not wait more than a moment.
            let bound = match ending {
                Ended::Interrupted => INTERRUPT_WAIT,
                _ => detection,
            };
            match liveness(now, s, life, detection) {
                Action::Abandon(dead) => Action::Abandon(dead),
                _ if now.saturating_duration_since(since) >= bound => Action::Abandon(ending),
                other => other,
            }
        }
        Watch::Running => {
            if s.cancelled {
                return Action::Kill(Ended::Interrupted);
            }
            if s.limit.is_some_and(|l| ran >= l) {
                return Action::Kill(Ended::TimedOut);
            }
            let gone = life.gone_at.is_some_and(|g| g >= s.started);
            if ran < detection / 3 && !gone {
                return Action::Wait;
            }
            liveness(now, s, life, detection)
        }
    }
}

/// The liveness part of [`judge`]: dead when the process is gone or silent for `detection`,
/// else a check when one is due.
fn liveness(now: Instant, s: &InFlight, life: &Life, detection: Duration) -> Action {
    let started = s.started;
    if life.gone_at.is_some_and(|g| g >= started) {
        return Action::Abandon(Ended::NodeDead);
    }
    let since = started.max(s.watched_since);
    let last = life.last_answer.map_or(since, |a| a.max(since));
    if now.saturating_duration_since(last) >= detection {
        return Action::Abandon(Ended::NodeDead);
    }
    let grace = detection / 3;
    let due = life
        .check_started
        .map_or(true, |c| now.saturating_duration_since(c) >= grace);
    if !life.checking && due && now.saturating_duration_since(started) >= grace {
        Action::Check
    } else {
        Action::Wait
    }
}

#[cfg(test)]
mod tests;

/// A server session: its number, and the process it belongs to (a number alone may name
/// someone else's session once the server has restarted).
#[derive(Clone, Debug)]
pub struct Session {
    pub id: u32,
    pub incarnation: Option<Arc<Incarnation>>,
}

/// Which server process answered: its Galera member id where there is one (new with every
/// start), else its start time (now minus `Uptime`, to the second).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incarnation {
    pub member: Option<String>,
    pub boot: i64,
}

impl Incarnation {
    /// From the (name, value) pairs of `flavour::STATUS_SQL`, read at `now_unix`.
    pub fn from_status<'a>(
        status: impl IntoIterator<Item = (&'a str, &'a str)>,
        now_unix: i64,
    ) -> Self {
        let mut inc = Incarnation {
            member: None,
            boot: now_unix,
        };
        for (name, value) in status {
            match name.to_ascii_lowercase().as_str() {
                "uptime" => inc.boot = now_unix - value.trim().parse::<i64>().unwrap_or(0),
                "wsrep_gcomm_uuid" if !value.trim().is_empty() => {
                    inc.member = Some(value.trim().to_owned())
                }
                _ => {}
            }
        }
        inc
    }

    /// The same process: the same member id, or start times within the clocks' rounding.
    pub fn same(&self, other: &Incarnation) -> bool {
        match (&self.member, &other.member) {
            (Some(a), Some(b)) => a == b,
            _ => (self.boot - other.boot).abs() <= 2,
        }
    }
}

#[cfg(test)]
mod incarnation_tests;
