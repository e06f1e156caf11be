//! The provisioning report (issue 10, part 3): one row per directory sync run or offboarding
//! check (start, end, source, counts) and, per user, what changed and why. Nothing secret: badge
//! numbers appear as masked suffixes only, and no token or PIN is ever written here.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{col_ts, col_ts_opt, ts, Store, StoreError};

/// What one run did, by kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    /// Directory users read (entries of the users delta, all pages).
    pub users_seen: u64,
    /// Membership entries read from the groups delta.
    pub members_seen: u64,
    pub pages: u64,
    pub created: u64,
    pub updated: u64,
    pub revoked: u64,
    pub re_enabled: u64,
    pub cards_added: u64,
    pub cards_removed: u64,
    pub conflicts: u64,
    pub errors: u64,
    /// Fleet-wide enrollment: cards written to the directory, writes refused for good, and
    /// failed attempts left queued for a retry.
    pub cards_written: u64,
    pub card_writes_failed: u64,
    pub card_writes_retried: u64,
    /// 429/503 answers whose `Retry-After` the run waited out.
    pub throttled_waits: u64,
    /// Offboarding checks: identities asked about, and how many Entra could not be asked for.
    pub checked: u64,
    pub unreachable: u64,
    pub needs_sign_in: u64,
    /// The run was a full resync (first run, expired delta link, new scope).
    pub full_resync: bool,
}

impl RunCounts {
    /// Counts one recorded change.
    pub fn add_change(&mut self, change: &str) {
        match change {
            "created" => self.created += 1,
            "updated" => self.updated += 1,
            "revoked" => self.revoked += 1,
            "re_enabled" => self.re_enabled += 1,
            "card_added" => self.cards_added += 1,
            "card_removed" => self.cards_removed += 1,
            "conflict" => self.conflicts += 1,
            "error" => self.errors += 1,
            "needs_signin" => self.needs_sign_in += 1,
            "card_written" => self.cards_written += 1,
            "card_write_failed" => self.card_writes_failed += 1,
            "card_write_retry" => self.card_writes_retried += 1,
            _ => {}
        }
    }
}

/// One sync run or offboarding check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisioningRun {
    pub id: i64,
    /// Who started it: `schedule`, `cli`, `service-menu`, `offboarding`.
    pub source: String,
    /// `directory_sync` or `offboarding_check`.
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `running`, `ok`, `failed` or `interrupted` (the process died during the run).
    pub outcome: String,
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// What a run changed for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisioningChange {
    pub run_id: i64,
    pub user_oid: String,
    pub upn: String,
    pub change: String,
    pub detail: String,
}

/// Filters of [`Store::provisioning_report`].
#[derive(Debug, Clone, Default)]
pub struct ProvisioningQuery {
    pub since: Option<DateTime<Utc>>,
    /// Only changes of this user (UPN or object id, case-insensitive); runs without one are
    /// left out.
    pub user: Option<String>,
    pub limit: usize,
}

const RUN_COLUMNS: &str = "id, source, kind, started_at, ended_at, outcome, counts_json, error";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProvisioningRun> {
    let counts: String = r.get(6)?;
    Ok(ProvisioningRun {
        id: r.get(0)?,
        source: r.get(1)?,
        kind: r.get(2)?,
        started_at: col_ts(r, 3)?,
        ended_at: col_ts_opt(r, 4)?,
        outcome: r.get(5)?,
        counts: serde_json::from_str(&counts).unwrap_or_default(),
        error: r.get(7)?,
    })
}

