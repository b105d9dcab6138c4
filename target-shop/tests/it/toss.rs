//! The real Toss mock in-process on 127.0.0.1:0, and a buyer's path to a pending order: the
//! payment and job tests start from here.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use toss_mock::stats::StatsReport;

use crate::app::TestApp;

/// An endpoint's outcomes as the mock's books hold them: `outcomes(&[("OK", 1)])`.
pub fn outcomes(counts: &[(&str, u64)]) -> BTreeMap<String, u64> {
    counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// Prices the payment tests set, so totals (and points) are known: 1 % of 2 x 15,000 is 300.
pub const PRICE: i32 = 15_000;

pub struct TossMock {
    pub addr: SocketAddr,
    client: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TossMock {
    pub async fn start() -> Self {
        Self::start_with(toss_mock::Config::default()).await
    }

    pub async fn start_with(config: toss_mock::Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = toss_mock::serve(config, listener, async move {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = served {
                eprintln!("toss-mock: {e:#}");
            }
        });
        Self {
            addr,
            client: reqwest::Client::new(),
            _shutdown: shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let key = base64::engine::general_purpose::STANDARD.encode("test_sk_shopload:");
        self.client
            .request(method, format!("{}{path}", self.url()))
            .header("Authorization", format!("Basic {key}"))
    }

    /// What the buyer's checkout does: a payment session for the order; its paymentKey.
    pub async fn checkout(&self, order_number: &str, amount: i64) -> String {
        let response = self
            .request(Method::POST, "/__mock/payments")
            .json(
                &json!({"orderId": order_number, "amount": amount, "orderName": "load test order"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["paymentKey"].as_str().unwrap().to_string()
    }

    /// Toss approving `key` with no shop listening: what a shop killed in the middle of its
    /// confirm leaves behind.
    pub async fn approve(&self, key: &str, order_number: &str, amount: i64) {
        let response = self
            .request(Method::POST, "/v1/payments/confirm")
            .json(&json!({"paymentKey": key, "orderId": order_number, "amount": amount}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// `PUT /__mock/chaos`: replaces the chaos settings.
    pub async fn chaos(&self, settings: Value) {
        let response = self
            .request(Method::PUT, "/__mock/chaos")
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// The mock's books, as the mock's own wire type.
    pub async fn stats(&self) -> StatsReport {
        self.request(Method::GET, "/__mock/stats")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .expect("the Toss mock's books as toss_mock::stats::StatsReport")
    }

    /// Toss's view of an order's payment.
    pub async fn lookup(&self, order_number: &str) -> Value {
        self.request(Method::GET, &format!("/v1/payments/orders/{order_number}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl TestApp {
    /// This shop, confirming against `toss`.
    pub async fn with_toss(self, toss: &TossMock) -> Self {
        self.with_toss_url(toss.url()).await
    }

    pub async fn with_toss_url(self, url: String) -> Self {
        self.with_config(|config| config.toss.url = url).await
    }
}

/// `users` seeded users (their tokens) and products 0..4 priced [`PRICE`] with stock 10000.
pub async fn shop(app: &TestApp, users: u32) -> (Vec<String>, Vec<i64>) {
    let pool = fixtures::seed::pool(&app.database_url).unwrap();
    let plan = fixtures::seed::SeedPlan {
        users,
        products: 4,
        categories: 1,
        hash_iterations: 1000,
        ..fixtures::seed::SeedPlan::default()
    };
    fixtures::seed::seed(&pool, &plan).await.unwrap();
    sqlx::query("UPDATE products_product SET price = $1")
        .bind(PRICE)
        .execute(&app.state.db)
        .await
        .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM products_product ORDER BY id")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    let logins = (0..users).map(|i| async move {
        app.login(&format!("load_test_user_{i}"), "testpass123")
            .await
            .1
    });
    (futures::future::join_all(logins).await, ids)
}

/// A pending order of `quantity` of `product`: `(id, order_number, total_amount)`.
pub async fn order(app: &TestApp, token: &str, product: i64, quantity: i32) -> (i64, String, i64) {
    let body = json!({"items": [{"product_id": product, "quantity": quantity}]});
    let reply = app
        .send(Method::POST, "/api/orders/", token, Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let order = reply.json();
    (
        order["id"].as_i64().unwrap(),
        order["order_number"].as_str().unwrap().to_string(),
        order["total_amount"].as_i64().unwrap(),
    )
}

/// `POST /api/payments/confirm/` as the success redirect gives it (the amount as text).
pub async fn confirm(
    app: &TestApp,
    token: &str,
    payment_key: &str,
    order_number: &str,
    amount: i64,
) -> crate::app::Reply {
    let body =
        json!({"paymentKey": payment_key, "orderId": order_number, "amount": amount.to_string()});
    app.send(Method::POST, "/api/payments/confirm/", token, Some(&body))
        .await
}

pub async fn stock(app: &TestApp, product: i64) -> (i32, i32, i32) {
    sqlx::query_as(
        "SELECT physical_stock, reserved_stock, available_stock FROM products_productstock WHERE product_id = $1",
    )
    .bind(product)
    .fetch_one(&app.state.db)
    .await
    .unwrap()
}

pub async fn order_status(app: &TestApp, order: i64) -> String {
    sqlx::query_scalar("SELECT status FROM orders_order WHERE id = $1")
        .bind(order)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// `(payment_key, status)` of every payment row of the order.
pub async fn payments(app: &TestApp, order: i64) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT payment_key, status FROM payments_payment WHERE order_id = $1 ORDER BY id",
    )
    .bind(order)
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

/// In front of the mock, a gate that holds each confirm until the test opens it: the test acts
/// while "Toss decides" (the shop waiting on its answer), then lets the mock answer.
pub struct ConfirmGate {
    pub addr: SocketAddr,
    arrived: std::sync::Arc<tokio::sync::Notify>,
    open: std::sync::Arc<tokio::sync::Notify>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl ConfirmGate {
    pub async fn start(toss: &TossMock) -> Self {
        use axum::extract::{Request, State};
        use std::sync::Arc;
        type Gate = (Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>, String);
        async fn pass(
            State((arrived, open, toss)): State<Gate>,
            request: Request,
        ) -> axum::response::Response {
            let (parts, body) = request.into_parts();
            if parts.uri.path() == "/v1/payments/confirm" {
                arrived.notify_one();
                open.notified().await;
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut forward =
                reqwest::Client::new().request(parts.method, format!("{toss}{}", parts.uri));
            for (name, value) in &parts.headers {
                if name != "host" && name != "content-length" {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.body(body).send().await.unwrap();
            let status = answer.status();
            let kind = answer.headers().get("content-type").cloned();
            let mut response = axum::response::IntoResponse::into_response((
                status,
                answer.bytes().await.unwrap(),
            ));
            if let Some(kind) = kind {
                response.headers_mut().insert("content-type", kind);
            }
            response
        }
        let arrived = Arc::new(tokio::sync::Notify::new());
        let open = Arc::new(tokio::sync::Notify::new());
        let router = axum::Router::new().fallback(pass).with_state((
            arrived.clone(),
            open.clone(),
            toss.url(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            arrived,
            open,
            _shutdown: shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until a confirm reaches the gate.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Lets the held confirm (or the next one) through to the mock.
    pub fn open(&self) {
        self.open.notify_one();
    }
}
