//! Card readers: every source emits the same CardRead event.
//!
//! A reader adapter turns whatever its hardware produces into a [`CardRead`] carrying the raw
//! card number exactly as read; normalisation and hashing are `auth::card`'s job. Sources:
//!
//! - keyboard-wedge (HID) badge readers, which "type" the number and press Enter: the
//!   [`wedge::WedgeDecoder`] turns key bursts into numbers and rejects human typing, and
//!   [`keymap`] maps Linux evdev key codes to the characters it consumes;
//! - PC/SC contactless readers (UID via `FF CA 00 00 00`), added behind the same event;
//! - the demo's simulated reader.
//!
//! The raw number is a secret: it is never logged, and `Debug` shows only its length and last
//! two characters.

pub mod keymap;
pub mod wedge;

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
