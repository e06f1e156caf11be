//! The product's Entra and Graph clients against the simulated cloud, over real loopback HTTP.
#![cfg(feature = "demo")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfp_kiosk::auth::device_code::DeviceCodeError;
use mfp_kiosk::auth::discovery::{self, DiscoveryError};
use mfp_kiosk::auth::entra::{EntraClient, EntraError, EntraSettings};
use mfp_kiosk::auth::id_token::{IdTokenError, IdTokenValidator};
use mfp_kiosk::auth::TokenSet;
use mfp_kiosk::graph::{ConflictBehavior, GraphClient, GraphError};
use mfp_kiosk::sim::{SimCloud, SimOptions, SimUser, TECHNICIAN_ROLE};
use rsa::pkcs1::EncodeRsaPrivateKey;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tempfile::TempDir;

const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "Files.ReadWrite",
];

async fn start_sim(configure: impl FnOnce(&mut SimOptions)) -> (SimCloud, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimOptions::demo(dir.path().join("drive"));
    opts.device_code_interval_secs = 1;
    configure(&mut opts);
    (SimCloud::start(opts).await.unwrap(), dir)
}

fn settings(sim: &SimCloud, tenant: &str) -> EntraSettings {
    EntraSettings {
        authority_host: sim.authority_host(),
        tenant: tenant.to_string(),
        client_id: sim.client_id().to_string(),
        scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        allowed_tenants: Vec::new(),
    }
}

async fn client(sim: &SimCloud) -> EntraClient {
    EntraClient::connect(settings(sim, sim.tenant_id()))
        .await
        .unwrap()
}

fn user(sim: &SimCloud, upn: &str) -> SimUser {
    sim.users().into_iter().find(|u| u.upn == upn).unwrap()
}

/// Full device-code sign-in, approved on the "phone" as `oid` before polling starts.
async fn sign_in(sim: &SimCloud, entra: &EntraClient, oid: &str) -> TokenSet {
    let pending = entra.start_device_code().await.unwrap();
    assert!(sim.approve_pending(Some(oid)));
    entra.wait_for_device_code(pending).await.unwrap()
}

/// Waits (bounded) for a condition that another task makes true.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn id_claims_for(sim: &SimCloud, user: &SimUser) -> serde_json::Value {
    json!({
        "aud": sim.client_id(),
        "iss": sim.issuer(),
        "iat": now(),
        "nbf": now(),
        "exp": now() + 3600,
        "sub": "pairwise-subject",
        "oid": user.oid,
        "tid": sim.tenant_id(),
        "preferred_username": user.upn,
        "name": user.display_name,
        "ver": "2.0",
    })
}

async fn validator(sim: &SimCloud, allowed: &[String]) -> IdTokenValidator {
    let http = reqwest::Client::new();
    let meta = discovery::discover(&http, &sim.authority_host(), sim.tenant_id())
        .await
        .unwrap();
    IdTokenValidator::from_metadata(http, &meta, sim.client_id(), allowed)
}

#[tokio::test]
async fn discovery_works_for_tenant_id_domain_and_organizations() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let http = reqwest::Client::new();
    let host = sim.authority_host();

    let by_id = discovery::discover(&http, &host, sim.tenant_id())
        .await
        .unwrap();
    assert_eq!(by_id.issuer, sim.issuer());
    assert!(!by_id.is_multi_tenant());
    assert_eq!(
        by_id.token_endpoint.path(),
        format!("/{}/oauth2/v2.0/token", sim.tenant_id())
    );
    assert_eq!(
        by_id.device_authorization_endpoint.path(),
        format!("/{}/oauth2/v2.0/devicecode", sim.tenant_id())
    );

    let by_domain = discovery::discover(&http, &host, "contoso.example")
        .await
        .unwrap();
    assert_eq!(by_domain, by_id);

    let orgs = discovery::discover(&http, &host, "organizations")
        .await
        .unwrap();
    assert!(orgs.is_multi_tenant());
    assert_eq!(orgs.issuer_for_tenant(sim.tenant_id()), sim.issuer());
    assert_eq!(
        orgs.token_endpoint.path(),
        "/organizations/oauth2/v2.0/token"
    );

    match discovery::discover(&http, &host, "fabrikam.example").await {
        Err(DiscoveryError::Status {
            status: 400,
            entra_error: Some(detail),
            ..
        }) => assert!(detail.contains("AADSTS90002"), "{detail}"),
        other => panic!("unknown tenant must fail with Entra's 400: {other:?}"),
    }
    assert_eq!(sim.stats().discovery_requests, 3);
}

