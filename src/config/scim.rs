//! The `[scim]` table: the SCIM 2.0 endpoint that Microsoft Entra's provisioning service
//! drives (issue 11). Off by default; listens on loopback unless told otherwise, and off
//! loopback only over TLS. The bearer token is kept as a hash only.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScimConfig {
    pub enabled: bool,
    /// `address:port`; default `127.0.0.1:9443` (the provisioning agent on the same host or an
    /// SSH tunnel). Any other address needs `tls_certificate_file` and `tls_key_file`.
    pub listen: String,
    /// PEM certificate chain and private key for TLS.
    pub tls_certificate_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// `sha256:<hex>` of the bearer token (`mfp-kiosk scim token` prints the line).
    pub token_hash: Option<String>,
    /// Largest request body accepted, in KiB (1 to 16384); larger ones get 413.
    pub max_body_kib: u32,
    /// Requests per minute per client address (burst of the same size); more get 429.
    pub rate_limit_per_minute: u32,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            enabled: false,
            listen: "127.0.0.1:9443".into(),
            tls_certificate_file: None,
            tls_key_file: None,
            token_hash: None,
            max_body_kib: 1024,
            rate_limit_per_minute: 1200,
        }
    }
}

impl ScimConfig {
    /// The parsed listen address (checked by [`ScimConfig::validate`]).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.trim().parse().map_err(|_| {
            invalid(
                "scim.listen",
                format!(
                    "must be address:port such as 127.0.0.1:9443 or [::]:9443, got {:?}",
                    self.listen
                ),
            )
        })
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_kib as usize * 1024
    }

    pub(super) fn validate(&self, directory_enabled: bool) -> Result<(), ConfigError> {
        let addr = self.listen_addr()?;
        if let Some(h) = &self.token_hash {
            crate::scim::auth::TokenHash::parse(h)
                .map_err(|e| invalid("scim.token_hash", e.to_string()))?;
        }
        for (key, p) in [
            ("scim.tls_certificate_file", &self.tls_certificate_file),
            ("scim.tls_key_file", &self.tls_key_file),
        ] {
            if let Some(p) = p.as_deref().filter(|p| !p.is_absolute()) {
                return Err(invalid(key, format!("must be an absolute path, got {p:?}")));
            }
        }
        if self.tls_certificate_file.is_some() != self.tls_key_file.is_some() {
            let key = if self.tls_certificate_file.is_none() {
                "scim.tls_certificate_file"
            } else {
                "scim.tls_key_file"
            };
            return Err(ConfigError::Missing {
                key: key.into(),
                hint: "TLS needs both the certificate chain and its private key".into(),
            });
        }
        if !addr.ip().is_loopback() && self.tls_certificate_file.is_none() {
            return Err(ConfigError::Missing {
                key: "scim.tls_certificate_file".into(),
                hint: format!(
                    "scim.listen {addr} is not loopback: the token and the directory would cross \
                     the network in clear; set scim.tls_certificate_file and scim.tls_key_file"
                ),
            });
        }
        if !(1..=16384).contains(&self.max_body_kib) {
            return Err(invalid(
                "scim.max_body_kib",
                format!("must be between 1 and 16384, got {}", self.max_body_kib),
            ));
        }
        if !(1..=1_000_000).contains(&self.rate_limit_per_minute) {
            return Err(invalid(
                "scim.rate_limit_per_minute",
                format!(
                    "must be between 1 and 1000000, got {}",
                    self.rate_limit_per_minute
                ),
            ));
        }
        if self.enabled {
            if self.token_hash.is_none() {
                return Err(ConfigError::Missing {
                    key: "scim.token_hash".into(),
                    hint: "run `mfp-kiosk scim token` and paste the line it prints".into(),
                });
            }
            if directory_enabled {
                // Both would stage the same users and the sync's sweep would undo SCIM's work.
                return Err(invalid(
                    "scim.enabled",
                    "the panel takes its users from one source: turn directory.enabled off \
                     when Entra provisions it through SCIM",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> ScimConfig {
        ScimConfig {
            enabled: true,
            token_hash: Some(crate::scim::auth::generate().1.to_config()),
            ..Default::default()
        }
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let key = |c: ScimConfig, dir: bool| match c.validate(dir) {
            Err(ConfigError::Invalid { key, .. } | ConfigError::Missing { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        assert!(on().validate(false).is_ok());
        assert!(
            ScimConfig::default().validate(true).is_ok(),
            "off: no conflict"
        );
        let mut c = on();
        c.listen = "0.0.0.0:9443".into();
        assert_eq!(key(c.clone(), false), "scim.tls_certificate_file");
        c.tls_certificate_file = Some("/etc/mfp-kiosk/scim.crt".into());
        assert_eq!(key(c.clone(), false), "scim.tls_key_file");
        c.tls_key_file = Some("/etc/mfp-kiosk/scim.key".into());
        assert!(c.validate(false).is_ok());
        let mut c = on();
        c.token_hash = None;
        assert_eq!(key(c, false), "scim.token_hash");
        let mut c = on();
        c.token_hash = Some("hunter2".into());
        assert_eq!(key(c, false), "scim.token_hash");
        let mut c = on();
        c.listen = "localhost".into();
        assert_eq!(key(c, false), "scim.listen");
        let mut c = on();
        c.max_body_kib = 0;
        assert_eq!(key(c, false), "scim.max_body_kib");
        let mut c = on();
        c.rate_limit_per_minute = 0;
        assert_eq!(key(c, false), "scim.rate_limit_per_minute");
        assert_eq!(key(on(), true), "scim.enabled");
    }
}
