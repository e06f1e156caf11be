//! The service menu's adapter: carries out each [`ServiceEffect`] against the panel's services
//! (identity cache, card administration, outbox, readers, doctor checks) and answers with the
//! [`ServiceEvent`] the menu waits for, rows ready to show. Every action that changes something
//! is audited with the operator as actor (`technician:<oid>` or `service-pin`); card numbers
//! appear masked everywhere except in the reader-check trace, which is never logged.

use crate::i18n::Msg;
use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::services::service_pin::SERVICE_PIN_ACTOR;
use super::services::Services;
use crate::admin::cards::{Actor, CardAdminError, Revoke};
use crate::identity::{UserRecord, UserStatus};
use crate::kiosk::human_bytes;
use crate::service_menu::{
    AuditActions, AuditFilter, AuditRow, AuditSpan, BindOutcome, CardRow, InfoRow, JobRow,
    Operator, ReaderRow, Revealed, RevokeWhich, ServiceEffect, ServiceEvent, SyncState, TraceRow,
    UserCards, UserRow, MAX_RESULTS,
};
use crate::store::{AuditQuery, JobState};

/// Audit entries per page on the panel.
const AUDIT_PAGE: usize = 20;

/// The audit actor of `operator`.
pub fn actor(operator: &Operator) -> Actor {
    match operator {
        Operator::Technician { oid, .. } => Actor::Technician(oid.clone()),
        Operator::ServicePin => Actor::ServicePin,
    }
}

/// Carries out `effect`; the answer, if the menu waits for one. Blocking: SQLite and argon2
/// run here, so the controller calls this from `spawn_blocking` (the network checks of
/// [`ServiceEffect::RunChecks`] go through [`run_checks`] instead).
pub fn execute(
    services: &Services,
    operator: &Operator,
    effect: ServiceEffect,
) -> Option<ServiceEvent> {
    let who = actor(operator);
    let result = match effect {
        ServiceEffect::Record { action, detail } => {
            services.audit(&who.audit_name(), action, "panel", &detail);
            return None;
        }
        ServiceEffect::SearchUsers { seq, query } => {
            search(services, &query).map(|users| ServiceEvent::SearchResults { seq, users })
        }
        ServiceEffect::PrepareEnroll { oid } => prepare_enroll(services, &oid),
        ServiceEffect::BindCard {
            oid,
            card,
            allow_move,
        } => Ok(ServiceEvent::CardBound(bind(
            services, &oid, &card, allow_move, &who,
        ))),
        ServiceEffect::LoadCards { oid } => {
            load_cards(services, &oid).map(ServiceEvent::CardsLoaded)
        }
        ServiceEffect::RevokeCards { oid, which } => Ok(revoke(services, &oid, which, &who)),
        ServiceEffect::ResetPinLockout { oid } => reset_lockout(services, &oid, &who),
        ServiceEffect::RemovePin { oid } => remove_pin(services, &oid, &who),
        ServiceEffect::LoadReaders => Ok(ServiceEvent::ReadersLoaded(readers(services))),
        ServiceEffect::TraceCard { card } => {
            Ok(ServiceEvent::CardTraced(trace(services, &card, &who)))
        }
        ServiceEffect::LoadJobs => jobs(services).map(ServiceEvent::JobsLoaded),
        ServiceEffect::RetryJob { id } => Ok(job_action(services, &id, &who, false)),
        ServiceEffect::DeleteJob { id } => Ok(job_action(services, &id, &who, true)),
        ServiceEffect::LoadHealth => Ok(ServiceEvent::HealthLoaded {
            rows: super::service_health::local_rows(services),
            checked: false,
        }),
        ServiceEffect::RunChecks | ServiceEffect::SyncDirectory => {
            // Network work is async; the controller runs it through `run_checks` and
            // `sync_directory`.
            return None;
        }
        ServiceEffect::LoadAudit { filter, before_id } => audit_page(services, &filter, before_id),
        ServiceEffect::Local(e) => Ok(super::service_local::execute(services, &who, e)),
    };
    Some(result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a service menu action failed");
        ServiceEvent::ActionDone {
            ok: false,
            message: Msg::new("That did not work: {}").arg(e),
        }
    }))
}

fn user_row(u: &UserRecord) -> UserRow {
    UserRow {
        oid: u.oid.clone(),
        name: u.display_name.clone(),
        upn: u.upn.clone(),
        revoked: u.status == UserStatus::Revoked,
    }
}

fn find(services: &Services, oid: &str) -> Result<UserRecord, CardAdminError> {
    services
        .store
        .user_by_oid(oid)?
        .ok_or_else(|| CardAdminError::UnknownUser(oid.to_string()))
}

