//! OAuth 2.0 device authorization grant against Entra (request, polling, cancel), and the wire
//! types of Entra's token endpoint that the refresh grant shares.
//!
//! The device authorization request and the refresh grant go through the `oauth2` crate. The
//! polling loop is our own: `oauth2`'s built-in loop maps every error body to its standard type,
//! which drops Entra's `error_codes` (the AADSTS numbers the panel needs to explain a Conditional
//! Access block), and it measures the deadline on the wall clock. Ours keeps the full error body,
//! honours `slow_down` (+5 s), keeps waiting on `authorization_pending`, rides out network loss
//! with exponential backoff for as long as the code is valid (the same code resumes once the
//! network is back), and is cancelled by dropping its future.
//!
//! Every request here refuses redirects: a token endpoint that answers 3xx is an error, never
//! followed, so a device code or refresh token cannot be replayed to another host.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, RequestTokenError,
    Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use super::DeviceCodeOffer;

/// The grant type of the device-code token request (RFC 8628).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Added to the polling interval on every `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Longest wait between two polls while the network is failing: long enough not to hammer a
/// struggling network, short enough that a user who approved on the phone is not kept waiting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Entra's OAuth error body, e.g. `{"error":"authorization_pending","error_description":
/// "AADSTS70016: ...","error_codes":[70016],"timestamp":...,"trace_id":...,"correlation_id":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct EntraErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
}

impl EntraErrorBody {
    /// The AADSTS number: the first of `error_codes`, else the one the description starts with.
    pub fn aadsts_code(&self) -> Option<u32> {
        self.error_codes.first().copied().or_else(|| {
            let rest = self.error_description.strip_prefix("AADSTS")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }

    /// First line of the description (without the trace/correlation ids Entra appends).
    pub fn summary(&self) -> &str {
        self.error_description
            .lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
    }
}

impl fmt::Display for EntraErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.summary() {
            "" => write!(f, "{}", self.error),
            summary => write!(f, "{}: {summary}", self.error),
        }?;
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlation id {id})")?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for EntraErrorBody {}

/// The `id_token` Entra adds to token responses when `openid` was requested.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.id_token.as_ref().map(|_| "[redacted]");
        f.debug_struct("IdTokenField")
            .field("id_token", &shown)
            .finish()
    }
}

impl oauth2::ExtraTokenFields for IdTokenField {}

/// Entra's `message` in the device authorization response (ready-made instructions).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DeviceCodeMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl oauth2::ExtraDeviceAuthorizationFields for DeviceCodeMessage {}

