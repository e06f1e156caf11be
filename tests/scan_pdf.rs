//! Simulated scanner → streaming PDF writer → read back with lopdf (and the JPEGs decoded with
//! zune-jpeg), plus the failure paths: cancel, device error, bad pages, crash-safe publishing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use lopdf::{Document, Object, ObjectId, Stream};
use mfp_kiosk::scan::pdf::{scan_to_pdf, PdfError, ScanOutput};
use mfp_kiosk::scan::simulated::{render_page, SimulatedScanner};
use mfp_kiosk::scan::{
    ColorMode, PageFn, PageInfo, PageRows, PageSize, ScanError, ScanOptions, ScanSource, Scanner,
};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

fn opts(color: ColorMode, page_size: PageSize) -> ScanOptions {
    ScanOptions {
        dpi: 100,
        color,
        source: ScanSource::Adf,
        page_size,
    }
}

fn scan(sheets: u32, o: &ScanOptions, out: &Path) -> Result<ScanOutput, PdfError> {
    let mut scanner = SimulatedScanner::new(sheets);
    scan_to_pdf(&mut scanner, o, out, &AtomicBool::new(false), &mut |_| {})
}

/// The image XObject drawn on a page.
fn page_image(doc: &Document, page: ObjectId) -> &Stream {
    let dict = doc.get_dictionary(page).unwrap();
    let resources = dict.get(b"Resources").unwrap().as_dict().unwrap();
    let xobjects = resources.get(b"XObject").unwrap().as_dict().unwrap();
    let (_, im) = xobjects.iter().next().unwrap();
    doc.get_object(im.as_reference().unwrap())
        .unwrap()
        .as_stream()
        .unwrap()
}

fn int(doc: &Document, s: &Stream, key: &[u8]) -> i64 {
    let (_, v) = doc.dereference(s.dict.get(key).unwrap()).unwrap();
    v.as_i64().unwrap()
}

fn name<'a>(s: &'a Stream, key: &[u8]) -> &'a [u8] {
    s.dict.get(key).unwrap().as_name().unwrap()
}

fn media_box(doc: &Document, page: ObjectId) -> Vec<f32> {
    let dict = doc.get_dictionary(page).unwrap();
    dict.get(b"MediaBox")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().unwrap())
        .collect()
}

fn decode_jpeg(data: &[u8], gray: bool) -> (usize, usize, Vec<u8>) {
    let cs = if gray {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    let options = DecoderOptions::default().jpeg_set_out_colorspace(cs);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = d.decode().unwrap();
    let info = d.info().unwrap();
    (usize::from(info.width), usize::from(info.height), pixels)
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.len() as f64
}

#[test]
fn three_colour_pages_round_trip_through_the_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scan.pdf");
    let o = opts(ColorMode::Color, PageSize::A4);
    let mut seen = Vec::new();
    let mut scanner = SimulatedScanner::new(3);
    let result = scan_to_pdf(&mut scanner, &o, &out, &AtomicBool::new(false), &mut |n| {
        seen.push(n)
    })
    .unwrap();
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(result.pages, 3);
    assert_eq!(result.path, out);
    assert_eq!(result.bytes, std::fs::metadata(&out).unwrap().len());
    // Only the finished file: no temporary left next to it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let doc = Document::load(&out).unwrap();
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 3);
    let (w, h) = PageSize::A4.size_px(100);
    let mut decoded = Vec::new();
    for (i, (_, &page)) in pages.iter().enumerate() {
        let mb = media_box(&doc, page);
        assert_eq!(mb[..2], [0.0, 0.0]);
        // A4 is 595.28 x 841.89 pt; rounding to whole pixels at 100 dpi moves it < 0.72 pt.
        assert!((mb[2] - 595.28).abs() < 0.72, "width {}", mb[2]);
        assert!((mb[3] - 841.89).abs() < 0.72, "height {}", mb[3]);

        let im = page_image(&doc, page);
        assert_eq!(name(im, b"Subtype"), b"Image");
        assert_eq!(name(im, b"Filter"), b"DCTDecode");
        assert_eq!(name(im, b"ColorSpace"), b"DeviceRGB");
        assert_eq!(int(&doc, im, b"BitsPerComponent"), 8);
        assert_eq!(int(&doc, im, b"Width"), i64::from(w));
        assert_eq!(int(&doc, im, b"Height"), i64::from(h));

        let (dw, dh, pixels) = decode_jpeg(&im.content, false);
        assert_eq!((dw, dh), (w as usize, h as usize));
        let original = render_page(&o, i as u32 + 1, false);
        let err = mean_abs_diff(&pixels, &original.data);
        assert!(err < 6.0, "page {} differs from its scan by {err}", i + 1);
        decoded.push(pixels);
    }
    // Each page shows its own content (number, layout), not a copy of the first.
    assert!(mean_abs_diff(&decoded[0], &decoded[1]) > 5.0);
    assert!(mean_abs_diff(&decoded[1], &decoded[2]) > 5.0);
}

