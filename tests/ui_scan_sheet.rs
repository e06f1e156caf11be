//! The scan settings sheet as a walk-up user meets it, with the simulated scanner (which
//! records what it was asked for) and the simulated OneDrive: sides and colour changed on the
//! sheet are what the scanner scans with and what the job records; "Another page?" on the glass
//! makes one 3-page PDF; the folder picker offers exactly the user's folders from their
//! directory attribute, the upload lands in the picked one, and a renamed file keeps its name.
//!
//! One test per process: the testing backend with an event loop is process-wide.

mod ui_support;

use std::sync::{Arc, Mutex};

use i_slint_backend_testing::AccessibleRole;
use mfp_kiosk::config::ScanSource as CfgSource;
use mfp_kiosk::kiosk::ViewPage;
use mfp_kiosk::scan::simulated::{ScanRequests, SimulatedScanner};
use mfp_kiosk::scan::{ColorMode, PageSize, ScanOptions, ScanSource};
use mfp_kiosk::store::DirUser;
use slint::ComponentHandle;
use ui_support::sheet::*;
use ui_support::*;

#[test]
fn the_sheet_drives_the_scan_the_pages_and_the_folder() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    let state = tempfile::tempdir().unwrap();
    let base = mfp_kiosk::config::Config::demo_default();
    let workflows = vec![
        workflow(&base, |w| {
            w.id = "sheet-feeder".into();
            w.label = "Sheet feeder".into();
            w.source = CfgSource::Adf;
            w.resolution_dpi = 150;
            w.folder = "Feeder".into();
        }),
        workflow(&base, |w| {
            w.id = "sheet-glass".into();
            w.label = "Sheet glass".into();
            w.source = CfgSource::Flatbed;
            w.resolution_dpi = 100;
            w.resolutions = vec![100, 150];
            w.folder = "Glass".into();
            w.file_name = "Glass {seq}.pdf".into();
        }),
        workflow(&base, |w| {
            w.id = "sheet-folders".into();
            w.label = "Sheet folders".into();
            w.source = CfgSource::Adf;
            w.resolution_dpi = 150;
            w.folder = "Teams/{folder}".into();
            w.folder_attribute = Some("extension_demo_folders".into());
            w.file_name = "Team {seq}.pdf".into();
            w.allow_rename = true;
        }),
    ];
    let config = config(state.path(), workflows);
    let drive = config.demo_drive_dir();
    let requests: ScanRequests = Arc::new(Mutex::new(Vec::new()));
    let r = requests.clone();
    let mut panel = start_with(
        config,
        Some(Box::new(move || {
            Box::new(SimulatedScanner::new(1).recording(r.clone()))
        })),
        120,
    );
    let mut rx = panel.rx.take().unwrap();
    let services = panel.running.services.clone();
    let oid = panel.oid("adele");
    let running_quit = panel.quitter();
    let window = panel.window.as_weak();
    slint::spawn_local(async move {
        let window = window.upgrade().unwrap();
        sign_in_adele(&window, &mut rx).await;

        // --- sides and colour on the feeder ----------------------------------------------
        press(&window, "Sheet feeder");
        let v = until(&mut rx, "the feeder sheet", sheet_open).await;
        let sheet = v.sheet.unwrap();
        assert!(sheet.duplex_offered && !sheet.two_sided, "{sheet:?}");
        assert!(checked(&window, "1-sided") && checked(&window, "Colour"));
        assert!(checked(&window, "150 dpi"));
        press(&window, "2-sided");
        until(&mut rx, "two-sided", |v| {
            v.sheet.as_ref().is_some_and(|s| s.two_sided)
        })
        .await;
        press(&window, "Grey");
        until(&mut rx, "grey", |v| {
            v.sheet
                .as_ref()
                .is_some_and(|s| s.color == Some(ColorMode::Gray))
        })
        .await;
        assert!(checked(&window, "2-sided") && checked(&window, "Grey"));
        press(&window, "Start");
        let result = until(&mut rx, "the feeder result", |v| v.page == ViewPage::Result).await;
        assert!(
            result.result_ok,
            "{} / {}",
            result.result_title, result.result_detail
        );
        assert_eq!(
            requests.lock().unwrap().last().copied(),
            Some(ScanOptions {
                dpi: 150,
                color: ColorMode::Gray,
                source: ScanSource::AdfDuplex,
                page_size: PageSize::A4,
            }),
            "the scanner was asked for what the sheet showed"
        );
        let job = services.store.list_jobs(1).unwrap().remove(0);
        assert_eq!(job.pages, 2, "one sheet, both sides");
        let recorded = services.store.job_settings(job.id).unwrap().unwrap();
        assert_eq!(recorded["sides"], "two");
        assert_eq!(recorded["color"], "gray");
        assert_eq!(recorded["dpi"], 150);
        press(&window, "Done");
        until(&mut rx, "home", |v| v.page == ViewPage::Home).await;

        // --- three pages from the glass --------------------------------------------------
        press(&window, "Sheet glass");
        let v = until(&mut rx, "the glass sheet", sheet_open).await;
        let sheet = v.sheet.unwrap();
        assert!(!sheet.duplex_offered, "no sides on the glass");
        assert!(sheet.more_pages);
        assert_eq!(sheet.resolutions, vec![100, 150]);
        assert!(!has_button(&window, "2-sided"));
        press(&window, "Start");
        for pages in 1..=3u32 {
            let v = until(&mut rx, "Another page?", |v| {
                v.page == ViewPage::AnotherPage
            })
            .await;
            assert_eq!(v.sheet.unwrap().pages, pages);
            if pages < 3 {
                press(&window, "Scan next page");
                until(&mut rx, "scanning again", |v| v.page == ViewPage::Scanning).await;
            }
        }
        press(&window, "Done, send it");
        let result = until(&mut rx, "the glass result", |v| v.page == ViewPage::Result).await;
        assert!(
            result.result_ok,
            "{} / {}",
            result.result_title, result.result_detail
        );
        let glass_requests = requests.lock().unwrap().len();
        assert_eq!(glass_requests, 1 + 3, "one scan of the glass per page");
        let job = services.store.list_jobs(1).unwrap().remove(0);
        let pdf = drive
            .join("adele@contoso.example")
            .join("Glass")
            .join(&job.file_name);
        let doc = lopdf::Document::load(&pdf).expect("the uploaded PDF");
        assert_eq!(doc.get_pages().len(), 3, "{}", pdf.display());
        press(&window, "Done");
        until(&mut rx, "home", |v| v.page == ViewPage::Home).await;

        // --- the user's own folders ------------------------------------------------------
        let adele = services.store.user_by_oid(&oid).unwrap().unwrap();
        let attrs = serde_json::json!({"extension_demo_folders": "Finance, Projects/Alpha"});
        services
            .store
            .dir_stage_users(
                &[DirUser {
                    oid: oid.clone(),
                    upn: adele.upn.clone(),
                    display_name: adele.display_name.clone(),
                    mail: None,
                    mail_nickname: None,
                    enabled: true,
                    attrs: attrs.as_object().unwrap().clone(),
                    cards: Vec::new(),
                    card_error: None,
                    memberships: None,
                }],
                &[],
                1,
                None,
                chrono::Utc::now(),
            )
            .unwrap();
        press(&window, "Sheet folders");
        let v = until(&mut rx, "the folder sheet", sheet_open).await;
        let sheet = v.sheet.unwrap();
        assert_eq!(sheet.folders, vec!["Finance", "Projects/Alpha"]);
        assert!(!sheet.can_start, "a folder must be picked first");
        assert_eq!(find(&window, "Finance", AccessibleRole::Button).len(), 1);
        assert!(!has_button(&window, "HR"));
        press(&window, "Projects/Alpha");
        until(&mut rx, "a folder picked", |v| {
            v.sheet.as_ref().is_some_and(|s| s.can_start)
        })
        .await;

        // Rename on the on-screen keyboard: "Team 0003" -> "Team x".
        press(&window, "Rename");
        until(&mut rx, "the keyboard", |v| {
            v.sheet.as_ref().is_some_and(|s| s.editing.is_some())
        })
        .await;
        for _ in 0..4 {
            press(&window, "Backspace");
        }
        press(&window, "x");
        until(&mut rx, "the typed name", |v| {
            v.sheet.as_ref().and_then(|s| s.editing.as_deref()) == Some("Team x")
        })
        .await;
        press(&window, "Done");
        until(&mut rx, "the new name", |v| {
            v.sheet
                .as_ref()
                .is_some_and(|s| s.file_name == "Team x.pdf" && s.editing.is_none())
        })
        .await;
        press(&window, "Start");
        let result = until(&mut rx, "the folder result", |v| v.page == ViewPage::Result).await;
        assert!(
            result.result_ok,
            "{} / {}",
            result.result_title, result.result_detail
        );
        let uploaded = drive
            .join("adele@contoso.example")
            .join("Teams")
            .join("Projects")
            .join("Alpha")
            .join("Team x.pdf");
        assert!(
            uploaded.is_file(),
            "{} / {}",
            uploaded.display(),
            result.result_detail
        );
        press(&window, "Done");
        until(&mut rx, "home", |v| v.page == ViewPage::Home).await;

        running_quit();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
}
