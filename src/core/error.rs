//! The core's error type. The pyo3 layer maps each variant to one Python exception.

use std::time::Duration;

use crate::core::failure::fault::{Kind, Refusal};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Bad arguments, found before anything was sent.
    #[error("{0}")]
    Config(String),

    /// `add_node` / `remove_node` refused (`cluster/roster.rs`): an address not known, the
    /// last node in rotation, a malformed address. Raised as Python's `ValueError`.
    #[error("{0}")]
    Membership(String),

    /// Settings that are wrong or do not fit together (`settings::error`).
    #[error(transparent)]
    Settings(#[from] crate::core::settings::error::SettingsError),

    /// The library used out of order (a statement on a transaction that is over).
    #[error("{0}")]
    Misuse(String),

    /// Something the library itself could not do (a thread it could not start) or a state it
    /// should never reach: a bug or an exhausted system, never the database's doing.
    #[error("internal error in multimaster: {0}")]
    Internal(String),

    /// The server refused the statement (or the login) for a reason retrying cannot fix.
    #[error("{node}: ({code}) {message}")]
    Server {
        node: String,
        code: u16,
        state: String,
        message: String,
        kind: Kind,
    },

    /// Refused by the library before it was sent (too large for the node): shown with the
    /// code of the server's own refusal.
    #[error("{node}: ({}) {refusal}", refusal.code())]
    Refused { node: String, refusal: Refusal },

    /// A driver-side failure that is not about connectivity (bad parameters, bad values).
    #[error("{node}: {message}")]
    Driver {
        node: String,
        message: String,
        kind: Kind,
    },

    /// No node could run the statement within the failover timeout.
    #[error("all nodes down after {:.1} s: {detail}", waited.as_secs_f64())]
    AllNodesDown {
        waited: Duration,
        /// Per node, its last error.
        detail: String,
        /// The node and code of the last error seen, if any.
        node: Option<String>,
        code: Option<u16>,
    },

    /// A write was sent and nothing can tell whether it committed: its connection was lost, or
    /// its node refused the commit after it may have replicated (`cause` says which).
    #[error("{node}: outcome unknown after sending {statement:?}: {cause}")]
    Ambiguous {
        node: String,
        statement: String,
        cause: String,
    },

    /// The connection died inside a transaction before COMMIT: the server rolled it back.
    #[error("{node}: connection lost inside the transaction (rolled back): {cause}")]
    Lost { node: String, cause: String },

    /// A statement kept being refused with retryable errors (conflicts, lock waits).
    #[error("{node}: gave up after {attempts} attempts: ({code}) {message}")]
    RetriesExhausted {
        node: String,
        attempts: u32,
        code: u16,
        message: String,
    },

    /// The statement ran past `statement_timeout` and was killed on the server.
    #[error(
        "{node}: statement ran past statement_timeout ({:.1} s) and was killed after {:.2} s: {statement}",
        limit.as_secs_f64(),
        elapsed.as_secs_f64()
    )]
    TimedOut {
        node: String,
        statement: String,
        elapsed: Duration,
        limit: Duration,
    },

    /// The server closed the connection during the statement while the node still answers:
    /// the statement's own doing (a server-side kill, a packet it refused), not a dead node,
    /// so it is not carried to another node.
    #[error(
        "{node}: the server closed the connection during the statement, and the node still \
         answers: not retried on another node ({cause}): {statement}"
    )]
    Broken {
        node: String,
        statement: String,
        cause: String,
    },

    /// A multi-row INSERT whose reply was lost was found partly committed: impossible for one
    /// statement on a transactional table, so something else wrote some of the same keys.
    #[error(
        "{node}: a multi-row INSERT whose reply was lost is partly there ({found} of {expected} \
         keys, {keys}): one statement commits all its rows or none, so another writer has \
         written some of these keys; nothing was written again"
    )]
    PartialBatch {
        node: String,
        found: u64,
        expected: u64,
        keys: String,
    },

    /// A statement of `insert_many` the server refused: `index` into the rows given of the row
    /// it refused, when known; the statement held rows `first..=last`.
    #[error("{source} ({})", describe_rows(*index, *first, *last))]
    Row {
        index: Option<usize>,
        first: usize,
        last: usize,
        source: Box<Error>,
    },

    /// A DB-API transaction the database interrupted could not be replayed as the application
    /// saw it (a statement answered differently, or the transaction outgrew its replay log):
    /// it was rolled back, and the application may run it again.
    #[error(
        "{node}: the transaction was rolled back and not replayed: {why}{}; the application \
         may retry it",
        if statement.is_empty() { String::new() } else { format!(" (statement {statement:?})") }
    )]
    ReplayDiverged {
        node: String,
        statement: String,
        why: String,
    },

    /// A DB-API connection whose session held state that cannot be carried to another session
    /// (a temporary table, a named lock) once the transaction that made it ended: closed, so
    /// that pools discard it (raised as MySQL's "server has gone away", 2006).
    #[error(
        "the connection is closed: it held {why}, which cannot be carried to another session \
         (MySQL server has gone away); open a new connection"
    )]
    Discarded { why: String },

    /// The caller asked to stop (Ctrl-C).
    #[error("interrupted")]
    Interrupted,

    #[error("this MultiMaster is closed")]
    Closed,
}

