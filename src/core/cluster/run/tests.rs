//! The request loop on scripted nodes: what it does after each outcome, call by call.

use super::*;
use crate::core::cancel::Cancel;
use crate::core::error::Result;
use crate::core::events::EventKind;
use crate::core::failure::decide::tests::key;
use crate::core::failure::decide::*;
use crate::core::failure::fault::{Kind, Refusal};
use crate::core::settings::address::Endpoint;
use crate::core::settings::config::Config;
use crate::core::settings::config::Secret;
use mysql::MySqlError;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

// --- the loop, on scripted nodes ---------------------------------------------------------

fn lost() -> NodeError {
    DbError::IoError(io::Error::from(io::ErrorKind::BrokenPipe)).into()
}

fn refused() -> NodeError {
    DbError::IoError(io::Error::from(io::ErrorKind::ConnectionRefused)).into()
}

fn server(code: u16, state: &str) -> NodeError {
    DbError::MySqlError(MySqlError {
        state: state.into(),
        code,
        message: format!("error {code}"),
    })
    .into()
}

type Scripted = std::result::Result<u32, NodeError>;

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
    events: RefCell<Vec<(EventKind, String)>>,
    /// What a read of each node's state finds after a refusal it explains: draining or not.
    draining: RefCell<Vec<bool>>,
    /// The nodes in rotation (`add_node` / `remove_node` change it between requests).
    members: RefCell<Vec<usize>>,
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
            draining: RefCell::new(vec![false; nodes]),
            members: RefCell::new((0..nodes).collect()),
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

    fn draining(self, idx: usize) -> Self {
        self.draining.borrow_mut()[idx] = true;
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

    fn run_with(&self, write: IfLost<'_>, request: u64, cancel: &Cancel) -> Result<Outcome<u32>> {
        run(
            self,
            &self.cfg,
            "INSERT",
            write,
            request,
            None,
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
    fn name(&self, idx: usize) -> &str {
        ["n0", "n1", "n2", "n3"][idx]
    }
    fn in_rotation(&self) -> Vec<usize> {
        self.members.borrow().clone()
    }
    fn claim(&self, idx: usize) -> Result<bool> {
        Ok(self.up.borrow()[idx])
    }
    fn checkout(&self, idx: usize) -> std::result::Result<(u32, Session), NodeError> {
        let next = self.connects.borrow_mut()[idx].pop_front();
        let conn = next.unwrap_or(Ok(100 + idx as u32))?;
        let incarnation = None;
        Ok((
            conn,
            Session {
                id: conn,
                incarnation,
            },
        ))
    }
    fn checkin(&self, idx: usize, _conn: u32) {
        self.log.borrow_mut().push(format!("checkin {idx}"));
    }
    fn watched<T>(
        &self,
        idx: usize,
        lease: &mut Option<u32>,
        _cancel: &Cancel,
        op: &mut LeasedOp<'_, u32, T>,
    ) -> (std::result::Result<T, NodeError>, Ended) {
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
    fn record_statement(&self, _idx: usize, _sql: &str, _took: Duration, _e: Option<&NodeError>) {}
    fn liveness(&self, idx: usize) -> Liveness {
        let answer = self.answers.borrow_mut().pop_front();
        let answer = answer.unwrap_or(Liveness::Dead);
        self.log
            .borrow_mut()
            .push(format!("alive? {idx}: {answer:?}"));
        answer
    }
    fn draining_now(&self, idx: usize) -> bool {
        let draining = self.draining.borrow()[idx];
        self.log
            .borrow_mut()
            .push(format!("state {idx}: draining {draining}"));
        draining
    }
    fn node_failed(&self, idx: usize, _reason: String) {
        self.up.borrow_mut()[idx] = false;
        self.log.borrow_mut().push(format!("down {idx}"));
    }
    fn resolve_lost(
        &self,
        idx: usize,
        session: &Session,
        pending: Pending,
        _k: &KeyCheck,
        _c: &Cancel,
    ) -> Result<bool> {
        let fenced = match pending {
            Pending::Session => session.id.to_string(),
            Pending::WriteSet => "its write set".into(),
        };
        self.log
            .borrow_mut()
            .push(format!("check {idx} fencing {fenced}"));
        let next = self.checks.borrow_mut().pop_front();
        next.expect("an unscripted key check")
    }
    fn note(&self, kind: EventKind, node: &str, _detail: String) {
        self.events.borrow_mut().push((kind, node.into()));
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
fn requests_spread_over_the_nodes_in_rotation_only_and_follow_its_changes() {
    let s = Script::new(3);
    *s.members.borrow_mut() = vec![0, 2];
    let first = |s: &Script, r| s.run(IfLost::Raise, r).unwrap().node;
    // Node 1 is retired: parity rotates over the two left, none gets a double share.
    assert_eq!(
        (0..4).map(|r| first(&s, r)).collect::<Vec<_>>(),
        [0, 2, 0, 2]
    );
    assert!(!s.log().iter().any(|l| l.ends_with(" 1")), "{:?}", s.log());
    // Node 1 added again: the next requests use it.
    *s.members.borrow_mut() = vec![0, 1, 2];
    assert_eq!((0..3).map(|r| first(&s, r)).collect::<Vec<_>>(), [0, 1, 2]);
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

/// A node refused a statement, its state read says it is draining, the next node runs it.
const DRAINED_THEN_NEXT: [&str; 5] = [
    "stmt 0",
    "checkin 0",
    "state 0: draining true",
    "stmt 1",
    "checkin 1",
];

#[test]
fn a_commit_refused_after_replicating_is_settled_by_its_key_not_written_blindly() {
    // Galera's 1180: the node left the Primary component while certifying; its write set may
    // have committed on the others. Found: not written again. Not found: written on the next.
    let unsettled = || server(1180, "HY000");
    for (found, value, tail) in [
        (true, None, vec![]),
        (false, Some(1), vec!["stmt 1", "checkin 1"]),
    ] {
        let k = key();
        let s = Script::new(2)
            .statements(0, vec![Err(unsettled())])
            .checks(vec![Ok(found)]);
        let out = s.run(IfLost::CheckKey(&k), 0).unwrap();
        assert_eq!((out.value, out.took.resolved), (value, found));
        let mut want = vec![
            "stmt 0",
            "checkin 0",
            "state 0: draining false",
            "down 0",
            "check 0 fencing its write set",
        ];
        want.extend(tail);
        assert_eq!(s.log(), want);
    }
    // Unkeyed: its outcome is unknown; raised, not repeated, the node out of rotation.
    let s = Script::new(2).statements(0, vec![Err(unsettled())]);
    let e = s.run(IfLost::Raise, 0).unwrap_err();
    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "n0: outcome unknown after sending \"INSERT\": the node refused the commit after it \
         may have replicated: (1180) error 1180"
    );
    assert_eq!(
        s.log(),
        ["stmt 0", "checkin 0", "state 0: draining false", "down 0"]
    );
    // A read runs elsewhere; a node whose state says it is out of the Primary drains.
    let s = Script::new(2)
        .statements(0, vec![Err(unsettled())])
        .draining(0);
    let out = s.run(IfLost::RunAgain, 0).unwrap();
    assert_eq!(out.node, 1);
    assert_eq!(s.log(), DRAINED_THEN_NEXT);
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
fn a_key_check_the_server_refuses_leaves_the_write_ambiguous() {
    // Never the check's own server error: a caller (coalesce.rs) takes a server error for
    // "nothing was written" and runs the rows again.
    let k = key();
    let refused = Error::Server {
        node: "n1".into(),
        code: 1146,
        state: "42S02".into(),
        message: "Table 'demo.t' doesn't exist".into(),
        kind: Kind::Programming,
    };
    let s = Script::new(2)
        .statements(0, vec![Err(lost())])
        .checks(vec![Err(refused)]);
    let e = s.run(IfLost::CheckKey(&k), 0).unwrap_err();
    assert!(
        matches!(&e, Error::Ambiguous { node, cause, .. } if node == "n0" && cause.contains("1146")),
        "{e:?}"
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
        [
            "stmt 0",
            "checkin 0",
            "state 0: draining false",
            "down 0",
            "stmt 1",
            "checkin 1"
        ]
    );
}

#[test]
fn a_refusal_its_state_explains_drains_the_node_instead() {
    // 1047 from a node desynced or rejecting queries: its state is read at once; draining, it
    // is not taken for dead (no backoff, back by the next state read).
    let s = Script::new(2)
        .statements(0, vec![Err(server(1047, "08S01"))])
        .draining(0);
    let out = s.run(IfLost::Raise, 0).unwrap();
    assert_eq!((out.node, out.took.failovers), (1, 1));
    assert_eq!(s.log(), DRAINED_THEN_NEXT);
    // A refusal the state does not explain (a lost connection) is a failure as before.
    let s = Script::new(2)
        .statements(0, vec![Err(refused())])
        .draining(0);
    let out = s.run(IfLost::RunAgain, 0).unwrap();
    assert_eq!(out.node, 1);
    assert!(s.log().contains(&"down 0".to_owned()), "{:?}", s.log());
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

#[test]
fn a_statement_refused_before_sending_raises_and_keeps_node_and_connection() {
    let big = Refusal::PacketTooLarge {
        size: 2000,
        limit: 1024,
    };
    for write in [IfLost::RunAgain, IfLost::Raise] {
        let s = Script::new(2).statements(0, vec![Err(big.clone().into())]);
        let e = s.run(write, 0).unwrap_err();
        assert!(
            matches!(&e, Error::Refused { node, refusal } if node == "n0" && *refusal == big),
            "{e:?}"
        );
        assert_eq!(e.code(), Some(1153));
        assert_eq!(s.log(), ["stmt 0", "checkin 0"], "not sent: nothing asked");
    }
}

#[test]
fn a_node_not_ready_is_skipped_and_named_with_1047() {
    let not_ready = || {
        let detail = "wsrep_ready=OFF".into();
        Err(Refusal::NotReady { detail }.into())
    };
    let s = Script::new(2).connects(0, vec![not_ready()]);
    let out = s.run(IfLost::Raise, 0).unwrap();
    assert_eq!((out.node, out.took.failovers), (1, 1));
    assert_eq!(
        s.log(),
        ["state 0: draining false", "down 0", "stmt 1", "checkin 1"]
    );
    let s = Script::new(1).connects(0, vec![not_ready()]);
    let e = s.run(IfLost::Raise, 0).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::AllNodesDown {
                code: Some(1047),
                ..
            }
        ),
        "{e:?}"
    );
}
