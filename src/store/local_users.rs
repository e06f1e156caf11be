//! Local accounts: users with `login_method = local` (no Entra account) and their panel-side
//! rules (expiry day, allowed workflows, disabled). The user row itself is an ordinary `users`
//! row, so cards, PINs and audit work for them as for everybody.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};

use super::users::{user_from_row, USER_COLUMNS};
use super::{col_ts_opt, ts, Store, StoreError};
use crate::identity::{LoginMethod, UserRecord, UserStatus};

/// The tenant id stored on local users: no Entra tenant vouches for them.
pub const LOCAL_TENANT: &str = "local";

/// The panel-side rules of one local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAccount {
    /// Last day the account may sign in (judged by the panel clock, in UTC); `None` never.
    pub expires_on: Option<NaiveDate>,
    /// Workflow ids the person may run; empty means every `delivery = "app"` workflow.
    pub workflows: Vec<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Who created it (`cli`, or the technician's audit name).
    pub created_by: String,
}

/// What a new local account is made of.
#[derive(Debug, Clone)]
pub struct NewLocalUser {
    pub display_name: String,
    pub email: Option<String>,
    pub expires_on: Option<NaiveDate>,
    pub workflows: Vec<String>,
    pub created_by: String,
}

const ACCOUNT_COLUMNS: &str = "l.expires_on, l.workflows_json, l.disabled_at, l.created_by";

fn account_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<LocalAccount> {
    let bad = |idx: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e)
    };
    let expires: Option<String> = r.get(first)?;
    let expires_on = expires
        .map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| bad(first, Box::new(e))))
        .transpose()?;
    let wf: String = r.get(first + 1)?;
    let workflows = serde_json::from_str(&wf).map_err(|e| bad(first + 1, Box::new(e)))?;
    Ok(LocalAccount {
        expires_on,
        workflows,
        disabled_at: col_ts_opt(r, first + 2)?,
        created_by: r.get(first + 3)?,
    })
}

fn day(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

/// Inserts `u` as a local user (no expiry, every app workflow) created by `created_by`,
/// inside the caller's transaction: a directory source (SCIM `loginMethod: local`) creating
/// the person. Fails with [`StoreError::Conflict`] when the oid, UPN or username is taken.
pub(super) fn insert_local_in(
    tx: &rusqlite::Transaction<'_>,
    u: &UserRecord,
    created_by: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "INSERT INTO users ({}, login_method)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'local')",
        super::users::INSERT_COLUMNS
    ))?
    .execute(super::users::insert_values(u))
    .map_err(|e| super::users::conflict(e, u))?;
    tx.prepare_cached(
        "INSERT INTO local_accounts (user_oid, expires_on, workflows_json, created_by)
         VALUES (?1, NULL, '[]', ?2)",
    )?
    .execute(params![u.oid, created_by])?;
    Ok(())
}

