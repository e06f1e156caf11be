//! Kill -9 of the whole panel process in the middle of a walk-up scan-and-send, again and again
//! (issue 14 §2). Each round starts the panel on the same state directory, taps the user's badge,
//! runs a workflow and SIGKILLs the process at a point a seeded RNG picks:
//! - while the scanner delivers a page (the PDF half written, in its hidden temporary file);
//! - after the last page, while the PDF writer finishes the document;
//! - at a random moment after start (lands anywhere, also between the PDF's rename and its
//!   outbox row);
//! - at the n-th Graph request from start (the outbox catching up on an earlier round's job, or
//!   this scan's upload), before it is handled, halfway through its body, after it was handled,
//!   or after the upload was committed but before the answer arrived;
//! - after the result page said Sent.
//!
//! At the end a last panel start delivers what is left, and the test checks: every job the
//! user was told about, and every job committed to the outbox, is in the drive exactly once and
//! byte-identical to the PDF that was committed; nothing else landed (no partial document, no
//! duplicate); the spool is empty (no partial PDFs, no PDFs without a job).
//!
//! The panel is this test binary run again as a child (`panel_process` below): the same
//! composition as `mfp-kiosk run` (controller, outbox worker, store, SQLite, real HTTP to the
//! simulated Entra and Graph), without the Slint window and badge-reader threads, and with a
//! simulated scanner that can stop at a chosen band so the kill lands inside the scan. The
//! simulated cloud lives in this (parent) process, so it survives the kills and records what
//! landed; before each Graph request it snapshots (hard-links) the spool's committed PDFs,
//! which is what "byte-identical" is checked against.
//!
//! The seed is printed; `MFP_PANEL_KILL_SEED=<seed>` replays the same plan of kills, and
//! `MFP_PANEL_KILL_ROUNDS=<n>` changes the number of rounds (default 50).
#![cfg(feature = "demo")]

mod common;
mod outbox_support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mfp_kiosk::admin::cards::Actor;
use mfp_kiosk::app::{self, Input, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{Event, View, ViewPage};
use mfp_kiosk::scan::simulated::SimulatedScanner;
use mfp_kiosk::scan::{PageInfo, PageRows, ScanError, ScanOptions, Scanner};
use mfp_kiosk::sim::KillPhase;
use mfp_kiosk::store::JobState;
use outbox_support::*;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;

const BADGE: &str = "4417399";
/// Child environment: the config path (its presence makes `panel_process` the panel).
const ENV_CONFIG: &str = "MFP_PANEL_KILL_CONFIG";
const ENV_WORKFLOW: &str = "MFP_PANEL_KILL_WORKFLOW";
const ENV_SHEETS: &str = "MFP_PANEL_KILL_SHEETS";
const ENV_PAUSE: &str = "MFP_PANEL_KILL_PAUSE";
/// Lines of the child meant for the parent start with this (libtest prints its own).
const TAG: &str = "PANEL ";

/// Where a round's kill comes.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// When the scanner has delivered `band` bands of page `page` (1-based).
    ScanBand { page: u32, band: u32 },
    /// After the scanner delivered its last page, before the PDF is finished.
    PdfFinish,
    /// `ms` milliseconds after the panel said it is ready.
    After { ms: u64 },
    /// At the `nth` Graph request of this round.
    Graph { nth: u64, phase: KillPhase },
    /// Once the result page is shown.
    Told,
}

#[derive(Debug, Clone)]
struct Round {
    workflow: &'static str,
    sheets: u32,
    kill: KillAt,
}

fn pick(rng: &mut rand::rngs::StdRng) -> Round {
    let sharepoint = rng.gen_bool(0.5);
    let workflow = if sharepoint {
        "finance-invoices"
    } else {
        "scan-to-onedrive"
    };
    let sheets = rng.gen_range(1..=3);
    let phases = [
        KillPhase::BeforeHandling,
        KillPhase::MidBody,
        KillPhase::AfterHandling,
        KillPhase::AfterCommit,
    ];
    let kill = match rng.gen_range(0..10) {
        0 | 1 => KillAt::ScanBand {
            page: rng.gen_range(1..=sheets),
            band: rng.gen_range(0..30),
        },
        2 => KillAt::PdfFinish,
        3 | 4 => KillAt::After {
            ms: rng.gen_range(0..400),
        },
        5..=8 => KillAt::Graph {
            nth: rng.gen_range(1..=4),
            phase: phases[rng.gen_range(0..phases.len())],
        },
        _ => KillAt::Told,
    };
    Round {
        workflow,
        sheets,
        kill,
    }
}

