//! The mock's own endpoints: sessions, stats, reset, chaos settings, health.

use serde_json::json;

use toss_mock::stats::StatsReport;

use crate::app::TestApp;
use crate::snapshot;

#[tokio::test]
async fn a_session_carries_a_success_url_like_tosss_redirect() {
    let app = TestApp::new();
    let created = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-mock-1", "amount": "15000", "orderName": "티셔츠"}),
            &[],
        )
        .await;
    assert_eq!(created.status, 200);
    let key = created.json["paymentKey"].as_str().unwrap();
    assert_eq!(
        created.json["successUrl"],
        format!(
            "http://127.0.0.1:8000/payments/success?paymentType=NORMAL&orderId=order-mock-1&paymentKey={key}&amount=15000"
        )
    );
    snapshot!("session_created", &created.json);
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["orderName"], "티셔츠");
    let custom = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-mock-2", "amount": 1, "successUrl": "https://shop.test/ok?x=1"}),
            &[],
        )
        .await;
    assert!(
        custom.json["successUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://shop.test/ok?x=1&paymentType=NORMAL&orderId=order-mock-2")
    );
}

#[tokio::test]
async fn stats_count_outcomes_statuses_and_money() {
    let app = TestApp::new();
    let a = app.paid("order-mock-3", 1000).await;
    app.paid("order-mock-4", 2000).await;
    app.confirm(&a, "order-mock-3", 1000).await;
    app.session("order-mock-5", 500).await;
    app.cancel(&a, json!({"cancelReason": "r", "cancelAmount": 400}))
        .await;
    let stats = app.get("/__mock/stats").await.json;
    let confirm = &stats["endpoints"]["POST /v1/payments/confirm"];
    assert_eq!(confirm["OK"], 2);
    assert_eq!(confirm["ALREADY_PROCESSED_PAYMENT"], 1);
    assert_eq!(stats["endpoints"]["POST /__mock/payments"]["OK"], 3);
    assert_eq!(stats["payments"]["DONE"], 1);
    assert_eq!(stats["payments"]["PARTIAL_CANCELED"], 1);
    assert_eq!(stats["payments"]["IN_PROGRESS"], 1);
    assert_eq!(stats["approved"], json!({"count": 2, "amount": 3000}));
    assert_eq!(stats["canceled"], json!({"count": 1, "amount": 400}));
}

#[tokio::test]
async fn reset_forgets_everything() {
    let app = TestApp::new();
    let key = app.paid("order-mock-6", 1000).await;
    assert_eq!(app.post("/__mock/reset", json!({}), &[]).await.status, 200);
    app.get(&format!("/v1/payments/{key}"))
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
    let stats = app.get("/__mock/stats").await.json;
    assert_eq!(stats["approved"]["count"], 0);
    assert_eq!(stats["stored"]["payments"], 0);
}

#[tokio::test]
async fn chaos_is_read_and_replaced_at_run_time() {
    let app = TestApp::new();
    let current = app.get("/__mock/chaos").await.json;
    assert_eq!(
        current,
        json!({"latency": null, "error_rate": 0.0, "error_code": "PROVIDER_ERROR",
               "timeout_rate": 0.0, "hang": "30s", "commit_then_drop_rate": 0.0})
    );
    let set = app
        .call(
            "PUT",
            "/__mock/chaos",
            Some(r#"{"latency":"lognormal:median=120ms,p99=900ms","error_rate":0.1,"hang":"2s"}"#),
            &[],
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json["latency"], "lognormal:median=120ms,p99=900ms");
    assert_eq!(app.get("/__mock/chaos").await.json, set.json);
    for bad in [
        r#"{"error_rate":2}"#,
        r#"{"latency":"gaussian:1s"}"#,
        r#"{"error_code":"NOPE"}"#,
        r#"{"error_rate":0.7,"timeout_rate":0.7}"#,
        r#"{"typo_rate":0.1}"#,
        "not json",
    ] {
        let refused = app.call("PUT", "/__mock/chaos", Some(bad), &[]).await;
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.code(), "INVALID_REQUEST", "{bad}");
    }
    // a refused setting leaves the previous one
    assert_eq!(app.get("/__mock/chaos").await.json, set.json);
}

#[tokio::test]
async fn chaos_refusals_abort_the_payment_with_the_chosen_code() {
    let app = TestApp::new();
    app.call(
        "PUT",
        "/__mock/chaos",
        Some(r#"{"error_rate":1.0,"error_code":"REJECT_CARD_COMPANY"}"#),
        &[],
    )
    .await;
    let key = app.session("order-mock-7", 1000).await;
    app.confirm(&key, "order-mock-7", 1000)
        .await
        .assert_error(403, "REJECT_CARD_COMPANY");
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["status"], "ABORTED");
    assert_eq!(shown.json["failure"]["code"], "REJECT_CARD_COMPANY");
}

#[tokio::test]
async fn healthz_is_200() {
    let app = TestApp::new();
    let health = app
        .call("GET", "/healthz", None, &[("authorization", "")])
        .await;
    assert_eq!(health.status, 200);
}

/// The stats answer is `StatsReport` byte for byte: what the mock sends is what its readers parse,
/// and the bytes are those the mock sent before the type existed.
#[tokio::test]
async fn stats_are_the_typed_report_byte_for_byte() {
    let app = TestApp::new();
    app.paid("order-mock-9", 1000).await;
    let answer = app.get("/__mock/stats").await;
    let bytes = String::from_utf8(answer.bytes).unwrap();
    assert_eq!(
        bytes,
        concat!(
            r#"{"endpoints":{"POST /__mock/payments":{"OK":1},"POST /v1/payments/confirm":{"OK":1}},"#,
            r#""payments":{"READY":0,"IN_PROGRESS":0,"DONE":1,"CANCELED":0,"PARTIAL_CANCELED":0,"ABORTED":0,"EXPIRED":0},"#,
            r#""approved":{"count":1,"amount":1000},"canceled":{"count":0,"amount":0},"#,
            r#""stored":{"payments":1,"idempotencyRecords":0}}"#
        )
    );
    let report: StatsReport = serde_json::from_str(&bytes).unwrap();
    assert_eq!(report.approved.amount, 1000);
    assert_eq!(report.payments.done, 1);
    assert_eq!(serde_json::to_string(&report).unwrap(), bytes);

    let renamed = bytes.replace("idempotencyRecords", "idempotency_records");
    let error = serde_json::from_str::<StatsReport>(&renamed).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("missing field `idempotencyRecords`"),
        "{error}"
    );
}