#[tokio::test]
async fn device_code_sign_in_yields_validated_claims_of_the_approving_user() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let tom = user(&sim, "tom.tech@contoso.example");

    let pending = entra.start_device_code().await.unwrap();
    let offer = pending.offer().clone();
    assert_eq!(offer.user_code.len(), 9);
    assert!(offer.user_code.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        offer.verification_uri,
        format!("{}devicelogin", sim.authority_host())
    );
    assert_eq!(offer.interval_secs, 1);
    assert_eq!(offer.expires_in_secs, 900);
    assert!(pending.message().unwrap().contains(&offer.user_code));

    assert!(sim.approve_pending(Some(&tom.oid)));
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    let claims = tokens.id_claims.expect("validated ID token claims");
    assert_eq!(claims.oid, tom.oid);
    assert_eq!(claims.tid, sim.tenant_id());
    assert_eq!(claims.upn, "tom.tech@contoso.example");
    assert_eq!(claims.name, "Tom Tech");
    assert_eq!(claims.email.as_deref(), Some("tom.tech@contoso.example"));
    assert_eq!(claims.roles, vec![TECHNICIAN_ROLE.to_string()]);
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.expires_at > std::time::SystemTime::now() + Duration::from_secs(3000));

    let stats = sim.stats();
    assert_eq!(stats.device_code_requests, 1);
    assert_eq!(stats.device_code_grants, 1);
    // The code is redeemed: nothing is left to approve.
    assert!(!sim.approve_pending(None));
}

#[tokio::test]
async fn pending_sign_in_keeps_polling_until_approved() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let alex = user(&sim, "alex@contoso.example");

    let pending = entra.start_device_code().await.unwrap();
    let wait = tokio::spawn({
        let entra = entra.clone();
        async move { entra.wait_for_device_code(pending).await }
    });
    // Approve only after Entra has answered authorization_pending at least once.
    eventually("a pending poll", || sim.stats().device_code_polls >= 1).await;
    assert!(sim.approve_pending(Some(&alex.oid)));
    let tokens = wait.await.unwrap().unwrap();
    assert_eq!(tokens.id_claims.unwrap().oid, alex.oid);
    let stats = sim.stats();
    assert!(stats.device_code_polls >= 2, "{stats:?}");
    assert_eq!(stats.device_code_grants, 1);
}

#[tokio::test]
async fn auto_approval_signs_in_the_first_user() {
    let (sim, _dir) = start_sim(|o| o.auto_approve_after = Some(Duration::ZERO)).await;
    let entra = client(&sim).await;
    let pending = entra.start_device_code().await.unwrap();
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    assert_eq!(tokens.id_claims.unwrap().upn, "adele@contoso.example");
}

#[tokio::test]
async fn declined_sign_in_is_its_own_error() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let pending = entra.start_device_code().await.unwrap();
    assert!(sim.decline_pending());
    let err = entra.wait_for_device_code(pending).await.unwrap_err();
    assert!(
        matches!(err, EntraError::DeviceCode(DeviceCodeError::Declined(_))),
        "{err:?}"
    );
    assert_eq!(err.panel_message(), "Sign-in was declined on the phone.");
    assert_eq!(err.aadsts_code(), Some(70000));
    assert!(!err.is_invalid_grant());
    assert_eq!(sim.stats().device_code_grants, 0);
}

#[tokio::test]
async fn expired_device_code_is_reported_by_entra() {
    let (sim, _dir) = start_sim(|o| o.device_code_expires_secs = 1).await;
    let entra = client(&sim).await;
    let pending = entra.start_device_code().await.unwrap();
    let err = entra.wait_for_device_code(pending).await.unwrap_err();
    assert!(
        matches!(
            err,
            EntraError::DeviceCode(DeviceCodeError::Expired(Some(_)))
        ),
        "{err:?}"
    );
    assert_eq!(err.aadsts_code(), Some(70020));
    assert!(err.panel_message().contains("expired"));
}

