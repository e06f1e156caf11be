//! Benchmark: resident memory of colour scans on a small board (issue 14). Each variant runs in
//! a fresh process of this binary, scanning the way the panel does (`scan_to_pdf` on tokio's
//! blocking pool, the PDF then read back in upload-sized chunks on a worker thread and removed):
//!
//! - RSS after 100 colour A4 scans at 300 dpi beside RSS after the first (target <= 1.5x);
//! - peak RSS during one 300 dpi colour A4 duplex scan (target < 64 MB), beside RSS before it.
//!
//! Variants: the product (banded pages, allocator tamed by [`mfp_kiosk::alloc::tame`]), banded
//! pages on glibc's default allocator settings, and the old way (whole page rasters, default
//! allocator) as the reference that shows the problem.
//!
//! `cargo bench --bench scan_memory` runs the full size; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a small smoke run of the product variant.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mfp_kiosk::alloc;
use mfp_kiosk::scan::pdf::{scan_to_pdf, PdfWriter, ScanOutput};
use mfp_kiosk::scan::simulated::{render_page, SimulatedScanner};
use mfp_kiosk::scan::{ColorMode, PageSize, ScanOptions, ScanSource};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Product,
    BandedDefaultAllocator,
    WholeRasterDefaultAllocator,
}

impl Variant {
    const ALL: [Variant; 3] = [
        Variant::Product,
        Variant::BandedDefaultAllocator,
        Variant::WholeRasterDefaultAllocator,
    ];

