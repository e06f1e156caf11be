//! Uploads through the real Graph client against the simulated Graph over loopback HTTP:
//! upload sessions in aligned fragments, resume after a cut connection, restart after a vanished
//! session with a token refreshed mid-upload, Retry-After on tokio's paused clock, no second
//! copy when an answer is lost, and the session rules the simulator enforces.
#![cfg(feature = "demo")]

mod outbox_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mfp_kiosk::graph::{
    ConflictBehavior, DriveTarget, FragmentSize, GraphClient, RetryPolicy, UploadRequest, Uploader,
};
use mfp_kiosk::sim::KillPhase;
use outbox_support::*;
use secrecy::ExposeSecret;

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        ..RetryPolicy::default()
    }
}

const ADELE: &str = "adele@contoso.example";

#[tokio::test]
async fn fifty_mib_goes_up_in_ten_mib_fragments() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let (path, data) = write_file(dir.path(), "big.pdf", 50 * 1024 * 1024, 1);
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );
    let last = Arc::new(AtomicU64::new(0));
    let seen = last.clone();
    let mut req = UploadRequest::new(&DriveTarget::Me, "Scans/Big", "big.pdf", &path);
    req.progress = Some(Arc::new(move |sent, total| {
        assert!(
            sent >= seen.load(Ordering::SeqCst),
            "progress never goes back"
        );
        assert_eq!(total, 50 * 1024 * 1024);
        seen.store(sent, Ordering::SeqCst);
    }));
    let item = uploader.upload(&req, &tokens).await.unwrap();

    assert_eq!(item.size, data.len() as u64);
    assert_eq!(item.name, "big.pdf");
    assert_eq!(last.load(Ordering::SeqCst), data.len() as u64);
    let landed = std::fs::read(sim.user_drive_dir(ADELE).join("Scans/Big/big.pdf")).unwrap();
    assert!(landed == data, "byte-identical");
    let stats = sim.stats();
    assert_eq!(stats.upload_sessions, 1);
    assert_eq!(stats.fragments, 5, "50 MiB in 10 MiB fragments");
    assert_eq!(stats.uploads, 1);
    assert_eq!(sim.open_upload_sessions(), 0);
}

#[tokio::test]
async fn a_connection_cut_mid_fragment_resumes_from_next_expected_ranges() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let size = 10 * FragmentSize::UNIT as usize + 1234;
    let (path, data) = write_file(dir.path(), "scan.pdf", size, 2);
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );
    let saved = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let log = saved.clone();
    let mut req = UploadRequest::new(&DriveTarget::Me, "Scans", "scan.pdf", &path);
    req.fragment = FragmentSize::MIN;
    req.threshold = 1024 * 1024;
    req.on_session = Some(Arc::new(move |url| {
        log.lock()
            .unwrap()
            .push(url.map(|u| u.expose().to_string()))
    }));
    // Requests: 1 createUploadSession, 2..4 fragments 0..2; the 4th is cut halfway through.
    sim.arm_kill(4, KillPhase::MidBody, Arc::new(|| {}));
    let item = uploader.upload(&req, &tokens).await.unwrap();
    assert!(!sim.disarm_kill(), "the planned cut happened");

    assert_eq!(item.size, size as u64);
    let landed = std::fs::read(sim.user_drive_dir(ADELE).join("Scans/scan.pdf")).unwrap();
    assert!(landed == data, "byte-identical");
    let stats = sim.stats();
    assert_eq!(stats.upload_sessions, 1, "the same session was resumed");
    assert_eq!(stats.fragments, 11, "no accepted fragment was sent twice");
    let saved = saved.lock().unwrap();
    assert!(saved[0].as_deref().is_some_and(|u| u.contains("/upload/")));
    assert_eq!(saved.last(), Some(&None), "the URL is forgotten once done");
}

