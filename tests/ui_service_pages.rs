//! The technician's service pages in the real MainWindow on Slint's headless testing backend:
//! each page shows its controls, every button (found by its accessible label, as a finger or
//! a screen reader would) produces its ServiceCommand through `ui::service::bind`, the on-screen
//! keyboard types what its keys show, the confirm dialog follows `confirm-text`, and the two
//! ways in (the home page's Service button, the 3 s hold on the panel name) work, the hold on
//! Slint's mock clock.
//!
//! Like tests/ui_adapter.rs this needs the Slint compiler's debug info (debug builds have it)
//! and must not share a process with the software-renderer platform of tests/ui_screenshot.rs.

mod ui_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::ui::screenshot::{sample, sample_state, SERVICE_SAMPLE_PAGES};
use mfp_kiosk::ui::service::{self, ServiceCommand, ServiceUiState, UiServicePage, UiServiceUser};
use mfp_kiosk::ui::{self as kiosk_ui, UiCommand, UiPage, UiState};
use mfp_kiosk::{MainWindow, Service};
use slint::platform::{PointerEventButton, WindowEvent};
use slint::{ComponentHandle, LogicalPosition, LogicalSize};

use ServiceCommand as C;

thread_local! {
    static BACKEND: () = i_slint_backend_testing::init_no_event_loop();
}

/// What reached either sink, in order.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Kiosk(UiCommand),
    Service(ServiceCommand),
}

struct Panel {
    window: MainWindow,
    got: Rc<RefCell<Vec<Got>>>,
}

impl Panel {
    fn new(kiosk: &UiState, service: &ServiceUiState) -> Panel {
        BACKEND.with(|_| ());
        let window = MainWindow::new().unwrap();
        assert!(
            ElementHandle::find_by_element_type_name(&window, "HeaderBar")
                .next()
                .is_some(),
            "no elements found: build with Slint debug info (debug builds have it)"
        );
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = got.clone();
        kiosk_ui::bind(&window, move |cmd| sink.borrow_mut().push(Got::Kiosk(cmd)));
        let sink = got.clone();
        service::bind(&window, move |cmd| {
            sink.borrow_mut().push(Got::Service(cmd))
        });
        kiosk_ui::apply(&window, kiosk);
        service::apply(&window, service);
        window.show().unwrap();
        Panel { window, got }
    }

    /// The sample of a service page (as in the screenshots).
    fn page(name: &str) -> Panel {
        let s = sample(name, mfp_kiosk::i18n::Language::En).unwrap();
        Panel::new(&s.kiosk, &s.service)
    }

    fn service(&self, state: &ServiceUiState) {
        service::apply(&self.window, state);
    }

    fn kiosk(&self, state: &UiState) {
        kiosk_ui::apply(&self.window, state);
    }

    fn take(&self) -> Vec<Got> {
        std::mem::take(&mut *self.got.borrow_mut())
    }

    /// Service commands only, Activity dropped.
    fn take_service(&self) -> Vec<ServiceCommand> {
        self.take()
            .into_iter()
            .filter_map(|g| match g {
                Got::Service(C::Activity) => None,
                Got::Service(c) => Some(c),
                Got::Kiosk(_) => None,
            })
            .collect()
    }

    fn with_role(&self, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
        ui_support::find(&self.window, label, role)
    }

    fn buttons(&self, label: &str) -> Vec<ElementHandle> {
        self.with_role(label, AccessibleRole::Button)
    }

    fn has_button(&self, label: &str) -> bool {
        ui_support::has_button(&self.window, label)
    }

    fn button(&self, label: &str) -> ElementHandle {
        ui_support::touch_button(&self.window, label)
    }

    /// Presses the button and returns everything that reached the sinks.
    fn press(&self, label: &str) -> Vec<Got> {
        self.take();
        self.button(label).invoke_accessible_default_action();
        self.take()
    }

    /// Presses the button, checks it counted as activity, and returns the service commands.
    fn press_service(&self, label: &str) -> Vec<ServiceCommand> {
        let got = self.press(label);
        if !got.is_empty() {
            assert_eq!(
                got[0],
                Got::Service(C::Activity),
                "{label:?} did not count as activity: {got:?}"
            );
        }
        got.into_iter()
            .skip(1)
            .map(|g| match g {
                Got::Service(c) => c,
                other => panic!("{label:?} reached the Kiosk sink: {other:?}"),
            })
            .collect()
    }