fn search(services: &Services, query: &str) -> Result<Vec<UserRow>, CardAdminError> {
    let hits = services.store.search_users(query, MAX_RESULTS)?;
    Ok(hits.iter().map(|h| user_row(&h.user)).collect())
}

fn prepare_enroll(services: &Services, oid: &str) -> Result<ServiceEvent, CardAdminError> {
    let max = services.config.identity.max_cards_per_user.max(1);
    let cards = services.store.cards_for_user(oid)?;
    // A new card beyond the limit unbinds the oldest one (cards are listed oldest first).
    let replaces = (cards.len() >= max as usize)
        .then(|| cards.first().map(|c| c.masked.clone()))
        .flatten();
    Ok(ServiceEvent::EnrollTarget {
        oid: oid.to_string(),
        replaces,
        max_per_user: max,
    })
}

fn bind(
    services: &Services,
    oid: &str,
    card: &SecretString,
    allow_move: bool,
    who: &Actor,
) -> BindOutcome {
    let user = match find(services, oid) {
        Ok(u) => u,
        Err(e) => {
            return BindOutcome::Refused {
                message: Msg::new("That did not work: {}").arg(e),
            }
        }
    };
    match services.cards().enroll(&user, card, allow_move, who) {
        Ok(done) => BindOutcome::Bound {
            user: done.user.display_name,
            masked: done.masked,
            already_bound: done.already_bound,
            moved_from: done.moved_from.map(|n| n.display_name),
            replaced: done.replaced,
        },
        Err(CardAdminError::BoundToOther { masked, owner, .. }) => BindOutcome::Conflict {
            owner: owner.to_string(),
            masked,
        },
        Err(e) => BindOutcome::Refused {
            message: Msg::new("That did not work: {}").arg(e),
        },
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "never".into())
}

fn load_cards(services: &Services, oid: &str) -> Result<UserCards, CardAdminError> {
    let user = find(services, oid)?;
    let cards = services
        .cards()
        .list(&user)?
        .into_iter()
        .map(|c| CardRow {
            masked: c.masked,
            bound: when(Some(c.bound_at)),
            bound_by: c.bound_by.to_string(),
            last_used: when(c.last_used_at),
        })
        .collect();
    let pin = services.store.pin_state(oid)?;
    let now = services.now();
    Ok(UserCards {
        user: user_row(&user),
        cards,
        has_pin: pin.is_some(),
        pin_locked: pin
            .is_some_and(|p| p.locked_until.is_some_and(|u| u > now) || p.failed_attempts > 0),
    })
}

fn revoke(services: &Services, oid: &str, which: RevokeWhich, who: &Actor) -> ServiceEvent {
    let which = match which {
        RevokeWhich::One(masked) => Revoke::Suffix(masked),
        RevokeWhich::All => Revoke::All,
    };
    let done = find(services, oid).and_then(|u| services.cards().revoke(&u, &which, who));
    match done {
        Ok(gone) => ServiceEvent::ActionDone {
            ok: true,
            message: Msg::new("Revoked {}.").arg(gone.join(", ")),
        },
        Err(e) => ServiceEvent::ActionDone {
            ok: false,
            message: Msg::new("That did not work: {}").arg(e),
        },
    }
}

fn reset_lockout(
    services: &Services,
    oid: &str,
    who: &Actor,
) -> Result<ServiceEvent, CardAdminError> {
    let user = find(services, oid)?;
    services.store.reset_pin_failures(oid)?;
    services.audit(&who.audit_name(), "pin_lockout_reset", oid, "ok");
    Ok(ServiceEvent::ActionDone {
        ok: true,
        message: Msg::new("PIN lockout of {} cleared.").arg(&user.display_name),
    })
}

fn remove_pin(services: &Services, oid: &str, who: &Actor) -> Result<ServiceEvent, CardAdminError> {
    let user = find(services, oid)?;
    let had = services.store.delete_pin(oid)?;
    services.audit(
        &who.audit_name(),
        "pin_removed",
        oid,
        if had { "ok" } else { "ok: had no PIN" },
    );
    Ok(ServiceEvent::ActionDone {
        ok: true,
        message: Msg::new("PIN of {} removed.").arg(&user.display_name),
    })
}

