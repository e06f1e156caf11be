//! An ID token's header, checked before any key is looked up: anything that is not a signed
//! RS256 token with a key id is refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::auth::id_token::header_kid;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = header_kid(token) {
        assert!(!e.to_string().is_empty());
    }
});
