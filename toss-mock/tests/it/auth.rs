//! Basic auth: unknown key, missing colon, no header, another key than the session's; English
//! messages on request.

use base64::Engine;
use serde_json::json;

use crate::app::{KEY, OTHER_KEY, TestApp, basic};
use crate::snapshot;

#[tokio::test]
async fn unknown_key_is_401_unauthorized_key() {
    let app = TestApp::new();
    let wrong = basic("test_sk_not_ours");
    let answer = app
        .call(
            "GET",
            "/v1/payments/orders/order-0001",
            None,
            &[("authorization", &wrong)],
        )
        .await;
    answer.assert_error(401, "UNAUTHORIZED_KEY");
    snapshot!("auth_unknown_key", &answer.json);
}

#[tokio::test]
async fn no_header_is_401_unauthorized_key() {
    let app = TestApp::new();
    let answer = app
        .call(
            "GET",
            "/v1/payments/orders/order-0001",
            None,
            &[("authorization", "")],
        )
        .await;
    answer.assert_error(401, "UNAUTHORIZED_KEY");
}

#[tokio::test]
async fn key_without_colon_is_403_incorrect_basic_auth_format() {
    let app = TestApp::new();
    let no_colon = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    );
    let answer = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": "x", "orderId": "order-0001", "amount": 1}),
            &[("authorization", &no_colon)],
        )
        .await;
    answer.assert_error(403, "INCORRECT_BASIC_AUTH_FORMAT");
    assert_eq!(
        answer.json["message"],
        "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요."
    );
}

#[tokio::test]
async fn confirm_with_another_configured_key_is_400_invalid_api_key() {
    let app = TestApp::new();
    let key = app.session("order-keys-1", 1000).await;
    let other = basic(OTHER_KEY);
    let answer = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-keys-1", "amount": 1000}),
            &[("authorization", &other)],
        )
        .await;
    answer.assert_error(400, "INVALID_API_KEY");
    // The session is untouched: its own key still confirms it.
    assert_eq!(app.confirm(&key, "order-keys-1", 1000).await.status, 200);
}

#[tokio::test]
async fn accept_language_en_us_answers_in_english() {
    let app = TestApp::new();
    let wrong = basic("test_sk_not_ours");
    let answer = app
        .call(
            "GET",
            "/v1/payments/orders/order-0001",
            None,
            &[("authorization", &wrong), ("accept-language", "en-US")],
        )
        .await;
    answer.assert_error(401, "UNAUTHORIZED_KEY");
    assert_eq!(
        answer.json["message"],
        "This is an unauthenticated secret key or client key."
    );
    let missing = app
        .call(
            "GET",
            "/v1/payments/orders/order-0001",
            None,
            &[("accept-language", "en-US,en;q=0.9")],
        )
        .await;
    missing.assert_error(404, "NOT_FOUND_PAYMENT");
    assert_eq!(missing.json["message"], "The payment does not exist.");
}

#[tokio::test]
async fn requests_refused_by_auth_are_not_recorded_for_idempotency() {
    let app = TestApp::new();
    let wrong = basic("test_sk_not_ours");
    let body = json!({"orderId": "order-auth-idem", "amount": 1000});
    app.post(
        "/__mock/payments",
        body.clone(),
        &[("authorization", &wrong), ("idempotency-key", "k1")],
    )
    .await
    .assert_error(401, "UNAUTHORIZED_KEY");
    // The same key with the right secret key runs for real.
    let created = app
        .post("/__mock/payments", body, &[("idempotency-key", "k1")])
        .await;
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(created.json["status"], "IN_PROGRESS");
}
