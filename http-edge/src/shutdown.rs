//! The signal a server's binary stops on. It lives here, beside [`crate::serve`] which takes it,
//! because both servers stop the same way; but installing a signal handler is a binary's
//! decision, so only a `main.rs` calls it (a tidy test holds that).

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, whichever comes first, and logs that the requests in
/// flight are being finished.
///
/// Call it only from a binary's `main`: it installs the process's handlers for both signals when
/// first polled, which library code never does on its own (a library takes its shutdown as a
/// future from its caller, as [`crate::serve`] does). Without SIGTERM handling (it could not be
/// installed), Ctrl-C alone stops.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
