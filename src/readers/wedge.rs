//! Turns the keystrokes of a keyboard-wedge badge reader into card numbers.
//!
//! A wedge reader "types" the card number much faster than a person can and ends it with a
//! terminator key (Enter). The decoder groups characters into bursts: a gap longer than
//! `max_key_gap` before a key ends the current burst (its characters are discarded) and starts
//! a new one, so stray keys never stick to the front of a real read. On the terminator the
//! burst is judged: the number if its length is in range and it holds only hex digits,
//! otherwise a [`WedgeReject`]. A burst that is too short after slow keys were discarded is
//! reported as [`WedgeReject::TooSlow`]: that is a person typing, not a card.
//!
//! Pure and deterministic: the caller passes the time of each key. The buffer never grows
//! beyond `max_length` characters, and it is wiped (zeroised) whenever a burst ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zeroize::Zeroize;

/// How a reader types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WedgeSettings {
    /// Fewest characters a card number has.
    pub min_length: usize,
    /// Most characters a card number has; longer bursts are refused.
    pub max_length: usize,
    /// Longest pause between two keys within one read.
    pub max_key_gap: Duration,
    /// Key that ends a read.
    pub terminator: char,
}

impl Default for WedgeSettings {
    /// Common 125 kHz / 13.56 MHz badge readers type 8–20 characters at well under 20 ms per
    /// key; people rarely manage two keys within 50 ms.
    fn default() -> Self {
        WedgeSettings {
            min_length: 4,
            max_length: 32,
            max_key_gap: Duration::from_millis(50),
            terminator: '\n',
        }
    }
}

/// Why a terminated burst was not accepted as a card number. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WedgeReject {
    #[error("card number too short: {len} characters, at least {min} expected")]
    TooShort { len: usize, min: usize },
    #[error("card number too long: {len} characters, at most {max} expected")]
    TooLong { len: usize, max: usize },
    #[error("keys arrived too slowly for a card reader (human typing)")]
    TooSlow,
    #[error("input contains characters other than digits and A-F")]
    Garbage,
}

/// Longest card number the decoder will hold; real badges stay far below it.
pub const MAX_SUPPORTED_LENGTH: usize = 256;

/// Results produced but not yet handed out; more than one terminator in a single `feed` is
/// rare, and a flood of them must not grow memory.
const MAX_PENDING: usize = 8;

/// Stateful decoder for one reader. `Debug` omits the buffered characters.
pub struct WedgeDecoder {
    settings: WedgeSettings,
    /// Accepted characters of the current burst, at most `max_length` of them.
    buf: String,
    /// Characters in the current burst, counting those not stored (overflow, garbage).
    len: usize,
    garbage: bool,
    last_key: Option<Instant>,
    /// Characters thrown away by slow gaps since the last terminator.
    discarded: usize,
    pending: VecDeque<Result<String, WedgeReject>>,
}

impl WedgeDecoder {
    /// A decoder for a reader typing as `settings` describe. `max_length` is capped at
    /// [`MAX_SUPPORTED_LENGTH`] so a configuration typo cannot make the buffer huge.
    pub fn new(mut settings: WedgeSettings) -> Self {
        settings.max_length = settings.max_length.min(MAX_SUPPORTED_LENGTH);
        WedgeDecoder {
            buf: String::with_capacity(settings.max_length),
            settings,
            len: 0,
            garbage: false,
            last_key: None,
            discarded: 0,
            pending: VecDeque::new(),
        }
    }

    pub fn settings(&self) -> &WedgeSettings {
        &self.settings
    }

    /// Feeds characters that arrived at `at` (evdev delivers one key per call; a batch is
    /// treated as typed at one instant). Returns the oldest completed read, if any; when one
    /// call completes several, the rest come from later calls or [`Self::next_pending`].
    pub fn feed(&mut self, text: &str, at: Instant) -> Option<Result<String, WedgeReject>> {
        for c in text.chars() {
            if let Some(result) = self.key(c, at) {
                if self.pending.len() < MAX_PENDING {
                    self.pending.push_back(result);
                } else {
                    tracing::warn!(
                        "card reader produced reads faster than they are taken; one dropped"
                    );
                }
            }
        }
        self.pending.pop_front()
    }

    /// Takes a read completed earlier but not yet returned.
    pub fn next_pending(&mut self) -> Option<Result<String, WedgeReject>> {
        self.pending.pop_front()
    }

    /// Wipes an unterminated burst once the reader has been quiet longer than `max_key_gap`,
    /// so a half-read number does not linger in memory. Returns whether anything was wiped.
    pub fn clear_if_idle(&mut self, now: Instant) -> bool {
        let idle = self
            .last_key
            .is_some_and(|t| now.saturating_duration_since(t) > self.settings.max_key_gap);
        if idle && self.len > 0 {
            self.discarded = self.discarded.saturating_add(self.len);
            self.reset_burst();
            return true;
        }
        false
    }

    /// Forgets everything, for example after the reader was unplugged.
    pub fn reset(&mut self) {
        self.reset_burst();
        self.discarded = 0;
        self.last_key = None;
        self.pending.clear();
    }

