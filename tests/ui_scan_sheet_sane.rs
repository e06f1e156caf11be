//! The scan settings sheet on a real SANE device: SANE's `test` backend (Debian `libsane1`),
//! which has a flatbed and a simplex feeder, grey and colour (and 1-bit grey for black and
//! white), and a 200 x 200 mm glass. The sheet offers only that (no sides: the device has no
//! duplex; no standard page size fits the glass), the choices made on it are what the backend
//! was set to (read back from SANE after configuring) and what the job records.
//!
//! One test per process: the testing backend with an event loop is process-wide.

mod ui_support;

use std::sync::{Arc, Mutex};

use mfp_kiosk::config::{ColorMode as CfgColor, ScanSource as CfgSource};
use mfp_kiosk::kiosk::ViewPage;
use mfp_kiosk::scan::sane::{SaneRecord, SaneScanner};
use mfp_kiosk::scan::ColorMode;
use slint::ComponentHandle;
use ui_support::sheet::*;
use ui_support::*;

#[test]
fn the_sheet_offers_what_the_sane_device_has_and_scans_with_the_choice() {
    if std::env::var_os("MFP_TESTS_WITHOUT_SANE").is_some() {
        eprintln!("skipped: MFP_TESTS_WITHOUT_SANE is set (no libsane for this target)");
        return;
    }
    let sane_dir = tempfile::tempdir().unwrap();
    std::fs::write(sane_dir.path().join("dll.conf"), "test\n").unwrap();
    // Read by sane_init, which runs on the first SANE call below.
    std::env::set_var("SANE_CONFIG_DIR", sane_dir.path());

    i_slint_backend_testing::init_integration_test_with_system_time();
    let state = tempfile::tempdir().unwrap();
    let base = mfp_kiosk::config::Config::demo_default();
    let feeder = workflow(&base, |w| {
        w.id = "sane-feeder".into();
        w.label = "SANE feeder".into();
        w.source = CfgSource::Adf;
        w.color_mode = CfgColor::Color;
        w.resolution_dpi = 100;
        w.resolutions = vec![75, 100];
        w.folder = "Sane".into();
    });
    let config = config(state.path(), vec![feeder]);
    let record: SaneRecord = Arc::new(Mutex::new(Vec::new()));
    let r = record.clone();
    let mut panel = start_with(
        config,
        Some(Box::new(move || {
            Box::new(SaneScanner::new(Some("test:0".into())).recording(r.clone()))
        })),
        120,
    );
    let mut rx = panel.rx.take().unwrap();
    let services = panel.running.services.clone();
    let quit = panel.quitter();
    let window = panel.window.as_weak();
    slint::spawn_local(async move {
        let window = window.upgrade().unwrap();
        sign_in_adele(&window, &mut rx).await;

        press(&window, "SANE feeder");
        let v = until(&mut rx, "the sheet", sheet_open).await;
        let sheet = v.sheet.unwrap();
        assert_eq!(sheet.problem, None, "{sheet:?}");
        assert!(!sheet.duplex_offered, "the test backend has no duplex unit");
        assert!(!has_button(&window, "2-sided"));
        assert_eq!(
            sheet.colors,
            vec![ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite],
            "Color and Gray modes, and Gray at 1 bit"
        );
        assert_eq!(sheet.resolutions, vec![75, 100]);
        assert!(
            sheet.page_sizes.is_empty(),
            "no standard size fits a 200 mm glass"
        );
        press(&window, "Black & white");
        press(&window, "75 dpi");
        until(&mut rx, "the choice", |v| {
            v.sheet
                .as_ref()
                .is_some_and(|s| s.color == Some(ColorMode::BlackWhite) && s.dpi == 75)
        })
        .await;
        press(&window, "Start");
        let result = until(&mut rx, "the result", |v| v.page == ViewPage::Result).await;
        assert!(
            result.result_ok,
            "{} / {}",
            result.result_title, result.result_detail
        );

        let applied = record.lock().unwrap().clone();
        assert_eq!(applied.len(), 1, "{applied:?}");
        let a = &applied[0];
        assert_eq!(a.mode.as_deref(), Some("Gray"));
        assert_eq!(a.depth, Some(1.0));
        assert_eq!(a.resolution, Some(75.0));
        assert!(
            a.source
                .as_deref()
                .is_some_and(|s| s.contains("Document Feeder")),
            "{a:?}"
        );
        let job = services.store.list_jobs(1).unwrap().remove(0);
        let recorded = services.store.job_settings(job.id).unwrap().unwrap();
        assert_eq!(recorded["color"], "black_white");
        assert_eq!(recorded["dpi"], 75);
        assert_eq!(recorded["source"], "adf");
        quit();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
}