    fn has_text(&self, label: &str) -> bool {
        !self.with_role(label, AccessibleRole::Text).is_empty()
    }

    fn resize(&self, width: f32, height: f32) {
        self.window
            .window()
            .set_size(LogicalSize::new(width, height));
        i_slint_backend_testing::mock_elapsed_time(Duration::ZERO);
    }

    /// A key from a keyboard (or a keyboard-wedge reader that is not grabbed).
    fn key(&self, text: &str) {
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: text.into() });
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text: text.into() });
    }

    fn pointer(&self, event: WindowEvent) {
        self.window.window().dispatch_event(event);
    }
}

fn centre(element: &ElementHandle) -> LogicalPosition {
    let p = element.absolute_position();
    let s = element.size();
    LogicalPosition::new(p.x + s.width / 2.0, p.y + s.height / 2.0)
}

fn service_state(page: &str) -> ServiceUiState {
    sample(page, mfp_kiosk::i18n::Language::En).unwrap().service
}

/// Advances Slint's mock clock (timers fire on it; nothing here sleeps).
fn advance(ms: u64) {
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(ms));
}

const TILES: [(&str, &str); 7] = [
    ("Enroll a badge", "enroll"),
    ("Batch enrollment", "batch"),
    ("A user's cards", "cards"),
    ("Reader check", "readers"),
    ("Outbox", "outbox"),
    ("Panel health", "health"),
    ("Audit log", "audit"),
];

#[test]
fn menu_has_a_tile_per_page_exit_and_no_back() {
    let panel = Panel::page("service-menu");
    assert!(panel.has_text("Service menu"));
    assert!(panel.has_text("Jane Tech (technician)"));
    for (label, id) in TILES {
        assert_eq!(panel.press_service(label), [C::Open(id.into())], "{label}");
    }
    assert_eq!(panel.press_service("Exit service"), [C::Exit]);
    assert!(!panel.has_button("Back"));
}

#[test]
fn each_service_page_shows_only_its_own_controls_and_back() {
    let owned: [(&str, &[&str]); 13] = [
        ("service-menu", &["Exit service", "Outbox"]),
        (
            "service-pick-user",
            &["Adele Vance", "Shift", "Backspace", "Space"],
        ),
        ("service-tap-badge", &[]),
        ("service-conflict", &["Move it", "Cancel"]),
        (
            "service-cards",
            &[
                "Revoke •••• 5923",
                "Revoke all",
                "Reset PIN lockout",
                "Remove PIN",
            ],
        ),
        ("service-readers", &[]),
        ("service-outbox", &["Retry", "Delete"]),
        ("service-health", &["Run checks", "Sync now"]),
        (
            "service-audit",
            &["Older", "Newer", "7 days", "Clear user filter"],
        ),
        (
            "service-local",
            &[
                "New account",
                "+7 days",
                "Badge",
                "Enable",
                "Disable",
                "Delete",
            ],
        ),
        (
            "service-local-new",
            &[
                "Create, then tap the badge",
                "in a week",
                "never",
                "Visitor scans",
                "Shift",
                "Backspace",
                "Space",
            ],
        ),
        ("service-health-synced", &["Run checks", "Sync now"]),
        ("service-confirm", &["Retry", "Delete", "Confirm", "Cancel"]),
    ];
    assert_eq!(owned.len(), SERVICE_SAMPLE_PAGES.len());
    let all: Vec<&str> = owned.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    let panel = Panel::page("service-menu");
    for (page, mine) in owned {
        panel.service(&service_state(page));
        for label in &all {
            assert_eq!(
                panel.has_button(label),
                mine.contains(label),
                "button {label:?} on page {page}"
            );
        }
        if page != "service-menu" {
            assert_eq!(panel.press_service("Back"), [C::Back], "{page}");
            assert!(!panel.has_button("Exit service"), "{page}");
        }
    }
}

#[test]
fn a_touch_anywhere_on_a_service_page_counts_as_activity() {
    let panel = Panel::page("service-health");
    panel.take();
    let title = panel
        .with_role("Panel health", AccessibleRole::Text)
        .into_iter()
        .next()
        .expect("the page title");
    title.mock_single_click(PointerEventButton::Left);
    assert_eq!(panel.take(), [Got::Service(C::Activity)]);
}

