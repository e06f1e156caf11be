//! Time for trust decisions: the per-user PIN lockout, the panel-wide lockout and the offline
//! grace. Two rules keep a clock step from lifting a lock or stretching the grace:
//!
//! - **Monotonic within a run**: [`TrustClock::now`] never returns an earlier time than it
//!   returned before, so setting the clock back (by hand, by a bad NTP answer, by a board
//!   without a battery-backed RTC that boots at its image date) does not make a lockout last
//!   shorter in the panel's eyes nor a last confirmation look younger.
//! - **No timestamps from the future**: a stored time later than "now" (plus a small tolerance
//!   for the clock being nudged by NTP) can only come from a clock that was ahead and was then
//!   set back. [`offline_grace`] refuses such a `last_online_at` instead of computing a negative
//!   age (which never exceeds any grace); lockouts clamp such a `locked_until` to the longest
//!   lock the schedule can produce.
//!
//! A forward step (NTP correcting a slow clock) is taken as it comes: it can only shorten a lock
//! and end a grace early, and whoever can move the panel's clock forward at will could as well
//! replace its software.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// How far a stored time may be ahead of now before it counts as "from the future": NTP slews
/// a panel's clock by a few seconds; minutes mean a step.
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

/// Wall time that never runs backwards within this process.
#[derive(Debug, Default)]
pub struct TrustClock {
    latest: Mutex<Option<DateTime<Utc>>>,
}

impl TrustClock {
    pub fn new() -> Self {
        TrustClock::default()
    }

    /// The current time for trust decisions.
    pub fn now(&self) -> DateTime<Utc> {
        self.observe(Utc::now())
    }

    /// Takes a reading of the system clock and returns the trusted time for it: the reading, or
    /// the latest time returned so far if the reading is earlier.
    pub fn observe(&self, reading: DateTime<Utc>) -> DateTime<Utc> {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = match *latest {
            Some(l) if l > reading => {
                tracing::warn!(
                    back_by_ms = (l - reading).num_milliseconds(),
                    "the system clock went backwards; trust decisions keep the later time"
                );
                l
            }
            _ => reading,
        };
        *latest = Some(now);
        now
    }
}

/// Whether a cached identity may sign in offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceVerdict {
    /// Confirmed online recently enough.
    Within,
    /// Not confirmed online for longer than the grace.
    Expired,
    /// The last confirmation lies in the future: the clock was set back since. The identity must
    /// be confirmed online again.
    FromTheFuture,
}

/// The offline-grace policy: `last_online_at` must lie in `[now - grace, now + tolerance]`.
pub fn offline_grace(
    last_online_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> GraceVerdict {
    if last_online_at > now + FUTURE_TOLERANCE {
        return GraceVerdict::FromTheFuture;
    }
    if now.signed_duration_since(last_online_at) > grace {
        return GraceVerdict::Expired;
    }
    GraceVerdict::Within
}

/// A stored lock end, with any end later than `now + longest` (only a clock set back produces
/// one) clamped to `now + longest`: the lock holds, but not forever.
pub fn clamp_lock_end(
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    longest: Duration,
) -> DateTime<Utc> {
    until.min(now + longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_clock_never_runs_backwards() {
        let clock = TrustClock::new();
        assert_eq!(clock.observe(t(100)), t(100));
        assert_eq!(clock.observe(t(40)), t(100), "a step back is ignored");
        assert_eq!(clock.observe(t(101)), t(101));
        assert_eq!(clock.observe(t(5_000)), t(5_000), "a step forward is taken");
    }

    #[test]
    fn grace_table() {
        let grace = Duration::hours(72);
        let now = t(1_000_000);
        let cases = [
            (now, GraceVerdict::Within),
            (now - Duration::hours(71), GraceVerdict::Within),
            (now - Duration::hours(72), GraceVerdict::Within),
            (
                now - Duration::hours(72) - Duration::seconds(1),
                GraceVerdict::Expired,
            ),
            (now + Duration::minutes(4), GraceVerdict::Within),
            (now + Duration::minutes(6), GraceVerdict::FromTheFuture),
            // The case that used to pass: a clock set back a year makes every age negative.
            (now + Duration::days(365), GraceVerdict::FromTheFuture),
        ];
        for (last, want) in cases {
            assert_eq!(offline_grace(last, now, grace), want, "{last}");
        }
        assert_eq!(
            offline_grace(now, now, Duration::zero()),
            GraceVerdict::Within
        );
        assert_eq!(
            offline_grace(now - Duration::seconds(1), now, Duration::zero()),
            GraceVerdict::Expired
        );
    }

    #[test]
    fn lock_ends_from_the_future_are_clamped() {
        let now = t(0);
        let hour = Duration::hours(1);
        assert_eq!(clamp_lock_end(t(30), now, hour), t(30));
        assert_eq!(clamp_lock_end(t(86_400 * 400), now, hour), t(3600));
    }
}