#[test]
fn gray_pages_are_single_channel_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gray.pdf");
    let o = opts(ColorMode::Gray, PageSize::A5);
    scan(2, &o, &out).unwrap();
    let doc = Document::load(&out).unwrap();
    for (i, (_, &page)) in doc.get_pages().iter().enumerate() {
        let im = page_image(&doc, page);
        assert_eq!(name(im, b"ColorSpace"), b"DeviceGray");
        assert_eq!(name(im, b"Filter"), b"DCTDecode");
        let (_, _, pixels) = decode_jpeg(&im.content, true);
        let original = render_page(&o, i as u32 + 1, false);
        assert!(mean_abs_diff(&pixels, &original.data) < 6.0);
    }
}

#[test]
fn black_and_white_pages_are_lossless_one_bit_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bw.pdf");
    let o = opts(ColorMode::BlackWhite, PageSize::Letter);
    scan(3, &o, &out).unwrap();
    let doc = Document::load(&out).unwrap();
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 3);
    let (w, h) = PageSize::Letter.size_px(100);
    for (i, (_, &page)) in pages.iter().enumerate() {
        // Letter is exactly 850 x 1100 px at 100 dpi: 612 x 792 pt.
        assert_eq!(media_box(&doc, page), [0.0, 0.0, 612.0, 792.0]);
        let im = page_image(&doc, page);
        assert_eq!(name(im, b"Filter"), b"FlateDecode");
        assert_eq!(name(im, b"ColorSpace"), b"DeviceGray");
        assert_eq!(int(&doc, im, b"BitsPerComponent"), 1);
        assert_eq!(int(&doc, im, b"Width"), i64::from(w));
        assert_eq!(int(&doc, im, b"Height"), i64::from(h));
        // Set bits mean black in the raster, 0 is black in DeviceGray: the image must invert.
        let decode: Vec<i64> = im
            .dict
            .get(b"Decode")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(decode, [1, 0]);
        let bits = im.decompressed_content().unwrap();
        assert_eq!(bits, render_page(&o, i as u32 + 1, false).data);
        // Compression is worth having on text pages.
        assert!(im.content.len() * 4 < bits.len());
    }
}

#[test]
fn duplex_scans_both_sides_of_every_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("duplex.pdf");
    let o = ScanOptions {
        source: ScanSource::AdfDuplex,
        ..opts(ColorMode::BlackWhite, PageSize::A5)
    };
    assert_eq!(scan(2, &o, &out).unwrap().pages, 4);
    assert_eq!(Document::load(&out).unwrap().get_pages().len(), 4);
}

#[test]
fn cross_reference_table_points_at_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("xref.pdf");
    scan(2, &opts(ColorMode::Gray, PageSize::A5), &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4\n"));
    assert!(bytes.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(&bytes);
    let startxref: usize = text
        .rsplit("startxref\n")
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes[startxref..].starts_with(b"xref\n0 "));
    let header_len = bytes[startxref + 5..]
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + 6;
    let subsection =
        std::str::from_utf8(&bytes[startxref + 5..startxref + header_len - 1]).unwrap();
    let count: usize = subsection.split(' ').nth(1).unwrap().parse().unwrap();
    // Catalog, page tree, info, then 4 objects per page.
    assert_eq!(count, 4 + 2 * 4);
    let table = &bytes[startxref + header_len..startxref + header_len + 20 * count];
    // Entries are exactly 20 bytes each, including a two-byte end of line.
    assert_eq!(&table[..20], b"0000000000 65535 f\r\n");
    for (id, entry) in table.chunks_exact(20).enumerate().skip(1) {
        assert_eq!(&entry[17..], b"n\r\n", "entry {id}");
        let offset: usize = std::str::from_utf8(&entry[..10]).unwrap().parse().unwrap();
        let header = format!("{id} 0 obj\n");
        assert!(
            bytes[offset..].starts_with(header.as_bytes()),
            "object {id}"
        );
    }
    assert!(bytes[startxref + header_len + 20 * count..].starts_with(b"trailer\n"));
}

