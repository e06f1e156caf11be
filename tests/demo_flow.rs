//! The whole demo path without a display, through the real HTTP clients against the simulated
//! Entra and Graph on loopback: unknown badge -> device-code sign-in -> user provisioned and
//! card bound -> home -> "Scan to OneDrive" -> the PDF lands in the user's drive folder.
//! Then sign out and tap again: the second sign-in is silent (refresh grant, no device code).

use std::path::{Path, PathBuf};

use mfp_kiosk::app::Input;
use mfp_kiosk::kiosk::{Event, ViewPage};
use secrecy::SecretString;

mod common;
use common::wait_for;

const BADGE: &str = "0004417321";

fn pdfs_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(pdfs_under(&path));
        } else if path.extension().is_some_and(|e| e == "pdf") {
            found.push(path);
        }
    }
    found
}

#[test]
fn demo_flow_end_to_end() {
    let state = tempfile::tempdir().unwrap();
    let mut config = common::demo_config(state.path());
    config.demo.scanner_pages = 3;
    let drive_dir = config.demo_drive_dir();

    let runtime = common::runtime();
    let (running, rx) = common::start(&runtime, config, true);
    let handle = running.handle.clone();
    wait_for(&rx, "the idle page", |v| v.page == ViewPage::Idle);

    // An unknown badge leads to a device-code sign-in that will link it.
    handle.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    let code = wait_for(&rx, "a device code", |v| {
        v.page == ViewPage::DeviceCode && !v.user_code.is_empty()
    });
    assert!(code.code_purpose.contains("link"), "{}", code.code_purpose);
    assert!(
        code.verification_uri.starts_with("http"),
        "{}",
        code.verification_uri
    );
    assert!(code.code_seconds_left > 0);

    // The demo-only control approves the pending code in the simulated Entra.
    handle.send(Input::DemoApprove);
    let home = wait_for(&rx, "the home page", |v| v.page == ViewPage::Home);
    assert_eq!(home.display_name, "Adele Vance");
    assert!(home.message.starts_with("Card linked"), "{}", home.message);
    let onedrive = home
        .workflows
        .iter()
        .find(|w| w.label == "Scan to OneDrive")
        .expect("the OneDrive workflow is offered")
        .id
        .clone();

    handle.event(Event::RunWorkflow { id: onedrive });
    wait_for(&rx, "the scanning page", |v| v.page == ViewPage::Scanning);
    let result = wait_for(&rx, "the result page", |v| v.page == ViewPage::Result);
    assert!(
        result.result_ok,
        "{} / {}",
        result.result_title, result.result_detail
    );
    assert_eq!(result.result_title, "Sent to OneDrive");

    // The PDF is in Adele's drive folder, nobody else's, and it is a real 3-page PDF.
    let adele = drive_dir.join("adele@contoso.example");
    let pdfs = pdfs_under(&adele);
    assert_eq!(
        pdfs.len(),
        1,
        "exactly one upload in {}: {pdfs:?}",
        adele.display()
    );
    assert_eq!(
        pdfs_under(&drive_dir).len(),
        1,
        "no upload outside the user's folder"
    );
    let doc = lopdf::Document::load(&pdfs[0]).expect("a valid PDF");
    assert_eq!(doc.get_pages().len(), 3);

    // The spool is emptied once the drive has the file.
    let spool = state.path().join("spool");
    assert!(
        pdfs_under(&spool).is_empty(),
        "spool still holds {:?}",
        pdfs_under(&spool)
    );

    // The identity cache holds the provisioned user and the bound card, hashed.
    let store = &running.services.store;
    let user = store
        .user_by_upn("adele@contoso.example")
        .unwrap()
        .expect("provisioned");
    assert_eq!(user.display_name, "Adele Vance");
    let cards = store.cards_for_user(&user.oid).unwrap();
    assert_eq!(cards.len(), 1);
    assert!(
        cards[0].masked.ends_with(&BADGE[BADGE.len() - 4..]),
        "{}",
        cards[0].masked
    );
    let jobs = store.list_jobs(10).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, mfp_kiosk::store::JobState::Done);

    // Sign out, tap again: a silent sign-in through the cached refresh token.
    handle.event(Event::SignOut);
    wait_for(&rx, "the idle page after sign-out", |v| {
        v.page == ViewPage::Idle
    });
    handle.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    let home = wait_for(&rx, "home again", |v| v.page == ViewPage::Home);
    assert_eq!(home.display_name, "Adele Vance");
    let stats = running.services.sim.as_ref().unwrap().stats();
    assert_eq!(
        stats.device_code_requests, 1,
        "no second device-code sign-in"
    );
    assert!(stats.refresh_grants >= 1, "SSO used the refresh token");

    handle.send(Input::Quit);
    runtime.block_on(running.controller).unwrap();

    // Nothing secret in the SQLite file: not the badge number.
    let mut raw = Vec::new();
    for name in ["kiosk.sqlite3", "kiosk.sqlite3-wal"] {
        if let Ok(bytes) = std::fs::read(state.path().join(name)) {
            raw.extend(bytes);
        }
    }
    assert!(
        !raw.windows(BADGE.len()).any(|w| w == BADGE.as_bytes()),
        "badge number stored in clear"
    );
}
