//! The simulator's side of the network, with an outage switch: while the network is "down",
//! every new connection is closed unread as soon as it is accepted and every open one (clients
//! keep connections alive between requests) fails on its next read or write, so clients see
//! what they see when a cable is pulled or a firewall drops them: a transport error, no HTTP
//! answer. It wraps the chaos listener (per-request faults of the Graph simulator).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::chaos::{ChaosListener, ConnHandle};
use super::state::Shared;

/// A listener that honours the outage switch, around the listener that does the rest.
pub(crate) struct GatedListener<L> {
    inner: L,
    shared: Arc<Shared>,
}

impl<L> GatedListener<L> {
    pub(crate) fn new(inner: L, shared: Arc<Shared>) -> Self {
        GatedListener { inner, shared }
    }
}

fn network_down(shared: &Shared) -> bool {
    shared.state().network_down()
}

fn record_reset(shared: &Shared) {
    shared.state().dropped_connections.push(Instant::now());
}

impl<L: Listener> Listener for GatedListener<L> {
    type Io = GatedStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            if network_down(&self.shared) {
                // Closed unread: the kernel answers the waiting request with a reset.
                record_reset(&self.shared);
                drop(io);
                continue;
            }
            let shared = self.shared.clone();
            return (
                GatedStream {
                    inner: io,
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

/// Handlers see the connection handle of the chaos listener underneath.
impl axum::extract::connect_info::Connected<IncomingStream<'_, GatedListener<ChaosListener>>>
    for ConnHandle
{
    fn connect_info(stream: IncomingStream<'_, GatedListener<ChaosListener>>) -> Self {
        stream.remote_addr().clone()
    }
}

/// An accepted connection that fails once the network goes down.
pub(crate) struct GatedStream<S> {
    inner: S,
    shared: Arc<Shared>,
    reset: bool,
}

impl<S> GatedStream<S> {
    /// `Some(error)` when the network is down; hyper then drops the connection.
    fn outage(&mut self) -> Option<io::Error> {
        if !network_down(&self.shared) {
            return None;
        }
        if !self.reset {
            self.reset = true;
            record_reset(&self.shared);
        }
        Some(io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GatedStream<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for GatedStream<S> {
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
