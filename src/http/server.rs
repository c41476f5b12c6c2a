//! Serving a router over TCP with bounded connections: HTTP/1.1 only, a header deadline, an idle deadline
//! between requests, a cap on open connections, and a graceful shutdown that closes what is left when its grace
//! period ends.
//!
//! The body deadline is not here: the edge's gate reads bodies under it ([`super::Gate::admit`]).
//! `axum::serve` has no header, idle or connection bounds and no end to its graceful shutdown, hence this loop
//! over hyper's connection builder.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::HttpConfig;

/// Serves `router` on `listener` with the default [`HttpConfig`] until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, &HttpConfig::default(), shutdown).await
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops accepting, lets
/// in-flight requests finish for `shutdown_grace_seconds`, and closes the connections still open.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let deadlines = Deadlines::new(limits);
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as we go, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            if let Err(error) = connection(stream, router, deadlines, stopping).await {
                tracing::debug!(%peer, %error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = Duration::from_secs(limits.shutdown_grace_seconds);
    let drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace_seconds = grace.as_secs(),
            "closing connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection under `limits` (header and idle deadlines; the body deadline is the
/// router's gate) until the client or a deadline closes it. [`serve_with`] runs this for each accepted
/// connection; it takes any byte stream so the edge can also be driven in memory (the fuzz target does).
pub async fn serve_connection<T>(io: T, router: Router, limits: &HttpConfig) -> Result<(), hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Never told to stop: the caller owns the connection's lifetime.
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    connection(io, router, Deadlines::new(limits), stopping).await
}

/// The per-connection deadlines of an [`HttpConfig`].
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    header: Duration,
    idle: Duration,
    stalled_write: Duration,
}

impl Deadlines {
    fn new(limits: &HttpConfig) -> Deadlines {
        Deadlines {
            header: Duration::from_secs(limits.header_timeout_seconds),
            idle: Duration::from_secs(limits.idle_timeout_seconds),
            stalled_write: Duration::from_secs(limits.body_timeout_seconds),
        }
    }
}

async fn connection<T>(
    io: T,
    router: Router,
    deadlines: Deadlines,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let in_flight = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(IdleIo::new(io, deadlines, Arc::clone(&in_flight)));
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let guard = InFlight::enter(&in_flight);
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _guard: guard }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(deadlines.header);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => result,
        _ = stopping.changed() => {
            // Finish the request in progress, if any, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

/// Counts a connection's requests whose response is not finished; dropped with the response body.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until hyper has written it (or dropped it).
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A byte stream that fails a read with `TimedOut` once no request is in flight and nothing has been received
/// for the idle timeout: a kept-alive (or never used) connection is not held open forever. While a request is
/// in flight the edge's own deadlines apply instead. A write that makes no progress for the stalled-write
/// deadline fails too: a client that stops reading an answer does not hold its connection forever.
struct IdleIo<T> {
    inner: T,
    deadlines: Deadlines,
    in_flight: Arc<AtomicUsize>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    write_sleep: Pin<Box<tokio::time::Sleep>>,
    write_armed: bool,
}

impl<T> IdleIo<T> {
    fn new(inner: T, deadlines: Deadlines, in_flight: Arc<AtomicUsize>) -> IdleIo<T> {
        IdleIo {
            inner,
            deadlines,
            in_flight,
            sleep: Box::pin(tokio::time::sleep(deadlines.idle)),
            armed: false,
            write_sleep: Box::pin(tokio::time::sleep(deadlines.stalled_write)),
            write_armed: false,
        }
    }

    /// Passes a write's outcome through, failing it once it has been pending for the stalled-write deadline.
    fn stalled<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.write_armed = false;
            return polled;
        }
        if !self.write_armed {
            let deadline = tokio::time::Instant::now() + self.deadlines.stalled_write;
            self.write_sleep.as_mut().reset(deadline);
            self.write_armed = true;
        }
        match self.write_sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending if this.in_flight.load(Ordering::SeqCst) > 0 => {
                this.armed = false;
                Poll::Pending
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = tokio::time::Instant::now() + this.deadlines.idle;
                    this.sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.stalled(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.stalled(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.stalled(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
