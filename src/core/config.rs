//! Settings of one MultiMaster: nodes, credentials, timeouts, policy, retry limits.

use std::fmt;
use std::time::Duration;

use super::address::Endpoint;
use super::backoff::Backoff;
use super::policy::Policy;

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

#[derive(Clone, Debug)]
pub struct Config {
    pub endpoints: Vec<Endpoint>,
    pub database: Option<String>,
    pub user: String,
    pub password: Secret,
    /// TCP connect plus handshake. Short: a dead node must cost little.
    pub connect_timeout: Duration,
    /// Waiting for a statement's reply. Longer than Galera's write block after a peer
    /// crashes (about 6 s, the suspect timeout), or a healthy survivor is taken for dead.
    pub read_timeout: Duration,
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
}

impl Config {
    pub fn new(endpoints: Vec<Endpoint>, user: impl Into<String>, password: Secret) -> Self {
        Config {
            endpoints,
            database: None,
            user: user.into(),
            password,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            policy: Policy::Parity,
            failover_timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
            max_retries: 10,
            event_capacity: 1000,
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
            ("read_timeout", self.read_timeout),
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::new(
            vec!["a".parse().unwrap(), "b".parse().unwrap()],
            "admin",
            Secret::new("hunter2"),
        )
    }

    #[test]
    fn password_never_prints() {
        let c = cfg();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"));
        assert_eq!(c.password.expose(), "hunter2");
    }

    #[test]
    fn defaults_are_finite_and_read_outlasts_galera_write_block() {
        let c = cfg();
        assert!(c.validate().is_ok());
        assert!(c.read_timeout > Duration::from_secs(6));
        assert!(c.connect_timeout < c.read_timeout);
    }

    #[test]
    fn validate_names_the_problem() {
        let mut c = cfg();
        c.read_timeout = Duration::ZERO;
        assert!(c.validate().unwrap_err().contains("read_timeout"));
        let mut c = cfg();
        c.endpoints.push("a:3306".parse().unwrap());
        assert!(c.validate().unwrap_err().contains("listed twice"));
        let mut c = cfg();
        c.endpoints.clear();
        assert!(c.validate().is_err());
    }
}
