//! The panel process under systemd (`Type=notify`, `WatchdogSec=` in device/mfp-kiosk.service):
//! `READY=1` once the first frame is on the screen, `WATCHDOG=1` pings from a timer on the UI
//! thread, `STOPPING=1` at exit, and the "first frame" log line the start-up time is measured by.
//! Outside systemd (no `NOTIFY_SOCKET`, no `WATCHDOG_USEC`) every call is a no-op.
//!
//! The pings come from the Slint event loop on purpose: a UI thread that hangs (a blocking call,
//! a render loop that never returns) stops pinging, and systemd kills and restarts the panel.

use std::time::Duration;

use sd_notify::NotifyState;

/// Why a start-up measurement could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot read {path}: {source}")]
    Proc {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("unexpected format of {path}: {detail}")]
    ProcFormat { path: &'static str, detail: String },
}

/// Keeps the watchdog timer alive; the pings stop when it is dropped.
#[must_use = "the watchdog pings stop when this is dropped"]
pub struct Watchdog {
    _timer: Option<slint::Timer>,
}

/// Call on the UI thread right before `run()`: once the event loop has drawn its first frame,
/// logs "first frame" with the time since the process started, tells systemd the service is
/// ready and starts the watchdog pings (if the unit has `WatchdogSec=`).
///
/// The callback is queued with `invoke_from_event_loop` before the loop runs: Slint's linuxkms
/// loop renders and presents pending redraws before it dispatches queued callbacks, so the
/// callback runs right after the first frame was handed to the display.
pub fn on_first_frame(status: &'static str) -> Watchdog {
    let first = slint::invoke_from_event_loop(move || {
        match since_process_start() {
            Ok(elapsed) => {
                tracing::info!(since_start_ms = elapsed.as_millis() as u64, "first frame")
            }
            Err(e) => tracing::info!(cause = %e, "first frame (start-up time unknown)"),
        }
        notify(&[NotifyState::Ready, NotifyState::Status(status)]);
    });
    if let Err(e) = first {
        tracing::warn!("cannot queue the first-frame notification: {e}");
    }
    start_watchdog(sd_notify::watchdog_enabled())
}

/// Tells systemd the panel is shutting down (so a slow exit is not taken for a hang).
pub fn notify_stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Starts the UI-thread timer that pings systemd at half the watchdog timeout (what
/// sd_watchdog_enabled(3) recommends), or nothing when the unit has no watchdog.
fn start_watchdog(timeout: Option<Duration>) -> Watchdog {
    let Some(timeout) = timeout else {
        return Watchdog { _timer: None };
    };
    let interval = ping_interval(timeout);
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        "systemd watchdog enabled"
    );
    let timer = slint::Timer::default();
    timer.start(slint::TimerMode::Repeated, interval, || {
        notify(&[NotifyState::Watchdog])
    });
    Watchdog {
        _timer: Some(timer),
    }
}

/// Half the timeout, but never so short that the pings themselves load the panel.
fn ping_interval(timeout: Duration) -> Duration {
    (timeout / 2).max(Duration::from_millis(100))
}

