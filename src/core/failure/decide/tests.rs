//! The three decisions, class by class, write kind by write kind, liveness answer by liveness
//! answer.

use super::*;
use crate::core::failure::fault::said_code;

// --- a statement on its own, class by class ----------------------------------------------

/// [`statement`] with its inputs spelled out, for tables.
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
        said: said_code(code),
        ended,
        node,
    };
    let h = History {
        was_ambiguous,
        retries,
        max_retries,
    };
    statement(&f, write, &h)
}

pub(crate) fn key() -> KeyCheck {
    KeyCheck::one("t", "k", Value::from("a"))
}

#[test]
fn a_statement_covers_every_class_and_write_kind() {
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
                Refused(Unfit::Statement),
                Some(1153),
                true,
                0,
                Step::Raise(Kind::Operational),
            ),
            (Refused(Unfit::Node), Some(1047), false, 0, Step::NextNode),
            // Refused after it may have replicated: as lost on a dead node, never retried
            // blindly, even with retries left.
            (Unsettled, Some(1180), false, 0, lost),
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
                let ask = d(st, fault, code, w, ambiguous, retries, 10, I, U);
                assert_eq!(ask, Step::AskNode, "{name}: asked before deciding");
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
fn a_statement_after_a_lost_connection_follows_the_liveness_answer() {
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
fn a_statement_the_watchdog_stopped() {
    let k = key();
    let st = Phase::Statement;
    let killed = Fault::Fatal(Kind::Operational);
    for w in [IfLost::RunAgain, IfLost::CheckKey(&k), IfLost::Raise] {
        let timed_out = Ended::TimedOut;
        assert_eq!(
            d(st, killed, Some(1317), &w, false, 0, 10, timed_out, U),
            Step::TimedOut
        );
        // The statement's own error (or the library's refusal) came first: it stands.
        let dup = Fault::Fatal(Kind::Integrity);
        assert_eq!(
            d(st, dup, Some(1062), &w, false, 0, 10, timed_out, U),
            Step::Raise(Kind::Integrity)
        );
        let big = Fault::Refused(Unfit::Statement);
        assert_eq!(
            d(st, big, Some(1153), &w, false, 0, 10, timed_out, U),
            Step::Raise(Kind::Operational)
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
fn a_statement_before_sending_never_checks_or_retries() {
    let k = key();
    for w in [IfLost::RunAgain, IfLost::CheckKey(&k), IfLost::Raise] {
        let c = Phase::Connect;
        assert_eq!(
            d(c, Fault::Unreachable, None, &w, false, 0, 0, I, U),
            Step::NextNode
        );
        // A restarted Galera node refuses with 1047 until it is ready (or the library finds
        // it not ready): skip it, no retry.
        for not_ready in [
            Fault::Retry { same_node: false },
            Fault::Refused(Unfit::Node),
        ] {
            assert_eq!(
                d(c, not_ready, Some(1047), &w, false, 0, 0, I, U),
                Step::NextNode
            );
        }
        let denied = Fault::Fatal(Kind::Operational);
        assert_eq!(
            d(c, denied, Some(1045), &w, false, 0, 0, I, U),
            Step::Raise(Kind::Operational)
        );
    }
}

// --- a statement inside a transaction ------------------------------------------------------

/// [`in_transaction`] of a statement error.
fn tx(fault: Fault, ended: Ended, node: Liveness) -> Step {
    let said = Said::Other;
    let phase = Phase::Statement;
    in_transaction(&Failure {
        phase,
        fault,
        said,
        ended,
        node,
    })
}

#[test]
fn statement_errors_inside_a_transaction() {
    let (itself, unknown) = (Ended::Itself, Liveness::Unknown);
    let fatal = Fault::Fatal(Kind::Data);
    assert_eq!(tx(fatal, itself, unknown), Step::Raise(Kind::Data));
    let big = Fault::Refused(Unfit::Statement);
    assert_eq!(tx(big, itself, unknown), Step::Raise(Kind::Operational));
    let replay = Step::Replay { node_down: false };
    let conflict = Fault::Retry { same_node: true };
    assert_eq!(tx(conflict, itself, unknown), replay);
    assert_eq!(tx(Fault::Refused(Unfit::Node), itself, unknown), replay);
    // A streaming-replication fragment the node could not certify: the others roll it back.
    assert_eq!(tx(Fault::Unsettled, itself, unknown), replay);
    let lost_it = Step::Replay { node_down: true };
    for lost in [Fault::Lost, Fault::Unreachable] {
        assert_eq!(tx(lost, itself, unknown), Step::AskNode);
        assert_eq!(tx(lost, itself, Liveness::Dead), lost_it);
        assert_eq!(tx(lost, itself, Liveness::Alive), Step::Broken);
        // Cut by the watchdog: the node is dead, whatever the socket said.
        assert_eq!(tx(lost, Ended::NodeDead, Liveness::Dead), lost_it);
    }
    // Stopped by the watchdog, whatever the statement answered.
    for fault in [fatal, conflict, Fault::Lost] {
        assert_eq!(tx(fault, Ended::TimedOut, unknown), Step::TimedOut);
        assert_eq!(tx(fault, Ended::Interrupted, unknown), Step::Interrupted);
    }
}

// --- COMMIT --------------------------------------------------------------------------------

#[test]
fn commit_errors() {
    let commit_of = |fault| {
        let phase = Phase::Statement;
        let (said, ended, node) = (Said::Other, Ended::Itself, Liveness::Unknown);
        commit(&Failure {
            phase,
            fault,
            said,
            ended,
            node,
        })
    };
    let replay = Step::Replay { node_down: false };
    assert_eq!(commit_of(Fault::Retry { same_node: true }), replay);
    assert_eq!(commit_of(Fault::Refused(Unfit::Node)), replay);
    let fatal = Fault::Fatal(Kind::Integrity);
    assert_eq!(commit_of(fatal), Step::Raise(Kind::Integrity));
    // A COMMIT whose reply is lost may have committed: never replayed blindly, and its node is
    // not asked (the answer would change nothing).
    assert_eq!(commit_of(Fault::Lost), Step::Ambiguous);
    assert_eq!(commit_of(Fault::Unreachable), Step::Ambiguous);
    // Nor one the node refused after it may have replicated.
    assert_eq!(commit_of(Fault::Unsettled), Step::Ambiguous);
}

#[test]
fn what_a_fence_must_stop() {
    let of = |fault| {
        let (phase, said, ended, node) = (Phase::Statement, Said::Other, I, Liveness::Dead);
        let f = Failure {
            phase,
            fault,
            said,
            ended,
            node,
        };
        (f.pending(), f.node_out())
    };
    assert_eq!(of(Fault::Lost), (Pending::Session, true));
    assert_eq!(of(Fault::Unsettled), (Pending::WriteSet, true));
    let alive = Failure {
        node: Liveness::Alive,
        ..Failure::of(Phase::Statement, &lost_io(), I)
    };
    assert!(!alive.node_out());
    let unsettled = Failure {
        node: Liveness::Alive,
        fault: Fault::Unsettled,
        ..alive
    };
    assert!(
        unsettled.node_out(),
        "left the Primary component, alive or not"
    );
}

fn lost_io() -> NodeError {
    let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
    NodeError::Driver(mysql::Error::IoError(e))
}
