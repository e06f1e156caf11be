//! Free space of the panel's storage: the state directory (database, device key) and the spool
//! (scans waiting to go out). `mfp-kiosk doctor` reports it, the service menu's health page can
//! call [`free_bytes`] or [`space`], and [`is_storage_full`] tells a full-disk error from others
//! so the user gets a plain sentence ([`STORAGE_FULL_MESSAGE`]) instead of an errno.

use std::io;
use std::path::{Path, PathBuf};

/// What the user reads when a scan did not fit.
pub const STORAGE_FULL_MESSAGE: &str = "This panel's storage is full, please tell your technician";

/// Below this, `doctor` warns: a 20-page colour scan at 300 dpi needs about 20 MB.
pub const LOW_SPACE_BYTES: u64 = 64 * 1024 * 1024;
/// Below this, `doctor` reports a problem: most scans will not fit.
pub const TOO_LITTLE_SPACE_BYTES: u64 = 8 * 1024 * 1024;

/// Space on the filesystem holding a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes the panel's (unprivileged) user can still write.
    pub available: u64,
    /// Size of the filesystem.
    pub total: u64,
}

/// Bytes the panel's user can still write on the filesystem that holds `dir` (or, when `dir`
/// does not exist yet, its nearest existing parent).
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    space(dir).map(|s| s.available)
}

/// Available and total bytes of the filesystem that holds `dir` (or its nearest existing
/// parent).
pub fn space(dir: &Path) -> io::Result<Space> {
    statvfs(&existing_ancestor(dir)?)
}

/// True when `a` and `b` (or their nearest existing parents) are on one filesystem.
pub fn same_filesystem(a: &Path, b: &Path) -> io::Result<bool> {
    Ok(device_of(&existing_ancestor(a)?)? == device_of(&existing_ancestor(b)?)?)
}

#[cfg(unix)]
fn device_of(path: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.dev())
}

#[cfg(not(unix))]
fn device_of(_path: &Path) -> io::Result<u64> {
    Ok(0)
}

/// True for "no space left on device" and "disk quota exceeded".
pub fn is_storage_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(code) if is_full_errno(code))
}

#[cfg(unix)]
fn is_full_errno(code: i32) -> bool {
    code == libc::ENOSPC || code == libc::EDQUOT
}

#[cfg(not(unix))]
fn is_full_errno(_code: i32) -> bool {
    false
}

fn existing_ancestor(dir: &Path) -> io::Result<PathBuf> {
    dir.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} and its parents do not exist", dir.display()),
            )
        })
}

#[cfg(unix)]
fn statvfs(path: &Path) -> io::Result<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: a NUL-terminated path and a zeroed out-struct that statvfs fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok(Space {
        available: (st.f_bavail as u64).saturating_mul(unit),
        total: (st.f_blocks as u64).saturating_mul(unit),
    })
}

#[cfg(not(unix))]
fn statvfs(_path: &Path) -> io::Result<Space> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "free space is only known on Unix",
    ))
}

/// Bytes for people: "812 MB", "3.2 GB", "540 kB" (decimal units, as disks are sold).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} bytes"),
        _ if value < 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.0} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_not_made_yet_reports_the_space_of_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let here = space(dir.path()).unwrap();
        assert!(here.total > 0 && here.available <= here.total, "{here:?}");
        let later = space(&dir.path().join("not/yet")).unwrap();
        assert_eq!(later.total, here.total);
        assert!(free_bytes(&dir.path().join("x")).is_ok());
    }

    #[test]
    fn full_disk_errors_are_told_apart() {
        assert!(is_storage_full(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_storage_full(&io::Error::from_raw_os_error(libc::EDQUOT)));
        assert!(!is_storage_full(&io::Error::from_raw_os_error(
            libc::EACCES
        )));
        assert!(!is_storage_full(&io::Error::other("no")));
    }

    #[test]
    fn sizes_read_like_a_shop_label() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(540_000), "540 kB");
        assert_eq!(human(3_210_000_000), "3.2 GB");
        assert_eq!(human(81_200_000), "81 MB");
    }
}
