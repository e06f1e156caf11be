//! The JWKS document Entra (or anyone between) serves: keys that are not usable RSA signing
//! keys are skipped, the rest become decoding keys; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::auth::id_token::parse_jwks;

fuzz_target!(|data: &[u8]| {
    let _ = parse_jwks(data);
});
