//! Simulated SharePoint sites: `GET /sites/{hostname}:/{path}` (site by path),
//! `GET /sites/{id}`, `GET /sites/{id}/drives` (its document libraries). A site can be limited
//! to members (others get 403) and removed (then 404), so tests see what a withdrawn permission
//! or a deleted site does to queued jobs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::drives::library_drive_id;
use super::graph::{authenticate, graph_error, has_scope};
use super::graph_state::SimSite;
use super::state::Shared;

const SITE_SCOPES: &[&str] = &[
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.Manage.All",
    "Sites.FullControl.All",
];

fn site_json(shared: &Shared, site: &SimSite) -> serde_json::Value {
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#sites/$entity", shared.base),
        "id": site.id(),
        "name": site.short_name(),
        "displayName": site.display_name,
        "webUrl": format!("https://{}{}", site.hostname, site.path),
        "siteCollection": { "hostname": site.hostname },
    })
}

/// Every request under `/v1.0/sites/`.
pub(crate) async fn site_request(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let claims = match authenticate(&shared, &headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let app = super::app_sites::is_app(&claims);
    if !app && !has_scope(&claims, SITE_SCOPES) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Access denied. The token lacks the Sites.Read.All permission.",
            &headers,
        );
    }
    let not_found = || {
        graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "Requested site could not be found",
            &headers,
        )
    };
    let raw = uri.path().strip_prefix("/v1.0/sites/").unwrap_or("");
    let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();

    // By path: `{hostname}:/{path}` or `{hostname}:/{path}:`.
    let (site, rest) = if let Some((host, path)) = decoded.split_once(":/") {
        let path = format!("/{}", path.trim_end_matches(':').trim_matches('/'));
        let graph = shared.graph();
        let site = graph
            .sites
            .iter()
            .find(|s| s.hostname.eq_ignore_ascii_case(host) && s.path.eq_ignore_ascii_case(&path))
            .cloned();
        (site, String::new())
    } else {
        let (id, rest) = decoded.split_once('/').unwrap_or((decoded.as_str(), ""));
        let graph = shared.graph();
        let site = graph.sites.iter().find(|s| s.id() == id).cloned();
        (site, rest.to_string())
    };
    let Some(site) = site else {
        return not_found();
    };
    if app {
        if let Err(denied) = super::app_sites::check_site(&shared, &claims, &site, false, &headers)
        {
            return *denied;
        }
    } else if !site.allows(&claims.oid) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Access denied. You do not have permission to perform this action or access this resource.",
            &headers,
        );
    }
    match rest.as_str() {
        "" => Json(site_json(&shared, &site)).into_response(),
        "drives" => {
            let drives: Vec<serde_json::Value> = site
                .libraries
                .iter()
                .map(|library| {
                    json!({
                        "id": library_drive_id(&site, library),
                        "name": library,
                        "driveType": "documentLibrary",
                        "webUrl": format!("https://{}{}/{}", site.hostname, site.path, library),
                    })
                })
                .collect();
            Json(json!({
                "@odata.context": format!("{}/v1.0/$metadata#drives", shared.base),
                "value": drives,
            }))
            .into_response()
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Resource not found for the segment.",
            &headers,
        ),
    }
}
