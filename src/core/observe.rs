//! A per-statement hook for an exporter (OpenTelemetry's `db.client.operation.duration` needs
//! every statement's own time and attributes, which no counter read at collection time gives).
//! Unset, it costs one relaxed load per statement; set, the exporter pays for what it records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mysql::Error as DbError;

use crate::core::failure::fault::{code, NodeError};

/// One statement as an exporter sees it.
pub struct Observed<'a> {
    /// The node that answered (or failed), `host:port`.
    pub node: &'a str,
    /// The statement's first word as written (`INSERT`, `select`): the operation name.
    pub operation: &'a str,
    pub took: Duration,
    /// On failure: the server's error code, if it answered with one, and the error's class.
    pub error: Option<(Option<u16>, &'static str)>,
}

pub trait Observer: Send + Sync {
    fn statement(&self, s: &Observed<'_>);
}

#[derive(Default)]
pub struct Hook {
    on: AtomicBool,
    observer: RwLock<Option<Arc<dyn Observer>>>,
}

impl Hook {
    pub fn set(&self, observer: Option<Arc<dyn Observer>>) {
        let on = observer.is_some();
        *self.observer.write().unwrap_or_else(|p| p.into_inner()) = observer;
        self.on.store(on, Ordering::Release);
    }

    pub fn statement(&self, node: &str, sql: &str, took: Duration, error: Option<&NodeError>) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let observer = self
            .observer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(o) = observer {
            o.statement(&Observed {
                node,
                operation: operation(sql),
                took,
                error: error.map(|e| (code(e), class(e))),
            });
        }
    }
}

/// The first word of a statement, past leading blanks: the conventions allow the operation
/// name parsed from the text when there is one operation.
pub fn operation(sql: &str) -> &str {
    let s = sql.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// A low-cardinality name for an error (`error.type`): the server's code where it answered
/// (the exporter uses the code itself), else what failed on the client side.
pub fn class(e: &NodeError) -> &'static str {
    match e {
        NodeError::Refused(_) | NodeError::Driver(DbError::MySqlError(_)) => "server",
        NodeError::Driver(DbError::IoError(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
            "timeout"
        }
        NodeError::Driver(DbError::IoError(_) | DbError::CodecError(_)) => "connection",
        NodeError::Driver(DbError::DriverError(_)) => "driver",
        NodeError::Driver(_) => "client",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn operation_is_the_first_word_as_written() {
        assert_eq!(operation("  INSERT INTO t VALUES (1)"), "INSERT");
        assert_eq!(operation("select 1"), "select");
        assert_eq!(operation("COMMIT"), "COMMIT");
        assert_eq!(operation("(SELECT 1)"), "");
        assert_eq!(operation(""), "");
    }

    /// What the observer saw: node, operation, error.
    type Seen = (String, String, Option<(Option<u16>, &'static str)>);
    struct Keep(Mutex<Vec<Seen>>);
    impl Observer for Keep {
        fn statement(&self, s: &Observed<'_>) {
            let row = (s.node.to_owned(), s.operation.to_owned(), s.error);
            self.0.lock().unwrap().push(row);
        }
    }

    #[test]
    fn called_only_while_set() {
        let hook = Hook::default();
        let keep = Arc::new(Keep(Mutex::new(Vec::new())));
        hook.statement("a:1", "INSERT 1", Duration::ZERO, None);
        hook.set(Some(keep.clone()));
        let lost: NodeError = DbError::server_disconnected().into();
        hook.statement("b:2", "UPDATE x", Duration::ZERO, Some(&lost));
        hook.set(None);
        hook.statement("c:3", "DELETE", Duration::ZERO, None);
        let seen = keep.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "b:2");
        assert_eq!(seen[0].1, "UPDATE");
        assert_eq!(seen[0].2.map(|e| e.0), Some(None));
    }
}
