//! Who is uploading an outbox job: a lease in the job's row, so that the panel's outbox worker
//! and a technician's `mfp-kiosk outbox run` on the same state directory never upload the same
//! job twice, and a job whose uploader died is picked up again at once.
//!
//! A job is claimed in one SQL statement (`UPDATE … WHERE state = 'queued' … RETURNING`), which
//! SQLite serialises across processes: exactly one claimant gets the row. The claim records the
//! holder and an expiry the holder renews while it uploads. A claim is abandoned, and the job
//! goes back to the queue, when its holder no longer exists (kill -9, power cut, crash) or its
//! lease ran out (a holder that hangs).
//!
//! "Does the holder exist" is answered by the kernel, not by pids: each holder keeps an
//! exclusive `flock` on its own file `locks/uploader-<id>.lock` beside the database for as long
//! as it lives, and the kernel drops that lock when the process dies, however it dies. A lock
//! that can be taken means the holder is gone. (Pids and /proc start times were the first
//! idea; under QEMU user mode a process sees a synthetic /proc/self/stat, so they disagreed.)

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a claim holds without renewal.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often a holder renews its claim while it uploads.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);

/// The holder of claims: a random id, alive while its lock file is locked.
#[derive(Debug, Clone)]
pub struct LeaseOwner {
    id: String,
    /// The locked file (None when it could not be made: the lease then ends by expiry only).
    _lock: Option<Arc<File>>,
}

impl LeaseOwner {
    /// A new holder whose lock file lives in `locks_dir` (created 0700 if needed).
    pub fn new(locks_dir: Option<&Path>) -> LeaseOwner {
        let id = uuid::Uuid::new_v4().to_string();
        let lock = locks_dir.and_then(|dir| match lock_file(dir, &id) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "cannot make the uploader lock file; leases end by expiry only");
                None
            }
        });
        LeaseOwner { id, _lock: lock }
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }
}

fn lock_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("uploader-{id}.lock"))
}

pub(crate) fn flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor owned by `file` for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn lock_file(dir: &Path, id: &str) -> std::io::Result<File> {
    crate::fsmode::private_dir(dir).map_err(std::io::Error::other)?;
    let file = crate::fsmode::create_private_file(&lock_path(dir, id))?;
    flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
    Ok(file)
}

/// Whether the holder `owner` (whose lock file lives in `locks_dir`) is still running. An owner
/// that can't be judged (not one of ours, the lock unreadable) counts as alive: its lease then
/// ends by expiry. A dead holder's lock file is removed.
pub fn holder_alive(locks_dir: &Path, owner: &str) -> bool {
    if uuid::Uuid::try_parse(owner).is_err() {
        return true;
    }
    let path = lock_path(locks_dir, owner);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {
            // We got the lock: nobody holds it any more.
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_alive_while_it_exists_and_dead_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let owner = LeaseOwner::new(Some(dir.path()));
        let id = owner.as_str().to_string();
        assert!(holder_alive(dir.path(), &id), "its lock is held");
        let clone = owner.clone();
        drop(owner);
        assert!(holder_alive(dir.path(), &id), "a clone keeps it");
        drop(clone);
        assert!(!holder_alive(dir.path(), &id), "the lock is free: gone");
        assert!(!lock_path(dir.path(), &id).exists(), "and cleaned up");
        assert!(!holder_alive(dir.path(), &uuid::Uuid::new_v4().to_string()));
        assert!(
            holder_alive(dir.path(), "not-an-owner"),
            "unjudgeable: left to expiry"
        );
    }
}
