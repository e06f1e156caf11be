//! The simulated Graph's `GET` and `PATCH /v1.0/users/{id}` for app-only tokens: what the
//! panel's card write-back (fleet-wide enrollment) reads and writes. Reading needs
//! `User.Read.All` (or more), writing `User.ReadWrite.All` (403 `Authorization_RequestDenied`
//! otherwise, as Graph answers). A write is a directory change: the next `/users/delta`
//! reports the user. Users marked `onPremisesSyncEnabled` (synced from on-premises AD) refuse
//! changes to `onPremisesExtensionAttributes` with Graph's 400.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::directory::{authorize, select_user};
use super::graph::graph_error;
use super::state::Shared;

fn not_found(id: &str, headers: &HeaderMap) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects \
             are not present."
        ),
        headers,
    )
}

pub(crate) async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(
        &shared,
        &headers,
        &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"],
    ) {
        return *r;
    }
    let d = shared.directory();
    let Some(o) = d.users.get(&id).and_then(|e| e.object.as_ref()) else {
        return not_found(&id, &headers);
    };
    let select = q
        .get("$select")
        .cloned()
        .unwrap_or_else(|| "id,displayName,userPrincipalName".into());
    let props: Vec<&str> = select.split(',').map(str::trim).collect();
    Json(select_user(o, &props)).into_response()
}

pub(crate) async fn patch_user(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize(
        &shared,
        &headers,
        &["User.ReadWrite.All", "Directory.ReadWrite.All"],
    ) {
        return *r;
    }
    let bad = |m: &str| graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", m, &headers);
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
        return bad("Invalid request body: a JSON object is expected.");
    };
    let Some(user) = shared.state().user(&id).cloned() else {
        return not_found(&id, &headers);
    };
    let mut d = shared.directory();
    if d.users.get(&id).is_none_or(|e| e.object.is_none()) {
        drop(d);
        return not_found(&id, &headers);
    }
    let synced = d
        .attributes
        .get(&id)
        .and_then(|a| a.get("onPremisesSyncEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut sets: Vec<(String, Value)> = Vec::new();
    for (k, v) in changes {
        match k.as_str() {
            "onPremisesExtensionAttributes" => {
                if synced {
                    drop(d);
                    return bad(
                        "Unable to update the specified properties for on-premises mastered \
                         Directory Sync objects or objects currently undergoing migration.",
                    );
                }
                let Value::Object(inner) = v else {
                    drop(d);
                    return bad("Invalid value for property 'onPremisesExtensionAttributes'.");
                };
                for (name, value) in inner {
                    let n = name
                        .strip_prefix("extensionAttribute")
                        .and_then(|n| n.parse::<u8>().ok());
                    if !n.is_some_and(|n| (1..=15).contains(&n)) {
                        drop(d);
                        return bad(&format!(
                            "Property '{name}' does not exist on type \
                             'microsoft.graph.onPremisesExtensionAttributes'."
                        ));
                    }
                    sets.push((format!("{k}.{name}"), value));
                }
            }
            "employeeId" | "department" | "jobTitle" | "officeLocation" => sets.push((k, v)),
            n if n.starts_with("extension_") => sets.push((k, v)),
            other => {
                drop(d);
                return bad(&format!(
                    "Property '{other}' does not exist on type 'microsoft.graph.user' or \
                     cannot be updated."
                ));
            }
        }
    }
    for (name, value) in sets {
        d.set_attribute(&id, &name, value);
    }
    d.put_user(&user);
    d.user_patches += 1;
    drop(d);
    StatusCode::NO_CONTENT.into_response()
}
