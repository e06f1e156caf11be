//! Local-account administration for technicians, shared by the service menu's "Local
//! accounts" page and `mfp-kiosk local-users ...`: create (display name, optional e-mail,
//! expiry day, allowed workflows), list, extend, disable/enable, delete and set the PIN.
//!
//! Only accounts created local are handled here; an Entra user is refused by name (switching
//! one to local would bypass the directory, and the store refuses it too). Every action,
//! refused or not, writes one audit row: actor, action (`local_user_*`), subject (the oid) and
//! a detail starting with `ok:` or `refused:`. PINs never appear in errors or audit rows.

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;

use super::cards::Actor;
use crate::auth::pin::{PinError, PinHasher};
use crate::config::{Config, Delivery, Destination};
use crate::identity::{LoginMethod, UserRecord};
use crate::store::{LocalAccount, NewLocalUser, Store, StoreError};

pub const ACTION_CREATE: &str = "local_user_create";
pub const ACTION_EXTEND: &str = "local_user_extend";
pub const ACTION_DISABLE: &str = "local_user_disable";
pub const ACTION_ENABLE: &str = "local_user_enable";
pub const ACTION_DELETE: &str = "local_user_delete";
pub const ACTION_PIN: &str = "local_user_pin";

/// Longest display name accepted (what the panel's header can show).
const MAX_NAME: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum LocalUserError {
    #[error("the display name must be 1 to {MAX_NAME} characters")]
    BadName,
    #[error("{0:?} is not an e-mail address")]
    BadEmail(String),
    #[error("the expiry day {0} is already past (panel date {1})")]
    ExpiryPast(NaiveDate, NaiveDate),
    #[error(
        "no workflow {0:?} with delivery = \"app\" and destination = \"sharepoint\": local users \
         have no Microsoft token, so only those can deliver their scans"
    )]
    NotAppWorkflow(String),
    #[error("no local account {0:?} (see `mfp-kiosk local-users list`)")]
    NotFound(String),
    #[error(
        "{0} signs in with Microsoft; Entra users can't be switched to or handled as local \
         accounts (the directory owns them)"
    )]
    NotLocal(String),
    #[error(
        "{name} still has {pending} scan(s) waiting in the outbox; let them deliver or remove \
         them with `mfp-kiosk outbox delete` first"
    )]
    PendingScans { name: String, pending: usize },
    #[error("not a usable PIN: {0}")]
    Pin(#[from] PinError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a new account should be; checked by [`LocalUsers::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateLocal {
    pub display_name: String,
    pub email: Option<String>,
    pub expires_on: Option<NaiveDate>,
    pub workflows: Vec<String>,
}

/// Local-account operations over one panel's store, config and PIN hasher.
pub struct LocalUsers<'a> {
    store: &'a Store,
    config: &'a Config,
    hasher: PinHasher,
    now: DateTime<Utc>,
}

impl<'a> LocalUsers<'a> {
    /// `now` is the panel's trusted clock (expiry is judged by it, offline).
    pub fn new(
        store: &'a Store,
        config: &'a Config,
        hasher: PinHasher,
        now: DateTime<Utc>,
    ) -> Self {
        LocalUsers {
            store,
            config,
            hasher,
            now,
        }
    }

    fn audit(&self, actor: &Actor, action: &str, subject: &str, detail: &str) {
        if let Err(e) = self.store.append_audit(
            &actor.audit_name(),
            action,
            Some(subject),
            Some(detail),
            self.now,
        ) {
            tracing::error!(error = %e, action, "audit write failed");
        }
    }

    fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        subject: &str,
        r: Result<T, LocalUserError>,
        ok: impl FnOnce(&T) -> String,
    ) -> Result<T, LocalUserError> {
        match &r {
            Ok(v) => self.audit(actor, action, subject, &format!("ok: {}", ok(v))),
            Err(e) => self.audit(actor, action, subject, &format!("refused: {e}")),
        }
        r
    }

    fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// Ids of the workflows a local user may be given.
    pub fn app_workflows(&self) -> Vec<(String, String)> {
        self.config
            .workflows
            .iter()
            .filter(|w| w.delivery == Delivery::App && w.destination == Destination::Sharepoint)
            .map(|w| (w.id.clone(), w.label.clone()))
            .collect()
    }

    fn check(&self, c: &CreateLocal) -> Result<NewLocalUser, LocalUserError> {
        let name = c.display_name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(LocalUserError::BadName);
        }
        let email = c.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        if let Some(e) = email {
            let ok = e.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !e.contains(char::is_whitespace)
            });
            if !ok {
                return Err(LocalUserError::BadEmail(e.into()));
            }
        }
        self.check_expiry(c.expires_on)?;
        let allowed = self.app_workflows();
        if let Some(bad) = c
            .workflows
            .iter()
            .find(|id| !allowed.iter().any(|(a, _)| a == *id))
        {
            return Err(LocalUserError::NotAppWorkflow(bad.clone()));
        }
        Ok(NewLocalUser {
            display_name: name.into(),
            email: email.map(str::to_string),
            expires_on: c.expires_on,
            workflows: c.workflows.clone(),
            created_by: String::new(),
        })
    }

    fn check_expiry(&self, on: Option<NaiveDate>) -> Result<(), LocalUserError> {
        match on {
            Some(d) if d < self.today() => Err(LocalUserError::ExpiryPast(d, self.today())),
            _ => Ok(()),
        }
    }

    /// Creates the account; its PIN is set later by the person (panel or `set-pin`).
    pub fn create(&self, actor: &Actor, c: &CreateLocal) -> Result<UserRecord, LocalUserError> {
        let r = self.check(c).and_then(|mut new| {
            new.created_by = actor.audit_name();
            Ok(self.store.create_local_user(&new, self.now)?)
        });
        let subject = r.as_ref().map_or("-", |u| u.oid.as_str()).to_string();
        self.audited(actor, ACTION_CREATE, &subject, r, |u| {
            format!(
                "{} expires {}",
                u.display_name,
                c.expires_on.map_or("never".into(), |d| d.to_string())
            )
        })
    }

    /// The local account `id` (its oid), refusing Entra users by name.
    pub fn find(&self, id: &str) -> Result<(UserRecord, LocalAccount), LocalUserError> {
        let user = self
            .store
            .user_by_oid(id)?
            .ok_or_else(|| LocalUserError::NotFound(id.into()))?;
        if self.store.login_method(id)? != Some(LoginMethod::Local) {
            return Err(LocalUserError::NotLocal(user.upn));
        }
        let account = self
            .store
            .local_account(id)?
            .ok_or_else(|| LocalUserError::NotFound(id.into()))?;
        Ok((user, account))
    }

    pub fn list(&self) -> Result<Vec<(UserRecord, LocalAccount)>, LocalUserError> {
        Ok(self.store.list_local_users()?)
    }

    /// Moves the expiry day (`None`: never expires).
    pub fn extend(
        &self,
        actor: &Actor,
        id: &str,
        on: Option<NaiveDate>,
    ) -> Result<(), LocalUserError> {
        let r = self.find(id).and_then(|_| {
            self.check_expiry(on)?;
            Ok(self.store.set_local_expiry(id, on)?)
        });
        self.audited(actor, ACTION_EXTEND, id, r, |()| {
            on.map_or("never expires".into(), |d| format!("expires {d}"))
        })
    }

    /// Disables (`true`) or re-enables the account; a disabled one can't sign in.
    pub fn set_disabled(
        &self,
        actor: &Actor,
        id: &str,
        disabled: bool,
    ) -> Result<(), LocalUserError> {
        let action = if disabled {
            ACTION_DISABLE
        } else {
            ACTION_ENABLE
        };
        let r = self.find(id).and_then(|_| {
            Ok(self
                .store
                .set_local_disabled(id, disabled.then_some(self.now))?)
        });
        self.audited(actor, action, id, r, |()| String::new())
    }

    /// Deletes the account with its badges and PIN. Refused while scans of it wait in the
    /// outbox, so deleting loses nothing.
    pub fn delete(&self, actor: &Actor, id: &str) -> Result<String, LocalUserError> {
        let r = self.find(id).and_then(|(u, _)| {
            let pending = self.store.pending_jobs_of(id)?;
            if pending > 0 {
                return Err(LocalUserError::PendingScans {
                    name: u.display_name,
                    pending,
                });
            }
            if !self.store.delete_local_user(id)? {
                return Err(LocalUserError::NotFound(id.into()));
            }
            Ok(u.display_name)
        });
        self.audited(actor, ACTION_DELETE, id, r, Clone::clone)
    }

    /// Stores the person's PIN (checked against `pin.*` policy, argon2id with the device
    /// key's pepper), clearing any lockout.
    pub fn set_pin(
        &self,
        actor: &Actor,
        id: &str,
        pin: &SecretString,
    ) -> Result<(), LocalUserError> {
        let r = self.find(id).and_then(|_| {
            self.config.pin.policy().check(pin)?;
            let phc = self.hasher.hash(pin)?;
            Ok(self.store.set_pin_hash(id, &phc, self.now)?)
        });
        self.audited(actor, ACTION_PIN, id, r, |()| String::new())
    }
}
