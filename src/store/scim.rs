//! SCIM resources (`scim_users`, `scim_groups`, `scim_members`) and their effect on the panel.
//!
//! Every write is one transaction: the resource row, the user's staged directory row
//! (`dir_users`, so a SCIM user signs in by badge before any Microsoft sign-in, exactly like a
//! synced one), the plan that [`crate::directory::apply`] decides (passed in as `planner`, the
//! store does not decide), its execution and the provisioning run that records the request.
//! A plan the panel cannot carry out (a username another user holds) rolls the whole request
//! back: Entra is told, nothing is half-written. A `loginMethod` other than the one the panel
//! user was created with is refused ([`StoreError::Immutable`]).
//!
//! Writes are bulk transactions (the panel's own writes go first, see [`super`]); reads use
//! the reader connections. Every `cardNumbers` value is a badge: the resource keeps all of
//! them (`cards_json`), `dir_users` stages the first, and a re-plan after a group change takes
//! them from the resource.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::directory::{execute_plan_in, AppliedChange, Candidate, DirUser, Memberships, Plan};
use super::provisioning::RunCounts;
use super::users::{user_from_row, USER_COLUMNS};
use super::{col_ts, ts, Store, StoreError};

/// What decides a plan for a candidate ([`crate::directory::apply::plan`] with its context).
pub type Planner<'a> = &'a dyn Fn(&Candidate) -> Plan;

/// Attributes a user filter may compare (what Entra sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Id,
    /// Case-insensitive (`caseExact: false`).
    UserName,
    ExternalId,
    /// `emails[type eq "work"].value`, case-insensitive.
    WorkEmail,
}

/// A stored SCIM user.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUserRow {
    pub id: String,
    /// The panel user's object id (the `externalId` Entra sent at creation when it is a GUID).
    pub oid: String,
    /// The resource as sent, without write-only attributes.
    pub doc: serde_json::Map<String, serde_json::Value>,
    /// Keyed hashes and masked suffixes of the card numbers sent.
    pub cards: Vec<([u8; 32], String)>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored SCIM group with its members (user id, display name).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroupRow {
    pub id: String,
    pub doc: serde_json::Map<String, serde_json::Value>,
    pub members: Vec<(String, String)>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the service menu's health page shows about SCIM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScimActivity {
    pub users: usize,
    pub active_users: usize,
    pub groups: usize,
    pub last_request_at: Option<DateTime<Utc>>,
    /// Write requests recorded since the `since` asked for, and how many were refused.
    pub requests_24h: usize,
    pub refused_24h: usize,
}

/// A user as the SCIM layer wants it stored.
#[derive(Debug, Clone)]
pub struct ScimWrite {
    pub id: String,
    pub oid: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub work_email: Option<String>,
    pub active: bool,
    pub doc: serde_json::Map<String, serde_json::Value>,
    pub cards: Vec<([u8; 32], String)>,
    /// The panel's view: names, mail, enabled, first badge (memberships are filled here).
    pub dir: DirUser,
    /// For the report: `POST /Users`, `PATCH /Users/{id}`.
    pub request: String,
}

fn corrupt(what: &'static str, value: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.into(),
    }
}

fn parse_doc(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(corrupt("SCIM resource", "not a JSON object")),
    }
}

fn cards_to_json(cards: &[([u8; 32], String)]) -> String {
    let v: Vec<serde_json::Value> = cards
        .iter()
        .map(|(h, m)| serde_json::json!([hex(h), m]))
        .collect();
    serde_json::Value::from(v).to_string()
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn cards_from_json(s: &str) -> Vec<([u8; 32], String)> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(s) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| {
            let h = i.get(0)?.as_str()?;
            let m = i.get(1)?.as_str()?;
            let mut out = [0u8; 32];
            if h.len() != 64 {
                return None;
            }
            for (k, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(h.get(2 * k..2 * k + 2)?, 16).ok()?;
            }
            Some((out, m.to_string()))
        })
        .collect()
}

