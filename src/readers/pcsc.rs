//! PC/SC contactless readers through pcscd: one [`ReaderEvent`] per card tap.
//!
//! A [`PcscReader`] runs on its own thread. It watches every reader pcscd knows, plus the
//! `\\?PnP?\Notification` pseudo reader so readers plugged in later are watched too, and blocks
//! in `SCardGetStatusChange` without a timeout. When a card arrives it connects, sends
//! `FF CA 00 00 00` (GET DATA: UID) and takes the answer when the status word is `90 00`;
//! when GET DATA is refused it sends the configured APDU, if there is one. A card that
//! answers neither with data is [`ReaderEvent::Unreadable`] (the status word, never card
//! bytes), and the reason is kept per reader in [`PcscStatus::last_failure`]. The ATR is never
//! used as a number: it identifies a card product, not a card, so every card of a model would
//! sign in as whoever linked the first one.
//!
//! One event per tap: pcscd counts insertions and removals per reader (the upper 16 bits of
//! the event state), so a card that stays on the reader is read once however often the thread
//! wakes up, and a removal re-arms the reader, even when removal and re-insertion both happen
//! between two wake-ups. When the connection to pcscd is lost (pcscd restarted, crashed,
//! socket gone) the thread re-establishes its context with exponential backoff; a card that
//! lay on a reader across the outage is recognised by its UID and not reported again.
//!
//! Stopping: [`PcscHandle::stop`] raises a flag and calls `SCardCancel` on the thread's context
//! from the caller's thread, which ends the blocking wait at once.
//!
//! UIDs are card numbers and so secrets: they are never logged; the thread keeps only a hash
//! of the last UID per reader.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ::pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};
use sha2::{Digest, Sha256};

use super::{CardRead, CardSource, ReaderEvent, UnreadableReason};
use crate::config::{ConfigError, PcscConfig};

/// `FF CA 00 00 00`: PC/SC part 3 GET DATA, "UID of the card".
pub const GET_UID_APDU: [u8; 5] = [0xFF, 0xCA, 0x00, 0x00, 0x00];

/// What went wrong starting or stopping the PC/SC reader thread.
#[derive(Debug, thiserror::Error)]
pub enum PcscError {
    #[error("could not start the PC/SC reader thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the PC/SC reader thread panicked")]
    Panicked,
}

/// How the reader thread reads cards and retries pcscd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcscSettings {
    /// Sent when GET DATA is refused; with `None` (or GET DATA itself), such a card is
    /// unreadable.
    pub fallback_apdu: Option<Vec<u8>>,
    /// First wait before re-establishing a lost pcscd context.
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
}

impl Default for PcscSettings {
    fn default() -> Self {
        PcscSettings {
            fallback_apdu: None,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(3),
        }
    }
}

impl PcscSettings {
    /// Settings from `[readers.pcsc]`; the configured APDU is the fallback after GET DATA.
    pub fn from_config(config: &PcscConfig) -> Result<Self, ConfigError> {
        let apdu = config.apdu_bytes()?;
        Ok(PcscSettings {
            fallback_apdu: (apdu != GET_UID_APDU).then_some(apdu),
            ..PcscSettings::default()
        })
    }
}

/// Whether the thread currently talks to pcscd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceState {
    #[default]
    Starting,
    /// A context is established and readers are being watched.
    Connected,
    /// pcscd is not reachable; the thread retries with backoff.
    Unavailable,
    Stopped,
}

/// A snapshot for diagnostics (technician menu) and tests. Holds no card data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcscStatus {
    pub service: ServiceState,
    /// Readers being watched, as pcscd names them.
    pub readers: Vec<String>,
    /// Readers with a card on them now.
    pub with_card: Vec<String>,
    /// Cards reported (one per tap).
    pub cards_read: u64,
    /// Taps whose number could not be read (unreadable cards, and cards that could not be
    /// connected to or were taken away during the read).
    pub failed_reads: u64,
    /// Per reader, why the last unreadable card gave no number, for the technician's reader
    /// check. Kept after later good reads; a status word, never card data.
    pub last_failure: BTreeMap<String, UnreadableReason>,
    /// Contexts established so far; more than one means the thread recovered from an outage.
    pub contexts: u64,
    /// The last pcscd error, for the diagnostics screen.
    pub last_error: Option<String>,
}

