//! Sign-in effects: card lookup, PIN check, Microsoft device-code sign-in with provisioning and
//! card linking, and the silent token refresh that gives card and PIN users single sign-on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use secrecy::SecretString;

use super::controller::Answer;
use super::services::{ServiceError, Services};
use crate::auth::refresh_verdict::RefreshVerdict;
use crate::auth::TokenSet;
use crate::identity::{UserRecord, UserStatus};
use crate::kiosk::{AuthMethod, Event};

/// A delegated access token held for an open session (memory only).
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: SystemTime,
}

/// Access tokens of open sessions, by user oid. Tokens are zeroized when removed.
#[derive(Clone, Default)]
pub struct SessionTokens(Arc<Mutex<HashMap<String, AccessToken>>>);

impl SessionTokens {
    pub fn insert(&self, oid: &str, token: AccessToken) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(oid.to_string(), token);
        }
    }

    pub fn remove(&self, oid: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(oid);
        }
    }

    /// The token of `oid` if it is still valid for at least another minute.
    pub fn valid(&self, oid: &str) -> Option<SecretString> {
        let map = self.0.lock().ok()?;
        let t = map.get(oid)?;
        let margin = std::time::Duration::from_secs(60);
        (t.expires_at > SystemTime::now() + margin).then(|| t.token.clone())
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn failed(attempt: u64, err: &ServiceError) -> Event {
    tracing::warn!(attempt, error = %err, "sign-in failed");
    Event::AuthFailed {
        attempt,
        message: err.panel_message(),
    }
}

/// Answers [`crate::kiosk::Effect::LookupCard`].
pub async fn lookup_card(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    attempt: u64,
    card: SecretString,
    typed: bool,
) -> Event {
    // Guessing badge numbers, on the PIN pad or with a card emulator at the reader, counts
    // against the panel; while it is locked no badge is looked up.
    if let Err(e) = services.panel_locked() {
        return failed(attempt, &e);
    }
    // The offline decision's reads run here, not on the blocking pool: each is an indexed
    // read on a reader connection (tens of microseconds, never waiting for a writer, the
    // bookkeeping written behind), while every hop to another thread and back is a chance to
    // wait for a core on a loaded two-core board (measured: most of the sign-in's p99 under
    // SCIM load was such hops, not SQLite).
    let user = match services.user_for_card_tap(&card) {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!(attempt, typed, "badge not registered");
            let s = services.clone();
            let _ = tokio::task::spawn_blocking(move || s.panel_failure()).await;
            return Event::CardUnknown { attempt };
        }
        Err(e) => return failed(attempt, &e),
    };
    if let Err(e) = usable(&user) {
        return failed(attempt, &e);
    }
    let local = match services.check_local(&user) {
        Ok(local) => local.is_some(),
        Err(e) => return failed(attempt, &e),
    };
    if local && !typed {
        match services.has_pin(&user.oid) {
            // A local account's first tap: holding the badge lets the person choose the PIN,
            // and nothing else until it is saved. A typed badge number never does (guessable).
            Ok(false) => return open_local(services, attempt, &user, AuthMethod::Card, true),
            Ok(true) => {}
            Err(e) => return failed(attempt, &e),
        }
    }
    if typed || services.login_mode().card_needs_pin() {
        return match services.has_pin(&user.oid) {
            Ok(true) => Event::NeedPin {
                attempt,
                oid: user.oid,
                display_name: user.display_name,
            },
            Ok(false) if local => failed(attempt, &ServiceError::LocalNoPin),
            Ok(false) => failed(attempt, &ServiceError::NoPin),
            Err(e) => failed(attempt, &e),
        };
    }
    if local {
        // Already judged above: no second look-up in open_session.
        return open_local(services, attempt, &user, AuthMethod::Card, false);
    }
    open_session(services, sessions, attempt, user, AuthMethod::Card).await
}

