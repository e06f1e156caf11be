//! Headless screenshots of the panel: the real MainWindow, drawn by Slint's software renderer
//! into memory and written as PNG. Used by `mfp-kiosk screenshot`, the docs and the tests.
//!
//! A screenshot shows a [`Scene`]: the `Kiosk` state and, on the service menu's pages, the
//! `Service` state too. [`sample`] gives both for every page name (`idle` ..., and
//! `service-menu` ... from [`SERVICE_SAMPLE_PAGES`]); [`sample_state`] the `Kiosk` part alone.
//!
//! Slint keeps one platform per thread. The first [`render_png`] on a thread installs a
//! platform whose windows are [`MinimalSoftwareWindow`]s; later calls on that thread reuse it.
//! If something else (winit, the testing backend) already owns the thread, it reports
//! [`ScreenshotError::PlatformInUse`] instead of drawing through the wrong backend.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, PlatformError, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, Rgb8Pixel};

use super::service::{self, ServiceUiState};
use super::{apply, UiPage, UiState, UiWorkflow};
use crate::i18n::{Language, Msg};
use crate::MainWindow;

mod service_samples;
mod sheet_samples;

pub use service_samples::SERVICE_SAMPLE_PAGES;
pub use sheet_samples::SHEET_SAMPLE_PAGES;

/// Largest side accepted; far beyond any panel, small enough to stay in memory.
const MAX_SIDE: u32 = 8192;

/// Names of the kiosk's own pages accepted by [`sample_state`] (and [`sample`], which also
/// takes [`SERVICE_SAMPLE_PAGES`]).
pub const SAMPLE_PAGES: &[&str] = &[
    "idle",
    "pin",
    "device-code",
    "busy",
    "home",
    "scanning",
    "uploading",
    "result",
];

#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("another Slint platform is already active on this thread; screenshots need their own")]
    PlatformInUse,
    #[error(
        "size {width}x{height} is not usable: each side must be between 1 and {MAX_SIDE} pixels"
    )]
    InvalidSize { width: u32, height: u32 },
    #[error("could not create the Slint window: {0}")]
    Window(#[from] PlatformError),
    #[error("the software platform did not hand out a window")]
    NoWindow,
    #[error("the renderer drew nothing")]
    NothingDrawn,
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode PNG {path}: {source}")]
    Png {
        path: PathBuf,
        #[source]
        source: png::EncodingError,
    },
}

type WindowSlot = Rc<RefCell<Option<Rc<MinimalSoftwareWindow>>>>;

/// Hands every new window to the slot, where `render_png` picks it up to draw it.
struct ScreenshotPlatform {
    slot: WindowSlot,
}

impl Platform for ScreenshotPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        *self.slot.borrow_mut() = Some(window.clone());
        Ok(window)
    }
}

thread_local! {
    static SLOT: RefCell<Option<WindowSlot>> = const { RefCell::new(None) };
}

fn platform_slot() -> Result<WindowSlot, ScreenshotError> {
    SLOT.with(|cell| {
        if let Some(slot) = cell.borrow().as_ref() {
            return Ok(slot.clone());
        }
        let slot = WindowSlot::default();
        slint::platform::set_platform(Box::new(ScreenshotPlatform { slot: slot.clone() }))
            .map_err(|_| ScreenshotError::PlatformInUse)?;
        // As the panel does at start; a missing font shows as boxes in Japanese shots only.
        match super::fonts::register_cjk_font() {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!(
                file = super::fonts::CJK_FONT_FILE,
                "no Japanese font found: Japanese text will show as boxes"
            ),
            Err(e) => tracing::warn!(error = %e, "Japanese font not usable"),
        }
        *cell.borrow_mut() = Some(slot.clone());
        Ok(slot)
    })
}

/// What a screenshot shows: the `Kiosk` state, and the `Service` state for the service menu
/// (`None` leaves the Service global at its defaults).
#[derive(Debug, Clone, Copy)]
pub struct Scene<'a> {
    pub kiosk: &'a UiState,
    pub service: Option<&'a ServiceUiState>,
    /// The scan settings sheet's state (`None`: its defaults).
    pub sheet: Option<&'a super::scan_sheet::SheetUiState>,
}

impl<'a> From<&'a UiState> for Scene<'a> {
    fn from(kiosk: &'a UiState) -> Self {
        Scene {
            kiosk,
            service: None,
            sheet: None,
        }
    }
}

