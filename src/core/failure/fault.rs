//! Error classification: every failure on a node maps to what is safe to do next
//! (the README's "Failure semantics"). This is the only place that looks at driver errors and
//! codes, and at the server's words (its messages); the refusals the library decides itself are
//! typed ([`Refusal`]), never made-up server errors.

use std::fmt;

use mysql::{DriverError, Error as DbError};
use mysql_common::proto::codec::error::PacketCodecError;

/// Why one try on a node failed: the driver's (or the server's) error, or the library's own
/// refusal before anything was sent.
#[derive(Debug)]
pub enum NodeError {
    Driver(DbError),
    Refused(Refusal),
}

impl From<DbError> for NodeError {
    fn from(e: DbError) -> Self {
        NodeError::Driver(e)
    }
}

impl From<Refusal> for NodeError {
    fn from(r: Refusal) -> Self {
        NodeError::Refused(r)
    }
}

/// What the library refuses by itself, before sending anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The statement is larger than the node's `max_allowed_packet` (read at connect): the
    /// server would drop the connection, which looks like a dead node (see `node/packet.rs`).
    PacketTooLarge { size: u64, limit: u64 },
    /// A Galera node that accepts connections a second or so before it can run queries;
    /// `detail` is its `wsrep_*` state.
    NotReady { detail: String },
}

impl Refusal {
    /// The server's code for the same refusal, which users see as `errno`: code written for the
    /// server's own 1153 (a packet too large) or 1047 (not ready) handles these alike.
    pub fn code(&self) -> u16 {
        match self {
            Refusal::PacketTooLarge { .. } => ER_NET_PACKET_TOO_LARGE,
            Refusal::NotReady { .. } => ER_NOT_READY,
        }
    }

    /// The SQLSTATE of the server's refusal: both are connection exceptions.
    pub fn state(&self) -> &'static str {
        "08S01"
    }

    fn unfit(&self) -> Unfit {
        match self {
            Refusal::PacketTooLarge { .. } => Unfit::Statement,
            Refusal::NotReady { .. } => Unfit::Node,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::PacketTooLarge { size, limit } => write!(
                f,
                "statement of {size} bytes is larger than the node's max_allowed_packet \
                 ({limit} bytes): not sent"
            ),
            Refusal::NotReady { detail } => write!(f, "node not ready: {detail}"),
        }
    }
}

/// What the library found unfit when it refused before sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// The statement: every node would refuse it the same way.
    Statement,
    /// The node, for now: another node can take it.
    Node,
}

/// When the error happened: before the statement left the client, or after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Statement,
}

/// What is known about the statement, and so what the caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The statement was not sent: mark the node down and try the next one.
    Unreachable,
    /// The connection died after the statement was sent: it may or may not have committed.
    Lost,
    /// The server refused the statement and it did not apply: back off and try again.
    /// `same_node` for conflicts and lock waits; otherwise the node is unhealthy.
    Retry { same_node: bool },
    /// The node refused the commit, but only after its replication may have handed the write
    /// to the other nodes (Galera's 1180: it left the Primary component while certifying), so
    /// they decide whether it committed. The node is unhealthy; a write is settled as a lost
    /// one, once the others no longer count the node as a member.
    Unsettled,
    /// The statement (or the credentials) are wrong: raise at once, no failover.
    Fatal(Kind),
    /// Refused by the library before sending ([`Refusal`]): nothing was sent.
    Refused(Unfit),
}

/// PEP 249 exception class a fatal error maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Interface,
    Database,
    Operational,
    Integrity,
    Programming,
    Data,
    NotSupported,
}

