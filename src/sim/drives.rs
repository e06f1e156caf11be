//! Simulated drives: the user's OneDrive (`/me/drive`, `drive_dir/<upn>/`) and SharePoint
//! document libraries (`/drives/{id}`, `drive_dir/sites/<site>/<library>/`), addressed by path
//! (`root:/{path}:/content`, `:/createUploadSession`, `:/children`, or the item itself).
//!
//! As in OneDrive: names compare case-insensitively; missing folders are created on the way; a
//! file in the way of a folder, or a folder in the way of a file, is a 409; `conflictBehavior`
//! `replace` (default), `fail` (409 `nameAlreadyExists`) and `rename` (`name 1.pdf`) are
//! honoured; listings are paged with `@odata.nextLink`; items carry their QuickXorHash.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::app_sites;
use super::graph::{authenticate, graph_error, has_scope, user_of};
use super::graph_state::SimSite;
use super::state::{sha256_hex, Shared};
use super::tokens::AccessClaims;
use super::upload_session;

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
const WRITE_SCOPES: &[&str] = &[
    "Files.ReadWrite",
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
];
const SITE_WRITE_SCOPES: &[&str] = &["Files.ReadWrite.All", "Sites.ReadWrite.All"];

/// Which drive a request addresses.
#[derive(Debug, Clone)]
pub(crate) struct DriveRoot {
    pub id: String,
    pub dir: PathBuf,
    /// `/drive/root:` for `/me/drive`, `/drives/{id}/root:` otherwise.
    pub parent_prefix: String,
    /// Base of item web URLs.
    pub web_base: String,
    pub kind: DriveKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriveKind {
    /// A user's OneDrive for Business.
    User,
    /// A SharePoint document library.
    Library,
}

pub(crate) fn user_drive_id(oid: &str) -> String {
    format!("b!{}", &sha256_hex(oid)[..40])
}

pub(crate) fn library_drive_id(site: &SimSite, library: &str) -> String {
    format!(
        "b!{}",
        &sha256_hex(&format!("{}/{}", site.id(), library.to_lowercase()))[..40]
    )
}

fn user_root(shared: &Shared, oid: &str, upn: &str, me: bool) -> DriveRoot {
    let id = user_drive_id(oid);
    DriveRoot {
        parent_prefix: if me {
            "/drive/root:".into()
        } else {
            format!("/drives/{id}/root:")
        },
        dir: shared.drive_dir.join(upn.to_lowercase()),
        web_base: format!(
            "{}/personal/{}/Documents",
            shared.base,
            upn.replace(['@', '.'], "_")
        ),
        id,
        kind: DriveKind::User,
    }
}

pub(crate) fn library_root(shared: &Shared, site: &SimSite, library: &str) -> DriveRoot {
    let id = library_drive_id(site, library);
    DriveRoot {
        parent_prefix: format!("/drives/{id}/root:"),
        dir: shared
            .drive_dir
            .join("sites")
            .join(site.short_name())
            .join(library),
        web_base: format!(
            "{}{}/{}",
            shared.base,
            site.path,
            utf8_percent_encode(library, SEGMENT)
        ),
        id,
        kind: DriveKind::Library,
    }
}

/// [`resolve`] for an app-only token: `/users/{id}/drive` with `Files.ReadWrite.All`, a
/// user's drive by id likewise, a library by the rules of [`app_sites::check_site`].
fn resolve_for_app(
    shared: &Shared,
    claims: &AccessClaims,
    path: &str,
    write: bool,
    headers: &HeaderMap,
) -> Result<(DriveRoot, String), Box<Response>> {
    let not_found = |m: &str| {
        Box::new(graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            m,
            headers,
        ))
    };
    if let Some(rest) = path.strip_prefix("/v1.0/users/") {
        let (raw_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let id = percent_decode_str(raw_id).decode_utf8_lossy().into_owned();
        let rest = rest.strip_prefix("drive/").unwrap_or("").to_string();
        app_sites::check_user_drive(claims, headers)?;
        let state = shared.state();
        let owner = state
            .users
            .iter()
            .find(|u| u.oid == id || u.upn.eq_ignore_ascii_case(&id))
            .ok_or_else(|| not_found("The user's drive does not exist."))?;
        return Ok((user_root(shared, &owner.oid, &owner.upn, false), rest));
    }
    let rest = path
        .strip_prefix("/v1.0/drives/")
        .ok_or_else(|| not_found("Unsupported drive path."))?;
    let (raw_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode_str(raw_id).decode_utf8_lossy().into_owned();
    {
        let state = shared.state();
        if let Some(owner) = state.users.iter().find(|u| user_drive_id(&u.oid) == id) {
            app_sites::check_user_drive(claims, headers)?;
            return Ok((
                user_root(shared, &owner.oid, &owner.upn, false),
                rest.to_string(),
            ));
        }
    }
    let site = {
        let graph = shared.graph();
        graph.sites.iter().find_map(|site| {
            site.libraries
                .iter()
                .find(|l| library_drive_id(site, l) == id)
                .map(|l| (site.clone(), l.clone()))
        })
    };
    let (site, library) = site.ok_or_else(|| not_found("The drive does not exist."))?;
    app_sites::check_site(shared, claims, &site, write, headers)?;
    Ok((library_root(shared, &site, &library), rest.to_string()))
}

/// What a drive request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DriveOp {
    /// `root:/{path}:/content`
    Content { folders: Vec<String>, name: String },
    /// `root:/{path}:/createUploadSession`
    CreateSession { folders: Vec<String>, name: String },
    /// `root:/{path}` or `root:/{path}:`
    Item { folders: Vec<String>, name: String },
    /// `root/children` or `root:/{folder}:/children`
    Children { folders: Vec<String> },
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

/// Parses the part of the path after the drive (`root:/a/b.pdf:/content`, still
/// percent-encoded, so an encoded `/` stays inside its segment and is refused).
pub(crate) fn parse_drive_op(raw: &str) -> Result<DriveOp, String> {
    let decoded: Vec<String> = raw
        .split('/')
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "The path is not valid UTF-8.".to_string())
        })
        .collect::<Result<_, _>>()?;
    let shape =
        || "Expected root:/{path}:/content, :/createUploadSession or :/children.".to_string();
    let (first, rest) = decoded.split_first().ok_or_else(shape)?;
    if first == "root" {
        return match rest {
            [c] if c == "children" => Ok(DriveOp::Children {
                folders: Vec::new(),
            }),
            _ => Err(shape()),
        };
    }
    if first != "root:" {
        return Err(shape());
    }
    let end = rest.iter().position(|s| s.ends_with(':'));
    let (path, action): (Vec<String>, Option<&str>) = match end {
        Some(i) => {
            let mut path: Vec<String> = rest[..=i].to_vec();
            if let Some(last) = path.last_mut() {
                last.pop();
            }
            match &rest[i + 1..] {
                [] => (path, None),
                [a] => (path, Some(a.as_str())),
                _ => return Err(shape()),
            }
        }
        None => (rest.to_vec(), None),
    };
    let path: Vec<String> = path.into_iter().filter(|s| !s.is_empty()).collect();
    for segment in &path {
        check_name(segment)?;
    }
    if action == Some("children") {
        return Ok(DriveOp::Children { folders: path });
    }
    let (name, folders) = path.split_last().ok_or_else(shape)?;
    let (folders, name) = (folders.to_vec(), name.clone());
    match action {
        None => Ok(DriveOp::Item { folders, name }),
        Some("content") => Ok(DriveOp::Content { folders, name }),
        Some("createUploadSession") => Ok(DriveOp::CreateSession { folders, name }),
        Some(_) => Err(shape()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    Replace,
    Fail,
    Rename,
}

impl Conflict {
    pub fn parse(value: Option<&str>) -> Result<Conflict, String> {
        match value {
            None | Some("replace") => Ok(Conflict::Replace),
            Some("fail") => Ok(Conflict::Fail),
            Some("rename") => Ok(Conflict::Rename),
            Some(other) => Err(format!("Invalid value '{other}' for conflictBehavior.")),
        }
    }
}

pub(crate) fn query_param(uri: &Uri, key: &str) -> Option<String> {
    uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    })
}

