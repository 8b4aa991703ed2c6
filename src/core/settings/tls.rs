//! TLS settings, with MySQL's names (`ssl_mode` DISABLED | REQUIRED | VERIFY_CA |
//! VERIFY_IDENTITY, `ssl_ca`, `ssl_cert`, `ssl_key`), checked when they are given and turned
//! into the driver's options. The driver (rustls) always trusts the public web roots too, so
//! VERIFY_CA also accepts a certificate any public CA signed for any name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mysql::{ClientIdentity, SslOpts};

use crate::core::settings::error::SettingsError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP: the password crosses the network in the clear.
    Disabled,
    /// Encrypted, the server's certificate not checked.
    Required,
    /// Encrypted, the certificate signed by a trusted CA (`ssl_ca`, or a public one), any name.
    VerifyCa,
    /// As VERIFY_CA, and issued for the address the node was given by.
    VerifyIdentity,
}

impl FromStr for SslMode {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => Ok(SslMode::Disabled),
            "REQUIRED" => Ok(SslMode::Required),
            "VERIFY_CA" => Ok(SslMode::VerifyCa),
            "VERIFY_IDENTITY" => Ok(SslMode::VerifyIdentity),
            _ => Err(SettingsError::UnknownSslMode(s.to_owned())),
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// Unset: VERIFY_CA when `ca` is given (as the mysql client does), else DISABLED.
    pub mode: Option<SslMode>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Tls {
    pub fn mode(&self) -> SslMode {
        self.mode.unwrap_or(if self.ca.is_some() {
            SslMode::VerifyCa
        } else {
            SslMode::Disabled
        })
    }

    /// Catches what would otherwise surface at the first connect to every node: files that
    /// cannot be read or hold no PEM, a certificate without its key, TLS files with TLS off.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.cert.is_some() != self.key.is_some() {
            return Err(SettingsError::CertWithoutKey);
        }
        let files = [
            ("ssl_ca", &self.ca, "certificate"),
            ("ssl_cert", &self.cert, "certificate"),
            ("ssl_key", &self.key, "private key"),
        ];
        for (name, path, marker) in files {
            let Some(path) = path else { continue };
            if self.mode() == SslMode::Disabled {
                return Err(SettingsError::TlsDisabled(name));
            }
            check_pem(name, path, marker)?;
        }
        Ok(())
    }

    /// The driver's options; `None` for plain TCP.
    pub fn ssl_opts(&self) -> Option<SslOpts> {
        let mode = self.mode();
        if mode == SslMode::Disabled {
            return None;
        }
        let mut opts = SslOpts::default()
            .with_root_cert_path(self.ca.clone())
            .with_danger_skip_domain_validation(mode != SslMode::VerifyIdentity)
            .with_danger_accept_invalid_certs(mode == SslMode::Required);
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            opts = opts.with_client_identity(Some(ClientIdentity::new(cert.clone(), key.clone())));
        }
        Some(opts)
    }
}

/// `what` ("certificate", "private key") as PEM armour ends it: "...CERTIFICATE-----".
fn check_pem(name: &'static str, path: &Path, what: &'static str) -> Result<(), SettingsError> {
    let text = std::fs::read(path).map_err(|e| SettingsError::Unreadable {
        name,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let marker = format!("{}-----", what.to_uppercase());
    if !String::from_utf8_lossy(&text).contains(&marker) {
        return Err(SettingsError::NoPem {
            name,
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_by_mysql_names() {
        assert_eq!("verify_identity".parse(), Ok(SslMode::VerifyIdentity));
        assert_eq!("Verify-CA".parse(), Ok(SslMode::VerifyCa));
        assert!("PREFERRED"
            .parse::<SslMode>()
            .unwrap_err()
            .to_string()
            .contains("unknown ssl_mode"));
        assert_eq!(SslMode::VerifyCa.to_string(), "VERIFY_CA");
    }

    #[test]
    fn a_ca_alone_means_verify_ca() {
        let tls = Tls {
            ca: Some("/ca.pem".into()),
            ..Tls::default()
        };
        assert_eq!(tls.mode(), SslMode::VerifyCa);
        assert_eq!(Tls::default().mode(), SslMode::Disabled);
        assert!(Tls::default().ssl_opts().is_none());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("mm-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("x.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let cases = [
            (
                Tls {
                    mode: Some(SslMode::VerifyCa),
                    ca: Some(dir.join("nope.pem")),
                    ..Tls::default()
                },
                "ssl_ca: cannot read",
            ),
            (
                Tls {
                    mode: Some(SslMode::VerifyCa),
                    ca: Some(not_pem.clone()),
                    ..Tls::default()
                },
                "holds no PEM certificate",
            ),
            (
                Tls {
                    mode: Some(SslMode::Required),
                    cert: Some(not_pem.clone()),
                    ..Tls::default()
                },
                "go together",
            ),
            (
                Tls {
                    mode: Some(SslMode::Disabled),
                    ca: Some(not_pem.clone()),
                    ..Tls::default()
                },
                "ssl_mode is DISABLED",
            ),
        ];
        for (tls, want) in cases {
            let e = tls.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
