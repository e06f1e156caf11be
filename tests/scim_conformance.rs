//! RFC 7643 / 7644 conformance of the SCIM endpoint over real HTTP: discovery documents,
//! filters and paging, uniqueness, mutability, attribute projection, malformed and oversized
//! bodies, the token (401 revealing nothing), the rate limit, TLS (required off loopback, and
//! working), and `mfp-kiosk --demo scim serve`'s first line.
#![cfg(feature = "demo")]

mod scim_support;

use std::io::BufRead;

use mfp_kiosk::config::{Config, ConfigError};
use reqwest::Method;
use scim_support::*;
use serde_json::{json, Value};

fn guid(i: u32) -> String {
    format!("b0000000-0000-4000-8000-{i:012}")
}

#[tokio::test]
async fn discovery_documents_parse_as_scim_schemas() {
    let s = scim().await;
    let (status, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let (_, types) = s.get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let user_type = &types["Resources"][0];
    assert_eq!(user_type["endpoint"], "/Users");
    let exts: Vec<&str> = user_type["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schema"].as_str().unwrap())
        .collect();
    assert_eq!(exts, [ENTERPRISE, KIOSK]);
    let (_, schemas) = s.get("/Schemas").await;
    let list = schemas["Resources"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    for schema in list {
        assert_eq!(
            schema["schemas"][0],
            "urn:ietf:params:scim:schemas:core:2.0:Schema"
        );
        for a in schema["attributes"].as_array().unwrap() {
            for key in [
                "name",
                "type",
                "multiValued",
                "required",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(a.get(key).is_some(), "{} lacks {key}", a["name"]);
            }
        }
    }
    let (status, kiosk) = s.get(&format!("/Schemas/{KIOSK}")).await;
    assert_eq!(status, 200);
    let cards = &kiosk["attributes"][0];
    assert_eq!(
        (
            cards["name"].as_str(),
            cards["mutability"].as_str(),
            cards["returned"].as_str()
        ),
        (Some("cardNumbers"), Some("writeOnly"), Some("never"))
    );
    assert_eq!(s.get("/Schemas/urn:nope").await.0, 404);
    assert_eq!(s.call(Method::DELETE, "/Schemas", None).await.0, 405);
}

#[tokio::test]
async fn filters_and_paging() {
    let s = scim().await;
    for i in 1..=5 {
        s.create(&entra_user(&format!("user{i}"), &guid(i), None))
            .await;
    }
    let (_, page) = s.get("/Users?startIndex=2&count=2").await;
    assert_eq!(
        (
            &page["totalResults"],
            &page["startIndex"],
            &page["itemsPerPage"]
        ),
        (&json!(5), &json!(2), &json!(2))
    );
    let (_, rest) = s.get("/Users?startIndex=5&count=10").await;
    assert_eq!(rest["Resources"].as_array().unwrap().len(), 1);
    let (_, none) = s.get("/Users?count=0").await;
    assert_eq!(
        (none["totalResults"].clone(), none["itemsPerPage"].clone()),
        (json!(5), json!(0))
    );
    let (status, v) = s.get("/Users?count=x").await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("invalidValue"))
    );

    // userName is case-insensitive, externalId case-exact; emails by the work value; and.
    let one = |v: &Value| v["Resources"][0]["userName"].as_str().map(str::to_string);
    let (_, v) = s
        .get(&format!("/Users?filter={}", q("USERNAME eq \"USER3\"")))
        .await;
    assert_eq!(one(&v).as_deref(), Some("user3"));
    let (_, v) = s
        .get(&format!(
            "/Users?filter={}",
            q("emails[type eq \"work\"].value eq \"User4@Contoso.Example\"")
        ))
        .await;
    assert_eq!(one(&v).as_deref(), Some("user4"));
    let (_, v) = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!(
                "userName eq \"user2\" and externalId eq \"{}\"",
                guid(2)
            ))
        ))
        .await;
    assert_eq!(v["totalResults"], 1);
    let (_, v) = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!(
                "userName eq \"user2\" and externalId eq \"{}\"",
                guid(3)
            ))
        ))
        .await;
    assert_eq!(v["totalResults"], 0);
    let (_, v) = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("externalId eq \"{}\"", guid(2).to_uppercase()))
        ))
        .await;
    assert_eq!(v["totalResults"], 0, "externalId is caseExact");
    for bad in [
        "userName co \"user\"",
        "userName eq \"a\" or userName eq \"b\"",
        "title eq \"x\"",
        "userName eq",
        "((",
    ] {
        let (status, v) = s.get(&format!("/Users?filter={}", q(bad))).await;
        assert_eq!(
            (status, v["scimType"].clone()),
            (400, json!("invalidFilter")),
            "{bad}: {v}"
        );
    }
}

