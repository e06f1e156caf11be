//! Both demo workflows end to end through the panel's controller, the real HTTP clients and the
//! simulated Entra + Graph: "Scan to OneDrive" lands in the user's drive, "Invoices to Finance"
//! in the Finance site's Documents library (site by path, library by name, ids cached).
#![cfg(feature = "demo")]

mod common;
mod outbox_support;

use std::sync::mpsc;
use std::time::Duration;

use common::wait_for;
use mfp_kiosk::app::{self, Input};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{Event, View, ViewPage};
use mfp_kiosk::store::JobState;
use secrecy::SecretString;

/// The demo panel started on `config`, Adele's badge tapped and its device-code sign-in
/// approved; the home page is the next view to wait for.
fn signed_in(config: Config) -> (tokio::runtime::Runtime, app::Running, mpsc::Receiver<View>) {
    let runtime = common::runtime();
    let (running, rx) = common::start(&runtime, config, true);
    wait_for(&rx, "the idle page", |v| v.page == ViewPage::Idle);
    running.handle.event(Event::CardRead {
        card: SecretString::from("0004417399"),
    });
    wait_for(&rx, "a device code", |v| {
        v.page == ViewPage::DeviceCode && !v.user_code.is_empty()
    });
    running.handle.send(Input::DemoApprove);
    (runtime, running, rx)
}

fn run(handle: &app::ControllerHandle, rx: &mpsc::Receiver<View>, label: &str) -> View {
    let home = wait_for(rx, "the home page", |v| v.page == ViewPage::Home);
    let id = home
        .workflows
        .iter()
        .find(|w| w.label == label)
        .unwrap_or_else(|| panic!("workflow {label} offered"))
        .id
        .clone();
    handle.event(Event::RunWorkflow { id });
    wait_for(rx, "the result page", |v| v.page == ViewPage::Result)
}

#[test]
fn onedrive_and_sharepoint_workflows_deliver() {
    let state = tempfile::tempdir().unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = state.path().to_path_buf();
    config.demo.scanner_pages = 2;
    let drive_dir = config.demo_drive_dir();
    let (runtime, running, rx) = signed_in(config);
    let handle = running.handle.clone();

    let result = run(&handle, &rx, "Invoices to Finance");
    assert!(
        result.result_ok,
        "{} / {}",
        result.result_title, result.result_detail
    );
    assert_eq!(result.result_title, "Sent to SharePoint");
    handle.event(Event::ResultDone);
    let result = run(&handle, &rx, "Invoices to Finance");
    assert!(result.result_ok, "{}", result.result_detail);
    handle.event(Event::ResultDone);
    let result = run(&handle, &rx, "Scan to OneDrive");
    assert_eq!(result.result_title, "Sent to OneDrive");

    let library = drive_dir.join("sites").join("Finance").join("Documents");
    let invoices = outbox_support::files_under(&library.join("Invoices"));
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    for pdf in &invoices {
        let name = pdf.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with("msp-adele "), "{name}");
        let doc = lopdf::Document::load(pdf).expect("a valid PDF");
        // Two duplex sheets.
        assert_eq!(doc.get_pages().len(), 4);
    }
    assert_eq!(
        outbox_support::files_under(&drive_dir.join("adele@contoso.example")).len(),
        1
    );

    let sim = running.services.sim.as_ref().unwrap();
    assert_eq!(sim.stats().uploads, 3);
    // The site and library were looked up once; the second invoice used the cached drive id.
    assert_eq!(
        app::jobs::outbox_for(&running.services).site_cache().len(),
        1
    );
    let jobs = running.services.store.list_jobs(10).unwrap();
    assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:?}");
    handle.send(Input::Quit);
    runtime.block_on(running.controller).unwrap();
}

/// The walk-up user is not made to wait for a network that is down: the result page says the
/// scan is queued, My scans shows it waiting, and once the network is back the outbox sends it
/// and My scans says "Sent" (issue 12 §3).
#[test]
fn a_scan_while_the_network_is_down_is_queued_and_sent_when_it_returns() {
    let state = tempfile::tempdir().unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = state.path().to_path_buf();
    config.demo.scanner_pages = 1;
    // The outbox's first retry comes 30 s after the failed attempt: keep the user signed in.
    config.session.inactivity_timeout_secs = 600;
    let (runtime, running, rx) = signed_in(config);
    let handle = running.handle.clone();
    wait_for(&rx, "the home page", |v| v.page == ViewPage::Home);

    let sim = running.services.sim.as_ref().unwrap();
    sim.set_network_down(true);
    let result = run(&handle, &rx, "Scan to OneDrive");
    assert_eq!(
        result.result_title, "Queued: it will be sent when the network is back",
        "{}",
        result.result_detail
    );
    handle.event(Event::ResultDone);
    wait_for(&rx, "the home page", |v| v.page == ViewPage::Home);
    handle.event(Event::OpenMyScans);
    let listed = wait_for(&rx, "My scans", |v| {
        v.page == ViewPage::MyScans && v.my_scans.is_some()
    });
    let jobs = listed.my_scans.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(!jobs[0].sent, "{jobs:?}");
    assert_eq!(sim.stats().uploads, 0);

    sim.set_network_down(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        // Out and back in: an unchanged list on screen sends no new view.
        handle.event(Event::CloseMyScans);
        wait_for(&rx, "the home page", |v| v.page == ViewPage::Home);
        handle.event(Event::OpenMyScans);
        let v = wait_for(&rx, "My scans", |v| {
            v.page == ViewPage::MyScans && v.my_scans.is_some()
        });
        let jobs = v.my_scans.unwrap();
        if jobs.iter().any(|j| j.sent) {
            assert_eq!(jobs[0].state, "Sent", "{jobs:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not sent after the network came back: {jobs:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(sim.stats().uploads, 1, "sent exactly once");
    handle.send(Input::Quit);
    runtime.block_on(running.controller).unwrap();
}
