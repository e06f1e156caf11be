//! Silent refresh: redeeming a user's sealed refresh token for single sign-on, and acting on
//! Entra's answer the same way wherever a refresh happens (card or PIN sign-in, the outbox, the
//! offboarding check).
//!
//! One refresh per user at a time, in this process (a tokio mutex per user) and across the
//! processes that share the state directory (an advisory `flock` on a per-user lock file, so
//! the panel and a technician's `mfp-kiosk outbox run` never redeem the same token at once):
//! Entra rotates the refresh token on every use, and the loser of a race would present a spent
//! token and look like a revoked grant.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::*;

/// Holds the cross-process refresh lock of one user until dropped (closing the file releases
/// the `flock`).
struct ProcessLock(#[allow(dead_code)] std::fs::File);

impl Services {
    fn refresh_lock_path(&self, oid: &str) -> PathBuf {
        // The oid is hashed: lock file names say nothing about who uses the panel.
        let digest = Sha256::digest(oid.as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.state_dir()
            .join("locks")
            .join(format!("refresh-{name}.lock"))
    }

    /// Takes the cross-process lock of `oid`, waiting for another process's refresh to end.
    /// `None` when no lock file can be made (read-only or full state directory): the refresh
    /// goes ahead, and the retry with a successor token in [`Services::silent_refresh`] covers
    /// most races.
    async fn process_lock(&self, oid: &str) -> Option<ProcessLock> {
        let path = self.refresh_lock_path(oid);
        let locked = tokio::task::spawn_blocking(move || -> std::io::Result<ProcessLock> {
            if let Some(dir) = path.parent() {
                std::os::unix::fs::DirBuilderExt::mode(
                    std::fs::DirBuilder::new().recursive(true),
                    0o700,
                )
                .create(dir)?;
            }
            let file = std::os::unix::fs::OpenOptionsExt::mode(
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true),
                0o600,
            )
            .open(&path)?;
            // SAFETY: flock on a file descriptor this function owns; it only blocks.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(ProcessLock(file))
        })
        .await;
        match locked {
            Ok(Ok(lock)) => Some(lock),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot take the cross-process refresh lock");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "refresh lock task failed");
                None
            }
        }
    }

    /// Gets a fresh access token from the user's cached refresh token (single sign-on), stores
    /// the rotated refresh token in its place and brings roles, groups and the technician flag
    /// in step with the refreshed ID token. A failure's [`ServiceError::refresh_verdict`] says
    /// whether the offline cache may stand in.
    pub async fn silent_refresh(&self, oid: &str) -> Result<AccessToken, ServiceError> {
        // A user who never signed in with Microsoft here (provisioned by the directory or
        // SCIM) has nothing to refresh: answered without the locks and their lock file.
        if self.store.refresh_token(oid)?.is_none() {
            return Err(ServiceError::NoRefreshToken);
        }
        let lock = {
            let mut locks = self
                .refresh_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(oid.to_string()).or_default().clone()
        };
        // Read the sealed token only once both locks are held: a refresh that ran meanwhile,
        // here or in another process, has stored its rotated successor.
        let _one_at_a_time = lock.lock().await;
        let _one_process_at_a_time = self.process_lock(oid).await;
        let sealed = self
            .store
            .refresh_token(oid)?
            .ok_or(ServiceError::NoRefreshToken)?;
        let refresh = self.key.open(&sealed, oid.as_bytes())?;
        let entra = self.entra().await?;
        let tokens = match entra.refresh(&refresh).await {
            Ok(t) => t,
            Err(e) if RefreshVerdict::of(&e) == RefreshVerdict::UserMustSignIn => {
                // Another process on this state directory (the panel and `outbox run`) may
                // have redeemed the same token a moment ago and stored its successor: Entra
                // (and, stricter, the simulator) then refuses the spent one. Try the stored
                // successor once before calling it a refusal.
                let newer = self
                    .store
                    .refresh_token(oid)?
                    .filter(|stored| *stored != sealed);
                let Some(newer) = newer else {
                    tracing::warn!(oid, error = %e, "refresh token rejected");
                    return Err(ServiceError::RefreshRejected(e));
                };
                tracing::info!(
                    oid,
                    "refresh token was rotated by another process; retrying with its successor"
                );
                let refresh = self.key.open(&newer, oid.as_bytes())?;
                match entra.refresh(&refresh).await {
                    Ok(t) => t,
                    Err(e) if RefreshVerdict::of(&e) == RefreshVerdict::UserMustSignIn => {
                        tracing::warn!(oid, error = %e, "refresh token rejected");
                        return Err(ServiceError::RefreshRejected(e));
                    }
                    Err(e) => return Err(ServiceError::Entra(e)),
                }
            }
            Err(e) => return Err(ServiceError::Entra(e)),
        };
        let now = self.now();
        // Judge the ID token before storing anything: a refresh that answers with someone
        // else's identity must not leave its refresh token in this user's row.
        let updated = match &tokens.id_claims {
            Some(claims) => {
                let existing = self
                    .store
                    .user_by_oid(oid)?
                    .ok_or_else(|| ServiceError::UnknownUser(oid.into()))?;
                match provisioning::refresh(&existing, claims, &self.rules(), now) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(oid, error = %e, "refreshed ID token refused");
                        self.audit("system", "refresh_refused", oid, &e.to_string());
                        return Err(ServiceError::Provisioning(e));
                    }
                }
            }
            None => None,
        };
        if let Some(rotated) = &tokens.refresh_token {
            let sealed = self.key.seal(rotated, oid.as_bytes())?;
            self.store.put_refresh_token(oid, &sealed, now)?;
        }
        match updated {
            Some(p) => {
                self.store.upsert_user(&p.user)?;
                if p.outcome == Outcome::Updated {
                    let detail = format!(
                        "roles {:?}, technician {}",
                        p.user.roles, p.user.is_technician
                    );
                    self.audit("system", "roles_updated", oid, &detail);
                }
            }
            None => self.store.touch_online(oid, now)?,
        }
        Ok(AccessToken {
            token: tokens.access_token,
            expires_at: tokens.expires_at,
        })
    }

    /// Acts on a failed refresh of `oid`, the same way wherever it happened (card or PIN
    /// sign-in, the outbox, the offboarding check): an account Entra calls disabled or deleted
    /// is revoked locally; any other refusal of the grant marks the identity as needing a
    /// Microsoft sign-in; "Entra unreachable" and the panel's own faults change nothing.
    pub fn act_on_refresh_failure(&self, oid: &str, err: &ServiceError) -> RefreshConsequence {
        match err.refresh_verdict() {
            RefreshVerdict::Unreachable => RefreshConsequence::Unreachable,
            RefreshVerdict::PanelRefused => RefreshConsequence::PanelRefused,
            RefreshVerdict::UserMustSignIn => {
                let gone = match err {
                    ServiceError::RefreshRejected(e) => AccountGone::of(e),
                    _ => None,
                };
                match gone {
                    Some(gone) => match self.revoke_identity(oid, gone.reason()) {
                        Ok(()) => RefreshConsequence::Revoked(gone),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot revoke the identity");
                            RefreshConsequence::NeedsSignIn
                        }
                    },
                    // A directory-provisioned user who never signed in with Microsoft has
                    // no token to lose: nothing to mark.
                    None if matches!(err, ServiceError::NoRefreshToken)
                        && self.store.dir_user_active(oid).unwrap_or(false) =>
                    {
                        RefreshConsequence::NeedsSignIn
                    }
                    None => {
                        if !matches!(err, ServiceError::Revoked) {
                            self.mark_needs_sign_in(oid);
                        }
                        RefreshConsequence::NeedsSignIn
                    }
                }
            }
        }
    }

    /// Offboarding: revokes the identity in one transaction (cards, PIN, refresh token gone;
    /// queued jobs failed with `reason`) and audits it.
    pub fn revoke_identity(&self, oid: &str, reason: &str) -> Result<(), ServiceError> {
        let r = self.store.revoke_user(oid, reason, self.now())?;
        tracing::warn!(
            oid,
            reason,
            cards = r.cards,
            jobs_failed = r.jobs_failed,
            "identity revoked"
        );
        let detail = format!(
            "{reason}; cards {}, PIN {}, refresh token {}, queued jobs failed {}",
            r.cards, r.pin, r.refresh_token, r.jobs_failed
        );
        self.audit("system", "user_revoked", oid, &detail);
        Ok(())
    }

    pub fn mark_needs_sign_in(&self, oid: &str) {
        if let Err(e) = self
            .store
            .set_user_status(oid, UserStatus::NeedsSignIn, self.now())
        {
            tracing::error!(error = %e, "cannot mark identity as needing sign-in");
        }
        self.audit("system", "needs_signin", oid, "refresh refused");
    }
}
