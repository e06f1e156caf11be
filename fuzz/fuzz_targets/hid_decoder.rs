//! The HID keyboard-wedge decoder: raw evdev events (type, code, value, timestamp) as a
//! hostile or broken reader could send them. Reads that come out respect the configured
//! length bounds.
#![no_main]

use evdev::InputEvent;
use libfuzzer_sys::fuzz_target;
use mfp_kiosk::readers::hid::HidDecoder;
use mfp_kiosk::readers::wedge::WedgeSettings;

/// One event per 8 input bytes: type (1), code (2), value (2, signed), time step (3, in µs,
/// the top bit of the first byte making the clock jump backwards).
fn event(chunk: &[u8], t_us: &mut i64) -> InputEvent {
    let step = i64::from(u32::from_le_bytes([chunk[5], chunk[6], chunk[7] & 0x7f, 0]));
    if chunk[7] & 0x80 != 0 {
        *t_us -= step;
    } else {
        *t_us += step;
    }
    let type_ = u16::from(chunk[0] % 6); // SYN, KEY, REL, ABS, MSC, SW: the ones a keyboard sends
    InputEvent::from(libc::input_event {
        time: libc::timeval {
            tv_sec: 1_700_000_000 + t_us.div_euclid(1_000_000),
            tv_usec: t_us.rem_euclid(1_000_000),
        },
        type_,
        code: u16::from_le_bytes([chunk[1], chunk[2]]),
        value: i32::from(i16::from_le_bytes([chunk[3], chunk[4]])),
    })
}

fuzz_target!(|data: &[u8]| {
    let settings = WedgeSettings::default();
    let (min, max) = (settings.min_length, settings.max_length);
    let mut d = HidDecoder::new(settings);
    let mut t = 0i64;
    for chunk in data.chunks_exact(8) {
        let mut out = d.event(&event(chunk, &mut t));
        while let Some(read) = out {
            if let Ok(card) = read {
                let n = card.chars().count();
                assert!((min..=max).contains(&n), "read of {n} characters");
            }
            out = d.next_pending();
        }
    }
    d.clear_if_idle(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
});
