//! Pages, transitions and rules of the service menu.

use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::local::{self, LocalEvent, LocalPage};
use crate::i18n::Msg;

use super::{
    AuditFilter, AuditRow, BindOutcome, InfoRow, JobRow, Operator, ReaderRow, RevokeWhich,
    ServiceEffect, ServiceEvent, SyncState, TraceRow, UserCards, UserRow, MAX_QUERY, MAX_RESULTS,
};

/// The menu's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Enroll,
    Batch,
    Cards,
    Readers,
    Outbox,
    Health,
    Audit,
    Local,
}

impl Section {
    /// The tile names the UI sends ("enroll", "batch", ...).
    pub fn parse(s: &str) -> Option<Section> {
        Some(match s {
            "enroll" => Section::Enroll,
            "batch" => Section::Batch,
            "cards" => Section::Cards,
            "readers" => Section::Readers,
            "outbox" => Section::Outbox,
            "health" => Section::Health,
            "audit" => Section::Audit,
            "local" => Section::Local,
            _ => return None,
        })
    }
}

/// What a user is being picked for.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// Enroll a badge for someone: the user first, then the tap.
    Enroll,
    /// Batch enrollment: the badge was tapped first; it goes to the user picked now.
    Batch(SecretString),
    /// Show a user's cards.
    Cards,
}

/// The search field and its results.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    pub(crate) query: String,
    pub(crate) shift: bool,
    pub(crate) results: Vec<UserRow>,
    /// The seq of the search whose results are wanted; older answers are dropped.
    pub(crate) seq: u64,
}

/// Where the service menu is.
#[derive(Debug, Clone)]
pub(crate) enum Page {
    Menu,
    Pick {
        purpose: Purpose,
        search: Search,
    },
    /// Waiting for the badge to enroll for `user`.
    Tap {
        user: UserRow,
        detail: Msg,
    },
    /// Batch enrollment: waiting for the next badge.
    BatchTap,
    /// A bind is in flight; the card is kept for "Move it".
    Binding {
        user: UserRow,
        card: SecretString,
        batch: bool,
    },
    /// The badge belongs to someone else.
    Conflict {
        user: UserRow,
        card: SecretString,
        owner: String,
        masked: String,
        batch: bool,
    },
    Cards {
        user: UserRow,
        data: Option<UserCards>,
    },
    Readers {
        readers: Vec<ReaderRow>,
        trace: Vec<TraceRow>,
    },
    Outbox {
        jobs: Vec<JobRow>,
    },
    Health {
        rows: Vec<InfoRow>,
        checking: bool,
        sync: SyncState,
    },
    Audit {
        filter: AuditFilter,
        rows: Vec<AuditRow>,
        older: Option<i64>,
        /// Cursors of the newer pages, to go back to.
        newer: Vec<Option<i64>>,
        current: Option<i64>,
    },
    Local(LocalPage),
}

/// A question the technician must confirm before its effect runs.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) text: Msg,
    effect: ServiceEffect,
}

impl Pending {
    pub(crate) fn new(text: Msg, effect: ServiceEffect) -> Self {
        Pending { text, effect }
    }
}

/// The service menu of one visit: who opened it, where it is, its own inactivity clock.
#[derive(Debug)]
pub struct ServiceMenu {
    pub(crate) operator: Operator,
    pub(crate) page: Page,
    pub(crate) message: Option<(Msg, bool)>,
    pub(crate) confirm: Option<Pending>,
    pub(crate) batch_count: u32,
    last_activity: Instant,
    timeout: Duration,
    next_seq: u64,
}