impl Store {
    /// Opens a run. Runs of the same kind still marked running belong to a process that died
    /// (the caller holds the lock that makes runs exclusive): they become `interrupted`.
    pub fn start_provisioning_run(
        &self,
        source: &str,
        kind: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with_transaction(|tx| {
            tx.execute(
                "UPDATE provisioning_runs SET outcome = 'interrupted'
                 WHERE kind = ?1 AND outcome = 'running'",
                [kind],
            )?;
            tx.execute(
                "INSERT INTO provisioning_runs (source, kind, started_at) VALUES (?1, ?2, ?3)",
                params![source, kind, ts(at)],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Closes a run with its outcome (`ok` or `failed`), counts and error text.
    pub fn finish_provisioning_run(
        &self,
        id: i64,
        outcome: &str,
        counts: &RunCounts,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let counts = serde_json::to_string(counts).unwrap_or_else(|_| "{}".into());
        self.with(|c| {
            c.execute(
                "UPDATE provisioning_runs SET ended_at = ?2, outcome = ?3, counts_json = ?4,
                     error = ?5
                 WHERE id = ?1",
                params![id, ts(at), outcome, counts, error],
            )?;
            Ok(())
        })
    }

    /// Records one change outside a directory batch (offboarding checks).
    pub fn record_provisioning_change(
        &self,
        run_id: i64,
        oid: &str,
        upn: &str,
        change: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO provisioning_changes (run_id, user_oid, upn, change, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, oid, upn, change, detail],
            )?;
            Ok(())
        })
    }

    /// The most recent run of any kind (what the service menu's health page shows), `None`
    /// before the first one.
    pub fn last_provisioning_run(&self) -> Result<Option<ProvisioningRun>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM provisioning_runs ORDER BY id DESC LIMIT 1"),
                [],
                run_from_row,
            )
            .optional()?)
        })
    }

    /// Runs newest first with their changes, filtered by `q`.
    pub fn provisioning_report(
        &self,
        q: &ProvisioningQuery,
    ) -> Result<Vec<(ProvisioningRun, Vec<ProvisioningChange>)>, StoreError> {
        let since = q.since.map(ts).unwrap_or_default();
        let limit = i64::try_from(q.limit.max(1)).unwrap_or(i64::MAX);
        self.with(|c| {
            let runs: Vec<ProvisioningRun> = {
                let mut stmt = c.prepare(&format!(
                    "SELECT {RUN_COLUMNS} FROM provisioning_runs r
                     WHERE r.started_at >= ?1 AND (?2 IS NULL OR EXISTS (
                         SELECT 1 FROM provisioning_changes p WHERE p.run_id = r.id
                             AND (p.upn = ?2 COLLATE NOCASE OR p.user_oid = ?2)))
                     ORDER BY r.id DESC LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![since, q.user, limit], run_from_row)?;
                rows.collect::<Result<_, _>>()?
            };
            let mut stmt = c.prepare(
                "SELECT run_id, user_oid, upn, change, detail FROM provisioning_changes
                 WHERE run_id = ?1 AND (?2 IS NULL OR upn = ?2 COLLATE NOCASE OR user_oid = ?2)
                 ORDER BY id",
            )?;
            let mut out = Vec::with_capacity(runs.len());
            for run in runs {
                let changes = stmt
                    .query_map(params![run.id, q.user], |r| {
                        Ok(ProvisioningChange {
                            run_id: r.get(0)?,
                            user_oid: r.get(1)?,
                            upn: r.get(2)?,
                            change: r.get(3)?,
                            detail: r.get(4)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                out.push((run, changes));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::users::tests::at;

    #[test]
    fn runs_roundtrip_and_the_last_one_is_found() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.last_provisioning_run().unwrap(), None);
        let first = s
            .start_provisioning_run("schedule", "directory_sync", at(9))
            .unwrap();
        // A second start while the first is "running" means its process died.
        let second = s
            .start_provisioning_run("cli", "directory_sync", at(10))
            .unwrap();
        s.record_provisioning_change(second, "o1", "adele@contoso.com", "revoked", "disabled")
            .unwrap();
        let mut counts = RunCounts::default();
        counts.add_change("revoked");
        s.finish_provisioning_run(second, "ok", &counts, None, at(11))
            .unwrap();
        let last = s.last_provisioning_run().unwrap().unwrap();
        assert_eq!((last.id, last.outcome.as_str()), (second, "ok"));
        assert_eq!(last.counts.revoked, 1);
        assert_eq!(last.ended_at, Some(at(11)));
        let all = s
            .provisioning_report(&ProvisioningQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].0.id, first);
        assert_eq!(all[1].0.outcome, "interrupted");
        let adele = s
            .provisioning_report(&ProvisioningQuery {
                user: Some("ADELE@contoso.com".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(adele.len(), 1);
        assert_eq!(adele[0].1[0].change, "revoked");
        let later = s
            .provisioning_report(&ProvisioningQuery {
                since: Some(at(10)),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(later.len(), 1);
    }
}
