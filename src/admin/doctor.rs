//! `mfp-kiosk doctor`: checks what the panel needs from the cloud and reports it in an
//! administrator's words.
//!
//! Checks, in order: the config (already validated when it was loaded; here its cloud endpoints
//! are checked for belonging together), free space of the state directory and the spool, Entra's OpenID discovery document, the signing keys
//! (JWKS), the app registration (a device code is requested and polled once: Entra checks the
//! client before the code, so this finds an unknown client id or disabled public client flows
//! without any user), and Microsoft Graph (reachable, answers 401 without a token). With
//! `--sign-in` it also runs one interactive sign-in, which is where consent, app assignment and
//! Conditional Access show up, and calls Graph with the delegated token.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use url::Url;

use super::advice;
use super::signin::print_prompt;
use crate::auth::entra::{EntraClient, EntraSettings};
use crate::config::{Config, ConfigError};
use crate::graph::GraphClient;

mod app_delivery;

const GRAPH_TIMEOUT: Duration = Duration::from_secs(20);

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Config,
    Storage,
    Discovery,
    SigningKeys,
    AppRegistration,
    Graph,
    SignIn,
    Directory,
    AppDelivery,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Check::Config => "config",
            Check::Storage => "storage",
            Check::Discovery => "discovery",
            Check::SigningKeys => "signing keys",
            Check::AppRegistration => "app registration",
            Check::Graph => "Microsoft Graph",
            Check::SignIn => "sign-in",
            Check::Directory => "directory sync",
            Check::AppDelivery => "app delivery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but something deserves a look.
    Warning,
    /// Sign-in on the panel will not work until this is fixed.
    Problem,
    /// Not checked because an earlier check failed.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    pub status: Status,
    pub message: String,
}

/// All findings of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, check: Check, status: Status, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            status,
            message: message.into(),
        });
    }

    /// True when nothing is a [`Status::Problem`].
    pub fn is_healthy(&self) -> bool {
        !self.findings.iter().any(|f| f.status == Status::Problem)
    }

    /// 0 when healthy, 1 when something must be fixed.
    pub fn exit_code(&self) -> i32 {
        if self.is_healthy() {
            0
        } else {
            1
        }
    }

    /// The findings of `check`.
    pub fn about(&self, check: Check) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.check == check).collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let tag = match finding.status {
                Status::Ok => "[ok]     ",
                Status::Warning => "[warning]",
                Status::Problem => "[PROBLEM]",
                Status::Skipped => "[skipped]",
            };
            writeln!(f, "{tag} {}: {}", finding.check.label(), finding.message)?;
        }
        let problems = self
            .findings
            .iter()
            .filter(|x| x.status == Status::Problem)
            .count();
        match problems {
            0 => writeln!(f, "No problems found."),
            1 => writeln!(f, "1 problem found."),
            n => writeln!(f, "{n} problems found."),
        }
    }
}

/// The report for a config file that does not load: its error already names the key and fix.
pub fn config_failed(err: &ConfigError) -> Report {
    let mut report = Report::default();
    report.push(Check::Config, Status::Problem, err.to_string());
    report
}

/// What to check beyond the unattended checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoctorOptions {
    /// Run one interactive device-code sign-in (prompt written to the output).
    pub sign_in: bool,
}

/// Runs every check against the cloud `config` points at. `out` receives the sign-in prompt
/// when [`DoctorOptions::sign_in`] is set; the findings are in the returned report.
pub async fn diagnose(
    config: &Config,
    options: DoctorOptions,
    out: &mut (dyn Write + Send),
) -> Report {
    let mut report = Report::default();
    let entra = &config.entra;
    report.push(
        Check::Config,
        Status::Ok,
        format!(
            "tenant {}, client id {}, authority {}, Graph {}",
            entra.tenant, entra.client_id, entra.authority_host, config.graph.endpoint
        ),
    );
    if let Some(warning) = cloud_mismatch(&entra.authority_host, &config.graph.endpoint) {
        report.push(Check::Config, Status::Warning, warning);
    }

    check_storage(config, &mut report);
    let client = connect(config, &mut report).await;
    check_graph(config, &mut report).await;
    check_directory(config, &mut report).await;
    app_delivery::check(config, &mut report).await;
    match client {
        Some(client) if options.sign_in => check_sign_in(config, &client, out, &mut report).await,
        None if options.sign_in => report.push(
            Check::SignIn,
            Status::Skipped,
            "not tried: Entra is not usable",
        ),
        _ => {}
    }
    report
}

