//! http-edge's tests: a tiny router served through [`http_edge::serve`] on `127.0.0.1:0` and
//! driven over raw TCP where an HTTP client would not misbehave enough (stalls, trickles, bodies
//! announced and never sent). The servers' own tests only check that their routers are wired
//! through the edge and how they word its refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod body;
mod connections;
mod shutdown;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_edge::{BodyError, CloseConnection, Edge};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The tiny router's body limit: small, so that going over it is quick.
pub const LIMIT: usize = 64 * 1024;

/// A short header deadline, for the tests that wait for it.
pub const SHORT: Duration = Duration::from_secs(1);

/// The router served through the edge, and the handles a test steers it by.
pub struct Served {
    pub addr: SocketAddr,
    /// One message each time a request reaches `GET /wait`.
    pub entered: mpsc::UnboundedReceiver<()>,
    release: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    /// The accept loop's task: it ends when `serve` returns.
    pub done: JoinHandle<()>,
}

impl Served {
    pub async fn start(edge: Edge) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (entered_tx, entered) = mpsc::unbounded_channel();
        let (release, released) = watch::channel(false);
        let (stop, stopped) = oneshot::channel::<()>();
        let router = router(Gate {
            entered: entered_tx,
            released,
        });
        let done = tokio::spawn(http_edge::serve(edge, router, listener, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            entered,
            release,
            stop: Some(stop),
            done,
        }
    }

    /// Asks for shutdown, as a binary's signal would.
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Lets every request waiting in `GET /wait` answer.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

#[derive(Clone)]
struct Gate {
    entered: mpsc::UnboundedSender<()>,
    released: watch::Receiver<bool>,
}

fn router(gate: Gate) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/echo", post(echo))
        .route("/close", get(close))
        .route("/wait", get(wait))
        .layer(DefaultBodyLimit::max(LIMIT))
        .with_state(gate)
}

/// The body's length, or the refusal: 413 for a body too large, 400 for one unreadable, with
/// the edge's text (a server maps these to its own wire format).
async fn echo(request: Request) -> Response {
    let read = async {
        let request = http_edge::body::refuse_declared_over(request, LIMIT)?;
        http_edge::body::read(request).await
    };
    match read.await {
        Ok(bytes) => bytes.len().to_string().into_response(),
        Err(e) => {
            let status = match e {
                BodyError::DeclaredTooLarge { .. } | BodyError::TooLarge(_) => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
            };
            (status, e.to_string()).into_response()
        }
    }
}

async fn close() -> Response {
    let mut response = "never sent".into_response();
    response.extensions_mut().insert(CloseConnection);
    response
}

async fn wait(State(mut gate): State<Gate>) -> &'static str {
    let _ = gate.entered.send(());
    let _ = gate.released.wait_for(|released| *released).await;
    "released"
}