/// The entry of `dir` named `name` ignoring case, as OneDrive compares names.
pub(crate) async fn find_case_insensitive(
    dir: &Path,
    name: &str,
) -> std::io::Result<Option<PathBuf>> {
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

pub(crate) enum DriveFailure {
    Conflict(String),
    TooLarge,
    Body(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for DriveFailure {
    fn from(e: std::io::Error) -> Self {
        DriveFailure::Io(e)
    }
}

impl DriveFailure {
    pub fn into_response(self, headers: &HeaderMap) -> Response {
        match self {
            DriveFailure::Conflict(m) => {
                graph_error(StatusCode::CONFLICT, "nameAlreadyExists", &m, headers)
            }
            DriveFailure::TooLarge => graph_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "requestTooLarge",
                "The request is larger than a simple upload allows; use an upload session.",
                headers,
            ),
            DriveFailure::Body(m) => {
                graph_error(StatusCode::BAD_REQUEST, "invalidRequest", &m, headers)
            }
            DriveFailure::Io(e) => {
                tracing::error!(%e, "sim: drive I/O failed");
                graph_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    "An error occurred while writing the file.",
                    headers,
                )
            }
        }
    }
}

/// Walks/creates the folders, reusing existing ones whatever their case. Returns the directory
/// and the folder names as stored.
pub(crate) async fn ensure_folders(
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

/// Existing folders only: `None` when one is missing.
async fn find_folders(
    base: &Path,
    folders: &[String],
) -> std::io::Result<Option<(PathBuf, Vec<String>)>> {
    let mut dir = base.to_path_buf();
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut stored = Vec::new();
    for folder in folders {
        match find_case_insensitive(&dir, folder).await? {
            Some(existing) if existing.is_dir() => {
                stored.push(
                    existing
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| folder.clone()),
                );
                dir = existing;
            }
            _ => return Ok(None),
        }
    }
    Ok(Some((dir, stored)))
}

/// `name 1.pdf`, `name 2.pdf`, ... as OneDrive names copies.
pub(crate) fn numbered(name: &str, n: u32) -> String {
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

/// Picks the final name under the drive lock and moves `tmp` there. Returns (stored folder
/// names, final name, whether a new item was created).
pub(crate) async fn commit(
    shared: &Shared,
    drive: &DriveRoot,
    folders: &[String],
    name: &str,
    conflict: Conflict,
    tmp: &Path,
) -> Result<(Vec<String>, String, bool), DriveFailure> {
    let _guard = shared.drive_commit.lock().await;
    let (dir, folders) = ensure_folders(&drive.dir, folders).await?;
    let existing = find_case_insensitive(&dir, name).await?;
    let (target, final_name, created) = match (existing, conflict) {
        (None, _) => (dir.join(name), name.to_string(), true),
        (Some(p), _) if p.is_dir() => {
            return Err(DriveFailure::Conflict(format!(
                "A folder named '{name}' already exists."
            )))
        }
        (Some(_), Conflict::Fail) => {
            return Err(DriveFailure::Conflict(format!(
                "The specified item name already exists. Name: {name}"
            )))
        }
        (Some(p), Conflict::Replace) => {
            let stored = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.to_string());
            (p, stored, false)
        }
        (Some(_), Conflict::Rename) => {
            let mut n = 1;
            loop {
                let candidate = numbered(name, n);
                if find_case_insensitive(&dir, &candidate).await?.is_none() {
                    break (dir.join(&candidate), candidate, true);
                }
                n += 1;
            }
        }
    };
    tokio::fs::rename(tmp, &target).await?;
    shared.state().stats.uploads += 1;
    Ok((folders, final_name, created))
}

/// Refuses early what the commit would refuse: `fail` on an existing name, a folder in the way.
pub(crate) async fn precheck(
    drive: &DriveRoot,
    folders: &[String],
    name: &str,
    conflict: Conflict,
) -> Result<(), DriveFailure> {
    let (dir, _) = ensure_folders(&drive.dir, folders).await?;
    match find_case_insensitive(&dir, name).await? {
        Some(p) if p.is_dir() => Err(DriveFailure::Conflict(format!(
            "A folder named '{name}' already exists."
        ))),
        Some(_) if conflict == Conflict::Fail => Err(DriveFailure::Conflict(format!(
            "The specified item name already exists. Name: {name}"
        ))),
        _ => Ok(()),
    }
}

/// The driveItem JSON of `folders/name` in `drive`; `hash` adds `file.hashes`.
pub(crate) fn item_json(
    drive: &DriveRoot,
    folders: &[String],
    name: &str,
    size: u64,
    is_dir: bool,
    hash: Option<String>,
) -> serde_json::Value {
    let mut rel = folders.to_vec();
    rel.push(name.to_string());
    let item_id = format!(
        "01{}",
        &sha256_hex(&format!("{}/{}", drive.id, rel.join("/")).to_lowercase())[..32]
    )
    .to_uppercase();
    let parent_id = format!(
        "01{}",
        &sha256_hex(&format!("{}/{}", drive.id, folders.join("/")).to_lowercase())[..32]
    )
    .to_uppercase();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let parent_path = if folders.is_empty() {
        drive.parent_prefix.clone()
    } else {
        format!("{}/{}", drive.parent_prefix, encode_path(folders))
    };
    let mut item = json!({
        "id": item_id,
        "name": name,
        "size": size,
        "eTag": format!("\"{{{item_id}}},1\""),
        "cTag": format!("\"c:{{{item_id}}},1\""),
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "webUrl": format!("{}/{}", drive.web_base, encode_path(&rel)),
        "parentReference": {
            "driveType": match drive.kind {
                DriveKind::User => "business",
                DriveKind::Library => "documentLibrary",
            },
            "driveId": drive.id,
            "id": parent_id,
            "path": parent_path,
        },
    });
    if is_dir {
        item["folder"] = json!({ "childCount": 0 });
    } else {
        let mut file = json!({ "mimeType": crate::graph::mime_type_for(name) });
        if let Some(h) = hash {
            file["hashes"] = json!({ "quickXorHash": h });
        }
        item["file"] = file;
    }
    item
}

/// The QuickXorHash of a stored file, cached by path, size and modification time.
async fn file_hash(shared: &Shared, path: &Path) -> std::io::Result<String> {
    let meta = tokio::fs::metadata(path).await?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(h) = shared.hash_cache().get(&key) {
        return Ok(h.clone());
    }
    let owned = path.to_path_buf();
    let hash = tokio::task::spawn_blocking(move || crate::graph::quickxor::hash_file(&owned))
        .await
        .map_err(std::io::Error::other)??;
    shared.hash_cache().insert(key, hash.clone());
    Ok(hash)
}

/// Resolves the drive of a request and checks the caller may use it. Returns the drive and the
/// rest of the raw path after it.
fn resolve(
    shared: &Shared,
    claims: &AccessClaims,
    path: &str,
    write: bool,
    headers: &HeaderMap,
) -> Result<(DriveRoot, String), Box<Response>> {
    let forbidden = |m: &str| {
        Box::new(graph_error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            m,
            headers,
        ))
    };
    let not_found = |m: &str| {
        Box::new(graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            m,
            headers,
        ))
    };
    if app_sites::is_app(claims) {
        return resolve_for_app(shared, claims, path, write, headers);
    }
    let user =
        user_of(shared, claims).ok_or_else(|| not_found("The user's drive does not exist."))?;
    if path.starts_with("/v1.0/users/") {
        // Delegated tokens use /me/drive here; another user's drive is not theirs.
        return Err(forbidden(
            "Access denied. You do not have permission to access this drive.",
        ));
    }
    if let Some(rest) = path.strip_prefix("/v1.0/me/drive/") {
        if !has_scope(claims, WRITE_SCOPES)
            && (write || !has_scope(claims, &["Files.Read", "Files.Read.All"]))
        {
            return Err(forbidden(
                "Access denied. The token lacks the Files.ReadWrite permission.",
            ));
        }
        return Ok((
            user_root(shared, &user.oid, &user.upn, true),
            rest.to_string(),
        ));
    }
    let rest = path
        .strip_prefix("/v1.0/drives/")
        .ok_or_else(|| not_found("Unsupported drive path."))?;
    let (raw_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode_str(raw_id).decode_utf8_lossy().into_owned();
    let state = shared.state();
    if let Some(owner) = state.users.iter().find(|u| user_drive_id(&u.oid) == id) {
        if owner.oid != claims.oid {
            return Err(forbidden(
                "Access denied. You do not have permission to access this drive.",
            ));
        }
        let drive = user_root(shared, &owner.oid, &owner.upn, false);
        return Ok((drive, rest.to_string()));
    }
    drop(state);
    let graph = shared.graph();
    for site in &graph.sites {
        for library in &site.libraries {
            if library_drive_id(site, library) != id {
                continue;
            }
            if !site.allows(&claims.oid) {
                return Err(forbidden("Access denied. You do not have permission to perform this action or access this resource."));
            }
            let scopes: &[&str] = if write {
                SITE_WRITE_SCOPES
            } else {
                &[
                    "Files.ReadWrite.All",
                    "Sites.ReadWrite.All",
                    "Files.Read.All",
                    "Sites.Read.All",
                ]
            };
            if !has_scope(claims, scopes) {
                return Err(forbidden(
                    "Access denied. The token lacks the Sites.ReadWrite.All permission.",
                ));
            }
            return Ok((library_root(shared, site, library), rest.to_string()));
        }
    }
    Err(not_found("The drive does not exist."))
}

