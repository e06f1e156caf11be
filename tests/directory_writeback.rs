//! Fleet-wide enrollment (issue 10, `directory.write_cards`) over real HTTP against the
//! simulated Entra and Graph: a badge enrolled on one panel (the technician's service menu, or
//! self-enrollment at a Microsoft sign-in) is written to the user's `extensionAttribute3` in
//! the directory's hex format and signs in at the first tap on a second panel (its own state
//! directory) after that panel's next sync; a write Graph refuses (403 without
//! User.ReadWrite.All, 500, 429) stays queued while the local binding works, and goes out
//! later; a user synced from on-premises AD fails for good with the reason; the report counts
//! it all. Also: the doctor's permission probe, and Sync now from the health page.
#![cfg(feature = "demo")]

mod directory_support;

use std::time::{Duration, Instant};

use directory_support::*;
use mfp_kiosk::app::service_ops;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::service_menu::{
    BindOutcome, Operator, Section, ServiceEffect, ServiceEvent, ServiceMenu, SyncState,
};
use mfp_kiosk::store::{CardSource, ProvisioningQuery};
use secrecy::SecretString;

const READ: [&str; 2] = ["User.Read.All", "GroupMember.Read.All"];
const READ_WRITE: [&str; 3] = [
    "User.Read.All",
    "GroupMember.Read.All",
    "User.ReadWrite.All",
];

/// Users 7 and 14 have no badge in the directory (every seventh has none).
const NEW_7: &str = "0009990007";
const NEW_14: &str = "0009990014";

/// How the directory keeps `n` (decimal) after the write-back: hex, whole bytes.
fn hex(n: &str) -> String {
    let mut h = format!("{:X}", n.parse::<u64>().unwrap());
    if h.len() % 2 == 1 {
        h.insert(0, '0');
    }
    h
}

async fn fleet(permissions: &[&str]) -> Kiosk {
    let perms: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
    tenant_with(
        20,
        21,
        10,
        move |o| o.app_permissions = perms,
        |c| c.directory.write_cards = true,
    )
    .await
}

/// The technician binds `number` to directory user `i` through the service menu's adapter.
fn enroll_by_technician(k: &Kiosk, i: usize, number: &str) {
    let answer = service_ops::execute(
        &k.services,
        &Operator::ServicePin,
        ServiceEffect::BindCard {
            oid: oid(i),
            card: SecretString::from(number),
            allow_move: false,
        },
    );
    match answer {
        Some(ServiceEvent::CardBound(BindOutcome::Bound { .. })) => {}
        other => panic!("{other:?}"),
    }
}

fn signed_in_as(e: &Event) -> Option<String> {
    match e {
        Event::AuthSucceeded { user, .. } => Some(user.upn.clone()),
        _ => None,
    }
}