#[tokio::test]
async fn unknown_client_id_is_refused_with_700016() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let mut s = settings(&sim, sim.tenant_id());
    s.client_id = "00000000-1111-2222-3333-444444444444".into();
    let entra = EntraClient::connect(s).await.unwrap();
    let err = entra.start_device_code().await.unwrap_err();
    assert_eq!(err.aadsts_code(), Some(700016), "{err:?}");
    assert!(err.panel_message().contains("technician"));
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let adele = user(&sim, "adele@contoso.example");
    let first = sign_in(&sim, &entra, &adele.oid).await;
    let rt1 = first.refresh_token.unwrap();

    let second = entra.refresh(&rt1).await.unwrap();
    let rt2 = second.refresh_token.unwrap();
    assert_ne!(rt1.expose_secret(), rt2.expose_secret());
    assert_eq!(second.id_claims.unwrap().oid, adele.oid);
    assert_ne!(
        first.access_token.expose_secret(),
        second.access_token.expose_secret()
    );

    let reused = entra.refresh(&rt1).await.unwrap_err();
    assert!(reused.is_invalid_grant(), "{reused:?}");
    assert_eq!(reused.aadsts_code(), Some(70000));

    let third = entra.refresh(&rt2).await.unwrap();
    assert!(third.refresh_token.is_some());
    let stats = sim.stats();
    assert_eq!(stats.refresh_grants, 2);
    assert_eq!(stats.refresh_failures, 1);

    let garbage = entra
        .refresh(&SecretString::from("not-a-refresh-token"))
        .await
        .unwrap_err();
    assert!(garbage.is_invalid_grant());
}

#[tokio::test]
async fn disabled_user_cannot_refresh() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let megan = user(&sim, "megan@contoso.example");
    let tokens = sign_in(&sim, &entra, &megan.oid).await;
    let rt = tokens.refresh_token.unwrap();

    assert!(sim.set_account_enabled(&megan.oid, false));
    let err = entra.refresh(&rt).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    assert_eq!(err.aadsts_code(), Some(50057));
    assert!(err.panel_message().contains("disabled"));

    // Re-enabled, the same (unspent) refresh token works again, as in Entra.
    assert!(sim.set_account_enabled(&megan.oid, true));
    assert!(entra.refresh(&rt).await.is_ok());
}

#[tokio::test]
async fn revoked_and_deleted_users_fail_refresh_with_their_codes() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let alex = user(&sim, "alex@contoso.example");
    let rt = sign_in(&sim, &entra, &alex.oid)
        .await
        .refresh_token
        .unwrap();
    assert_eq!(sim.revoke_sessions(&alex.oid), 1);
    assert_eq!(
        entra.refresh(&rt).await.unwrap_err().aadsts_code(),
        Some(50173)
    );

    let rt = sign_in(&sim, &entra, &alex.oid)
        .await
        .refresh_token
        .unwrap();
    assert!(sim.remove_user(&alex.oid));
    let err = entra.refresh(&rt).await.unwrap_err();
    assert!(err.is_invalid_grant());
    assert_eq!(err.aadsts_code(), Some(50034));
}

#[tokio::test]
async fn multi_tenant_authority_enforces_allowed_tenants() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let adele = user(&sim, "adele@contoso.example");

    let open = EntraClient::connect(settings(&sim, "organizations"))
        .await
        .unwrap();
    assert_eq!(
        sign_in(&sim, &open, &adele.oid)
            .await
            .id_claims
            .unwrap()
            .tid,
        sim.tenant_id()
    );

    let mut s = settings(&sim, "organizations");
    s.allowed_tenants = vec!["11111111-2222-3333-4444-555555555555".into()];
    let closed = EntraClient::connect(s).await.unwrap();
    let pending = closed.start_device_code().await.unwrap();
    assert!(sim.approve_pending(Some(&adele.oid)));
    let err = closed.wait_for_device_code(pending).await.unwrap_err();
    assert!(
        matches!(err, EntraError::IdToken(IdTokenError::TenantNotAllowed(_))),
        "{err:?}"
    );
    assert!(err.panel_message().contains("cannot sign in on this panel"));
}

#[tokio::test]
async fn graph_me_returns_the_signed_in_user() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let adele = user(&sim, "adele@contoso.example");
    let tokens = sign_in(&sim, &entra, &adele.oid).await;

    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();
    let me = graph.me(&tokens.access_token).await.unwrap();
    assert_eq!(me.id, adele.oid);
    assert_eq!(me.display_name, "Adele Vance");
    assert_eq!(me.user_principal_name, "adele@contoso.example");
    assert_eq!(me.mail.as_deref(), Some("adele@contoso.example"));
    assert_eq!(me.mail_nickname.as_deref(), Some("adele"));
    assert_eq!(sim.stats().me_requests, 1);
}