fn notify(state: &[NotifyState]) {
    // A lost notification is not fatal: systemd times the start or the watchdog out and
    // restarts the panel, which is the right outcome for a service that cannot reach it.
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// Time since this process was started by the kernel: field 22 of /proc/self/stat (start time
/// in clock ticks since boot) against /proc/uptime. It covers loading the binary and its shared
/// libraries too, which an `Instant` taken in `main` would not.
pub fn since_process_start() -> Result<Duration, SystemdError> {
    let stat = read_proc("/proc/self/stat")?;
    let uptime = read_proc("/proc/uptime")?;
    elapsed_since_start(&stat, &uptime)
}

fn read_proc(path: &'static str) -> Result<String, SystemdError> {
    std::fs::read_to_string(path).map_err(|source| SystemdError::Proc { path, source })
}

/// USER_HZ, the unit of /proc's tick counts: 100 on every Linux architecture (the kernel
/// scales its internal HZ to it for user space).
const USER_HZ: u64 = 100;

fn elapsed_since_start(stat: &str, uptime: &str) -> Result<Duration, SystemdError> {
    // The command name (field 2) is in parentheses and may contain spaces: count from the
    // last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let after_comm =
        stat.rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| SystemdError::ProcFormat {
                path: "/proc/self/stat",
                detail: "no `)` after the command name".into(),
            })?;
    let start_ticks: u64 = after_comm
        .split_whitespace()
        .nth(19)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| SystemdError::ProcFormat {
            path: "/proc/self/stat",
            detail: "field 22 (starttime) missing".into(),
        })?;
    let uptime_secs: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| SystemdError::ProcFormat {
            path: "/proc/uptime",
            detail: format!("`{}`", uptime.trim()),
        })?;
    let started = Duration::from_millis(start_ticks * 1000 / USER_HZ);
    Ok(Duration::from_secs_f64(uptime_secs).saturating_sub(started))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn elapsed_is_uptime_minus_start_ticks() {
        // A command name with spaces and a ')' must not shift the fields.
        let stat =
            "4242 (mfp (kiosk) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 1234 0 0";
        let elapsed = elapsed_since_start(stat, "15.50 30.00\n").unwrap();
        assert_eq!(elapsed, Duration::from_millis(15_500 - 12_340));
        // A clock read just before the tick rolled over must not underflow.
        assert_eq!(
            elapsed_since_start(stat, "12.00 1.0").unwrap(),
            Duration::ZERO
        );
    }

    #[test]
    fn malformed_proc_files_are_errors() {
        assert!(matches!(
            elapsed_since_start("4242 mfp", "1 1"),
            Err(SystemdError::ProcFormat { .. })
        ));
        assert!(matches!(
            elapsed_since_start("1 (x) S 1", "1 1"),
            Err(SystemdError::ProcFormat { .. })
        ));
        let stat = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0";
        assert!(matches!(
            elapsed_since_start(stat, "nan 1"),
            Err(SystemdError::ProcFormat { .. })
        ));
    }

    #[test]
    fn own_process_start_is_in_the_past() {
        let elapsed = since_process_start().unwrap();
        assert!(elapsed < Duration::from_secs(24 * 3600), "{elapsed:?}");
    }

    #[test]
    fn ping_interval_is_half_the_timeout() {
        assert_eq!(
            ping_interval(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(
            ping_interval(Duration::from_millis(50)),
            Duration::from_millis(100)
        );
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// The only test that sets NOTIFY_SOCKET (process-wide), so it cannot race another one.
    #[test]
    fn notifications_reach_the_socket_and_the_watchdog_pings_from_the_ui_timer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);

        notify(&[NotifyState::Ready, NotifyState::Status("idle page shown")]);
        assert_eq!(recv(&sock), "READY=1\nSTATUS=idle page shown\n");
        notify_stopping();
        assert_eq!(recv(&sock), "STOPPING=1\n");

        // Slint's testing platform drives the timers by mocked time: no sleeping.
        i_slint_backend_testing::init_no_event_loop();
        let watchdog = start_watchdog(Some(Duration::from_secs(20)));
        sock.set_nonblocking(true).unwrap();
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(9_000));
        assert!(
            sock.recv(&mut [0u8; 64]).is_err(),
            "pinged before half the timeout"
        );
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1_000));
        assert_eq!(recv(&sock), "WATCHDOG=1\n");
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(10_000));
        assert_eq!(recv(&sock), "WATCHDOG=1\n");
        drop(watchdog);
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(10_000));
        assert!(
            sock.recv(&mut [0u8; 64]).is_err(),
            "pinged after the watchdog was dropped"
        );

        assert!(start_watchdog(None)._timer.is_none());
        std::env::remove_var("NOTIFY_SOCKET");
        notify(&[NotifyState::Ready]); // outside systemd: no socket, no error
    }
}
