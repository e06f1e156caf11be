//! Scanner sources behind one trait, and document assembly into PDF.
//!
//! A [`Scanner`] hands pages over one at a time through a callback, and each page as a
//! [`PageRows`] stream the consumer reads in bands of rows ([`BAND_ROWS`] at a time), so no
//! whole page raster (26 MB for colour A4 at 300 dpi) ever exists: scanner lines go straight
//! into the JPEG or Flate encoder of [`pdf::scan_to_pdf`] and from there into the output file.
//! On a 512 MB board this matters twice: the peak stays a few hundred kilobytes per job, and
//! glibc has no page-sized blocks to keep in its per-thread arenas afterwards (see
//! [`crate::alloc`]). Sources: [`simulated::SimulatedScanner`] (demo and tests) and
//! [`sane::SaneScanner`] (libsane: USB, network, eSCL/AirScan and WSD scanners).
//! [`RasterPage`] is a whole page in memory, for tests and small images only.
//!
//! Row layout: rows top to bottom, no padding except for [`ColorMode::BlackWhite`], whose rows
//! are packed 1 bit per pixel, most significant bit first, each row padded to a whole byte, and
//! **a set bit means black ink** (the SANE lineart convention).

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

pub mod caps;
pub mod pages;
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

/// Rows a consumer reads per [`PageRows::read_rows`] call: a multiple of the 16-row MCU of a
/// 4:2:0 JPEG, and 32 rows of colour A4 at 600 dpi are still under 1 MB.
pub const BAND_ROWS: usize = 32;

/// What a page is, known before its first row is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub width_px: u32,
    /// The number of rows, when the scanner knows it up front; `None` for feeders that detect
    /// the end of the sheet as they go (SANE reports `lines = -1`).
    pub height_px: Option<u32>,
    pub dpi: u32,
    pub color: ColorMode,
}

impl PageInfo {
    /// Bytes in one row.
    pub fn row_bytes(&self) -> usize {
        row_bytes(self.color, self.width_px)
    }
}

/// One page being scanned, read top to bottom in bands of whole rows.
pub trait PageRows {
    /// Size and format of the page.
    fn info(&self) -> PageInfo;

    /// Fills the start of `band` with as many whole rows as fit (`band` holds at least one row)
    /// and returns how many it wrote; 0 means the page has ended. Rows are never revisited.
    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError>;
}

/// One scanned page, uncompressed, whole in memory. See the module doc for the byte layout.
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

    /// The page as a row stream.
    pub fn rows(&self) -> RasterRows<'_> {
        RasterRows {
            page: self,
            next_row: 0,
        }
    }
}

/// [`RasterPage::rows`]: a whole page read back band by band.
pub struct RasterRows<'a> {
    page: &'a RasterPage,
    next_row: usize,
}

impl PageRows for RasterRows<'_> {
    fn info(&self) -> PageInfo {
        PageInfo {
            width_px: self.page.width_px,
            height_px: Some(self.page.height_px),
            dpi: self.page.dpi,
            color: self.page.color,
        }
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        let rb = self.page.row_bytes().max(1);
        let available = self.page.data.len() / rb - self.next_row.min(self.page.data.len() / rb);
        let n = (band.len() / rb).min(available);
        let start = self.next_row * rb;
        band[..n * rb].copy_from_slice(&self.page.data[start..start + n * rb]);
        self.next_row += n;
        Ok(n)
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

    /// Scans with `opts`, handing each page to `on_page` as soon as it starts; `on_page` reads
    /// the page's rows while the paper moves. Checks `cancel` between pages and between bands
    /// and returns [`ScanError::Cancelled`] when it is set. An error from `on_page` stops the
    /// scan and is returned as is. Rows `on_page` leaves unread are discarded. Returns the
    /// number of pages delivered.
    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut PageFn<'_>,
        cancel: &AtomicBool,
    ) -> Result<u32, ScanError>;

    /// What the device can do (modes, resolutions, sources, scan area), asked of the device
    /// itself; the settings sheet offers nothing else. A scanner that cannot tell reports
    /// [`caps::ScannerCaps::unrestricted`].
    fn capabilities(&mut self) -> Result<caps::ScannerCaps, ScanError> {
        Ok(caps::ScannerCaps::unrestricted())
    }
}

/// The page consumer of [`Scanner::scan`].
pub type PageFn<'a> = dyn FnMut(&mut dyn PageRows) -> Result<(), ScanError> + 'a;

/// `page.read_rows(band)`, refusing a count of rows that does not fit in `band`: a source that
/// claims more rows than it wrote would otherwise make the consumer slice past the band (found
/// by the `pdf_writer` fuzz target).
pub(crate) fn read_band(page: &mut dyn PageRows, band: &mut [u8]) -> Result<usize, ScanError> {
    let fit = band.len() / page.info().row_bytes().max(1);
    match page.read_rows(band)? {
        n if n > fit => Err(ScanError::BadPage(format!(
            "the scanner reported {n} rows in a band of {fit}"
        ))),
        n => Ok(n),
    }
}

/// Reads a whole page into memory: for tests and small pages only, never on the scan path.
pub fn collect_page(page: &mut dyn PageRows) -> Result<RasterPage, ScanError> {
    let info = page.info();
    let rb = info.row_bytes().max(1);
    let mut data = Vec::new();
    let mut band = vec![0u8; rb * BAND_ROWS];
    loop {
        let n = read_band(page, &mut band)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&band[..n * rb]);
    }
    let height_px = u32::try_from(data.len() / rb)
        .map_err(|_| ScanError::BadPage("more than 2^32 rows".into()))?;
    Ok(RasterPage {
        width_px: info.width_px,
        height_px,
        dpi: info.dpi,
        color: info.color,
        data,
    })
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