#[test]
fn on_screen_keyboard_types_what_its_keys_show() {
    let panel = Panel::page("service-pick-user");
    // The smallest panel: every key stays a finger-sized target.
    panel.resize(800.0, 480.0);

    for (label, text) in [
        ("a", "a"),
        ("z", "z"),
        ("1", "1"),
        ("0", "0"),
        ("@", "@"),
        (".", "."),
        ("-", "-"),
        ("_", "_"),
        ("Space", " "),
    ] {
        assert_eq!(panel.press_service(label), [C::Key(text.into())], "{label}");
    }
    assert_eq!(panel.press_service("Backspace"), [C::Backspace]);
    assert_eq!(panel.button("Shift").accessible_checked(), Some(false));
    assert_eq!(panel.press_service("Shift"), [C::ToggleShift]);
    assert!(
        !panel.has_button("A"),
        "shift shows only while Service.shift"
    );

    // The app turns shift on: letters show and type upper case; digits and signs stay.
    panel.service(&ServiceUiState {
        shift: true,
        ..service_state("service-pick-user")
    });
    assert_eq!(panel.button("Shift").accessible_checked(), Some(true));
    assert!(!panel.has_button("a"));
    assert_eq!(panel.press_service("A"), [C::Key("A".into())]);
    assert_eq!(panel.press_service("Q"), [C::Key("Q".into())]);
    assert_eq!(panel.press_service("7"), [C::Key("7".into())]);
    assert_eq!(panel.press_service("@"), [C::Key("@".into())]);

    // A real tap on a key (pointer down and up), not only the accessibility action.
    panel.take();
    panel
        .button("M")
        .mock_single_click(PointerEventButton::Left);
    assert_eq!(panel.take_service(), [C::Key("M".into())]);
}

#[test]
fn pick_user_shows_the_query_and_picks_a_row() {
    let panel = Panel::page("service-pick-user");
    let search = panel.with_role("Search", AccessibleRole::TextInput);
    assert_eq!(search.len(), 1);
    assert_eq!(search[0].accessible_value().as_deref(), Some("ad"));
    assert_eq!(
        panel.buttons("Adele Vance")[0]
            .accessible_description()
            .as_deref(),
        Some("adele.vance@contoso.com")
    );
    assert_eq!(
        panel.press_service("Adam Kowalski"),
        [C::PickUser("u2".into())]
    );

    panel.service(&ServiceUiState {
        query: "zzz".into(),
        users: Vec::new(),
        ..service_state("service-pick-user")
    });
    assert!(!panel.has_button("Adele Vance"));
    assert!(panel.has_text("No user matches “zzz”."));
    assert_eq!(search_value(&panel), "zzz");
}

fn search_value(panel: &Panel) -> String {
    panel.with_role("Search", AccessibleRole::TextInput)[0]
        .accessible_value()
        .unwrap()
        .to_string()
}

#[test]
fn tap_badge_page_shows_prompt_subject_detail_and_the_batch_counter() {
    let panel = Panel::page("service-tap-badge");
    assert!(panel.has_text("Tap the new badge for Adele Vance now"));
    assert!(panel.has_text("Adele Vance"));
    assert!(panel.has_text("This replaces •••• 0042 (at most 1 badge per user)."));
    assert!(!panel.has_text("3 badges enrolled"));

    panel.service(&ServiceUiState {
        page: UiServicePage::TapBadge,
        title: "Batch enrollment".into(),
        prompt: "Tap the next badge".into(),
        batch: true,
        batch_count: 3,
        ..ServiceUiState::default()
    });
    assert!(panel.has_text("Tap the next badge"));
    assert!(panel.has_text("3 badges enrolled"));
    assert!(!panel.has_text("Adele Vance"));
}

#[test]
fn keys_reach_the_badge_path_only_on_pages_that_wait_for_a_badge() {
    let card_keys = |panel: &Panel| -> Vec<String> {
        panel
            .take()
            .into_iter()
            .filter_map(|g| match g {
                Got::Kiosk(UiCommand::CardKey(k)) => Some(k),
                _ => None,
            })
            .collect()
    };
    let panel = Panel::page("service-tap-badge");
    for k in ["0", "4", "\n"] {
        panel.key(k);
    }
    assert_eq!(card_keys(&panel), ["0", "4", "\n"]);

    panel.service(&service_state("service-readers"));
    panel.key("7");
    assert_eq!(card_keys(&panel), ["7"]);

    // Picking a user types on the on-screen keyboard only.
    panel.service(&service_state("service-pick-user"));
    panel.key("7");
    assert_eq!(card_keys(&panel), Vec::<String>::new());
}

