//! A stub target: fixed answers, a JSON list, chosen statuses, a login whose first token is
//! refused, an endpoint of a chosen speed, a server error whose answer is markup, and a stall window (every `period`, the first `stall` of it holds every request until
//! the window ends).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::oneshot;

#[derive(Clone)]
struct Stub {
    started: Instant,
    period: Duration,
    stall: Duration,
    logins: Arc<AtomicU64>,
}

pub struct Server {
    pub addr: SocketAddr,
    /// Requests answered so far: what a test waits on instead of a guessed sleep.
    served: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start() -> Self {
        Self::with_stall(Duration::from_secs(2), Duration::ZERO).await
    }

    pub async fn with_stall(period: Duration, stall: Duration) -> Self {
        Self::with_stall_from(period, stall, Duration::ZERO).await
    }

    /// Stalls from `phase` into each period: a run that starts just after the server and lasts
    /// whole periods then neither begins nor ends inside a stall.
    pub async fn with_stall_from(period: Duration, stall: Duration, phase: Duration) -> Self {
        let stub = Stub {
            // The clock starts `period - phase` early, so the first stall begins `phase` from now.
            started: Instant::now()
                .checked_sub(period.saturating_sub(phase))
                .unwrap_or_else(Instant::now),
            period,
            stall,
            logins: Arc::default(),
        };
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(
                "/json",
                get(|| async {
                    axum::Json(serde_json::json!({"results": [{"id": 1}, {"id": 2}, {"id": 3}]}))
                }),
            )
            .route("/status/{code}", get(status))
            .route("/plain/{code}", get(plain))
            .route(
                "/hostile",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, HOSTILE_ANSWER) }),
            )
            .route("/stall", get(stall_handler))
            .route("/sleep/{us}", get(sleep_handler))
            .route("/login", post(login))
            .route("/private", get(private))
            .route(
                "/metrics",
                get(|| async { "# TYPE shop_jobs_backlog gauge\nshop_jobs_backlog 0\n" }),
            )
            .with_state(stub);
        let served = Arc::<AtomicU64>::default();
        let counter = Arc::clone(&served);
        let app = app.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counter = Arc::clone(&counter);
                async move {
                    let response = next.run(request).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                    response
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            served,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server has answered `n` requests; fails after 30 s saying so.
    pub async fn wait_served(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.served.load(Ordering::Relaxed) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stub answered {} requests in 30 s, not {n}",
                self.served.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops accepting and closes every connection (the target "dies").
    pub async fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
            let _ = h.await;
        }
    }
}

async fn status(UrlPath(code): UrlPath<u16>) -> impl IntoResponse {
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(serde_json::json!({"detail": "stub"})),
    )
}

async fn plain(UrlPath(code): UrlPath<u16>) -> impl IntoResponse {
    (StatusCode::from_u16(code).unwrap(), "<html>not json</html>")
}

async fn stall_handler(State(stub): State<Stub>) -> &'static str {
    if !stub.stall.is_zero() {
        let into = Duration::from_nanos(
            (stub.started.elapsed().as_nanos() % stub.period.as_nanos()) as u64,
        );
        if into < stub.stall {
            tokio::time::sleep(stub.stall - into).await;
        }
    }
    "ok"
}

/// Answers after `us` microseconds: an endpoint of a chosen speed.
async fn sleep_handler(UrlPath(us): UrlPath<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_micros(us)).await;
    "ok"
}

async fn login(State(stub): State<Stub>) -> axum::Json<serde_json::Value> {
    let n = stub.logins.fetch_add(1, Ordering::Relaxed);
    axum::Json(serde_json::json!({"access": format!("token{n}"), "refresh": "r"}))
}

/// Refuses the very first token handed out, so exactly one user must log in again.
async fn private(headers: HeaderMap) -> impl IntoResponse {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer token0") | None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"detail": "no"})),
        ),
        Some(_) => (StatusCode::OK, axum::Json(serde_json::json!({"ok": true}))),
    }
}

/// Runs the loadgen binary in `dir` with `args`.
pub async fn loadgen(dir: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.current_dir(dir).args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("LOADGEN_") {
            command.env_remove(k);
        }
    }
    command.output().await.unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a scenario file into `dir` and returns its path.
pub fn scenario(dir: &Path, name: &str, toml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, toml).unwrap();
    path
}

pub fn summary(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

/// Text that is markup and quotes: a page that writes it unescaped runs a script.
pub const HOSTILE: &str = r#"<script>alert(1)</script>"&'"#;
/// What `/hostile` answers, with a 500.
pub const HOSTILE_ANSWER: &str = r#"<script>alert(1)</script>"&' from the server"#;

pub const ROOT: &str = "[[task]]\n[[task.request]]\npath = \"/\"\n";
