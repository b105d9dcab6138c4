//! Confirm: the full Payment object on success, mismatches, re-confirms, unknown keys.

use serde_json::json;

use crate::app::TestApp;
use crate::snapshot;

/// Every field of Toss's Payment object, in Toss's order (toss-mock.md).
const FIELDS: [&str; 37] = [
    "mId",
    "lastTransactionKey",
    "paymentKey",
    "orderId",
    "orderName",
    "taxExemptionAmount",
    "status",
    "requestedAt",
    "approvedAt",
    "useEscrow",
    "cultureExpense",
    "card",
    "virtualAccount",
    "transfer",
    "mobilePhone",
    "giftCertificate",
    "cashReceipt",
    "cashReceipts",
    "discount",
    "cancels",
    "secret",
    "type",
    "easyPay",
    "country",
    "failure",
    "isPartialCancelable",
    "receipt",
    "checkout",
    "currency",
    "totalAmount",
    "balanceAmount",
    "suppliedAmount",
    "vat",
    "taxFreeAmount",
    "metadata",
    "method",
    "version",
];

const CARD_FIELDS: [&str; 12] = [
    "issuerCode",
    "acquirerCode",
    "number",
    "installmentPlanMonths",
    "isInterestFree",
    "interestPayer",
    "approveNo",
    "useCardPoint",
    "cardType",
    "ownerType",
    "acquireStatus",
    "amount",
];

#[tokio::test]
async fn confirm_answers_200_done_with_every_field() {
    let app = TestApp::new();
    let key = app.session("order-confirm-1", 15000).await;
    let done = app.confirm(&key, "order-confirm-1", 15000).await;
    assert_eq!(done.status, 200, "{}", done.json);
    let p = &done.json;
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, FIELDS);
    let card: Vec<&str> = p["card"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(card, CARD_FIELDS);
    assert_eq!(p["status"], "DONE");
    assert_eq!(p["paymentKey"], key.as_str());
    assert_eq!(p["mId"], "tosspayments");
    assert_eq!(p["method"], "카드");
    assert_eq!(p["version"], "2022-11-16");
    assert_eq!(p["vat"], 1364);
    assert_eq!(p["suppliedAmount"], 13636);
    assert_eq!(p["totalAmount"], 15000);
    assert_eq!(p["balanceAmount"], 15000);
    assert_eq!(p["cancels"], serde_json::Value::Null);
    assert_eq!(p["card"]["amount"], 15000);
    let tx = p["lastTransactionKey"].as_str().unwrap();
    assert!(
        tx.len() == 32
            && tx
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    let number = p["card"]["number"].as_str().unwrap();
    assert!(number.contains("****"), "{number}");
    for time in ["requestedAt", "approvedAt"] {
        let t = p[time].as_str().unwrap();
        // KST, whole seconds: 2024-02-13T12:18:14+09:00
        assert_eq!(t.len(), 25, "{t}");
        assert!(t.ends_with("+09:00"), "{t}");
        chrono::DateTime::parse_from_rfc3339(t).unwrap();
    }
    assert!(key.starts_with("tshop") && key.len() == 24, "{key}");
    snapshot!("confirm_done", &done.json);
}

#[tokio::test]
async fn amount_may_be_a_numeric_string() {
    let app = TestApp::new();
    let key = app.session("order-confirm-2", 1000).await;
    let done = app
        .post(
            "/v1/payments/confirm",
            json!({"paymentKey": key, "orderId": "order-confirm-2", "amount": "1000"}),
            &[],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.json);
    assert_eq!(done.json["vat"], 91);
    assert_eq!(done.json["suppliedAmount"], 909);
}

#[tokio::test]
async fn other_order_id_or_amount_is_400_invalid_request() {
    let app = TestApp::new();
    let key = app.session("order-confirm-3", 1000).await;
    let wrong_amount = app.confirm(&key, "order-confirm-3", 999).await;
    wrong_amount.assert_error(400, "INVALID_REQUEST");
    snapshot!("confirm_mismatch", &wrong_amount.json);
    app.confirm(&key, "order-confirm-X", 1000)
        .await
        .assert_error(400, "INVALID_REQUEST");
    // Neither consumed the session.
    assert_eq!(app.confirm(&key, "order-confirm-3", 1000).await.status, 200);
}

#[tokio::test]
async fn second_confirm_is_400_already_processed_payment() {
    let app = TestApp::new();
    let key = app.paid("order-confirm-4", 1000).await;
    let again = app.confirm(&key, "order-confirm-4", 1000).await;
    again.assert_error(400, "ALREADY_PROCESSED_PAYMENT");
    assert_eq!(again.json["message"], "이미 처리된 결제 입니다.");
    snapshot!("confirm_already_processed", &again.json);
    // and after a cancel as well
    app.cancel(&key, json!({"cancelReason": "test"})).await;
    app.confirm(&key, "order-confirm-4", 1000)
        .await
        .assert_error(400, "ALREADY_PROCESSED_PAYMENT");
}

#[tokio::test]
async fn unknown_payment_key_is_404_not_found_payment_session() {
    let app = TestApp::new();
    let answer = app
        .confirm("tshop20240213121757AAAAA", "order-confirm-5", 1000)
        .await;
    answer.assert_error(404, "NOT_FOUND_PAYMENT_SESSION");
    assert_eq!(
        answer.json["message"],
        "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다."
    );
    app.confirm(
        "5EnNZRJGvaBX7zk2yd8ydw26XvwXkLrx9POLqKQjmAw4b0e1",
        "order-confirm-5",
        1000,
    )
    .await
    .assert_error(404, "NOT_FOUND_PAYMENT_SESSION");
}

#[tokio::test]
async fn a_ready_session_cannot_be_confirmed_yet() {
    let app = TestApp::new();
    let created = app
        .post(
            "/__mock/payments",
            json!({"orderId": "order-confirm-6", "amount": 1000, "status": "READY"}),
            &[],
        )
        .await;
    assert_eq!(created.json["status"], "READY");
    let key = created.json["paymentKey"].as_str().unwrap();
    app.confirm(key, "order-confirm-6", 1000)
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT_SESSION");
    let shown = app.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(shown.json["status"], "READY");
    assert_eq!(shown.json["method"], serde_json::Value::Null);
    assert_eq!(shown.json["card"], serde_json::Value::Null);
    assert_eq!(shown.json["lastTransactionKey"], serde_json::Value::Null);
}
