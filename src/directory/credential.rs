//! The panel's application credential and the OAuth 2.0 client-credentials grant.
//!
//! A certificate credential signs a `client_assertion` (RFC 7523 JWT, RS256) with the panel's
//! private key: header `x5t#S256` = base64url SHA-256 of the certificate (DER), claims `aud` =
//! the token endpoint, `iss` = `sub` = client id, a fresh `jti`, `nbf`/`iat` now and `exp` ten
//! minutes later. The key never leaves the panel; Entra only holds the certificate. A client
//! secret is accepted (read from a 0600 file) but is weaker: it travels with every request and
//! is copied wherever the config is, so `doctor` flags it.
//!
//! [`AppTokens`] caches the access token in memory (never on disk) until five minutes before
//! it expires; a 401 from Graph drops it. Token requests never follow redirects.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::DirectoryError;
use crate::auth::device_code::EntraErrorBody;
use crate::config::Config;

/// `client_assertion_type` of a JWT bearer assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid.
const ASSERTION_LIFETIME: i64 = 600;
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Largest token endpoint answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Which credential the panel presents.
pub enum AppCredential {
    Certificate {
        key: jsonwebtoken::EncodingKey,
        /// base64url SHA-256 of the certificate's DER.
        x5t_s256: String,
    },
    Secret(SecretString),
}

impl std::fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppCredential::Certificate { x5t_s256, .. } => f
                .debug_struct("Certificate")
                .field("x5t_s256", x5t_s256)
                .finish_non_exhaustive(),
            AppCredential::Secret(_) => f.write_str("Secret(..)"),
        }
    }
}

/// Default paths of the key and certificate under the state directory.
pub fn default_paths(config: &Config) -> (PathBuf, PathBuf) {
    let dir = config.state_dir().join("directory");
    let d = &config.directory;
    (
        d.key_file.clone().unwrap_or_else(|| dir.join("app.key")),
        d.certificate_file
            .clone()
            .unwrap_or_else(|| dir.join("app.crt")),
    )
}

