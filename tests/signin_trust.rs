//! Trust decisions of card and PIN sign-in (security review, issue 15, findings 3 to 5), over
//! real HTTP against the simulated Entra and a real SQLite store:
//!
//! - only "Entra could not be asked" (network, gateway 5xx) falls back to the offline cache;
//!   `interaction_required`, `invalid_client`, a refreshed ID token of someone else, a missing
//!   or unreadable cached refresh token are refusals;
//! - roles and the technician flag follow every refreshed ID token;
//! - the panel-wide lockout survives a restart, is not reset by another user's correct PIN,
//!   counts unknown card taps, and a `last_online_at` in the future does not open the grace.
#![cfg(feature = "demo")]

mod entra_support;

use chrono::Utc;
use entra_support::kiosk;
use mfp_kiosk::app::services::ServiceError;
use mfp_kiosk::app::signin;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::sim::SimEndpoint;
use secrecy::SecretString;

const BADGE: &str = "0004417321";
const ALEX_BADGE: &str = "0004417999";

fn card(n: &str) -> SecretString {
    SecretString::from(n)
}

/// What the panel answers to a tap of `number` (or to it typed on the PIN pad).
async fn tap(k: &entra_support::Kiosk, number: &str, typed: bool) -> Event {
    signin::lookup_card(&k.services, &k.sessions, 1, card(number), typed).await
}

fn refusal(event: Event) -> String {
    match event {
        Event::AuthFailed { message, .. } => message.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn interaction_required_is_a_refusal_not_an_outage() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    // A Conditional Access policy now wants MFA: only an interactive sign-in satisfies it.
    k.sim
        .oauth_error_next(SimEndpoint::Token, "interaction_required", 50076);
    let message = refusal(tap(&k, BADGE, false).await);
    assert_eq!(
        message,
        "Your Microsoft sign-in has expired. Please sign in with Microsoft once."
    );
    assert!(k.sessions.is_empty());
    let user = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(user.status, UserStatus::NeedsSignIn);
}

#[tokio::test]
async fn a_broken_app_registration_refuses_without_marking_the_user() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    k.sim
        .oauth_error_next(SimEndpoint::Token, "invalid_client", 7000218);
    let message = refusal(tap(&k, BADGE, false).await);
    assert!(message.contains("not set up correctly"), "{message}");
    let user = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(
        user.status,
        UserStatus::Active,
        "the panel's fault, not Adele's"
    );
    // Once the registration answers again, the badge works.
    assert!(matches!(
        tap(&k, BADGE, false).await,
        Event::AuthSucceeded { .. }
    ));
}

#[tokio::test]
async fn a_gateway_error_still_uses_the_offline_cache_within_the_grace() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    k.sim.gateway_error_next(SimEndpoint::Token, 503);
    match tap(&k, BADGE, false).await {
        Event::AuthSucceeded { user, .. } => assert_eq!(user.oid, adele.oid),
        other => panic!("a gateway hiccup is not a refusal: {other:?}"),
    }
    assert!(k.sessions.is_empty(), "offline: no access token");
}

#[tokio::test]
async fn a_refresh_that_answers_for_someone_else_is_refused_and_not_stored() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    let alex = k.user("alex@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    let sealed_before = k.services.store.refresh_token(&adele.oid).unwrap().unwrap();
    k.sim.next_refresh_as(&alex.oid);
    refusal(tap(&k, BADGE, false).await);
    assert!(k.sessions.is_empty(), "no session for anyone");
    let sealed_after = k.services.store.refresh_token(&adele.oid).unwrap().unwrap();
    assert_eq!(
        sealed_before.to_bytes(),
        sealed_after.to_bytes(),
        "Alex's refresh token did not land in Adele's row"
    );
    assert!(k.audit_actions().iter().any(|a| a == "refresh_refused"));
    let user = k.services.store.user_by_oid(&adele.oid).unwrap().unwrap();
    assert_eq!(user.status, UserStatus::NeedsSignIn);
}

