//! A PC/SC card's answer to the UID command (data + status word), whatever a card or a
//! broken reader returns: a number (hex of the data) or a reason, never card bytes in the
//! reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::readers::pcsc::uid_from_answer;

fuzz_target!(|data: &[u8]| {
    match uid_from_answer(data) {
        Ok(hex) => {
            assert_eq!(hex.len(), 2 * (data.len() - 2));
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        Err(reason) => assert!(!reason.to_string().is_empty()),
    }
});
