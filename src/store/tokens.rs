//! The `refresh_tokens` table: one sealed (encrypted) refresh token per user. Plaintext never
//! reaches this module; sealing and opening are [`crate::secrets::DeviceKey`]'s job.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{ts, Store, StoreError};
use crate::secrets::{SealedSecret, NONCE_LEN};

impl Store {
    /// Stores a user's sealed refresh token, replacing the previous one in a single statement
    /// (Entra rotates refresh tokens on every use; the old one must not linger).
    pub fn put_refresh_token(
        &self,
        oid: &str,
        sealed: &SealedSecret,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO refresh_tokens (user_oid, nonce, ciphertext, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_oid) DO UPDATE SET nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                params![oid, &sealed.nonce[..], sealed.ciphertext, ts(at)],
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

    pub fn refresh_token(&self, oid: &str) -> Result<Option<SealedSecret>, StoreError> {
        self.read(|c| {
            let row: Option<(Vec<u8>, Vec<u8>)> = c
                .query_row(
                    "SELECT nonce, ciphertext FROM refresh_tokens WHERE user_oid = ?1",
                    [oid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            row.map(|(nonce, ciphertext)| {
                let nonce: [u8; NONCE_LEN] =
                    nonce.try_into().map_err(|n: Vec<u8>| StoreError::Corrupt {
                        what: "token nonce length",
                        value: n.len().to_string(),
                    })?;
                Ok(SealedSecret { nonce, ciphertext })
            })
            .transpose()
        })
    }

    /// Active users with a cached refresh token, the longest unrefreshed first: the identities
    /// an offboarding check asks Entra about.
    pub fn active_users_with_refresh_token(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT u.oid FROM users u JOIN refresh_tokens t ON t.user_oid = u.oid
                 WHERE u.status = 'active' ORDER BY t.updated_at, u.oid",
            )?;
            let oids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            Ok(oids)
        })
    }

    /// Removes a user's refresh token; returns whether there was one.
    pub fn delete_refresh_token(&self, oid: &str) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM refresh_tokens WHERE user_oid = ?1", [oid])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;

    fn sealed(b: u8) -> SealedSecret {
        SealedSecret {
            nonce: [b; NONCE_LEN],
            ciphertext: vec![b; 40],
        }
    }

    #[test]
    fn put_replace_get_delete() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("a", "adele")).unwrap();
        assert_eq!(s.refresh_token("a").unwrap(), None);
        s.put_refresh_token("a", &sealed(1), at(9)).unwrap();
        s.put_refresh_token("a", &sealed(2), at(10)).unwrap();
        assert_eq!(s.refresh_token("a").unwrap(), Some(sealed(2)));
        assert!(s.delete_refresh_token("a").unwrap());
        assert!(!s.delete_refresh_token("a").unwrap());
        assert_eq!(s.refresh_token("a").unwrap(), None);
    }

    #[test]
    fn token_for_unknown_user_is_refused() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(
            s.put_refresh_token("ghost", &sealed(1), at(9)),
            Err(StoreError::UserNotFound(_))
        ));
    }
}
