//! The `users` table: cached identities keyed by Entra object id.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{col_ts, ts, Store, StoreError};
use crate::identity::{UserRecord, UserStatus};

pub(super) const USER_COLUMNS: &str = "u.oid, u.tenant_id, u.upn, u.display_name, u.mail, \
     u.username, u.roles_json, u.groups_json, u.is_technician, u.status, u.created_at, \
     u.updated_at, u.last_online_at";

/// What [`Store::revoke_user`] removed, for the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub cards: usize,
    pub pin: bool,
    pub refresh_token: bool,
    /// Queued scan jobs of the user that were failed for good.
    pub jobs_failed: usize,
}

pub(super) fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let json_list = |idx: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(idx)?;
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    let status: String = r.get(9)?;
    Ok(UserRecord {
        oid: r.get(0)?,
        tenant_id: r.get(1)?,
        upn: r.get(2)?,
        display_name: r.get(3)?,
        mail: r.get(4)?,
        username: r.get(5)?,
        roles: json_list(6)?,
        groups: json_list(7)?,
        is_technician: r.get(8)?,
        status: UserStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                9,
                rusqlite::types::Type::Text,
                Box::new(StoreError::Corrupt {
                    what: "user status",
                    value: status.clone(),
                }),
            )
        })?,
        created_at: col_ts(r, 10)?,
        updated_at: col_ts(r, 11)?,
        last_online_at: col_ts(r, 12)?,
    })
}

fn to_json(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

/// The `users` columns every INSERT of a user writes, in the order of [`insert_values`]
/// (`login_method` is left to its default, `entra`, unless the statement adds it).
pub(super) const INSERT_COLUMNS: &str = "oid, tenant_id, upn, display_name, mail, username, \
     roles_json, groups_json, is_technician, status, created_at, updated_at, last_online_at";

/// `u`'s values for [`INSERT_COLUMNS`], as `?1` to `?13`.
pub(super) fn insert_values(u: &UserRecord) -> impl rusqlite::Params + '_ {
    (
        &u.oid,
        &u.tenant_id,
        &u.upn,
        &u.display_name,
        &u.mail,
        &u.username,
        to_json(&u.roles),
        to_json(&u.groups),
        u.is_technician,
        u.status.as_str(),
        ts(u.created_at),
        ts(u.updated_at),
        ts(u.last_online_at),
    )
}

/// Maps a violation of the "one live user per UPN/username" indexes to a readable error.
pub(super) fn conflict(e: rusqlite::Error, u: &UserRecord) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            if msg.contains("users.username") {
                return StoreError::Conflict {
                    field: "username",
                    value: u.username.clone(),
                };
            }
            if msg.contains("users.upn") {
                return StoreError::Conflict {
                    field: "UPN",
                    value: u.upn.clone(),
                };
            }
        }
    }
    StoreError::Sqlite(e)
}

