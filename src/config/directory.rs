//! The `[directory]` table: directory sync with an application credential (issue 10, part 2).
//! Off by default; when on, the panel reads the members of `groups` from Microsoft Graph with
//! the client-credentials grant every `interval_minutes` and keeps its users, their status and
//! their directory badges in step.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::auth::card::CardPipeline;

/// Attributes the panel always reads from `/users/delta`.
pub const BASE_ATTRIBUTES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "mailNickname",
    "accountEnabled",
    "department",
    "jobTitle",
    "employeeId",
    "preferredLanguage",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    pub enabled: bool,
    /// Object ids of the groups whose members (nested groups expanded) the panel knows.
    pub groups: Vec<String>,
    /// Minutes between two delta syncs (5 to 1440).
    pub interval_minutes: u32,
    /// Application (client) id used for the client-credentials grant; default `entra.client_id`.
    pub client_id: Option<String>,
    /// PEM private key of the app credential (0600); default `<state_dir>/directory/app.key`.
    pub key_file: Option<PathBuf>,
    /// PEM certificate uploaded to the app registration; default `<state_dir>/directory/app.crt`.
    pub certificate_file: Option<PathBuf>,
    /// A file (0600) holding a client secret, used instead of the certificate. Weaker: `doctor`
    /// says so.
    pub client_secret_file: Option<PathBuf>,
    /// Where the organisation keeps badge numbers: `employeeId`,
    /// `onPremisesExtensionAttributes.extensionAttributeN` (1 to 15) or `extension_<appId>_<name>`.
    pub card_attribute: Option<String>,
    /// Normalisation of the directory's badge format to the canonical number (same steps as
    /// `readers.normalise`).
    pub card_normalise: Vec<String>,
    /// Fleet-wide enrollment: write cards enrolled on the panel to `card_attribute` (needs the
    /// application permission User.ReadWrite.All), one badge per attribute, in the format
    /// `card_normalise` reads (its inverse; the canonical number when a step is lossy). See
    /// `directory::writeback`.
    pub write_cards: bool,
    /// More user attributes kept for workflow templates (`{attr:NAME}`).
    pub extra_attributes: Vec<String>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            enabled: false,
            groups: Vec::new(),
            interval_minutes: 40,
            client_id: None,
            key_file: None,
            certificate_file: None,
            client_secret_file: None,
            card_attribute: None,
            card_normalise: Vec::new(),
            write_cards: false,
            extra_attributes: Vec::new(),
        }
    }
}

/// Where a directory keeps badge numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardAttribute {
    EmployeeId,
    /// `onPremisesExtensionAttributes.extensionAttributeN`.
    ExtensionAttribute(u8),
    /// A directory extension property `extension_<appId without dashes>_<name>`.
    Extension(String),
}

impl CardAttribute {
    pub fn parse(s: &str) -> Result<CardAttribute, String> {
        if s == "employeeId" {
            return Ok(CardAttribute::EmployeeId);
        }
        if let Some(n) = s.strip_prefix("onPremisesExtensionAttributes.extensionAttribute") {
            return match n.parse::<u8>() {
                Ok(n) if (1..=15).contains(&n) => Ok(CardAttribute::ExtensionAttribute(n)),
                _ => Err(format!(
                    "extensionAttribute number must be 1 to 15, got {n:?}"
                )),
            };
        }
        if let Some(rest) = s.strip_prefix("extension_") {
            let ok = rest.split_once('_').is_some_and(|(app, name)| {
                app.len() == 32
                    && app.chars().all(|c| c.is_ascii_hexdigit())
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            return if ok {
                Ok(CardAttribute::Extension(s.to_string()))
            } else {
                Err("a directory extension is `extension_<app id without dashes>_<name>`".into())
            };
        }
        Err(format!(
            "{s:?} is not a supported attribute: use `employeeId`, \
             `onPremisesExtensionAttributes.extensionAttributeN` or `extension_<appId>_<name>`"
        ))
    }

    /// The property to name in `$select`.
    pub fn select_name(&self) -> String {
        match self {
            CardAttribute::EmployeeId => "employeeId".into(),
            CardAttribute::ExtensionAttribute(_) => "onPremisesExtensionAttributes".into(),
            CardAttribute::Extension(name) => name.clone(),
        }
    }

    /// The value in a Graph user object.
    pub fn read<'a>(&self, user: &'a serde_json::Value) -> Option<&'a str> {
        let v = match self {
            CardAttribute::EmployeeId => user.get("employeeId"),
            CardAttribute::ExtensionAttribute(n) => user
                .get("onPremisesExtensionAttributes")
                .and_then(|e| e.get(format!("extensionAttribute{n}"))),
            CardAttribute::Extension(name) => user.get(name),
        }?;
        v.as_str().filter(|s| !s.trim().is_empty())
    }
}

