//! Which statements change a connection's session state, and whether that state can be
//! carried to a new session (after a failover or a replay, and at each transaction, which
//! begins on a pooled connection): a pure reading of the statement's first words.

/// What a statement does to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing a later session needs.
    None,
    /// Session state a new session gets by running the statement again before START
    /// TRANSACTION: `SET SESSION`, `SET @@session.`, `SET NAMES`, `SET CHARACTER SET`,
    /// `SET @user_var`, `SET sql_mode = ...`, `SET SESSION TRANSACTION ...`, `SET ROLE`,
    /// `USE db`. `one_shot`: `SET TRANSACTION ...` without SESSION, which the server applies
    /// to the next transaction only.
    Carried { one_shot: bool },
    /// State that lives in the server session and cannot be rebuilt elsewhere: once the
    /// transaction that made it ends, the connection must be discarded.
    Stuck(&'static str),
    /// Would change what the library relies on: refused, naming what to use instead.
    Refused(&'static str),
}

/// The statement's words after blanks and comments, upper-cased, at most `n` of them.
fn words(sql: &str, n: usize) -> Vec<String> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/*").filter(|a| !a.starts_with('!')) {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if rest.starts_with("--") || rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    rest.split(|c: char| c.is_whitespace() || c == '=' || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// What `sql` does to the session.
pub fn of(sql: &str) -> State {
    if sql.to_ascii_uppercase().contains("GET_LOCK") {
        return State::Stuck("a named lock taken with GET_LOCK()");
    }
    let w = words(sql, 3);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["USE", ..] => State::Carried { one_shot: false },
        ["CREATE", "TEMPORARY", ..] => State::Stuck("a temporary table"),
        ["SET", "TRANSACTION", ..] => State::Carried { one_shot: true },
        ["SET", var, ..] if is_autocommit(var) => {
            State::Refused("SET autocommit: use the connection's autocommit attribute")
        }
        // Not this session's state: the server's, or one statement's, or an account's.
        ["SET", "GLOBAL" | "PERSIST" | "PASSWORD" | "DEFAULT" | "STATEMENT", ..] => State::None,
        ["SET", var, ..] if var.starts_with("@@GLOBAL.") => State::None,
        ["SET", "SESSION" | "LOCAL", var, ..] if is_autocommit(var) => {
            State::Refused("SET autocommit: use the connection's autocommit attribute")
        }
        ["SET", ..] => State::Carried { one_shot: false },
        _ => State::None,
    }
}

fn is_autocommit(var: &str) -> bool {
    let var = var
        .trim_start_matches("@@SESSION.")
        .trim_start_matches("@@LOCAL.")
        .trim_start_matches("@@");
    var == "AUTOCOMMIT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_settings_are_carried() {
        for sql in [
            "SET SESSION sql_mode = 'ANSI'",
            "set @@session.time_zone = '+00:00'",
            "SET NAMES utf8mb4",
            "SET CHARACTER SET utf8mb4",
            "SET @v = 5",
            "SET @a := 1, @b = 2",
            "SET sql_mode='TRADITIONAL'",
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "/* c */ USE demo",
            "SET ROLE r",
        ] {
            assert_eq!(of(sql), State::Carried { one_shot: false }, "{sql}");
        }
        assert_eq!(
            of("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            State::Carried { one_shot: true }
        );
    }

    #[test]
    fn state_that_cannot_move_is_stuck() {
        assert_eq!(
            of("CREATE TEMPORARY TABLE t (a INT)"),
            State::Stuck("a temporary table")
        );
        assert!(matches!(of("SELECT GET_LOCK('x', 10)"), State::Stuck(_)));
        assert!(matches!(of("select get_lock('x', 10)"), State::Stuck(_)));
    }

    #[test]
    fn other_statements_and_server_settings_are_not_session_state() {
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "SET GLOBAL max_connections = 10",
            "SET @@global.max_connections = 10",
            "SET STATEMENT max_statement_time=1 FOR SELECT 1",
            "SET PASSWORD = PASSWORD('x')",
            "CREATE TABLE t (a INT)",
            "USER()",
        ] {
            assert_eq!(of(sql), State::None, "{sql}");
        }
    }

    #[test]
    fn autocommit_is_the_connections_attribute() {
        for sql in [
            "SET autocommit = 1",
            "SET @@autocommit=0",
            "SET SESSION autocommit = 1",
        ] {
            assert!(matches!(of(sql), State::Refused(_)), "{sql}");
        }
    }
}