/// Free space where the database and the spooled scans live (one line when both are on the
/// same filesystem).
fn check_storage(config: &Config, report: &mut Report) {
    use super::storage::{self, human, LOW_SPACE_BYTES, TOO_LITTLE_SPACE_BYTES};
    let state = config.state_dir();
    let spool = config.spool_dir();
    let mut places = vec![("state directory", state.clone())];
    if !storage::same_filesystem(&state, &spool).unwrap_or(false) {
        places.push(("spool", spool));
    }
    for (what, dir) in places {
        match storage::space(&dir) {
            Ok(space) => {
                let status = if space.available < TOO_LITTLE_SPACE_BYTES {
                    Status::Problem
                } else if space.available < LOW_SPACE_BYTES {
                    Status::Warning
                } else {
                    Status::Ok
                };
                let mut message = format!(
                    "{what} {}: {} free of {}",
                    dir.display(),
                    human(space.available),
                    human(space.total)
                );
                if status != Status::Ok {
                    message.push_str(
                        "; scans may not fit: free space there (queued scans leave as they are delivered)",
                    );
                }
                report.push(Check::Storage, status, message);
            }
            Err(e) => report.push(
                Check::Storage,
                Status::Warning,
                format!("{what} {}: free space unknown ({e})", dir.display()),
            ),
        }
    }
}

/// `[directory]`: which credential (a client secret is weaker than a certificate: it travels
/// with every token request and is copied wherever the file is), and whether Entra grants an
/// app-only token with it.
async fn check_directory(config: &Config, report: &mut Report) {
    use crate::directory::credential::{AppCredential, AppTokens};
    if !config.directory.enabled {
        return;
    }
    let credential = match AppCredential::load(config) {
        Ok(c) => c,
        Err(e) => return report.push(Check::Directory, Status::Problem, e.to_string()),
    };
    if credential.is_secret() {
        report.push(
            Check::Directory,
            Status::Warning,
            "directory.client_secret_file: a client secret is weaker than a certificate (it is \
             sent with every request, expires silently and is copied with the file); prefer \
             `mfp-kiosk directory keygen` and upload the certificate",
        );
    }
    let tokens = match AppTokens::new(config, credential) {
        Ok(t) => t,
        Err(e) => return report.push(Check::Directory, Status::Problem, e.to_string()),
    };
    let token = match tokens.token().await {
        Ok(t) => t,
        Err(e) => return report.push(Check::Directory, Status::Problem, e.to_string()),
    };
    report.push(
        Check::Directory,
        Status::Ok,
        "Entra grants the app-only token (client credentials)",
    );
    check_roles(config, secrecy::ExposeSecret::expose_secret(&token), report);
}

/// The application permissions in the app token's `roles` claim against what sync needs.
fn check_roles(config: &Config, token: &str, report: &mut Report) {
    use crate::directory::roles;
    let write_cards = config.directory.write_cards;
    let Some(granted) = roles::token_roles(token) else {
        return report.push(
            Check::Directory,
            Status::Warning,
            "cannot read the permissions (roles) of the app token; check the API permissions \
             of the app registration by hand",
        );
    };
    let missing = roles::missing(&granted, write_cards);
    for m in &missing {
        report.push(Check::Directory, Status::Problem, roles::advice(m));
    }
    if !write_cards && granted.iter().any(|r| r == "User.ReadWrite.All") {
        report.push(
            Check::Directory,
            Status::Warning,
            "the app token carries User.ReadWrite.All but directory.write_cards is off: the \
             panel only reads the directory, so remove that permission (least privilege)",
        );
    }
    if missing.is_empty() {
        let names: Vec<_> = roles::needed(write_cards)
            .iter()
            .map(|n| n.permission)
            .collect();
        report.push(
            Check::Directory,
            Status::Ok,
            format!(
                "the app token carries the permissions sync needs ({})",
                names.join(", ")
            ),
        );
    }
}

