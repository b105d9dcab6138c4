//! Bounded memory: payments and idempotency records past their retention, or over their count,
//! are evicted.

use std::time::Duration;

use serde_json::json;

use crate::app::{Config, TestApp, pinned_config};

#[tokio::test(start_paused = true)]
async fn payments_past_their_retention_are_swept_out() {
    let app = TestApp::with(Config {
        payment_retention: Duration::from_secs(60),
        ..pinned_config()
    });
    let key = app.paid("order-evict-1", 1000).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(app.state.sweep(), (0, 0));
    assert_eq!(app.get(&format!("/v1/payments/{key}")).await.status, 200);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(app.state.sweep(), (1, 0));
    app.get(&format!("/v1/payments/{key}"))
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
    app.get("/v1/payments/orders/order-evict-1")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
}

#[tokio::test(start_paused = true)]
async fn the_count_of_payments_is_bounded() {
    let app = TestApp::with(Config {
        max_payments: 128,
        ..pinned_config()
    });
    for i in 0..2000 {
        app.session(&format!("order-bound-{i:05}"), 1000).await;
    }
    let stored = app.get("/__mock/stats").await.json["stored"]["payments"]
        .as_u64()
        .unwrap();
    assert!(stored <= 128, "{stored}");
    // the newest are kept, the oldest gone
    assert_eq!(
        app.get("/v1/payments/orders/order-bound-01999")
            .await
            .status,
        200
    );
    app.get("/v1/payments/orders/order-bound-00000")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
}

#[tokio::test(start_paused = true)]
async fn idempotency_records_expire_after_their_retention() {
    let app = TestApp::with(Config {
        idempotency_retention: Duration::from_secs(15 * 24 * 3600),
        ..pinned_config()
    });
    let body = json!({"orderId": "order-evict-3", "amount": 1000});
    let first = app
        .post(
            "/__mock/payments",
            body.clone(),
            &[("idempotency-key", "k")],
        )
        .await;
    tokio::time::advance(Duration::from_secs(15 * 24 * 3600 - 1)).await;
    let replay = app
        .post(
            "/__mock/payments",
            body.clone(),
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(replay.bytes, first.bytes);
    tokio::time::advance(Duration::from_secs(1)).await;
    let fresh = app
        .post("/__mock/payments", body, &[("idempotency-key", "k")])
        .await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.json["paymentKey"], first.json["paymentKey"]);
}

#[tokio::test]
async fn the_server_sweeps_expired_payments() {
    let server = crate::app::TestServer::start(Config {
        payment_retention: Duration::from_millis(200),
        sweep_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    for i in 0..50 {
        server.session(&format!("order-sweep-{i:03}"), 1000).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = server.get_json("/__mock/stats").await;
        if stats["stored"]["payments"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never swept: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
