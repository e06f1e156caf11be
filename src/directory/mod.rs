//! Directory sync (issue 10, part 2): the panel's users kept in step with Entra ID through
//! Microsoft Graph, with an application credential and no server of our own.
//!
//! - [`credential`]: the app-only credential (certificate `client_assertion` or client secret)
//!   and the client-credentials grant, tokens cached in memory until shortly before expiry;
//! - [`keygen`]: `mfp-kiosk directory keygen`, a key and a self-signed certificate;
//! - [`roles`]: the application permissions sync needs and which an app token carries;
//! - [`delta`]: the Graph delta client (`/users/delta`, `/groups/delta`), page by page, with
//!   `Retry-After` honoured and `410 Gone` reported as such;
//! - [`apply`]: the one module that turns directory facts into local changes (create, update,
//!   revoke, re-enable, directory badges), shared by every source of directory changes;
//! - [`sync`]: one sync run (delta or full resync with mark-and-sweep), recorded as a
//!   provisioning run;
//! - [`writeback`]: fleet-wide enrollment, the durable queue of panel-enrolled cards written
//!   to the user's directory attribute.

pub mod apply;
pub mod credential;
pub mod delta;
pub mod keygen;
pub mod roles;
pub mod sync;
pub mod writeback;

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::device_code::EntraErrorBody;

/// Why directory sync could not do its work. No variant carries a token, secret or badge.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "directory sync is off: set directory.enabled = true (see README, \"Directory sync\")"
    )]
    Disabled,
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credential file: {0}")]
    Permissions(#[from] crate::fsmode::FsModeError),
    #[error("{}: {reason}", path.display())]
    BadCredential { path: PathBuf, reason: String },
    #[error(
        "no application credential: run `mfp-kiosk directory keygen` and upload the certificate, \
         or set directory.client_secret_file ({} not found)",
        .0.display()
    )]
    NoCredential(PathBuf),
    #[error("{0} already exists; pass --force to replace the credential")]
    Exists(PathBuf),
    #[error("cannot generate the key or certificate: {0}")]
    KeyGeneration(String),
    #[error("cannot sign the client assertion: {0}")]
    Signing(String),
    #[error("Entra refused the application credential: {}", .0.summary())]
    TokenRefused(Box<EntraErrorBody>),
    #[error("Microsoft {service} is throttling the panel (HTTP 429){}", wait_text(.retry_after))]
    Throttled {
        service: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("cannot reach Microsoft {service}: {source}")]
    Network {
        service: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("Microsoft {service} answered HTTP {status} {code}: {message}")]
    Api {
        service: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("Microsoft Graph says the delta link expired (410 Gone): a full resync is needed")]
    DeltaExpired,
    #[error("Microsoft {service} sent an unexpected answer: {detail}")]
    Unexpected {
        service: &'static str,
        detail: String,
    },
    #[error("bad URL {0}")]
    Url(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("background task failed: {0}")]
    Task(String),
}

fn wait_text(d: &Option<Duration>) -> String {
    d.map(|d| format!(", retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

impl DirectoryError {
    /// The wait Microsoft asked for, on 429 and 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DirectoryError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
