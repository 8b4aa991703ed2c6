//! Where a MultiMaster's settings come from, and which source wins: an explicit argument, then
//! a connection URL, then an option file (`~/.my.cnf`), then the environment (`MYSQL_PWD`,
//! `MYSQL_HOST`), then the defaults in `Config::new`.

pub mod address;
pub mod config;
pub mod error;
pub mod layer;
pub mod optfile;
pub mod options;
pub mod tls;
pub mod url;

use crate::core::settings::address::Endpoint;
use crate::core::settings::config::{Config, Secret};
use crate::core::settings::error::SettingsError;
pub use crate::core::settings::layer::{parse_hosts, Layer};

/// The settings, `layers` ordered from the highest precedence to the lowest.
pub fn resolve(layers: Vec<Layer>) -> Result<Config, SettingsError> {
    let mut endpoints = None;
    let (mut user, mut password, mut database) = (None, None, None);
    for layer in &layers {
        if endpoints.is_none() && !layer.endpoints.is_empty() {
            endpoints = Some(layer.endpoints.clone());
        }
        user = user.or_else(|| layer.user.clone().filter(|u| !u.is_empty()));
        password = password.or_else(|| layer.password.clone());
        database = database.or_else(|| layer.database.clone());
    }
    let endpoints = endpoints.ok_or(SettingsError::NoNodes)?;
    let user = user.ok_or(SettingsError::NoUser)?;
    let mut cfg = Config::new(endpoints, user, password.unwrap_or_default());
    cfg.database = database.filter(|d| !d.is_empty());
    // Lowest precedence first, so that higher layers overwrite.
    for layer in layers.iter().rev() {
        for setting in &layer.options {
            setting.apply(&mut cfg)?;
        }
    }
    Ok(cfg)
}

/// The settings of a MultiMaster from everything it was given, in precedence order: the
/// explicit arguments, the nodes argument (a URL may bring more), the option file, then the
/// environment (read through `var`).
pub fn gather(
    explicit: Layer,
    nodes: Option<Layer>,
    option_file: Option<&std::path::Path>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Config, SettingsError> {
    let mut layers = vec![explicit];
    layers.extend(nodes);
    if let Some(path) = option_file {
        layers.push(crate::core::settings::optfile::read(
            &expand_home(path),
            "client",
        )?);
    }
    layers.push(from_env(var)?);
    resolve(layers)
}

/// `~/x` as the user's home directory, as the shell and the mysql client read it.
pub fn expand_home(path: &std::path::Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// The layer of a `nodes` argument given as text: a connection URL (which may also bring the
/// user, password, database and options) or comma-separated addresses.
pub fn from_text(text: &str) -> Result<Layer, SettingsError> {
    if crate::core::settings::url::is_url(text) {
        return crate::core::settings::url::parse(text);
    }
    Ok(Layer {
        endpoints: parse_hosts(text, None)?,
        ..Layer::default()
    })
}

/// The layer of a `nodes` argument given as a list of addresses.
pub fn from_list(addresses: &[String]) -> Result<Layer, SettingsError> {
    let endpoints = addresses.iter().map(|a| a.parse::<Endpoint>());
    Ok(Layer {
        endpoints: endpoints.collect::<Result<_, _>>()?,
        ..Layer::default()
    })
}

/// The environment's layer, as the mysql client reads it: `MYSQL_PWD` and `MYSQL_HOST`.
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, SettingsError> {
    let mut layer = Layer {
        password: var("MYSQL_PWD").map(Secret::new),
        ..Layer::default()
    };
    if let Some(host) = var("MYSQL_HOST").filter(|h| !h.trim().is_empty()) {
        layer.endpoints = parse_hosts(&host, None).map_err(SettingsError::EnvHost)?;
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_as_text_or_a_list() {
        let text = from_text("db1, db2:3307").unwrap();
        let hosts: Vec<String> = text.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(hosts, ["db1:3306", "db2:3307"]);
        let url = from_text("mysql://u:p@db1/demo?policy=sequential").unwrap();
        assert_eq!(
            (url.user.as_deref(), url.database.as_deref()),
            (Some("u"), Some("demo"))
        );
        let list = from_list(&["db1".into(), "[::1]:3307".into()]).unwrap();
        assert_eq!(list.endpoints.len(), 2);
        assert!(from_list(&["db1:notaport".into()]).is_err());
        let e = from_text("mysql://u:secret@db1?colour=red")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour") && !e.contains("secret"), "{e}");
    }

    fn layer(host: &str, user: Option<&str>, pw: Option<&str>, opts: &[(&str, &str)]) -> Layer {
        Layer {
            endpoints: if host.is_empty() {
                vec![]
            } else {
                parse_hosts(host, None).unwrap()
            },
            user: user.map(str::to_owned),
            password: pw.map(Secret::new),
            database: None,
            options: opts
                .iter()
                .map(|(k, v)| options::find(k).unwrap().parse(v).unwrap())
                .collect(),
        }
    }

    #[test]
    fn the_first_layer_that_says_wins_field_by_field() {
        let explicit = layer("", None, Some("arg"), &[("connect_timeout", "1")]);
        let url = layer(
            "u1,u2",
            Some("url-user"),
            None,
            &[("connect_timeout", "3"), ("policy", "sequential")],
        );
        let file = layer(
            "f1",
            Some("file-user"),
            Some("file-pw"),
            &[("failure_detection", "30")],
        );
        let env = layer("e1", None, Some("env-pw"), &[]);
        let c = resolve(vec![explicit, url, file, env]).unwrap();
        let hosts: Vec<String> = c.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(hosts, ["u1:3306", "u2:3306"]);
        assert_eq!((c.user.as_str(), c.password.expose()), ("url-user", "arg"));
        assert_eq!(
            c.connect_timeout,
            std::time::Duration::from_secs(1),
            "explicit over URL"
        );
        assert_eq!(
            c.failure_detection,
            std::time::Duration::from_secs(30),
            "the file's, unopposed"
        );
        assert_eq!(c.policy.to_string(), "sequential");
    }

    #[test]
    fn lower_layers_fill_what_higher_ones_leave() {
        let c = resolve(vec![
            layer("", Some("u"), None, &[]),
            layer("e1:3307", None, Some("env-pw"), &[]),
        ])
        .unwrap();
        assert_eq!(
            (c.endpoints[0].to_string(), c.password.expose()),
            ("e1:3307".into(), "env-pw")
        );
        assert_eq!(
            resolve(vec![layer("h", None, None, &[])]).unwrap_err(),
            SettingsError::NoUser
        );
        assert_eq!(
            resolve(vec![layer("", Some("u"), None, &[])]).unwrap_err(),
            SettingsError::NoNodes
        );
    }

    #[test]
    fn environment_is_the_mysql_clients() {
        let env = |k: &str| match k {
            "MYSQL_PWD" => Some("pw".to_string()),
            "MYSQL_HOST" => Some("db1,db2:3307".to_string()),
            _ => None,
        };
        let l = from_env(env).unwrap();
        assert_eq!(l.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(l.endpoints.len(), 2);
        let bad = from_env(|k| (k == "MYSQL_HOST").then(|| "db1:x".to_string()))
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("MYSQL_HOST: bad node address"), "{bad}");
    }

    #[test]
    fn a_default_port_applies_to_hosts_without_one() {
        let hosts = parse_hosts("a,b:3307,[::1],[::2]:3308", Some(4000)).unwrap();
        let hosts: Vec<String> = hosts.iter().map(|e| e.to_string()).collect();
        assert_eq!(hosts, ["a:4000", "b:3307", "[::1]:4000", "[::2]:3308"]);
    }
}
