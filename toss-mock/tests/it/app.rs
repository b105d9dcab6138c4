//! `TestApp` (the router in-process) and `TestServer` (the real server over HTTP), with the few
//! calls every test makes: open a session, confirm, cancel, look up.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

pub use toss_mock::Config;

pub const KEY: &str = "test_sk_shopload";
pub const OTHER_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";

pub fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

/// A displayed-time anchor fixed for snapshots (2024-02-13T12:17:57+09:00).
pub fn pinned_config() -> Config {
    let wall = chrono::DateTime::parse_from_rfc3339("2024-02-13T03:17:57Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    Config {
        clock: toss_mock::Clock::starting_at(wall),
        ..Config::default()
    }
}

/// One answer: status, raw body, and the body as JSON.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// Asserts a Toss error: status, code, and the exact `{"code","message"}` shape.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        assert_eq!(self.code(), code, "{}", self.json);
        let keys: Vec<_> = self.json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["code", "message"], "{}", self.json);
        assert!(!self.json["message"].as_str().unwrap().is_empty());
    }
}

pub struct TestApp {
    pub router: Router,
    /// The router's state, to drive the sweep (`state.sweep()`) as `serve`'s loop would.
    pub state: toss_mock::AppState,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with(pinned_config())
    }

    pub fn with(config: Config) -> Self {
        let state = toss_mock::AppState::new(config);
        Self {
            router: toss_mock::router(state.clone()),
            state,
        }
    }

    /// Any request; `headers` are added after the default Basic auth with [`KEY`] (a header
    /// named `authorization` there replaces it, `("authorization", "")` removes it).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        let replaces_auth = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if !replaces_auth {
            request = request.header("authorization", basic(KEY));
        }
        for (k, v) in headers {
            if !v.is_empty() || !k.eq_ignore_ascii_case("authorization") {
                request = request.header(*k, *v);
            }
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Body::from(body.unwrap_or("").to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            bytes,
            json,
        }
    }

    pub async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Answer {
        self.call("POST", path, Some(&body.to_string()), headers)
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, &[]).await
    }

    /// A session as the buyer's checkout leaves it (`IN_PROGRESS`); returns its paymentKey.
    pub async fn session(&self, order_id: &str, amount: i64) -> String {
        self.session_as(order_id, amount, KEY).await
    }

    pub async fn session_as(&self, order_id: &str, amount: i64, key: &str) -> String {
        let auth = basic(key);
        let created = self
            .post(
                "/__mock/payments",
                json!({"orderId": order_id, "amount": amount}),
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.json);
        created.json["paymentKey"].as_str().unwrap().to_string()
    }

    pub async fn confirm(&self, payment_key: &str, order_id: &str, amount: i64) -> Answer {
        self.post(
            "/v1/payments/confirm",
            json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount}),
            &[],
        )
        .await
    }

    /// A session confirmed (`DONE`); returns its paymentKey.
    pub async fn paid(&self, order_id: &str, amount: i64) -> String {
        let key = self.session(order_id, amount).await;
        let done = self.confirm(&key, order_id, amount).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.json);
        key
    }

    pub async fn cancel(&self, payment_key: &str, body: Value) -> Answer {
        self.post(&format!("/v1/payments/{payment_key}/cancel"), body, &[])
            .await
    }
}

/// The real server on `127.0.0.1:0`, stopped when dropped.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            toss_mock::serve(config, listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        // A fresh connection per request: a dropped one must never be reused, nor a pooled one
        // be blamed for a drop.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self {
            base,
            client,
            stop: Some(stop),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", basic(KEY))
    }

    pub async fn session(&self, order_id: &str, amount: i64) -> String {
        let created: Value = self
            .request(reqwest::Method::POST, "/__mock/payments")
            .json(&json!({"orderId": order_id, "amount": amount}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["paymentKey"].as_str().unwrap().to_string()
    }

    pub fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
    ) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, "/v1/payments/confirm")
            .json(&json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount}))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Snapshot settings: files under `tests/snapshots`, identifiers and times redacted.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    for selector in [
        ".paymentKey",
        ".lastTransactionKey",
        ".requestedAt",
        ".approvedAt",
        ".cancels[].transactionKey",
        ".cancels[].canceledAt",
        ".receipt.url",
        ".checkout.url",
        ".successUrl",
        ".card.number",
        ".card.approveNo",
        ".card.issuerCode",
        ".card.acquirerCode",
    ] {
        // Only strings: a null (no approval yet, no transaction) must stay visible.
        settings.add_redaction(
            selector,
            insta::dynamic_redaction(|value, _path| {
                if value.as_str().is_some() {
                    insta::internals::Content::from("[redacted]")
                } else {
                    value
                }
            }),
        );
    }
    settings
}

/// `insta::assert_json_snapshot!` with [`snapshot_settings`].
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        $crate::app::snapshot_settings().bind(|| insta::assert_json_snapshot!($name, $value));
    };
}
