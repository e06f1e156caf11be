//! Renders every sample page with the real MainWindow through the software renderer and checks
//! that the PNGs have the requested size and real content: many colours, and text drawn where
//! the page puts its title.
//!
//! This file installs its own Slint platform, so it must not share a process with the testing
//! backend (tests/ui_adapter.rs). Slint platforms are per thread; each test here uses its own.

use std::collections::HashSet;
use std::path::Path;

use mfp_kiosk::ui::screenshot::{
    render_png, render_rgb, sample, sample_state, ScreenshotError, SAMPLE_PAGES,
    SERVICE_SAMPLE_PAGES,
};
use mfp_kiosk::ui::service::ServiceUiState;
use mfp_kiosk::ui::{UiPage, UiState};

const SIZES: [(u32, u32); 3] = [(1024, 600), (800, 480), (1280, 800)];

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Png {
    fn read(path: &Path) -> Png {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Png {
            width: info.width,
            height: info.height,
            rgb: buf,
        }
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn distinct_colours(&self) -> usize {
        self.rgb
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect::<HashSet<_>>()
            .len()
    }

    /// Pixels darker than the page background in the given band of rows (fractions of height).
    fn dark_pixels_in_rows(&self, from: f32, to: f32) -> usize {
        let y0 = (self.height as f32 * from) as u32;
        let y1 = (self.height as f32 * to) as u32;
        (y0..y1)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let [r, g, b] = self.pixel(x, y);
                u32::from(r) + u32::from(g) + u32::from(b) < 200
            })
            .count()
    }
}

#[test]
fn every_sample_page_renders_at_every_panel_size() {
    let dir = tempfile::tempdir().unwrap();
    for page in SAMPLE_PAGES {
        let state = sample_state(page, mfp_kiosk::i18n::Language::En).unwrap();
        for (w, h) in SIZES {
            let out = dir.path().join(format!("{page}-{w}x{h}.png"));
            render_png(&state, w, h, &out).unwrap();
            let png = Png::read(&out);
            assert_eq!((png.width, png.height), (w, h), "{page} at {w}x{h}");

            // Anti-aliased text, icons and shadows give many shades; a blank or single-colour
            // frame gives one or two.
            let colours = png.distinct_colours();
            assert!(colours > 40, "{page} at {w}x{h}: only {colours} colours");

            // The header bar is dark and carries the device name in white.
            let [r, g, b] = png.pixel(w - 2, 2);
            assert!(
                u32::from(r) + u32::from(g) + u32::from(b) < 150,
                "{page}: header not dark"
            );
            let header_light = (0..w)
                .flat_map(|x| (0..h / 12).map(move |y| (x, y)))
                .filter(|&(x, y)| png.pixel(x, y).iter().all(|&c| c > 200))
                .count();
            assert!(
                header_light > 50,
                "{page} at {w}x{h}: no header text ({header_light})"
            );

            // Every page draws dark body text (titles, labels) below the header.
            let body_dark = png.dark_pixels_in_rows(0.15, 1.0);
            assert!(
                body_dark > 500,
                "{page} at {w}x{h}: only {body_dark} dark text pixels"
            );
        }
    }
}

#[test]
fn every_service_page_renders_at_the_smallest_panel() {
    // 800x480 is where the service pages are tightest; the kiosk pages' test above covers
    // the PNG path and the other sizes.
    let (w, h) = (800, 480);
    let menu = render_rgb(
        &sample("service-menu", mfp_kiosk::i18n::Language::En).unwrap(),
        w,
        h,
    )
    .unwrap();
    for page in SERVICE_SAMPLE_PAGES {
        let rgb = render_rgb(&sample(page, mfp_kiosk::i18n::Language::En).unwrap(), w, h).unwrap();
        let colours = rgb
            .iter()
            .map(|p| (p.r, p.g, p.b))
            .collect::<HashSet<_>>()
            .len();
        assert!(colours > 40, "{page}: only {colours} colours");
        let body_dark = rgb[(w * h / 7) as usize..]
            .iter()
            .filter(|p| u32::from(p.r) + u32::from(p.g) + u32::from(p.b) < 200)
            .count();
        assert!(body_dark > 500, "{page}: only {body_dark} dark text pixels");
        // The Service state reaches the window: every page but the menu differs from it.
        if *page != "service-menu" {
            let differing = rgb.iter().zip(&menu).filter(|(a, b)| a != b).count();
            assert!(
                differing > (w * h / 20) as usize,
                "{page} looks like the menu ({differing} pixels differ)"
            );
        }
    }
}

#[test]
fn confirm_dialog_dims_the_page_behind_it() {
    let asking = sample("service-confirm", mfp_kiosk::i18n::Language::En).unwrap();
    let calm = sample("service-outbox", mfp_kiosk::i18n::Language::En).unwrap();
    assert_eq!(
        ServiceUiState {
            confirm_text: String::new(),
            ..asking.service.clone()
        },
        calm.service,
        "the two samples differ only by the dialog"
    );
    // Light pixels of the body (below the header): the backdrop darkens everything but the
    // dialog itself.
    let light = |scene: &mfp_kiosk::ui::screenshot::Sample| {
        render_rgb(scene, 1024, 600).unwrap()[1024 * 80..]
            .iter()
            .filter(|p| p.r > 230 && p.g > 230 && p.b > 230)
            .count()
    };
    let (with_dialog, without) = (light(&asking), light(&calm));
    assert!(
        with_dialog * 2 < without,
        "{with_dialog} light pixels with the dialog, {without} without"
    );
}

