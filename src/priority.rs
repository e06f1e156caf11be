//! CPU priority of the panel's background work. On a two-core board the SCIM endpoint's bulk
//! provisioning (Entra's service sends thousands of requests in a burst) and a walk-up user's
//! sign-in compete for the same cores: the person at the panel comes first. Linux niceness is
//! a property of each thread, so background threads lower their own as they start.

/// How much nicer than the panel its background threads run. At +10 the scheduler's weight
/// is 110 against the panel's 1024: under contention a panel thread gets about nine tenths of
/// a core against one background thread, and the background work still gets all the CPU the
/// panel leaves idle.
pub const BACKGROUND_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`BACKGROUND_NICENESS`].
pub fn lower_this_thread() {
    renice_this_thread(BACKGROUND_NICENESS);
}

/// Lowers the calling thread's priority by `by` (0 to 19). Best effort: lowering needs no
/// privilege, and a thread it failed for simply keeps the panel's priority.
pub fn renice_this_thread(by: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain integer arguments; on Linux PRIO_PROCESS with a thread id addresses
        // that one thread.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (now + by).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

/// The calling thread's niceness (Linux; 0 elsewhere).
pub fn this_thread_niceness() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain integer arguments.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_background_thread_is_nicer_and_the_caller_is_not() {
        let before = this_thread_niceness();
        let background = std::thread::spawn(|| {
            lower_this_thread();
            this_thread_niceness()
        })
        .join()
        .unwrap();
        assert_eq!(background, (before + BACKGROUND_NICENESS).min(19));
        assert_eq!(
            this_thread_niceness(),
            before,
            "only the calling thread changes"
        );
    }
}
