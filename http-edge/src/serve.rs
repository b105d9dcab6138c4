//! The accept loop. Ours rather than `axum::serve` for two reasons: a client that opens a
//! connection and never finishes its request's headers must be disconnected, and `axum::serve`
//! gives hyper no timer, so such a connection (a slowloris) was held forever; and a response may
//! have to close its connection without a byte written ([`CloseConnection`]), which hyper does when
//! the service fails, and axum's server never lets a service fail.
//!
//! Two phases of a connection can stall before a request exists, and each gets the same deadline,
//! `header_read_timeout`: with h2c, telling HTTP/1 from HTTP/2 (hyper-util reads up to the 24
//! bytes of HTTP/2's preface, with no deadline of its own), then hyper's HTTP/1 header read, which
//! also closes a keep-alive connection that sends no next request in time. A stalled connection is
//! therefore closed at most twice the deadline after it opened (once, without h2c). What it holds
//! meanwhile is a socket and a parked task, so any number of them leaves the other clients served.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// hyper's own default, and about what nginx allows (`client_header_timeout`, 60 s): far above
/// what a real client needs, short enough that stalled connections do not pile up.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What an h2c client sends first; anything else is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The first wait before a connection that has sent part of the HTTP/2 preface is looked at
/// again (peeking at bytes already there returns at once, so there is nothing to wake on). A real
/// h2c client sends all 24 bytes in one write; for a stalling one the wait doubles up to
/// [`PREFACE_POLL_MAX`], so thousands of them cost a few wake-ups a second, not a busy loop.
const PREFACE_POLL: Duration = Duration::from_millis(20);
const PREFACE_POLL_MAX: Duration = Duration::from_secs(1);

/// How a server's connections are served: the settings in which the shop and the mock differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Longest a connection may take to send a request's headers after it opened (or, kept
    /// alive, after its previous answer) before it is closed.
    pub header_read_timeout: Duration,
    /// HTTP/2 with prior knowledge (h2c) beside HTTP/1, told apart by the first bytes (the shop:
    /// loadgen's `--http2` against it). Off: HTTP/1 only, and no preface is waited for.
    pub h2c: bool,
    /// Nagle's algorithm off on every connection: a small answer goes out at once rather than
    /// waiting for the previous segment's acknowledgement (the mock's few-hundred-byte answers).
    pub nodelay: bool,
    /// How long the requests in flight may run on after shutdown is asked for; `None` waits for
    /// all of them (the shop's), a bound leaves behind a request that never ends (a chaos hang).
    pub drain: Option<Duration>,
}

impl Edge {
    /// HTTP/1 only, Nagle on, every request in flight finished at shutdown.
    pub fn new(header_read_timeout: Duration) -> Self {
        Self {
            header_read_timeout,
            h2c: false,
            nodelay: false,
            drain: None,
        }
    }
}

/// On a response: close the connection instead of writing the response (under HTTP/2, the
/// stream is reset). Nothing of it reaches the client; the handler decides what that means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseConnection;

/// The service's failure that makes hyper close the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer, as the response asked")]
struct Closed;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets every
/// connection finish its request in flight (for at most [`Edge::drain`]).
pub async fn serve(
    edge: Edge,
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout);
    if !edge.h2c {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // Connections still deciding their protocol are not hyper's yet: they watch this instead.
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if edge.nodelay {
            // A socket that cannot take the option is still served, only with Nagle on.
            let _ = stream.set_nodelay(true);
        }
        let watcher = graceful.watcher();
        let mut stopping = stopping.clone();
        let builder = Arc::clone(&builder);
        let router = TowerToHyperService::new(router.clone());
        // A response marked to close its connection becomes the service's failure, on which
        // hyper closes the connection without writing anything.
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let answer = hyper::service::Service::call(&router, request);
            async move {
                let response = match answer.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if response.extensions().get::<CloseConnection>().is_some() {
                    Err(Closed)
                } else {
                    Ok(response)
                }
            }
        });
        tokio::spawn(async move {
            if edge.h2c {
                let started = tokio::select! {
                    started = tokio::time::timeout(edge.header_read_timeout, request_started(&stream)) => started,
                    _ = stopping.wait_for(|stopping| *stopping) => return,
                };
                // Closed, broken, or silent past the deadline: dropping the stream closes it.
                if !matches!(started, Ok(Ok(true))) {
                    return;
                }
            }
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                // A client that went away, hyper's header deadline, or a closing response:
                // nothing to tell anyone.
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    stop.send_replace(true);
    match edge.drain {
        None => graceful.shutdown().await,
        Some(limit) => tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(limit) => {
                tracing::warn!("requests still running after {limit:?}, leaving them");
            }
        },
    }
}

/// Waits until the connection has sent enough to tell its protocol (hyper-util then reads the
/// same bytes again: they are only peeked at). False when the client closed first.
async fn request_started(stream: &TcpStream) -> io::Result<bool> {
    let mut first = [0_u8; H2_PREFACE.len()];
    let mut pause = PREFACE_POLL;
    loop {
        let n = stream.peek(&mut first).await?;
        if n == 0 {
            return Ok(false);
        }
        if n == H2_PREFACE.len() || first[..n] != H2_PREFACE[..n] {
            return Ok(true);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(PREFACE_POLL_MAX);
    }
}

/// `axum::serve`'s handling: a connection that failed while queued is nobody's concern; anything
/// else (out of file descriptors, say) is logged and waited out rather than spun on.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
