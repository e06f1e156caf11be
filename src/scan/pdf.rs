//! Streams scanned pages into a PDF file, one image per page.
//!
//! Why not build the document with lopdf: lopdf keeps every object, image streams included, in
//! memory until `save`, so memory would grow with the page count of an ADF job. This writer
//! emits each object as soon as it exists and keeps only the byte offset of every object for the
//! cross-reference table; the JPEG or Flate encoder writes straight into the file and the stream
//! length goes into a separate object written right after the stream. Pages arrive as row
//! streams ([`PageRows`]): the encoder pulls one band of [`BAND_ROWS`] rows at a time from the
//! scanner, so what is in memory is one band, the encoder's working rows (16 rows of YCbCr for
//! JPEG) and the file buffer, whatever the page size. A page whose height the scanner does not
//! know up front is first spooled row by row to a hidden file beside the PDF (JPEG needs the
//! height in its header), then encoded from there.
//!
//! Colour and gray pages are JPEG (`/DCTDecode`); black-and-white pages are 1-bit
//! `/FlateDecode` images. Each page's MediaBox is the page's physical size (`px * 72 / dpi`
//! points) and the image fills it.
//!
//! Crash safety: the document is written to a hidden temporary file in the destination
//! directory, flushed and fsynced, renamed over the final name, and the directory is fsynced,
//! so the final path only ever names a complete PDF. An unfinished writer removes its temporary
//! file when dropped.

use std::cell::{Cell, RefCell};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    ColorMode, PageInfo, PageRows, RasterPage, ScanError, ScanOptions, Scanner, BAND_ROWS,
};

mod rows;
use rows::{Band, FileRows, JpegRows, StopOnFailure};

/// JPEG quality for colour and gray pages: text stays crisp, a 200 dpi A4 page is ~200–400 kB.
const JPEG_QUALITY: u8 = 85;

/// Catalog, page tree and info dictionary have fixed object numbers; page objects follow.
const CATALOG_ID: u32 = 1;
const PAGES_ID: u32 = 2;
const INFO_ID: u32 = 3;
const FIRST_FREE_ID: u32 = 4;

/// A finished document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutput {
    pub path: PathBuf,
    pub pages: u32,
    pub bytes: u64,
}

/// Why no PDF was produced.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("cannot write PDF {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("output path {0} has no directory or file name")]
    BadPath(PathBuf),
    #[error("page {page}: {reason}")]
    BadPage { page: u32, reason: String },
    #[error("JPEG encoding of page {page} failed: {reason}")]
    Jpeg { page: u32, reason: String },
    #[error("the scan produced no pages")]
    NoPages,
    #[error("an earlier page failed to encode; the document is incomplete")]
    Incomplete,
}

impl PdfError {
    /// True when the job stopped because the user cancelled it.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PdfError::Scan(ScanError::Cancelled))
    }

    /// True when the document did not fit on the disk (the partial file is already removed).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, PdfError::Io { source, .. } if crate::admin::storage::is_storage_full(source))
    }
}

/// Scans with `scanner` into a PDF at `out`, encoding each page as it arrives.
///
/// `progress` is called with the number of pages written so far after each page. On any error
/// or cancellation nothing is left at `out` (an existing file there is left untouched) and the
/// temporary file is removed; on success `out` is replaced atomically.
pub fn scan_to_pdf(
    scanner: &mut dyn Scanner,
    opts: &ScanOptions,
    out: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u32),
) -> Result<ScanOutput, PdfError> {
    opts.validate()?;
    let mut writer = PdfWriter::create(out)?;
    // The scanner only sees a ScanError from the sink; the typed error is kept here.
    let mut sink_error: Option<PdfError> = None;
    let result = {
        let mut on_page = |page: &mut dyn PageRows| match writer.add_page_rows(page) {
            Ok(()) => {
                progress(writer.pages());
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                sink_error = Some(e);
                Err(ScanError::SinkFailed(msg))
            }
        };
        scanner.scan(opts, &mut on_page, cancel)
    };
    if let Some(e) = sink_error {
        return Err(e);
    }
    let delivered = result?;
    // A cancel that arrives after the last page still means the user does not want the file.
    if cancel.load(Ordering::Acquire) {
        return Err(ScanError::Cancelled.into());
    }
    if delivered != writer.pages() {
        tracing::warn!(
            delivered,
            written = writer.pages(),
            scanner = scanner.name(),
            "scanner page count disagrees with pages received"
        );
    }
    writer.finish()
}