#[tokio::test]
async fn graph_refuses_missing_invalid_and_foreign_tokens_with_401() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();

    for token in ["", "garbage", "a.b.c"] {
        let err = graph.me(&SecretString::from(token)).await.unwrap_err();
        assert!(err.is_unauthorized(), "{token:?}: {err:?}");
        assert_eq!(err.code(), Some("InvalidAuthenticationToken"));
    }

    // Correct shape and kid, but signed by a key the authority never published.
    let adele = user(&sim, "adele@contoso.example");
    let forged = sign_with_foreign_key(
        &sim.current_kid(),
        &json!({
            "aud": "00000003-0000-0000-c000-000000000000",
            "iss": format!("https://sts.windows.net/{}/", sim.tenant_id()),
            "iat": now(), "nbf": now(), "exp": now() + 3600,
            "oid": adele.oid, "tid": sim.tenant_id(), "upn": adele.upn, "name": adele.display_name,
            "scp": "User.Read Files.ReadWrite", "appid": sim.client_id(), "sub": "s", "ver": "1.0", "uti": "u",
        }),
    );
    let err = graph.me(&SecretString::from(forged)).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(sim.stats().graph_unauthorized, 4);
    assert_eq!(sim.stats().me_requests, 0);
}

#[tokio::test]
async fn graph_throttling_exposes_retry_after() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let adele = user(&sim, "adele@contoso.example");
    let tokens = sign_in(&sim, &entra, &adele.oid).await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();

    sim.inject_graph_faults(1, 429, Some(Duration::from_secs(7)));
    sim.inject_graph_faults(1, 503, None);
    let throttled = graph.me(&tokens.access_token).await.unwrap_err();
    assert_eq!(throttled.status(), Some(429));
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(7)));
    assert!(throttled.is_transient());
    let unavailable = graph.me(&tokens.access_token).await.unwrap_err();
    assert_eq!(unavailable.status(), Some(503));
    assert_eq!(unavailable.retry_after(), None);
    assert!(graph.me(&tokens.access_token).await.is_ok());
}

