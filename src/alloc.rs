//! The C allocator's settings for a panel board with little RAM (512 MB), set by the process
//! itself at start-up ([`tame`], first thing in `main`, before any thread exists), and the
//! process's memory figures the benchmarks print ([`resident`], [`arena_count`]).
//!
//! Why: glibc gives threads that allocate at the same time arenas of their own (up to 8 per
//! core) and, each time a large block it had mmapped is freed, raises its mmap threshold to that
//! block's size (up to 32 MiB). After one 26 MB page raster was freed, the next ones came from
//! the arenas of whichever thread ran the scan and stayed resident there: measured on the demo
//! panel, 23 MB idle grew ~26 MB every few colour scans to 210 MB after 17; with
//! `MALLOC_ARENA_MAX=1` it levelled at 52 MB. Pages now stream in bands (see [`crate::scan`]),
//! so no such block exists any more; these settings keep whatever else is large (upload
//! buffers, TLS records, SQLite caches) from doing the same:
//!
//! - `M_ARENA_MAX` = [`ARENA_MAX`]: the panel has a handful of busy threads (UI, tokio workers,
//!   one blocking scan or upload); two arenas cost no measurable contention and bound the
//!   memory held in free lists.
//! - `M_MMAP_THRESHOLD` = [`MMAP_THRESHOLD`]: a fixed value turns the dynamic threshold off, so
//!   every block of 256 KiB or more is its own mapping and goes back to the kernel on `free`.
//! - `M_TRIM_THRESHOLD` = [`TRIM_THRESHOLD`]: free memory at the top of the main heap beyond
//!   1 MiB is returned rather than kept (glibc's dynamic value grows with the mmap threshold).
//!
//! Why not an allocator crate (mimalloc, jemalloc): both are C libraries built for each target,
//! which adds to the aarch64/armv7 cross builds and to the binary, and both keep freed memory
//! for reuse in their own way (jemalloc's decay, mimalloc's segments) that would need tuning of
//! its own. glibc's allocator with these three settings meets the memory targets (see
//! `cargo bench --bench scan_memory`), costs no dependency and is what the board's Debian image
//! already runs.
//!
//! A technician can still override any of it with glibc's own environment variables
//! (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, or `GLIBC_TUNABLES`
//! with `glibc.malloc.*`): when any is set, [`tame`] leaves the allocator alone.

/// Arenas glibc may create.
pub const ARENA_MAX: i32 = 2;
/// Blocks of at least this many bytes are mapped on their own and unmapped on `free`.
pub const MMAP_THRESHOLD: i32 = 256 * 1024;
/// Free bytes at the top of the main heap kept before it is trimmed.
pub const TRIM_THRESHOLD: i32 = 1024 * 1024;

/// What [`tame`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorSetup {
    /// The three settings are in force.
    Tamed,
    /// The environment carries glibc malloc settings of its own; they were kept.
    LeftToEnvironment,
    /// Not glibc (musl, another OS): nothing to set.
    NotGlibc,
    /// glibc refused a setting (it never does for these values; reported, not fatal).
    Refused(&'static str),
}

/// Sets the allocator up for the board. Call once, first thing in `main`: arenas created before
/// it stay.
pub fn tame() -> AllocatorSetup {
    let env_has_own = [
        "MALLOC_ARENA_MAX",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some())
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
    if env_has_own {
        return AllocatorSetup::LeftToEnvironment;
    }
    set_all()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_all() -> AllocatorSetup {
    let settings = [
        (libc::M_ARENA_MAX, ARENA_MAX, "M_ARENA_MAX"),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD, "M_MMAP_THRESHOLD"),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD, "M_TRIM_THRESHOLD"),
    ];
    for (param, value, name) in settings {
        // SAFETY: mallopt only changes glibc's own tunables; it returns 0 on a refused value.
        if unsafe { libc::mallopt(param, value) } == 0 {
            return AllocatorSetup::Refused(name);
        }
    }
    AllocatorSetup::Tamed
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_all() -> AllocatorSetup {
    AllocatorSetup::NotGlibc
}

/// The number of arenas glibc has created so far (from `malloc_info`); `None` off glibc.
/// For benchmarks and tests.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn arena_count() -> Option<usize> {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream writes the buffer pointer and length on fclose; the buffer is
    // malloc'd by glibc and freed here once copied.
    unsafe {
        let stream = libc::open_memstream(&mut buf, &mut len);
        if stream.is_null() {
            return None;
        }
        let ok = libc::malloc_info(0, stream) == 0;
        libc::fclose(stream);
        if buf.is_null() {
            return None;
        }
        let text = std::slice::from_raw_parts(buf.cast::<u8>(), len).to_vec();
        libc::free(buf.cast());
        ok.then(|| String::from_utf8_lossy(&text).matches("<heap nr=").count())
    }
}

/// See the glibc version.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn arena_count() -> Option<usize> {
    None
}

/// Resident memory of this process now and its peak so far, in bytes (`VmRSS`, `VmHWM` of
/// `/proc/self/status`); `None` where there is no procfs.
pub fn resident() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak resident figure (`VmHWM`) to the current one, so a later [`resident`] gives
/// the peak of what happened in between. False where the kernel does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
