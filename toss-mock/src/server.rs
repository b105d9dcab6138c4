//! The accept loop. Ours rather than `axum::serve` for one reason: a chaos answer marked
//! [`Dropped`] must close its connection without a byte written, which hyper does when the service
//! fails; axum's server never lets a service fail.

use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::chaos::Dropped;

/// How long requests in flight may finish after shutdown is asked for (a chaos hang may not).
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by chaos")]
struct ConnectionDropped;

/// Serves `router` on `listener` until `shutdown` resolves. A connection that has not sent a
/// request's headers within `header_read_timeout` of opening (or of its previous answer) is closed
/// by hyper, so slow clients cannot pile up.
pub async fn run(
    router: Router,
    listener: TcpListener,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Some(header_read_timeout));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON answers: send them now rather than wait on Nagle.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let router = router.clone();
            async move {
                let response = match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if response.extensions().get::<Dropped>().is_some() {
                    Err(ConnectionDropped)
                } else {
                    Ok::<_, ConnectionDropped>(response)
                }
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => tracing::warn!("requests still running after {GRACE:?}, leaving them"),
    }
    Ok(())
}
