//! TOML configuration: parsing, defaults, the embedded demo default, validation with errors that
//! name the key.
//!
//! The whole file is read and checked once at start-up; a bad value stops the panel with a message
//! such as "config key `entra.client_id`: must be a GUID …" rather than failing later mid-session.
//! Every key is documented in `device/kiosk.example.toml`. `device.language` is the panel's
//! default language (one of [`crate::i18n::Language`]'s codes).
//!
//! Issue 13 keys: `entra.device_code` (default true; false hides Microsoft sign-in and needs a
//! `delivery = "app"` workflow) and `workflows[].delivery` (`user` or `app`).
//!
//! `validate` holds the rules; `toml_errors` turns deserializer errors (unknown key, missing key,
//! wrong type) into errors that name the key, with a "did you mean" for typos.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::auth::card::CardPipeline;
use crate::auth::pin::PinPolicy;
use crate::identity::provisioning::UsernameRule;

mod directory;
mod scim;
mod service;
mod toml_errors;
mod validate;
mod workflow_keys;

pub use directory::{CardAttribute, DirectoryConfig};
pub use scim::ScimConfig;
pub use service::ServiceConfig;

use toml_errors::{classify_data_error, line_col, one_line};
use validate::service_url;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/mfp-kiosk";
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com/v1.0";
pub const DEFAULT_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "Files.ReadWrite",
    "Sites.ReadWrite.All",
];
/// Tenant id in the demo default; the demo replaces it with the simulated tenant at start.
pub const DEMO_PLACEHOLDER_TENANT: &str = "00000000-0000-4000-8000-00000000de00";
/// Client id in the demo default; the demo replaces it with the simulated app at start.
pub const DEMO_PLACEHOLDER_CLIENT_ID: &str = "00000000-0000-4000-8000-00000000de01";
/// Placeholders allowed in workflow `folder` and `file_name` templates, besides `{attr:NAME}`
/// (and `{folder}`, only with `folder_attribute`).
pub const TEMPLATE_PLACEHOLDERS: &[&str] = &[
    "department",
    "date",
    "time",
    "user",
    "upn",
    "display_name",
    "workflow",
    "seq",
    "device",
];

const DEMO_TOML: &str = include_str!("../device/kiosk.demo.toml");

/// Why the configuration cannot be used. Every variant names the key (or line) to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file is not valid TOML at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "config key `{key}` (line {line}) is not a known setting{}",
        suggestion_text(.suggestion)
    )]
    UnknownKey {
        key: String,
        line: usize,
        suggestion: Option<String>,
    },
    #[error("config key `{key}` is required but missing: {hint}")]
    Missing { key: String, hint: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn suggestion_text(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub device: DeviceConfig,
    pub entra: EntraConfig,
    #[serde(default)]
    pub graph: GraphConfig,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub pin: PinConfig,
    #[serde(default)]
    pub identity: IdentityConfig,
    #[serde(default)]
    pub readers: ReadersConfig,
    #[serde(default)]
    pub workflows: Vec<WorkflowConfig>,
    #[serde(default)]
    pub directory: DirectoryConfig,
    #[serde(default)]
    pub demo: DemoConfig,
    #[serde(default)]
    pub service: ServiceConfig,
    #[serde(default)]
    pub scim: ScimConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// Shown in the UI and in the audit log; available to templates as `{device}`.
    pub name: String,
    /// Database, device key, spool. Empty = pick a per-user directory (see [`Config::state_dir`]).
    pub state_dir: PathBuf,
    /// Where scans wait for upload; default `<state_dir>/spool`.
    pub spool_dir: Option<PathBuf>,
    /// The panel's language between sessions: "en", "de", "fr", "es", "nl" or "ja". A
    /// signed-in user with a directory `preferredLanguage` the panel speaks gets theirs; the
    /// panel returns to this one at sign-out.
    pub language: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            name: "mfp-kiosk".into(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            spool_dir: None,
            language: "en".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    #[serde(default = "default_authority_host")]
    pub authority_host: String,
    /// Directory (tenant) id, a verified domain, or `organizations`.
    pub tenant: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
    #[serde(default)]
    pub allowed_upn_domains: Vec<String>,
    #[serde(default = "default_technician_role")]
    pub technician_role: String,
    #[serde(default)]
    pub username_rule: UsernameRule,
    #[serde(default)]
    pub username_prefix: String,
    /// `false` where Conditional Access blocks the device-code flow: the panel hides "Sign in
    /// with Microsoft" and self-enrollment; users come from the directory sync and scan with
    /// `delivery = "app"` workflows.
    #[serde(default = "default_true")]
    pub device_code: bool,
}

fn default_true() -> bool {
    true
}

fn default_authority_host() -> String {
    DEFAULT_AUTHORITY_HOST.into()
}
fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
}
fn default_technician_role() -> String {
    "Kiosk.Technician".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphConfig {
    pub endpoint: String,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            endpoint: DEFAULT_GRAPH_ENDPOINT.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    pub inactivity_timeout_secs: u64,
    pub countdown_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            inactivity_timeout_secs: 60,
            countdown_secs: 10,
        }
    }
}

