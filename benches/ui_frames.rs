//! Benchmark: what a walk-up user waits for on the screen (issue 14 §5), each beside a
//! reference measured in the same run, drawn by Slint's software renderer at 1024x600:
//!
//! - **tap -> home page drawn**: a badge tap through the real controller (online silent
//!   refresh against the simulated Entra on loopback) until the home page's frame is rendered,
//!   beside drawing a frame of the idle page alone (target p99 < 50 ms);
//! - **start-up to first frame** and **idle RSS**: a fresh process of this binary starting the
//!   panel (config, store and migrations, device key, controller, window) until the idle page
//!   is drawn, beside a minimal Slint window built with the same features in a process of the
//!   same binary (targets <= 1.5x). Measured as restarts (the database and device key exist,
//!   as on a board after its first boot), without the demo's simulated tenant in the process
//!   (its key generation and servers are not the panel's start-up).
//!
//! `cargo bench --bench ui_frames` runs the full size; without `--bench` (as `cargo test
//! --all-targets` runs it) a smoke run that also checks the frames show something.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mfp_kiosk::app::{self, ui_bridge, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{Event, View, ViewPage};
use mfp_kiosk::MainWindow;
use secrecy::SecretString;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, PlatformError, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, Rgb8Pixel};

const W: u32 = 1024;
const H: u32 = 600;
const BADGE: &str = "0004417321";

slint::slint! {
    export component MinimalWindow inherits Window {
        width: 1024px;
        height: 600px;
        background: #f4f6f8;
        Text { text: "Minimal Slint window"; font-size: 32px; }
    }
}

struct OneWindow(Rc<MinimalSoftwareWindow>);

impl Platform for OneWindow {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.0.clone())
    }
}

fn software_window() -> Rc<MinimalSoftwareWindow> {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    window.set_size(PhysicalSize::new(W, H));
    slint::platform::set_platform(Box::new(OneWindow(window.clone()))).expect("platform");
    window
}

/// Draws a whole frame; returns how many pixels differ from the first one (proof it drew).
fn draw(window: &MinimalSoftwareWindow, pixels: &mut [Rgb8Pixel]) -> usize {
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    let drawn = window.draw_if_needed(|r| {
        r.render(pixels, W as usize);
    });
    assert!(drawn, "the renderer drew nothing");
    let first = pixels[0];
    pixels.iter().filter(|p| **p != first).count()
}

/// One `/proc/self/status` figure in KiB (`VmRSS`, `RssAnon`, `RssFile`), 0 when missing.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.split(':').next() == Some(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The child's report: resident memory, and how much of it is heap and stacks (anonymous)
/// and how much mapped files (the binary's pages, fonts, libraries).
fn frame_line() -> String {
    format!(
        "FRAME {} {} {}",
        status_kib("VmRSS"),
        status_kib("RssAnon"),
        status_kib("RssFile")
    )
}

fn demo_config(state: &std::path::Path) -> Config {
    let mut config = Config::demo_default();
    config.device.state_dir = state.to_path_buf();
    config.demo.auto_approve_after_secs = 1;
    config
}

