//! The accept loop. Ours rather than `axum::serve` for one reason: a client that opens a
//! connection and never finishes its request's headers must be disconnected, and `axum::serve`
//! gives hyper no timer, so such a connection (a slowloris) was held forever.
//!
//! Two phases of a connection can stall before a request exists, and each gets the same deadline,
//! `header_read_timeout`: telling HTTP/1 from h2c (hyper-util reads up to the 24 bytes of
//! HTTP/2's preface, with no deadline of its own), then hyper's HTTP/1 header read, which also
//! closes a keep-alive connection that sends no next request in time. A stalled connection is
//! therefore closed at most twice the deadline after it opened. What it holds meanwhile is a
//! socket and a parked task, so any number of them leaves the other clients served.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// hyper's own default, and about what nginx allows (`client_header_timeout`, 60 s): far above
/// what a real client needs, short enough that stalled connections do not pile up.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What an h2c client sends first; anything else is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The first wait before a connection that has sent part of the HTTP/2 preface is looked at
/// again (peeking at bytes already there returns at once, so there is nothing to wake on). A real
/// h2c client sends all 24 bytes in one write; for a stalling one the wait doubles up to
/// [`PREFACE_POLL_MAX`], so thousands of them cost a few wake-ups a second, not a busy loop.
const PREFACE_POLL: Duration = Duration::from_millis(20);
const PREFACE_POLL_MAX: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves, then lets every connection finish its
/// request in flight (as `axum::serve`'s graceful shutdown does).
pub async fn run(
    router: Router,
    listener: TcpListener,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
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
        let watcher = graceful.watcher();
        let mut stopping = stopping.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let started = tokio::select! {
                started = tokio::time::timeout(header_read_timeout, request_started(&stream)) => started,
                _ = stopping.wait_for(|stopping| *stopping) => return,
            };
            // Closed, broken, or silent past the deadline: dropping the stream closes it.
            if !matches!(started, Ok(Ok(true))) {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                // A client that went away, or hyper's header deadline: nothing to tell anyone.
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    stop.send_replace(true);
    graceful.shutdown().await;
    Ok(())
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
