//! Simulated Microsoft Graph: `GET /v1.0/me` and simple uploads
//! `PUT /v1.0/me/drive/root:/{path}:/content` into a directory per user.
//!
//! Bearer tokens are verified against the simulated authority's keys. Errors use Graph's body
//! `{"error":{"code","message","innerError":{...}}}`. Names are matched case-insensitively, as
//! OneDrive does, and `conflictBehavior` (`replace` by default, `fail`, `rename`) is honoured.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::state::{sha256_hex, Shared};
use super::tokens::{self, AccessClaims};
use super::SimUser;

/// Graph's ceiling for a simple upload.
const SIMPLE_UPLOAD_LIMIT: u64 = 250 * 1024 * 1024;
const FORBIDDEN_CHARS: &[char] = &['"', '*', ':', '<', '>', '?', '/', '\\', '|'];
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/drive/{*rest}", put(put_content))
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

/// An injected fault, if one is queued: throttling and outages on demand.
fn take_fault(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let fault = shared.state().graph_faults.pop_front()?;
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::SERVICE_UNAVAILABLE => "serviceNotAvailable",
        _ => "generalException",
    };
    let mut response = graph_error(status, code, "Simulated failure.", headers);
    if let Some(after) = fault.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
    }
    Some(response)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<AccessClaims, Box<Response>> {
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
    tokens::verify_access_token(shared, token).map_err(|m| unauthorized(&m))
}

fn has_scope(claims: &AccessClaims, any_of: &[&str]) -> bool {
    claims
        .scp
        .split_whitespace()
        .any(|s| any_of.iter().any(|w| s.eq_ignore_ascii_case(w)))
}

fn user_of(shared: &Shared, claims: &AccessClaims) -> Option<SimUser> {
    shared.state().user(&claims.oid).cloned()
}

async fn me(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(fault) = take_fault(&shared, &headers) {
        return fault;
    }
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

/// A drive path from `root:/a/b/name.pdf:/content`, decoded and checked.
struct DrivePath {
    folders: Vec<String>,
    name: String,
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("The name '{name}' is not valid."));
    }
    if name
        .chars()
        .any(|c| FORBIDDEN_CHARS.contains(&c) || c.is_control())
    {
        return Err(format!("The name '{name}' contains invalid characters."));
    }
    if name.ends_with('.') || name.starts_with(' ') || name.ends_with(' ') {
        return Err(format!("The name '{name}' is not valid."));
    }
    Ok(())
}

fn parse_drive_path(raw_path: &str) -> Result<DrivePath, String> {
    let rest = raw_path
        .strip_prefix("/v1.0/me/drive/")
        .ok_or("Unsupported drive path.")?;
    let decoded: Vec<String> = rest
        .split('/')
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "The path is not valid UTF-8.".to_string())
        })
        .collect::<Result<_, _>>()?;
    let shape_error = || "Expected root:/{path}:/content.".to_string();
    let (first, tail) = decoded.split_first().ok_or_else(shape_error)?;
    let (last, middle) = tail.split_last().ok_or_else(shape_error)?;
    if first != "root:" || last != "content" {
        return Err(shape_error());
    }
    let (name_segment, folders) = middle.split_last().ok_or_else(shape_error)?;
    let name = name_segment
        .strip_suffix(':')
        .ok_or_else(shape_error)?
        .to_string();
    let folders: Vec<String> = folders.iter().filter(|f| !f.is_empty()).cloned().collect();
    for segment in folders.iter().chain(std::iter::once(&name)) {
        check_name(segment)?;
    }
    Ok(DrivePath { folders, name })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Conflict {
    Replace,
    Fail,
    Rename,
}

fn parse_conflict(uri: &Uri) -> Result<Conflict, String> {
    let value = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "@microsoft.graph.conflictBehavior")
            .map(|(_, v)| v.into_owned())
    });
    match value.as_deref() {
        None | Some("replace") => Ok(Conflict::Replace),
        Some("fail") => Ok(Conflict::Fail),
        Some("rename") => Ok(Conflict::Rename),
        Some(other) => Err(format!("Invalid value '{other}' for conflictBehavior.")),
    }
}