#[test]
fn a_panel_killed_anywhere_in_scan_and_send_delivers_each_committed_scan_exactly_once() {
    let seed: u64 = match std::env::var("MFP_PANEL_KILL_SEED") {
        Ok(s) => s.parse().expect("MFP_PANEL_KILL_SEED is a number"),
        Err(_) => rand::random(),
    };
    let rounds: usize = std::env::var("MFP_PANEL_KILL_ROUNDS")
        .ok()
        .map(|s| s.parse().expect("MFP_PANEL_KILL_ROUNDS is a number"))
        .unwrap_or(50);
    println!(
        "panel_kill: seed {seed} (MFP_PANEL_KILL_SEED={seed} replays this plan), {rounds} rounds"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let rt = common::runtime();
    // As Entra does, a refresh token just replaced keeps working for a while: a panel killed
    // after Entra rotated the user's refresh token but before it stored the new one starts
    // again with the old one. (A server with strictly single-use refresh tokens would ask the
    // user to sign in again; nothing the panel can do about a response it never received.)
    let (sim, dir) = rt.block_on(start_sim(|o| {
        o.refresh_reuse_window = Some(Duration::from_secs(600));
    }));
    let upn = "adele@contoso.example";
    let (config_path, oid) = rt.block_on(provisioned_panel(&sim, dir.path(), upn));
    // Both workflows from the feeder: a flatbed scan would stop at "Another page?".
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replace("source = \"flatbed\"", "source = \"adf\""),
    )
    .unwrap();
    enroll_badge(&config_path, &oid);
    let state = dir.path().join("state");
    let spool = Config::load(&config_path).unwrap().spool_dir();

    // Before Graph sees a request, every committed PDF in the spool is hard-linked here: the
    // bytes the outbox was given to send, kept after it deletes its copy.
    let archive = dir.path().join("committed");
    std::fs::create_dir_all(&archive).unwrap();
    {
        let (spool, archive) = (spool.clone(), archive.clone());
        sim.observe_graph(Arc::new(move |_, _| snapshot(&spool, &archive)));
    }

    let mut told: Vec<(String, String)> = Vec::new();
    let mut kills = 0;
    let mut left_by_kills: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for n in 1..=rounds {
        let round = pick(&mut rng);
        if debug() {
            eprintln!("round {n}: {round:?}");
        }
        let outcome = run_round(&sim, &config_path, &round)
            .unwrap_or_else(|e| panic!("round {n} {round:?} (seed {seed}): {e}"));
        if let Some(job) = outcome.told {
            told.push(job);
        }
        kills += usize::from(outcome.killed);
        for (kind, count) in leftovers(&spool, &state) {
            *left_by_kills.entry(kind).or_insert(0) += count;
        }
    }
    // What the kills left for the next start's sweep (a run where no kill hit those windows
    // shows zeros; the final spool check holds either way).
    println!("panel_kill: left in the spool right after the kills: {left_by_kills:?}");
    assert_eq!(kills, rounds, "every round ended with a kill -9");

    // A last start, not killed: the outbox sends what is left, then the panel quits.
    let mut last = spawn_panel(&config_path, None, 1, None);
    let lines = read_lines(&mut last);
    let drained = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the last panel start drains the outbox");
        if line != "READY" {
            break line;
        }
    };
    assert_eq!(drained, "DRAINED", "the last panel start");
    let status = last.wait().unwrap();
    assert!(status.success(), "the last panel start exits cleanly");

    // The verdict, from SQLite, the spool and the simulated drives.
    let store = mfp_kiosk::store::Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let jobs = store.list_jobs(usize::MAX).unwrap();
    let ids: HashSet<String> = jobs.iter().map(|j| j.id.to_string()).collect();
    for (id, title) in &told {
        assert!(
            ids.contains(id),
            "job {id} was shown as `{title}` but has no row (seed {seed})"
        );
    }
    for job in &jobs {
        assert_eq!(
            job.state,
            JobState::Done,
            "job {} ({}) not delivered: {:?} (seed {seed})",
            job.id,
            job.file_name,
            job.last_error
        );
    }
    let landed: Vec<PathBuf> = files_under(sim.drive_dir())
        .into_iter()
        .filter(|p| !p.starts_with(sim.drive_dir().join(".tmp")))
        .collect();
    let mut by_content: HashMap<Vec<u8>, Vec<PathBuf>> = HashMap::new();
    for path in &landed {
        by_content
            .entry(std::fs::read(path).unwrap())
            .or_default()
            .push(path.clone());
    }
    for job in &jobs {
        let committed = std::fs::read(archive.join(format!("{}.pdf", job.id)))
            .unwrap_or_else(|e| panic!("job {} was never offered to Graph: {e}", job.id));
        assert_eq!(committed.len() as u64, job.size_bytes, "job {}", job.id);
        let copies = by_content.remove(&committed).unwrap_or_default();
        assert_eq!(
            copies.len(),
            1,
            "job {} ({}) must land exactly once, byte-identical; found {copies:?} (seed {seed})",
            job.id,
            job.file_name
        );
        let doc = lopdf::Document::load_mem(&committed).expect("a complete PDF");
        assert_eq!(doc.get_pages().len() as u32, job.pages, "job {}", job.id);
    }
    assert!(
        by_content.is_empty(),
        "files in the drives that are no committed job's PDF: {:?} (seed {seed})",
        by_content.values().collect::<Vec<_>>()
    );
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "orphans in the spool: {left:?} (seed {seed})"
    );
    assert!(!told.is_empty(), "some rounds told the user (seed {seed})");
    println!(
        "panel_kill: {rounds} kills, {} jobs committed, {} shown to the user, all delivered once, in {:.1} s",
        jobs.len(),
        told.len(),
        started.elapsed().as_secs_f64()
    );
}

