//! The real MainWindow on Slint's headless testing backend: every button is found by its
//! accessible label and pressed, and must produce the right UiCommand through `ui::bind`;
//! `ui::apply` must put the state on screen and switch pages so that other pages' controls do
//! not exist.
//!
//! Needs the Slint compiler's debug info (SLINT_EMIT_DEBUG_INFO=1 at build time), without
//! which no element can be found. The testing backend is per thread here (no event loop), so
//! each test sets it up on its own thread; this file must not share a process with the
//! software-renderer platform of tests/ui_screenshot.rs.

mod ui_support;

use std::cell::RefCell;
use std::rc::Rc;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::ui::screenshot::sample_state;
use mfp_kiosk::ui::{apply, bind, UiCommand, UiPage, UiState, UiWorkflow};
use mfp_kiosk::MainWindow;
use slint::platform::{PointerEventButton, WindowEvent};
use slint::ComponentHandle;

thread_local! {
    static BACKEND: () = i_slint_backend_testing::init_no_event_loop();
}

struct Panel {
    window: MainWindow,
    commands: Rc<RefCell<Vec<UiCommand>>>,
}

impl Panel {
    fn new(state: &UiState) -> Panel {
        BACKEND.with(|_| ());
        let window = MainWindow::new().unwrap();
        assert!(
            ElementHandle::find_by_element_type_name(&window, "HeaderBar")
                .next()
                .is_some(),
            "no elements found: build with SLINT_EMIT_DEBUG_INFO=1 (or slint_build's \
             CompilerConfiguration::with_debug_info(true)) so the testing API can see them"
        );
        let commands = Rc::new(RefCell::new(Vec::new()));
        let sink = commands.clone();
        bind(&window, move |cmd| sink.borrow_mut().push(cmd));
        apply(&window, state);
        window.show().unwrap();
        Panel { window, commands }
    }

    fn sample(page: &str) -> Panel {
        Panel::new(&sample_state(page, mfp_kiosk::i18n::Language::En).unwrap())
    }

    fn apply(&self, state: &UiState) {
        apply(&self.window, state);
    }

    fn take(&self) -> Vec<UiCommand> {
        std::mem::take(&mut *self.commands.borrow_mut())
    }

    fn with_role(&self, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
        ui_support::find(&self.window, label, role)
    }

    fn has_button(&self, label: &str) -> bool {
        ui_support::has_button(&self.window, label)
    }

    fn button(&self, label: &str) -> ElementHandle {
        ui_support::touch_button(&self.window, label)
    }

    /// Presses the button and returns what reached the sink.
    fn press(&self, label: &str) -> Vec<UiCommand> {
        self.take();
        self.button(label).invoke_accessible_default_action();
        self.take()
    }

    fn text(&self, label: &str) -> ElementHandle {
        let mut found = self.with_role(label, AccessibleRole::Text);
        assert_eq!(found.len(), 1, "want exactly one text {label:?}");
        found.remove(0)
    }

    fn has_text(&self, label: &str) -> bool {
        !self.with_role(label, AccessibleRole::Text).is_empty()
    }

    fn key(&self, text: &str) {
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: text.into() });
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text: text.into() });
    }
}

fn state(page: UiPage) -> UiState {
    UiState {
        page,
        ..UiState::default()
    }
}

#[test]
fn idle_page_buttons_and_badge_reader_keys() {
    let panel = Panel::new(&state(UiPage::Idle));
    assert!(panel.has_text("Tap your badge"));

    assert_eq!(
        panel.press("Sign in with PIN"),
        [UiCommand::Activity, UiCommand::StartPin]
    );
    assert_eq!(
        panel.press("Sign in with Microsoft"),
        [UiCommand::Activity, UiCommand::StartMicrosoft]
    );

    // A keyboard-wedge reader types digits and Enter; each key arrives as typed, and only on
    // key press (the release is not a second key).
    panel.take();
    for key in ["0", "4", "2", "\n"] {
        panel.key(key);
    }
    assert_eq!(
        panel.take(),
        [
            UiCommand::Activity,
            UiCommand::CardKey("0".into()),
            UiCommand::Activity,
            UiCommand::CardKey("4".into()),
            UiCommand::Activity,
            UiCommand::CardKey("2".into()),
            UiCommand::Activity,
            UiCommand::CardKey("\n".into()),
        ]
    );
}

