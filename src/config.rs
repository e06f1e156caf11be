//! TOML configuration: parsing, defaults, the embedded demo default, validation with errors that
//! name the key.
//!
//! The whole file is read and checked once at start-up; a bad value stops the panel with a message
//! such as "config key `entra.client_id`: must be a GUID …" rather than failing later mid-session.
//! Every key is documented in `device/kiosk.example.toml`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use crate::auth::card::CardPipeline;
use crate::auth::pin::PinPolicy;
use crate::identity::provisioning::UsernameRule;

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
/// Placeholders allowed in workflow `folder` and `file_name` templates.
pub const TEMPLATE_PLACEHOLDERS: &[&str] = &[
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
    pub demo: DemoConfig,
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
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            name: "mfp-kiosk".into(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            spool_dir: None,
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
}

impl Default for PinConfig {
    fn default() -> Self {
        PinConfig {
            login_mode: LoginMode::CardOrPin,
            min_length: 4,
            max_length: 8,
            max_attempts: 5,
            lockout_base_secs: 30,
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
    /// APDU sent to read the card number, as hex; the default is "get UID".
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

    /// Checks every value and cross-field rule; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_device()?;
        self.entra.validate()?;
        service_url(
            "graph.endpoint",
            &self.graph.endpoint,
            DEFAULT_GRAPH_ENDPOINT,
        )?;
        self.validate_session()?;
        self.validate_pin()?;
        self.validate_identity()?;
        self.validate_readers()?;
        self.validate_workflows()?;
        self.validate_demo()
    }

    fn validate_device(&self) -> Result<(), ConfigError> {
        let d = &self.device;
        let name = d.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(invalid(
                "device.name",
                format!("must be 1 to 64 printable characters, got {:?}", d.name),
            ));
        }
        if !d.state_dir.as_os_str().is_empty() && !d.state_dir.is_absolute() {
            return Err(invalid(
                "device.state_dir",
                format!(
                    "must be an absolute path (or \"\" to pick a per-user directory), got {:?}",
                    d.state_dir
                ),
            ));
        }
        absolute_if_set("device.spool_dir", d.spool_dir.as_deref())
    }

    fn validate_session(&self) -> Result<(), ConfigError> {
        let s = &self.session;
        if !(10..=3600).contains(&s.inactivity_timeout_secs) {
            return Err(invalid(
                "session.inactivity_timeout_secs",
                format!(
                    "must be between 10 and 3600 seconds, got {}",
                    s.inactivity_timeout_secs
                ),
            ));
        }
        if s.countdown_secs >= s.inactivity_timeout_secs {
            return Err(invalid(
                "session.countdown_secs",
                format!(
                    "must be shorter than session.inactivity_timeout_secs ({}), got {}",
                    s.inactivity_timeout_secs, s.countdown_secs
                ),
            ));
        }
        Ok(())
    }

    fn validate_pin(&self) -> Result<(), ConfigError> {
        let p = &self.pin;
        for (key, v) in [
            ("pin.min_length", p.min_length),
            ("pin.max_length", p.max_length),
        ] {
            if !(4..=12).contains(&v) {
                return Err(invalid(
                    key,
                    format!("must be between 4 and 12 digits, got {v}"),
                ));
            }
        }
        if p.min_length > p.max_length {
            return Err(invalid(
                "pin.min_length",
                format!(
                    "must not exceed pin.max_length ({}), got {}",
                    p.max_length, p.min_length
                ),
            ));
        }
        if !(1..=20).contains(&p.max_attempts) {
            return Err(invalid(
                "pin.max_attempts",
                format!("must be between 1 and 20, got {}", p.max_attempts),
            ));
        }
        if !(1..=3600).contains(&p.lockout_base_secs) {
            return Err(invalid(
                "pin.lockout_base_secs",
                format!(
                    "must be between 1 and 3600 seconds, got {}",
                    p.lockout_base_secs
                ),
            ));
        }
        let has_reader = self.readers.pcsc.enabled || self.readers.keyboard_wedge.is_some();
        if p.login_mode.needs_card_reader() && !has_reader {
            return Err(invalid(
                "pin.login_mode",
                "needs a card reader: set readers.pcsc.enabled = true or configure \
                 [readers.keyboard_wedge], or use \"pin\" / \"card_or_pin\"",
            ));
        }
        Ok(())
    }

    fn validate_identity(&self) -> Result<(), ConfigError> {
        let i = &self.identity;
        if i.offline_grace_hours > 2160 {
            return Err(invalid(
                "identity.offline_grace_hours",
                format!(
                    "must be at most 2160 (90 days, the refresh-token lifetime), got {}",
                    i.offline_grace_hours
                ),
            ));
        }
        if !(5..=10080).contains(&i.offboarding_interval_minutes) {
            return Err(invalid(
                "identity.offboarding_interval_minutes",
                format!(
                    "must be between 5 minutes and 10080 (one week), got {}",
                    i.offboarding_interval_minutes
                ),
            ));
        }
        if !(1..=20).contains(&i.max_cards_per_user) {
            return Err(invalid(
                "identity.max_cards_per_user",
                format!("must be between 1 and 20, got {}", i.max_cards_per_user),
            ));
        }
        Ok(())
    }

    fn validate_readers(&self) -> Result<(), ConfigError> {
        let r = &self.readers;
        if let Some(w) = &r.keyboard_wedge {
            w.device_selector()?;
            if !(1..=256).contains(&w.max_length) {
                return Err(invalid(
                    "readers.keyboard_wedge.max_length",
                    format!("must be between 1 and 256, got {}", w.max_length),
                ));
            }
            if w.min_length == 0 || w.min_length > w.max_length {
                return Err(invalid(
                    "readers.keyboard_wedge.min_length",
                    format!(
                        "must be between 1 and readers.keyboard_wedge.max_length ({}), got {}",
                        w.max_length, w.min_length
                    ),
                ));
            }
            if !(1..=1000).contains(&w.max_key_gap_ms) {
                return Err(invalid(
                    "readers.keyboard_wedge.max_key_gap_ms",
                    format!(
                        "must be between 1 and 1000 milliseconds, got {}",
                        w.max_key_gap_ms
                    ),
                ));
            }
        }
        r.pcsc.apdu_bytes()?;
        r.pipeline()?;
        Ok(())
    }

    fn validate_workflows(&self) -> Result<(), ConfigError> {
        if self.workflows.is_empty() {
            return Err(ConfigError::Missing {
                key: "workflows".into(),
                hint: "add at least one [[workflows]] table (see device/kiosk.example.toml)".into(),
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, w) in self.workflows.iter().enumerate() {
            let key = |field: &str| format!("workflows[{i}].{field}");
            if !is_slug(&w.id) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "must be a slug: 1 to 64 of a-z, 0-9 and '-', starting with a letter or \
                         digit, got {:?}",
                        w.id
                    ),
                ));
            }
            if let Some(first) = seen.insert(&w.id, i) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "{:?} is already used by workflows[{first}]; ids must be unique",
                        w.id
                    ),
                ));
            }
            let label = w.label.trim();
            if label.is_empty() || label.chars().count() > 60 {
                return Err(invalid(
                    key("label"),
                    format!("must be 1 to 60 characters, got {:?}", w.label),
                ));
            }
            check_template(&key("folder"), &w.folder, TemplateKind::Folder)?;
            check_template(&key("file_name"), &w.file_name, TemplateKind::FileName)?;
            match w.destination {
                Destination::Onedrive => {
                    for (field, v) in [("site", &w.site), ("library", &w.library)] {
                        if v.is_some() {
                            return Err(invalid(
                                key(field),
                                "only applies to SharePoint workflows; remove it or set \
                                 destination = \"sharepoint\"",
                            ));
                        }
                    }
                }
                Destination::Sharepoint => {
                    let site = w.site.as_deref().ok_or_else(|| ConfigError::Missing {
                        key: key("site"),
                        hint: "SharePoint workflows need the site as \
                               \"contoso.sharepoint.com:/sites/Finance\""
                            .into(),
                    })?;
                    check_site(&key("site"), site)?;
                    let library = w.library.as_deref().ok_or_else(|| ConfigError::Missing {
                        key: key("library"),
                        hint: "SharePoint workflows need the document library name, e.g. \
                               \"Documents\""
                            .into(),
                    })?;
                    if library.trim().is_empty() {
                        return Err(invalid(key("library"), "must not be empty"));
                    }
                }
            }
            if !(75..=600).contains(&w.resolution_dpi) {
                return Err(invalid(
                    key("resolution_dpi"),
                    format!("must be between 75 and 600, got {}", w.resolution_dpi),
                ));
            }
            if let Some(bad) = w
                .allowed_roles
                .iter()
                .find(|r| r.trim().is_empty() || r.contains(char::is_whitespace))
            {
                return Err(invalid(
                    key("allowed_roles"),
                    format!("role values must be non-empty and without spaces, got {bad:?}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_demo(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.demo.scanner_pages) {
            return Err(invalid(
                "demo.scanner_pages",
                format!("must be between 1 and 100, got {}", self.demo.scanner_pages),
            ));
        }
        absolute_if_set("demo.drive_dir", self.demo.drive_dir.as_deref())
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

    fn validate(&self) -> Result<(), ConfigError> {
        self.authority_host_url()?;
        let tenant = self.tenant.trim();
        if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("consumers") {
            return Err(invalid(
                "entra.tenant",
                format!(
                    "{tenant:?} would admit personal Microsoft accounts, which have no OneDrive \
                     for Business; use your tenant id, a verified domain, or \"organizations\""
                ),
            ));
        }
        if !(is_guid(tenant) || self.is_multi_tenant() || is_domain(tenant)) {
            return Err(invalid(
                "entra.tenant",
                format!(
                    "must be the Directory (tenant) ID (a GUID), a verified domain such as \
                     contoso.onmicrosoft.com, or \"organizations\", got {:?}",
                    self.tenant
                ),
            ));
        }
        if !is_guid(&self.client_id) {
            return Err(invalid(
                "entra.client_id",
                format!(
                    "must be a GUID (the Application (client) ID of the app registration), got \
                     {:?}",
                    self.client_id
                ),
            ));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(invalid(
                "entra.scopes",
                format!("each scope must be one non-empty word, got {bad:?}"),
            ));
        }
        for (needed, why) in [
            (
                "offline_access",
                "without it Entra issues no refresh token and card/PIN sign-in cannot work",
            ),
            ("openid", "without it the sign-in carries no ID token"),
        ] {
            if !self.scopes.iter().any(|s| s == needed) {
                return Err(invalid(
                    "entra.scopes",
                    format!("must contain {needed:?}: {why}"),
                ));
            }
        }
        for (i, t) in self.allowed_tenants.iter().enumerate() {
            if !is_guid(t) {
                return Err(invalid(
                    format!("entra.allowed_tenants[{i}]"),
                    format!("must be a tenant id (GUID), got {t:?}"),
                ));
            }
        }
        if self.is_multi_tenant() && self.allowed_tenants.is_empty() {
            return Err(ConfigError::Missing {
                key: "entra.allowed_tenants".into(),
                hint: "with tenant = \"organizations\" list the tenant ids (GUIDs) whose users \
                       may sign in; otherwise any Entra organisation could"
                    .into(),
            });
        }
        if is_guid(tenant)
            && !self.allowed_tenants.is_empty()
            && !self
                .allowed_tenants
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tenant))
        {
            return Err(invalid(
                "entra.allowed_tenants",
                format!(
                    "does not include entra.tenant ({tenant}), so nobody could sign in; add it \
                     or remove allowed_tenants"
                ),
            ));
        }
        for (i, d) in self.allowed_upn_domains.iter().enumerate() {
            if !is_domain(d) {
                return Err(invalid(
                    format!("entra.allowed_upn_domains[{i}]"),
                    format!("must be a domain name such as contoso.com, got {d:?}"),
                ));
            }
        }
        let role = &self.technician_role;
        if role.is_empty() || role.contains(char::is_whitespace) {
            return Err(invalid(
                "entra.technician_role",
                format!("must be an app role value without spaces, got {role:?}"),
            ));
        }
        let p = &self.username_prefix;
        if p.len() > 16
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(invalid(
                "entra.username_prefix",
                format!("may only use a-z, 0-9, '-' and '_' (at most 16), got {p:?}"),
            ));
        }
        Ok(())
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

#[derive(Clone, Copy, PartialEq)]
enum TemplateKind {
    Folder,
    FileName,
}

/// Checks placeholders and literal characters of a folder or file-name template. Values
/// substituted at run time are sanitised by the workflow module; this catches admin typos early.
fn check_template(key: &str, template: &str, kind: TemplateKind) -> Result<(), ConfigError> {
    let known = || {
        TEMPLATE_PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut literal = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        literal.push_str(&rest[..i]);
        if rest[i..].starts_with('}') {
            return Err(invalid(
                key,
                format!("has a `}}` without a matching `{{` in {template:?}"),
            ));
        }
        let after = &rest[i + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(key, format!("has an unclosed `{{` in {template:?}")))?;
        let name = &after[..end];
        if !TEMPLATE_PLACEHOLDERS.contains(&name) {
            return Err(invalid(
                key,
                format!(
                    "unknown placeholder `{{{name}}}` in {template:?}; known placeholders: {}",
                    known()
                ),
            ));
        }
        literal.push('x');
        rest = &after[end + 1..];
    }
    literal.push_str(rest);

    let forbidden =
        |c: char| matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '\\' | '|') || c.is_control();
    if let Some(c) = literal.chars().find(|&c| forbidden(c)) {
        return Err(invalid(
            key,
            format!(
                "contains {c:?}, which OneDrive and SharePoint do not allow in names \
                 (\" * : < > ? \\ | and control characters)"
            ),
        ));
    }
    match kind {
        TemplateKind::FileName => {
            if literal.contains('/') {
                return Err(invalid(
                    key,
                    "must not contain '/'; put sub-folders in the workflow's `folder`",
                ));
            }
            let lower = template.to_ascii_lowercase();
            if !lower.ends_with(".pdf") || template.len() <= 4 {
                return Err(invalid(
                    key,
                    format!("must end with \".pdf\", got {template:?}"),
                ));
            }
        }
        TemplateKind::Folder => {
            if !literal.is_empty() {
                for segment in literal.split('/') {
                    if segment.trim().is_empty() || segment == "." || segment == ".." {
                        return Err(invalid(
                            key,
                            format!(
                                "must be a relative path like \"Scans/{{date}}\" without leading, \
                                 trailing or doubled '/' and without '.' or '..', got {template:?}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_site(key: &str, site: &str) -> Result<(), ConfigError> {
    let bad = || {
        invalid(
            key,
            format!(
                "must be \"<hostname>:/<site path>\", e.g. \"contoso.sharepoint.com:/sites/Finance\", \
                 got {site:?}"
            ),
        )
    };
    let (host, path) = site.split_once(":/").ok_or_else(bad)?;
    if !is_domain(host) || path.trim_matches('/').is_empty() || path.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(())
}

/// An https URL of a cloud service; http is accepted only for loopback (simulators, tests).
fn service_url(key: &str, value: &str, example: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        invalid(
            key,
            format!("must be an absolute URL such as {example}, got {value:?} ({e})"),
        )
    })?;
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                key,
                format!(
                    "must use https, got {value:?}; plain http is only allowed for loopback test \
                     servers (127.0.0.1, ::1, localhost)"
                ),
            ))
        }
        other => {
            return Err(invalid(
                key,
                format!("must be an https URL such as {example}, got scheme {other:?}"),
            ))
        }
    }
    if url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid(
            key,
            format!(
                "must be a plain base URL such as {example} (no credentials, query or \
                 fragment), got {value:?}"
            ),
        ));
    }
    Ok(url)
}