impl ServiceMenu {
    /// Opens the menu for `operator`; the returned effect records the visit.
    pub fn open(operator: Operator, timeout: Duration, now: Instant) -> (Self, ServiceEffect) {
        let menu = ServiceMenu {
            operator,
            page: Page::Menu,
            message: None,
            confirm: None,
            batch_count: 0,
            last_activity: now,
            timeout,
            next_seq: 0,
        };
        (
            menu,
            ServiceEffect::Record {
                action: "service_open",
                detail: "ok".into(),
            },
        )
    }

    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// The menu was left untouched for its whole timeout.
    pub fn timed_out(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_activity) >= self.timeout
    }

    /// Moves the menu on `event`.
    pub fn handle(&mut self, event: ServiceEvent, now: Instant) -> Vec<ServiceEffect> {
        if is_input(&event) {
            self.last_activity = now;
        }
        if let Some(effects) = self.on_confirm_dialog(&event) {
            return effects;
        }
        match event {
            ServiceEvent::Activity => Vec::new(),
            ServiceEvent::Open(section) if matches!(self.page, Page::Menu) => {
                self.open_section(section)
            }
            ServiceEvent::Back => self.back(),
            ServiceEvent::Key(text) => self.type_key(&text),
            ServiceEvent::Backspace => self.edit_query(|q| {
                q.pop();
            }),
            ServiceEvent::ToggleShift => {
                match &mut self.page {
                    Page::Pick { search, .. } => search.shift = !search.shift,
                    Page::Local(local) => local.toggle_shift(),
                    _ => {}
                }
                Vec::new()
            }
            ServiceEvent::Local(e) => self.on_local(e),
            ServiceEvent::PickUser(oid) => self.pick_user(&oid),
            ServiceEvent::MoveCard => self.move_card(),
            ServiceEvent::SearchResults { seq, users } => {
                if let Page::Pick { search, .. } = &mut self.page {
                    if seq == search.seq {
                        search.results = users.into_iter().take(MAX_RESULTS).collect();
                    }
                }
                Vec::new()
            }
            ServiceEvent::EnrollTarget {
                oid,
                replaces,
                max_per_user,
            } => {
                if let Page::Tap { user, detail } = &mut self.page {
                    if user.oid == oid {
                        *detail = match replaces {
                            Some(old) => Msg::plural(
                                "This replaces {0} (at most {n} badge per user).",
                                "This replaces {0} (at most {n} badges per user).",
                                i64::from(max_per_user),
                            )
                            .arg(old),
                            None => Msg::default(),
                        };
                    }
                }
                Vec::new()
            }
            ServiceEvent::CardBound(outcome) => self.on_bound(outcome),
            ServiceEvent::CardsLoaded(data) => {
                if let Page::Cards { user, data: slot } = &mut self.page {
                    if user.oid == data.user.oid {
                        *user = data.user.clone();
                        *slot = Some(data);
                    }
                }
                Vec::new()
            }
            ServiceEvent::RevokeCard(masked) => self.ask_about_user(|user, data| {
                data.cards.iter().any(|c| c.masked == masked).then(|| {
                    (
                        Msg::new("Revoke badge {} of {}?")
                            .arg(&masked)
                            .arg(&user.name),
                        ServiceEffect::RevokeCards {
                            oid: user.oid.clone(),
                            which: RevokeWhich::One(masked.clone()),
                        },
                    )
                })
            }),
            ServiceEvent::RevokeAll => self.ask_about_user(|user, data| {
                (!data.cards.is_empty()).then(|| {
                    let n = data.cards.len();
                    (
                        Msg::plural(
                            "Revoke the {n} badge of {0}?",
                            "Revoke all {n} badges of {0}?",
                            n as i64,
                        )
                        .arg(&user.name),
                        ServiceEffect::RevokeCards {
                            oid: user.oid.clone(),
                            which: RevokeWhich::All,
                        },
                    )
                })
            }),
            ServiceEvent::RemovePin => self.ask_about_user(|user, data| {
                data.has_pin.then(|| {
                    (
                        Msg::new(
                            "Remove the PIN of {}? They set a new one after a Microsoft sign-in.",
                        )
                        .arg(&user.name),
                        ServiceEffect::RemovePin {
                            oid: user.oid.clone(),
                        },
                    )
                })
            }),
            ServiceEvent::ResetPinLockout => match &self.page {
                Page::Cards {
                    user,
                    data: Some(data),
                } if data.pin_locked => vec![ServiceEffect::ResetPinLockout {
                    oid: user.oid.clone(),
                }],
                _ => Vec::new(),
            },
            ServiceEvent::UserAudit => match &self.page {
                Page::Cards { user, .. } => {
                    let filter = AuditFilter {
                        user: Some(user.clone()),
                        ..AuditFilter::default()
                    };
                    self.message = None;
                    self.open_audit(filter)
                }
                _ => Vec::new(),
            },
            ServiceEvent::ActionDone { ok, message } => {
                self.message = Some((message, !ok));
                self.reload()
            }
            ServiceEvent::ReadersLoaded(list) => {
                if let Page::Readers { readers, .. } = &mut self.page {
                    *readers = list;
                }
                Vec::new()
            }
            ServiceEvent::CardTraced(rows) => {
                if let Page::Readers { trace, .. } = &mut self.page {
                    *trace = rows;
                    // The tap may have changed what a reader reports (its last failure).
                    return vec![ServiceEffect::LoadReaders];
                }
                Vec::new()
            }
            ServiceEvent::JobsLoaded(list) => {
                if let Page::Outbox { jobs } = &mut self.page {
                    *jobs = list;
                }
                Vec::new()
            }
            ServiceEvent::RetryJob(id) => match &self.page {
                Page::Outbox { jobs } if jobs.iter().any(|j| j.id == id && j.state == "failed") => {
                    vec![ServiceEffect::RetryJob { id }]
                }
                _ => Vec::new(),
            },
            ServiceEvent::DeleteJob(id) => {
                if let Page::Outbox { jobs } = &self.page {
                    if let Some(job) = jobs.iter().find(|j| j.id == id) {
                        self.confirm = Some(Pending {
                            text: Msg::new(
                                "Delete the {} scan of {} ({})? Its file is removed and it will not be sent.",
                            )
                            .arg(&job.workflow)
                            .arg(&job.user)
                            .arg(&job.size),
                            effect: ServiceEffect::DeleteJob { id },
                        });
                    }
                }
                Vec::new()
            }
            ServiceEvent::RunChecks => match &mut self.page {
                Page::Health { checking, .. } if !*checking => {
                    *checking = true;
                    vec![ServiceEffect::RunChecks]
                }
                _ => Vec::new(),
            },
            ServiceEvent::SyncNow => match &mut self.page {
                Page::Health { sync, .. } if *sync != SyncState::Running => {
                    *sync = SyncState::Running;
                    vec![ServiceEffect::SyncDirectory]
                }
                _ => Vec::new(),
            },
            ServiceEvent::DirectorySynced { result, rows: new } => {
                // The technician may have left the page meanwhile: nothing to show then.
                if let Page::Health { rows, sync, .. } = &mut self.page {
                    *rows = new;
                    *sync = result;
                }
                Vec::new()
            }
            ServiceEvent::HealthLoaded { rows: new, checked } => {
                if let Page::Health { rows, checking, .. } = &mut self.page {
                    *rows = new;
                    if checked {
                        *checking = false;
                    }
                }
                Vec::new()
            }
            ServiceEvent::AuditActions(actions) => self.refilter(|f| f.actions = actions),
            ServiceEvent::AuditSpan(span) => self.refilter(|f| f.span = span),
            ServiceEvent::AuditAllUsers => self.refilter(|f| f.user = None),
            ServiceEvent::AuditOlder => match &mut self.page {
                Page::Audit {
                    filter,
                    older: Some(older),
                    newer,
                    current,
                    ..
                } => {
                    newer.push(*current);
                    *current = Some(*older);
                    vec![ServiceEffect::LoadAudit {
                        filter: filter.clone(),
                        before_id: Some(*older),
                    }]
                }
                _ => Vec::new(),
            },
            ServiceEvent::AuditNewer => match &mut self.page {
                Page::Audit {
                    filter,
                    newer,
                    current,
                    ..
                } => match newer.pop() {
                    Some(cursor) => {
                        *current = cursor;
                        vec![ServiceEffect::LoadAudit {
                            filter: filter.clone(),
                            before_id: cursor,
                        }]
                    }
                    None => Vec::new(),
                },
                _ => Vec::new(),
            },
            ServiceEvent::AuditLoaded {
                rows: new,
                older: o,
            } => {
                if let Page::Audit { rows, older, .. } = &mut self.page {
                    *rows = new;
                    *older = o;
                }
                Vec::new()
            }
            // A tile while not on the menu, a confirm with no question, a stale answer.
            _ => Vec::new(),
        }
    }

    /// A badge was read while the menu is open. Only the enrollment pages and the reader check
    /// take it; anywhere else it does nothing (it signs nobody in or out).
    pub fn on_card(&mut self, card: SecretString, now: Instant) -> Vec<ServiceEffect> {
        self.last_activity = now;
        if self.confirm.is_some() {
            return Vec::new();
        }
        match &self.page {
            Page::Tap { user, .. } => {
                let user = user.clone();
                self.message = None;
                self.bind(user, card, false, false)
            }
            Page::BatchTap => {
                self.message = None;
                self.page = Page::Pick {
                    purpose: Purpose::Batch(card),
                    search: Search::default(),
                };
                Vec::new()
            }
            Page::Readers { .. } => vec![ServiceEffect::TraceCard { card }],
            _ => Vec::new(),
        }
    }

    /// A badge gave no number. The reader check shows the reason from the reader's status; the
    /// enrollment pages say so.
    pub fn on_unreadable_card(&mut self, now: Instant) -> Vec<ServiceEffect> {
        self.last_activity = now;
        match &self.page {
            Page::Readers { .. } => vec![ServiceEffect::LoadReaders],
            Page::Tap { .. } | Page::BatchTap => {
                self.message = Some((
                    Msg::new("The reader got no number from that badge (see Reader check)."),
                    true,
                ));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The effect recording that the menu was left, and why.
    pub fn close(&self, why: &str) -> ServiceEffect {
        ServiceEffect::Record {
            action: "service_exit",
            detail: format!("ok: {why}"),
        }
    }

    /// Confirm / Cancel while a question is open; everything else waits for the answer.
    fn on_confirm_dialog(&mut self, event: &ServiceEvent) -> Option<Vec<ServiceEffect>> {
        match event {
            ServiceEvent::Confirm => Some(match self.confirm.take() {
                Some(p) => vec![p.effect],
                None => Vec::new(),
            }),
            ServiceEvent::CancelConfirm if self.confirm.is_some() => {
                self.confirm = None;
                Some(Vec::new())
            }
            e if self.confirm.is_some() && is_input(e) && !matches!(e, ServiceEvent::Activity) => {
                Some(Vec::new())
            }
            _ => None,
        }
    }

    fn open_section(&mut self, section: Section) -> Vec<ServiceEffect> {
        self.message = None;
        match section {
            Section::Enroll => {
                self.page = pick(Purpose::Enroll);
                Vec::new()
            }
            Section::Cards => {
                self.page = pick(Purpose::Cards);
                Vec::new()
            }
            Section::Batch => {
                self.batch_count = 0;
                self.page = Page::BatchTap;
                Vec::new()
            }
            Section::Readers => {
                self.page = Page::Readers {
                    readers: Vec::new(),
                    trace: Vec::new(),
                };
                vec![
                    ServiceEffect::LoadReaders,
                    ServiceEffect::Record {
                        action: "reader_check",
                        detail: "ok: opened".into(),
                    },
                ]
            }
            Section::Outbox => {
                self.page = Page::Outbox { jobs: Vec::new() };
                vec![ServiceEffect::LoadJobs]
            }
            Section::Health => {
                self.page = Page::Health {
                    rows: Vec::new(),
                    checking: false,
                    sync: SyncState::Idle,
                };
                vec![ServiceEffect::LoadHealth]
            }
            Section::Audit => self.open_audit(AuditFilter::default()),
            Section::Local => {
                let (page, effects) = LocalPage::open();
                self.page = Page::Local(page);
                effects
            }
        }
    }

    fn on_local(&mut self, event: LocalEvent) -> Vec<ServiceEffect> {
        let Page::Local(local) = &mut self.page else {
            return Vec::new();
        };
        if matches!(event, LocalEvent::New | LocalEvent::Create) {
            self.message = None;
        }
        match local.handle(event) {
            local::Outcome::Effects(effects) => effects,
            local::Outcome::Confirm(pending) => {
                self.confirm = Some(pending);
                Vec::new()
            }
            local::Outcome::Message(text, is_error) => {
                self.message = Some((text, is_error));
                Vec::new()
            }
            // The menu's own enrollment: tap the badge, then the user's cards page.
            local::Outcome::Enroll(user) => {
                let oid = user.oid.clone();
                self.message = None;
                self.page = Page::Tap {
                    user,
                    detail: Msg::default(),
                };
                vec![ServiceEffect::PrepareEnroll { oid }]
            }
        }
    }

    fn open_audit(&mut self, filter: AuditFilter) -> Vec<ServiceEffect> {
        self.page = Page::Audit {
            filter: filter.clone(),
            rows: Vec::new(),
            older: None,
            newer: Vec::new(),
            current: None,
        };
        vec![ServiceEffect::LoadAudit {
            filter,
            before_id: None,
        }]
    }

    fn refilter(&mut self, change: impl FnOnce(&mut AuditFilter)) -> Vec<ServiceEffect> {
        match &self.page {
            Page::Audit { filter, .. } => {
                let mut filter = filter.clone();
                change(&mut filter);
                self.open_audit(filter)
            }
            _ => Vec::new(),
        }
    }

    fn back(&mut self) -> Vec<ServiceEffect> {
        self.message = None;
        self.page = match std::mem::replace(&mut self.page, Page::Menu) {
            // Backing out of picking a batch badge's owner drops that badge, not the batch.
            Page::Pick {
                purpose: Purpose::Batch(_),
                ..
            } => Page::BatchTap,
            Page::Conflict {
                user, batch: false, ..
            } => Page::Tap {
                user,
                detail: Msg::default(),
            },
            Page::Conflict { batch: true, .. } => Page::BatchTap,
            Page::Local(mut local) => {
                if local.back() {
                    Page::Local(local)
                } else {
                    Page::Menu
                }
            }
            _ => Page::Menu,
        };
        if let Page::Local(local) = &self.page {
            return local.reload();
        }
        Vec::new()
    }

    fn type_key(&mut self, text: &str) -> Vec<ServiceEffect> {
        let Some(c) = text.chars().next().filter(|c| is_search_char(*c)) else {
            return Vec::new();
        };
        if let Page::Local(local) = &mut self.page {
            local.type_key(c);
            return Vec::new();
        }
        let effects = self.edit_query(|q| {
            if q.chars().count() < MAX_QUERY {
                q.push(c);
            }
        });
        // One capital, as phone keyboards do; the next key is lower case again.
        if let Page::Pick { search, .. } = &mut self.page {
            search.shift = false;
        }
        effects
    }

    fn edit_query(&mut self, edit: impl FnOnce(&mut String)) -> Vec<ServiceEffect> {
        if let Page::Local(local) = &mut self.page {
            local.backspace();
            return Vec::new();
        }
        let Page::Pick { search, .. } = &mut self.page else {
            return Vec::new();
        };
        let before = search.query.clone();
        edit(&mut search.query);
        if search.query == before {
            return Vec::new();
        }
        self.next_seq += 1;
        search.seq = self.next_seq;
        if search.query.trim().is_empty() {
            search.results.clear();
            return Vec::new();
        }
        vec![ServiceEffect::SearchUsers {
            seq: search.seq,
            query: search.query.clone(),
        }]
    }

    fn pick_user(&mut self, oid: &str) -> Vec<ServiceEffect> {
        let Page::Pick { purpose, search } = &self.page else {
            return Vec::new();
        };
        let Some(user) = search.results.iter().find(|u| u.oid == oid).cloned() else {
            return Vec::new();
        };
        self.message = None;
        match purpose.clone() {
            Purpose::Cards => {
                let oid = user.oid.clone();
                self.page = Page::Cards { user, data: None };
                vec![ServiceEffect::LoadCards { oid }]
            }
            Purpose::Enroll | Purpose::Batch(_) if user.revoked => {
                self.message = Some((
                    Msg::new(
                        "{} is revoked on this panel (disabled or deleted in Entra): no badge can be enrolled.",
                    )
                    .arg(&user.name),
                    true,
                ));
                Vec::new()
            }
            Purpose::Enroll => {
                let oid = user.oid.clone();
                self.page = Page::Tap {
                    user,
                    detail: Msg::default(),
                };
                vec![ServiceEffect::PrepareEnroll { oid }]
            }
            Purpose::Batch(card) => self.bind(user, card, true, false),
        }
    }

    fn bind(
        &mut self,
        user: UserRow,
        card: SecretString,
        batch: bool,
        allow_move: bool,
    ) -> Vec<ServiceEffect> {
        let oid = user.oid.clone();
        self.page = Page::Binding {
            user,
            card: card.clone(),
            batch,
        };
        vec![ServiceEffect::BindCard {
            oid,
            card,
            allow_move,
        }]
    }

    fn move_card(&mut self) -> Vec<ServiceEffect> {
        match std::mem::replace(&mut self.page, Page::Menu) {
            Page::Conflict {
                user, card, batch, ..
            } => self.bind(user, card, batch, true),
            other => {
                self.page = other;
                Vec::new()
            }
        }
    }

    fn on_bound(&mut self, outcome: BindOutcome) -> Vec<ServiceEffect> {
        let Page::Binding { user, card, batch } = std::mem::replace(&mut self.page, Page::Menu)
        else {
            return Vec::new();
        };
        match outcome {
            BindOutcome::Bound {
                user: name,
                masked,
                already_bound,
                moved_from,
                replaced,
            } => {
                let done = if already_bound {
                    Msg::new("Badge {} was already {}'s.")
                } else {
                    Msg::new("Badge {} enrolled for {}.")
                }
                .arg(&masked)
                .arg(&name);
                // The sentences follow each other, each translated on its own.
                let moved = match moved_from {
                    Some(from) => Msg::new(" Moved from {}.").arg(from),
                    None => Msg::data(""),
                };
                let replaced = if replaced.is_empty() {
                    Msg::data("")
                } else {
                    Msg::new(" Replaced {}.").arg(replaced.join(", "))
                };
                let text = Msg::new("{}{}{}").text(done).text(moved).text(replaced);
                self.message = Some((text, false));
                if batch {
                    self.batch_count += 1;
                    self.page = Page::BatchTap;
                    Vec::new()
                } else {
                    // Show the result where it lives: the user's cards.
                    let oid = user.oid.clone();
                    self.page = Page::Cards { user, data: None };
                    vec![ServiceEffect::LoadCards { oid }]
                }
            }
            BindOutcome::Conflict { owner, masked } => {
                self.message = None;
                self.page = Page::Conflict {
                    user,
                    card,
                    owner,
                    masked,
                    batch,
                };
                Vec::new()
            }
            BindOutcome::Refused { message } => {
                self.message = Some((message, true));
                self.page = if batch {
                    Page::BatchTap
                } else {
                    Page::Tap {
                        user,
                        detail: Msg::default(),
                    }
                };
                Vec::new()
            }
        }
    }

    /// Asks to confirm an action about the user on the cards page, when `make` says it applies.
    fn ask_about_user(
        &mut self,
        make: impl FnOnce(&UserRow, &UserCards) -> Option<(Msg, ServiceEffect)>,
    ) -> Vec<ServiceEffect> {
        if let Page::Cards {
            user,
            data: Some(data),
        } = &self.page
        {
            if let Some((text, effect)) = make(user, data) {
                self.confirm = Some(Pending { text, effect });
            }
        }
        Vec::new()
    }

    /// After an action: load again what the page shows.
    fn reload(&self) -> Vec<ServiceEffect> {
        match &self.page {
            Page::Cards { user, .. } => vec![ServiceEffect::LoadCards {
                oid: user.oid.clone(),
            }],
            Page::Outbox { .. } => vec![ServiceEffect::LoadJobs],
            Page::Local(local) => local.reload(),
            _ => Vec::new(),
        }
    }
}

fn pick(purpose: Purpose) -> Page {
    Page::Pick {
        purpose,
        search: Search::default(),
    }
}

/// Characters the on-screen keyboard has.
fn is_search_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | ' ')
}

/// Whether the event is the technician doing something (as opposed to an answer).
fn is_input(event: &ServiceEvent) -> bool {
    !matches!(
        event,
        ServiceEvent::SearchResults { .. }
            | ServiceEvent::EnrollTarget { .. }
            | ServiceEvent::CardBound(_)
            | ServiceEvent::CardsLoaded(_)
            | ServiceEvent::ActionDone { .. }
            | ServiceEvent::ReadersLoaded(_)
            | ServiceEvent::CardTraced(_)
            | ServiceEvent::JobsLoaded(_)
            | ServiceEvent::HealthLoaded { .. }
            | ServiceEvent::DirectorySynced { .. }
            | ServiceEvent::AuditLoaded { .. }
            | ServiceEvent::Local(LocalEvent::Loaded { .. } | LocalEvent::Created(_))
    )
}
