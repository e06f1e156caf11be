//! The panel's periodic directory sync (when `directory.enabled`): one run shortly after start,
//! then every `directory.interval_minutes`; identities a run revoked have their open session
//! ended. A failed run changes nothing and is retried at the next interval (sooner never: a
//! throttled tenant is asked again only after its `Retry-After`). [`sync_now`] is the service
//! menu's "Sync now".

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;

use super::controller::ControllerHandle;
use super::services::Services;
use crate::directory::sync::{self, Directory, SyncReport};
use crate::directory::DirectoryError;
use crate::kiosk::Event;

/// How often the worker looks for card write-backs that fell due.
const WRITE_BACK_POLL: Duration = Duration::from_secs(60);

/// Runs one sync now on behalf of `source` (`service-menu`, `cli`, `schedule`).
pub async fn sync_now(
    services: &Arc<Services>,
    source: &str,
) -> Result<SyncReport, DirectoryError> {
    let dir = Directory::from_config(&services.config)?;
    if dir.writes_cards() {
        // Asked for now, typically after fixing what made writes fail (a missing consent):
        // queued write-backs go in this run rather than at their backoff time.
        let store = services.store.clone();
        tokio::task::spawn_blocking(move || store.card_writes_due_now(Utc::now()))
            .await
            .map_err(|e| DirectoryError::Task(e.to_string()))??;
    }
    sync::run(&services.store, services.device_key(), &dir, source).await
}

pub async fn worker(services: Arc<Services>, handle: ControllerHandle) {
    if !services.config.directory.enabled {
        return;
    }
    let interval = services.config.directory.interval();
    let dir = loop {
        match Directory::from_config(&services.config) {
            Ok(d) => break d,
            Err(e) => {
                tracing::error!(error = %e, "directory sync cannot start; retrying next interval");
                tokio::time::sleep(interval).await;
            }
        }
    };
    // Panels that boot together do not all sync in the same second.
    let first = Duration::from_millis(rand::thread_rng().gen_range(1_000..30_000));
    tracing::info!(interval_s = interval.as_secs(), "directory sync scheduled");
    tokio::time::sleep(first).await;
    loop {
        let mut wait = interval;
        match sync::run(&services.store, services.device_key(), &dir, "schedule").await {
            Ok(report) => {
                for oid in report.revoked {
                    handle.event(Event::IdentityRevoked { oid });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "directory sync failed; next try at the next interval");
                if let Some(asked) = e.retry_after() {
                    wait = wait.max(asked);
                }
            }
        }
        if dir.writes_cards() {
            write_backs_until(&services, &dir, tokio::time::Instant::now() + wait).await;
        } else {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Between two syncs, works card write-backs as they fall due (checked every
/// [`WRITE_BACK_POLL`]), so a card enrolled on this panel reaches the directory within about a
/// minute, and a failed write is retried at its backoff time rather than at the next sync.
async fn write_backs_until(services: &Arc<Services>, dir: &Directory, until: tokio::time::Instant) {
    loop {
        let now = tokio::time::Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(WRITE_BACK_POLL)).await;
        let store = services.store.clone();
        let due = tokio::task::spawn_blocking(move || store.due_card_writes(Utc::now(), 1))
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|d| !d.is_empty());
        if due {
            let done = sync::write_back(&services.store, services.device_key(), dir, "schedule");
            if let Err(e) = done.await {
                tracing::warn!(error = %e, "card write-back pass failed; retried later");
            }
        }
    }
}
