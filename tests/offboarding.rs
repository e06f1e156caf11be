//! Offboarding by refresh verdict (issue 10, part 1), over real HTTP against the simulated Entra
//! and a real SQLite store: a disabled or deleted account is revoked in one sweep (cards, PIN,
//! refresh token, queued jobs) and its badge is refused afterwards even offline; a revoked
//! session (password reset) only needs a new Microsoft sign-in; a network failure changes
//! nothing. The same verdict applies at a card sign-in.
#![cfg(feature = "demo")]

mod entra_support;

use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use entra_support::kiosk;
use mfp_kiosk::app::offboarding;
use mfp_kiosk::app::signin;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::store::{JobState, NewJob};
use secrecy::SecretString;

const ADELE: &str = "0004410001";
const ALEX: &str = "0004410002";
const MEGAN: &str = "0004410003";
const TOM: &str = "0004410004";

async fn tap(k: &entra_support::Kiosk, number: &str) -> Event {
    signin::lookup_card(
        &k.services,
        &k.sessions,
        1,
        SecretString::from(number),
        false,
    )
    .await
}

fn queue_job(k: &entra_support::Kiosk, oid: &str) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    k.services
        .store
        .insert_job(
            &NewJob {
                id,
                user_oid: oid.into(),
                workflow_id: "scan-to-onedrive".into(),
                destination: serde_json::json!({"kind": "onedrive"}),
                folder: "Scans".into(),
                file_name: "scan.pdf".into(),
                spool_path: k.state_dir().join(format!("{id}.pdf")),
                size_bytes: 10,
                pages: 1,
            },
            Utc::now(),
        )
        .unwrap();
    id
}

#[tokio::test]
async fn disabled_and_deleted_accounts_are_revoked_and_their_badges_refused_offline() {
    let k = kiosk(|_| {}, |_| {}).await;
    let [adele, alex, megan, tom] = [
        "adele@contoso.example",
        "alex@contoso.example",
        "megan@contoso.example",
        "tom.tech@contoso.example",
    ]
    .map(|upn| k.user(upn));
    for (user, badge) in [(&adele, ADELE), (&alex, ALEX), (&megan, MEGAN), (&tom, TOM)] {
        k.sign_in(&user.oid, Some(badge)).await.unwrap();
        k.sessions.remove(&user.oid);
    }
    k.services
        .save_pin(&adele.oid, &SecretString::from("2580"))
        .unwrap();
    let job = queue_job(&k, &adele.oid);

    // In Entra: Adele is disabled, Alex deleted, Megan reset her password (sessions revoked).
    assert!(k.sim.set_account_enabled(&adele.oid, false));
    assert!(k.sim.remove_user(&alex.oid));
    assert_eq!(k.sim.revoke_sessions(&megan.oid), 1);

    let revoked = Mutex::new(Vec::new());
    let report = offboarding::check_all(&k.services, Duration::ZERO, &|oid: &str| {
        revoked.lock().unwrap().push(oid.to_string())
    })
    .await;
    assert_eq!(
        (
            report.checked,
            report.still_active,
            report.revoked,
            report.needs_sign_in,
            report.unreachable,
            report.stopped_early
        ),
        (4, 1, 2, 1, 0, false),
        "{report:?}"
    );
    let mut gone = revoked.into_inner().unwrap();
    gone.sort();
    let mut want = vec![adele.oid.clone(), alex.oid.clone()];
    want.sort();
    assert_eq!(gone, want, "their open sessions are told to end");

    let store = &k.services.store;
    let a = store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(a.status, UserStatus::Revoked);
    assert_eq!(store.pin_state(&adele.oid).unwrap(), None);
    assert!(store.refresh_token(&adele.oid).unwrap().is_none());
    let j = store.job(job).unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert!(
        j.last_error.as_deref().unwrap_or("").contains("disabled"),
        "{:?}",
        j.last_error
    );
    assert_eq!(
        store.user_by_oid(&alex.oid).unwrap().unwrap().status,
        UserStatus::Revoked
    );
    // Megan keeps her badge; she only needs a Microsoft sign-in.
    let m = store.user_by_oid(&megan.oid).unwrap().unwrap();
    assert_eq!(m.status, UserStatus::NeedsSignIn);
    assert!(store.refresh_token(&megan.oid).unwrap().is_some());
    let actions = k.audit_actions();
    assert_eq!(actions.iter().filter(|a| *a == "user_revoked").count(), 2);
    assert!(actions.iter().any(|a| a == "offboarding_check"));

    // The badges are refused from now on, with the network down too.
    k.sim.set_network_down(true);
    assert!(matches!(tap(&k, ADELE).await, Event::CardUnknown { .. }));
    assert!(matches!(tap(&k, ALEX).await, Event::CardUnknown { .. }));
    match tap(&k, MEGAN).await {
        Event::AuthFailed { message, .. } => {
            assert!(message.contains("sign in with Microsoft"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Tom was confirmed by the check and signs in offline within the grace.
    assert!(matches!(tap(&k, TOM).await, Event::AuthSucceeded { .. }));
}

#[tokio::test]
async fn a_network_failure_is_not_a_verdict() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(ADELE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    assert!(k.sim.set_account_enabled(&adele.oid, false));

    k.sim.set_network_down(true);
    let report = offboarding::check_all(&k.services, Duration::ZERO, &|_: &str| {}).await;
    assert_eq!(
        (report.checked, report.unreachable, report.revoked),
        (1, 1, 0)
    );
    let a = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(
        a.status,
        UserStatus::Active,
        "nothing changes while offline"
    );
    assert!(k
        .services
        .store
        .refresh_token(&adele.oid)
        .unwrap()
        .is_some());

    // Back online, the next cycle gives the verdict.
    k.sim.set_network_down(false);
    let report = offboarding::check_all(&k.services, Duration::ZERO, &|_: &str| {}).await;
    assert_eq!(report.revoked, 1);
}

#[tokio::test]
async fn a_card_sign_in_gives_the_same_verdict() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(ADELE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    assert!(k.sim.set_account_enabled(&adele.oid, false));
    match tap(&k, ADELE).await {
        Event::AuthFailed { message, .. } => assert_eq!(
            message,
            "Your account is disabled. Please contact your administrator."
        ),
        other => panic!("{other:?}"),
    }
    let a = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(a.status, UserStatus::Revoked);
    assert!(matches!(tap(&k, ADELE).await, Event::CardUnknown { .. }));
}

#[tokio::test]
async fn a_throttled_token_endpoint_is_waited_out() {
    let k = kiosk(|_| {}, |_| {}).await;
    for (upn, badge) in [
        ("adele@contoso.example", ADELE),
        ("alex@contoso.example", ALEX),
    ] {
        let user = k.user(upn);
        k.sign_in(&user.oid, Some(badge)).await.unwrap();
        k.sessions.remove(&user.oid);
    }
    let retry_after = Duration::from_secs(2);
    k.sim.throttle_token_endpoint(1, retry_after);
    let started = std::time::Instant::now();
    let report = offboarding::check_all(&k.services, Duration::ZERO, &|_: &str| {}).await;
    assert_eq!(
        (
            report.checked,
            report.unreachable,
            report.throttled_waits,
            report.still_active
        ),
        (2, 1, 1, 1),
        "{report:?}"
    );
    assert!(
        started.elapsed() >= retry_after,
        "the second check waited for Retry-After ({:?})",
        started.elapsed()
    );
    // A 429 is not a verdict: nobody was marked.
    for user in k.services.store.list_users().unwrap() {
        assert_eq!(user.status, UserStatus::Active, "{}", user.upn);
    }
}
