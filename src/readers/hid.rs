//! Keyboard-wedge (HID) badge readers read through evdev: one [`CardRead`] per badge.
//!
//! A [`HidReader`] thread finds the configured input device (a path, `name:<evdev name>` or
//! `usb:VVVV:PPPP`), grabs it exclusively (`EVIOCGRAB`) so its keystrokes never reach the UI
//! or a console, and turns its key events into numbers: [`HidDecoder`] follows Shift and Caps
//! Lock with the US [`keymap`](super::keymap) and feeds characters to the
//! [`WedgeDecoder`](super::wedge::WedgeDecoder), timed by the kernel's event timestamps rather
//! than by when the thread got round to reading them, so a busy CPU cannot turn a burst into
//! "human typing". The same [`HidDecoder::event`] is used for the device and for recorded
//! event streams in tests.
//!
//! When the device goes away (unplugged, `ENODEV`) the thread looks for it again every
//! `rescan_interval`, and grabs it anew when it is back. It waits in `poll(2)` on the device
//! and on a pipe that [`HidHandle::stop`] writes to, so stopping is immediate.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use evdev::raw_stream::RawDevice;
use evdev::{EventType, InputEvent, KeyCode};

use super::keymap::KeyTranslator;
use super::wedge::{WedgeDecoder, WedgeReject, WedgeSettings};
use super::{CardRead, CardSource};
use crate::config::{KeyboardWedgeConfig, Terminator, WedgeDevice};

/// What went wrong starting or stopping the keyboard-wedge reader thread.
#[derive(Debug, thiserror::Error)]
pub enum HidError {
    #[error("could not start the keyboard-wedge reader thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the keyboard-wedge reader thread panicked")]
    Panicked,
}

/// How the reader types and how often a missing device is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidSettings {
    pub wedge: WedgeSettings,
    pub rescan_interval: Duration,
}

impl Default for HidSettings {
    fn default() -> Self {
        HidSettings {
            wedge: WedgeSettings::default(),
            rescan_interval: Duration::from_secs(1),
        }
    }
}

impl HidSettings {
    /// Settings from `[readers.keyboard_wedge]`.
    pub fn from_config(config: &KeyboardWedgeConfig) -> Self {
        HidSettings {
            wedge: WedgeSettings {
                min_length: config.min_length,
                max_length: config.max_length,
                max_key_gap: Duration::from_millis(config.max_key_gap_ms),
                terminator: match config.terminator {
                    Terminator::Enter => '\n',
                    Terminator::Tab => '\t',
                },
            },
            ..HidSettings::default()
        }
    }
}

/// `SYN_DROPPED`: the kernel's buffer overflowed and events were lost.
const SYN_DROPPED: u16 = 3;

/// Key events of one device in, card numbers out.
#[derive(Debug)]
pub struct HidDecoder {
    keys: KeyTranslator,
    wedge: WedgeDecoder,
    /// Maps the kernel's wall-clock event times onto `Instant`s: the first event's time and
    /// the `Instant` it was taken for. Only differences between events matter to the decoder.
    anchor: Option<(SystemTime, Instant)>,
    /// Time of the last event with a valid timestamp.
    last: Option<SystemTime>,
}

impl HidDecoder {
    pub fn new(settings: WedgeSettings) -> Self {
        HidDecoder {
            keys: KeyTranslator::new(),
            wedge: WedgeDecoder::new(settings),
            anchor: None,
            last: None,
        }
    }

    /// Handles one input event as read from the device. Returns a completed read, if any;
    /// a second one completed by the same event comes from [`Self::next_pending`].
    pub fn event(&mut self, ev: &InputEvent) -> Option<Result<String, WedgeReject>> {
        match ev.event_type() {
            EventType::KEY => {
                let c = self.keys.key_event(ev.code(), ev.value())?;
                let at = self.instant(event_time(ev));
                let mut buf = [0u8; 4];
                self.wedge.feed(c.encode_utf8(&mut buf), at)
            }
            EventType::SYNCHRONIZATION if ev.code() == SYN_DROPPED => {
                // Some keys of this burst are lost; whatever it would yield is wrong.
                tracing::warn!("input events were dropped by the kernel; partial read discarded");
                self.reset();
                None
            }
            _ => None,
        }
    }

    pub fn next_pending(&mut self) -> Option<Result<String, WedgeReject>> {
        self.wedge.next_pending()
    }

    /// Wipes an unterminated burst once the reader has been quiet long enough.
    pub fn clear_if_idle(&mut self, now: SystemTime) {
        if self.anchor.is_some() {
            let at = self.instant(Some(now));
            self.wedge.clear_if_idle(at);
        }
    }

    /// Forgets keys and modifier state, e.g. after the device was unplugged.
    pub fn reset(&mut self) {
        self.keys = KeyTranslator::new();
        self.wedge.reset();
    }

