//! Offboarding that needs no permission beyond the user's own sign-in: every
//! `identity.offboarding_interval_minutes` the panel redeems the sealed refresh token of each
//! active cached identity. Entra answers a disabled or deleted account with `invalid_grant`
//! (AADSTS50057 / 50034): the identity is revoked here in one transaction (cards, PIN, refresh
//! token, queued jobs) and its open session ends; other refusals mark it as needing a Microsoft
//! sign-in. What a failure means is decided in one place,
//! [`crate::auth::refresh_verdict`], and acted on by [`Services::act_on_refresh_failure`], the
//! same code card sign-in and the outbox use. A network failure is not a verdict: nothing
//! changes and the next cycle asks again.
//!
//! Pacing: the checks of one cycle are spread over the interval (a fleet of panels sharing a
//! tenant must not hit Entra in bursts), the first cycle starts at a random point of the first
//! interval (panels that boot together do not check together), and "Entra unreachable" (which
//! includes 429 and 503) doubles the gap before the next check; three in a row end the cycle.
//! Every cycle is recorded in the provisioning report (kind `offboarding_check`), with each
//! identity it revoked or sent back to a Microsoft sign-in.
//!
//! A 429 from the token endpoint carries `Retry-After`: the next check waits at least that
//! long, whatever the pace says (Entra throttles the whole app registration, so asking early
//! only prolongs it).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::controller::ControllerHandle;
use super::services::{RefreshConsequence, Services};
use crate::kiosk::Event;

/// Shortest gap between two checks, however many users there are.
pub const MIN_GAP: Duration = Duration::from_secs(1);
/// Longest gap between two checks after Entra was unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// "Entra unreachable" this many times in a row ends the cycle: the network is down.
const UNREACHABLE_LIMIT: u32 = 3;

/// What one offboarding cycle found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub checked: usize,
    pub still_active: usize,
    pub revoked: usize,
    pub needs_sign_in: usize,
    pub unreachable: usize,
    /// Answers of 429 whose `Retry-After` the next check waited out.
    pub throttled_waits: usize,
    /// The cycle ended early: Entra refused the panel's registration, or was unreachable
    /// [`UNREACHABLE_LIMIT`] times in a row.
    pub stopped_early: bool,
}

/// The gap between two checks that spreads `users` checks over `interval`.
pub fn pace(interval: Duration, users: usize) -> Duration {
    let users = u32::try_from(users.max(1)).unwrap_or(u32::MAX);
    (interval / users).max(MIN_GAP)
}

/// The gap after `failures` unreachable answers in a row: doubling from `gap`, capped.
pub fn backoff(gap: Duration, failures: u32) -> Duration {
    gap.saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(MAX_BACKOFF.max(gap))
}

