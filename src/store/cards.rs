//! The `cards` table: keyed hashes of card numbers bound to users, with a masked suffix for display.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::users::{user_from_row, USER_COLUMNS};
use super::{col_ts, col_ts_opt, ts, Store, StoreError};
use crate::identity::UserRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub hash: [u8; 32],
    /// e.g. "•••• 1234".
    pub masked: String,
    pub bound_at: DateTime<Utc>,
    /// The audit actor that bound it (see [`Store::bind_card_as`]); `None` for older bindings
    /// and directory imports.
    pub bound_by: Option<String>,
    /// When it last signed its owner in.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Where the binding came from; a directory sync only ever removes its own.
    pub source: CardSource,
}

/// Where a card binding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardSource {
    /// Enrolled on a panel: self-enrollment, a technician, the CLI, an import.
    Panel,
    /// Bound by a directory sync from the directory's badge attribute.
    Directory,
}

impl CardSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CardSource::Panel => "panel",
            CardSource::Directory => "directory",
        }
    }
}

/// Maps `hash, masked, bound_at, bound_by, last_used_at, source`.
fn card_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CardRecord> {
    let hash: Vec<u8> = r.get(0)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "card hash is not 32 bytes".into(),
        )
    })?;
    Ok(CardRecord {
        hash,
        masked: r.get(1)?,
        bound_at: col_ts(r, 2)?,
        bound_by: r.get(3)?,
        last_used_at: col_ts_opt(r, 4)?,
        source: match r.get::<_, String>(5)?.as_str() {
            "directory" => CardSource::Directory,
            _ => CardSource::Panel,
        },
    })
}

/// What binding a card displaced, so the caller can audit it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindOutcome {
    /// The card was bound to this other user and has moved.
    pub moved_from: Option<String>,
    /// The card was already bound to this user (its binding time is refreshed).
    pub already_bound: bool,
    /// Masked numbers of this user's oldest cards removed to stay within the limit.
    pub replaced: Vec<String>,
}

/// What [`Store::bind_card_as`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindResult {
    Bound(BindOutcome),
    /// Refused: the card is bound to this other user and moving it was not allowed.
    OwnedByOther(String),
}

impl Store {
    /// Binds a card to a user by self-enrollment (the user is recorded as the binder). A card
    /// bound to someone else moves to this user; when the user already has `max_per_user`
    /// cards, the oldest ones are unbound to make room.
    pub fn bind_card(
        &self,
        oid: &str,
        hash: &[u8; 32],
        masked: &str,
        max_per_user: u32,
        at: DateTime<Utc>,
    ) -> Result<BindOutcome, StoreError> {
        match self.bind_card_as(oid, hash, masked, max_per_user, at, oid, true)? {
            BindResult::Bound(outcome) => Ok(outcome),
            // Unreachable with `allow_move`, but a refusal must never look like a binding.
            BindResult::OwnedByOther(owner) => Err(StoreError::Conflict {
                field: "card",
                value: owner,
            }),
        }
    }