struct RoundOutcome {
    /// The job the result page told the user about, with the page's title.
    told: Option<(String, String)>,
    killed: bool,
}

fn run_round(
    sim: &mfp_kiosk::sim::SimCloud,
    config: &Path,
    round: &Round,
) -> Result<RoundOutcome, String> {
    let pause = match round.kill {
        KillAt::ScanBand { page, band } => Some(format!("band:{page}:{band}")),
        KillAt::PdfFinish => Some("finish".to_string()),
        _ => None,
    };
    let child = Arc::new(Mutex::new(spawn_panel(
        config,
        Some(round.workflow),
        round.sheets,
        pause.as_deref(),
    )));
    let lines = read_lines(&mut child.lock().unwrap());
    let killed_by_sim = Arc::new(AtomicBool::new(false));
    if let KillAt::Graph { nth, phase } = round.kill {
        kill_at_request(sim, nth, phase, &child, &killed_by_sim);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut told = None;
    let mut ready_at: Option<Instant> = None;
    loop {
        let wait = match (round.kill, ready_at) {
            (KillAt::After { ms }, Some(t)) => {
                (t + Duration::from_millis(ms)).saturating_duration_since(Instant::now())
            }
            _ => deadline.saturating_duration_since(Instant::now()),
        };
        match lines.recv_timeout(wait) {
            Ok(line) if line == "READY" => ready_at = Some(Instant::now()),
            Ok(line) if line == "PAUSED" => break,
            Ok(line) => match line.strip_prefix("TOLD\t") {
                Some(rest) => {
                    let (ok, rest) = rest.split_once('\t').unwrap_or((rest, ""));
                    let (id, title) = rest.split_once('\t').unwrap_or((rest, ""));
                    if ok != "ok" || !(title.starts_with("Sent") || title.starts_with("Saved")) {
                        return Err(format!("the result page said `{title}`"));
                    }
                    told = Some((id.to_string(), title.to_string()));
                    break;
                }
                None => return Err(format!("unexpected line from the panel: {line}")),
            },
            // The simulator killed it (stdout closed), or the planned moment came.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err("the panel neither finished nor was killed in 60 s".into())
            }
        }
    }
    sim.disarm_kill();
    let mut c = child.lock().unwrap();
    let by_sim = killed_by_sim.load(Ordering::SeqCst);
    if !by_sim {
        // SIGKILL: nothing of the panel runs after this, no destructor, no flush.
        c.kill().map_err(|e| format!("kill: {e}"))?;
    }
    let status = c.wait().map_err(|e| e.to_string())?;
    use std::os::unix::process::ExitStatusExt;
    if status.signal() != Some(libc::SIGKILL) {
        return Err(format!(
            "the panel ended by itself before the kill: {status}"
        ));
    }
    Ok(RoundOutcome { told, killed: true })
}

