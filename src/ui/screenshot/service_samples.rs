//! Sample states of the service menu's pages for [`super::sample`]: what a technician would
//! see on a real panel, with made-up people and masked badges (the reader trace carries a
//! made-up raw UID, as that page would show one).

use crate::ui::service::{
    ServiceUiState, UiServiceAudit, UiServiceCard, UiServiceChoice, UiServiceJob, UiServiceLocal,
    UiServicePage, UiServiceReader, UiServiceRow, UiServiceUser,
};

/// Page names accepted by [`super::sample`] for the service menu, in menu order.
pub const SERVICE_SAMPLE_PAGES: &[&str] = &[
    "service-menu",
    "service-pick-user",
    "service-tap-badge",
    "service-conflict",
    "service-cards",
    "service-readers",
    "service-outbox",
    "service-health",
    "service-audit",
    "service-local",
    "service-local-new",
    // The health page after "Sync now" has run.
    "service-health-synced",
    // The outbox asking to confirm a delete: the dialog every page can show.
    "service-confirm",
];

fn row(label: &str, value: &str, ok: bool) -> UiServiceRow {
    UiServiceRow {
        label: label.into(),
        value: value.into(),
        ok,
    }
}

fn user(id: &str, name: &str, detail: &str) -> UiServiceUser {
    UiServiceUser {
        id: id.into(),
        name: name.into(),
        detail: detail.into(),
    }
}

