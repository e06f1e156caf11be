//! Upload sessions: `createUploadSession`, fragment PUTs to the session's `uploadUrl`, the
//! session status (`nextExpectedRanges`) for resuming, and cancelling.
//!
//! The `uploadUrl` is a capability on another host: it is sent without `Authorization` (Graph
//! may answer 401 when one is present) and never logged. Fragments are read from the file on
//! disk as they are sent, so memory does not grow with the file size.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::drive::{parse_item, DriveTarget};
use super::{check, ConflictBehavior, DriveItem, GraphClient, GraphError, ProgressFn};

const READ_CHUNK: usize = 64 * 1024;

/// A fragment size Graph accepts: a whole multiple of 320 KiB and under 60 MiB. There is no
/// way to build any other size, so a misaligned fragment cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FragmentSize(u32);

impl FragmentSize {
    /// 320 KiB: every fragment but the last must be a multiple of this.
    pub const UNIT: u64 = 327_680;
    /// The largest multiple of [`Self::UNIT`] below 60 MiB (191 units, 59.7 MiB).
    pub const MAX_UNITS: u32 = 191;
    /// 10 MiB (32 units), Microsoft's suggested size.
    pub const DEFAULT: FragmentSize = FragmentSize(32);
    /// The smallest fragment, 320 KiB.
    pub const MIN: FragmentSize = FragmentSize(1);

    /// `units` × 320 KiB, for 1..=191 units.
    pub const fn from_units(units: u32) -> Option<FragmentSize> {
        if units >= 1 && units <= Self::MAX_UNITS {
            Some(FragmentSize(units))
        } else {
            None
        }
    }

    /// `bytes` if it is a valid fragment size, else `None`.
    pub const fn from_bytes(bytes: u64) -> Option<FragmentSize> {
        if !bytes.is_multiple_of(Self::UNIT) || bytes / Self::UNIT > Self::MAX_UNITS as u64 {
            return None;
        }
        Self::from_units((bytes / Self::UNIT) as u32)
    }

    /// The largest valid size not above `bytes` (at least 320 KiB).
    pub fn at_most(bytes: u64) -> FragmentSize {
        let units = (bytes / Self::UNIT).clamp(1, u64::from(Self::MAX_UNITS));
        FragmentSize(units as u32)
    }

    pub const fn bytes(self) -> u64 {
        self.0 as u64 * Self::UNIT
    }

    pub const fn units(self) -> u32 {
        self.0
    }
}

impl Default for FragmentSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An upload session URL. It authorises writes by itself, so it is kept out of `Debug` output
/// and logs.
#[derive(Clone)]
pub struct UploadUrl(SecretString);

impl UploadUrl {
    /// Accepts https URLs, and http only on loopback (the simulated Graph).
    pub fn parse(url: &str) -> Result<UploadUrl, GraphError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| GraphError::UnexpectedResponse(format!("uploadUrl: {e}")))?;
        if !crate::auth::discovery::is_secure_endpoint(&parsed) {
            return Err(GraphError::UnexpectedResponse(
                "uploadUrl is not https".into(),
            ));
        }
        Ok(UploadUrl(SecretString::from(url.to_string())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for UploadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadUrl([redacted])")
    }
}

/// A session's state: where to send the next bytes.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub url: UploadUrl,
    /// The first byte the service still expects (start of the first `nextExpectedRanges` entry).
    pub next_offset: u64,
    /// End (inclusive) of that first expected range, when the service bounds it.
    pub range_end: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSession {
    upload_url: Option<String>,
    #[serde(default)]
    next_expected_ranges: Vec<String>,
}

/// What a fragment PUT achieved.
#[derive(Debug)]
pub enum FragmentOutcome {
    /// Accepted; the service expects more from `next_offset`.
    More {
        next_offset: u64,
        range_end: Option<u64>,
    },
    /// The last fragment: the file exists.
    Done(DriveItem),
}

