//! Property tests over the SCIM filter parser and PATCH: arbitrary text, and text built from
//! the grammar's own pieces (so most inputs get deep into the parser), never panic; every bad
//! input is an error that maps to a SCIM 400 with a scimType; a filter that parses evaluates
//! without panicking; PATCH on any parsed path leaves a document or an error.

use mfp_kiosk::scim::filter::{self, Filter};
use mfp_kiosk::scim::patch;
use mfp_kiosk::scim::provider::ProviderError;
use mfp_kiosk::scim::resource::Kind;
use mfp_kiosk::scim::ScimError;
use proptest::prelude::*;
use serde_json::json;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fragments of the filter grammar, glued in random order.
fn grammar_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("userName".to_string()),
        Just("emails".to_string()),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".to_string()),
        Just("name.givenName".to_string()),
        Just(".value".to_string()),
        Just(" eq ".to_string()),
        Just(" Eq ".to_string()),
        Just(" pr".to_string()),
        Just(" co ".to_string()),
        Just(" and ".to_string()),
        Just(" or ".to_string()),
        Just("not ".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\"work\"".to_string()),
        Just("\"a\\\"b\"".to_string()),
        Just("\"\\u00e9\"".to_string()),
        Just("\"unterminated".to_string()),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("1e999".to_string()),
        Just("type".to_string()),
        "[a-zA-Z$_.:-]{1,8}",
        "\\PC{0,3}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn scim_type_of_filter(e: filter::FilterError) -> Option<&'static str> {
    ScimError::from(ProviderError::Filter(e)).scim_type()
}

proptest! {
    #![proptest_config(cases(600))]

    #[test]
    fn filters_never_panic_and_bad_ones_are_invalid_filter(s in prop_oneof![grammar_soup(), "\\PC{0,64}"]) {
        match filter::parse(&s) {
            Ok(f) => {
                // Evaluating a parsed filter on any element is total.
                let _ = filter::matches(&f, &json!({"type": "work", "value": "x", "primary": true}));
                let _ = filter::matches(&f, &json!("x"));
                let _ = filter::eq_pairs(&f);
            }
            Err(e) => prop_assert_eq!(scim_type_of_filter(e), Some("invalidFilter")),
        }
        if let Err(e) = filter::parse_path(&s) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn patch_paths_never_panic_and_bad_ones_are_scim_400s(
        path in prop_oneof![grammar_soup(), "\\PC{0,40}"],
        op in prop_oneof![Just("add"), Just("Replace"), Just("REMOVE"), Just("copy")],
        value in prop_oneof![Just(json!("v")), Just(json!([{"value": "u1"}])), Just(json!({"a": 1})), Just(json!(null))],
    ) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": path, "value": value}]});
        let mut doc = json!({"userName": "adele", "emails": [{"type": "work", "value": "a@b"}],
            "name": {"givenName": "A"}}).as_object().cloned().unwrap();
        let result = patch::parse_request(&body)
            .and_then(|ops| patch::apply(Kind::User, &mut doc, &ops));
        if let Err(e) = result {
            let scim = ScimError::from(ProviderError::Patch(e));
            prop_assert_eq!(scim.status().as_u16(), 400);
            prop_assert!(scim.scim_type().is_some());
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!(
        "{}userName eq \"a\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(filter::parse(&deep).is_err());
    let deep = format!("emails{}", "[type eq \"a\"]".repeat(5_000));
    assert!(filter::parse_path(&deep).is_err());
    let nested = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
    assert_eq!(filter::parse(&nested), Err(filter::FilterError::TooDeep));
    assert!(matches!(
        filter::parse("not (userName eq \"a\")"),
        Ok(Filter::Not(_))
    ));
}
