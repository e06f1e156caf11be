//! Simulated Entra ID endpoints, laid out and answering like the real ones: OpenID metadata,
//! JWKS, device authorization and the token endpoint (device-code and refresh grants).
//!
//! Error answers are HTTP 400 with Entra's body (`error`, `error_description` starting with the
//! AADSTS code and ending with trace/correlation ids, `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`, `error_uri`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::time::Instant;

use super::state::{
    random_token, random_user_code, sha256_hex, CodeStatus, DeviceCodeEntry, EndpointFault,
    IssuedToken, RefreshGrant, Shared, SignInPolicy, SimEndpoint, State as SimState, TokenKind,
};
use super::tokens;
use super::SimUser;

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
}

/// An Entra error answer, rendered with fresh trace ids when it becomes a response.
pub(crate) struct EntraError {
    error: &'static str,
    code: Option<u32>,
    message: String,
    correlation_id: String,
    suberror: Option<&'static str>,
}

impl EntraError {
    fn new(headers: &HeaderMap, error: &'static str, code: Option<u32>, message: String) -> Self {
        // Entra echoes the caller's client-request-id as the correlation id.
        let correlation_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| uuid::Uuid::parse_str(v).is_ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        EntraError {
            error,
            code,
            message,
            correlation_id,
            suberror: None,
        }
    }

    /// For the other simulated endpoints (app credentials, directory).
    pub(crate) fn new_pub(
        headers: &HeaderMap,
        error: &'static str,
        code: Option<u32>,
        message: String,
    ) -> Self {
        Self::new(headers, error, code, message)
    }

    /// Entra adds a `suberror` to some `invalid_grant` answers (e.g. `consent_required`).
    fn with_suberror(mut self, suberror: &'static str) -> Self {
        self.suberror = Some(suberror);
        self
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let prefix = self
            .code
            .map(|c| format!("AADSTS{c}: "))
            .unwrap_or_default();
        let description = format!(
            "{prefix}{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
            self.message, self.correlation_id
        );
        let mut body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": self.code.map(|c| vec![c]).unwrap_or_default(),
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": self.correlation_id,
        });
        if let Some(code) = self.code {
            body["error_uri"] = json!(format!(
                "https://login.microsoftonline.com/error?code={code}"
            ));
        }
        if let Some(suberror) = self.suberror {
            body["suberror"] = json!(suberror);
        }
        let mut response = (StatusCode::BAD_REQUEST, Json(body)).into_response();
        no_store(&mut response);
        if let Ok(v) = HeaderValue::from_str(&trace_id) {
            response.headers_mut().insert("x-ms-request-id", v);
        }
        response
    }
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// How a tenant path segment resolved.
enum TenantPath {
    /// The sim's tenant id or one of its domains: endpoints and issuer use the tenant id.
    Specific,
    /// `organizations` or `common`: endpoints keep the segment, the issuer is a template.
    Multi(&'static str),
}

fn resolve_tenant(shared: &Shared, segment: &str) -> Option<TenantPath> {
    if segment.eq_ignore_ascii_case(&shared.tenant_id)
        || shared
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(segment))
    {
        Some(TenantPath::Specific)
    } else if segment.eq_ignore_ascii_case("organizations") {
        Some(TenantPath::Multi("organizations"))
    } else if segment.eq_ignore_ascii_case("common") {
        Some(TenantPath::Multi("common"))
    } else {
        None
    }
}

