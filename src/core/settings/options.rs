//! The options a caller may set by name, in one table: each option's name, the kind of value it
//! takes, its default and what it does. Keyword arguments (`src/py/multimaster.rs`), URL query
//! keys (`url.rs`) and option file lines (`optfile.rs`) are all read through it, each into a
//! typed [`OptionValue`]: a number given as a number never becomes text on the way. The
//! Python signature (`python/multimaster/client.py`'s `Options`) is checked against
//! [`OPTIONS`] by `tests/test_settings.py`.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::failure::backoff::Backoff;
use crate::core::failure::policy::Policy;
use crate::core::settings::address::Endpoint;
use crate::core::settings::config::{limit, Config, Secret};
use crate::core::settings::error::{SettingsError, LIMIT, SECONDS, SWITCH, WHOLE};
use crate::core::settings::tls::{SslMode, Tls};

/// The kind of value an option takes, which also says how each source spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Seconds, zero or more: a number, or its text.
    Seconds,
    /// A time limit: positive seconds, or none (`None`, `inf`, `none`, empty text).
    Limit,
    /// A whole number.
    Count,
    /// `parity` or `sequential`.
    Policy,
    /// `DISABLED`, `REQUIRED`, `VERIFY_CA` or `VERIFY_IDENTITY`.
    SslMode,
    /// A file.
    Path,
    /// On or off: a boolean, or `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    Switch,
}

/// An option's value, typed by its [`Kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    Seconds(Duration),
    Limit(Option<Duration>),
    Count(u64),
    Policy(Policy),
    SslMode(SslMode),
    Path(PathBuf),
    Switch(bool),
}

/// One row of the table.
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    /// `None`: unset unless given (a TLS file; `ssl_mode`, whose default follows `ssl_ca`).
    pub default: Option<OptionValue>,
    pub doc: &'static str,
    apply: fn(&mut Config, OptionValue) -> Result<(), SettingsError>,
}

/// One option as a source gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub spec: &'static Spec,
    pub value: OptionValue,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

const fn secs(s: u64) -> Option<OptionValue> {
    Some(OptionValue::Seconds(Duration::from_secs(s)))
}

