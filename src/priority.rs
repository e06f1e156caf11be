//! CPU priority of the panel's background work. On a two-core board the SCIM endpoint's bulk
//! provisioning (Entra's service sends thousands of requests in a burst) and a walk-up user's
//! sign-in compete for the same cores: the person at the panel comes first. Linux niceness is
//! a property of each thread, so background threads lower their own as they start.
//!
//! Niceness alone lets a running nice +10 thread keep the core for the rest of its slice when a
//! sign-in thread wakes; `SCHED_IDLE` threads give it up at once (measured with
//! `benches/scim_load.rs`: sign-in p99 under load 1.65-1.82x idle, 1.97-2.15x with niceness
//! alone). They still get every cycle the panel leaves idle (most of them: a
//! panel waits for people). The niceness stays as the fallback where `SCHED_IDLE` is refused.

/// How much nicer than the panel its background threads run. At +10 the scheduler's weight
/// is 110 against the panel's 1024: under contention a panel thread gets about nine tenths of
/// a core against one background thread, and the background work still gets all the CPU the
/// panel leaves idle.
pub const BACKGROUND_NICENESS: i32 = 10;

/// Makes the calling thread background work: the `SCHED_IDLE` policy (Linux) and
/// [`BACKGROUND_NICENESS`].
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` outlives the call. Moving to SCHED_IDLE
        // needs no privilege; a refusal leaves the thread as it was (then only the niceness
        // below applies).
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        }
    }
    renice_this_thread(BACKGROUND_NICENESS);
}

/// Whether the calling thread runs under `SCHED_IDLE` (Linux; false elsewhere).
pub fn this_thread_is_idle_class() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pid 0 is the calling thread.
        unsafe { libc::sched_getscheduler(0) == libc::SCHED_IDLE }
    }
    #[cfg(not(target_os = "linux"))]
    false
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
        // The caller's own class as it came (a test run under `chrt -i` starts idle already).
        let caller_idle = this_thread_is_idle_class();
        let (background, idle_class) = std::thread::spawn(|| {
            lower_this_thread();
            (this_thread_niceness(), this_thread_is_idle_class())
        })
        .join()
        .unwrap();
        assert_eq!(background, (before + BACKGROUND_NICENESS).min(19));
        #[cfg(target_os = "linux")]
        assert!(idle_class, "background threads run under SCHED_IDLE");
        assert_eq!(this_thread_is_idle_class(), caller_idle);
        assert_eq!(
            this_thread_niceness(),
            before,
            "only the calling thread changes"
        );
    }
}