const USER_ROW: &str = "id, oid, doc, cards_json, version, created_at, updated_at FROM scim_users";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ScimUserRow, String)> {
    let doc: String = r.get(2)?;
    let cards: String = r.get(3)?;
    Ok((
        ScimUserRow {
            id: r.get(0)?,
            oid: r.get(1)?,
            doc: serde_json::Map::new(),
            cards: cards_from_json(&cards),
            version: r.get(4)?,
            created_at: col_ts(r, 5)?,
            updated_at: col_ts(r, 6)?,
        },
        doc,
    ))
}

fn finish_user((mut row, doc): (ScimUserRow, String)) -> Result<ScimUserRow, StoreError> {
    row.doc = parse_doc(&doc)?;
    Ok(row)
}

fn user_in(c: &rusqlite::Connection, id: &str) -> Result<Option<ScimUserRow>, StoreError> {
    c.prepare_cached(&format!("SELECT {USER_ROW} WHERE id = ?1"))?
        .query_row([id], user_row)
        .optional()?
        .map(finish_user)
        .transpose()
}

fn group_members(c: &rusqlite::Connection, id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT m.user_id, coalesce(json_extract(u.doc, '$.displayName'), u.user_name)
         FROM scim_members m JOIN scim_users u ON u.id = m.user_id
         WHERE m.group_id = ?1 ORDER BY m.user_id",
    )?;
    let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn group_in(
    c: &rusqlite::Connection,
    id: &str,
    with_members: bool,
) -> Result<Option<ScimGroupRow>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT id, doc, version, created_at, updated_at FROM scim_groups WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                col_ts(r, 3)?,
                col_ts(r, 4)?,
            ))
        })
        .optional()?;
    let Some((id, doc, version, created_at, updated_at)) = row else {
        return Ok(None);
    };
    let members = if with_members {
        group_members(c, &id)?
    } else {
        Vec::new()
    };
    Ok(Some(ScimGroupRow {
        doc: parse_doc(&doc)?,
        id,
        members,
        version,
        created_at,
        updated_at,
    }))
}

/// Maps a violation of a SCIM uniqueness index to [`StoreError::Conflict`].
fn unique(e: rusqlite::Error, field: &'static str, value: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Conflict {
                field,
                value: value.to_string(),
            };
        }
    }
    StoreError::Sqlite(e)
}

/// The memberships a user's SCIM groups give: names as roles, ids as groups.
fn memberships_in(c: &rusqlite::Connection, user_id: &str) -> Result<Memberships, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT g.display_name, coalesce(g.external_id, g.id) FROM scim_members m
         JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id = ?1",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut roles: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut groups: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    roles.sort();
    roles.dedup();
    groups.sort();
    groups.dedup();
    Ok(Memberships { roles, groups })
}

/// Stages the panel's view of a SCIM user as a directory row.
fn stage_in(tx: &Transaction<'_>, d: &DirUser, deleted: bool, at: &str) -> Result<(), StoreError> {
    let attrs = serde_json::Value::Object(d.attrs.clone()).to_string();
    tx.prepare_cached(
        "INSERT INTO dir_users (oid, upn, display_name, mail, mail_nickname, enabled, deleted,
             attrs_json, card_hash, card_masked, card_error, seen_epoch, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12)
         ON CONFLICT (oid) DO UPDATE SET upn = excluded.upn,
             display_name = excluded.display_name, mail = excluded.mail,
             mail_nickname = excluded.mail_nickname, enabled = excluded.enabled,
             deleted = excluded.deleted, attrs_json = excluded.attrs_json,
             card_hash = excluded.card_hash, card_masked = excluded.card_masked,
             card_error = excluded.card_error, updated_at = excluded.updated_at",
    )?
    .execute(params![
        d.oid,
        d.upn,
        d.display_name,
        d.mail,
        d.mail_nickname,
        d.enabled,
        deleted,
        attrs,
        d.cards.first().map(|c| c.0.to_vec()),
        d.cards.first().map(|c| c.1.clone()),
        d.card_error,
        at,
    ])?;
    Ok(())
}

