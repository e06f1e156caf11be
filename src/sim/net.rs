//! The simulator's side of the network, with an outage switch: while the network is "down",
//! every new connection is reset as soon as it is accepted and every open one (clients keep
//! connections alive between requests) is reset on its next read or write, so clients see what
//! they see when a cable is pulled or a firewall drops them: a transport error, no HTTP answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::state::Shared;

/// A TCP listener that honours the outage switch.
pub(crate) struct GatedListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl GatedListener {
    pub(crate) fn new(inner: TcpListener, shared: Arc<Shared>) -> Self {
        GatedListener { inner, shared }
    }
}

fn network_down(shared: &Shared) -> bool {
    shared.state().network_down()
}

/// Resets `stream` (RST, not FIN: no orderly goodbye on a dead network) and records it.
fn reset(shared: &Shared, stream: &TcpStream) {
    if let Err(err) = stream.set_zero_linger() {
        tracing::debug!(%err, "sim: cannot set SO_LINGER 0");
    }
    shared.state().dropped_connections.push(Instant::now());
}

impl axum::serve::Listener for GatedListener {
    type Io = GatedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if network_down(&self.shared) {
                reset(&self.shared, &stream);
                drop(stream);
                continue;
            }
            let shared = self.shared.clone();
            return (
                GatedStream {
                    inner: stream,
                    shared,
                    reset: false,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that fails once the network goes down.
pub(crate) struct GatedStream {
    inner: TcpStream,
    shared: Arc<Shared>,
    reset: bool,
}

impl GatedStream {
    /// `Some(error)` when the network is down (the connection is then reset when dropped).
    fn outage(&mut self) -> Option<io::Error> {
        if !network_down(&self.shared) {
            return None;
        }
        if !self.reset {
            self.reset = true;
            reset(&self.shared, &self.inner);
        }
        Some(io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl AsyncRead for GatedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.outage() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.outage() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