/// Which credentials sign a user in at the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoginMode {
    Card,
    Pin,
    #[default]
    CardOrPin,
    CardAndPin,
}

impl LoginMode {
    pub fn needs_card_reader(self) -> bool {
        matches!(self, LoginMode::Card | LoginMode::CardAndPin)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinConfig {
    pub login_mode: LoginMode,
    pub min_length: usize,
    pub max_length: usize,
    pub max_attempts: u32,
    pub lockout_base_secs: u64,
    /// argon2id memory per PIN check in KiB; `mfp-kiosk calibrate-pin` picks it for the board.
    pub hash_memory_kib: u32,
    /// argon2id passes per PIN check.
    pub hash_passes: u32,
}

impl Default for PinConfig {
    fn default() -> Self {
        PinConfig {
            login_mode: LoginMode::CardOrPin,
            min_length: 4,
            max_length: 8,
            max_attempts: 5,
            lockout_base_secs: 30,
            hash_memory_kib: crate::auth::pin::PinHashParams::default().m_cost_kib,
            hash_passes: crate::auth::pin::PinHashParams::default().t_cost,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    pub offline_grace_hours: u32,
    pub offboarding_interval_minutes: u32,
    pub max_cards_per_user: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            offline_grace_hours: 72,
            offboarding_interval_minutes: 240,
            max_cards_per_user: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadersConfig {
    pub keyboard_wedge: Option<KeyboardWedgeConfig>,
    pub pcsc: PcscConfig,
    /// Card normalisation steps, see [`crate::auth::card::NormaliseStep`].
    pub normalise: Vec<String>,
    /// Desk set-ups only: read keys typed on the idle page (any keyboard the UI sees) as badge
    /// numbers. Off by default; see [`crate::app::idle_key_badges`].
    pub idle_keyboard_badges: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    #[default]
    Enter,
    Tab,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyboardWedgeConfig {
    /// `/dev/input/by-id/...`, `name:<evdev name>` or `usb:VVVV:PPPP` (hex vendor and product id).
    pub device: String,
    #[serde(default = "default_wedge_min")]
    pub min_length: usize,
    #[serde(default = "default_wedge_max")]
    pub max_length: usize,
    #[serde(default = "default_key_gap")]
    pub max_key_gap_ms: u64,
    #[serde(default)]
    pub terminator: Terminator,
}

fn default_wedge_min() -> usize {
    4
}
fn default_wedge_max() -> usize {
    32
}
fn default_key_gap() -> u64 {
    50
}

/// How the keyboard-wedge reader's input device is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WedgeDevice {
    Path(PathBuf),
    Name(String),
    Usb { vendor: u16, product: u16 },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcscConfig {
    pub enabled: bool,
    /// APDU sent to read the card number, as hex, when a card refuses GET DATA ("get UID",
    /// the default, always tried first). A card that answers neither is refused.
    pub apdu: String,
}

impl Default for PcscConfig {
    fn default() -> Self {
        PcscConfig {
            enabled: true,
            apdu: "FFCA000000".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// The signed-in user's own OneDrive for Business.
    Onedrive,
    /// A document library of a SharePoint site.
    Sharepoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    #[default]
    Color,
    Gray,
    Bw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    #[default]
    Flatbed,
    Adf,
    AdfDuplex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PageSize {
    #[default]
    A4,
    Letter,
    Legal,
    A5,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    pub id: String,
    pub label: String,
    pub destination: Destination,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_file_name")]
    pub file_name: String,
    /// SharePoint only: `hostname:/server-relative/path`, e.g. `contoso.sharepoint.com:/sites/Finance`.
    #[serde(default)]
    pub site: Option<String>,
    /// SharePoint only: the document library's name, e.g. `Documents`.
    #[serde(default)]
    pub library: Option<String>,
    #[serde(default = "default_dpi")]
    pub resolution_dpi: u32,
    #[serde(default)]
    pub color_mode: ColorMode,
    #[serde(default)]
    pub source: ScanSource,
    #[serde(default)]
    pub page_size: PageSize,
    /// App roles that may use this workflow; empty = everyone.
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    /// One tap scans with the defaults; no settings sheet.
    #[serde(default)]
    pub quick: bool,
    /// The user may change the file name on the sheet (on-screen keyboard).
    #[serde(default)]
    pub allow_rename: bool,
    /// Resolutions the sheet offers (those the scanner has); empty = 150, 200, 300 and
    /// `resolution_dpi`.
    #[serde(default)]
    pub resolutions: Vec<u32>,
    /// Flatbed only: after each page the panel asks "Another page?".
    #[serde(default = "default_true")]
    pub more_pages: bool,
    /// A multi-valued directory attribute (comma-separated folders): the user picks one of
    /// them on the sheet, and `{folder}` in `folder` is that folder.
    #[serde(default)]
    pub folder_attribute: Option<String>,
    /// Whose token uploads: the signed-in user's (`user`) or the panel's application identity
    /// (`app`, client-credentials grant with the `[directory]` credential).
    #[serde(default)]
    pub delivery: Delivery,
}

/// Which identity delivers a workflow's scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The signed-in user's delegated token (Microsoft sign-in, refreshed silently).
    #[default]
    User,
    /// The panel's app-only token: SharePoint sites granted with `Sites.Selected`, or a user's
    /// OneDrive through `/users/{id}/drive` with `Files.ReadWrite.All`.
    App,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::User => "user",
            Delivery::App => "app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Delivery::User),
            "app" => Some(Delivery::App),
            _ => None,
        }
    }
}

fn default_folder() -> String {
    "Scans".into()
}
fn default_file_name() -> String {
    "Scan {date} {time}.pdf".into()
}
fn default_dpi() -> u32 {
    300
}
impl WorkflowConfig {
    /// Whether a user holding `roles` may run this workflow.
    pub fn allows(&self, roles: &[String]) -> bool {
        self.allowed_roles.is_empty() || self.allowed_roles.iter().any(|r| roles.contains(r))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Approve a pending device-code sign-in automatically after this long; 0 = only the demo
    /// button approves.
    pub auto_approve_after_secs: u64,
    /// Where the simulated OneDrive/SharePoint stores files; default `<state_dir>/demo-drive`.
    pub drive_dir: Option<PathBuf>,
    /// Pages the simulated scanner produces per job.
    pub scanner_pages: u32,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            auto_approve_after_secs: 0,
            drive_dir: None,
            scanner_pages: 3,
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Parses and validates config text.
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        // Grammar first, so a syntax error is reported as such and not as a bad value.
        if let Err(e) = s.parse::<toml::Table>() {
            let (line, column) = e.span().map(|r| line_col(s, r.start)).unwrap_or((0, 0));
            return Err(ConfigError::Syntax {
                line,
                column,
                message: one_line(e.message()),
            });
        }
        let config: Config = toml::from_str(s).map_err(|e| classify_data_error(s, &e))?;
        config.validate()?;
        Ok(config)
    }

    /// The embedded demo configuration (`device/kiosk.demo.toml`).
    pub fn demo_default() -> Config {
        // The file is compiled in and checked by tests; failing here is a build defect.
        Self::from_toml_str(DEMO_TOML).expect("embedded device/kiosk.demo.toml is valid")
    }

    /// The state directory to use. An empty `device.state_dir` picks a per-user directory:
    /// `$XDG_STATE_HOME/mfp-kiosk` (usually `~/.local/state/mfp-kiosk`), or
    /// `<temp dir>/mfp-kiosk-<user>` when there is no home directory.
    pub fn state_dir(&self) -> PathBuf {
        if !self.device.state_dir.as_os_str().is_empty() {
            return self.device.state_dir.clone();
        }
        dirs::state_dir()
            .map(|d| d.join("mfp-kiosk"))
            .unwrap_or_else(|| {
                let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
                std::env::temp_dir().join(format!("mfp-kiosk-{user}"))
            })
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.device
            .spool_dir
            .clone()
            .unwrap_or_else(|| self.state_dir().join("spool"))
    }

    pub fn demo_drive_dir(&self) -> PathBuf {
        self.demo
            .drive_dir
            .clone()
            .unwrap_or_else(|| self.state_dir().join("demo-drive"))
    }

    pub fn workflow(&self, id: &str) -> Option<&WorkflowConfig> {
        self.workflows.iter().find(|w| w.id == id)
    }
}

impl EntraConfig {
    /// True for a multi-tenant (`organizations`) authority.
    pub fn is_multi_tenant(&self) -> bool {
        self.tenant.eq_ignore_ascii_case("organizations")
    }

    pub fn authority_host_url(&self) -> Result<Url, ConfigError> {
        service_url(
            "entra.authority_host",
            &self.authority_host,
            DEFAULT_AUTHORITY_HOST,
        )
    }
}

impl SessionConfig {
    pub fn inactivity_timeout(&self) -> Duration {
        Duration::from_secs(self.inactivity_timeout_secs)
    }
    pub fn countdown(&self) -> Duration {
        Duration::from_secs(self.countdown_secs)
    }
}

impl PinConfig {
    pub fn policy(&self) -> PinPolicy {
        PinPolicy {
            min_length: self.min_length,
            max_length: self.max_length,
        }
    }
    pub fn lockout_base(&self) -> Duration {
        Duration::from_secs(self.lockout_base_secs)
    }
}

impl IdentityConfig {
    pub fn offline_grace(&self) -> Duration {
        Duration::from_secs(u64::from(self.offline_grace_hours) * 3600)
    }
    pub fn offboarding_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.offboarding_interval_minutes) * 60)
    }
}

impl ReadersConfig {
    /// The parsed card normalisation pipeline.
    pub fn pipeline(&self) -> Result<CardPipeline, ConfigError> {
        CardPipeline::parse(&self.normalise).map_err(|e| match e {
            crate::auth::card::CardError::BadStep { index, reason, .. } => {
                invalid(format!("readers.normalise[{index}]"), reason)
            }
            other => invalid("readers.normalise", other.to_string()),
        })
    }
}

impl KeyboardWedgeConfig {
    pub fn device_selector(&self) -> Result<WedgeDevice, ConfigError> {
        const KEY: &str = "readers.keyboard_wedge.device";
        let d = self.device.trim();
        if let Some(name) = d.strip_prefix("name:") {
            if name.trim().is_empty() {
                return Err(invalid(
                    KEY,
                    "`name:` needs the device name as shown by evtest",
                ));
            }
            return Ok(WedgeDevice::Name(name.to_string()));
        }
        if let Some(ids) = d.strip_prefix("usb:") {
            let parsed = ids.split_once(':').and_then(|(v, p)| {
                let hex4 = |s: &str| {
                    (s.len() == 4)
                        .then(|| u16::from_str_radix(s, 16).ok())
                        .flatten()
                };
                Some((hex4(v)?, hex4(p)?))
            });
            return match parsed {
                Some((vendor, product)) => Ok(WedgeDevice::Usb { vendor, product }),
                None => Err(invalid(
                    KEY,
                    format!(
                        "`usb:` needs vendor and product id as 4 hex digits each, e.g. \
                         \"usb:0c27:3bfa\", got {:?}",
                        self.device
                    ),
                )),
            };
        }
        if d.starts_with('/') {
            return Ok(WedgeDevice::Path(PathBuf::from(d)));
        }
        Err(invalid(
            KEY,
            format!(
                "must be an absolute path (/dev/input/by-id/...), \"name:<device name>\" or \
                 \"usb:VVVV:PPPP\", got {:?}",
                self.device
            ),
        ))
    }
}

impl PcscConfig {
    pub fn apdu_bytes(&self) -> Result<Vec<u8>, ConfigError> {
        let hex: String = self.apdu.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = (hex.len().is_multiple_of(2) && hex.is_ascii())
            .then(|| {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten();
        match bytes {
            Some(b) if (4..=261).contains(&b.len()) => Ok(b),
            _ => Err(invalid(
                "readers.pcsc.apdu",
                format!(
                    "must be a command APDU in hex (4 to 261 bytes), e.g. \"FFCA000000\", got {:?}",
                    self.apdu
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wedge_device_selectors() {
        let w = |d: &str| KeyboardWedgeConfig {
            device: d.into(),
            min_length: 4,
            max_length: 32,
            max_key_gap_ms: 50,
            terminator: Terminator::Enter,
        };
        assert_eq!(
            w("usb:0c27:3BFA").device_selector().unwrap(),
            WedgeDevice::Usb {
                vendor: 0x0c27,
                product: 0x3bfa
            }
        );
        assert_eq!(
            w("name:RFIDeas USB Keyboard").device_selector().unwrap(),
            WedgeDevice::Name("RFIDeas USB Keyboard".into())
        );
        assert!(matches!(
            w("/dev/input/by-id/usb-rfid-event-kbd")
                .device_selector()
                .unwrap(),
            WedgeDevice::Path(_)
        ));
        for bad in ["usb:c27:3bfa", "usb:0c27", "name:", "event3"] {
            assert!(w(bad).device_selector().is_err(), "{bad}");
        }
    }

    #[test]
    fn apdu_parsing() {
        let p = |a: &str| PcscConfig {
            enabled: true,
            apdu: a.into(),
        };
        assert_eq!(p("FFCA000000").apdu_bytes().unwrap(), [0xFF, 0xCA, 0, 0, 0]);
        assert_eq!(
            p("ff ca 00 00 00").apdu_bytes().unwrap(),
            [0xFF, 0xCA, 0, 0, 0]
        );
        for bad in ["FFCA00000", "FFCA", "zzca000000", "ÿÿca000000"] {
            assert!(p(bad).apdu_bytes().is_err(), "{bad}");
        }
    }
}