/// The entry of `dir` named `name` ignoring case, as OneDrive compares names.
async fn find_case_insensitive(dir: &Path, name: &str) -> std::io::Result<Option<PathBuf>> {
    let wanted = name.to_lowercase();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_name().to_string_lossy().to_lowercase() == wanted {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

enum DriveFailure {
    Conflict(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for DriveFailure {
    fn from(e: std::io::Error) -> Self {
        DriveFailure::Io(e)
    }
}

/// Walks/creates the folders, reusing existing ones whatever their case. Returns the directory
/// and the folder names as stored.
async fn ensure_folders(
    base: &Path,
    folders: &[String],
) -> Result<(PathBuf, Vec<String>), DriveFailure> {
    tokio::fs::create_dir_all(base).await?;
    let mut dir = base.to_path_buf();
    let mut stored = Vec::new();
    for folder in folders {
        dir = match find_case_insensitive(&dir, folder).await? {
            Some(existing) if existing.is_dir() => existing,
            Some(_) => {
                return Err(DriveFailure::Conflict(format!(
                    "A file named '{folder}' is in the way of the folder."
                )))
            }
            None => {
                let path = dir.join(folder);
                match tokio::fs::create_dir(&path).await {
                    Ok(()) => path,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => path,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        stored.push(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| folder.clone()),
        );
    }
    Ok((dir, stored))
}

/// `name 1.pdf`, `name 2.pdf`, ... as OneDrive names copies.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} {n}.{ext}"),
        _ => format!("{name} {n}"),
    }
}

fn encode_path(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

async fn put_content(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(fault) = take_fault(&shared, &headers) {
        return fault;
    }
    let claims = match authenticate(&shared, &headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let bad_request = |m: &str| graph_error(StatusCode::BAD_REQUEST, "invalidRequest", m, &headers);
    let path = match parse_drive_path(uri.path()) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    let conflict = match parse_conflict(&uri) {
        Ok(c) => c,
        Err(m) => return bad_request(&m),
    };
    if !has_scope(
        &claims,
        &[
            "Files.ReadWrite",
            "Files.ReadWrite.All",
            "Sites.ReadWrite.All",
        ],
    ) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Access denied. The token lacks the Files.ReadWrite permission.",
            &headers,
        );
    }
    let Some(user) = user_of(&shared, &claims) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The user's drive does not exist.",
            &headers,
        );
    };
    match store(&shared, &user, &path, conflict, body).await {
        Ok(response) => response,
        Err(StoreFailure::Conflict(m)) => {
            graph_error(StatusCode::CONFLICT, "nameAlreadyExists", &m, &headers)
        }
        Err(StoreFailure::TooLarge) => graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "requestTooLarge",
            "The request is larger than a simple upload allows; use an upload session.",
            &headers,
        ),
        Err(StoreFailure::Body(m)) => bad_request(&m),
        Err(StoreFailure::Io(e)) => {
            tracing::error!(%e, "sim: drive write failed");
            graph_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "An error occurred while writing the file.",
                &headers,
            )
        }
    }
}

enum StoreFailure {
    Conflict(String),
    TooLarge,
    Body(String),
    Io(std::io::Error),
}

impl From<DriveFailure> for StoreFailure {
    fn from(f: DriveFailure) -> Self {
        match f {
            DriveFailure::Conflict(m) => StoreFailure::Conflict(m),
            DriveFailure::Io(e) => StoreFailure::Io(e),
        }
    }
}

impl From<std::io::Error> for StoreFailure {
    fn from(e: std::io::Error) -> Self {
        StoreFailure::Io(e)
    }
}

