//! Adapter between the `Service` global of ui/service_api.slint (the technician's service menu)
//! and the rest of the app, as [`super`] is for `Kiosk`: plain-Rust [`ServiceUiState`] pushed
//! with [`apply`], every callback arriving as one [`ServiceCommand`] through the sink given to
//! [`bind`].
//!
//! The one value here that is a card number in clear is the reader-check trace
//! ([`ServiceUiState::trace`]): the technician needs it on that page to fix `readers.normalise`.
//! `Debug` of the state redacts it, so it cannot reach a log by accident.

use std::fmt;
use std::rc::Rc;

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use super::to_slint_int;
use crate::{
    MainWindow, Service, ServiceAuditEntry, ServiceCard, ServiceChoice, ServiceJob,
    ServiceLocalAccount, ServicePage, ServiceReader, ServiceRow, ServiceUser,
};

/// Which service page shows; mirrors `ServicePage` in ui/service_api.slint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UiServicePage {
    #[default]
    Menu,
    PickUser,
    TapBadge,
    Conflict,
    Cards,
    Readers,
    Outbox,
    Health,
    Audit,
    Local,
    LocalNew,
}

/// A local account on the "Local accounts" page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceLocal {
    pub id: String,
    pub name: String,
    pub email: String,
    pub expires: String,
    pub expired: bool,
    pub disabled: bool,
    pub has_pin: bool,
    pub cards: u32,
}