/// Parses the first entry of `nextExpectedRanges` ("12345-" or "12345-67890").
fn first_range(ranges: &[String]) -> Result<(u64, Option<u64>), GraphError> {
    let bad = |r: &str| GraphError::UnexpectedResponse(format!("nextExpectedRanges entry `{r}`"));
    let Some(first) = ranges.first() else {
        return Err(GraphError::UnexpectedResponse(
            "upload session without nextExpectedRanges".into(),
        ));
    };
    let (start, end) = first.split_once('-').ok_or_else(|| bad(first))?;
    let start = start.trim().parse::<u64>().map_err(|_| bad(first))?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse::<u64>().map_err(|_| bad(first))?),
    };
    Ok((start, end))
}

fn parse_raw_session(bytes: &[u8]) -> Result<RawSession, GraphError> {
    serde_json::from_slice(bytes)
        .map_err(|e| GraphError::UnexpectedResponse(format!("uploadSession: {e}")))
}

/// Reads the answer to `createUploadSession`: the session URL (https only) and where to start.
/// Public for the fuzz target (fuzz/), which feeds it hostile answers.
pub fn parse_new_session(bytes: &[u8]) -> Result<UploadSession, GraphError> {
    let raw = parse_raw_session(bytes)?;
    let url = raw
        .upload_url
        .ok_or_else(|| GraphError::UnexpectedResponse("uploadSession without uploadUrl".into()))?;
    let (next_offset, range_end) = if raw.next_expected_ranges.is_empty() {
        (0, None)
    } else {
        first_range(&raw.next_expected_ranges)?
    };
    Ok(UploadSession {
        url: UploadUrl::parse(&url)?,
        next_offset,
        range_end,
    })
}

/// Reads a session status or `202 Accepted` fragment answer: the first expected range
/// (`start-` or `start-end`). Public for the fuzz target (fuzz/).
pub fn parse_next_range(bytes: &[u8]) -> Result<(u64, Option<u64>), GraphError> {
    first_range(&parse_raw_session(bytes)?.next_expected_ranges)
}

impl GraphClient {
    /// `POST {drive}/root:/{folder}/{name}:/createUploadSession`.
    pub async fn create_upload_session(
        &self,
        token: &SecretString,
        drive: &DriveTarget,
        folder: &str,
        name: &str,
        size: u64,
        conflict: ConflictBehavior,
    ) -> Result<UploadSession, GraphError> {
        self.create_upload_session_described(token, drive, folder, name, size, conflict, None)
            .await
    }

