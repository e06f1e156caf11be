//! ID token validation against the tenant JWKS (signature, iss, aud, exp/nbf, tid).
//!
//! Only RS256 is accepted. Signing keys are cached by `kid`; a token with an unknown `kid` causes
//! one refetch of the JWKS, at most once per [`REFETCH_MIN_INTERVAL`], so a flood of forged tokens
//! cannot turn the panel into a JWKS hammer. The cache is also refreshed when it is older than
//! [`MAX_CACHE_AGE`], so keys Entra retired stop being trusted.
//!
//! The issuer is checked after the signature: for multi-tenant authorities the expected issuer is
//! the metadata's template with `{tenantid}` replaced by the token's own (now verified) `tid`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::discovery::{OidcMetadata, TENANT_ID_PLACEHOLDER};
use super::IdClaims;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 300;
/// An unknown `kid` triggers a JWKS refetch only if the last fetch is at least this old.
pub const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Cached keys older than this are refetched before use.
pub const MAX_CACHE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is unsigned (alg `none`)")]
    Unsigned,
    #[error("the ID token is signed with {0}, only RS256 is accepted")]
    UnsupportedAlg(String),
    #[error("the ID token header has no `kid`")]
    MissingKid,
    #[error("no signing key with kid `{0}` in the tenant's JWKS")]
    UnknownKid(String),
    #[error("the ID token signature does not verify")]
    BadSignature,
    #[error("the ID token was issued for another application (aud)")]
    WrongAudience,
    #[error("the ID token issuer `{found}` is not the expected `{expected}`")]
    WrongIssuer { expected: String, found: String },
    #[error("tenant `{0}` is not allowed to sign in on this panel")]
    TenantNotAllowed(String),
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("the ID token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the ID token claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("cannot fetch the signing keys from {url}")]
    JwksNetwork {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the signing keys at {url} answered HTTP {status}")]
    JwksStatus { url: String, status: u16 },
    #[error("the signing keys at {url} are not a valid JWKS: {source}")]
    JwksParse {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    tid: Option<String>,
    oid: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

struct Inner {
    http: reqwest::Client,
    jwks_uri: Url,
    issuer_template: String,
    client_id: String,
    /// Lower-cased tenant ids; empty means any tenant the issuer template admits.
    allowed_tenants: Vec<String>,
    cache: Mutex<KeyCache>,
}

/// Validates ID tokens of one application against one authority. Cheap to clone.
#[derive(Clone)]
pub struct IdTokenValidator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IdTokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenValidator")
            .field("jwks_uri", &self.inner.jwks_uri.as_str())
            .field("issuer", &self.inner.issuer_template)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

impl IdTokenValidator {
    /// `issuer_template` may contain `{tenantid}`. `allowed_tenants` empty = any tenant.
    pub fn new(
        http: reqwest::Client,
        jwks_uri: Url,
        issuer_template: impl Into<String>,
        client_id: impl Into<String>,
        allowed_tenants: &[String],
    ) -> Self {
        IdTokenValidator {
            inner: Arc::new(Inner {
                http,
                jwks_uri,
                issuer_template: issuer_template.into(),
                client_id: client_id.into(),
                allowed_tenants: allowed_tenants
                    .iter()
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect(),
                cache: Mutex::new(KeyCache::default()),
            }),
        }
    }

    pub fn from_metadata(
        http: reqwest::Client,
        metadata: &OidcMetadata,
        client_id: impl Into<String>,
        allowed_tenants: &[String],
    ) -> Self {
        Self::new(
            http,
            metadata.jwks_uri.clone(),
            metadata.issuer.clone(),
            client_id,
            allowed_tenants,
        )
    }

    /// Checks `token` completely and returns its claims.
    pub async fn validate(&self, token: &str) -> Result<IdClaims, IdTokenError> {
        let kid = header_kid(token)?;
        let key = self.key_for(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[self.inner.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        let data =
            jsonwebtoken::decode::<RawClaims>(token, &key, &validation).map_err(map_jwt_error)?;
        let claims = data.claims;

        let tid = claims
            .tid
            .ok_or_else(|| IdTokenError::MissingClaim("tid".into()))?;
        let expected_iss = self
            .inner
            .issuer_template
            .replace(TENANT_ID_PLACEHOLDER, &tid);
        if claims.iss != expected_iss {
            return Err(IdTokenError::WrongIssuer {
                expected: expected_iss,
                found: claims.iss,
            });
        }
        let allowed = &self.inner.allowed_tenants;
        if !allowed.is_empty() && !allowed.contains(&tid.to_ascii_lowercase()) {
            return Err(IdTokenError::TenantNotAllowed(tid));
        }
        let oid = claims
            .oid
            .ok_or_else(|| IdTokenError::MissingClaim("oid".into()))?;
        let upn = claims
            .preferred_username
            .ok_or_else(|| IdTokenError::MissingClaim("preferred_username".into()))?;
        Ok(IdClaims {
            oid,
            tid,
            name: claims.name.unwrap_or_else(|| upn.clone()),
            upn,
            email: claims.email,
            roles: claims.roles,
            groups: claims.groups,
        })
    }

    /// Fetches the JWKS now (whatever the cache holds) and returns how many usable signing keys
    /// it has. For diagnostics; sign-ins fetch on demand.
    pub async fn refresh_keys(&self) -> Result<usize, IdTokenError> {
        let mut cache = self.inner.cache.lock().await;
        self.refill(&mut cache).await?;
        Ok(cache.keys.len())
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, IdTokenError> {
        let mut cache = self.inner.cache.lock().await;
        let stale = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= MAX_CACHE_AGE);
        if stale {
            self.refill(&mut cache).await?;
        }
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        // A key Entra started signing with since our last fetch: refetch, but not too often.
        let may_refetch = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= REFETCH_MIN_INTERVAL);
        if !stale && may_refetch {
            tracing::info!(kid, "ID token signed with an unknown key; refetching JWKS");
            self.refill(&mut cache).await?;
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| IdTokenError::UnknownKid(kid.to_string()))
    }

    async fn refill(&self, cache: &mut KeyCache) -> Result<(), IdTokenError> {
        let keys = self.fetch_keys().await?;
        tracing::debug!(count = keys.len(), "JWKS fetched");
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, IdTokenError> {
        let url = self.inner.jwks_uri.to_string();
        let response = self
            .inner
            .http
            .get(self.inner.jwks_uri.clone())
            .send()
            .await
            .map_err(|source| IdTokenError::JwksNetwork {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(IdTokenError::JwksStatus {
                url,
                status: status.as_u16(),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| IdTokenError::JwksNetwork {
                url: url.clone(),
                source,
            })?;
        parse_jwks(&body).map_err(|source| IdTokenError::JwksParse { url, source })
    }
}

/// The `kid` of an ID token's header once the header passed the checks that need no key:
/// signed, RS256, a key id present. Public for the fuzz target (fuzz/).
pub fn header_kid(token: &str) -> Result<String, IdTokenError> {
    // The algorithm is read from the raw header first: `jsonwebtoken` cannot even parse
    // `alg: none`, and an unsigned token deserves its own refusal, not "malformed".
    let alg = raw_alg(token)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(IdTokenError::Unsigned);
    }
    if alg != "RS256" {
        return Err(IdTokenError::UnsupportedAlg(alg));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| IdTokenError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(IdTokenError::UnsupportedAlg(format!("{:?}", header.alg)));
    }
    header.kid.ok_or(IdTokenError::MissingKid)
}

/// The usable signing keys of a JWKS document by `kid` (RSA, for signatures; others are
/// skipped). Public for the fuzz target (fuzz/).
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, serde_json::Error> {
    let jwks: Jwks = serde_json::from_slice(body)?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys {
        let usable_type = jwk.kty == "RSA" && jwk.key_use.as_deref().is_none_or(|u| u == "sig");
        let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, usable_type) else {
            continue;
        };
        match DecodingKey::from_rsa_components(&n, &e) {
            Ok(key) => {
                keys.insert(kid, key);
            }
            Err(err) => tracing::warn!(kid, %err, "skipping unusable JWKS key"),
        }
    }
    Ok(keys)
}

/// The `alg` of a compact JWS header, without trusting anything else in it.
fn raw_alg(token: &str) -> Result<String, IdTokenError> {
    #[derive(Deserialize)]
    struct AlgOnly {
        alg: String,
    }
    let header_b64 = token
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| IdTokenError::Malformed("no header".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64.trim_end_matches('='))
        .map_err(|e| IdTokenError::Malformed(format!("header is not base64url: {e}")))?;
    let header: AlgOnly = serde_json::from_slice(&bytes)
        .map_err(|e| IdTokenError::Malformed(format!("header is not JSON with `alg`: {e}")))?;
    Ok(header.alg)
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> IdTokenError {
    match err.kind() {
        ErrorKind::InvalidSignature => IdTokenError::BadSignature,
        ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
        ErrorKind::ExpiredSignature => IdTokenError::Expired,
        ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            IdTokenError::UnsupportedAlg("a different algorithm".into())
        }
        ErrorKind::MissingRequiredClaim(claim) => IdTokenError::MissingClaim(claim.clone()),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            IdTokenError::Malformed(err.to_string())
        }
        _ => IdTokenError::InvalidClaims(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn raw_alg_reads_the_header_only() {
        let t = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64("{}"));
        assert_eq!(raw_alg(&t).unwrap(), "none");
        let t = format!("{}.x.y", b64(r#"{"alg":"RS256","kid":"k"}"#));
        assert_eq!(raw_alg(&t).unwrap(), "RS256");
        for bad in ["", ".x.y", "***.x.y", &format!("{}.x.y", b64("[1]"))] {
            assert!(
                matches!(raw_alg(bad), Err(IdTokenError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
