use super::*;
use std::cell::RefCell;
use std::collections::VecDeque;

use crate::core::failure::backoff::Backoff;

/// What a scripted statement answers: a value (its digest), an interruption of the attempt
/// (a conflict, a dead node), or its own error.
#[derive(Clone, Copy)]
enum Says {
    Value(u64),
    Interrupt,
    Fatal,
    /// Ctrl-C during the statement.
    CtrlC,
}

#[derive(Clone, Copy)]
enum Commits {
    Done,
    Replay,
    Ambiguous,
}

fn conflict() -> Error {
    Error::Server {
        node: "n0".into(),
        code: 1213,
        state: "40001".into(),
        message: "conflict".into(),
        kind: crate::core::failure::fault::Kind::Operational,
    }
}

#[derive(Default)]
struct Script {
    /// What the commit marker look-up finds.
    marked: bool,
    says: RefCell<VecDeque<Says>>,
    commits: RefCell<VecDeque<Commits>>,
    interrupted: RefCell<bool>,
    log: RefCell<Vec<String>>,
}

impl Script {
    fn new(says: &[Says], commits: &[Commits]) -> Self {
        Script {
            says: RefCell::new(says.iter().copied().collect()),
            commits: RefCell::new(commits.iter().copied().collect()),
            ..Script::default()
        }
    }
    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

impl Pinned for Script {
    type Answer = u64;
    fn begin_at(
        &self,
        slot: u64,
        _causal: bool,
        prelude: &[(String, Params)],
        attempt: u32,
        _cancel: &Cancel,
    ) -> Result<u32> {
        for (sql, _) in prelude {
            self.log.borrow_mut().push(format!("prelude {sql}"));
        }
        self.log
            .borrow_mut()
            .push(format!("begin {attempt} slot {slot}"));
        Ok(attempt)
    }
    fn nothing() -> u64 {
        0
    }
    fn discard(&self, tx: &u32) {
        self.log.borrow_mut().push(format!("discard {tx}"));
    }
    fn run(&self, tx: &mut u32, sql: &str, _p: &Params, _c: &Cancel) -> Result<u64> {
        if sql.contains(MARKER_TABLE) {
            let word = sql.split_whitespace().next().unwrap_or_default();
            self.log.borrow_mut().push(format!("{tx}: {word} marker"));
            return Ok(0);
        }
        self.log.borrow_mut().push(format!("{tx}: {sql}"));
        match self.says.borrow_mut().pop_front().unwrap_or(Says::Value(0)) {
            Says::Value(v) => Ok(v),
            Says::Interrupt => {
                *self.interrupted.borrow_mut() = true;
                Err(conflict())
            }
            Says::Fatal => Err(Error::Misuse("syntax".into())),
            Says::CtrlC => Err(Error::Interrupted),
        }
    }
    fn digest(a: &u64) -> Digest {
        Digest(*a)
    }
    fn idempotent(&self, sql: &str, _p: &Params, _c: &Cancel) -> Result<()> {
        let word = sql.split_whitespace().next().unwrap_or_default();
        self.log.borrow_mut().push(format!("autocommit {word}"));
        Ok(())
    }
    fn marked(&self, _table: &str, _id: &str, _c: &Cancel) -> Result<bool> {
        self.log
            .borrow_mut()
            .push(format!("marked? {}", self.marked));
        Ok(self.marked)
    }
}

impl Attempts for Script {
    type Tx = u32;
    fn begin(&self, attempt: u32, _cancel: &Cancel) -> Result<u32> {
        unreachable!("a session begins with begin_at (attempt {attempt})")
    }
    fn interrupted(&self, _tx: &u32) -> Option<Error> {
        std::mem::take(&mut *self.interrupted.borrow_mut()).then(conflict)
    }
    fn rollback(&self, tx: &u32) {
        self.log.borrow_mut().push(format!("rollback {tx}"));
    }
    fn commit(&self, tx: &u32) -> Commit {
        self.log.borrow_mut().push(format!("commit {tx}"));
        match self
            .commits
            .borrow_mut()
            .pop_front()
            .unwrap_or(Commits::Done)
        {
            Commits::Done => Commit::Done,
            Commits::Replay => Commit::Replay(conflict()),
            Commits::Ambiguous => Commit::Ambiguous(Error::Ambiguous {
                node: "n0".into(),
                statement: "COMMIT".into(),
                cause: "lost".into(),
            }),
        }
    }
    fn node(&self, _tx: &u32) -> String {
        "n0".into()
    }
    fn note(&self, _kind: EventKind, _node: &str, _detail: String) {}
    fn backoff(&self) -> Backoff {
        Backoff {
            base: std::time::Duration::ZERO,
            cap: std::time::Duration::ZERO,
        }
    }
}

fn run(s: &Script, session: &mut Session<u32>, sql: &str) -> Result<u64> {
    session.execute(s, sql, &Params::Empty, &Cancel::new())
}

#[test]
fn begins_at_the_first_statement_on_the_connections_slot_and_commits() {
    let s = Script::new(&[Says::Value(1), Says::Value(2)], &[]);
    let mut session = Session::new(7, 5);
    assert!(!session.in_transaction());
    assert_eq!(run(&s, &mut session, "a").unwrap(), 1);
    assert_eq!(run(&s, &mut session, "b").unwrap(), 2);
    session.commit(&s, &Cancel::new()).unwrap();
    assert!(!session.in_transaction());
    assert_eq!(s.log(), ["begin 1 slot 7", "1: a", "1: b", "commit 1"]);
}

#[test]
fn an_interrupted_statement_replays_the_log_then_runs_again() {
    let s = Script::new(
        &[
            Says::Value(1),
            Says::Interrupt,
            Says::Value(1),
            Says::Value(2),
        ],
        &[],
    );
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    assert_eq!(run(&s, &mut session, "b").unwrap(), 2);
    assert_eq!(
        s.log(),
        [
            "begin 1 slot 0",
            "1: a",
            "1: b",
            "rollback 1",
            "begin 2 slot 0",
            "2: a",
            "2: b"
        ]
    );
    assert_eq!(session.statements(), 2);
}

#[test]
fn a_replay_that_answers_differently_rolls_back_and_names_the_statement() {
    let s = Script::new(&[Says::Value(1), Says::Interrupt, Says::Value(9)], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "SELECT v").unwrap();
    let e = run(&s, &mut session, "UPDATE").unwrap_err();
    let Error::ReplayDiverged { statement, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(statement, "SELECT v");
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert!(!session.in_transaction());
    assert_eq!(session.statements(), 0);
    assert_eq!(s.log().last().unwrap(), "rollback 2");
}

#[test]
fn a_statement_failing_on_replay_diverges() {
    let s = Script::new(&[Says::Value(1), Says::Interrupt, Says::Fatal], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    let e = run(&s, &mut session, "b").unwrap_err();
    assert!(matches!(e, Error::ReplayDiverged { .. }), "{e:?}");
}

#[test]
fn its_own_error_leaves_the_transaction_open_and_out_of_the_log() {
    let s = Script::new(&[Says::Value(1), Says::Fatal, Says::Value(2)], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    assert!(matches!(
        run(&s, &mut session, "bad"),
        Err(Error::Misuse(_))
    ));
    assert!(session.in_transaction());
    run(&s, &mut session, "c").unwrap();
    assert_eq!(session.statements(), 2);
}

#[test]
fn a_commit_refused_replays_and_commits_again() {
    let s = Script::new(&[Says::Value(1), Says::Value(1)], &[Commits::Replay]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    session.commit(&s, &Cancel::new()).unwrap();
    assert_eq!(
        s.log(),
        [
            "begin 1 slot 0",
            "1: a",
            "commit 1",
            "begin 2 slot 0",
            "2: a",
            "commit 2"
        ]
    );
}

#[test]
fn a_lost_commit_reply_is_raised_and_ends_the_transaction() {
    let s = Script::new(&[Says::Value(1)], &[Commits::Ambiguous]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    let e = session.commit(&s, &Cancel::new()).unwrap_err();
    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert!(!session.in_transaction());
}

#[test]
fn interruptions_are_bounded_by_attempts() {
    let s = Script::new(&[Says::Interrupt; 10], &[]);
    let mut session = Session::new(0, 3);
    let e = run(&s, &mut session, "a").unwrap_err();
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
}

#[test]
fn rollback_never_fails_and_forgets_the_log() {
    let s = Script::new(&[Says::Value(1)], &[]);
    let mut session = Session::new(0, 5);
    session.rollback(&s);
    run(&s, &mut session, "a").unwrap();
    session.rollback(&s);
    assert!(!session.in_transaction());
    assert_eq!(session.statements(), 0);
    assert_eq!(s.log(), ["begin 1 slot 0", "1: a", "rollback 1"]);
}

#[test]
fn commit_without_a_statement_does_nothing() {
    let s = Script::new(&[], &[]);
    let mut session = Session::<u32>::new(0, 5);
    session.commit(&s, &Cancel::new()).unwrap();
    assert!(s.log().is_empty());
}

#[test]
fn the_log_is_bounded_by_statements_and_bytes() {
    let mut log = ReplayLog::default();
    for _ in 0..REPLAY_STATEMENTS {
        log.record("x", &Params::Empty, Digest(0));
    }
    assert!(!log.overflowed());
    log.record("x", &Params::Empty, Digest(0));
    assert!(log.overflowed());
    assert_eq!(log.len(), 0);

    let mut log = ReplayLog::default();
    let big = Params::Positional(vec![Value::Bytes(vec![b'a'; REPLAY_BYTES])]);
    log.record("x", &big, Digest(0));
    assert!(log.overflowed());
}

#[test]
fn an_overflowed_log_is_not_replayed() {
    let s = Script::new(&[Says::Value(1), Says::Interrupt], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    session.log.overflowed = true;
    let e = run(&s, &mut session, "b").unwrap_err();
    assert!(e.to_string().contains("outgrew the replay log"), "{e}");
    assert_eq!(s.log(), ["begin 1 slot 0", "1: a", "1: b", "rollback 1"]);
}

#[test]
fn digests_tell_rows_counts_and_ids_apart() {
    let rows = vec![vec![Value::Int(1)]];
    let a = Digest::of(&rows, 0, None);
    assert_eq!(a, Digest::of(&rows, 0, None));
    assert_ne!(a, Digest::of(&[vec![Value::Int(2)]], 0, None));
    assert_ne!(a, Digest::of(&rows, 1, None));
    assert_ne!(a, Digest::of(&rows, 0, Some(5)));
}

#[test]
fn a_lost_commit_whose_marker_is_found_committed_once() {
    let s = Script {
        marked: true,
        ..Script::new(&[Says::Value(1)], &[Commits::Ambiguous])
    };
    let mut session = Session::new(0, 5).with_marker(Some("demo"));
    run(&s, &mut session, "a").unwrap();
    session.commit(&s, &Cancel::new()).unwrap();
    assert_eq!(
        s.log(),
        [
            "autocommit CREATE",
            "autocommit DELETE",
            "begin 1 slot 0",
            "1: INSERT marker",
            "1: a",
            "commit 1",
            "marked? true"
        ]
    );
    // The next transaction deletes this one's marker; the table is not made sure of again.
    run(&s, &mut session, "b").unwrap();
    assert_eq!(
        s.log()[7..],
        [
            "begin 1 slot 0",
            "1: INSERT marker",
            "1: DELETE marker",
            "1: b"
        ]
    );
}

#[test]
fn a_lost_commit_whose_marker_is_absent_is_replayed_and_committed() {
    let s = Script::new(&[Says::Value(1), Says::Value(1)], &[Commits::Ambiguous]);
    let mut session = Session::new(0, 5).with_marker(Some("demo"));
    run(&s, &mut session, "a").unwrap();
    session.commit(&s, &Cancel::new()).unwrap();
    assert_eq!(
        s.log()[5..],
        [
            "commit 1",
            "marked? false",
            "begin 2 slot 0",
            "2: INSERT marker",
            "2: a",
            "commit 2"
        ]
    );
}

#[test]
fn marker_ids_are_32_hex_digits_and_differ() {
    let (a, b) = (marker_id(), marker_id());
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn session_state_is_applied_before_every_transaction_and_replay() {
    let s = Script::new(
        &[
            Says::Value(1),
            Says::Interrupt,
            Says::Value(1),
            Says::Value(2),
        ],
        &[],
    );
    let mut session = Session::new(0, 5);
    // Between transactions: remembered, and checked by beginning one at once.
    run(&s, &mut session, "SET @v = 1").unwrap();
    run(
        &s,
        &mut session,
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    )
    .unwrap();
    run(&s, &mut session, "a").unwrap();
    run(&s, &mut session, "b").unwrap(); // interrupted: replayed with the same state
    session.commit(&s, &Cancel::new()).unwrap();
    run(&s, &mut session, "c").unwrap(); // the one-shot setting is gone, @v is not
    assert_eq!(
        s.log(),
        [
            "prelude SET @v = 1",
            "begin 1 slot 0",
            "rollback 1",
            "prelude SET @v = 1",
            "prelude SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "begin 1 slot 0",
            "rollback 1",
            "prelude SET @v = 1",
            "prelude SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "begin 1 slot 0",
            "1: a",
            "1: b",
            "rollback 1",
            "prelude SET @v = 1",
            "prelude SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "begin 2 slot 0",
            "2: a",
            "2: b",
            "commit 2",
            "prelude SET @v = 1",
            "begin 1 slot 0",
            "1: c",
        ]
    );
}

#[test]
fn state_set_inside_a_transaction_is_kept_for_the_next() {
    let s = Script::new(&[Says::Value(1), Says::Value(0), Says::Value(2)], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "a").unwrap();
    run(&s, &mut session, "USE other").unwrap();
    session.commit(&s, &Cancel::new()).unwrap();
    run(&s, &mut session, "b").unwrap();
    assert_eq!(
        s.log()[..7],
        [
            "begin 1 slot 0",
            "1: a",
            "1: USE other",
            "discard 1",
            "commit 1",
            "prelude USE other",
            "begin 1 slot 0"
        ]
    );
}

#[test]
fn stuck_state_closes_the_connection_when_its_transaction_ends() {
    let s = Script::new(&[Says::Value(0), Says::Value(1)], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "CREATE TEMPORARY TABLE t (a INT)").unwrap();
    run(&s, &mut session, "SELECT * FROM t").unwrap(); // still in its transaction: fine
    session.commit(&s, &Cancel::new()).unwrap();
    let e = run(&s, &mut session, "SELECT 1").unwrap_err();
    assert!(matches!(e, Error::Discarded { .. }), "{e:?}");
    assert_eq!(e.code(), Some(2006));
    assert!(e.to_string().contains("a temporary table"), "{e}");
    session.rollback(&s); // never raises
    assert!(run(&s, &mut session, "SELECT 1").is_err());
}

#[test]
fn set_autocommit_is_refused_without_a_transaction() {
    let s = Script::new(&[], &[]);
    let mut session = Session::<u32>::new(0, 5);
    let e = run(&s, &mut session, "SET autocommit = 1").unwrap_err();
    assert!(matches!(e, Error::Misuse(_)), "{e:?}");
    assert!(s.log().is_empty() && !session.in_transaction());
}

#[test]
fn ctrl_c_rolls_the_transaction_back() {
    let s = Script::new(&[Says::Value(1), Says::CtrlC], &[]);
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "INSERT a").unwrap();
    assert!(matches!(
        run(&s, &mut session, "SELECT SLEEP(9)"),
        Err(Error::Interrupted)
    ));
    assert!(!session.in_transaction() && session.statements() == 0);
    session.commit(&s, &Cancel::new()).unwrap(); // nothing left to commit
    assert_eq!(
        s.log(),
        [
            "begin 1 slot 0",
            "1: INSERT a",
            "1: SELECT SLEEP(9)",
            "rollback 1"
        ]
    );
}

#[test]
fn a_replayed_session_that_reran_stuck_state_is_discarded_too() {
    let s = Script::new(
        &[
            Says::Value(0),
            Says::Interrupt,
            Says::Value(0),
            Says::Value(1),
        ],
        &[],
    );
    let mut session = Session::new(0, 5);
    run(&s, &mut session, "CREATE TEMPORARY TABLE t (a INT)").unwrap();
    assert_eq!(run(&s, &mut session, "SELECT * FROM t").unwrap(), 1);
    assert!(session.usable().is_ok());
    assert_eq!(
        s.log(),
        [
            "begin 1 slot 0",
            "1: CREATE TEMPORARY TABLE t (a INT)",
            "discard 1",
            "1: SELECT * FROM t",
            "rollback 1",
            "begin 2 slot 0",
            "2: CREATE TEMPORARY TABLE t (a INT)",
            "discard 2",
            "2: SELECT * FROM t",
        ]
    );
    session.commit(&s, &Cancel::new()).unwrap();
    assert_eq!(session.usable().unwrap_err().code(), Some(2006));
}

#[test]
fn insert_rows_writes_multi_row_statements_in_the_transaction() {
    let s = Script::new(&[Says::Value(2), Says::Value(1)], &[]);
    let mut session = Session::new(0, 5);
    let columns = ["a".to_string()];
    let rows: Vec<Vec<mysql::Value>> = (0..3).map(|i| vec![mysql::Value::Int(i)]).collect();
    let cancel = Cancel::new();
    let answers = session
        .insert_rows(&s, "t", &columns, &rows, 2, &cancel)
        .unwrap();
    assert_eq!(answers, [2, 1]);
    assert_eq!(session.statements(), 2);
    assert_eq!(
        s.log(),
        [
            "begin 1 slot 0",
            "1: INSERT INTO `t` (`a`) VALUES (?), (?)",
            "1: INSERT INTO `t` (`a`) VALUES (?)",
        ]
    );
    let bad = vec![vec![mysql::Value::Int(1), mysql::Value::Int(2)]];
    assert!(matches!(
        session.insert_rows(&s, "t", &columns, &bad, 2, &cancel),
        Err(Error::Config(_))
    ));
}
