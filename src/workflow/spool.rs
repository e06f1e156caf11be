//! What a crash leaves in the spool, and cleaning it up. Owns the scan lock
//! (`locks/scan-<job>.lock`) and the sweep of spool files that no job will ever send or delete.
//!
//! A panel killed (kill -9, power cut, watchdog) in the middle of a walk-up job can leave:
//! - the PDF writer's hidden temporary file (`.<job>.pdf.<pid>-<rand>.partial`): killed while
//!   scanning; its `Drop` never ran;
//! - a complete `<job>.pdf` without an outbox row: killed between the PDF's rename and the row's
//!   insert (the user was never told about it, so nobody will ask for it);
//! - the `<job>.pdf` of a delivered job: killed between marking it done and deleting the file.
//!
//! None of these is ever sent or purged, so without a sweep they pile up until the storage is
//! full. Another process may be scanning into the same spool at that moment (a technician's
//! `mfp-kiosk scan`), so a file without a row is only removed when its scan is known to be over:
//! every scan holds an exclusive `flock` on its own lock file from before its temporary file
//! exists until its row is written, and the kernel drops that lock when the process dies,
//! however it dies (the same liveness test as the outbox's leases, [`super::lease`]). A
//! rowless file whose lock file is missing altogether (a scan that could not make one, or a
//! version before this sweep) is left alone until it is older than [`UNLOCKED_GRACE`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::store::{JobState, Store, StoreError};

/// How old a rowless spool file without any lock file must be before the sweep removes it: far
/// longer than any scan takes from its first page to its outbox row.
pub const UNLOCKED_GRACE: Duration = Duration::from_secs(6 * 3600);

/// Errors of the spool sweep.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot read the spool directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Temporary files of scans that never finished.
    pub partial: usize,
    /// Complete PDFs whose job row was never written.
    pub unrecorded: usize,
    /// PDFs of jobs already delivered.
    pub delivered: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.partial + self.unrecorded + self.delivered
    }
}

/// Held by a scan from before its PDF is started until its outbox row is written; dropping it
/// removes the lock file.
pub struct ScanLock {
    path: PathBuf,
    _file: File,
}

impl ScanLock {
    /// Takes the lock of `job` in `locks_dir` (created 0700 if needed).
    pub fn take(locks_dir: &Path, job: uuid::Uuid) -> std::io::Result<ScanLock> {
        crate::fsmode::private_dir(locks_dir).map_err(std::io::Error::other)?;
        let path = lock_path(locks_dir, job);
        let file = crate::fsmode::create_private_file(&path)?;
        super::lease::flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
        Ok(ScanLock { path, _file: file })
    }
}

impl Drop for ScanLock {
    fn drop(&mut self) {
        // Unlinked while still locked: a sweeper that opened it just before sees it free only
        // once this scan's row is written, and looks the row up again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The locks directory beside the store's database (`None`: an in-memory store).
pub fn locks_dir(store: &Store) -> Option<PathBuf> {
    store.dir().map(|d| d.join("locks"))
}

fn lock_path(locks_dir: &Path, job: uuid::Uuid) -> PathBuf {
    locks_dir.join(format!("scan-{job}.lock"))
}

/// The state of a scan's lock.
enum ScanState {
    /// Its process holds the lock: still scanning or recording.
    Running,
    /// The lock file exists and nobody holds it: the process is gone (its file is removed).
    Gone,
    /// No lock file.
    Unknown,
}

fn scan_state(locks_dir: &Path, job: uuid::Uuid) -> ScanState {
    let path = lock_path(locks_dir, job);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ScanState::Unknown,
        Err(_) => return ScanState::Running,
    };
    match super::lease::flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        // Its lock file is removed after the sweep: the scan may have left several files.
        Ok(()) => ScanState::Gone,
        Err(_) => ScanState::Running,
    }
}

/// The job a spool file belongs to, and whether it is the writer's temporary file.
fn job_of(name: &str) -> Option<(uuid::Uuid, bool)> {
    if let Some(stem) = name.strip_suffix(".pdf") {
        return Some((uuid::Uuid::try_parse(stem).ok()?, false));
    }
    // `.<job>.pdf.<pid>-<rand>.partial` (see `crate::scan::pdf`).
    let rest = name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (stem, _) = rest.split_once(".pdf.")?;
    Some((uuid::Uuid::try_parse(stem).ok()?, true))
}

/// Removes the spool files that no job will ever send or delete (see the module doc); files
/// that are not the spool's own are left alone. Safe while other processes scan and deliver
/// from the same spool.
pub fn sweep(store: &Store, spool_dir: &Path, now: SystemTime) -> Result<Swept, SpoolError> {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(spool_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
        Err(source) => {
            return Err(SpoolError::ReadDir {
                path: spool_dir.to_path_buf(),
                source,
            })
        }
    };
    let locks = locks_dir(store);
    let mut dead = std::collections::HashSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((job, partial)) = job_of(&name.to_string_lossy()) else {
            continue;
        };
        let path = entry.path();
        let remove = match store.job(job)? {
            Some(row) if row.state == JobState::Done => {
                if partial {
                    Some(&mut swept.partial)
                } else {
                    Some(&mut swept.delivered)
                }
            }
            // Queued, uploading or failed: the outbox sends or purges it.
            Some(_) => None,
            None => {
                let gone = match locks.as_deref().map(|d| scan_state(d, job)) {
                    Some(ScanState::Running) => false,
                    Some(ScanState::Gone) => {
                        dead.insert(job);
                        true
                    }
                    Some(ScanState::Unknown) | None => older_than(&path, now, UNLOCKED_GRACE),
                };
                // The scan may have written its row just before letting go of its lock.
                if gone && store.job(job)?.is_none() {
                    if partial {
                        Some(&mut swept.partial)
                    } else {
                        Some(&mut swept.unrecorded)
                    }
                } else {
                    None
                }
            }
        };
        if let Some(count) = remove {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    *count += 1;
                    tracing::info!(path = %path.display(), %job, "spool: removed a file a crash left behind");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "spool: cannot remove a leftover file")
                }
            }
        }
    }
    if let Some(dir) = &locks {
        for job in dead {
            let _ = std::fs::remove_file(lock_path(dir, job));
        }
    }
    Ok(swept)
}