/// Every request under `/v1.0/me/drive/` and `/v1.0/drives/{id}/`.
pub(crate) async fn drive_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let claims = match authenticate(&shared, &headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let bad_request = |m: &str| graph_error(StatusCode::BAD_REQUEST, "invalidRequest", m, &headers);
    let write = method != Method::GET;
    let (drive, rest) = match resolve(&shared, &claims, uri.path(), write, &headers) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let op = match parse_drive_op(&rest) {
        Ok(op) => op,
        Err(m) => return bad_request(&m),
    };
    match (method, op) {
        (Method::PUT, DriveOp::Content { folders, name }) => {
            let conflict = match Conflict::parse(
                query_param(&uri, "@microsoft.graph.conflictBehavior").as_deref(),
            ) {
                Ok(c) => c,
                Err(m) => return bad_request(&m),
            };
            match simple_upload(&shared, &drive, &folders, &name, conflict, body).await {
                Ok(response) => response,
                Err(f) => f.into_response(&headers),
            }
        }
        (Method::POST, DriveOp::CreateSession { folders, name }) => {
            upload_session::create(&shared, drive, folders, name, &uri, &headers, body).await
        }
        (Method::GET, DriveOp::Item { folders, name }) => {
            get_item(&shared, &drive, &folders, &name, &headers).await
        }
        (Method::GET, DriveOp::Children { folders }) => {
            children(&shared, &drive, &folders, &uri, &headers).await
        }
        (method, _) => graph_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalidRequest",
            &format!("{method} is not supported on this resource."),
            &headers,
        ),
    }
}

