use super::*;
use std::cell::RefCell;
use std::collections::VecDeque;

/// Each attempt: was it interrupted, and how did its COMMIT end.
enum Plan {
    Interrupted,
    Commit(Commit),
}

fn err(node: &str) -> Error {
    Error::Server {
        node: node.into(),
        code: 1213,
        state: "40001".into(),
        message: "conflict".into(),
        kind: Kind::Operational,
    }
}

fn lost() -> Error {
    Error::Ambiguous {
        node: "n0".into(),
        statement: "COMMIT".into(),
        cause: "lost".into(),
    }
}

struct Script {
    plans: RefCell<VecDeque<Plan>>,
    log: RefCell<Vec<String>>,
}

impl Script {
    fn new(plans: Vec<Plan>) -> Self {
        Script {
            plans: RefCell::new(plans.into()),
            log: RefCell::default(),
        }
    }
    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
    fn run(
        &self,
        attempts: u32,
        check: Option<&mut dyn FnMut() -> Result<bool>>,
    ) -> Result<TxDone<u32>> {
        replay(
            self,
            attempts,
            &Cancel::new(),
            &mut |tx: &u32| Ok(*tx * 10),
            check,
        )
    }
}

impl Attempts for Script {
    type Tx = u32;
    fn begin(&self, attempt: u32, _cancel: &Cancel) -> Result<u32> {
        self.log.borrow_mut().push(format!("begin {attempt}"));
        Ok(attempt)
    }
    fn interrupted(&self, _tx: &u32) -> Option<Error> {
        let mut plans = self.plans.borrow_mut();
        match plans.front() {
            Some(Plan::Interrupted) => {
                plans.pop_front();
                Some(err("n0"))
            }
            _ => None,
        }
    }
    fn rollback(&self, tx: &u32) {
        self.log.borrow_mut().push(format!("rollback {tx}"));
    }
    fn commit(&self, tx: &u32) -> Commit {
        self.log.borrow_mut().push(format!("commit {tx}"));
        match self.plans.borrow_mut().pop_front() {
            Some(Plan::Commit(c)) => c,
            _ => Commit::Done,
        }
    }
    fn node(&self, _tx: &u32) -> String {
        "n0".into()
    }
    fn note(&self, kind: EventKind, _node: &str, detail: String) {
        self.log.borrow_mut().push(format!("{kind}: {detail}"));
    }
    fn backoff(&self) -> Backoff {
        Backoff {
            base: std::time::Duration::from_millis(1),
            cap: std::time::Duration::from_millis(1),
        }
    }
}

#[test]
fn an_interrupted_attempt_is_rolled_back_and_replayed() {
    let s = Script::new(vec![Plan::Interrupted]);
    let done = s.run(5, None).unwrap();
    assert_eq!((done.value, done.attempts), (20, 2));
    let log = s.log();
    assert_eq!(log[..2], ["begin 1", "rollback 1"]);
    assert!(log[2].starts_with("retry: transaction replayed (attempt 2)"));
    assert_eq!(log[3..], ["begin 2", "commit 2"]);
}

#[test]
fn a_refused_commit_is_replayed_and_attempts_run_out() {
    let refused = || Plan::Commit(Commit::Replay(err("n0")));
    let s = Script::new(vec![refused(), refused(), refused()]);
    let e = s.run(3, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RetriesExhausted {
                attempts: 3,
                code: 1213,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        s.log().iter().filter(|l| l.starts_with("commit")).count(),
        3
    );
}

#[test]
fn a_lost_commit_without_a_check_is_ambiguous_and_not_replayed() {
    let s = Script::new(vec![Plan::Commit(Commit::Ambiguous(lost()))]);
    let e = s.run(5, None).unwrap_err();
    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert_eq!(s.log(), ["begin 1", "commit 1"]);
}

#[test]
fn a_lost_commit_is_resolved_by_the_check_both_ways() {
    let s = Script::new(vec![Plan::Commit(Commit::Ambiguous(lost()))]);
    let done = s.run(5, Some(&mut || Ok(true))).unwrap();
    assert_eq!(done.attempts, 1, "found committed: not replayed");

    let s = Script::new(vec![Plan::Commit(Commit::Ambiguous(lost()))]);
    let done = s.run(5, Some(&mut || Ok(false))).unwrap();
    assert_eq!(done.attempts, 2, "found absent: replayed");
    assert!(s
        .log()
        .iter()
        .any(|l| l.contains("found nothing: replaying")));
}

#[test]
fn a_fatal_commit_or_a_failing_body_is_returned_at_once() {
    let fatal = Error::Server {
        node: "n0".into(),
        code: 1062,
        state: "23000".into(),
        message: "dup".into(),
        kind: Kind::Integrity,
    };
    let s = Script::new(vec![Plan::Commit(Commit::Fatal(fatal))]);
    assert!(matches!(
        s.run(5, None),
        Err(Error::Server { code: 1062, .. })
    ));

    let s = Script::new(vec![]);
    let e = replay(
        &s,
        5,
        &Cancel::new(),
        &mut |_: &u32| -> Result<u32> { Err(Error::Interrupted) },
        None,
    );
    assert!(matches!(e, Err(Error::Interrupted)));
    assert_eq!(
        s.log(),
        ["begin 1", "rollback 1"],
        "rolled back, never committed"
    );
}
