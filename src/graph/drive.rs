//! Drive items: simple (single PUT) uploads into the signed-in user's OneDrive.
//!
//! `PUT /me/drive/root:/{folder}/{name}:/content` creates missing folders on the way. Each path
//! segment is percent-encoded on its own and checked against the characters OneDrive for
//! Business refuses, so a scan named by a template can never address another folder. The file is
//! streamed from disk, never loaded whole.

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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDriveItem {
    id: String,
    name: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    web_url: String,
    file: Option<RawFile>,
    parent_reference: Option<RawParent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    mime_type: Option<String>,
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
        DriveItem {
            id: raw.id,
            name: raw.name,
            size: raw.size,
            web_url: raw.web_url,
            mime_type: raw.file.and_then(|f| f.mime_type),
            parent_path,
            drive_id,
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
        validate_name(file_name)?;
        let mut segments = vec!["me", "drive", "root:"];
        segments.extend(folder_segments(folder)?);
        let last = format!("{file_name}:");
        segments.push(&last);
        segments.push("content");
        let mut url = self.url(&segments)?;
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
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(GraphError::Network)?;
        let response = check(response).await?;
        let body = response.bytes().await.map_err(GraphError::Network)?;
        let raw: RawDriveItem = serde_json::from_slice(&body)
            .map_err(|e| GraphError::UnexpectedResponse(format!("driveItem: {e}")))?;
        let item = DriveItem::from(raw);
        tracing::info!(name = %item.name, size = item.size, "upload finished");
        Ok(item)
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
