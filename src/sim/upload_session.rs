//! Simulated upload sessions, with the rules Graph enforces:
//!
//! - the `uploadUrl` carries its own authorisation (`tempauth`); a request that also sends an
//!   `Authorization` header is refused with 401;
//! - fragments carry `Content-Range: bytes a-b/total` and a matching `Content-Length`; every
//!   fragment but the last is a multiple of 320 KiB; a fragment of 60 MiB or more is 413;
//! - fragments are contiguous: one that does not start at the next expected byte is 416;
//! - an interrupted fragment is discarded whole (the next expected range stays where it was);
//! - sessions expire (their expiry moves on with each fragment); an unknown, expired, cancelled
//!   or completed session is 404;
//! - the last fragment commits the file with the session's `conflictBehavior` (409 on `fail`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::chaos::empty;
use super::drives::{self, precheck, Conflict, DriveRoot};
use super::graph::graph_error;
use super::graph_state::{SessionData, SessionEntry};
use super::state::{random_token, Shared};

const UNIT: u64 = 327_680;
const MAX_FRAGMENT: u64 = 60 * 1024 * 1024;

fn expiry_text(expires: Instant) -> String {
    let left = expires.saturating_duration_since(Instant::now());
    let at = chrono::Utc::now() + chrono::Duration::from_std(left).unwrap_or_default();
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `POST …:/createUploadSession`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn create(
    shared: &Arc<Shared>,
    drive: DriveRoot,
    folders: Vec<String>,
    name: String,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let bad_request = |m: &str| graph_error(StatusCode::BAD_REQUEST, "invalidRequest", m, headers);
    let bytes = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return bad_request("The request body is too large or broke off."),
    };
    let body: serde_json::Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return bad_request("The request body is not valid JSON."),
        }
    };
    let from_body = body
        .pointer("/item/@microsoft.graph.conflictBehavior")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let behaviour =
        from_body.or_else(|| drives::query_param(uri, "@microsoft.graph.conflictBehavior"));
    let conflict = match Conflict::parse(behaviour.as_deref()) {
        Ok(c) => c,
        Err(m) => return bad_request(&m),
    };
    if let Some(n) = body.pointer("/item/name").and_then(|v| v.as_str()) {
        if !n.eq_ignore_ascii_case(&name) {
            return bad_request("The item name in the body does not match the path.");
        }
    }
    if let Err(f) = precheck(&drive, &folders, &name, conflict).await {
        return f.into_response(headers);
    }
    let tmp = match shared.new_tmp_path().await {
        Ok(t) => t,
        Err(e) => return drives::DriveFailure::Io(e).into_response(headers),
    };
    if let Err(e) = tokio::fs::File::create(&tmp).await {
        return drives::DriveFailure::Io(e).into_response(headers);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = random_token(24);
    let lifetime = shared.graph().session_lifetime;
    let expires = Instant::now() + lifetime;
    let entry = Arc::new(SessionEntry {
        secret: secret.clone(),
        drive,
        folders,
        name,
        conflict,
        description: body
            .pointer("/item/description")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        data: tokio::sync::Mutex::new(SessionData {
            received: 0,
            total: None,
            tmp,
            expires,
            closed: false,
        }),
    });
    shared.graph().sessions.insert(id.clone(), entry);
    shared.state().stats.upload_sessions += 1;
    Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.uploadSession", shared.base),
        "uploadUrl": format!("{}/upload/{id}?tempauth={secret}", shared.base),
        "expirationDateTime": expiry_text(expires),
        "nextExpectedRanges": ["0-"],
    }))
    .into_response()
}

fn not_found(headers: &HeaderMap) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The upload session was not found or has expired.",
        headers,
    )
}

/// Every request on an `uploadUrl`: GET (status), PUT (fragment), DELETE (cancel).
pub(crate) async fn session_request(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The uploadUrl is pre-authenticated: do not send an Authorization header with it.",
            &headers,
        );
    }
    let entry = shared.graph().sessions.get(&id).cloned();
    let Some(entry) = entry else {
        return not_found(&headers);
    };
    if drives::query_param(&uri, "tempauth").as_deref() != Some(entry.secret.as_str()) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The tempauth of the uploadUrl is invalid.",
            &headers,
        );
    }
    // One request at a time per session, as the service processes a session's fragments in
    // order: a retry that races a slow earlier request sees its outcome.
    let mut data = entry.data.lock().await;
    if data.closed {
        return not_found(&headers);
    }
    if data.expires <= Instant::now() {
        close(&shared, &id, &mut data).await;
        return not_found(&headers);
    }
    match method {
        Method::GET => Json(json!({
            "expirationDateTime": expiry_text(data.expires),
            "nextExpectedRanges": [format!("{}-", data.received)],
        }))
        .into_response(),
        Method::DELETE => {
            close(&shared, &id, &mut data).await;
            empty(StatusCode::NO_CONTENT)
        }
        Method::PUT => fragment(&shared, &id, &entry, &mut data, &headers, body).await,
        other => graph_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalidRequest",
            &format!("{other} is not supported on an upload session."),
            &headers,
        ),
    }
}

