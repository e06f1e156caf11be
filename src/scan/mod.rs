//! Scanner sources behind one trait, and document assembly into PDF.
//!
//! A [`Scanner`] hands pages over one at a time through a callback, so a 50-sheet ADF job never
//! holds more than one raster in memory; [`pdf::scan_to_pdf`] encodes each page as it arrives and
//! streams it into the output file. Sources: [`simulated::SimulatedScanner`] (demo and tests)
//! and [`sane::SaneScanner`] (libsane: USB, network, eSCL/AirScan and WSD scanners).
//!
//! Raster layout ([`RasterPage::data`]): rows top to bottom, no padding except for
//! [`ColorMode::BlackWhite`], whose rows are packed 1 bit per pixel, most significant bit first,
//! each row padded to a whole byte, and **a set bit means black ink** (the SANE lineart
//! convention).

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

pub mod pdf;
pub mod sane;
pub mod simulated;

/// Lowest and highest resolution a job may ask for. Above 600 dpi an A4 colour raster is
/// over 100 MB, more than the panel's board should hold for one page.
pub const MIN_DPI: u32 = 75;
/// See [`MIN_DPI`].
pub const MAX_DPI: u32 = 600;

/// How the page is digitised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// 8-bit RGB.
    Color,
    /// 8-bit gray.
    Gray,
    /// 1 bit per pixel, set bit = black.
    BlackWhite,
}

/// Where the paper is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    /// The glass: one page per scan.
    Flatbed,
    /// Automatic document feeder, front sides only.
    Adf,
    /// Automatic document feeder, both sides of each sheet.
    AdfDuplex,
}

/// Paper size of the scanned area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSize {
    /// 210 × 297 mm.
    A4,
    /// 8.5 × 11 in.
    Letter,
    /// 8.5 × 14 in.
    Legal,
    /// 148 × 210 mm.
    A5,
}

impl PageSize {
    /// Portrait width and height in millimetres.
    pub fn size_mm(self) -> (f64, f64) {
        match self {
            PageSize::A4 => (210.0, 297.0),
            PageSize::Letter => (215.9, 279.4),
            PageSize::Legal => (215.9, 355.6),
            PageSize::A5 => (148.0, 210.0),
        }
    }

    /// Raster width and height in pixels at `dpi`, rounded to the nearest pixel.
    pub fn size_px(self, dpi: u32) -> (u32, u32) {
        let (w, h) = self.size_mm();
        let px = |mm: f64| (mm / 25.4 * f64::from(dpi)).round() as u32;
        (px(w), px(h))
    }
}

/// What a scan job asks the scanner for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOptions {
    /// Resolution in dots per inch, [`MIN_DPI`]..=[`MAX_DPI`].
    pub dpi: u32,
    pub color: ColorMode,
    pub source: ScanSource,
    pub page_size: PageSize,
}

impl Default for ScanOptions {
    /// 200 dpi colour A4 from the feeder: readable text at a modest file size.
    fn default() -> Self {
        ScanOptions {
            dpi: 200,
            color: ColorMode::Color,
            source: ScanSource::Adf,
            page_size: PageSize::A4,
        }
    }
}

impl ScanOptions {
    /// Checks the options before any paper moves.
    pub fn validate(&self) -> Result<(), ScanError> {
        if !(MIN_DPI..=MAX_DPI).contains(&self.dpi) {
            return Err(ScanError::InvalidOptions(format!(
                "resolution {} dpi is outside {MIN_DPI}..={MAX_DPI} dpi",
                self.dpi
            )));
        }
        Ok(())
    }
}

/// One scanned page, uncompressed. See the module doc for the byte layout.
#[derive(Clone, PartialEq, Eq)]
pub struct RasterPage {
    pub width_px: u32,
    pub height_px: u32,
    pub dpi: u32,
    pub color: ColorMode,
    pub data: Vec<u8>,
}

impl RasterPage {
    /// Bytes in one row of `data`.
    pub fn row_bytes(&self) -> usize {
        row_bytes(self.color, self.width_px)
    }

