//! The directory as the last sync saw it (`dir_users`, `dir_members`, `dir_sync`) and the
//! execution of directory plans against the panel's users and cards.
//!
//! Staging: each delta page is written in one transaction; the page that ends a query also
//! writes its delta link (and, after a full resync, sweeps what that resync did not see) in the
//! same transaction, so the stored link is never ahead of the stored data. Reconciling: the
//! panel's users are brought in step with the staged directory in batches; what to do for each
//! user is decided by [`crate::directory::apply`], executed here in the batch's transaction
//! together with the provisioning report rows that describe it. Both steps are idempotent: a
//! replayed page or a batch run twice changes nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::users::{revoke_in, upsert_in, user_from_row, USER_COLUMNS};
use super::{ts, Store, StoreError};
use crate::identity::UserRecord;

/// A user as the directory describes it (one entry of `/users/delta`, after the badge went
/// through the directory pipeline and the device key).
#[derive(Debug, Clone, PartialEq)]
pub struct DirUser {
    pub oid: String,
    pub upn: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub enabled: bool,
    /// department, jobTitle, employeeId, preferredLanguage and `directory.extra_attributes`.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// Keyed hash and masked suffix of each directory badge: at most one from the Graph
    /// sync's badge attribute, every `cardNumbers` value from SCIM. `dir_users` stages the
    /// first; SCIM keeps them all with its resource (`scim_users.cards_json`).
    pub cards: Vec<([u8; 32], String)>,
    /// Why the badge attribute could not be used.
    pub card_error: Option<String>,
    /// Roles and groups this source assigns (SCIM groups); `None` when the source leaves them
    /// to the ID token (the Graph sync).
    pub memberships: Option<Memberships>,
}

/// What a user's groups give them on the panel (workflows' `allowed_roles`, technician).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    /// Group names (matched by `allowed_roles` and `entra.technician_role`).
    pub roles: Vec<String>,
    /// Group ids (Entra object ids where the source sends them).
    pub groups: Vec<String>,
}

/// One change of a group's direct members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDelta {
    pub group_id: String,
    pub member_id: String,
    pub is_group: bool,
    pub removed: bool,
}

/// A stored delta link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLink {
    pub link: String,
    /// What the link was made for: the comma-joined sorted group ids of a groups query, the
    /// `$select` of the users query.
    pub scope: String,
    pub epoch: i64,
}

/// Written with the last page of a query.
#[derive(Debug, Clone)]
pub struct LinkUpdate {
    /// `users`, or `groups` / `groups:N` (one per query of at most 50 groups).
    pub name: String,
    pub link: String,
    pub scope: String,
    pub epoch: i64,
    /// This page ends a full resync: rows the resync did not see are swept.
    pub sweep: bool,
}

/// A directory user with what the panel knows about them: the input of a plan.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub dir: DirUser,
    pub deleted: bool,
    pub managed: bool,
    pub in_scope: bool,
    /// The badge hash is claimed by more than one user in scope.
    pub card_ambiguous: bool,
    pub local: Option<UserRecord>,
    /// The user's cards bound by a sync: hash and masked suffix.
    pub directory_cards: Vec<([u8; 32], String)>,
    /// Who holds each of the directory badges that is bound on this panel now: the badge's
    /// hash, the holder's oid and UPN, the card source.
    pub card_holders: Vec<CardHolder>,
}

/// A bound badge the directory names: hash, holder's oid and UPN, card source.
pub type CardHolder = ([u8; 32], String, String, String);

/// What to do for one user: decided by `directory::apply`, executed by
/// [`Store::apply_directory_batch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Insert or update the user row.
    pub upsert: Option<UserRecord>,
    /// Revoke (cards, PIN, refresh token gone, queued jobs failed) with this reason.
    pub revoke: Option<String>,
    /// The user is provisioned by the directory from now on.
    pub mark_managed: bool,
    /// The user `upsert` creates is a local account (SCIM `loginMethod: local`): the login
    /// method is written once, with the row, and a `local_accounts` row is added.
    pub local_account: bool,
    pub bind_cards: Vec<([u8; 32], String)>,
    pub unbind_cards: Vec<[u8; 32]>,
    /// For the report: (change, detail). Nothing secret.
    pub changes: Vec<(&'static str, String)>,
}

