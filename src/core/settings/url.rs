//! Connection URLs: `mysql://user:pass@h1:3306,h2,[::1]:3307/demo?policy=parity`, also
//! `mariadb://`, a `+driver` suffix (`mysql+pymysql://`), and SQLAlchemy's repeated `?host=`
//! form. Errors name the offending part and never hold the password.

use crate::core::settings::address::Endpoint;
use crate::core::settings::config::Secret;
use crate::core::settings::error::SettingsError;
use crate::core::settings::layer::Layer;
use crate::core::settings::options;

fn bad(msg: impl Into<String>) -> SettingsError {
    SettingsError::Url(msg.into())
}

/// Whether `text` is meant as a URL rather than a list of addresses.
pub fn is_url(text: &str) -> bool {
    text.trim_start().contains("://")
}

/// Parses `text`; its query may set `host` and the options of `options::OPTIONS`.
pub fn parse(text: &str) -> Result<Layer, SettingsError> {
    let text = text.trim();
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| bad("expected mysql://user:password@host[:port][,host...]/database"))?;
    let base = scheme.split('+').next().unwrap_or_default();
    if !matches!(base.to_ascii_lowercase().as_str(), "mysql" | "mariadb") {
        return Err(bad(format!(
            "scheme {scheme:?}: expected mysql:// or mariadb://"
        )));
    }
    if rest.contains('#') {
        return Err(bad("a fragment (#...) has no meaning here"));
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // The last '@' ends the user info: a password may hold '@' only percent-encoded, but a
    // stray one must not leak the password into a host error.
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut url = Layer::default();
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        url.user = Some(decode(user, "user")?).filter(|u| !u.is_empty());
        url.password = password
            .map(|p| decode(p, "password").map(Secret::new))
            .transpose()
            // The password's own text stays out of the error.
            .map_err(|_| bad("the password has a bad percent-escape"))?;
    }
    if path.contains('/') {
        return Err(bad(format!("database {path:?}: one name expected")));
    }
    url.database = Some(decode(path, "database")?).filter(|d| !d.is_empty());
    // An empty authority is SQLAlchemy's `mysql:///db?host=...`; an empty entry in a list is a
    // node left out by mistake, refused as in a list or text of addresses (never dropped).
    if !hosts.is_empty() {
        for (n, host) in hosts.split(',').enumerate() {
            if host.is_empty() {
                return Err(bad(format!(
                    "hosts {hosts:?}: host {} of the list is empty",
                    n + 1
                )));
            }
            url.endpoints.push(endpoint(host)?);
        }
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("option {pair:?}: expected name=value")))?;
        let key = decode(key, "option name")?;
        let value = decode(value, &format!("option {key}"))?;
        if key == "host" {
            url.endpoints.push(endpoint(&value)?);
            continue;
        }
        let spec = options::find(&key).map_err(|e| match e {
            SettingsError::UnknownOption(_) => bad(format!(
                "unknown option {key:?}: expected one of {}",
                options::names().collect::<Vec<_>>().join(", ")
            )),
            other => bad(other.to_string()),
        })?;
        if url.options.iter().any(|s| s.spec == spec) {
            return Err(bad(format!("option {key:?} given twice")));
        }
        url.options
            .push(spec.parse(&value).map_err(|e| bad(e.to_string()))?);
    }
    if url.endpoints.is_empty() {
        return Err(bad("no host: give host[:port] after '@', or ?host=..."));
    }
    Ok(url)
}

fn endpoint(host: &str) -> Result<Endpoint, SettingsError> {
    let host = decode(host, "host")?;
    host.parse::<Endpoint>()
        .map_err(|e| bad(format!("host {host:?}: {e}")))
}

