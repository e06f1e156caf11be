//! SCIM PATCH bodies (`PATCH /Users/{id}`, `/Groups/{id}`): any JSON parses to operations or
//! is refused with a SCIM 400; applying parsed operations to a stored document leaves a
//! document or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::scim::patch;
use mfp_kiosk::scim::provider::ProviderError;
use mfp_kiosk::scim::resource::Kind;
use mfp_kiosk::scim::ScimError;
use serde_json::{json, Value};

fn assert_400(e: patch::PatchError) {
    let scim = ScimError::from(ProviderError::Patch(e));
    assert_eq!(scim.status().as_u16(), 400);
    assert!(scim.scim_type().is_some());
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let (kind, doc) = if which & 1 == 0 {
        let doc = json!({"userName": "adele", "active": true,
            "emails": [{"type": "work", "value": "a@b", "primary": true}],
            "name": {"givenName": "A", "familyName": "V"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}});
        (Kind::User, doc)
    } else {
        let doc = json!({"displayName": "Scanners", "members": [{"value": "u1"}, {"value": "u2"}]});
        (Kind::Group, doc)
    };
    let Some(mut doc) = doc.as_object().cloned() else {
        return;
    };
    match patch::parse_request(&body) {
        Ok(ops) => {
            if let Err(e) = patch::apply(kind, &mut doc, &ops) {
                assert_400(e);
            }
        }
        Err(e) => assert_400(e),
    }
});
