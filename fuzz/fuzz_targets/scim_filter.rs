//! SCIM filters (`GET /Users?filter=...`) and attribute paths from the identity provider (or
//! anyone holding the SCIM token): parse or refuse, evaluate what parsed, never overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::scim::filter;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = filter::parse(s) {
        let user = json!({"userName": "adele", "active": true, "emails": [
            {"type": "work", "value": "a@b", "primary": true}], "name": {"givenName": "A"}});
        let _ = filter::matches(&f, &user);
        let _ = filter::matches(&f, &json!("x"));
        let _ = filter::eq_pairs(&f);
    }
    let _ = filter::parse_path(s);
});
