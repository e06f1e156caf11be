//! The PDF writer's inputs: pages as a scanner backend delivers them (any announced size,
//! known or unknown height, any colour mode), rows arriving in bands of any size, pages that
//! end early, run long, report more rows than the band holds, or fail half-way. The writer
//! either publishes a complete PDF or refuses with an error, and leaves no temporary file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::scan::pdf::PdfWriter;
use mfp_kiosk::scan::{ColorMode, PageInfo, PageRows, ScanError};

/// One page: its announced info, then one script byte per `read_rows` call.
struct FuzzPage<'a> {
    info: PageInfo,
    script: &'a [u8],
    fill: u8,
}

impl PageRows for FuzzPage<'_> {
    fn info(&self) -> PageInfo {
        self.info
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        let Some((&op, rest)) = self.script.split_first() else {
            return Ok(0);
        };
        self.script = rest;
        if op == 0xff {
            return Err(ScanError::Device("paper jam".into()));
        }
        let rb = self.info.row_bytes().max(1);
        let fit = band.len() / rb;
        // Mostly honest counts; 0xfe claims one row more than the band holds.
        let n = if op == 0xfe {
            fit + 1
        } else {
            usize::from(op % 40).min(fit)
        };
        self.fill = self.fill.wrapping_add(op);
        band[..(n.min(fit) * rb)].fill(self.fill);
        Ok(n)
    }
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("mfp-kiosk-fuzz-pdf-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("fuzz scratch directory");
        d
    })
}

fn page<'a>(header: &[u8; 7], script: &'a [u8]) -> FuzzPage<'a> {
    let color = match header[0] % 3 {
        0 => ColorMode::Color,
        1 => ColorMode::Gray,
        _ => ColorMode::BlackWhite,
    };
    let w = u32::from(u16::from_le_bytes([header[1], header[2]]));
    let h = u32::from(u16::from_le_bytes([header[3], header[4]]));
    // Small pages keep runs fast; a flag lets the extremes through.
    let big = header[0] & 0x80 != 0;
    let width_px = if big { w * 2 } else { w % 300 };
    let height = if big { h } else { h % 80 };
    FuzzPage {
        info: PageInfo {
            width_px,
            height_px: (header[0] & 0x40 == 0).then_some(height),
            dpi: u32::from(u16::from_le_bytes([header[5], header[6]])),
            color,
        },
        script,
        fill: header[0],
    }
}

fuzz_target!(|data: &[u8]| {
    let out = dir().join("scan.pdf");
    let Ok(mut writer) = PdfWriter::create(&out) else {
        return;
    };
    // Pages separated by 0xfd: 7 header bytes, then the script.
    let mut ok = true;
    for chunk in data.split(|&b| b == 0xfd).take(4) {
        let Some((header, script)) = chunk.split_first_chunk::<7>() else {
            break;
        };
        let mut p = page(header, script);
        ok = writer.add_page_rows(&mut p).is_ok();
        if !ok {
            break;
        }
    }
    let pages = writer.pages();
    let result = if ok && pages > 0 {
        Some(writer.finish())
    } else {
        drop(writer);
        None
    };
    let mut left: Vec<String> = std::fs::read_dir(dir())
        .expect("scratch dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match result {
        Some(Ok(done)) => {
            assert_eq!(done.pages, pages);
            let bytes = std::fs::read(&out).expect("published PDF");
            assert!(bytes.starts_with(b"%PDF-1.4\n"));
            assert!(bytes.ends_with(b"%%EOF\n"));
            assert_eq!(left, ["scan.pdf"], "stray files beside the PDF");
            std::fs::remove_file(&out).expect("remove PDF");
        }
        _ => {
            left.sort();
            assert!(left.is_empty(), "left behind: {left:?}");
        }
    }
});