fn absolute_if_set(key: &str, p: Option<&Path>) -> Result<(), ConfigError> {
    match p {
        Some(p) if !p.is_absolute() => {
            Err(invalid(key, format!("must be an absolute path, got {p:?}")))
        }
        _ => Ok(()),
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()))
}

fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Turns a serde error from a grammatically valid file into an error that names the key.
fn classify_data_error(src: &str, e: &toml::de::Error) -> ConfigError {
    let msg = e.message().trim();
    let span = e.span();
    let offset = span.as_ref().map(|r| r.start).unwrap_or(0);
    let (line, column) = line_col(src, offset);
    // An empty span, or one over the whole document, means the root table (a missing `[entra]`).
    let whole_doc = span
        .as_ref()
        .is_some_and(|r| r.is_empty() || (r.start == 0 && r.end >= src.trim_end().len()));
    let loc = span.filter(|_| !whole_doc).map(|r| locate(src, r.start));
    let join = |table: &str, key: &str| {
        if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        }
    };

    if let Some(field) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let key = match &loc {
            // An unknown table: the span is its header, whose path is the key.
            Some(l) if l.on_header => l.header_path.clone(),
            Some(l) => join(&l.table_path(), field),
            None => field.to_string(),
        };
        let expected = backticked(msg.split_once("expected").map(|x| x.1).unwrap_or(""));
        return ConfigError::UnknownKey {
            key,
            line,
            suggestion: closest(field, &expected),
        };
    }
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let table = loc.as_ref().map(|l| l.table.clone()).unwrap_or_default();
        let key = join(&table, field);
        let hint = missing_hint(&key);
        return ConfigError::Missing { key, hint };
    }
    match loc.and_then(|l| l.value_key.clone().map(|k| join(&l.table_path(), &k))) {
        Some(key) => invalid(key, format!("{msg} (line {line})")),
        None => ConfigError::Syntax {
            line,
            column,
            message: one_line(msg),
        },
    }
}

