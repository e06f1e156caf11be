//! Pages stream through the PDF writer in bands: the heap a scan needs is a band and the
//! encoder's rows, not a page raster. Measured with a counting allocator on the scanning thread
//! (bytes, not time), beside the same page written from a whole raster as the reference. Also
//! the row-stream edge cases: a page of unknown height, a page that runs long, a cancel mid-page.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use mfp_kiosk::scan::pdf::{scan_to_pdf, PdfError, PdfWriter};
use mfp_kiosk::scan::simulated::{render_page, SimulatedPage, SimulatedScanner};
use mfp_kiosk::scan::{
    ColorMode, PageInfo, PageRows, PageSize, ScanError, ScanOptions, ScanSource, BAND_ROWS,
};

/// Counts the heap bytes live on each thread and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator; the counters are plain thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap growth on this thread while `f` runs, in bytes.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, (peak - start).max(0) as usize)
}

fn a4_colour_300() -> ScanOptions {
    ScanOptions {
        dpi: 300,
        color: ColorMode::Color,
        source: ScanSource::AdfDuplex,
        page_size: PageSize::A4,
    }
}

#[test]
fn a_300_dpi_colour_duplex_scan_holds_a_band_not_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let o = a4_colour_300();
    let (w, h) = PageSize::A4.size_px(300);
    let raster = w as usize * 3 * h as usize;

    let (doc, streamed) = peak_growth(|| {
        scan_to_pdf(
            &mut SimulatedScanner::new(1),
            &o,
            &dir.path().join("duplex.pdf"),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap()
    });
    assert_eq!(doc.pages, 2);

    // The reference: the same front page written from a whole raster.
    let (_, whole) = peak_growth(|| {
        let page = render_page(&o, 1, false);
        let mut writer = PdfWriter::create(&dir.path().join("whole.pdf")).unwrap();
        writer.add_page(&page).unwrap();
        drop(page);
        writer.finish().unwrap()
    });
    let band = w as usize * 3 * BAND_ROWS;
    eprintln!(
        "peak heap: streamed {} KiB, whole raster {} KiB, band {} KiB",
        streamed / 1024,
        whole / 1024,
        band / 1024
    );
    assert!(whole >= raster, "the reference holds the page: {whole}");
    // A band, the encoder's 16 rows of three channels, the 256 KiB file buffer, small change.
    assert!(
        streamed < band + 3 * 16 * w as usize * 2 + 256 * 1024 + 256 * 1024,
        "streamed scan peaked at {streamed} bytes (page raster {raster})"
    );
}

/// A row stream that announces a height of its own choosing.
struct Announcing<R> {
    inner: R,
    height: Option<u32>,
}

impl<R: PageRows> PageRows for Announcing<R> {
    fn info(&self) -> PageInfo {
        PageInfo {
            height_px: self.height,
            ..self.inner.info()
        }
    }
    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        self.inner.read_rows(band)
    }
}

#[test]
fn a_page_of_unknown_height_is_spooled_beside_the_pdf_and_comes_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("unsized.pdf");
    for color in [ColorMode::BlackWhite, ColorMode::Gray] {
        let o = ScanOptions {
            dpi: 100,
            color,
            source: ScanSource::Adf,
            page_size: PageSize::A5,
        };
        let mut writer = PdfWriter::create(&out).unwrap();
        let mut page = Announcing {
            inner: SimulatedPage::new(&o, 1, false),
            height: None,
        };
        writer.add_page_rows(&mut page).unwrap();
        writer.finish().unwrap();
        // Only the PDF: the spooled rows are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let doc = lopdf::Document::load(&out).unwrap();
        let (_, &page_id) = doc.get_pages().iter().next().unwrap();
        let dict = doc.get_dictionary(page_id).unwrap();
        let xobjects = dict
            .get(b"Resources")
            .unwrap()
            .as_dict()
            .unwrap()
            .get(b"XObject")
            .unwrap()
            .as_dict()
            .unwrap();
        let im = doc
            .get_object(xobjects.iter().next().unwrap().1.as_reference().unwrap())
            .unwrap()
            .as_stream()
            .unwrap();
        let (_, h) = PageSize::A5.size_px(100);
        assert_eq!(
            im.dict.get(b"Height").unwrap().as_i64().unwrap(),
            i64::from(h)
        );
        if color == ColorMode::BlackWhite {
            assert_eq!(
                im.decompressed_content().unwrap(),
                render_page(&o, 1, false).data
            );
        }
    }
}

#[test]
fn a_page_that_runs_past_its_announced_height_is_refused_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long.pdf");
    for color in [ColorMode::BlackWhite, ColorMode::Color] {
        let o = ScanOptions {
            dpi: 100,
            color,
            source: ScanSource::Adf,
            page_size: PageSize::A5,
        };
        let (_, h) = PageSize::A5.size_px(100);
        let mut writer = PdfWriter::create(&out).unwrap();
        let mut page = Announcing {
            inner: SimulatedPage::new(&o, 1, false),
            height: Some(h - 40),
        };
        let err = writer.add_page_rows(&mut page).unwrap_err();
        assert!(
            matches!(err, PdfError::BadPage { page: 1, ref reason } if reason.contains("runs past")),
            "{color:?}: {err}"
        );
        assert!(matches!(writer.finish(), Err(PdfError::Incomplete)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

/// Sets the cancel flag once `after` rows have been read, as a user tapping Cancel mid-page.
struct CancelMidPage<'a, R> {
    inner: R,
    cancel: &'a AtomicBool,
    after: usize,
    read: usize,
}

impl<R: PageRows> PageRows for CancelMidPage<'_, R> {
    fn info(&self) -> PageInfo {
        self.inner.info()
    }
    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        if self.read >= self.after {
            self.cancel.store(true, Ordering::Release);
        }
        if self.cancel.load(Ordering::Acquire) {
            return Err(ScanError::Cancelled);
        }
        let n = self.inner.read_rows(band)?;
        self.read += n;
        Ok(n)
    }
}

#[test]
fn a_cancel_in_the_middle_of_a_page_stops_the_encoder_there() {
    let dir = tempfile::tempdir().unwrap();
    let o = a4_colour_300();
    let cancel = AtomicBool::new(false);
    let mut writer = PdfWriter::create(&dir.path().join("cancel.pdf")).unwrap();
    let mut page = CancelMidPage {
        inner: SimulatedPage::new(&o, 1, false),
        cancel: &cancel,
        after: 200,
        read: 0,
    };
    let err = writer.add_page_rows(&mut page).unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    // The encoder stopped at the band it was in, not at the bottom of the page.
    assert!(page.read < 200 + 2 * BAND_ROWS, "{} rows read", page.read);
    drop(writer);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
