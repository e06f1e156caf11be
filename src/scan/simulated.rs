//! A scanner without hardware: draws document-like pages for the demo and the tests.
//!
//! Each page is white paper with a coloured header band, a title, paragraphs of word-shaped ink
//! blocks, a footer rule and the page number drawn large in seven-segment digits. The layout
//! varies a little from page to page (feed offset, paragraph count, word widths) but is fully
//! determined by the page number, so tests can rely on it. A page is laid out once as a list
//! of rectangles and then drawn band by band as the consumer reads it, like the lines coming
//! off a real sensor: no whole-page raster exists (see [`super`]). Drawing is done with
//! whole-row slice fills, so a 300 dpi A4 colour page takes a few tens of milliseconds in an
//! optimised build.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::caps::ScannerCaps;
use super::{
    ColorMode, PageFn, PageInfo, PageRows, RasterPage, ScanError, ScanOptions, ScanSource, Scanner,
};

/// Simulated scanner with a stack of paper in its feeder.
#[derive(Debug, Clone)]
pub struct SimulatedScanner {
    name: String,
    sheets: u32,
    jam_before_page: Option<u32>,
    page_delay: Duration,
    caps: ScannerCaps,
    requests: Option<ScanRequests>,
}

/// Every [`ScanOptions`] a simulated scanner was asked to scan with, in order; shared by the
/// scanners of one factory so a test sees what each job asked for.
pub type ScanRequests = Arc<Mutex<Vec<ScanOptions>>>;

impl SimulatedScanner {
    /// A scanner whose feeder holds `sheets` sheets. A feeder scan ([`ScanSource::Adf`])
    /// delivers one page per sheet, a duplex scan two (front, then a mostly blank back), and a
    /// flatbed scan always exactly one page, as with real glass.
    pub fn new(sheets: u32) -> Self {
        SimulatedScanner {
            name: "Simulated scanner".to_owned(),
            sheets,
            jam_before_page: None,
            page_delay: Duration::ZERO,
            caps: ScannerCaps::unrestricted(),
            requests: None,
        }
    }

    /// Reports `caps` as what the device can do, and refuses a scan outside them as a real
    /// device's driver would.
    pub fn with_caps(mut self, caps: ScannerCaps) -> Self {
        self.caps = caps;
        self
    }

    /// Appends the options of every scan to `requests`.
    pub fn recording(mut self, requests: ScanRequests) -> Self {
        self.requests = Some(requests);
        self
    }

    fn check_caps(&self, opts: &ScanOptions) -> Result<(), ScanError> {
        let refuse = |what: String| Err(ScanError::InvalidOptions(what));
        if !self.caps.colors.contains(&opts.color) {
            return refuse(format!("the scanner has no {:?} mode", opts.color));
        }
        if !self.caps.resolutions.accepts(opts.dpi) {
            return refuse(format!("the scanner cannot scan at {} dpi", opts.dpi));
        }
        if !self.caps.has_source(opts.source) {
            return refuse(format!("the scanner has no {:?} source", opts.source));
        }
        Ok(())
    }

    /// Fails with a paper jam ([`ScanError::Device`]) just before delivering page `page` (1-based).
    pub fn with_jam_before_page(mut self, page: u32) -> Self {
        self.jam_before_page = Some(page);
        self
    }

    /// Spends `delay` on each page, like a real mechanism, so the demo shows progress. The wait
    /// is cut short when the job is cancelled.
    pub fn with_page_delay(mut self, delay: Duration) -> Self {
        self.page_delay = delay;
        self
    }

    fn page_count(&self, source: ScanSource) -> Result<u32, ScanError> {
        match source {
            ScanSource::Flatbed => Ok(1),
            ScanSource::Adf | ScanSource::AdfDuplex if self.sheets == 0 => {
                Err(ScanError::NoPaper("document feeder"))
            }
            ScanSource::Adf => Ok(self.sheets),
            ScanSource::AdfDuplex => Ok(self.sheets.saturating_mul(2)),
        }
    }

