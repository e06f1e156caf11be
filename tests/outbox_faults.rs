//! The outbox against a simulated Graph that fails 20% of requests at random (500, 503 and 429
//! with Retry-After, connections cut before or after the request was carried out): every job
//! still lands exactly once, byte-identical. Runs on tokio's paused clock, so back-offs and
//! Retry-After waits cost no real time. Also: failed-for-good jobs and their retention.
#![cfg(feature = "demo")]

mod outbox_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mfp_kiosk::graph::{FragmentSize, GraphClient, TokenSource};
use mfp_kiosk::secrets::DeviceKey;
use mfp_kiosk::store::{JobState, NewJob, Store};
use mfp_kiosk::workflow::outbox::{JobDestination, Outbox, Outcome};
use outbox_support::*;

const ADELE: &str = "adele@contoso.example";
const FINANCE: &str = "contoso.sharepoint.com:/sites/Finance";

#[allow(clippy::too_many_arguments)]
fn add_job(
    store: &Store,
    spool: &std::path::Path,
    oid: &str,
    sharepoint: bool,
    folder: &str,
    name: &str,
    size: usize,
    seed: u64,
) -> (uuid::Uuid, Vec<u8>) {
    let id = uuid::Uuid::new_v4();
    let (path, data) = write_file(spool, &format!("{id}.pdf"), size, seed);
    let destination = if sharepoint {
        JobDestination::SharePoint {
            site: FINANCE.into(),
            library: "Documents".into(),
        }
    } else {
        JobDestination::OneDrive
    };
    store
        .insert_job(
            &NewJob {
                id,
                user_oid: oid.into(),
                workflow_id: "wf".into(),
                destination: destination.to_json(),
                folder: folder.into(),
                file_name: name.into(),
                spool_path: path,
                size_bytes: size as u64,
                pages: 1,
            },
            Utc::now() + chrono::Duration::milliseconds(seed as i64),
        )
        .unwrap();
    (id, data)
}

#[tokio::test(start_paused = true)]
async fn every_job_lands_exactly_once_through_random_faults() {
    let (sim, dir) = start_sim(|_| {}).await;
    let adele = user(&sim, ADELE);
    let tokens: Arc<dyn TokenSource> = Arc::new(sign_in(&sim, &adele.oid).await);
    let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
    store
        .upsert_user(&user_record(&adele, sim.tenant_id()))
        .unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();

    let unit = FragmentSize::UNIT as usize;
    let mut jobs = Vec::new();
    for i in 0..14u64 {
        let sharepoint = i % 2 == 1;
        let size = match i % 3 {
            0 => 40_000 + i as usize * 1000,
            1 => 3 * unit + i as usize,
            _ => 6 * unit - 1,
        };
        let folder = if sharepoint { "Invoices" } else { "Scans" };
        // Several jobs share a name: `rename` must keep them apart, and retries must still
        // recognise their own file.
        let name = format!("scan-{}.pdf", i % 4);
        let (id, data) = add_job(
            &store,
            &spool,
            &adele.oid,
            sharepoint,
            folder,
            &name,
            size,
            i + 1,
        );
        jobs.push((id, sharepoint, folder, data));
    }

    let outbox = Outbox::new(
        store.clone(),
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        Arc::new(DeviceKey::from_master(&[7; 32])),
    )
    .with_fragment_size(FragmentSize::MIN)
    .with_session_threshold(512 * 1024)
    .with_job_backoff(Duration::ZERO);
    sim.set_random_faults(0.2, 20250601);
    let tokens_for = move |_: &str| tokens.clone();
    let mut passes = 0;
    while store
        .list_jobs(100)
        .unwrap()
        .iter()
        .any(|j| j.state != JobState::Done)
    {
        passes += 1;
        assert!(
            passes < 40,
            "outbox did not drain: {:#?}",
            store.list_jobs(100).unwrap()
        );
        let summary = outbox.run_due(&tokens_for).await.unwrap();
        assert_eq!(summary.failed, 0, "{:#?}", store.list_jobs(100).unwrap());
    }
    sim.set_random_faults(0.0, 0);
    let faults = sim.stats().graph_faults;
    assert!(faults >= 10, "only {faults} faults injected");

    let onedrive = sim.user_drive_dir(ADELE);
    let library = sim.site_drive_dir("/sites/Finance", "Documents");
    let all = files_under(&onedrive).len() + files_under(&library).len();
    assert_eq!(all, jobs.len(), "one file per job");
    for (id, sharepoint, folder, data) in &jobs {
        let root = if *sharepoint { &library } else { &onedrive };
        let copies = files_under(&root.join(folder))
            .into_iter()
            .filter(|p| std::fs::read(p).unwrap() == *data)
            .count();
        assert_eq!(copies, 1, "job {id}");
        let job = store.job(*id).unwrap().unwrap();
        assert!(job.remote_item_id.is_some() && job.upload_url.is_none());
    }
    assert!(files_under(&spool).is_empty());
}

