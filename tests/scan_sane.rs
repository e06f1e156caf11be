//! The SANE scanner source against SANE's own `test` backend (Debian `libsane1`): options
//! (mode, depth, resolution, source, area), page-by-page delivery, the feeder running empty,
//! cancelling, a PDF from it, and both workflows end to end through the `mfp-kiosk scan` command
//! against the simulated Graph.

mod outbox_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use mfp_kiosk::scan::sane::{devices, SaneScanner};
use mfp_kiosk::scan::{ColorMode, PageSize, ScanError, ScanOptions, ScanSource, Scanner};

/// A SANE config directory that enables only the `test` backend. Set before SANE loads.
/// The board's qemu-user run has no arm64 libsane in its sysroot (SANE is loaded at run time
/// and comes with the board image), so it sets MFP_TESTS_WITHOUT_SANE; the host run never does.
fn skipped_without_sane() -> bool {
    let skip = std::env::var_os("MFP_TESTS_WITHOUT_SANE").is_some();
    if skip {
        eprintln!("skipped: MFP_TESTS_WITHOUT_SANE is set (no libsane for this target)");
    }
    skip
}

fn sane_config() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mfp-kiosk-sane-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dll.conf"), "test\n").unwrap();
        std::env::set_var("SANE_CONFIG_DIR", &dir);
        dir
    })
}

fn opts(color: ColorMode, source: ScanSource) -> ScanOptions {
    ScanOptions {
        dpi: 75,
        color,
        source,
        page_size: PageSize::A5,
    }
}

fn scan(o: ScanOptions) -> Result<Vec<mfp_kiosk::scan::RasterPage>, ScanError> {
    sane_config();
    let mut pages = Vec::new();
    let n = SaneScanner::new(Some("test:0".into())).scan(
        &o,
        &mut |p| {
            pages.push(mfp_kiosk::scan::collect_page(p)?);
            Ok(())
        },
        &AtomicBool::new(false),
    )?;
    assert_eq!(n as usize, pages.len());
    Ok(pages)
}

#[test]
fn the_test_backend_scans_with_the_requested_options() {
    if skipped_without_sane() {
        return;
    }
    sane_config();
    let found = devices().expect("libsane1 must be installed (see device/ci-sane.sh)");
    assert!(found.iter().any(|d| d.name == "test:0"), "{found:?}");

    let gray = scan(opts(ColorMode::Gray, ScanSource::Flatbed)).unwrap();
    assert_eq!(gray.len(), 1, "the glass holds one page");
    let page = &gray[0];
    assert_eq!(page.color, ColorMode::Gray);
    assert_eq!(page.dpi, 75);
    // A5 (148 x 210 mm) at 75 dpi, the height cut to the test backend's 200 mm glass.
    assert!((436..=439).contains(&page.width_px), "{}", page.width_px);
    assert!((588..=592).contains(&page.height_px), "{}", page.height_px);
    page.check_layout().unwrap();

    let color = scan(opts(ColorMode::Color, ScanSource::Flatbed)).unwrap();
    assert_eq!(color[0].color, ColorMode::Color);
    assert_eq!(
        color[0].data.len(),
        color[0].width_px as usize * 3 * color[0].height_px as usize
    );
    let bw = scan(opts(ColorMode::BlackWhite, ScanSource::Flatbed)).unwrap();
    assert_eq!(bw[0].color, ColorMode::BlackWhite);
    // The test backend's default picture is solid black: every bit set.
    assert!(
        bw[0].data.iter().take(10).all(|b| *b == 0xff),
        "{:?}",
        &bw[0].data[..10]
    );

    // The test backend's feeder runs empty after 10 sheets.
    let fed = scan(opts(ColorMode::Gray, ScanSource::Adf)).unwrap();
    assert_eq!(fed.len(), 10);
    let err = scan(opts(ColorMode::Gray, ScanSource::AdfDuplex)).unwrap_err();
    assert!(matches!(err, ScanError::InvalidOptions(_)), "{err}");
}

#[test]
fn a_feeder_scan_can_be_cancelled_between_pages() {
    if skipped_without_sane() {
        return;
    }
    sane_config();
    let cancel = AtomicBool::new(false);
    let mut seen = 0;
    let err = SaneScanner::new(Some("test:0".into()))
        .scan(
            &opts(ColorMode::Gray, ScanSource::Adf),
            &mut |_| {
                seen += 1;
                if seen == 2 {
                    cancel.store(true, Ordering::SeqCst);
                }
                Ok(())
            },
            &cancel,
        )
        .unwrap_err();
    assert!(matches!(err, ScanError::Cancelled), "{err}");
    assert_eq!(seen, 2);
}

#[test]
fn sane_pages_stream_into_a_pdf() {
    if skipped_without_sane() {
        return;
    }
    sane_config();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("doc.pdf");
    let mut progress = Vec::new();
    let doc = mfp_kiosk::scan::pdf::scan_to_pdf(
        &mut SaneScanner::new(Some("test:0".into())),
        &opts(ColorMode::BlackWhite, ScanSource::Adf),
        &out,
        &AtomicBool::new(false),
        &mut |n| progress.push(n),
    )
    .unwrap();
    assert_eq!(doc.pages, 10);
    assert_eq!(progress, (1..=10).collect::<Vec<_>>());
    let pdf = lopdf::Document::load(&out).unwrap();
    assert_eq!(pdf.get_pages().len(), 10);
}

/// `mfp-kiosk scan` for a cached user, scanner = SANE test backend, cloud = simulated Graph.
#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_command_delivers_both_workflows() {
    if skipped_without_sane() {
        return;
    }
    use outbox_support::*;
    let config_dir = sane_config().clone();
    let (sim, dir) = start_sim(|_| {}).await;
    let (config, _) = provisioned_panel(&sim, dir.path(), "adele@contoso.example").await;
    for (workflow, root) in [
        (
            "Invoices to Finance",
            sim.site_drive_dir("/sites/Finance", "Documents")
                .join("Invoices"),
        ),
        (
            "scan-to-onedrive",
            sim.user_drive_dir("adele@contoso.example").join("Scans"),
        ),
    ] {
        let mut cmd = std::process::Command::new(kiosk_bin());
        cmd.arg("--config")
            .arg(&config)
            .args([
                "scan",
                "--workflow",
                workflow,
                "--user",
                "adele@contoso.example",
            ])
            .env("SANE_CONFIG_DIR", &config_dir)
            .env("SANE_DEFAULT_DEVICE", "test:0")
            .env("RUST_LOG", "warn");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{workflow}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(" done: "), "{stdout}");
        let files = files_under(&root);
        assert_eq!(files.len(), 1, "{workflow}: {files:?}");
        let pdf = lopdf::Document::load(&files[0]).unwrap();
        // The Finance workflow feeds from the ADF (10 sheets in the test backend), the other
        // scans the glass.
        let expected = if workflow.starts_with("Invoices") {
            10
        } else {
            1
        };
        assert_eq!(pdf.get_pages().len(), expected, "{workflow}");
    }
    // The CLI lists both jobs as done.
    let listing = std::process::Command::new(kiosk_bin())
        .arg("--config")
        .arg(&config)
        .arg("outbox")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(text.matches(" done ").count(), 2, "{text}");
}
