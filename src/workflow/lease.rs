//! Who is uploading an outbox job: a lease in the job's row, so that the panel's outbox worker
//! and a technician's `mfp-kiosk outbox run` on the same state directory never upload the same
//! job twice, and a job whose uploader died is picked up again at once.
//!
//! A job is claimed in one SQL statement (`UPDATE … WHERE state = 'queued' … RETURNING`), which
//! SQLite serialises across processes: exactly one claimant gets the row. The claim records the
//! holder (this process: pid and kernel start time, so a recycled pid is not mistaken for it)
//! and an expiry the holder renews while it uploads. A claim is abandoned, and the job goes
//! back to the queue, when its holder process no longer exists (kill -9, power cut, crash) or
//! its lease ran out (a holder that hangs). Every process sharing a state directory runs on the
//! panel's one machine (the database is a local SQLite file), so "does the holder exist" is a
//! question /proc can answer.

use std::time::Duration;

/// How long a claim holds without renewal.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often a holder renews its claim while it uploads.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);

/// The holder of a claim: `"<pid>:<start time in clock ticks since boot>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOwner(String);

impl LeaseOwner {
    /// This process.
    pub fn this_process() -> LeaseOwner {
        let pid = std::process::id();
        let start = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| start_ticks(&s));
        LeaseOwner(match start {
            Some(t) => format!("{pid}:{t}"),
            // Without /proc the pid alone still tells processes apart; expiry covers the rest.
            None => format!("{pid}:?"),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether the process that wrote `owner` is still running. An owner that can't be judged
/// (unreadable /proc, an unknown format) counts as alive: its lease then ends by expiry.
pub fn holder_alive(owner: &str) -> bool {
    let Some((pid, ticks)) = owner.split_once(':') else {
        return true;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match (ticks.parse::<u64>(), start_ticks(&stat)) {
            (Ok(want), Some(have)) => want == have,
            _ => true,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    }
}

/// Field 22 of a /proc/<pid>/stat line: the start time in clock ticks since boot. The command
/// name (field 2) is in parentheses and may contain spaces, so fields are counted from the
/// last `)`.
fn start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_not() {
        let me = LeaseOwner::this_process();
        assert!(holder_alive(me.as_str()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(
            !holder_alive(&format!("{pid}:1")),
            "the reaped child is gone"
        );
        // Our pid with another start time is a recycled pid, not us.
        let pid = std::process::id();
        assert!(!holder_alive(&format!("{pid}:1")));
    }

    #[test]
    fn start_ticks_are_read_after_the_command_name() {
        let stat = "4242 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20";
        assert_eq!(start_ticks(stat), Some(987_654));
        assert_eq!(start_ticks("garbage"), None);
        assert!(holder_alive("not-an-owner"), "unjudgeable: left to expiry");
    }
}