/// Appends page images to a PDF being written to a temporary file; [`PdfWriter::finish`]
/// publishes it under its final name.
pub struct PdfWriter {
    out: Counting<BufWriter<File>>,
    temp: TempFile,
    dir: PathBuf,
    final_path: PathBuf,
    /// Byte offset of each object, indexed by object number (index 0 unused).
    offsets: Vec<Option<u64>>,
    page_ids: Vec<u32>,
    /// Set when a page failed half-way: its objects are missing, so the file must not be
    /// published.
    broken: bool,
}

impl PdfWriter {
    /// Starts a document that will be published at `out`.
    pub fn create(out: &Path) -> Result<Self, PdfError> {
        let (dir, name) = match (out.parent(), out.file_name()) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(PdfError::BadPath(out.to_path_buf())),
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let (temp, file) = TempFile::create(dir, &name.to_string_lossy())?;
        let mut w = PdfWriter {
            out: Counting {
                inner: BufWriter::with_capacity(256 * 1024, file),
                count: 0,
            },
            temp,
            dir: dir.to_path_buf(),
            final_path: out.to_path_buf(),
            offsets: vec![None; FIRST_FREE_ID as usize],
            page_ids: Vec::new(),
            broken: false,
        };
        // The binary comment tells transfer tools the file is not text.
        w.raw(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")?;
        w.begin_object(CATALOG_ID)?;
        w.raw(format!("<< /Type /Catalog /Pages {PAGES_ID} 0 R >>\nendobj\n").as_bytes())?;
        Ok(w)
    }

    /// Pages written so far.
    pub fn pages(&self) -> u32 {
        self.page_ids.len() as u32
    }

    /// Encodes a whole in-memory page and appends it as the next page. A malformed page is
    /// refused without harm; after any other error the writer only refuses further work.
    pub fn add_page(&mut self, page: &RasterPage) -> Result<(), PdfError> {
        if self.broken {
            return Err(PdfError::Incomplete);
        }
        page.check_layout().map_err(|e| PdfError::BadPage {
            page: self.pages() + 1,
            reason: e.to_string(),
        })?;
        self.add_page_rows(&mut page.rows())
    }

    /// Encodes a page as its rows arrive and appends it as the next page. A page whose
    /// announced size is unusable is refused without harm; after any other error (a page that
    /// ends early or runs long, the scanner failing, a full disk) the writer only refuses
    /// further work.
    pub fn add_page_rows(&mut self, page: &mut dyn PageRows) -> Result<(), PdfError> {
        if self.broken {
            return Err(PdfError::Incomplete);
        }
        let page_no = self.pages() + 1;
        let info = page.info();
        if info.width_px == 0 || info.dpi == 0 || info.height_px == Some(0) {
            return Err(PdfError::BadPage {
                page: page_no,
                reason: format!(
                    "empty page {}x{:?} px at {} dpi",
                    info.width_px, info.height_px, info.dpi
                ),
            });
        }
        let result = match info.height_px {
            Some(height) => self.write_page(info, height, page, page_no),
            None => self.write_unsized_page(info, page, page_no),
        };
        self.broken = result.is_err();
        result
    }

    /// A page of unknown height: rows to a hidden file beside the PDF, then encoded from it.
    fn write_unsized_page(
        &mut self,
        info: PageInfo,
        page: &mut dyn PageRows,
        page_no: u32,
    ) -> Result<(), PdfError> {
        let name = self
            .final_path
            .file_name()
            .map(|n| format!("{}.rows", n.to_string_lossy()))
            .unwrap_or_else(|| "page.rows".into());
        let (spool, file) = TempFile::create(&self.dir, &name)?;
        let io_err = |source| PdfError::Io {
            path: spool.path.clone(),
            source,
        };
        let rb = info.row_bytes();
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        let mut band = vec![0u8; rb * BAND_ROWS];
        let mut rows: u64 = 0;
        loop {
            let n = super::read_band(page, &mut band).map_err(|e| page_error(e, page_no))?;
            if n == 0 {
                break;
            }
            w.write_all(&band[..n * rb]).map_err(io_err)?;
            rows += n as u64;
        }
        w.into_inner().map_err(|e| io_err(e.into_error()))?;
        // The spool was created write-only; read it back through a second descriptor.
        let file = File::open(&spool.path).map_err(io_err)?;
        let height =
            u32::try_from(rows)
                .ok()
                .filter(|&h| h > 0)
                .ok_or_else(|| PdfError::BadPage {
                    page: page_no,
                    reason: format!("{rows} rows"),
                })?;
        let info = PageInfo {
            height_px: Some(height),
            ..info
        };
        let mut spooled = FileRows {
            info,
            file: BufReader::with_capacity(64 * 1024, file),
            left: rows,
            path: &spool.path,
        };
        self.write_page(info, height, &mut spooled, page_no)
        // `spool` is dropped here, removing the file.
    }

    fn write_page(
        &mut self,
        info: PageInfo,
        height: u32,
        page: &mut dyn PageRows,
        page_no: u32,
    ) -> Result<(), PdfError> {
        let image_id = self.alloc();
        let length_id = self.alloc();
        let content_id = self.alloc();
        let page_id = self.alloc();

        let (color_space, bits, filter, decode) = match info.color {
            ColorMode::Color => ("/DeviceRGB", 8, "/DCTDecode", ""),
            ColorMode::Gray => ("/DeviceGray", 8, "/DCTDecode", ""),
            // PDF gray 0 is black; our rasters use 1 for black, so invert on decode.
            ColorMode::BlackWhite => ("/DeviceGray", 1, "/FlateDecode", " /Decode [1 0]"),
        };
        self.begin_object(image_id)?;
        self.raw(
            format!(
                "<< /Type /XObject /Subtype /Image /Width {} /Height {height} /ColorSpace {color_space} \
                 /BitsPerComponent {bits}{decode} /Filter {filter} /Length {length_id} 0 R >>\nstream\n",
                info.width_px
            )
            .as_bytes(),
        )?;
        let start = self.out.count;
        let mut band = Band::new(info, height, page);
        match info.color {
            ColorMode::Color | ColorMode::Gray => self.write_jpeg(&mut band, page_no)?,
            ColorMode::BlackWhite => self.write_flate(&mut band, page_no)?,
        }
        band.expect_end().map_err(|e| page_error(e, page_no))?;
        let length = self.out.count - start;
        self.raw(b"\nendstream\nendobj\n")?;
        self.begin_object(length_id)?;
        self.raw(format!("{length}\nendobj\n").as_bytes())?;

        let dpi = f64::from(info.dpi);
        let (w, h) = (
            num(f64::from(info.width_px) * 72.0 / dpi),
            num(f64::from(height) * 72.0 / dpi),
        );
        let content = format!("q\n{w} 0 0 {h} 0 0 cm\n/Im0 Do\nQ\n");
        self.begin_object(content_id)?;
        self.raw(
            format!(
                "<< /Length {} >>\nstream\n{content}endstream\nendobj\n",
                content.len()
            )
            .as_bytes(),
        )?;

        self.begin_object(page_id)?;
        self.raw(
            format!(
                "<< /Type /Page /Parent {PAGES_ID} 0 R /MediaBox [0 0 {w} {h}] \
                 /Resources << /XObject << /Im0 {image_id} 0 R >> >> /Contents {content_id} 0 R >>\nendobj\n"
            )
            .as_bytes(),
        )?;
        self.page_ids.push(page_id);
        tracing::debug!(page_no, image_bytes = length, "page added to PDF");
        Ok(())
    }

    /// Writes the page tree and cross-reference table, makes the file durable and moves it to
    /// its final name.
    pub fn finish(mut self) -> Result<ScanOutput, PdfError> {
        if self.broken {
            return Err(PdfError::Incomplete);
        }
        if self.page_ids.is_empty() {
            return Err(PdfError::NoPages);
        }
        let kids: Vec<String> = self.page_ids.iter().map(|id| format!("{id} 0 R")).collect();
        self.begin_object(PAGES_ID)?;
        self.raw(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} >>\nendobj\n",
                kids.join(" "),
                self.page_ids.len()
            )
            .as_bytes(),
        )?;
        let created = chrono::Utc::now().format("D:%Y%m%d%H%M%SZ");
        self.begin_object(INFO_ID)?;
        self.raw(
            format!(
                "<< /Producer (mfp-kiosk {}) /CreationDate ({created}) >>\nendobj\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        )?;

        let xref_at = self.out.count;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f\r\n", self.offsets.len());
        for offset in self.offsets.iter().skip(1) {
            let offset = offset.ok_or(PdfError::Incomplete)?;
            xref.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {CATALOG_ID} 0 R /Info {INFO_ID} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len()
        ));
        self.raw(xref.as_bytes())?;
        let bytes = self.out.count;

        let io_err = |source| PdfError::Io {
            path: self.temp.path.clone(),
            source,
        };
        self.out.inner.flush().map_err(io_err)?;
        self.out.inner.get_ref().sync_all().map_err(io_err)?;
        self.temp.persist(&self.final_path)?;
        tracing::info!(pages = self.pages(), bytes, "PDF written");
        Ok(ScanOutput {
            path: self.final_path.clone(),
            pages: self.pages(),
            bytes,
        })
    }