    fn wait(&self, cancel: &AtomicBool) -> Result<(), ScanError> {
        let end = Instant::now() + self.page_delay;
        loop {
            if cancel.load(Ordering::Acquire) {
                return Err(ScanError::Cancelled);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

impl Scanner for SimulatedScanner {
    fn name(&self) -> &str {
        &self.name
    }

    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut PageFn<'_>,
        cancel: &AtomicBool,
    ) -> Result<u32, ScanError> {
        opts.validate()?;
        if let Some(r) = &self.requests {
            r.lock().unwrap_or_else(PoisonError::into_inner).push(*opts);
        }
        self.check_caps(opts)?;
        let total = self.page_count(opts.source)?;
        let duplex = opts.source == ScanSource::AdfDuplex;
        for page_no in 1..=total {
            if cancel.load(Ordering::Acquire) {
                tracing::info!(page_no, "simulated scan cancelled");
                return Err(ScanError::Cancelled);
            }
            if self.jam_before_page == Some(page_no) {
                return Err(ScanError::Device(format!(
                    "paper jam while feeding page {page_no}"
                )));
            }
            self.wait(cancel)?;
            let back_side = duplex && page_no % 2 == 0;
            let mut page = SimulatedPage::new(opts, page_no, back_side);
            page.cancel = Some(cancel);
            on_page(&mut page)?;
            if cancel.load(Ordering::Acquire) {
                return Err(ScanError::Cancelled);
            }
            tracing::debug!(page_no, rows = page.next_row, "page scanned");
        }
        Ok(total)
    }

    fn capabilities(&mut self) -> Result<ScannerCaps, ScanError> {
        Ok(self.caps.clone())
    }
}

/// Recycled office paper is never quite white.
const PAPER: [u8; 3] = [250, 250, 246];

/// One simulated page being read: its layout, drawn band by band on demand.
pub struct SimulatedPage<'a> {
    info: PageInfo,
    height: u32,
    rects: Vec<Rect>,
    next_row: u32,
    /// Checked before each band, as a real scanner checks between reads.
    cancel: Option<&'a AtomicBool>,
}

impl SimulatedPage<'_> {
    /// Page `page_no` (1-based) for `opts`, no row read yet.
    pub fn new(opts: &ScanOptions, page_no: u32, back_side: bool) -> Self {
        let (w, h) = opts.page_size.size_px(opts.dpi);
        SimulatedPage {
            info: PageInfo {
                width_px: w,
                height_px: Some(h),
                dpi: opts.dpi,
                color: opts.color,
            },
            height: h,
            rects: layout(opts, page_no, back_side).rects,
            next_row: 0,
            cancel: None,
        }
    }
}

impl PageRows for SimulatedPage<'_> {
    fn info(&self) -> PageInfo {
        self.info
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Err(ScanError::Cancelled);
        }
        let stride = self.info.row_bytes();
        let rows = (band.len() / stride).min((self.height - self.next_row) as usize);
        if rows == 0 {
            return Ok(0);
        }
        let mut c = Canvas {
            width: i64::from(self.info.width_px),
            y0: i64::from(self.next_row),
            rows: rows as i64,
            color: self.info.color,
            stride,
            data: &mut band[..rows * stride],
        };
        c.paint(&self.rects);
        self.next_row += rows as u32;
        Ok(rows)
    }
}

/// Draws page `page_no` (1-based) for `opts` whole, for tests that compare a scan with its
/// original.
pub fn render_page(opts: &ScanOptions, page_no: u32, back_side: bool) -> RasterPage {
    let mut page = SimulatedPage::new(opts, page_no, back_side);
    let (w, h) = (page.info.width_px, page.height);
    let mut data = vec![0u8; page.info.row_bytes() * h as usize];
    let mut c = Canvas {
        width: i64::from(w),
        y0: 0,
        rows: i64::from(h),
        color: opts.color,
        stride: page.info.row_bytes(),
        data: &mut data,
    };
    c.paint(&page.rects);
    page.next_row = h;
    RasterPage {
        width_px: w,
        height_px: h,
        dpi: opts.dpi,
        color: opts.color,
        data,
    }
}

