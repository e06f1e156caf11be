//! Bridge between the service menu and the Slint adapter of its pages: a
//! [`ServiceView`] becomes a [`ServiceUiState`], a [`ServiceCommand`] becomes a kiosk event.

use super::controller::ControllerHandle;
use crate::kiosk::Event;
use crate::service_menu::local::LocalEvent;
use crate::service_menu::{
    AuditActions, AuditSpan, Section, ServiceEvent, ServicePageView, ServiceView,
};
use crate::ui::service::{
    ServiceCommand, ServiceUiState, UiServiceAudit, UiServiceCard, UiServiceChoice, UiServiceJob,
    UiServiceLocal, UiServicePage, UiServiceReader, UiServiceRow, UiServiceUser,
};

/// The UI state of the service pages.
pub fn service_ui_state(view: &ServiceView, lang: crate::i18n::Language) -> ServiceUiState {
    ServiceUiState {
        page: match view.page.unwrap_or(ServicePageView::Menu) {
            ServicePageView::Menu => UiServicePage::Menu,
            ServicePageView::PickUser => UiServicePage::PickUser,
            ServicePageView::TapBadge => UiServicePage::TapBadge,
            ServicePageView::Conflict => UiServicePage::Conflict,
            ServicePageView::Cards => UiServicePage::Cards,
            ServicePageView::Readers => UiServicePage::Readers,
            ServicePageView::Outbox => UiServicePage::Outbox,
            ServicePageView::Health => UiServicePage::Health,
            ServicePageView::Audit => UiServicePage::Audit,
            ServicePageView::Local => UiServicePage::Local,
            ServicePageView::LocalNew => UiServicePage::LocalNew,
        },
        actor: view.actor.render(lang),
        title: view.title.render(lang),
        message: view.message.render(lang),
        message_is_error: view.message_is_error,
        confirm_text: view.confirm_text.render(lang),
        query: view.query.clone(),
        shift: view.shift,
        users: view
            .users
            .iter()
            .map(|u| UiServiceUser {
                id: u.oid.clone(),
                name: u.name.clone(),
                detail: if u.revoked {
                    crate::i18n::Msg::new("{} · revoked")
                        .arg(&u.upn)
                        .render(lang)
                } else {
                    u.upn.clone()
                },
            })
            .collect(),
        subject: view.subject.clone(),
        prompt: view.prompt.render(lang),
        detail: view.detail.render(lang),
        batch: view.batch,
        batch_count: view.batch_count,
        user_name: view.user_name.clone(),
        cards: view
            .cards
            .iter()
            .map(|c| UiServiceCard {
                masked: c.masked.clone(),
                bound: c.bound.clone(),
                bound_by: c.bound_by.clone(),
                last_used: c.last_used.clone(),
            })
            .collect(),
        has_pin: view.has_pin,
        pin_locked: view.pin_locked,
        readers: view
            .readers
            .iter()
            .map(|r| UiServiceReader {
                name: r.name.clone(),
                kind: r.kind.clone(),
                connected: r.connected,
                detail: r.detail.clone(),
            })
            .collect(),
        trace: view
            .trace
            .iter()
            .map(|t| UiServiceRow {
                label: t.label.clone(),
                value: t.value.0.clone(),
                ok: t.ok,
            })
            .collect(),
        jobs: view
            .jobs
            .iter()
            .map(|j| UiServiceJob {
                id: j.id.clone(),
                user: j.user.clone(),
                workflow: j.workflow.clone(),
                size: j.size.clone(),
                attempts: j.attempts,
                state: j.state.clone(),
                error: j.error.clone(),
            })
            .collect(),
        health: view
            .health
            .iter()
            .map(|h| UiServiceRow {
                label: h.label.clone(),
                value: h.value.clone(),
                ok: h.ok,
            })
            .collect(),
        checking: view.checking,
        sync_state: view.sync.as_str().into(),
        audit: view
            .audit
            .iter()
            .map(|a| UiServiceAudit {
                at: a.at.clone(),
                actor: a.actor.clone(),
                action: a.action.clone(),
                subject: a.subject.clone(),
                outcome: a.outcome.clone(),
                ok: a.ok,
            })
            .collect(),
        audit_user: view
            .audit_filter
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        audit_action: view.audit_filter.actions.as_str().into(),
        audit_span: view.audit_filter.span.as_str().into(),
        audit_has_older: view.audit_has_older,
        audit_has_newer: view.audit_has_newer,
        ..local_ui_state(view)
    }
}

