//! Drive items: names and paths, simple (single PUT) uploads, items by path, folder listings.
//!
//! A [`DriveTarget`] is the user's own OneDrive (`/me/drive`) or a drive by id (a SharePoint
//! document library, `/drives/{id}`). `PUT {drive}/root:/{folder}/{name}:/content` creates missing
//! folders on the way. Each path segment is percent-encoded on its own and checked against the
//! characters OneDrive for Business refuses, so a scan named by a template can never address
//! another folder. The file is streamed from disk, never loaded whole.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::{check, GraphClient, GraphError};

/// Graph's ceiling for a simple upload; above it an upload session is required.
pub const SIMPLE_UPLOAD_LIMIT: u64 = 250 * 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Characters OneDrive for Business and SharePoint refuse in file and folder names.
const FORBIDDEN_CHARS: &[char] = &['"', '*', ':', '<', '>', '?', '/', '\\', '|'];

/// Called with (bytes sent so far, total bytes) as the upload streams.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Which drive a path is resolved in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DriveTarget {
    /// The signed-in user's OneDrive for Business: `/me/drive`.
    Me,
    /// A drive by id, e.g. a SharePoint document library: `/drives/{id}`.
    Drive(String),
    /// A user's OneDrive for an app-only token: `/users/{id}/drive` (needs the application
    /// permission `Files.ReadWrite.All`).
    User(String),
}

impl DriveTarget {
    fn segments(&self) -> Vec<&str> {
        match self {
            DriveTarget::Me => vec!["me", "drive"],
            DriveTarget::Drive(id) => vec!["drives", id.as_str()],
            DriveTarget::User(id) => vec!["users", id.as_str(), "drive"],
        }
    }

    /// `{drive}/root:/{folder}/{name}:/{action}` (with `action`) or `{drive}/root:/{folder}/{name}`.
    pub(crate) fn item_url(
        &self,
        client: &GraphClient,
        folder: &str,
        name: &str,
        action: Option<&str>,
    ) -> Result<url::Url, GraphError> {
        validate_name(name)?;
        let mut segments = self.segments();
        segments.push("root:");
        segments.extend(folder_segments(folder)?);
        let last;
        match action {
            Some(action) => {
                last = format!("{name}:");
                segments.push(&last);
                segments.push(action);
            }
            None => segments.push(name),
        }
        client.url(&segments)
    }

    /// `{drive}/root/children` or `{drive}/root:/{folder}:/children`.
    fn children_url(&self, client: &GraphClient, folder: &str) -> Result<url::Url, GraphError> {
        let folders = folder_segments(folder)?;
        let mut segments = self.segments();
        let last;
        match folders.split_last() {
            None => segments.push("root"),
            Some((tail, init)) => {
                segments.push("root:");
                segments.extend(init.iter().copied());
                last = format!("{tail}:");
                segments.push(&last);
            }
        }
        segments.push("children");
        client.url(&segments)
    }
}

/// What Graph does when the target name already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictBehavior {
    /// Keep both: the new file becomes `name 1.pdf`, `name 2.pdf`, ...
    Rename,
    /// Answer 409 `nameAlreadyExists`.
    Fail,
    /// Overwrite (Graph's default).
    #[default]
    Replace,
}

impl ConflictBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictBehavior::Rename => "rename",
            ConflictBehavior::Fail => "fail",
            ConflictBehavior::Replace => "replace",
        }
    }
}

