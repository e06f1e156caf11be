//! What the simulated cloud remembers: users, device codes, refresh tokens, injected faults,
//! counters. One `Shared` per `SimCloud`, behind an `Arc` in every handler.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use super::graph_state::GraphState;
use super::keys::KeyRing;
use super::{SimStats, SimUser};

pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT` without a trailing slash, as it appears in issuers and endpoints.
    pub base: String,
    /// The same as a URL (`http://127.0.0.1:PORT/`).
    pub authority: Url,
    pub tenant_id: String,
    pub domains: Vec<String>,
    pub client_id: String,
    pub drive_dir: PathBuf,
    pub auto_approve_after: Option<Duration>,
    pub interval: Duration,
    pub expires: Duration,
    pub access_token_lifetime: Duration,
    pub refresh_max_inactive: Duration,
    pub refresh_reuse_window: Option<Duration>,
    pub keys: RwLock<KeyRing>,
    pub state: Mutex<State>,
    /// Serialises the last step of uploads (name choice + rename) so two uploads of the same name
    /// cannot both think it is free.
    pub drive_commit: tokio::sync::Mutex<()>,
    /// Sites, upload sessions and Graph test controls.
    pub graph: Mutex<GraphState>,
    /// QuickXorHash of stored files by (path, size, mtime).
    pub hashes: Mutex<HashMap<HashKey, String>>,
    /// The app registration's credentials and application permissions.
    pub app_auth: Mutex<super::app_auth::AppAuth>,
    /// Users and groups behind the delta queries.
    pub directory: Mutex<super::directory::DirectoryState>,
}

pub(crate) type HashKey = (PathBuf, u64, Option<std::time::SystemTime>);

#[derive(Default)]
pub(crate) struct State {
    pub users: Vec<SimUser>,
    /// Oldest first.
    pub device_codes: Vec<DeviceCodeEntry>,
    /// By SHA-256 of the token: the sim never keeps refresh tokens in clear either.
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Hashes of refresh tokens that were redeemed (rotated away).
    pub spent_refresh_tokens: HashMap<String, (Instant, RefreshGrant)>,
    /// Hashes of refresh tokens revoked by an admin action.
    pub revoked_refresh_tokens: HashSet<String>,
    /// Test hook: the next refresh grant mints its tokens for this oid instead of the grant's
    /// own user (a token endpoint that answers with someone else's identity).
    pub next_refresh_as: Option<String>,
    pub graph_faults: VecDeque<GraphFault>,
    pub stats: SimStats,
    /// How the kiosk's app registration is set up in the simulated tenant.
    pub app: AppRegistration,
    /// Conditional Access and similar per-user outcomes, by oid.
    pub policies: HashMap<String, SignInPolicy>,
    /// Device-code polls still to be answered with `slow_down` whatever their timing.
    pub forced_slow_downs: u32,
    /// Requests to these endpoints still to be answered with a fault instead, oldest first.
    pub endpoint_faults: VecDeque<(SimEndpoint, EndpointFault)>,
    /// Tokio time of every device-code poll, oldest first.
    pub poll_times: Vec<Instant>,
    /// Woken on every device-code poll, so tests can wait for "the client has polled N times"
    /// without a timer of their own (on tokio's paused clock, any pending timer is what the
    /// clock jumps to while a request waits on the network).
    pub poll_notify: std::sync::Arc<tokio::sync::Notify>,
    /// Every token issued, in clear: a test hook to prove the kiosk stores and logs none of them.
    pub issued: Vec<IssuedToken>,
    /// While `now` is in `[from, until)` (`until` = None: open-ended), connections are reset
    /// instead of served (see `net`).
    pub outage: Option<(Instant, Option<Instant>)>,
    /// Tokio time of every connection reset while the network was down.
    pub dropped_connections: Vec<Instant>,
}

/// The app registration settings of the simulated tenant that decide whether a sign-in works.
#[derive(Debug, Clone)]
pub(crate) struct AppRegistration {
    /// "Allow public client flows" (Authentication blade). Off: token requests without a client
    /// secret fail with AADSTS7000218.
    pub public_client_flows: bool,
    /// "Assignment required?" (Enterprise application). On: only `assigned` users get tokens.
    pub assignment_required: bool,
    pub assigned: HashSet<String>,
    /// Delegated permissions nobody has consented to; requesting one fails with AADSTS65001.
    pub unconsented_scopes: Vec<String>,
    /// The display name Entra puts into its error messages.
    pub display_name: String,
}

