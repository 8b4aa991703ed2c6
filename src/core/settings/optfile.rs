//! MySQL option files (`~/.my.cnf`), read as the mysql client and PyMySQL read them: the
//! `[client]` group's user, password, host, port, database, the TLS options of the table
//! (`options.rs`: ssl-mode, ssl-ca, ssl-cert, ssl-key) and our `discover`,
//! `discover-interval`. `host` may list several nodes separated by commas (our extension);
//! other clients' options are left alone, but TLS options this client cannot honour are
//! refused.

use std::path::{Path, PathBuf};

use crate::core::settings::config::Secret;
use crate::core::settings::error::SettingsError;
use crate::core::settings::layer::{parse_hosts, Layer};
use crate::core::settings::options;

/// How deep `!include` may nest: a file including itself must end.
const MAX_DEPTH: usize = 10;

/// The layer a file gives for `group`; errors name the file and line.
pub fn read(path: &Path, group: &str) -> Result<Layer, SettingsError> {
    let mut pairs = Vec::new();
    collect(path, group, 0, &mut pairs).map_err(SettingsError::OptionFile)?;
    layer(&pairs).map_err(|e| SettingsError::OptionFile(format!("{}: {e}", path.display())))
}

fn collect(
    path: &Path,
    group: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{}: !include nested more than {MAX_DEPTH} deep",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read option file {}: {e}", path.display()))?;
    for line in parse(&text, group).map_err(|e| format!("{}: {e}", path.display()))? {
        match line {
            Line::Option(name, value) => out.push((name, value)),
            Line::Include(file) => collect(&relative(path, &file), group, depth + 1, out)?,
            Line::IncludeDir(dir) => {
                let dir = relative(path, &dir);
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "cnf"))
                    .collect();
                files.sort();
                for f in files {
                    collect(&f, group, depth + 1, out)?;
                }
            }
        }
    }
    Ok(())
}

fn relative(from: &Path, target: &str) -> PathBuf {
    let t = Path::new(target);
    match from.parent() {
        Some(dir) if t.is_relative() => dir.join(t),
        _ => t.to_path_buf(),
    }
}

#[derive(Debug, PartialEq)]
pub enum Line {
    Option(String, String),
    Include(String),
    IncludeDir(String),
}

/// The options of `group` in one file's text, and its includes (which apply wherever they are).
pub fn parse(text: &str, group: &str) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    let mut in_group = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |msg: &str| format!("line {}: {msg}", n + 1);
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("!includedir") {
            out.push(Line::IncludeDir(rest.trim().to_owned()));
        } else if let Some(rest) = line.strip_prefix("!include") {
            out.push(Line::Include(rest.trim().to_owned()));
        } else if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| at("a group needs a closing ']'"))?;
            in_group = name.trim().eq_ignore_ascii_case(group);
        } else if in_group {
            let (name, value) = match line.split_once('=') {
                Some((n, v)) => (n.trim(), unquote(v.trim()).map_err(|e| at(&e))?),
                None => (line, String::new()),
            };
            let name = name.to_ascii_lowercase().replace('_', "-");
            let name = name.strip_prefix("loose-").unwrap_or(&name).to_owned();
            out.push(Line::Option(name, value));
        }
    }
    Ok(out)
}

/// A value without its quotes and with MySQL's escapes; unquoted, a `#` starts a comment.
fn unquote(v: &str) -> Result<String, String> {
    let (body, quoted) = match v.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let end = v[1..].rfind(q).ok_or("an unterminated quoted value")? + 1;
            (&v[1..end], true)
        }
        _ => (v.split('#').next().unwrap_or_default().trim_end(), false),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some(other) if quoted => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

/// The TLS options an option file may set, as it spells them: "ssl-mode, ssl-ca, ...".
fn tls_options() -> String {
    let names: Vec<String> = options::names()
        .filter(|n| n.starts_with("ssl_"))
        .map(|n| n.replace('_', "-"))
        .collect();
    names.join(", ")
}

