//! `Idempotency-Key`: replays byte for byte whatever the new body, one execution among concurrent
//! duplicates, scopes by key + secret key + method + path, 300-character limit.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::app::{Config, OTHER_KEY, TestApp, TestServer, basic};
use crate::snapshot;

#[tokio::test]
async fn a_repeat_replays_the_first_answer_even_with_another_body() {
    let app = TestApp::new();
    let a = app.session("order-idem-1", 1000).await;
    let b = app.session("order-idem-2", 2000).await;
    let first = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": a, "orderId": "order-idem-1", "amount": 1000}),
            &[("idempotency-key", "confirm-1")],
        )
        .await;
    assert_eq!(first.status, 200);
    let repeat = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": b, "orderId": "order-idem-2", "amount": 2000}),
            &[("idempotency-key", "confirm-1")],
        )
        .await;
    assert_eq!(repeat.status, 200);
    assert_eq!(repeat.bytes, first.bytes, "not replayed byte for byte");
    // b was never executed
    assert_eq!(
        app.get(&format!("/v1/payments/{b}")).await.json["status"],
        "IN_PROGRESS"
    );
    let stats = app.get("/__mock/stats").await.json;
    assert_eq!(
        stats["endpoints"]["POST /v1/payments/confirm"]["REPLAYED"],
        1
    );
}

#[tokio::test]
async fn errors_are_replayed_too() {
    let app = TestApp::new();
    let key = app.session("order-idem-3", 1000).await;
    let wrong = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-idem-3", "amount": 1}),
            &[("idempotency-key", "confirm-3")],
        )
        .await;
    wrong.assert_error(400, "INVALID_REQUEST");
    let right = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-idem-3", "amount": 1000}),
            &[("idempotency-key", "confirm-3")],
        )
        .await;
    assert_eq!(right.status, 400);
    assert_eq!(right.bytes, wrong.bytes);
}

#[tokio::test]
async fn scopes_differ_by_path_method_and_secret_key() {
    let app = TestApp::new();
    let same = [("idempotency-key", "one-key")];
    let created = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-idem-4", "amount": 1000}),
            &same,
        )
        .await;
    let key = created.json["paymentKey"].as_str().unwrap().to_string();
    let done = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-idem-4", "amount": 1000}),
            &same,
        )
        .await;
    assert_eq!(done.json["status"], "DONE", "{}", done.json);
    let canceled = app
        .post(
            &format!("/v1/payments/{key}/cancel"),
            json!({"cancelReason": "r"}),
            &same,
        )
        .await;
    assert_eq!(canceled.json["status"], "CANCELED", "{}", canceled.json);
    // the other secret key has its own scope on the same path
    let other = basic(OTHER_KEY);
    let created_other = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-idem-5", "amount": 1000}),
            &[("idempotency-key", "one-key"), ("authorization", &other)],
        )
        .await;
    assert_eq!(created_other.json["orderId"], "order-idem-5");
    // GETs ignore the header
    let shown = app
        .call("GET", &format!("/v1/payments/{key}"), None, &same)
        .await;
    assert_eq!(shown.json["status"], "CANCELED");
}

#[tokio::test]
async fn keys_over_300_characters_are_400_invalid_idempotency_key() {
    let app = TestApp::new();
    let long = "k".repeat(301);
    let answer = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-idem-6", "amount": 1000}),
            &[("idempotency-key", &long)],
        )
        .await;
    answer.assert_error(400, "INVALID_IDEMPOTENCY_KEY");
    snapshot!("idempotency_key_too_long", &answer.json);
    let limit = "k".repeat(300);
    let ok = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-idem-6", "amount": 1000}),
            &[("idempotency-key", &limit)],
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_run_once_and_the_rest_get_409() {
    let server = TestServer::start(Config {
        chaos: toss_mock::Chaos {
            latency: Some("fixed:500ms".parse().unwrap()),
            ..Default::default()
        },
        ..Config::default()
    })
    .await;
    let key = server.session("order-idem-7", 1000).await;
    let answers = futures::future::join_all((0..20).map(|_| {
        let request = server
            .confirm(&key, "order-idem-7", 1000)
            .header("idempotency-key", "same-confirm");
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_string())
        }
    }))
    .await;
    let done = answers.iter().filter(|(s, _)| *s == 200).count();
    let busy = answers
        .iter()
        .filter(|(s, c)| *s == 409 && c == "IDEMPOTENT_REQUEST_PROCESSING")
        .count();
    assert_eq!((done, busy), (1, 19), "{answers:?}");
    let (_, stats) = server.get_json("/__mock/stats").await;
    assert_eq!(stats["approved"]["count"], 1);
    // once finished, a repeat gets the answer
    let again = server
        .confirm(&key, "order-idem-7", 1000)
        .header("idempotency-key", "same-confirm")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let _ = server.request(Method::GET, "/healthz");
}