    /// `None` (a malformed timestamp) counts as "same time as the previous key".
    fn instant(&mut self, t: Option<SystemTime>) -> Instant {
        let t = match (t, self.last) {
            (Some(t), _) => t,
            (None, Some(last)) => last,
            (None, None) => SystemTime::now(),
        };
        self.last = Some(t);
        let (t0, i0) = *self.anchor.get_or_insert_with(|| (t, Instant::now()));
        match t.duration_since(t0) {
            Ok(after) => i0.checked_add(after).unwrap_or(i0),
            Err(e) => i0.checked_sub(e.duration()).unwrap_or(i0),
        }
    }
}

/// The kernel's timestamp of `ev`, or `None` when it is not a valid `timeval` (the kernel
/// never sends one, but a recorded or forged stream might; evdev's own conversion would
/// overflow on it).
fn event_time(ev: &InputEvent) -> Option<SystemTime> {
    let raw: libc::input_event = (*ev).into();
    let secs = u64::try_from(raw.time.tv_sec).ok()?;
    let micros = u32::try_from(raw.time.tv_usec)
        .ok()
        .filter(|us| *us < 1_000_000)?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, micros * 1000))
}

/// Starts the reader thread.
pub struct HidReader;

impl HidReader {
    /// Spawns the thread for the device `selector` names; `on_card` runs on it once per badge.
    /// A device that is not there yet is waited for.
    pub fn spawn(
        selector: WedgeDevice,
        settings: HidSettings,
        on_card: impl Fn(CardRead) + Send + 'static,
    ) -> Result<HidHandle, HidError> {
        let (stop_rx, stop_tx) = std::io::pipe().map_err(HidError::Spawn)?;
        let grabbed = Arc::new(Mutex::new(None));
        let shown = grabbed.clone();
        let wanted = format!("{selector:?}");
        let thread = std::thread::Builder::new()
            .name("hid-reader".into())
            .spawn(move || run(&selector, &settings, &stop_rx, &on_card, &shown))
            .map_err(HidError::Spawn)?;
        Ok(HidHandle {
            stop: Some(stop_tx),
            thread: Some(thread),
            wanted,
            grabbed,
        })
    }
}

/// The running reader thread. Dropping it stops the thread and releases the grab.
#[derive(Debug)]
pub struct HidHandle {
    stop: Option<std::io::PipeWriter>,
    thread: Option<JoinHandle<()>>,
    wanted: String,
    grabbed: Arc<Mutex<Option<String>>>,
}

/// What the wedge reader thread is doing, for the technician's reader check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidStatus {
    /// The configured device, as the selector reads.
    pub wanted: String,
    /// The device node (and its name) grabbed now; `None` while waiting for it.
    pub grabbed: Option<String>,
}

impl HidHandle {
    pub fn status(&self) -> HidStatus {
        HidStatus {
            wanted: self.wanted.clone(),
            grabbed: self
                .grabbed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    pub fn stop(mut self) -> Result<(), HidError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), HidError> {
        if let Some(mut tx) = self.stop.take() {
            // Closing the pipe alone would wake the thread too; the byte makes it explicit.
            let _ = tx.write_all(&[1]);
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| HidError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for HidHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::error!("{e}");
        }
    }
}

/// What a wait in `poll(2)` ended with.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Stop,
    Device,
    Timeout,
}

