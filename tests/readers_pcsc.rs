//! The PC/SC reader against a real pcscd with vpcd virtual readers and a virtual card that
//! speaks vpcd's socket protocol (tests/support/vcard.rs).
//!
//! Every test starts its own pcscd (tests/support/pcscd.rs). Waits are for positive signals
//! (an event arriving, the reader list changing, pcscd polling the card again), each bounded
//! by a generous deadline, never a fixed sleep.
//!
//! Reader hot-plug: vpcd readers are serial readers from pcscd's reader.conf.d, created when
//! pcscd starts; Debian's pcscd (libudev hot-plug) cannot add such a reader at run time
//! (SIGUSR1 rescans only USB), and vpcd serves a single reader (two slots) per pcscd, since
//! its slot table is indexed by slot number alone. So a reader "appearing" is tested as pcscd
//! coming up with it after the reader thread started, and as pcscd restarting with a
//! different reader; the PnP-notification path itself is covered by the reader thread's
//! unit tests and the same relisting code.

mod support;

use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use mfp_kiosk::readers::pcsc::{PcscHandle, PcscReader, PcscSettings, PcscStatus, ServiceState};
use mfp_kiosk::readers::{CardSource, ReaderEvent, UnreadableReason};
use support::pcscd::{self, Pcscd, Vpcd};
use support::vcard::{InsertedCard, VirtualCard};

const WAIT: Duration = Duration::from_secs(20);

const UID_A: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const UID_B: [u8; 4] = [0xDE, 0xAD, 0xBE, 0xEF];
const UID_C: [u8; 7] = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];

fn spawn(settings: PcscSettings) -> (PcscHandle, Receiver<ReaderEvent>) {
    let _ = pcscd::socket_path();
    let (tx, rx) = channel();
    let handle = PcscReader::spawn(settings, move |read| {
        let _ = tx.send(read);
    })
    .unwrap();
    (handle, rx)
}

fn next_event(rx: &Receiver<ReaderEvent>, pcscd: Option<&Pcscd>) -> ReaderEvent {
    match rx.recv_timeout(WAIT) {
        Ok(event) => event,
        Err(e) => panic!(
            "no reader event ({e}); pcscd log:\n{}",
            pcscd.map(Pcscd::log).unwrap_or_default()
        ),
    }
}

fn next_uid(rx: &Receiver<ReaderEvent>, pcscd: Option<&Pcscd>) -> String {
    match next_event(rx, pcscd) {
        ReaderEvent::Card(read) => {
            assert_eq!(read.source, CardSource::Pcsc);
            read.raw
        }
        other => panic!("expected a card read, got {other:?}"),
    }
}

/// The next event must be an unreadable card; returns why.
fn next_unreadable(rx: &Receiver<ReaderEvent>, pcscd: Option<&Pcscd>) -> UnreadableReason {
    match next_event(rx, pcscd) {
        ReaderEvent::Unreadable { source, reason } => {
            assert_eq!(source, CardSource::Pcsc);
            reason
        }
        // Before the fix, the ATR came back here as the card's "number".
        ReaderEvent::Card(read) => panic!("a card without a UID was read as a number: {read:?}"),
    }
}

fn wait_status(h: &PcscHandle, what: &str, done: impl FnMut(&PcscStatus) -> bool) -> PcscStatus {
    let (status, ok) = h.wait_status(WAIT, done);
    assert!(ok, "timed out waiting for {what}; status {status:?}");
    status
}

/// Waits until the reader thread watches both slots of `reader`; returns their names.
fn watched(h: &PcscHandle, reader: &Vpcd) -> (String, String) {
    let s = wait_status(h, "the reader to be watched", |s| {
        s.service == ServiceState::Connected
            && reader.reader_name(&s.readers, 0).is_some()
            && reader.reader_name(&s.readers, 1).is_some()
    });
    (
        reader.reader_name(&s.readers, 0).unwrap().clone(),
        reader.reader_name(&s.readers, 1).unwrap().clone(),
    )
}

