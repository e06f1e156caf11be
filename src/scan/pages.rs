//! A document from the glass, page by page: each scan of the flatbed adds one page to the
//! same streaming PDF ([`super::pdf::PdfWriter`]), and between pages the caller is asked
//! whether another page follows (the panel's "Another page?"). As with
//! [`super::pdf::scan_to_pdf`], nothing is left at the output path unless the whole document
//! was written, and a cancel at any point removes the partial file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::pdf::{PdfError, PdfWriter, ScanOutput};
use super::{PageRows, ScanError, ScanOptions, Scanner};

/// Scans one page per `scanner.scan` call into a PDF at `out` until `another(pages)` answers
/// false. `progress` gets the page count after each page.
pub fn scan_pages_to_pdf(
    scanner: &mut dyn Scanner,
    opts: &ScanOptions,
    out: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u32),
    another: &mut dyn FnMut(u32) -> bool,
) -> Result<ScanOutput, PdfError> {
    opts.validate()?;
    let mut writer = PdfWriter::create(out)?;
    loop {
        let mut sink_error: Option<PdfError> = None;
        let result = {
            let mut on_page = |page: &mut dyn PageRows| match writer.add_page_rows(page) {
                Ok(()) => Ok(()),
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
        result?;
        progress(writer.pages());
        if cancel.load(Ordering::Acquire) {
            return Err(ScanError::Cancelled.into());
        }
        if !another(writer.pages()) {
            break;
        }
        // The answer may take a while; a cancel meanwhile is checked before paper moves.
        if cancel.load(Ordering::Acquire) {
            return Err(ScanError::Cancelled.into());
        }
    }
    if cancel.load(Ordering::Acquire) {
        return Err(ScanError::Cancelled.into());
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::simulated::SimulatedScanner;
    use crate::scan::{ColorMode, PageSize, ScanSource};

    fn opts() -> ScanOptions {
        ScanOptions {
            dpi: 75,
            color: ColorMode::Gray,
            source: ScanSource::Flatbed,
            page_size: PageSize::A5,
        }
    }

    #[test]
    fn each_yes_adds_a_page_and_a_cancel_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("doc.pdf");
        let mut asked = Vec::new();
        let done = scan_pages_to_pdf(
            &mut SimulatedScanner::new(0),
            &opts(),
            &out,
            &AtomicBool::new(false),
            &mut |_| {},
            &mut |n| {
                asked.push(n);
                n < 3
            },
        )
        .unwrap();
        assert_eq!(done.pages, 3);
        assert_eq!(asked, vec![1, 2, 3]);
        let text = std::fs::read(&out).unwrap();
        let count = text
            .windows(b"/Type /Page ".len())
            .filter(|w| w == b"/Type /Page ")
            .count();
        assert_eq!(count, 3);

        let cancel = AtomicBool::new(false);
        let out2 = dir.path().join("cancelled.pdf");
        let err = scan_pages_to_pdf(
            &mut SimulatedScanner::new(0),
            &opts(),
            &out2,
            &cancel,
            &mut |_| {},
            &mut |_| {
                cancel.store(true, Ordering::Release);
                true
            },
        )
        .unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        assert!(!out2.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the finished document, no temp file");
    }
}