#[test]
fn cancel_after_the_first_page_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cancelled.pdf");
    let cancel = AtomicBool::new(false);
    let mut scanner = SimulatedScanner::new(5);
    let mut pages_seen = 0;
    let err = scan_to_pdf(
        &mut scanner,
        &opts(ColorMode::Color, PageSize::A5),
        &out,
        &cancel,
        &mut |n| {
            pages_seen = n;
            if n == 1 {
                cancel.store(true, Ordering::Release);
            }
        },
    )
    .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(pages_seen, 1);
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn paper_jam_keeps_the_previous_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jam.pdf");
    std::fs::write(&out, b"earlier document").unwrap();
    let mut scanner = SimulatedScanner::new(3).with_jam_before_page(2);
    let err = scan_to_pdf(
        &mut scanner,
        &opts(ColorMode::Gray, PageSize::A5),
        &out,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, PdfError::Scan(ScanError::Device(ref m)) if m.contains("jam")),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier document");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn empty_feeder_is_reported_before_a_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.pdf");
    let err = scan(0, &opts(ColorMode::Gray, PageSize::A4), &out).unwrap_err();
    assert!(
        matches!(err, PdfError::Scan(ScanError::NoPaper(_))),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn missing_output_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/scan.pdf");
    let err = scan(1, &opts(ColorMode::Gray, PageSize::A5), &out).unwrap_err();
    assert!(matches!(err, PdfError::Io { .. }), "{err}");
}

/// A scanner whose second page is corrupt (too little data), as a faulty backend might deliver.
struct TruncatingScanner {
    error_seen_by_scanner: Option<String>,
}

impl Scanner for TruncatingScanner {
    fn name(&self) -> &str {
        "truncating"
    }

    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut PageFn<'_>,
        _cancel: &AtomicBool,
    ) -> Result<u32, ScanError> {
        on_page(&mut render_page(opts, 1, false).rows())?;
        let mut bad = render_page(opts, 2, false);
        let height = bad.height_px;
        bad.data.truncate(bad.data.len() / 2);
        // Announces the full height, delivers half the rows.
        let mut rows = Announcing {
            inner: bad.rows(),
            height: Some(height),
        };
        if let Err(e) = on_page(&mut rows) {
            self.error_seen_by_scanner = Some(e.to_string());
            return Err(e);
        }
        Ok(2)
    }
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
fn a_malformed_page_stops_the_scan_with_the_writers_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.pdf");
    let mut scanner = TruncatingScanner {
        error_seen_by_scanner: None,
    };
    let err = scan_to_pdf(
        &mut scanner,
        &opts(ColorMode::Color, PageSize::A5),
        &out,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, PdfError::BadPage { page: 2, .. }), "{err}");
    let seen = scanner.error_seen_by_scanner.unwrap();
    assert!(seen.contains("page 2"), "{seen}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn invalid_resolution_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dpi.pdf");
    let o = ScanOptions {
        dpi: 20,
        ..opts(ColorMode::Gray, PageSize::A4)
    };
    let err = scan(1, &o, &out).unwrap_err();
    assert!(
        matches!(err, PdfError::Scan(ScanError::InvalidOptions(_))),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn trailer_names_the_catalog_and_the_info_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trailer.pdf");
    scan(1, &opts(ColorMode::BlackWhite, PageSize::A5), &out).unwrap();
    let doc = Document::load(&out).unwrap();
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    assert_eq!(root, (1, 0));
    let info = doc.trailer.get(b"Info").unwrap().as_reference().unwrap();
    let producer = doc.get_dictionary(info).unwrap().get(b"Producer").unwrap();
    assert!(matches!(producer, Object::String(s, _) if s.starts_with(b"mfp-kiosk")));
}
