//! Crash safety of the outbox: the uploader is a real process (`mfp-kiosk outbox run`) that is
//! SIGKILLed again and again at different points of a batch of jobs (before a Graph request is
//! carried out, halfway through its body, after it was carried out but before the answer
//! arrives) and restarted. Afterwards every job is in its drive exactly once, byte-identical.
//!
//! The simulated cloud runs in this test process; the kill is triggered by the simulator itself
//! at the n-th Graph request of each run, so the points are exact, not timing guesses.
#![cfg(feature = "demo")]

mod outbox_support;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use mfp_kiosk::graph::FragmentSize;
use mfp_kiosk::sim::KillPhase;
use mfp_kiosk::store::{JobState, NewJob, Store};
use mfp_kiosk::workflow::outbox::JobDestination;
use outbox_support::*;

struct Spec {
    sharepoint: bool,
    folder: &'static str,
    name: &'static str,
    size: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_uploader_delivers_every_job_exactly_once() {
    let (sim, dir) = start_sim(|_| {}).await;
    let (config, oid) = provisioned_panel(&sim, dir.path(), "adele@contoso.example").await;
    let state = dir.path().join("state");
    let spool = state.join("spool");
    std::fs::create_dir_all(&spool).unwrap();

    let unit = FragmentSize::UNIT as usize;
    let specs = [
        Spec {
            sharepoint: false,
            folder: "Scans",
            name: "Scan.pdf",
            size: 90_000,
        },
        Spec {
            sharepoint: true,
            folder: "Invoices",
            name: "inv-1.pdf",
            size: 4 * unit + 17,
        },
        Spec {
            sharepoint: false,
            folder: "Scans",
            name: "Scan.pdf",
            size: 3 * unit + 1,
        },
        Spec {
            sharepoint: true,
            folder: "Invoices/2025",
            name: "inv-2.pdf",
            size: 60_000,
        },
        Spec {
            sharepoint: false,
            folder: "Scans/Big",
            name: "big.pdf",
            size: 6 * unit,
        },
        Spec {
            sharepoint: true,
            folder: "Invoices",
            name: "inv-1.pdf",
            size: 2 * unit + 999,
        },
        Spec {
            sharepoint: false,
            folder: "Scans",
            name: "Scan.pdf",
            size: 120_000,
        },
        Spec {
            sharepoint: true,
            folder: "Invoices/2025",
            name: "inv-3.pdf",
            size: 5 * unit - 3,
        },
        Spec {
            sharepoint: false,
            folder: "",
            name: "root.pdf",
            size: 2 * unit,
        },
        Spec {
            sharepoint: true,
            folder: "Invoices",
            name: "inv-4.pdf",
            size: 10_000,
        },
    ];
    let mut expected = Vec::new();
    {
        let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
        for (i, spec) in specs.iter().enumerate() {
            let id = uuid::Uuid::new_v4();
            let (path, data) = write_file(&spool, &format!("{id}.pdf"), spec.size, 100 + i as u64);
            let destination = if spec.sharepoint {
                JobDestination::SharePoint {
                    site: "contoso.sharepoint.com:/sites/Finance".into(),
                    library: "Documents".into(),
                }
            } else {
                JobDestination::OneDrive
            };
            store
                .insert_job(
                    &NewJob {
                        id,
                        user_oid: oid.clone(),
                        workflow_id: "test".into(),
                        destination: destination.to_json(),
                        folder: spec.folder.into(),
                        file_name: spec.name.into(),
                        spool_path: path,
                        size_bytes: spec.size as u64,
                        pages: 1,
                    },
                    Utc::now() + chrono::Duration::milliseconds(i as i64),
                )
                .unwrap();
            expected.push((spec, data));
        }
    }

    let exe = kiosk_bin();
    let log = std::fs::File::create(dir.path().join("uploader.log")).unwrap();
    let spawn = || -> Child {
        Command::new(&exe)
            .args(["--config"])
            .arg(&config)
            .args([
                "outbox",
                "run",
                "--max-wait-secs",
                "0",
                "--fragment-units",
                "1",
            ])
            .args(["--session-threshold-kib", "512"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap()
    };
    let phases = [
        KillPhase::AfterHandling,
        KillPhase::BeforeHandling,
        KillPhase::MidBody,
    ];
    let started = Instant::now();
    let mut kills = 0;
    let mut commit_kills = 0;
    let mut finished = false;
    for run in 0..120u64 {
        let child = Arc::new(Mutex::new(spawn()));
        let killed = Arc::new(AtomicBool::new(false));
        // Every third run dies right after its first commit (the file is stored, the answer
        // lost); the others die at a later request each time, before, during or after it, so
        // the kill points walk across the whole batch.
        let (nth, phase) = if run % 3 == 2 {
            (1, KillPhase::AfterCommit)
        } else {
            (2 + run / 6, phases[(run / 3 % 3) as usize])
        };
        kill_at_request(&sim, nth, phase, &child, &killed);
        let status = loop {
            if let Some(status) = child.lock().unwrap().try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        sim.disarm_kill();
        if killed.load(Ordering::SeqCst) {
            kills += 1;
            commit_kills += usize::from(phase == KillPhase::AfterCommit);
            continue;
        }
        let log = std::fs::read_to_string(dir.path().join("uploader.log")).unwrap();
        assert!(status.success(), "uploader ended with {status}:\n{log}");
        finished = true;
        break;
    }
    assert!(finished, "the batch never finished");
    // Every job done; every file exactly once and byte-identical.
    let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let jobs = store.list_jobs(100).unwrap();
    assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:#?}");
    assert!(kills >= 20, "only {kills} kills");
    assert!(
        commit_kills >= 6,
        "only {commit_kills} kills right after a commit"
    );
    eprintln!(
        "{kills} kills ({commit_kills} after a commit), {:?}",
        started.elapsed()
    );

    let onedrive = files_under(&sim.user_drive_dir("adele@contoso.example"));
    let library = files_under(&sim.site_drive_dir("/sites/Finance", "Documents"));
    assert_eq!(
        onedrive.len() + library.len(),
        specs.len(),
        "{onedrive:?} {library:?}"
    );
    for (spec, data) in &expected {
        let root = if spec.sharepoint {
            sim.site_drive_dir("/sites/Finance", "Documents")
        } else {
            sim.user_drive_dir("adele@contoso.example")
        };
        let copies: Vec<_> = files_under(&root.join(spec.folder))
            .into_iter()
            .filter(|p| p.parent() == Some(&root.join(spec.folder)))
            .filter(|p| std::fs::read(p).unwrap() == *data)
            .collect();
        assert_eq!(
            copies.len(),
            1,
            "{} in {}: {copies:?}",
            spec.name,
            spec.folder
        );
    }
    assert!(files_under(&spool).is_empty(), "spool emptied");
}