/// Percent-decoding (`%40` is `@`); `+` stays a plus, as in URLs (not forms).
fn decode(text: &str, what: &str) -> Result<String, SettingsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("{what}: bad percent-escape")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("{what}: not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(u: &Layer) -> Vec<String> {
        u.endpoints.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn full_form() {
        let u = parse(
            "mysql://admin:p%40ss%3Aw0rd@h1:3306,h2,[::1]:3307/demo?policy=parity&connect_timeout=1.5",
        )
        .unwrap();
        assert_eq!(hosts(&u), ["h1:3306", "h2:3306", "[::1]:3307"]);
        assert_eq!(u.user.as_deref(), Some("admin"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss:w0rd"));
        assert_eq!(u.database.as_deref(), Some("demo"));
        let find = |n| options::find(n).unwrap();
        assert_eq!(
            u.options,
            [
                find("policy").parse("parity").unwrap(),
                find("connect_timeout").number(1.5).unwrap()
            ]
        );
        assert!(
            !format!("{u:?}").contains("p@ss"),
            "Debug hides the password"
        );
    }

    #[test]
    fn accepted_forms() {
        let table = [
            (
                "mariadb://u@db1/demo",
                vec!["db1:3306"],
                Some("u"),
                Some("demo"),
            ),
            (
                "mysql+pymysql://u:p@db1:3307",
                vec!["db1:3307"],
                Some("u"),
                None,
            ),
            ("MySQL://db1/", vec!["db1:3306"], None, None),
            (
                "mysql://u:p@/demo?host=h1:3306&host=h2",
                vec!["h1:3306", "h2:3306"],
                Some("u"),
                Some("demo"),
            ),
            (
                "mysql://h1,h2?host=h3",
                vec!["h1:3306", "h2:3306", "h3:3306"],
                None,
                None,
            ),
            ("  mysql://u@h1  ", vec!["h1:3306"], Some("u"), None),
        ];
        for (text, want, user, db) in table {
            let u = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(hosts(&u), want, "{text}");
            assert_eq!(u.user.as_deref(), user, "{text}");
            assert_eq!(u.database.as_deref(), db, "{text}");
        }
    }

    #[test]
    fn malformed_urls_name_the_part() {
        let table = [
            ("db1:3306", "expected mysql://"),
            ("postgres://u@h/db", "scheme \"postgres\""),
            ("mysql://u:p@h1:notaport/demo", "host \"h1:notaport\""),
            ("mysql://u:p@h1:70000", "host \"h1:70000\""),
            ("mysql://u:p@/demo", "no host"),
            (
                "mysql://u:p@h1/demo?colour=red",
                "unknown option \"colour\"",
            ),
            (
                "mysql://h1?read_timeout=10",
                "read_timeout no longer exists: a node is judged dead by failure_detection",
            ),
            (
                "mysql://h1?policy",
                "option \"policy\": expected name=value",
            ),
            (
                "mysql://h1?policy=parity&policy=sequential",
                "option \"policy\" given twice",
            ),
            ("mysql://h1/demo/x", "database \"demo/x\""),
            ("mysql://u%zz@h1", "user: bad percent-escape"),
            ("mysql://h1/demo#frag", "fragment"),
            (
                "mysql://h1?connect_timeout=soon",
                "connect_timeout must be a non-negative number of seconds, not \"soon\"",
            ),
            ("mysql://[::1/demo", "host \"[::1\""),
            // A node left out of the list is refused, never silently dropped.
            (
                "mysql://u@db1:3306,/demo",
                "hosts \"db1:3306,\": host 2 of the list is empty",
            ),
            (
                "mysql://u@,db1/demo",
                "hosts \",db1\": host 1 of the list is empty",
            ),
            (
                "mysql://db1,,db2/demo",
                "hosts \"db1,,db2\": host 2 of the list is empty",
            ),
            ("mysql://h1/demo?host=", "host \"\": bad node address"),
        ];
        for (text, want) in table {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("bad connection URL: "), "{e}");
        }
    }

    #[test]
    fn errors_never_hold_the_password() {
        for text in [
            "mysql://admin:s3cret@h1:bad/demo",
            "mysql://admin:s3cret%zz@h1/demo",
            "mysql://admin:s3cret@h1/demo?nope=1",
            "mysql://admin:s3cret@/demo",
            "mysql://admin:s3cret@h1,/demo",
            "mysql://admin:s3cret@h1@h2:x",
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{text}: {e}");
        }
    }

    #[test]
    fn tells_urls_from_addresses() {
        assert!(is_url("mysql://h1"));
        assert!(!is_url("h1:3306,h2"));
    }
}
