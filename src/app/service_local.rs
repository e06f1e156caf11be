//! The service menu's "Local accounts" page against the panel's services: carries out each
//! [`LocalEffect`] with [`crate::admin::local_users`] (which audits it with the operator as
//! actor) and answers with the event the page waits for.

use chrono::Duration;

use super::services::Services;
use crate::admin::cards::Actor;
use crate::admin::local_users::CreateLocal;
use crate::i18n::Msg;
use crate::service_menu::local::{LocalEffect, LocalEvent, LocalRow, LocalWorkflow};
use crate::service_menu::{ServiceEvent, UserRow};

/// The admin layer's answers are sentences of their own (names, dates, reasons): shown as
/// data, in English, like the technician's other diagnostics.
fn done(r: Result<String, String>) -> ServiceEvent {
    match r {
        Ok(message) => ServiceEvent::ActionDone {
            ok: true,
            message: Msg::data(message),
        },
        Err(message) => ServiceEvent::ActionDone {
            ok: false,
            message: Msg::data(message),
        },
    }
}

fn load(services: &Services) -> ServiceEvent {
    let admin = services.local_users();
    let today = services.now().date_naive();
    let rows = match admin.list() {
        Ok(all) => all
            .into_iter()
            .map(|(u, a)| LocalRow {
                has_pin: services.has_pin(&u.oid).unwrap_or(false),
                cards: services.store.cards_for_user(&u.oid).map_or(0, |c| c.len()),
                expires: a.expires_on.map(|d| d.to_string()).unwrap_or_default(),
                expired: a.expires_on.is_some_and(|d| d < today),
                disabled: a.disabled_at.is_some(),
                email: u.mail.unwrap_or_default(),
                name: u.display_name,
                oid: u.oid,
            })
            .collect(),
        Err(e) => {
            return ServiceEvent::ActionDone {
                ok: false,
                message: Msg::data(e.to_string()),
            }
        }
    };
    let workflows = admin
        .app_workflows()
        .into_iter()
        .map(|(id, label)| LocalWorkflow { id, label })
        .collect();
    ServiceEvent::Local(LocalEvent::Loaded { rows, workflows })
}

/// Carries out `effect` for `who`. Blocking (SQLite, argon2 for nothing here but the store).
pub fn execute(services: &Services, who: &Actor, effect: LocalEffect) -> ServiceEvent {
    let admin = services.local_users();
    let today = services.now().date_naive();
    match effect {
        LocalEffect::Load => load(services),
        LocalEffect::Create {
            name,
            email,
            expires_in_days,
            workflows,
        } => {
            let created = admin.create(
                who,
                &CreateLocal {
                    display_name: name,
                    email,
                    expires_on: expires_in_days.map(|d| today + Duration::days(i64::from(d))),
                    workflows,
                },
            );
            ServiceEvent::Local(LocalEvent::Created(
                created
                    .map(|u| UserRow {
                        oid: u.oid,
                        name: u.display_name,
                        upn: u.mail.unwrap_or_default(),
                        revoked: false,
                    })
                    .map_err(|e| e.to_string()),
            ))
        }
        LocalEffect::Extend { oid, days } => done(
            admin
                .find(&oid)
                .and_then(|(u, a)| {
                    // From the old expiry day, or from today once it has passed.
                    let from = a.expires_on.filter(|d| *d >= today).unwrap_or(today);
                    let until = from + Duration::days(i64::from(days));
                    admin.extend(who, &oid, Some(until))?;
                    Ok(format!("{} may sign in until {until}.", u.display_name))
                })
                .map_err(|e| e.to_string()),
        ),
        LocalEffect::SetDisabled { oid, disabled } => done(
            admin
                .find(&oid)
                .and_then(|(u, _)| {
                    admin.set_disabled(who, &oid, disabled)?;
                    Ok(if disabled {
                        format!("{} can no longer sign in.", u.display_name)
                    } else {
                        format!("{} can sign in again.", u.display_name)
                    })
                })
                .map_err(|e| e.to_string()),
        ),
        LocalEffect::Delete { oid } => done(
            admin
                .delete(who, &oid)
                .map(|name| format!("{name} was deleted with their badges and PIN."))
                .map_err(|e| e.to_string()),
        ),
    }
}