/// A sample page: both globals' states.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub kiosk: UiState,
    pub service: ServiceUiState,
    pub sheet: super::scan_sheet::SheetUiState,
}

impl<'a> From<&'a Sample> for Scene<'a> {
    fn from(sample: &'a Sample) -> Self {
        Scene {
            kiosk: &sample.kiosk,
            service: Some(&sample.service),
            sheet: Some(&sample.sheet),
        }
    }
}

/// Draws the panel showing `scene` (a `&UiState` or a `&Sample`) at `width`x`height` pixels
/// (scale factor 1) and writes it to `out` as an RGB PNG.
pub fn render_png<'a>(
    scene: impl Into<Scene<'a>>,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), ScreenshotError> {
    let pixels = render_rgb(scene, width, height)?;
    write_png(&pixels, width, height, out)
}

/// Draws the panel into RGB pixels, row by row.
pub fn render_rgb<'a>(
    scene: impl Into<Scene<'a>>,
    width: u32,
    height: u32,
) -> Result<Vec<Rgb8Pixel>, ScreenshotError> {
    let scene = scene.into();
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(ScreenshotError::InvalidSize { width, height });
    }
    let slot = platform_slot()?;
    let ui = MainWindow::new()?;
    let window = slot.borrow_mut().take().ok_or(ScreenshotError::NoWindow)?;
    window.set_size(PhysicalSize::new(width, height));
    ui.show()?;
    apply(&ui, scene.kiosk);
    if let Some(service_state) = scene.service {
        service::apply(&ui, service_state);
    }
    if let Some(sheet) = scene.sheet {
        super::scan_sheet::apply(&ui, sheet);
    }
    // Runs the `changed` handlers (the theme scale follows the window size) before drawing.
    slint::platform::update_timers_and_animations();
    window.request_redraw();

    // Both sides were checked against MAX_SIDE, so this cannot overflow usize.
    let stride = width as usize;
    let mut pixels = vec![Rgb8Pixel::default(); stride * height as usize];
    let drawn = window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, stride);
    });
    ui.hide()?;
    if drawn {
        Ok(pixels)
    } else {
        Err(ScreenshotError::NothingDrawn)
    }
}

fn write_png(
    pixels: &[Rgb8Pixel],
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), ScreenshotError> {
    let io_err = |source| ScreenshotError::Io {
        path: out.to_owned(),
        source,
    };
    let png_err = |source| ScreenshotError::Png {
        path: out.to_owned(),
        source,
    };
    let file = File::create(out).map_err(io_err)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_err)?;
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    writer.write_image_data(&bytes).map_err(png_err)?;
    writer.finish().map_err(png_err)
}

/// Both states for any page of [`SAMPLE_PAGES`] or [`SERVICE_SAMPLE_PAGES`], in `lang`.
pub fn sample(page: &str, lang: Language) -> Option<Sample> {
    if let Some(service) = service_samples::service_sample(page) {
        let kiosk = UiState {
            page: UiPage::Service,
            device_name: "MFP 3rd floor · East wing".into(),
            display_name: "Jane Tech".into(),
            language: lang,
            ..UiState::default()
        };
        return Some(Sample {
            kiosk,
            service,
            sheet: Default::default(),
        });
    }
    if let Some(sheet) = sheet_samples::sheet_sample(page) {
        let kiosk = UiState {
            page: if sheet.another_page {
                UiPage::AnotherPage
            } else {
                UiPage::ScanSheet
            },
            device_name: "MFP 3rd floor · East wing".into(),
            display_name: "Adele Vance".into(),
            ..UiState::default()
        };
        return Some(Sample {
            kiosk,
            service: ServiceUiState::default(),
            sheet,
        });
    }
    Some(Sample {
        kiosk: sample_state(page, lang)?,
        service: ServiceUiState::default(),
        sheet: Default::default(),
    })
}