/// Answers [`crate::kiosk::Effect::VerifyPin`].
pub async fn verify_pin(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    attempt: u64,
    oid: String,
    pin: SecretString,
) -> Event {
    let s = services.clone();
    let checked = tokio::task::spawn_blocking(move || s.check_pin(&oid, &pin)).await;
    match checked {
        Ok(Ok(user)) => {
            open_session(services, sessions, attempt, user, AuthMethod::CardAndPin).await
        }
        Ok(Err(ServiceError::PinWrong(message))) => Event::PinRejected { attempt, message },
        Ok(Err(e)) => failed(attempt, &e),
        Err(e) => failed(attempt, &ServiceError::Task(e.to_string())),
    }
}

fn usable(user: &UserRecord) -> Result<(), ServiceError> {
    match user.status {
        UserStatus::Active => Ok(()),
        UserStatus::NeedsSignIn => Err(ServiceError::NeedsMicrosoftSignIn),
        UserStatus::Revoked => Err(ServiceError::Revoked),
    }
}

/// Opens a card or PIN session: refreshes the user's token silently (single sign-on for the
/// workflows; roles and groups follow the refreshed ID token) or, only when Microsoft can't be
/// reached, falls back to the offline grace period. A refusal is never "offline".
async fn open_session(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    attempt: u64,
    user: UserRecord,
    method: AuthMethod,
) -> Event {
    match services.check_local(&user) {
        // No Microsoft token to refresh: the panel's own rules (expiry, disabled) decided.
        Ok(Some(_)) => return open_local(services, attempt, &user, method, false),
        Ok(None) => {}
        Err(e) => return failed(attempt, &e),
    }
    let user = match services.silent_refresh(&user.oid).await {
        Ok(access) => {
            sessions.insert(&user.oid, access);
            // The refresh may have changed roles and groups: the session shows the new ones.
            let s = services.clone();
            let oid = user.oid.clone();
            match tokio::task::spawn_blocking(move || s.store.user_by_oid(&oid)).await {
                Ok(Ok(Some(fresh))) => fresh,
                Ok(Ok(None)) => {
                    sessions.remove(&user.oid);
                    return failed(attempt, &ServiceError::UnknownUser(user.oid));
                }
                Ok(Err(e)) => {
                    sessions.remove(&user.oid);
                    return failed(attempt, &ServiceError::Store(e));
                }
                Err(e) => {
                    sessions.remove(&user.oid);
                    return failed(attempt, &ServiceError::Task(e.to_string()));
                }
            }
        }
        Err(ServiceError::NoRefreshToken) if directory_vouches(services, &user.oid) => {
            // Provisioned by the directory sync, never signed in with Microsoft here: the
            // directory's last confirmation stands in for Entra, within the offline grace
            // (each sync renews it; a disabled account was revoked by the sync that saw it).
            // The session has no delegated token: a workflow needing one asks for a
            // Microsoft sign-in.
            if let Err(e) = services.check_offline_grace(&user) {
                return failed(attempt, &e);
            }
            user
        }
        Err(e) => match e.refresh_verdict() {
            RefreshVerdict::Unreachable => {
                // Microsoft could not be asked: the identity cache decides, within the grace.
                tracing::info!(attempt, reason = %e, "Entra unreachable; using the offline identity cache");
                if let Err(e) = services.check_offline_grace(&user) {
                    return failed(attempt, &e);
                }
                user
            }
            RefreshVerdict::UserMustSignIn => {
                // Revoked when the account is gone, else marked as needing a sign-in.
                let s = services.clone();
                let oid = user.oid.clone();
                let judged = tokio::task::spawn_blocking(move || {
                    let consequence = s.act_on_refresh_failure(&oid, &e);
                    (consequence, e)
                })
                .await;
                return match judged {
                    Ok((consequence, e)) => {
                        tracing::info!(attempt, ?consequence, "refresh refused");
                        failed(attempt, &e)
                    }
                    Err(join) => failed(attempt, &ServiceError::Task(join.to_string())),
                };
            }
            RefreshVerdict::PanelRefused => return failed(attempt, &e),
        },
    };
    services.audit_behind(&user.oid, "sign_in", &user.oid, &format!("{method:?}"));
    Event::AuthSucceeded {
        attempt,
        user: services.session_user(&user, method),
    }
}