/// The ink of a page as rectangles, in drawing order (later ones cover earlier ones).
fn layout(opts: &ScanOptions, page_no: u32, back_side: bool) -> Layout {
    let (w, h) = opts.page_size.size_px(opts.dpi);
    let mut rng = SplitMix64(0x5ca1_ab1e ^ (u64::from(page_no) << 32));
    let mm = |v: f64| (v / 25.4 * f64::from(opts.dpi)).round() as i64;

    let mut c = Layout { rects: Vec::new() };
    let ink = [28, 28, 34];
    let (width, height) = (i64::from(w), i64::from(h));
    // Sheets never feed perfectly straight in: shift the whole layout a little.
    let left = mm(20.0) + rng.range(-mm(1.5), mm(1.5));
    let top = mm(14.0) + rng.range(-mm(1.5), mm(1.5));
    let right = width - mm(20.0) + (left - mm(20.0));
    let text_w = right - left;

    let digit_h = mm(28.0);
    let footer_y = height - mm(14.0);
    if !back_side {
        // Header band with a logo square and the letterhead.
        let band_colours = [[30, 62, 120], [20, 100, 80], [120, 40, 40]];
        let band = band_colours[(page_no as usize - 1) % band_colours.len()];
        let band_h = mm(16.0);
        c.fill_rect(left, top, text_w, band_h, band);
        c.fill_rect(left + mm(4.0), top + mm(3.0), mm(10.0), mm(10.0), PAPER);
        let mut x = left + mm(18.0);
        for _ in 0..3 {
            let word = mm(rng.range(10, 30) as f64);
            c.fill_rect(x, top + mm(6.0), word, mm(4.0), [235, 235, 230]);
            x += word + mm(3.0);
        }

        // Title in heavy blocks.
        let mut y = top + band_h + mm(10.0);
        let mut x = left;
        for _ in 0..rng.range(2, 5) {
            let word = mm(rng.range(12, 35) as f64);
            c.fill_rect(x, y, word, mm(5.0), ink);
            x += word + mm(3.0);
        }
        y += mm(14.0);

        // Body paragraphs down to the page-number area.
        let body_end = footer_y - digit_h - mm(12.0);
        let line_pitch = mm(5.0);
        let x_height = mm(2.4).max(1);
        'paragraphs: for _ in 0..rng.range(3, 8) {
            let lines = rng.range(2, 9);
            for line in 0..lines {
                if y + line_pitch > body_end {
                    break 'paragraphs;
                }
                // The last line of a paragraph is short, as in real text.
                let line_end = if line + 1 == lines {
                    left + text_w * rng.range(25, 80) / 100
                } else {
                    right - mm(rng.range(0, 6) as f64)
                };
                let mut x = left;
                // Stop before a sliver: real lines end on a whole word.
                while line_end - x >= mm(3.0) {
                    let word = mm(rng.range(3, 20) as f64).min(line_end - x);
                    let colour = if rng.range(0, 60) == 0 {
                        [170, 30, 30]
                    } else {
                        ink
                    };
                    c.fill_rect(x, y, word, x_height, colour);
                    x += word + mm(1.8);
                }
                y += line_pitch;
            }
            y += line_pitch;
        }
    } else {
        // The back of a letter is mostly empty: a short note near the top.
        let y = top + mm(10.0);
        c.fill_rect(left, y, text_w / 3, mm(2.4).max(1), ink);
    }

    // Footer rule and the page number, large, centred above it.
    c.fill_rect(left, footer_y, text_w, mm(0.4).max(1), ink);
    let digits = page_no.to_string();
    let digit_w = digit_h * 11 / 20;
    let gap = digit_h / 5;
    let n = digits.len() as i64;
    let total_w = n * digit_w + (n - 1) * gap;
    let mut x = (width - total_w) / 2;
    let y = footer_y - digit_h - mm(6.0);
    for d in digits.bytes() {
        draw_seven_segment(&mut c, x, y, digit_w, digit_h, d - b'0', [150, 20, 20]);
        x += digit_w + gap;
    }
    c
}

/// Segments a..g (top, top-right, bottom-right, bottom, bottom-left, top-left, middle) lit
/// for each decimal digit, bit 0 = a.
const SEGMENTS: [u8; 10] = [
    0b011_1111, 0b000_0110, 0b101_1011, 0b100_1111, 0b110_0110, 0b110_1101, 0b111_1101, 0b000_0111,
    0b111_1111, 0b110_1111,
];

fn draw_seven_segment(c: &mut Layout, x: i64, y: i64, w: i64, h: i64, digit: u8, colour: [u8; 3]) {
    let Some(&lit) = SEGMENTS.get(usize::from(digit)) else {
        return;
    };
    let t = (h / 8).max(1);
    let half = h / 2;
    let rects = [
        (x, y, w, t),                       // a
        (x + w - t, y, t, half),            // b
        (x + w - t, y + half, t, h - half), // c
        (x, y + h - t, w, t),               // d
        (x, y + half, t, h - half),         // e
        (x, y, t, half),                    // f
        (x, y + half - t / 2, w, t),        // g
    ];
    for (i, (rx, ry, rw, rh)) in rects.into_iter().enumerate() {
        if lit & (1 << i) != 0 {
            c.fill_rect(rx, ry, rw, rh, colour);
        }
    }
}