#[test]
fn device_code_page_draws_the_qr_code_and_large_user_code() {
    let state = sample_state("device-code", mfp_kiosk::i18n::Language::En).unwrap();
    let (w, h) = (1024, 600);
    let rgb = render_rgb(&state, w, h).unwrap();
    let px = |x: u32, y: u32| rgb[(y * w + x) as usize];

    // The QR code sits in the left part of the page: pure black modules on pure white.
    let (mut black, mut white) = (0, 0);
    for y in h / 8..h {
        for x in 0..w * 2 / 5 {
            let p = px(x, y);
            match (p.r, p.g, p.b) {
                (0, 0, 0) => black += 1,
                (255, 255, 255) => white += 1,
                _ => {}
            }
        }
    }
    assert!(black > 20_000, "QR modules missing: {black} black pixels");
    assert!(
        white > 20_000,
        "QR background missing: {white} white pixels"
    );

    // Without a QR text the same region has no pure-black modules.
    let no_qr = UiState {
        qr_text: String::new(),
        ..state.clone()
    };
    let rgb = render_rgb(&no_qr, w, h).unwrap();
    let black_without = (h / 8..h)
        .flat_map(|y| (0..w * 2 / 5).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = rgb[(y * w + x) as usize];
            (p.r, p.g, p.b) == (0, 0, 0)
        })
        .count();
    assert!(
        black_without < black / 10,
        "{black_without} black pixels without a QR"
    );
}

#[test]
fn countdown_banner_adds_an_amber_band() {
    let home = sample_state("home", mfp_kiosk::i18n::Language::En).unwrap();
    let amber = |state: &UiState| {
        render_rgb(state, 1024, 600)
            .unwrap()
            .iter()
            .filter(|p| p.r > 220 && (140..200).contains(&p.g) && p.b < 60)
            .count()
    };
    assert!(amber(&home) < 100);
    let warned = UiState {
        countdown: 8,
        ..home
    };
    assert!(amber(&warned) > 1024 * 30, "no banner drawn");
}

#[test]
fn unusable_sizes_are_rejected() {
    let state = UiState {
        page: UiPage::Idle,
        ..UiState::default()
    };
    let err = render_rgb(&state, 0, 600).unwrap_err();
    assert!(matches!(
        err,
        ScreenshotError::InvalidSize {
            width: 0,
            height: 600
        }
    ));
    let err = render_rgb(&state, 1024, 100_000).unwrap_err();
    assert!(matches!(err, ScreenshotError::InvalidSize { .. }));
}

#[test]
fn unwritable_output_reports_the_path() {
    let state = UiState::default();
    let out = Path::new("/nonexistent-dir/for/sure/idle.png");
    let err = render_png(&state, 320, 240, out).unwrap_err();
    assert!(matches!(err, ScreenshotError::Io { .. }));
    assert!(err
        .to_string()
        .contains("/nonexistent-dir/for/sure/idle.png"));
}

/// Regenerates docs/screenshots (run with `--ignored`); also handy to eyeball layouts:
/// set UI_SHOTS_DIR to render every page at every size there.
#[test]
#[ignore = "writes files into the source tree"]
fn write_docs_screenshots() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&docs).unwrap();
    for page in ["idle", "device-code", "home"] {
        let state = sample_state(page, mfp_kiosk::i18n::Language::En).unwrap();
        render_png(&state, 1024, 600, &docs.join(format!("{page}.png"))).unwrap();
    }
    // German and Japanese (the longest texts and the CJK font); German at the smallest panel.
    for lang in [mfp_kiosk::i18n::Language::De, mfp_kiosk::i18n::Language::Ja] {
        let dir = docs.join(lang.code());
        std::fs::create_dir_all(&dir).unwrap();
        for page in ["idle", "device-code", "home"] {
            let state = sample_state(page, lang).unwrap();
            render_png(&state, 1024, 600, &dir.join(format!("{page}.png"))).unwrap();
            if lang == mfp_kiosk::i18n::Language::De {
                render_png(&state, 800, 480, &dir.join(format!("{page}-800x480.png"))).unwrap();
            }
        }
    }
    for page in SERVICE_SAMPLE_PAGES {
        let scene = sample(page, mfp_kiosk::i18n::Language::En).unwrap();
        render_png(&scene, 1024, 600, &docs.join(format!("{page}.png"))).unwrap();
        render_png(&scene, 800, 480, &docs.join(format!("{page}-800x480.png"))).unwrap();
    }
    if let Some(dir) = std::env::var_os("UI_SHOTS_DIR") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        for page in SAMPLE_PAGES {
            let state = sample_state(page, mfp_kiosk::i18n::Language::En).unwrap();
            for (w, h) in SIZES {
                render_png(&state, w, h, &dir.join(format!("{page}-{w}x{h}.png"))).unwrap();
            }
            let warned = UiState {
                countdown: 8,
                ..state
            };
            render_png(
                &warned,
                800,
                480,
                &dir.join(format!("{page}-countdown-800x480.png")),
            )
            .unwrap();
        }
        for page in SERVICE_SAMPLE_PAGES {
            let scene = sample(page, mfp_kiosk::i18n::Language::En).unwrap();
            for (w, h) in SIZES {
                render_png(&scene, w, h, &dir.join(format!("{page}-{w}x{h}.png"))).unwrap();
            }
        }
    }
}
