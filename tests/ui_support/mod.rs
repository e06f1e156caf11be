//! The panel for the headless UI tests: the real MainWindow on Slint's headless testing
//! backend with all three globals applied and bound (as the panel does), the real controller
//! and services against the simulated cloud, and the ways a test uses the screen: buttons
//! found and pressed by accessible label, keys typed as a keyboard wedge or on the on-screen
//! keyboard, and waiting for the next view the controller sent that matches.
//!
//! One test per process: the testing backend with an event loop is process-wide.

#![allow(dead_code)]

pub mod sheet;

use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::app::services::ScannerFactory;
use mfp_kiosk::app::window_bridge::{self, WindowState};
use mfp_kiosk::app::{self, Input, Running, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{View, ViewPage};
use mfp_kiosk::service_menu::ServicePageView;
use mfp_kiosk::MainWindow;
use slint::platform::WindowEvent;
use slint::ComponentHandle;
use tokio::sync::mpsc;

/// Every element labelled `label` in `role` on screen now.
pub fn find(window: &MainWindow, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(window, label)
        .filter(|e| e.accessible_role() == Some(role))
        .collect()
}

pub fn has_button(window: &MainWindow, label: &str) -> bool {
    !find(window, label, AccessibleRole::Button).is_empty()
}

pub fn has_text(window: &MainWindow, text: &str) -> bool {
    !find(window, text, AccessibleRole::Text).is_empty()
}

/// The one button `label`; two of them would make the test press an unknown one.
fn the_button(window: &MainWindow, label: &str) -> ElementHandle {
    let mut buttons = find(window, label, AccessibleRole::Button);
    assert_eq!(
        buttons.len(),
        1,
        "want exactly one button {label:?} on screen"
    );
    buttons.remove(0)
}

/// The one button `label`, checked to be big enough for a finger (48 px).
pub fn touch_button(window: &MainWindow, label: &str) -> ElementHandle {
    let button = the_button(window, label);
    let size = button.size();
    assert!(
        size.width >= 48.0 && size.height >= 48.0,
        "{label:?} is only {}x{} px",
        size.width,
        size.height
    );
    button
}

pub fn press(window: &MainWindow, label: &str) {
    the_button(window, label).invoke_accessible_default_action();
}

/// Whether the one button `label` shows as chosen.
pub fn checked(window: &MainWindow, label: &str) -> bool {
    the_button(window, label).accessible_checked() == Some(true)
}

/// Keys as a keyboard (or a keyboard-wedge badge reader on the desktop) types them.
pub fn type_keys(window: &MainWindow, keys: &str) {
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

/// Presses the on-screen keyboard's keys, one per character.
pub fn osk(window: &MainWindow, text: &str) {
    for c in text.chars() {
        press(window, &c.to_string());
    }
}

/// The next view (already applied to the window) matching `want`.
pub async fn until(
    rx: &mut mpsc::UnboundedReceiver<View>,
    what: &str,
    want: impl Fn(&View) -> bool,
) -> View {
    eprintln!("ui test: waiting for {what}");
    loop {
        match rx.recv().await {
            Some(v) if want(&v) => return v,
            Some(_) => continue,
            None => panic!("controller stopped before {what}"),
        }
    }
}

/// The service menu's page in `v`, if the menu is open.
pub fn service_page(v: &View) -> Option<ServicePageView> {
    v.service.as_ref().and_then(|s| s.page)
}

/// A hang must fail the test, not the CI run.
pub fn watchdog(secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("ui test: no end after {secs} s");
        std::process::exit(101);
    });
}

/// The demo config with its own state directory and the demo's auto-approval off (the test
/// approves sign-ins itself).
pub fn demo_config(state: &std::path::Path) -> Config {
    let mut config = Config::demo_default();
    config.device.state_dir = state.to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    config
}

pub struct Panel {
    pub window: MainWindow,
    pub running: Running,
    pub runtime: tokio::runtime::Runtime,
    pub rx: Option<mpsc::UnboundedReceiver<View>>,
}

impl Panel {
    /// The simulated tenant's object id of the user whose UPN starts with `upn`.
    pub fn oid(&self, upn: &str) -> String {
        self.running
            .services
            .sim
            .as_ref()
            .expect("the demo's simulated tenant")
            .users()
            .into_iter()
            .find(|u| u.upn.starts_with(upn))
            .unwrap_or_else(|| panic!("no simulated user {upn}"))
            .oid
    }

    /// Ends the controller and the event loop (from inside it).
    pub fn quitter(&self) -> impl Fn() + 'static {
        let handle = self.running.handle.clone();
        move || {
            handle.send(Input::Quit);
            slint::quit_event_loop().unwrap();
        }
    }
}

/// Starts the panel (window shown, every global bound, the idle page's keyboard-wedge badges
/// on) with the panel's own scanner, and a 120 s watchdog.
pub fn start(config: Config) -> Panel {
    start_with(config, None, 120)
}

/// [`start`] with `scanner` instead of the panel's own (`None`) and a watchdog of `secs`.
pub fn start_with(config: Config, scanner: Option<ScannerFactory>, secs: u64) -> Panel {
    watchdog(secs);
    let wedge = app::idle_key_badges(&config, true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let window = MainWindow::new().unwrap();
    let (tx, rx) = mpsc::unbounded_channel::<View>();
    let weak = window.as_weak();
    let sink: ViewSink = Box::new(move |view| {
        let state = WindowState::of(view, "Test panel", true);
        let (weak, tx, view) = (weak.clone(), tx.clone(), view.clone());
        let _ = slint::invoke_from_event_loop(move || {
            if let Some(w) = weak.upgrade() {
                state.apply(&w);
            }
            let _ = tx.send(view);
        });
    });
    let running = runtime
        .block_on(app::start_with_scanner(config, true, sink, scanner))
        .unwrap();
    window_bridge::bind(&window, &running.handle, wedge);
    window.show().unwrap();
    Panel {
        window,
        running,
        runtime,
        rx: Some(rx),
    }
}

/// Signs Adele in the way a walk-up user does: an unknown badge, then the Microsoft sign-in
/// that links it (approved with the demo button). Returns her home view.
pub async fn sign_in_adele(window: &MainWindow, rx: &mut mpsc::UnboundedReceiver<View>) -> View {
    until(rx, "idle", |v| v.page == ViewPage::Idle).await;
    type_keys(window, "4417321\n");
    until(rx, "card linking", |v| !v.user_code.is_empty()).await;
    press(window, "Approve (demo only)");
    let home = until(rx, "home", |v| v.page == ViewPage::Home).await;
    assert_eq!(home.display_name, "Adele Vance");
    home
}
