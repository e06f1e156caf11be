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
use crate::auth::refresh_verdict::{AccountGone, RefreshVerdict};
use crate::auth::IdClaims;
use crate::config::Config;
use crate::graph::GraphClient;
use crate::i18n::{Language, Msg};
use crate::identity::provisioning::{self, DirectoryProfile, Outcome, ProvisioningRules};
use crate::identity::trust_clock::{self, GraceVerdict, TrustClock};
use crate::identity::{UserRecord, UserStatus};
use crate::kiosk::{AuthMethod, KioskSettings, LoginMode, SessionUser, WorkflowEntry};
use crate::scan::Scanner;
use crate::secrets::{self, DeviceKey};
use crate::store::Store;

/// Reads the running readers' status (see [`Services::set_reader_status`]).
pub type ReaderStatusFn = Box<dyn Fn() -> crate::readers::ReaderSnapshot + Send + Sync>;

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
    #[error("Entra refused the cached refresh token: {0}")]
    RefreshRejected(#[source] EntraError),
    #[error("the identity needs a new Microsoft sign-in")]
    NeedsMicrosoftSignIn,
    #[error("the identity was revoked")]
    Revoked,
    #[error("the user has no PIN")]
    NoPin,
    #[error("the local account has no PIN yet")]
    LocalNoPin,
    #[error("{0}")]
    PinWrong(crate::i18n::Msg),
    #[error("the identity was not confirmed online within the offline grace period")]
    OfflineTooLong,
    #[error("the identity's last online confirmation lies in the future: the clock was set back")]
    ClockSetBack,
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("local account refused: {0}")]
    Local(#[from] crate::identity::local::LocalRefusal),
    #[error("background task failed: {0}")]
    Task(String),
}

impl ServiceError {
    /// What the panel says: short, plain, never a secret.
    pub fn panel_message(&self) -> Msg {
        use crate::identity::provisioning::ProvisioningError as P;
        match self {
            ServiceError::Entra(e) => e.panel_message(),
            ServiceError::Card(_) => Msg::new("That badge could not be read. Please tap again."),
            // Disabled, deleted or locked accounts get their own sentence; every other refusal
            // of the cached grant has one way forward.
            ServiceError::RefreshRejected(e)
                if matches!(e.aadsts_code(), Some(50057 | 50034 | 50053)) =>
            {
                e.panel_message()
            }
            ServiceError::NeedsMicrosoftSignIn
            | ServiceError::RefreshRejected(_)
            | ServiceError::NoRefreshToken
            | ServiceError::Secrets(_) => {
                Msg::new("Your Microsoft sign-in has expired. Please sign in with Microsoft once.")
            }
            ServiceError::Revoked => Msg::new("This account no longer has access to this printer."),
            ServiceError::NoPin => Msg::new("You have no PIN yet. Sign in with Microsoft to set one."),
            ServiceError::LocalNoPin => Msg::new("You have no PIN yet. Tap your badge to choose one."),
            ServiceError::PinWrong(m) => m.clone(),
            ServiceError::Pin(e) => Msg::new("PIN not accepted: {}").text(e.panel_msg()),
            ServiceError::OfflineTooLong => {
                Msg::new("The printer is offline and your badge must be confirmed online first.")
            }
            ServiceError::ClockSetBack => {
                Msg::new("This printer's clock looks wrong, so your badge must be confirmed online first. Please tell your technician.")
            }
            ServiceError::Provisioning(P::TenantNotAllowed { .. }) => {
                Msg::new("Accounts from your organisation cannot sign in on this panel.")
            }
            ServiceError::Provisioning(P::DomainNotAllowed { .. }) => {
                Msg::new("Accounts of your domain cannot sign in on this panel.")
            }
            ServiceError::Provisioning(_) => Msg::new(
                "Your account could not be set up on this panel. Please ask a technician.",
            ),
            ServiceError::Local(crate::identity::local::LocalRefusal::Expired(_)) => Msg::new(
                "This visitor account has expired. Please ask your technician.",
            ),
            ServiceError::Local(crate::identity::local::LocalRefusal::Disabled) => Msg::new(
                "This visitor account is switched off. Please ask your technician.",
            ),
            _ => Msg::new("Something went wrong. Please try again or ask IT for help."),
        }
    }

