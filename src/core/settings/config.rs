//! Settings of one MultiMaster: nodes, credentials, timeouts, policy, retry limits.

use std::fmt;
use std::time::Duration;

use crate::core::failure::backoff::Backoff;
use crate::core::failure::policy::Policy;
use crate::core::settings::address::Endpoint;
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

/// The settings a caller may give by name: keyword arguments of `MultiMaster`, and the query
/// keys of a connection URL. Their defaults are in [`Config::new`].
pub const OPTIONS: &[&str] = &[
    "policy",
    "connect_timeout",
    "failure_detection",
    "statement_timeout",
    "write_timeout",
    "failover_timeout",
    "max_retries",
    "backoff_base",
    "backoff_cap",
    "event_capacity",
    "ssl_mode",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
];

/// For callers of the option this library had before liveness was judged apart from statements.
pub const READ_TIMEOUT_GONE: &str = "read_timeout no longer exists: a node is judged dead by \
     failure_detection (seconds without an answer to a liveness check), and a statement is \
     limited by statement_timeout";

/// A statement time limit from text: seconds, or `none`/`inf` for no limit.
pub fn limit(name: &str, value: &str) -> Result<Option<Duration>, String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(s) if s.is_infinite() && s > 0.0 => Ok(None),
        Ok(s) if s > 0.0 => Ok(Duration::try_from_secs_f64(s).ok()),
        _ => Err(format!(
            "{name} must be a positive number of seconds, or none, not {value:?}"
        )),
    }
}

/// A time in seconds given as a number (a keyword argument).
pub fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("{name} must be a non-negative number of seconds, not {v}"))
}

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
    pub tls: Tls,
}

impl Config {
    pub fn new(endpoints: Vec<Endpoint>, user: impl Into<String>, password: Secret) -> Self {
        Config {
            endpoints,
            database: None,
            user: user.into(),
            password,
            connect_timeout: Duration::from_secs(2),
            failure_detection: Duration::from_secs(3),
            statement_timeout: None,
            write_timeout: Duration::from_secs(10),
            policy: Policy::Parity,
            failover_timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
            max_retries: 10,
            event_capacity: 1000,
            tls: Tls::default(),
        }
    }

    /// Sets the option `name` (one of [`OPTIONS`]) from its text: a URL's query value, or a
    /// keyword argument. The message names the option and what it expects.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let seconds = || match value.trim().parse::<f64>() {
            Ok(v) => seconds(name, v),
            Err(_) => Err(format!(
                "{name} must be a non-negative number of seconds, not {value:?}"
            )),
        };
        let count = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
        };
        match name {
            "policy" => self.policy = value.parse()?,
            "connect_timeout" => self.connect_timeout = seconds()?,
            "failure_detection" => self.failure_detection = seconds()?,
            "statement_timeout" => self.statement_timeout = limit(name, value)?,
            "read_timeout" => return Err(READ_TIMEOUT_GONE.into()),
            "write_timeout" => self.write_timeout = seconds()?,
            "failover_timeout" => self.failover_timeout = seconds()?,
            "backoff_base" => self.backoff.base = seconds()?,
            "backoff_cap" => self.backoff.cap = seconds()?,
            "max_retries" => {
                self.max_retries = u32::try_from(count()?)
                    .map_err(|_| format!("max_retries is too large: {value}"))?
            }
            "event_capacity" => {
                self.event_capacity = usize::try_from(count()?)
                    .map_err(|_| format!("event_capacity is too large: {value}"))?
            }
            "ssl_mode" => self.tls.mode = Some(value.parse()?),
            "ssl_ca" => self.tls.ca = Some(value.into()),
            "ssl_cert" => self.tls.cert = Some(value.into()),
            "ssl_key" => self.tls.key = Some(value.into()),
            other => return Err(format!("unknown option {other:?}")),
        }
        Ok(())
    }

    /// The statement time limit of one call: its own `statement_timeout` (infinity: none),
    /// else this instance's, else `default` (the insert loop's).
    pub fn statement_limit(
        &self,
        per_call: Option<f64>,
        default: Option<Duration>,
    ) -> Result<Option<Duration>, String> {
        match per_call {
            None => Ok(self.statement_timeout.or(default)),
            Some(v) => limit("statement_timeout", &v.to_string()),
        }
    }

    /// Checks the values a caller can get wrong; one message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("at least one node address is required".into());
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.endpoints {
            if !seen.insert(e) {
                return Err(format!("node {e} is listed twice"));
            }
        }
        if self.user.is_empty() {
            return Err("user must not be empty".into());
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("failure_detection", self.failure_detection),
            ("write_timeout", self.write_timeout),
            ("failover_timeout", self.failover_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be greater than 0"));
            }
        }
        if self.event_capacity == 0 {
            return Err("event_capacity must be at least 1".into());
        }
        self.tls.validate()
    }
}

#[cfg(test)]
mod tests;