/// The candidate for a staged directory user: what the panel knows about them.
fn candidate_in(
    tx: &Transaction<'_>,
    dir: DirUser,
    deleted: bool,
) -> Result<Candidate, StoreError> {
    let managed: bool = tx
        .prepare_cached("SELECT managed FROM dir_users WHERE oid = ?1")?
        .query_row([&dir.oid], |r| r.get(0))
        .optional()?
        .unwrap_or(false);
    let local = tx
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.oid = ?1"
        ))?
        .query_row([&dir.oid], user_from_row)
        .optional()?;
    let directory_cards = tx
        .prepare_cached(
            "SELECT hash, masked FROM cards WHERE user_oid = ?1 AND source = 'directory'",
        )?
        .query_map([&dir.oid], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?
        .filter_map(|r| match r {
            Ok((h, m)) => <[u8; 32]>::try_from(h.as_slice()).ok().map(|h| Ok((h, m))),
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()?;
    let mut card_holders = Vec::new();
    let mut holder = tx.prepare_cached(
        "SELECT k.user_oid, u.upn, k.source FROM cards k
         JOIN users u ON u.oid = k.user_oid WHERE k.hash = ?1",
    )?;
    for (h, _) in &dir.cards {
        if let Some((oid, upn, source)) = holder
            .query_row([&h[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
        {
            card_holders.push((*h, oid, upn, source));
        }
    }
    drop(holder);
    Ok(Candidate {
        in_scope: !deleted && dir.enabled,
        dir,
        deleted,
        managed,
        card_ambiguous: false,
        local,
        directory_cards,
        card_holders,
    })
}

/// Opens the run that records one SCIM request.
fn open_run(tx: &Transaction<'_>, at: &str) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO provisioning_runs (source, kind, started_at) VALUES ('scim', 'scim', ?1)",
    )?
    .execute([at])?;
    Ok(tx.last_insert_rowid())
}

fn close_run(
    tx: &Transaction<'_>,
    run_id: i64,
    request: &str,
    applied: &[AppliedChange],
    at: &str,
) -> Result<(), StoreError> {
    let mut counts = RunCounts::default();
    for a in applied {
        counts.add_change(&a.change);
    }
    tx.prepare_cached(
        "INSERT INTO provisioning_changes (run_id, user_oid, upn, change, detail)
         VALUES (?1, '', '', 'request', ?2)",
    )?
    .execute(params![run_id, request])?;
    tx.prepare_cached(
        "UPDATE provisioning_runs SET ended_at = ?2, outcome = 'ok', counts_json = ?3 WHERE id = ?1",
    )?
    .execute(params![
        run_id,
        at,
        serde_json::to_string(&counts).unwrap_or_else(|_| "{}".into())
    ])?;
    Ok(())
}

/// Refuses a `loginMethod` other than the one the panel user was created with (a trigger
/// keeps `users.login_method` fixed: an Entra user turned local would bypass the directory).
/// Without a panel user yet, or without `loginMethod` in the request, anything goes.
fn login_method_unchanged(tx: &Transaction<'_>, d: &DirUser) -> Result<(), StoreError> {
    let Some(wanted) = d.attrs.get("loginMethod").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let stored: Option<String> = tx
        .prepare_cached("SELECT login_method FROM users WHERE oid = ?1")?
        .query_row([&d.oid], |r| r.get(0))
        .optional()?;
    match stored {
        Some(m) if m != wanted => Err(StoreError::Immutable {
            field: "loginMethod",
            reason: format!(
                "the panel user was created with {m:?}; delete the user and provision it anew                  to change it"
            ),
        }),
        _ => Ok(()),
    }
}

/// Plans and executes the panel's side of one staged user; a plan that failed to execute
/// fails the request (the caller's transaction rolls back).
fn apply_in(
    tx: &Transaction<'_>,
    run_id: i64,
    mut dir: DirUser,
    user_id: Option<&str>,
    deleted: bool,
    planner: Planner<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<AppliedChange>, StoreError> {
    if let Some(id) = user_id {
        dir.memberships = Some(memberships_in(tx, id)?);
    }
    stage_in(tx, &dir, deleted, &ts(at))?;
    let cand = candidate_in(tx, dir, deleted)?;
    let plan = planner(&cand);
    let applied = execute_plan_in(tx, run_id, &cand, &plan, at, "scim")?;
    if let Some(err) = applied.iter().find(|a| a.change == "error") {
        return Err(StoreError::Conflict {
            field: "panel user",
            value: err.detail.clone(),
        });
    }
    Ok(applied)
}

/// The panel view of a stored SCIM user, for re-planning after a group change.
fn staged_in(tx: &Transaction<'_>, oid: &str) -> Result<Option<DirUser>, StoreError> {
    tx.prepare_cached(
        "SELECT oid, upn, display_name, mail, mail_nickname, enabled, attrs_json, card_hash,
             card_masked, card_error FROM dir_users WHERE oid = ?1",
    )?
    .query_row([oid], |r| {
        let attrs: String = r.get(6)?;
        let hash: Option<Vec<u8>> = r.get(7)?;
        let masked: Option<String> = r.get(8)?;
        Ok(DirUser {
            oid: r.get(0)?,
            upn: r.get(1)?,
            display_name: r.get(2)?,
            mail: r.get(3)?,
            mail_nickname: r.get(4)?,
            enabled: r.get(5)?,
            attrs: match serde_json::from_str(&attrs) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            },
            cards: match (hash, masked) {
                (Some(h), Some(m)) => <[u8; 32]>::try_from(h.as_slice()).ok().map(|h| (h, m)),
                _ => None,
            }
            .into_iter()
            .collect(),
            card_error: r.get(9)?,
            memberships: None,
        })
    })
    .optional()
    .map_err(StoreError::from)
}

impl Store {
    pub fn scim_user(&self, id: &str) -> Result<Option<ScimUserRow>, StoreError> {
        self.read(|c| user_in(c, id))
    }

    /// Users matching every condition (none: all), by id: the total and one page.
    pub fn scim_find_users(
        &self,
        conds: &[(UserField, String)],
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ScimUserRow>), StoreError> {
        let mut clauses = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for (f, v) in conds {
            values.push(v.clone());
            let n = values.len();
            clauses.push(match f {
                UserField::Id => format!("id = ?{n}"),
                UserField::UserName => format!("user_name_key = lower(?{n})"),
                UserField::ExternalId => format!("external_id = ?{n}"),
                UserField::WorkEmail => format!("work_email = ?{n} COLLATE NOCASE"),
            });
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        self.read(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM scim_users {filter}"),
                rusqlite::params_from_iter(values.iter()),
                |r| r.get(0),
            )?;
            let mut page_values = values.clone();
            page_values.push(limit.to_string());
            page_values.push(offset.to_string());
            let n = page_values.len();
            let mut stmt = c.prepare(&format!(
                "SELECT {USER_ROW} {filter} ORDER BY id LIMIT ?{} OFFSET ?{n}",
                n - 1
            ))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(page_values.iter()), user_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let rows = rows
                .into_iter()
                .map(finish_user)
                .collect::<Result<_, _>>()?;
            Ok((usize::try_from(total).unwrap_or(0), rows))
        })
    }

    /// Creates (`create`) or replaces a user and applies it to the panel. Fails with
    /// [`StoreError::Conflict`] when another user has the userName (or the panel cannot take
    /// the user), [`StoreError::UserNotFound`] when a replaced user is gone.
    pub fn scim_write_user(
        &self,
        w: &ScimWrite,
        create: bool,
        planner: Planner<'_>,
        at: DateTime<Utc>,
    ) -> Result<(ScimUserRow, Vec<AppliedChange>), StoreError> {
        let at_s = ts(at);
        let doc = serde_json::Value::Object(w.doc.clone()).to_string();
        self.with_bulk_transaction(|tx| {
            let run_id = open_run(tx, &at_s)?;
            if create {
                tx.prepare_cached(
                    "INSERT INTO scim_users (id, oid, user_name, user_name_key, external_id,
                         work_email, active, doc, cards_json, created_at, updated_at)
                     VALUES (?1, ?2, ?3, lower(?3), ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                )?
                .execute(params![
                    w.id,
                    w.oid,
                    w.user_name,
                    w.external_id,
                    w.work_email,
                    w.active,
                    doc,
                    cards_to_json(&w.cards),
                    at_s
                ])
                .map_err(|e| {
                    let field = match &e {
                        rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("oid") => {
                            "externalId"
                        }
                        _ => "userName",
                    };
                    unique(e, field, &w.user_name)
                })?;
            } else {
                let n = tx
                    .prepare_cached(
                        "UPDATE scim_users SET user_name = ?2, user_name_key = lower(?2),
                             external_id = ?3, work_email = ?4, active = ?5, doc = ?6,
                             cards_json = ?7, version = version + 1, updated_at = ?8
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        w.id,
                        w.user_name,
                        w.external_id,
                        w.work_email,
                        w.active,
                        doc,
                        cards_to_json(&w.cards),
                        at_s
                    ])
                    .map_err(|e| unique(e, "userName", &w.user_name))?;
                if n == 0 {
                    return Err(StoreError::UserNotFound(w.id.clone()));
                }
            }
            login_method_unchanged(tx, &w.dir)?;
            let applied = apply_in(tx, run_id, w.dir.clone(), Some(&w.id), false, planner, at)?;
            close_run(tx, run_id, &w.request, &applied, &at_s)?;
            let row = user_in(tx, &w.id)?.ok_or_else(|| StoreError::UserNotFound(w.id.clone()))?;
            Ok((row, applied))
        })
    }

    /// Deletes a user: the resource goes, the panel user is revoked (kept, as offboarding
    /// does, for the audit trail). `Ok(None)` when there is no such user.
    pub fn scim_delete_user(
        &self,
        id: &str,
        planner: Planner<'_>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<AppliedChange>>, StoreError> {
        let at_s = ts(at);
        self.with_bulk_transaction(|tx| {
            let Some(row) = user_in(tx, id)? else {
                return Ok(None);
            };
            let run_id = open_run(tx, &at_s)?;
            let applied = match staged_in(tx, &row.oid)? {
                Some(dir) => apply_in(tx, run_id, dir, None, true, planner, at)?,
                None => Vec::new(),
            };
            tx.execute("DELETE FROM scim_users WHERE id = ?1", [id])?;
            close_run(tx, run_id, &format!("DELETE /Users/{id}"), &applied, &at_s)?;
            Ok(Some(applied))
        })
    }

    pub fn scim_group(
        &self,
        id: &str,
        with_members: bool,
    ) -> Result<Option<ScimGroupRow>, StoreError> {
        self.read(|c| group_in(c, id, with_members))
    }

    /// Groups matching `display_name` (case-insensitive), `external_id` and `id` where given.
    pub fn scim_find_groups(
        &self,
        display_name: Option<&str>,
        external_id: Option<&str>,
        id: Option<&str>,
        offset: usize,
        limit: usize,
        with_members: bool,
    ) -> Result<(usize, Vec<ScimGroupRow>), StoreError> {
        self.read(|c| {
            let filter = "WHERE (?1 IS NULL OR display_name_key = lower(?1))
                 AND (?2 IS NULL OR external_id = ?2) AND (?3 IS NULL OR id = ?3)";
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM scim_groups {filter}"),
                params![display_name, external_id, id],
                |r| r.get(0),
            )?;
            let ids: Vec<String> = c
                .prepare(&format!(
                    "SELECT id FROM scim_groups {filter} ORDER BY id LIMIT ?4 OFFSET ?5"
                ))?
                .query_map(
                    params![display_name, external_id, id, limit as i64, offset as i64],
                    |r| r.get(0),
                )?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for gid in ids {
                if let Some(g) = group_in(c, &gid, with_members)? {
                    out.push(g);
                }
            }
            Ok((usize::try_from(total).unwrap_or(0), out))
        })
    }

    /// Creates or replaces a group with exactly `members` (SCIM user ids) and re-applies every
    /// user whose memberships changed. Fails with [`StoreError::Conflict`] on a taken
    /// displayName, [`StoreError::UserNotFound`] for a member (or replaced group) that does
    /// not exist.
    #[allow(clippy::too_many_arguments)]
    pub fn scim_write_group(
        &self,
        id: &str,
        display_name: &str,
        external_id: Option<&str>,
        doc: &serde_json::Map<String, serde_json::Value>,
        members: &[String],
        create: bool,
        request: &str,
        planner: Planner<'_>,
        at: DateTime<Utc>,
    ) -> Result<(ScimGroupRow, Vec<AppliedChange>), StoreError> {
        let at_s = ts(at);
        let doc_s = serde_json::Value::Object(doc.clone()).to_string();
        self.with_bulk_transaction(|tx| {
            let run_id = open_run(tx, &at_s)?;
            let renamed = !create
                && tx
                    .prepare_cached(
                        "SELECT display_name, external_id FROM scim_groups WHERE id = ?1",
                    )?
                    .query_row([id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                    })
                    .optional()?
                    .is_some_and(|(n, e)| n != display_name || e.as_deref() != external_id);
            let before: Vec<String> = if create {
                tx.prepare_cached(
                    "INSERT INTO scim_groups (id, display_name, display_name_key, external_id,
                         doc, created_at, updated_at)
                     VALUES (?1, ?2, lower(?2), ?3, ?4, ?5, ?5)",
                )?
                .execute(params![id, display_name, external_id, doc_s, at_s])
                .map_err(|e| unique(e, "displayName", display_name))?;
                Vec::new()
            } else {
                let n = tx
                    .prepare_cached(
                        "UPDATE scim_groups SET display_name = ?2, display_name_key = lower(?2),
                             external_id = ?3, doc = ?4, version = version + 1, updated_at = ?5
                         WHERE id = ?1",
                    )?
                    .execute(params![id, display_name, external_id, doc_s, at_s])
                    .map_err(|e| unique(e, "displayName", display_name))?;
                if n == 0 {
                    return Err(StoreError::UserNotFound(id.to_string()));
                }
                group_members(tx, id)?.into_iter().map(|m| m.0).collect()
            };
            let mut wanted: Vec<String> = members.to_vec();
            wanted.sort();
            wanted.dedup();
            let mut changed: Vec<String> = Vec::new();
            for m in &wanted {
                if before.binary_search(m).is_err() {
                    let exists: bool = tx
                        .prepare_cached("SELECT EXISTS (SELECT 1 FROM scim_users WHERE id = ?1)")?
                        .query_row([m], |r| r.get(0))?;
                    if !exists {
                        return Err(StoreError::UserNotFound(m.clone()));
                    }
                    tx.prepare_cached(
                        "INSERT INTO scim_members (group_id, user_id) VALUES (?1, ?2)",
                    )?
                    .execute(params![id, m])?;
                    changed.push(m.clone());
                }
            }
            for m in &before {
                if wanted.binary_search(m).is_err() {
                    tx.prepare_cached(
                        "DELETE FROM scim_members WHERE group_id = ?1 AND user_id = ?2",
                    )?
                    .execute(params![id, m])?;
                    changed.push(m.clone());
                }
            }
            // A renamed group changes every member's roles.
            if renamed {
                changed.extend(
                    before
                        .iter()
                        .filter(|m| wanted.binary_search(m).is_ok())
                        .cloned(),
                );
            }
            let applied = reapply_in(tx, run_id, &changed, planner, at)?;
            close_run(tx, run_id, request, &applied, &at_s)?;
            let row = group_in(tx, id, true)?.ok_or_else(|| StoreError::UserNotFound(id.into()))?;
            Ok((row, applied))
        })
    }

    /// Deletes a group; its members lose what it gave them. `Ok(None)`: no such group.
    pub fn scim_delete_group(
        &self,
        id: &str,
        planner: Planner<'_>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<AppliedChange>>, StoreError> {
        let at_s = ts(at);
        self.with_bulk_transaction(|tx| {
            if group_in(tx, id, false)?.is_none() {
                return Ok(None);
            }
            let run_id = open_run(tx, &at_s)?;
            let members: Vec<String> = group_members(tx, id)?.into_iter().map(|m| m.0).collect();
            tx.execute("DELETE FROM scim_groups WHERE id = ?1", [id])?;
            let applied = reapply_in(tx, run_id, &members, planner, at)?;
            close_run(tx, run_id, &format!("DELETE /Groups/{id}"), &applied, &at_s)?;
            Ok(Some(applied))
        })
    }

    /// What SCIM did: resources now, the last request, requests and refusals since `since`.
    pub fn scim_activity(&self, since: DateTime<Utc>) -> Result<ScimActivity, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM scim_users),
                        (SELECT count(*) FROM scim_users WHERE active = 1),
                        (SELECT count(*) FROM scim_groups),
                        (SELECT max(started_at) FROM provisioning_runs WHERE kind = 'scim'),
                        (SELECT count(*) FROM provisioning_runs
                             WHERE kind = 'scim' AND started_at >= ?1),
                        (SELECT count(*) FROM provisioning_runs
                             WHERE kind = 'scim' AND started_at >= ?1 AND outcome = 'failed')",
                [ts(since)],
                |r| {
                    Ok(ScimActivity {
                        users: r.get::<_, i64>(0)? as usize,
                        active_users: r.get::<_, i64>(1)? as usize,
                        groups: r.get::<_, i64>(2)? as usize,
                        last_request_at: super::col_ts_opt(r, 3)?,
                        requests_24h: r.get::<_, i64>(4)? as usize,
                        refused_24h: r.get::<_, i64>(5)? as usize,
                    })
                },
            )?)
        })
    }

    /// Records a SCIM request that changed nothing because it was refused (the report shows
    /// what Entra tried and why it failed; no token or card number is in `error`).
    pub fn scim_record_refusal(
        &self,
        request: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at_s = ts(at);
        self.with_bulk_transaction(|tx| {
            let run_id = open_run(tx, &at_s)?;
            tx.execute(
                "INSERT INTO provisioning_changes (run_id, user_oid, upn, change, detail)
                 VALUES (?1, '', '', 'request', ?2)",
                params![run_id, request],
            )?;
            let counts = RunCounts {
                errors: 1,
                ..Default::default()
            };
            tx.execute(
                "UPDATE provisioning_runs SET ended_at = ?2, outcome = 'failed', counts_json = ?3,
                     error = ?4 WHERE id = ?1",
                params![
                    run_id,
                    at_s,
                    serde_json::to_string(&counts).unwrap_or_else(|_| "{}".into()),
                    error
                ],
            )?;
            Ok(())
        })
    }
}

/// Re-plans the given SCIM users (their memberships changed).
fn reapply_in(
    tx: &Transaction<'_>,
    run_id: i64,
    user_ids: &[String],
    planner: Planner<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<AppliedChange>, StoreError> {
    let mut applied = Vec::new();
    for uid in user_ids {
        let Some(row) = user_in(tx, uid)? else {
            continue;
        };
        if let Some(mut dir) = staged_in(tx, &row.oid)? {
            // The staged row holds one badge; the resource holds every one Entra sent.
            dir.cards = row.cards.clone();
            applied.extend(apply_in(tx, run_id, dir, Some(uid), false, planner, at)?);
        }
    }
    Ok(applied)
}