#[test]
fn idle_page_offers_only_the_enabled_sign_in_methods() {
    let panel = Panel::new(&UiState {
        pin_enabled: false,
        ..state(UiPage::Idle)
    });
    assert!(!panel.has_button("Sign in with PIN"));
    assert!(panel.has_button("Sign in with Microsoft"));

    panel.apply(&UiState {
        microsoft_enabled: false,
        ..state(UiPage::Idle)
    });
    assert!(panel.has_button("Sign in with PIN"));
    assert!(!panel.has_button("Sign in with Microsoft"));

    panel.apply(&UiState {
        pin_enabled: false,
        microsoft_enabled: false,
        ..state(UiPage::Idle)
    });
    assert!(!panel.has_button("Sign in with PIN"));
    assert!(!panel.has_button("Sign in with Microsoft"));
    assert!(panel.has_text("Tap your badge"));
}

#[test]
fn keys_reach_the_app_only_while_the_idle_page_shows() {
    let panel = Panel::new(&state(UiPage::Pin));
    panel.key("7");
    assert!(
        !panel
            .take()
            .iter()
            .any(|c| matches!(c, UiCommand::CardKey(_))),
        "a key on the PIN page must not be taken for a card"
    );
    // Back on idle, the page takes focus again.
    panel.apply(&state(UiPage::Idle));
    panel.key("7");
    assert!(panel.take().contains(&UiCommand::CardKey("7".into())));
}

#[test]
fn pin_page_keys_and_dots() {
    let panel = Panel::new(&UiState {
        pin_length: 3,
        pin_max_length: 6,
        pin_prompt: "Enter the PIN for your badge".into(),
        message: "Wrong PIN. 4 attempts left.".into(),
        message_is_error: true,
        ..state(UiPage::Pin)
    });
    for d in 0..=9u8 {
        assert_eq!(
            panel.press(&format!("Digit {d}")),
            [UiCommand::Activity, UiCommand::PinDigit(d)]
        );
    }
    assert_eq!(
        panel.press("Delete"),
        [UiCommand::Activity, UiCommand::PinBackspace]
    );
    assert_eq!(
        panel.press("OK"),
        [UiCommand::Activity, UiCommand::PinSubmit]
    );
    assert_eq!(
        panel.press("Cancel"),
        [UiCommand::Activity, UiCommand::PinCancel]
    );

    assert!(panel.has_text("Enter the PIN for your badge"));
    assert!(panel.has_text("Wrong PIN. 4 attempts left."));
    assert!(panel.has_text("3 of 6 digits entered"));
    panel.apply(&UiState {
        pin_length: 4,
        pin_max_length: 6,
        ..state(UiPage::Pin)
    });
    assert!(panel.has_text("4 of 6 digits entered"));
    assert!(!panel.has_button("Sign in with PIN"));
}

#[test]
fn device_code_page_shows_the_code_and_demo_button_only_in_demo_mode() {
    let sample = sample_state("device-code", mfp_kiosk::i18n::Language::En).unwrap();
    assert!(sample.demo_mode);
    let panel = Panel::new(&UiState {
        demo_mode: false,
        ..sample.clone()
    });

    let code = panel.text(&sample.user_code);
    let size = code.size();
    assert!(size.height >= 40.0, "user code is not large: {size:?}");
    assert!(panel.has_text("https://microsoft.com/devicelogin"));
    assert!(panel.has_text("Sign in with Microsoft"));
    assert!(panel.has_text("Code expires in 14:32"));
    assert!(!panel.has_button("Approve (demo only)"));

    let qr = panel.with_role(
        "QR code for https://microsoft.com/devicelogin",
        AccessibleRole::Image,
    );
    assert_eq!(qr.len(), 1);
    assert!(qr[0].size().width >= 150.0);
    let image = panel.window.global::<mfp_kiosk::Kiosk>().get_qr_code();
    assert!(image.size().width > 0, "QR image was not set");

    assert_eq!(panel.press("Cancel sign-in"), [UiCommand::CancelDeviceCode]);

    panel.apply(&UiState {
        code_seconds_left: 65,
        code_purpose: "Sign in to link your badge".into(),
        message: "Conditional Access blocks this sign-in. Use your badge and PIN.".into(),
        message_is_error: true,
        ..sample.clone()
    });
    assert!(panel.has_text("Code expires in 1:05"));
    assert!(panel.has_text("Sign in to link your badge"));
    assert!(panel.has_text("Conditional Access blocks this sign-in. Use your badge and PIN."));
    assert_eq!(panel.press("Approve (demo only)"), [UiCommand::DemoApprove]);

    panel.apply(&UiState {
        code_seconds_left: 0,
        qr_text: String::new(),
        ..sample
    });
    assert!(panel.has_text("Code expires in 0:00"));
    let image = panel.window.global::<mfp_kiosk::Kiosk>().get_qr_code();
    assert_eq!(image.size().width, 0, "no QR text must clear the image");
}