#[tokio::test]
async fn upload_lands_byte_identical_and_honours_conflict_behavior() {
    let (sim, dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let adele = user(&sim, "adele@contoso.example");
    let token = sign_in(&sim, &entra, &adele.oid).await.access_token;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();

    // 300 KiB of non-repeating bytes, so a truncated or reordered stream would show.
    let content: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let source = dir.path().join("scan.pdf");
    std::fs::write(&source, &content).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let progress = {
        let seen = seen.clone();
        Arc::new(move |sent, total| seen.lock().unwrap().push((sent, total)))
    };

    let folder = "Scans/2024 Q1";
    let name = "Report ü #1.pdf";
    let item = graph
        .upload_small(
            &token,
            folder,
            name,
            &source,
            ConflictBehavior::Rename,
            Some(progress),
        )
        .await
        .unwrap();
    assert_eq!(item.name, name);
    assert_eq!(item.size, content.len() as u64);
    assert_eq!(item.mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(
        item.parent_path.as_deref(),
        Some("/drive/root:/Scans/2024%20Q1")
    );
    let stored = sim
        .user_drive_dir("adele@contoso.example")
        .join("Scans")
        .join("2024 Q1")
        .join(name);
    assert_eq!(std::fs::read(&stored).unwrap(), content);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&(content.len() as u64, content.len() as u64))
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "progress must grow"
    );

    // Same name again, any case: rename keeps both, fail refuses, replace overwrites.
    let renamed = graph
        .upload_small(
            &token,
            "scans/2024 q1",
            name,
            &source,
            ConflictBehavior::Rename,
            None,
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Report ü #1 1.pdf");
    assert!(stored.with_file_name("Report ü #1 1.pdf").exists());

    let conflict = graph
        .upload_small(&token, folder, name, &source, ConflictBehavior::Fail, None)
        .await
        .unwrap_err();
    assert_eq!(conflict.status(), Some(409));
    assert_eq!(conflict.code(), Some("nameAlreadyExists"));

    let small = dir.path().join("small.pdf");
    std::fs::write(&small, b"replaced").unwrap();
    let replaced = graph
        .upload_small(
            &token,
            folder,
            name,
            &small,
            ConflictBehavior::Replace,
            None,
        )
        .await
        .unwrap();
    assert_eq!(replaced.name, name);
    assert_eq!(replaced.size, 8);
    assert_eq!(std::fs::read(&stored).unwrap(), b"replaced");
    assert_eq!(sim.stats().uploads, 3);
}

#[tokio::test]
async fn upload_refuses_traversal_and_bad_tokens() {
    let (sim, dir) = start_sim(|_| {}).await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();
    let source = dir.path().join("x.pdf");
    std::fs::write(&source, b"x").unwrap();
    let token = SecretString::from("garbage");

    let err = graph
        .upload_small(
            &token,
            "../escape",
            "x.pdf",
            &source,
            ConflictBehavior::Rename,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::InvalidPath(_)), "{err:?}");
    let err = graph
        .upload_small(
            &token,
            "Scans",
            "../x.pdf",
            &source,
            ConflictBehavior::Rename,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::InvalidPath(_)), "{err:?}");

    let err = graph
        .upload_small(
            &token,
            "Scans",
            "x.pdf",
            &source,
            ConflictBehavior::Rename,
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(sim.stats().uploads, 0);

    // The simulator refuses traversal on its own too, whatever a client sends. URL libraries
    // normalise `..` away, so speak raw HTTP.
    let entra = client(&sim).await;
    let adele = user(&sim, "adele@contoso.example");
    let token = sign_in(&sim, &entra, &adele.oid).await.access_token;
    for path in [
        "/v1.0/me/drive/root:/a/../../../escaped.pdf:/content",
        "/v1.0/me/drive/root:/a/%2E%2E/%2e%2e/escaped.pdf:/content",
        "/v1.0/me/drive/root:/a%2F..%2F..%2Fescaped.pdf:/content",
    ] {
        let status = raw_put(&sim, path, token.expose_secret()).await;
        assert_eq!(status, 400, "{path}");
    }
    assert_eq!(sim.stats().uploads, 0);
    let stray: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "escaped.pdf"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// PUTs one byte to `path` verbatim and returns the HTTP status.
async fn raw_put(sim: &SimCloud, path: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = sim.authority_host();
    let addr = format!("{}:{}", host.host_str().unwrap(), host.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn sign_with_foreign_key(kid: &str, claims: &serde_json::Value) -> String {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

#[tokio::test]
async fn id_token_validator_accepts_good_tokens_and_rejects_bad_ones() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let adele = user(&sim, "adele@contoso.example");
    let v = validator(&sim, &[]).await;
    let good = id_claims_for(&sim, &adele);

    let claims = v.validate(&sim.sign_jwt(&good).unwrap()).await.unwrap();
    assert_eq!(claims.oid, adele.oid);
    assert_eq!(claims.upn, adele.upn);

    let forged = sign_with_foreign_key(&sim.current_kid(), &good);
    assert!(matches!(
        v.validate(&forged).await,
        Err(IdTokenError::BadSignature)
    ));

    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("another-application");
    assert!(matches!(
        v.validate(&sim.sign_jwt(&wrong_aud).unwrap()).await,
        Err(IdTokenError::WrongAudience)
    ));

    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://login.microsoftonline.com/other/v2.0");
    assert!(matches!(
        v.validate(&sim.sign_jwt(&wrong_iss).unwrap()).await,
        Err(IdTokenError::WrongIssuer { .. })
    ));

    // Expired beyond the 5-minute leeway; expired within it still passes.
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 301 - 5);
    assert!(matches!(
        v.validate(&sim.sign_jwt(&expired).unwrap()).await,
        Err(IdTokenError::Expired)
    ));
    let mut just_expired = good.clone();
    just_expired["exp"] = json!(now() - 60);
    assert!(v
        .validate(&sim.sign_jwt(&just_expired).unwrap())
        .await
        .is_ok());

    let mut future = good.clone();
    future["nbf"] = json!(now() + 3600);
    assert!(matches!(
        v.validate(&sim.sign_jwt(&future).unwrap()).await,
        Err(IdTokenError::NotYetValid)
    ));

    let unknown_kid = sign_with_foreign_key("no-such-kid", &good);
    assert!(matches!(
        v.validate(&unknown_kid).await,
        Err(IdTokenError::UnknownKid(_))
    ));

    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"shared secret"),
    )
    .unwrap();
    assert!(matches!(
        v.validate(&hs256).await,
        Err(IdTokenError::UnsupportedAlg(_))
    ));

    let restricted = validator(&sim, &["11111111-2222-3333-4444-555555555555".into()]).await;
    assert!(matches!(
        restricted.validate(&sim.sign_jwt(&good).unwrap()).await,
        Err(IdTokenError::TenantNotAllowed(_))
    ));
}

