//! Card readers: every source emits the same [`ReaderEvent`]s.
//!
//! A reader adapter turns whatever its hardware produces into a [`ReaderEvent::Card`] with a
//! [`CardRead`] carrying the raw card number exactly as read; normalisation and hashing are
//! `auth::card`'s job. A card the reader sees but cannot get a number from (a PC/SC card that
//! answers no UID) is a [`ReaderEvent::Unreadable`] with an [`UnreadableReason`] and no card
//! data at all: such a card is refused, never identified by something else about it. (The ATR,
//! in particular, names a card *product*: every card of that model has the same one, so taking
//! it as a number would let one linked card sign in every card of its model.) Sources:
//!
//! - keyboard-wedge (HID) badge readers, which "type" the number and press Enter: the
//!   [`wedge::WedgeDecoder`] turns key bursts into numbers and rejects human typing, and
//!   [`keymap`] maps Linux evdev key codes to the characters it consumes;
//!   [`hid::HidReader`] runs it on a grabbed evdev device;
//! - PC/SC contactless readers through pcscd ([`pcsc::PcscReader`], UID via `FF CA 00 00 00`);
//! - the demo's simulated reader.
//!
//! [`start`] starts the readers the configuration asks for; each runs on its own thread and
//! hands every event to the same callback. The last unreadable card per PC/SC reader stays in
//! [`ReaderHandles::pcsc_status`] for a diagnostics page.
//!
//! The raw number is a secret: it is never logged, and `Debug` shows only its length and last
//! two characters.

pub mod hid;
pub mod keymap;
pub mod pcsc;
pub mod wedge;

use std::sync::Arc;

use crate::config::{ConfigError, ReadersConfig};

/// Why the configured readers could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pcsc(#[from] pcsc::PcscError),
    #[error(transparent)]
    Hid(#[from] hid::HidError),
}

/// The running reader threads. Dropping them stops them.
#[derive(Debug, Default)]
pub struct ReaderHandles {
    pub pcsc: Option<pcsc::PcscHandle>,
    pub hid: Option<hid::HidHandle>,
}

impl ReaderHandles {
    /// A snapshot of the PC/SC reader thread (pcscd state, readers, counters, and
    /// `last_failure`: the last [`UnreadableReason`] per reader) for a diagnostics page;
    /// `None` when PC/SC is off. Holds no card data.
    pub fn pcsc_status(&self) -> Option<pcsc::PcscStatus> {
        self.pcsc.as_ref().map(pcsc::PcscHandle::status)
    }

    /// Both readers' status at once (the reader check page).
    pub fn snapshot(&self) -> ReaderSnapshot {
        ReaderSnapshot {
            pcsc: self.pcsc_status(),
            wedge: self.hid.as_ref().map(hid::HidHandle::status),
        }
    }

    /// Stops every reader and waits for its thread.
    pub fn stop(self) -> Result<(), ReaderError> {
        let ReaderHandles { pcsc, hid } = self;
        let pcsc_result = pcsc.map(pcsc::PcscHandle::stop).transpose();
        hid.map(hid::HidHandle::stop).transpose()?;
        pcsc_result?;
        Ok(())
    }
}

/// What the running readers report; `None` for a reader that is not configured.
#[derive(Debug, Clone, Default)]
pub struct ReaderSnapshot {
    pub pcsc: Option<pcsc::PcscStatus>,
    pub wedge: Option<hid::HidStatus>,
}

