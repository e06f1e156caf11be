//! Validation of a parsed [`Config`]: ranges, formats and cross-field rules, each failure naming
//! its key and the fix.

use std::collections::HashMap;
use std::path::Path;

use url::{Host, Url};

use crate::auth::pin::{MAX_HASH_MEMORY_KIB, MIN_HASH_MEMORY_KIB};

use super::{
    invalid, Config, ConfigError, Destination, EntraConfig, DEFAULT_GRAPH_ENDPOINT,
    TEMPLATE_PLACEHOLDERS,
};

impl Config {
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
        self.service.validate()?;
        let tenant = self.entra.tenant.trim();
        self.directory
            .validate(is_guid(tenant) || is_domain(tenant))?;
        self.scim.validate(self.directory.enabled)?;
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
        if crate::i18n::Language::from_tag(&d.language).map(|l| l.code())
            != Some(d.language.as_str())
        {
            let known: Vec<&str> = crate::i18n::Language::ALL
                .iter()
                .map(|l| l.code())
                .collect();
            return Err(invalid(
                "device.language",
                format!("must be one of {}, got {:?}", known.join(", "), d.language),
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
        if !(MIN_HASH_MEMORY_KIB..=MAX_HASH_MEMORY_KIB).contains(&p.hash_memory_kib) {
            return Err(invalid(
                "pin.hash_memory_kib",
                format!(
                    "must be between {MIN_HASH_MEMORY_KIB} (OWASP's argon2id minimum) and \
                     {MAX_HASH_MEMORY_KIB} KiB, got {}",
                    p.hash_memory_kib
                ),
            ));
        }
        if !(2..=64).contains(&p.hash_passes) {
            return Err(invalid(
                "pin.hash_passes",
                format!("must be between 2 and 64, got {}", p.hash_passes),
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
            self.validate_sheet_keys(i, w)?;
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
        if !self.entra.device_code
            && !self
                .workflows
                .iter()
                .any(|w| w.delivery == crate::config::Delivery::App)
        {
            return Err(invalid(
                "entra.device_code",
                "is false, so nobody gets a Microsoft token here: add a workflow with \
                 delivery = \"app\" or users can't scan to the cloud",
            ));
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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        // `{attr:NAME}` and `{folder}` are checked against the rest of the config by
        // `validate_sheet_keys`.
        let profile = name == "folder"
            || name
                .strip_prefix("attr:")
                .is_some_and(crate::workflow::template::is_attribute_name);
        if !profile && !TEMPLATE_PLACEHOLDERS.contains(&name) {
            return Err(invalid(
                key,
                format!(
                    "unknown placeholder `{{{name}}}` in {template:?}; known placeholders: {} \
                     {{attr:NAME}} {{folder}}",
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
pub(super) fn service_url(key: &str, value: &str, example: &str) -> Result<Url, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
