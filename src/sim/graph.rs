//! Simulated Microsoft Graph: the routes, authentication, errors and `GET /v1.0/me`.
//!
//! Drives (`/me/drive`, `/drives/{id}`) live in `drives`, upload sessions in `upload_session`,
//! SharePoint sites in `sites`, faults and the planned client kill in `chaos` (a middleware on
//! every Graph route). Bearer tokens are verified against the simulated authority's keys.
//! Errors use Graph's body `{"error":{"code","message","innerError":{...}}}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;

use super::state::Shared;
use super::tokens::{self, AccessClaims};
use super::{chaos, drives, sites, upload_session, SimUser};

/// Every Graph route, behind the fault middleware. `uploadUrl`s live under `/upload/`, outside
/// `/v1.0`, as they live on another host in the real service.
pub(crate) fn routes(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/drive/{*rest}", any(drives::drive_request))
        .route(
            "/v1.0/drives/{drive_id}/{*rest}",
            any(drives::drive_request),
        )
        .route("/v1.0/sites/{*rest}", get(sites::site_request))
        .route("/v1.0/users/delta", get(super::directory::users_delta))
        .route(
            "/v1.0/users/{user}/drive/{*rest}",
            any(drives::drive_request),
        )
        .route("/v1.0/groups/delta", get(super::directory::groups_delta))
        .route(
            "/v1.0/users/{id}",
            get(super::directory_users::get_user).patch(super::directory_users::patch_user),
        )
        .route("/upload/{id}", any(upload_session::session_request))
        .route("/raw/sink", axum::routing::put(drives::raw_sink))
        .route_layer(axum::middleware::from_fn_with_state(shared, chaos::faults))
}

/// A Graph error answer.
pub(crate) fn graph_error(
    status: StatusCode,
    code: &str,
    message: &str,
    request_headers: &HeaderMap,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request_headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    });
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&client_request_id) {
        headers.insert("client-request-id", v);
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ),
        );
    }
    response
}

pub(crate) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<AccessClaims, Box<Response>> {
    let unauthorized = |message: &str| {
        shared.state().stats.graph_unauthorized += 1;
        Box::new(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            headers,
        ))
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    };
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let claims = tokens::verify_access_token(shared, token).map_err(|m| unauthorized(&m))?;
    let expired = {
        let mut graph = shared.graph();
        graph.seen_tokens.insert(claims.uti.clone());
        graph.expired_tokens.contains(&claims.uti)
    };
    if expired {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok(claims)
}

pub(crate) fn has_scope(claims: &AccessClaims, any_of: &[&str]) -> bool {
    claims
        .scp
        .split_whitespace()
        .any(|s| any_of.iter().any(|w| s.eq_ignore_ascii_case(w)))
}

pub(crate) fn user_of(shared: &Shared, claims: &AccessClaims) -> Option<SimUser> {
    shared.state().user(&claims.oid).cloned()
}

async fn me(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let claims = match authenticate(&shared, &headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let Some(user) = user_of(&shared, &claims) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{}' does not exist or one of its queried reference-property objects are not present.", claims.oid),
            &headers,
        );
    };
    shared.state().stats.me_requests += 1;

    let (given, surname) = match user.display_name.split_once(' ') {
        Some((g, s)) => (json!(g), json!(s)),
        None => (json!(user.display_name), serde_json::Value::Null),
    };
    let all = json!({
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": given,
        "jobTitle": null,
        "mail": user.mail,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": surname,
        "userPrincipalName": user.upn,
        "id": user.oid,
        "mailNickname": user.mail_nickname,
        "accountEnabled": user.account_enabled,
    });
    // mailNickname and accountEnabled are only returned when selected, as in Graph.
    let default_props = [
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ];
    let select = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "$select")
            .map(|(_, v)| v.into_owned())
    });
    let wanted: Vec<String> = match &select {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => default_props.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#users/$entity", shared.base)),
    );
    for prop in &wanted {
        match all.get(prop) {
            Some(v) => {
                out.insert(prop.clone(), v.clone());
            }
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "Could not find a property named '{prop}' on type 'microsoft.graph.user'."
                    ),
                    &headers,
                )
            }
        }
    }
    Json(serde_json::Value::Object(out)).into_response()
}