fn missing_hint(key: &str) -> String {
    let field = key.rsplit('.').next().unwrap_or(key);
    match field {
        "entra" => "add an [entra] section with tenant and client_id".into(),
        "tenant" => {
            "set it to the Directory (tenant) ID, a verified domain, or \"organizations\"".into()
        }
        "client_id" => "set it to the Application (client) ID of the app registration".into(),
        "id" => "give the workflow a unique slug such as \"scan-to-onedrive\"".into(),
        "label" => "give the workflow the label shown on its button".into(),
        "destination" => "set it to \"onedrive\" or \"sharepoint\"".into(),
        "device" => {
            "set the input device: a path, \"name:<device name>\" or \"usb:VVVV:PPPP\"".into()
        }
        _ => "see device/kiosk.example.toml".into(),
    }
}

/// Where in the document an offset lies: the enclosing table and the key on that line.
struct Location {
    /// Header path, e.g. `session` or `workflows[1]` (array-of-tables element, 0-based).
    table: String,
    /// Inline-table key that encloses the offset, e.g. `keyboard_wedge` in `keyboard_wedge = {`.
    inline_parent: Option<String>,
    /// Key whose value starts at the offset, if any.
    value_key: Option<String>,
    /// The offset is on a `[table]` or `[[array]]` header line.
    on_header: bool,
    /// Dotted name of the last header seen, without array indices.
    header_path: String,
}

