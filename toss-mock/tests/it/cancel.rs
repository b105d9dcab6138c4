//! Cancel: full, partial then the rest, over the balance, twice, before approval, no reason.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::snapshot;

#[tokio::test]
async fn full_cancel_is_canceled_with_one_entry() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-1", 1000).await;
    let canceled = app.cancel(&key, json!({"cancelReason": "고객 변심"})).await;
    assert_eq!(canceled.status, 200, "{}", canceled.json);
    let p = &canceled.json;
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["balanceAmount"], 0);
    assert_eq!(p["totalAmount"], 1000);
    assert_eq!(p["vat"], 0);
    assert_eq!(p["suppliedAmount"], 0);
    assert_eq!(p["cancels"].as_array().unwrap().len(), 1);
    assert_eq!(p["cancels"][0]["cancelAmount"], 1000);
    assert_eq!(p["cancels"][0]["refundableAmount"], 0);
    assert_eq!(p["cancels"][0]["cancelStatus"], "DONE");
    assert_eq!(p["lastTransactionKey"], p["cancels"][0]["transactionKey"]);
    snapshot!("cancel_full", &canceled.json);
}

#[tokio::test]
async fn partial_cancels_accumulate_then_cancel_the_rest() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-2", 15000).await;
    let approval_tx =
        app.get(&format!("/v1/payments/{key}")).await.json["lastTransactionKey"].clone();
    let half = app
        .cancel(
            &key,
            json!({"cancelReason": "부분 취소", "cancelAmount": 5000}),
        )
        .await;
    assert_eq!(half.status, 200, "{}", half.json);
    let p = &half.json;
    assert_eq!(p["status"], "PARTIAL_CANCELED");
    assert_eq!(p["balanceAmount"], 10000);
    assert_eq!(p["vat"], 909);
    assert_eq!(p["suppliedAmount"], 9091);
    assert_eq!(p["cancels"][0]["refundableAmount"], 10000);
    assert_ne!(p["lastTransactionKey"], approval_tx);
    snapshot!("cancel_partial", &half.json);

    let rest = app
        .cancel(
            &key,
            json!({"cancelReason": "나머지", "cancelAmount": "10000"}),
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.json);
    let p = &rest.json;
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["balanceAmount"], 0);
    let cancels = p["cancels"].as_array().unwrap();
    assert_eq!(cancels.len(), 2);
    assert_ne!(cancels[0]["transactionKey"], cancels[1]["transactionKey"]);
    assert_eq!(p["lastTransactionKey"], cancels[1]["transactionKey"]);
    assert_eq!(p["totalAmount"], 15000);
}

#[tokio::test]
async fn over_the_balance_or_not_positive_is_403_not_cancelable_amount() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-3", 1000).await;
    for amount in [json!(1001), json!(0), json!(-5)] {
        let answer = app
            .cancel(&key, json!({"cancelReason": "r", "cancelAmount": amount}))
            .await;
        answer.assert_error(403, "NOT_CANCELABLE_AMOUNT");
    }
    app.cancel(&key, json!({"cancelReason": "r", "cancelAmount": 600}))
        .await;
    app.cancel(&key, json!({"cancelReason": "r", "cancelAmount": 401}))
        .await
        .assert_error(403, "NOT_CANCELABLE_AMOUNT");
}

#[tokio::test]
async fn canceling_twice_is_400_already_canceled_payment() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-4", 1000).await;
    assert_eq!(
        app.cancel(&key, json!({"cancelReason": "r"})).await.status,
        200
    );
    let again = app.cancel(&key, json!({"cancelReason": "r"})).await;
    again.assert_error(400, "ALREADY_CANCELED_PAYMENT");
    snapshot!("cancel_twice", &again.json);
}

#[tokio::test]
async fn an_unapproved_payment_is_403_not_cancelable_payment() {
    let app = TestApp::new();
    let key = app.session("order-cancel-5", 1000).await;
    app.cancel(&key, json!({"cancelReason": "r"}))
        .await
        .assert_error(403, "NOT_CANCELABLE_PAYMENT");
}

#[tokio::test]
async fn a_missing_reason_is_400_invalid_request() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-6", 1000).await;
    for body in [
        json!({}),
        json!({"cancelReason": ""}),
        json!({"cancelReason": 5}),
        json!({"cancelAmount": 10}),
    ] {
        app.cancel(&key, body)
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
    // none of them touched the payment
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["status"], "DONE");
    assert_eq!(shown.json["cancels"], Value::Null);
}

#[tokio::test]
async fn an_unknown_payment_is_404_not_found_payment() {
    let app = TestApp::new();
    app.cancel("tshop20240213121757AAAAA", json!({"cancelReason": "r"}))
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
}

#[tokio::test]
async fn a_stale_refundable_amount_is_refused() {
    let app = TestApp::new();
    let key = app.paid("order-cancel-7", 1000).await;
    app.cancel(
        &key,
        json!({"cancelReason": "r", "cancelAmount": 100, "refundableAmount": 900}),
    )
    .await
    .assert_error(400, "NOT_MATCHES_REFUNDABLE_AMOUNT");
    let ok = app
        .cancel(
            &key,
            json!({"cancelReason": "r", "cancelAmount": 100, "refundableAmount": 1000}),
        )
        .await;
    assert_eq!(ok.json["balanceAmount"], 900);
}