#[test]
fn conflict_page_moves_or_keeps_the_badge() {
    let panel = Panel::page("service-conflict");
    assert!(panel.has_text("Badge •••• 5923 belongs to Brad Adams. Move it to Adele Vance?"));
    assert_eq!(panel.press_service("Move it"), [C::MoveCard]);
    // Leaving the badge with its owner is Back: the machine returns to tapping from here.
    assert_eq!(panel.press_service("Cancel"), [C::Back]);
}

#[test]
fn cards_page_revokes_and_offers_pin_actions_only_when_they_apply() {
    let panel = Panel::page("service-cards");
    assert!(panel.has_text("Cards of Adele Vance"));
    assert!(panel.has_text("PIN locked"));
    assert!(
        panel.has_text("Never used"),
        "\"never\" reads as a sentence"
    );
    assert!(panel.has_text("Last used today 08:12"));
    assert_eq!(
        panel.press_service("Revoke •••• 0042"),
        [C::RevokeCard("•••• 0042".into())]
    );
    assert_eq!(panel.press_service("Revoke all"), [C::RevokeAll]);
    assert_eq!(
        panel.press_service("Reset PIN lockout"),
        [C::ResetPinLockout]
    );
    assert_eq!(panel.press_service("Remove PIN"), [C::RemovePin]);
    assert_eq!(panel.press_service("Audit log"), [C::UserAudit]);

    // No PIN, no lockout, no badge: those buttons stay in place but do nothing.
    panel.service(&ServiceUiState {
        cards: Vec::new(),
        has_pin: false,
        pin_locked: false,
        ..service_state("service-cards")
    });
    assert!(panel.has_text("No PIN set"));
    assert!(panel.has_text("Adele Vance has no badge on this panel."));
    for label in ["Revoke all", "Reset PIN lockout", "Remove PIN"] {
        assert_eq!(
            panel.button(label).accessible_enabled(),
            Some(false),
            "{label}"
        );
        assert_eq!(panel.press(label), [], "{label} is disabled");
    }
    assert_eq!(panel.button("Audit log").accessible_enabled(), Some(true));
}

#[test]
fn readers_page_lists_readers_and_the_trace() {
    let panel = Panel::page("service-readers");
    let pcsc = panel.with_role("ACS ACR122U PICC Interface 00 00", AccessibleRole::Text);
    assert_eq!(pcsc[0].accessible_value().as_deref(), Some("connected"));
    let wedge = panel.with_role(
        "/dev/input/by-id/usb-RFIDeas_pcProx-event-kbd",
        AccessibleRole::Text,
    );
    assert_eq!(
        wedge[0].accessible_value().as_deref(),
        Some("not connected")
    );
    let raw = panel.with_role("Raw (PC/SC UID)", AccessibleRole::Text);
    assert_eq!(raw[0].accessible_value().as_deref(), Some("04A1B2C3D4E5F6"));
    assert!(panel.has_text("Badge number"));

    panel.service(&ServiceUiState {
        trace: Vec::new(),
        readers: Vec::new(),
        ..service_state("service-readers")
    });
    assert!(panel.has_text("Tap a badge on any reader to see what it reads."));
    assert!(!panel.has_text("Raw (PC/SC UID)"));
}

#[test]
fn outbox_rows_retry_and_delete_their_own_job() {
    let panel = Panel::page("service-outbox");
    let retries = panel.buttons("Retry");
    let deletes = panel.buttons("Delete");
    assert_eq!((retries.len(), deletes.len()), (3, 3));
    assert_eq!(
        retries[1].accessible_description().as_deref(),
        Some("Brad Adams · Finance invoices")
    );
    panel.take();
    retries[1].invoke_accessible_default_action();
    deletes[2].invoke_accessible_default_action();
    assert_eq!(
        panel.take_service(),
        [C::RetryJob("j2".into()), C::DeleteJob("j3".into())]
    );

    panel.service(&ServiceUiState {
        jobs: Vec::new(),
        ..service_state("service-outbox")
    });
    assert!(!panel.has_button("Retry"));
    assert!(panel.has_text("The outbox is empty: every scan has been delivered."));
}