impl Store {
    /// Inserts or updates a user. `created_at` of an existing row is kept whatever the record
    /// says. Fails with [`StoreError::Conflict`] if another non-revoked user has the same UPN or
    /// username.
    pub fn upsert_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        self.with(|c| upsert_in(c, u))
    }

    pub fn user_by_oid(&self, oid: &str) -> Result<Option<UserRecord>, StoreError> {
        self.query_user("u.oid = ?1", oid)
    }

    /// Case-insensitive. When a revoked account and a live one share the UPN, the live one wins.
    pub fn user_by_upn(&self, upn: &str) -> Result<Option<UserRecord>, StoreError> {
        self.query_user("u.upn = ?1 COLLATE NOCASE", upn)
    }

    /// When a revoked account and a live one share the username, the live one wins.
    pub fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.query_user("u.username = ?1", username)
    }

    fn query_user(&self, cond: &str, arg: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE {cond}
                 ORDER BY u.status = 'revoked', u.last_online_at DESC LIMIT 1"
            );
            Ok(c.query_row(&sql, [arg], user_from_row).optional()?)
        })
    }

    /// All users, by display name.
    pub fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users u ORDER BY u.display_name COLLATE NOCASE, u.oid"
            ))?;
            let rows = stmt.query_map([], user_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn set_user_status(
        &self,
        oid: &str,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_user(
            oid,
            "UPDATE users SET status = ?2, updated_at = ?3 WHERE oid = ?1",
            params![oid, status.as_str(), ts(at)],
        )
    }

    /// Records that Entra confirmed this identity at `at` (sign-in or refresh): restarts the
    /// offline grace period.
    pub fn touch_online(&self, oid: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_user(
            oid,
            "UPDATE users SET last_online_at = ?2 WHERE oid = ?1",
            params![oid, ts(at)],
        )
    }

    fn update_user(
        &self,
        oid: &str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<(), StoreError> {
        self.with(|c| match c.execute(sql, params)? {
            0 => Err(StoreError::UserNotFound(oid.to_string())),
            _ => Ok(()),
        })
    }

    /// Offboarding in one transaction: marks the user revoked, removes cards, PIN and refresh
    /// token, and fails the user's queued scan jobs for good with `reason` (they stay for a
    /// technician to review; a job being uploaded right now fails at its next token refresh).
    pub fn revoke_user(
        &self,
        oid: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Revoked, StoreError> {
        self.with_transaction(|tx| revoke_in(tx, oid, reason, at))
    }

    /// Deletes a user and, through foreign keys, their cards, PIN, token and jobs. Returns the
    /// spool files of the deleted jobs, which the caller removes.
    pub fn delete_user(&self, oid: &str) -> Result<Vec<PathBuf>, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let spool: Vec<PathBuf> = {
                let mut stmt = tx.prepare("SELECT spool_path FROM jobs WHERE user_oid = ?1")?;
                let rows = stmt.query_map([oid], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map(PathBuf::from))
                    .collect::<Result<_, _>>()?
            };
            if tx.execute("DELETE FROM users WHERE oid = ?1", [oid])? == 0 {
                return Err(StoreError::UserNotFound(oid.to_string()));
            }
            tx.commit()?;
            Ok(spool)
        })
    }
}

/// [`Store::upsert_user`] on a connection or inside a caller's transaction.
pub(super) fn upsert_in(c: &rusqlite::Connection, u: &UserRecord) -> Result<(), StoreError> {
    c.prepare_cached(&format!(
        "INSERT INTO users ({INSERT_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (oid) DO UPDATE SET
             tenant_id = excluded.tenant_id, upn = excluded.upn,
             display_name = excluded.display_name, mail = excluded.mail,
             username = excluded.username, roles_json = excluded.roles_json,
             groups_json = excluded.groups_json, is_technician = excluded.is_technician,
             status = excluded.status, updated_at = excluded.updated_at,
             last_online_at = excluded.last_online_at"
    ))?
    .execute(insert_values(u))
    .map_err(|e| conflict(e, u))?;
    Ok(())
}