/// Starts the reader thread.
pub struct PcscReader;

impl PcscReader {
    /// Spawns the thread; `on_event` runs on it once per tap (a card read, or a card that
    /// gave no number) and should hand the event on quickly (a channel send), since the
    /// reader is not watched while it runs.
    pub fn spawn(
        settings: PcscSettings,
        on_event: impl Fn(ReaderEvent) + Send + 'static,
    ) -> Result<PcscHandle, PcscError> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pcsc-reader".into())
            .spawn(move || run(&thread_shared, &settings, &on_event))
            .map_err(PcscError::Spawn)?;
        Ok(PcscHandle {
            shared,
            thread: Some(thread),
        })
    }
}

/// The running reader thread. Dropping it stops the thread too.
pub struct PcscHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PcscHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscHandle")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl PcscHandle {
    pub fn status(&self) -> PcscStatus {
        lock(&self.shared.status).clone()
    }

    /// Waits until `done` holds for the status or `timeout` passes; returns the last status
    /// seen and whether `done` held.
    pub fn wait_status(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&PcscStatus) -> bool,
    ) -> (PcscStatus, bool) {
        let deadline = Instant::now() + timeout;
        let mut status = lock(&self.shared.status);
        loop {
            if done(&status) {
                return (status.clone(), true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (status.clone(), false);
            }
            status = match self.shared.status_changed.wait_timeout(status, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Stops the thread: cancels its blocking pcscd call and waits for it to end.
    pub fn stop(mut self) -> Result<(), PcscError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), PcscError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        // The thread may be between two calls when the first cancel arrives, and SCardCancel
        // only ends a call in progress; repeat until it is gone.
        while !thread.is_finished() {
            if let Some(ctx) = lock(&self.shared.context).as_ref() {
                let _ = ctx.cancel();
            }
            self.shared.wake.notify_all();
            std::thread::sleep(Duration::from_millis(20));
        }
        thread.join().map_err(|_| PcscError::Panicked)
    }
}

impl Drop for PcscHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::error!("{e}");
        }
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The thread's current context, published so `stop` can cancel it.
    context: Mutex<Option<Context>>,
    status: Mutex<PcscStatus>,
    status_changed: Condvar,
    /// Backoff sleeps wait on this so `stop` can cut them short.
    wake: Condvar,
    wake_lock: Mutex<()>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn update(&self, f: impl FnOnce(&mut PcscStatus)) {
        f(&mut lock(&self.status));
        self.status_changed.notify_all();
    }

    fn sleep(&self, d: Duration) {
        let guard = lock(&self.wake_lock);
        if !self.stopping() {
            let _ = self.wake.wait_timeout(guard, d);
        }
    }
}

/// Locks, taking over a mutex poisoned by a panicking holder (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run(shared: &Shared, settings: &PcscSettings, on_event: &dyn Fn(ReaderEvent)) {
    let mut tracker = Tracker::default();
    let mut backoff = settings.backoff_initial;
    while !shared.stopping() {
        let ctx = match Context::establish(Scope::User) {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::debug!(error = %e, "pcscd not reachable; retrying in {backoff:?}");
                shared.update(|s| {
                    s.service = ServiceState::Unavailable;
                    s.readers.clear();
                    s.with_card.clear();
                    s.last_error = Some(e.to_string());
                });
                shared.sleep(backoff);
                backoff = (backoff * 2).min(settings.backoff_max);
                continue;
            }
        };
        *lock(&shared.context) = Some(ctx.clone());
        shared.update(|s| s.contexts += 1);
        let result = watch(shared, &ctx, settings, &mut tracker, on_event, &mut backoff);
        lock(&shared.context).take();
        drop(ctx);
        tracker.context_lost(Instant::now());
        match result {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "lost pcscd; reconnecting in {backoff:?}");
                shared.update(|s| {
                    s.service = ServiceState::Unavailable;
                    s.readers.clear();
                    s.with_card.clear();
                    s.last_error = Some(e.to_string());
                });
                shared.sleep(backoff);
                backoff = (backoff * 2).min(settings.backoff_max);
            }
        }
    }
    shared.update(|s| {
        s.service = ServiceState::Stopped;
        s.readers.clear();
        s.with_card.clear();
    });
}