/// Discovery, signing keys and app registration; the client when discovery worked.
async fn connect(config: &Config, report: &mut Report) -> Option<EntraClient> {
    let entra = &config.entra;
    let authority_host = match entra.authority_host_url() {
        Ok(url) => url,
        Err(err) => {
            report.push(Check::Discovery, Status::Problem, err.to_string());
            return None;
        }
    };
    let settings = EntraSettings {
        authority_host,
        tenant: entra.tenant.clone(),
        client_id: entra.client_id.clone(),
        scopes: entra.scopes.clone(),
        allowed_tenants: entra.allowed_tenants.clone(),
    };
    let client = match EntraClient::connect(settings).await {
        Ok(client) => client,
        Err(err) => {
            report.push(
                Check::Discovery,
                Status::Problem,
                advice::for_entra_error(&err, entra),
            );
            for check in [Check::SigningKeys, Check::AppRegistration] {
                report.push(check, Status::Skipped, "not checked: discovery failed");
            }
            return None;
        }
    };
    let meta = client.metadata();
    report.push(
        Check::Discovery,
        Status::Ok,
        format!(
            "issuer {}, token endpoint {}",
            meta.issuer, meta.token_endpoint
        ),
    );
    match client.id_token_validator().refresh_keys().await {
        Ok(0) => report.push(
            Check::SigningKeys,
            Status::Problem,
            format!(
                "{} publishes no usable RSA signing key: no ID token could be verified",
                meta.jwks_uri
            ),
        ),
        Ok(n) => report.push(
            Check::SigningKeys,
            Status::Ok,
            format!("{n} signing key(s) at {}", meta.jwks_uri),
        ),
        Err(err) => report.push(
            Check::SigningKeys,
            Status::Problem,
            format!("{err}: check the network path to Entra"),
        ),
    }
    match client.probe_device_code().await {
        Ok(_) => report.push(
            Check::AppRegistration,
            Status::Ok,
            format!(
                "device-code sign-in by a public client is allowed for {} (the test code is left to expire)",
                entra.client_id
            ),
        ),
        Err(err) => report.push(
            Check::AppRegistration,
            Status::Problem,
            advice::for_entra_error(&err, entra),
        ),
    }
    Some(client)
}

/// Graph must answer; without a token the right answer is 401.
async fn check_graph(config: &Config, report: &mut Report) {
    let endpoint = &config.graph.endpoint;
    let url = match Url::parse(endpoint) {
        Ok(mut url) => {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().push("me");
            }
            url
        }
        Err(err) => {
            report.push(
                Check::Graph,
                Status::Problem,
                format!("graph.endpoint: {err}"),
            );
            return;
        }
    };
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(GRAPH_TIMEOUT)
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            report.push(
                Check::Graph,
                Status::Problem,
                format!("no HTTP client: {err}"),
            );
            return;
        }
    };
    let host = url.host_str().unwrap_or("").to_string();
    match http.get(url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => report.push(
            Check::Graph,
            Status::Ok,
            format!("{endpoint} answers (HTTP 401 without a token, as it should)"),
        ),
        Ok(r) => report.push(
            Check::Graph,
            Status::Warning,
            format!(
                "{endpoint}/me answered HTTP {} without a token where Graph answers 401: check \
                 graph.endpoint (is a proxy answering instead?)",
                r.status().as_u16()
            ),
        ),
        Err(err) => report.push(
            Check::Graph,
            Status::Problem,
            format!(
                "cannot reach Microsoft Graph at {endpoint}: check DNS, the proxy and the \
                 firewall (the panel needs HTTPS to {host}). Detail: {err}"
            ),
        ),
    }
}

/// One interactive sign-in: where consent, assignment and Conditional Access decide.
async fn check_sign_in(
    config: &Config,
    client: &EntraClient,
    out: &mut (dyn Write + Send),
    report: &mut Report,
) {
    let entra = &config.entra;
    let pending = match client.start_device_code().await {
        Ok(p) => p,
        Err(err) => {
            report.push(
                Check::SignIn,
                Status::Problem,
                advice::for_entra_error(&err, entra),
            );
            return;
        }
    };
    if let Err(err) = print_prompt(out, pending.offer()) {
        report.push(
            Check::SignIn,
            Status::Problem,
            format!("cannot show the sign-in code: {err}"),
        );
        return;
    }
    let tokens = match client.wait_for_device_code(pending).await {
        Ok(tokens) => tokens,
        Err(err) => {
            report.push(
                Check::SignIn,
                Status::Problem,
                advice::for_entra_error(&err, entra),
            );
            return;
        }
    };
    match &tokens.id_claims {
        Some(claims) => {
            let technician = claims.roles.contains(&entra.technician_role);
            report.push(
                Check::SignIn,
                Status::Ok,
                format!(
                    "{} (tenant {}) signed in; app roles: {}; technician ({}): {}",
                    claims.upn,
                    claims.tid,
                    if claims.roles.is_empty() {
                        "(none)".to_string()
                    } else {
                        claims.roles.join(", ")
                    },
                    entra.technician_role,
                    if technician { "yes" } else { "no" }
                ),
            );
        }
        None => report.push(
            Check::SignIn,
            Status::Problem,
            "Entra returned no ID token: add \"openid\" to entra.scopes",
        ),
    }
    if tokens.refresh_token.is_none() {
        report.push(
            Check::SignIn,
            Status::Problem,
            "Entra returned no refresh token, so card and PIN users would have to sign in with \
             Microsoft every time: add \"offline_access\" to entra.scopes",
        );
    }
    let graph = Url::parse(&config.graph.endpoint)
        .map_err(|e| e.to_string())
        .and_then(|u| GraphClient::new(u).map_err(|e| e.to_string()));
    match graph {
        Ok(graph) => match graph.me(&tokens.access_token).await {
            Ok(me) => report.push(
                Check::Graph,
                Status::Ok,
                format!(
                    "/me works with the user's delegated token ({})",
                    me.user_principal_name
                ),
            ),
            Err(err) => report.push(
                Check::Graph,
                Status::Problem,
                format!(
                    "Graph refused the user's delegated token: {err}. Check the app's API \
                     permissions (User.Read, Files.ReadWrite) and that graph.endpoint belongs to \
                     the same cloud as entra.authority_host"
                ),
            ),
        },
        Err(err) => report.push(
            Check::Graph,
            Status::Problem,
            format!("graph.endpoint: {err}"),
        ),
    }
}

