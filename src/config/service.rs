//! The `[service]` section: how the technician's service menu is reached without a technician
//! sign-in (the service PIN) and how long it stays open untouched.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Shortest and longest accepted service-menu timeout.
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 15..=3600;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// argon2id PHC string of the service PIN (`mfp-kiosk service-pin` prints one); unset, the
    /// long press on the panel name does nothing and only technicians get in.
    pub pin_hash: Option<String>,
    /// The service menu closes after this many seconds untouched.
    pub inactivity_timeout_secs: u64,
    /// Wrong service PINs, panel-wide, before the service-PIN pad pauses.
    pub pin_max_attempts: u32,
    /// First pause after `pin_max_attempts` wrong PINs; each further wrong PIN doubles it.
    pub pin_lockout_base_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            pin_hash: None,
            inactivity_timeout_secs: 120,
            pin_max_attempts: 3,
            pin_lockout_base_secs: 60,
        }
    }
}

impl ServiceConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(hash) = &self.pin_hash {
            let parsed = argon2::PasswordHash::new(hash).map_err(|e| {
                invalid(
                    "service.pin_hash",
                    format!("not a PHC string ({e}); make one with `mfp-kiosk service-pin`"),
                )
            })?;
            if parsed.algorithm.as_str() != "argon2id" {
                return Err(invalid(
                    "service.pin_hash",
                    format!(
                        "must be an argon2id hash, not {}; make one with `mfp-kiosk service-pin`",
                        parsed.algorithm
                    ),
                ));
            }
        }
        if !TIMEOUT_RANGE.contains(&self.inactivity_timeout_secs) {
            return Err(invalid(
                "service.inactivity_timeout_secs",
                format!(
                    "must be between {} and {} seconds",
                    TIMEOUT_RANGE.start(),
                    TIMEOUT_RANGE.end()
                ),
            ));
        }
        if self.pin_max_attempts == 0 {
            return Err(invalid("service.pin_max_attempts", "must be at least 1"));
        }
        if self.pin_lockout_base_secs == 0 {
            return Err(invalid(
                "service.pin_lockout_base_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: ServiceConfig) -> String {
        c.validate()
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(check(ServiceConfig::default()), "");
        let err = check(ServiceConfig {
            pin_hash: Some("1234".into()),
            ..ServiceConfig::default()
        });
        assert!(
            err.contains("service.pin_hash") && err.contains("service-pin"),
            "{err}"
        );
        let bcrypt_like = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$SqlVijFGiPG+935vDSGEsA";
        let err = check(ServiceConfig {
            pin_hash: Some(bcrypt_like.into()),
            ..ServiceConfig::default()
        });
        assert!(err.contains("argon2id"), "{err}");
        let err = check(ServiceConfig {
            inactivity_timeout_secs: 5,
            ..ServiceConfig::default()
        });
        assert!(err.contains("service.inactivity_timeout_secs"), "{err}");
    }
}