    fn key(&mut self, c: char, at: Instant) -> Option<Result<String, WedgeReject>> {
        // saturating: a clock that steps backwards counts as no gap, never as a panic.
        let slow = self
            .last_key
            .is_some_and(|last| at.saturating_duration_since(last) > self.settings.max_key_gap);
        self.last_key = Some(at);
        if slow && self.len > 0 {
            self.discarded = self.discarded.saturating_add(self.len);
            self.reset_burst();
        }

        if c == self.settings.terminator {
            // An Enter long after the last key is a person confirming, not a reader.
            if slow {
                self.discarded = self.discarded.saturating_add(1);
            }
            let result = self.judge();
            self.reset_burst();
            self.discarded = 0;
            return Some(result);
        }
        // Readers that send CR LF: the CR carries no information.
        if c == '\r' {
            return None;
        }
        self.len = self.len.saturating_add(1);
        if !c.is_ascii_hexdigit() {
            self.garbage = true;
        } else if self.buf.len() < self.settings.max_length {
            self.buf.push(c);
        }
        None
    }

    fn judge(&self) -> Result<String, WedgeReject> {
        let s = &self.settings;
        if self.garbage {
            Err(WedgeReject::Garbage)
        } else if self.len > s.max_length {
            Err(WedgeReject::TooLong {
                len: self.len,
                max: s.max_length,
            })
        } else if self.len < s.min_length && self.discarded > 0 {
            Err(WedgeReject::TooSlow)
        } else if self.len < s.min_length {
            Err(WedgeReject::TooShort {
                len: self.len,
                min: s.min_length,
            })
        } else {
            Ok(self.buf.clone())
        }
    }

    fn reset_burst(&mut self) {
        self.buf.zeroize();
        self.len = 0;
        self.garbage = false;
    }
}

impl Drop for WedgeDecoder {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl std::fmt::Debug for WedgeDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WedgeDecoder")
            .field("settings", &self.settings)
            .field("buffered_chars", &self.len)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_keys_before_a_card_are_dropped() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        assert_eq!(d.feed("9", t0), None);
        let t = t0 + Duration::from_secs(2);
        assert_eq!(d.feed("123456", t), None);
        assert_eq!(
            d.feed("\n", t + Duration::from_millis(5)),
            Some(Ok("123456".into()))
        );
    }

    #[test]
    fn carriage_return_before_the_terminator_is_ignored() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        assert_eq!(d.feed("12345\r\n", t0), Some(Ok("12345".into())));
    }

    #[test]
    fn slow_enter_after_a_fast_burst_is_human() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        d.feed("12345", t0);
        assert_eq!(
            d.feed("\n", t0 + Duration::from_millis(500)),
            Some(Err(WedgeReject::TooSlow))
        );
    }

    #[test]
    fn several_reads_in_one_feed_are_all_delivered_in_order() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        assert_eq!(d.feed("1111\n22\n3333\n", t0), Some(Ok("1111".into())));
        assert_eq!(
            d.next_pending(),
            Some(Err(WedgeReject::TooShort { len: 2, min: 4 }))
        );
        assert_eq!(d.feed("", t0), Some(Ok("3333".into())));
        assert_eq!(d.next_pending(), None);
    }

    #[test]
    fn pending_results_are_bounded() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        let flood = "1234\n".repeat(100);
        assert!(d.feed(&flood, t0).is_some());
        let mut rest = 0;
        while d.next_pending().is_some() {
            rest += 1;
        }
        assert_eq!(rest, MAX_PENDING - 1);
    }

    #[test]
    fn debug_does_not_show_buffered_digits() {
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        d.feed("98765", Instant::now());
        let shown = format!("{d:?}");
        assert!(!shown.contains("98765"), "{shown}");
        assert!(shown.contains("buffered_chars: 5"), "{shown}");
    }

    #[test]
    fn absurd_max_length_is_capped() {
        let mut d = WedgeDecoder::new(WedgeSettings {
            max_length: usize::MAX,
            ..WedgeSettings::default()
        });
        assert_eq!(d.settings().max_length, MAX_SUPPORTED_LENGTH);
        let long = "1".repeat(MAX_SUPPORTED_LENGTH + 1) + "\n";
        assert_eq!(
            d.feed(&long, Instant::now()),
            Some(Err(WedgeReject::TooLong {
                len: MAX_SUPPORTED_LENGTH + 1,
                max: MAX_SUPPORTED_LENGTH
            }))
        );
    }

    #[test]
    fn idle_partial_burst_is_wiped() {
        let t0 = Instant::now();
        let mut d = WedgeDecoder::new(WedgeSettings::default());
        d.feed("1234", t0);
        assert!(!d.clear_if_idle(t0 + Duration::from_millis(10)));
        assert!(d.clear_if_idle(t0 + Duration::from_secs(1)));
        assert!(d.buf.is_empty());
        // The wiped characters do not come back as part of the next read.
        assert_eq!(
            d.feed("5678\n", t0 + Duration::from_secs(2)),
            Some(Ok("5678".into()))
        );
    }
}
