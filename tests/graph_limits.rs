//! Deadlines and size caps of the Graph client (security review, issue 15 finding 8), each
//! against a tiny misbehaving server on loopback: one that takes requests and never answers,
//! one that answers with a body far larger than any Graph JSON, one that declares such a body,
//! and one whose `@odata.nextLink` never ends.
//!
//! The stalling tests run on tokio's paused clock: the client's 30-second deadline passes in
//! virtual time as soon as everything waits, so nothing waits real minutes, and a client without
//! a deadline shows up as the test's own (virtual) day running out.
#![cfg(feature = "demo")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::Response;
use axum::Router;
use mfp_kiosk::graph::{ConflictBehavior, DriveTarget, GraphClient, GraphError};
use secrecy::SecretString;
use url::Url;

/// Serves `app` on an ephemeral loopback port; returns the Graph endpoint URL on it.
async fn serve(app: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Url::parse(&format!("http://{addr}/v1.0")).unwrap()
}

/// Accepts every request and never answers it.
async fn stalling() -> Url {
    serve(Router::new().fallback(|| async {
        std::future::pending::<()>().await;
        ""
    }))
    .await
}

fn token() -> SecretString {
    SecretString::from("test-access-token")
}

/// Runs `call` with a (virtual) day to finish: a client without deadlines fails here.
async fn within_a_day<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(24 * 3600), call)
        .await
        .expect("the Graph call hung: no deadline")
}

fn assert_deadline(err: &GraphError) {
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    assert!(err.is_transient(), "a missed deadline is worth a retry");
}

#[tokio::test(start_paused = true)]
async fn me_against_a_stalled_server_fails_at_its_deadline() {
    let graph = GraphClient::new(stalling().await).unwrap();
    let started = tokio::time::Instant::now();
    let err = within_a_day(graph.me(&token())).await.unwrap_err();
    assert_deadline(&err);
    let waited = started.elapsed();
    assert!(waited <= Duration::from_secs(31), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn create_upload_session_against_a_stalled_server_fails_at_its_deadline() {
    let graph = GraphClient::new(stalling().await).unwrap();
    let err = within_a_day(graph.create_upload_session(
        &token(),
        &DriveTarget::Me,
        "Scans",
        "big.pdf",
        50 * 1024 * 1024,
        ConflictBehavior::Rename,
    ))
    .await
    .unwrap_err();
    assert_deadline(&err);
}

#[tokio::test(start_paused = true)]
async fn a_simple_put_against_a_stalled_server_fails_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.pdf");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    let graph = GraphClient::new(stalling().await).unwrap();
    let err = within_a_day(graph.upload_small(
        &token(),
        "Scans",
        "small.pdf",
        &file,
        ConflictBehavior::Rename,
        None,
    ))
    .await
    .unwrap_err();
    assert_deadline(&err);
}

/// A valid `/me` answer of `filler` bytes more than any real one, sent in 64 KiB chunks.
fn huge_me(filler: usize, declare_length: bool) -> Response {
    let head =
        Bytes::from_static(br#"{"id":"1","userPrincipalName":"u@contoso.example","displayName":""#);
    let tail = Bytes::from_static(br#""}"#);
    let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
    let chunks = filler / chunk.len();
    let total = head.len() + chunks * chunk.len() + tail.len();
    let body = futures_util::stream::iter(
        std::iter::once(head)
            .chain(std::iter::repeat_n(chunk, chunks))
            .chain(std::iter::once(tail))
            .map(Ok::<_, std::convert::Infallible>),
    );
    let mut response = Response::builder().header(CONTENT_TYPE, "application/json");
    if declare_length {
        response = response.header(CONTENT_LENGTH, total);
    }
    response.body(Body::from_stream(body)).unwrap()
}

#[tokio::test]
async fn an_oversized_json_answer_is_not_read_whole() {
    let served = Arc::new(AtomicUsize::new(0));
    for declare_length in [false, true] {
        let count = served.clone();
        let graph = GraphClient::new(
            serve(Router::new().fallback(move || {
                count.fetch_add(1, Ordering::SeqCst);
                async move { huge_me(32 * 1024 * 1024, declare_length) }
            }))
            .await,
        )
        .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(120), graph.me(&token()))
            .await
            .expect("bounded");
        // Not `unwrap_err`: its message would print all 32 MiB of the profile.
        let Err(err) = answer else {
            panic!("a 32 MiB /me answer was read whole (declared length {declare_length})");
        };
        let text = err.to_string();
        assert!(
            text.contains("more than") && text.contains("/me"),
            "declared length {declare_length}: {text}"
        );
    }
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_endless_next_link_is_followed_only_so_far() {
    let pages = Arc::new(AtomicUsize::new(0));
    let count = pages.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1.0", listener.local_addr().unwrap());
    let next_base = base.clone();
    let app = Router::new().fallback(move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let next = format!("{next_base}/me/drive/items/x/children?page={}", n + 1);
        async move {
            axum::Json(serde_json::json!({
                "value": [{ "id": format!("item-{n}"), "name": format!("scan-{n}.pdf") }],
                "@odata.nextLink": next,
            }))
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let graph = GraphClient::new(Url::parse(&base).unwrap()).unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        graph.list_children(&token(), &DriveTarget::Me, "Scans"),
    )
    .await
    .expect("the listing never ended: nextLink followed without a cap")
    .unwrap_err();
    assert!(err.to_string().contains("pages"), "{err}");
    let served = pages.load(Ordering::SeqCst);
    assert!(
        (100..=1000).contains(&served),
        "{served} pages fetched before giving up"
    );
}
