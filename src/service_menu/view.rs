//! What the service pages show, derived from the menu's state: plain data for the UI adapter
//! and for tests.

use super::local::{Form, LocalPage, LocalRow, LocalWorkflow};
use super::machine::{Page, Purpose, ServiceMenu};
use super::{
    AuditFilter, AuditRow, CardRow, InfoRow, JobRow, Operator, ReaderRow, SyncState, TraceRow,
    UserRow,
};
use crate::i18n::Msg;

/// Which service page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServicePageView {
    Menu,
    PickUser,
    TapBadge,
    Conflict,
    Cards,
    Readers,
    Outbox,
    Health,
    Audit,
    /// The list of local accounts.
    Local,
    /// The form creating one.
    LocalNew,
}

/// One frame of the service menu.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceView {
    pub page: Option<ServicePageView>,
    pub actor: Msg,
    pub title: Msg,
    pub message: Msg,
    pub message_is_error: bool,
    pub confirm_text: Msg,
    pub query: String,
    pub shift: bool,
    pub users: Vec<UserRow>,
    pub subject: String,
    pub prompt: Msg,
    pub detail: Msg,
    pub batch: bool,
    pub batch_count: u32,
    pub user_name: String,
    pub cards: Vec<CardRow>,
    pub has_pin: bool,
    pub pin_locked: bool,
    pub readers: Vec<ReaderRow>,
    pub trace: Vec<TraceRow>,
    pub jobs: Vec<JobRow>,
    pub health: Vec<InfoRow>,
    pub checking: bool,
    /// The health page's Sync now.
    pub sync: SyncState,
    pub audit: Vec<AuditRow>,
    pub audit_filter: AuditFilter,
    pub audit_has_older: bool,
    pub audit_has_newer: bool,
    pub local_rows: Vec<LocalRow>,
    /// The form (on [`ServicePageView::LocalNew`]).
    pub local_form: Option<Form>,
    /// The app workflows a local account may get, with whether the form ticks each.
    pub local_workflows: Vec<(LocalWorkflow, bool)>,
}

impl ServiceMenu {
    pub fn view(&self) -> ServiceView {
        let mut v = ServiceView {
            actor: match &self.operator {
                Operator::Technician { name, .. } => Msg::new("{} (technician)").arg(name),
                Operator::ServicePin => Msg::new("Service PIN"),
            },
            batch_count: self.batch_count,
            ..ServiceView::default()
        };
        if let Some((text, is_error)) = &self.message {
            v.message = text.clone();
            v.message_is_error = *is_error;
        }
        if let Some(p) = &self.confirm {
            v.confirm_text = p.text.clone();
        }
        let (page, title) = match &self.page {
            Page::Menu => (ServicePageView::Menu, Msg::new("Service menu")),
            Page::Pick { purpose, search } => {
                v.query = search.query.clone();
                v.shift = search.shift;
                v.users = search.results.clone();
                let title = match purpose {
                    Purpose::Enroll => Msg::new("Enroll a badge: whose is it?"),
                    Purpose::Batch(_) => {
                        v.batch = true;
                        Msg::new("Batch enrollment: whose badge was that?")
                    }
                    Purpose::Cards => Msg::new("A user's cards: find the user"),
                };
                (ServicePageView::PickUser, title)
            }
            Page::Tap { user, detail } => {
                v.subject = user.name.clone();
                v.prompt = Msg::new("Tap the new badge for {} now").arg(&user.name);
                v.detail = detail.clone();
                (ServicePageView::TapBadge, Msg::new("Enroll a badge"))
            }
            Page::BatchTap => {
                v.batch = true;
                v.prompt = Msg::new("Tap the next badge");
                v.detail = Msg::new("Then pick its owner. Repeat for every badge.");
                (ServicePageView::TapBadge, Msg::new("Batch enrollment"))
            }
            Page::Binding { user, batch, .. } => {
                v.batch = *batch;
                v.subject = user.name.clone();
                v.prompt = Msg::new("Enrolling the badge for {}…").arg(&user.name);
                (ServicePageView::TapBadge, Msg::new("Enroll a badge"))
            }
            Page::Conflict {
                user,
                owner,
                masked,
                batch,
                ..
            } => {
                v.batch = *batch;
                v.subject = user.name.clone();
                v.prompt = Msg::new("Badge {} belongs to {}. Move it to {}?")
                    .arg(masked)
                    .arg(owner)
                    .arg(&user.name);
                (
                    ServicePageView::Conflict,
                    Msg::new("Badge already enrolled"),
                )
            }
            Page::Cards { user, data } => {
                v.user_name = user.name.clone();
                if let Some(d) = data {
                    v.cards = d.cards.clone();
                    v.has_pin = d.has_pin;
                    v.pin_locked = d.pin_locked;
                }
                (
                    ServicePageView::Cards,
                    Msg::new("Cards of {}").arg(&user.name),
                )
            }
            Page::Readers { readers, trace } => {
                v.readers = readers.clone();
                v.trace = trace.clone();
                (ServicePageView::Readers, Msg::new("Reader check"))
            }
            Page::Outbox { jobs } => {
                v.jobs = jobs.clone();
                (ServicePageView::Outbox, Msg::new("Outbox"))
            }
            Page::Health {
                rows,
                checking,
                sync,
            } => {
                v.health = rows.clone();
                v.checking = *checking;
                v.sync = *sync;
                (ServicePageView::Health, Msg::new("Panel health"))
            }
            Page::Audit {
                filter,
                rows,
                older,
                newer,
                ..
            } => {
                v.audit = rows.clone();
                v.audit_filter = filter.clone();
                v.audit_has_older = older.is_some();
                v.audit_has_newer = !newer.is_empty();
                (ServicePageView::Audit, Msg::new("Audit log"))
            }
            Page::Local(LocalPage::List { rows, workflows }) => {
                v.local_rows = rows.clone();
                v.local_workflows = workflows.iter().map(|w| (w.clone(), false)).collect();
                (ServicePageView::Local, Msg::new("Local accounts"))
            }
            Page::Local(LocalPage::New { form, workflows }) => {
                v.shift = form.shift;
                v.local_workflows = workflows
                    .iter()
                    .map(|w| (w.clone(), form.workflows.contains(&w.id)))
                    .collect();
                v.local_form = Some(form.clone());
                (ServicePageView::LocalNew, Msg::new("New local account"))
            }
        };
        v.page = Some(page);
        v.title = title;
        v
    }
}