/// The service state for one of [`SERVICE_SAMPLE_PAGES`].
pub fn service_sample(page: &str) -> Option<ServiceUiState> {
    let base = ServiceUiState {
        actor: "Jane Tech (technician)".into(),
        audit_action: "all".into(),
        audit_span: "7d".into(),
        ..ServiceUiState::default()
    };
    let state = match page {
        "service-menu" => ServiceUiState {
            title: "Service menu".into(),
            ..base
        },
        "service-pick-user" => ServiceUiState {
            page: UiServicePage::PickUser,
            title: "Batch enrollment: whose badge was that?".into(),
            query: "ad".into(),
            users: vec![
                user("u1", "Adele Vance", "adele.vance@contoso.com"),
                user("u2", "Adam Kowalski", "adam.kowalski@contoso.com"),
                user("u3", "Brad Adams", "brad.adams@contoso.com"),
                user("u4", "Nadia Haddad", "nadia.haddad@contoso.com · revoked"),
                user("u5", "Conrad Lee", "conrad.lee@contoso.com"),
            ],
            ..base
        },
        "service-tap-badge" => ServiceUiState {
            page: UiServicePage::TapBadge,
            title: "Enroll a badge".into(),
            subject: "Adele Vance".into(),
            prompt: "Tap the new badge for Adele Vance now".into(),
            detail: "This replaces •••• 0042 (at most 1 badge per user).".into(),
            ..base
        },
        "service-conflict" => ServiceUiState {
            page: UiServicePage::Conflict,
            title: "Badge already enrolled".into(),
            subject: "Adele Vance".into(),
            prompt: "Badge •••• 5923 belongs to Brad Adams. Move it to Adele Vance?".into(),
            detail: "Brad Adams will no longer sign in with this badge.".into(),
            ..base
        },
        "service-cards" => ServiceUiState {
            page: UiServicePage::Cards,
            title: "Cards of Adele Vance".into(),
            user_name: "Adele Vance".into(),
            cards: vec![
                UiServiceCard {
                    masked: "•••• 5923".into(),
                    bound: "2026-11-03".into(),
                    bound_by: "self-enrollment".into(),
                    last_used: "today 08:12".into(),
                },
                UiServiceCard {
                    masked: "•••• 0042".into(),
                    bound: "2026-09-14".into(),
                    bound_by: "jane.tech@contoso.com".into(),
                    last_used: "never".into(),
                },
            ],
            has_pin: true,
            pin_locked: true,
            message: "Badge •••• 7710 revoked.".into(),
            ..base
        },
        "service-readers" => ServiceUiState {
            page: UiServicePage::Readers,
            title: "Reader check".into(),
            readers: vec![
                UiServiceReader {
                    name: "ACS ACR122U PICC Interface 00 00".into(),
                    kind: "PC/SC".into(),
                    connected: true,
                    detail: "last badge: UID read (7 bytes)".into(),
                },
                UiServiceReader {
                    name: "/dev/input/by-id/usb-RFIDeas_pcProx-event-kbd".into(),
                    kind: "Keyboard wedge".into(),
                    connected: false,
                    detail: "not plugged in".into(),
                },
            ],
            trace: vec![
                row("Raw (PC/SC UID)", "04A1B2C3D4E5F6", true),
                row("reverse bytes", "F6E5D4C3B2A104", true),
                row("hex → decimal", "69516690405941508", true),
                row("keep last 10 digits", "0405941508", true),
                row("Badge number", "0405941508", true),
            ],
            ..base
        },
        "service-outbox" => ServiceUiState {
            page: UiServicePage::Outbox,
            title: "Outbox".into(),
            jobs: vec![
                UiServiceJob {
                    id: "j1".into(),
                    user: "Adele Vance".into(),
                    workflow: "Scan to my OneDrive".into(),
                    size: "2.4 MB".into(),
                    attempts: 1,
                    state: "sending".into(),
                    error: String::new(),
                },
                UiServiceJob {
                    id: "j2".into(),
                    user: "Brad Adams".into(),
                    workflow: "Finance invoices".into(),
                    size: "11.8 MB".into(),
                    attempts: 6,
                    state: "failed".into(),
                    error:
                        "SharePoint refused the upload: the folder Invoices/Inbox does not exist."
                            .into(),
                },
                UiServiceJob {
                    id: "j3".into(),
                    user: "Nadia Haddad".into(),
                    workflow: "HR personnel files".into(),
                    size: "640 KB".into(),
                    attempts: 0,
                    state: "queued".into(),
                    error: String::new(),
                },
            ],
            ..base
        },
        "service-confirm" => ServiceUiState {
            confirm_text: "Delete Brad Adams's scan \"Finance invoices\" (11.8 MB)? \
                           The file is removed from the panel and cannot be sent later."
                .into(),
            ..service_sample("service-outbox")?
        },
        "service-health" => ServiceUiState {
            page: UiServicePage::Health,
            title: "Panel health".into(),
            health: vec![
                row("Version", "mfp-kiosk 0.1.0", true),
                row("Uptime", "3 days 4 h", true),
                row("Free space", "5.2 GB free in /var/lib/mfp-kiosk", true),
                row("Database", "48 MB", true),
                row(
                    "Clock",
                    "2026-12-01 14:32 · 4 min ahead of Microsoft: sign-ins may fail",
                    false,
                ),
                row(
                    "Entra ID",
                    "reachable (login.microsoftonline.com, 120 ms)",
                    true,
                ),
                row(
                    "Microsoft Graph",
                    "reachable (graph.microsoft.com, 180 ms)",
                    true,
                ),
                row("Directory sync", "last run 14:05, 12 users changed", true),
            ],
            checking: true,
            ..base
        },
        "service-health-synced" => {
            let mut health = service_sample("service-health")?;
            health.checking = false;
            health.sync_state = "done".into();
            if let Some(last) = health.health.last_mut() {
                *last = row(
                    "Last directory run",
                    "14:33 (now), delta: 2 users changed, 1 revoked",
                    true,
                );
            }
            return Some(ServiceUiState {
                actor: base.actor,
                ..health
            });
        }
        "service-local" => ServiceUiState {
            page: UiServicePage::Local,
            title: "Local accounts".into(),
            local_accounts: vec![
                UiServiceLocal {
                    id: "l1".into(),
                    name: "Ann Visitor".into(),
                    email: "ann@partner.example".into(),
                    expires: "2026-12-08".into(),
                    has_pin: true,
                    cards: 1,
                    ..UiServiceLocal::default()
                },
                UiServiceLocal {
                    id: "l2".into(),
                    name: "Night shift 2".into(),
                    expires: String::new(),
                    cards: 1,
                    ..UiServiceLocal::default()
                },
                UiServiceLocal {
                    id: "l3".into(),
                    name: "Bo Contractor".into(),
                    email: "bo@contractor.example".into(),
                    expires: "2026-11-28".into(),
                    expired: true,
                    disabled: true,
                    has_pin: true,
                    ..UiServiceLocal::default()
                },
            ],
            ..base
        },
        "service-local-new" => ServiceUiState {
            page: UiServicePage::LocalNew,
            title: "New local account".into(),
            local_name: "Ann Visit".into(),
            local_email: String::new(),
            local_focus: "name".into(),
            local_expiry: 7,
            local_workflows: vec![
                UiServiceChoice {
                    id: "visitors".into(),
                    label: "Visitor scans".into(),
                    on: true,
                },
                UiServiceChoice {
                    id: "reception".into(),
                    label: "Reception folder".into(),
                    on: false,
                },
            ],
            ..base
        },
        "service-audit" => ServiceUiState {
            page: UiServicePage::Audit,
            title: "Audit log".into(),
            audit_user: "Adele Vance".into(),
            audit_action: "cards".into(),
            audit_has_older: true,
            audit: [
                (
                    "14:31",
                    "Jane Tech",
                    "card_enroll",
                    "Adele Vance",
                    "ok: •••• 5923",
                    true,
                ),
                (
                    "14:30",
                    "Jane Tech",
                    "card_revoke",
                    "Adele Vance",
                    "ok: •••• 7710",
                    true,
                ),
                (
                    "14:29",
                    "Jane Tech",
                    "card_enroll",
                    "Adele Vance",
                    "refused: •••• 5923 belongs to Brad Adams",
                    false,
                ),
                (
                    "09:02",
                    "self",
                    "card_bound",
                    "Adele Vance",
                    "ok: •••• 7710",
                    true,
                ),
                (
                    "Mon 16:40",
                    "service-pin",
                    "pin_reset",
                    "Adele Vance",
                    "ok: lockout cleared",
                    true,
                ),
            ]
            .into_iter()
            .map(|(at, actor, action, subject, outcome, ok)| UiServiceAudit {
                at: at.into(),
                actor: actor.into(),
                action: action.into(),
                subject: subject.into(),
                outcome: outcome.into(),
                ok,
            })
            .collect(),
            ..base
        },
        _ => return None,
    };
    Some(state)
}