#[tokio::test]
async fn rotated_keys_are_fetched_by_new_validators_and_throttled_for_recent_ones() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let adele = user(&sim, "adele@contoso.example");
    let recent = validator(&sim, &[]).await;
    let old_token = sim.sign_jwt(&id_claims_for(&sim, &adele)).unwrap();
    recent.validate(&old_token).await.unwrap();
    let jwks_before = sim.stats().jwks_requests;

    let old_kid = sim.current_kid();
    let new_kid = sim.rotate_keys().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let new_token = sim.sign_jwt(&id_claims_for(&sim, &adele)).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );

    // Fetched less than 5 minutes ago: no refetch, the new kid is unknown for now.
    assert!(matches!(
        recent.validate(&new_token).await,
        Err(IdTokenError::UnknownKid(kid)) if kid == new_kid
    ));
    assert_eq!(sim.stats().jwks_requests, jwks_before);
    // Tokens signed before the rotation still verify: the old key stays published.
    recent.validate(&old_token).await.unwrap();

    let fresh = validator(&sim, &[]).await;
    fresh.validate(&new_token).await.unwrap();
    fresh.validate(&old_token).await.unwrap();

    // And a full sign-in after rotation works end to end.
    let entra = client(&sim).await;
    let tokens = sign_in(&sim, &entra, &adele.oid).await;
    assert_eq!(tokens.id_claims.unwrap().oid, adele.oid);
}

#[tokio::test]
async fn devicelogin_page_approves_the_code_typed_in() {
    let (sim, _dir) = start_sim(|_| {}).await;
    let entra = client(&sim).await;
    let megan = user(&sim, "megan@contoso.example");
    let pending = entra.start_device_code().await.unwrap();
    let code = pending.offer().user_code.clone();
    let page_url = pending.offer().verification_uri.clone();
    let browser = reqwest::Client::new();

    let page = browser
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Megan Bowen") && page.contains(&megan.oid));

    let wrong = browser
        .post(&page_url)
        .form(&[
            ("code", "WRONGCODE"),
            ("oid", megan.oid.as_str()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("not valid"));

    // Users type codes in lower case and with spaces; the page accepts that.
    let typed = format!("{} {}", &code[..4], &code[4..]).to_lowercase();
    let done = browser
        .post(&page_url)
        .form(&[
            ("code", typed.as_str()),
            ("oid", megan.oid.as_str()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("You have signed in"), "{done}");
    let tokens = entra.wait_for_device_code(pending).await.unwrap();
    assert_eq!(tokens.id_claims.unwrap().oid, megan.oid);
}

#[tokio::test]
async fn unknown_kid_refetches_the_jwks_at_most_every_five_minutes() {
    let (sim, _dir) = start_sim(|_| {}).await;
    // The validator's cache clock is tokio's: pause it before the first fetch, so slow work in
    // between (RSA key generation under emulation takes seconds) can't age the cache, then step
    // over the throttle window. Only the cache age depends on it.
    tokio::time::pause();
    let adele = user(&sim, "adele@contoso.example");
    let v = validator(&sim, &[]).await;
    v.validate(&sim.sign_jwt(&id_claims_for(&sim, &adele)).unwrap())
        .await
        .unwrap();
    sim.rotate_keys().await.unwrap();
    let rotated = sim.sign_jwt(&id_claims_for(&sim, &adele)).unwrap();
    let fetched = sim.stats().jwks_requests;

    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(matches!(
        v.validate(&rotated).await,
        Err(IdTokenError::UnknownKid(_))
    ));
    assert_eq!(sim.stats().jwks_requests, fetched);

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(v.validate(&rotated).await.unwrap().oid, adele.oid);
    assert_eq!(sim.stats().jwks_requests, fetched + 1);
}