/// Streams the body to a temporary file, then moves it into place under the chosen name.
async fn store(
    shared: &Shared,
    user: &SimUser,
    path: &DrivePath,
    conflict: Conflict,
    body: Body,
) -> Result<Response, StoreFailure> {
    let tmp_dir = shared.drive_dir.join(".tmp");
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let tmp = tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4()));
    let written = write_body(&tmp, body).await;
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let committed = commit(shared, user, path, conflict, &tmp).await;
    if committed.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    let (folders, name, created) = committed?;

    shared.state().stats.uploads += 1;
    let mut rel = folders.clone();
    rel.push(name.clone());
    let item_id = format!(
        "01{}",
        &sha256_hex(&format!("{}/{}", user.upn, rel.join("/")).to_lowercase())[..32]
    )
    .to_uppercase();
    let parent_id = format!(
        "01{}",
        &sha256_hex(&format!("{}/{}", user.upn, folders.join("/")).to_lowercase())[..32]
    )
    .to_uppercase();
    let drive_id = format!("b!{}", &sha256_hex(&user.oid)[..40]);
    let personal = user.upn.replace(['@', '.'], "_");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let parent_path = if folders.is_empty() {
        "/drive/root:".to_string()
    } else {
        format!("/drive/root:/{}", encode_path(&folders))
    };
    let item = json!({
        "@odata.context": format!("{}/v1.0/$metadata#driveItem", shared.base),
        "id": item_id,
        "name": name,
        "size": size,
        "eTag": format!("\"{{{item_id}}},1\""),
        "cTag": format!("\"c:{{{item_id}}},1\""),
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "webUrl": format!("{}/personal/{personal}/Documents/{}", shared.base, encode_path(&rel)),
        "file": { "mimeType": crate::graph::mime_type_for(&name) },
        "parentReference": {
            "driveType": "business",
            "driveId": drive_id,
            "id": parent_id,
            "path": parent_path,
        },
        "createdBy": { "user": { "email": user.mail, "id": user.oid, "displayName": user.display_name } },
        "lastModifiedBy": { "user": { "email": user.mail, "id": user.oid, "displayName": user.display_name } },
    });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(item)).into_response())
}

async fn write_body(tmp: &Path, body: Body) -> Result<u64, StoreFailure> {
    let mut file = tokio::fs::File::create(tmp).await?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StoreFailure::Body(format!("The upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > SIMPLE_UPLOAD_LIMIT {
            return Err(StoreFailure::TooLarge);
        }
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(size)
}

/// Picks the final name under the drive lock and moves the upload there.
/// Returns (stored folder names, final name, whether a new item was created).
async fn commit(
    shared: &Shared,
    user: &SimUser,
    path: &DrivePath,
    conflict: Conflict,
    tmp: &Path,
) -> Result<(Vec<String>, String, bool), StoreFailure> {
    let _guard = shared.drive_commit.lock().await;
    let base = shared.drive_dir.join(user.upn.to_lowercase());
    let (dir, folders) = ensure_folders(&base, &path.folders).await?;
    let existing = find_case_insensitive(&dir, &path.name).await?;
    let (target, name, created) = match (existing, conflict) {
        (None, _) => (dir.join(&path.name), path.name.clone(), true),
        (Some(p), _) if p.is_dir() => {
            return Err(StoreFailure::Conflict(format!(
                "A folder named '{}' already exists.",
                path.name
            )))
        }
        (Some(_), Conflict::Fail) => {
            return Err(StoreFailure::Conflict(format!(
                "The specified item name already exists. Name: {}",
                path.name
            )))
        }
        (Some(p), Conflict::Replace) => {
            let stored = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.name.clone());
            (p, stored, false)
        }
        (Some(_), Conflict::Rename) => {
            let mut n = 1;
            loop {
                let candidate = numbered(&path.name, n);
                if find_case_insensitive(&dir, &candidate).await?.is_none() {
                    break (dir.join(&candidate), candidate, true);
                }
                n += 1;
            }
        }
    };
    tokio::fs::rename(tmp, &target).await?;
    Ok((folders, name, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_paths_are_decoded_and_checked() {
        let p =
            parse_drive_path("/v1.0/me/drive/root:/Scans/2024%20Q1/a%20b.pdf:/content").unwrap();
        assert_eq!(p.folders, vec!["Scans", "2024 Q1"]);
        assert_eq!(p.name, "a b.pdf");
        let p = parse_drive_path("/v1.0/me/drive/root:/x.pdf:/content").unwrap();
        assert!(p.folders.is_empty());
        for bad in [
            "/v1.0/me/drive/root:/../x.pdf:/content",
            "/v1.0/me/drive/root:/a/%2E%2E/x.pdf:/content",
            "/v1.0/me/drive/root:/a%2Fb/x.pdf:/content",
            "/v1.0/me/drive/root:/x.pdf:/children",
            "/v1.0/me/drive/items/x/content",
            "/v1.0/me/drive/root:/a%5Cb.pdf:/content",
        ] {
            assert!(parse_drive_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renamed_copies_are_numbered_before_the_extension() {
        assert_eq!(numbered("scan.pdf", 1), "scan 1.pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive.tar 2.gz");
        assert_eq!(numbered("README", 3), "README 3");
    }
}