/// The spool files a dead panel left, by kind: the PDF writer's temporary files, PDFs without
/// an outbox row, PDFs of delivered jobs (queued jobs' PDFs are not leftovers).
fn leftovers(spool: &Path, state: &Path) -> Vec<(&'static str, usize)> {
    let store = mfp_kiosk::store::Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let (mut partial, mut rowless, mut delivered) = (0, 0, 0);
    for entry in std::fs::read_dir(spool).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".partial") {
            partial += 1;
        } else if let Some(id) = name
            .strip_suffix(".pdf")
            .and_then(|s| uuid::Uuid::try_parse(s).ok())
        {
            match store.job(id).unwrap() {
                None => rowless += 1,
                Some(j) if j.state == JobState::Done => delivered += 1,
                Some(_) => {}
            }
        }
    }
    vec![
        ("partial", partial),
        ("without a row", rowless),
        ("delivered", delivered),
    ]
}

/// Hard-links each committed PDF of the spool (`<job>.pdf`; the writer's temporary files are
/// hidden) into `archive`, once.
fn snapshot(spool: &Path, archive: &Path) {
    let Ok(entries) = std::fs::read_dir(spool) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".pdf") {
            continue;
        }
        let to = archive.join(&*name);
        if !to.exists() {
            // The outbox may delete it this very moment: then it was already delivered.
            let _ = std::fs::hard_link(entry.path(), &to);
        }
    }
}

fn enroll_badge(config: &Path, oid: &str) {
    let config = Config::load(config).unwrap();
    let factory = mfp_kiosk::app::scanner_factory(&config, false);
    let services = mfp_kiosk::app::Services::new(config, factory).unwrap();
    let user = services.store.user_by_oid(oid).unwrap().unwrap();
    services
        .cards()
        .enroll(&user, &SecretString::from(BADGE), false, &Actor::Cli)
        .unwrap();
}

fn spawn_panel(config: &Path, workflow: Option<&str>, sheets: u32, pause: Option<&str>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["panel_process", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ENV_CONFIG, config)
        .env(ENV_WORKFLOW, workflow.unwrap_or(""))
        .env(ENV_SHEETS, sheets.to_string())
        .env(ENV_PAUSE, pause.unwrap_or(""))
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn().expect("the panel process starts")
}

/// The child's tagged lines, on a channel that disconnects when its stdout closes.
fn read_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // libtest's own "test panel_process ... " may precede a line on the same row.
            if let Some(msg) = line.find(TAG).map(|at| &line[at + TAG.len()..]) {
                if tx.send(msg.to_string()).is_err() {
                    break;
                }
            } else if debug() {
                eprintln!("panel: {line}");
            }
        }
    });
    rx
}

// ---- the panel process ----

fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{TAG}{what}");
    let _ = out.flush();
}

/// Stops the scanning thread for good and tells the parent, which kills the process.
fn pause_here() -> ! {
    say("PAUSED");
    loop {
        std::thread::park();
    }
}

/// The simulated scanner, stopping at the planned point.
struct PausingScanner {
    inner: SimulatedScanner,
    pause: Option<String>,
}

struct PausingRows<'a> {
    inner: &'a mut dyn PageRows,
    bands: u32,
    stop_after: Option<u32>,
}

impl PageRows for PausingRows<'_> {
    fn info(&self) -> PageInfo {
        self.inner.info()
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        if self.stop_after == Some(self.bands) {
            pause_here();
        }
        self.bands += 1;
        self.inner.read_rows(band)
    }
}

