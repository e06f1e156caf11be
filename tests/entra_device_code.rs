//! The device-code flow of the product's Entra client against the simulated Entra over loopback
//! HTTP, on tokio's paused clock: Entra's real timings (5 s interval, 15 min lifetime) run in
//! virtual time, and the poll times the simulator records are exact.
//!
//! The clock is paused after the simulator started; the client is built without HTTP timeouts
//! and the tests wait for the simulator's poll notifications rather than on timers, so nothing
//! but the client's own poll sleeps moves the clock.
#![cfg(feature = "demo")]

mod entra_support;

use std::time::Duration;

use entra_support::LogBuffer;
use mfp_kiosk::auth::device_code::DeviceCodeError;
use mfp_kiosk::auth::entra::{EntraClient, EntraError, EntraSettings, HttpTimeouts};
use mfp_kiosk::auth::id_token::IdTokenError;
use mfp_kiosk::sim::{SignInPolicy, SimCloud, SimEndpoint, SimOptions, SimUser};
use tempfile::TempDir;
use tokio::time::Instant;

const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "Files.ReadWrite",
];

/// The demo tenant with Entra's default timings; the clock is paused once it listens.
async fn paused_sim(configure: impl FnOnce(&mut SimOptions)) -> (SimCloud, EntraClient, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimOptions::demo(dir.path().join("drive"));
    configure(&mut opts);
    assert_eq!(opts.device_code_interval_secs, 5);
    let sim = SimCloud::start(opts).await.unwrap();
    let entra = EntraClient::connect_with(
        EntraSettings {
            authority_host: sim.authority_host(),
            tenant: sim.tenant_id().to_string(),
            client_id: sim.client_id().to_string(),
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            allowed_tenants: vec![sim.tenant_id().to_string()],
        },
        HttpTimeouts::none(),
    )
    .await
    .unwrap();
    tokio::time::pause();
    (sim, entra, dir)
}

fn user(sim: &SimCloud, upn: &str) -> SimUser {
    sim.users().into_iter().find(|u| u.upn == upn).unwrap()
}

/// Seconds since `t0` of every poll the simulator saw.
fn poll_offsets(sim: &SimCloud, t0: Instant) -> Vec<u64> {
    sim.device_code_poll_times()
        .iter()
        .map(|t| t.duration_since(t0).as_secs())
        .collect()
}

fn spacing(offsets: &[u64]) -> Vec<u64> {
    let mut prev = 0;
    offsets
        .iter()
        .map(|t| {
            let d = t - prev;
            prev = *t;
            d
        })
        .collect()
}

#[tokio::test]
async fn pending_then_approved_polls_at_the_server_interval() {
    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let alex = user(&sim, "alex@contoso.example");
    let t0 = Instant::now();
    let pending = entra.start_device_code().await.unwrap();
    assert_eq!(pending.offer().interval_secs, 5);
    assert_eq!(pending.offer().expires_in_secs, 900);
    let waiter = tokio::spawn({
        let entra = entra.clone();
        async move { entra.wait_for_device_code(pending).await }
    });
    sim.wait_for_polls(2).await;
    assert!(sim.approve_pending(Some(&alex.oid)));
    let tokens = waiter.await.unwrap().unwrap();
    assert_eq!(tokens.id_claims.unwrap().oid, alex.oid);
    assert_eq!(poll_offsets(&sim, t0), vec![5, 10, 15]);
    let stats = sim.stats();
    assert_eq!(
        (stats.device_code_requests, stats.device_code_grants),
        (1, 1)
    );
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_the_measured_spacing() {
    // Approved (automatically) once the code is 30 s old.
    let (sim, entra, _dir) =
        paused_sim(|o| o.auto_approve_after = Some(Duration::from_secs(30))).await;
    let t0 = Instant::now();
    let pending = entra.start_device_code().await.unwrap();
    sim.force_slow_down(1);
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    assert!(tokens.id_claims.is_some());
    let offsets = poll_offsets(&sim, t0);
    // slow_down at 5 s; from then on every wait is 10 s, until the approval at 30 s or later.
    assert_eq!(offsets, vec![5, 15, 25, 35]);
    assert_eq!(spacing(&offsets), vec![5, 10, 10, 10]);
    // A second slow_down adds another 5 s: the client never polls faster than asked.
    let t1 = Instant::now();
    let before = sim.device_code_poll_times().len();
    let pending = entra.start_device_code().await.unwrap();
    sim.force_slow_down(2);
    entra.wait_for_device_code(pending).await.unwrap();
    let offsets: Vec<u64> = sim.device_code_poll_times()[before..]
        .iter()
        .map(|t| t.duration_since(t1).as_secs())
        .collect();
    // Approved once 30 s old: 5, +10, +15.
    assert_eq!(spacing(&offsets), vec![5, 10, 15]);
}

#[tokio::test]
async fn declined_on_the_phone_ends_with_its_own_message() {
    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let pending = entra.start_device_code().await.unwrap();
    let waiter = tokio::spawn({
        let entra = entra.clone();
        async move { entra.wait_for_device_code(pending).await }
    });
    sim.wait_for_polls(1).await;
    assert!(sim.decline_pending());
    let err = waiter.await.unwrap().unwrap_err();
    assert!(
        matches!(err, EntraError::DeviceCode(DeviceCodeError::Declined(_))),
        "{err:?}"
    );
    assert_eq!(err.aadsts_code(), Some(70000));
    assert_eq!(err.panel_message(), "Sign-in was declined on the phone.");
    assert_eq!(sim.stats().device_code_grants, 0);
}

#[tokio::test]
async fn an_unfinished_code_expires_after_fifteen_minutes() {
    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let t0 = Instant::now();
    let pending = entra.start_device_code().await.unwrap();
    let err = entra.wait_for_device_code(pending).await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::Expired(Some(_)))
        ),
        "{err:?}"
    );
    assert_eq!(err.aadsts_code(), Some(70020));
    assert_eq!(
        err.panel_message(),
        "The sign-in code expired. Start again to get a new code."
    );
    let offsets = poll_offsets(&sim, t0);
    assert_eq!(offsets.len(), 180, "one poll every 5 s for 900 s");
    assert_eq!(offsets.last(), Some(&900));
}

