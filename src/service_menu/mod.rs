//! The technician's service menu: a pure state machine beside the kiosk session machine, no
//! I/O, no Slint, no clock of its own (time comes with every event, as in [`crate::kiosk`]).
//!
//! The kiosk machine decides who gets in (a signed-in technician, or the service PIN) and hands
//! the panel to a [`ServiceMenu`] while it is open: every touch on a service page becomes a
//! [`ServiceEvent`], every badge read is routed here instead of signing anyone in, and what has
//! to be done (search the identity cache, bind a card, load the outbox...) comes back as
//! [`ServiceEffect`]s that the controller's adapter (`app::service_ops`) carries out and answers
//! with more events. What the pages show is derived by [`ServiceMenu::view`].
//!
//! Rows arriving in answers are display-ready (masked badge suffixes, formatted times); the
//! only clear card number is the reader-check trace, wrapped in [`Revealed`] so `Debug` hides it.

pub mod local;
mod machine;
mod view;

#[cfg(test)]
mod tests;

use std::fmt;

use secrecy::SecretString;

use crate::i18n::Msg;

pub use machine::{Section, ServiceMenu};
pub use view::{ServicePageView, ServiceView};

/// Most results shown for a search (the store's limit too).
pub const MAX_RESULTS: usize = 50;
/// Longest search text accepted from the on-screen keyboard.
pub const MAX_QUERY: usize = 64;

/// Who has the service menu open, as the audit log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// A signed-in user holding the technician role.
    Technician { oid: String, name: String },
    /// Whoever typed the service PIN at the idle page.
    ServicePin,
}

/// A user in search results and on the pages about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub oid: String,
    pub name: String,
    pub upn: String,
    /// Revoked on this panel (disabled or deleted in Entra): shown, but no card can be bound.
    pub revoked: bool,
}

/// One bound card of a user, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRow {
    /// "•••• 1234"
    pub masked: String,
    pub bound: String,
    pub bound_by: String,
    pub last_used: String,
}

/// A user's cards and PIN state (the cards page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCards {
    pub user: UserRow,
    pub cards: Vec<CardRow>,
    pub has_pin: bool,
    pub pin_locked: bool,
}

/// One job of the outbox, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub user: String,
    pub workflow: String,
    pub size: String,
    pub attempts: u32,
    /// "queued", "sending", "failed".
    pub state: String,
    /// The last error in plain words, "" when none.
    pub error: String,
}

/// A reader the panel found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderRow {
    pub name: String,
    pub kind: String,
    pub connected: bool,
    pub detail: String,
}

/// A labelled value: a health line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRow {
    pub label: String,
    pub value: String,
    pub ok: bool,
}

/// A value shown in clear on the reader check page only (a raw badge number and what each
/// normalisation step made of it). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Revealed(pub String);

impl fmt::Debug for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} chars>", self.0.chars().count())
    }
}

/// One line of the reader-check trace: "raw", "1. strip-prefix:00", ..., "number".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    pub label: String,
    pub value: Revealed,
    pub ok: bool,
}

/// One audit entry, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub ok: bool,
}

/// Which audit actions the audit page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditActions {
    #[default]
    All,
    SignIn,
    Cards,
    Service,
    Jobs,
}

impl AuditActions {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "all" => AuditActions::All,
            "sign-in" => AuditActions::SignIn,
            "cards" => AuditActions::Cards,
            "service" => AuditActions::Service,
            "jobs" => AuditActions::Jobs,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditActions::All => "all",
            AuditActions::SignIn => "sign-in",
            AuditActions::Cards => "cards",
            AuditActions::Service => "service",
            AuditActions::Jobs => "jobs",
        }
    }
}

/// How far back the audit page looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditSpan {
    Today,
    #[default]
    Week,
    All,
}

impl AuditSpan {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "today" => AuditSpan::Today,
            "7d" => AuditSpan::Week,
            "all" => AuditSpan::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditSpan::Today => "today",
            AuditSpan::Week => "7d",
            AuditSpan::All => "all",
        }
    }
}

