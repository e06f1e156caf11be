//! Outbox administration shared by the service menu's Outbox page and `mfp-kiosk outbox
//! retry|delete`: put a failed job back in the queue, or delete a job nobody is uploading
//! together with its spool file. Each action writes one audit row (actor, `job_retry` /
//! `job_delete`, the job id, outcome first).

use std::path::Path;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{JobState, Store, StoreError};

pub const ACTION_RETRY: &str = "job_retry";
pub const ACTION_DELETE: &str = "job_delete";

#[derive(Debug, thiserror::Error)]
pub enum OutboxAdminError {
    #[error("`{0}` is not a job id (a UUID as `outbox` lists it)")]
    BadId(String),
    #[error("no job {0}")]
    Unknown(Uuid),
    #[error("job {0} is {1}, not failed: only failed jobs are retried")]
    NotFailed(Uuid, &'static str),
    #[error("job {0} is being sent right now or was already delivered: it cannot be deleted")]
    Busy(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn parse_id(id: &str) -> Result<Uuid, OutboxAdminError> {
    Uuid::try_parse(id.trim()).map_err(|_| OutboxAdminError::BadId(id.to_string()))
}

/// A failed job goes back to the queue, due now.
pub fn retry(
    store: &Store,
    id: Uuid,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), OutboxAdminError> {
    let job = store.job(id)?.ok_or(OutboxAdminError::Unknown(id))?;
    if job.state != JobState::Failed {
        return Err(OutboxAdminError::NotFailed(id, job.state.as_str()));
    }
    store.requeue_job(id, at)?;
    let detail = format!("ok: was {}", job.last_error.as_deref().unwrap_or("failed"));
    store.append_audit(
        actor,
        ACTION_RETRY,
        Some(&id.to_string()),
        Some(&detail),
        at,
    )?;
    Ok(())
}

/// Deletes a queued or failed job and its spool file. A job being uploaded is refused.
pub fn delete(
    store: &Store,
    id: Uuid,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), OutboxAdminError> {
    let Some(spool) = store.discard_idle_job(id)? else {
        let outcome = match store.job(id)? {
            Some(_) => OutboxAdminError::Busy(id),
            None => OutboxAdminError::Unknown(id),
        };
        store.append_audit(
            actor,
            ACTION_DELETE,
            Some(&id.to_string()),
            Some(&format!("refused: {outcome}")),
            at,
        )?;
        return Err(outcome);
    };
    let detail = match remove_spool(&spool) {
        Ok(()) => "ok".to_string(),
        // The row is gone, so nothing will send the file; the leftover is only disk space.
        Err(e) => {
            tracing::warn!(path = %spool.display(), error = %e, "deleted job's spool file stays behind");
            format!("ok: spool file not removed ({})", e.kind())
        }
    };
    store.append_audit(
        actor,
        ACTION_DELETE,
        Some(&id.to_string()),
        Some(&detail),
        at,
    )?;
    Ok(())
}

fn remove_spool(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