const ER_DUP_ENTRY: u16 = 1062;
const ER_ACCESS_DENIED: u16 = 1045;
/// The server's answer to a statement stopped by `KILL QUERY`.
const ER_QUERY_INTERRUPTED: u16 = 1317;
/// MySQL's code for a packet over `max_allowed_packet` (ER_NET_PACKET_TOO_LARGE).
const ER_NET_PACKET_TOO_LARGE: u16 = 1153;
/// Galera's "WSREP has not yet prepared node for application use".
const ER_NOT_READY: u16 = 1047;
/// Galera's refusal of a commit its node could not certify in the Primary component ("Error
/// while appending streaming replication fragment(provider status: Not connected to Primary
/// Component)", whatever the transaction's size). Seen in the lab's partition tests: its write
/// set had reached the others, which committed it.
const ER_ERROR_DURING_COMMIT: u16 = 1180;
/// `KILL` of a session that is not there ("Unknown thread id").
const ER_NO_SUCH_THREAD: u16 = 1094;

/// What the decisions need of the server's words beyond the class of its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    /// A duplicate key: after an earlier lost reply, that write had committed.
    Duplicate,
    /// The statement was stopped by `KILL QUERY` (the watchdog's, for a time limit).
    Killed,
    Other,
}

/// [`Said`] of a server error code.
pub fn said_code(code: Option<u16>) -> Said {
    match code {
        Some(ER_DUP_ENTRY) => Said::Duplicate,
        Some(ER_QUERY_INTERRUPTED) => Said::Killed,
        _ => Said::Other,
    }
}

pub fn said(err: &NodeError) -> Said {
    said_code(code(err))
}