#[test]
fn busy_page_shows_its_text_and_no_buttons() {
    let panel = Panel::sample("busy");
    assert!(panel.has_text("Checking your badge…"));
    assert!(!panel
        .with_role("Working", AccessibleRole::ProgressIndicator)
        .is_empty());
    for label in ["Sign in with PIN", "Cancel", "Sign out", "Done"] {
        assert!(!panel.has_button(label), "{label} on the busy page");
    }
}

#[test]
fn home_page_tiles_sign_out_and_touch_activity() {
    let home = sample_state("home", mfp_kiosk::i18n::Language::En).unwrap();
    let panel = Panel::new(&home);
    assert!(panel.has_text("Hello, Adele Vance"));
    assert!(panel.has_text("adele.vance@contoso.com · Finance"));

    for w in &home.workflows {
        assert_eq!(
            panel.press(&w.label),
            [UiCommand::Activity, UiCommand::RunWorkflow(w.id.clone())]
        );
    }
    assert_eq!(
        panel.press("Sign out"),
        [UiCommand::Activity, UiCommand::SignOut]
    );

    // A touch on a part of the page that is no button still counts as activity.
    panel.take();
    panel
        .text("Hello, Adele Vance")
        .mock_single_click(PointerEventButton::Left);
    assert_eq!(panel.take(), [UiCommand::Activity]);

    // Pushing the same tiles again (e.g. a countdown tick) keeps the tile elements alive ...
    let tile = panel.button("Finance invoices");
    panel.apply(&UiState {
        countdown: 9,
        ..home.clone()
    });
    // (Searching makes the repeater catch up with its model.)
    assert!(panel.has_button("Finance invoices"));
    assert!(
        tile.is_valid(),
        "unchanged workflows must not rebuild the tiles"
    );
    // ... while a different list replaces them.
    panel.apply(&UiState {
        workflows: vec![UiWorkflow {
            id: "legal".into(),
            label: "Legal contracts".into(),
            badge: "SP".into(),
            destination: "Legal site · Contracts".into(),
        }],
        ..home.clone()
    });
    assert!(!panel.has_button("Finance invoices"));
    assert!(!tile.is_valid());
    assert_eq!(
        panel.press("Legal contracts"),
        [UiCommand::Activity, UiCommand::RunWorkflow("legal".into())]
    );

    panel.apply(&UiState {
        workflows: Vec::new(),
        ..home
    });
    assert!(panel.has_text("No scan workflows are set up for you. Ask your administrator."));
}

#[test]
fn home_page_toast_shows_the_message() {
    let panel = Panel::new(&UiState {
        message: "Your scan could not be uploaded. It will be retried.".into(),
        message_is_error: true,
        ..sample_state("home", mfp_kiosk::i18n::Language::En).unwrap()
    });
    let toast = panel.with_role(
        "Your scan could not be uploaded. It will be retried.",
        AccessibleRole::Text,
    );
    assert_eq!(toast.len(), 1);
}

#[test]
fn scanning_and_uploading_pages() {
    let scanning = sample_state("scanning", mfp_kiosk::i18n::Language::En).unwrap();
    let panel = Panel::new(&scanning);
    assert!(panel.has_text("Scan to my OneDrive: scanning"));
    assert!(panel.has_text("2 pages scanned"));
    assert!(panel.has_text("40 %"));
    let bar = panel.with_role("Progress", AccessibleRole::ProgressIndicator);
    assert_eq!(bar.len(), 1);
    assert_eq!(bar[0].accessible_value().as_deref(), Some("40 %"));
    assert_eq!(
        panel.press("Cancel scan"),
        [UiCommand::Activity, UiCommand::CancelScan]
    );

    panel.apply(&UiState {
        progress: 1.7,
        ..sample_state("uploading", mfp_kiosk::i18n::Language::En).unwrap()
    });
    assert!(panel.has_text("Scan to my OneDrive: sending"));
    assert!(
        !panel.has_button("Cancel scan"),
        "uploads cannot be cancelled"
    );
    let bar = panel.with_role("Progress", AccessibleRole::ProgressIndicator);
    assert_eq!(bar[0].accessible_value().as_deref(), Some("100 %"));

    panel.apply(&UiState {
        progress: f32::NAN,
        ..sample_state("uploading", mfp_kiosk::i18n::Language::En).unwrap()
    });
    let bar = panel.with_role("Progress", AccessibleRole::ProgressIndicator);
    assert_eq!(bar[0].accessible_value().as_deref(), Some("0 %"));
}