/// Checks every active identity with a cached refresh token once, `gap` apart, and calls
/// `on_revoked` with the oid of each identity it revoked.
pub async fn check_all(
    services: &Arc<Services>,
    gap: Duration,
    on_revoked: &(dyn Fn(&str) + Send + Sync),
) -> CheckReport {
    let s = services.clone();
    let oids = match tokio::task::spawn_blocking(move || s.store.active_users_with_refresh_token())
        .await
    {
        Ok(Ok(oids)) => oids,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "offboarding: cannot list cached identities");
            return CheckReport {
                stopped_early: true,
                ..CheckReport::default()
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "offboarding: listing task failed");
            return CheckReport {
                stopped_early: true,
                ..CheckReport::default()
            };
        }
    };
    let s = services.clone();
    let run_id = tokio::task::spawn_blocking(move || {
        s.store
            .start_provisioning_run("offboarding", "offboarding_check", chrono::Utc::now())
    })
    .await
    .ok()
    .and_then(|r| {
        r.map_err(|e| tracing::warn!(error = %e, "cannot record the check"))
            .ok()
    });
    let mut report = CheckReport::default();
    let mut unreachable_in_a_row = 0u32;
    let mut asked_to_wait: Option<Duration> = None;
    for (i, oid) in oids.iter().enumerate() {
        if i > 0 {
            let wait =
                backoff(gap, unreachable_in_a_row).max(asked_to_wait.take().unwrap_or_default());
            tokio::time::sleep(wait).await;
        }
        report.checked += 1;
        let failure = match services.silent_refresh(oid).await {
            Ok(_) => {
                unreachable_in_a_row = 0;
                report.still_active += 1;
                continue;
            }
            Err(e) => e,
        };
        if let Some(wait) = failure.retry_after() {
            report.throttled_waits += 1;
            asked_to_wait = Some(wait);
        }
        let s = services.clone();
        let who = oid.clone();
        let consequence =
            tokio::task::spawn_blocking(move || s.act_on_refresh_failure(&who, &failure))
                .await
                .unwrap_or(RefreshConsequence::PanelRefused);
        match consequence {
            RefreshConsequence::Unreachable => {
                report.unreachable += 1;
                unreachable_in_a_row += 1;
                if unreachable_in_a_row >= UNREACHABLE_LIMIT {
                    report.stopped_early = true;
                    break;
                }
            }
            RefreshConsequence::PanelRefused => {
                report.stopped_early = true;
                break;
            }
            RefreshConsequence::NeedsSignIn => {
                unreachable_in_a_row = 0;
                report.needs_sign_in += 1;
                record(
                    services,
                    run_id,
                    oid,
                    "needs_signin",
                    "Entra refused the cached sign-in",
                )
                .await;
            }
            RefreshConsequence::Revoked(gone) => {
                unreachable_in_a_row = 0;
                report.revoked += 1;
                record(services, run_id, oid, "revoked", gone.reason()).await;
                on_revoked(oid);
            }
        }
    }
    let detail = format!(
        "checked {}, active {}, revoked {}, needs sign-in {}, unreachable {}{}",
        report.checked,
        report.still_active,
        report.revoked,
        report.needs_sign_in,
        report.unreachable,
        if report.stopped_early {
            ", stopped early"
        } else {
            ""
        }
    );
    tracing::info!(%detail, "offboarding check done");
    if let Some(id) = run_id {
        let counts = crate::store::RunCounts {
            checked: report.checked as u64,
            revoked: report.revoked as u64,
            needs_sign_in: report.needs_sign_in as u64,
            unreachable: report.unreachable as u64,
            throttled_waits: report.throttled_waits as u64,
            ..Default::default()
        };
        let outcome = if report.stopped_early { "failed" } else { "ok" };
        let error = report.stopped_early.then(|| {
            "stopped early: Entra unreachable or the panel's registration refused".to_string()
        });
        let s = services.clone();
        let _ = tokio::task::spawn_blocking(move || {
            s.store.finish_provisioning_run(
                id,
                outcome,
                &counts,
                error.as_deref(),
                chrono::Utc::now(),
            )
        })
        .await;
    }
    let s = services.clone();
    let _ = tokio::task::spawn_blocking(move || {
        s.audit("system", "offboarding_check", "panel", &detail)
    })
    .await;
    report
}

/// Adds one identity's change to the check's provisioning run.
async fn record(
    services: &Arc<Services>,
    run_id: Option<i64>,
    oid: &str,
    change: &str,
    detail: &str,
) {
    let Some(id) = run_id else { return };
    let s = services.clone();
    let (oid, change, detail) = (oid.to_string(), change.to_string(), detail.to_string());
    let _ = tokio::task::spawn_blocking(move || {
        let upn = s
            .store
            .user_by_oid(&oid)
            .ok()
            .flatten()
            .map(|u| u.upn)
            .unwrap_or_default();
        s.store
            .record_provisioning_change(id, &oid, &upn, &change, &detail)
    })
    .await;
}

/// Runs [`check_all`] every `identity.offboarding_interval_minutes`, ending the open session of
/// any identity it revokes through `handle`.
pub async fn worker(services: Arc<Services>, handle: ControllerHandle) {
    let interval = services.config.identity.offboarding_interval();
    let first = interval.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
    tracing::info!(
        interval_s = interval.as_secs(),
        first_in_s = first.as_secs(),
        "offboarding checks scheduled"
    );
    tokio::time::sleep(first).await;
    let on_revoked = move |oid: &str| {
        handle.event(Event::IdentityRevoked {
            oid: oid.to_string(),
        })
    };
    loop {
        let started = tokio::time::Instant::now();
        let users = {
            let s = services.clone();
            tokio::task::spawn_blocking(move || s.store.active_users_with_refresh_token())
                .await
                .ok()
                .and_then(Result::ok)
                .map_or(1, |u| u.len())
        };
        // The cycle's checks fill at most nine tenths of the interval, so a cycle ends before
        // the next one is due.
        let gap = pace(interval.mul_f64(0.9), users);
        check_all(&services, gap, &on_revoked).await;
        tokio::time::sleep_until(started + interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_spread_over_the_interval() {
        let four_hours = Duration::from_secs(4 * 3600);
        assert_eq!(pace(four_hours, 240), Duration::from_secs(60));
        assert_eq!(pace(four_hours, 0), four_hours);
        assert_eq!(pace(four_hours, 1_000_000), MIN_GAP, "never a burst");
    }

    #[test]
    fn unreachable_answers_back_off_up_to_a_cap() {
        let gap = Duration::from_secs(10);
        assert_eq!(backoff(gap, 0), gap);
        assert_eq!(backoff(gap, 1), Duration::from_secs(20));
        assert_eq!(backoff(gap, 3), Duration::from_secs(80));
        assert_eq!(backoff(gap, 30), MAX_BACKOFF);
        let long = Duration::from_secs(3600);
        assert_eq!(backoff(long, 2), long, "never shorter than the pace itself");
    }
}