impl Default for AppRegistration {
    fn default() -> Self {
        AppRegistration {
            public_client_flows: true,
            assignment_required: false,
            assigned: HashSet::new(),
            unconsented_scopes: Vec::new(),
            display_name: "MFP Kiosk".into(),
        }
    }
}

/// How a sign-in of a particular user ends once they approved the code on their phone, as the
/// tenant's policies would decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInPolicy {
    /// A Conditional Access policy blocks the sign-in: `invalid_grant`, AADSTS53003.
    ConditionalAccessBlock,
    /// Security defaults block the device-code flow: `invalid_grant`, AADSTS530035.
    SecurityDefaultsBlock,
    /// The user refuses the consent prompt: `access_denied`, AADSTS65004.
    DeclinesConsent,
}

/// An Entra endpoint a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimEndpoint {
    DeviceAuthorization,
    Token,
}

/// How an injected endpoint fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointFault {
    /// 307 to the same URL.
    Redirect,
    /// This status with an HTML page, as a gateway in front of Entra answers.
    Gateway(u16),
    /// HTTP 400 with Entra's JSON error body: this `error` and AADSTS code.
    OAuth { error: &'static str, code: u32 },
    /// HTTP 429 with `Retry-After` and Entra's throttling body (AADSTS50196-style).
    Throttled(Duration),
}

/// What kind of token the simulated Entra issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Id,
}

/// A token as issued, for tests that search for leaks.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub kind: TokenKind,
    pub oid: String,
    pub value: secrecy::SecretString,
}

pub(crate) struct DeviceCodeEntry {
    pub device_code_hash: String,
    pub user_code: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created: Instant,
    pub expires: Instant,
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub status: CodeStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeStatus {
    Pending,
    Approved { oid: String },
    Declined,
    Redeemed,
}

#[derive(Clone)]
pub(crate) struct RefreshGrant {
    pub oid: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub last_used: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct GraphFault {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the whole simulator down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn graph(&self) -> MutexGuard<'_, GraphState> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn app_auth(&self) -> MutexGuard<'_, super::app_auth::AppAuth> {
        self.app_auth.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn directory(&self) -> MutexGuard<'_, super::directory::DirectoryState> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn hash_cache(&self) -> MutexGuard<'_, HashMap<HashKey, String>> {
        self.hashes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh temporary file name for an incoming upload (outside every drive).
    pub async fn new_tmp_path(&self) -> std::io::Result<PathBuf> {
        let dir = self.drive_dir.join(".tmp");
        tokio::fs::create_dir_all(&dir).await?;
        Ok(dir.join(format!("{}.part", uuid::Uuid::new_v4())))
    }

    pub fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn keys_mut(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `{base}/{tid}/v2.0`.
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.base, self.tenant_id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl State {
    /// True while a network outage is in effect.
    pub fn network_down(&self) -> bool {
        let now = Instant::now();
        self.outage
            .is_some_and(|(from, until)| from <= now && until.is_none_or(|u| now < u))
    }

    pub fn user(&self, oid: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.oid == oid)
    }

    /// Approves (or declines) the oldest pending, unexpired code. `None` = nothing to act on.
    pub fn settle_oldest_pending(&mut self, status: CodeStatus) -> bool {
        let now = Instant::now();
        match self
            .device_codes
            .iter_mut()
            .find(|c| c.status == CodeStatus::Pending && c.expires > now)
        {
            Some(entry) => {
                entry.status = status;
                true
            }
            None => false,
        }
    }

    pub fn settle_user_code(&mut self, user_code: &str, status: CodeStatus) -> bool {
        let now = Instant::now();
        let wanted = normalise_user_code(user_code);
        match self
            .device_codes
            .iter_mut()
            .find(|c| c.status == CodeStatus::Pending && c.expires > now && c.user_code == wanted)
        {
            Some(entry) => {
                entry.status = status;
                true
            }
            None => false,
        }
    }
}

/// Users type codes in any case and with spaces or dashes.
pub(crate) fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub(crate) fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `len` random bytes, base64url: opaque device codes and refresh tokens.
pub(crate) fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Nine characters without look-alikes (no 0/O, 1/I), like Entra's user codes.
pub(crate) fn random_user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 9];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
