//! Faults of the simulated Graph: queued failures (`inject_graph_faults`), random failures at a
//! given rate (500, 503 and 429 with `Retry-After`, connections cut before or after the request
//! was carried out), and a planned kill of the client process at the n-th request.
//!
//! Connections are cut for real: the listener wraps each accepted socket so a handler can mark
//! its connection dead; the next read or write on it fails and hyper drops it, so the client
//! sees the connection close in the middle of its request or before its answer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use futures_util::StreamExt;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::graph::graph_error;
use super::graph_state::KillPhase;
use super::state::Shared;

/// Lets a handler cut its own connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnHandle {
    dead: Arc<AtomicBool>,
}

impl ConnHandle {
    pub fn cut(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, ChaosListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, ChaosListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be cut by handlers.
pub(crate) struct ChaosListener(pub TcpListener);

impl Listener for ChaosListener {
    type Io = ChaosStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let handle = ConnHandle::default();
                    let io = ChaosStream {
                        inner: stream,
                        dead: handle.dead.clone(),
                    };
                    return (io, handle);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%e, "sim: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle::default())
    }
}

pub(crate) struct ChaosStream {
    inner: TcpStream,
    dead: Arc<AtomicBool>,
}

impl ChaosStream {
    fn check(&self) -> io::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection cut by the simulator",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ChaosStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChaosStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

enum Fault {
    Status(u16, Option<u64>),
    CutBefore,
    CutAfter,
}

/// Middleware on every Graph route: queued faults, random faults, the planned kill.
pub(crate) async fn faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let observer = shared.graph().observer.clone();
    if let Some(observe) = observer {
        let (method, path) = (
            request.method().to_string(),
            request.uri().path().to_string(),
        );
        // The observer may touch files (a test snapshotting what the client is about to send).
        let _ = tokio::task::spawn_blocking(move || observe(&method, &path)).await;
    }
    let (fault, kill) = {
        let mut state = shared.state();
        let queued = state.graph_faults.pop_front();
        let mut graph = shared.graph();
        let kill = match &mut graph.kill {
            Some(plan) if plan.phase != KillPhase::AfterCommit => {
                plan.seen += 1;
                (plan.seen == plan.at).then(|| (plan.phase, plan.action.clone()))
            }
            _ => None,
        };
        if kill.is_some() {
            graph.kill = None;
        }
        let fault = match queued {
            Some(f) => Some(Fault::Status(f.status, f.retry_after.map(|d| d.as_secs()))),
            None => graph.chaos.as_mut().and_then(|chaos| {
                if !chaos.rng.gen_bool(chaos.rate) {
                    return None;
                }
                Some(match chaos.rng.gen_range(0..5) {
                    0 => Fault::Status(500, None),
                    1 => Fault::Status(503, Some(1)),
                    2 => Fault::Status(429, Some(1)),
                    3 => Fault::CutBefore,
                    _ => Fault::CutAfter,
                })
            }),
        };
        if fault.is_some() {
            state.stats.graph_faults += 1;
        }
        (fault, kill)
    };

    if let Some((phase, action)) = kill {
        let run = || async {
            // The action waits for the process to die: do that off the async threads.
            let _ = tokio::task::spawn_blocking(move || action()).await;
        };
        return match phase {
            KillPhase::BeforeHandling => {
                run().await;
                conn.cut();
                simulated_failure(StatusCode::INTERNAL_SERVER_ERROR, &headers)
            }
            KillPhase::MidBody => {
                let half = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    / 2;
                let mut body = request.into_body().into_data_stream();
                let mut got = 0u64;
                while got < half.max(1) {
                    match body.next().await {
                        Some(Ok(chunk)) => got += chunk.len() as u64,
                        _ => break,
                    }
                }
                run().await;
                conn.cut();
                simulated_failure(StatusCode::INTERNAL_SERVER_ERROR, &headers)
            }
            KillPhase::AfterHandling | KillPhase::AfterCommit => {
                let response = next.run(request).await;
                run().await;
                conn.cut();
                response
            }
        };
    }

    match fault {
        None => {
            let commits = shared.state().stats.uploads;
            let response = next.run(request).await;
            if shared.state().stats.uploads > commits {
                let action = {
                    let mut graph = shared.graph();
                    match &mut graph.kill {
                        Some(plan) if plan.phase == KillPhase::AfterCommit => {
                            plan.seen += 1;
                            let fire = plan.seen == plan.at;
                            let action = fire.then(|| plan.action.clone());
                            if fire {
                                graph.kill = None;
                            }
                            action
                        }
                        _ => None,
                    }
                };
                if let Some(action) = action {
                    let _ = tokio::task::spawn_blocking(move || action()).await;
                    conn.cut();
                }
            }
            response
        }
        Some(Fault::Status(status, retry_after)) => {
            // Read the request body first, as Graph's front door does: answering early and
            // closing would make the client's body write fail with a reset instead of showing it
            // the status, and whether it does depends on timing.
            let mut body = request.into_body().into_data_stream();
            while let Some(Ok(_)) = body.next().await {}
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = simulated_failure(status, &headers);
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(after));
            }
            response
        }
        Some(Fault::CutBefore) => {
            conn.cut();
            simulated_failure(StatusCode::INTERNAL_SERVER_ERROR, &headers)
        }
        Some(Fault::CutAfter) => {
            let response = next.run(request).await;
            conn.cut();
            response
        }
    }
}

fn simulated_failure(status: StatusCode, headers: &axum::http::HeaderMap) -> Response {
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::SERVICE_UNAVAILABLE => "serviceNotAvailable",
        _ => "generalException",
    };
    graph_error(status, code, "Simulated failure.", headers)
}

/// An empty body, for handlers that answer 204.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