/// Takes a card off and waits until the reader thread has seen the slot empty. (vpcd notices
/// a removal only at pcscd's next presence poll; a card put back before that poll would
/// simply look like the same card still lying there.)
fn take_off(h: &PcscHandle, card: InsertedCard, slot_name: &str) {
    card.remove();
    wait_status(h, "the removal to be seen", |s| {
        !s.with_card.iter().any(|r| r == slot_name)
    });
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[test]
fn one_event_per_tap_and_removal_rearms() {
    let _turn = pcscd::serial();
    if !pcscd::available("one_event_per_tap_and_removal_rearms") {
        return;
    }
    let reader = Vpcd::new("Tap Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    let (h, rx) = spawn(PcscSettings::default());
    let (slot0, slot1) = watched(&h, &reader);

    let card_a = VirtualCard::with_uid(&UID_A);
    let card_b = VirtualCard::with_uid(&UID_B);

    let a = card_a.insert(reader.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));

    // A stays. pcscd keeps finding it (positive signal), and the reader thread wakes up for
    // the other slot's card going on, off and on again; A must not come back in between.
    assert!(a.wait_for_presence_polls(3, WAIT), "pcscd stopped polling");
    let b = card_b.insert(reader.slot(1)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_B));
    take_off(&h, b, &slot1);
    let b = card_b.insert(reader.slot(1)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_B));
    assert!(a.wait_for_presence_polls(2, WAIT));
    assert_eq!(a.uid_requests(), 1, "card A was read more than once");

    // Removing A re-arms its slot: putting it back is a new tap.
    take_off(&h, a, &slot0);
    let a = card_a.insert(reader.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));
    assert_eq!(a.uid_requests(), 1);
    assert_eq!(b.uid_requests(), 1);
    assert!(rx.try_recv().is_err(), "an unexpected extra event");
    assert_eq!(h.status().cards_read, 4);
    h.stop().unwrap();
}

#[test]
fn a_card_without_a_uid_is_refused_never_read_as_its_atr() {
    let _turn = pcscd::serial();
    if !pcscd::available("a_card_without_a_uid_is_refused_never_read_as_its_atr") {
        return;
    }
    let reader = Vpcd::new("No UID Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    // No fallback APDU configured (the default, GET DATA only).
    let (h, rx) = spawn(PcscSettings::default());
    let (slot0, slot1) = watched(&h, &reader);

    // Two cards of the same product (same ATR) that both refuse GET DATA with 6A 81.
    let mut first = VirtualCard::with_uid(&UID_A);
    first.get_data = false;
    let mut second = VirtualCard::with_uid(&UID_B);
    second.get_data = false;
    assert_eq!(first.atr, second.atr);

    let a = first.insert(reader.slot(0)).unwrap();
    assert_eq!(
        next_unreadable(&rx, Some(&daemon)),
        UnreadableReason::StatusWord(0x6A, 0x81)
    );
    assert_eq!(a.uid_requests(), 1, "GET DATA was tried");
    let s = h.status();
    assert_eq!(
        s.last_failure.get(&slot0),
        Some(&UnreadableReason::StatusWord(0x6A, 0x81)),
        "{s:?}"
    );
    assert_eq!((s.cards_read, s.failed_reads), (0, 1));

    // Still one event per tap: the card lying there is not refused again and again.
    assert!(a.wait_for_presence_polls(2, WAIT), "pcscd stopped polling");
    let b = second.insert(reader.slot(1)).unwrap();
    assert_eq!(
        next_unreadable(&rx, Some(&daemon)),
        UnreadableReason::StatusWord(0x6A, 0x81)
    );
    assert_eq!(h.status().last_failure.len(), 2);
    take_off(&h, b, &slot1);

    // A readable card afterwards reads normally; the reader's last failure stays on record.
    let _c = VirtualCard::with_uid(&UID_C)
        .insert(reader.slot(1))
        .unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_C));
    let s = h.status();
    assert_eq!(s.cards_read, 1);
    assert_eq!(
        s.last_failure.get(&slot1),
        Some(&UnreadableReason::StatusWord(0x6A, 0x81))
    );
    assert!(rx.try_recv().is_err(), "an unexpected extra event");
    h.stop().unwrap();
}

