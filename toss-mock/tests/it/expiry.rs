//! Session expiry on tokio's paused clock: IN_PROGRESS after 10 minutes, READY after 30.

use std::time::Duration;

use crate::app::TestApp;
use crate::snapshot;

#[tokio::test(start_paused = true)]
async fn in_progress_expires_after_ten_minutes() {
    let app = TestApp::new();
    let key = app.session("order-expiry-1", 1000).await;
    tokio::time::advance(Duration::from_secs(9 * 60 + 59)).await;
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["status"], "IN_PROGRESS");
    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(expired.status, 200);
    assert_eq!(expired.json["status"], "EXPIRED");
    assert_eq!(expired.json["failure"]["code"], "EXPIRED_PAYMENT");
    assert_eq!(expired.json["method"], serde_json::Value::Null);
    assert_eq!(expired.json["approvedAt"], serde_json::Value::Null);
    assert!(expired.json["checkout"]["url"].is_string());
    snapshot!("lookup_expired", &expired.json);
    let confirm = app.confirm(&key, "order-expiry-1", 1000).await;
    confirm.assert_error(404, "NOT_FOUND_PAYMENT_SESSION");
    // by orderId too
    let by_order = app.get("/v1/payments/orders/order-expiry-1").await;
    assert_eq!(by_order.json["status"], "EXPIRED");
}

#[tokio::test(start_paused = true)]
async fn ready_expires_after_thirty_minutes() {
    let app = TestApp::new();
    let created = app
        .post(
            "/__mock/payments",
            serde_json::json!({"orderId": "order-expiry-2", "amount": 1000, "status": "READY"}),
            &[],
        )
        .await;
    let key = created.json["paymentKey"].as_str().unwrap().to_string();
    tokio::time::advance(Duration::from_secs(29 * 60)).await;
    assert_eq!(
        app.get(&format!("/v1/payments/{key}")).await.json["status"],
        "READY"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    let expired = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(expired.json["status"], "EXPIRED");
    assert_eq!(expired.json["failure"]["code"], "EXPIRED_PAYMENT");
}

#[tokio::test(start_paused = true)]
async fn expiries_are_configurable() {
    let app = TestApp::with(crate::app::Config {
        in_progress_expiry: Duration::from_secs(5),
        ..crate::app::pinned_config()
    });
    let key = app.session("order-expiry-3", 1000).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    app.confirm(&key, "order-expiry-3", 1000)
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT_SESSION");
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_payment_never_expires() {
    let app = TestApp::new();
    let key = app.paid("order-expiry-4", 1000).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(
        app.get(&format!("/v1/payments/{key}")).await.json["status"],
        "DONE"
    );
}
