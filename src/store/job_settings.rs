//! The scan settings recorded with a job (what the settings sheet chose, or a quick workflow's
//! defaults), as JSON in `jobs.scan_settings`. Kept apart from the job row's other columns so
//! the outbox never depends on it: a job without settings (older, or recorded by the `scan`
//! command) delivers the same.

use rusqlite::OptionalExtension;
use uuid::Uuid;

use super::{Store, StoreError};

impl Store {
    /// Records the settings of job `id`.
    pub fn set_job_settings(
        &self,
        id: Uuid,
        settings: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE jobs SET scan_settings = ?2 WHERE id = ?1",
                rusqlite::params![id.to_string(), settings.to_string()],
            )?;
            if n == 0 {
                return Err(StoreError::JobNotFound(id.to_string()));
            }
            Ok(())
        })
    }

    /// The settings job `id` was scanned with; `None` when none were recorded.
    pub fn job_settings(&self, id: Uuid) -> Result<Option<serde_json::Value>, StoreError> {
        self.with(|c| {
            let text: Option<Option<String>> = c
                .query_row(
                    "SELECT scan_settings FROM jobs WHERE id = ?1",
                    [id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(text) = text.flatten() else {
                return Ok(None);
            };
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    what: "job scan settings",
                    value: text,
                })
        })
    }
}