#[tokio::test]
async fn a_code_entra_no_longer_knows_ends_with_bad_verification_code() {
    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let pending = entra.start_device_code().await.unwrap();
    let waiter = tokio::spawn({
        let entra = entra.clone();
        async move { entra.wait_for_device_code(pending).await }
    });
    sim.wait_for_polls(1).await;
    assert_eq!(sim.forget_pending_codes(), 1);
    let err = waiter.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::BadVerificationCode(_))
        ),
        "{err:?}"
    );
    assert_eq!(err.aadsts_code(), Some(70018));
    assert!(err.panel_message().contains("no longer valid"));
}

/// The log of this whole test binary. Global rather than per test: a thread-local subscriber
/// races with other tests' threads over tracing's per-callsite interest cache.
fn global_logs() -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
        logs
    })
    .clone()
}

#[tokio::test]
async fn each_policy_block_ends_with_its_own_panel_message_and_a_logged_aadsts_code() {
    let logs = global_logs();

    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let adele = user(&sim, "adele@contoso.example");
    let alex = user(&sim, "alex@contoso.example");
    let megan = user(&sim, "megan@contoso.example");
    let tom = user(&sim, "tom.tech@contoso.example");
    sim.set_sign_in_policy(&adele.oid, Some(SignInPolicy::ConditionalAccessBlock));
    sim.set_sign_in_policy(&alex.oid, Some(SignInPolicy::SecurityDefaultsBlock));
    sim.set_sign_in_policy(&megan.oid, Some(SignInPolicy::DeclinesConsent));

    let sign_in_as = |oid: String| {
        let entra = entra.clone();
        let sim = &sim;
        async move {
            let pending = entra.start_device_code().await.unwrap();
            let polls = sim.device_code_poll_times().len();
            let waiter = tokio::spawn({
                let entra = entra.clone();
                async move { entra.wait_for_device_code(pending).await }
            });
            sim.wait_for_polls(polls + 1).await;
            assert!(sim.approve_pending(Some(&oid)));
            waiter.await.unwrap()
        }
    };

    let mut outcomes = Vec::new();
    outcomes.push((53003, sign_in_as(adele.oid.clone()).await.unwrap_err()));
    outcomes.push((530035, sign_in_as(alex.oid.clone()).await.unwrap_err()));
    outcomes.push((65004, sign_in_as(megan.oid.clone()).await.unwrap_err()));
    sim.set_assignment_required(true);
    outcomes.push((50105, sign_in_as(tom.oid.clone()).await.unwrap_err()));
    sim.assign_user(&tom.oid);
    sim.withhold_consent("Files.ReadWrite");
    outcomes.push((65001, sign_in_as(tom.oid.clone()).await.unwrap_err()));

    let mut messages = std::collections::HashSet::new();
    for (code, err) in &outcomes {
        assert_eq!(err.aadsts_code(), Some(*code), "{err:?}");
        let message = err.panel_message();
        assert!(
            !message.contains("AADSTS") && !message.contains(&code.to_string()),
            "{message}"
        );
        assert!(
            messages.insert(message.clone()),
            "shared message: {message}"
        );
        assert!(
            logs.text().contains(&format!("AADSTS{code}")),
            "no log entry with AADSTS{code}: {}",
            logs.text()
        );
    }
    assert!(matches!(
        outcomes[2].1,
        EntraError::DeviceCode(DeviceCodeError::AccessDenied(_))
    ));
    let consent = &outcomes[4].1;
    assert_eq!(
        consent.entra_error().unwrap().suberror.as_deref(),
        Some("consent_required")
    );
    assert!(outcomes[0].1.panel_message().contains("card or PIN"));
    assert!(outcomes[3].1.panel_message().contains("assign"));
    assert_eq!(sim.stats().device_code_grants, 0);

    // The blocks are the tenant's, not the client's: with them lifted, the same users get in.
    sim.set_sign_in_policy(&adele.oid, None);
    sim.assign_user(&adele.oid);
    sim.grant_consent("Files.ReadWrite");
    let tokens = sign_in_as(adele.oid.clone()).await.unwrap();
    assert_eq!(tokens.id_claims.unwrap().oid, adele.oid);
    let tokens = sign_in_as(tom.oid.clone()).await.unwrap();
    assert_eq!(tokens.id_claims.unwrap().oid, tom.oid);
}

