//! Adapter between the `Service` global of ui/service_api.slint (the technician's service menu)
//! and the rest of the app, as [`super`] is for `Kiosk`: plain-Rust [`ServiceUiState`] pushed
//! with [`apply`], every callback arriving as one [`ServiceCommand`] through the sink given to
//! [`bind`].
//!
//! The one value here that is a card number in clear is the reader-check trace
//! ([`ServiceUiState::trace`]): the technician needs it on that page to fix `readers.normalise`.
//! `Debug` of the state redacts it, so it cannot reach a log by accident.

use std::fmt;

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
    pub audit: Vec<UiServiceAudit>,
    pub audit_user: String,
    /// "all", "sign-in", "cards", "service", "jobs".
    pub audit_action: String,
    /// "today", "7d", "all".
    pub audit_span: String,
    pub audit_has_older: bool,
    pub audit_has_newer: bool,
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
    /// ("action" | "span" | "user", value).
    AuditFilter(String, String),
    AuditOlder,
    AuditNewer,
    Activity,
}
