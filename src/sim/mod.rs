//! Simulated Entra ID and Microsoft Graph on loopback (feature demo).
//!
//! [`SimCloud::start`] binds `127.0.0.1:0` and serves, on the current tokio runtime, the Entra
//! endpoints (OpenID metadata, JWKS, device authorization, token) and the Graph endpoints (`/me`,
//! drives by path, simple uploads, upload sessions, SharePoint sites and libraries) with the
//! status codes and error bodies of the real services. The demo and the tests run the product's
//! real HTTP clients against it. Test hooks approve or decline pending sign-ins, disable
//! accounts, revoke sessions, inject Graph throttling or random faults (including cut
//! connections), expire tokens and upload sessions, kill a client process at the n-th Graph
//! request, rotate signing keys and count what clients did.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

mod app_auth;
mod app_sites;
mod chaos;
mod control;
mod directory;
mod directory_control;
mod directory_users;
mod drives;
mod entra;
mod graph;
mod graph_state;
mod keys;
mod login_page;
mod net;
mod sites;
mod state;
mod tokens;
mod upload_session;

pub use app_auth::SERVICE_PRINCIPAL_OID;
pub use directory_control::{demo_directory, SimGroup, DEMO_KIOSK_GROUP};
pub use graph_state::{GraphObserver, KillPhase, SimSite};

pub use state::{IssuedToken, SignInPolicy, SimEndpoint, TokenKind};

use keys::KeyRing;
use state::{CodeStatus, GraphFault, Shared, State};

/// Tenant id of [`SimOptions::demo`].
pub const DEMO_TENANT_ID: &str = "6f1c2b7e-94d3-4a51-8c0e-2d7f5a9b3e14";
/// Client id of [`SimOptions::demo`].
pub const DEMO_CLIENT_ID: &str = "3b8e4d2a-1c6f-4f0b-9a7d-5e2c8b1f6a90";
/// Verified domain of [`SimOptions::demo`].
pub const DEMO_DOMAIN: &str = "contoso.example";
/// SharePoint host of [`SimOptions::demo`], which has the site `/sites/Finance` with the
/// library `Documents`.
pub const DEMO_SHAREPOINT_HOST: &str = "contoso.sharepoint.com";
/// App role that makes a user a technician.
pub const TECHNICIAN_ROLE: &str = "Kiosk.Technician";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind the simulator to 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("cannot create the simulated drive directory {path}: {source}")]
    DriveDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate an RSA signing key: {0}")]
    KeyGeneration(String),
    #[error("key generation task failed: {0}")]
    KeyTask(String),
    #[error("cannot sign a token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// A user of the simulated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// Entra object id.
    pub oid: String,
    pub upn: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub mail_nickname: String,
    pub account_enabled: bool,
    /// App roles of the kiosk application.
    pub roles: Vec<String>,
    /// Group object ids emitted in the ID token.
    pub groups: Vec<String>,
}

impl SimUser {
    /// An enabled user with a fresh object id, mail = UPN, nickname = UPN prefix, no roles.
    pub fn new(upn: &str, display_name: &str) -> Self {
        SimUser {
            oid: uuid::Uuid::new_v4().to_string(),
            upn: upn.to_string(),
            display_name: display_name.to_string(),
            mail: Some(upn.to_string()),
            mail_nickname: upn.split('@').next().unwrap_or(upn).to_string(),
            account_enabled: true,
            roles: Vec::new(),
            groups: Vec::new(),
        }
    }

    pub fn with_oid(mut self, oid: &str) -> Self {
        self.oid = oid.to_string();
        self
    }

    pub fn with_roles(mut self, roles: &[&str]) -> Self {
        self.roles = roles.iter().map(|r| r.to_string()).collect();
        self
    }
}

