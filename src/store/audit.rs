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

/// A filtered page of the audit log, newest first. Unset filters match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries whose actor or subject is any of these (a user's oid, `technician:<oid>`, UPN).
    pub involving: Vec<String>,
    /// Entries with any of these actions; empty = every action.
    pub actions: Vec<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Paging cursor: entries older than this id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            involving: Vec::new(),
            actions: Vec::new(),
            since: None,
            before_id: None,
            limit: 50,
        }
    }
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get(0)?,
        at: col_ts(r, 1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        detail: r.get(5)?,
    })
}

impl Store {
    /// One page of the audit log for `q`, newest first. The next page is
    /// `before_id = Some(last.id)`.
    pub fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.settled();
        let mut sql =
            String::from("SELECT id, at, actor, action, subject, detail FROM audit WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if !q.involving.is_empty() {
            let list = serde_json::Value::from(q.involving.clone()).to_string();
            arg(
                &mut sql,
                " AND (subject IN (SELECT value FROM json_each(?))
                       OR actor IN (SELECT value FROM json_each(?)))",
                list.into(),
            );
        }
        if !q.actions.is_empty() {
            let list = serde_json::Value::from(q.actions.clone()).to_string();
            arg(
                &mut sql,
                " AND action IN (SELECT value FROM json_each(?))",
                list.into(),
            );
        }
        if let Some(since) = q.since {
            arg(&mut sql, " AND at >= ?", ts(since).into());
        }
        if let Some(before) = q.before_id {
            arg(&mut sql, " AND id < ?", before.into());
        }
        arg(
            &mut sql,
            " ORDER BY id DESC LIMIT ?",
            i64::try_from(q.limit).unwrap_or(i64::MAX).into(),
        );
        self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), entry_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

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
        self.settled();
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, action, subject, detail FROM audit
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows =
                stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], entry_from_row)?;
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
    fn query_filters_and_pages() {
        let s = Store::open_in_memory().unwrap();
        let rows = [
            ("cli", "card_enroll", "oid-a", 9),
            ("technician:oid-t", "card_revoke", "oid-a", 10),
            ("oid-a", "sign_in", "oid-a", 11),
            ("cli", "card_enroll", "oid-m", 12),
            ("oid-t", "sign_in", "oid-t", 13),
        ];
        for (actor, action, subject, h) in rows {
            s.append_audit(actor, action, Some(subject), Some("ok"), at(h))
                .unwrap();
        }
        let ids = |q: AuditQuery| -> Vec<i64> {
            s.query_audit(&q).unwrap().iter().map(|e| e.id).collect()
        };
        assert_eq!(ids(AuditQuery::default()), [5, 4, 3, 2, 1]);
        let user_a = AuditQuery {
            involving: vec!["oid-a".into()],
            ..Default::default()
        };
        assert_eq!(ids(user_a.clone()), [3, 2, 1]);
        // The technician as actor (prefixed) and as subject of their own sign-in.
        let tech = AuditQuery {
            involving: vec!["oid-t".into(), "technician:oid-t".into()],
            ..Default::default()
        };
        assert_eq!(ids(tech), [5, 2]);
        let enrolls = AuditQuery {
            actions: vec!["card_enroll".into()],
            ..Default::default()
        };
        assert_eq!(ids(enrolls), [4, 1]);
        let recent = AuditQuery {
            since: Some(at(11)),
            ..Default::default()
        };
        assert_eq!(ids(recent), [5, 4, 3]);
        // Paging: two at a time, each page continuing below the last id seen.
        let page1 = ids(AuditQuery {
            limit: 2,
            ..user_a.clone()
        });
        assert_eq!(page1, [3, 2]);
        let page2 = ids(AuditQuery {
            limit: 2,
            before_id: Some(2),
            ..user_a
        });
        assert_eq!(page2, [1]);
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
