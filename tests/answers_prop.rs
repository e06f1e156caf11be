//! Property tests for the parsers of answers from outside that tests/parsers_prop.rs and
//! tests/scim_prop.rs leave out: a PC/SC card's answer to the UID command, an ID token's
//! header, the JWKS, Graph's upload answers, page sources feeding the PDF writer and SCIM
//! PATCH bodies. Each compares the parser with a model of what it must do, over a small fixed
//! number of cases; the fuzz targets in fuzz/ (issue 14) go deeper.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mfp_kiosk::auth::id_token::{header_kid, parse_jwks, IdTokenError};
use mfp_kiosk::graph::{parse_new_session, parse_next_range};
use mfp_kiosk::readers::pcsc::uid_from_answer;
use mfp_kiosk::readers::UnreadableReason;
use mfp_kiosk::scan::pdf::PdfWriter;
use mfp_kiosk::scan::{ColorMode, PageInfo, PageRows, ScanError};
use mfp_kiosk::scim::patch;
use mfp_kiosk::scim::provider::ProviderError;
use mfp_kiosk::scim::resource::Kind;
use mfp_kiosk::scim::ScimError;
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A page source that delivers `height` rows in bands of the sizes in `bands` (cycled), or
/// claims `lie` rows more than the band holds on its first read.
struct Rows {
    info: PageInfo,
    left: u32,
    bands: Vec<usize>,
    reads: usize,
    lie: usize,
}

impl PageRows for Rows {
    fn info(&self) -> PageInfo {
        self.info
    }

    fn read_rows(&mut self, band: &mut [u8]) -> Result<usize, ScanError> {
        let rb = self.info.row_bytes();
        let fit = band.len() / rb;
        if self.lie > 0 && self.reads == 0 {
            self.reads += 1;
            return Ok(fit + self.lie);
        }
        let want = self.bands[self.reads % self.bands.len()];
        self.reads += 1;
        let n = want.min(fit).min(self.left as usize);
        band[..n * rb].fill(0x5a);
        self.left -= n as u32;
        Ok(n)
    }
}

fn color() -> impl Strategy<Value = ColorMode> {
    prop_oneof![
        Just(ColorMode::Color),
        Just(ColorMode::Gray),
        Just(ColorMode::BlackWhite)
    ]
}