#[tokio::test]
async fn uniqueness_mutability_projection_and_bad_bodies() {
    let s = scim().await;
    let id = s.create(&entra_user("adele", &guid(1), None)).await;
    let (status, v) = s.post("/Users", &entra_user("ADELE", &guid(2), None)).await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (409, json!("uniqueness")),
        "{v}"
    );
    let (status, v) = s.post("/Users", &entra_user("other", &guid(1), None)).await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (409, json!("uniqueness")),
        "same externalId: {v}"
    );

    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "id", "value": "mine"}])),
        )
        .await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("mutability")),
        "{v}"
    );
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "groups", "value": []}])),
        )
        .await;
    assert_eq!((status, v["scimType"].clone()), (400, json!("mutability")));
    // readOnly attributes sent in a PUT are ignored, not stored.
    let mut put = entra_user("adele", &guid(1), None);
    put["id"] = json!("chosen-by-client");
    put["displayName"] = json!("Adele V.");
    let (status, v) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(&put))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["displayName"].as_str()),
        (Some(id.as_str()), Some("Adele V."))
    );

    let (_, v) = s
        .get(&format!(
            "/Users/{id}?excludedAttributes=emails,name.familyName"
        ))
        .await;
    assert!(
        v.get("emails").is_none() && v["name"].get("familyName").is_none(),
        "{v}"
    );
    assert_eq!(v["name"]["givenName"], "adele");
    let (_, v) = s.get(&format!("/Users/{id}?attributes=userName")).await;
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);

    for (body, scim_type) in [
        ("{\"userName\": ", "invalidSyntax"),
        ("[1, 2]", "invalidSyntax"),
        ("{\"displayName\": \"no user name\"}", "invalidValue"),
        (
            "{\"userName\": \"x@contoso.example\", \"active\": \"maybe\"}",
            "invalidValue",
        ),
    ] {
        let (status, v) = s
            .call_as(Some(&s.token), Method::POST, "/Users", Some(body.into()))
            .await;
        assert_eq!(
            (status, v["scimType"].as_str()),
            (400, Some(scim_type)),
            "{body}: {v}"
        );
    }
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "move"}]}),
        )
        .await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("invalidSyntax"))
    );
    let big = json!({"userName": "big@contoso.example", "title": "x".repeat(100 * 1024)});
    let (status, v) = s.post("/Users", &big).await;
    assert_eq!(status, 413, "{v}");
    // The refused writes are in the report; the 409s changed nothing.
    let activity =
        s.k.services
            .store
            .scim_activity(chrono::Utc::now() - chrono::Duration::hours(1))
            .unwrap();
    assert_eq!((activity.users, activity.active_users), (1, 1));
    assert!(activity.refused_24h >= 8, "{activity:?}");
    let (status, _) = s.get("/Users/does-not-exist").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_wrong_token_reveals_nothing() {
    let s = scim().await;
    let id = s.create(&entra_user("adele", &guid(1), None)).await;
    let path = format!("/Users/{id}");
    let (status, wrong) = s.call_as(Some("x"), Method::GET, &path, None).await;
    let (status2, missing) = s.call_as(None, Method::GET, "/Nothing/here", None).await;
    assert_eq!((status, status2), (401, 401));
    assert_eq!(wrong, missing, "a known and an unknown path look the same");
    assert!(!wrong.to_string().contains("adele"));
    let (status, _) = s
        .call_as(Some(&format!("{}x", s.token)), Method::DELETE, &path, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(s.get(&path).await.0, 200, "still there");
    assert_eq!(s.get("/Nothing/here").await.0, 404);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let s = scim_with(|o| o.rate_per_minute = 5).await;
    for _ in 0..5 {
        assert_eq!(s.get("/ServiceProviderConfig").await.0, 200);
    }
    let resp = s
        .http
        .get(format!("{}/ServiceProviderConfig", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

#[tokio::test]
async fn tls_is_required_off_loopback_and_works() {
    let mut c = Config::demo_default();
    c.directory.enabled = false;
    c.scim.enabled = true;
    c.scim.token_hash = Some(mfp_kiosk::scim::auth::generate().1.to_config());
    c.scim.listen = "0.0.0.0:9443".into();
    match c.validate() {
        Err(ConfigError::Missing { key, .. }) => assert_eq!(key, "scim.tls_certificate_file"),
        other => panic!("{other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cp, kp) = (dir.path().join("scim.crt"), dir.path().join("scim.key"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.signing_key.serialize_pem()).unwrap();
    let s = scim_with(|o| o.tls = Some((cp.clone(), kp.clone()))).await;
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let port = s
        .base
        .trim_start_matches("https://127.0.0.1:")
        .split('/')
        .next()
        .unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/scim/v2/ServiceProviderConfig");
    let resp = client.get(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let plain = reqwest::get(format!(
        "http://127.0.0.1:{port}/scim/v2/ServiceProviderConfig"
    ))
    .await;
    assert!(
        plain.map(|r| r.status().as_u16() != 200).unwrap_or(true),
        "no clear text"
    );
}

#[tokio::test]
async fn demo_serve_prints_its_base_url_and_a_one_time_token_first() {
    let home = tempfile::tempdir().unwrap();
    let bin = std::env::var_os("MFP_KIOSK_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_BIN_EXE_mfp-kiosk")));
    let mut child = std::process::Command::new(bin)
        .args(["--demo", "scim", "serve"])
        .env("XDG_STATE_HOME", home.path())
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let v: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{first:?}: {e}"));
    let base = v["base_url"].as_str().unwrap();
    let token = v["token"].as_str().unwrap();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/scim/v2"),
        "{base}"
    );
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{base}/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let refused = client
        .get(format!("{base}/Users"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        (ok.status().as_u16(), refused.status().as_u16()),
        (200, 401)
    );
}