/// Watches readers on one context until stopped (`Ok`) or the context fails (`Err`).
fn watch(
    shared: &Shared,
    ctx: &Context,
    settings: &PcscSettings,
    tracker: &mut Tracker,
    on_event: &dyn Fn(ReaderEvent),
    backoff: &mut Duration,
) -> Result<(), ::pcsc::Error> {
    let mut states = vec![ReaderState::new(::pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
    let mut relist = true;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        if relist {
            let names = match ctx.list_readers_owned() {
                Ok(names) => names,
                Err(::pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => return Err(e),
            };
            states = rebuild_states(states, &names);
            let shown: Vec<String> = names
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            tracker.retain_readers(&shown, Instant::now());
            tracing::info!(readers = ?shown, "watching PC/SC readers");
            shared.update(|s| {
                s.service = ServiceState::Connected;
                s.readers = shown;
            });
            relist = false;
        }
        match ctx.get_status_change(None, &mut states) {
            Ok(()) => {}
            Err(::pcsc::Error::Timeout | ::pcsc::Error::Cancelled) => continue,
            // A reader vanished between the listing and the wait.
            Err(::pcsc::Error::UnknownReader) => {
                relist = true;
                continue;
            }
            Err(e) => return Err(e),
        }
        // The context works: the next outage starts again with a short wait.
        *backoff = settings.backoff_initial;
        let mut with_card = Vec::new();
        for rs in states.iter_mut() {
            let event = rs.event_state();
            if rs.name() == ::pcsc::PNP_NOTIFICATION() {
                if event.contains(State::CHANGED) {
                    relist = true;
                }
                rs.sync_current_state();
                continue;
            }
            if event.intersects(State::UNKNOWN | State::IGNORE) {
                relist = true;
                rs.sync_current_state();
                continue;
            }
            let name = rs.name().to_string_lossy().into_owned();
            let present = event.contains(State::PRESENT) && !event.contains(State::MUTE);
            if present {
                with_card.push(name.clone());
            }
            if tracker.observe(&name, present, rs.event_count()) {
                match read_card(ctx, rs.name(), settings) {
                    Ok(raw) => {
                        if tracker.accept(&name, &raw, Instant::now()) {
                            tracing::info!(reader = %name, "card read");
                            shared.update(|s| s.cards_read += 1);
                            on_event(ReaderEvent::Card(CardRead {
                                source: CardSource::Pcsc,
                                raw,
                            }));
                        } else {
                            tracing::debug!(reader = %name, "same card still on the reader");
                        }
                    }
                    Err(ReadError::Unreadable(reason)) => {
                        tracing::warn!(reader = %name, %reason, "card refused: no readable UID");
                        shared.update(|s| {
                            s.failed_reads += 1;
                            s.last_failure.insert(name.clone(), reason);
                        });
                        on_event(ReaderEvent::Unreadable {
                            source: CardSource::Pcsc,
                            reason,
                        });
                    }
                    // The card went before it could be read: nothing to tell the user that a
                    // second tap would not fix.
                    Err(e) => {
                        tracing::warn!(reader = %name, error = %e, "could not read the card");
                        shared.update(|s| s.failed_reads += 1);
                    }
                }
            }
            rs.sync_current_state();
        }
        if lock(&shared.status).with_card != with_card {
            shared.update(|s| s.with_card = with_card);
        }
    }
}

/// New reader states for `names`, keeping what was already known about readers that stay.
fn rebuild_states(old: Vec<ReaderState>, names: &[CString]) -> Vec<ReaderState> {
    let mut kept: HashMap<CString, ReaderState> = HashMap::new();
    let mut out = Vec::with_capacity(names.len() + 1);
    for rs in old {
        if rs.name() == ::pcsc::PNP_NOTIFICATION() {
            out.push(rs);
        } else {
            kept.insert(rs.name().to_owned(), rs);
        }
    }
    for name in names {
        let rs = kept
            .remove(name.as_c_str())
            .unwrap_or_else(|| ReaderState::new(name.clone(), State::UNAWARE));
        out.push(rs);
    }
    out
}

/// Why one card could not be read. Carries no card data.
#[derive(Debug)]
enum ReadError {
    /// Connecting failed (the card left, another application holds it).
    Connect(::pcsc::Error),
    /// The card left or was reset during the exchange.
    Gone(::pcsc::Error),
    /// The card is there but answered no UID: refused, and reported.
    Unreadable(UnreadableReason),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Connect(e) => write!(f, "connecting to the card failed: {e}"),
            ReadError::Gone(e) => write!(f, "the card went during the read: {e}"),
            ReadError::Unreadable(reason) => write!(f, "{reason}"),
        }
    }
}