#[tokio::test]
async fn revoked_users_and_vanished_sites_fail_for_good_then_expire() {
    let (sim, dir) = start_sim(|_| {}).await;
    let adele = user(&sim, ADELE);
    let megan = user(&sim, "megan@contoso.example");
    let adele_tokens: Arc<dyn TokenSource> = Arc::new(sign_in(&sim, &adele.oid).await);
    let megan_tokens: Arc<dyn TokenSource> = Arc::new(sign_in(&sim, &megan.oid).await);
    let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
    store
        .upsert_user(&user_record(&adele, sim.tenant_id()))
        .unwrap();
    store
        .upsert_user(&user_record(&megan, sim.tenant_id()))
        .unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let (to_site, _) = add_job(
        &store, &spool, &adele.oid, true, "Invoices", "a.pdf", 1000, 1,
    );
    let (revoked, _) = add_job(&store, &spool, &megan.oid, false, "Scans", "m.pdf", 1000, 2);
    let (fine, _) = add_job(
        &store, &spool, &adele.oid, false, "Scans", "ok.pdf", 1000, 3,
    );

    assert!(sim.remove_site("contoso.sharepoint.com", "/sites/Finance"));
    // Megan's sign-in is revoked by an admin: her refresh token no longer works.
    assert!(sim.revoke_sessions(&megan.oid) >= 1);
    let adele_again = adele_tokens.clone();
    let tokens_for = move |oid: &str| {
        if oid == megan.oid {
            Arc::new(RefreshOnly(megan_tokens.clone())) as Arc<dyn TokenSource>
        } else {
            adele_tokens.clone()
        }
    };
    let outbox = Outbox::new(
        store.clone(),
        GraphClient::new(sim.graph_endpoint()).unwrap(),
        Arc::new(DeviceKey::from_master(&[7; 32])),
    );
    let summary = outbox.run_due(&tokens_for).await.unwrap();
    assert_eq!((summary.delivered, summary.failed), (1, 2), "{summary:?}");
    let state = |id| store.job(id).unwrap().unwrap();
    assert_eq!(state(fine).state, JobState::Done);
    for id in [to_site, revoked] {
        let job = state(id);
        assert_eq!(job.state, JobState::Failed);
        assert!(job.spool_path.exists(), "kept for technicians");
    }
    assert!(state(to_site).last_error.unwrap().contains("404"));
    assert!(state(revoked).last_error.unwrap().contains("sign-in"));

    // A technician retry re-queues a failed job; it fails again while the site is gone.
    store.requeue_job(to_site, Utc::now()).unwrap();
    let again = outbox
        .deliver(to_site, adele_again.as_ref(), None)
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Failed { .. }), "{again:?}");
    // Without the network (no token), the same job is only postponed, not failed.
    store.requeue_job(to_site, Utc::now()).unwrap();
    let offline = outbox.deliver(to_site, &Unused, None).await.unwrap();
    assert!(matches!(offline, Outcome::Retry { .. }), "{offline:?}");
    assert_eq!(state(to_site).state, JobState::Queued);
    store.fail_job(to_site, "site gone", Utc::now()).unwrap();

    // Within the retention nothing is deleted; after it, the failed jobs and files go.
    assert_eq!(
        outbox
            .purge_failed(Utc::now(), Duration::from_secs(3600))
            .unwrap(),
        0
    );
    let later = Utc::now() + chrono::Duration::hours(2);
    assert_eq!(
        outbox
            .purge_failed(later, Duration::from_secs(3600))
            .unwrap(),
        2
    );
    assert!(store.job(revoked).unwrap().is_none());
    assert!(
        store.job(fine).unwrap().is_some(),
        "done jobs are not purged"
    );
    assert!(files_under(&spool).is_empty());
}

/// Megan's tokens, but always asking Entra (her cached access token would still work for an
/// hour; a panel that signed her out holds only the refresh token).
struct RefreshOnly(Arc<dyn TokenSource>);

impl TokenSource for RefreshOnly {
    fn token(&self, _refresh: bool) -> mfp_kiosk::graph::BoxedTokenFuture<'_> {
        self.0.token(true)
    }
}

/// No network: Entra cannot be reached.
struct Unused;

impl TokenSource for Unused {
    fn token(&self, _refresh: bool) -> mfp_kiosk::graph::BoxedTokenFuture<'_> {
        Box::pin(async {
            Err(mfp_kiosk::graph::TokenError {
                message: "offline".into(),
                permanent: false,
            })
        })
    }
}