/// Streams the body to a temporary file, then moves it into place under the chosen name.
async fn simple_upload(
    shared: &Shared,
    drive: &DriveRoot,
    folders: &[String],
    name: &str,
    conflict: Conflict,
    body: Body,
) -> Result<Response, DriveFailure> {
    let tmp = shared.new_tmp_path().await?;
    let size = match write_body(&tmp, body).await {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let committed = commit(shared, drive, folders, name, conflict, &tmp).await;
    if committed.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    let (folders, name, created) = committed?;
    let mut item = item_json(drive, &folders, &name, size, false, None);
    item["@odata.context"] = json!(format!("{}/v1.0/$metadata#driveItem", shared.base));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(item)).into_response())
}

async fn write_body(tmp: &Path, body: Body) -> Result<u64, DriveFailure> {
    let mut file = tokio::fs::File::create(tmp).await?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DriveFailure::Body(format!("The upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > SIMPLE_UPLOAD_LIMIT {
            return Err(DriveFailure::TooLarge);
        }
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(size)
}

async fn get_item(
    shared: &Shared,
    drive: &DriveRoot,
    folders: &[String],
    name: &str,
    headers: &HeaderMap,
) -> Response {
    let found = async {
        let Some((dir, stored)) = find_folders(&drive.dir, folders).await? else {
            return Ok(None);
        };
        let Some(path) = find_case_insensitive(&dir, name).await? else {
            return Ok(None);
        };
        let meta = tokio::fs::metadata(&path).await?;
        let stored_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        let hash = if meta.is_dir() {
            None
        } else {
            Some(file_hash(shared, &path).await?)
        };
        Ok::<_, std::io::Error>(Some(item_json(
            drive,
            &stored,
            &stored_name,
            if meta.is_dir() { 0 } else { meta.len() },
            meta.is_dir(),
            hash,
        )))
    };
    match found.await {
        Ok(Some(item)) => Json(item).into_response(),
        Ok(None) => graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The resource could not be found.",
            headers,
        ),
        Err(e) => DriveFailure::Io(e).into_response(headers),
    }
}

