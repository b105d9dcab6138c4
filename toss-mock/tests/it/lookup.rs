//! Lookups by paymentKey and by orderId, in every state.

use serde_json::json;

use crate::app::TestApp;
use crate::snapshot;

#[tokio::test]
async fn lookup_by_payment_key_shows_the_current_state() {
    let app = TestApp::new();
    let key = app.session("order-lookup-1", 1000).await;
    let open = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(open.status, 200);
    assert_eq!(open.json["status"], "IN_PROGRESS");
    assert_eq!(open.json["approvedAt"], serde_json::Value::Null);
    app.confirm(&key, "order-lookup-1", 1000).await;
    let done = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(done.json["status"], "DONE");
    // A lookup shows exactly what the confirm answered.
    let confirmed_again = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(done.bytes, confirmed_again.bytes);
}

#[tokio::test]
async fn lookup_by_order_id_finds_the_same_payment() {
    let app = TestApp::new();
    let key = app.paid("order-lookup-2", 2000).await;
    let by_order = app.get("/v1/payments/orders/order-lookup-2").await;
    let by_key = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(by_order.status, 200);
    assert_eq!(by_order.bytes, by_key.bytes);
    assert_eq!(by_order.json["paymentKey"], key.as_str());
}

#[tokio::test]
async fn unknown_payments_are_404_not_found_payment() {
    let app = TestApp::new();
    let by_key = app.get("/v1/payments/tshop20240213121757AAAAA").await;
    by_key.assert_error(404, "NOT_FOUND_PAYMENT");
    assert_eq!(by_key.json["message"], "존재하지 않는 결제 정보 입니다.");
    snapshot!("lookup_not_found", &by_key.json);
    app.get("/v1/payments/orders/no-such-order")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
    app.get("/v1/payments/some-other-form-of-key")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
}

#[tokio::test]
async fn an_order_id_reopened_after_a_refusal_names_the_new_session() {
    let app = TestApp::new();
    let first = app.session("order-lookup-3", 1000).await;
    app.post(
        "/v1/payments/confirm",
        json!({"paymentKey": first, "orderId": "order-lookup-3", "amount": 1000}),
        &[("tosspayments-test-code", "REJECT_CARD_PAYMENT")],
    )
    .await;
    let second = app.paid("order-lookup-3", 1000).await;
    let shown = app.get("/v1/payments/orders/order-lookup-3").await;
    assert_eq!(shown.json["paymentKey"], second.as_str());
    assert_eq!(shown.json["status"], "DONE");
    // An approved orderId cannot be opened again.
    app.post(
        "/__mock/payments",
        json!({"orderId": "order-lookup-3", "amount": 1000}),
        &[],
    )
    .await
    .assert_error(400, "DUPLICATED_ORDER_ID");
}
