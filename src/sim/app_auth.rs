//! The simulated Entra's client-credentials grant (app-only tokens for Graph), with the app
//! registration's credentials: certificates (public part only, as uploaded to "Certificates &
//! secrets") and client secrets (kept as hashes), and the application permissions an admin
//! consented to.
//!
//! A `client_assertion` is checked like Entra checks it: `x5t#S256` names a registered
//! certificate, the RS256 signature verifies against it, `aud` is this token endpoint, `iss` and
//! `sub` are the client id, `exp` has not passed, `jti` was never seen. Failures answer HTTP 401
//! `invalid_client` with Entra's body. AADSTS codes: 700027 key not found / bad signature,
//! 700024 outside the valid time range, 700021 issuer or subject not the client, 700016-style
//! audience mismatch as 700027 (Entra folds it into signature validation), 7000215 bad secret,
//! 7000274 replayed `jti` (the sim's choice; Entra's message for replays varies).

use std::collections::HashSet;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use super::entra::EntraError;
use super::state::{random_token, sha256_hex, Shared};
use super::tokens::GRAPH_AUDIENCE;
use super::SimError;

/// `client_assertion_type` of a JWT bearer assertion.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Object id of the kiosk app's service principal in the simulated tenant.
pub const SERVICE_PRINCIPAL_OID: &str = "5d2c9e1f-7a3b-4c6d-8e0f-1a2b3c4d5e6f";

/// The app registration's credentials and consented application permissions.
#[derive(Default)]
pub(crate) struct AppAuth {
    /// base64url SHA-256 of the certificate DER, and its public key.
    pub certificates: Vec<(String, DecodingKey)>,
    pub secret_hashes: Vec<String>,
    pub permissions: Vec<String>,
    pub seen_jti: HashSet<String>,
    pub grants: u64,
}

/// The public key and `x5t#S256` of a PEM certificate.
pub(crate) fn parse_certificate(pem: &str) -> Result<(String, DecodingKey), SimError> {
    let bad = |e: String| SimError::KeyGeneration(format!("certificate: {e}"));
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = block.parse_x509().map_err(|e| bad(e.to_string()))?;
    let pkcs1 = cert.public_key().subject_public_key.data.to_vec();
    let thumb = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(&block.contents),
    );
    Ok((thumb, DecodingKey::from_rsa_der(&pkcs1)))
}

fn boxed_refused(headers: &HeaderMap, code: u32, message: String) -> Box<Response> {
    Box::new(refused(headers, code, message))
}

fn refused(headers: &HeaderMap, code: u32, message: String) -> Response {
    let mut r = EntraError::new_pub(headers, "invalid_client", Some(code), message).into_response();
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// `grant_type=client_credentials` at `/{tenant}/oauth2/v2.0/token`.
pub(crate) fn grant(
    shared: &Shared,
    headers: &HeaderMap,
    tenant_segment: &str,
    client_id: &str,
    form: &std::collections::HashMap<String, String>,
) -> Response {
    let scope = form.get("scope").map(String::as_str).unwrap_or("");
    if scope.split_whitespace().collect::<Vec<_>>() != ["https://graph.microsoft.com/.default"] {
        return EntraError::new_pub(
            headers,
            "invalid_scope",
            Some(1002012),
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        )
        .into_response();
    }
    let mut auth = shared.app_auth();
    match (form.get("client_assertion"), form.get("client_secret")) {
        (Some(assertion), _) => {
            if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
                return EntraError::new_pub(
                    headers,
                    "invalid_request",
                    Some(50027),
                    "Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".into(),
                )
                .into_response();
            }
            let endpoints = [
                shared.url(&format!("/{tenant_segment}/oauth2/v2.0/token")),
                shared.url(&format!("/{}/oauth2/v2.0/token", shared.tenant_id)),
            ];
            if let Err(r) = check_assertion(&mut auth, headers, assertion, client_id, &endpoints) {
                return *r;
            }
        }
        (None, Some(secret)) => {
            if !auth.secret_hashes.contains(&sha256_hex(secret)) {
                return refused(
                    headers,
                    7000215,
                    format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                );
            }
        }
        (None, None) => {
            return refused(
                headers,
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
            )
        }
    }
    auth.grants += 1;
    let roles = auth.permissions.clone();
    drop(auth);
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(shared.access_token_lifetime.as_secs()).unwrap_or(3600);
    let claims = json!({
        "aud": GRAPH_AUDIENCE,
        "iss": format!("https://sts.windows.net/{}/", shared.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": client_id,
        "idtyp": "app",
        "oid": SERVICE_PRINCIPAL_OID,
        "sub": SERVICE_PRINCIPAL_OID,
        "tid": shared.tenant_id,
        "roles": roles,
        "ver": "1.0",
        "uti": random_token(16),
    });
    let token = match shared.keys().sign(&claims) {
        Ok(t) => t,
        Err(err) => {
            tracing::error!(%err, "sim: cannot sign an app token");
            return EntraError::new_pub(
                headers,
                "temporarily_unavailable",
                Some(90006),
                "The service is temporarily unavailable.".into(),
            )
            .into_response();
        }
    };
    let mut response = Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime - 1,
        "ext_expires_in": lifetime - 1,
        "access_token": token,
    }))
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

// The error is the HTTP answer itself, returned at once by the handler; boxing it buys
// nothing in a simulator.
#[allow(clippy::result_large_err)]
fn check_assertion(
    auth: &mut AppAuth,
    headers: &HeaderMap,
    assertion: &str,
    client_id: &str,
    endpoints: &[String],
) -> Result<(), Box<Response>> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| boxed_refused(headers, 50027, "JWT token is invalid or malformed.".into()))?;
    let thumb = header.x5t_s256.clone().unwrap_or_default();
    let Some((_, key)) = auth.certificates.iter().find(|(t, _)| *t == thumb) else {
        return Err(boxed_refused(
            headers,
            700027,
            format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"),
        ));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 60;
    validation.set_audience(endpoints);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(assertion, key, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => boxed_refused(
                headers,
                700024,
                "Client assertion is not within its valid time range.".into(),
            ),
            jsonwebtoken::errors::ErrorKind::InvalidAudience => boxed_refused(
                headers,
                700027,
                "Client assertion failed signature validation. [Reason - The audience of the assertion is not this token endpoint.]".into(),
            ),
            _ => boxed_refused(
                headers,
                700027,
                "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]".into(),
            ),
        },
    )?;
    let claim = |k: &str| data.claims.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if !claim("iss").eq_ignore_ascii_case(client_id)
        || !claim("sub").eq_ignore_ascii_case(client_id)
    {
        return Err(boxed_refused(
            headers,
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.".into(),
        ));
    }
    let jti = claim("jti");
    if jti.is_empty() || !auth.seen_jti.insert(jti.to_string()) {
        return Err(boxed_refused(
            headers,
            7000274,
            "The client assertion was already used: its jti was seen before.".into(),
        ));
    }
    Ok(())
}