/// Starts the PC/SC reader when `readers.pcsc.enabled` and the keyboard-wedge reader when
/// `readers.keyboard_wedge` is set. Both call `on_event` from their own thread. A reader or a
/// pcscd that is not there yet is waited for, so this fails only on bad configuration or when
/// a thread cannot be created.
pub fn start(
    config: &ReadersConfig,
    on_event: impl Fn(ReaderEvent) + Send + Sync + 'static,
) -> Result<ReaderHandles, ReaderError> {
    let pcsc_settings = config
        .pcsc
        .enabled
        .then(|| pcsc::PcscSettings::from_config(&config.pcsc))
        .transpose()?;
    let wedge = config
        .keyboard_wedge
        .as_ref()
        .map(|w| Ok::<_, ConfigError>((w.device_selector()?, hid::HidSettings::from_config(w))))
        .transpose()?;

    let on_event: Arc<dyn Fn(ReaderEvent) + Send + Sync> = Arc::new(on_event);
    let mut handles = ReaderHandles::default();
    if let Some(settings) = pcsc_settings {
        let f = Arc::clone(&on_event);
        handles.pcsc = Some(pcsc::PcscReader::spawn(settings, move |e| f(e))?);
    }
    if let Some((selector, settings)) = wedge {
        // A wedge reader only ever types a number: it has no unreadable cards to report.
        let f = Arc::clone(&on_event);
        handles.hid = Some(hid::HidReader::spawn(selector, settings, move |r| {
            f(ReaderEvent::Card(r))
        })?);
    }
    Ok(handles)
}

/// Which kind of reader produced a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardSource {
    Wedge,
    Pcsc,
    Simulated,
}

/// What a reader reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card with a number.
    Card(CardRead),
    /// A card was presented but gave no number; it must be refused, not identified otherwise.
    Unreadable {
        source: CardSource,
        reason: UnreadableReason,
    },
}

/// Why a presented card gave no number. Never carries card bytes: a status word says what
/// the card answered, not which card it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadableReason {
    /// No UID came back: the command got no answer, an answer too short to hold a status
    /// word, or `90 00` with no data.
    NoUidAnswer,
    /// The card (or the reader on its behalf) refused the command with this ISO 7816 status
    /// word, e.g. `6A 81` (function not supported) from cards without GET DATA.
    StatusWord(u8, u8),
}

/// For logs and the technician's diagnostics page.
impl std::fmt::Display for UnreadableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnreadableReason::NoUidAnswer => f.write_str("the card gave no UID"),
            UnreadableReason::StatusWord(sw1, sw2) => {
                write!(
                    f,
                    "the card refused the UID command (status {sw1:02X} {sw2:02X})"
                )
            }
        }
    }
}

/// One card presented to a reader.
#[derive(Clone, PartialEq, Eq)]
pub struct CardRead {
    pub source: CardSource,
    /// The card number as read (digits or hex). Never logged.
    pub raw: String,
}

/// Shortest number of which `Debug` reveals the last two characters; below it, only the length.
const SHOW_SUFFIX_FROM: usize = 6;

impl std::fmt::Debug for CardRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.raw.chars().count();
        let raw = if len >= SHOW_SUFFIX_FROM {
            let tail: String = self.raw.chars().skip(len - 2).collect();
            format!("<{len} chars, ends ..{tail}>")
        } else {
            format!("<{len} chars>")
        };
        f.debug_struct("CardRead")
            .field("source", &self.source)
            .field("raw", &format_args!("{raw}"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_all_but_the_last_two_characters() {
        let read = CardRead {
            source: CardSource::Wedge,
            raw: "0004213379".into(),
        };
        let shown = format!("{read:?}");
        assert_eq!(
            shown,
            "CardRead { source: Wedge, raw: <10 chars, ends ..79> }"
        );
        assert!(!shown.contains("42133"));
        let pretty = format!("{read:#?}");
        assert!(!pretty.contains("0004213"), "{pretty}");
    }

    #[test]
    fn unreadable_reasons_read_plainly() {
        assert_eq!(
            UnreadableReason::StatusWord(0x6A, 0x81).to_string(),
            "the card refused the UID command (status 6A 81)"
        );
        assert_eq!(
            UnreadableReason::NoUidAnswer.to_string(),
            "the card gave no UID"
        );
        assert_eq!(ReaderHandles::default().pcsc_status(), None);
    }

    #[test]
    fn debug_of_a_short_number_shows_only_its_length() {
        let read = CardRead {
            source: CardSource::Pcsc,
            raw: "A1B2".into(),
        };
        let shown = format!("{read:?}");
        assert!(shown.contains("<4 chars>"), "{shown}");
        assert!(!shown.contains("B2"), "{shown}");
    }
}