#[test]
fn health_page_runs_checks_and_shows_when_they_run() {
    let panel = Panel::page("service-health");
    // The sample is mid-check: spinner, and the button waits.
    assert!(panel.has_text("Checking…"));
    assert_eq!(panel.button("Run checks").accessible_enabled(), Some(false));
    assert_eq!(panel.press("Run checks"), []);
    let clock = panel.with_role("Clock", AccessibleRole::Text);
    assert_eq!(
        clock[0].accessible_description().as_deref(),
        Some("needs attention")
    );
    let version = panel.with_role("Version", AccessibleRole::Text);
    assert_eq!(version[0].accessible_description().as_deref(), Some("ok"));

    panel.service(&ServiceUiState {
        checking: false,
        ..service_state("service-health")
    });
    assert!(!panel.has_text("Checking…"));
    assert_eq!(panel.press_service("Run checks"), [C::RunChecks]);
}

#[test]
fn health_page_syncs_the_directory_now_and_says_how_it_ended() {
    let panel = Panel::page("service-health");
    panel.service(&ServiceUiState {
        checking: false,
        ..service_state("service-health")
    });
    assert!(!panel.has_text("Syncing the directory…"));
    assert_eq!(panel.press_service("Sync now"), [C::SyncNow]);

    panel.service(&ServiceUiState {
        checking: false,
        sync_state: "running".into(),
        ..service_state("service-health")
    });
    assert!(panel.has_text("Syncing the directory…"));
    assert_eq!(panel.button("Sync now").accessible_enabled(), Some(false));
    assert_eq!(panel.press("Sync now"), []);
    assert_eq!(
        panel.button("Run checks").accessible_enabled(),
        Some(true),
        "the checks do not wait for the sync"
    );

    for (state, text) in [
        ("done", "Directory sync done: see “Last directory run”."),
        (
            "failed",
            "Directory sync failed: see “Last directory run” for why.",
        ),
        (
            "off",
            "Directory sync is not enabled on this panel (see [directory] in the configuration).",
        ),
    ] {
        panel.service(&ServiceUiState {
            checking: false,
            sync_state: state.into(),
            ..service_state("service-health")
        });
        assert!(panel.has_text(text), "{state}");
        assert!(!panel.has_text("Syncing the directory…"));
        assert_eq!(panel.button("Sync now").accessible_enabled(), Some(true));
    }
}

#[test]
fn audit_page_filters_and_pages() {
    let panel = Panel::page("service-audit");
    assert!(panel.has_text("User: Adele Vance"));
    assert_eq!(panel.button("Cards").accessible_checked(), Some(true));
    assert_eq!(panel.button("All").accessible_checked(), Some(false));
    assert_eq!(panel.button("7 days").accessible_checked(), Some(true));

    for (label, what, value) in [
        ("All", "action", "all"),
        ("Sign-in", "action", "sign-in"),
        ("Cards", "action", "cards"),
        ("Service", "action", "service"),
        ("Jobs", "action", "jobs"),
        ("Today", "span", "today"),
        ("7 days", "span", "7d"),
        ("All time", "span", "all"),
        ("Clear user filter", "user", ""),
    ] {
        assert_eq!(
            panel.press_service(label),
            [C::AuditFilter(what.into(), value.into())],
            "{label}"
        );
    }
    assert_eq!(panel.press_service("Older"), [C::AuditOlder]);
    assert_eq!(panel.press("Newer"), [], "no newer page in the sample");

    panel.service(&ServiceUiState {
        audit_user: String::new(),
        audit_has_newer: true,
        audit_has_older: false,
        ..service_state("service-audit")
    });
    assert!(!panel.has_button("Clear user filter"));
    assert_eq!(panel.press_service("Newer"), [C::AuditNewer]);
    assert_eq!(panel.press("Older"), []);
}

#[test]
fn confirm_dialog_shows_only_with_confirm_text_on_any_page() {
    let panel = Panel::page("service-confirm");
    assert!(panel.has_text(&service_state("service-confirm").confirm_text));
    assert_eq!(panel.press_service("Confirm"), [C::Confirm]);
    assert_eq!(panel.press_service("Cancel"), [C::CancelConfirm]);

    panel.service(&ServiceUiState {
        confirm_text: String::new(),
        ..service_state("service-outbox")
    });
    assert!(!panel.has_button("Confirm"));
    assert!(!panel.has_button("Cancel"));

    // Any page can ask.
    panel.service(&ServiceUiState {
        confirm_text: "Revoke all 2 badges of Adele Vance?".into(),
        ..service_state("service-cards")
    });
    assert!(panel.has_text("Revoke all 2 badges of Adele Vance?"));
    assert_eq!(panel.press_service("Confirm"), [C::Confirm]);
}