#[test]
fn result_page_ok_and_failed() {
    let ok = sample_state("result", mfp_kiosk::i18n::Language::En).unwrap();
    let panel = Panel::new(&ok);
    assert!(panel.has_text("Sent to OneDrive"));
    assert!(!panel
        .with_role("Succeeded", AccessibleRole::Image)
        .is_empty());
    assert_eq!(
        panel.press("Done"),
        [UiCommand::Activity, UiCommand::ResultDone]
    );

    panel.apply(&UiState {
        result_ok: false,
        result_title: "Upload failed".into(),
        result_detail: "OneDrive is not reachable. The scan is kept and will be sent later.".into(),
        ..ok
    });
    assert!(panel.has_text("Upload failed"));
    assert!(!panel.with_role("Failed", AccessibleRole::Image).is_empty());
    assert!(panel
        .with_role("Succeeded", AccessibleRole::Image)
        .is_empty());
}

#[test]
fn countdown_banner_keeps_the_session() {
    let home = sample_state("home", mfp_kiosk::i18n::Language::En).unwrap();
    let panel = Panel::new(&home);
    assert!(!panel.has_button("Stay signed in"));

    panel.apply(&UiState {
        countdown: 7,
        ..home.clone()
    });
    assert!(panel.has_text("Signing out in 7 s — tap to stay"));
    assert_eq!(panel.press("Stay signed in"), [UiCommand::Activity]);
    panel.take();
    panel
        .text("Signing out in 7 s — tap to stay")
        .mock_single_click(PointerEventButton::Left);
    assert_eq!(panel.take(), [UiCommand::Activity]);

    panel.apply(&UiState {
        countdown: 0,
        ..home
    });
    assert!(!panel.has_button("Stay signed in"));
}

#[test]
fn each_page_shows_only_its_own_controls() {
    // Controls that belong to exactly one page (or none, for busy).
    let owned: [(&str, &[&str]); 8] = [
        ("idle", &["Sign in with PIN", "Sign in with Microsoft"]),
        ("pin", &["Digit 5", "Delete", "OK", "Cancel"]),
        ("device-code", &["Cancel sign-in", "Approve (demo only)"]),
        ("busy", &[]),
        ("home", &["Sign out", "Scan to my OneDrive"]),
        ("scanning", &["Cancel scan"]),
        ("uploading", &[]),
        ("result", &["Done"]),
    ];
    let all: Vec<&str> = owned
        .iter()
        .flat_map(|(_, labels)| labels.iter().copied())
        .collect();
    let panel = Panel::new(&UiState::default());
    for (page, mine) in owned {
        panel.apply(&sample_state(page, mfp_kiosk::i18n::Language::En).unwrap());
        for label in &all {
            assert_eq!(
                panel.has_button(label),
                mine.contains(label),
                "button {label:?} on page {page}"
            );
        }
    }
}

#[test]
fn my_scans_page_lists_jobs_and_retries_failed_ones() {
    let scan = |id: &str, failed: bool| mfp_kiosk::ui::UiMyScan {
        id: id.into(),
        name: format!("{id}.pdf"),
        destination: "OneDrive · Scans".into(),
        state: if failed {
            "Failed: the folder no longer exists".into()
        } else {
            "Waiting for the network, will be sent automatically".into()
        },
        when: "Tue 10:00".into(),
        failed,
        sent: false,
    };
    let mut s = state(UiPage::Home);
    assert_eq!(
        Panel::new(&s).press("My scans"),
        [UiCommand::Activity, UiCommand::OpenMyScans]
    );

    s.page = UiPage::MyScans;
    s.my_scans_loading = true;
    let panel = Panel::new(&s);
    assert!(panel.has_text("Loading your scans…"));
    s.my_scans_loading = false;
    s.my_scans = vec![scan("queued", false), scan("broken", true)];
    panel.apply(&s);
    assert!(!panel.has_text("Loading your scans…"));
    let row = "queued.pdf: Waiting for the network, will be sent automatically";
    assert_eq!(panel.with_role(row, AccessibleRole::ListItem).len(), 1);
    assert!(
        !panel.has_button("Retry queued.pdf"),
        "only failed jobs can be retried"
    );
    assert_eq!(
        panel.press("Retry broken.pdf"),
        [UiCommand::Activity, UiCommand::RetryScan("broken".into())]
    );
    assert_eq!(
        panel.press("Home"),
        [UiCommand::Activity, UiCommand::CloseMyScans]
    );
    assert_eq!(
        panel.press("Refresh"),
        [UiCommand::Activity, UiCommand::OpenMyScans]
    );
    s.my_scans.clear();
    panel.apply(&s);
    assert!(panel.has_text("You have no scans from the last 7 days."));
}
