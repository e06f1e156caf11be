//! The adapters the controller works with, built once from the validated config: the SQLite
//! store, the device key, the Entra and Graph clients, the card pipeline, the scanner and (in
//! the demo) the simulated cloud. Blocking methods here are called from `spawn_blocking`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use secrecy::SecretString;
use tokio::sync::OnceCell;

use super::signin::AccessToken;
use crate::auth::card::CardPipeline;
use crate::auth::entra::{EntraClient, EntraError, EntraSettings};
use crate::auth::pin::{self, PinHashParams, PinHasher};
use crate::auth::IdClaims;
use crate::config::Config;
use crate::graph::GraphClient;
use crate::identity::provisioning::{self, DirectoryProfile, Outcome, ProvisioningRules};
use crate::identity::{UserRecord, UserStatus};
use crate::kiosk::{AuthMethod, KioskSettings, LoginMode, SessionUser, WorkflowEntry};
use crate::scan::Scanner;
use crate::secrets::{self, DeviceKey};
use crate::store::Store;

/// Errors of the app's services, each with a short message for the walk-up user.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("secrets: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("card number: {0}")]
    Card(#[from] crate::auth::card::CardError),
    #[error("PIN: {0}")]
    Pin(#[from] crate::auth::pin::PinError),
    #[error("Entra: {0}")]
    Entra(#[from] EntraError),
    #[error("provisioning: {0}")]
    Provisioning(#[from] crate::identity::provisioning::ProvisioningError),
    #[error("the token response carried no ID token")]
    NoIdToken,
    #[error("no cached refresh token for this user")]
    NoRefreshToken,
    #[error("the cached refresh token was rejected (invalid_grant)")]
    RefreshRejected,
    #[error("the identity needs a new Microsoft sign-in")]
    NeedsMicrosoftSignIn,
    #[error("the identity was revoked")]
    Revoked,
    #[error("the user has no PIN")]
    NoPin,
    #[error("{0}")]
    PinWrong(String),
    #[error("the identity was not confirmed online within the offline grace period")]
    OfflineTooLong,
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("background task failed: {0}")]
    Task(String),
}

impl ServiceError {
    /// What the panel says: short, plain, never a secret.
    pub fn panel_message(&self) -> String {
        match self {
            ServiceError::Entra(e) => e.panel_message(),
            ServiceError::Card(_) => "That badge could not be read. Please tap again.".into(),
            ServiceError::NeedsMicrosoftSignIn | ServiceError::RefreshRejected => {
                "Your Microsoft sign-in has expired. Please sign in with Microsoft once.".into()
            }
            ServiceError::Revoked => "This account no longer has access to this printer.".into(),
            ServiceError::NoPin => "You have no PIN yet. Sign in with Microsoft to set one.".into(),
            ServiceError::PinWrong(m) => m.clone(),
            ServiceError::Pin(e) => format!("PIN not accepted: {e}."),
            ServiceError::OfflineTooLong => {
                "The printer is offline and your badge must be confirmed online first.".into()
            }
            ServiceError::Provisioning(e) => format!("Sign-in refused: {e}."),
            _ => "Something went wrong. Please try again or ask IT for help.".into(),
        }
    }
}

/// Builds a scanner for one job (the simulated one in the demo, SANE on the device).
pub type ScannerFactory = Box<dyn Fn() -> Box<dyn Scanner> + Send + Sync>;

pub struct Services {
    pub config: Config,
    pub store: Store,
    key: DeviceKey,
    card_pipeline: CardPipeline,
    entra: OnceCell<EntraClient>,
    /// One lock per user around refresh-token redemption: Entra rotates the token on every use,
    /// so two concurrent refreshes (card sign-in and outbox worker) would race with the same
    /// token and the loser would look like a revoked grant.
    refresh_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub graph: GraphClient,
    pub spool_dir: PathBuf,
    scanner: ScannerFactory,
    panel_lockout: std::sync::Mutex<pin::PanelLockout>,
    #[cfg(feature = "demo")]
    pub sim: Option<crate::sim::SimCloud>,
}

impl Services {
    /// Opens the store and key under the config's state directory and builds the clients.
    pub fn new(config: Config, scanner: ScannerFactory) -> Result<Self, ServiceError> {
        let state_dir = config.device.state_dir.clone();
        let spool_dir = config.spool_dir();
        std::fs::create_dir_all(&spool_dir).map_err(|e| {
            ServiceError::Task(format!("cannot create {}: {e}", spool_dir.display()))
        })?;
        let store = Store::open(&state_dir.join("kiosk.sqlite3"))?;
        let key = DeviceKey::load_or_create(&state_dir.join("device.key"))?;
        let card_pipeline = CardPipeline::parse(&config.readers.normalise)?;
        let config_pin_attempts = config.pin.max_attempts;
        let config_lockout_base = config.pin.lockout_base_secs;
        let endpoint = url::Url::parse(&config.graph.endpoint)
            .map_err(|e| ServiceError::Task(format!("graph.endpoint: {e}")))?;
        let graph = GraphClient::new(endpoint).map_err(|e| ServiceError::Task(e.to_string()))?;
        Ok(Services {
            config,
            store,
            key,
            card_pipeline,
            entra: OnceCell::new(),
            refresh_locks: std::sync::Mutex::new(HashMap::new()),
            graph,
            spool_dir,
            scanner,
            panel_lockout: std::sync::Mutex::new(pin::PanelLockout::new(
                config_panel_threshold(&config_pin_attempts),
                std::time::Duration::from_secs(config_lockout_base),
            )),
            #[cfg(feature = "demo")]
            sim: None,
        })
    }

    pub fn kiosk_settings(&self) -> KioskSettings {
        let c = &self.config;
        KioskSettings {
            inactivity_timeout: std::time::Duration::from_secs(c.session.inactivity_timeout_secs),
            countdown: std::time::Duration::from_secs(c.session.countdown_secs),
            pin_min_length: c.pin.min_length,
            pin_max_length: c.pin.max_length,
            login_mode: self.login_mode(),
            microsoft_enabled: true,
        }
    }

    pub fn login_mode(&self) -> LoginMode {
        use crate::config::LoginMode as M;
        match self.config.pin.login_mode {
            M::Card => LoginMode::Card,
            M::Pin => LoginMode::Pin,
            M::CardOrPin => LoginMode::CardOrPin,
            M::CardAndPin => LoginMode::CardAndPin,
        }
    }

    pub fn offline_grace(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.config.identity.offline_grace_hours))
    }

    /// The Entra client, connected (discovery fetched) on first use. A failed discovery is
    /// retried at the next sign-in rather than cached.
    pub async fn entra(&self) -> Result<&EntraClient, ServiceError> {
        let e = &self.config.entra;
        let authority_host = e
            .authority_host_url()
            .map_err(|err| ServiceError::Task(err.to_string()))?;
        self.entra
            .get_or_try_init(|| async {
                EntraClient::connect(EntraSettings {
                    authority_host,
                    tenant: e.tenant.clone(),
                    client_id: e.client_id.clone(),
                    scopes: e.scopes.clone(),
                    allowed_tenants: e.allowed_tenants.clone(),
                })
                .await
            })
            .await
            .map_err(ServiceError::Entra)
    }

    fn rules(&self) -> ProvisioningRules {
        ProvisioningRules::from_config(&self.config.entra)
    }

    /// Normalises and hashes a card number the way it is stored.
    fn card_hash(&self, card: &SecretString) -> Result<([u8; 32], String), ServiceError> {
        use secrecy::ExposeSecret;
        let normalised = self.card_pipeline.apply(card.expose_secret())?;
        Ok((
            self.key.card_hash(&normalised),
            secrets::mask_card(&normalised),
        ))
    }

    pub fn user_by_card(&self, card: &SecretString) -> Result<Option<UserRecord>, ServiceError> {
        let (hash, _) = self.card_hash(card)?;
        Ok(self.store.user_by_card_hash(&hash)?)
    }

    /// [`Services::user_by_card`] for a sign-in: also records the card's last use when its
    /// owner is active (what a technician's card list shows). Failing to record it is logged,
    /// never a reason to refuse the sign-in.
    pub fn user_for_card_tap(
        &self,
        card: &SecretString,
    ) -> Result<Option<UserRecord>, ServiceError> {
        let (hash, _) = self.card_hash(card)?;
        let user = self.store.user_by_card_hash(&hash)?;
        if user
            .as_ref()
            .is_some_and(|u| u.status == UserStatus::Active)
        {
            if let Err(e) = self.store.touch_card_used(&hash, Utc::now()) {
                tracing::warn!(error = %e, "cannot record the card's last use");
            }
        }
        Ok(user)
    }

    /// Card administration (service menu, `cards` command) over this panel's store, device key
    /// and normalisation pipeline: the same hashing as self-enrollment.
    pub fn cards(&self) -> crate::admin::cards::CardAdmin<'_> {
        crate::admin::cards::CardAdmin::new(
            &self.store,
            &self.key,
            &self.card_pipeline,
            self.config.identity.max_cards_per_user,
        )
    }

    pub fn has_pin(&self, oid: &str) -> Result<bool, ServiceError> {
        Ok(self.store.pin_state(oid)?.is_some())
    }

    /// Refuses PIN-pad work while the panel is locked.
    pub fn panel_locked(&self) -> Result<(), ServiceError> {
        let panel = self.panel_lockout.lock().unwrap_or_else(|e| e.into_inner());
        panel.check(std::time::Instant::now()).map_err(|left| {
            ServiceError::PinWrong(format!(
                "Too many failed attempts on this panel. Try again in {} s.",
                left.as_secs().max(1)
            ))
        })
    }

    /// Counts a failure of the PIN pad (wrong PIN, unknown typed badge) against the panel.
    pub fn panel_failure(&self) {
        let mut panel = self.panel_lockout.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = panel.record_failure(std::time::Instant::now()) {
            tracing::warn!(
                seconds = lock.as_secs(),
                "PIN pad locked after repeated failures"
            );
            drop(panel);
            self.audit(
                "panel",
                "pin_pad_locked",
                "panel",
                &format!("{} s", lock.as_secs()),
            );
        }
    }

    /// Verifies the PIN with lockout; returns the user on success.
    pub fn check_pin(
        &self,
        oid: &str,
        pin_entered: &SecretString,
    ) -> Result<UserRecord, ServiceError> {
        self.panel_locked()?;
        let user = self
            .store
            .user_by_oid(oid)?
            .ok_or_else(|| ServiceError::UnknownUser(oid.into()))?;
        let state = self.store.pin_state(oid)?.ok_or(ServiceError::NoPin)?;
        let now = Utc::now();
        if let Some(until) = state.locked_until {
            if until > now {
                let secs = (until - now).num_seconds().max(1);
                return Err(ServiceError::PinWrong(format!(
                    "Too many wrong PINs. Try again in {secs} s."
                )));
            }
        }
        if self.pin_hasher().verify(&state.phc, pin_entered)? {
            self.store.reset_pin_failures(oid)?;
            self.panel_lockout
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record_success();
            return Ok(user);
        }
        self.panel_failure();
        let failed = state.failed_attempts + 1;
        let p = &self.config.pin;
        let delay = pin::lockout_delay(
            failed,
            p.max_attempts,
            std::time::Duration::from_secs(p.lockout_base_secs),
        );
        let locked_until = delay
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        self.store.record_pin_failure(oid, locked_until)?;
        self.audit(oid, "pin_failed", oid, &format!("attempt {failed}"));
        let message = match locked_until {
            Some(_) => {
                "Wrong PIN. Too many attempts: PIN sign-in is paused for a while.".to_string()
            }
            None => {
                let left = p.max_attempts.saturating_sub(failed);
                format!("Wrong PIN. {left} attempts left.")
            }
        };
        Err(ServiceError::PinWrong(message))
    }

    /// Checks the policy and stores a new PIN (argon2id, peppered), clearing any lockout.
    pub fn save_pin(&self, oid: &str, new_pin: &SecretString) -> Result<(), ServiceError> {
        self.config.pin.policy().check(new_pin)?;
        let phc = self.pin_hasher().hash(new_pin)?;
        self.store.set_pin_hash(oid, &phc, Utc::now())?;
        self.audit(oid, "pin_set", oid, "");
        Ok(())
    }

    /// Gets a fresh access token from the user's cached refresh token (single sign-on) and
    /// stores the rotated refresh token in its place.
    pub async fn silent_refresh(&self, oid: &str) -> Result<AccessToken, ServiceError> {
        let lock = {
            let mut locks = self
                .refresh_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(oid.to_string()).or_default().clone()
        };
        // Read the sealed token only once the lock is held: a refresh that ran meanwhile has
        // stored its rotated successor.
        let _one_at_a_time = lock.lock().await;
        let sealed = self
            .store
            .refresh_token(oid)?
            .ok_or(ServiceError::NoRefreshToken)?;
        let refresh = self.key.open(&sealed, oid.as_bytes())?;
        let entra = self.entra().await?;
        let tokens = match entra.refresh(&refresh).await {
            Ok(t) => t,
            Err(e) if e.is_invalid_grant() => {
                tracing::warn!(oid, error = %e, "refresh token rejected");
                return Err(ServiceError::RefreshRejected);
            }
            Err(e) => return Err(ServiceError::Entra(e)),
        };
        if let Some(rotated) = &tokens.refresh_token {
            let sealed = self.key.seal(rotated, oid.as_bytes())?;
            self.store.put_refresh_token(oid, &sealed, Utc::now())?;
        }
        self.store.touch_online(oid, Utc::now())?;
        Ok(AccessToken {
            token: tokens.access_token,
            expires_at: tokens.expires_at,
        })
    }

    pub fn mark_needs_sign_in(&self, oid: &str) {
        if let Err(e) = self
            .store
            .set_user_status(oid, UserStatus::NeedsSignIn, Utc::now())
        {
            tracing::error!(error = %e, "cannot mark identity as needing sign-in");
        }
        self.audit("system", "needs_signin", oid, "refresh token rejected");
    }

    /// Creates or updates the user from a validated sign-in, seals the refresh token and binds
    /// the card that was tapped before the sign-in.
    pub fn provision(
        &self,
        claims: &IdClaims,
        profile: Option<&DirectoryProfile>,
        refresh_token: Option<&SecretString>,
        link_card: Option<&SecretString>,
    ) -> Result<UserRecord, ServiceError> {
        let existing = self.store.user_by_oid(&claims.oid)?;
        let provisioned = provisioning::provision(
            existing.as_ref(),
            claims,
            profile,
            &self.rules(),
            Utc::now(),
        )?;
        let user = provisioned.user;
        self.store.upsert_user(&user)?;
        let action = match provisioned.outcome {
            Outcome::Created => "user_created",
            Outcome::Updated => "user_updated",
            Outcome::Unchanged => "user_signed_in",
        };
        self.audit(&user.oid, action, &user.oid, &user.upn);
        if let Some(refresh) = refresh_token {
            let sealed = self.key.seal(refresh, user.oid.as_bytes())?;
            self.store
                .put_refresh_token(&user.oid, &sealed, Utc::now())?;
        }
        if let Some(card) = link_card {
            let (hash, masked) = self.card_hash(card)?;
            let max = self.config.identity.max_cards_per_user;
            self.store
                .bind_card(&user.oid, &hash, &masked, max, Utc::now())?;
            self.audit(&user.oid, "card_bound", &user.oid, &masked);
        }
        Ok(user)
    }

    /// The session view of a user: name, role and the workflows their roles allow.
    pub fn session_user(&self, user: &UserRecord, method: AuthMethod) -> SessionUser {
        let workflows = self
            .config
            .workflows
            .iter()
            .filter(|w| {
                w.allowed_roles.is_empty()
                    || w.allowed_roles
                        .iter()
                        .any(|r| user.roles.contains(r) || user.groups.contains(r))
            })
            .map(|w| WorkflowEntry {
                id: w.id.clone(),
                label: w.label.clone(),
                badge: destination_badge(w.destination).to_string(),
                destination: destination_name(w.destination).to_string(),
            })
            .collect();
        SessionUser {
            oid: user.oid.clone(),
            display_name: user.display_name.clone(),
            upn: user.upn.clone(),
            is_technician: user.is_technician,
            method,
            workflows,
        }
    }

    pub fn new_scanner(&self) -> Box<dyn Scanner> {
        (self.scanner)()
    }

    pub fn spool_path(&self, job_id: &str) -> PathBuf {
        self.spool_dir.join(format!("{job_id}.pdf"))
    }

    /// Appends to the audit log; a failing audit write is logged, never fatal to the user.
    pub fn audit(&self, actor: &str, action: &str, subject: &str, detail: &str) {
        if let Err(e) =
            self.store
                .append_audit(actor, action, Some(subject), Some(detail), Utc::now())
        {
            tracing::error!(error = %e, action, "audit write failed");
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.config.device.state_dir
    }

    /// Demo only: the simulated Entra approves the code shown on the panel, as the user's
    /// phone would.
    pub fn demo_approve(&self, user_code: &str) {
        #[cfg(feature = "demo")]
        if let Some(sim) = &self.sim {
            if !sim.approve_user_code(user_code, None) {
                tracing::info!("demo approve: that code is no longer pending");
            }
        }
        #[cfg(not(feature = "demo"))]
        let _ = user_code;
    }

    /// The PIN hasher, peppered with the device key so a copied database alone can't be
    /// brute-forced offline.
    pub fn pin_hasher(&self) -> PinHasher {
        PinHasher::new(PinHashParams::default(), Some(self.key.pin_pepper()))
    }
}

/// Panel-wide failures allowed before the pad locks: enough for two users' own limits, so one
/// person mistyping can't lock everybody out.
fn config_panel_threshold(max_attempts: &u32) -> u32 {
    max_attempts.saturating_mul(2).max(2)
}

/// Short glyph text of a destination tile.
pub fn destination_badge(d: crate::config::Destination) -> &'static str {
    match d {
        crate::config::Destination::Onedrive => "OD",
        crate::config::Destination::Sharepoint => "SP",
    }
}

/// A destination as users name it.
pub fn destination_name(d: crate::config::Destination) -> &'static str {
    match d {
        crate::config::Destination::Onedrive => "OneDrive",
        crate::config::Destination::Sharepoint => "SharePoint",
    }
}

/// Shared handle used by the controller and its tasks.
pub type SharedServices = Arc<Services>;