impl Store {
    /// Creates a local user and its account row in one transaction. The object id is
    /// `local-` and 12 random hex digits (never an Entra id); without an e-mail the UPN is
    /// `<id>@local.invalid`, so it can't collide with a real one.
    pub fn create_local_user(
        &self,
        new: &NewLocalUser,
        at: DateTime<Utc>,
    ) -> Result<UserRecord, StoreError> {
        let simple = uuid::Uuid::new_v4().simple().to_string();
        let oid = format!("local-{}", &simple[..12]);
        let user = UserRecord {
            upn: new
                .email
                .clone()
                .unwrap_or_else(|| format!("{oid}@local.invalid")),
            oid: oid.clone(),
            tenant_id: LOCAL_TENANT.into(),
            display_name: new.display_name.clone(),
            mail: new.email.clone(),
            username: oid.clone(),
            roles: Vec::new(),
            groups: Vec::new(),
            is_technician: false,
            status: UserStatus::Active,
            created_at: at,
            updated_at: at,
            last_online_at: at,
        };
        let workflows = serde_json::Value::from(new.workflows.clone()).to_string();
        self.with_transaction(|tx| {
            // The login method is written here, once: the trigger refuses any later change and
            // provisioning upserts never touch the column.
            tx.execute(
                "INSERT INTO users (oid, tenant_id, upn, display_name, mail, username, status,
                     created_at, updated_at, last_online_at, login_method)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7, ?7, 'local')",
                params![
                    user.oid,
                    user.tenant_id,
                    user.upn,
                    user.display_name,
                    user.mail,
                    user.username,
                    ts(at)
                ],
            )
            .map_err(|e| super::users::conflict(e, &user))?;
            tx.execute(
                "INSERT INTO local_accounts (user_oid, expires_on, workflows_json, created_by)
                 VALUES (?1, ?2, ?3, ?4)",
                params![oid, day(new.expires_on), workflows, new.created_by],
            )?;
            Ok(())
        })?;
        Ok(user)
    }

    /// How `oid` signs in; `None` for an unknown user.
    pub fn login_method(&self, oid: &str) -> Result<Option<LoginMethod>, StoreError> {
        let m: Option<String> = self.read(|c| {
            Ok(c.query_row(
                "SELECT login_method FROM users WHERE oid = ?1",
                [oid],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        m.map(|m| {
            LoginMethod::parse(&m).ok_or(StoreError::Corrupt {
                what: "login method",
                value: m,
            })
        })
        .transpose()
    }

    /// The local account of `oid`; `None` for an Entra user or an unknown one.
    pub fn local_account(&self, oid: &str) -> Result<Option<LocalAccount>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM local_accounts l WHERE l.user_oid = ?1"),
                [oid],
                |r| account_from_row(r, 0),
            )
            .optional()?)
        })
    }

    /// Every local user with its account, by display name.
    pub fn list_local_users(&self) -> Result<Vec<(UserRecord, LocalAccount)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {USER_COLUMNS}, {ACCOUNT_COLUMNS} FROM users u
                 JOIN local_accounts l ON l.user_oid = u.oid
                 ORDER BY u.display_name COLLATE NOCASE, u.oid"
            ))?;
            let rows = stmt.query_map([], |r| Ok((user_from_row(r)?, account_from_row(r, 13)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Sets the last day a local account may sign in (`None`: never expires).
    pub fn set_local_expiry(&self, oid: &str, on: Option<NaiveDate>) -> Result<(), StoreError> {
        self.update_local(oid, "expires_on = ?2", day(on))
    }

    /// Disables (`Some(at)`) or re-enables (`None`) a local account.
    pub fn set_local_disabled(
        &self,
        oid: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.update_local(oid, "disabled_at = ?2", at.map(ts))
    }

    fn update_local(&self, oid: &str, set: &str, v: Option<String>) -> Result<(), StoreError> {
        let n = self.with(|c| {
            Ok(c.execute(
                &format!("UPDATE local_accounts SET {set} WHERE user_oid = ?1"),
                params![oid, v],
            )?)
        })?;
        if n == 0 {
            return Err(StoreError::UserNotFound(oid.into()));
        }
        Ok(())
    }

    /// Number of the user's scans not yet delivered (queued or uploading).
    pub fn pending_jobs_of(&self, oid: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM jobs WHERE user_oid = ?1 AND state IN ('queued', 'uploading')",
                [oid],
                |r| r.get(0),
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// Deletes a local user with its cards, PIN and account (an Entra user is refused: the
    /// directory owns those). Returns whether a row went.
    pub fn delete_local_user(&self, oid: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM users WHERE oid = ?1 AND login_method = 'local'",
                [oid],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str) -> NewLocalUser {
        NewLocalUser {
            display_name: name.into(),
            email: None,
            expires_on: NaiveDate::from_ymd_opt(2027, 1, 31),
            workflows: vec!["visitor-scan".into()],
            created_by: "cli".into(),
        }
    }

    #[test]
    fn local_users_round_trip_and_stay_local() {
        let store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let a = store.create_local_user(&new("Ann Visitor"), now).unwrap();
        let b = store.create_local_user(&new("Bob Temp"), now).unwrap();
        assert!(a.oid.starts_with("local-") && a.oid != b.oid);
        assert_eq!(
            store.login_method(&a.oid).unwrap(),
            Some(LoginMethod::Local)
        );
        let listed = store.list_local_users().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].0.display_name, "Ann Visitor");
        assert_eq!(listed[0].1.workflows, vec!["visitor-scan".to_string()]);
        assert_eq!(listed[0].1.expires_on, NaiveDate::from_ymd_opt(2027, 1, 31));

        store.set_local_expiry(&a.oid, None).unwrap();
        store.set_local_disabled(&a.oid, Some(now)).unwrap();
        let acc = store.local_account(&a.oid).unwrap().unwrap();
        assert_eq!(acc.expires_on, None);
        assert!(acc.disabled_at.is_some());
        assert!(store.delete_local_user(&a.oid).unwrap());
        assert_eq!(store.user_by_oid(&a.oid).unwrap(), None);
        assert_eq!(store.local_account(&a.oid).unwrap(), None);
    }

    #[test]
    fn an_entra_user_can_never_become_local_nor_be_deleted_as_one() {
        let store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let local = store.create_local_user(&new("Ann"), now).unwrap();
        let mut entra = local.clone();
        entra.oid = "entra-oid".into();
        entra.upn = "megan@contoso.com".into();
        entra.username = "msp-megan".into();
        store.upsert_user(&entra).unwrap();
        assert_eq!(
            store.login_method("entra-oid").unwrap(),
            Some(LoginMethod::Entra)
        );
        let switched = store.with(|c| {
            Ok(c.execute(
                "UPDATE users SET login_method = 'local' WHERE oid = 'entra-oid'",
                [],
            )?)
        });
        assert!(switched.is_err(), "the trigger refuses the switch");
        assert_eq!(
            store.login_method("entra-oid").unwrap(),
            Some(LoginMethod::Entra)
        );
        assert!(!store.delete_local_user("entra-oid").unwrap());
        assert!(store.user_by_oid("entra-oid").unwrap().is_some());
        // A provisioning upsert of the local user leaves it local.
        store.upsert_user(&local).unwrap();
        assert_eq!(
            store.login_method(&local.oid).unwrap(),
            Some(LoginMethod::Local)
        );
    }
}