    /// How long Entra asked the panel to wait before its next token request (429).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ServiceError::Entra(e) | ServiceError::RefreshRejected(e) => e.retry_after(),
            _ => None,
        }
    }

    /// What this failure of [`Services::silent_refresh`] means for the offline cache. Entra's
    /// answers are judged by [`RefreshVerdict::of`]; of the panel's own failures, only those
    /// about the user's cached grant (none stored, unreadable, refused, for someone else) send
    /// the user back to a Microsoft sign-in; a store or task failure is the panel's.
    pub fn refresh_verdict(&self) -> RefreshVerdict {
        match self {
            ServiceError::Entra(e) => RefreshVerdict::of(e),
            ServiceError::RefreshRejected(_)
            | ServiceError::NoRefreshToken
            | ServiceError::Secrets(_)
            | ServiceError::Provisioning(_)
            | ServiceError::NoIdToken
            | ServiceError::NeedsMicrosoftSignIn
            | ServiceError::Revoked => RefreshVerdict::UserMustSignIn,
            _ => RefreshVerdict::PanelRefused,
        }
    }
}

mod refresh;
pub mod service_pin;

/// What [`Services::act_on_refresh_failure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshConsequence {
    /// Entra could not be asked: nothing changed.
    Unreachable,
    /// The panel's registration or store is at fault: nothing changed.
    PanelRefused,
    /// The identity now needs a Microsoft sign-in.
    NeedsSignIn,
    /// The account is gone in Entra and was revoked here.
    Revoked(AccountGone),
}

/// Builds a scanner for one job (the simulated one in the demo, SANE on the device).
pub type ScannerFactory = Box<dyn Fn() -> Box<dyn Scanner> + Send + Sync>;

pub struct Services {
    pub config: Config,
    pub store: Store,
    key: Arc<DeviceKey>,
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
    /// Serialises service-PIN checks (their lockout is read, judged and written back).
    service_pin_gate: std::sync::Mutex<()>,
    /// When these services were built (the health page's uptime).
    pub started_at: std::time::Instant,
    /// Where the reader check reads the readers' status; set once the readers run.
    reader_status: std::sync::OnceLock<ReaderStatusFn>,
    /// "Now" for lockouts and the offline grace: never runs backwards within a run.
    clock: TrustClock,
    /// App-only tokens for `delivery = "app"` jobs (memory only).
    app_identity: Arc<super::app_identity::AppIdentity>,
    #[cfg(feature = "demo")]
    pub sim: Option<crate::sim::SimCloud>,
}