/// Microsoft's clouds: Entra authority host and the Graph hosts that belong to it.
const CLOUDS: &[(&str, &str, &[&str])] = &[
    (
        "global",
        "login.microsoftonline.com",
        &["graph.microsoft.com"],
    ),
    (
        "US Government",
        "login.microsoftonline.us",
        &["graph.microsoft.us", "dod-graph.microsoft.us"],
    ),
    (
        "China (21Vianet)",
        "login.chinacloudapi.cn",
        &["microsoftgraph.chinacloudapi.cn"],
    ),
    (
        "China (21Vianet)",
        "login.partner.microsoftonline.cn",
        &["microsoftgraph.chinacloudapi.cn"],
    ),
];

/// A warning when the authority and Graph are both Microsoft clouds, but different ones: tokens
/// of one cloud are not accepted by the other.
pub fn cloud_mismatch(authority_host: &str, graph_endpoint: &str) -> Option<String> {
    let host = |s: &str| Url::parse(s).ok()?.host_str().map(str::to_ascii_lowercase);
    let (authority, graph) = (host(authority_host)?, host(graph_endpoint)?);
    let (cloud, _, graphs) = CLOUDS.iter().find(|(_, a, _)| *a == authority)?;
    let (graph_cloud, _, _) = CLOUDS
        .iter()
        .find(|(_, _, g)| g.contains(&graph.as_str()))?;
    if graphs.contains(&graph.as_str()) {
        return None;
    }
    Some(format!(
        "entra.authority_host is in the {cloud} cloud but graph.endpoint ({graph}) is in the \
         {graph_cloud} cloud: tokens of one are not accepted by the other; use {}",
        graphs.join(" or ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_must_match_when_both_are_known() {
        for (authority, graph) in [
            (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com/v1.0",
            ),
            (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us/v1.0",
            ),
            (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us/v1.0",
            ),
            (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
            ),
            // A test server or proxy: nothing to compare.
            ("http://127.0.0.1:9000/", "https://graph.microsoft.com/v1.0"),
            (
                "https://login.microsoftonline.com",
                "http://127.0.0.1:9/v1.0",
            ),
        ] {
            assert_eq!(
                cloud_mismatch(authority, graph),
                None,
                "{authority} {graph}"
            );
        }
        let warning = cloud_mismatch(
            "https://login.microsoftonline.us",
            "https://graph.microsoft.com/v1.0",
        )
        .unwrap();
        assert!(warning.contains("US Government"), "{warning}");
        assert!(warning.contains("graph.microsoft.us or dod-graph.microsoft.us"));
    }

    #[test]
    fn report_is_unhealthy_only_with_a_problem() {
        let mut r = Report::default();
        r.push(Check::Config, Status::Ok, "fine");
        r.push(Check::Graph, Status::Warning, "hmm");
        assert!(r.is_healthy());
        assert_eq!(r.exit_code(), 0);
        assert!(r.to_string().ends_with("No problems found.\n"));
        r.push(Check::AppRegistration, Status::Problem, "broken");
        assert_eq!(r.exit_code(), 1);
        assert!(r.to_string().contains("[PROBLEM] app registration: broken"));
        assert_eq!(r.about(Check::Graph).len(), 1);
    }
}