/// How to run the simulated cloud.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub tenant_id: String,
    /// Verified domains accepted as tenant path segments.
    pub domains: Vec<String>,
    pub client_id: String,
    /// The first user is the one auto-approval and `approve_pending(None)` sign in.
    pub users: Vec<SimUser>,
    /// Uploads land in `drive_dir/<upn>/<path>`.
    pub drive_dir: PathBuf,
    /// Approve a pending device code as the first user once it is this old (on the next poll).
    pub auto_approve_after: Option<Duration>,
    pub device_code_interval_secs: u64,
    pub device_code_expires_secs: u64,
    pub access_token_lifetime_secs: u64,
    /// Refresh tokens unused for longer than this fail with AADSTS700082.
    pub refresh_token_max_inactive: Duration,
    /// How long a rotated-away refresh token may still be redeemed. `None` (the default): not
    /// at all, stricter than Entra, which keeps honouring the previous token for a while; the
    /// panel must be correct under both.
    pub refresh_reuse_window: Option<Duration>,
    /// SharePoint sites; their libraries land in `drive_dir/sites/<site>/<library>/<path>`.
    pub sites: Vec<SimSite>,
    /// An upload session expires this long after its creation or its last fragment.
    pub upload_session_lifetime: Duration,
    /// Items per page of a folder listing (Graph's default is 200).
    pub children_page_size: usize,
    /// Entries per page of `/users/delta` and `/groups/delta` at most (a client's smaller
    /// `Prefer: odata.maxpagesize` wins).
    pub directory_page_size: usize,
    /// Directory groups and their members.
    pub groups: Vec<SimGroup>,
    /// Directory attributes of users beyond [`SimUser`]: `department`,
    /// `onPremisesExtensionAttributes.extensionAttribute3`, `extension_<app>_<name>`, ...
    pub user_attributes: Vec<(String, String, serde_json::Value)>,
    /// Application permissions consented for the app (app-only tokens carry them as roles).
    pub app_permissions: Vec<String>,
}

impl SimOptions {
    /// A tenant without users, with Entra's default timings.
    pub fn new(tenant_id: &str, client_id: &str, drive_dir: impl Into<PathBuf>) -> Self {
        SimOptions {
            tenant_id: tenant_id.to_string(),
            domains: Vec::new(),
            client_id: client_id.to_string(),
            users: Vec::new(),
            drive_dir: drive_dir.into(),
            auto_approve_after: None,
            device_code_interval_secs: 5,
            device_code_expires_secs: 900,
            access_token_lifetime_secs: 3600,
            refresh_token_max_inactive: Duration::from_secs(90 * 24 * 60 * 60),
            refresh_reuse_window: None,
            sites: Vec::new(),
            upload_session_lifetime: Duration::from_secs(15 * 60),
            children_page_size: 200,
            directory_page_size: 999,
            groups: Vec::new(),
            user_attributes: Vec::new(),
            app_permissions: vec!["User.Read.All".into(), "GroupMember.Read.All".into()],
        }
    }

    /// The demo tenant `contoso.example`: Adele Vance (first user), Alex Wilber, Megan Bowen,
    /// and technician Tom Tech with the `Kiosk.Technician` role.
    pub fn demo(drive_dir: impl Into<PathBuf>) -> Self {
        let mut opts = SimOptions::new(DEMO_TENANT_ID, DEMO_CLIENT_ID, drive_dir);
        opts.domains = vec![DEMO_DOMAIN.to_string()];
        opts.users = vec![
            SimUser::new("adele@contoso.example", "Adele Vance")
                .with_oid("0f3b5a1e-6c2d-4e8f-9a7b-1c2d3e4f5a60"),
            SimUser::new("alex@contoso.example", "Alex Wilber")
                .with_oid("1a4c6b2f-7d3e-4f90-8b1c-2d3e4f5a6b71"),
            SimUser::new("megan@contoso.example", "Megan Bowen")
                .with_oid("2b5d7c3a-8e4f-4a01-9c2d-3e4f5a6b7c82"),
            SimUser::new("tom.tech@contoso.example", "Tom Tech")
                .with_oid("3c6e8d4b-9f5a-4b12-8d3e-4f5a6b7c8d93")
                .with_roles(&[TECHNICIAN_ROLE]),
        ];
        opts.sites = vec![SimSite::new(
            DEMO_SHAREPOINT_HOST,
            "/sites/Finance",
            "Documents",
        )];
        opts
    }
}