impl Services {
    /// Opens the store and key under the config's state directory and builds the clients.
    pub fn new(config: Config, scanner: ScannerFactory) -> Result<Self, ServiceError> {
        let state_dir = config.device.state_dir.clone();
        let spool_dir = config.spool_dir();
        // Scans wait here until delivered: private, like the state directory itself.
        crate::fsmode::private_dir(&state_dir).map_err(|e| ServiceError::Task(e.to_string()))?;
        crate::fsmode::private_dir(&spool_dir).map_err(|e| ServiceError::Task(e.to_string()))?;
        let store = Store::open(&state_dir.join("kiosk.sqlite3"))?;
        let key = Arc::new(DeviceKey::load_or_create(&state_dir.join("device.key"))?);
        let card_pipeline = CardPipeline::parse(&config.readers.normalise)?;
        let panel_lockout = pin::PanelLockout::restore(
            config_panel_threshold(&config.pin.max_attempts),
            std::time::Duration::from_secs(config.pin.lockout_base_secs),
            store.panel_lockout()?,
        );
        let endpoint = url::Url::parse(&config.graph.endpoint)
            .map_err(|e| ServiceError::Task(format!("graph.endpoint: {e}")))?;
        let graph = GraphClient::new(endpoint).map_err(|e| ServiceError::Task(e.to_string()))?;
        let app_identity = super::app_identity::AppIdentity::new(config.clone());
        Ok(Services {
            app_identity,
            config,
            store,
            key,
            card_pipeline,
            entra: OnceCell::new(),
            refresh_locks: std::sync::Mutex::new(HashMap::new()),
            graph,
            spool_dir,
            scanner,
            panel_lockout: std::sync::Mutex::new(panel_lockout),
            service_pin_gate: std::sync::Mutex::new(()),
            started_at: std::time::Instant::now(),
            reader_status: std::sync::OnceLock::new(),
            clock: TrustClock::new(),
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
            microsoft_enabled: c.entra.device_code,
            service_timeout: std::time::Duration::from_secs(c.service.inactivity_timeout_secs),
            service_pin_enabled: c.service.pin_hash.is_some(),
            language: Language::from_tag(&c.device.language).unwrap_or_default(),
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

    /// The time lockouts and the offline grace are judged by (see [`TrustClock`]).
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }

    /// Whether `user` may sign in from the offline cache now.
    pub fn check_offline_grace(&self, user: &UserRecord) -> Result<(), ServiceError> {
        match trust_clock::offline_grace(user.last_online_at, self.now(), self.offline_grace()) {
            GraceVerdict::Within => Ok(()),
            GraceVerdict::Expired => Err(ServiceError::OfflineTooLong),
            GraceVerdict::FromTheFuture => {
                tracing::warn!(oid = %user.oid, last_online_at = %user.last_online_at,
                    "last online confirmation lies in the future; refusing the offline cache");
                Err(ServiceError::ClockSetBack)
            }
        }
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
            // Bookkeeping, not part of the decision: written behind the answer.
            let at = Utc::now();
            self.store.write_behind(move |s| {
                if let Err(e) = s.touch_card_used(&hash, at) {
                    tracing::warn!(error = %e, "cannot record the card's last use");
                }
            });
        }
        Ok(user)
    }

    /// Card administration (service menu, `cards` command) over this panel's store, device key
    /// and normalisation pipeline: the same hashing as self-enrollment, and the same
    /// write-back to the directory.
    pub fn cards(&self) -> crate::admin::cards::CardAdmin<'_> {
        crate::admin::cards::CardAdmin::new(
            &self.store,
            &self.key,
            &self.card_pipeline,
            self.config.identity.max_cards_per_user,
        )
        .writing_back(self.writes_cards())
    }

    /// Whether cards enrolled here are written to the directory (`directory.write_cards`).
    fn writes_cards(&self) -> bool {
        self.config.directory.enabled && self.config.directory.write_cards
    }

    /// Fleet-wide enrollment: queues a card just bound on this panel for the directory
    /// write-back. Failing to queue is logged; the local binding stands either way.
    fn queue_card_writeback(&self, oid: &str, card: &SecretString) {
        use secrecy::ExposeSecret;
        if !self.writes_cards() {
            return;
        }
        let queued = self
            .card_pipeline
            .apply(card.expose_secret())
            .map_err(|e| e.to_string())
            .and_then(|n| {
                crate::directory::writeback::queue(
                    &self.store,
                    &self.key,
                    oid,
                    &SecretString::from(n),
                    Utc::now(),
                )
                .map_err(|e| e.to_string())
            });
        if let Err(e) = queued {
            tracing::warn!(error = %e, "cannot queue the card for the directory write-back");
        }
    }