impl Location {
    fn table_path(&self) -> String {
        match (&self.inline_parent, self.table.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{}.{p}", self.table),
            (None, _) => self.table.clone(),
        }
    }
}

fn locate(src: &str, offset: usize) -> Location {
    let mut table = String::new();
    let mut header_path = String::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut pos = 0;
    for line in src.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim_start();
        let mut on_header = false;
        if let Some(rest) = t.strip_prefix("[[") {
            if let Some(end) = rest.find("]]") {
                let name = rest[..end].trim().to_string();
                let n = counts.entry(name.clone()).or_insert(0);
                table = format!("{name}[{n}]");
                *n += 1;
                header_path = name;
                on_header = true;
            }
        } else if let Some(rest) = t.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                table = rest[..end].trim().to_string();
                header_path = table.clone();
                on_header = true;
            }
        }
        if offset < pos {
            let prefix = line.get(..offset - start).unwrap_or("");
            return Location {
                table,
                inline_parent: inline_parent(prefix),
                value_key: key_before_value(prefix),
                on_header,
                header_path,
            };
        }
    }
    Location {
        table,
        inline_parent: None,
        value_key: None,
        on_header: false,
        header_path,
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// In `  name = ` (text before a value) returns `name`.
fn key_before_value(prefix: &str) -> Option<String> {
    let before_eq = prefix.trim_end().strip_suffix('=')?.trim_end();
    let start = before_eq
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_key_char(c) || c == '.')
        .last()
        .map(|(i, _)| i)?;
    Some(before_eq[start..].to_string())
}