/// Attempts at connecting while another application holds the card briefly.
const CONNECT_ATTEMPTS: u32 = 3;

fn read_card(ctx: &Context, reader: &CStr, settings: &PcscSettings) -> Result<String, ReadError> {
    let mut attempt = 1;
    let card = loop {
        match ctx.connect(reader, ShareMode::Shared, Protocols::ANY) {
            Ok(card) => break card,
            Err(::pcsc::Error::SharingViolation) if attempt < CONNECT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(ReadError::Connect(e)),
        }
    };
    let mut number = transmit_for_data(&card, &GET_UID_APDU);
    if let (Err(ReadError::Unreadable(_)), Some(apdu)) = (&number, &settings.fallback_apdu) {
        number = transmit_for_data(&card, apdu);
    }
    // No further fallback: whatever else a card offers without a command (its ATR above all)
    // is the same for every card of its kind.
    let _ = card.disconnect(::pcsc::Disposition::LeaveCard);
    number.map(|b| to_hex(&b))
}

/// Sends `apdu`; returns the response data when the card answered `90 00` with some data,
/// else why not (the status word of the last answer; see [`UnreadableReason`]).
/// `6C XX` (wrong Le) is answered by resending with Le = XX, as ISO 7816-4 asks.
fn transmit_for_data(card: &::pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, ReadError> {
    let mut buf = [0u8; ::pcsc::MAX_BUFFER_SIZE];
    match response_data(transmit(card, apdu, &mut buf)?) {
        Answer::WrongLe(le) if apdu.len() == 5 => {
            let mut again = apdu.to_vec();
            again[4] = le;
            let mut buf = [0u8; ::pcsc::MAX_BUFFER_SIZE];
            data_or_reason(response_data(transmit(card, &again, &mut buf)?))
        }
        answer => data_or_reason(answer),
    }
}

/// The card number (hex) in one answer to the UID command, or why there is none; `6C XX`
/// (wrong Le, which the reader answers by resending) counts as refused here. The same steps
/// the reader takes; public for the fuzz target (fuzz/).
pub fn uid_from_answer(resp: &[u8]) -> Result<String, UnreadableReason> {
    match data_or_reason(response_data(resp)) {
        Ok(data) => Ok(to_hex(&data)),
        Err(ReadError::Unreadable(reason)) => Err(reason),
        Err(_) => Err(UnreadableReason::NoUidAnswer),
    }
}

fn data_or_reason(answer: Answer<'_>) -> Result<Vec<u8>, ReadError> {
    match answer {
        Answer::Data(d) => Ok(d.to_vec()),
        Answer::WrongLe(le) => Err(ReadError::Unreadable(UnreadableReason::StatusWord(
            0x6C, le,
        ))),
        Answer::Refused(reason) => Err(ReadError::Unreadable(reason)),
    }
}

/// One exchange. A card taken away or reset meanwhile is [`ReadError::Gone`]; any other
/// failure means the card answers nothing we can use.
fn transmit<'b>(
    card: &::pcsc::Card,
    apdu: &[u8],
    buf: &'b mut [u8],
) -> Result<&'b [u8], ReadError> {
    match card.transmit(apdu, buf) {
        Ok(resp) => Ok(resp),
        Err(e @ (::pcsc::Error::RemovedCard | ::pcsc::Error::ResetCard)) => Err(ReadError::Gone(e)),
        Err(e) => {
            tracing::debug!(error = %e, "transmit failed");
            Err(ReadError::Unreadable(UnreadableReason::NoUidAnswer))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Answer<'a> {
    Data(&'a [u8]),
    WrongLe(u8),
    Refused(UnreadableReason),
}

fn response_data(resp: &[u8]) -> Answer<'_> {
    match resp {
        [data @ .., 0x90, 0x00] if !data.is_empty() => Answer::Data(data),
        [.., 0x6C, le] => Answer::WrongLe(*le),
        [.., 0x90, 0x00] => Answer::Refused(UnreadableReason::NoUidAnswer),
        [.., sw1, sw2] => Answer::Refused(UnreadableReason::StatusWord(*sw1, *sw2)),
        _ => Answer::Refused(UnreadableReason::NoUidAnswer),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// How long after losing pcscd a card found on the same reader is taken for the one that lay
/// there before, rather than a new tap. Covers a pcscd restart and the reconnect backoff.
const CARRY_WINDOW: Duration = Duration::from_secs(30);

/// Decides which observations are new taps. Pure (time is passed in), so the
/// one-event-per-tap rule is tested without pcscd.
#[derive(Debug, Default)]
struct Tracker {
    readers: HashMap<String, Track>,
    /// Hash of the card that lay on a reader when the reader or the pcscd context was lost,
    /// and when that was.
    carried: HashMap<String, ([u8; 32], Instant)>,
}

#[derive(Debug, Default)]
struct Track {
    /// The insertion count of the card already handled (read or failed).
    handled: Option<u32>,
    /// Hash of the UID read from the card now on the reader.
    card: Option<[u8; 32]>,
}

impl Tracker {
    /// A reader reports its state; `true` when a card arrived that has not been handled.
    fn observe(&mut self, reader: &str, present: bool, event_count: u32) -> bool {
        let track = self.readers.entry(reader.to_string()).or_default();
        if !present {
            *track = Track::default();
            // pcscd counts insertions and removals from zero per reader: an empty reader at
            // count 0 is a reader (or pcscd) that just started and has not polled the card
            // yet, not a removal.
            if event_count > 0 {
                self.carried.remove(reader);
            }
            return false;
        }
        if track.handled == Some(event_count) {
            return false;
        }
        track.handled = Some(event_count);
        track.card = None;
        true
    }

    /// The number read from a new card; `false` when it is the card that lay on this reader
    /// shortly before the reader or the context was lost (not a new tap).
    fn accept(&mut self, reader: &str, raw: &str, now: Instant) -> bool {
        let digest: [u8; 32] = Sha256::digest(raw.as_bytes()).into();
        let carried = self.carried.remove(reader);
        if let Some(track) = self.readers.get_mut(reader) {
            track.card = Some(digest);
        }
        !carried.is_some_and(|(d, lost)| {
            d == digest && now.saturating_duration_since(lost) <= CARRY_WINDOW
        })
    }

    /// Forgets readers that are gone, remembering the card that lay on each.
    fn retain_readers(&mut self, names: &[String], now: Instant) {
        let gone: Vec<String> = self
            .readers
            .keys()
            .filter(|r| !names.contains(r))
            .cloned()
            .collect();
        for reader in gone {
            if let Some(card) = self.readers.remove(&reader).and_then(|t| t.card) {
                self.carried.insert(reader, (card, now));
            }
        }
        self.carried
            .retain(|_, (_, lost)| now.saturating_duration_since(*lost) <= CARRY_WINDOW);
    }

    /// The context is gone and with it pcscd's insertion counters: remember which card lay
    /// on which reader, so it is not taken for a new tap once pcscd is back.
    fn context_lost(&mut self, now: Instant) {
        self.retain_readers(&[], now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_left_on_the_reader_is_read_once() {
        let now = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", now));
        // Wake-ups caused by other readers or by our own connect/disconnect.
        assert!(!t.observe("R", true, 1));
        assert!(!t.observe("R", true, 1));
    }

    #[test]
    fn removal_rearms_and_a_missed_removal_is_seen_in_the_counter() {
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(!t.observe("R", false, 2));
        assert!(t.observe("R", true, 3));
        // Removed and put back between two wake-ups: present both times, counter moved.
        assert!(t.observe("R", true, 5));
    }

    #[test]
    fn readers_are_independent_and_new_readers_start_armed() {
        let now = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("A", true, 1));
        assert!(t.observe("B", true, 1));
        // A appears in the next listing (hot-plugged, or the PnP reader woke us): armed.
        t.retain_readers(&["A".to_string(), "B".to_string(), "C".to_string()], now);
        assert!(t.observe("C", true, 1));
        assert!(!t.observe("A", true, 1));
        assert!(!t.observe("B", true, 1));
    }

    #[test]
    fn a_card_lying_on_the_reader_across_a_pcscd_restart_is_not_a_new_tap() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 7));
        assert!(t.accept("R", "04A1B2", t0));
        t.context_lost(t0);
        let t1 = t0 + Duration::from_secs(2);
        t.retain_readers(&["R".to_string()], t1);
        // The new pcscd counts from scratch and may show the reader empty before its
        // first poll of the card.
        assert!(!t.observe("R", false, 0));
        assert!(t.observe("R", true, 1));
        assert!(!t.accept("R", "04A1B2", t1));
        assert!(!t.observe("R", true, 1));
        // Removed and tapped again: a tap.
        assert!(!t.observe("R", false, 2));
        assert!(t.observe("R", true, 3));
        assert!(t.accept("R", "04A1B2", t1));
    }

    #[test]
    fn a_reader_unplugged_and_replugged_with_the_card_on_it_is_not_a_new_tap() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", t0));
        t.retain_readers(&[], t0);
        t.retain_readers(&["R".to_string()], t0 + Duration::from_secs(1));
        assert!(t.observe("R", true, 1));
        assert!(!t.accept("R", "04A1B2", t0 + Duration::from_secs(1)));
    }

    #[test]
    fn the_carried_card_is_forgotten_after_a_removal_or_the_window() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", t0));
        t.context_lost(t0);
        // Seen removed in the new context (count > 0), then tapped: a tap.
        assert!(!t.observe("R", false, 2));
        assert!(t.observe("R", true, 3));
        assert!(t.accept("R", "04A1B2", t0));

        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", t0));
        t.context_lost(t0);
        let late = t0 + CARRY_WINDOW + Duration::from_secs(1);
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", late));
    }

    #[test]
    fn another_card_after_a_restart_is_a_tap() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "04A1B2", t0));
        t.context_lost(t0);
        assert!(t.observe("R", true, 1));
        assert!(t.accept("R", "0499", t0));
    }

    #[test]
    fn status_words_are_checked() {
        assert_eq!(
            response_data(&[0x04, 0xA1, 0x90, 0x00]),
            Answer::Data(&[0x04, 0xA1])
        );
        use UnreadableReason::{NoUidAnswer, StatusWord};
        assert_eq!(response_data(&[0x90, 0x00]), Answer::Refused(NoUidAnswer));
        assert_eq!(
            response_data(&[0x6A, 0x81]),
            Answer::Refused(StatusWord(0x6A, 0x81))
        );
        assert_eq!(response_data(&[0x6C, 0x07]), Answer::WrongLe(7));
        assert_eq!(
            response_data(&[0x04, 0x62, 0x82]),
            Answer::Refused(StatusWord(0x62, 0x82))
        );
        assert_eq!(response_data(&[0x6A]), Answer::Refused(NoUidAnswer));
        assert_eq!(response_data(&[]), Answer::Refused(NoUidAnswer));
    }

    #[test]
    fn uid_is_uppercase_hex() {
        assert_eq!(to_hex(&[0x04, 0xa1, 0x0f]), "04A10F");
    }

    #[test]
    fn configured_get_data_is_not_repeated_as_fallback() {
        let s = PcscSettings::from_config(&PcscConfig::default()).unwrap();
        assert_eq!(s.fallback_apdu, None);
        let s = PcscSettings::from_config(&PcscConfig {
            enabled: true,
            apdu: "FF B0 00 00 04".into(),
        })
        .unwrap();
        assert_eq!(s.fallback_apdu, Some(vec![0xFF, 0xB0, 0, 0, 4]));
    }
}