fn tenant_or_error(
    shared: &Shared,
    headers: &HeaderMap,
    segment: &str,
) -> Result<TenantPath, EntraError> {
    resolve_tenant(shared, segment).ok_or_else(|| {
        EntraError::new(
            headers,
            "invalid_tenant",
            Some(90002),
            format!(
                "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    })
}

async fn openid_configuration(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, EntraError> {
    let path = tenant_or_error(&shared, &headers, &tenant)?;
    shared.state().stats.discovery_requests += 1;
    let (segment, issuer) = match path {
        TenantPath::Specific => (shared.tenant_id.clone(), shared.issuer()),
        TenantPath::Multi(seg) => (seg.to_string(), shared.url("/{tenantid}/v2.0")),
    };
    let at = |p: &str| shared.url(&format!("/{segment}{p}"));
    Ok(Json(json!({
        "token_endpoint": at("/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": at("/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": shared.url("/oidc/userinfo"),
        "authorization_endpoint": at("/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": at("/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at("/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": shared.authority.host_str().unwrap_or("127.0.0.1"),
    })))
}

async fn keys(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, EntraError> {
    tenant_or_error(&shared, &headers, &tenant)?;
    shared.state().stats.jwks_requests += 1;
    let jwks = shared.keys().jwks();
    Ok(Json(jwks))
}

fn parse_form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn required<'a>(
    form: &'a HashMap<String, String>,
    headers: &HeaderMap,
    name: &str,
) -> Result<&'a str, EntraError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            EntraError::new(
                headers,
                "invalid_request",
                Some(900144),
                format!("The request body must contain the following parameter: '{name}'."),
            )
        })
}

fn check_client(shared: &Shared, headers: &HeaderMap, client_id: &str) -> Result<(), EntraError> {
    if client_id.eq_ignore_ascii_case(&shared.client_id) {
        return Ok(());
    }
    let directory = shared
        .domains
        .first()
        .cloned()
        .unwrap_or_else(|| shared.tenant_id.clone());
    Err(EntraError::new(
        headers,
        "unauthorized_client",
        Some(700016),
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    ))
}

/// Splits and checks a `scope` parameter: OpenID scopes and Microsoft Graph permissions only.
fn parse_scopes(headers: &HeaderMap, raw: &str) -> Result<Vec<String>, EntraError> {
    let mut scopes = Vec::new();
    for scope in raw.split_whitespace() {
        let short = scope
            .strip_prefix("https://graph.microsoft.com/")
            .unwrap_or(scope);
        let oidc = tokens::OIDC_SCOPES.contains(&short);
        let graph_permission = short.split('.').count() >= 2
            && short
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !(oidc || graph_permission || short == ".default") {
            return Err(EntraError::new(
                headers,
                "invalid_scope",
                Some(70011),
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                ),
            ));
        }
        if !scopes.iter().any(|s| s == short) {
            scopes.push(short.to_string());
        }
    }
    Ok(scopes)
}

async fn devicecode(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EntraError> {
    tenant_or_error(&shared, &headers, &tenant)?;
    if let Some(redirect) = injected_fault(&shared, SimEndpoint::DeviceAuthorization, &tenant) {
        return Ok(redirect);
    }
    let form = parse_form(&body);
    let client_id = required(&form, &headers, "client_id")?;
    check_client(&shared, &headers, client_id)?;
    let scopes = parse_scopes(&headers, required(&form, &headers, "scope")?)?;

    let device_code = random_token(48);
    let user_code = random_user_code();
    let now = Instant::now();
    let verification_uri = shared.url("/devicelogin");
    {
        let mut state = shared.state();
        state.stats.device_code_requests += 1;
        // Forget codes long past their expiry.
        state
            .device_codes
            .retain(|c| c.expires + std::time::Duration::from_secs(600) > now);
        state.device_codes.push(DeviceCodeEntry {
            device_code_hash: sha256_hex(&device_code),
            user_code: user_code.clone(),
            client_id: client_id.to_string(),
            scopes,
            created: now,
            expires: now + shared.expires,
            interval: shared.interval,
            last_poll: None,
            status: CodeStatus::Pending,
        });
    }
    tracing::debug!(%user_code, "sim: device code issued");
    let mut response = Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": shared.expires.as_secs(),
        "interval": shared.interval.as_secs(),
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
    }))
    .into_response();
    no_store(&mut response);
    Ok(response)
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EntraError> {
    tenant_or_error(&shared, &headers, &tenant)?;
    if let Some(redirect) = injected_fault(&shared, SimEndpoint::Token, &tenant) {
        return Ok(redirect);
    }
    let form = parse_form(&body);
    let grant_type = required(&form, &headers, "grant_type")?;
    let client_id = required(&form, &headers, "client_id")?;
    check_client(&shared, &headers, client_id)?;
    if grant_type == "client_credentials" {
        return Ok(super::app_auth::grant(
            &shared, &headers, &tenant, client_id, &form,
        ));
    }
    // A public client sends no secret; unless the registration allows public client flows,
    // Entra insists on one before it looks at the grant.
    if !shared.state().app.public_client_flows {
        return Err(EntraError::new(
            &headers,
            "invalid_client",
            Some(7000218),
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        ));
    }
    match grant_type {
        DEVICE_CODE_GRANT => {
            let device_code = required(&form, &headers, "device_code")?;
            device_code_grant(&shared, &headers, client_id, device_code)
        }
        "refresh_token" => {
            let refresh_token = required(&form, &headers, "refresh_token")?;
            let scopes = match form.get("scope") {
                Some(raw) if !raw.trim().is_empty() => Some(parse_scopes(&headers, raw)?),
                _ => None,
            };
            let result = refresh_grant(&shared, &headers, client_id, refresh_token, scopes);
            if result.is_err() {
                shared.state().stats.refresh_failures += 1;
            }
            result
        }
        other => Err(EntraError::new(
            &headers,
            "unsupported_grant_type",
            Some(70003),
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn device_code_grant(
    shared: &Shared,
    headers: &HeaderMap,
    client_id: &str,
    device_code: &str,
) -> Result<Response, EntraError> {
    let hash = sha256_hex(device_code);
    let now = Instant::now();
    let bad_code = || {
        EntraError::new(
            headers,
            "bad_verification_code",
            Some(70018),
            "Invalid verification code: the device code is unknown or was already redeemed.".into(),
        )
    };
    let (user, scopes) = {
        let mut guard = shared.state();
        let state = &mut *guard;
        state.stats.device_code_polls += 1;
        state.poll_times.push(now);
        state.poll_notify.notify_waiters();
        let forced_slow_down = state.forced_slow_downs > 0;
        let first_user = state.users.first().map(|u| u.oid.clone());
        let entry = state
            .device_codes
            .iter_mut()
            .find(|c| c.device_code_hash == hash && c.client_id.eq_ignore_ascii_case(client_id))
            .filter(|c| c.status != CodeStatus::Redeemed)
            .ok_or_else(bad_code)?;
        if now >= entry.expires {
            return Err(EntraError::new(
                headers,
                "expired_token",
                Some(70020),
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.".into(),
            ));
        }
        // Polling faster than the interval earns a slow_down, and a longer interval (RFC 8628).
        let too_fast = entry.last_poll.is_some_and(|last| {
            now.duration_since(last) + std::time::Duration::from_millis(250) < entry.interval
        });
        entry.last_poll = Some(now);
        if forced_slow_down {
            state.forced_slow_downs -= 1;
        }
        if too_fast || forced_slow_down {
            entry.interval += std::time::Duration::from_secs(5);
            return Err(EntraError::new(
                headers,
                "slow_down",
                None,
                format!(
                    "Polling too frequently. Wait at least {} seconds between requests.",
                    entry.interval.as_secs()
                ),
            ));
        }
        if entry.status == CodeStatus::Pending {
            if let (Some(after), Some(oid)) = (shared.auto_approve_after, first_user) {
                if now.duration_since(entry.created) >= after {
                    entry.status = CodeStatus::Approved { oid };
                }
            }
        }
        let oid = match &entry.status {
            CodeStatus::Pending => {
                return Err(EntraError::new(
                    headers,
                    "authorization_pending",
                    Some(70016),
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling."
                        .into(),
                ))
            }
            CodeStatus::Declined => {
                return Err(EntraError::new(
                    headers,
                    "authorization_declined",
                    Some(70000),
                    "The user declined the sign-in request on their device.".into(),
                ))
            }
            CodeStatus::Approved { oid } => oid.clone(),
            CodeStatus::Redeemed => return Err(bad_code()),
        };
        let scopes = entry.scopes.clone();
        let user = usable_user(state.user(&oid), &oid, shared, headers)?;
        // Whatever the policies decide, this code is settled now.
        entry_mark_redeemed(&mut state.device_codes, &hash);
        policy_check(shared, state, headers, &user, &scopes)?;
        state.stats.device_code_grants += 1;
        (user, scopes)
    };
    issue(shared, &user, client_id, &scopes)
}

/// What the tenant's policies say about `user` getting tokens for `scopes` through this app:
/// app assignment, Conditional Access, security defaults, consent.
fn policy_check(
    shared: &Shared,
    state: &SimState,
    headers: &HeaderMap,
    user: &SimUser,
    scopes: &[String],
) -> Result<(), EntraError> {
    let app = &state.app;
    if app.assignment_required && !app.assigned.contains(&user.oid) {
        return Err(EntraError::new(
            headers,
            "invalid_grant",
            Some(50105),
            format!(
                "Your administrator has configured the application {} ('{}') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '{}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator. Please contact your administrator to assign access to this application.",
                app.display_name, shared.client_id, user.upn
            ),
        ));
    }
    match state.policies.get(&user.oid) {
        Some(SignInPolicy::ConditionalAccessBlock) => {
            return Err(EntraError::new(
                headers,
                "invalid_grant",
                Some(53003),
                "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.".into(),
            ))
        }
        Some(SignInPolicy::SecurityDefaultsBlock) => {
            return Err(EntraError::new(
                headers,
                "invalid_grant",
                Some(530035),
                "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.".into(),
            ))
        }
        Some(SignInPolicy::DeclinesConsent) => {
            return Err(EntraError::new(
                headers,
                "access_denied",
                Some(65004),
                "User declined to consent to access the app.".into(),
            ))
        }
        None => {}
    }
    if scopes.iter().any(|s| {
        app.unconsented_scopes
            .iter()
            .any(|u| u.eq_ignore_ascii_case(s))
    }) {
        return Err(EntraError::new(
            headers,
            "invalid_grant",
            Some(65001),
            format!(
                "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
                shared.client_id, app.display_name
            ),
        )
        .with_suberror("consent_required"));
    }
    Ok(())
}

/// The injected fault for `endpoint`, if any: a 307 to the same URL (a client that follows
/// redirects would send the request again, and succeed, the fault being used up), or a gateway
/// error page.
fn injected_fault(shared: &Shared, endpoint: SimEndpoint, tenant: &str) -> Option<Response> {
    let fault = {
        let mut state = shared.state();
        let at = state
            .endpoint_faults
            .iter()
            .position(|(e, _)| *e == endpoint)?;
        state.endpoint_faults.remove(at)?.1
    };
    match fault {
        EndpointFault::Redirect => {
            let path = match endpoint {
                SimEndpoint::DeviceAuthorization => "devicecode",
                SimEndpoint::Token => "token",
            };
            let location = shared.url(&format!("/{tenant}/oauth2/v2.0/{path}"));
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Some(response)
        }
        EndpointFault::OAuth { error, code } => Some(
            EntraError::new(
                &HeaderMap::new(),
                error,
                Some(code),
                "The request was refused (injected by a test).".into(),
            )
            .into_response(),
        ),
        EndpointFault::Throttled(wait) => {
            let mut response = EntraError::new(
                &HeaderMap::new(),
                "temporarily_unavailable",
                Some(50196),
                "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.".into(),
            )
            .into_response();
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Some(response)
        }
        EndpointFault::Gateway(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Some(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html")],
                    format!("<html><body><h1>{status}</h1></body></html>"),
                )
                    .into_response(),
            )
        }
    }
}

fn entry_mark_redeemed(codes: &mut [DeviceCodeEntry], hash: &str) {
    if let Some(entry) = codes.iter_mut().find(|c| c.device_code_hash == hash) {
        entry.status = CodeStatus::Redeemed;
    }
}

/// The user a grant is for, if it may still get tokens.
fn usable_user(
    user: Option<&SimUser>,
    oid: &str,
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<SimUser, EntraError> {
    match user {
        None => Err(EntraError::new(
            headers,
            "invalid_grant",
            Some(50034),
            format!(
                "The user account {oid} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
                shared.tenant_id
            ),
        )),
        Some(u) if !u.account_enabled => Err(EntraError::new(
            headers,
            "invalid_grant",
            Some(50057),
            "The user account is disabled. The account has been disabled by an administrator."
                .into(),
        )),
        Some(u) => Ok(u.clone()),
    }
}

fn refresh_grant(
    shared: &Shared,
    headers: &HeaderMap,
    client_id: &str,
    refresh_token: &str,
    requested_scopes: Option<Vec<String>>,
) -> Result<Response, EntraError> {
    let hash = sha256_hex(refresh_token);
    let now = Instant::now();
    let invalid = |code: u32, message: &str| {
        EntraError::new(headers, "invalid_grant", Some(code), message.to_string())
    };
    let (user, scopes) = {
        let mut guard = shared.state();
        let state = &mut *guard;
        let reused = state
            .spent_refresh_tokens
            .get(&hash)
            .filter(|(at, _)| {
                shared
                    .refresh_reuse_window
                    .is_some_and(|w| now.duration_since(*at) <= w)
            })
            .map(|(_, g)| g.clone());
        let Some(grant) = state.refresh_tokens.get(&hash).cloned().or(reused) else {
            return Err(if state.revoked_refresh_tokens.contains(&hash) {
                invalid(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
            } else if state.spent_refresh_tokens.contains_key(&hash) {
                invalid(70000, "The provided value for the input parameter 'refresh_token' is not valid. The refresh token was already redeemed and has been replaced.")
            } else {
                invalid(9002313, "Invalid request. Request is malformed or invalid.")
            });
        };
        if !grant.client_id.eq_ignore_ascii_case(client_id) {
            return Err(invalid(
                70000,
                "The provided value for the input parameter 'refresh_token' is not valid. It was issued to a different client.",
            ));
        }
        if now.duration_since(grant.last_used) > shared.refresh_max_inactive {
            let days = shared.refresh_max_inactive.as_secs() / 86_400;
            state.refresh_tokens.remove(&hash);
            return Err(invalid(
                700082,
                &format!("The refresh token has expired due to inactivity. The token was inactive for more than {days} days."),
            ));
        }
        let oid = state
            .next_refresh_as
            .take()
            .unwrap_or_else(|| grant.oid.clone());
        let scopes = requested_scopes.unwrap_or_else(|| grant.scopes.clone());
        // A disabled or deleted user fails without using up the token, as in Entra.
        let user = usable_user(state.user(&oid), &oid, shared, headers)?;
        if let Some(grant) = state.refresh_tokens.remove(&hash) {
            state.spent_refresh_tokens.insert(hash, (now, grant));
        }
        state.stats.refresh_grants += 1;
        (user, scopes)
    };
    issue(shared, &user, client_id, &scopes)
}

/// Mints the token response and registers its refresh token.
fn issue(
    shared: &Shared,
    user: &SimUser,
    client_id: &str,
    scopes: &[String],
) -> Result<Response, EntraError> {
    let minted = tokens::mint(shared, user, client_id, scopes).map_err(|err| {
        tracing::error!(%err, "sim: cannot sign tokens");
        EntraError::new(
            &HeaderMap::new(),
            "temporarily_unavailable",
            Some(90006),
            "The service is temporarily unavailable.".into(),
        )
    })?;
    {
        let mut state = shared.state();
        for (kind, field) in [
            (TokenKind::Access, "access_token"),
            (TokenKind::Id, "id_token"),
        ] {
            if let Some(value) = minted.body.get(field).and_then(|v| v.as_str()) {
                state.issued.push(IssuedToken {
                    kind,
                    oid: user.oid.clone(),
                    value: value.into(),
                });
            }
        }
        if let Some(rt) = &minted.refresh_token {
            state.issued.push(IssuedToken {
                kind: TokenKind::Refresh,
                oid: user.oid.clone(),
                value: rt.as_str().into(),
            });
        }
    }
    if let Some(rt) = &minted.refresh_token {
        shared.state().refresh_tokens.insert(
            sha256_hex(rt),
            RefreshGrant {
                oid: user.oid.clone(),
                client_id: client_id.to_string(),
                scopes: scopes.to_vec(),
                last_used: Instant::now(),
            },
        );
    }
    let mut response = Json(minted.body).into_response();
    no_store(&mut response);
    Ok(response)
}