fn readers(services: &Services) -> Vec<ReaderRow> {
    let snap = services.reader_snapshot();
    let mut rows = Vec::new();
    if let Some(p) = &snap.pcsc {
        if p.readers.is_empty() {
            rows.push(ReaderRow {
                name: "PC/SC".into(),
                kind: "PC/SC".into(),
                connected: false,
                detail: match &p.last_error {
                    Some(e) => format!("no reader found ({:?}): {e}", p.service),
                    None => format!("no reader found ({:?})", p.service),
                },
            });
        }
        for name in &p.readers {
            let mut detail = format!(
                "{} badges read, {} unreadable",
                p.cards_read, p.failed_reads
            );
            if p.with_card.contains(name) {
                detail.push_str("; a card is on it now");
            }
            if let Some(why) = p.last_failure.get(name) {
                detail.push_str(&format!("; last unreadable badge: {why}"));
            }
            rows.push(ReaderRow {
                name: name.clone(),
                kind: "PC/SC".into(),
                connected: true,
                detail,
            });
        }
    }
    if let Some(w) = &snap.wedge {
        rows.push(ReaderRow {
            name: w.grabbed.clone().unwrap_or_else(|| w.wanted.clone()),
            kind: "Keyboard wedge".into(),
            connected: w.grabbed.is_some(),
            detail: match &w.grabbed {
                Some(_) => format!("grabbed ({})", w.wanted),
                None => format!("waiting for {}", w.wanted),
            },
        });
    }
    if rows.is_empty() {
        rows.push(ReaderRow {
            name: "No badge reader configured".into(),
            kind: String::new(),
            connected: false,
            detail: "set readers.pcsc or readers.keyboard_wedge in the config".into(),
        });
    }
    rows
}

fn trace(services: &Services, card: &SecretString, who: &Actor) -> Vec<TraceRow> {
    let raw = card.expose_secret();
    let (steps, number) = services.card_pipeline().trace(raw);
    let mut rows = vec![TraceRow {
        label: "raw".into(),
        value: Revealed(raw.escape_debug().to_string()),
        ok: true,
    }];
    rows.extend(steps.into_iter().map(|(step, value)| TraceRow {
        label: step,
        value: Revealed(value),
        ok: true,
    }));
    let (row, detail) = match &number {
        Ok(n) => {
            let masked = crate::secrets::mask_card(n);
            let owner = services
                .user_by_card(card)
                .ok()
                .flatten()
                .map(|u| format!(" — {}", u.display_name))
                .unwrap_or_else(|| " — not enrolled".into());
            (
                TraceRow {
                    label: "number".into(),
                    value: Revealed(format!("{n}{owner}")),
                    ok: true,
                },
                format!("ok: {masked}"),
            )
        }
        Err(e) => (
            TraceRow {
                label: "number".into(),
                value: Revealed(format!("refused: {e}")),
                ok: false,
            },
            format!("refused: {e}"),
        ),
    };
    rows.push(row);
    // The audit records that a check happened and the masked result, never the raw value.
    services.audit(&who.audit_name(), "reader_check", "reader", &detail);
    rows
}

fn jobs(services: &Services) -> Result<Vec<JobRow>, CardAdminError> {
    let jobs = services.store.list_jobs(200)?;
    Ok(jobs
        .into_iter()
        .filter(|j| j.state != JobState::Done)
        .map(|j| {
            let user = services
                .store
                .user_by_oid(&j.user_oid)
                .ok()
                .flatten()
                .map(|u| u.display_name)
                .unwrap_or_else(|| j.user_oid.clone());
            let workflow = services
                .config
                .workflows
                .iter()
                .find(|w| w.id == j.workflow_id)
                .map(|w| w.label.clone())
                .unwrap_or_else(|| j.workflow_id.clone());
            JobRow {
                id: j.id.to_string(),
                user,
                workflow,
                size: human_bytes(j.size_bytes),
                attempts: j.attempts,
                state: match j.state {
                    JobState::Uploading => "sending".into(),
                    s => s.as_str().into(),
                },
                error: j.last_error.unwrap_or_default(),
            }
        })
        .collect())
}

fn job_action(services: &Services, id: &str, who: &Actor, delete: bool) -> ServiceEvent {
    let actor = who.audit_name();
    let now = services.now();
    let done = crate::admin::outbox::parse_id(id).and_then(|id| {
        if delete {
            crate::admin::outbox::delete(&services.store, id, &actor, now)
        } else {
            crate::admin::outbox::retry(&services.store, id, &actor, now)
        }
    });
    match done {
        Ok(()) => ServiceEvent::ActionDone {
            ok: true,
            message: if delete {
                Msg::new("Job deleted with its scanned file.")
            } else {
                Msg::new("Job queued again; it is sent shortly.")
            },
        },
        Err(e) => ServiceEvent::ActionDone {
            ok: false,
            message: Msg::new("That did not work: {}").arg(e),
        },
    }
}

/// Audit actions per filter chip.
fn actions(a: AuditActions) -> Vec<String> {
    let list: &[&str] = match a {
        AuditActions::All => &[],
        AuditActions::SignIn => &[
            "sign_in",
            "sign_out",
            "pin_failed",
            "pin_set",
            "pin_pad_locked",
            "needs_signin",
        ],
        AuditActions::Cards => &["card_enroll", "card_revoke", "card_bound", "reader_check"],
        AuditActions::Service => &[
            "service_open",
            "service_exit",
            "service_pin",
            "pin_lockout_reset",
            "pin_removed",
            "health_check",
        ],
        AuditActions::Jobs => &[
            "scan_delivered",
            "scan_failed",
            "job_retry",
            "job_delete",
            "job_requeued",
        ],
    };
    list.iter().map(|s| s.to_string()).collect()
}

