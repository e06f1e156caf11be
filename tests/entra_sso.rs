//! Single sign-on for card users: after one Microsoft sign-in, a card tap gets a fresh access
//! token from the sealed refresh token (refresh grant, never a device code); Entra's rotated
//! refresh token replaces the stored one; a dead grant (invalid_grant) marks the identity as
//! needing a new Microsoft sign-in and the panel says so.
#![cfg(feature = "demo")]

mod entra_support;

use entra_support::kiosk;
use mfp_kiosk::app::signin;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::kiosk::{AuthMethod, Event};
use mfp_kiosk::sim::TokenKind;
use secrecy::{ExposeSecret, SecretString};

const BADGE: &str = "0004417321";

fn badge() -> SecretString {
    SecretString::from(BADGE)
}

#[tokio::test]
async fn card_sign_in_refreshes_silently_without_a_device_code() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    let before = k.sim.stats();
    assert_eq!(before.device_code_requests, 1);
    assert_eq!(before.refresh_grants, 0);

    let event = signin::lookup_card(&k.services, &k.sessions, 7, badge(), false).await;
    match event {
        Event::AuthSucceeded { attempt, user } => {
            assert_eq!(attempt, 7);
            assert_eq!(user.oid, adele.oid);
            assert_eq!(user.method, AuthMethod::Card);
        }
        other => panic!("card sign-in failed: {other:?}"),
    }
    let after = k.sim.stats();
    assert_eq!(after.refresh_grants, 1, "a refresh grant was redeemed");
    assert_eq!(
        after.device_code_requests, 1,
        "and no device code requested"
    );
    assert_eq!(after.device_code_polls, before.device_code_polls);
    // The session holds the access token Entra issued for this refresh.
    let session_token = k.sessions.valid(&adele.oid).expect("an access token");
    let latest_access = k
        .sim
        .issued_tokens()
        .into_iter()
        .rfind(|t| t.kind == TokenKind::Access)
        .unwrap();
    assert_eq!(
        session_token.expose_secret(),
        latest_access.value.expose_secret()
    );
}

#[tokio::test]
async fn the_rotated_refresh_token_replaces_the_old_one() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    let sealed_first = k.services.store.refresh_token(&adele.oid).unwrap().unwrap();

    // Each refresh spends the stored token (the simulator, stricter than Entra, refuses a spent
    // one with AADSTS70000): three in a row only work if each stored its successor.
    for _ in 0..3 {
        k.services.silent_refresh(&adele.oid).await.unwrap();
    }
    let sealed_now = k.services.store.refresh_token(&adele.oid).unwrap().unwrap();
    assert_ne!(sealed_first.to_bytes(), sealed_now.to_bytes());
    let stats = k.sim.stats();
    assert_eq!((stats.refresh_grants, stats.refresh_failures), (3, 0));

    // Concurrent refreshes for one user (card tap while the outbox retries an upload) take
    // turns: each reads the token the previous one stored, none presents a spent token.
    let (a, b, c) = tokio::join!(
        k.services.silent_refresh(&adele.oid),
        k.services.silent_refresh(&adele.oid),
        k.services.silent_refresh(&adele.oid),
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    let stats = k.sim.stats();
    assert_eq!((stats.refresh_grants, stats.refresh_failures), (6, 0));
    let user = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active);
}

#[tokio::test]
async fn invalid_grant_marks_the_identity_and_the_panel_says_so() {
    let k = kiosk(|_| {}, |_| {}).await;
    let alex = k.user("alex@contoso.example");
    k.sign_in(&alex.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&alex.oid);
    // An administrator revokes Alex's sessions (or his password was reset).
    assert_eq!(k.sim.revoke_sessions(&alex.oid), 1);

    let expected = "Your Microsoft sign-in has expired. Please sign in with Microsoft once.";
    match signin::lookup_card(&k.services, &k.sessions, 1, badge(), false).await {
        Event::AuthFailed { message, .. } => assert_eq!(message, expected),
        other => panic!("expected a refusal: {other:?}"),
    }
    assert!(k.sessions.is_empty());
    let user = k.services.store.user_by_oid(&alex.oid).unwrap().unwrap();
    assert_eq!(user.status, UserStatus::NeedsSignIn);
    assert!(k.audit_actions().iter().any(|a| a == "needs_signin"));
    assert_eq!(k.sim.stats().refresh_failures, 1);

    // Another tap: the same message, without asking Entra again.
    match signin::lookup_card(&k.services, &k.sessions, 2, badge(), false).await {
        Event::AuthFailed { message, .. } => assert_eq!(message, expected),
        other => panic!("expected a refusal: {other:?}"),
    }
    assert_eq!(k.sim.stats().refresh_failures, 1);

    // A new Microsoft sign-in makes the identity active again and the badge works silently.
    k.sign_in(&alex.oid, None).await.unwrap();
    k.sessions.remove(&alex.oid);
    assert!(matches!(
        signin::lookup_card(&k.services, &k.sessions, 3, badge(), false).await,
        Event::AuthSucceeded { .. }
    ));
}