/// A workflow a local account may get, ticked or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceChoice {
    pub id: String,
    pub label: String,
    pub on: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceUser {
    pub id: String,
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceCard {
    pub masked: String,
    pub bound: String,
    pub bound_by: String,
    pub last_used: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceJob {
    pub id: String,
    pub user: String,
    pub workflow: String,
    pub size: String,
    pub attempts: u32,
    pub state: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceReader {
    pub name: String,
    pub kind: String,
    pub connected: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceRow {
    pub label: String,
    pub value: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiServiceAudit {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub ok: bool,
}

/// Everything the service pages show; one field per `in` property of `Service`.
#[derive(Clone, PartialEq, Default)]
pub struct ServiceUiState {
    pub page: UiServicePage,
    pub actor: String,
    pub title: String,
    pub message: String,
    pub message_is_error: bool,
    pub confirm_text: String,
    pub query: String,
    pub shift: bool,
    pub users: Vec<UiServiceUser>,
    pub subject: String,
    pub prompt: String,
    pub detail: String,
    pub batch: bool,
    pub batch_count: u32,
    pub user_name: String,
    pub cards: Vec<UiServiceCard>,
    pub has_pin: bool,
    pub pin_locked: bool,
    pub readers: Vec<UiServiceReader>,
    /// Reader check: raw value, each normalisation step, final number. Redacted in `Debug`.
    pub trace: Vec<UiServiceRow>,
    pub jobs: Vec<UiServiceJob>,
    pub health: Vec<UiServiceRow>,
    pub checking: bool,
    /// Sync now: "", "running", "done", "failed", "off".
    pub sync_state: String,
    pub audit: Vec<UiServiceAudit>,
    pub audit_user: String,
    /// "all", "sign-in", "cards", "service", "jobs".
    pub audit_action: String,
    /// "today", "7d", "all".
    pub audit_span: String,
    pub audit_has_older: bool,
    pub audit_has_newer: bool,
    pub local_accounts: Vec<UiServiceLocal>,
    pub local_workflows: Vec<UiServiceChoice>,
    pub local_name: String,
    pub local_email: String,
    /// "name" or "email".
    pub local_focus: String,
    /// Days from today; 0 = never.
    pub local_expiry: u32,
    pub local_saving: bool,
}

impl fmt::Debug for ServiceUiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceUiState")
            .field("page", &self.page)
            .field("title", &self.title)
            .field("message", &self.message)
            .field("users", &self.users.len())
            .field(
                "trace",
                &format_args!("<{} rows redacted>", self.trace.len()),
            )
            .finish_non_exhaustive()
    }
}

/// What the technician did; one variant per callback of `Service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCommand {
    /// A menu tile: "enroll", "batch", "cards", "readers", "outbox", "health", "audit".
    Open(String),
    Back,
    Exit,
    /// One character of the on-screen keyboard (shift already applied by the markup).
    Key(String),
    Backspace,
    ToggleShift,
    PickUser(String),
    MoveCard,
    Confirm,
    CancelConfirm,
    RevokeCard(String),
    RevokeAll,
    ResetPinLockout,
    RemovePin,
    UserAudit,
    RetryJob(String),
    DeleteJob(String),
    RunChecks,
    SyncNow,
    /// ("action" | "span" | "user", value).
    AuditFilter(String, String),
    AuditOlder,
    AuditNewer,
    Activity,
    LocalNew,
    /// "name" or "email".
    LocalFocus(String),
    /// Days from today; 0 = never.
    LocalExpiry(i32),
    LocalToggleWorkflow(String),
    LocalCreate,
    LocalExtend(String, i32),
    LocalToggleDisabled(String),
    LocalDelete(String),
    LocalEnroll(String),
}

impl From<UiServicePage> for ServicePage {
    fn from(page: UiServicePage) -> Self {
        match page {
            UiServicePage::Menu => ServicePage::Menu,
            UiServicePage::PickUser => ServicePage::PickUser,
            UiServicePage::TapBadge => ServicePage::TapBadge,
            UiServicePage::Conflict => ServicePage::Conflict,
            UiServicePage::Cards => ServicePage::Cards,
            UiServicePage::Readers => ServicePage::Readers,
            UiServicePage::Outbox => ServicePage::Outbox,
            UiServicePage::Health => ServicePage::Health,
            UiServicePage::Audit => ServicePage::Audit,
            UiServicePage::Local => ServicePage::Local,
            UiServicePage::LocalNew => ServicePage::LocalNew,
        }
    }
}

fn s(text: &str) -> SharedString {
    text.into()
}

impl From<&UiServiceUser> for ServiceUser {
    fn from(u: &UiServiceUser) -> Self {
        ServiceUser {
            id: s(&u.id),
            name: s(&u.name),
            detail: s(&u.detail),
        }
    }
}

impl From<&UiServiceCard> for ServiceCard {
    fn from(c: &UiServiceCard) -> Self {
        ServiceCard {
            masked: s(&c.masked),
            bound: s(&c.bound),
            bound_by: s(&c.bound_by),
            last_used: s(&c.last_used),
        }
    }
}

impl From<&UiServiceJob> for ServiceJob {
    fn from(j: &UiServiceJob) -> Self {
        ServiceJob {
            id: s(&j.id),
            user: s(&j.user),
            workflow: s(&j.workflow),
            size: s(&j.size),
            attempts: to_slint_int(j.attempts),
            state: s(&j.state),
            error: s(&j.error),
        }
    }
}

impl From<&UiServiceReader> for ServiceReader {
    fn from(r: &UiServiceReader) -> Self {
        ServiceReader {
            name: s(&r.name),
            kind: s(&r.kind),
            connected: r.connected,
            detail: s(&r.detail),
        }
    }
}

impl From<&UiServiceRow> for ServiceRow {
    fn from(r: &UiServiceRow) -> Self {
        ServiceRow {
            label: s(&r.label),
            value: s(&r.value),
            ok: r.ok,
        }
    }
}

impl From<&UiServiceAudit> for ServiceAuditEntry {
    fn from(a: &UiServiceAudit) -> Self {
        ServiceAuditEntry {
            at: s(&a.at),
            actor: s(&a.actor),
            action: s(&a.action),
            subject: s(&a.subject),
            outcome: s(&a.outcome),
            ok: a.ok,
        }
    }
}

impl From<&UiServiceLocal> for ServiceLocalAccount {
    fn from(a: &UiServiceLocal) -> Self {
        ServiceLocalAccount {
            id: s(&a.id),
            name: s(&a.name),
            email: s(&a.email),
            expires: s(&a.expires),
            expired: a.expired,
            disabled: a.disabled,
            has_pin: a.has_pin,
            cards: to_slint_int(a.cards),
        }
    }
}

impl From<&UiServiceChoice> for ServiceChoice {
    fn from(c: &UiServiceChoice) -> Self {
        ServiceChoice {
            id: s(&c.id),
            label: s(&c.label),
            on: c.on,
        }
    }
}

/// The model to set when `current` does not already hold exactly `wanted`; `None` keeps it, so
/// a row being pressed (or a list scrolled) survives a state push that did not change the list.
fn changed_model<T, U>(current: &ModelRc<T>, wanted: &[U]) -> Option<ModelRc<T>>
where
    T: Clone + PartialEq + 'static,
    for<'a> T: From<&'a U>,
{
    let same = current.row_count() == wanted.len()
        && current
            .iter()
            .zip(wanted)
            .all(|(have, want)| have == T::from(want));
    if same {
        None
    } else {
        let rows: Vec<T> = wanted.iter().map(T::from).collect();
        Some(ModelRc::from(Rc::new(VecModel::from(rows))))
    }
}

/// Pushes `state` into the `Service` global. Cheap to call on every change: unchanged values do
/// not invalidate anything, and each list model is only replaced when its rows differ.
pub fn apply(window: &MainWindow, state: &ServiceUiState) {
    let service = window.global::<Service>();

    service.set_page(state.page.into());
    service.set_actor(s(&state.actor));
    service.set_title(s(&state.title));
    service.set_message(s(&state.message));
    service.set_message_is_error(state.message_is_error);
    service.set_confirm_text(s(&state.confirm_text));

    service.set_query(s(&state.query));
    service.set_shift(state.shift);
    if let Some(model) = changed_model(&service.get_users(), &state.users) {
        service.set_users(model);
    }

    service.set_subject(s(&state.subject));
    service.set_prompt(s(&state.prompt));
    service.set_detail(s(&state.detail));
    service.set_batch(state.batch);
    service.set_batch_count(to_slint_int(state.batch_count));

    service.set_user_name(s(&state.user_name));
    if let Some(model) = changed_model(&service.get_cards(), &state.cards) {
        service.set_cards(model);
    }
    service.set_has_pin(state.has_pin);
    service.set_pin_locked(state.pin_locked);

    if let Some(model) = changed_model(&service.get_readers(), &state.readers) {
        service.set_readers(model);
    }
    if let Some(model) = changed_model(&service.get_trace(), &state.trace) {
        service.set_trace(model);
    }

    if let Some(model) = changed_model(&service.get_jobs(), &state.jobs) {
        service.set_jobs(model);
    }

    if let Some(model) = changed_model(&service.get_health(), &state.health) {
        service.set_health(model);
    }
    service.set_checking(state.checking);
    service.set_sync_state(s(&state.sync_state));

    if let Some(model) = changed_model(&service.get_audit(), &state.audit) {
        service.set_audit(model);
    }
    service.set_audit_user(s(&state.audit_user));
    service.set_audit_action(s(&state.audit_action));
    service.set_audit_span(s(&state.audit_span));
    service.set_audit_has_older(state.audit_has_older);
    service.set_audit_has_newer(state.audit_has_newer);

    if let Some(model) = changed_model(&service.get_local_accounts(), &state.local_accounts) {
        service.set_local_accounts(model);
    }
    if let Some(model) = changed_model(&service.get_local_workflows(), &state.local_workflows) {
        service.set_local_workflows(model);
    }
    service.set_local_name(s(&state.local_name));
    service.set_local_email(s(&state.local_email));
    service.set_local_field(s(&state.local_focus));
    service.set_local_expiry_days(to_slint_int(state.local_expiry));
    service.set_local_saving(state.local_saving);
}

/// Connects every callback of the `Service` global to `sink`.
pub fn bind(window: &MainWindow, sink: impl Fn(ServiceCommand) + Clone + 'static) {
    use ServiceCommand as C;
    let service = window.global::<Service>();

    let k = sink.clone();
    service.on_open(move |page| k(C::Open(page.to_string())));
    let k = sink.clone();
    service.on_back(move || k(C::Back));
    let k = sink.clone();
    service.on_exit(move || k(C::Exit));
    let k = sink.clone();
    service.on_key(move |text| k(C::Key(text.to_string())));
    let k = sink.clone();
    service.on_backspace(move || k(C::Backspace));
    let k = sink.clone();
    service.on_toggle_shift(move || k(C::ToggleShift));
    let k = sink.clone();
    service.on_pick_user(move |id| k(C::PickUser(id.to_string())));
    let k = sink.clone();
    service.on_move_card(move || k(C::MoveCard));
    let k = sink.clone();
    service.on_confirm(move || k(C::Confirm));
    let k = sink.clone();
    service.on_cancel_confirm(move || k(C::CancelConfirm));
    let k = sink.clone();
    service.on_revoke_card(move |masked| k(C::RevokeCard(masked.to_string())));
    let k = sink.clone();
    service.on_revoke_all(move || k(C::RevokeAll));
    let k = sink.clone();
    service.on_reset_pin_lockout(move || k(C::ResetPinLockout));
    let k = sink.clone();
    service.on_remove_pin(move || k(C::RemovePin));
    let k = sink.clone();
    service.on_user_audit(move || k(C::UserAudit));
    let k = sink.clone();
    service.on_retry_job(move |id| k(C::RetryJob(id.to_string())));
    let k = sink.clone();
    service.on_delete_job(move |id| k(C::DeleteJob(id.to_string())));
    let k = sink.clone();
    service.on_run_checks(move || k(C::RunChecks));
    let k = sink.clone();
    service.on_sync_now(move || k(C::SyncNow));
    let k = sink.clone();
    service
        .on_audit_filter(move |what, value| k(C::AuditFilter(what.to_string(), value.to_string())));
    let k = sink.clone();
    service.on_audit_older(move || k(C::AuditOlder));
    let k = sink.clone();
    service.on_audit_newer(move || k(C::AuditNewer));
    let k = sink.clone();
    service.on_local_new(move || k(C::LocalNew));
    let k = sink.clone();
    service.on_local_focus(move |f| k(C::LocalFocus(f.to_string())));
    let k = sink.clone();
    service.on_local_expiry(move |d| k(C::LocalExpiry(d)));
    let k = sink.clone();
    service.on_local_toggle_workflow(move |id| k(C::LocalToggleWorkflow(id.to_string())));
    let k = sink.clone();
    service.on_local_create(move || k(C::LocalCreate));
    let k = sink.clone();
    service.on_local_extend(move |id, d| k(C::LocalExtend(id.to_string(), d)));
    let k = sink.clone();
    service.on_local_toggle_disabled(move |id| k(C::LocalToggleDisabled(id.to_string())));
    let k = sink.clone();
    service.on_local_delete(move |id| k(C::LocalDelete(id.to_string())));
    let k = sink.clone();
    service.on_local_enroll(move |id| k(C::LocalEnroll(id.to_string())));
    service.on_activity(move || sink(C::Activity));
}