/// The uploaded file as Graph reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveItem {
    pub id: String,
    /// The final name (differs from the requested one after a `rename` conflict).
    pub name: String,
    pub size: u64,
    pub web_url: String,
    pub mime_type: Option<String>,
    /// E.g. `/drive/root:/Scans/2024`.
    pub parent_path: Option<String>,
    pub drive_id: Option<String>,
    /// OneDrive for Business / SharePoint content hash (base64), see [`super::quickxor`].
    pub quick_xor_hash: Option<String>,
    /// True for folders.
    pub is_folder: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDriveItem {
    id: String,
    name: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    web_url: String,
    file: Option<RawFile>,
    folder: Option<serde_json::Value>,
    parent_reference: Option<RawParent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    mime_type: Option<String>,
    hashes: Option<RawHashes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHashes {
    quick_xor_hash: Option<String>,
}

#[derive(Deserialize)]
struct RawChildren {
    value: Vec<RawDriveItem>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParent {
    path: Option<String>,
    drive_id: Option<String>,
}

impl From<RawDriveItem> for DriveItem {
    fn from(raw: RawDriveItem) -> Self {
        let (parent_path, drive_id) = raw
            .parent_reference
            .map(|p| (p.path, p.drive_id))
            .unwrap_or_default();
        let (mime_type, quick_xor_hash) = match raw.file {
            Some(f) => (f.mime_type, f.hashes.and_then(|h| h.quick_xor_hash)),
            None => (None, None),
        };
        DriveItem {
            id: raw.id,
            name: raw.name,
            size: raw.size,
            web_url: raw.web_url,
            mime_type,
            parent_path,
            drive_id,
            quick_xor_hash,
            is_folder: raw.folder.is_some(),
        }
    }
}

/// Checks one file or folder name against OneDrive's rules.
pub fn validate_name(name: &str) -> Result<(), GraphError> {
    let bad = |why: &str| Err(GraphError::InvalidPath(format!("`{name}` {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name == "." || name == ".." {
        return bad("is a relative path component");
    }
    if name.chars().count() > 255 {
        return bad("is longer than 255 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| FORBIDDEN_CHARS.contains(c) || c.is_control())
    {
        return bad(&format!("contains the forbidden character {c:?}"));
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return bad("starts or ends with a space, or ends with a period");
    }
    Ok(())
}

/// Splits `Scans/2024/` into checked segments; empty segments (leading, trailing or doubled
/// slashes) are dropped.
pub fn folder_segments(folder: &str) -> Result<Vec<&str>, GraphError> {
    let segments: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    for segment in &segments {
        validate_name(segment)?;
    }
    Ok(segments)
}

/// A MIME type for the scan formats the kiosk produces.
pub fn mime_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "txt" => "text/plain",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// Parses a driveItem answer. Public for the fuzz target (fuzz/).
pub fn parse_item(body: &[u8]) -> Result<DriveItem, GraphError> {
    let raw: RawDriveItem = serde_json::from_slice(body)
        .map_err(|e| GraphError::UnexpectedResponse(format!("driveItem: {e}")))?;
    Ok(DriveItem::from(raw))
}

impl GraphClient {
    /// Uploads `file` to `folder/file_name` in the user's OneDrive with one streamed PUT.
    pub async fn upload_small(
        &self,
        token: &SecretString,
        folder: &str,
        file_name: &str,
        file: &Path,
        conflict: ConflictBehavior,
        progress: Option<ProgressFn>,
    ) -> Result<DriveItem, GraphError> {
        self.upload_small_to(
            token,
            &DriveTarget::Me,
            folder,
            file_name,
            file,
            conflict,
            progress,
        )
        .await
    }

    /// Uploads `file` to `folder/file_name` in `drive` with one streamed PUT (up to
    /// [`SIMPLE_UPLOAD_LIMIT`]; Microsoft recommends upload sessions above a few MiB).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_small_to(
        &self,
        token: &SecretString,
        drive: &DriveTarget,
        folder: &str,
        file_name: &str,
        file: &Path,
        conflict: ConflictBehavior,
        progress: Option<ProgressFn>,
    ) -> Result<DriveItem, GraphError> {
        let mut url = drive.item_url(self, folder, file_name, Some("content"))?;
        url.set_query(Some(&format!(
            "@microsoft.graph.conflictBehavior={}",
            conflict.as_str()
        )));

        let file_err = |source| GraphError::File {
            path: file.to_path_buf(),
            source,
        };
        let handle = tokio::fs::File::open(file).await.map_err(file_err)?;
        let total = handle.metadata().await.map_err(file_err)?.len();
        if total > SIMPLE_UPLOAD_LIMIT {
            return Err(GraphError::TooLarge {
                size: total,
                limit: SIMPLE_UPLOAD_LIMIT,
            });
        }
        let mut sent = 0u64;
        let stream = ReaderStream::with_capacity(handle, READ_CHUNK).map(move |chunk| {
            if let (Ok(bytes), Some(report)) = (&chunk, &progress) {
                sent += bytes.len() as u64;
                report(sent, total);
            }
            chunk
        });

        tracing::debug!(folder, file_name, size = total, "uploading to OneDrive");
        let response = self
            .inner
            .http
            .put(url)
            .bearer_auth(token.expose_secret())
            .header(CONTENT_TYPE, mime_type_for(file_name))
            .header(CONTENT_LENGTH, total)
            // Longer than the client's default: the whole file goes in this one request.
            .timeout(self.timeouts().for_body(total))
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(GraphError::transport)?;
        let response = check(response).await?;
        let body = super::read_json_body(response, "driveItem").await?;
        let item = parse_item(&body)?;
        tracing::info!(name = %item.name, size = item.size, "upload finished");
        Ok(item)
    }

    /// The item at `folder/name` in `drive`, or `None` when nothing is there.
    pub async fn item_by_path(
        &self,
        token: &SecretString,
        drive: &DriveTarget,
        folder: &str,
        name: &str,
    ) -> Result<Option<DriveItem>, GraphError> {
        let url = drive.item_url(self, folder, name, None)?;
        match self.get_json::<RawDriveItem>(token, url, "driveItem").await {
            Ok(raw) => Ok(Some(raw.into())),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item in `folder` (following `@odata.nextLink` for at most [`super::MAX_PAGES`]
    /// pages); empty when the folder does not exist.
    pub async fn list_children(
        &self,
        token: &SecretString,
        drive: &DriveTarget,
        folder: &str,
    ) -> Result<Vec<DriveItem>, GraphError> {
        let mut url = drive.children_url(self, folder)?;
        url.set_query(Some(
            "$select=id,name,size,webUrl,file,folder,parentReference",
        ));
        let mut items = Vec::new();
        for _ in 0..super::MAX_PAGES {
            let page: RawChildren = match self.get_json(token, url, "children").await {
                Ok(page) => page,
                Err(e) if e.status() == Some(404) && items.is_empty() => return Ok(items),
                Err(e) => return Err(e),
            };
            items.extend(page.value.into_iter().map(DriveItem::from));
            match page.next_link {
                // nextLink is absolute; only follow it on the same Graph endpoint, as the
                // bearer token goes with it.
                Some(next) => {
                    let next = url::Url::parse(&next)
                        .map_err(|e| GraphError::UnexpectedResponse(format!("nextLink: {e}")))?;
                    if next.origin() != self.endpoint().origin() {
                        return Err(GraphError::UnexpectedResponse(
                            "nextLink points to another host".into(),
                        ));
                    }
                    url = next;
                }
                None => return Ok(items),
            }
        }
        Err(GraphError::TooManyPages {
            what: "children".into(),
            limit: super::MAX_PAGES,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_onedrive_does() {
        for ok in ["Scan 2024-06-01.pdf", "Ünïcode ✓.pdf", "a", "x.y.z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "what?.pdf",
            "a:b",
            "trailing.",
            " lead",
            "tab\t",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn folders_split_on_slashes_and_reject_traversal() {
        assert_eq!(
            folder_segments("/Scans//2024/").unwrap(),
            vec!["Scans", "2024"]
        );
        assert!(folder_segments("").unwrap().is_empty());
        assert!(folder_segments("Scans/../Private").is_err());
    }

    #[test]
    fn upload_url_encodes_each_segment() {
        let client =
            GraphClient::new(url::Url::parse("https://graph.microsoft.com/v1.0").unwrap()).unwrap();
        let url = client
            .url(&["me", "drive", "root:", "Scans #1", "a%b ü.pdf:", "content"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://graph.microsoft.com/v1.0/me/drive/root:/Scans%20%231/a%25b%20%C3%BC.pdf:/content"
        );
    }
}