    fn alloc(&mut self) -> u32 {
        self.offsets.push(None);
        (self.offsets.len() - 1) as u32
    }

    fn begin_object(&mut self, id: u32) -> Result<(), PdfError> {
        self.offsets[id as usize] = Some(self.out.count);
        self.raw(format!("{id} 0 obj\n").as_bytes())
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        self.out.write_all(bytes).map_err(|source| PdfError::Io {
            path: self.temp.path.clone(),
            source,
        })
    }

    fn write_jpeg(&mut self, band: &mut Band<'_>, page_no: u32) -> Result<(), PdfError> {
        let info = band.info;
        let too_big = || PdfError::BadPage {
            page: page_no,
            reason: format!(
                "{}x{} px exceeds the JPEG limit of 65535 px per side",
                info.width_px, band.height
            ),
        };
        let width = u16::try_from(info.width_px).map_err(|_| too_big())?;
        let height = u16::try_from(band.height).map_err(|_| too_big())?;
        let dpi = u16::try_from(info.dpi).unwrap_or(u16::MAX);
        // The encoder pulls rows through `fill_buffers`, which cannot fail: a failing page is
        // noted in `failed`, and the output then refuses the next write, which stops the encoder
        // within one row of blocks instead of encoding the rest of the page.
        let failed = Cell::new(false);
        let source = JpegRows {
            band: RefCell::new(band),
            width,
            height,
            failed: &failed,
        };
        let out = StopOnFailure {
            inner: &mut self.out,
            failed: &failed,
        };
        let mut encoder = jpeg_encoder::Encoder::new(out, JPEG_QUALITY);
        encoder.set_density(jpeg_encoder::Density::Inch { x: dpi, y: dpi });
        let result = encoder.encode_image(&source);
        let band = source.band.into_inner();
        if let Some(e) = band.error.take() {
            return Err(page_error(e, page_no));
        }
        result.map_err(|e| match e {
            jpeg_encoder::EncodingError::IoError(source) => PdfError::Io {
                path: self.temp.path.clone(),
                source,
            },
            other => PdfError::Jpeg {
                page: page_no,
                reason: other.to_string(),
            },
        })
    }

