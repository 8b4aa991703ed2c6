//! What can be wrong with the settings: one typed error for every source (keywords, URLs,
//! option files, the environment) and for the checks of the whole. `src/py/errors.rs` maps it
//! to Python once: `UnexpectedKeyword` and `WrongType` are `TypeError`s, the rest
//! `InterfaceError`s. No variant holds a password.

use std::path::PathBuf;

use crate::core::settings::address::AddressError;

/// For callers of the option this library had before liveness was judged apart from statements.
pub const READ_TIMEOUT_GONE: &str = "read_timeout no longer exists: a node is judged dead by \
     failure_detection (seconds without an answer to a liveness check), and a statement is \
     limited by statement_timeout";

/// What the values of each kind must be, as the errors say it.
pub const SECONDS: &str = "a non-negative number of seconds";
pub const LIMIT: &str = "a positive number of seconds, or none";
pub const WHOLE: &str = "a whole number";
pub const SWITCH: &str = "true or false (also 1/0, yes/no, on/off)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value of the wrong shape: `given` is how the caller spelled it.
    #[error("{name} must be {expected}, not {given}")]
    BadValue {
        name: &'static str,
        expected: &'static str,
        given: String,
    },
    #[error("{name} is too large: {given}")]
    TooLarge { name: &'static str, given: String },
    /// A value its own parser refused (a policy, a TLS mode), with that parser's words.
    #[error("{0}")]
    Refused(String),
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    /// A keyword argument that is no option (Python's `TypeError`).
    #[error("MultiMaster() got an unexpected keyword argument {0:?}")]
    UnexpectedKeyword(String),
    /// A keyword argument of the wrong Python type (Python's `TypeError`).
    #[error("{name}: {message}")]
    WrongType { name: String, message: String },
    #[error("{READ_TIMEOUT_GONE}")]
    ReadTimeoutGone,
    /// A connection URL that cannot be read: the message names the part, never the password.
    #[error("bad connection URL: {0}")]
    Url(String),
    #[error(transparent)]
    Address(#[from] AddressError),
    /// An option file that cannot be read or parsed: the message names the file and line.
    #[error("{0}")]
    OptionFile(String),
    #[error("MYSQL_HOST: {0}")]
    EnvHost(AddressError),
    #[error("no nodes: give their addresses, a URL, or a host in the option file")]
    NoNodes,
    #[error("user is required")]
    NoUser,
    #[error("at least one node address is required")]
    NoAddress,
    #[error("node {0} is listed twice")]
    ListedTwice(String),
    #[error("user must not be empty")]
    EmptyUser,
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    #[error("event_capacity must be at least 1")]
    NoEvents,
    #[error("unknown ssl_mode {0:?}: expected DISABLED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY")]
    UnknownSslMode(String),
    #[error("ssl_cert and ssl_key go together: give both or neither")]
    CertWithoutKey,
    #[error("{0} is set but ssl_mode is DISABLED")]
    TlsDisabled(&'static str),
    #[error("{name}: cannot read {}: {reason}", path.display())]
    Unreadable {
        name: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{name}: {} holds no PEM {what}", path.display())]
    NoPem {
        name: &'static str,
        path: PathBuf,
        what: &'static str,
    },
}
