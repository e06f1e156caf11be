//! Languages as a walk-up user meets them: the real MainWindow on Slint's headless testing
//! backend, wired to the real controller and the simulated Entra. The idle page's language
//! list is used by its accessible labels (each language by its own name); the German and
//! Japanese texts on screen come from the bundled translations; the choice holds through a
//! sign-in and ends with the session.
//!
//! One test per process: the testing backend with an event loop is process-wide.

mod ui_support;

use i_slint_backend_testing::AccessibleRole;
use mfp_kiosk::i18n::Language;
use mfp_kiosk::kiosk::ViewPage;
use slint::ComponentHandle;
use ui_support::*;

#[test]
fn the_idle_page_switches_to_german_and_back_and_a_session_ends_in_the_default() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    let state = tempfile::tempdir().unwrap();
    let mut panel = start(demo_config(state.path()));
    let mut rx = panel.rx.take().unwrap();
    let quit = panel.quitter();
    let w = panel.window.as_weak();
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

        quit();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
}
