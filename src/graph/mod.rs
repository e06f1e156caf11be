//! Microsoft Graph client: /me and drive item uploads under the user's delegated token.
//!
//! Errors keep the HTTP status, Graph's error `code` and, for throttling (429) and unavailability
//! (503), the `Retry-After` delay the caller must honour. Tokens are only ever put in the
//! `Authorization` header (marked sensitive); they are never logged.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

mod drive;

pub use drive::{
    folder_segments, mime_type_for, validate_name, ConflictBehavior, DriveItem, ProgressFn,
    SIMPLE_UPLOAD_LIMIT,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Graph endpoint `{0}` must use https (plain http is only accepted on loopback hosts)")]
    InsecureEndpoint(String),
    #[error("Graph endpoint `{0}` cannot be used as a base URL")]
    InvalidEndpoint(String),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("invalid drive path: {0}")]
    InvalidPath(String),
    #[error("cannot read {path}: {source}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{size} bytes is over the {limit}-byte limit of a simple upload")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot reach Microsoft Graph")]
    Network(#[source] reqwest::Error),
    #[error("Microsoft Graph answered HTTP {status} {code}: {message}{}", retry_detail(.retry_after))]
    Api {
        status: u16,
        /// Graph's `error.code`, e.g. `InvalidAuthenticationToken`, `nameAlreadyExists`.
        code: String,
        message: String,
        /// From `Retry-After`, on 429 and 503 answers.
        retry_after: Option<Duration>,
        /// Graph's `request-id`, for support cases.
        request_id: Option<String>,
    },
    #[error("Microsoft Graph sent an unreadable answer: {0}")]
    UnexpectedResponse(String),
}

fn retry_detail(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {} s)", d.as_secs()))
        .unwrap_or_default()
}

impl GraphError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// 401: the access token is missing, expired or otherwise refused.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Worth retrying later: network failures, 429, and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Network(_) => true,
            GraphError::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The signed-in user as `/me` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeProfile {
    pub id: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub user_principal_name: String,
    #[serde(default)]
    pub mail_nickname: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    /// E.g. `https://graph.microsoft.com/v1.0`.
    endpoint: Url,
}

/// A Graph client for one endpoint. Cheap to clone; the token is passed per call because every
/// call runs under the signed-in user's own delegated token.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .finish()
    }
}

impl GraphClient {
    pub fn new(endpoint: Url) -> Result<Self, GraphError> {
        if !crate::auth::discovery::is_secure_endpoint(&endpoint) {
            return Err(GraphError::InsecureEndpoint(endpoint.to_string()));
        }
        if endpoint.cannot_be_a_base() || endpoint.query().is_some() {
            return Err(GraphError::InvalidEndpoint(endpoint.to_string()));
        }
        let http = reqwest::Client::builder()
            // A redirect to another host would carry the bearer token there.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("mfp-kiosk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(GraphError::HttpClient)?;
        Ok(GraphClient {
            inner: Arc::new(Inner { http, endpoint }),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// `GET /me` with the fields the kiosk uses (mailNickname is only returned when selected).
    pub async fn me(&self, token: &SecretString) -> Result<MeProfile, GraphError> {
        let mut url = self.url(&["me"])?;
        url.set_query(Some(
            "$select=id,displayName,mail,userPrincipalName,mailNickname",
        ));
        let response = self
            .inner
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(GraphError::Network)?;
        let response = check(response).await?;
        let body = response.bytes().await.map_err(GraphError::Network)?;
        serde_json::from_slice(&body)
            .map_err(|e| GraphError::UnexpectedResponse(format!("/me: {e}")))
    }

    /// The endpoint with `segments` appended, each percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        let mut url = self.inner.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::InvalidEndpoint(self.inner.endpoint.to_string()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// Passes successful responses through; turns the others into [`GraphError::Api`].
async fn check(response: reqwest::Response) -> Result<reqwest::Response, GraphError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = parse_retry_after(response.headers());
    let request_id = response
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.map_err(GraphError::Network)?;
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&body) {
        Ok(env) => (env.error.code, env.error.message),
        Err(_) => (
            status
                .canonical_reason()
                .unwrap_or("unknown")
                .replace(' ', ""),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    let err = GraphError::Api {
        status: status.as_u16(),
        code,
        message,
        retry_after: retry_after.filter(|_| {
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
        }),
        request_id,
    };
    tracing::debug!(error = %err, "Graph request failed");
    Err(err)
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(17)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn endpoints_must_be_secure() {
        assert!(matches!(
            GraphClient::new(Url::parse("http://graph.example.com/v1.0").unwrap()),
            Err(GraphError::InsecureEndpoint(_))
        ));
        let client =
            GraphClient::new(Url::parse("https://graph.microsoft.com/v1.0").unwrap()).unwrap();
        assert_eq!(
            client.url(&["me", "a b"]).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/me/a%20b"
        );
    }
}
