//! The row side of the PDF writer: the band a page is read through ([`Band`]), the band as the
//! JPEG encoder's image ([`JpegRows`]), the output that stops the encoder when the page fails
//! ([`StopOnFailure`]) and a spooled page read back ([`FileRows`]).

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use super::super::{ColorMode, PageInfo, PageRows, ScanError, BAND_ROWS};

/// The band of rows being encoded: rows are read from the page [`BAND_ROWS`] at a time and
/// handed out one by one, strictly top to bottom (the last row may be asked for again, as the
/// JPEG encoder pads the bottom of the image with it).
pub(super) struct Band<'p> {
    pub(super) info: PageInfo,
    pub(super) height: u32,
    pub(super) page: &'p mut dyn PageRows,
    pub(super) buf: Vec<u8>,
    pub(super) row_bytes: usize,
    /// Page row of `buf`'s first row, and rows in `buf`.
    pub(super) first: u32,
    pub(super) rows: u32,
    pub(super) error: Option<ScanError>,
}

impl<'p> Band<'p> {
    pub(super) fn new(info: PageInfo, height: u32, page: &'p mut dyn PageRows) -> Self {
        let row_bytes = info.row_bytes();
        Band {
            info,
            height,
            page,
            buf: vec![0; row_bytes * BAND_ROWS],
            row_bytes,
            first: 0,
            rows: 0,
            error: None,
        }
    }

    /// Row `y` of the page, reading the next band when `y` is past this one.
    pub(super) fn row(&mut self, y: u32) -> Result<&[u8], ScanError> {
        while y >= self.first + self.rows {
            self.first += self.rows;
            let n = super::super::read_band(self.page, &mut self.buf)?;
            if n == 0 {
                return Err(ScanError::BadPage(format!(
                    "the page ended after {} of the {} rows announced",
                    self.first, self.height
                )));
            }
            self.rows = n as u32;
        }
        let at = (y - self.first) as usize * self.row_bytes;
        Ok(&self.buf[at..at + self.row_bytes])
    }

    /// Checks that the page has no rows beyond its announced height.
    pub(super) fn expect_end(&mut self) -> Result<(), ScanError> {
        let extra = match self.first + self.rows {
            end if end > self.height => end - self.height,
            _ => super::super::read_band(self.page, &mut self.buf)? as u32,
        };
        if extra > 0 {
            return Err(ScanError::BadPage(format!(
                "the page runs past the {} rows announced",
                self.height
            )));
        }
        Ok(())
    }
}

/// The band as the JPEG encoder's image: RGB or gray rows to YCbCr or luma samples.
pub(super) struct JpegRows<'b, 'p> {
    pub(super) band: RefCell<&'b mut Band<'p>>,
    pub(super) width: u16,
    pub(super) height: u16,
    pub(super) failed: &'b Cell<bool>,
}

impl jpeg_encoder::ImageBuffer for &JpegRows<'_, '_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        match self.band.borrow().info.color {
            ColorMode::Gray => jpeg_encoder::JpegColorType::Luma,
            _ => jpeg_encoder::JpegColorType::Ycbcr,
        }
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let mut band = self.band.borrow_mut();
        let gray = band.info.color == ColorMode::Gray;
        if !self.failed.get() {
            match band.row(u32::from(y)) {
                Ok(row) if gray => {
                    buffers[0].extend_from_slice(row);
                    return;
                }
                Ok(row) => {
                    for px in row.chunks_exact(3) {
                        let (l, cb, cr) = jpeg_encoder::rgb_to_ycbcr(px[0], px[1], px[2]);
                        buffers[0].push(l);
                        buffers[1].push(cb);
                        buffers[2].push(cr);
                    }
                    return;
                }
                Err(e) => {
                    band.error = Some(e);
                    self.failed.set(true);
                }
            }
        }
        // Filler keeps the encoder's buffers the size it expects until the output stops it.
        let channels = if gray { 1 } else { 3 };
        for b in buffers.iter_mut().take(channels) {
            b.resize(b.len() + usize::from(self.width), 0);
        }
    }
}

/// The PDF output as the JPEG encoder sees it: refuses writes once the page failed.
pub(super) struct StopOnFailure<'a, W> {
    pub(super) inner: W,
    pub(super) failed: &'a Cell<bool>,
}

impl<W: Write> Write for StopOnFailure<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed.get() {
            return Err(io::Error::other("the page stopped"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A spooled page read back.
pub(super) struct FileRows<'a> {
    pub(super) info: PageInfo,
    pub(super) file: BufReader<File>,
    pub(super) left: u64,
    pub(super) path: &'a Path,
}

impl PageRows for FileRows<'_> {
    fn info(&self) -> PageInfo {
        self.info
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        let rb = self.info.row_bytes();
        let n = (band.len() / rb).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.file.read_exact(&mut band[..n * rb]).map_err(|e| {
            ScanError::Device(format!(
                "reading back the spooled page {}: {e}",
                self.path.display()
            ))
        })?;
        self.left -= n as u64;
        Ok(n)
    }
}