/// The table. `Config::new` applies the defaults; a source sets what it names.
pub static OPTIONS: [Spec; 16] = [
    Spec {
        name: "policy",
        kind: Kind::Policy,
        default: Some(OptionValue::Policy(Policy::Parity)),
        doc: "which node a statement tries first: parity (request n on node n mod N), sequential, \
              key-affinity (a keyed write on the node its key hashes to) or least-loaded",
        apply: |c, v| {
            c.policy = v.policy()?;
            Ok(())
        },
    },
    Spec {
        name: "connect_timeout",
        kind: Kind::Seconds,
        default: secs(2),
        doc: "bounds a TCP connect and its handshake together",
        apply: |c, v| {
            c.connect_timeout = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "failure_detection",
        kind: Kind::Seconds,
        default: secs(3),
        doc: "a node silent to liveness checks this long is dead",
        apply: |c, v| {
            c.failure_detection = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "statement_timeout",
        kind: Kind::Limit,
        default: Some(OptionValue::Limit(None)),
        doc: "the longest a statement runs before it is killed on the server (none: no limit)",
        apply: |c, v| {
            c.statement_timeout = v.limit()?;
            Ok(())
        },
    },
    Spec {
        name: "write_timeout",
        kind: Kind::Seconds,
        default: secs(10),
        doc: "bounds a send blocked on a full socket buffer",
        apply: |c, v| {
            c.write_timeout = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "failover_timeout",
        kind: Kind::Seconds,
        default: secs(20),
        doc: "how long one call looks for a live node before AllNodesDownError",
        apply: |c, v| {
            c.failover_timeout = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "max_retries",
        kind: Kind::Count,
        default: Some(OptionValue::Count(10)),
        doc: "attempts of a statement refused with a retryable error (a conflict, a node not ready)",
        apply: |c, v| {
            c.max_retries = v.count("max_retries")?;
            Ok(())
        },
    },
    Spec {
        name: "backoff_base",
        kind: Kind::Seconds,
        default: Some(OptionValue::Seconds(Duration::from_millis(200))),
        doc: "the first pause of reconnect and retry backoff, doubled each time",
        apply: |c, v| {
            c.backoff.base = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "backoff_cap",
        kind: Kind::Seconds,
        default: secs(5),
        doc: "the longest pause of that backoff",
        apply: |c, v| {
            c.backoff.cap = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "discover",
        kind: Kind::Switch,
        default: Some(OptionValue::Switch(false)),
        doc: "read the cluster's members from its nodes and write through all of them (Galera, \
              Group Replication, Aurora)",
        apply: |c, v| {
            c.discover = v.switch()?;
            Ok(())
        },
    },
    Spec {
        name: "discover_interval",
        kind: Kind::Seconds,
        // A node that joins is in rotation within this (plus a connect): short beside the
        // minutes a state transfer takes, and one cheap status read per interval.
        default: secs(5),
        doc: "how often discover reads the members (also right after a node goes down or comes back)",
        apply: |c, v| {
            c.discover_interval = v.seconds()?;
            Ok(())
        },
    },
    Spec {
        name: "event_capacity",
        kind: Kind::Count,
        default: Some(OptionValue::Count(1000)),
        doc: "events kept for events()",
        apply: |c, v| {
            c.event_capacity = v.count("event_capacity")?;
            Ok(())
        },
    },
    Spec {
        name: "ssl_mode",
        kind: Kind::SslMode,
        default: None,
        doc: "DISABLED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY (default: VERIFY_CA with ssl_ca, else DISABLED)",
        apply: |c, v| {
            c.tls.mode = Some(v.ssl_mode()?);
            Ok(())
        },
    },
    Spec {
        name: "ssl_ca",
        kind: Kind::Path,
        default: None,
        doc: "the CA certificates (PEM) a server's certificate is checked against",
        apply: |c, v| {
            c.tls.ca = Some(v.path()?);
            Ok(())
        },
    },
    Spec {
        name: "ssl_cert",
        kind: Kind::Path,
        default: None,
        doc: "a client certificate (PEM), with ssl_key",
        apply: |c, v| {
            c.tls.cert = Some(v.path()?);
            Ok(())
        },
    },
    Spec {
        name: "ssl_key",
        kind: Kind::Path,
        default: None,
        doc: "the client certificate's private key (PEM), with ssl_cert",
        apply: |c, v| {
            c.tls.key = Some(v.path()?);
            Ok(())
        },
    },
];

/// The option called `name`; `read_timeout`, gone, says what replaced it.
pub fn find(name: &str) -> Result<&'static Spec, SettingsError> {
    match OPTIONS.iter().find(|s| s.name == name) {
        Some(spec) => Ok(spec),
        None if name == "read_timeout" => Err(SettingsError::ReadTimeoutGone),
        None => Err(SettingsError::UnknownOption(name.to_owned())),
    }
}

/// The option names, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().map(|s| s.name)
}

impl Spec {
    fn bad(&self, expected: &'static str, given: impl Into<String>) -> SettingsError {
        SettingsError::BadValue {
            name: self.name,
            expected,
            given: given.into(),
        }
    }

    fn setting(&'static self, value: OptionValue) -> Setting {
        Setting { spec: self, value }
    }

    /// The value from its text: a URL's query value, an option file's line.
    pub fn parse(&'static self, text: &str) -> Result<Setting, SettingsError> {
        let t = text.trim();
        let value = match self.kind {
            Kind::Seconds | Kind::Limit => {
                if self.kind == Kind::Limit && (t.is_empty() || t.eq_ignore_ascii_case("none")) {
                    return Ok(self.setting(OptionValue::Limit(None)));
                }
                let expected = if self.kind == Kind::Limit {
                    LIMIT
                } else {
                    SECONDS
                };
                let n = t
                    .parse::<f64>()
                    .map_err(|_| self.bad(expected, format!("{text:?}")))?;
                return self.number(n);
            }
            Kind::Count => {
                let n = t
                    .parse::<u64>()
                    .map_err(|_| self.bad(WHOLE, format!("{text:?}")))?;
                OptionValue::Count(n)
            }
            Kind::Policy => OptionValue::Policy(t.parse().map_err(SettingsError::Refused)?),
            Kind::SslMode => OptionValue::SslMode(t.parse()?),
            Kind::Path => OptionValue::Path(PathBuf::from(text)),
            Kind::Switch => OptionValue::Switch(match t.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(self.bad(SWITCH, format!("{text:?}"))),
            }),
        };
        Ok(self.setting(value))
    }

    /// The value of a time option given as a number (a keyword argument).
    pub fn number(&'static self, n: f64) -> Result<Setting, SettingsError> {
        let value = match self.kind {
            Kind::Seconds => OptionValue::Seconds(
                Duration::try_from_secs_f64(n).map_err(|_| self.bad(SECONDS, n.to_string()))?,
            ),
            Kind::Limit => {
                OptionValue::Limit(limit(n).ok_or_else(|| self.bad(LIMIT, n.to_string()))?)
            }
            _ => return Err(self.wrong_type("a number")),
        };
        Ok(self.setting(value))
    }

    /// The value of a count option given as a whole number.
    pub fn whole(&'static self, n: u64) -> Result<Setting, SettingsError> {
        match self.kind {
            Kind::Count => Ok(self.setting(OptionValue::Count(n))),
            _ => Err(self.wrong_type("a whole number")),
        }
    }

    /// The value of an on/off option given as a boolean.
    pub fn switch(&'static self, on: bool) -> Result<Setting, SettingsError> {
        match self.kind {
            Kind::Switch => Ok(self.setting(OptionValue::Switch(on))),
            _ => Err(self.wrong_type("a boolean")),
        }
    }

    /// The value of a file option given as a path.
    pub fn path(&'static self, p: PathBuf) -> Result<Setting, SettingsError> {
        match self.kind {
            Kind::Path => Ok(self.setting(OptionValue::Path(p))),
            _ => Err(self.wrong_type("a path")),
        }
    }

    fn wrong_type(&self, what: &str) -> SettingsError {
        SettingsError::WrongType {
            name: self.name.to_owned(),
            message: format!("does not take {what}"),
        }
    }
}

/// Seconds given as a number, for an argument that is no option (`insert_many`'s `interval`).
pub fn seconds(name: &'static str, n: f64) -> Result<Duration, SettingsError> {
    Duration::try_from_secs_f64(n).map_err(|_| SettingsError::BadValue {
        name,
        expected: SECONDS,
        given: n.to_string(),
    })
}

impl Config {
    /// The settings of `endpoints`, every option at its default ([`OPTIONS`]).
    pub fn new(endpoints: Vec<Endpoint>, user: impl Into<String>, password: Secret) -> Self {
        let mut config = Config {
            endpoints,
            database: None,
            user: user.into(),
            password,
            connect_timeout: Duration::ZERO,
            failure_detection: Duration::ZERO,
            statement_timeout: None,
            write_timeout: Duration::ZERO,
            policy: Policy::default(),
            failover_timeout: Duration::ZERO,
            backoff: Backoff::default(),
            max_retries: 0,
            event_capacity: 0,
            discover: false,
            discover_interval: Duration::ZERO,
            tls: Tls::default(),
        };
        for spec in &OPTIONS {
            if let Some(value) = spec.default.clone() {
                let default = Setting { spec, value };
                default
                    .apply(&mut config)
                    .expect("the table's defaults fit");
            }
        }
        config
    }
}

impl Setting {
    /// Sets this option on `config`.
    pub fn apply(&self, config: &mut Config) -> Result<(), SettingsError> {
        (self.spec.apply)(config, self.value.clone())
    }
}

/// `fn name(self) -> Result<T, SettingsError>` for each variant that holds a `T` as is.
macro_rules! extractors {
    ($($name:ident -> $t:ty = $variant:ident;)*) => {$(
        fn $name(self) -> Result<$t, SettingsError> {
            match self {
                OptionValue::$variant(v) => Ok(v),
                v => Err(v.mismatch()),
            }
        }
    )*};
}

impl OptionValue {
    fn mismatch(&self) -> SettingsError {
        // Values are made by `Spec`, by kind: a mismatch is a bug in the table.
        SettingsError::Refused(format!("internal: {self:?} does not fit this option"))
    }
    extractors! {
        seconds -> Duration = Seconds;
        limit -> Option<Duration> = Limit;
        policy -> Policy = Policy;
        ssl_mode -> SslMode = SslMode;
        path -> PathBuf = Path;
        switch -> bool = Switch;
    }

    fn count<T: TryFrom<u64>>(self, name: &'static str) -> Result<T, SettingsError> {
        match self {
            OptionValue::Count(n) => T::try_from(n).map_err(|_| SettingsError::TooLarge {
                name,
                given: n.to_string(),
            }),
            v => Err(v.mismatch()),
        }
    }
}

#[cfg(test)]
mod tests;