fn report_json(k: &Kiosk) -> String {
    let runs = k
        .services
        .store
        .provisioning_report(&ProvisioningQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    format!("{runs:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_badge_enrolled_on_one_panel_signs_in_at_the_first_tap_on_another() {
    let k = fleet(&READ_WRITE).await;
    let dir = directory(&k);
    assert!(dir.writes_cards());
    run(&k, &dir).await.unwrap();
    let b = second_panel(&k);
    let first = b.sync().await.unwrap();
    assert_eq!(first.counts.created, 20);
    assert_eq!(signed_in_as(&b.tap(NEW_7).await), None, "not known yet");

    // Panel A: the technician enrols user 7, user 14 links a badge at a Microsoft sign-in.
    enroll_by_technician(&k, 7, NEW_7);
    k.sign_in(&oid(14), Some(NEW_14)).await.unwrap();
    // The local binding works before anything reached the directory.
    assert_eq!(signed_in_as(&tap(&k, NEW_7).await), Some(upn(7)));
    assert_eq!(k.sim.user_patches(), 0);

    let r = write_back(&k, &dir).await.unwrap();
    assert_eq!(r.counts.cards_written, 2, "{:?}", r.counts);
    assert_eq!(k.sim.user_patches(), 2);
    // In the directory's own format: hex, which directory.card_normalise reads back.
    assert_eq!(
        k.sim.user_attribute(&oid(7), EXT3),
        Some(serde_json::json!(hex(NEW_7)))
    );
    assert_eq!(
        k.sim.user_attribute(&oid(14), EXT3),
        Some(serde_json::json!(hex(NEW_14)))
    );
    // Nothing left to do: a second pass writes nothing.
    let again = write_back(&k, &dir).await.unwrap();
    assert_eq!(again.counts.cards_written, 0);
    assert_eq!(k.sim.user_patches(), 2);

    // Panel B's next sync binds them from the directory: first tap signs in.
    let synced = b.sync().await.unwrap();
    assert!(!synced.counts.full_resync);
    assert_eq!(synced.counts.cards_added, 2, "{:?}", synced.counts);
    assert_eq!(signed_in_as(&b.tap(NEW_7).await), Some(upn(7)));
    assert_eq!(signed_in_as(&b.tap(NEW_14).await), Some(upn(14)));
    let cards = b.services.store.cards_for_user(&oid(7)).unwrap();
    assert_eq!(cards[0].source, CardSource::Directory);

    // Panel A's own sync sees its write come back and changes nothing: the card stays the
    // panel's own (a sync never removes it).
    let back = run(&k, &dir).await.unwrap();
    assert_eq!((back.counts.cards_added, back.counts.conflicts), (0, 0));
    let cards = k.services.store.cards_for_user(&oid(7)).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].source, CardSource::Panel);

    // The report says what was written, masked only.
    let report = report_json(&k);
    assert!(report.contains("card_written"), "{report}");
    assert!(
        report.contains("•••• 0007 written to onPremisesExtensionAttributes.extensionAttribute3")
    );
    for secret in [NEW_7, NEW_14, &hex(NEW_7), &hex(NEW_14)] {
        assert!(!report.contains(secret), "clear number in the report");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_stays_queued_and_goes_out_later() {
    let k = fleet(&READ).await;
    let dir = directory(&k);
    run(&k, &dir).await.unwrap();
    enroll_by_technician(&k, 7, NEW_7);
    let store = &k.services.store;
    let hash = store.cards_for_user(&oid(7)).unwrap()[0].hash;

    // No User.ReadWrite.All: Graph's 403, kept for a retry with backoff.
    let r = write_back(&k, &dir).await.unwrap();
    assert_eq!(
        (r.counts.cards_written, r.counts.card_writes_retried),
        (0, 1)
    );
    let w = store.card_write_state(&oid(7), &hash).unwrap().unwrap();
    assert_eq!((w.state.as_str(), w.attempts), ("queued", 1));
    let why = w.last_error.unwrap();
    assert!(
        why.contains("403") && why.contains("User.ReadWrite.All"),
        "{why}"
    );
    assert!(w.next_at > chrono::Utc::now() + chrono::Duration::seconds(50));
    // Not due yet: the next pass leaves it alone.
    assert_eq!(
        write_back(&k, &dir)
            .await
            .unwrap()
            .counts
            .card_writes_retried,
        0
    );
    // Meanwhile the badge works on this panel.
    assert_eq!(signed_in_as(&tap(&k, NEW_7).await), Some(upn(7)));

    // The admin grants the permission; the next attempt meets a 500, then a 429.
    k.sim.set_app_permissions(&READ_WRITE);
    store.card_writes_due_now(chrono::Utc::now()).unwrap();
    k.sim.inject_graph_faults(1, 500, None);
    let r = write_back(&k, &dir).await.unwrap();
    assert_eq!(r.counts.card_writes_retried, 1);
    let w = store.card_write_state(&oid(7), &hash).unwrap().unwrap();
    assert_eq!((w.state.as_str(), w.attempts), ("queued", 2));
    assert!(
        w.next_at > chrono::Utc::now() + chrono::Duration::seconds(100),
        "doubled"
    );

    store.card_writes_due_now(chrono::Utc::now()).unwrap();
    k.sim
        .inject_graph_faults(1, 429, Some(Duration::from_secs(900)));
    let r = write_back(&k, &dir).await.unwrap();
    assert_eq!(r.counts.card_writes_retried, 1);
    let w = store.card_write_state(&oid(7), &hash).unwrap().unwrap();
    let wait = w.next_at - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::seconds(850) && wait <= chrono::Duration::seconds(900),
        "Retry-After honoured: {wait}"
    );
    assert_eq!(k.sim.user_patches(), 0);

    // A sync asked for now (Sync now, `directory sync`) retries it at once, and succeeds.
    let r = mfp_kiosk::app::directory_worker::sync_now(&k.services, "test")
        .await
        .unwrap();
    assert_eq!(r.counts.cards_written, 1, "{:?}", r.counts);
    assert_eq!(
        store
            .card_write_state(&oid(7), &hash)
            .unwrap()
            .unwrap()
            .state,
        "done"
    );
    assert_eq!(
        k.sim.user_attribute(&oid(7), EXT3),
        Some(serde_json::json!(hex(NEW_7)))
    );
    let last = store.last_provisioning_run().unwrap().unwrap();
    assert_eq!(last.counts.cards_written, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_synced_from_on_premises_is_reported_not_retried() {
    let k = fleet(&READ_WRITE).await;
    assert!(k
        .sim
        .set_user_attribute(&oid(7), "onPremisesSyncEnabled", serde_json::json!(true)));
    let dir = directory(&k);
    run(&k, &dir).await.unwrap();
    enroll_by_technician(&k, 7, NEW_7);
    let r = write_back(&k, &dir).await.unwrap();
    assert_eq!(
        (r.counts.cards_written, r.counts.card_writes_failed),
        (0, 1)
    );
    assert_eq!(k.sim.user_patches(), 0, "not even tried");
    let hash = k.services.store.cards_for_user(&oid(7)).unwrap()[0].hash;
    let w = k
        .services
        .store
        .card_write_state(&oid(7), &hash)
        .unwrap()
        .unwrap();
    assert_eq!(w.state, "failed");
    assert!(w
        .last_error
        .unwrap()
        .contains("on-premises Active Directory"));
    assert_eq!(signed_in_as(&tap(&k, NEW_7).await), Some(upn(7)));
    let report = report_json(&k);
    assert!(report.contains("card_write_failed"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_the_missing_grant() {
    use mfp_kiosk::admin::doctor::{self, Check, DoctorOptions, Status};
    let k = fleet(&READ).await;
    let report = doctor::diagnose(
        &k.services.config,
        DoctorOptions::default(),
        &mut std::io::sink(),
    )
    .await;
    let about = report.about(Check::Directory);
    let problems: Vec<_> = about
        .iter()
        .filter(|f| f.status == Status::Problem)
        .collect();
    assert_eq!(problems.len(), 1, "{about:?}");
    assert!(problems[0].message.contains("User.ReadWrite.All"));
    assert!(problems[0].message.contains("Grant admin consent"));

    k.sim.set_app_permissions(&READ_WRITE);
    let report = doctor::diagnose(
        &k.services.config,
        DoctorOptions::default(),
        &mut std::io::sink(),
    )
    .await;
    let about = report.about(Check::Directory);
    assert!(about.iter().all(|f| f.status == Status::Ok), "{about:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_on_the_health_page_runs_a_sync_and_shows_its_run() {
    let k = fleet(&READ_WRITE).await;
    let now = Instant::now();
    let (mut menu, _) = ServiceMenu::open(Operator::ServicePin, Duration::from_secs(120), now);
    menu.handle(ServiceEvent::Open(Section::Health), now);
    let effects = menu.handle(ServiceEvent::SyncNow, now);
    assert!(matches!(effects[..], [ServiceEffect::SyncDirectory]));
    let (answer, revoked) =
        service_ops::sync_directory(k.services.clone(), Operator::ServicePin).await;
    assert!(revoked.is_empty());
    menu.handle(answer, now);
    let v = menu.view();
    assert_eq!(v.sync, SyncState::Done);
    let last = v
        .health
        .iter()
        .find(|r| r.label == "Last directory run")
        .unwrap();
    assert!(last.ok, "{last:?}");
    assert!(
        last.value.starts_with("service-menu directory_sync") && last.value.contains("20 created"),
        "{last:?}"
    );
    let entry = k.services.store.recent_audit(10).unwrap();
    assert!(entry.iter().any(|e| e.action == "directory_sync"
        && e.actor == "service-pin"
        && e.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("ok: run"))));
    assert_eq!(
        k.services.store.user_by_oid(&oid(1)).unwrap().unwrap().upn,
        upn(1)
    );
}
