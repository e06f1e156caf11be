//! The `pins` table: argon2id PHC strings and the failure counter that drives lockout.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{col_ts_opt, ts, Store, StoreError};

/// A user's PIN hash and lockout state. `Debug` hides the hash: a PHC string of a short PIN is
/// enough to search the PIN space offline.
#[derive(Clone, PartialEq, Eq)]
pub struct PinState {
    pub phc: String,
    pub failed_attempts: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for PinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinState")
            .field("phc", &"[redacted]")
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish()
    }
}

impl PinState {
    /// Whether PIN entry is locked at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

impl Store {
    /// Sets (or replaces) a user's PIN hash and clears the failure counter.
    pub fn set_pin_hash(&self, oid: &str, phc: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO pins (user_oid, phc, failed_attempts, locked_until, updated_at)
                 VALUES (?1, ?2, 0, NULL, ?3)
                 ON CONFLICT (user_oid) DO UPDATE SET phc = excluded.phc, failed_attempts = 0,
                     locked_until = NULL, updated_at = excluded.updated_at",
                params![oid, phc, ts(at)],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::UserNotFound(oid.to_string())
                }
                e => StoreError::Sqlite(e),
            })?;
            Ok(())
        })
    }

    pub fn pin_state(&self, oid: &str) -> Result<Option<PinState>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT phc, failed_attempts, locked_until FROM pins WHERE user_oid = ?1",
                [oid],
                |r| {
                    Ok(PinState {
                        phc: r.get(0)?,
                        failed_attempts: r.get(1)?,
                        locked_until: col_ts_opt(r, 2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Counts one more wrong PIN (atomically) and sets the lockout; returns the new count.
    /// The caller computes `locked_until` from the count with `auth::pin::lockout_delay`.
    pub fn record_pin_failure(
        &self,
        oid: &str,
        locked_until: Option<DateTime<Utc>>,
    ) -> Result<u32, StoreError> {
        self.with(|c| {
            c.query_row(
                "UPDATE pins SET failed_attempts = failed_attempts + 1, locked_until = ?2
                 WHERE user_oid = ?1 RETURNING failed_attempts",
                params![oid, locked_until.map(ts)],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::UserNotFound(oid.to_string()))
        })
    }

    /// After a correct PIN: clears the counter and any lockout.
    pub fn reset_pin_failures(&self, oid: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE pins SET failed_attempts = 0, locked_until = NULL WHERE user_oid = ?1",
                [oid],
            )?;
            Ok(())
        })
    }

    /// Removes a user's PIN; returns whether there was one.
    pub fn delete_pin(&self, oid: &str) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM pins WHERE user_oid = ?1", [oid])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;

    #[test]
    fn pin_lifecycle() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("a", "adele")).unwrap();
        assert_eq!(s.pin_state("a").unwrap(), None);
        s.set_pin_hash("a", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", at(9))
            .unwrap();
        assert_eq!(s.record_pin_failure("a", None).unwrap(), 1);
        assert_eq!(s.record_pin_failure("a", Some(at(10))).unwrap(), 2);
        let st = s.pin_state("a").unwrap().unwrap();
        assert_eq!(st.failed_attempts, 2);
        assert_eq!(st.locked_until, Some(at(10)));
        assert!(st.is_locked(at(9)));
        assert!(!st.is_locked(at(10)));
        assert!(!format!("{st:?}").contains("argon2id"));

        s.reset_pin_failures("a").unwrap();
        let st = s.pin_state("a").unwrap().unwrap();
        assert_eq!((st.failed_attempts, st.locked_until), (0, None));

        s.record_pin_failure("a", None).unwrap();
        s.set_pin_hash("a", "$argon2id$new", at(11)).unwrap();
        let st = s.pin_state("a").unwrap().unwrap();
        assert_eq!((st.phc.as_str(), st.failed_attempts), ("$argon2id$new", 0));

        assert!(s.delete_pin("a").unwrap());
        assert!(matches!(
            s.record_pin_failure("a", None),
            Err(StoreError::UserNotFound(_))
        ));
    }

    #[test]
    fn pin_for_unknown_user_is_refused() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(
            s.set_pin_hash("ghost", "$argon2id$x", at(9)),
            Err(StoreError::UserNotFound(_))
        ));
    }
}
