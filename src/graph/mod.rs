//! Microsoft Graph client: /me, SharePoint sites and drives, drive items, and uploads (simple
//! PUT or a resumable upload session) under the user's delegated token.
//!
//! Modules: `drive` (names, paths, items, simple upload, children), `sites` (site by path, its
//! document libraries, the id cache), `session` (upload sessions and their fragment sizes),
//! `upload` (the resilient uploader: retries, resume, token refresh, "did it land already?"),
//! `quickxor` (the content hash OneDrive for Business reports).
//!
//! Errors keep the HTTP status, Graph's error `code` and, for throttling (429) and unavailability
//! (503), the `Retry-After` delay the caller must honour. Tokens are only ever put in the
//! `Authorization` header (marked sensitive); they are never logged.
//!
//! Nothing waits or reads without a bound, so a stalled or misbehaving server (or a proxy in
//! between) cannot hang a sign-in or the outbox, nor fill the board's memory ([`Timeouts`]):
//! - every request has a deadline: [`Timeouts::request`] (30 s) for JSON calls (`/me`,
//!   `createUploadSession`, children, sites, session status), and for requests that carry a
//!   file body (simple PUT, fragment PUT) that plus the time the body needs at
//!   [`Timeouts::min_upload_rate`] (64 KiB/s, about 0.5 Mbit/s): a 10 MiB fragment gets
//!   190 s, a 60 MiB fragment (Graph's maximum) 990 s, a 4 MiB simple PUT 94 s. Slower than
//!   that, the request fails and the uploader resumes from `nextExpectedRanges`;
//! - JSON answers are read up to [`MAX_JSON_BODY`] (4 MiB; a 200-item children page is well
//!   under 1 MiB), error bodies up to [`MAX_ERROR_BODY`];
//! - `@odata.nextLink` is followed for at most [`MAX_PAGES`] pages.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

mod drive;
pub mod quickxor;
mod session;
mod sites;
mod upload;

pub use drive::{
    folder_segments, mime_type_for, parse_item, validate_name, ConflictBehavior, DriveItem,
    DriveTarget, ProgressFn, SIMPLE_UPLOAD_LIMIT,
};
pub use session::{parse_new_session, parse_next_range, FragmentSize, UploadSession, UploadUrl};
pub use sites::{DriveInfo, SiteInfo, SiteRef, SiteResolver};
pub use upload::{
    BoxedTokenFuture, RetryPolicy, SessionStore, TokenError, TokenSource, UploadRequest, Uploader,
    SESSION_THRESHOLD,
};

/// Largest JSON answer read; past it the request fails with [`GraphError::ResponseTooLarge`].
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;
/// Largest error body read; the rest is dropped (it only feeds the error message).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most `@odata.nextLink` pages followed for one listing (100,000 items at Graph's default
/// page size of 200); a server that links on and on gets [`GraphError::TooManyPages`].
pub const MAX_PAGES: usize = 500;

/// Deadlines of a [`GraphClient`]; see the module docs for the reasoning behind the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP and TLS connection set-up.
    pub connect: Duration,
    /// A whole request without a file body: connect, send, wait, read the answer.
    pub request: Duration,
    /// Bytes per second a file body is granted on top of `request`.
    pub min_upload_rate: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
            min_upload_rate: 64 * 1024,
        }
    }
}

