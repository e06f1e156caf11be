//! Two uploaders on one state directory (the panel's outbox worker and a technician's
//! `mfp-kiosk outbox run`), as two real processes racing over the same 50 jobs: every job
//! lands exactly once, byte-identical, and neither process's token refresh makes the other's
//! look like a revoked grant, with the simulated Entra refusing a spent refresh token at once
//! (stricter than Entra) and with it honouring the previous token for a while (as Entra does).
#![cfg(feature = "demo")]

mod outbox_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::store::{JobState, NewJob, Store};
use mfp_kiosk::workflow::outbox::JobDestination;
use outbox_support::*;

const JOBS: usize = 50;

async fn race(reuse_window: Option<Duration>) {
    let (sim, dir) = start_sim(|o| o.refresh_reuse_window = reuse_window).await;
    let (config, oid) = provisioned_panel(&sim, dir.path(), "adele@contoso.example").await;
    let state = dir.path().join("state");
    let spool = state.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut expected = Vec::new();
    {
        let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
        for i in 0..JOBS {
            let id = uuid::Uuid::new_v4();
            let (path, data) = write_file(&spool, &format!("{id}.pdf"), 20_000 + i * 97, i as u64);
            store
                .insert_job(
                    &NewJob {
                        id,
                        user_oid: oid.clone(),
                        workflow_id: "test".into(),
                        destination: JobDestination::OneDrive.to_json(),
                        folder: "Race".into(),
                        file_name: format!("scan-{i:02}.pdf"),
                        spool_path: path,
                        size_bytes: data.len() as u64,
                        pages: 1,
                    },
                    Utc::now() + chrono::Duration::milliseconds(i as i64),
                )
                .unwrap();
            expected.push((format!("scan-{i:02}.pdf"), data));
        }
    }

    let exe = kiosk_bin();
    let spawn = |name: &str| {
        let log = std::fs::File::create(dir.path().join(name)).unwrap();
        Command::new(&exe)
            .arg("--config")
            .arg(&config)
            .args(["outbox", "run", "--max-wait-secs", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a.log"), spawn("b.log"));
    let (a, b) = tokio::task::spawn_blocking(move || {
        (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    let logs = format!(
        "a: {}\n{}\nb: {}\n{}",
        String::from_utf8_lossy(&a.stdout),
        std::fs::read_to_string(dir.path().join("a.log")).unwrap(),
        String::from_utf8_lossy(&b.stdout),
        std::fs::read_to_string(dir.path().join("b.log")).unwrap()
    );
    assert!(a.status.success() && b.status.success(), "{logs}");
    let delivered: usize = [&a.stdout, &b.stdout]
        .iter()
        .map(|out| {
            let text = String::from_utf8_lossy(out);
            text.split_once("delivered ")
                .and_then(|(_, rest)| rest.split(',').next()?.trim().parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no summary in {text}"))
        })
        .sum();
    assert_eq!(
        delivered, JOBS,
        "each job delivered by exactly one of them\n{logs}"
    );

    let store = Store::open(&state.join("kiosk.sqlite3")).unwrap();
    let jobs = store.list_jobs(1000).unwrap();
    assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:#?}");
    assert!(
        jobs.iter().all(|j| j.attempts == 1),
        "nobody retried a job the other held"
    );
    let user = store.user_by_oid(&oid).unwrap().unwrap();
    assert_eq!(
        user.status,
        UserStatus::Active,
        "no refresh race marked her\n{logs}"
    );

    let folder = sim.user_drive_dir("adele@contoso.example").join("Race");
    let files = files_under(&folder);
    assert_eq!(files.len(), JOBS, "no copy twice: {files:?}");
    for (name, data) in &expected {
        assert_eq!(std::fs::read(folder.join(name)).unwrap(), *data, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploaders_strict_refresh_tokens() {
    race(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploaders_entra_like_refresh_tokens() {
    race(Some(Duration::from_secs(30))).await;
}
