//! The panel as a walk-up user meets it: the real MainWindow on Slint's headless testing backend,
//! wired to the real controller, which talks over HTTP to the simulated Entra. Buttons are
//! pressed by their accessible labels; pages are checked by what is on screen.
//!
//! One test per process: the testing backend with an event loop is process-wide.

use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::app::{self, ui_bridge, Input, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{View, ViewPage};
use mfp_kiosk::MainWindow;
use slint::platform::WindowEvent;
use slint::ComponentHandle;
use tokio::sync::mpsc;

fn find(window: &MainWindow, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(window, label)
        .filter(|e| e.accessible_role() == Some(role))
        .collect()
}

fn has_button(window: &MainWindow, label: &str) -> bool {
    !find(window, label, AccessibleRole::Button).is_empty()
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

fn type_keys(window: &MainWindow, keys: &str) {
    for c in keys.chars() {
        let text: slint::SharedString = c.to_string().into();
        window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
        window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text });
    }
}

/// The next view (already applied to the window) matching `want`.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<View>,
    what: &str,
    want: impl Fn(&View) -> bool,
) -> View {
    eprintln!("ui_flow: waiting for {what}");
    loop {
        match rx.recv().await {
            Some(v) if want(&v) => return v,
            Some(_) => continue,
            None => panic!("controller stopped before {what}"),
        }
    }
}

#[test]
fn walk_up_user_navigates_the_panel() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    // A hang must fail the test, not the CI run.
    let _watchdog = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("ui_flow: no progress for 120 s");
        std::process::exit(101);
    });

    let state = tempfile::tempdir().unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = state.path().to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    let wedge = app::idle_key_badges(&config, true);
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
        ui_bridge::command_sink(running.handle.clone(), wedge),
    );
    window.show().unwrap();

    let handle = running.handle.clone();
    let w = window.as_weak();
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

        handle.send(Input::Quit);
        slint::quit_event_loop().unwrap();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
    let sim = running.services.sim.as_ref().unwrap();
    assert_eq!(sim.stats().device_code_requests, 2);
}