#[tokio::test]
async fn cancel_stops_polling_at_once() {
    let (sim, entra, _dir) = paused_sim(|_| {}).await;
    let pending = entra.start_device_code().await.unwrap();
    let waiter = tokio::spawn({
        let entra = entra.clone();
        async move { entra.wait_for_device_code(pending).await }
    });
    sim.wait_for_polls(2).await;
    let cancelled_at = Instant::now();
    waiter.abort();
    let joined = waiter.await;
    assert!(joined.unwrap_err().is_cancelled());
    assert_eq!(
        cancelled_at.elapsed(),
        Duration::ZERO,
        "cancel must not wait for the next poll"
    );
    let polls = sim.stats().device_code_polls;
    // Ten minutes later (the code would still be valid): not a single further poll.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(sim.stats().device_code_polls, polls);
    assert_eq!(polls, 2);
}

#[tokio::test]
async fn network_loss_mid_poll_backs_off_and_resumes_with_the_same_code() {
    let (sim, entra, _dir) =
        paused_sim(|o| o.auto_approve_after = Some(Duration::from_secs(72))).await;
    let t0 = Instant::now();
    // Down from 6 s to 60 s after the code was issued: the poll at 5 s gets through.
    sim.schedule_network_outage(t0 + Duration::from_secs(6), t0 + Duration::from_secs(60));
    let pending = entra.start_device_code().await.unwrap();
    let code = pending.offer().user_code.clone();
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    assert!(tokens.refresh_token.is_some());

    // Polls that reached Entra: before the outage, then after it (pending at 70, approved at 75).
    assert_eq!(poll_offsets(&sim, t0), vec![5, 70, 75]);
    // Attempts the outage swallowed (several resets may belong to one attempt: dedupe by time).
    let mut dropped: Vec<u64> = sim
        .dropped_connection_times()
        .iter()
        .map(|t| t.duration_since(t0).as_secs())
        .collect();
    dropped.dedup();
    // Backoff: 10 s, then 20 s, then capped at 30 s.
    assert_eq!(dropped, vec![10, 20, 40]);
    let stats = sim.stats();
    assert_eq!(
        stats.device_code_requests, 1,
        "the same code was resumed, no new one requested"
    );
    assert_eq!(stats.device_code_grants, 1);
    assert!(!sim.approve_user_code(&code, None), "the code was redeemed");
}

#[tokio::test]
async fn still_offline_when_the_code_runs_out_says_so() {
    let (sim, entra, _dir) = paused_sim(|o| o.device_code_expires_secs = 60).await;
    let t0 = Instant::now();
    sim.schedule_network_outage(t0, t0 + Duration::from_secs(3600));
    let pending = entra.start_device_code().await.unwrap_err();
    // The device authorization itself failed: nothing to poll for.
    assert!(pending.is_transient(), "{pending:?}");
    assert!(pending.panel_message().contains("Cannot reach Microsoft"));

    sim.set_network_down(false);
    let pending = entra.start_device_code().await.unwrap();
    sim.set_network_down(true);
    let err = entra.wait_for_device_code(pending).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.panel_message().contains("Cannot reach Microsoft"));
}