#[test]
fn without_get_data_the_configured_apdu_is_used_and_never_the_atr() {
    let _turn = pcscd::serial();
    if !pcscd::available("without_get_data_the_configured_apdu_is_used_and_never_the_atr") {
        return;
    }
    let reader = Vpcd::new("Fallback Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    let read_binary = vec![0xFF, 0xB0, 0x00, 0x00, 0x04];
    let (h, rx) = spawn(PcscSettings {
        fallback_apdu: Some(read_binary.clone()),
        ..PcscSettings::default()
    });
    watched(&h, &reader);

    let mut badge = VirtualCard::with_uid(&UID_A);
    badge.get_data = false;
    badge.extra = Some((read_binary, vec![0x12, 0x34, 0x56, 0x78, 0x90, 0x00]));
    let inserted = badge.insert(reader.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), "12345678");
    assert_eq!(inserted.uid_requests(), 1, "GET DATA is tried first");

    // Neither GET DATA (6A 81) nor the configured command (6D 00, instruction not supported):
    // refused, with the status word of the last command tried.
    let mut bare = VirtualCard::with_uid(&UID_B);
    bare.get_data = false;
    let _bare = bare.insert(reader.slot(1)).unwrap();
    assert_eq!(
        next_unreadable(&rx, Some(&daemon)),
        UnreadableReason::StatusWord(0x6D, 0x00)
    );
    h.stop().unwrap();
}

#[test]
fn pcscd_restart_is_recovered_and_a_card_left_on_the_reader_is_not_repeated() {
    let _turn = pcscd::serial();
    if !pcscd::available("pcscd_restart_is_recovered_and_a_card_left_on_the_reader_is_not_repeated")
    {
        return;
    }
    let reader = Vpcd::new("Restart Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    let (h, rx) = spawn(PcscSettings::default());
    watched(&h, &reader);

    let card_a = VirtualCard::with_uid(&UID_A);
    let a = card_a.insert(reader.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));

    // pcscd goes away (systemctl restart, crash): the thread notices and keeps retrying.
    daemon.stop();
    wait_status(&h, "the outage to be noticed", |s| {
        s.service == ServiceState::Unavailable
    });
    drop(a);

    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    // The card never left the reader: like vpcd's own vicc, it reconnects to the new pcscd.
    let a = card_a.insert(reader.slot(0)).unwrap();
    let (slot0, _) = watched(&h, &reader);
    assert!(h.status().contexts >= 2);
    // Wait until the reader thread has read A again (and decided about it) ...
    let deadline = std::time::Instant::now() + WAIT;
    while a.uid_requests() == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    // ... then a new card on the other slot is the next event: A was not reported again.
    let card_c = VirtualCard::with_uid(&UID_C);
    let _c = card_c.insert(reader.slot(1)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_C));

    // Taking A off and tapping it again after the restart is a tap.
    take_off(&h, a, &slot0);
    let _a = card_a.insert(reader.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));
    assert!(rx.try_recv().is_err());
    h.stop().unwrap();
}

#[test]
fn readers_that_appear_after_start_are_picked_up() {
    let _turn = pcscd::serial();
    if !pcscd::available("readers_that_appear_after_start_are_picked_up") {
        return;
    }
    // The reader thread starts before pcscd and before any reader exists.
    let (h, rx) = spawn(PcscSettings::default());
    let s = wait_status(&h, "pcscd to be found missing", |s| {
        s.service == ServiceState::Unavailable
    });
    assert!(s.last_error.is_some());

    let first = Vpcd::new("Early Reader");
    let daemon = Pcscd::start(&[&first]);
    let (slot0, _) = watched(&h, &first);
    let _a = VirtualCard::with_uid(&UID_A).insert(first.slot(0)).unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));

    // The reader is swapped for another one while the thread runs (pcscd restarted with the
    // new reader configured; vpcd serves one reader per pcscd, its slots share a table).
    let second = Vpcd::new("Late Reader");
    daemon.stop();
    let daemon = Pcscd::start(&[&second]);
    let (late0, _) = watched(&h, &second);
    assert_ne!(late0, slot0);
    let s = h.status();
    assert!(first.reader_name(&s.readers, 0).is_none(), "{s:?}");
    assert_eq!(s.readers.len(), 2, "{s:?}");
    let _b = VirtualCard::with_uid(&UID_B)
        .insert(second.slot(0))
        .unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_B));
    h.stop().unwrap();
}