    /// [`GraphClient::create_upload_session`] giving the new item a `description` (one of
    /// the driveItemUploadableProperties), e.g. who scanned a file the app uploads.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_upload_session_described(
        &self,
        token: &SecretString,
        drive: &DriveTarget,
        folder: &str,
        name: &str,
        size: u64,
        conflict: ConflictBehavior,
        description: Option<&str>,
    ) -> Result<UploadSession, GraphError> {
        let url = drive.item_url(self, folder, name, Some("createUploadSession"))?;
        let mut body = serde_json::json!({
            "item": {
                "@microsoft.graph.conflictBehavior": conflict.as_str(),
                "name": name,
                "fileSize": size,
            }
        });
        if let Some(d) = description {
            body["item"]["description"] = serde_json::Value::from(d);
        }
        let response = self
            .http()
            .post(url)
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(GraphError::transport)?;
        let response = check(response).await?;
        let bytes = super::read_json_body(response, "uploadSession").await?;
        parse_new_session(&bytes)
    }

    /// `GET {uploadUrl}`: what the service has. 404 = the session is gone (expired, cancelled
    /// or already completed).
    pub async fn upload_session_status(
        &self,
        url: &UploadUrl,
    ) -> Result<UploadSession, GraphError> {
        let response = self
            .http()
            .get(url.expose())
            .send()
            .await
            .map_err(GraphError::transport)?;
        let response = check(response).await?;
        let bytes = super::read_json_body(response, "uploadSession").await?;
        let (next_offset, range_end) = parse_next_range(&bytes)?;
        Ok(UploadSession {
            url: url.clone(),
            next_offset,
            range_end,
        })
    }

    /// `DELETE {uploadUrl}`: gives up a session (its bytes are discarded).
    pub async fn cancel_upload_session(&self, url: &UploadUrl) -> Result<(), GraphError> {
        let response = self
            .http()
            .delete(url.expose())
            .send()
            .await
            .map_err(GraphError::transport)?;
        check(response).await.map(|_| ())
    }

    /// PUTs bytes `start..start+len` of `file` (whose size is `total`) to the session, streamed
    /// from disk. `timeout` bounds the whole request, so a stalled connection fails over to a
    /// retry instead of hanging.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_fragment(
        &self,
        url: &UploadUrl,
        file: &Path,
        start: u64,
        len: u64,
        total: u64,
        timeout: Duration,
        progress: Option<ProgressFn>,
    ) -> Result<FragmentOutcome, GraphError> {
        let file_err = |source| GraphError::File {
            path: file.to_path_buf(),
            source,
        };
        let mut handle = tokio::fs::File::open(file).await.map_err(file_err)?;
        handle
            .seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(file_err)?;
        let mut sent = start;
        let stream = ReaderStream::with_capacity(handle.take(len), READ_CHUNK).map(move |chunk| {
            if let (Ok(bytes), Some(report)) = (&chunk, &progress) {
                sent += bytes.len() as u64;
                report(sent, total);
            }
            chunk
        });
        let end = start + len - 1;
        let response = self
            .http()
            .put(url.expose())
            .timeout(timeout)
            .header(CONTENT_LENGTH, len)
            .header(CONTENT_RANGE, format!("bytes {start}-{end}/{total}"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(GraphError::transport)?;
        let status = response.status();
        let response = check(response).await?;
        let bytes = super::read_json_body(response, "uploadSession").await?;
        if status == reqwest::StatusCode::ACCEPTED {
            let (next_offset, range_end) = parse_next_range(&bytes)?;
            return Ok(FragmentOutcome::More {
                next_offset,
                range_end,
            });
        }
        parse_item(&bytes).map(FragmentOutcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_sizes_are_aligned_by_construction() {
        assert_eq!(FragmentSize::DEFAULT.bytes(), 10 * 1024 * 1024);
        assert_eq!(FragmentSize::MIN.bytes(), 327_680);
        assert!(FragmentSize::from_units(0).is_none());
        assert!(
            FragmentSize::from_units(192).is_none(),
            "192 units = 60 MiB"
        );
        assert!(FragmentSize::from_units(191).unwrap().bytes() < 60 * 1024 * 1024);
        assert!(FragmentSize::from_bytes(1_000_000).is_none());
        assert!(FragmentSize::from_bytes(0).is_none());
        assert!(FragmentSize::from_bytes(60 * 1024 * 1024).is_none());
        assert_eq!(FragmentSize::from_bytes(655_360).unwrap().units(), 2);
        assert_eq!(FragmentSize::at_most(1_000_000).bytes(), 983_040);
        assert_eq!(FragmentSize::at_most(1).bytes(), 327_680);
        assert_eq!(FragmentSize::at_most(u64::MAX).units(), 191);
        for units in 1..=FragmentSize::MAX_UNITS {
            let f = FragmentSize::from_units(units).unwrap();
            assert_eq!(f.bytes() % FragmentSize::UNIT, 0);
            assert!(f.bytes() < 60 * 1024 * 1024);
        }
    }

    #[test]
    fn expected_ranges_parse() {
        assert_eq!(first_range(&["0-".into()]).unwrap(), (0, None));
        assert_eq!(
            first_range(&["327680-655359".into(), "900000-".into()]).unwrap(),
            (327_680, Some(655_359))
        );
        assert!(first_range(&[]).is_err());
        assert!(first_range(&["x-".into()]).is_err());
    }

    #[test]
    fn upload_urls_are_redacted_and_must_be_secure() {
        let u = UploadUrl::parse("https://contoso.sharepoint.com/up?tempauth=SECRET").unwrap();
        assert!(!format!("{u:?}").contains("SECRET"));
        assert!(UploadUrl::parse("http://evil.example/up").is_err());
        assert!(UploadUrl::parse("http://127.0.0.1:9/up").is_ok());
    }
}