/// A rectangle of one colour, in page pixels.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    colour: [u8; 3],
}

/// Collects a page's rectangles.
struct Layout {
    rects: Vec<Rect>,
}

impl Layout {
    fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
        if w > 0 && h > 0 {
            self.rects.push(Rect { x, y, w, h, colour });
        }
    }
}

/// Rows `y0..y0 + rows` of a page in one of the three layouts, drawn with clipped fills.
struct Canvas<'a> {
    width: i64,
    y0: i64,
    rows: i64,
    color: ColorMode,
    stride: usize,
    data: &'a mut [u8],
}

impl Canvas<'_> {
    /// Paper, then every rectangle that reaches into these rows.
    fn paint(&mut self, rects: &[Rect]) {
        self.fill_rect(0, self.y0, self.width, self.rows, PAPER);
        for r in rects {
            self.fill_rect(r.x, r.y, r.w, r.h, r.colour);
        }
    }

    /// Fills a rectangle given in page coordinates, clipped to this band.
    fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
        let x0 = x.clamp(0, self.width) as usize;
        let x1 = (x + w).clamp(0, self.width) as usize;
        let y0 = (y - self.y0).clamp(0, self.rows) as usize;
        let y1 = (y + h - self.y0).clamp(0, self.rows) as usize;
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        match self.color {
            ColorMode::Color => {
                let first = y0 * self.stride;
                for px in self.data[first + x0 * 3..first + x1 * 3].chunks_exact_mut(3) {
                    px.copy_from_slice(&colour);
                }
                for row in y0 + 1..y1 {
                    let dst = row * self.stride + x0 * 3;
                    self.data.copy_within(first + x0 * 3..first + x1 * 3, dst);
                }
            }
            ColorMode::Gray => {
                let v = luma(colour);
                for row in y0..y1 {
                    let start = row * self.stride;
                    self.data[start + x0..start + x1].fill(v);
                }
            }
            ColorMode::BlackWhite => {
                let black = is_black(colour);
                for row in y0..y1 {
                    let start = row * self.stride;
                    set_bits(&mut self.data[start..start + self.stride], x0, x1, black);
                }
            }
        }
    }
}

/// Sets (or clears) bits `x0..x1` of a packed MSB-first row, whole bytes at a time in the middle.
fn set_bits(row: &mut [u8], x0: usize, x1: usize, on: bool) {
    let mut x = x0;
    while x < x1 {
        let byte = x / 8;
        let bit = x % 8;
        if bit == 0 && x + 8 <= x1 {
            let full = (x1 - x) / 8;
            row[byte..byte + full].fill(if on { 0xff } else { 0 });
            x += full * 8;
            continue;
        }
        let mask = 0x80u8 >> bit;
        if on {
            row[byte] |= mask;
        } else {
            row[byte] &= !mask;
        }
        x += 1;
    }
}

fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000) as u8
}

fn is_black(colour: [u8; 3]) -> bool {
    luma(colour) < 128
}

