//! The panel's periodic directory sync (when `directory.enabled`): one run shortly after start,
//! then every `directory.interval_minutes`; identities a run revoked have their open session
//! ended. A failed run changes nothing and is retried at the next interval (sooner never: a
//! throttled tenant is asked again only after its `Retry-After`). [`sync_now`] is the service
//! menu's "Sync now".

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::controller::ControllerHandle;
use super::services::Services;
use crate::directory::sync::{self, Directory, SyncReport};
use crate::directory::DirectoryError;
use crate::kiosk::Event;

/// Runs one sync now on behalf of `source` (`service-menu`, `cli`, `schedule`).
pub async fn sync_now(
    services: &Arc<Services>,
    source: &str,
) -> Result<SyncReport, DirectoryError> {
    let dir = Directory::from_config(&services.config)?;
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
        tokio::time::sleep(wait).await;
    }
}
