//! What one source of settings says (a `Layer`), and the host lists every source spells the
//! same way. The readers (`url`, `optfile`) build layers; `settings` orders them.

use crate::core::settings::address::{AddressError, Endpoint};
use crate::core::settings::config::Secret;
use crate::core::settings::options::Setting;

/// What one source says; empty fields say nothing.
#[derive(Debug, Default, PartialEq)]
pub struct Layer {
    pub endpoints: Vec<Endpoint>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub database: Option<String>,
    /// Options of the table (`options::OPTIONS`), typed.
    pub options: Vec<Setting>,
}

/// `host[:port]` addresses separated by commas; `port` is the default for those without one.
pub fn parse_hosts(text: &str, port: Option<u16>) -> Result<Vec<Endpoint>, AddressError> {
    text.split(',')
        .map(|h| {
            let mut e: Endpoint = h.parse()?;
            if let Some(p) = port.filter(|_| !has_port(h)) {
                e.port = p;
            }
            Ok(e)
        })
        .collect()
}

fn has_port(text: &str) -> bool {
    let t = text.trim();
    match t.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => t.matches(':').count() == 1,
    }
}
