//! Node addresses: `host`, `host:port`, `[v6]` and `[v6]:port`, default port 3306.

use std::fmt;
use std::str::FromStr;

pub const DEFAULT_PORT: u16 = 3306;

/// One node's network address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad node address {input:?}: {reason}")]
pub struct AddressError {
    pub input: String,
    pub reason: &'static str,
}

impl Endpoint {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            host: host.into(),
            port,
        }
    }
}

impl FromStr for Endpoint {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| AddressError {
            // Text before an '@' may be user:password (a URL given where an address was
            // expected): it never reaches an error message.
            input: match input.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => input.to_owned(),
            },
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(fail("empty"));
        }
        if s.contains("://") || s.contains('/') || s.contains('@') {
            return Err(fail("expected host or host:port, not a URL"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("missing ']' after IPv6 address"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(fail("not an IPv6 address inside [ ]"));
            }
            match after {
                "" => (host, None),
                p if p.starts_with(':') => (host, Some(&p[1..])),
                _ => return Err(fail("unexpected text after ']'")),
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address has no room for a port: "::1" means host ::1.
            if s.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(fail("IPv6 addresses with a port need brackets: [v6]:port"));
            }
            (s, None)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() {
            return Err(fail("empty host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("host contains whitespace"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(fail("port must be a number from 1 to 65535")),
                Ok(p) => p,
            },
        };
        Ok(Endpoint::new(host, port))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let e: Endpoint = s.parse().unwrap();
        (e.host, e.port)
    }

    #[test]
    fn host_only_gets_default_port() {
        assert_eq!(ok("db1.example"), ("db1.example".into(), 3306));
        assert_eq!(ok(" 127.0.0.1 "), ("127.0.0.1".into(), 3306));
    }

    #[test]
    fn host_and_port() {
        assert_eq!(ok("db1:3307"), ("db1".into(), 3307));
        assert_eq!(ok("127.0.10.2:65535"), ("127.0.10.2".into(), 65535));
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(ok("[::1]:3310"), ("::1".into(), 3310));
        assert_eq!(ok("[::1]"), ("::1".into(), 3306));
        assert_eq!(ok("::1"), ("::1".into(), 3306));
        assert_eq!(
            "[::1]:3310".parse::<Endpoint>().unwrap().to_string(),
            "[::1]:3310"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "  ",
            ":3306",
            "db:",
            "db:0",
            "db:70000",
            "db:abc",
            "[::1",
            "[::1]x",
            "[zz]:1",
            "a:b:c",
            "mysql://db",
            "user@db",
            "db 1",
        ] {
            assert!(
                bad.parse::<Endpoint>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn error_names_input() {
        let e = "db:xx".parse::<Endpoint>().unwrap_err();
        assert!(e.to_string().contains("\"db:xx\""), "{e}");
    }

    #[test]
    fn display_round_trips() {
        for s in ["db:3306", "127.0.0.1:1", "[fe80::1]:3306"] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn credentials_in_a_bad_address_are_not_echoed() {
        let e = "admin:s3cret@db1"
            .parse::<Endpoint>()
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret") && e.contains("***@db1"), "{e}");
    }
}