async fn children(
    shared: &Shared,
    drive: &DriveRoot,
    folders: &[String],
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let page_size = query_param(uri, "$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or_else(|| shared.graph().page_size)
        .clamp(1, 1000);
    let skip = query_param(uri, "$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let listed = async {
        tokio::fs::create_dir_all(&drive.dir).await?;
        let Some((dir, stored)) = find_folders(&drive.dir, folders).await? else {
            return Ok(None);
        };
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort_by_key(|n| n.to_lowercase());
        let total = names.len();
        let mut items = Vec::new();
        for name in names.into_iter().skip(skip).take(page_size) {
            let path = dir.join(&name);
            let meta = tokio::fs::metadata(&path).await?;
            let hash = if meta.is_dir() {
                None
            } else {
                Some(file_hash(shared, &path).await?)
            };
            items.push(item_json(
                drive,
                &stored,
                &name,
                if meta.is_dir() { 0 } else { meta.len() },
                meta.is_dir(),
                hash,
            ));
        }
        Ok::<_, std::io::Error>(Some((items, total)))
    };
    match listed.await {
        Ok(Some((items, total))) => {
            let mut body = json!({ "value": items });
            if skip + page_size < total {
                let mut next = url::Url::parse(&format!("{}{}", shared.base, uri.path()))
                    .unwrap_or_else(|_| shared.authority.clone());
                next.query_pairs_mut()
                    .append_pair("$top", &page_size.to_string())
                    .append_pair("$skiptoken", &(skip + page_size).to_string());
                body["@odata.nextLink"] = json!(next.to_string());
            }
            Json(body).into_response()
        }
        Ok(None) => graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The resource could not be found.",
            headers,
        ),
        Err(e) => DriveFailure::Io(e).into_response(headers),
    }
}

