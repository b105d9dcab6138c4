//! `TossPayments-Test-Code`: test keys only, before any other check, unknown codes refused.

use serde_json::json;

use crate::app::{TestApp, basic};
use crate::snapshot;

const HEADER: &str = "tosspayments-test-code";

#[tokio::test]
async fn a_decline_code_fails_the_confirm_and_aborts_the_session() {
    let app = TestApp::new();
    let key = app.session("order-code-1", 1000).await;
    let declined = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-code-1", "amount": 1000}),
            &[(HEADER, "REJECT_CARD_PAYMENT")],
        )
        .await;
    declined.assert_error(403, "REJECT_CARD_PAYMENT");
    assert_eq!(
        declined.json["message"],
        "한도초과 혹은 잔액부족으로 결제에 실패했습니다."
    );
    snapshot!("test_code_reject_card_payment", &declined.json);
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["status"], "ABORTED");
    assert_eq!(shown.json["failure"]["code"], "REJECT_CARD_PAYMENT");
    assert_eq!(shown.json["method"], "카드");
    assert!(shown.json["lastTransactionKey"].is_string());
    snapshot!("lookup_aborted", &shown.json);
    app.confirm(&key, "order-code-1", 1000)
        .await
        .assert_error(400, "ALREADY_PROCESSED_PAYMENT");
}

#[tokio::test]
async fn documented_codes_answer_their_status_before_any_other_check() {
    let app = TestApp::new();
    // A bogus paymentKey and body: the test code still wins (observed at Toss).
    for (code, status) in [
        ("PROVIDER_ERROR", 400),
        ("FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", 500),
        ("COMMON_ERROR", 500),
        ("DUPLICATED_ORDER_ID", 400),
        ("EXCEED_MAX_DAILY_PAYMENT_COUNT", 400),
        ("UNKNOWN_PAYMENT_ERROR", 500),
        ("IDEMPOTENT_REQUEST_PROCESSING", 409),
        ("ALREADY_PROCESSED_PAYMENT", 400),
    ] {
        app.call(
            "POST",
            "/v1/payments/confirm",
            Some("{not json"),
            &[(HEADER, code)],
        )
        .await
        .assert_error(status, code);
    }
    app.call(
        "GET",
        "/v1/payments/orders/nothing-here",
        None,
        &[(HEADER, "FORBIDDEN_CONSECUTIVE_REQUEST")],
    )
    .await
    .assert_error(403, "FORBIDDEN_CONSECUTIVE_REQUEST");
    app.call(
        "POST",
        "/v1/payments/tshop20240213121757AAAAA/cancel",
        Some("{}"),
        &[(HEADER, "NOT_CANCELABLE_PAYMENT")],
    )
    .await
    .assert_error(403, "NOT_CANCELABLE_PAYMENT");
}

#[tokio::test]
async fn an_unknown_code_is_400_invalid_test_code() {
    let app = TestApp::new();
    let answer = app
        .call(
            "GET",
            "/v1/payments/orders/order-code-2",
            None,
            &[(HEADER, "NO_SUCH_CODE")],
        )
        .await;
    answer.assert_error(400, "INVALID_TEST_CODE");
    assert_eq!(answer.json["message"], "유효하지 않은 테스트 코드입니다.");
    snapshot!("test_code_invalid", &answer.json);
}

#[tokio::test]
async fn live_keys_ignore_test_codes() {
    let app = TestApp::with(crate::app::Config {
        secret_keys: vec!["live_sk_shopload".into()],
        ..crate::app::pinned_config()
    });
    let live = basic("live_sk_shopload");
    let answer = app
        .call(
            "GET",
            "/v1/payments/orders/order-code-3",
            None,
            &[("authorization", &live), (HEADER, "REJECT_CARD_PAYMENT")],
        )
        .await;
    answer.assert_error(404, "NOT_FOUND_PAYMENT");
}

#[tokio::test]
async fn auth_comes_before_the_test_code() {
    let app = TestApp::new();
    let wrong = basic("test_sk_nope");
    app.call(
        "GET",
        "/v1/payments/orders/order-code-4",
        None,
        &[("authorization", &wrong), (HEADER, "REJECT_CARD_PAYMENT")],
    )
    .await
    .assert_error(401, "UNAUTHORIZED_KEY");
}