    /// Checks that `data` has exactly the length the dimensions and colour mode call for, so
    /// encoders never read past the end or silently drop rows.
    pub fn check_layout(&self) -> Result<(), ScanError> {
        if self.width_px == 0 || self.height_px == 0 || self.dpi == 0 {
            return Err(ScanError::BadPage(format!(
                "empty page {}x{} px at {} dpi",
                self.width_px, self.height_px, self.dpi
            )));
        }
        let expected = self.row_bytes() as u64 * u64::from(self.height_px);
        if self.data.len() as u64 != expected {
            return Err(ScanError::BadPage(format!(
                "{}x{} px {:?} needs {expected} bytes, got {}",
                self.width_px,
                self.height_px,
                self.color,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// Physical width and height in PDF points (1/72 in).
    pub fn size_points(&self) -> (f64, f64) {
        let dpi = f64::from(self.dpi);
        (
            f64::from(self.width_px) * 72.0 / dpi,
            f64::from(self.height_px) * 72.0 / dpi,
        )
    }
}

impl std::fmt::Debug for RasterPage {
    // The pixel buffer is megabytes; print its size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterPage")
            .field("width_px", &self.width_px)
            .field("height_px", &self.height_px)
            .field("dpi", &self.dpi)
            .field("color", &self.color)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Bytes per raster row for a colour mode and width.
pub fn row_bytes(color: ColorMode, width_px: u32) -> usize {
    let w = width_px as usize;
    match color {
        ColorMode::Color => w * 3,
        ColorMode::Gray => w,
        ColorMode::BlackWhite => w.div_ceil(8),
    }
}

/// Why a scan did not produce its pages.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("invalid scan options: {0}")]
    InvalidOptions(String),
    #[error("no paper in the {0}")]
    NoPaper(&'static str),
    #[error("scanner error: {0}")]
    Device(String),
    #[error("scan cancelled")]
    Cancelled,
    #[error("scanner delivered a malformed page: {0}")]
    BadPage(String),
    /// The consumer of the pages (for example the PDF writer) refused a page; the consumer
    /// keeps its own typed error, this only stops the scanner.
    #[error("the page consumer failed: {0}")]
    SinkFailed(String),
}

/// A source of scanned pages.
pub trait Scanner: Send {
    /// Human-readable name for the service menu and logs.
    fn name(&self) -> &str;

    /// Scans with `opts`, handing each page to `on_page` as soon as it is complete. Checks
    /// `cancel` between pages and returns [`ScanError::Cancelled`] when it is set. An error from
    /// `on_page` stops the scan and is returned as is. Returns the number of pages delivered.
    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut dyn FnMut(RasterPage) -> Result<(), ScanError>,
        cancel: &AtomicBool,
    ) -> Result<u32, ScanError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a4_at_300_dpi_is_the_familiar_raster() {
        assert_eq!(PageSize::A4.size_px(300), (2480, 3508));
        assert_eq!(PageSize::Letter.size_px(300), (2550, 3300));
    }

    #[test]
    fn layout_check_catches_short_data() {
        let mut page = RasterPage {
            width_px: 10,
            height_px: 2,
            dpi: 100,
            color: ColorMode::BlackWhite,
            data: vec![0; 4],
        };
        assert!(page.check_layout().is_ok());
        page.data.pop();
        assert!(matches!(page.check_layout(), Err(ScanError::BadPage(_))));
        page.color = ColorMode::Gray;
        page.data = vec![0; 20];
        assert!(page.check_layout().is_ok());
    }

    #[test]
    fn dpi_out_of_range_is_refused() {
        let mut o = ScanOptions::default();
        assert!(o.validate().is_ok());
        o.dpi = 1200;
        assert!(matches!(o.validate(), Err(ScanError::InvalidOptions(_))));
        o.dpi = 50;
        assert!(o.validate().is_err());
    }

    #[test]
    fn options_parse_from_config_names() {
        let o: ScanOptions = serde_json::from_str(
            r#"{"dpi":150,"color":"black_white","source":"adf_duplex","page_size":"letter"}"#,
        )
        .unwrap();
        assert_eq!(o.color, ColorMode::BlackWhite);
        assert_eq!(o.source, ScanSource::AdfDuplex);
        assert_eq!(o.page_size, PageSize::Letter);
    }
}
