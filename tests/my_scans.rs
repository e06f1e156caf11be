//! My scans against the real store: a user's jobs in plain words as they move through the
//! outbox (waiting, waiting for the network after a failed attempt, sent, failed), retry of a
//! failed job by its owner only, and nothing of other users or older than a week.

use chrono::{Duration, Utc};
use mfp_kiosk::app::my_scans;
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::{Event, MyScan};
use mfp_kiosk::store::NewJob;

fn listed(e: Event) -> (Vec<MyScan>, Option<(mfp_kiosk::i18n::Msg, bool)>) {
    match e {
        Event::MyScansLoaded { jobs, message } => (jobs, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn jobs_read_plainly_as_they_move_and_only_the_owner_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = dir.path().to_path_buf();
    let services = mfp_kiosk::admin::signin::services(config).unwrap();
    let store = &services.store;
    for (oid, upn) in [
        ("oid-ann", "ann@contoso.example"),
        ("oid-bob", "bob@contoso.example"),
    ] {
        let now = Utc::now();
        store
            .upsert_user(&mfp_kiosk::identity::UserRecord {
                oid: oid.into(),
                tenant_id: "tenant".into(),
                upn: upn.into(),
                display_name: upn.into(),
                mail: None,
                username: upn.into(),
                roles: vec![],
                groups: vec![],
                is_technician: false,
                status: mfp_kiosk::identity::UserStatus::Active,
                created_at: now,
                updated_at: now,
                last_online_at: now,
            })
            .unwrap();
    }
    let job = |oid: &str, name: &str, age: Duration| {
        let id = uuid::Uuid::new_v4();
        store
            .insert_job(
                &NewJob {
                    id,
                    user_oid: oid.into(),
                    workflow_id: "scan-to-onedrive".into(),
                    destination: serde_json::json!({}),
                    folder: "Scans".into(),
                    file_name: name.into(),
                    spool_path: dir.path().join(format!("{id}.pdf")),
                    size_bytes: 10,
                    pages: 1,
                },
                Utc::now() - age,
            )
            .unwrap();
        id
    };
    let fresh = job("oid-ann", "fresh.pdf", Duration::minutes(1));
    let _old = job("oid-ann", "old.pdf", Duration::days(8));
    let _bobs = job("oid-bob", "bob.pdf", Duration::minutes(2));

    let (jobs, _) = listed(my_scans::load(&services, "oid-ann", None));
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].name, "fresh.pdf");
    assert_eq!(jobs[0].state, "Waiting to be sent");
    assert!(
        jobs[0].destination.starts_with("OneDrive"),
        "{}",
        jobs[0].destination
    );

    store
        .retry_job_later(
            fresh,
            "network unreachable",
            Utc::now() + Duration::minutes(1),
            Utc::now(),
        )
        .unwrap();
    let (jobs, _) = listed(my_scans::load(&services, "oid-ann", None));
    assert_eq!(
        jobs[0].state,
        "Waiting for the network, will be sent automatically"
    );

    store
        .fail_job(fresh, "Graph 404 itemNotFound: parent folder", Utc::now())
        .unwrap();
    let (jobs, _) = listed(my_scans::load(&services, "oid-ann", None));
    // The stored technical error becomes a plain cause, in the panel's language.
    assert_eq!(
        jobs[0].state,
        "Failed: the destination folder no longer exists"
    );
    assert_eq!(
        jobs[0].state.render(mfp_kiosk::i18n::Language::De),
        "Fehlgeschlagen: der Zielordner existiert nicht mehr"
    );
    assert!(jobs[0].failed);

    // Bob cannot retry Ann's job, and learns nothing about it.
    let (_, msg) = listed(my_scans::retry(&services, "oid-bob", &fresh.to_string()));
    assert_eq!(
        msg,
        Some((
            mfp_kiosk::i18n::Msg::new("That scan cannot be retried."),
            true
        ))
    );
    assert!(store.job(fresh).unwrap().unwrap().state == mfp_kiosk::store::JobState::Failed);
    let (jobs, msg) = listed(my_scans::retry(&services, "oid-ann", &fresh.to_string()));
    assert!(!msg.unwrap().1, "retried");
    assert!(!jobs[0].failed);

    store
        .complete_job(
            fresh,
            "item-1",
            Some("https://contoso.example/item"),
            Utc::now(),
        )
        .unwrap();
    let (jobs, _) = listed(my_scans::load(&services, "oid-ann", None));
    assert_eq!(jobs[0].state, "Sent");
}
