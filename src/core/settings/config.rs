//! Settings of one MultiMaster: nodes, credentials, timeouts, policy, retry limits.

use std::fmt;
use std::time::Duration;

use crate::core::failure::backoff::Backoff;
use crate::core::failure::policy::Policy;
use crate::core::settings::address::Endpoint;
use crate::core::settings::error::{SettingsError, LIMIT};
use crate::core::settings::tls::Tls;

/// A password that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A time limit in seconds: infinity is none; zero, negative or NaN is no limit at all
/// (`None` here; the caller names the option).
pub fn limit(seconds: f64) -> Option<Option<Duration>> {
    match seconds {
        s if s.is_infinite() && s > 0.0 => Some(None),
        s if s > 0.0 => Some(Duration::try_from_secs_f64(s).ok()),
        _ => None,
    }
}

/// Every setting of one MultiMaster. `Config::new` (in `options.rs`, beside the table whose
/// defaults it applies) makes one.
#[derive(Clone, Debug)]
pub struct Config {
    pub endpoints: Vec<Endpoint>,
    pub database: Option<String>,
    pub user: String,
    pub password: Secret,
    /// TCP connect plus handshake. Short: a dead node must cost little.
    pub connect_timeout: Duration,
    /// A node that answers no liveness check (connect + `SELECT 1` on a separate connection)
    /// for this long is down, even while a statement runs on it. Shorter than Galera's write
    /// pause after a peer dies (about 6 s): a survivor in that pause still answers, so it is
    /// never taken for dead, and a dead node is found before the cluster evicts it.
    pub failure_detection: Duration,
    /// The longest a statement may run before it is killed on the server; `None`: no limit.
    pub statement_timeout: Option<Duration>,
    pub write_timeout: Duration,
    pub policy: Policy,
    /// How long one call keeps looking for a live node before `AllNodesDown`.
    pub failover_timeout: Duration,
    /// Reconnect backoff for down nodes and retry backoff for conflicts.
    pub backoff: Backoff,
    /// Attempts of one statement refused with a retryable server error (1213, 1047, ...).
    pub max_retries: u32,
    /// Events kept in the ring buffer behind `events()`.
    pub event_capacity: usize,
    /// Read the cluster's members and write through all of them (`cluster/discovery.rs`).
    pub discover: bool,
    /// How often the members are read when `discover` is on.
    pub discover_interval: Duration,
    pub tls: Tls,
}

impl Config {
    /// The statement time limit of one call: its own `statement_timeout` (infinity: none),
    /// else this instance's, else `default` (the insert loop's).
    pub fn statement_limit(
        &self,
        per_call: Option<f64>,
        default: Option<Duration>,
    ) -> Result<Option<Duration>, SettingsError> {
        match per_call {
            None => Ok(self.statement_timeout.or(default)),
            Some(v) => limit(v).ok_or_else(|| SettingsError::BadValue {
                name: "statement_timeout",
                expected: LIMIT,
                given: v.to_string(),
            }),
        }
    }

    /// Checks the values a caller can get wrong; one error naming the setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.endpoints.is_empty() {
            return Err(SettingsError::NoAddress);
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.endpoints {
            if !seen.insert(e) {
                return Err(SettingsError::ListedTwice(e.to_string()));
            }
        }
        if self.user.is_empty() {
            return Err(SettingsError::EmptyUser);
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("failure_detection", self.failure_detection),
            ("write_timeout", self.write_timeout),
            ("failover_timeout", self.failover_timeout),
            ("discover_interval", self.discover_interval),
        ] {
            if d.is_zero() {
                return Err(SettingsError::Zero(name));
            }
        }
        if self.event_capacity == 0 {
            return Err(SettingsError::NoEvents);
        }
        self.tls.validate()
    }
}

#[cfg(test)]
mod tests;
