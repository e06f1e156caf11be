//! Property tests for the parsers that take outside input: the config file, the HID keyboard
//! decoder, card-number normalisation and the file-name templates. Each property runs a small,
//! fixed number of cases so the suite stays quick; the fuzz targets (issue 14) go deeper.

use std::time::{Duration, UNIX_EPOCH};

use chrono::DateTime;
use evdev::{EventType, InputEvent};
use mfp_kiosk::auth::card::{CardPipeline, NormaliseStep};
use mfp_kiosk::config::Config;
use mfp_kiosk::readers::hid::HidDecoder;
use mfp_kiosk::readers::wedge::WedgeSettings;
use mfp_kiosk::workflow::template::{render, render_folder, TemplateContext};
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        // A failure prints its minimal input; nothing is written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const CONFIG: &str = r#"[device]
name = "test-panel"
state_dir = "/var/lib/mfp-kiosk"

[entra]
tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
client_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

[[workflows]]
id = "onedrive"
label = "Scan to OneDrive"
destination = "onedrive"
folder = "Scans/{date}"
file_name = "Scan {date}.pdf"
resolution_dpi = DPI
"#;

/// `KEY_1`..`KEY_9`, `KEY_0` for the digits 0-9.
fn digit_code(d: u8) -> u16 {
    if d == 0 {
        11
    } else {
        u16::from(d) + 1
    }
}

fn key(t_us: i64, code: u16, value: i32) -> InputEvent {
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

fn context(user: String, display_name: String, workflow: String, seq: u64) -> TemplateContext {
    TemplateContext {
        now: DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .fixed_offset(),
        upn: format!("{user}@contoso.example"),
        user,
        display_name,
        workflow,
        seq,
        device: "panel".into(),
        attributes: Default::default(),
        folder: None,
    }
}

/// What OneDrive and SharePoint accept as one name.
fn acceptable_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && !name
            .chars()
            .any(|c| "\"*:<>?/\\|".contains(c) || c.is_control())
        && !name.starts_with([' ', '.'])
        && !name.ends_with([' ', '.'])
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn any_config_text_loads_or_fails_with_an_error(text in "\\PC{0,400}") {
        let _ = Config::from_toml_str(&text);
    }

    #[test]
    fn a_resolution_is_kept_when_allowed_and_named_when_not(dpi in 0u32..2000) {
        let text = CONFIG.replace("DPI", &dpi.to_string());
        match Config::from_toml_str(&text) {
            Ok(c) => {
                prop_assert!((75..=600).contains(&dpi));
                prop_assert_eq!(c.workflows[0].resolution_dpi, dpi);
            }
            Err(e) => {
                prop_assert!(!(75..=600).contains(&dpi), "{}", e);
                prop_assert!(e.to_string().contains("resolution_dpi"), "{}", e);
            }
        }
    }

    #[test]
    fn random_key_events_never_panic_and_reads_stay_in_bounds(
        events in prop::collection::vec((0u16..250, 0i32..3, 0i64..50_000), 0..300)
    ) {
        let settings = WedgeSettings::default();
        let (min, max) = (settings.min_length, settings.max_length);
        let mut d = HidDecoder::new(settings);
        let mut t = 0i64;
        for (code, value, gap) in events {
            t += gap;
            let mut out = d.event(&key(t, code, value));
            while let Some(read) = out {
                if let Ok(card) = read {
                    let n = card.chars().count();
                    prop_assert!((min..=max).contains(&n), "{:?}", card);
                }
                out = d.next_pending();
            }
        }
        d.clear_if_idle(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    }

    #[test]
    fn a_typed_badge_number_comes_out_as_typed(
        digits in prop::collection::vec(0u8..10, 8..=20),
        gap_us in 1_000i64..15_000,
    ) {
        let mut d = HidDecoder::new(WedgeSettings::default());
        let mut t = 0;
        for &digit in &digits {
            prop_assert_eq!(d.event(&key(t, digit_code(digit), 1)), None);
            prop_assert_eq!(d.event(&key(t + 500, digit_code(digit), 0)), None);
            t += gap_us;
        }
        let typed: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        prop_assert_eq!(d.event(&key(t, 28, 1)), Some(Ok(typed)));
    }

    #[test]
    fn normalisation_of_any_read_is_bounded_and_never_panics(
        raw in "\\PC{0,80}",
        steps in prop::collection::vec(
            prop::sample::select(vec![
                "trim", "upper", "lower", "hex_to_dec", "dec_to_hex", "reverse_bytes",
                "strip_leading_zeros", "pad_left:12", "last:8", "regex:([0-9]+)",
            ]),
            0..5,
        ),
    ) {
        let steps: Vec<String> = steps.into_iter().map(String::from).collect();
        let pipeline = CardPipeline::parse(&steps).unwrap();
        if let Ok(card) = pipeline.apply(&raw) {
            prop_assert!(!card.is_empty());
            prop_assert_eq!(card.trim(), card.as_str());
        }
    }

    #[test]
    fn hex_uids_survive_hex_to_dec_and_back(
        first in 1u8..=255,
        rest in prop::collection::vec(any::<u8>(), 0..16),
        lower in any::<bool>(),
    ) {
        let hex: String = std::iter::once(first)
            .chain(rest)
            .map(|b| format!("{b:02X}"))
            .collect();
        let read = if lower { hex.to_lowercase() } else { hex.clone() };
        let to_dec = CardPipeline::parse(&["hex_to_dec".to_string()]).unwrap();
        let back = CardPipeline::parse(&["dec_to_hex".to_string()]).unwrap();
        let dec = to_dec.apply(&read).unwrap();
        prop_assert!(dec.bytes().all(|b| b.is_ascii_digit()), "{}", dec);
        prop_assert_eq!(back.apply(&dec).unwrap(), hex);
    }

    #[test]
    fn any_step_text_parses_or_is_refused_and_a_parsed_step_prints_back(s in "\\PC{0,30}") {
        if let Ok(step) = NormaliseStep::parse(&s) {
            prop_assert_eq!(NormaliseStep::parse(&step.to_string()).unwrap(), step);
        }
    }

    #[test]
    fn directory_values_never_make_a_bad_name_or_an_extra_folder(
        user in "\\PC{0,40}",
        display_name in "\\PC{0,300}",
        workflow in "\\PC{0,40}",
        seq in any::<u64>(),
    ) {
        let ctx = context(user, display_name, workflow, seq);
        if let Ok(name) = render("{display_name} {user} {seq}.pdf", &ctx) {
            prop_assert!(acceptable_name(&name), "{:?}", name);
        }
        if let Ok(folder) = render_folder("Scans/{user}/{workflow}", &ctx) {
            // A value never adds a folder (an empty last one is dropped, by design).
            let segments: Vec<&str> = folder.split('/').collect();
            prop_assert!((2..=3).contains(&segments.len()), "{:?}", folder);
            prop_assert_eq!(segments[0], "Scans");
            prop_assert!(segments.iter().all(|s| acceptable_name(s)), "{:?}", folder);
        }
    }

    #[test]
    fn any_template_text_renders_or_fails_with_an_error(template in "\\PC{0,60}") {
        let ctx = context("jdoe".into(), "J Doe".into(), "Scan".into(), 7);
        if let Ok(name) = render(&template, &ctx) {
            prop_assert!(acceptable_name(&name), "{:?} -> {:?}", template, name);
        }
        if let Ok(folder) = render_folder(&template, &ctx) {
            prop_assert!(folder.split('/').all(acceptable_name), "{:?} -> {:?}", template, folder);
        }
    }
}