/// A realistic `Kiosk` state for each page in [`SAMPLE_PAGES`], for screenshots and demos,
/// with the texts Rust would make rendered in `lang` (names and workflow labels are data).
pub fn sample_state(page: &str, lang: Language) -> Option<UiState> {
    let tr = |m: Msg| m.render(lang);
    let base = UiState {
        language: lang,
        device_name: "MFP 3rd floor · East wing".into(),
        pin_prompt: tr(Msg::new("Enter your PIN")),
        code_purpose: tr(Msg::new("Sign in with Microsoft")),
        ..UiState::default()
    };
    let signed_in = UiState {
        display_name: "Adele Vance".into(),
        user_detail: "adele.vance@contoso.com · Finance".into(),
        ..base.clone()
    };
    let state = match page {
        "idle" => base,
        "pin" => UiState {
            page: UiPage::Pin,
            pin_length: 3,
            message: tr(Msg::plural(
                "Wrong PIN. {n} attempt left.",
                "Wrong PIN. {n} attempts left.",
                4,
            )),
            message_is_error: true,
            ..base
        },
        "device-code" => UiState {
            page: UiPage::DeviceCode,
            demo_mode: true,
            user_code: "FJ7K2QXWL".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            qr_text: "https://microsoft.com/devicelogin".into(),
            code_seconds_left: 14 * 60 + 32,
            ..base
        },
        "busy" => UiState {
            page: UiPage::Busy,
            busy_text: tr(Msg::new("Checking your badge…")),
            ..base
        },
        "home" => UiState {
            page: UiPage::Home,
            workflows: sample_workflows(),
            ..signed_in
        },
        "scanning" => UiState {
            page: UiPage::Scanning,
            progress_title: tr(Msg::new("{}: scanning").arg("Scan to my OneDrive")),
            progress_detail: tr(Msg::plural("{n} page scanned", "{n} pages scanned", 2)),
            progress: 0.4,
            ..signed_in
        },
        "uploading" => UiState {
            page: UiPage::Uploading,
            progress_title: tr(Msg::new("{}: sending").arg("Scan to my OneDrive")),
            progress_detail: tr(Msg::new("{} of {}").arg("1.8 MB").arg("2.5 MB")),
            progress: 0.72,
            ..signed_in
        },
        "result" => UiState {
            page: UiPage::Result,
            result_ok: true,
            result_title: tr(Msg::new("Sent to {}").arg("OneDrive")),
            result_detail: tr(Msg::new("{} is in {}")
                .arg("Scan 2025-06-11 14-32.pdf")
                .arg("Documents/Scans")),
            ..signed_in
        },
        _ => return None,
    };
    Some(state)
}

fn sample_workflows() -> Vec<UiWorkflow> {
    [
        (
            "onedrive",
            "Scan to my OneDrive",
            "OD",
            "OneDrive · Documents/Scans",
        ),
        (
            "finance-invoices",
            "Finance invoices",
            "SP",
            "Finance site · Invoices/Inbox",
        ),
        (
            "hr-records",
            "HR personnel files",
            "SP",
            "HR site · Personnel",
        ),
    ]
    .into_iter()
    .map(|(id, label, badge, destination)| UiWorkflow {
        id: id.into(),
        label: label.into(),
        badge: badge.into(),
        destination: destination.into(),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_sample_exists_and_shows_its_page() {
        let pages: Vec<UiPage> = SAMPLE_PAGES
            .iter()
            .map(|name| sample_state(name, Language::En).unwrap().page)
            .collect();
        assert_eq!(
            pages,
            [
                UiPage::Idle,
                UiPage::Pin,
                UiPage::DeviceCode,
                UiPage::Busy,
                UiPage::Home,
                UiPage::Scanning,
                UiPage::Uploading,
                UiPage::Result
            ]
        );
        assert!(sample_state("nope", Language::En).is_none());
        assert!(sample("nope", Language::En).is_none());
    }

    #[test]
    fn every_service_sample_shows_the_service_menu_on_its_own_page() {
        use crate::ui::service::UiServicePage as P;
        let pages: Vec<(UiPage, P)> = SERVICE_SAMPLE_PAGES
            .iter()
            .map(|name| {
                let s = sample(name, Language::En).unwrap();
                (s.kiosk.page, s.service.page)
            })
            .collect();
        let want = [
            P::Menu,
            P::PickUser,
            P::TapBadge,
            P::Conflict,
            P::Cards,
            P::Readers,
            P::Outbox,
            P::Health,
            P::Audit,
            P::Local,
            P::LocalNew,
            P::Health,
            P::Outbox,
        ];
        assert_eq!(
            pages,
            want.map(|p| (UiPage::Service, p)).to_vec(),
            "sample pages out of order or on the wrong page"
        );
        let confirm = sample("service-confirm", Language::En).unwrap().service;
        assert!(!confirm.confirm_text.is_empty());
        assert!(sample("service-outbox", Language::En)
            .unwrap()
            .service
            .confirm_text
            .is_empty());
        // The kiosk pages keep the Service global at its defaults.
        assert_eq!(
            sample("home", Language::En).unwrap().service,
            ServiceUiState::default()
        );
    }
}
