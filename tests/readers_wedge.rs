//! Keyboard-wedge decoding: bursts, human typing, lengths, garbage, evdev key codes, and
//! random input that must never panic or grow memory.

use std::time::{Duration, Instant};

use mfp_kiosk::readers::keymap::{KeyTranslator, KEY_ENTER, KEY_LEFTSHIFT};
use mfp_kiosk::readers::wedge::{WedgeDecoder, WedgeReject, WedgeSettings};

fn settings() -> WedgeSettings {
    WedgeSettings {
        min_length: 6,
        max_length: 12,
        max_key_gap: Duration::from_millis(40),
        terminator: '\n',
    }
}

/// Types `text` one key per `gap`, as evdev would deliver it; returns every completed read.
fn type_keys(
    d: &mut WedgeDecoder,
    text: &str,
    start: Instant,
    gap: Duration,
) -> Vec<Result<String, WedgeReject>> {
    let mut out = Vec::new();
    let mut t = start;
    for c in text.chars() {
        out.extend(d.feed(&c.to_string(), t));
        t += gap;
    }
    out
}

#[test]
fn fast_burst_with_enter_yields_the_number() {
    let mut d = WedgeDecoder::new(settings());
    let reads = type_keys(
        &mut d,
        "0004213379\n",
        Instant::now(),
        Duration::from_millis(8),
    );
    assert_eq!(reads, [Ok("0004213379".to_string())]);
}

#[test]
fn gaps_right_at_the_limit_still_count_as_a_reader() {
    let mut d = WedgeDecoder::new(settings());
    let reads = type_keys(
        &mut d,
        "12345678\n",
        Instant::now(),
        Duration::from_millis(40),
    );
    assert_eq!(reads, [Ok("12345678".to_string())]);
}

#[test]
fn slow_human_typing_is_rejected() {
    let mut d = WedgeDecoder::new(settings());
    let reads = type_keys(
        &mut d,
        "0004213379\n",
        Instant::now(),
        Duration::from_millis(180),
    );
    assert_eq!(reads, [Err(WedgeReject::TooSlow)]);
}

#[test]
fn one_slow_gap_inside_a_read_spoils_it() {
    let mut d = WedgeDecoder::new(settings());
    let t0 = Instant::now();
    let mut reads = type_keys(&mut d, "12345", t0, Duration::from_millis(5));
    reads.extend(type_keys(
        &mut d,
        "678\n",
        t0 + Duration::from_millis(300),
        Duration::from_millis(5),
    ));
    assert_eq!(reads, [Err(WedgeReject::TooSlow)]);
    // The decoder recovers for the next card.
    let next = type_keys(
        &mut d,
        "123456\n",
        t0 + Duration::from_secs(3),
        Duration::from_millis(5),
    );
    assert_eq!(next, [Ok("123456".to_string())]);
}

#[test]
fn too_short_and_too_long_are_rejected_with_their_lengths() {
    let mut d = WedgeDecoder::new(settings());
    let t0 = Instant::now();
    let gap = Duration::from_millis(5);
    assert_eq!(
        type_keys(&mut d, "12345\n", t0, gap),
        [Err(WedgeReject::TooShort { len: 5, min: 6 })]
    );
    assert_eq!(
        type_keys(&mut d, "1234567890123\n", t0 + Duration::from_secs(1), gap),
        [Err(WedgeReject::TooLong { len: 13, max: 12 })]
    );
    assert_eq!(
        type_keys(&mut d, "123456789012\n", t0 + Duration::from_secs(2), gap),
        [Ok("123456789012".to_string())]
    );
}

#[test]
fn hex_digits_pass_and_other_characters_are_garbage() {
    let mut d = WedgeDecoder::new(settings());
    let t0 = Instant::now();
    let gap = Duration::from_millis(5);
    assert_eq!(
        type_keys(&mut d, "04A3fB9c\n", t0, gap),
        [Ok("04A3fB9c".to_string())]
    );
    for (i, bad) in ["04A3G19C\n", "1234 5678\n", "1234-5678\n", "１２３４５６\n"]
        .iter()
        .enumerate()
    {
        let start = t0 + Duration::from_secs(i as u64 + 1);
        assert_eq!(
            type_keys(&mut d, bad, start, gap),
            [Err(WedgeReject::Garbage)],
            "{bad}"
        );
    }
}

