//! The panel for the scan-settings-sheet UI tests: the real MainWindow on Slint's headless
//! testing backend (all three globals applied, as the panel does), the real controller and
//! services against the simulated cloud, with the test's own scanner. Buttons are pressed by
//! their accessible labels.

#![allow(dead_code)]

use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use mfp_kiosk::app::services::ScannerFactory;
use mfp_kiosk::app::{self, service_bridge, sheet_bridge, ui_bridge, Input, Running, ViewSink};
use mfp_kiosk::config::{Config, WorkflowConfig};
use mfp_kiosk::kiosk::{View, ViewPage};
use mfp_kiosk::MainWindow;
use slint::platform::WindowEvent;
use slint::ComponentHandle;
use tokio::sync::mpsc;

pub fn find(window: &MainWindow, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(window, label)
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
        .collect()
}

pub fn press(window: &MainWindow, label: &str) {
    let buttons = find(window, label);
    assert_eq!(
        buttons.len(),
        1,
        "want exactly one button {label:?} on screen"
    );
    buttons[0].invoke_accessible_default_action();
}

/// Whether the one button `label` shows as chosen.
pub fn checked(window: &MainWindow, label: &str) -> bool {
    let buttons = find(window, label);
    assert_eq!(
        buttons.len(),
        1,
        "want exactly one button {label:?} on screen"
    );
    buttons[0].accessible_checked() == Some(true)
}

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

/// The next view (already applied to the window) matching `want`.
pub async fn until(
    rx: &mut mpsc::UnboundedReceiver<View>,
    what: &str,
    want: impl Fn(&View) -> bool,
) -> View {
    eprintln!("sheet test: waiting for {what}");
    loop {
        match rx.recv().await {
            Some(v) if want(&v) => return v,
            Some(_) => continue,
            None => panic!("controller stopped before {what}"),
        }
    }
}

/// The open sheet, loaded.
pub fn sheet_open(v: &View) -> bool {
    v.page == ViewPage::ScanSheet && v.sheet.as_ref().is_some_and(|s| !s.loading)
}

/// A workflow like the demo's first one, changed by `f`.
pub fn workflow(config: &Config, f: impl FnOnce(&mut WorkflowConfig)) -> WorkflowConfig {
    let mut w = config.workflows[0].clone();
    f(&mut w);
    w
}

/// The demo config with its own state directory, no directory sync (the test stages the
/// profile itself), and `workflows` added.
pub fn config(state: &std::path::Path, workflows: Vec<WorkflowConfig>) -> Config {
    let mut config = Config::demo_default();
    config.device.state_dir = state.to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    config.directory.enabled = false;
    config.directory.extra_attributes = vec!["extension_demo_folders".into()];
    config.workflows.extend(workflows);
    config.validate().expect("the test's workflows are valid");
    config
}

pub struct Panel {
    pub window: MainWindow,
    pub running: Running,
    pub runtime: tokio::runtime::Runtime,
    pub rx: Option<mpsc::UnboundedReceiver<View>>,
}

/// Starts the panel (window shown, every global bound) with `scanner`.
pub fn start(config: Config, scanner: ScannerFactory) -> Panel {
    // A hang must fail the test, not the CI run.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("sheet test: no end after 120 s");
        std::process::exit(101);
    });
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
        let ui = ui_bridge::ui_state(view, "Test panel", true);
        let service = view
            .service
            .as_ref()
            .map(|s| service_bridge::service_ui_state(s, view.language));
        let sheet = view.sheet.as_ref().map(sheet_bridge::sheet_ui_state);
        let (weak, tx, view) = (weak.clone(), tx.clone(), view.clone());
        let _ = slint::invoke_from_event_loop(move || {
            if let Some(w) = weak.upgrade() {
                if let Some(s) = &service {
                    mfp_kiosk::ui::service::apply(&w, s);
                }
                if let Some(s) = &sheet {
                    mfp_kiosk::ui::scan_sheet::apply(&w, s);
                }
                mfp_kiosk::ui::apply(&w, &ui);
            }
            let _ = tx.send(view);
        });
    });
    let running = runtime
        .block_on(app::start_with_scanner(config, true, sink, Some(scanner)))
        .unwrap();
    mfp_kiosk::ui::bind(
        &window,
        ui_bridge::command_sink(running.handle.clone(), wedge),
    );
    mfp_kiosk::ui::scan_sheet::bind(&window, sheet_bridge::sheet_sink(running.handle.clone()));
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

/// Adele's object id in the simulated tenant.
pub fn adele_oid(running: &Running) -> String {
    running
        .services
        .sim
        .as_ref()
        .unwrap()
        .users()
        .into_iter()
        .find(|u| u.upn.starts_with("adele"))
        .unwrap()
        .oid
}

pub fn quit(running: &Running) {
    running.handle.send(Input::Quit);
    slint::quit_event_loop().unwrap();
}
