//! The `jobs` table: the durable outbox of scans waiting for, in, or done with upload.
//!
//! A job row is written after its spool file is complete and before any upload starts. The row
//! carries everything needed to resume after a crash: the Graph upload session URL, attempts and
//! the earliest time of the next attempt (for `Retry-After` and back-off).
//!
//! The upload URL authorises writes to the user's drive by itself for days, so it is stored only
//! sealed ([`SealedSecret::to_text`] in the `upload_url` TEXT column; sealing is the device
//! key's job, as for refresh tokens) and cleared when the job is done or failed. A clear URL
//! written by an older version is wiped when the store opens ([`scrub_clear_upload_urls`]); the
//! job then starts a new session and the "did it land already?" check keeps it from landing
//! twice.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{col_ts, col_ts_opt, ts, Store, StoreError};
use crate::secrets::SealedSecret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Uploading,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Uploading => "uploading",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "queued" => Some(JobState::Queued),
            "uploading" => Some(JobState::Uploading),
            "done" => Some(JobState::Done),
            "failed" => Some(JobState::Failed),
            _ => None,
        }
    }
}

/// A scan to enqueue. The caller picks the id first, so the spool file can be named after it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub user_oid: String,
    pub workflow_id: String,
    /// Where the file goes (drive/site/library ids), as the workflow module describes it.
    pub destination: serde_json::Value,
    pub folder: String,
    pub file_name: String,
    pub spool_path: PathBuf,
    pub size_bytes: u64,
    pub pages: u32,
}