/// Child process: the panel or the minimal window up to its first frame, then its RSS.
/// The panel's state directory is the parent's, already initialised: a panel restarting.
fn child(kind: &str, state_dir: Option<&str>) {
    let window = software_window();
    let mut pixels = vec![Rgb8Pixel::default(); (W * H) as usize];
    match kind {
        "minimal" => {
            let ui = MinimalWindow::new().expect("minimal window");
            ui.show().expect("show");
            assert!(draw(&window, &mut pixels) > 0);
        }
        "panel" => {
            let _ = mfp_kiosk::alloc::tame();
            // As the panel's start does: the Japanese font file, mapped (no longer in the binary).
            mfp_kiosk::ui::fonts::register_cjk_font().expect("font");
            let state = std::path::PathBuf::from(state_dir.expect("state dir argument"));
            let rt = runtime();
            let ui = MainWindow::new().expect("panel window");
            ui.show().expect("show");
            let (tx, rx) = mpsc::channel::<View>();
            let sink: ViewSink = Box::new(move |view| {
                let _ = tx.send(view.clone());
            });
            // The board's panel: no simulated tenant inside (its signing keys and servers are
            // the demo's, not the panel's start-up); Entra is simply not reached meanwhile.
            let mut config = demo_config(&state);
            config.directory.enabled = false;
            let running = rt
                .block_on(app::start(config, false, sink))
                .expect("panel start");
            let idle = wait_for(&rx, |v| v.page == ViewPage::Idle);
            mfp_kiosk::ui::apply(&ui, &ui_bridge::ui_state(&idle, "Bench panel", true));
            assert!(draw(&window, &mut pixels) > 0);
            println!("{}", frame_line());
            running.handle.send(app::Input::Quit);
            return;
        }
        other => panic!("unknown child {other}"),
    }
    println!("{}", frame_line());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn wait_for(rx: &mpsc::Receiver<View>, want: impl Fn(&View) -> bool) -> View {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if want(&v) => return v,
            Ok(_) => continue,
            Err(e) => panic!("no such view: {e}"),
        }
    }
}