#[tokio::test]
async fn key_rotation_between_two_sign_ins() {
    let (sim, entra, _dir) = paused_sim(|o| o.auto_approve_after = Some(Duration::ZERO)).await;
    let adele = user(&sim, "adele@contoso.example");
    let sign_in = || {
        let entra = entra.clone();
        async move {
            let pending = entra.start_device_code().await?;
            entra.wait_for_device_code(pending).await
        }
    };
    let first = sign_in().await.unwrap();
    assert_eq!(first.id_claims.unwrap().oid, adele.oid);
    let jwks_after_first = sim.stats().jwks_requests;

    // Rotation long after the keys were fetched: the new kid is fetched at once.
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    let old_kid = sim.current_kid();
    let new_kid = sim.rotate_keys().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let second = sign_in().await.unwrap();
    assert_eq!(second.id_claims.unwrap().oid, adele.oid);
    assert_eq!(sim.stats().jwks_requests, jwks_after_first + 1);

    // An emergency rotation right after that fetch: the refetch is throttled (at most one per
    // 5 minutes), so this sign-in is refused, with no session...
    sim.rotate_keys().await.unwrap();
    let refused = sign_in().await.unwrap_err();
    assert!(
        matches!(refused, EntraError::IdToken(IdTokenError::UnknownKid(_))),
        "{refused:?}"
    );
    assert_eq!(sim.stats().jwks_requests, jwks_after_first + 1);
    // ...and once 5 minutes have passed, the next one refetches and works.
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    let third = sign_in().await.unwrap();
    assert_eq!(third.id_claims.unwrap().oid, adele.oid);
    assert_eq!(sim.stats().jwks_requests, jwks_after_first + 2);
}

#[tokio::test]
async fn redirects_from_the_token_endpoints_are_refused_not_followed() {
    let (sim, entra, _dir) = paused_sim(|o| o.auto_approve_after = Some(Duration::ZERO)).await;

    sim.redirect_next(SimEndpoint::DeviceAuthorization);
    let err = entra.start_device_code().await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::Redirected { status: 307, .. })
        ),
        "{err:?}"
    );
    // Following the redirect would have reached the (working) endpoint a second time.
    assert_eq!(sim.stats().device_code_requests, 0);

    let pending = entra.start_device_code().await.unwrap();
    sim.redirect_next(SimEndpoint::Token);
    let err = entra.wait_for_device_code(pending).await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::Redirected { .. })
        ),
        "{err:?}"
    );
    assert!(!err.is_transient(), "a redirect is not retried");
    assert_eq!(sim.stats().device_code_polls, 0);

    let pending = entra.start_device_code().await.unwrap();
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    let refresh = tokens.refresh_token.unwrap();
    sim.redirect_next(SimEndpoint::Token);
    let err = entra.refresh(&refresh).await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::Redirected { .. })
        ),
        "{err:?}"
    );
    assert_eq!(sim.stats().refresh_grants, 0);
    // The refresh token was never sent anywhere else and is still good.
    assert!(entra.refresh(&refresh).await.is_ok());
}

#[tokio::test]
async fn gateway_errors_are_retried_with_the_same_code() {
    let (sim, entra, _dir) =
        paused_sim(|o| o.auto_approve_after = Some(Duration::from_secs(20))).await;
    sim.gateway_error_next(SimEndpoint::DeviceAuthorization, 503);
    let err = entra.start_device_code().await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::HttpStatus { status: 503, .. })
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.panel_message().contains("Cannot reach Microsoft"));

    let t0 = Instant::now();
    let pending = entra.start_device_code().await.unwrap();
    sim.gateway_error_next(SimEndpoint::Token, 502);
    sim.gateway_error_next(SimEndpoint::Token, 504);
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    // 502 at 5 s (wait 10), 504 at 15 s (wait 20), then the poll at 35 s gets the tokens.
    assert_eq!(poll_offsets(&sim, t0), vec![35]);
    assert_eq!(sim.stats().device_code_requests, 1);

    // A refresh through a failing gateway is transient too: the panel falls back to its cache.
    sim.gateway_error_next(SimEndpoint::Token, 503);
    let err = entra
        .refresh(&tokens.refresh_token.unwrap())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.is_invalid_grant());
}