/// The "Local accounts" part of the UI state.
fn local_ui_state(view: &ServiceView) -> ServiceUiState {
    use crate::service_menu::local::Field;
    let form = view.local_form.clone().unwrap_or_default();
    ServiceUiState {
        local_accounts: view
            .local_rows
            .iter()
            .map(|r| UiServiceLocal {
                id: r.oid.clone(),
                name: r.name.clone(),
                email: r.email.clone(),
                expires: r.expires.clone(),
                expired: r.expired,
                disabled: r.disabled,
                has_pin: r.has_pin,
                cards: u32::try_from(r.cards).unwrap_or(u32::MAX),
            })
            .collect(),
        local_workflows: view
            .local_workflows
            .iter()
            .map(|(w, on)| UiServiceChoice {
                id: w.id.clone(),
                label: w.label.clone(),
                on: *on,
            })
            .collect(),
        local_name: form.name,
        local_email: form.email,
        local_focus: match form.focus {
            Field::Name => "name".into(),
            Field::Email => "email".into(),
        },
        local_expiry: form.expires_in_days.unwrap_or(0),
        local_saving: form.saving,
        ..ServiceUiState::default()
    }
}

/// The menu event of a "Local accounts" command.
fn local_event(command: ServiceCommand) -> Option<LocalEvent> {
    use crate::service_menu::local::Field;
    Some(match command {
        ServiceCommand::LocalNew => LocalEvent::New,
        ServiceCommand::LocalFocus(f) => LocalEvent::Focus(match f.as_str() {
            "email" => Field::Email,
            _ => Field::Name,
        }),
        ServiceCommand::LocalExpiry(d) => {
            LocalEvent::Expiry(u32::try_from(d).ok().filter(|d| *d > 0))
        }
        ServiceCommand::LocalToggleWorkflow(id) => LocalEvent::ToggleWorkflow(id),
        ServiceCommand::LocalCreate => LocalEvent::Create,
        ServiceCommand::LocalExtend(oid, d) => LocalEvent::Extend {
            oid,
            days: u32::try_from(d).ok()?,
        },
        ServiceCommand::LocalToggleDisabled(oid) => LocalEvent::ToggleDisabled(oid),
        ServiceCommand::LocalDelete(oid) => LocalEvent::Delete(oid),
        ServiceCommand::LocalEnroll(oid) => LocalEvent::EnrollBadge(oid),
        _ => return None,
    })
}

/// The kiosk event for a service-page command; `None` for one the markup should never send
/// (an unknown tile or filter name: a bug in the .slint files, logged).
pub fn service_event(command: ServiceCommand) -> Option<Event> {
    let e = match command {
        ServiceCommand::Exit => return Some(Event::ExitService),
        ServiceCommand::Open(name) => match Section::parse(&name) {
            Some(s) => ServiceEvent::Open(s),
            None => {
                tracing::error!(tile = %name, "service menu sent an unknown tile");
                return None;
            }
        },
        ServiceCommand::Back => ServiceEvent::Back,
        ServiceCommand::Key(k) => ServiceEvent::Key(k),
        ServiceCommand::Backspace => ServiceEvent::Backspace,
        ServiceCommand::ToggleShift => ServiceEvent::ToggleShift,
        ServiceCommand::PickUser(oid) => ServiceEvent::PickUser(oid),
        ServiceCommand::MoveCard => ServiceEvent::MoveCard,
        ServiceCommand::Confirm => ServiceEvent::Confirm,
        ServiceCommand::CancelConfirm => ServiceEvent::CancelConfirm,
        ServiceCommand::RevokeCard(m) => ServiceEvent::RevokeCard(m),
        ServiceCommand::RevokeAll => ServiceEvent::RevokeAll,
        ServiceCommand::ResetPinLockout => ServiceEvent::ResetPinLockout,
        ServiceCommand::RemovePin => ServiceEvent::RemovePin,
        ServiceCommand::UserAudit => ServiceEvent::UserAudit,
        ServiceCommand::RetryJob(id) => ServiceEvent::RetryJob(id),
        ServiceCommand::DeleteJob(id) => ServiceEvent::DeleteJob(id),
        ServiceCommand::RunChecks => ServiceEvent::RunChecks,
        ServiceCommand::SyncNow => ServiceEvent::SyncNow,
        ServiceCommand::AuditFilter(kind, value) => match (kind.as_str(), value.as_str()) {
            ("user", _) => ServiceEvent::AuditAllUsers,
            ("action", v) if AuditActions::parse(v).is_some() => {
                ServiceEvent::AuditActions(AuditActions::parse(v)?)
            }
            ("span", v) if AuditSpan::parse(v).is_some() => {
                ServiceEvent::AuditSpan(AuditSpan::parse(v)?)
            }
            _ => {
                tracing::error!(%kind, %value, "service menu sent an unknown audit filter");
                return None;
            }
        },
        ServiceCommand::AuditOlder => ServiceEvent::AuditOlder,
        ServiceCommand::AuditNewer => ServiceEvent::AuditNewer,
        ServiceCommand::Activity => ServiceEvent::Activity,
        other => ServiceEvent::Local(local_event(other)?),
    };
    Some(Event::Service(e))
}

/// A service-page command sink that forwards to the controller. Runs on the UI thread.
pub fn service_sink(handle: ControllerHandle) -> impl Fn(ServiceCommand) + Clone + 'static {
    move |command| {
        if let Some(event) = service_event(command) {
            handle.event(event);
        }
    }
}
