//! Every kind of ID token the kiosk must refuse, minted by the test, checked by the product's
//! validator against the simulated tenant's real JWKS over loopback HTTP. Each is refused with
//! its own error variant.
#![cfg(feature = "demo")]

use std::collections::HashSet;
use std::mem::discriminant;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfp_kiosk::auth::discovery;
use mfp_kiosk::auth::id_token::{IdTokenError, IdTokenValidator};
use mfp_kiosk::sim::{SimCloud, SimOptions};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};

const OTHER_TENANT: &str = "9d2b7f31-0c4e-4b8a-a1f6-52e0c7d8b913";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Valid claims of the demo tenant's first user.
fn good_claims(sim: &SimCloud) -> Value {
    let adele = &sim.users()[0];
    json!({
        "aud": sim.client_id(),
        "iss": sim.issuer(),
        "iat": now(),
        "nbf": now(),
        "exp": now() + 3600,
        "sub": "pairwise-subject",
        "oid": adele.oid,
        "tid": sim.tenant_id(),
        "preferred_username": adele.upn,
        "name": adele.display_name,
        "ver": "2.0",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn foreign_key_token(kid: &str, claims: &Value) -> String {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

/// `alg: none`, no signature: what an attacker sends hoping the verifier skips the check.
fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// The key-confusion attack: HMAC-SHA256 keyed with the tenant's public RSA key (as PEM), which
/// anyone can download from the JWKS.
async fn hs256_with_public_key(sim: &SimCloud, jwks_uri: &url::Url, claims: &Value) -> String {
    let jwks: Value = reqwest::get(jwks_uri.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = sim.current_kid();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .unwrap();
    let component = |name: &str| {
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap())
    };
    let public = rsa::RsaPublicKey::new(component("n"), component("e")).unwrap();
    let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(pem.as_bytes())).unwrap()
}

/// A valid token whose payload was swapped after signing.
fn tampered_payload(valid: &str, claims: &Value) -> String {
    let parts: Vec<&str> = valid.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

#[tokio::test]
async fn every_rejected_token_case_has_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCloud::start(SimOptions::demo(dir.path().join("drive")))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let single = discovery::discover(&http, &sim.authority_host(), sim.tenant_id())
        .await
        .unwrap();
    let multi = discovery::discover(&http, &sim.authority_host(), "organizations")
        .await
        .unwrap();
    let allowed = vec![sim.tenant_id().to_string()];
    let validator =
        IdTokenValidator::from_metadata(http.clone(), &single, sim.client_id(), &allowed);
    // The multi-tenant authority: the issuer follows each token's tid, the allow-list decides.
    let multi_validator =
        IdTokenValidator::from_metadata(http.clone(), &multi, sim.client_id(), &allowed);

    let good = good_claims(&sim);
    let kid = sim.current_kid();
    let valid = sim.sign_jwt(&good).unwrap();
    assert_eq!(
        validator.validate(&valid).await.unwrap().tid,
        sim.tenant_id()
    );
    assert_eq!(
        multi_validator.validate(&valid).await.unwrap().tid,
        sim.tenant_id()
    );

    let other_tenant = with(
        with(good.clone(), "tid", json!(OTHER_TENANT)),
        "iss",
        json!(multi.issuer_for_tenant(OTHER_TENANT)),
    );
    type Expect = fn(&IdTokenError) -> bool;
    let cases: Vec<(&str, String, &IdTokenValidator, Expect)> = vec![
        ("alg none", unsigned_token(&kid, &good), &validator, |e| {
            matches!(e, IdTokenError::Unsigned)
        }),
        (
            "HS256 keyed with the public key",
            hs256_with_public_key(&sim, &single.jwks_uri, &good).await,
            &validator,
            |e| matches!(e, IdTokenError::UnsupportedAlg(alg) if alg == "HS256"),
        ),
        (
            "signed by another key under the tenant's kid",
            foreign_key_token(&kid, &good),
            &validator,
            |e| matches!(e, IdTokenError::BadSignature),
        ),
        (
            "payload swapped after signing",
            tampered_payload(&valid, &with(good.clone(), "oid", json!("someone-else"))),
            &validator,
            |e| matches!(e, IdTokenError::BadSignature),
        ),
        (
            "wrong audience",
            sim.sign_jwt(&with(good.clone(), "aud", json!("another-app")))
                .unwrap(),
            &validator,
            |e| matches!(e, IdTokenError::WrongAudience),
        ),
        (
            "wrong issuer",
            sim.sign_jwt(&with(
                good.clone(),
                "iss",
                json!("https://login.microsoftonline.com/not-this-one/v2.0"),
            ))
            .unwrap(),
            &validator,
            |e| matches!(e, IdTokenError::WrongIssuer { .. }),
        ),
        (
            "tenant not allowed",
            sim.sign_jwt(&other_tenant).unwrap(),
            &multi_validator,
            |e| matches!(e, IdTokenError::TenantNotAllowed(t) if t == OTHER_TENANT),
        ),
        (
            "expired beyond the 5 minute leeway",
            sim.sign_jwt(&with(good.clone(), "exp", json!(now() - 306)))
                .unwrap(),
            &validator,
            |e| matches!(e, IdTokenError::Expired),
        ),
        (
            "not valid yet beyond the leeway",
            sim.sign_jwt(&with(good.clone(), "nbf", json!(now() + 3600)))
                .unwrap(),
            &validator,
            |e| matches!(e, IdTokenError::NotYetValid),
        ),
        (
            "no kid",
            {
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
                let der = key.to_pkcs1_der().unwrap();
                jsonwebtoken::encode(
                    &Header::new(Algorithm::RS256),
                    &good,
                    &EncodingKey::from_rsa_der(der.as_bytes()),
                )
                .unwrap()
            },
            &validator,
            |e| matches!(e, IdTokenError::MissingKid),
        ),
    ];

    let mut kinds = HashSet::new();
    for (name, token, v, expected) in &cases {
        let err = v
            .validate(token)
            .await
            .expect_err(&format!("{name}: must be refused"));
        assert!(
            expected(&err),
            "{name}: refused with the wrong error {err:?}"
        );
        assert!(!err.to_string().is_empty());
        kinds.insert(discriminant(&err));
    }
    // Two rows share BadSignature; every other case has its own variant.
    assert_eq!(kinds.len(), cases.len() - 1);

    // Within the leeway is not a reason to refuse.
    let just_expired = sim
        .sign_jwt(&with(good.clone(), "exp", json!(now() - 60)))
        .unwrap();
    assert!(validator.validate(&just_expired).await.is_ok());

    // Unknown kid: refused only after one JWKS refetch, once the 5 minute throttle allows it.
    let fetched = sim.stats().jwks_requests;
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(5 * 60 + 1)).await;
    let unknown = foreign_key_token("kid-nobody-published", &good);
    let err = validator.validate(&unknown).await.unwrap_err();
    assert!(
        matches!(&err, IdTokenError::UnknownKid(k) if k == "kid-nobody-published"),
        "{err:?}"
    );
    assert_eq!(
        sim.stats().jwks_requests,
        fetched + 1,
        "exactly one refetch"
    );
    assert!(kinds.insert(discriminant(&err)));
    // Right away again: no second refetch (a flood of forged kids must not hammer Entra).
    assert!(validator.validate(&unknown).await.is_err());
    assert_eq!(sim.stats().jwks_requests, fetched + 1);
}