/// N of "... at row N" in a server's refusal of a multi-row statement (1-based, within the
/// statement).
pub fn at_row(message: &str) -> Option<usize> {
    let rest = &message[message.rfind("at row ")? + "at row ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// X of a duplicate key's "Duplicate entry 'X' for key ...".
pub fn duplicate_entry(code: u16, message: &str) -> Option<&str> {
    if code != ER_DUP_ENTRY {
        return None;
    }
    let start = message.find("Duplicate entry '")? + "Duplicate entry '".len();
    Some(&message[start..start + message[start..].rfind("' for key")?])
}

/// Server error codes that mean "not applied, try again": conflicts and lock waits retry on
/// the same node; a node that is shutting down, read-only or outside the Primary component
/// is unhealthy and the statement goes elsewhere.
fn server_retry(code: u16) -> Option<bool> {
    match code {
        1213 | 1205 => Some(true), // deadlock / Galera certification conflict, lock wait timeout
        1047 => Some(false),       // WSREP not ready (non-Primary), before anything ran
        1290 | 1836 => Some(false), // read-only
        1053 | 1927 => Some(false), // server shutdown in progress, connection killed
        4031 => Some(false),       // disconnected by the server for inactivity
        1040 | 1203 => Some(false), // too many connections
        _ => None,
    }
}

/// The PEP 249 class of a server error: a few codes by name, the rest by SQLSTATE class.
pub fn kind_of(code: u16, state: &str) -> Kind {
    match code {
        1045 | 1044 | 1049 | 1251 | 1698 => Kind::Operational, // access, unknown database
        1064 | 1146 | 1054 | 1149 | 1109 | 1142 => Kind::Programming,
        1406 | 1264 | 1265 | 1366 | 1292 | 1367 => Kind::Data,
        1062 | 1048 | 1451 | 1452 | 1557 | 1586 => Kind::Integrity,
        1235 => Kind::NotSupported,
        _ => match state.get(..2) {
            Some("22") => Kind::Data,
            Some("23") => Kind::Integrity,
            Some("42") => Kind::Programming,
            Some("08") | Some("HY") | Some("40") => Kind::Operational,
            Some("0A") => Kind::NotSupported,
            _ => Kind::Database,
        },
    }
}

pub fn classify(err: &NodeError, phase: Phase) -> Fault {
    match err {
        NodeError::Driver(e) => classify_driver(e, phase),
        NodeError::Refused(r) => Fault::Refused(r.unfit()),
    }
}

fn classify_driver(err: &DbError, phase: Phase) -> Fault {
    let io = match phase {
        Phase::Connect => Fault::Unreachable,
        Phase::Statement => Fault::Lost,
    };
    match err {
        DbError::MySqlError(e) if e.code == ER_ERROR_DURING_COMMIT => Fault::Unsettled,
        DbError::MySqlError(e) => match server_retry(e.code) {
            Some(same_node) => Fault::Retry { same_node },
            None if phase == Phase::Connect && e.code == 1129 => Fault::Unreachable, // host blocked
            None => Fault::Fatal(kind_of(e.code, &e.state)),
        },
        // A certificate the client refuses is a configuration error, not a dead node: every
        // node would be refused the same way.
        DbError::TlsError(_) => Fault::Fatal(Kind::Interface),
        DbError::IoError(e) if is_tls_refusal(e) => Fault::Fatal(Kind::Interface),
        DbError::CodecError(PacketCodecError::Io(e)) if is_tls_refusal(e) => {
            Fault::Fatal(Kind::Interface)
        }
        DbError::IoError(_) | DbError::CodecError(_) => io,
        DbError::DriverError(d) => match d {
            DriverError::ConnectTimeout | DriverError::CouldNotConnect(_) => Fault::Unreachable,
            DriverError::MismatchedStmtParams(..)
            | DriverError::Params(_)
            | DriverError::MixedParams
            | DriverError::PacketTooLarge => Fault::Fatal(Kind::Programming),
            DriverError::UnknownAuthPlugin(_)
            | DriverError::OldMysqlPasswordDisabled
            | DriverError::CleartextPluginDisabled
            | DriverError::TlsNotSupported
            | DriverError::UnsupportedProtocol(_)
            | DriverError::Protocol41NotSet => Fault::Fatal(Kind::Interface),
            // Anything else leaves the connection in an unknown state.
            _ => io,
        },
        DbError::UrlError(_) => Fault::Fatal(Kind::Interface),
        DbError::FromValueError(_) | DbError::FromRowError(_) => Fault::Fatal(Kind::Data),
    }
}

/// The TLS handshake runs inside the first read or write, so a refused certificate (or a
/// server that speaks no TLS) arrives as an IO error carrying rustls' own error.
fn is_tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

/// A refused plain (non-TLS) login, with a hint: a server that requires TLS refuses it with
/// 1045 "Access denied", the same words as a wrong password (measured on MariaDB with
/// require_secure_transport=ON).
pub fn plain_login_hint(err: DbError) -> DbError {
    match err {
        DbError::MySqlError(mut m) if m.code == ER_ACCESS_DENIED => {
            m.message
                .push_str(" (with ssl_mode DISABLED: the server may require TLS)");
            DbError::MySqlError(m)
        }
        other => other,
    }
}

/// A `KILL` of a session that had already ended (1094, "Unknown thread id"): what the kill
/// wanted is true.
pub fn no_such_session(err: &DbError) -> bool {
    matches!(err, DbError::MySqlError(m) if m.code == ER_NO_SUCH_THREAD)
}

/// Nothing listens at the address: the server process is gone (not frozen, not cut off).
pub fn refused(err: &DbError) -> bool {
    match err {
        DbError::IoError(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        DbError::DriverError(DriverError::CouldNotConnect(Some((_, _, kind)))) => {
            *kind == std::io::ErrorKind::ConnectionRefused
        }
        _ => false,
    }
}

/// The server's error code (or, for a refusal, the code of the server's own), where there is
/// one.
pub fn code(err: &NodeError) -> Option<u16> {
    match err {
        NodeError::Driver(DbError::MySqlError(e)) => Some(e.code),
        NodeError::Refused(r) => Some(r.code()),
        NodeError::Driver(_) => None,
    }
}

/// A server error's code, SQLSTATE and words, for the core's error.
pub fn server_words(err: &NodeError) -> Option<(u16, &str, &str)> {
    match err {
        NodeError::Driver(DbError::MySqlError(e)) => Some((e.code, &e.state, &e.message)),
        _ => None,
    }
}

/// The server's own words, without the code; other errors as [`describe`] puts them.
pub fn message(err: &NodeError) -> String {
    match err {
        NodeError::Driver(DbError::MySqlError(e)) => e.message.clone(),
        NodeError::Refused(r) => r.to_string(),
        other => describe(other),
    }
}

/// A server error leaves the connection usable; after anything else the driver's connection
/// is in an unknown state (a refusal sent nothing: the connection is untouched).
pub fn keeps_connection(err: &NodeError) -> bool {
    matches!(
        err,
        NodeError::Driver(DbError::MySqlError(_)) | NodeError::Refused(_)
    )
}

/// An error as one line, without the driver's `MySqlError { ... }` wrapping.
pub fn describe(err: &NodeError) -> String {
    let err = match err {
        NodeError::Driver(e) => e,
        NodeError::Refused(r) => return format!("({}) {r}", r.code()),
    };
    match err {
        DbError::MySqlError(e) => format!("({}) {}", e.code, e.message),
        DbError::IoError(e) => format!("connection error: {e}"),
        DbError::CodecError(e) => format!("connection error: {e}"),
        DbError::DriverError(DriverError::TlsNotSupported) => {
            "the server does not offer TLS, which ssl_mode requires".into()
        }
        DbError::DriverError(e) => format!("driver error: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::classify_driver as classify;
    use super::*;
    use mysql::MySqlError;
    use std::io;

    fn server(code: u16, state: &str) -> DbError {
        DbError::MySqlError(MySqlError {
            state: state.into(),
            message: "m".into(),
            code,
        })
    }

    fn io_err(kind: io::ErrorKind) -> DbError {
        DbError::IoError(io::Error::new(kind, "x"))
    }

    #[test]
    fn io_is_unreachable_before_sending_and_lost_after() {
        for k in [io::ErrorKind::ConnectionRefused, io::ErrorKind::BrokenPipe] {
            assert_eq!(classify(&io_err(k), Phase::Connect), Fault::Unreachable);
            assert_eq!(classify(&io_err(k), Phase::Statement), Fault::Lost);
        }
    }

    #[test]
    fn frozen_server_codec_error_is_lost() {
        // A SIGSTOPped server surfaces as a codec IO error (EAGAIN) after the read timeout.
        let e = DbError::CodecError(mysql_common::proto::codec::error::PacketCodecError::Io(
            io::Error::from(io::ErrorKind::WouldBlock),
        ));
        assert_eq!(classify(&e, Phase::Statement), Fault::Lost);
    }

    #[test]
    fn connect_failures_are_unreachable() {
        let e = DbError::DriverError(DriverError::ConnectTimeout);
        assert_eq!(classify(&e, Phase::Connect), Fault::Unreachable);
        let e = DbError::DriverError(DriverError::CouldNotConnect(None));
        assert_eq!(classify(&e, Phase::Connect), Fault::Unreachable);
        assert_eq!(
            classify(&server(1129, "HY000"), Phase::Connect),
            Fault::Unreachable
        );
    }

    #[test]
    fn conflicts_retry_on_the_same_node() {
        for c in [1213, 1205] {
            assert_eq!(
                classify(&server(c, "40001"), Phase::Statement),
                Fault::Retry { same_node: true }
            );
        }
    }

    #[test]
    fn unhealthy_node_errors_retry_elsewhere() {
        for c in [1047, 1290, 1836, 1053, 1927, 4031, 1040] {
            assert_eq!(
                classify(&server(c, "08S01"), Phase::Statement),
                Fault::Retry { same_node: false },
                "{c}"
            );
        }
    }

    #[test]
    fn a_commit_refused_after_replicating_is_unsettled_not_retried() {
        assert_eq!(
            classify(&server(1180, "HY000"), Phase::Statement),
            Fault::Unsettled
        );
    }

    #[test]
    fn fatal_errors_map_to_pep249() {
        let cases = [
            (1045, "28000", Kind::Operational),
            (1049, "42000", Kind::Operational),
            (1064, "42000", Kind::Programming),
            (1146, "42S02", Kind::Programming),
            (1406, "22001", Kind::Data),
            (1062, "23000", Kind::Integrity),
            (9999, "22999", Kind::Data),
            (9999, "HY000", Kind::Operational),
            (9999, "XX000", Kind::Database),
        ];
        for (c, s, k) in cases {
            assert_eq!(
                classify(&server(c, s), Phase::Statement),
                Fault::Fatal(k),
                "{c}"
            );
            assert_eq!(
                classify(&server(c, s), Phase::Connect),
                Fault::Fatal(k),
                "{c}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_programming_errors() {
        let e = DbError::DriverError(DriverError::MismatchedStmtParams(2, 1));
        assert_eq!(
            classify(&e, Phase::Statement),
            Fault::Fatal(Kind::Programming)
        );
    }

    #[test]
    fn refusals_are_their_own_class_with_the_servers_code() {
        let big = NodeError::from(Refusal::PacketTooLarge {
            size: 2000,
            limit: 1024,
        });
        let not_ready = NodeError::from(Refusal::NotReady {
            detail: "wsrep_ready=OFF".into(),
        });
        for phase in [Phase::Connect, Phase::Statement] {
            let statement = Fault::Refused(Unfit::Statement);
            assert_eq!(super::classify(&big, phase), statement);
            let node = Fault::Refused(Unfit::Node);
            assert_eq!(super::classify(&not_ready, phase), node);
        }
        assert_eq!((code(&big), code(&not_ready)), (Some(1153), Some(1047)));
        assert_eq!(
            describe(&big),
            "(1153) statement of 2000 bytes is larger than the node's max_allowed_packet \
             (1024 bytes): not sent"
        );
        assert_eq!(
            describe(&not_ready),
            "(1047) node not ready: wsrep_ready=OFF"
        );
        assert!(keeps_connection(&big) && server_words(&big).is_none());
    }

    #[test]
    fn the_row_a_server_names() {
        assert_eq!(
            at_row("Data too long for column 'title' at row 12"),
            Some(12)
        );
        assert_eq!(at_row("Column 'title' cannot be null"), None);
        let dup = "Duplicate entry 'T2' for key 'PRIMARY'";
        assert_eq!(duplicate_entry(1062, dup), Some("T2"));
        assert_eq!(duplicate_entry(1406, dup), None);
        assert_eq!(said_code(Some(1062)), Said::Duplicate);
        assert_eq!(said_code(Some(1317)), Said::Killed);
        assert_eq!(said_code(None), Said::Other);
    }

    #[test]
    fn describe_is_one_line() {
        assert_eq!(describe(&server(1064, "42000").into()), "(1064) m");
        assert_eq!(code(&server(1064, "42000").into()), Some(1064));
        assert_eq!(code(&io_err(io::ErrorKind::BrokenPipe).into()), None);
    }

    #[test]
    fn refused_certificates_are_configuration_errors_not_dead_nodes() {
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        let e = DbError::IoError(io::Error::new(io::ErrorKind::InvalidData, bad_cert));
        assert_eq!(classify(&e, Phase::Connect), Fault::Fatal(Kind::Interface));
        assert_eq!(
            classify(&e, Phase::Statement),
            Fault::Fatal(Kind::Interface)
        );
        let in_codec = |e| DbError::CodecError(PacketCodecError::Io(e));
        let bad_name = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = in_codec(io::Error::new(io::ErrorKind::InvalidData, bad_name));
        assert_eq!(classify(&e, Phase::Connect), Fault::Fatal(Kind::Interface));
        let plain = DbError::IoError(io::Error::new(io::ErrorKind::InvalidData, "garbage"));
        assert_eq!(classify(&plain, Phase::Connect), Fault::Unreachable);
        let e = DbError::DriverError(DriverError::TlsNotSupported);
        assert_eq!(classify(&e, Phase::Connect), Fault::Fatal(Kind::Interface));
    }
}