    fn arg(self) -> &'static str {
        match self {
            Variant::Product => "product",
            Variant::BandedDefaultAllocator => "banded-default-malloc",
            Variant::WholeRasterDefaultAllocator => "whole-raster-default-malloc",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Product => "bands + tamed allocator (product)",
            Variant::BandedDefaultAllocator => "bands, glibc defaults",
            Variant::WholeRasterDefaultAllocator => "whole rasters, glibc defaults (old)",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--variant") {
        let variant = Variant::ALL
            .into_iter()
            .find(|v| args.get(i + 1).map(String::as_str) == Some(v.arg()))
            .expect("known variant");
        let scans = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .expect("scan count");
        let dpi = args.get(i + 3).and_then(|n| n.parse().ok()).expect("dpi");
        child(variant, scans, dpi);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (scans, dpi, variants): (u32, u32, &[Variant]) = if full {
        (100, 300, &Variant::ALL)
    } else {
        (3, 100, &[Variant::Product])
    };
    let exe = std::env::current_exe().expect("own path");
    println!(
        "scan_memory: {scans} colour A4 scans at {dpi} dpi, then one duplex sheet (2 pages); \
         one process per variant"
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "variant", "idle MB", "1st MB", "last MB", "ratio", "pre-dup", "dup peak", "arenas"
    );
    for &v in variants {
        let out = Command::new(&exe)
            .args(["--variant", v.arg(), &scans.to_string(), &dpi.to_string()])
            // The variants set the allocator up themselves; the environment must not.
            .env_remove("MALLOC_ARENA_MAX")
            .env_remove("GLIBC_TUNABLES")
            .output()
            .expect("run variant");
        assert!(
            out.status.success(),
            "variant {} failed: {}",
            v.arg(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .map(|x| x.parse().expect("figure"))
            .collect();
        let [idle, first, last, before_duplex, duplex_peak, arenas] = f[..] else {
            panic!("variant output: {text}");
        };
        let mb = |b: f64| b / 1e6;
        let ratio = last / first;
        println!(
            "{:<38} {:>9.1} {:>9.1} {:>9.1} {:>6.2}x {:>9.1} {:>9.1} {:>7}",
            v.label(),
            mb(idle),
            mb(first),
            mb(last),
            ratio,
            mb(before_duplex),
            mb(duplex_peak),
            arenas
        );
        if v == Variant::Product {
            println!(
                "SUMMARY\tRSS after {scans} colour scans ({dpi} dpi)\t{:.1} MB\tafter the first {:.1} MB\t{ratio:.2}x\t<= 1.5x",
                mb(last),
                mb(first)
            );
            println!(
                "SUMMARY\tpeak RSS, colour A4 duplex sheet ({dpi} dpi)\t{:.1} MB\tbefore it {:.1} MB\t{:.2}x\t< 64 MB",
                mb(duplex_peak),
                mb(before_duplex),
                duplex_peak / before_duplex
            );
        }
        if v == Variant::Product && full {
            let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
            println!(
                "  target RSS after {scans} <= 1.5x after the first: {ratio:.2}x {}",
                verdict(ratio <= 1.5)
            );
            println!(
                "  target duplex peak < 64 MB: {:.1} MB {}",
                mb(duplex_peak),
                verdict(duplex_peak < 64e6)
            );
        }
    }
}

/// One variant in its own process; prints idle, first, last, pre-duplex, duplex-peak RSS in
/// bytes and the arena count.
fn child(variant: Variant, scans: u32, dpi: u32) {
    if variant == Variant::Product {
        // As main() does, before any thread exists.
        let setup = alloc::tame();
        assert_eq!(setup, alloc::AllocatorSetup::Tamed);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("spool dir");
    let spool = Arc::new(dir.path().to_path_buf());
    let rss = || alloc::resident().expect("procfs").0;
    let opts = |source| ScanOptions {
        dpi,
        color: ColorMode::Color,
        source,
        page_size: PageSize::A4,
    };
    rt.block_on(async {
        let idle = rss();
        let mut first = 0;
        for n in 1..=scans {
            scan_and_upload(variant, &spool, n, opts(ScanSource::Adf)).await;
            if n == 1 {
                first = rss();
            }
        }
        let last = rss();
        let before_duplex = rss();
        assert!(alloc::reset_peak(), "cannot reset VmHWM");
        scan_and_upload(variant, &spool, scans + 1, opts(ScanSource::AdfDuplex)).await;
        let (_, duplex_peak) = alloc::resident().expect("procfs");
        let arenas = alloc::arena_count().unwrap_or(0);
        println!("{idle} {first} {last} {before_duplex} {duplex_peak} {arenas}");
    });
}

/// A scan on the blocking pool, as `app::jobs` runs it, then the spooled PDF read back in
/// upload-sized chunks on a worker thread and removed, as the outbox does.
async fn scan_and_upload(
    variant: Variant,
    spool: &Arc<std::path::PathBuf>,
    n: u32,
    o: ScanOptions,
) {
    let path = spool.join(format!("{n}.pdf"));
    let scan_path = path.clone();
    let out = tokio::task::spawn_blocking(move || scan(variant, &o, &scan_path))
        .await
        .expect("scan task");
    assert!(out.pages >= 1);
    let upload = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut f = tokio::fs::File::open(&path).await.expect("spooled PDF");
        let mut chunk = vec![0u8; 320 * 1024 * 10];
        let mut sent = 0u64;
        loop {
            let k = f.read(&mut chunk).await.expect("read spool");
            if k == 0 {
                break;
            }
            sent += k as u64;
        }
        tokio::fs::remove_file(&path).await.expect("remove spool");
        sent
    });
    assert_eq!(upload.await.expect("upload task"), out.bytes);
}

fn scan(variant: Variant, o: &ScanOptions, out: &Path) -> ScanOutput {
    let cancel = AtomicBool::new(false);
    match variant {
        Variant::Product | Variant::BandedDefaultAllocator => {
            scan_to_pdf(&mut SimulatedScanner::new(1), o, out, &cancel, &mut |_| {}).expect("scan")
        }
        Variant::WholeRasterDefaultAllocator => {
            // What the scanner sources did before bands: each page drawn whole, then encoded.
            let sides = if o.source == ScanSource::AdfDuplex {
                2
            } else {
                1
            };
            let mut writer = PdfWriter::create(out).expect("writer");
            for page_no in 1..=sides {
                let page = render_page(o, page_no, page_no == 2);
                writer.add_page(&page).expect("page");
            }
            writer.finish().expect("finish")
        }
    }
}