/// The settings the pairs give; a later pair wins, as in the mysql client.
fn layer(pairs: &[(String, String)]) -> Result<Layer, String> {
    let mut l = Layer::default();
    let (mut hosts, mut port) = (None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "user" => l.user = Some(value.clone()),
            "password" => l.password = Some(Secret::new(value.clone())),
            "host" => hosts = Some(value.clone()),
            "port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| {
                            format!("port must be a number from 1 to 65535, not {value:?}")
                        })?,
                )
            }
            "database" => l.database = Some(value.clone()),
            // The TLS options of the table, spelled with dashes as the mysql client does.
            n if n.starts_with("ssl") || n.starts_with("tls") => {
                let spec = options::find(&n.replace('-', "_"))
                    .ok()
                    .filter(|s| s.name.starts_with("ssl_"))
                    // Refused rather than ignored: the file asks for a TLS check this client
                    // does not make, and a quietly weaker connection is worse than an error.
                    .ok_or_else(|| format!("{n} is not supported ({} are)", tls_options()))?;
                l.options.retain(|s| s.spec != spec);
                l.options
                    .push(spec.parse(value).map_err(|e| e.to_string())?)
            }
            // Ours alone (no other client reads them): `discover`, `discover-interval`.
            n if n.starts_with("discover") => {
                let spec = options::find(&n.replace('-', "_")).map_err(|e| e.to_string())?;
                l.options.retain(|s| s.spec != spec);
                l.options
                    .push(spec.parse(value).map_err(|e| e.to_string())?)
            }
            _ => {} // another client's option
        }
    }
    if let Some(hosts) = hosts.filter(|h| !h.trim().is_empty()) {
        l.endpoints = parse_hosts(&hosts, port).map_err(|e| format!("host: {e}"))?;
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
# a comment
[mysqld]
user = mysql

[client]
user=admin
password = "p#ss \"w0rd\""
loose_host = db1,db2:3307   # two nodes
port=3308
database=demo
prompt = \u@\h>
[mysql]
user = other
"#;

    fn opts(lines: Vec<Line>) -> Vec<(String, String)> {
        lines
            .into_iter()
            .filter_map(|l| match l {
                Line::Option(n, v) => Some((n, v)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_the_client_group() {
        let pairs = opts(parse(FILE, "client").unwrap());
        let l = layer(&pairs).unwrap();
        assert_eq!(l.user.as_deref(), Some("admin"));
        assert_eq!(
            l.password.as_ref().map(Secret::expose),
            Some("p#ss \"w0rd\"")
        );
        let hosts: Vec<String> = l.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(hosts, ["db1:3308", "db2:3307"]);
        assert_eq!(l.database.as_deref(), Some("demo"));
    }

    #[test]
    fn values_unquote_and_unescape() {
        assert_eq!(unquote("'a b'").unwrap(), "a b");
        assert_eq!(unquote("a\\sb # c").unwrap(), "a b");
        assert_eq!(unquote(r#""x\\y""#).unwrap(), "x\\y");
        assert!(unquote("\"open").is_err());
    }

    #[test]
    fn malformed_files_name_the_line() {
        let e = parse("[client\nuser=a", "client").unwrap_err();
        assert_eq!(e, "line 1: a group needs a closing ']'");
        let e = layer(&[("port".into(), "x".into())]).unwrap_err();
        assert!(e.contains("port must be a number"), "{e}");
        let e = layer(&[("ssl-capath".into(), "/etc/ssl".into())]).unwrap_err();
        assert!(e.starts_with("ssl-capath is not supported"), "{e}");
        let d = layer(&[
            ("discover".into(), "true".into()),
            ("discover-interval".into(), "2.5".into()),
        ])
        .unwrap();
        let on = options::find("discover").unwrap().switch(true).unwrap();
        let every = options::find("discover_interval")
            .unwrap()
            .number(2.5)
            .unwrap();
        assert_eq!(d.options, vec![on, every]);
        let bad = layer(&[("discover".into(), "maybe".into())]).unwrap_err();
        assert!(bad.contains("true or false"), "{bad}");
        assert!(layer(&[("discoverer".into(), "1".into())]).is_err());
        let l = layer(&[("ssl-mode".into(), "VERIFY_CA".into())]).unwrap();
        let mode = options::find("ssl_mode").unwrap();
        assert_eq!(l.options, [mode.parse("VERIFY_CA").unwrap()]);
        let e = layer(&[("host".into(), "db1:x".into())]).unwrap_err();
        assert!(e.starts_with("host: bad node address"), "{e}");
    }

    #[test]
    fn includes_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("mm-optfile-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("my.cnf"),
            "[client]\nuser=a\n!include extra.cnf\n!includedir conf.d\n",
        )
        .unwrap();
        std::fs::write(dir.join("extra.cnf"), "[client]\npassword=pw\n").unwrap();
        std::fs::write(dir.join("conf.d/x.cnf"), "[client]\nhost=h1\n").unwrap();
        std::fs::write(dir.join("loop.cnf"), "!include loop.cnf\n").unwrap();
        let l = read(&dir.join("my.cnf"), "client").unwrap();
        assert_eq!(l.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(l.endpoints[0].to_string(), "h1:3306");
        assert!(read(&dir.join("loop.cnf"), "client")
            .unwrap_err()
            .to_string()
            .contains("nested more than"));
        let e = read(&dir.join("nope.cnf"), "client")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read option file"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