impl Scanner for PausingScanner {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn scan(
        &mut self,
        opts: &ScanOptions,
        on_page: &mut mfp_kiosk::scan::PageFn<'_>,
        cancel: &AtomicBool,
    ) -> Result<u32, ScanError> {
        let band_plan = self.pause.as_deref().and_then(|p| {
            let rest = p.strip_prefix("band:")?;
            let (page, band) = rest.split_once(':')?;
            Some((page.parse::<u32>().ok()?, band.parse::<u32>().ok()?))
        });
        let mut page_no = 0;
        let pages = self.inner.scan(
            opts,
            &mut |rows: &mut dyn PageRows| {
                page_no += 1;
                let stop_after = band_plan.and_then(|(p, b)| (p == page_no).then_some(b));
                on_page(&mut PausingRows {
                    inner: rows,
                    bands: 0,
                    stop_after,
                })
            },
            cancel,
        )?;
        if self.pause.as_deref() == Some("finish") {
            pause_here();
        }
        Ok(pages)
    }
}

/// `MFP_PANEL_KILL_DEBUG=1`: each round's plan and the panel's output on stderr (with
/// `MFP_TEST_VIEWS=1` also every view the panel passed over).
fn debug() -> bool {
    std::env::var_os("MFP_PANEL_KILL_DEBUG").is_some()
}

/// The panel, when started by the test above; on its own it refuses to run.
#[test]
#[ignore = "the panel process of the kill test, started by it"]
fn panel_process() {
    let config_path = std::env::var_os(ENV_CONFIG).expect(
        "run by a_panel_killed_anywhere_in_scan_and_send_delivers_each_committed_scan_exactly_once",
    );
    let config = Config::load(Path::new(&config_path)).unwrap();
    let workflow = std::env::var(ENV_WORKFLOW).unwrap_or_default();
    let sheets: u32 = std::env::var(ENV_SHEETS).unwrap().parse().unwrap();
    let pause = std::env::var(ENV_PAUSE).ok().filter(|p| !p.is_empty());

    let rt = common::runtime();
    let (tx, rx) = mpsc::channel::<View>();
    let sink: ViewSink = Box::new(move |view| {
        let _ = tx.send(view.clone());
    });
    let scanner: app::services::ScannerFactory = Box::new(move || {
        Box::new(PausingScanner {
            inner: SimulatedScanner::new(sheets),
            pause: pause.clone(),
        })
    });
    let running = rt
        .block_on(app::start_with_scanner(config, false, sink, Some(scanner)))
        .unwrap();
    common::wait_for(&rx, "the idle page", |v| v.page == ViewPage::Idle);
    say("READY");

    if workflow.is_empty() {
        // The outbox worker's first pass starts at once; wait until it has sent everything.
        let deadline = Instant::now() + Duration::from_secs(50);
        loop {
            let jobs = running.services.store.list_jobs(usize::MAX).unwrap();
            if jobs.iter().all(|j| j.state == JobState::Done) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the outbox did not drain: {:?}",
                jobs.iter()
                    .map(|j| (j.state, j.last_error.clone()))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        say("DRAINED");
        running.handle.send(Input::Quit);
        rt.block_on(running.controller).unwrap();
        return;
    }

    running.handle.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    let home = common::wait_for(&rx, "the home page", |v| v.page == ViewPage::Home);
    let id = home
        .workflows
        .iter()
        .find(|w| w.id == workflow)
        .unwrap_or_else(|| panic!("workflow {workflow} offered"))
        .id
        .clone();
    running.handle.event(Event::RunWorkflow { id });
    let result = common::wait_for(&rx, "the result page", |v| v.page == ViewPage::Result);
    let job = running
        .services
        .store
        .list_jobs(1)
        .unwrap()
        .first()
        .map(|j| j.id.to_string())
        .unwrap_or_default();
    say(&format!(
        "TOLD\t{}\t{job}\t{}",
        if result.result_ok { "ok" } else { "failed" },
        result.result_title
    ));
    // Waits for the kill.
    loop {
        std::thread::park();
    }
}
