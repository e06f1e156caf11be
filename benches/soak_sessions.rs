//! Soak benchmark: 1,000 walk-up sessions in a row through the real controller, the way a busy
//! panel sees them: badge tap -> home -> "Scan to OneDrive" (one colour page, simulated scanner
//! without its demo delay) -> upload to the simulated Graph -> result -> sign out. The first
//! tap links the badge through a device-code sign-in; every later one is a silent refresh.
//!
//! Prints resident memory and open file descriptors after the first session (the reference,
//! same run), after the 100th, 250th, 500th, 750th and the last, with ratios to the first.
//! Both should stay flat.
//! The simulated Entra and Graph run in a child process of this binary (the simulator keeps
//! every token it issued and every file it received, which is not the panel's memory); it
//! approves the first device-code sign-in by itself after a second.
//!
//! `cargo bench --bench soak_sessions` runs 1,000 sessions; without `--bench` (as `cargo test
//! --all-targets` runs it) a smoke run of 3.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfp_kiosk::app::{jobs, Controller, Input, Services, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{Event, View, ViewPage};
use mfp_kiosk::scan::simulated::SimulatedScanner;
use mfp_kiosk::sim::{SimCloud, SimOptions};
use secrecy::SecretString;

const BADGE: &str = "0004417321";

fn main() {
    if std::env::args().any(|a| a == "--sim-server") {
        sim_server();
        return;
    }
    // As main() does, before any thread exists.
    let _ = mfp_kiosk::alloc::tame();
    let full = std::env::args().any(|a| a == "--bench");
    let drive = tempfile::tempdir().expect("drive dir");
    let mut sim = Command::new(std::env::current_exe().expect("own path"))
        .arg("--sim-server")
        .arg(drive.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("simulated cloud process");
    let mut lines = BufReader::new(sim.stdout.take().expect("sim stdout")).lines();
    let mut endpoint = || lines.next().expect("sim line").expect("sim output");
    let (authority, graph, tenant, client) = (endpoint(), endpoint(), endpoint(), endpoint());
    let sessions: u32 = if full { 1_000 } else { 3 };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let state = tempfile::tempdir().expect("state dir");
    let mut config = Config::demo_default();
    config.device.state_dir = state.path().to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    config.demo.scanner_pages = 1;

    let (tx, rx) = mpsc::channel::<View>();
    let sink: ViewSink = Box::new(move |view| {
        let _ = tx.send(view.clone());
    });
    config.entra.authority_host = authority;
    config.entra.allowed_tenants = vec![tenant.clone()];
    config.entra.tenant = tenant;
    config.entra.client_id = client;
    config.graph.endpoint = graph;
    let (handle, services) = rt.block_on(async {
        let services = Services::new(config, Box::new(|| Box::new(SimulatedScanner::new(1))))
            .expect("services");
        let services = Arc::new(services);
        let (controller, handle) = Controller::new(services.clone(), sink);
        let sessions = controller.sessions();
        tokio::spawn(controller.run());
        tokio::spawn(jobs::outbox_worker(services.clone(), sessions));
        (handle, services)
    });
    wait_for(&rx, "the idle page", |v| v.page == ViewPage::Idle);

    let mut figures = Vec::new();
    let started = Instant::now();
    for n in 1..=sessions {
        handle.event(Event::CardRead {
            card: SecretString::from(BADGE),
        });
        let view = wait_for(&rx, "home or a device code", |v| {
            v.page == ViewPage::Home || (v.page == ViewPage::DeviceCode && !v.user_code.is_empty())
        });
        let home = if view.page == ViewPage::DeviceCode {
            // The first tap of the badge: the simulator approves the sign-in that links it.
            wait_for(&rx, "the home page", |v| v.page == ViewPage::Home)
        } else {
            view
        };
        let workflow = home
            .workflows
            .iter()
            .find(|w| w.label == "Scan to OneDrive")
            .expect("the OneDrive workflow")
            .id
            .clone();
        handle.event(Event::RunWorkflow { id: workflow });
        let result = wait_for(&rx, "the result page", |v| v.page == ViewPage::Result);
        assert!(
            result.result_ok,
            "session {n}: {} / {}",
            result.result_title, result.result_detail
        );
        handle.event(Event::SignOut);
        wait_for(&rx, "the idle page", |v| v.page == ViewPage::Idle);
        if [1, 100, 250, 500, 750].contains(&n) || n == sessions {
            figures.push((n, rss(), open_fds()));
        }
    }
    let elapsed = started.elapsed();
    let jobs = services.store.list_jobs(usize::MAX).expect("jobs");
    assert_eq!(jobs.len(), sessions as usize);
    assert!(jobs
        .iter()
        .all(|j| j.state == mfp_kiosk::store::JobState::Done));

    println!(
        "soak_sessions: {sessions} sessions (tap, home, scan, send, sign out) in {:.1} s, {:.0} ms each",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / f64::from(sessions)
    );
    let (_, rss1, fds1) = figures[0];
    println!(
        "{:>10} {:>10} {:>8} {:>10} {:>8}",
        "after", "RSS MB", "ratio", "open fds", "ratio"
    );
    for (n, rss, fds) in &figures {
        println!(
            "{:>10} {:>10.1} {:>7.2}x {:>10} {:>7.2}x",
            format!("#{n}"),
            *rss as f64 / 1e6,
            *rss as f64 / rss1 as f64,
            fds,
            *fds as f64 / fds1 as f64
        );
    }
    if let Some((n, rss, fds)) = figures.last() {
        println!(
            "SUMMARY\tRSS / open fds after {n} walk-up sessions\t{:.1} MB / {fds}\tafter the first {:.1} MB / {fds1}\t{:.2}x / {:.2}x\tflat",
            *rss as f64 / 1e6,
            rss1 as f64 / 1e6,
            *rss as f64 / rss1 as f64,
            *fds as f64 / fds1 as f64
        );
    }
    handle.send(Input::Quit);
    drop(sim.stdin.take());
    let _ = sim.wait();
}

/// The child process: the simulated Entra and Graph on loopback, their addresses on stdout,
/// running until stdin closes.
fn sim_server() {
    let drive = std::env::args().next_back().expect("drive dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt.block_on(async {
        let mut opts = SimOptions::demo(drive);
        opts.device_code_interval_secs = 1;
        opts.auto_approve_after = Some(Duration::from_secs(1));
        SimCloud::start(opts).await.expect("simulated cloud")
    });
    println!("{}", sim.authority_host());
    println!("{}", sim.graph_endpoint());
    println!("{}", sim.tenant_id());
    println!("{}", sim.client_id());
    // Serves until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(sim);
}

fn rss() -> u64 {
    mfp_kiosk::alloc::resident().expect("procfs").0
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits for a view matching `want`; the deadline only turns a hang into a failure.
fn wait_for(rx: &mpsc::Receiver<View>, what: &str, want: impl Fn(&View) -> bool) -> View {
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    if std::env::var_os("SOAK_TRACE").is_some() {
        let v = wait_inner(rx, what, want, deadline);
        eprintln!("{what}: {:?}", t0.elapsed());
        return v;
    }
    wait_inner(rx, what, want, deadline)
}

fn wait_inner(
    rx: &mpsc::Receiver<View>,
    what: &str,
    want: impl Fn(&View) -> bool,
    deadline: Instant,
) -> View {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(view) if want(&view) => return view,
            Ok(_) => continue,
            Err(e) => panic!("no view with {what}: {e}"),
        }
    }
}
