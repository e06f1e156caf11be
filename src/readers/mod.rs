//! Card readers: every source emits the same CardRead event.
//!
//! A reader adapter turns whatever its hardware produces into a [`CardRead`] carrying the raw
//! card number exactly as read; normalisation and hashing are `auth::card`'s job. Sources:
//!
//! - keyboard-wedge (HID) badge readers, which "type" the number and press Enter: the
//!   [`wedge::WedgeDecoder`] turns key bursts into numbers and rejects human typing, and
//!   [`keymap`] maps Linux evdev key codes to the characters it consumes;
//!   [`hid::HidReader`] runs it on a grabbed evdev device;
//! - PC/SC contactless readers through pcscd ([`pcsc::PcscReader`], UID via `FF CA 00 00 00`);
//! - the demo's simulated reader.
//!
//! [`start`] starts the readers the configuration asks for; each runs on its own thread and
//! hands every read to the same callback.
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
    /// Stops every reader and waits for its thread.
    pub fn stop(self) -> Result<(), ReaderError> {
        let ReaderHandles { pcsc, hid } = self;
        let pcsc_result = pcsc.map(pcsc::PcscHandle::stop).transpose();
        hid.map(hid::HidHandle::stop).transpose()?;
        pcsc_result?;
        Ok(())
    }
}

/// Starts the PC/SC reader when `readers.pcsc.enabled` and the keyboard-wedge reader when
/// `readers.keyboard_wedge` is set. Both call `on_card` from their own thread. A reader or a
/// pcscd that is not there yet is waited for, so this fails only on bad configuration or when
/// a thread cannot be created.
pub fn start(
    config: &ReadersConfig,
    on_card: impl Fn(CardRead) + Send + Sync + 'static,
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

    let on_card: Arc<dyn Fn(CardRead) + Send + Sync> = Arc::new(on_card);
    let mut handles = ReaderHandles::default();
    if let Some(settings) = pcsc_settings {
        let f = Arc::clone(&on_card);
        handles.pcsc = Some(pcsc::PcscReader::spawn(settings, move |r| f(r))?);
    }
    if let Some((selector, settings)) = wedge {
        let f = Arc::clone(&on_card);
        handles.hid = Some(hid::HidReader::spawn(selector, settings, move |r| f(r))?);
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
