//! File modes of everything private the panel keeps on disk: the one place that decides them.
//!
//! The state directory holds the database (card and PIN hashes, sealed tokens), the device key
//! and, by default, the scan spool; a custom `device.spool_dir` holds scans too. None of it is
//! for other local users, whatever the umask of whoever started the process (the systemd unit's
//! `StateDirectory=` is 0700, but the CLI, the demo and a custom spool directory do not get
//! that for free).
//!
//! The rules:
//! - **Directories** are created 0700 (every missing component). An existing directory must
//!   belong to this process's user; if it also grants group or other permissions it is
//!   tightened to 0700 with a warning: it is ours, so what it contains is ours to protect, and
//!   refusing to start over a 0755 left behind by `mkdir -p` would only make people loosen
//!   things elsewhere. A directory that belongs to another user is refused (its owner could
//!   read or swap anything we put there), with the `chown` that fixes it.
//! - **Files** are created with `O_EXCL` and mode 0600 ([`create_private_file`]); the umask can
//!   only take bits away, so nothing ends up wider. An existing file is checked with
//!   [`check_private_file`]; the device key is refused when it fails (a key that was readable
//!   by others may have been copied: whether to keep it is the administrator's call), the
//!   database is tightened ([`tighten_file`]).

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every private directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every private file.
pub const FILE_MODE: u32 = 0o600;
/// Group and other permission bits: none of them may be set on anything private.
const GROUP_OTHER: u32 = 0o077;

#[derive(Debug, thiserror::Error)]
pub enum FsModeError {
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{} exists but is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "{} has mode {mode:04o} and belongs to uid {owner}, but this program runs as uid {uid} \
         and keeps private data there: it must belong to uid {uid} and grant nothing to group or \
         others. Fix: `chown {uid} {}` and `chmod {fix:o} {}` (or run the program as its owner)",
        path.display(), path.display(), path.display()
    )]
    NotPrivate {
        path: PathBuf,
        mode: u32,
        owner: u32,
        uid: u32,
        /// The mode to `chmod` it to.
        fix: u32,
    },
}

/// The effective uid of this process (what the kernel checks ownership against).
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `path` (and missing parents) 0700, or checks and tightens an existing directory as
/// the module docs describe.
pub fn private_dir(path: &Path) -> Result<(), FsModeError> {
    let io_err = |action| {
        move |source| FsModeError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .map_err(io_err("create directory"))?;
    let meta = fs::metadata(path).map_err(io_err("read metadata"))?;
    if !meta.is_dir() {
        return Err(FsModeError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    match check(path, &meta, DIR_MODE) {
        Ok(()) => Ok(()),
        Err(FsModeError::NotPrivate { owner, uid, .. }) if owner == uid => tighten(path, &meta),
        Err(e) => Err(e),
    }
}

/// Creates a new file 0600 for writing; fails if anything exists at `path`.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// An existing file must belong to this process's user and grant nothing to group or others.
pub fn check_private_file(path: &Path, meta: &Metadata) -> Result<(), FsModeError> {
    check(path, meta, FILE_MODE)
}

/// Tightens an existing file of ours to 0600 (a database created by an older version, or
/// copied in with a loose mode). A missing file is fine; one of another user's is refused.
pub fn tighten_file(path: &Path) -> Result<(), FsModeError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(FsModeError::Io {
                path: path.to_path_buf(),
                action: "read metadata",
                source,
            })
        }
    };
    match check(path, &meta, FILE_MODE) {
        Ok(()) => Ok(()),
        Err(FsModeError::NotPrivate { owner, uid, .. }) if owner == uid => tighten(path, &meta),
        Err(e) => Err(e),
    }
}

fn check(path: &Path, meta: &Metadata, fix: u32) -> Result<(), FsModeError> {
    let mode = meta.permissions().mode() & 0o7777;
    let uid = current_uid();
    if meta.uid() != uid || mode & GROUP_OTHER != 0 {
        return Err(FsModeError::NotPrivate {
            path: path.to_path_buf(),
            mode,
            owner: meta.uid(),
            uid,
            fix,
        });
    }
    Ok(())
}

/// Removes the group and other bits of something we own.
fn tighten(path: &Path, meta: &Metadata) -> Result<(), FsModeError> {
    let old = meta.permissions().mode() & 0o7777;
    let new = old & !GROUP_OTHER;
    fs::set_permissions(path, fs::Permissions::from_mode(new)).map_err(|source| {
        FsModeError::Io {
            path: path.to_path_buf(),
            action: "restrict permissions",
            source,
        }
    })?;
    tracing::warn!(path = %path.display(), old = format!("{old:04o}"), new = format!("{new:04o}"),
        "private path was open to other users; restricted it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn existing_loose_directory_of_ours_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let loose = dir.path().join("state");
        fs::create_dir(&loose).unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&loose).unwrap();
        assert_eq!(mode(&loose), 0o700);
    }

    #[test]
    fn a_file_where_a_directory_belongs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state");
        fs::write(&file, b"x").unwrap();
        assert!(private_dir(&file).is_err());
    }

    #[test]
    fn private_files_are_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create_private_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            create_private_file(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        let meta = fs::metadata(&path).unwrap();
        let err = check_private_file(&path, &meta).unwrap_err().to_string();
        assert!(err.contains("0664") && err.contains("chmod 600"), "{err}");
        tighten_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        tighten_file(&dir.path().join("missing")).unwrap();
    }
}