#[test]
fn stop_cancels_the_blocking_wait_promptly() {
    let _turn = pcscd::serial();
    if !pcscd::available("stop_cancels_the_blocking_wait_promptly") {
        return;
    }
    let reader = Vpcd::new("Stop Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    let (h, _rx) = spawn(PcscSettings::default());
    watched(&h, &reader);
    // The thread is now blocked in SCardGetStatusChange with no timeout.
    let started = std::time::Instant::now();
    h.stop().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
}

/// Cards that answer nonsense or leave mid-command, and a pcscd that is SIGKILLed: each is a
/// refusal or nothing at all, never a number made of garbage, and the reader keeps reading.
#[test]
fn garbage_answers_a_card_pulled_mid_apdu_and_a_killed_pcscd_are_survived() {
    let _turn = pcscd::serial();
    if !pcscd::available("garbage_answers_a_card_pulled_mid_apdu_and_a_killed_pcscd_are_survived") {
        return;
    }
    let reader = Vpcd::new("Garbage Reader");
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    let (h, rx) = spawn(PcscSettings::default());
    let (slot0, _) = watched(&h, &reader);
    let get_data = vec![0xFF, 0xCA, 0x00, 0x00, 0x00];

    // Answers that hold no UID: one byte, a bare 90 00, a status word alone. (An empty
    // answer is not sent: vpcd's driver then never completes the exchange, which a real
    // reader's firmware does not do.)
    for answer in [vec![0x90], vec![0x90, 0x00], vec![0x64, 0x00]] {
        let mut card = VirtualCard::with_uid(&UID_A);
        card.extra = Some((get_data.clone(), answer.clone()));
        let inserted = card.insert(reader.slot(0)).unwrap();
        let reason = next_unreadable(&rx, Some(&daemon));
        match answer.as_slice() {
            [0x64, 0x00] => assert_eq!(reason, UnreadableReason::StatusWord(0x64, 0x00)),
            _ => assert_eq!(reason, UnreadableReason::NoUidAnswer, "{answer:02X?}"),
        }
        take_off(&h, inserted, &slot0);
    }

    // Pulled away in the middle of GET DATA: no read at all, or a refusal; never a number.
    let mut pulled = VirtualCard::with_uid(&UID_B);
    pulled.pulled_mid_apdu = true;
    let gone = pulled.insert(reader.slot(0)).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while gone.stats().apdus.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    take_off(&h, gone, &slot0);
    while let Ok(event) = rx.try_recv() {
        assert!(
            matches!(event, ReaderEvent::Unreadable { .. }),
            "a pulled card gave {event:?}"
        );
    }

    // A good card reads normally afterwards.
    let good = VirtualCard::with_uid(&UID_C)
        .insert(reader.slot(0))
        .unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_C));
    take_off(&h, good, &slot0);

    // pcscd killed outright (no clean shutdown, its socket left behind) and started again.
    daemon.kill();
    wait_status(&h, "the crash to be noticed", |s| {
        s.service == ServiceState::Unavailable
    });
    let mut daemon = Pcscd::start(&[&reader]);
    daemon.wait_readers(2, WAIT);
    watched(&h, &reader);
    let _again = VirtualCard::with_uid(&UID_A)
        .insert(reader.slot(0))
        .unwrap();
    assert_eq!(next_uid(&rx, Some(&daemon)), hex(&UID_A));
    assert!(rx.try_recv().is_err(), "an unexpected extra event");
    h.stop().unwrap();
}