/// Reads a private file, refusing one that group or others could read.
fn read_private(path: &Path) -> Result<String, DirectoryError> {
    let file_err = |source| DirectoryError::File {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(file_err)?;
    crate::fsmode::check_private_file(path, &meta)?;
    std::fs::read_to_string(path).map_err(file_err)
}

/// base64url SHA-256 of a certificate's DER: the `x5t#S256` header.
pub fn thumbprint_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// The DER of the first certificate in a PEM text.
pub fn certificate_der(pem_text: &str) -> Result<Vec<u8>, String> {
    let block = pem_text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .ok_or("no PEM certificate (-----BEGIN CERTIFICATE-----) found")?;
    let b64: String = block.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the certificate is not valid base64: {e}"))
}

impl AppCredential {
    /// The credential the config names: a client secret file if set, else the key and
    /// certificate (default paths under the state directory).
    pub fn load(config: &Config) -> Result<AppCredential, DirectoryError> {
        if let Some(path) = &config.directory.client_secret_file {
            let text = read_private(path)?;
            let secret = text.trim();
            if secret.is_empty() {
                return Err(DirectoryError::BadCredential {
                    path: path.clone(),
                    reason: "the client secret file is empty".into(),
                });
            }
            return Ok(AppCredential::Secret(SecretString::from(secret)));
        }
        let (key_path, cert_path) = default_paths(config);
        if !key_path.exists() {
            return Err(DirectoryError::NoCredential(key_path));
        }
        let key_pem = SecretString::from(read_private(&key_path)?);
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.expose_secret().as_bytes())
            .map_err(|e| DirectoryError::BadCredential {
                path: key_path.clone(),
                reason: format!("not an RSA private key in PEM: {e}"),
            })?;
        let cert_pem =
            std::fs::read_to_string(&cert_path).map_err(|source| DirectoryError::File {
                path: cert_path.clone(),
                source,
            })?;
        let der = certificate_der(&cert_pem).map_err(|reason| DirectoryError::BadCredential {
            path: cert_path.clone(),
            reason,
        })?;
        Ok(AppCredential::Certificate {
            key,
            x5t_s256: thumbprint_s256(&der),
        })
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, AppCredential::Secret(_))
    }

    /// A signed client assertion for `client_id` at `token_endpoint`.
    pub fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Option<SecretString>, DirectoryError> {
        let AppCredential::Certificate { key, x5t_s256 } = self else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t_s256 = Some(x5t_s256.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| DirectoryError::Signing(e.to_string()))?;
        Ok(Some(SecretString::from(jwt)))
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// App-only access tokens for Microsoft Graph, cached in memory.
pub struct AppTokens {
    http: reqwest::Client,
    token_endpoint: Url,
    client_id: String,
    credential: AppCredential,
    cached: std::sync::Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTokens")
            .field("token_endpoint", &self.token_endpoint.as_str())
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`.
pub fn token_endpoint(config: &Config) -> Result<Url, DirectoryError> {
    let host = config.entra.authority_host_url()?;
    let path = format!("{}/oauth2/v2.0/token", config.entra.tenant.trim());
    host.join(&path)
        .map_err(|e| DirectoryError::Url(format!("{path}: {e}")))
}

impl AppTokens {
    pub fn new(config: &Config, credential: AppCredential) -> Result<AppTokens, DirectoryError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| DirectoryError::Network {
                service: "Entra",
                source,
            })?;
        Ok(AppTokens {
            http,
            token_endpoint: token_endpoint(config)?,
            client_id: config
                .directory
                .client_id
                .clone()
                .unwrap_or_else(|| config.entra.client_id.clone()),
            credential,
            cached: std::sync::Mutex::new(None),
        })
    }

    pub fn credential(&self) -> &AppCredential {
        &self.credential
    }

    /// A valid token, from the cache or a new client-credentials grant.
    pub async fn token(&self) -> Result<SecretString, DirectoryError> {
        if let Some((token, until)) = self.lock().as_ref() {
            if Instant::now() + RENEW_BEFORE < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.request().await?;
        *self.lock() = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Forgets the cached token (Graph answered 401 with it).
    pub fn invalidate(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(SecretString, Instant)>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn request(&self) -> Result<(SecretString, Duration), DirectoryError> {
        let endpoint = self.token_endpoint.as_str();
        let assertion = self.credential.assertion(&self.client_id, endpoint)?;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        match (&assertion, &self.credential) {
            (Some(jwt), _) => {
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", jwt.expose_secret()));
            }
            (None, AppCredential::Secret(secret)) => {
                form.push(("client_secret", secret.expose_secret()));
            }
            (None, AppCredential::Certificate { .. }) => {
                return Err(DirectoryError::Signing("no assertion".into()))
            }
        }
        let net = |source| DirectoryError::Network {
            service: "Entra",
            source,
        };
        let response = self
            .http
            .post(self.token_endpoint.clone())
            .form(&form)
            .send()
            .await
            .map_err(net)?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(DirectoryError::Throttled {
                service: "Entra",
                retry_after: crate::graph::parse_retry_after(response.headers()),
            });
        }
        let body = read_limited(response, MAX_TOKEN_BODY).await?;
        if status.is_success() {
            let answer: TokenAnswer =
                serde_json::from_slice(&body).map_err(|e| DirectoryError::Unexpected {
                    service: "Entra",
                    // Position only: the body holds a token.
                    detail: format!("unreadable token answer at column {}", e.column()),
                })?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3599));
            return Ok((SecretString::from(answer.access_token), lifetime));
        }
        match serde_json::from_slice::<EntraErrorBody>(&body) {
            Ok(err) if status.is_client_error() => Err(DirectoryError::TokenRefused(Box::new(err))),
            _ => Err(DirectoryError::Api {
                service: "Entra",
                status: status.as_u16(),
                code: status.canonical_reason().unwrap_or("").replace(' ', ""),
                message: "the token endpoint failed".into(),
            }),
        }
    }
}

/// Reads at most `max` bytes of a body.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, DirectoryError> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| DirectoryError::Network {
            service: "Graph",
            source,
        })?
    {
        if out.len() + chunk.len() > max {
            return Err(DirectoryError::Unexpected {
                service: "Graph",
                detail: format!("answer larger than {max} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