/// In `keyboard_wedge = { device = "x", ` returns `keyboard_wedge`.
fn inline_parent(prefix: &str) -> Option<String> {
    let open = prefix.rfind('{')?;
    if prefix[open..].contains('}') {
        return None;
    }
    key_before_value(&prefix[..open])
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn closest(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let s = "a = 1\nbb = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 11), (2, 6));
    }

    #[test]
    fn locate_finds_tables_and_keys() {
        let s = "[a]\nx = 1\n[[w]]\nid = 2\n[[w]]\nid = 3\nr = { d = 4 }\n";
        let off = s.find("3").unwrap();
        let l = locate(s, off);
        assert_eq!(l.table, "w[1]");
        assert_eq!(l.value_key.as_deref(), Some("id"));
        let off = s.find("4").unwrap();
        let l = locate(s, off);
        assert_eq!(l.table_path(), "w[1].r");
        assert_eq!(l.value_key.as_deref(), Some("d"));
    }

    #[test]
    fn suggestions_pick_close_names() {
        let c = vec![
            "inactivity_timeout_secs".to_string(),
            "countdown_secs".to_string(),
        ];
        assert_eq!(
            closest("inactivity_timout_secs", &c).as_deref(),
            Some("inactivity_timeout_secs")
        );
        assert_eq!(closest("colour", &c), None);
    }

    #[test]
    fn template_checks() {
        let ok = [
            ("Scans/{date}", TemplateKind::Folder),
            ("", TemplateKind::Folder),
            ("{user}/{workflow}", TemplateKind::Folder),
            ("Scan {date} {time}.pdf", TemplateKind::FileName),
            ("{seq}.PDF", TemplateKind::FileName),
        ];
        for (t, k) in ok {
            check_template("k", t, k).unwrap();
        }
        let bad = [
            (
                "Scans/{dat}",
                TemplateKind::Folder,
                "unknown placeholder `{dat}`",
            ),
            ("Scans/{date", TemplateKind::Folder, "unclosed"),
            ("Scans/date}", TemplateKind::Folder, "without a matching"),
            ("/Scans", TemplateKind::Folder, "relative path"),
            ("Scans//x", TemplateKind::Folder, "relative path"),
            ("../x", TemplateKind::Folder, "relative path"),
            ("a:b", TemplateKind::Folder, "do not allow"),
            ("scan.png", TemplateKind::FileName, "must end with \".pdf\""),
            (".pdf", TemplateKind::FileName, "must end with \".pdf\""),
            ("a/b.pdf", TemplateKind::FileName, "must not contain '/'"),
            ("a?.pdf", TemplateKind::FileName, "do not allow"),
        ];
        for (t, k, want) in bad {
            let msg = check_template("k", t, k).unwrap_err().to_string();
            assert!(msg.contains(want), "{t}: {msg}");
        }
    }

    #[test]
    fn domains_and_guids() {
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(is_domain("contoso.com"));
        assert!(!is_domain("contoso"));
        assert!(!is_domain("-contoso.com"));
        assert!(!is_domain("contoso.123"));
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(!is_guid("72f988bf86f141af91ab2d7cd011db47"));
        assert!(!is_guid("{72f988bf-86f1-41af-91ab-2d7cd011db4}"));
    }

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