impl Error {
    pub fn node(&self) -> Option<&str> {
        match self {
            Error::Server { node, .. }
            | Error::Driver { node, .. }
            | Error::Refused { node, .. }
            | Error::Ambiguous { node, .. }
            | Error::Lost { node, .. }
            | Error::TimedOut { node, .. }
            | Error::Broken { node, .. }
            | Error::PartialBatch { node, .. }
            | Error::ReplayDiverged { node, .. }
            | Error::RetriesExhausted { node, .. } => Some(node),
            Error::Row { source, .. } => source.node(),
            Error::AllNodesDown { node, .. } => node.as_deref(),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Server { code, .. } | Error::RetriesExhausted { code, .. } => Some(*code),
            // CR_SERVER_GONE_ERROR: what pools take for a connection to throw away.
            Error::Discarded { .. } => Some(2006),
            Error::AllNodesDown { code, .. } => *code,
            Error::Refused { refusal, .. } => Some(refusal.code()),
            // CR_SERVER_LOST, as the MySQL client reports a connection lost mid-query.
            Error::Broken { .. } => Some(2013),
            Error::Row { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// Which row of the rows given a refused statement held, in words.
pub fn describe_rows(index: Option<usize>, first: usize, last: usize) -> String {
    match index {
        Some(i) => format!("row {i} of the rows given"),
        None => format!("one of rows {first} to {last}: the server did not say which"),
    }
}

impl From<crate::core::settings::address::AddressError> for Error {
    fn from(e: crate::core::settings::address::AddressError) -> Self {
        Error::Settings(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_code_where_the_error_has_them() {
        let server = Error::Server {
            node: "n1".into(),
            code: 1064,
            state: "42000".into(),
            message: "syntax".into(),
            kind: Kind::Programming,
        };
        assert_eq!((server.node(), server.code()), (Some("n1"), Some(1064)));
        assert_eq!(server.to_string(), "n1: (1064) syntax");
        let down = Error::AllNodesDown {
            waited: Duration::from_millis(20_040),
            detail: "n1 down (refused)".into(),
            node: Some("n2".into()),
            code: None,
        };
        assert_eq!((down.node(), down.code()), (Some("n2"), None));
        assert_eq!(
            down.to_string(),
            "all nodes down after 20.0 s: n1 down (refused)"
        );
        let exhausted = Error::RetriesExhausted {
            node: "n1".into(),
            attempts: 3,
            code: 1213,
            message: "deadlock".into(),
        };
        assert_eq!(exhausted.code(), Some(1213));
        assert_eq!(
            exhausted.to_string(),
            "n1: gave up after 3 attempts: (1213) deadlock"
        );
        assert_eq!(
            (Error::Interrupted.node(), Error::Closed.code()),
            (None, None)
        );
    }
}
