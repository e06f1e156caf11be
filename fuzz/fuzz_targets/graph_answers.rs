//! Graph's JSON answers on the upload path: driveItem, createUploadSession, session status /
//! 202 fragment answers. The first byte picks the parser, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::graph::{parse_item, parse_new_session, parse_next_range};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = parse_item(body);
        }
        1 => {
            if let Ok(s) = parse_new_session(body) {
                // Only https (or loopback http) session URLs are ever accepted. The URL parser
                // (as reqwest's) ignores case in the scheme and leading C0 controls and spaces.
                let url = s
                    .url
                    .expose()
                    .trim_start_matches(|c: char| c <= ' ')
                    .to_ascii_lowercase();
                assert!(
                    url.starts_with("https:") || url.starts_with("http:"),
                    "{url}"
                );
                if let Some(end) = s.range_end {
                    let _ = end.checked_sub(s.next_offset);
                }
            }
        }
        _ => {
            let _ = parse_next_range(body);
        }
    }
});