/// [`Store::revoke_user`] inside a transaction of the caller (a directory sync batch).
pub(super) fn revoke_in(
    tx: &rusqlite::Transaction<'_>,
    oid: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Revoked, StoreError> {
    let n = tx.execute(
        "UPDATE users SET status = 'revoked', updated_at = ?2 WHERE oid = ?1",
        params![oid, ts(at)],
    )?;
    if n == 0 {
        return Err(StoreError::UserNotFound(oid.to_string()));
    }
    let cards = tx.execute("DELETE FROM cards WHERE user_oid = ?1", [oid])?;
    let pin = tx.execute("DELETE FROM pins WHERE user_oid = ?1", [oid])? > 0;
    let refresh_token = tx.execute("DELETE FROM refresh_tokens WHERE user_oid = ?1", [oid])? > 0;
    let jobs_failed = tx.execute(
        "UPDATE jobs SET state = 'failed', last_error = ?2, upload_url = NULL,
             next_attempt_at = NULL, updated_at = ?3
         WHERE user_oid = ?1 AND state = 'queued'",
        params![oid, reason, ts(at)],
    )?;
    Ok(Revoked {
        cards,
        pin,
        refresh_token,
        jobs_failed,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
    }

    pub(crate) fn user(oid: &str, name: &str) -> UserRecord {
        UserRecord {
            oid: oid.into(),
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            upn: format!("{name}@contoso.com"),
            display_name: name.to_uppercase(),
            mail: Some(format!("{name}@contoso.com")),
            username: format!("msp-{name}"),
            roles: vec!["Kiosk.User".into()],
            groups: vec![],
            is_technician: false,
            status: UserStatus::Active,
            created_at: at(8),
            updated_at: at(8),
            last_online_at: at(8),
        }
    }

    #[test]
    fn upsert_roundtrip_and_lookups() {
        let s = Store::open_in_memory().unwrap();
        let mut u = user("oid-1", "adele");
        s.upsert_user(&u).unwrap();
        assert_eq!(s.user_by_oid("oid-1").unwrap().as_ref(), Some(&u));
        assert_eq!(
            s.user_by_upn("ADELE@contoso.com").unwrap().as_ref(),
            Some(&u)
        );
        assert_eq!(s.user_by_username("msp-adele").unwrap().as_ref(), Some(&u));
        assert_eq!(s.user_by_oid("nope").unwrap(), None);

        u.display_name = "Adele V".into();
        u.roles = vec!["Kiosk.Technician".into()];
        u.is_technician = true;
        u.created_at = at(11); // ignored on update
        u.updated_at = at(11);
        s.upsert_user(&u).unwrap();
        let got = s.user_by_oid("oid-1").unwrap().unwrap();
        assert_eq!(got.created_at, at(8));
        assert_eq!(got.display_name, "Adele V");
        assert!(got.is_technician);
        assert_eq!(got.roles, ["Kiosk.Technician"]);
    }

    #[test]
    fn status_and_online_updates() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("oid-1", "adele")).unwrap();
        s.set_user_status("oid-1", UserStatus::NeedsSignIn, at(9))
            .unwrap();
        s.touch_online("oid-1", at(10)).unwrap();
        let u = s.user_by_oid("oid-1").unwrap().unwrap();
        assert_eq!(u.status, UserStatus::NeedsSignIn);
        assert_eq!(u.updated_at, at(9));
        assert_eq!(u.last_online_at, at(10));
        assert!(matches!(
            s.touch_online("ghost", at(10)),
            Err(StoreError::UserNotFound(_))
        ));
    }

    #[test]
    fn live_usernames_are_unique_but_revoked_ones_are_reusable() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("oid-1", "adele")).unwrap();
        let twin = user("oid-2", "adele");
        assert!(matches!(
            s.upsert_user(&twin),
            Err(StoreError::Conflict { .. })
        ));
        s.revoke_user("oid-1", "disabled", at(9)).unwrap();
        s.upsert_user(&twin).unwrap();
        assert_eq!(
            s.user_by_username("msp-adele").unwrap().unwrap().oid,
            "oid-2"
        );
        assert_eq!(
            s.user_by_upn("adele@contoso.com").unwrap().unwrap().oid,
            "oid-2"
        );
        assert_eq!(s.list_users().unwrap().len(), 2);
    }

    #[test]
    fn conflict_names_the_field() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("oid-1", "adele")).unwrap();
        let mut other = user("oid-2", "megan");
        other.upn = "Adele@Contoso.com".into();
        let err = s.upsert_user(&other).unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { field: "UPN", .. }),
            "{err}"
        );
        let mut other = user("oid-3", "megan");
        other.username = "msp-adele".into();
        let err = s.upsert_user(&other).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    field: "username",
                    ..
                }
            ),
            "{err}"
        );
    }
}
