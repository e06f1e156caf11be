//! The app-only credential against the simulated Entra's client-credentials grant: a
//! certificate `client_assertion` is accepted once; replayed, expired, for another audience,
//! or signed by an unregistered key it is refused with Entra's `invalid_client` answer; a
//! client secret works too (and is what `doctor` calls weaker); credential files open to
//! others are refused.
#![cfg(feature = "demo")]

use std::os::unix::fs::PermissionsExt;

use mfp_kiosk::config::Config;
use mfp_kiosk::directory::credential::{AppCredential, AppTokens, ASSERTION_TYPE};
use mfp_kiosk::directory::{keygen, DirectoryError};
use mfp_kiosk::sim::{SimCloud, SimOptions};
use secrecy::ExposeSecret;

struct Setup {
    sim: SimCloud,
    config: Config,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCloud::start(SimOptions::demo(dir.path().join("drive")))
        .await
        .unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = dir.path().join("state");
    config.entra.authority_host = sim.authority_host().to_string();
    config.entra.tenant = sim.tenant_id().to_string();
    config.entra.client_id = sim.client_id().to_string();
    config.graph.endpoint = sim.graph_endpoint().to_string();
    let (key, cert) = mfp_kiosk::directory::credential::default_paths(&config);
    keygen::generate(&key, &cert, "test", false).unwrap();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(matches!(
        keygen::generate(&key, &cert, "test", false),
        Err(DirectoryError::Exists(_))
    ));
    sim.register_app_certificate(&std::fs::read_to_string(&cert).unwrap())
        .unwrap();
    Setup {
        sim,
        config,
        _dir: dir,
    }
}

async fn post(s: &Setup, assertion: &str) -> (u16, serde_json::Value) {
    let endpoint = mfp_kiosk::directory::credential::token_endpoint(&s.config).unwrap();
    let r = reqwest::Client::new()
        .post(endpoint)
        .form(&[
            ("client_id", s.config.entra.client_id.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn code(body: &serde_json::Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn assertions_are_checked_like_entra_does() {
    let s = setup().await;
    let cred = AppCredential::load(&s.config).unwrap();
    let endpoint = mfp_kiosk::directory::credential::token_endpoint(&s.config).unwrap();
    let jwt = cred
        .assertion(&s.config.entra.client_id, endpoint.as_str())
        .unwrap()
        .unwrap();
    let (status, body) = post(&s, jwt.expose_secret()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());
    // The same assertion again: its jti was seen.
    let (status, body) = post(&s, jwt.expose_secret()).await;
    assert_eq!((status, code(&body)), (401, 7000274), "{body}");
    assert_eq!(body["error"], "invalid_client");
    // For another audience.
    let other = cred
        .assertion(
            &s.config.entra.client_id,
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        )
        .unwrap()
        .unwrap();
    let (status, body) = post(&s, other.expose_secret()).await;
    assert_eq!((status, code(&body)), (401, 700027), "{body}");
    // Signed by a key Entra does not know.
    s.sim.remove_app_certificates();
    let jwt = cred
        .assertion(&s.config.entra.client_id, endpoint.as_str())
        .unwrap()
        .unwrap();
    let (status, body) = post(&s, jwt.expose_secret()).await;
    assert_eq!((status, code(&body)), (401, 700027), "{body}");
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let s = setup().await;
    let (key, _) = mfp_kiosk::directory::credential::default_paths(&s.config);
    let cert = mfp_kiosk::directory::credential::default_paths(&s.config).1;
    let der =
        mfp_kiosk::directory::credential::certificate_der(&std::fs::read_to_string(cert).unwrap())
            .unwrap();
    let endpoint = mfp_kiosk::directory::credential::token_endpoint(&s.config).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "aud": endpoint.as_str(), "iss": s.config.entra.client_id, "sub": s.config.entra.client_id,
        "jti": "old", "nbf": now - 7200, "iat": now - 7200, "exp": now - 3600,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(mfp_kiosk::directory::credential::thumbprint_s256(&der));
    let pem = std::fs::read(key).unwrap();
    let jwt = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    let (status, body) = post(&s, &jwt).await;
    assert_eq!((status, code(&body)), (401, 700024), "{body}");
}

#[tokio::test]
async fn tokens_are_cached_and_a_secret_works_too() {
    let s = setup().await;
    let tokens = AppTokens::new(&s.config, AppCredential::load(&s.config).unwrap()).unwrap();
    let a = tokens.token().await.unwrap();
    let b = tokens.token().await.unwrap();
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert_eq!(s.sim.app_token_grants(), 1);
    tokens.invalidate();
    tokens.token().await.unwrap();
    assert_eq!(s.sim.app_token_grants(), 2);

    // A client secret from a file: refused while others can read the file.
    let mut config = s.config.clone();
    let path = config.device.state_dir.join("secret");
    std::fs::write(&path, "s3cret-value\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    config.directory.client_secret_file = Some(path.clone());
    assert!(matches!(
        AppCredential::load(&config),
        Err(DirectoryError::Permissions(_))
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cred = AppCredential::load(&config).unwrap();
    assert!(cred.is_secret());
    let tokens = AppTokens::new(&config, cred).unwrap();
    let err = tokens.token().await.unwrap_err();
    assert!(
        matches!(&err, DirectoryError::TokenRefused(b) if b.aadsts_code() == Some(7000215)),
        "{err}"
    );
    s.sim.register_client_secret("s3cret-value");
    tokens.token().await.unwrap();
}
