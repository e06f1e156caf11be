//! Upload-session URLs at rest (security review, issue 15 finding 7): Graph's `uploadUrl` lets
//! anyone who has it write into the user's drive for days, without a token. While a job has a
//! session, the database, its WAL and its shared memory hold no part of it; a restarted
//! uploader (a new process) still resumes the same session; once the job is done or failed the
//! row holds no URL at all.
//!
//! The uploader is the real `mfp-kiosk outbox run`, killed by the simulator right after a given
//! Graph request was carried out, as in `outbox_crash.rs`.
#![cfg(feature = "demo")]

mod outbox_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mfp_kiosk::graph::FragmentSize;
use mfp_kiosk::sim::{KillPhase, SimCloud};
use mfp_kiosk::store::{JobState, NewJob, Store};
use mfp_kiosk::workflow::outbox::JobDestination;
use outbox_support::*;

const ADELE: &str = "adele@contoso.example";

/// Pieces every simulated `uploadUrl` has (`{graph}/upload/{id}?tempauth={secret}`); a stored
/// URL, whole or cut, contains at least one of them.
const NEEDLES: &[&[u8]] = &[b"tempauth", b"/upload/"];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no database file under `state` contains a piece of an upload URL, and that the
/// search looks at the right bytes (the job's file name is there in clear). A killed uploader
/// leaves its WAL behind (`wal_left`); the last connection to close cleanly removes it.
fn assert_no_upload_url_on_disk(state: &Path, file_name: &str, wal_left: bool) {
    let mut seen_name = false;
    let mut checked = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = state.join(format!("kiosk.sqlite3{suffix}"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        seen_name |= contains(&bytes, file_name.as_bytes());
        for needle in NEEDLES {
            assert!(
                !contains(&bytes, needle),
                "{} holds {:?} of an upload URL",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
        checked.push(suffix);
    }
    if wal_left {
        assert!(
            checked.contains(&"-wal"),
            "the WAL was checked: {checked:?}"
        );
    }
    assert!(seen_name, "the job row is in the searched files");
}

fn add_job(state: &Path, oid: &str, name: &str, size: usize, seed: u64) -> uuid::Uuid {
    let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let id = uuid::Uuid::new_v4();
    let spool = state.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let (path, _) = write_file(&spool, &format!("{id}.pdf"), size, seed);
    store
        .insert_job(
            &NewJob {
                id,
                user_oid: oid.to_string(),
                workflow_id: "test".into(),
                destination: JobDestination::OneDrive.to_json(),
                folder: "Scans".into(),
                file_name: name.into(),
                spool_path: path,
                size_bytes: size as u64,
                pages: 1,
            },
            Utc::now(),
        )
        .unwrap();
    id
}

/// Runs `mfp-kiosk outbox run` once; with `kill_after`, the simulator kills it right after
/// carrying out that many Graph requests. Returns whether it was killed.
async fn run_uploader(sim: &SimCloud, config: &Path, kill_after: Option<u64>) -> bool {
    let child = Command::new(kiosk_bin())
        .arg("--config")
        .arg(config)
        .args(["outbox", "run", "--max-wait-secs", "0"])
        .args(["--fragment-units", "1", "--session-threshold-kib", "512"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let child = Arc::new(Mutex::new(child));
    let killed = Arc::new(AtomicBool::new(false));
    if let Some(nth) = kill_after {
        kill_at_request(sim, nth, KillPhase::AfterHandling, &child, &killed);
    }
    loop {
        if child.lock().unwrap().try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sim.disarm_kill();
    killed.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_urls_are_sealed_at_rest_resumed_and_cleared() {
    let (sim, dir) = start_sim(|_| {}).await;
    let (config, oid) = provisioned_panel(&sim, dir.path(), ADELE).await;
    let state = dir.path().join("state");
    let size = 6 * FragmentSize::UNIT as usize;

    // Done: createUploadSession and two fragments, then the uploader dies mid-session.
    let done = add_job(&state, &oid, "resumed.pdf", size, 1);
    assert!(
        run_uploader(&sim, &config, Some(3)).await,
        "killed mid-session"
    );
    assert_eq!(sim.stats().upload_sessions, 1);
    assert_no_upload_url_on_disk(&state, "resumed.pdf", true);
    {
        let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
        let job = store.job(done).unwrap().unwrap();
        assert!(job.upload_url.is_some(), "the session is remembered");
        assert_ne!(job.state, JobState::Done);
    }
    // A new process resumes the same session (no second createUploadSession).
    assert!(!run_uploader(&sim, &config, None).await);
    let stats = sim.stats();
    assert_eq!(stats.upload_sessions, 1, "resumed, not restarted");
    assert_eq!(stats.fragments, 6, "no fragment sent twice");
    {
        let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
        let job = store.job(done).unwrap().unwrap();
        assert_eq!(job.state, JobState::Done);
        assert!(job.upload_url.is_none());
        assert_eq!(raw_upload_url(&state, done), None);
    }
    let uploaded = files_under(&sim.user_drive_dir(ADELE));
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    assert_eq!(
        std::fs::read(&uploaded[0]).unwrap(),
        content(size, 1),
        "byte-identical"
    );

    // Failed: a session, then the user's access is revoked; the job fails for good.
    let failed = add_job(&state, &oid, "revoked.pdf", size, 2);
    assert!(
        run_uploader(&sim, &config, Some(3)).await,
        "killed mid-session"
    );
    assert_eq!(sim.stats().upload_sessions, 2);
    assert_no_upload_url_on_disk(&state, "revoked.pdf", true);
    Store::open(&state.join("kiosk.sqlite3"))
        .unwrap()
        .revoke_user(&oid, "disabled in Entra", Utc::now())
        .unwrap();
    assert!(!run_uploader(&sim, &config, None).await);
    let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let job = store.job(failed).unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    assert!(job.upload_url.is_none());
    assert_eq!(raw_upload_url(&state, failed), None);
    drop(store);
    assert_no_upload_url_on_disk(&state, "revoked.pdf", false);
}

/// The `upload_url` column as stored, read with plain SQLite (not through the store).
fn raw_upload_url(state: &Path, id: uuid::Uuid) -> Option<String> {
    let conn = rusqlite::Connection::open(state.join("kiosk.sqlite3")).unwrap();
    conn.query_row(
        "SELECT upload_url FROM jobs WHERE id = ?1",
        [id.to_string()],
        |r| r.get(0),
    )
    .unwrap()
}
