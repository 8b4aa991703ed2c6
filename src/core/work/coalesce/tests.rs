use super::*;

const ROW: &str = "INSERT INTO course (title, instructor, summary) VALUES (?, ?, ?)";

fn sig(sql: &str) -> Signature {
    Signature {
        sql: sql.into(),
        table: "course".into(),
        column: "title".into(),
        limit: None,
    }
}

#[test]
fn a_single_row_insert_of_placeholders_has_a_shape() {
    let shape = Shape::of(ROW).unwrap();
    assert_eq!(shape.width(), 3);
    assert_eq!(
        shape.sql(2),
        "INSERT INTO course (title, instructor, summary) VALUES (?, ?, ?), (?, ?, ?)"
    );
    assert_eq!(shape.sql(1), ROW);
    let spaced = Shape::of("  insert   into `demo`.`t`(a,b)values(?,?) ; ").unwrap();
    assert_eq!(spaced.width(), 2);
    assert_eq!(spaced.sql(1), "insert   into `demo`.`t`(a,b)values (?,?)");
    let words = Shape::of("INSERT INTO t (values_x, xvalues) VALUES (?, ?)").unwrap();
    assert_eq!(words.width(), 2, "VALUES inside a name is not the keyword");
    let named = Shape::of("INSERT INTO `values` (`a VALUES (b)`) VALUES (?)").unwrap();
    assert_eq!(
        named.sql(2),
        "INSERT INTO `values` (`a VALUES (b)`) VALUES (?), (?)"
    );
    assert_eq!(Shape::of("INSERT INTO t VALUES (?)").unwrap().width(), 1);
    let constants = "INSERT INTO t (a, b, c, d, e) VALUES (?, 'it''s, (x)', -1.5e3, NULL, 'a\\'b')";
    let shape = Shape::of(constants).unwrap();
    assert_eq!(shape.width(), 1);
    assert_eq!(
        shape.sql(2),
        format!("{constants}, (?, 'it''s, (x)', -1.5e3, NULL, 'a\\'b')")
    );
    assert_eq!(
        Shape::of("INSERT INTO t (a) VALUES ('?')").unwrap().width(),
        0
    );
}

#[test]
fn statements_whose_rows_would_not_answer_alone_have_none() {
    for sql in [
        "INSERT IGNORE INTO t (a) VALUES (?)",
        "INSERT INTO t (a) VALUES (?) ON DUPLICATE KEY UPDATE a = a",
        "INSERT INTO t (a) VALUES (?) RETURNING id",
        "INSERT INTO t (a) VALUES (?, 'RETURNING') RETURNING id",
        "INSERT INTO t (a) VALUES (?), (?)",
        "INSERT INTO t (a, b) VALUES (?, NOW())",
        "INSERT INTO t (a) VALUES ('x)",
        "INSERT INTO t (a) VALUES (x)",
        "INSERT INTO t (a) VALUES (inf)",
        "INSERT INTO t (a) VALUES (?, ?,)",
        "INSERT INTO t (a) VALUES ()",
        "INSERT INTO t (a) SELECT ? FROM DUAL",
        "INSERT INTO t SET a = ?",
        "REPLACE INTO t (a) VALUES (?)",
        "UPDATE t SET a = ? WHERE b = 'VALUES (?)'",
        "INSERT INTO t /* VALUES */ (a) VALUES (?)",
        "INSERT INTO t (a) VALUES (?); DELETE FROM t",
        "INSERT INTO tVALUES (?)",
        "INSERT INTO t (a) VALUES (?)) , ((?)",
    ] {
        assert_eq!(Shape::of(sql), None, "{sql}");
    }
}

#[test]
fn groups_are_powers_of_two_within_the_limits() {
    let shape = Shape::of(ROW).unwrap();
    let taken: Vec<usize> = [1, 2, 3, 5, 8, 31, 32, 33, 500]
        .iter()
        .map(|&n| shape.take(n))
        .collect();
    assert_eq!(taken, [1, 2, 2, 4, 8, 16, 32, 32, 32]);
    let wide = Shape {
        head: "INSERT INTO t VALUES".into(),
        row: "(?)".into(),
        width: 10_000,
    };
    assert_eq!(wide.take(32), 4, "65,535 placeholders at most");
    assert_eq!(wide.take(0), 1);
}

#[test]
fn waiting_calls_are_taken_oldest_first_and_one_runner_is_asked_for_at_a_time() {
    let w: Waiting<&str> = Waiting::default();
    let (a, b) = (sig(ROW), sig("INSERT INTO t (x) VALUES (?)"));
    assert!(
        w.join(&a, 1, "a1"),
        "the first waiting call asks for a runner"
    );
    assert!(!w.join(&a, 2, "a2"), "a runner is on its way");
    assert!(!w.join(&a, 3, "a3"));
    assert!(w.join(&b, 4, "b4"), "another statement: its own runner");
    let (group, more) = w.take(&a, |n| n.min(2));
    assert_eq!(group, [(1, "a1"), (2, "a2")]);
    assert!(more, "a3 waits: another runner is needed");
    assert_eq!(w.withdraw(3), Some("a3"));
    assert_eq!(w.withdraw(3), None, "withdrawn once");
    let (group, more) = w.take(&a, |n| n);
    assert!(
        group.is_empty() && !more,
        "a runner with nothing left does nothing"
    );
    assert!(w.join(&a, 5, "a5"), "emptied: the next call asks again");
    assert_eq!(w.take_all(&b), [(4, "b4")]);
    assert_eq!(w.take(&a, |n| n), (vec![(5, "a5")], false));
}

#[test]
fn only_a_refusal_of_the_statement_means_nothing_was_written() {
    use crate::core::failure::fault::Kind;
    let server = Error::Server {
        node: "n1".into(),
        code: 1062,
        state: "23000".into(),
        message: "Duplicate entry".into(),
        kind: Kind::Integrity,
    };
    assert!(nothing_written(&server));
    let ambiguous = Error::Ambiguous {
        node: "n1".into(),
        statement: ROW.into(),
        cause: "lost".into(),
    };
    for e in [ambiguous, Error::Closed, Error::Interrupted] {
        assert!(!nothing_written(&e), "{e:?}");
    }
}

#[test]
fn a_runner_whose_calls_were_all_withdrawn_sends_nothing() {
    use crate::core::settings::config::{Config, Secret};
    // Port 1 on loopback: any statement sent would fail its connect and mark the node down.
    let cfg = Config::new(
        vec!["127.0.0.1:1".parse().unwrap()],
        "admin",
        Secret::new("x"),
    );
    let cluster = Cluster::new(cfg).unwrap();
    let shape = Shape::of(ROW).unwrap();
    assert!(run_group(&cluster, &sig(ROW), &shape, &[]).is_empty());
    let node = &cluster.stats()[0];
    assert_eq!(
        (node.state, node.statements, node.last_error.as_deref()),
        ("up", 0, None)
    );
    cluster.close();
}