async fn close(shared: &Shared, id: &str, data: &mut SessionData) {
    data.closed = true;
    let _ = tokio::fs::remove_file(&data.tmp).await;
    shared.graph().sessions.remove(id);
}

/// `bytes a-b/total`.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (a <= b && b < total).then_some((a, b, total))
}

async fn fragment(
    shared: &Arc<Shared>,
    id: &str,
    entry: &SessionEntry,
    data: &mut SessionData,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let bad_request = |m: &str| graph_error(StatusCode::BAD_REQUEST, "invalidRequest", m, headers);
    let Some((start, end, total)) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range)
    else {
        return bad_request("A Content-Range header of the form 'bytes a-b/total' is required.");
    };
    let len = end - start + 1;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared != Some(len) {
        return bad_request("Content-Length must equal the length of the Content-Range.");
    }
    if let Some(t) = data.total {
        if t != total {
            return bad_request("The total size in Content-Range changed during the session.");
        }
    }
    if len >= MAX_FRAGMENT {
        return graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "requestTooLarge",
            "Fragments must be smaller than 60 MiB.",
            headers,
        );
    }
    let last = end + 1 == total;
    if !last && !len.is_multiple_of(UNIT) {
        return bad_request("Fragment sizes must be a multiple of 320 KiB (327,680 bytes).");
    }
    if start != data.received {
        return graph_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalidRange",
            &format!(
                "The fragment starts at byte {start}; the session expects byte {}.",
                data.received
            ),
            headers,
        );
    }
    data.total = Some(total);

    // Append the fragment; if it breaks off, cut the file back so the fragment is discarded.
    let written = async {
        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&data.tmp)
            .await
            .map_err(|e| (true, e.to_string()))?;
        let mut stream = body.into_data_stream();
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| (false, format!("The fragment broke off: {e}")))?;
            got += chunk.len() as u64;
            if got > len {
                return Err((false, "The body is longer than Content-Length.".to_string()));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| (true, e.to_string()))?;
        }
        if got != len {
            return Err((
                false,
                "The fragment is shorter than Content-Length.".to_string(),
            ));
        }
        file.sync_data().await.map_err(|e| (true, e.to_string()))?;
        Ok(())
    };
    if let Err((io, message)) = written.await {
        if let Ok(f) = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&data.tmp)
            .await
        {
            let _ = f.set_len(data.received).await;
        }
        return if io {
            drives::DriveFailure::Io(std::io::Error::other(message)).into_response(headers)
        } else {
            bad_request(&message)
        };
    }
    data.received = end + 1;
    shared.state().stats.fragments += 1;
    let lifetime = shared.graph().session_lifetime;
    data.expires = Instant::now() + lifetime;
    if !last {
        return (
            StatusCode::ACCEPTED,
            Json(json!({
                "expirationDateTime": expiry_text(data.expires),
                "nextExpectedRanges": [format!("{}-", data.received)],
            })),
        )
            .into_response();
    }

    let committed = drives::commit(
        shared,
        &entry.drive,
        &entry.folders,
        &entry.name,
        entry.conflict,
        &data.tmp,
    )
    .await;
    close(shared, id, data).await;
    match committed {
        Ok((folders, name, created)) => {
            let mut item = drives::item_json(&entry.drive, &folders, &name, total, false, None);
            if let Some(d) = &entry.description {
                let path = folders
                    .iter()
                    .fold(entry.drive.dir.clone(), |p, f| p.join(f))
                    .join(&name);
                shared.graph().descriptions.insert(path, d.clone());
                item["description"] = json!(d);
            }
            item["@odata.context"] = json!(format!("{}/v1.0/$metadata#driveItem", shared.base));
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(item)).into_response()
        }
        Err(f) => f.into_response(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 0-327679/1000000"),
            Some((0, 327_679, 1_000_000))
        );
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("bytes 0-1/*"), None);
        assert_eq!(parse_content_range("0-1/2"), None);
    }
}