    /// Local-account administration (service menu, `local-users` command), judged by the
    /// panel's trusted clock.
    pub fn local_users(&self) -> crate::admin::local_users::LocalUsers<'_> {
        crate::admin::local_users::LocalUsers::new(
            &self.store,
            &self.config,
            self.pin_hasher(),
            self.now(),
        )
    }

    /// The readers' normalisation pipeline (`readers.normalise`).
    pub fn card_pipeline(&self) -> &CardPipeline {
        &self.card_pipeline
    }

    pub fn has_pin(&self, oid: &str) -> Result<bool, ServiceError> {
        Ok(self.store.pin_state(oid)?.is_some())
    }

    /// Refuses sign-in work (PIN pad, badge lookups) while the panel is locked.
    pub fn panel_locked(&self) -> Result<(), ServiceError> {
        let now = self.now();
        let panel = self.panel_lockout.lock().unwrap_or_else(|e| e.into_inner());
        panel.check(now).map_err(|left| {
            ServiceError::PinWrong(
                Msg::new("Too many failed attempts on this panel. Try again in {} s.")
                    .arg(left.as_secs().max(1)),
            )
        })
    }

    /// Counts a failure against the panel (wrong PIN, unknown badge tapped or typed) and
    /// stores the count, so a crash or restart does not lift it.
    pub fn panel_failure(&self) {
        let now = self.now();
        let mut panel = self.panel_lockout.lock().unwrap_or_else(|e| e.into_inner());
        let lock = panel.record_failure(now);
        let state = panel.state();
        drop(panel);
        self.save_panel_lockout(&state, now);
        if let Some(lock) = lock {
            tracing::warn!(
                seconds = lock.as_secs(),
                "PIN pad locked after repeated failures"
            );
            self.audit(
                "panel",
                "pin_pad_locked",
                "panel",
                &format!("{} s", lock.as_secs()),
            );
        }
    }

    /// Takes back the failure an unknown badge cost once its owner linked it with a Microsoft
    /// sign-in (a new employee's first tap is not an attack).
    pub fn panel_forgive_one(&self) {
        let now = self.now();
        let mut panel = self.panel_lockout.lock().unwrap_or_else(|e| e.into_inner());
        panel.forgive_one(now);
        let state = panel.state();
        drop(panel);
        self.save_panel_lockout(&state, now);
    }

    fn save_panel_lockout(&self, state: &pin::PanelLockoutState, now: chrono::DateTime<Utc>) {
        // A failed write keeps the in-memory lock; it only loses the restart protection.
        if let Err(e) = self.store.save_panel_lockout(state, now) {
            tracing::error!(error = %e, "cannot store the panel lockout");
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
        let now = self.now();
        if let Some(until) = state.locked_until {
            let longest =
                chrono::Duration::from_std(pin::MAX_LOCKOUT).unwrap_or(chrono::Duration::MAX);
            let until = trust_clock::clamp_lock_end(until, now, longest);
            if until > now {
                let secs = (until - now).num_seconds().max(1);
                return Err(ServiceError::PinWrong(
                    Msg::new("Too many wrong PINs. Try again in {} s.").arg(secs),
                ));
            }
        }
        if self.pin_hasher().verify(&state.phc, pin_entered)? {
            // The user's own counter starts again; the panel's does not (it may be an insider
            // signing in between guesses at other people's PINs).
            self.store.reset_pin_failures(oid)?;
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
            Some(_) => Msg::new("Wrong PIN. Too many attempts: PIN sign-in is paused for a while."),
            None => {
                let left = p.max_attempts.saturating_sub(failed);
                Msg::plural(
                    "Wrong PIN. {n} attempt left.",
                    "Wrong PIN. {n} attempts left.",
                    i64::from(left),
                )
            }
        };
        Err(ServiceError::PinWrong(message))
    }

    /// Checks the policy and stores a new PIN (argon2id, peppered), clearing any lockout.
    pub fn save_pin(&self, oid: &str, new_pin: &SecretString) -> Result<(), ServiceError> {
        self.config.pin.policy().check(new_pin)?;
        let phc = self.pin_hasher().hash(new_pin)?;
        self.store.set_pin_hash(oid, &phc, self.now())?;
        self.audit(oid, "pin_set", oid, "");
        Ok(())
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
        let now = self.now();
        let existing = self.store.user_by_oid(&claims.oid)?;
        let provisioned =
            provisioning::provision(existing.as_ref(), claims, profile, &self.rules(), now)?;
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
            self.store.put_refresh_token(&user.oid, &sealed, now)?;
        }
        if let Some(card) = link_card {
            let (hash, masked) = self.card_hash(card)?;
            let max = self.config.identity.max_cards_per_user;
            self.store.bind_card(&user.oid, &hash, &masked, max, now)?;
            self.audit(&user.oid, "card_bound", &user.oid, &masked);
            self.queue_card_writeback(&user.oid, card);
            // The unknown tap that led here counted against the panel; it was the owner's.
            self.panel_forgive_one();
        }
        Ok(user)
    }

    /// For a local user: whether their account may sign in now (expiry by the panel clock,
    /// offline) and its rules; `None` for an Entra user.
    pub fn check_local(
        &self,
        user: &UserRecord,
    ) -> Result<Option<crate::store::LocalAccount>, ServiceError> {
        if self.store.login_method(&user.oid)? != Some(crate::identity::LoginMethod::Local) {
            return Ok(None);
        }
        let account = self
            .store
            .local_account(&user.oid)?
            .ok_or_else(|| ServiceError::UnknownUser(user.oid.clone()))?;
        crate::identity::local::may_sign_in(
            account.expires_on,
            account.disabled_at.is_some(),
            self.now().date_naive(),
        )?;
        Ok(Some(account))
    }

    /// The session view of a user: name, role and the workflows their roles allow (and, for
    /// people without a delegated token, only those the panel delivers itself).
    pub fn session_user(&self, user: &UserRecord, method: AuthMethod) -> SessionUser {
        use crate::identity::{local, LoginMethod};
        let account = match self.store.local_account(&user.oid) {
            Ok(a) => a,
            Err(e) => {
                // Shown nothing rather than everything: a local user must not get workflows
                // that would need a token they don't have.
                tracing::error!(error = %e, "cannot read the local account; no workflows shown");
                return self.session_user_with(user, method, Vec::new());
            }
        };
        let viewer = local::Viewer {
            method: if account.is_some() {
                LoginMethod::Local
            } else {
                LoginMethod::Entra
            },
            local_workflows: account.as_ref().map_or(&[][..], |a| a.workflows.as_slice()),
            device_code: self.config.entra.device_code,
        };
        let workflows = self
            .config
            .workflows
            .iter()
            .filter(|w| local::offers(w, viewer))
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
                quick: w.quick,
            })
            .collect();
        self.session_user_with(user, method, workflows)
    }

    fn session_user_with(
        &self,
        user: &UserRecord,
        method: AuthMethod,
        workflows: Vec<WorkflowEntry>,
    ) -> SessionUser {
        SessionUser {
            oid: user.oid.clone(),
            display_name: user.display_name.clone(),
            upn: user.upn.clone(),
            is_technician: user.is_technician,
            method,
            workflows,
            must_set_pin: false,
            language: self.preferred_language(&user.oid),
        }
    }

    /// The user's directory `preferredLanguage`, when synced and one the panel speaks.
    fn preferred_language(&self, oid: &str) -> Option<Language> {
        match self.store.dir_attributes(oid) {
            Ok(attrs) => attrs?
                .get("preferredLanguage")
                .and_then(|v| v.as_str())
                .and_then(Language::from_tag),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the directory profile; panel language kept");
                None
            }
        }
    }

    pub fn new_scanner(&self) -> Box<dyn Scanner> {
        (self.scanner)()
    }

    /// The panel's application identity, for app-delivered jobs.
    pub fn app_identity(&self) -> Arc<super::app_identity::AppIdentity> {
        self.app_identity.clone()
    }

    /// The device key, for the outbox (it seals upload-session URLs).
    pub(crate) fn device_key(&self) -> &Arc<DeviceKey> {
        &self.key
    }

    pub fn spool_path(&self, job_id: &str) -> PathBuf {
        self.spool_dir.join(format!("{job_id}.pdf"))
    }

    /// Appends to the audit log; a failing audit write is logged, never fatal to the user.
    /// [`Services::audit`] written behind the answer (a sign-in already decided): the row is
    /// in the log before anyone reads the log again.
    pub fn audit_behind(&self, actor: &str, action: &str, subject: &str, detail: &str) {
        let (actor, action, subject, detail) = (
            actor.to_string(),
            action.to_string(),
            subject.to_string(),
            detail.to_string(),
        );
        let at = Utc::now();
        self.store.write_behind(move |s| {
            if let Err(e) = s.append_audit(&actor, &action, Some(&subject), Some(&detail), at) {
                tracing::error!(error = %e, action, "audit write failed");
            }
        });
    }

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

    /// Tells the reader check where to ask for the readers' status (once, after they start).
    pub fn set_reader_status(&self, f: ReaderStatusFn) {
        if self.reader_status.set(f).is_err() {
            tracing::warn!("reader status source set twice; keeping the first");
        }
    }

    /// The readers' status now; empty when no reader was started (the demo, tests).
    pub fn reader_snapshot(&self) -> crate::readers::ReaderSnapshot {
        self.reader_status.get().map(|f| f()).unwrap_or_default()
    }

    /// The PIN hasher, peppered with the device key so a copied database alone can't be
    /// brute-forced offline.
    pub fn pin_hasher(&self) -> PinHasher {
        let params = PinHashParams {
            m_cost_kib: self.config.pin.hash_memory_kib,
            t_cost: self.config.pin.hash_passes,
            ..PinHashParams::default()
        };
        PinHasher::new(params, Some(self.key.pin_pepper()))
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