#[test]
fn message_line_shows_the_message() {
    let panel = Panel::page("service-menu");
    panel.service(&ServiceUiState {
        message: "Badge •••• 1234 enrolled for Ann Lee.".into(),
        ..service_state("service-menu")
    });
    assert!(panel.has_text("Badge •••• 1234 enrolled for Ann Lee."));
}

#[test]
fn home_offers_service_only_to_a_technician() {
    let home = sample_state("home", mfp_kiosk::i18n::Language::En).unwrap();
    let panel = Panel::new(&home, &ServiceUiState::default());
    assert!(!panel.has_button("Service"));
    panel.kiosk(&UiState {
        can_service: true,
        ..home
    });
    assert_eq!(
        panel.press("Service"),
        [
            Got::Kiosk(UiCommand::Activity),
            Got::Kiosk(UiCommand::OpenService)
        ]
    );

    // The kiosk's Service page shows the service menu.
    panel.kiosk(&UiState {
        page: UiPage::Service,
        ..UiState::default()
    });
    assert!(panel.has_button("Exit service"));
    assert!(!panel.has_button("Sign out"));
}

fn long_presses(panel: &Panel) -> usize {
    panel
        .take()
        .iter()
        .filter(|g| **g == Got::Kiosk(UiCommand::ServiceLongPress))
        .count()
}

#[test]
fn holding_the_panel_name_3_s_on_idle_asks_for_the_service_pin() {
    let panel = Panel::new(&UiState::default(), &ServiceUiState::default());
    let name = panel.with_role("Panel name", AccessibleRole::Text);
    assert_eq!(name.len(), 1);
    assert_eq!(name[0].accessible_value().as_deref(), Some("MFP"));
    let at = centre(&name[0]);
    let button = PointerEventButton::Left;
    let down = || WindowEvent::PointerPressed {
        position: at,
        button,
    };
    let up = || WindowEvent::PointerReleased {
        position: at,
        button,
    };

    // A tap, and a hold just short of 3 s, do nothing.
    name[0].mock_single_click(button);
    panel.pointer(down());
    advance(2_900);
    panel.pointer(up());
    advance(1_000);
    assert_eq!(long_presses(&panel), 0);

    // Sliding off the name before 3 s cancels the hold.
    panel.pointer(down());
    advance(1_000);
    panel.pointer(WindowEvent::PointerMoved {
        position: LogicalPosition::new(at.x, 300.0),
    });
    advance(3_000);
    panel.pointer(up());
    assert_eq!(long_presses(&panel), 0);

    // 3 s held: once, even if the finger stays.
    panel.pointer(down());
    advance(2_900);
    assert_eq!(long_presses(&panel), 0);
    advance(200);
    assert_eq!(long_presses(&panel), 1);
    advance(6_000);
    panel.pointer(up());
    assert_eq!(long_presses(&panel), 0);

    // Not on other pages: a signed-in user's hold is nothing.
    panel.kiosk(&sample_state("home", mfp_kiosk::i18n::Language::En).unwrap());
    let at = centre(&panel.with_role("Panel name", AccessibleRole::Text)[0]);
    panel.pointer(WindowEvent::PointerPressed {
        position: at,
        button,
    });
    advance(4_000);
    panel.pointer(WindowEvent::PointerReleased {
        position: at,
        button,
    });
    assert_eq!(long_presses(&panel), 0);
}

#[test]
fn apply_replaces_a_list_model_only_when_its_rows_change() {
    let panel = Panel::page("service-pick-user");
    let state = service_state("service-pick-user");
    let service = panel.window.global::<Service>();
    let before = service.get_users();
    panel.service(&ServiceUiState {
        query: "ada".into(),
        ..state.clone()
    });
    assert!(service.get_users() == before, "same rows: model kept");
    assert_eq!(search_value(&panel), "ada");

    let mut users = state.users.clone();
    users.push(UiServiceUser {
        id: "u9".into(),
        name: "Ada Lovelace".into(),
        detail: "ada@contoso.com".into(),
    });
    panel.service(&ServiceUiState { users, ..state });
    assert!(service.get_users() != before, "new rows: model replaced");
    assert!(panel.has_button("Ada Lovelace"));
}
