//! Linux input key codes (`KEY_*` from `linux/input-event-codes.h`) to characters, US layout.
//!
//! A grabbed keyboard-wedge reader delivers raw key events, not text, so the layout is ours to
//! apply. Badge readers use the US layout almost universally; they send digits from the top
//! row, sometimes from the keypad (taken as digits regardless of NumLock, since a reader never
//! means cursor movement), hex letters with or without Shift, and Enter.

/// `KEY_ENTER`.
pub const KEY_ENTER: u16 = 28;
/// `KEY_KPENTER`.
pub const KEY_KPENTER: u16 = 96;
/// `KEY_LEFTSHIFT`.
pub const KEY_LEFTSHIFT: u16 = 42;
/// `KEY_RIGHTSHIFT`.
pub const KEY_RIGHTSHIFT: u16 = 54;
/// `KEY_CAPSLOCK`.
pub const KEY_CAPSLOCK: u16 = 58;

/// evdev `EV_KEY` values.
const RELEASE: i32 = 0;
const PRESS: i32 = 1;
const REPEAT: i32 = 2;

/// Codes 2..=57 in order: (unshifted, shifted). `\0` marks keys that type nothing.
#[rustfmt::skip]
const MAIN_BLOCK: [(char, char); 56] = [
    ('1', '!'), ('2', '@'), ('3', '#'), ('4', '$'), ('5', '%'), // 2..=6
    ('6', '^'), ('7', '&'), ('8', '*'), ('9', '('), ('0', ')'), // 7..=11
    ('-', '_'), ('=', '+'), ('\0', '\0'), ('\t', '\t'),         // 12..=15 (14 = backspace)
    ('q', 'Q'), ('w', 'W'), ('e', 'E'), ('r', 'R'), ('t', 'T'), // 16..=20
    ('y', 'Y'), ('u', 'U'), ('i', 'I'), ('o', 'O'), ('p', 'P'), // 21..=25
    ('[', '{'), (']', '}'), ('\n', '\n'), ('\0', '\0'),         // 26..=29 (29 = left ctrl)
    ('a', 'A'), ('s', 'S'), ('d', 'D'), ('f', 'F'), ('g', 'G'), // 30..=34
    ('h', 'H'), ('j', 'J'), ('k', 'K'), ('l', 'L'),             // 35..=38
    (';', ':'), ('\'', '"'), ('`', '~'), ('\0', '\0'),          // 39..=42 (42 = left shift)
    ('\\', '|'), ('z', 'Z'), ('x', 'X'), ('c', 'C'), ('v', 'V'), // 43..=47
    ('b', 'B'), ('n', 'N'), ('m', 'M'),                         // 48..=50
    (',', '<'), ('.', '>'), ('/', '?'), ('\0', '\0'),           // 51..=54 (54 = right shift)
    ('*', '*'), ('\0', '\0'), (' ', ' '),                       // 55..=57 (56 = left alt)
];

/// The character a key types on a US layout, or `None` for keys that type nothing.
pub fn key_to_char(code: u16, shift: bool) -> Option<char> {
    let c = match code {
        2..=57 => {
            let (plain, shifted) = MAIN_BLOCK[usize::from(code - 2)];
            if shift {
                shifted
            } else {
                plain
            }
        }
        71 => '7',
        72 => '8',
        73 => '9',
        74 => '-',
        75 => '4',
        76 => '5',
        77 => '6',
        78 => '+',
        79 => '1',
        80 => '2',
        81 => '3',
        82 => '0',
        83 => '.',
        KEY_KPENTER => '\n',
        98 => '/',
        _ => '\0',
    };
    (c != '\0').then_some(c)
}

/// Follows Shift and Caps Lock across events and turns key presses into characters.
#[derive(Debug, Default, Clone)]
pub struct KeyTranslator {
    left_shift: bool,
    right_shift: bool,
    caps_lock: bool,
}

impl KeyTranslator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one `EV_KEY` event (`value`: 0 release, 1 press, 2 auto-repeat) and returns the
    /// character it types, if any.
    pub fn key_event(&mut self, code: u16, value: i32) -> Option<char> {
        match (code, value) {
            (KEY_LEFTSHIFT, PRESS | REPEAT) => self.left_shift = true,
            (KEY_LEFTSHIFT, RELEASE) => self.left_shift = false,
            (KEY_RIGHTSHIFT, PRESS | REPEAT) => self.right_shift = true,
            (KEY_RIGHTSHIFT, RELEASE) => self.right_shift = false,
            (KEY_CAPSLOCK, PRESS) => self.caps_lock = !self.caps_lock,
            (_, PRESS | REPEAT) => {
                let shift = self.left_shift || self.right_shift;
                let c = key_to_char(code, shift)?;
                // Caps Lock inverts the case of letters only.
                return Some(if self.caps_lock && c.is_ascii_alphabetic() {
                    if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                } else {
                    c
                });
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_row_and_keypad_digits() {
        let top: String = (2..=11).filter_map(|k| key_to_char(k, false)).collect();
        assert_eq!(top, "1234567890");
        let pad: String = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73]
            .into_iter()
            .filter_map(|k| key_to_char(k, false))
            .collect();
        assert_eq!(pad, "0123456789");
        assert_eq!(key_to_char(KEY_ENTER, false), Some('\n'));
        assert_eq!(key_to_char(KEY_KPENTER, true), Some('\n'));
    }

    #[test]
    fn letters_and_symbols_follow_shift() {
        // KEY_A = 30, KEY_F = 33, KEY_Z = 44, KEY_SLASH = 53.
        assert_eq!(key_to_char(30, false), Some('a'));
        assert_eq!(key_to_char(30, true), Some('A'));
        assert_eq!(key_to_char(33, true), Some('F'));
        assert_eq!(key_to_char(44, false), Some('z'));
        assert_eq!(key_to_char(53, true), Some('?'));
        assert_eq!(key_to_char(3, true), Some('@'));
    }

    #[test]
    fn modifier_and_unknown_keys_type_nothing() {
        for code in [
            0,
            1,
            14,
            29,
            KEY_LEFTSHIFT,
            KEY_RIGHTSHIFT,
            56,
            KEY_CAPSLOCK,
            59,
            200,
            u16::MAX,
        ] {
            assert_eq!(key_to_char(code, false), None, "code {code}");
        }
    }

    #[test]
    fn translator_tracks_shift_and_caps_lock() {
        let mut t = KeyTranslator::new();
        assert_eq!(t.key_event(30, PRESS), Some('a'));
        assert_eq!(t.key_event(30, RELEASE), None);
        t.key_event(KEY_RIGHTSHIFT, PRESS);
        assert_eq!(t.key_event(48, PRESS), Some('B'));
        t.key_event(KEY_RIGHTSHIFT, RELEASE);
        assert_eq!(t.key_event(48, PRESS), Some('b'));
        t.key_event(KEY_CAPSLOCK, PRESS);
        t.key_event(KEY_CAPSLOCK, RELEASE);
        assert_eq!(t.key_event(46, PRESS), Some('C'));
        assert_eq!(t.key_event(2, PRESS), Some('1'));
        t.key_event(KEY_LEFTSHIFT, PRESS);
        assert_eq!(t.key_event(46, PRESS), Some('c'));
        assert_eq!(t.key_event(46, REPEAT), Some('c'));
    }
}
