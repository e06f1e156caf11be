//! Headless screenshots of the panel: the real MainWindow, drawn by Slint's software renderer
//! into memory and written as PNG. Used by `mfp-kiosk screenshot`, the docs and the tests.
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

use super::{apply, UiPage, UiState, UiWorkflow};
use crate::MainWindow;

/// Largest side accepted; far beyond any panel, small enough to stay in memory.
const MAX_SIDE: u32 = 8192;

/// Names accepted by [`sample_state`].
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
        *cell.borrow_mut() = Some(slot.clone());
        Ok(slot)
    })
}

/// Draws the panel in `state` at `width`x`height` pixels (scale factor 1) and writes it to
/// `out` as an RGB PNG.
pub fn render_png(
    state: &UiState,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), ScreenshotError> {
    let pixels = render_rgb(state, width, height)?;
    write_png(&pixels, width, height, out)
}

/// Draws the panel into RGB pixels, row by row.
pub fn render_rgb(
    state: &UiState,
    width: u32,
    height: u32,
) -> Result<Vec<Rgb8Pixel>, ScreenshotError> {
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(ScreenshotError::InvalidSize { width, height });
    }
    let slot = platform_slot()?;
    let ui = MainWindow::new()?;
    let window = slot.borrow_mut().take().ok_or(ScreenshotError::NoWindow)?;
    window.set_size(PhysicalSize::new(width, height));
    ui.show()?;
    apply(&ui, state);
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

/// A realistic state for each page in [`SAMPLE_PAGES`], for screenshots and demos.
pub fn sample_state(page: &str) -> Option<UiState> {
    let base = UiState {
        device_name: "MFP 3rd floor · East wing".into(),
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
            message: "Wrong PIN. 4 attempts left.".into(),
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
            busy_text: "Signing you in…".into(),
            ..base
        },
        "home" => UiState {
            page: UiPage::Home,
            workflows: sample_workflows(),
            ..signed_in
        },
        "scanning" => UiState {
            page: UiPage::Scanning,
            progress_title: "Scanning page 2".into(),
            progress_detail: "Scan to my OneDrive · Documents/Scans".into(),
            progress: 0.4,
            ..signed_in
        },
        "uploading" => UiState {
            page: UiPage::Uploading,
            progress_title: "Uploading to OneDrive".into(),
            progress_detail: "Scan 2025-06-11 14-32.pdf · 1.8 of 2.5 MB".into(),
            progress: 0.72,
            ..signed_in
        },
        "result" => UiState {
            page: UiPage::Result,
            result_ok: true,
            result_title: "Saved to your OneDrive".into(),
            result_detail: "Documents/Scans/Scan 2025-06-11 14-32.pdf (3 pages)".into(),
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
            .map(|name| sample_state(name).unwrap().page)
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
        assert!(sample_state("nope").is_none());
    }
}