impl Timeouts {
    /// Deadline of a request that sends `len` bytes of file.
    pub fn for_body(&self, len: u64) -> Duration {
        let rate = self.min_upload_rate.max(1);
        self.request
            .saturating_add(Duration::from_secs(len.div_ceil(rate)))
    }
}

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
    #[error("Microsoft Graph did not answer in time")]
    Timeout(#[source] reqwest::Error),
    #[error("Microsoft Graph sent more than {limit} bytes for {what}; stopped reading")]
    ResponseTooLarge { what: String, limit: usize },
    #[error("Microsoft Graph kept sending more pages of {what} after {limit}; stopped following")]
    TooManyPages { what: String, limit: usize },
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
    #[error("no access token for the upload: {message}")]
    Token {
        message: String,
        /// The user's sign-in is gone for good (revoked, refresh token rejected).
        permanent: bool,
    },
    #[error("SharePoint site `{0}` must look like `contoso.sharepoint.com:/sites/Finance`")]
    InvalidSite(String),
    #[error("site `{site}` has no document library named `{library}`")]
    LibraryNotFound { site: String, library: String },
    #[error("the upload stopped after {attempts} attempts; last error: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<GraphError>,
    },
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
            GraphError::GaveUp { last, .. } => last.retry_after(),
            _ => None,
        }
    }

    /// 401: the access token is missing, expired or otherwise refused.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// A transport failure, told apart from a missed deadline.
    pub(crate) fn transport(e: reqwest::Error) -> GraphError {
        if e.is_timeout() {
            GraphError::Timeout(e)
        } else {
            GraphError::Network(e)
        }
    }

    /// Worth retrying later: network failures and deadlines, 429, and 5xx. An oversized answer
    /// counts too: it is more likely a proxy or portal in the way than Graph itself.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Network(_)
            | GraphError::Timeout(_)
            | GraphError::ResponseTooLarge { .. } => true,
            GraphError::Token { permanent, .. } => !permanent,
            GraphError::Api { status, .. } => *status == 429 || *status >= 500,
            GraphError::GaveUp { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    /// The destination itself is gone or closed to this user (site or library deleted,
    /// permission withdrawn): retrying will not help.
    pub fn is_destination_gone(&self) -> bool {
        match self {
            GraphError::LibraryNotFound { .. } | GraphError::InvalidSite(_) => true,
            GraphError::Api { status, .. } => *status == 403 || *status == 404,
            GraphError::GaveUp { last, .. } => last.is_destination_gone(),
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
    timeouts: Timeouts,
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
        Self::with_timeouts(endpoint, Timeouts::default())
    }

    /// A client with other deadlines (tests; a site with a known very slow uplink).
    pub fn with_timeouts(endpoint: Url, timeouts: Timeouts) -> Result<Self, GraphError> {
        if !crate::auth::discovery::is_secure_endpoint(&endpoint) {
            return Err(GraphError::InsecureEndpoint(endpoint.to_string()));
        }
        if endpoint.cannot_be_a_base() || endpoint.query().is_some() {
            return Err(GraphError::InvalidEndpoint(endpoint.to_string()));
        }
        let http = reqwest::Client::builder()
            // A redirect to another host would carry the bearer token there.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeouts.connect)
            // The default for every request; file bodies set their own, longer one.
            .timeout(timeouts.request)
            .user_agent(concat!("mfp-kiosk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(GraphError::HttpClient)?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                timeouts,
                endpoint,
            }),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
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
            .map_err(GraphError::transport)?;
        let response = check(response).await?;
        let body = read_json_body(response, "/me").await?;
        serde_json::from_slice(&body)
            .map_err(|e| GraphError::UnexpectedResponse(format!("/me: {e}")))
    }

    /// `GET url` with the bearer token, decoding a JSON answer.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        token: &SecretString,
        url: Url,
        what: &str,
    ) -> Result<T, GraphError> {
        let response = self
            .inner
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(GraphError::transport)?;
        let response = check(response).await?;
        let body = read_json_body(response, what).await?;
        serde_json::from_slice(&body)
            .map_err(|e| GraphError::UnexpectedResponse(format!("{what}: {e}")))
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The endpoint with `segments` appended, each percent-encoded as one path segment.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, GraphError> {
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
pub(crate) async fn check(response: reqwest::Response) -> Result<reqwest::Response, GraphError> {
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
    let body = read_body(response, MAX_ERROR_BODY, "an error answer", false).await?;
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

/// Reads a JSON answer of at most [`MAX_JSON_BODY`] bytes.
pub(crate) async fn read_json_body(
    response: reqwest::Response,
    what: &str,
) -> Result<Vec<u8>, GraphError> {
    read_body(response, MAX_JSON_BODY, what, true).await
}

/// Reads at most `limit` bytes of a body as they arrive (never trusting `Content-Length` for
/// the allocation). Past the limit: an error when `strict`, otherwise the first `limit` bytes.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
    strict: bool,
) -> Result<Vec<u8>, GraphError> {
    let too_large = || GraphError::ResponseTooLarge {
        what: what.to_string(),
        limit,
    };
    let declared = response.content_length().unwrap_or(0);
    if strict && declared > limit as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(limit));
    while let Some(chunk) = response.chunk().await.map_err(GraphError::transport)? {
        if body.len() + chunk.len() > limit {
            if strict {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk[..limit - body.len()]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` as delta-seconds or an HTTP date.
/// `Retry-After` as seconds or an HTTP date (a date in the past is zero).
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
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