/// A change the report recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    pub oid: String,
    pub upn: String,
    pub change: String,
    pub detail: String,
}

const DIR_USER_COLUMNS: &str = "d.oid, d.upn, d.display_name, d.mail, d.mail_nickname, \
     d.enabled, d.attrs_json, d.card_hash, d.card_masked, d.card_error, d.deleted, d.managed";

fn dir_user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DirUser, bool, bool)> {
    let attrs: String = r.get(6)?;
    let attrs = match serde_json::from_str::<serde_json::Value>(&attrs) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let hash: Option<Vec<u8>> = r.get(7)?;
    let masked: Option<String> = r.get(8)?;
    let card = match (hash, masked) {
        (Some(h), Some(m)) => <[u8; 32]>::try_from(h.as_slice()).ok().map(|h| (h, m)),
        _ => None,
    };
    Ok((
        DirUser {
            oid: r.get(0)?,
            upn: r.get(1)?,
            display_name: r.get(2)?,
            mail: r.get(3)?,
            mail_nickname: r.get(4)?,
            enabled: r.get(5)?,
            attrs,
            cards: card.into_iter().collect(),
            card_error: r.get(9)?,
            memberships: None,
        },
        r.get(10)?,
        r.get(11)?,
    ))
}

fn write_link(tx: &rusqlite::Transaction<'_>, l: &LinkUpdate, at: &str) -> Result<(), StoreError> {
    if l.sweep {
        match l.name.as_str() {
            "users" => {
                tx.execute(
                    "UPDATE dir_users SET deleted = 1, updated_at = ?2
                     WHERE seen_epoch < ?1 AND deleted = 0",
                    params![l.epoch, at],
                )?;
            }
            _ => {
                // Only the groups of this query: the others have their own links and epochs.
                let groups =
                    serde_json::Value::from(l.scope.split(',').collect::<Vec<_>>()).to_string();
                tx.execute(
                    "DELETE FROM dir_members WHERE seen_epoch < ?1
                     AND group_id IN (SELECT value FROM json_each(?2))",
                    params![l.epoch, groups],
                )?;
            }
        }
    }
    tx.execute(
        "INSERT INTO dir_sync (name, link, scope, epoch, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET link = excluded.link, scope = excluded.scope,
             epoch = excluded.epoch, updated_at = excluded.updated_at",
        params![l.name, l.link, l.scope, l.epoch, at],
    )?;
    Ok(())
}

/// Executes one plan inside the caller's transaction and records its changes under `run_id`;
/// revocations and re-enables are audited as `actor` (`directory`, `scim`). A plan that fails
/// on a constraint is rolled back to its savepoint and reported as an `error` change.
pub(super) fn execute_plan_in(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    cand: &Candidate,
    plan: &Plan,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<Vec<AppliedChange>, StoreError> {
    let at_s = ts(at);
    let mut applied = Vec::new();
    let oid = &cand.dir.oid;
    let mut changes: Vec<(String, String)> = plan
        .changes
        .iter()
        .map(|(c, d)| (c.to_string(), d.clone()))
        .collect();
    let result = (|| -> Result<(), StoreError> {
        tx.execute("SAVEPOINT dir_user", [])?;
        if let Some(u) = &plan.upsert {
            if plan.local_account {
                super::local_users::insert_local_in(tx, u, actor)?;
            } else {
                upsert_in(tx, u)?;
            }
        }
        if let Some(reason) = &plan.revoke {
            let r = revoke_in(tx, oid, reason, at)?;
            if let Some(c) = changes.iter_mut().find(|c| c.0 == "revoked") {
                c.1 = format!(
                    "{}; cards {}, PIN {}, refresh token {}, queued jobs failed {}",
                    c.1, r.cards, r.pin, r.refresh_token, r.jobs_failed
                );
            }
        }
        for h in &plan.unbind_cards {
            tx.prepare_cached(
                "DELETE FROM cards WHERE hash = ?1 AND user_oid = ?2
                         AND source = 'directory'",
            )?
            .execute(params![&h[..], oid])?;
        }
        for (h, masked) in &plan.bind_cards {
            tx.prepare_cached(
                "INSERT INTO cards (hash, user_oid, masked, bound_at, bound_by, source)
                     VALUES (?1, ?2, ?3, ?4, 'directory', 'directory')",
            )?
            .execute(params![&h[..], oid, masked, at_s])?;
        }
        if plan.mark_managed {
            tx.prepare_cached("UPDATE dir_users SET managed = 1 WHERE oid = ?1")?
                .execute([oid])?;
        }
        tx.execute("RELEASE dir_user", [])?;
        Ok(())
    })();
    if let Err(e) = result {
        tx.execute("ROLLBACK TO dir_user", [])?;
        tx.execute("RELEASE dir_user", [])?;
        match e {
            StoreError::Conflict { .. } | StoreError::Sqlite(_) => {
                changes = vec![("error".into(), e.to_string())];
            }
            other => return Err(other),
        }
    }
    let mut rec = tx.prepare_cached(
        "INSERT INTO provisioning_changes (run_id, user_oid, upn, change, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    // Offboarding and its reversal also go to the audit log, as the refresh
    // verdict's do; the report has the rest.
    let mut audit = tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, subject, detail)
             VALUES (?1, ?5, ?2, ?3, ?4)",
    )?;
    for (change, detail) in changes {
        rec.execute(params![run_id, oid, cand.dir.upn, change, detail])?;
        let action = match change.as_str() {
            "revoked" => Some("user_revoked"),
            "re_enabled" => Some("user_reenabled"),
            _ => None,
        };
        if let Some(action) = action {
            audit.execute(params![at_s, action, oid, detail, actor])?;
        }
        applied.push(AppliedChange {
            oid: oid.clone(),
            upn: cand.dir.upn.clone(),
            change,
            detail,
        });
    }
    Ok(applied)
}

