//! The `dir_card_writes` table: the durable write-back queue of fleet-wide enrollment. A card
//! enrolled on this panel is queued here (its number sealed with the device key) and the
//! directory worker writes it to the user's directory attribute; a write that fails stays
//! queued with its next attempt time, so a panel restart or a long Graph outage loses nothing.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{col_ts, ts, Store, StoreError};

/// One queued write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardWrite {
    pub id: i64,
    pub user_oid: String,
    pub card_hash: [u8; 32],
    /// The canonical number sealed with the device key (see `directory::writeback`).
    pub card_sealed: String,
    pub masked: String,
    pub attempts: u32,
    pub queued_at: DateTime<Utc>,
}

/// Where one write stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardWriteState {
    /// `queued`, `done`, `failed` or `dropped`.
    pub state: String,
    /// Why the last attempt failed (Graph's words), nothing secret.
    pub last_error: Option<String>,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
}

/// How many writes are in each state (`doctor`, the health page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardWriteCounts {
    pub queued: u64,
    pub failed: u64,
    pub done: u64,
}

impl Store {
    /// Queues `hash` of `oid` for write-back, due now. Queuing the same card again (enrolled
    /// anew) makes it due again with a fresh attempt count.
    pub fn queue_card_write(
        &self,
        oid: &str,
        hash: &[u8; 32],
        sealed: &str,
        masked: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = ts(at);
        self.with(|c| {
            c.execute(
                "INSERT INTO dir_card_writes (user_oid, card_hash, card_sealed, masked, queued_at,
                     next_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (user_oid, card_hash) DO UPDATE SET card_sealed = excluded.card_sealed,
                     masked = excluded.masked, queued_at = excluded.queued_at,
                     next_at = excluded.next_at, attempts = 0, state = 'queued',
                     last_error = NULL, done_at = NULL",
                params![oid, &hash[..], sealed, masked, at],
            )?;
            Ok(())
        })
    }

    /// Up to `limit` queued writes due at `now`, oldest first.
    pub fn due_card_writes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<CardWrite>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, user_oid, card_hash, card_sealed, masked, attempts, queued_at
                 FROM dir_card_writes WHERE state = 'queued' AND next_at <= ?1
                 ORDER BY next_at, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![ts(now), limit as i64], |r| {
                let h: Vec<u8> = r.get(2)?;
                let card_hash = <[u8; 32]>::try_from(h.as_slice()).map_err(|_| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Blob,
                        "card hash is not 32 bytes".into(),
                    )
                })?;
                Ok(CardWrite {
                    id: r.get(0)?,
                    user_oid: r.get(1)?,
                    card_hash,
                    card_sealed: r.get(3)?,
                    masked: r.get(4)?,
                    attempts: r.get(5)?,
                    queued_at: col_ts(r, 6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Ends a write: `done`, `failed` (refused for good, with the reason) or `dropped`. The
    /// sealed number is wiped: it is of no use any more.
    pub fn finish_card_write(
        &self,
        id: i64,
        state: &str,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE dir_card_writes SET state = ?2, last_error = ?3, done_at = ?4,
                     card_sealed = '', attempts = attempts + 1
                 WHERE id = ?1",
                params![id, state, reason, ts(at)],
            )?;
            Ok(())
        })
    }

    /// A failed attempt that will be retried at `next_at`.
    pub fn retry_card_write(
        &self,
        id: i64,
        reason: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE dir_card_writes SET attempts = attempts + 1, last_error = ?2, next_at = ?3
                 WHERE id = ?1 AND state = 'queued'",
                params![id, reason, ts(next_at)],
            )?;
            Ok(())
        })
    }

    /// Makes every queued write due at `now` (a technician's Sync now). Returns how many.
    pub fn card_writes_due_now(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE dir_card_writes SET next_at = ?1 WHERE state = 'queued' AND next_at > ?1",
                [ts(now)],
            )?)
        })
    }

    /// Writes by state.
    pub fn card_write_counts(&self) -> Result<CardWriteCounts, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT count(*) FILTER (WHERE state = 'queued'),
                        count(*) FILTER (WHERE state = 'failed'),
                        count(*) FILTER (WHERE state = 'done')
                 FROM dir_card_writes",
                [],
                |r| {
                    Ok(CardWriteCounts {
                        queued: r.get::<_, i64>(0)? as u64,
                        failed: r.get::<_, i64>(1)? as u64,
                        done: r.get::<_, i64>(2)? as u64,
                    })
                },
            )?)
        })
    }

    /// Where the write of `hash` for `oid` stands, if one was queued.
    pub fn card_write_state(
        &self,
        oid: &str,
        hash: &[u8; 32],
    ) -> Result<Option<CardWriteState>, StoreError> {
        use rusqlite::OptionalExtension;
        self.with(|c| {
            Ok(c.query_row(
                "SELECT state, last_error, attempts, next_at FROM dir_card_writes
                 WHERE user_oid = ?1 AND card_hash = ?2",
                params![oid, &hash[..]],
                |r| {
                    Ok(CardWriteState {
                        state: r.get(0)?,
                        last_error: r.get(1)?,
                        attempts: r.get(2)?,
                        next_at: col_ts(r, 3)?,
                    })
                },
            )
            .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;

    #[test]
    fn a_write_is_due_retried_and_finished_once() {
        let store = Store::open_in_memory().unwrap();
        store.upsert_user(&user("o1", "megan")).unwrap();
        store
            .queue_card_write("o1", &[1; 32], "sealed", "•••• 0007", at(9))
            .unwrap();
        assert!(store.due_card_writes(at(8), 10).unwrap().is_empty());
        let due = store.due_card_writes(at(9), 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].attempts, due[0].masked.as_str()), (0, "•••• 0007"));

        store
            .retry_card_write(due[0].id, "HTTP 500", at(11))
            .unwrap();
        assert!(store.due_card_writes(at(10), 10).unwrap().is_empty());
        let s = store.card_write_state("o1", &[1; 32]).unwrap().unwrap();
        assert_eq!(
            (s.state.as_str(), s.attempts, s.next_at),
            ("queued", 1, at(11))
        );
        assert_eq!(store.card_writes_due_now(at(10)).unwrap(), 1);
        assert_eq!(store.due_card_writes(at(10), 10).unwrap().len(), 1);

        store
            .finish_card_write(due[0].id, "done", None, at(10))
            .unwrap();
        assert!(store.due_card_writes(at(23), 10).unwrap().is_empty());
        let c = store.card_write_counts().unwrap();
        assert_eq!((c.queued, c.done, c.failed), (0, 1, 0));
        let sealed: String = store
            .with(|c| Ok(c.query_row("SELECT card_sealed FROM dir_card_writes", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(sealed, "", "the sealed number goes once written");

        // Enrolled again: due again, attempts from zero.
        store
            .queue_card_write("o1", &[1; 32], "sealed2", "•••• 0007", at(12))
            .unwrap();
        let due = store.due_card_writes(at(12), 10).unwrap();
        assert_eq!((due.len(), due[0].attempts), (1, 0));
    }
}