/// `PUT /raw/sink`: stores the body in a temporary file and deletes it, with no Graph rules.
/// The baseline the upload benchmark compares upload sessions with (same server, same disk).
pub(crate) async fn raw_sink(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let stored = async {
        let tmp = shared.new_tmp_path().await?;
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut stream = body.into_data_stream();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other)?;
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_data().await?;
        tokio::fs::remove_file(&tmp).await?;
        Ok::<_, std::io::Error>(size)
    };
    match stored.await {
        Ok(size) => Json(json!({ "size": size })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(folders: &[&str], name: &str) -> DriveOp {
        DriveOp::Item {
            folders: folders.iter().map(|s| s.to_string()).collect(),
            name: name.into(),
        }
    }

    #[test]
    fn drive_paths_are_decoded_and_checked() {
        assert_eq!(
            parse_drive_op("root:/Scans/2024%20Q1/a%20b.pdf:/content").unwrap(),
            DriveOp::Content {
                folders: vec!["Scans".into(), "2024 Q1".into()],
                name: "a b.pdf".into()
            }
        );
        assert_eq!(
            parse_drive_op("root:/x.pdf:/createUploadSession").unwrap(),
            DriveOp::CreateSession {
                folders: vec![],
                name: "x.pdf".into()
            }
        );
        assert_eq!(
            parse_drive_op("root:/a/x.pdf").unwrap(),
            item(&["a"], "x.pdf")
        );
        assert_eq!(
            parse_drive_op("root:/a/x.pdf:").unwrap(),
            item(&["a"], "x.pdf")
        );
        assert_eq!(
            parse_drive_op("root:/a/b:/children").unwrap(),
            DriveOp::Children {
                folders: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            parse_drive_op("root/children").unwrap(),
            DriveOp::Children { folders: vec![] }
        );
        for bad in [
            "root:/../x.pdf:/content",
            "root:/a/%2E%2E/x.pdf:/content",
            "root:/a%2Fb/x.pdf:/content",
            "root:/x.pdf:/delete",
            "items/x/content",
            "root:/a%5Cb.pdf:/content",
            "root:/:/content",
        ] {
            assert!(parse_drive_op(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renamed_copies_are_numbered_before_the_extension() {
        assert_eq!(numbered("scan.pdf", 1), "scan 1.pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive.tar 2.gz");
        assert_eq!(numbered("README", 3), "README 3");
    }
}