impl DirectoryConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval_minutes) * 60)
    }

    pub fn card_attribute(&self) -> Option<CardAttribute> {
        self.card_attribute
            .as_deref()
            .and_then(|s| CardAttribute::parse(s).ok())
    }

    /// The directory badge pipeline (`directory.card_normalise`).
    pub fn card_pipeline(&self) -> Result<CardPipeline, ConfigError> {
        CardPipeline::parse(&self.card_normalise).map_err(|e| match e {
            crate::auth::card::CardError::BadStep { index, reason, .. } => {
                invalid(format!("directory.card_normalise[{index}]"), reason)
            }
            other => invalid("directory.card_normalise", other.to_string()),
        })
    }

    /// `$select` of `/users/delta`: exactly the attributes the panel uses.
    pub fn select(&self) -> Vec<String> {
        let mut out: Vec<String> = BASE_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
        if let Some(a) = self.card_attribute() {
            out.push(a.select_name());
        }
        out.extend(self.extra_attributes.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        out.retain(|a| seen.insert(a.clone()));
        out
    }

    pub(super) fn validate(&self, tenant_is_specific: bool) -> Result<(), ConfigError> {
        if !(5..=1440).contains(&self.interval_minutes) {
            return Err(invalid(
                "directory.interval_minutes",
                format!(
                    "must be between 5 and 1440 (one day), got {}",
                    self.interval_minutes
                ),
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if uuid::Uuid::try_parse(g).is_err() || g.len() != 36 {
                return Err(invalid(
                    format!("directory.groups[{i}]"),
                    format!("must be a group object id (a GUID), got {g:?}"),
                ));
            }
        }
        if let Some(id) = &self.client_id {
            if uuid::Uuid::try_parse(id).is_err() || id.len() != 36 {
                return Err(invalid(
                    "directory.client_id",
                    format!("must be an application (client) id, a GUID, got {id:?}"),
                ));
            }
        }
        for (key, p) in [
            ("directory.key_file", &self.key_file),
            ("directory.certificate_file", &self.certificate_file),
            ("directory.client_secret_file", &self.client_secret_file),
        ] {
            if let Some(p) = p.as_deref().filter(|p| !p.is_absolute()) {
                return Err(invalid(key, format!("must be an absolute path, got {p:?}")));
            }
        }
        if let Some(a) = &self.card_attribute {
            CardAttribute::parse(a).map_err(|r| invalid("directory.card_attribute", r))?;
        }
        self.card_pipeline()?;
        for (i, a) in self.extra_attributes.iter().enumerate() {
            let ok = !a.is_empty()
                && a.len() <= 120
                && a.starts_with(|c: char| c.is_ascii_alphabetic())
                && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(invalid(
                    format!("directory.extra_attributes[{i}]"),
                    format!(
                        "must be a Graph user property name such as `officeLocation`, got {a:?}"
                    ),
                ));
            }
        }
        if self.write_cards && self.card_attribute.is_none() {
            return Err(invalid(
                "directory.write_cards",
                "needs directory.card_attribute: the attribute the cards are written to",
            ));
        }
        if self.write_cards && !self.enabled {
            // Refused rather than ignored: an administrator must not believe badges reach the
            // fleet when nothing writes them.
            return Err(invalid(
                "directory.write_cards",
                "needs directory.enabled = true: the directory worker writes the cards",
            ));
        }
        if self.enabled {
            if self.groups.is_empty() {
                return Err(ConfigError::Missing {
                    key: "directory.groups".into(),
                    hint: "list the object ids of the groups whose members use this panel".into(),
                });
            }
            if !tenant_is_specific {
                return Err(invalid(
                    "directory.enabled",
                    "an application credential works in one tenant: set entra.tenant to your \
                     tenant id or verified domain, not \"organizations\"",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_attributes() {
        assert_eq!(
            CardAttribute::parse("employeeId"),
            Ok(CardAttribute::EmployeeId)
        );
        assert_eq!(
            CardAttribute::parse("onPremisesExtensionAttributes.extensionAttribute3"),
            Ok(CardAttribute::ExtensionAttribute(3))
        );
        assert!(
            CardAttribute::parse("onPremisesExtensionAttributes.extensionAttribute16").is_err()
        );
        assert!(CardAttribute::parse("extension_3b8e4d2a1c6f4f0b9a7d5e2c8b1f6a90_badge").is_ok());
        assert!(CardAttribute::parse("extension_short_badge").is_err());
        assert!(CardAttribute::parse("mail").is_err());
        let user = serde_json::json!({
            "employeeId": "E1",
            "onPremisesExtensionAttributes": {"extensionAttribute3": "04A1"},
        });
        assert_eq!(
            CardAttribute::ExtensionAttribute(3).read(&user),
            Some("04A1")
        );
        assert_eq!(CardAttribute::ExtensionAttribute(4).read(&user), None);
        assert_eq!(CardAttribute::EmployeeId.read(&user), Some("E1"));
    }

    #[test]
    fn each_bad_value_names_its_key() {
        type BreakIt = Box<dyn Fn(&mut crate::config::Config)>;
        let cases: Vec<(&str, BreakIt)> = vec![
            ("directory.groups", Box::new(|c| c.directory.groups.clear())),
            (
                "directory.groups[0]",
                Box::new(|c| c.directory.groups = vec!["kiosk-users".into()]),
            ),
            (
                "directory.interval_minutes",
                Box::new(|c| c.directory.interval_minutes = 1),
            ),
            (
                "directory.card_attribute",
                Box::new(|c| c.directory.card_attribute = Some("mail".into())),
            ),
            (
                "directory.card_normalise[1]",
                Box::new(|c| c.directory.card_normalise = vec!["trim".into(), "hex".into()]),
            ),
            (
                "directory.write_cards",
                Box::new(|c| {
                    c.directory.write_cards = true;
                    c.directory.card_attribute = None;
                }),
            ),
            (
                "directory.write_cards",
                Box::new(|c| {
                    c.directory.write_cards = true;
                    c.directory.enabled = false;
                }),
            ),
            (
                "directory.extra_attributes[0]",
                Box::new(|c| c.directory.extra_attributes = vec!["office location".into()]),
            ),
            (
                "directory.key_file",
                Box::new(|c| c.directory.key_file = Some("app.key".into())),
            ),
            (
                "directory.enabled",
                Box::new(|c| {
                    c.entra.tenant = "organizations".into();
                    c.entra.allowed_tenants = vec!["6f1c2b7e-94d3-4a51-8c0e-2d7f5a9b3e14".into()];
                }),
            ),
        ];
        for (key, break_it) in cases {
            let mut c = crate::config::Config::demo_default();
            assert!(c.directory.enabled, "the demo syncs its directory");
            break_it(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        }
    }

    #[test]
    fn select_lists_exactly_the_used_attributes() {
        let c = DirectoryConfig {
            card_attribute: Some("onPremisesExtensionAttributes.extensionAttribute3".into()),
            extra_attributes: vec!["officeLocation".into(), "department".into()],
            ..Default::default()
        };
        let s = c.select();
        assert_eq!(s.len(), BASE_ATTRIBUTES.len() + 2);
        assert!(s.contains(&"onPremisesExtensionAttributes".to_string()));
        assert!(s.contains(&"officeLocation".to_string()));
    }
}
