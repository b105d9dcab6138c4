//! What an attacker tries (issue 19). auth.rs has an unknown key, no header and a key without its
//! colon on one route each; here every keyed route refuses every key it does not know (empty,
//! another prefix, a near miss, another scheme) and malformed Basic credentials, without telling
//! whether the payment asked about exists; bodies over the size limit get Toss's refusal; the mock
//! is served through the edge with its header deadline.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_edge::testing::{CLOSED_SOON, closed_within, response, sent};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use toss_mock::request::MAX_BODY;

use crate::app::{Config, KEY, TestApp, TestServer, basic};

#[tokio::test]
async fn every_keyed_route_refuses_keys_it_does_not_know_and_malformed_credentials() {
    let app = TestApp::new();
    let paid = app.paid("order-sec-paid", 1000).await;
    let open = app.session("order-sec-open", 1000).await;
    let routes = [
        (
            "POST",
            "/v1/payments/confirm".to_string(),
            Some(json!({"paymentKey": open, "orderId": "order-sec-open", "amount": 1000})),
        ),
        ("GET", format!("/v1/payments/{paid}"), None::<Value>),
        ("GET", "/v1/payments/orders/order-sec-paid".into(), None),
        (
            "POST",
            format!("/v1/payments/{paid}/cancel"),
            Some(json!({"cancelReason": "not mine"})),
        ),
        (
            "POST",
            "/__mock/payments".into(),
            Some(json!({"orderId": "order-sec-new", "amount": 1000})),
        ),
    ];
    let unknown = [
        basic("test_sk_not_ours"),
        basic(""),
        basic("live_sk_shopload"),
        basic("test_ck_shopload"),
        basic("test_sk_shoploa"),
        basic("test_sk_shopload_"),
        basic("TEST_SK_SHOPLOAD"),
        basic(" test_sk_shopload"),
        basic("test_sk_shopload "),
        format!("Bearer {KEY}"),
        format!("Bearer {}", STANDARD.encode(format!("{KEY}:"))),
        "Basic".into(),
        KEY.into(),
    ];
    let malformed = [
        "Basic %%%".to_string(),
        format!("Basic {KEY}:"),
        format!("Basic {}", STANDARD.encode(b"\xff\xfe:")),
    ];
    for (method, path, body) in &routes {
        let body = body.as_ref().map(Value::to_string);
        let call = |authorization: &str| {
            let authorization = authorization.to_string();
            let body = body.clone();
            let app = &app;
            async move {
                app.call(
                    method,
                    path,
                    body.as_deref(),
                    &[("authorization", &authorization)],
                )
                .await
            }
        };
        for authorization in &unknown {
            call(authorization)
                .await
                .assert_error(401, "UNAUTHORIZED_KEY");
        }
        for authorization in &malformed {
            call(authorization)
                .await
                .assert_error(403, "INCORRECT_BASIC_AUTH_FORMAT");
        }
    }
    // An unknown key learns nothing of what exists: a real payment and a made-up one answer alike.
    let wrong = basic("test_sk_not_ours");
    let real = app
        .call(
            "GET",
            &format!("/v1/payments/{paid}"),
            None,
            &[("authorization", &wrong)],
        )
        .await;
    let made_up = app
        .call(
            "GET",
            "/v1/payments/tnone",
            None,
            &[("authorization", &wrong)],
        )
        .await;
    assert_eq!(real.bytes, made_up.bytes);
    // Nothing was done: the payment is still paid, the session still open, no session was made.
    let lookup = app.get(&format!("/v1/payments/{paid}")).await;
    assert_eq!(lookup.json["status"], "DONE", "{}", lookup.json);
    assert_eq!(lookup.json["cancels"], Value::Null, "{}", lookup.json);
    app.get("/v1/payments/orders/order-sec-new")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
    let confirmed = app.confirm(&open, "order-sec-open", 1000).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.json);
}

/// How the edge refuses a body over the limit is http-edge's test; here, that the mock's limit is
/// the one it reads up to, and its refusal Toss's `INVALID_REQUEST` whether the length was declared
/// or reached while streaming.
#[tokio::test]
async fn an_oversized_body_gets_invalid_request() {
    let server = TestServer::start(Config::default()).await;
    let addr = address(&server);
    let auth = format!("Authorization: {}\r\n", basic(KEY));
    // Announced and not a byte of it sent: refused at once.
    let declared = format!(
        "POST /v1/payments/confirm HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let (status, body) = response(&mut sent(addr, &declared).await).await;
    assert_eq!(
        (status, code(&body)),
        (400, "INVALID_REQUEST".into()),
        "{body}"
    );
    // A body of exactly the limit is read and honoured.
    let key = server.session("order-sec-big", 1000).await;
    let confirm =
        json!({"paymentKey": key, "orderId": "order-sec-big", "amount": 1000}).to_string();
    let at_limit = format!("{confirm}{}", " ".repeat(MAX_BODY - confirm.len()));
    let answer = server
        .request(reqwest::Method::POST, "/v1/payments/confirm")
        .header("content-type", "application/json")
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    // A chunked body announces no length: one chunk past the limit gets the same answer.
    let chunked = format!(
        "POST /v1/payments/confirm HTTP/1.1\r\nHost: mock\r\n{auth}Transfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{}\r\n",
        MAX_BODY + 1,
        " ".repeat(MAX_BODY + 1)
    );
    let (mut reader, mut writer) = sent(addr, "").await.into_split();
    let writing = tokio::spawn(async move { writer.write_all(chunked.as_bytes()).await });
    let (status, body) = response(&mut reader).await;
    assert_eq!(
        (status, code(&body)),
        (400, "INVALID_REQUEST".into()),
        "{body}"
    );
    writing.abort();
}

/// The mock is served through the edge with its header deadline: a stalled head is closed, and so
/// is a kept-alive connection that asks for nothing more (http-edge's tests hold the rest: stalls
/// of every kind, trickles, slow clients outlasted while others are served).
#[tokio::test]
async fn the_edge_serves_the_mock_with_its_header_deadline() {
    let server = TestServer::start(Config {
        header_read_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let addr = address(&server);
    let mut stalled = sent(addr, "GET /healthz HTTP/1.1\r\nHost: mock\r\nX-Slow: ").await;
    assert!(
        closed_within(&mut stalled, CLOSED_SOON).await,
        "a stalled head still open after {CLOSED_SOON:?}"
    );
    let mut idle = sent(addr, "GET /healthz HTTP/1.1\r\nHost: mock\r\n\r\n").await;
    assert_eq!(response(&mut idle).await.0, 200);
    assert!(
        closed_within(&mut idle, CLOSED_SOON).await,
        "an idle keep-alive still open after {CLOSED_SOON:?}"
    );
}

fn address(server: &TestServer) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

fn code(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    json["code"].as_str().unwrap_or_default().to_string()
}