/// JSON built from the PatchOp vocabulary, so most bodies reach past the first checks.
fn patch_body() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just(json!("add")),
        Just(json!("Replace")),
        Just(json!("remove")),
        Just(json!("copy")),
        Just(json!(3)),
    ];
    let path = prop_oneof![
        Just(json!("userName")),
        Just(json!("emails[type eq \"work\"].value")),
        Just(json!("members[value eq \"u1\"]")),
        Just(json!("name.givenName")),
        Just(json!("id")),
        Just(json!("")),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    let value = prop_oneof![
        Just(json!("v")),
        Just(json!(null)),
        Just(json!([{"value": "u3"}])),
        Just(json!({"active": false, "name": {"familyName": "X"}})),
        Just(json!(17)),
    ];
    let operation = (op, prop::option::of(path), prop::option::of(value)).prop_map(|(o, p, v)| {
        let mut m = serde_json::Map::new();
        m.insert("op".into(), o);
        if let Some(p) = p {
            m.insert("path".into(), p);
        }
        if let Some(v) = v {
            m.insert("value".into(), v);
        }
        Value::Object(m)
    });
    let schemas = prop_oneof![
        Just(json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"])),
        Just(json!([])),
        Just(json!("urn:ietf:params:scim:api:messages:2.0:PatchOp")),
    ];
    (
        schemas,
        prop::collection::vec(operation, 0..4),
        any::<bool>(),
    )
        .prop_map(|(schemas, ops, as_array)| {
            let ops = if as_array {
                Value::Array(ops)
            } else {
                ops.into_iter().next().unwrap_or(Value::Null)
            };
            json!({"schemas": schemas, "Operations": ops})
        })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn a_pcsc_answer_is_its_data_in_hex_or_its_status_word(
        resp in prop::collection::vec(any::<u8>(), 0..12),
        ok in any::<bool>(),
    ) {
        let mut resp = resp;
        if ok {
            resp.extend([0x90, 0x00]);
        }
        let expected = match resp.as_slice() {
            [data @ .., 0x90, 0x00] if !data.is_empty() => {
                Ok(data.iter().map(|b| format!("{b:02X}")).collect::<String>())
            }
            [.., 0x90, 0x00] => Err(UnreadableReason::NoUidAnswer),
            [.., sw1, sw2] => Err(UnreadableReason::StatusWord(*sw1, *sw2)),
            _ => Err(UnreadableReason::NoUidAnswer),
        };
        prop_assert_eq!(uid_from_answer(&resp), expected);
    }

    #[test]
    fn an_id_token_header_is_refused_unless_signed_rs256_with_a_kid(
        alg in prop_oneof![
            prop::sample::select(vec!["RS256", "none", "NoNe", "HS256", "RS512"]).prop_map(String::from),
            "[A-Za-z0-9]{0,6}",
        ],
        kid in prop::option::of("[A-Za-z0-9_-]{1,12}"),
        garbage in prop::option::of("\\PC{0,20}"),
    ) {
        let header = match &kid {
            Some(k) => json!({"alg": alg, "typ": "JWT", "kid": k}),
            None => json!({"alg": alg, "typ": "JWT"}),
        };
        let head = match &garbage {
            Some(g) => g.clone(),
            None => b64(header.to_string().as_bytes()),
        };
        let token = format!("{head}.{}.{}", b64(b"{\"sub\":\"x\"}"), b64(b"sig"));
        let got = header_kid(&token);
        match (&garbage, kid) {
            (Some(_), _) => prop_assert!(got.is_err()),
            (None, _) if alg.eq_ignore_ascii_case("none") => {
                prop_assert!(matches!(got, Err(IdTokenError::Unsigned)), "{:?}", got)
            }
            (None, _) if alg != "RS256" => {
                prop_assert!(matches!(got, Err(IdTokenError::UnsupportedAlg(_))), "{:?}", got)
            }
            (None, Some(k)) => prop_assert_eq!(got.ok(), Some(k)),
            (None, None) => prop_assert!(matches!(got, Err(IdTokenError::MissingKid)), "{:?}", got),
        }
    }

    #[test]
    fn a_jwks_keeps_exactly_its_rsa_signing_keys(
        keys in prop::collection::vec(
            (
                prop_oneof![Just("RSA"), Just("EC"), Just("oct")],
                prop::option::of(prop_oneof![Just("sig"), Just("enc")]),
                prop::option::of("[a-z0-9]{1,8}"),
                prop::collection::vec(any::<u8>(), 1..64),
            ),
            0..6,
        ),
    ) {
        let mut expected = std::collections::BTreeSet::new();
        let docs: Vec<Value> = keys
            .iter()
            .map(|(kty, key_use, kid, n)| {
                let usable = *kty == "RSA" && key_use.is_none_or(|u| u == "sig");
                if let (true, Some(k)) = (usable, kid) {
                    expected.insert(k.clone());
                }
                let mut m = json!({"kty": kty, "n": b64(n), "e": "AQAB"});
                if let Some(u) = key_use {
                    m["use"] = json!(u);
                }
                if let Some(k) = kid {
                    m["kid"] = json!(k);
                }
                m
            })
            .collect();
        let body = json!({"keys": docs}).to_string();
        let got = parse_jwks(body.as_bytes()).expect("well-formed JWKS");
        let got: std::collections::BTreeSet<String> = got.into_keys().collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn any_bytes_as_jwks_parse_or_fail(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_jwks(&body);
    }

    #[test]
    fn graph_expected_ranges_are_read_or_refused(
        start in any::<u64>(),
        end in prop::option::of(any::<u64>()),
        junk in prop::option::of("\\PC{0,12}"),
    ) {
        let range = match (&junk, end) {
            (Some(j), _) => j.clone(),
            (None, Some(e)) => format!("{start}-{e}"),
            (None, None) => format!("{start}-"),
        };
        let body = json!({"nextExpectedRanges": [range]}).to_string();
        match (parse_next_range(body.as_bytes()), junk) {
            (got, None) => prop_assert_eq!(got.ok(), Some((start, end))),
            (Ok((s, e)), Some(j)) => {
                // Junk that happens to be a range must read as that range.
                let (a, b) = j.split_once('-').expect("a range has a dash");
                prop_assert_eq!(a.trim().parse::<u64>().ok(), Some(s));
                prop_assert_eq!(b.trim().parse::<u64>().ok(), e);
            }
            (Err(_), Some(_)) => {}
        }
    }

    #[test]
    fn an_upload_session_url_must_be_https_or_loopback(
        scheme in prop_oneof![Just("https"), Just("http"), Just("ftp"), Just("file")],
        host in prop_oneof![Just("contoso.sharepoint.com"), Just("127.0.0.1"), Just("localhost"), Just("10.0.0.1")],
    ) {
        let url = format!("{scheme}://{host}/upload/abc");
        let body = json!({"uploadUrl": url, "nextExpectedRanges": ["0-"]}).to_string();
        let secure = scheme == "https" || (scheme == "http" && host != "10.0.0.1" && host != "contoso.sharepoint.com");
        let got = parse_new_session(body.as_bytes());
        prop_assert_eq!(got.is_ok(), secure, "{}", url);
        if let Ok(s) = got {
            prop_assert_eq!(s.next_offset, 0);
            prop_assert_eq!(s.url.expose(), url.as_str());
        }
    }

    #[test]
    fn scim_patch_bodies_parse_and_apply_or_are_scim_400s(body in patch_body(), group in any::<bool>()) {
        let (kind, doc) = if group {
            (Kind::Group, json!({"displayName": "Scanners", "members": [{"value": "u1"}]}))
        } else {
            (Kind::User, json!({"userName": "adele", "emails": [{"type": "work", "value": "a@b"}]}))
        };
        let mut doc = doc.as_object().cloned().expect("an object");
        let result = patch::parse_request(&body).and_then(|ops| patch::apply(kind, &mut doc, &ops));
        if let Err(e) = result {
            let scim = ScimError::from(ProviderError::Patch(e));
            prop_assert_eq!(scim.status().as_u16(), 400);
            prop_assert!(scim.scim_type().is_some());
        }
    }
}

proptest! {
    // Each case writes a PDF file: fewer cases.
    #![proptest_config(cases(24))]

    #[test]
    fn any_page_source_gives_a_complete_pdf_or_an_error_and_no_stray_file(
        color in color(),
        width in 1u32..120,
        height in 1u32..90,
        announced in any::<bool>(),
        bands in prop::collection::vec(1usize..40, 1..4),
        lie in prop_oneof![3 => Just(0usize), 1 => 1usize..3],
        pages in 1usize..3,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("scan.pdf");
        let mut writer = PdfWriter::create(&out).expect("create");
        let mut failed = false;
        for _ in 0..pages {
            let mut rows = Rows {
                info: PageInfo {
                    width_px: width,
                    height_px: announced.then_some(height),
                    dpi: 200,
                    color,
                },
                left: height,
                bands: bands.clone(),
                reads: 0,
                lie,
            };
            if writer.add_page_rows(&mut rows).is_err() {
                failed = true;
                break;
            }
        }
        // A source claiming more rows than the band holds is refused, never trusted.
        prop_assert_eq!(failed, lie > 0);
        if failed {
            drop(writer);
        } else {
            let done = writer.finish().expect("finish");
            prop_assert_eq!(done.pages as usize, pages);
            let doc = lopdf::Document::load(&out).expect("a PDF lopdf can read");
            prop_assert_eq!(doc.get_pages().len(), pages);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
        prop_assert_eq!(left.len(), usize::from(!failed));
    }
}

/// Regression (fuzz/artifacts crash of `pdf_writer`): a page source that reports more rows than
/// the band holds made the writer slice past its band and panic. Now the page is refused.
#[test]
fn a_source_claiming_more_rows_than_the_band_holds_is_refused() {
    for announced in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("scan.pdf");
        let mut writer = PdfWriter::create(&out).expect("create");
        let mut rows = Rows {
            info: PageInfo {
                width_px: 51,
                height_px: announced.then_some(10),
                dpi: 300,
                color: ColorMode::Color,
            },
            left: 10,
            bands: vec![10],
            reads: 0,
            lie: 1,
        };
        let err = writer.add_page_rows(&mut rows).expect_err("a lying source");
        assert!(err.to_string().contains("rows in a band of"), "{err}");
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