#[tokio::test]
async fn no_or_unreadable_cached_token_is_not_offline() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    let alex = k.user("alex@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sign_in(&alex.oid, Some(ALEX_BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    k.sessions.remove(&alex.oid);
    // Even with the cloud down, a user without a usable cached grant is not signed in.
    k.sim.set_network_down(true);

    assert!(k.services.store.delete_refresh_token(&adele.oid).unwrap());
    refusal(tap(&k, BADGE, false).await);

    // Alex's row holds a token sealed for Adele (bound to her oid): it does not open.
    let alex_sealed = k.services.store.refresh_token(&alex.oid).unwrap().unwrap();
    k.services
        .store
        .put_refresh_token(&adele.oid, &alex_sealed, Utc::now())
        .unwrap();
    k.services
        .store
        .set_user_status(&adele.oid, UserStatus::Active, Utc::now())
        .unwrap();
    assert!(matches!(
        k.services.silent_refresh(&adele.oid).await,
        Err(ServiceError::Secrets(_))
    ));
    refusal(tap(&k, BADGE, false).await);
    assert!(k.sessions.is_empty());
}

#[tokio::test]
async fn roles_and_the_technician_flag_follow_every_refresh() {
    let k = kiosk(|_| {}, |_| {}).await;
    let tom = k.user("tom.tech@contoso.example");
    let record = k.sign_in(&tom.oid, Some(BADGE)).await.unwrap();
    assert!(record.is_technician);
    k.sessions.remove(&tom.oid);

    // The administrator removes Kiosk.Technician in Entra.
    assert!(k.sim.set_user_roles(&tom.oid, &[]));
    match tap(&k, BADGE, false).await {
        Event::AuthSucceeded { user, .. } => {
            assert!(!user.is_technician, "the session no longer offers Service");
        }
        other => panic!("card sign-in failed: {other:?}"),
    }
    let stored = k.services.store.user_by_oid(&tom.oid).unwrap().unwrap();
    assert!(!stored.is_technician);
    assert!(stored.roles.is_empty());
    assert!(k.audit_actions().iter().any(|a| a == "roles_updated"));
}

#[tokio::test]
async fn a_last_confirmation_in_the_future_does_not_open_the_grace() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(BADGE)).await.unwrap();
    k.sessions.remove(&adele.oid);
    // The clock was a year ahead when Adele last signed in, and has been set right since.
    k.services
        .store
        .touch_online(&adele.oid, Utc::now() + chrono::Duration::days(365))
        .unwrap();
    k.sim.set_network_down(true);
    let message = refusal(tap(&k, BADGE, false).await);
    assert!(message.contains("clock looks wrong"), "{message}");
}

#[tokio::test]
async fn the_panel_lockout_counts_unknown_taps_survives_a_restart_and_ignores_other_successes() {
    // max_attempts 2: the panel locks at its 4th failure.
    let k = kiosk(|_| {}, |c| c.pin.max_attempts = 2).await;
    let alex = k.user("alex@contoso.example");
    k.sign_in(&alex.oid, Some(ALEX_BADGE)).await.unwrap();
    k.services
        .save_pin(&alex.oid, &SecretString::from("2580"))
        .unwrap();

    // Three badges nobody has: two tapped (a card emulator at the reader), one typed.
    for (n, typed) in [
        ("1000000001", false),
        ("1000000002", false),
        ("1000000003", true),
    ] {
        assert!(matches!(tap(&k, n, typed).await, Event::CardUnknown { .. }));
    }
    // An insider signs in with their own correct PIN between guesses: that clears nothing.
    assert!(k
        .services
        .check_pin(&alex.oid, &SecretString::from("2580"))
        .is_ok());
    assert!(matches!(
        tap(&k, "1000000004", false).await,
        Event::CardUnknown { .. }
    ));
    let locked = refusal(tap(&k, ALEX_BADGE, false).await);
    assert!(locked.contains("Too many failed attempts"), "{locked}");
    assert!(k.audit_actions().iter().any(|a| a == "pin_pad_locked"));

    // The panel crashes and systemd restarts it on the same state directory: still locked.
    let config = k.services.config.clone();
    drop(k.services);
    let restarted = mfp_kiosk::admin::signin::services(config).unwrap();
    assert!(matches!(
        restarted.panel_locked(),
        Err(ServiceError::PinWrong(_))
    ));
    assert!(matches!(
        restarted.check_pin(&alex.oid, &SecretString::from("2580")),
        Err(ServiceError::PinWrong(_))
    ));
}