/// What clients did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub discovery_requests: u64,
    pub jwks_requests: u64,
    pub device_code_requests: u64,
    pub device_code_polls: u64,
    pub device_code_grants: u64,
    pub refresh_grants: u64,
    pub refresh_failures: u64,
    pub me_requests: u64,
    /// Files committed to a drive (simple PUTs and completed sessions).
    pub uploads: u64,
    pub graph_unauthorized: u64,
    pub upload_sessions: u64,
    /// Fragments accepted by upload sessions.
    pub fragments: u64,
    /// Requests failed on purpose (queued or random faults).
    pub graph_faults: u64,
}

/// A running simulated cloud. Stops when shut down or dropped.
pub struct SimCloud {
    shared: Arc<Shared>,
    graph_endpoint: Url,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCloud")
            .field("authority", &self.shared.base)
            .field("tenant_id", &self.shared.tenant_id)
            .finish_non_exhaustive()
    }
}

impl SimCloud {
    /// Binds 127.0.0.1 on a free port and serves Entra and Graph from it.
    pub async fn start(opts: SimOptions) -> Result<SimCloud, SimError> {
        tokio::fs::create_dir_all(&opts.drive_dir)
            .await
            .map_err(|source| SimError::DriveDir {
                path: opts.drive_dir.clone(),
                source,
            })?;
        let keys = tokio::task::spawn_blocking(KeyRing::generate)
            .await
            .map_err(|e| SimError::KeyTask(e.to_string()))??;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let base = format!("http://{addr}");
        let authority = Url::parse(&format!("{base}/"))
            .map_err(|e| SimError::Bind(std::io::Error::other(e)))?;
        let graph_endpoint = Url::parse(&format!("{base}/v1.0"))
            .map_err(|e| SimError::Bind(std::io::Error::other(e)))?;

        let directory_state = directory_control::initial_directory(
            &opts.users,
            &opts.groups,
            &opts.user_attributes,
            opts.directory_page_size,
        );
        let shared = Arc::new(Shared {
            base,
            authority,
            tenant_id: opts.tenant_id,
            domains: opts.domains,
            client_id: opts.client_id,
            drive_dir: opts.drive_dir,
            auto_approve_after: opts.auto_approve_after,
            interval: Duration::from_secs(opts.device_code_interval_secs.max(1)),
            expires: Duration::from_secs(opts.device_code_expires_secs),
            access_token_lifetime: Duration::from_secs(opts.access_token_lifetime_secs.max(60)),
            refresh_max_inactive: opts.refresh_token_max_inactive,
            refresh_reuse_window: opts.refresh_reuse_window,
            keys: RwLock::new(keys),
            state: Mutex::new(State {
                users: opts.users,
                ..State::default()
            }),
            drive_commit: tokio::sync::Mutex::new(()),
            graph: Mutex::new(graph_state::GraphState {
                sites: opts.sites,
                session_lifetime: opts.upload_session_lifetime,
                page_size: opts.children_page_size.max(1),
                ..Default::default()
            }),
            hashes: Mutex::new(Default::default()),
            app_auth: Mutex::new(app_auth::AppAuth {
                permissions: opts.app_permissions,
                ..Default::default()
            }),
            directory: Mutex::new(directory_state),
        });

        let app = entra::routes()
            .merge(graph::routes(shared.clone()))
            .merge(login_page::routes())
            .fallback(fallback)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<chaos::ConnHandle>();
        let listener = chaos::ChaosListener(listener);
        let (stop, stopped) = oneshot::channel::<()>();
        let gate_shared = shared.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(net::GatedListener::new(listener, gate_shared), app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(%err, "simulated cloud stopped with an error");
            }
        });
        tracing::info!(authority = %shared.base, "simulated Entra and Graph listening");
        Ok(SimCloud {
            shared,
            graph_endpoint,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT/`: use as the Entra authority host.
    pub fn authority_host(&self) -> Url {
        self.shared.authority.clone()
    }

    /// `http://127.0.0.1:PORT/v1.0`: use as the Graph endpoint.
    pub fn graph_endpoint(&self) -> Url {
        self.graph_endpoint.clone()
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn drive_dir(&self) -> &Path {
        &self.shared.drive_dir
    }

    /// Where `upn`'s uploads land.
    pub fn user_drive_dir(&self, upn: &str) -> PathBuf {
        self.shared.drive_dir.join(upn.to_lowercase())
    }

    /// The `iss` of ID tokens: `{authority}/{tid}/v2.0`.
    pub fn issuer(&self) -> String {
        self.shared.issuer()
    }

    pub fn users(&self) -> Vec<SimUser> {
        self.shared.state().users.clone()
    }

    /// Approves the oldest pending device code as `oid`, or as the first user. False when there
    /// is nothing pending or the user is unknown.
    pub fn approve_pending(&self, oid: Option<&str>) -> bool {
        let mut state = self.shared.state();
        match approver(&state, oid) {
            Some(oid) => state.settle_oldest_pending(CodeStatus::Approved { oid }),
            None => false,
        }
    }

    /// Approves the pending device code `user_code` (as the phone would after the user typed it)
    /// as `oid`, or as the first user. False when that code is not pending or the user unknown.
    pub fn approve_user_code(&self, user_code: &str, oid: Option<&str>) -> bool {
        let mut state = self.shared.state();
        match approver(&state, oid) {
            Some(oid) => state.settle_user_code(user_code, CodeStatus::Approved { oid }),
            None => false,
        }
    }

    /// Declines the oldest pending device code.
    pub fn decline_pending(&self) -> bool {
        self.shared
            .state()
            .settle_oldest_pending(CodeStatus::Declined)
    }

    pub fn stats(&self) -> SimStats {
        self.shared.state().stats
    }

    /// Enables or disables an account; false if there is no such user.
    pub fn set_account_enabled(&self, oid: &str, enabled: bool) -> bool {
        let mut state = self.shared.state();
        let user = match state.users.iter_mut().find(|u| u.oid == oid) {
            Some(user) => {
                user.account_enabled = enabled;
                user.clone()
            }
            None => return false,
        };
        drop(state);
        self.shared.directory().put_user(&user);
        true
    }

    /// Sets the app roles an administrator assigned to a user; tokens issued afterwards, also
    /// by refresh, carry them. False if there is no such user.
    pub fn set_user_roles(&self, oid: &str, roles: &[&str]) -> bool {
        let mut state = self.shared.state();
        match state.users.iter_mut().find(|u| u.oid == oid) {
            Some(user) => {
                user.roles = roles.iter().map(|r| r.to_string()).collect();
                true
            }
            None => false,
        }
    }

    /// Deletes a user; their refresh tokens then fail with AADSTS50034.
    pub fn remove_user(&self, oid: &str) -> bool {
        let mut state = self.shared.state();
        let before = state.users.len();
        state.users.retain(|u| u.oid != oid);
        let removed = state.users.len() != before;
        drop(state);
        if removed {
            self.shared.directory().delete_user(oid, "deleted");
        }
        removed
    }

    /// Adds a user (e.g. one hired after start).
    pub fn add_user(&self, user: SimUser) {
        self.shared.directory().put_user(&user);
        self.shared.state().users.push(user);
    }

    /// Revokes all refresh tokens of a user (admin "revoke sessions", password reset): they then
    /// fail with AADSTS50173. Returns how many were revoked.
    pub fn revoke_sessions(&self, oid: &str) -> usize {
        let mut guard = self.shared.state();
        let state = &mut *guard;
        let hashes: Vec<String> = state
            .refresh_tokens
            .iter()
            .filter(|(_, g)| g.oid == oid)
            .map(|(h, _)| h.clone())
            .collect();
        for hash in &hashes {
            state.refresh_tokens.remove(hash);
            state.revoked_refresh_tokens.insert(hash.clone());
        }
        // Revocation also ends the reuse window of the user's rotated-away tokens.
        state.spent_refresh_tokens.retain(|_, (_, g)| g.oid != oid);
        hashes.len()
    }

    /// The next `count` Graph requests fail with `status` (429, 503, ...) and, if given, a
    /// `Retry-After` header.
    pub fn inject_graph_faults(&self, count: usize, status: u16, retry_after: Option<Duration>) {
        let mut state = self.shared.state();
        for _ in 0..count {
            state.graph_faults.push_back(GraphFault {
                status,
                retry_after,
            });
        }
    }

    /// Where files of `library` in the site with server-relative `site_path` land.
    pub fn site_drive_dir(&self, site_path: &str, library: &str) -> PathBuf {
        let short = site_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(site_path);
        self.shared
            .drive_dir
            .join("sites")
            .join(short)
            .join(library)
    }

    pub fn sites(&self) -> Vec<SimSite> {
        self.shared.graph().sites.clone()
    }

    pub fn add_site(&self, site: SimSite) {
        self.shared.graph().sites.push(site);
    }

    /// Deletes a site (its path and drives then answer 404); false if there is none.
    pub fn remove_site(&self, hostname: &str, path: &str) -> bool {
        let mut graph = self.shared.graph();
        let before = graph.sites.len();
        graph.sites.retain(|s| {
            !(s.hostname.eq_ignore_ascii_case(hostname) && s.path.eq_ignore_ascii_case(path))
        });
        graph.sites.len() != before
    }

    /// Limits a site to `members` (object ids), or opens it to all with `None`.
    pub fn set_site_members(&self, path: &str, members: Option<Vec<String>>) -> bool {
        let mut graph = self.shared.graph();
        match graph
            .sites
            .iter_mut()
            .find(|s| s.path.eq_ignore_ascii_case(path))
        {
            Some(site) => {
                site.members = members;
                true
            }
            None => false,
        }
    }

    /// From now on each Graph request fails with probability `rate` (500, 503 or 429 with
    /// `Retry-After: 1`, or its connection cut before or after the request is carried out),
    /// drawn from a generator seeded with `seed`. `rate` 0 turns it off.
    pub fn set_random_faults(&self, rate: f64, seed: u64) {
        use rand::SeedableRng;
        self.shared.graph().chaos = (rate > 0.0).then(|| graph_state::Chaos {
            rate: rate.min(1.0),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        });
    }

    /// Runs `kill` at the `nth` Graph request from now (1 = the next one), at `phase` of that
    /// request, then cuts its connection. `kill` should stop the client and wait until it is
    /// gone; it runs on a blocking thread. Replaces an earlier plan.
    pub fn arm_kill(&self, nth: u64, phase: KillPhase, kill: Arc<dyn Fn() + Send + Sync>) {
        self.shared.graph().kill = Some(graph_state::KillPlan {
            at: nth.max(1),
            seen: 0,
            phase,
            action: kill,
        });
    }

    /// Calls `observe(method, path)` before each Graph request is handled (and before any
    /// planned fault or kill of it), from a blocking thread; the request waits for it. Tests
    /// use it to see what a client is about to send while it still exists on the client's side.
    pub fn observe_graph(&self, observe: graph_state::GraphObserver) {
        self.shared.graph().observer = Some(observe);
    }

    /// Drops a kill plan that has not fired; true if there was one.
    pub fn disarm_kill(&self) -> bool {
        self.shared.graph().kill.take().is_some()
    }

    /// Every access token presented to Graph so far is refused from now on as expired (as when
    /// a token runs out in the middle of a long upload). Returns how many.
    pub fn expire_access_tokens(&self) -> usize {
        let mut graph = self.shared.graph();
        let seen: Vec<String> = graph.seen_tokens.drain().collect();
        graph.expired_tokens.extend(seen.iter().cloned());
        seen.len()
    }

    /// Every open upload session expires now: later requests on it get 404. Returns how many.
    /// Call from a blocking thread or outside the runtime (e.g. in an [`Self::arm_kill`] action).
    pub fn expire_upload_sessions(&self) -> usize {
        Self::expire_sessions_of(&self.shared)
    }

    fn expire_sessions_of(shared: &Shared) -> usize {
        let sessions: Vec<_> = shared.graph().sessions.values().cloned().collect();
        for s in &sessions {
            s.data.blocking_lock().expires = tokio::time::Instant::now();
        }
        sessions.len()
    }

    /// A handle that can expire upload sessions and tokens from inside an [`Self::arm_kill`]
    /// action (which runs on a blocking thread).
    pub fn controls(&self) -> SimControls {
        SimControls {
            shared: self.shared.clone(),
        }
    }

    /// Upload sessions not yet completed, cancelled or expired.
    pub fn open_upload_sessions(&self) -> usize {
        self.shared.graph().sessions.len()
    }

    /// The kid the sim signs with now.
    pub fn current_kid(&self) -> String {
        self.shared.keys().current_kid()
    }

    /// Signs arbitrary claims with the current key (RS256, `kid` header), for tests that need a
    /// correctly signed token with chosen claims.
    pub fn sign_jwt(&self, claims: &serde_json::Value) -> Result<String, SimError> {
        self.shared.keys().sign(claims)
    }

    /// Publishes a new signing key and signs with it from now on; the old keys stay published.
    /// Returns the new kid.
    pub async fn rotate_keys(&self) -> Result<String, SimError> {
        let key = tokio::task::spawn_blocking(KeyRing::new_key)
            .await
            .map_err(|e| SimError::KeyTask(e.to_string()))??;
        Ok(self.shared.keys_mut().rotate_to(key))
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 5 s: idle keep-alive
    /// connections of clients would otherwise hold it open), then stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

/// Test controls usable from any thread, detached from the [`SimCloud`] value.
#[derive(Clone)]
pub struct SimControls {
    shared: Arc<Shared>,
}

impl SimControls {
    /// See [`SimCloud::expire_upload_sessions`]. Call from a blocking thread.
    pub fn expire_upload_sessions(&self) -> usize {
        SimCloud::expire_sessions_of(&self.shared)
    }

    /// See [`SimCloud::expire_access_tokens`].
    pub fn expire_access_tokens(&self) -> usize {
        let mut graph = self.shared.graph();
        let seen: Vec<String> = graph.seen_tokens.drain().collect();
        graph.expired_tokens.extend(seen.iter().cloned());
        seen.len()
    }
}

impl Drop for SimCloud {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open keep-alive connections would hold a graceful shutdown; a dropped sim just stops.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn fallback(
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/v1.0/") {
        let segment = uri.path().rsplit('/').next().unwrap_or("");
        graph::graph_error(
            axum::http::StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
            &headers,
        )
    } else {
        (axum::http::StatusCode::NOT_FOUND, "Not found").into_response()
    }
}

/// The user who approves a device code: `oid` if it is a known user, else the first user.
fn approver(state: &state::State, oid: Option<&str>) -> Option<String> {
    match oid {
        Some(oid) => state.user(oid).map(|u| u.oid.clone()),
        None => state.users.first().map(|u| u.oid.clone()),
    }
}
