//! A PostgreSQL restart costs only the requests in flight. After a restart every pooled connection
//! is dead, and the pool only learns it one request at a time (it does not ping before handing a
//! connection out, as Django's CONN_HEALTH_CHECKS = False does not): each idle connection would
//! fail one request. So the first request that sees a connection die records the moment
//! (`ConnectionLoss`), the pool's `before_acquire` then drops every connection opened before it
//! (no round trip: its age says so) and opens fresh ones, and a read (GET, HEAD) that failed that
//! way is run once more. Writes are not retried: whether one reached the database before its
//! connection died is not known here.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The last moment the database was seen dropping connections.
#[derive(Debug, Default)]
pub struct ConnectionLoss {
    at: Mutex<Option<Instant>>,
}

impl ConnectionLoss {
    pub fn record(&self) {
        *self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
    }

    /// Whether a connection of this age was opened before the last loss (so it died with it).
    pub fn outlived_by(&self, age: Duration) -> bool {
        let at = *self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        at.is_some_and(|at| {
            Instant::now()
                .checked_sub(age)
                .is_some_and(|opened| opened <= at)
        })
    }
}

/// Set on a 500 whose cause was a database connection that died (a restart, a terminated
/// backend, a network cut), by the error's mapping to the wire.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLost;

/// Whether `e` means the connection itself is gone, not that a statement failed: an I/O error, or
/// PostgreSQL's connection exceptions (class 08) and its shutdown codes (57P01 admin shutdown,
/// 57P02 crash shutdown, 57P03 cannot connect now).
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// Records a lost connection and runs a read once more on a fresh one.
pub async fn recover(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let response = next.run(request).await;
        if response.extensions().get::<ConnectionLost>().is_some() {
            state.connection_loss.record();
        }
        return response;
    }
    // A read has no body: its head is all it takes to run it again.
    let (parts, body) = request.into_parts();
    let response = next
        .clone()
        .run(Request::from_parts(parts.clone(), body))
        .await;
    if response.extensions().get::<ConnectionLost>().is_none() {
        return response;
    }
    state.connection_loss.record();
    tracing::warn!(
        path = parts.uri.path(),
        "a database connection died under a read: run again on a fresh connection"
    );
    next.run(Request::from_parts(parts, axum::body::Body::empty()))
        .await
}