/// The audit page's filters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub user: Option<UserRow>,
    pub actions: AuditActions,
    pub span: AuditSpan,
}

/// Where the health page's **Sync now** stands. The page turns it into (translated) words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncState {
    #[default]
    Idle,
    Running,
    Done,
    Failed,
    /// Directory sync is not enabled on this panel.
    Off,
}

impl SyncState {
    /// The code the .slint side maps to text.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Idle => "",
            SyncState::Running => "running",
            SyncState::Done => "done",
            SyncState::Failed => "failed",
            SyncState::Off => "off",
        }
    }
}

/// What binding a tapped badge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    Bound {
        user: String,
        masked: String,
        already_bound: bool,
        moved_from: Option<String>,
        replaced: Vec<String>,
    },
    /// The badge belongs to `owner`; binding it needs "Move it".
    Conflict { owner: String, masked: String },
    /// Refused for good (revoked user, number fails normalisation, store error): plain words.
    Refused { message: Msg },
}

/// Which cards to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeWhich {
    /// The card shown as this masked value.
    One(String),
    All,
}

/// What happened on a service page, or an answer to a [`ServiceEffect`].
#[derive(Debug)]
pub enum ServiceEvent {
    Open(Section),
    Back,
    /// One character from the on-screen keyboard.
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
    /// Health page: run a directory sync now.
    SyncNow,
    AuditActions(AuditActions),
    AuditSpan(AuditSpan),
    AuditAllUsers,
    AuditOlder,
    AuditNewer,
    Activity,
    /// The "Local accounts" page (touches and answers).
    Local(local::LocalEvent),

    // --- answers ---------------------------------------------------------------------------
    /// Answer to [`ServiceEffect::SearchUsers`] with the same `seq`.
    SearchResults {
        seq: u64,
        users: Vec<UserRow>,
    },
    /// Answer to [`ServiceEffect::PrepareEnroll`]: the card the limit would replace.
    EnrollTarget {
        oid: String,
        replaces: Option<String>,
        max_per_user: u32,
    },
    CardBound(BindOutcome),
    CardsLoaded(UserCards),
    /// An action (revoke, reset, remove PIN, retry, delete) finished.
    ActionDone {
        ok: bool,
        message: Msg,
    },
    ReadersLoaded(Vec<ReaderRow>),
    CardTraced(Vec<TraceRow>),
    JobsLoaded(Vec<JobRow>),
    HealthLoaded {
        rows: Vec<InfoRow>,
        /// The on-demand network checks are in these rows.
        checked: bool,
    },
    AuditLoaded {
        rows: Vec<AuditRow>,
        /// The id to continue from for older entries, when there are more.
        older: Option<i64>,
    },
    /// Answer to [`ServiceEffect::SyncDirectory`]: how it ended and the health rows after it
    /// (with the run's "Last directory run" row).
    DirectorySynced {
        result: SyncState,
        rows: Vec<InfoRow>,
    },
}

/// Something the service menu's adapter must do. Each is audited there, with the operator.
#[derive(Debug)]
pub enum ServiceEffect {
    /// Record an action of the menu itself (`service_open`, `service_exit`, ...).
    Record {
        action: &'static str,
        detail: String,
    },
    SearchUsers {
        seq: u64,
        query: String,
    },
    PrepareEnroll {
        oid: String,
    },
    BindCard {
        oid: String,
        card: SecretString,
        allow_move: bool,
    },
    LoadCards {
        oid: String,
    },
    RevokeCards {
        oid: String,
        which: RevokeWhich,
    },
    ResetPinLockout {
        oid: String,
    },
    RemovePin {
        oid: String,
    },
    LoadReaders,
    /// Reader check: run the tapped badge through the normalisation, step by step.
    TraceCard {
        card: SecretString,
    },
    LoadJobs,
    RetryJob {
        id: String,
    },
    DeleteJob {
        id: String,
    },
    LoadHealth,
    RunChecks,
    /// Run one directory sync now (`app::directory_worker::sync_now`).
    SyncDirectory,
    LoadAudit {
        filter: AuditFilter,
        before_id: Option<i64>,
    },
    Local(local::LocalEffect),
}