#[tokio::test]
async fn a_vanished_session_starts_again_and_an_expired_token_is_refreshed() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let size = 6 * FragmentSize::UNIT as usize;
    let (path, data) = write_file(dir.path(), "scan.pdf", size, 3);
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );
    let mut req = UploadRequest::new(&DriveTarget::Me, "Scans", "scan.pdf", &path);
    req.fragment = FragmentSize::MIN;
    req.threshold = 1024 * 1024;
    // After the second fragment is accepted the session expires, the access token runs out,
    // and the answer is lost.
    let controls = sim.controls();
    sim.arm_kill(
        3,
        KillPhase::AfterHandling,
        Arc::new(move || {
            assert_eq!(controls.expire_upload_sessions(), 1);
            assert!(controls.expire_access_tokens() >= 1);
        }),
    );
    let item = uploader.upload(&req, &tokens).await.unwrap();

    assert_eq!(item.name, "scan.pdf", "not a renamed second copy");
    let files = files_under(&sim.user_drive_dir(ADELE));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(std::fs::read(&files[0]).unwrap() == data);
    let stats = sim.stats();
    assert_eq!(
        stats.upload_sessions, 2,
        "404 on the session started a new one"
    );
    assert_eq!(stats.fragments, 2 + 6);
    assert_eq!(
        tokens.refreshes.load(Ordering::SeqCst),
        1,
        "one silent refresh"
    );
    assert!(stats.graph_unauthorized >= 1);
}

#[tokio::test(start_paused = true)]
async fn throttling_waits_for_retry_after_on_the_paused_clock() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let (path, data) = write_file(dir.path(), "small.pdf", 100_000, 4);
    // A policy whose own back-off is far shorter than the server's Retry-After.
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );
    sim.inject_graph_faults(1, 429, Some(Duration::from_secs(7)));
    sim.inject_graph_faults(1, 503, Some(Duration::from_secs(3)));
    let started = tokio::time::Instant::now();
    let req = UploadRequest::new(&DriveTarget::Me, "", "small.pdf", &path);
    uploader.upload(&req, &tokens).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(10), "waited {waited:?}");
    assert!(waited < Duration::from_secs(11), "waited {waited:?}");
    assert!(std::fs::read(sim.user_drive_dir(ADELE).join("small.pdf")).unwrap() == data);
}

