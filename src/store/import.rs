//! Bulk import of directory users and their cards in one transaction: the initial load of a
//! panel from a directory export, and how benchmarks build a realistic identity cache.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Store, StoreError};
use crate::identity::UserRecord;

/// A card to bind during an import: owner's oid, keyed hash, masked suffix.
pub struct ImportCard {
    pub user_oid: String,
    pub hash: [u8; 32],
    pub masked: String,
}

impl Store {
    /// Inserts or replaces `users` and binds `cards`, all or nothing. Much faster than one
    /// upsert per user because SQLite syncs once.
    pub fn import_directory(
        &self,
        users: &[UserRecord],
        cards: &[ImportCard],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if users.iter().any(|u| u.oid.is_empty()) {
            return Err(StoreError::Corrupt {
                what: "user oid",
                value: String::new(),
            });
        }
        self.with_transaction(|tx| {
            {
                let mut insert_user = tx.prepare(&format!(
                    "INSERT OR REPLACE INTO users ({})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    super::users::INSERT_COLUMNS
                ))?;
                for u in users {
                    insert_user.execute(super::users::insert_values(u))?;
                }
                let mut insert_card = tx.prepare(
                    "INSERT OR REPLACE INTO cards (hash, user_oid, masked, bound_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for c in cards {
                    insert_card.execute(params![
                        &c.hash[..],
                        c.user_oid,
                        c.masked,
                        super::ts(at)
                    ])?;
                }
            }
            Ok(())
        })
    }
}