fn audit_page(
    services: &Services,
    filter: &AuditFilter,
    before_id: Option<i64>,
) -> Result<ServiceEvent, CardAdminError> {
    let now = services.now();
    let since = match filter.span {
        AuditSpan::Today => Local::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(Local).earliest())
            .map(|t| t.with_timezone(&Utc)),
        AuditSpan::Week => Some(now - chrono::Duration::days(7)),
        AuditSpan::All => None,
    };
    let involving = match &filter.user {
        Some(u) => vec![
            u.oid.clone(),
            format!("technician:{}", u.oid),
            u.upn.clone(),
        ],
        None => Vec::new(),
    };
    // One more than a page tells whether there are older entries.
    let mut rows = services.store.query_audit(&AuditQuery {
        involving,
        actions: actions(filter.actions),
        since,
        before_id,
        limit: AUDIT_PAGE + 1,
    })?;
    let more = rows.len() > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE);
    let older = more.then(|| rows.last().map(|r| r.id)).flatten();
    let rows = rows
        .into_iter()
        .map(|e| {
            let outcome = e.detail.unwrap_or_default();
            AuditRow {
                id: e.id,
                at: when(Some(e.at)),
                actor: name_of(services, &e.actor),
                action: e.action,
                subject: e.subject.map(|s| name_of(services, &s)).unwrap_or_default(),
                ok: !outcome.starts_with("refused"),
                outcome,
            }
        })
        .collect();
    Ok(ServiceEvent::AuditLoaded { rows, older })
}

/// An audit actor or subject in words: a known oid becomes its user's name.
fn name_of(services: &Services, who: &str) -> String {
    let (prefix, oid) = match who.strip_prefix("technician:") {
        Some(oid) => ("technician ", oid),
        None => ("", who),
    };
    if who == SERVICE_PIN_ACTOR {
        return "service PIN".into();
    }
    match services.store.user_by_oid(oid) {
        Ok(Some(u)) => format!("{prefix}{}", u.display_name),
        _ => who.to_string(),
    }
}

/// The on-demand checks of the health page: the local rows again, the doctor's Entra and
/// Graph checks in the same words, and the clock against Entra's `Date` header.
pub async fn run_checks(services: Arc<Services>, operator: Operator) -> ServiceEvent {
    let rows = super::service_health::checked_rows(&services).await;
    let problems = rows.iter().filter(|r| !r.ok).count();
    let who = actor(&operator).audit_name();
    let detail = if problems == 0 {
        "ok".to_string()
    } else {
        format!("ok: {problems} problem(s) found")
    };
    let s = services.clone();
    let _ =
        tokio::task::spawn_blocking(move || s.audit(&who, "health_check", "panel", &detail)).await;
    ServiceEvent::HealthLoaded {
        rows,
        checked: true,
    }
}

/// The health page's **Sync now**: one directory sync (queued card write-backs retried at
/// once), audited with the operator. The answer carries the refreshed rows, whose "Last
/// directory run" row is this run; the oids it revoked have their open sessions ended by the
/// caller.
pub async fn sync_directory(
    services: Arc<Services>,
    operator: Operator,
) -> (ServiceEvent, Vec<String>) {
    let who = actor(&operator).audit_name();
    let (result, detail, revoked) = if !services.config.directory.enabled {
        (
            SyncState::Off,
            "refused: directory sync is off".to_string(),
            Vec::new(),
        )
    } else {
        match super::directory_worker::sync_now(&services, "service-menu").await {
            Ok(r) => (
                SyncState::Done,
                format!(
                    "ok: run {}: {} created, {} updated, {} revoked, {} card(s) written",
                    r.run_id,
                    r.counts.created,
                    r.counts.updated,
                    r.counts.revoked,
                    r.counts.cards_written
                ),
                r.revoked,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "Sync now failed");
                (SyncState::Failed, format!("failed: {e}"), Vec::new())
            }
        }
    };
    let s = services.clone();
    let rows = tokio::task::spawn_blocking(move || {
        s.audit(&who, "directory_sync", "panel", &detail);
        super::service_health::local_rows(&s)
    })
    .await
    .unwrap_or_default();
    (ServiceEvent::DirectorySynced { result, rows }, revoked)
}

/// Rows for the health page, with a label that says what is wrong when `ok` is false.
pub(crate) fn info(label: &str, value: impl Into<String>, ok: bool) -> InfoRow {
    InfoRow {
        label: label.to_string(),
        value: value.into(),
        ok,
    }
}
