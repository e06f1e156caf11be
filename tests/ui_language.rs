//! Languages as a walk-up user meets them: the real MainWindow on Slint's headless testing
//! backend, wired to the real controller and the simulated Entra. The idle page's language
//! list is used by its accessible labels (each language by its own name); the German and
//! Japanese texts on screen come from the bundled translations; the choice holds through a
//! sign-in and ends with the session.
//!
//! One test per process: the testing backend with an event loop is process-wide.

use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::app::{self, ui_bridge, Input, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::i18n::Language;
use mfp_kiosk::kiosk::{View, ViewPage};
use mfp_kiosk::MainWindow;
use slint::ComponentHandle;
use tokio::sync::mpsc;

fn find(window: &MainWindow, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(window, label)
        .filter(|e| e.accessible_role() == Some(role))
        .collect()
}

fn has_text(window: &MainWindow, text: &str) -> bool {
    !find(window, text, AccessibleRole::Text).is_empty()
}

fn press(window: &MainWindow, label: &str) {
    let buttons = find(window, label, AccessibleRole::Button);
    assert_eq!(
        buttons.len(),
        1,
        "want exactly one button {label:?} on screen"
    );
    buttons[0].invoke_accessible_default_action();
}

async fn until(
    rx: &mut mpsc::UnboundedReceiver<View>,
    what: &str,
    want: impl Fn(&View) -> bool,
) -> View {
    eprintln!("ui_language: waiting for {what}");
    loop {
        match rx.recv().await {
            Some(v) if want(&v) => return v,
            Some(_) => continue,
            None => panic!("controller stopped before {what}"),
        }
    }
}

#[test]
fn the_idle_page_switches_to_german_and_back_and_a_session_ends_in_the_default() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    let _watchdog = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("ui_language: no progress for 120 s");
        std::process::exit(101);
    });

    let state = tempfile::tempdir().unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = state.path().to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let window = MainWindow::new().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<View>();
    let weak = window.as_weak();
    let sink: ViewSink = Box::new(move |view| {
        let ui = ui_bridge::ui_state(view, "Test panel", true);
        let (weak, tx, view) = (weak.clone(), tx.clone(), view.clone());
        let _ = slint::invoke_from_event_loop(move || {
            if let Some(w) = weak.upgrade() {
                mfp_kiosk::ui::apply(&w, &ui);
            }
            let _ = tx.send(view);
        });
    });
    let running = runtime.block_on(app::start(config, true, sink)).unwrap();
    mfp_kiosk::ui::bind(
        &window,
        ui_bridge::command_sink(running.handle.clone(), None),
    );
    window.show().unwrap();

    let handle = running.handle.clone();
    let w = window.as_weak();
    slint::spawn_local(async move {
        let window = w.upgrade().unwrap();
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;
        assert!(has_text(&window, "Tap your badge"));

        // The list names every language in itself, whatever the panel speaks now.
        press(&window, "Language");
        for name in [
            "English",
            "Deutsch",
            "Français",
            "Español",
            "Nederlands",
            "日本語",
        ] {
            assert_eq!(
                find(&window, name, AccessibleRole::Button).len(),
                1,
                "{name} in the list"
            );
        }
        press(&window, "Deutsch");
        until(&mut rx, "German", |v| v.language == Language::De).await;
        assert!(has_text(&window, "Ausweis auflegen"), "the title is German");
        assert!(!has_text(&window, "Tap your badge"));
        assert!(
            find(&window, "Mit PIN anmelden", AccessibleRole::Button).len() == 1,
            "the buttons are German, and so are their accessible labels"
        );
        assert!(
            find(&window, "Deutsch", AccessibleRole::Button).is_empty(),
            "the list closed"
        );

        // Back by the list's own names: the language button is now "Sprache".
        press(&window, "Sprache");
        press(&window, "English");
        until(&mut rx, "English", |v| v.language == Language::En).await;
        assert!(has_text(&window, "Tap your badge"));
        assert!(!has_text(&window, "Ausweis auflegen"));

        // A walk-up who picks Japanese keeps it through the sign-in (the demo user has no
        // preferredLanguage) and Rust-made texts follow; sign-out returns to the default.
        press(&window, "Language");
        press(&window, "日本語");
        until(&mut rx, "Japanese", |v| v.language == Language::Ja).await;
        assert!(has_text(&window, "社員証をタッチ"));
        press(&window, "Microsoft でサインイン");
        until(&mut rx, "a device code", |v| !v.user_code.is_empty()).await;
        assert_eq!(
            find(&window, "サインインを中止", AccessibleRole::Button).len(),
            1,
            "device-code page in Japanese"
        );
        press(&window, "承認（デモのみ）");
        let home = until(&mut rx, "home", |v| v.page == ViewPage::Home).await;
        assert_eq!(home.language, Language::Ja);
        assert!(
            has_text(&window, &format!("ようこそ、{} さん", home.display_name)),
            "the welcome toast, made in Rust, is Japanese"
        );
        press(&window, "サインアウト");
        let idle = until(&mut rx, "idle after sign-out", |v| v.page == ViewPage::Idle).await;
        assert_eq!(idle.language, Language::En, "back to the panel default");
        assert!(has_text(&window, "Tap your badge"));
        assert!(has_text(&window, "Signed out. See you soon."));

        handle.send(Input::Quit);
        slint::quit_event_loop().unwrap();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
}
