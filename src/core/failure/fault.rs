//! Error classification: every failure on a node maps to what is safe to do next
//! (the README's "Failure semantics"). This is the only place that looks at driver errors and codes.

use mysql::{DriverError, Error as DbError};
use mysql_common::proto::codec::error::PacketCodecError;

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
    /// The statement (or the credentials) are wrong: raise at once, no failover.
    Fatal(Kind),
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

pub const ER_DUP_ENTRY: u16 = 1062;

/// Server error codes that mean "not applied, try again": conflicts and lock waits retry on
/// the same node; a node that is shutting down, read-only or outside the Primary component
/// is unhealthy and the statement goes elsewhere.
fn server_retry(code: u16) -> Option<bool> {
    match code {
        1213 | 1205 => Some(true), // deadlock / Galera certification conflict, lock wait timeout
        1047 | 1180 => Some(false), // WSREP not ready (non-Primary), commit refused by wsrep
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

pub fn classify(err: &DbError, phase: Phase) -> Fault {
    let io = match phase {
        Phase::Connect => Fault::Unreachable,
        Phase::Statement => Fault::Lost,
    };
    match err {
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

/// The server's error code, where there is one.
pub fn code(err: &DbError) -> Option<u16> {
    match err {
        DbError::MySqlError(e) => Some(e.code),
        _ => None,
    }
}

/// The server's own words, without the code; other errors as [`describe`] puts them.
pub fn message(err: &DbError) -> String {
    match err {
        DbError::MySqlError(e) => e.message.clone(),
        other => describe(other),
    }
}

/// A driver error as one line, without the driver's `MySqlError { ... }` wrapping.
pub fn describe(err: &DbError) -> String {
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
        for c in [1047, 1180, 1290, 1836, 1053, 1927, 4031, 1040] {
            assert_eq!(
                classify(&server(c, "08S01"), Phase::Statement),
                Fault::Retry { same_node: false },
                "{c}"
            );
        }
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
    fn describe_is_one_line() {
        assert_eq!(describe(&server(1064, "42000")), "(1064) m");
        assert_eq!(code(&server(1064, "42000")), Some(1064));
        assert_eq!(code(&io_err(io::ErrorKind::BrokenPipe)), None);
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