#[test]
fn rejects_never_echo_the_input() {
    let mut d = WedgeDecoder::new(settings());
    let r = type_keys(&mut d, "98765x\n", Instant::now(), Duration::from_millis(5));
    let shown = format!("{:?} {}", r, r[0].as_ref().unwrap_err());
    assert!(!shown.contains("98765"), "{shown}");
}

#[test]
fn another_terminator_can_be_configured() {
    let mut d = WedgeDecoder::new(WedgeSettings {
        terminator: '\t',
        ..settings()
    });
    let reads = type_keys(&mut d, "123456\t", Instant::now(), Duration::from_millis(5));
    assert_eq!(reads, [Ok("123456".to_string())]);
}

#[test]
fn evdev_key_events_decode_through_the_us_keymap() {
    // KEY_1..KEY_0 are 2..=11; KEY_A = 30, KEY_B = 48; the reader holds Shift for letters.
    let events: &[(u16, i32)] = &[
        (4, 1),
        (4, 0),
        (2, 1),
        (2, 0),
        (KEY_LEFTSHIFT, 1),
        (30, 1),
        (30, 0),
        (48, 1),
        (48, 0),
        (KEY_LEFTSHIFT, 0),
        (11, 1),
        (11, 0),
        (10, 1),
        (10, 0),
        (KEY_ENTER, 1),
        (KEY_ENTER, 0),
    ];
    let mut keys = KeyTranslator::new();
    let mut d = WedgeDecoder::new(settings());
    let mut t = Instant::now();
    let mut reads = Vec::new();
    for &(code, value) in events {
        if let Some(c) = keys.key_event(code, value) {
            reads.extend(d.feed(c.encode_utf8(&mut [0; 4]), t));
        }
        t += Duration::from_millis(2);
    }
    assert_eq!(reads, [Ok("31AB09".to_string())]);
}

/// xorshift64*: reproducible randomness without a seeded-RNG crate API to depend on.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_input_never_panics_and_results_stay_within_bounds() {
    let alphabet: Vec<char> = "0123456789ABCDEFabcdef\n\r\t xZ!é\u{0}\u{1b}"
        .chars()
        .collect();
    let s = settings();
    let (mut accepted, mut rejected) = (0, 0);
    for seed in 1..40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut d = WedgeDecoder::new(s);
        let mut t = Instant::now();
        for _ in 0..2_000 {
            if rng.next().is_multiple_of(8) {
                // A real card after a pause: whatever came before, it must be read exactly.
                let len = s.min_length + (rng.next() % 7) as usize;
                let number: String = (0..len)
                    .map(|_| alphabet[(rng.next() % 22) as usize])
                    .collect();
                let reads = type_keys(
                    &mut d,
                    &format!("{number}\n"),
                    t + Duration::from_millis(200),
                    Duration::from_millis(rng.next() % 40),
                );
                assert_eq!(reads, [Ok(number)]);
                t += Duration::from_secs(1);
                continue;
            }
            // Mostly reader-speed gaps, sometimes human ones, sometimes the clock standing still.
            t += Duration::from_millis(match rng.next() % 10 {
                0 => 500,
                1 => 0,
                _ => rng.next() % 45,
            });
            let n = (rng.next() % 4) as usize;
            let chunk: String = (0..n)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            let mut results: Vec<_> = d.feed(&chunk, t).into_iter().collect();
            while let Some(r) = d.next_pending() {
                results.push(r);
            }
            for r in results {
                match r {
                    Ok(number) => {
                        accepted += 1;
                        assert!(
                            (s.min_length..=s.max_length).contains(&number.len()),
                            "{number}"
                        );
                        assert!(number.chars().all(|c| c.is_ascii_hexdigit()), "{number}");
                    }
                    Err(_) => rejected += 1,
                }
            }
        }
        // A flood without terminator must stay capped and then be refused as too long.
        let flood = "7".repeat(100_000);
        d.feed("\n", t + Duration::from_secs(1));
        assert_eq!(d.feed(&flood, t + Duration::from_secs(2)), None);
        assert_eq!(
            d.feed("\n", t + Duration::from_secs(2)),
            Some(Err(WedgeReject::TooLong {
                len: 100_000,
                max: 12
            }))
        );
    }
    // The random part exercised both outcomes, not just one.
    assert!(
        accepted > 0 && rejected > 0,
        "{accepted} accepted, {rejected} rejected"
    );
}