    /// Binds a card to a user on behalf of `bound_by` (an audit actor) in one transaction. A
    /// card bound to someone else moves only with `allow_move`; otherwise nothing changes and
    /// the owner is returned. The limit works as in [`Store::bind_card`].
    #[allow(clippy::too_many_arguments)]
    pub fn bind_card_as(
        &self,
        oid: &str,
        hash: &[u8; 32],
        masked: &str,
        max_per_user: u32,
        at: DateTime<Utc>,
        bound_by: &str,
        allow_move: bool,
    ) -> Result<BindResult, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE oid = ?1)",
                [oid],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::UserNotFound(oid.to_string()));
            }
            let mut outcome = BindOutcome::default();
            let owner: Option<String> = tx
                .query_row(
                    "SELECT user_oid FROM cards WHERE hash = ?1",
                    [&hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            match owner {
                Some(o) if o == oid => outcome.already_bound = true,
                Some(o) if !allow_move => return Ok(BindResult::OwnedByOther(o)),
                Some(o) => outcome.moved_from = Some(o),
                None => {}
            }
            tx.execute("DELETE FROM cards WHERE hash = ?1", [&hash[..]])?;

            let max = i64::from(max_per_user.max(1));
            {
                let mut stmt = tx.prepare(
                    "SELECT rowid, masked FROM cards WHERE user_oid = ?1
                     ORDER BY bound_at DESC, rowid DESC LIMIT -1 OFFSET ?2",
                )?;
                let surplus: Vec<(i64, String)> = stmt
                    .query_map(params![oid, max - 1], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (rowid, m) in surplus.into_iter().rev() {
                    tx.execute("DELETE FROM cards WHERE rowid = ?1", [rowid])?;
                    outcome.replaced.push(m);
                }
            }
            tx.execute(
                "INSERT INTO cards (hash, user_oid, masked, bound_at, bound_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&hash[..], oid, masked, ts(at), bound_by],
            )?;
            tx.commit()?;
            Ok(BindResult::Bound(outcome))
        })
    }

    /// The oid a card is bound to, whatever that user's status.
    pub fn card_owner(&self, hash: &[u8; 32]) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT user_oid FROM cards WHERE hash = ?1",
                [&hash[..]],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Records that a card signed its owner in at `at`; returns whether the card is bound.
    pub fn touch_card_used(&self, hash: &[u8; 32], at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE cards SET last_used_at = ?2 WHERE hash = ?1",
                params![&hash[..], ts(at)],
            )? > 0)
        })
    }

    /// Every bound card with its owner's oid, by owner then binding time.
    pub fn all_cards(&self) -> Result<Vec<(String, CardRecord)>, StoreError> {
        self.settled();
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT hash, masked, bound_at, bound_by, last_used_at, source, user_oid FROM cards
                 ORDER BY user_oid, bound_at, rowid",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(6)?, card_from_row(r)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The user a card is bound to (primary-key lookup on the hash).
    pub fn user_by_card_hash(&self, hash: &[u8; 32]) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {USER_COLUMNS} FROM cards k JOIN users u ON u.oid = k.user_oid
                     WHERE k.hash = ?1"
                ),
                [&hash[..]],
                user_from_row,
            )
            .optional()?)
        })
    }

    /// A user's cards, oldest first.
    pub fn cards_for_user(&self, oid: &str) -> Result<Vec<CardRecord>, StoreError> {
        self.settled();
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT hash, masked, bound_at, bound_by, last_used_at, source FROM cards
                 WHERE user_oid = ?1 ORDER BY bound_at, rowid",
            )?;
            let rows = stmt.query_map([oid], card_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Unbinds all of a user's cards; returns how many there were.
    pub fn unbind_cards(&self, oid: &str) -> Result<usize, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM cards WHERE user_oid = ?1", [oid])?))
    }

    /// Unbinds one card (technician revoke); returns whether it was bound.
    pub fn unbind_card(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM cards WHERE hash = ?1", [&hash[..]])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;

    fn h(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn bind_lookup_and_move() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("a", "adele")).unwrap();
        s.upsert_user(&user("m", "megan")).unwrap();
        let o = s.bind_card("a", &h(1), "•••• 0001", 3, at(9)).unwrap();
        assert_eq!(o, BindOutcome::default());
        assert_eq!(s.user_by_card_hash(&h(1)).unwrap().unwrap().oid, "a");
        assert_eq!(s.user_by_card_hash(&h(2)).unwrap(), None);

        let o = s.bind_card("a", &h(1), "•••• 0001", 3, at(10)).unwrap();
        assert!(o.already_bound);
        assert_eq!(s.cards_for_user("a").unwrap().len(), 1);

        let o = s.bind_card("m", &h(1), "•••• 0001", 3, at(11)).unwrap();
        assert_eq!(o.moved_from.as_deref(), Some("a"));
        assert_eq!(s.user_by_card_hash(&h(1)).unwrap().unwrap().oid, "m");
        assert!(s.cards_for_user("a").unwrap().is_empty());
    }

    #[test]
    fn unknown_user_cannot_get_a_card() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(
            s.bind_card("ghost", &h(1), "x", 3, at(9)),
            Err(StoreError::UserNotFound(_))
        ));
    }

    #[test]
    fn unbind() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("a", "adele")).unwrap();
        s.bind_card("a", &h(1), "1", 3, at(9)).unwrap();
        s.bind_card("a", &h(2), "2", 3, at(9)).unwrap();
        assert!(s.unbind_card(&h(1)).unwrap());
        assert!(!s.unbind_card(&h(1)).unwrap());
        assert_eq!(s.unbind_cards("a").unwrap(), 1);
        assert_eq!(s.user_by_card_hash(&h(2)).unwrap(), None);
    }
}