/// Small deterministic generator (SplitMix64): page variation must not depend on a crate's
/// RNG algorithm, which may change between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish integer in `lo..hi` (`lo` when the range is empty).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::PageSize;

    fn opts(color: ColorMode) -> ScanOptions {
        ScanOptions {
            dpi: 100,
            color,
            source: ScanSource::Adf,
            page_size: PageSize::A5,
        }
    }

    #[test]
    fn set_bits_handles_partial_and_whole_bytes() {
        let mut row = [0u8; 4];
        set_bits(&mut row, 3, 21, true);
        assert_eq!(row, [0b0001_1111, 0xff, 0b1111_1000, 0]);
        set_bits(&mut row, 4, 12, false);
        assert_eq!(row, [0b0001_0000, 0b0000_1111, 0b1111_1000, 0]);
    }

    #[test]
    fn pages_have_the_right_layout_in_every_mode() {
        for mode in [ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite] {
            let page = render_page(&opts(mode), 1, false);
            assert_eq!((page.width_px, page.height_px), PageSize::A5.size_px(100));
            page.check_layout().unwrap();
        }
    }

    #[test]
    fn bands_of_any_height_draw_the_same_page_as_a_whole_render() {
        for mode in [ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite] {
            let o = opts(mode);
            let whole = render_page(&o, 3, false);
            for band_rows in [1, 7, 32] {
                let mut page = SimulatedPage::new(&o, 3, false);
                let banded = crate::scan::collect_page(&mut page).unwrap();
                assert_eq!(banded, whole, "{mode:?}, collected");
                let mut page = SimulatedPage::new(&o, 3, false);
                let mut band = vec![0u8; whole.row_bytes() * band_rows];
                let mut rows = Vec::new();
                loop {
                    let n = page.read_rows(&mut band).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert!(n <= band_rows);
                    rows.extend_from_slice(&band[..n * whole.row_bytes()]);
                }
                assert!(rows == whole.data, "{mode:?}, bands of {band_rows} rows");
            }
        }
    }

    #[test]
    fn pages_are_deterministic_and_differ_from_each_other() {
        let o = opts(ColorMode::Gray);
        assert_eq!(render_page(&o, 2, false), render_page(&o, 2, false));
        assert_ne!(render_page(&o, 1, false), render_page(&o, 2, false));
    }

    #[test]
    fn page_is_mostly_paper_with_some_ink() {
        let page = render_page(&opts(ColorMode::Gray), 1, false);
        let dark = page.data.iter().filter(|&&v| v < 128).count();
        let share = dark as f64 / page.data.len() as f64;
        assert!((0.03..0.5).contains(&share), "ink share {share}");

        let bw = render_page(&opts(ColorMode::BlackWhite), 1, false);
        let black_bits: u32 = bw.data.iter().map(|b| b.count_ones()).sum();
        let share_bw = f64::from(black_bits) / f64::from(bw.width_px * bw.height_px);
        assert!(
            (share - share_bw).abs() < 0.02,
            "gray {share} vs bw {share_bw}"
        );
    }

    /// Ink pixels (value 0) of a digit drawn on a 40 x 80 gray canvas.
    fn digit_ink(digit: u8) -> usize {
        let mut l = Layout { rects: Vec::new() };
        draw_seven_segment(&mut l, 0, 0, 40, 80, digit, [0, 0, 0]);
        let mut data = vec![0u8; 40 * 80];
        Canvas {
            width: 40,
            y0: 0,
            rows: 80,
            color: ColorMode::Gray,
            stride: 40,
            data: &mut data,
        }
        .paint(&l.rects);
        data.iter().filter(|&&v| v == 0).count()
    }

    #[test]
    fn seven_segment_digits_light_the_right_segments() {
        let eight = digit_ink(8);
        let one = digit_ink(1);
        // "1" is the right column only: segment thickness 10 px over the full height.
        assert_eq!(one, 10 * 80);
        // "8": both full-height columns plus the three bars between them.
        assert_eq!(eight, 2 * 10 * 80 + 3 * 20 * 10);
    }

    #[test]
    fn feeder_modes_deliver_the_expected_page_counts() {
        let cancel = AtomicBool::new(false);
        let count = |source, sheets| {
            let mut s = SimulatedScanner::new(sheets);
            let o = ScanOptions {
                source,
                ..opts(ColorMode::BlackWhite)
            };
            let mut n = 0;
            let r = s.scan(
                &o,
                &mut |_| {
                    n += 1;
                    Ok(())
                },
                &cancel,
            );
            r.map(|total| {
                assert_eq!(total, n);
                n
            })
        };
        assert_eq!(count(ScanSource::Flatbed, 5).unwrap(), 1);
        assert_eq!(count(ScanSource::Adf, 3).unwrap(), 3);
        assert_eq!(count(ScanSource::AdfDuplex, 3).unwrap(), 6);
        assert!(matches!(
            count(ScanSource::Adf, 0),
            Err(ScanError::NoPaper(_))
        ));
    }

    #[test]
    fn jam_stops_the_scan_with_a_device_error() {
        let mut s = SimulatedScanner::new(4).with_jam_before_page(3);
        let mut n = 0;
        let r = s.scan(
            &opts(ColorMode::BlackWhite),
            &mut |_| {
                n += 1;
                Ok(())
            },
            &AtomicBool::new(false),
        );
        assert!(matches!(r, Err(ScanError::Device(m)) if m.contains("jam")));
        assert_eq!(n, 2);
    }
}
