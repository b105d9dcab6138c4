//! Bad input never panics and never gets axum's plain-text rejections: always Toss's
//! `{"code","message"}` with a 4xx.

use serde_json::json;

use crate::app::TestApp;
use crate::snapshot;

#[tokio::test]
async fn malformed_confirms_are_400_invalid_request() {
    let app = TestApp::new();
    let long_key = "k".repeat(201);
    let bodies = [
        "{not json".to_string(),
        "".to_string(),
        "[]".to_string(),
        "null".to_string(),
        json!({}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1"}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "amount": 1000}).to_string(),
        json!({"orderId": "order-input-1", "amount": 1000}).to_string(),
        json!({"paymentKey": 5, "orderId": "order-input-1", "amount": 1000}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": ["x"], "amount": 1000}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": "12a"}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": 10.5}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": 0}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": -1000}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": null}).to_string(),
        json!({"paymentKey": "", "orderId": "order-input-1", "amount": 1000}).to_string(),
        json!({"paymentKey": long_key, "orderId": "order-input-1", "amount": 1000}).to_string(),
        json!({"paymentKey": "tshop20240213121757AAAAA", "orderId": "order-input-1", "amount": 1e300}).to_string(),
    ];
    for body in bodies {
        let answer = app
            .call("POST", "/v1/payments/confirm", Some(&body), &[])
            .await;
        assert_eq!(answer.code(), "INVALID_REQUEST", "{body}: {}", answer.json);
        answer.assert_error(400, "INVALID_REQUEST");
    }
    let answer = app
        .call("POST", "/v1/payments/confirm", Some("{not json"), &[])
        .await;
    snapshot!("invalid_request", &answer.json);
}

#[tokio::test]
async fn a_payment_key_over_200_characters_is_refused_on_every_endpoint() {
    let app = TestApp::new();
    let long_key = "k".repeat(201);
    app.get(&format!("/v1/payments/{long_key}"))
        .await
        .assert_error(400, "INVALID_REQUEST");
    app.cancel(&long_key, json!({"cancelReason": "r"}))
        .await
        .assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn sessions_validate_like_a_payment_request() {
    let app = TestApp::new();
    for (body, code) in [
        (
            json!({"orderId": "short", "amount": 1000}),
            "INVALID_ORDER_ID",
        ),
        (
            json!({"orderId": "a".repeat(65), "amount": 1000}),
            "INVALID_ORDER_ID",
        ),
        (
            json!({"orderId": "order id 1", "amount": 1000}),
            "INVALID_ORDER_ID",
        ),
        (
            json!({"orderId": "order-input-2", "amount": 0}),
            "INVALID_REQUEST",
        ),
        (
            json!({"orderId": "order-input-2", "amount": "x"}),
            "INVALID_REQUEST",
        ),
        (json!({"orderId": "order-input-2"}), "INVALID_REQUEST"),
        (
            json!({"orderId": "order-input-2", "amount": 1, "status": "DONE"}),
            "INVALID_REQUEST",
        ),
        (
            json!({"orderId": "order-input-2", "amount": 1, "orderName": "n".repeat(101)}),
            "INVALID_ORDER_NAME",
        ),
    ] {
        app.post("/__mock/payments", body, &[])
            .await
            .assert_error(400, code);
    }
    // `=` is allowed in an orderId (Toss's English message and older SDKs)
    let ok = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order=input=3", "amount": "1"}),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_tosss_format() {
    let app = TestApp::new();
    app.get("/v1/nothing").await.assert_error(404, "NOT_FOUND");
    app.call("DELETE", "/v1/payments/confirm", None, &[])
        .await
        .assert_error(404, "NOT_FOUND_HTTP_METHOD");
    app.call("PUT", "/v1/payments/orders/order-input-4", Some("{}"), &[])
        .await
        .assert_error(404, "NOT_FOUND_HTTP_METHOD");
}

#[tokio::test]
async fn a_huge_body_is_refused_not_buffered_forever() {
    let app = TestApp::new();
    let body = format!("{{\"paymentKey\":\"{}\"}}", "k".repeat(3 * 1024 * 1024));
    app.call("POST", "/v1/payments/confirm", Some(&body), &[])
        .await
        .assert_error(400, "INVALID_REQUEST");
}