/// Real clock on purpose: with the paused clock, tokio jumps time forward whenever the runtime
/// waits on a socket, which can fire the client's request timeout while the simulator still
/// answers; the answer then looks lost and the upload is retried after the fault was used up.
#[tokio::test]
async fn a_retry_after_beyond_the_policy_goes_back_to_the_caller() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let (path, _) = write_file(dir.path(), "later.pdf", 100_000, 4);
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );
    let req = UploadRequest::new(&DriveTarget::Me, "", "later.pdf", &path);
    // A Retry-After longer than the policy allows goes back to the caller (the outbox
    // reschedules the job) instead of blocking the uploader.
    sim.inject_graph_faults(1, 429, Some(Duration::from_secs(3600)));
    let err = uploader.upload(&req, &tokens).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn a_lost_answer_does_not_make_a_second_copy() {
    let (sim, dir) = start_sim(|_| {}).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let uploader = Uploader::new(
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        fast_retries(),
    );

    // Simple PUT: the file is stored, the answer never arrives.
    let (small, small_data) = write_file(dir.path(), "a.pdf", 50_000, 5);
    sim.arm_kill(1, KillPhase::AfterHandling, Arc::new(|| {}));
    let item = uploader
        .upload(
            &UploadRequest::new(&DriveTarget::Me, "Lost", "a.pdf", &small),
            &tokens,
        )
        .await
        .unwrap();
    assert!(!sim.disarm_kill(), "the planned cut happened");
    assert_eq!(item.name, "a.pdf");
    assert!(
        item.quick_xor_hash.is_some(),
        "found by listing, with its hash"
    );

    // Upload session: the last fragment commits the file, the answer never arrives.
    let size = 3 * FragmentSize::UNIT as usize + 10;
    let (big, big_data) = write_file(dir.path(), "b.pdf", size, 6);
    let mut req = UploadRequest::new(&DriveTarget::Me, "Lost", "b.pdf", &big);
    req.fragment = FragmentSize::MIN;
    req.threshold = 512 * 1024;
    // 1 create, 2..5 four fragments: the 5th request is the last fragment.
    sim.arm_kill(5, KillPhase::AfterHandling, Arc::new(|| {}));
    let item = uploader.upload(&req, &tokens).await.unwrap();
    assert!(!sim.disarm_kill(), "the planned cut happened");
    assert_eq!(item.name, "b.pdf");
    assert!(
        item.quick_xor_hash.is_some(),
        "found by listing, with its hash"
    );
    assert_eq!(sim.stats().upload_sessions, 1);

    let files = files_under(&sim.user_drive_dir(ADELE).join("Lost"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(std::fs::read(&files[0]).unwrap() == small_data);
    assert!(std::fs::read(&files[1]).unwrap() == big_data);
    assert_eq!(sim.stats().uploads, 2);

    // The same name again with other content is a different file: `rename` keeps both.
    let (other, _) = write_file(dir.path(), "a2.pdf", 50_000, 7);
    let mut again = UploadRequest::new(&DriveTarget::Me, "Lost", "a.pdf", &other);
    again.maybe_landed = true;
    let item = uploader.upload(&again, &tokens).await.unwrap();
    assert_eq!(item.name, "a 1.pdf");
}

#[tokio::test(start_paused = true)]
async fn the_simulator_enforces_upload_session_rules() {
    let (sim, dir) = start_sim(|o| o.upload_session_lifetime = Duration::from_secs(600)).await;
    let tokens = sign_in(&sim, &user(&sim, ADELE).oid).await;
    let token = tokens.state_token().await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();
    let http = reqwest::Client::new();
    let total = 2 * FragmentSize::UNIT + 5;
    let session = graph
        .create_upload_session(
            &token,
            &DriveTarget::Me,
            "Rules",
            "r.pdf",
            total,
            ConflictBehavior::Fail,
        )
        .await
        .unwrap();
    let url = session.url.expose().to_string();
    let put = |range: String, len: u64, auth: bool| {
        let mut rq = http
            .put(&url)
            .header("Content-Range", range)
            .header("Content-Length", len)
            .body(vec![7u8; len as usize]);
        if auth {
            rq = rq.bearer_auth(token.expose_secret());
        }
        rq.send()
    };
    let unit = FragmentSize::UNIT;
    let status = |r: reqwest::Response| r.status().as_u16();
    // Not a multiple of 320 KiB (and not the last fragment).
    assert_eq!(
        status(
            put(format!("bytes 0-99999/{total}"), 100_000, false)
                .await
                .unwrap()
        ),
        400
    );
    // An Authorization header on the pre-authenticated URL.
    assert_eq!(
        status(
            put(format!("bytes 0-{}/{total}", unit - 1), unit, true)
                .await
                .unwrap()
        ),
        401
    );
    // Not contiguous: the session expects byte 0.
    assert_eq!(
        status(
            put(
                format!("bytes {unit}-{}/{total}", 2 * unit - 1),
                unit,
                false
            )
            .await
            .unwrap()
        ),
        416
    );
    assert_eq!(
        status(
            put(format!("bytes 0-{}/{total}", unit - 1), unit, false)
                .await
                .unwrap()
        ),
        202
    );
    // The same fragment again (a retry after a lost answer) is out of range.
    assert_eq!(
        status(
            put(format!("bytes 0-{}/{total}", unit - 1), unit, false)
                .await
                .unwrap()
        ),
        416
    );
    // The total may not change.
    assert_eq!(
        status(
            put(
                format!("bytes {unit}-{}/{}", 2 * unit - 1, total + 1),
                unit,
                false
            )
            .await
            .unwrap()
        ),
        400
    );
    let status_now = graph.upload_session_status(&session.url).await.unwrap();
    assert_eq!(status_now.next_offset, unit);

    // Sessions expire: 404 afterwards.
    tokio::time::advance(Duration::from_secs(601)).await;
    let gone = graph.upload_session_status(&session.url).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));

    // `fail` on an existing name is refused when the session is created.
    let (path, _) = write_file(dir.path(), "r.pdf", 10, 8);
    graph
        .upload_small(
            &token,
            "Rules",
            "r.pdf",
            &path,
            ConflictBehavior::Fail,
            None,
        )
        .await
        .unwrap();
    let clash = graph
        .create_upload_session(
            &token,
            &DriveTarget::Me,
            "Rules",
            "R.PDF",
            total,
            ConflictBehavior::Fail,
        )
        .await
        .unwrap_err();
    assert_eq!(clash.status(), Some(409));
    assert_eq!(clash.code(), Some("nameAlreadyExists"));
    // A file in the way of a folder.
    let blocked = graph
        .create_upload_session(
            &token,
            &DriveTarget::Me,
            "Rules/r.pdf",
            "x.pdf",
            total,
            ConflictBehavior::Rename,
        )
        .await
        .unwrap_err();
    assert_eq!(blocked.status(), Some(409));
}
