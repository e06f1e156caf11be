//! The `audit` table: an append-only record of sign-ins, enrolments, revocations and technician
//! actions. Rows cannot be updated (a trigger refuses); only old rows can be pruned.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{col_ts, ts, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted: a user's object id, `technician:<oid>`, `system`, ...
    pub actor: String,
    /// What happened, e.g. `card.bind`, `user.revoke`.
    pub action: String,
    /// Whom or what it concerned, e.g. a user's object id or a masked card number.
    pub subject: Option<String>,
    /// Free text. Never put secrets here: no tokens, PINs or full card numbers.
    pub detail: Option<String>,
}

impl Store {
    /// Appends an entry; returns its id.
    pub fn append_audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ts(at), actor, action, subject, detail],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The latest entries, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, action, subject, detail FROM audit
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: col_ts(r, 1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Keeps only the newest `keep` entries, so the log cannot fill the panel's storage.
    /// Returns how many were removed.
    pub fn prune_audit(&self, keep: usize) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC
                     LIMIT 1 OFFSET ?1)",
                [i64::try_from(keep).unwrap_or(i64::MAX)],
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::at;
    use super::*;

    #[test]
    fn append_read_prune() {
        let s = Store::open_in_memory().unwrap();
        for i in 0..5 {
            s.append_audit(
                "system",
                "user.revoke",
                Some(&format!("oid-{i}")),
                None,
                at(9),
            )
            .unwrap();
        }
        let recent = s.recent_audit(2).unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].subject.as_deref(), Some("oid-4"));
        assert_eq!(recent[1].subject.as_deref(), Some("oid-3"));
        assert_eq!(recent[0].at, at(9));
        assert_eq!(s.prune_audit(3).unwrap(), 2);
        let left = s.recent_audit(10).unwrap();
        assert_eq!(left.len(), 3);
        assert_eq!(left.last().unwrap().subject.as_deref(), Some("oid-2"));
        assert_eq!(s.prune_audit(10).unwrap(), 0);
    }

    #[test]
    fn entries_cannot_be_rewritten() {
        let s = Store::open_in_memory().unwrap();
        s.append_audit("system", "x", None, None, at(9)).unwrap();
        let err = s
            .with(|c| Ok(c.execute("UPDATE audit SET actor = 'mallory'", [])?))
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}