fn older_than(path: &Path, now: SystemTime, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .is_some_and(|d| d >= age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_names_are_read_back_to_their_job() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(job_of(&format!("{id}.pdf")), Some((id, false)));
        assert_eq!(
            job_of(&format!(".{id}.pdf.4242-0123abcd.partial")),
            Some((id, true))
        );
        assert_eq!(job_of("notes.txt"), None);
        assert_eq!(job_of("report.pdf"), None);
        assert_eq!(job_of(".report.pdf.1-2.partial"), None);
    }

    fn job(store: &Store, spool: &Path) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let path = spool.join(format!("{id}.pdf"));
        std::fs::write(&path, b"%PDF-1.7 complete").unwrap();
        store
            .insert_job(
                &crate::store::NewJob {
                    id,
                    user_oid: "oid".into(),
                    workflow_id: "wf".into(),
                    destination: serde_json::json!({}),
                    folder: String::new(),
                    file_name: "a.pdf".into(),
                    spool_path: path,
                    size_bytes: 17,
                    pages: 1,
                },
                chrono::Utc::now(),
            )
            .unwrap();
        id
    }

    #[test]
    fn the_sweep_removes_what_no_job_will_send_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
        let now = chrono::Utc::now();
        store
            .upsert_user(&crate::identity::UserRecord {
                oid: "oid".into(),
                tenant_id: "t".into(),
                upn: "a@example.com".into(),
                display_name: "A".into(),
                mail: None,
                username: "a".into(),
                roles: Vec::new(),
                groups: Vec::new(),
                is_technician: false,
                status: crate::identity::UserStatus::Active,
                created_at: now,
                updated_at: now,
                last_online_at: now,
            })
            .unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let locks = locks_dir(&store).unwrap();
        std::fs::create_dir_all(&locks).unwrap();
        let write = |name: String| {
            std::fs::write(spool.join(&name), b"x").unwrap();
            name
        };
        // A scan whose process died: its lock file is there, nobody holds it.
        let dead = uuid::Uuid::new_v4();
        std::fs::write(lock_path(&locks, dead), b"").unwrap();
        let dead_partial = write(format!(".{dead}.pdf.77-abc.partial"));
        let dead_rows = write(format!(".{dead}.pdf.rows.77-abd.partial"));
        let unrecorded = uuid::Uuid::new_v4();
        std::fs::write(lock_path(&locks, unrecorded), b"").unwrap();
        let unrecorded_pdf = write(format!("{unrecorded}.pdf"));
        // A scan going on now, in this process or another.
        let live = uuid::Uuid::new_v4();
        let held = ScanLock::take(&locks, live).unwrap();
        let live_partial = write(format!(".{live}.pdf.78-abc.partial"));
        let live_pdf = write(format!("{live}.pdf"));
        // No lock file at all and young: left to the grace.
        let unlocked = write(format!("{}.pdf", uuid::Uuid::new_v4()));
        let foreign = write("README".into());
        let queued = job(&store, &spool);
        let delivered = job(&store, &spool);
        store
            .complete_job(delivered, "item", None, chrono::Utc::now())
            .unwrap();

        let swept = sweep(&store, &spool, SystemTime::now()).unwrap();
        assert_eq!(
            swept,
            Swept {
                partial: 2,
                unrecorded: 1,
                delivered: 1
            }
        );
        let left: std::collections::BTreeSet<String> = std::fs::read_dir(&spool)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for gone in [&dead_partial, &dead_rows, &unrecorded_pdf] {
            assert!(!left.contains(gone), "{gone} removed");
        }
        assert!(!left.contains(&format!("{delivered}.pdf")));
        for kept in [&live_partial, &live_pdf, &unlocked, &foreign] {
            assert!(left.contains(kept), "{kept} kept");
        }
        assert!(left.contains(&format!("{queued}.pdf")));
        assert!(
            !lock_path(&locks, dead).exists(),
            "a dead scan's lock file goes too"
        );

        // Once the live scan is over without a row, and much later the unlocked file.
        drop(held);
        std::fs::write(lock_path(&locks, live), b"").unwrap();
        let later = SystemTime::now() + UNLOCKED_GRACE + Duration::from_secs(1);
        let swept = sweep(&store, &spool, later).unwrap();
        assert_eq!(swept.partial + swept.unrecorded, 3, "{swept:?}");
        assert!(spool.join(&foreign).exists());
        assert!(spool.join(format!("{queued}.pdf")).exists());
    }
}