/// Opens a local account's session (no token: only the panel's app workflows are offered).
fn open_local(
    services: &Arc<Services>,
    attempt: u64,
    user: &UserRecord,
    method: AuthMethod,
    must_set_pin: bool,
) -> Event {
    let detail = if must_set_pin {
        format!("{method:?} local, PIN to be set")
    } else {
        format!("{method:?} local")
    };
    services.audit_behind(&user.oid, "sign_in", &user.oid, &detail);
    let mut session = services.session_user(user, method);
    session.must_set_pin = must_set_pin;
    Event::AuthSucceeded {
        attempt,
        user: session,
    }
}

/// Whether the directory sync provisions `oid` and last saw it enabled and in scope (a
/// reader-connection read, like the card lookup).
fn directory_vouches(services: &Arc<Services>, oid: &str) -> bool {
    services.store.dir_user_active(oid).unwrap_or(false)
}

/// Runs [`crate::kiosk::Effect::StartDeviceCode`] to its end, sending DeviceCodeReady and then
/// AuthSucceeded or AuthFailed. Cancelled by aborting the task.
pub async fn device_code(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    attempt: u64,
    link_card: Option<SecretString>,
    answer: &Answer,
) {
    let entra = match services.entra().await {
        Ok(entra) => entra,
        Err(e) => return answer.event(failed(attempt, &e)),
    };
    let pending = match entra.start_device_code().await {
        Ok(p) => p,
        Err(e) => return answer.event(failed(attempt, &ServiceError::Entra(e))),
    };
    answer.event(Event::DeviceCodeReady {
        attempt,
        offer: pending.offer().clone(),
    });
    let tokens = match entra.wait_for_device_code(pending).await {
        Ok(t) => t,
        Err(e) => return answer.event(failed(attempt, &ServiceError::Entra(e))),
    };
    let event = match complete_microsoft_sign_in(services, sessions, tokens, link_card).await {
        Ok(user) => Event::AuthSucceeded {
            attempt,
            user: services.session_user(&user, AuthMethod::Microsoft),
        },
        Err(e) => failed(attempt, &e),
    };
    answer.event(event);
}

/// Provisions (or updates) the user from a Microsoft sign-in, caches the refresh token sealed,
/// binds the card just tapped, and keeps the access token for the session.
pub async fn complete_microsoft_sign_in(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    tokens: TokenSet,
    link_card: Option<SecretString>,
) -> Result<UserRecord, ServiceError> {
    let claims = tokens.id_claims.clone().ok_or(ServiceError::NoIdToken)?;
    // The directory profile gives mailNickname for the username rule; the sign-in still works
    // without it (the UPN rule is the fallback), so a Graph hiccup must not block the user.
    let profile = match services.graph.me(&tokens.access_token).await {
        Ok(me) => Some(crate::identity::provisioning::DirectoryProfile {
            mail_nickname: me.mail_nickname,
            mail: me.mail,
            display_name: Some(me.display_name),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "Graph /me failed; provisioning from the ID token alone");
            None
        }
    };
    let s = services.clone();
    let refresh = tokens.refresh_token;
    let user = tokio::task::spawn_blocking(move || {
        s.provision(
            &claims,
            profile.as_ref(),
            refresh.as_ref(),
            link_card.as_ref(),
        )
    })
    .await
    .map_err(|e| ServiceError::Task(e.to_string()))??;
    sessions.insert(
        &user.oid,
        AccessToken {
            token: tokens.access_token,
            expires_at: tokens.expires_at,
        },
    );
    Ok(user)
}