impl Store {
    /// The stored delta link of `name` (`users` or `groups`).
    pub fn dir_link(&self, name: &str) -> Result<Option<SyncLink>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT link, scope, epoch FROM dir_sync WHERE name = ?1",
                [name],
                |r| {
                    Ok(SyncLink {
                        link: r.get(0)?,
                        scope: r.get(1)?,
                        epoch: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// A number no earlier resync used: rows a new full resync sees carry it.
    pub fn dir_next_epoch(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT max(coalesce((SELECT max(epoch) FROM dir_sync), 0),
                            coalesce((SELECT max(seen_epoch) FROM dir_users), 0),
                            coalesce((SELECT max(seen_epoch) FROM dir_members), 0)) + 1",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// Stages one page of `/users/delta`: `users` as described, `removed` (soft- or
    /// hard-deleted) kept as tombstones; `link` on the page that ends the query.
    pub fn dir_stage_users(
        &self,
        users: &[DirUser],
        removed: &[String],
        epoch: i64,
        link: Option<&LinkUpdate>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = ts(at);
        self.with_transaction(|tx| {
            {
                let mut up = tx.prepare_cached(
                    "INSERT INTO dir_users (oid, upn, display_name, mail, mail_nickname, enabled,
                         deleted, attrs_json, card_hash, card_masked, card_error, seen_epoch,
                         updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (oid) DO UPDATE SET upn = excluded.upn,
                         display_name = excluded.display_name, mail = excluded.mail,
                         mail_nickname = excluded.mail_nickname, enabled = excluded.enabled,
                         deleted = 0, attrs_json = excluded.attrs_json,
                         card_hash = excluded.card_hash, card_masked = excluded.card_masked,
                         card_error = excluded.card_error, seen_epoch = excluded.seen_epoch,
                         updated_at = excluded.updated_at",
                )?;
                for u in users {
                    let attrs = serde_json::Value::Object(u.attrs.clone()).to_string();
                    up.execute(params![
                        u.oid,
                        u.upn,
                        u.display_name,
                        u.mail,
                        u.mail_nickname,
                        u.enabled,
                        attrs,
                        u.cards.first().map(|c| c.0.to_vec()),
                        u.cards.first().map(|c| c.1.clone()),
                        u.card_error,
                        epoch,
                        at,
                    ])?;
                }
                // A user the panel never saw and the directory deleted needs no tombstone.
                let mut gone = tx.prepare_cached(
                    "UPDATE dir_users SET deleted = 1, seen_epoch = ?2, updated_at = ?3
                     WHERE oid = ?1",
                )?;
                for oid in removed {
                    gone.execute(params![oid, epoch, at])?;
                }
            }
            if let Some(l) = link {
                write_link(tx, l, &at)?;
            }
            Ok(())
        })
    }

    /// Stages one page of `/groups/delta`: member changes, and groups deleted (their rows go).
    pub fn dir_stage_members(
        &self,
        members: &[MemberDelta],
        removed_groups: &[String],
        epoch: i64,
        link: Option<&LinkUpdate>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = ts(at);
        self.with_transaction(|tx| {
            {
                let mut add = tx.prepare_cached(
                    "INSERT INTO dir_members (group_id, member_id, is_group, seen_epoch)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (group_id, member_id) DO UPDATE SET
                         is_group = excluded.is_group, seen_epoch = excluded.seen_epoch",
                )?;
                let mut del = tx.prepare_cached(
                    "DELETE FROM dir_members WHERE group_id = ?1 AND member_id = ?2",
                )?;
                for m in members {
                    if m.removed {
                        del.execute(params![m.group_id, m.member_id])?;
                    } else {
                        add.execute(params![m.group_id, m.member_id, m.is_group, epoch])?;
                    }
                }
                for g in removed_groups {
                    tx.execute("DELETE FROM dir_members WHERE group_id = ?1", [g])?;
                }
            }
            if let Some(l) = link {
                write_link(tx, l, &at)?;
            }
            Ok(())
        })
    }

    /// `groups` and every group nested in them, as far as the staged memberships know.
    pub fn dir_group_closure(&self, groups: &[String]) -> Result<Vec<String>, StoreError> {
        let roots = serde_json::Value::from(groups.to_vec()).to_string();
        self.with(|c| {
            let mut stmt = c.prepare(
                "WITH RECURSIVE g(id) AS (
                     SELECT value FROM json_each(?1)
                     UNION SELECT m.member_id FROM dir_members m JOIN g ON m.group_id = g.id
                         WHERE m.is_group = 1)
                 SELECT id FROM g ORDER BY id",
            )?;
            let rows = stmt.query_map([roots], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Fills the connection's scope table with the users reachable from `groups`; returns the
    /// badge hashes claimed by more than one enabled user in scope. Call before
    /// [`Store::dir_candidates`].
    pub fn dir_compute_scope(&self, groups: &[String]) -> Result<HashSet<[u8; 32]>, StoreError> {
        let roots = serde_json::Value::from(groups.to_vec()).to_string();
        self.with(|c| {
            c.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS dir_scope (oid TEXT PRIMARY KEY) WITHOUT ROWID;
                 DELETE FROM temp.dir_scope;",
            )?;
            c.execute(
                "INSERT OR IGNORE INTO temp.dir_scope (oid)
                 WITH RECURSIVE g(id) AS (
                     SELECT value FROM json_each(?1)
                     UNION SELECT m.member_id FROM dir_members m JOIN g ON m.group_id = g.id
                         WHERE m.is_group = 1)
                 SELECT m.member_id FROM dir_members m JOIN g ON m.group_id = g.id
                 WHERE m.is_group = 0",
                [roots],
            )?;
            let mut stmt = c.prepare(
                "SELECT d.card_hash FROM dir_users d JOIN temp.dir_scope s ON s.oid = d.oid
                 WHERE d.card_hash IS NOT NULL AND d.enabled = 1 AND d.deleted = 0
                 GROUP BY d.card_hash HAVING count(*) > 1",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = HashSet::new();
            for h in rows {
                if let Ok(h) = <[u8; 32]>::try_from(h?.as_slice()) {
                    out.insert(h);
                }
            }
            Ok(out)
        })
    }

    /// The next `limit` directory users after `after` (by oid) that are in scope or were
    /// provisioned by the directory, with what the panel knows about them.
    pub fn dir_candidates(
        &self,
        after: &str,
        limit: usize,
        ambiguous: &HashSet<[u8; 32]>,
    ) -> Result<Vec<Candidate>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DIR_USER_COLUMNS}, s.oid IS NOT NULL
                 FROM dir_users d LEFT JOIN temp.dir_scope s ON s.oid = d.oid
                 WHERE d.oid > ?1 AND (d.managed = 1 OR s.oid IS NOT NULL)
                 ORDER BY d.oid LIMIT ?2"
            ))?;
            let rows: Vec<(DirUser, bool, bool, bool)> = stmt
                .query_map(params![after, limit as i64], |r| {
                    let (d, deleted, managed) = dir_user_from_row(r)?;
                    Ok((d, deleted, managed, r.get(12)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut user_stmt = c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.oid = ?1"
            ))?;
            let mut cards_stmt = c.prepare_cached(
                "SELECT hash, masked FROM cards WHERE user_oid = ?1 AND source = 'directory'",
            )?;
            let mut holder_stmt = c.prepare_cached(
                "SELECT k.user_oid, u.upn, k.source FROM cards k JOIN users u ON u.oid = k.user_oid
                 WHERE k.hash = ?1",
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for (dir, deleted, managed, in_scope) in rows {
                let local = user_stmt.query_row([&dir.oid], user_from_row).optional()?;
                let directory_cards = cards_stmt
                    .query_map([&dir.oid], |r| {
                        let h: Vec<u8> = r.get(0)?;
                        Ok((h, r.get::<_, String>(1)?))
                    })?
                    .filter_map(|r| match r {
                        Ok((h, m)) => <[u8; 32]>::try_from(h.as_slice()).ok().map(|h| Ok((h, m))),
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<_, _>>()?;
                let mut card_holders = Vec::new();
                for (h, _) in &dir.cards {
                    if let Some((oid, upn, source)) = holder_stmt
                        .query_row([&h[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()?
                    {
                        card_holders.push((*h, oid, upn, source));
                    }
                }
                let card_ambiguous = dir.cards.iter().any(|(h, _)| ambiguous.contains(h));
                out.push(Candidate {
                    dir,
                    deleted,
                    managed,
                    in_scope,
                    card_ambiguous,
                    local,
                    directory_cards,
                    card_holders,
                });
            }
            Ok(out)
        })
    }

    /// Executes the plans of one batch in one transaction and records their changes under
    /// `run_id`. A plan that fails on a constraint (two users, one username) is reported as an
    /// error change and the rest of the batch goes on.
    pub fn apply_directory_batch(
        &self,
        run_id: i64,
        plans: &[(Candidate, Plan)],
        at: DateTime<Utc>,
    ) -> Result<Vec<AppliedChange>, StoreError> {
        self.with_transaction(|tx| {
            let mut applied = Vec::new();
            for (cand, plan) in plans {
                applied.extend(execute_plan_in(tx, run_id, cand, plan, at, "directory")?);
            }
            Ok(applied)
        })
    }

    /// The directory vouches, as of `at`, for every active user in scope that it describes as
    /// enabled: their offline grace restarts (delta queries report changes, so a user not
    /// reported changed is still enabled). Returns how many.
    pub fn dir_confirm_online(&self, at: DateTime<Utc>) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE users SET last_online_at = ?1
                 WHERE status = 'active' AND last_online_at < ?1 AND oid IN (
                     SELECT d.oid FROM dir_users d JOIN temp.dir_scope s ON s.oid = d.oid
                     WHERE d.enabled = 1 AND d.deleted = 0)",
                [ts(at)],
            )?)
        })
    }

    /// Whether the directory provisions this user and describes them as enabled and present
    /// (a directory user may sign in by badge before any Microsoft sign-in).
    pub fn dir_user_active(&self, oid: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM dir_users
                     WHERE oid = ?1 AND managed = 1 AND enabled = 1 AND deleted = 0)",
                [oid],
                |r| r.get(0),
            )?)
        })
    }

    /// The directory attributes kept for a user (department, jobTitle, ... and extras).
    pub fn dir_attributes(
        &self,
        oid: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError> {
        self.read(|c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT attrs_json FROM dir_users WHERE oid = ?1",
                    [oid],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(s.and_then(|s| match serde_json::from_str(&s) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => None,
            }))
        })
    }

    /// Counts of the staged directory: (users, deleted users, memberships).
    pub fn dir_counts(&self) -> Result<(usize, usize, usize), StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM dir_users WHERE deleted = 0),
                        (SELECT count(*) FROM dir_users WHERE deleted = 1),
                        (SELECT count(*) FROM dir_members)",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as usize,
                        r.get::<_, i64>(1)? as usize,
                        r.get::<_, i64>(2)? as usize,
                    ))
                },
            )?)
        })
    }
}