/// Spawns a child of this binary; time from spawn to its first frame, and its RSS then.
fn first_frame(kind: &str, state_dir: &std::path::Path) -> (Duration, Rss) {
    let started = Instant::now();
    let mut c = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", kind])
        .arg(state_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let line = BufReader::new(c.stdout.take().expect("stdout"))
        .lines()
        .find_map(|l| l.ok().filter(|l| l.starts_with("FRAME ")))
        .expect("a FRAME line");
    let took = started.elapsed();
    let _ = c.wait();
    let figures: Vec<u64> = line[6..]
        .split_whitespace()
        .map(|v| v.parse().expect("rss figure"))
        .collect();
    (
        took,
        Rss {
            total: figures[0],
            anon: figures[1],
            file: figures[2],
        },
    )
}

/// A child's resident memory in KiB: all, anonymous, file-backed.
#[derive(Clone, Copy, Default)]
struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            args.get(i + 1).map(String::as_str).unwrap_or(""),
            args.get(i + 2).map(String::as_str),
        );
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (rounds, taps) = if full { (5, 100) } else { (1, 3) };

    // Start-up and idle RSS, the two kinds of process alternating. The first panel start
    // creates the database and the device key; the measured ones are restarts, as on a board.
    let restart_dir = tempfile::tempdir().expect("state dir");
    first_frame("panel", restart_dir.path());
    let (mut panel_t, mut min_t) = (Duration::MAX, Duration::MAX);
    let (mut panel_mem, mut min_mem) = (Rss::default(), Rss::default());
    for _ in 0..rounds {
        let (t, r) = first_frame("minimal", restart_dir.path());
        min_t = min_t.min(t);
        min_mem = r;
        let (t, r) = first_frame("panel", restart_dir.path());
        panel_t = panel_t.min(t);
        panel_mem = r;
    }
    let (panel_rss, min_rss) = (panel_mem.total, min_mem.total);
    println!("ui_frames: software renderer, {W}x{H}; best of {rounds} processes each");
    println!(
        "  start-up to first frame: panel {:.0} ms, minimal Slint window {:.0} ms: {:.2}x (target <= 1.5x)",
        ms(panel_t),
        ms(min_t),
        panel_t.as_secs_f64() / min_t.as_secs_f64()
    );
    println!(
        "  RSS after the first frame: panel {:.1} MB, minimal window {:.1} MB: {:.2}x (target <= 1.5x)",
        panel_rss as f64 / 1024.0,
        min_rss as f64 / 1024.0,
        panel_rss as f64 / min_rss as f64
    );
    println!(
        "    anonymous (heap, stacks): panel {:.1} MB, minimal {:.1} MB; file-backed (binary, fonts, libraries): panel {:.1} MB, minimal {:.1} MB",
        panel_mem.anon as f64 / 1024.0,
        min_mem.anon as f64 / 1024.0,
        panel_mem.file as f64 / 1024.0,
        min_mem.file as f64 / 1024.0,
    );

    // Tap -> home drawn, in this process, beside a frame of the idle page.
    let window = software_window();
    mfp_kiosk::ui::fonts::register_cjk_font().expect("font");
    let mut pixels = vec![Rgb8Pixel::default(); (W * H) as usize];
    let state = tempfile::tempdir().expect("state dir");
    let rt = runtime();
    let ui = MainWindow::new().expect("panel window");
    ui.show().expect("show");
    let (tx, rx) = mpsc::channel::<View>();
    let sink: ViewSink = Box::new(move |view| {
        let _ = tx.send(view.clone());
    });
    let running = rt
        .block_on(app::start(demo_config(state.path()), true, sink))
        .expect("panel start");
    let handle = running.handle.clone();
    let idle = wait_for(&rx, |v| v.page == ViewPage::Idle);
    let idle_state = ui_bridge::ui_state(&idle, "Bench panel", true);
    let tap = || {
        handle.event(Event::CardRead {
            card: SecretString::from(BADGE),
        })
    };
    // The badge's first tap links it through a device-code sign-in the simulator approves.
    tap();
    wait_for(&rx, |v| v.page == ViewPage::Home);
    handle.event(Event::SignOut);
    wait_for(&rx, |v| v.page == ViewPage::Idle);

    let (mut tap_times, mut idle_times) = (Vec::new(), Vec::new());
    for _ in 0..taps {
        mfp_kiosk::ui::apply(&ui, &idle_state);
        let t = Instant::now();
        assert!(draw(&window, &mut pixels) > 0);
        idle_times.push(t.elapsed());

        let t = Instant::now();
        tap();
        let home = wait_for(&rx, |v| v.page == ViewPage::Home);
        mfp_kiosk::ui::apply(&ui, &ui_bridge::ui_state(&home, "Bench panel", true));
        assert!(draw(&window, &mut pixels) > 0);
        tap_times.push(t.elapsed());
        handle.event(Event::SignOut);
        wait_for(&rx, |v| v.page == ViewPage::Idle);
    }
    tap_times.sort();
    idle_times.sort();
    let (tp50, tp99) = (percentile(&tap_times, 0.5), percentile(&tap_times, 0.99));
    let (ip50, ip99) = (percentile(&idle_times, 0.5), percentile(&idle_times, 0.99));
    println!(
        "  tap -> home drawn ({taps} taps): p50 {:.1} ms, p99 {:.1} ms (target p99 < 50 ms)",
        ms(tp50),
        ms(tp99)
    );
    println!(
        "  a frame of the idle page (reference): p50 {:.1} ms, p99 {:.1} ms; tap p99 / frame p99 {:.1}x",
        ms(ip50),
        ms(ip99),
        tp99.as_secs_f64() / ip99.as_secs_f64()
    );
    // Tab-separated rows for device/bench.sh: figure, measured, reference, ratio, target.
    println!(
        "SUMMARY\ttap -> home page drawn, {W}x{H}, p50/p99\t{:.1}/{:.1} ms\tidle frame {:.1}/{:.1} ms\t{:.1}x\tp99 < 50 ms",
        ms(tp50),
        ms(tp99),
        ms(ip50),
        ms(ip99),
        tp99.as_secs_f64() / ip99.as_secs_f64()
    );
    println!(
        "SUMMARY\tstart-up to first frame (software renderer)\t{:.0} ms\tminimal Slint window {:.0} ms\t{:.2}x\t<= 1.5x",
        ms(panel_t),
        ms(min_t),
        panel_t.as_secs_f64() / min_t.as_secs_f64()
    );
    println!(
        "SUMMARY\tRSS after the first frame, {W}x{H}\t{:.1} MB\tminimal Slint window {:.1} MB\t{:.2}x\t<= 1.5x",
        panel_rss as f64 / 1024.0,
        min_rss as f64 / 1024.0,
        panel_rss as f64 / min_rss as f64
    );
    handle.send(app::Input::Quit);
}