/// A successful token endpoint answer.
pub type EntraTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// The `oauth2` client configured for Entra: public client (no secret), device authorization and
/// token endpoints set.
pub type EntraOAuthClient = oauth2::Client<
    EntraErrorBody,
    EntraTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub fn oauth_client(
    client_id: &str,
    device_authorization_endpoint: &Url,
    token_endpoint: &Url,
) -> EntraOAuthClient {
    oauth2::Client::new(ClientId::new(client_id.to_string()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(
            device_authorization_endpoint.clone(),
        ))
        .set_token_uri(TokenUrl::from_url(token_endpoint.clone()))
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceCodeError {
    #[error("the sign-in was declined on the other device: {0}")]
    Declined(Box<EntraErrorBody>),
    #[error("access was denied during the sign-in: {0}")]
    AccessDenied(Box<EntraErrorBody>),
    #[error("the device code expired before the sign-in finished{}", expired_detail(.0))]
    Expired(Option<Box<EntraErrorBody>>),
    #[error("Entra does not recognise the device code: {0}")]
    BadVerificationCode(Box<EntraErrorBody>),
    #[error("Entra refused the device-code sign-in: {0}")]
    Rejected(Box<EntraErrorBody>),
    #[error("cannot reach Entra's {endpoint} endpoint")]
    Network {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("Entra's {endpoint} endpoint sent an unexpected answer: {detail}")]
    UnexpectedResponse {
        endpoint: &'static str,
        detail: String,
    },
    #[error("Entra's {endpoint} endpoint answered HTTP {status} without an OAuth error body")]
    HttpStatus { endpoint: &'static str, status: u16 },
    /// HTTP 429: Entra throttles this client; `retry_after` is its `Retry-After`, which the
    /// caller must wait out before asking again.
    #[error("Entra's {endpoint} endpoint is throttling requests (HTTP 429){}", retry_text(.retry_after))]
    Throttled {
        endpoint: &'static str,
        retry_after: Option<std::time::Duration>,
    },
    #[error("Entra's {endpoint} endpoint answered HTTP {status} redirecting to `{location}`; token requests never follow redirects")]
    Redirected {
        endpoint: &'static str,
        status: u16,
        location: String,
    },
}

fn retry_text(retry_after: &Option<std::time::Duration>) -> String {
    retry_after
        .map(|d| format!(", retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

fn expired_detail(body: &Option<Box<EntraErrorBody>>) -> String {
    body.as_ref().map(|b| format!(": {b}")).unwrap_or_default()
}

impl DeviceCodeError {
    pub fn aadsts_code(&self) -> Option<u32> {
        self.entra_error().and_then(EntraErrorBody::aadsts_code)
    }

    pub fn entra_error(&self) -> Option<&EntraErrorBody> {
        match self {
            DeviceCodeError::Declined(b)
            | DeviceCodeError::AccessDenied(b)
            | DeviceCodeError::BadVerificationCode(b)
            | DeviceCodeError::Rejected(b)
            | DeviceCodeError::Expired(Some(b)) => Some(b.as_ref()),
            _ => None,
        }
    }

    /// True when the same request may succeed later: the network or a gateway in front of Entra
    /// failed. A readable OAuth error, a redirect or a 4xx page is an answer, not a hiccup.
    pub fn is_transient(&self) -> bool {
        match self {
            DeviceCodeError::Network { .. } | DeviceCodeError::Throttled { .. } => true,
            DeviceCodeError::HttpStatus { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            _ => false,
        }
    }
}

/// Why an HTTP exchange made through [`send_without_redirects`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("network error")]
    Network(#[source] reqwest::Error),
    #[error("HTTP {status} redirect to `{location}` refused")]
    Redirected { status: u16, location: String },
    #[error("HTTP {status} from the server")]
    ServerError { status: u16 },
    #[error("HTTP 429 from the server")]
    Throttled {
        retry_after: Option<std::time::Duration>,
    },
    #[error("cannot build the HTTP request: {0}")]
    BadRequest(String),
}

/// The HTTP client the `oauth2` requests run on: `http` is expected to have redirects turned
/// off already, and a 3xx answer becomes [`TransportError::Redirected`] instead of an
/// unreadable body.
pub async fn send_without_redirects(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TransportError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| TransportError::BadRequest(e.to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(TransportError::Network)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(TransportError::Redirected {
            status: status.as_u16(),
            location: location_of(response.headers()),
        });
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        // Throttled: not an answer about the grant, and the wait Entra asks for matters.
        return Err(TransportError::Throttled {
            retry_after: crate::graph::parse_retry_after(response.headers()),
        });
    }
    if status.is_server_error() {
        // A gateway in front of Entra failing: worth another try, unlike an OAuth answer.
        return Err(TransportError::ServerError {
            status: status.as_u16(),
        });
    }
    let mut builder = oauth2::http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.map_err(TransportError::Network)?;
    builder
        .body(body.to_vec())
        .map_err(|e| TransportError::BadRequest(e.to_string()))
}

/// `reqwest::Client` as the `oauth2` crate's HTTP client, through [`send_without_redirects`].
#[derive(Debug, Clone)]
pub struct NoRedirectHttp(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for NoRedirectHttp {
    type Error = TransportError;
    type Future = Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + Sync + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send_without_redirects(&self.0, request))
    }
}

fn location_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Maps an `oauth2` request error, never carrying response bodies along: a body that failed to
/// parse might be a token response.
pub fn map_oauth_error(
    endpoint: &'static str,
    err: RequestTokenError<TransportError, EntraErrorBody>,
) -> Result<EntraErrorBody, DeviceCodeError> {
    match err {
        RequestTokenError::ServerResponse(body) => Ok(body),
        RequestTokenError::Request(TransportError::Network(source)) => {
            Err(DeviceCodeError::Network { endpoint, source })
        }
        RequestTokenError::Request(TransportError::ServerError { status }) => {
            Err(DeviceCodeError::HttpStatus { endpoint, status })
        }
        RequestTokenError::Request(TransportError::Throttled { retry_after }) => {
            Err(DeviceCodeError::Throttled {
                endpoint,
                retry_after,
            })
        }
        RequestTokenError::Request(TransportError::Redirected { status, location }) => {
            Err(DeviceCodeError::Redirected {
                endpoint,
                status,
                location,
            })
        }
        RequestTokenError::Request(other) => Err(DeviceCodeError::UnexpectedResponse {
            endpoint,
            detail: other.to_string(),
        }),
        RequestTokenError::Parse(err, _body) => Err(DeviceCodeError::UnexpectedResponse {
            endpoint,
            detail: format!("unreadable JSON at `{}`", err.path()),
        }),
        RequestTokenError::Other(detail) => {
            Err(DeviceCodeError::UnexpectedResponse { endpoint, detail })
        }
    }
}

/// A started device-code sign-in: what to show, and what to poll with. Dropping it abandons the
/// sign-in (Entra lets the code expire).
pub struct PendingDeviceCode {
    offer: DeviceCodeOffer,
    message: Option<String>,
    device_code: oauth2::DeviceCode,
    interval: Duration,
    deadline: Instant,
}

impl fmt::Debug for PendingDeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDeviceCode")
            .field("offer", &self.offer)
            .field("device_code", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl PendingDeviceCode {
    /// What the panel shows: user code, verification URI, lifetime, interval.
    pub fn offer(&self) -> &DeviceCodeOffer {
        &self.offer
    }

    /// Entra's own one-line instructions, when it sent them.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// When the code stops being redeemable, on tokio's clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// POSTs the device authorization request and returns what to show and poll with.
pub async fn start(
    client: &EntraOAuthClient,
    http: &reqwest::Client,
    scopes: &[String],
) -> Result<PendingDeviceCode, DeviceCodeError> {
    let issued = Instant::now();
    let response = client
        .exchange_device_code()
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .request_async(&NoRedirectHttp(http.clone()))
        .await
        .map_err(|e| match map_oauth_error("device authorization", e) {
            Ok(body) => DeviceCodeError::Rejected(Box::new(body)),
            Err(err) => err,
        })?;
    let response: oauth2::DeviceAuthorizationResponse<DeviceCodeMessage> = response;
    let expires_in = response.expires_in();
    let interval = response.interval().max(Duration::from_secs(1));
    let offer = DeviceCodeOffer {
        user_code: response.user_code().secret().clone(),
        verification_uri: response.verification_uri().to_string(),
        expires_in_secs: expires_in.as_secs(),
        interval_secs: interval.as_secs(),
    };
    tracing::info!(
        verification_uri = %offer.verification_uri,
        expires_in_secs = offer.expires_in_secs,
        "device-code sign-in started"
    );
    Ok(PendingDeviceCode {
        offer,
        message: response.extra_fields().message.clone(),
        device_code: response.device_code().clone(),
        interval,
        deadline: issued + expires_in,
    })
}

/// What one poll of the token endpoint said.
#[derive(Debug)]
pub enum PollOutcome<T> {
    Done(T),
    Pending,
    SlowDown,
    Failed(DeviceCodeError),
}

/// Polls the token endpoint until the user finishes, declines, or the code expires.
pub async fn poll_until_done(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    pending: &PendingDeviceCode,
) -> Result<EntraTokenResponse, DeviceCodeError> {
    poll_loop(pending.interval, pending.deadline, || {
        poll_once(http, token_endpoint, client_id, &pending.device_code)
    })
    .await
}

/// The timing rules of RFC 8628 around any poll function: wait `interval` before each poll,
/// +5 s on `slow_down` (for good), exponential backoff while the network fails, stop at
/// `deadline`. Network failures never end the loop on their own: the code stays valid until its
/// deadline, and the user may be approving it on their phone right now.
pub async fn poll_loop<T, F, Fut>(
    interval: Duration,
    deadline: Instant,
    mut poll: F,
) -> Result<T, DeviceCodeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = PollOutcome<T>>,
{
    let mut interval = interval.max(Duration::from_secs(1));
    let mut wait = interval;
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(wait).await;
        wait = interval;
        let mut offline = None;
        match poll().await {
            PollOutcome::Done(tokens) => return Ok(tokens),
            PollOutcome::Pending => failures = 0,
            PollOutcome::SlowDown => {
                failures = 0;
                interval += SLOW_DOWN_STEP;
                wait = interval;
                tracing::debug!(?interval, "Entra asked to slow down");
            }
            PollOutcome::Failed(err) if err.is_transient() => {
                failures += 1;
                wait = backoff(interval, failures);
                tracing::warn!(error = %err, failures, ?wait,
                    "device-code poll failed; the code is still valid, retrying");
                offline = Some(err);
            }
            PollOutcome::Failed(err) => return Err(err),
        }
        if Instant::now() >= deadline {
            // Still failing when the code ran out: the network is the news, not the expiry.
            return Err(offline.unwrap_or(DeviceCodeError::Expired(None)));
        }
    }
}

/// Wait before the next poll after `failures` failed polls in a row: doubling from twice the
/// interval, capped at [`MAX_BACKOFF`] but never shorter than the interval.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(16));
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF)
        .max(interval)
}

/// Requests nothing new: asks the token endpoint once about `pending`. `Pending` proves that the
/// app registration accepts device-code redemption by a public client (Entra checks that before
/// it looks at the code).
pub async fn poll_once_for(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    pending: &PendingDeviceCode,
) -> PollOutcome<EntraTokenResponse> {
    poll_once(http, token_endpoint, client_id, &pending.device_code).await
}

async fn poll_once(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    device_code: &oauth2::DeviceCode,
) -> PollOutcome<EntraTokenResponse> {
    const ENDPOINT: &str = "token";
    let form = [
        ("grant_type", DEVICE_CODE_GRANT_TYPE),
        ("client_id", client_id),
        ("device_code", device_code.secret().as_str()),
    ];
    let response = match http
        .post(token_endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
    {
        Ok(r) => r,
        Err(source) => {
            return PollOutcome::Failed(DeviceCodeError::Network {
                endpoint: ENDPOINT,
                source,
            })
        }
    };
    let status = response.status();
    if status.is_redirection() {
        return PollOutcome::Failed(DeviceCodeError::Redirected {
            endpoint: ENDPOINT,
            status: status.as_u16(),
            location: location_of(response.headers()),
        });
    }
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(source) => {
            return PollOutcome::Failed(DeviceCodeError::Network {
                endpoint: ENDPOINT,
                source,
            })
        }
    };
    if status.is_server_error() {
        // Entra's front door answers outages with 5xx (sometimes with a JSON body): try again.
        return PollOutcome::Failed(DeviceCodeError::HttpStatus {
            endpoint: ENDPOINT,
            status: status.as_u16(),
        });
    }
    if status.is_success() {
        return match serde_json::from_slice::<EntraTokenResponse>(&body) {
            Ok(tokens) => PollOutcome::Done(tokens),
            Err(err) => PollOutcome::Failed(DeviceCodeError::UnexpectedResponse {
                endpoint: ENDPOINT,
                // The position only: the body holds tokens.
                detail: format!(
                    "unreadable token response (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            }),
        };
    }
    match serde_json::from_slice::<EntraErrorBody>(&body) {
        Ok(err) => classify(err),
        Err(_) => PollOutcome::Failed(DeviceCodeError::HttpStatus {
            endpoint: ENDPOINT,
            status: status.as_u16(),
        }),
    }
}

/// Sorts a token endpoint error body into the RFC 8628 outcomes.
pub fn classify<T>(err: EntraErrorBody) -> PollOutcome<T> {
    match err.error.as_str() {
        "authorization_pending" => PollOutcome::Pending,
        "slow_down" => PollOutcome::SlowDown,
        "authorization_declined" => PollOutcome::Failed(DeviceCodeError::Declined(Box::new(err))),
        "access_denied" => PollOutcome::Failed(DeviceCodeError::AccessDenied(Box::new(err))),
        "expired_token" | "code_expired" => {
            PollOutcome::Failed(DeviceCodeError::Expired(Some(Box::new(err))))
        }
        "bad_verification_code" => {
            PollOutcome::Failed(DeviceCodeError::BadVerificationCode(Box::new(err)))
        }
        _ => PollOutcome::Failed(DeviceCodeError::Rejected(Box::new(err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    fn body(error: &str, code: u32) -> EntraErrorBody {
        EntraErrorBody {
            error: error.into(),
            error_description: format!(
                "AADSTS{code}: something.\r\nTrace ID: t\r\nCorrelation ID: c"
            ),
            error_codes: vec![code],
            timestamp: None,
            trace_id: Some("t".into()),
            correlation_id: Some("c".into()),
            suberror: None,
        }
    }

    /// Replays `script`, recording the tokio time of each poll relative to the start.
    async fn run_script(
        interval: Duration,
        expires: Duration,
        script: Vec<PollOutcome<&'static str>>,
    ) -> (Result<&'static str, DeviceCodeError>, Vec<u64>) {
        let start = Instant::now();
        let script = RefCell::new(VecDeque::from(script));
        let times = RefCell::new(Vec::new());
        let result = poll_loop(interval, start + expires, || {
            times.borrow_mut().push(start.elapsed().as_secs());
            let next = script
                .borrow_mut()
                .pop_front()
                .unwrap_or(PollOutcome::Pending);
            async move { next }
        })
        .await;
        (result, times.into_inner())
    }

    #[tokio::test(start_paused = true)]
    async fn pending_keeps_waiting_at_the_server_interval() {
        let (result, times) = run_script(
            Duration::from_secs(5),
            Duration::from_secs(900),
            vec![
                PollOutcome::Pending,
                PollOutcome::Pending,
                PollOutcome::Done("tokens"),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), "tokens");
        assert_eq!(times, vec![5, 10, 15]);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_down_adds_five_seconds_for_good() {
        let (result, times) = run_script(
            Duration::from_secs(5),
            Duration::from_secs(900),
            vec![
                PollOutcome::SlowDown,
                PollOutcome::Pending,
                PollOutcome::SlowDown,
                PollOutcome::Done("tokens"),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), "tokens");
        assert_eq!(times, vec![5, 15, 25, 40]);
    }

    #[tokio::test(start_paused = true)]
    async fn declined_stops_at_once_and_keeps_the_aadsts_code() {
        let (result, times) = run_script(
            Duration::from_secs(5),
            Duration::from_secs(900),
            vec![
                PollOutcome::Pending,
                classify(body("authorization_declined", 70000)),
            ],
        )
        .await;
        let err = result.unwrap_err();
        assert!(matches!(err, DeviceCodeError::Declined(_)), "{err:?}");
        assert_eq!(err.aadsts_code(), Some(70000));
        assert_eq!(times, vec![5, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn local_deadline_ends_an_endless_pending() {
        let (result, times) =
            run_script(Duration::from_secs(5), Duration::from_secs(12), vec![]).await;
        assert!(matches!(result, Err(DeviceCodeError::Expired(None))));
        assert_eq!(times, vec![5, 10, 15]);
    }

    fn gateway_error() -> PollOutcome<&'static str> {
        PollOutcome::Failed(DeviceCodeError::HttpStatus {
            endpoint: "token",
            status: 502,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_and_resume_with_the_same_code() {
        let (result, times) = run_script(
            Duration::from_secs(5),
            Duration::from_secs(900),
            vec![
                PollOutcome::Pending,
                gateway_error(),
                gateway_error(),
                gateway_error(),
                gateway_error(),
                PollOutcome::Pending,
                PollOutcome::Done("tokens"),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), "tokens");
        // Waits of 10, 20, 30 (cap), 30 after the failures, then back to the 5 s interval.
        assert_eq!(times, vec![5, 10, 20, 40, 70, 100, 105]);
    }

    #[tokio::test(start_paused = true)]
    async fn still_offline_at_the_deadline_reports_the_network() {
        let (result, times) = run_script(
            Duration::from_secs(5),
            Duration::from_secs(60),
            (0..10).map(|_| gateway_error()).collect(),
        )
        .await;
        assert!(
            matches!(result, Err(DeviceCodeError::HttpStatus { status: 502, .. })),
            "{result:?}"
        );
        assert_eq!(times, vec![5, 15, 35, 65]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_4xx_page_or_a_redirect_ends_the_sign_in_at_once() {
        for failure in [
            DeviceCodeError::HttpStatus {
                endpoint: "token",
                status: 404,
            },
            DeviceCodeError::Redirected {
                endpoint: "token",
                status: 307,
                location: "https://elsewhere.example/token".into(),
            },
        ] {
            let (result, times) = run_script(
                Duration::from_secs(5),
                Duration::from_secs(900),
                vec![PollOutcome::Failed(failure)],
            )
            .await;
            assert!(result.is_err());
            assert_eq!(times, vec![5]);
        }
    }

    #[test]
    fn backoff_never_polls_faster_than_the_interval() {
        assert_eq!(backoff(Duration::from_secs(5), 1), Duration::from_secs(10));
        assert_eq!(backoff(Duration::from_secs(5), 2), Duration::from_secs(20));
        assert_eq!(backoff(Duration::from_secs(5), 3), Duration::from_secs(30));
        assert_eq!(backoff(Duration::from_secs(5), 40), Duration::from_secs(30));
        assert_eq!(backoff(Duration::from_secs(45), 1), Duration::from_secs(45));
    }

    #[test]
    fn classify_maps_entra_errors() {
        assert!(matches!(
            classify::<()>(body("authorization_pending", 70016)),
            PollOutcome::Pending
        ));
        assert!(matches!(
            classify::<()>(body("expired_token", 70020)),
            PollOutcome::Failed(DeviceCodeError::Expired(Some(_)))
        ));
        assert!(matches!(
            classify::<()>(body("bad_verification_code", 70018)),
            PollOutcome::Failed(DeviceCodeError::BadVerificationCode(_))
        ));
        assert!(matches!(
            classify::<()>(body("access_denied", 65004)),
            PollOutcome::Failed(DeviceCodeError::AccessDenied(_))
        ));
        assert!(matches!(
            classify::<()>(body("authorization_declined", 70000)),
            PollOutcome::Failed(DeviceCodeError::Declined(_))
        ));
        match classify::<()>(body("invalid_grant", 53003)) {
            PollOutcome::Failed(err @ DeviceCodeError::Rejected(_)) => {
                assert_eq!(err.aadsts_code(), Some(53003))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aadsts_code_falls_back_to_the_description() {
        let mut b = body("invalid_grant", 50057);
        b.error_codes.clear();
        assert_eq!(b.aadsts_code(), Some(50057));
        assert_eq!(b.summary(), "AADSTS50057: something.");
        assert_eq!(
            b.to_string(),
            "invalid_grant: AADSTS50057: something. (correlation id c)"
        );
    }

    #[test]
    fn id_token_is_redacted_in_debug() {
        let f = IdTokenField {
            id_token: Some("eyJsecret".into()),
        };
        assert!(!format!("{f:?}").contains("eyJsecret"));
    }
}