fn wait(stop: &std::io::PipeReader, device: Option<BorrowedFd<'_>>, timeout: Duration) -> Wake {
    let mut fds = vec![libc::pollfd {
        fd: stop.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if let Some(d) = device {
        fds.push(libc::pollfd {
            fd: d.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
    }
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a live, correctly sized array of pollfd for the whole call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        // EINTR: treat as a timeout, the caller loops.
        return Wake::Timeout;
    }
    if fds[0].revents != 0 {
        return Wake::Stop;
    }
    if fds.get(1).is_some_and(|f| f.revents != 0) {
        return Wake::Device;
    }
    Wake::Timeout
}

fn run(
    selector: &WedgeDevice,
    settings: &HidSettings,
    stop: &std::io::PipeReader,
    on_card: &dyn Fn(CardRead),
    grabbed: &Mutex<Option<String>>,
) {
    let set_grabbed = |v: Option<String>| *grabbed.lock().unwrap_or_else(|e| e.into_inner()) = v;
    let mut decoder = HidDecoder::new(settings.wedge);
    let mut reported_missing = false;
    loop {
        let found = find_device(selector);
        let Some((path, mut device)) = found else {
            if !reported_missing {
                tracing::warn!(device = ?selector, "keyboard-wedge reader not found; waiting for it");
                reported_missing = true;
            }
            if wait(stop, None, settings.rescan_interval) == Wake::Stop {
                return;
            }
            continue;
        };
        if let Err(e) = device.grab() {
            tracing::warn!(path = %path.display(), error = %e,
                "cannot grab the keyboard-wedge reader exclusively; retrying");
            if wait(stop, None, settings.rescan_interval) == Wake::Stop {
                return;
            }
            continue;
        }
        reported_missing = false;
        tracing::info!(path = %path.display(), name = device.name().unwrap_or(""),
            "keyboard-wedge reader grabbed");
        set_grabbed(Some(format!(
            "{} ({})",
            path.display(),
            device.name().unwrap_or("unnamed")
        )));
        decoder.reset();
        let stopped = read_device(&mut device, &mut decoder, stop, on_card);
        // Dropping the device closes it, which releases the grab.
        drop(device);
        set_grabbed(None);
        decoder.reset();
        if stopped {
            return;
        }
        tracing::warn!(path = %path.display(), "keyboard-wedge reader disconnected");
    }
}

/// Reads the device until it disappears (`false`) or the thread is stopped (`true`).
fn read_device(
    device: &mut RawDevice,
    decoder: &mut HidDecoder,
    stop: &std::io::PipeReader,
    on_card: &dyn Fn(CardRead),
) -> bool {
    loop {
        match wait(stop, Some(device.as_fd()), Duration::from_millis(500)) {
            Wake::Stop => {
                let mut byte = [0u8; 1];
                let _ = (&*stop).read(&mut byte);
                return true;
            }
            Wake::Timeout => {
                decoder.clear_if_idle(SystemTime::now());
                continue;
            }
            Wake::Device => {}
        }
        let events: Vec<InputEvent> = match device.fetch_events() {
            Ok(events) => events.collect(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return false,
        };
        for ev in &events {
            let mut next = decoder.event(ev);
            while let Some(result) = next {
                deliver(result, on_card);
                next = decoder.next_pending();
            }
        }
    }
}

fn deliver(result: Result<String, WedgeReject>, on_card: &dyn Fn(CardRead)) {
    match result {
        Ok(raw) => {
            tracing::info!("badge read by the keyboard-wedge reader");
            on_card(CardRead {
                source: CardSource::Wedge,
                raw,
            });
        }
        Err(reason) => tracing::debug!(%reason, "keyboard-wedge input ignored"),
    }
}

/// Opens the device the selector names. For name and USB id, the first matching device that
/// has an Enter key: a USB reader often also exposes a consumer-control node.
fn find_device(selector: &WedgeDevice) -> Option<(PathBuf, RawDevice)> {
    match selector {
        WedgeDevice::Path(p) => open_path(p),
        WedgeDevice::Name(name) => evdev::raw_stream::enumerate()
            .find(|(_, d)| d.name() == Some(name.as_str()) && types_keys(d)),
        WedgeDevice::Usb { vendor, product } => evdev::raw_stream::enumerate().find(|(_, d)| {
            let id = d.input_id();
            id.vendor() == *vendor && id.product() == *product && types_keys(d)
        }),
    }
}

fn open_path(p: &Path) -> Option<(PathBuf, RawDevice)> {
    match RawDevice::open(p) {
        Ok(d) => Some((p.to_path_buf(), d)),
        Err(e) => {
            tracing::debug!(path = %p.display(), error = %e, "cannot open input device");
            None
        }
    }
}

fn types_keys(d: &RawDevice) -> bool {
    d.supported_keys()
        .is_some_and(|k| k.contains(KeyCode::KEY_ENTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t_us: i64, code: u16, value: i32) -> InputEvent {
        // time_t and suseconds_t are 32-bit on armv7 (gnueabihf): the test times fit either.
        InputEvent::from(libc::input_event {
            time: libc::timeval {
                tv_sec: (1_700_000_000 + t_us / 1_000_000) as libc::time_t,
                tv_usec: (t_us % 1_000_000) as libc::suseconds_t,
            },
            type_: EventType::KEY.0,
            code,
            value,
        })
    }

    #[test]
    fn syn_dropped_discards_the_partial_burst() {
        let mut d = HidDecoder::new(WedgeSettings::default());
        for (i, code) in [2u16, 3, 4].into_iter().enumerate() {
            assert_eq!(d.event(&key(i as i64 * 1000, code, 1)), None);
        }
        let dropped = InputEvent::new(EventType::SYNCHRONIZATION.0, SYN_DROPPED, 0);
        assert_eq!(d.event(&dropped), None);
        for (i, code) in [5u16, 6, 7, 8].into_iter().enumerate() {
            d.event(&key(10_000 + i as i64 * 1000, code, 1));
        }
        assert_eq!(d.event(&key(15_000, 28, 1)), Some(Ok("4567".into())));
    }

    #[test]
    fn event_time_not_read_time_decides() {
        // All events are handled at once here, as after a stall, yet their kernel times are
        // 300 ms apart: a person typing.
        let mut d = HidDecoder::new(WedgeSettings::default());
        let mut last = None;
        for (i, code) in [2u16, 3, 4, 5, 6, 28].into_iter().enumerate() {
            last = d.event(&key(i as i64 * 300_000, code, 1));
        }
        assert_eq!(last, Some(Err(WedgeReject::TooSlow)));
    }

    #[test]
    fn config_terminator_and_timing_are_used() {
        let cfg = KeyboardWedgeConfig {
            device: "usb:0c27:3bfa".into(),
            min_length: 6,
            max_length: 10,
            max_key_gap_ms: 30,
            terminator: Terminator::Tab,
        };
        let s = HidSettings::from_config(&cfg);
        assert_eq!(s.wedge.terminator, '\t');
        assert_eq!(s.wedge.max_key_gap, Duration::from_millis(30));
        assert_eq!((s.wedge.min_length, s.wedge.max_length), (6, 10));
    }
}
