//! The panel as a walk-up user meets it: the real MainWindow on Slint's headless testing backend,
//! wired to the real controller, which talks over HTTP to the simulated Entra. Buttons are
//! pressed by their accessible labels; pages are checked by what is on screen.
//!
//! One test per process: the testing backend with an event loop is process-wide.

mod ui_support;

use i_slint_backend_testing::AccessibleRole;
use mfp_kiosk::kiosk::ViewPage;
use slint::ComponentHandle;
use ui_support::*;

#[test]
fn walk_up_user_navigates_the_panel() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    let state = tempfile::tempdir().unwrap();
    let mut panel = start(demo_config(state.path()));
    let mut rx = panel.rx.take().unwrap();
    let quit = panel.quitter();
    let w = panel.window.as_weak();
    slint::spawn_local(async move {
        let window = w.upgrade().unwrap();
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;
        assert!(!find(&window, "Tap your badge", AccessibleRole::Text).is_empty());

        // idle -> PIN pad -> back
        press(&window, "Sign in with PIN");
        until(&mut rx, "the PIN pad", |v| v.page == ViewPage::Pin).await;
        assert!(has_button(&window, "Digit 7"));
        assert!(
            !has_button(&window, "Sign in with Microsoft"),
            "idle controls are gone"
        );
        press(&window, "Digit 7");
        until(&mut rx, "one digit", |v| v.pin_length == 1).await;
        press(&window, "Cancel");
        until(&mut rx, "idle again", |v| v.page == ViewPage::Idle).await;
        assert!(has_button(&window, "Sign in with Microsoft"));
        assert!(!has_button(&window, "Digit 7"));

        // Sign in with Microsoft: the code on screen is the one the (simulated) server issued.
        press(&window, "Sign in with Microsoft");
        let code = until(&mut rx, "a device code", |v| !v.user_code.is_empty()).await;
        assert_eq!(code.page, ViewPage::DeviceCode);
        assert!(
            !find(&window, &code.user_code, AccessibleRole::Text).is_empty(),
            "user code {} is shown",
            code.user_code
        );
        assert!(has_button(&window, "Approve (demo only)"));
        press(&window, "Cancel sign-in");
        until(&mut rx, "idle after cancel", |v| v.page == ViewPage::Idle).await;

        // A badge typed by the keyboard-wedge path: unknown, so the panel offers to link it.
        type_keys(&window, "4417321\n");
        let link = until(&mut rx, "card linking", |v| !v.user_code.is_empty()).await;
        assert!(link.code_purpose.contains("link"), "{}", link.code_purpose);
        press(&window, "Approve (demo only)");
        let home = until(&mut rx, "home", |v| v.page == ViewPage::Home).await;
        assert_eq!(home.display_name, "Adele Vance");
        assert!(has_button(&window, "Sign out"));
        assert!(
            home.workflows.iter().all(|w| has_button(&window, &w.label)),
            "a tile per workflow"
        );
        press(&window, "Sign out");
        until(&mut rx, "idle after sign-out", |v| v.page == ViewPage::Idle).await;

        quit();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
    let sim = panel.running.services.sim.as_ref().unwrap();
    assert_eq!(sim.stats().device_code_requests, 2);
}