#[derive(Clone, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    pub user_oid: String,
    pub workflow_id: String,
    pub destination: serde_json::Value,
    pub folder: String,
    pub file_name: String,
    pub spool_path: PathBuf,
    pub size_bytes: u64,
    pub pages: u32,
    pub state: JobState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub remote_item_id: Option<String>,
    pub remote_web_url: Option<String>,
    /// Graph upload session URL, sealed under the device key with the job id as associated
    /// data. It authorises writes by itself, so `Debug` does not even show the ciphertext.
    pub upload_url: Option<SealedSecret>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for JobRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRecord")
            .field("id", &self.id)
            .field("user_oid", &self.user_oid)
            .field("workflow_id", &self.workflow_id)
            .field("destination", &self.destination)
            .field("folder", &self.folder)
            .field("file_name", &self.file_name)
            .field("spool_path", &self.spool_path)
            .field("size_bytes", &self.size_bytes)
            .field("pages", &self.pages)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("remote_item_id", &self.remote_item_id)
            .field("remote_web_url", &self.remote_web_url)
            .field(
                "upload_url",
                &self.upload_url.as_ref().map(|_| "[redacted]"),
            )
            .field("next_attempt_at", &self.next_attempt_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

const JOB_COLUMNS: &str = "id, user_oid, workflow_id, destination, folder, file_name, spool_path, \
     size_bytes, pages, state, attempts, last_error, remote_item_id, remote_web_url, upload_url, \
     next_attempt_at, created_at, updated_at";

fn conversion(idx: usize, e: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let id: String = r.get(0)?;
    let destination: String = r.get(3)?;
    let spool: String = r.get(6)?;
    let size: i64 = r.get(7)?;
    let state: String = r.get(9)?;
    Ok(JobRecord {
        id: Uuid::try_parse(&id).map_err(|_| {
            conversion(
                0,
                StoreError::Corrupt {
                    what: "job id",
                    value: id.clone(),
                },
            )
        })?,
        user_oid: r.get(1)?,
        workflow_id: r.get(2)?,
        destination: serde_json::from_str(&destination).map_err(|_| {
            conversion(
                3,
                StoreError::Corrupt {
                    what: "job destination",
                    value: destination.clone(),
                },
            )
        })?,
        folder: r.get(4)?,
        file_name: r.get(5)?,
        spool_path: PathBuf::from(spool),
        size_bytes: u64::try_from(size).unwrap_or(0),
        pages: r.get(8)?,
        state: JobState::parse(&state).ok_or_else(|| {
            conversion(
                9,
                StoreError::Corrupt {
                    what: "job state",
                    value: state.clone(),
                },
            )
        })?,
        attempts: r.get(10)?,
        last_error: r.get(11)?,
        remote_item_id: r.get(12)?,
        remote_web_url: r.get(13)?,
        // Unreadable (damaged) sealed text only costs a new session, not the whole queue.
        upload_url: r
            .get::<_, Option<String>>(14)?
            .and_then(|t| SealedSecret::from_text(&t).ok()),
        next_attempt_at: col_ts_opt(r, 15)?,
        created_at: col_ts(r, 16)?,
        updated_at: col_ts(r, 17)?,
    })
}

impl Store {
    /// Records a new queued job.
    pub fn insert_job(&self, j: &NewJob, at: DateTime<Utc>) -> Result<JobRecord, StoreError> {
        let size = i64::try_from(j.size_bytes).map_err(|_| StoreError::Corrupt {
            what: "job size",
            value: j.size_bytes.to_string(),
        })?;
        let spool = j.spool_path.to_str().ok_or_else(|| StoreError::Corrupt {
            what: "spool path (not UTF-8)",
            value: j.spool_path.to_string_lossy().into_owned(),
        })?;
        self.with(|c| {
            c.execute(
                "INSERT INTO jobs (id, user_oid, workflow_id, destination, folder, file_name,
                     spool_path, size_bytes, pages, state, attempts, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?10, ?10)",
                params![
                    j.id.to_string(),
                    j.user_oid,
                    j.workflow_id,
                    j.destination.to_string(),
                    j.folder,
                    j.file_name,
                    spool,
                    size,
                    j.pages,
                    ts(at),
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, Some(ref m))
                    if f.code == rusqlite::ErrorCode::ConstraintViolation
                        && m.contains("FOREIGN KEY") =>
                {
                    StoreError::UserNotFound(j.user_oid.clone())
                }
                e => StoreError::Sqlite(e),
            })?;
            Ok(())
        })?;
        self.job(j.id)?
            .ok_or_else(|| StoreError::JobNotFound(j.id.to_string()))
    }

    pub fn job(&self, id: Uuid) -> Result<Option<JobRecord>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id.to_string()],
                job_from_row,
            )
            .optional()?)
        })
    }

    /// The most recent jobs, newest first.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], job_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The oldest queued job that may be attempted at `now`.
    pub fn next_queued_job(&self, now: DateTime<Utc>) -> Result<Option<JobRecord>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs
                     WHERE state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
                     ORDER BY created_at, rowid LIMIT 1"
                ),
                [ts(now)],
                job_from_row,
            )
            .optional()?)
        })
    }

    /// Claims a queued job for upload in one statement (SQLite serialises it across
    /// processes, so exactly one claimant wins): marks it uploading, counts the attempt and
    /// records the lease. `None` when the job is not queued (any more): someone else has it.
    pub fn claim_job(
        &self,
        id: Uuid,
        owner: &str,
        lease_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "UPDATE jobs SET state = 'uploading', attempts = attempts + 1,
                     next_attempt_at = NULL, lease_owner = ?2, lease_until = ?3, updated_at = ?4
                 WHERE id = ?1 AND state = 'queued' RETURNING attempts",
                params![id.to_string(), owner, ts(lease_until), ts(at)],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Extends the leases of every job `owner` is uploading; returns how many it holds.
    pub fn renew_leases(
        &self,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE jobs SET lease_until = ?2 WHERE lease_owner = ?1 AND state = 'uploading'",
                params![owner, ts(lease_until)],
            )?)
        })
    }

    pub fn set_job_state(
        &self,
        id: Uuid,
        state: JobState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET state = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.to_string(), state.as_str(), ts(at)],
        )
    }

    /// Remembers (or forgets, with `None`) the sealed upload session so an interrupted upload
    /// resumes.
    pub fn set_job_upload_url(
        &self,
        id: Uuid,
        upload_url: Option<&SealedSecret>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET upload_url = ?2, updated_at = ?3 WHERE id = ?1",
            params![
                id.to_string(),
                upload_url.map(SealedSecret::to_text),
                ts(at)
            ],
        )
    }

    /// A transient failure: back to the queue, not before `not_before`. The upload URL is kept.
    pub fn retry_job_later(
        &self,
        id: Uuid,
        error: &str,
        not_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET state = 'queued', last_error = ?2, next_attempt_at = ?3,
                 updated_at = ?4 WHERE id = ?1",
            params![id.to_string(), error, ts(not_before), ts(at)],
        )
    }

    /// A permanent failure; the job stays for the technician to review or retry.
    pub fn fail_job(&self, id: Uuid, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET state = 'failed', last_error = ?2, upload_url = NULL,
                 next_attempt_at = NULL, updated_at = ?3 WHERE id = ?1",
            params![id.to_string(), error, ts(at)],
        )
    }

    /// The upload finished: records where the file ended up.
    pub fn complete_job(
        &self,
        id: Uuid,
        remote_item_id: &str,
        remote_web_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET state = 'done', remote_item_id = ?2, remote_web_url = ?3,
                 upload_url = NULL, last_error = NULL, next_attempt_at = NULL, updated_at = ?4
             WHERE id = ?1",
            params![id.to_string(), remote_item_id, remote_web_url, ts(at)],
        )
    }

    /// Technician "retry": a failed job goes back to the queue, due now.
    pub fn requeue_job(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET state = 'queued', next_attempt_at = NULL, updated_at = ?2
             WHERE id = ?1",
            params![id.to_string(), ts(at)],
        )
    }

    /// Jobs left `uploading` by a holder that is gone (`holder_alive` says no: crash, kill -9,
    /// power cut) or whose lease ran out go back to the queue, keeping their upload URL so they
    /// resume where they stopped. A job a live process holds stays. Returns how many.
    pub fn requeue_interrupted(
        &self,
        at: DateTime<Utc>,
        holder_alive: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        self.with_transaction(|tx| {
            let leases: Vec<(String, Option<String>, Option<String>)> = {
                let mut stmt = tx.prepare(
                    "SELECT id, lease_owner, lease_until FROM jobs WHERE state = 'uploading'",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let now = ts(at);
            let mut requeued = 0;
            for (id, owner, until) in leases {
                // Timestamps are fixed-width RFC 3339 text: text order is time order.
                let expired = until.as_deref().is_none_or(|u| u <= now.as_str());
                let held = owner.as_deref().is_some_and(&holder_alive);
                if expired || !held {
                    requeued += tx.execute(
                        "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL,
                             updated_at = ?2
                         WHERE id = ?1 AND state = 'uploading'",
                        params![id, now],
                    )?;
                }
            }
            Ok(requeued)
        })
    }

    /// Technician "delete": removes a job that nobody is uploading (queued or failed) and
    /// returns its spool path for the caller to remove; `None` when there is no such job or
    /// it is being uploaded right now. One statement, so an uploader cannot claim it meanwhile.
    pub fn discard_idle_job(&self, id: Uuid) -> Result<Option<PathBuf>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "DELETE FROM jobs WHERE id = ?1 AND state IN ('queued', 'failed')
                 RETURNING spool_path",
                [id.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(PathBuf::from))
        })
    }

    /// Removes a job row (after its spool file is gone); returns whether it existed.
    pub fn delete_job(&self, id: Uuid) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM jobs WHERE id = ?1", [id.to_string()])? > 0))
    }

    /// Removes the upload URLs of ended jobs (there should be none) and any URL that is not in
    /// sealed form (written in clear by an older version). Returns how many.
    pub(super) fn scrub_clear_upload_urls(
        conn: &rusqlite::Connection,
    ) -> Result<usize, StoreError> {
        Ok(conn.execute(
            "UPDATE jobs SET upload_url = NULL WHERE upload_url IS NOT NULL
                 AND (state IN ('done', 'failed') OR substr(upload_url, 1, ?1) != ?2)",
            params![
                SealedSecret::TEXT_PREFIX.len() as i64,
                SealedSecret::TEXT_PREFIX
            ],
        )?)
    }

    fn update_job(
        &self,
        id: Uuid,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<(), StoreError> {
        self.with(|c| match c.execute(sql, params)? {
            0 => Err(StoreError::JobNotFound(id.to_string())),
            _ => Ok(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;

    fn new_job(n: u128) -> NewJob {
        NewJob {
            id: Uuid::from_u128(n),
            user_oid: "a".into(),
            workflow_id: "scan-to-onedrive".into(),
            destination: serde_json::json!({"kind": "onedrive"}),
            folder: "Scans/2025-03-01".into(),
            file_name: "Scan.pdf".into(),
            spool_path: PathBuf::from(format!("/var/lib/mfp-kiosk/spool/{n}.pdf")),
            size_bytes: 123_456,
            pages: 3,
        }
    }

    fn sealed(url: &str, id: Uuid) -> SealedSecret {
        crate::secrets::DeviceKey::from_master(&[4; 32])
            .seal_upload_url(&secrecy::SecretString::from(url), id.as_bytes())
            .unwrap()
    }

    fn store() -> Store {
        let s = Store::open_in_memory().unwrap();
        s.upsert_user(&user("a", "adele")).unwrap();
        s
    }

    #[test]
    fn insert_and_read_back() {
        let s = store();
        let j = s.insert_job(&new_job(1), at(9)).unwrap();
        assert_eq!(j.state, JobState::Queued);
        assert_eq!(j.attempts, 0);
        assert_eq!(j.destination["kind"], "onedrive");
        assert_eq!(j.size_bytes, 123_456);
        assert_eq!(j.created_at, at(9));
        assert_eq!(s.job(j.id).unwrap().unwrap(), j);
        assert_eq!(s.job(Uuid::from_u128(99)).unwrap(), None);
    }

    #[test]
    fn job_for_unknown_user_is_refused() {
        let s = store();
        let mut j = new_job(1);
        j.user_oid = "ghost".into();
        assert!(matches!(
            s.insert_job(&j, at(9)),
            Err(StoreError::UserNotFound(_))
        ));
    }

    #[test]
    fn queue_order_retry_and_completion() {
        let s = store();
        s.insert_job(&new_job(1), at(9)).unwrap();
        s.insert_job(&new_job(2), at(10)).unwrap();
        let first = s.next_queued_job(at(10)).unwrap().unwrap();
        assert_eq!(first.id, Uuid::from_u128(1));

        assert_eq!(
            s.claim_job(first.id, "1:1", at(11), at(10)).unwrap(),
            Some(1)
        );
        let url = sealed("https://upload.example/session", first.id);
        s.set_job_upload_url(first.id, Some(&url), at(10)).unwrap();
        s.retry_job_later(first.id, "503 Service Unavailable", at(12), at(10))
            .unwrap();
        // Job 1 waits until 12:00, so job 2 is next at 11:00.
        assert_eq!(
            s.next_queued_job(at(11)).unwrap().unwrap().id,
            Uuid::from_u128(2)
        );
        let again = s.next_queued_job(at(12)).unwrap().unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.upload_url.as_ref(), Some(&url));
        assert_eq!(again.last_error.as_deref(), Some("503 Service Unavailable"));
        assert!(!format!("{again:?}").contains("upload.example"));
        assert!(!format!("{again:?}").contains(&url.to_text()));

        assert_eq!(
            s.claim_job(first.id, "1:1", at(13), at(12)).unwrap(),
            Some(2)
        );
        s.complete_job(first.id, "01ITEM", Some("https://contoso/x.pdf"), at(13))
            .unwrap();
        let done = s.job(first.id).unwrap().unwrap();
        assert_eq!(done.state, JobState::Done);
        assert_eq!(done.remote_item_id.as_deref(), Some("01ITEM"));
        assert_eq!(done.upload_url, None);
        assert_eq!(done.last_error, None);
    }

    #[test]
    fn clear_upload_urls_of_older_versions_are_scrubbed() {
        let s = store();
        let a = s.insert_job(&new_job(1), at(9)).unwrap().id;
        let b = s.insert_job(&new_job(2), at(9)).unwrap().id;
        let kept = sealed("https://upload.example/b", b);
        s.set_job_upload_url(b, Some(&kept), at(9)).unwrap();
        s.with(|c| {
            c.execute(
                "UPDATE jobs SET upload_url = 'https://upload.example/a?tempauth=x' WHERE id = ?1",
                [a.to_string()],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.with(|c| Store::scrub_clear_upload_urls(c)).unwrap(), 1);
        let raw: Option<String> = s
            .with(|c| {
                Ok(c.query_row(
                    "SELECT upload_url FROM jobs WHERE id = ?1",
                    [a.to_string()],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(raw, None);
        assert_eq!(s.job(b).unwrap().unwrap().upload_url, Some(kept));
    }

    #[test]
    fn failure_requeue_and_interrupted() {
        let s = store();
        let a = s.insert_job(&new_job(1), at(9)).unwrap().id;
        let b = s.insert_job(&new_job(2), at(9)).unwrap().id;
        s.set_job_upload_url(a, Some(&sealed("https://upload.example/a", a)), at(9))
            .unwrap();
        s.fail_job(a, "403 accessDenied", at(10)).unwrap();
        assert_eq!(s.job(a).unwrap().unwrap().state, JobState::Failed);
        assert_eq!(s.job(a).unwrap().unwrap().upload_url, None);
        s.requeue_job(a, at(11)).unwrap();
        assert_eq!(s.job(a).unwrap().unwrap().state, JobState::Queued);

        s.claim_job(b, "1:1", at(20), at(11)).unwrap();
        s.set_job_state(a, JobState::Uploading, at(11)).unwrap();
        assert_eq!(s.next_queued_job(at(11)).unwrap(), None);
        // b's holder is gone, a has no lease at all: both go back.
        assert_eq!(s.requeue_interrupted(at(12), |_| false).unwrap(), 2);
        assert!(s.next_queued_job(at(12)).unwrap().is_some());

        assert_eq!(s.list_jobs(1).unwrap().len(), 1);
        assert_eq!(s.list_jobs(10).unwrap().len(), 2);
        assert!(s.delete_job(a).unwrap());
        assert!(matches!(
            s.fail_job(a, "x", at(12)),
            Err(StoreError::JobNotFound(_))
        ));
    }

    #[test]
    fn one_claimant_wins_and_a_live_holder_keeps_its_job() {
        let s = store();
        let a = s.insert_job(&new_job(1), at(9)).unwrap().id;
        assert_eq!(s.claim_job(a, "panel", at(11), at(10)).unwrap(), Some(1));
        assert_eq!(
            s.claim_job(a, "cli", at(11), at(10)).unwrap(),
            None,
            "a second claimant gets nothing"
        );
        // The holder lives and its lease runs: the job stays with it.
        let alive = |o: &str| o == "panel";
        assert_eq!(s.requeue_interrupted(at(10), alive).unwrap(), 0);
        assert_eq!(s.renew_leases("panel", at(12)).unwrap(), 1);
        assert_eq!(s.renew_leases("cli", at(12)).unwrap(), 0);
        assert_eq!(s.requeue_interrupted(at(11), alive).unwrap(), 0);
        // A lease that ran out is lost even by a live (but hung) holder.
        assert_eq!(s.requeue_interrupted(at(12), alive).unwrap(), 1);
        assert_eq!(s.job(a).unwrap().unwrap().state, JobState::Queued);
        assert_eq!(s.renew_leases("panel", at(13)).unwrap(), 0);
        // The next claimant gets it, attempt 2; its holder dies: back at once.
        assert_eq!(s.claim_job(a, "cli", at(20), at(12)).unwrap(), Some(2));
        assert_eq!(s.requeue_interrupted(at(13), |_| false).unwrap(), 1);
    }
}