    fn write_flate(&mut self, band: &mut Band<'_>, page_no: u32) -> Result<(), PdfError> {
        let path = self.temp.path.clone();
        let mut z = flate2::write::ZlibEncoder::new(&mut self.out, flate2::Compression::default());
        for y in 0..band.height {
            let row = band.row(y).map_err(|e| page_error(e, page_no))?;
            z.write_all(row).map_err(|source| PdfError::Io {
                path: path.clone(),
                source,
            })?;
        }
        z.finish()
            .map(drop)
            .map_err(|source| PdfError::Io { path, source })
    }
}

/// A page's typed error from what its row stream said.
fn page_error(e: ScanError, page: u32) -> PdfError {
    match e {
        ScanError::BadPage(reason) => PdfError::BadPage { page, reason },
        other => PdfError::Scan(other),
    }
}

/// A PDF real: fixed notation (PDF has no exponents), at most 3 decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Counts the bytes written, for object offsets and stream lengths.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The hidden temporary file; removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    fn create(dir: &Path, final_name: &str) -> Result<(TempFile, File), PdfError> {
        // A leading dot hides it from directory listings; the pid and a random part keep
        // concurrent jobs for the same name apart; create_new refuses to reuse anything.
        // The name is shortened so the decorations never push it past NAME_MAX.
        let stem: String = final_name.chars().take(64).collect();
        let path = dir.join(format!(
            ".{stem}.{}-{}.partial",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        // 0600 whatever the umask: a scan is the user's document (see `crate::fsmode`).
        let file = crate::fsmode::create_private_file(&path).map_err(|source| PdfError::Io {
            path: path.clone(),
            source,
        })?;
        Ok((
            TempFile {
                path,
                persisted: false,
            },
            file,
        ))
    }

    fn persist(&mut self, to: &Path) -> Result<(), PdfError> {
        fs::rename(&self.path, to).map_err(|source| PdfError::Io {
            path: to.to_path_buf(),
            source,
        })?;
        self.persisted = true;
        sync_dir(to)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove partial PDF");
            }
        }
    }
}

/// Makes the rename itself durable: without this a power cut can lose the new directory entry.
#[cfg(unix)]
fn sync_dir(file: &Path) -> Result<(), PdfError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| PdfError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(not(unix))]
fn sync_dir(_file: &Path) -> Result<(), PdfError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_are_plain_decimals() {
        assert_eq!(num(595.2756), "595.276");
        assert_eq!(num(612.0), "612");
        assert_eq!(num(841.5), "841.5");
        assert_eq!(num(0.0001), "0");
    }

    #[test]
    fn unfinished_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("doc.pdf");
        let w = PdfWriter::create(&out).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn long_final_names_still_get_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(format!("{}.pdf", "n".repeat(240)));
        let w = PdfWriter::create(&out).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn empty_document_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("doc.pdf");
        let w = PdfWriter::create(&out).unwrap();
        assert!(matches!(w.finish(), Err(PdfError::NoPages)));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn malformed_page_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PdfWriter::create(&dir.path().join("doc.pdf")).unwrap();
        let page = RasterPage {
            width_px: 10,
            height_px: 10,
            dpi: 100,
            color: ColorMode::Gray,
            data: vec![0; 99],
        };
        assert!(matches!(
            w.add_page(&page),
            Err(PdfError::BadPage { page: 1, .. })
        ));
        assert_eq!(w.pages(), 0);
    }
}
