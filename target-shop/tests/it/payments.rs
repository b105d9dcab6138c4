//! Payment confirm and cancel against the real Toss mock: paid once whatever the retries, races
//! and chaos; refused with DRF's shapes and Toss's codes; stock committed and returned exactly once.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use toss_mock::stats::Money;

use crate::app::TestApp;
use crate::degradation::restart_as_the_pool_sees_it;
use crate::toss::{
    self, ConfirmGate, TossMock, confirm, order, order_status, payments, shop, stock,
};

/// Ids, numbers, keys and times differ per run.
macro_rules! assert_payment_snapshot {
    ($body:expr) => {
        insta::assert_json_snapshot!($body, {
            ".order.id" => "[id]",
            ".order.order_number" => "[order_number]",
            ".order.created_at" => "[time]",
            ".order.items[].product_id" => "[id]",
            ".payment.paymentKey" => "[payment_key]",
            ".payment.orderId" => "[order_number]",
            ".payment.approvedAt" => "[time]",
        })
    };
}

async fn reservation_statuses(app: &TestApp, order: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT status FROM products_stockreservation WHERE order_id = $1 ORDER BY id",
    )
    .bind(order)
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

pub async fn a_confirm_pays_the_order_once(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    assert_eq!(total, 30_000);
    assert_eq!(stock(&app, ids[0]).await, (10_000, 2, 9_998));
    let key = toss.checkout(&number, total).await;

    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("allow"), "POST, OPTIONS");
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["payment"]["paymentKey"], key.as_str());
    assert_eq!(body["payment"]["orderId"], number.as_str());
    assert_eq!(
        body["order"],
        app.get(&format!("/api/orders/{id}/"), Some(token))
            .await
            .json(),
        "the order as GET /api/orders/{{id}}/ shows it"
    );
    assert_payment_snapshot!(body);
    // Sold: out of the warehouse and out of the reservation both.
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    assert_eq!(reservation_statuses(&app, id).await, ["committed"]);
    assert_eq!(payments(&app, id).await, [(key.clone(), "DONE".into())]);

    // The buyer's browser retries: refused without asking Toss.
    confirm(&app, token, &key, &number, total).await.assert(
        409,
        &format!(r#"{{"error_code":"ALREADY_PAID","detail":"Order {number} is already paid."}}"#),
    );
    let stats = toss.stats().await;
    assert_eq!(
        stats.approved,
        Money {
            count: 1,
            amount: 30_000
        }
    );
    assert_eq!(
        stats.endpoints["POST /v1/payments/confirm"],
        toss::outcomes(&[("OK", 1)])
    );
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    // The e-mail and the points wait for the worker.
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("\nshop_jobs_backlog 2\n"), "{metrics}");
}

pub async fn concurrent_confirms_of_one_order_pay_once(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    let replies =
        futures::future::join_all((0..8).map(|_| confirm(&app, token, &key, &number, total))).await;
    let paid = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        paid,
        1,
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 200) {
        // Told it is paid, or that the same confirm is still running at Toss.
        let code = reply.json()["error_code"].clone();
        assert!(
            (reply.status, code.as_str()) == (409, Some("ALREADY_PAID"))
                || (reply.status, code.as_str()) == (400, Some("IDEMPOTENT_REQUEST_PROCESSING")),
            "{} {}",
            reply.status,
            reply.text
        );
    }
    assert_eq!(toss.stats().await.approved.count, 1);
    assert_eq!(payments(&app, id).await.len(), 1);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
}

pub async fn confirm_refuses_bad_input_and_orders_it_cannot_pay(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 2).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    let path = "/api/payments/confirm/";
    let post = |body: serde_json::Value| {
        let app = &app;
        async move { app.send(Method::POST, path, token, Some(&body)).await }
    };
    post(json!({})).await.assert(
        400,
        r#"{"paymentKey":["This field is required."],"orderId":["This field is required."],"amount":["This field is required."]}"#,
    );
    for (amount, error) in [
        (json!("abc"), "A valid integer is required."),
        (json!(1e30), "A valid integer is required."),
        (json!([1]), "A valid integer is required."),
        (json!(null), "This field may not be null."),
        (
            json!(-5),
            "Ensure this value is greater than or equal to 1.",
        ),
        (json!(0), "Ensure this value is greater than or equal to 1."),
    ] {
        post(json!({"paymentKey": "k", "orderId": number, "amount": amount}))
            .await
            .assert(400, &json!({"amount": [error]}).to_string());
    }
    post(json!({"paymentKey": "k".repeat(201), "orderId": number, "amount": total}))
        .await
        .assert(
            400,
            r#"{"paymentKey":["Ensure this field has no more than 200 characters."]}"#,
        );
    app.client
        .post(app.url(path))
        .json(&json!({"paymentKey": "k", "orderId": number, "amount": total}))
        .send()
        .await
        .map(|r| assert_eq!(r.status(), 401))
        .unwrap();

    let key = toss.checkout(&number, total).await;
    post(json!({"paymentKey": key, "orderId": number, "amount": total + 1}))
        .await
        .assert(
            400,
            r#"{"error_code":"AMOUNT_MISMATCH","detail":"Amount 30001 does not match the order total 30000."}"#,
        );
    // Another buyer's order does not exist for them; nor does an unknown one.
    app.send(
        Method::POST,
        path,
        &tokens[1],
        Some(&json!({"paymentKey": key, "orderId": number, "amount": total})),
    )
    .await
    .assert(404, r#"{"detail":"No Order matches the given query."}"#);
    post(json!({"paymentKey": key, "orderId": "ORD-20000101-999999", "amount": total}))
        .await
        .assert(404, r#"{"detail":"No Order matches the given query."}"#);
    let cancelled = app
        .send(
            Method::POST,
            &format!("/api/orders/{id}/cancel/"),
            token,
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    post(json!({"paymentKey": key, "orderId": number, "amount": total}))
        .await
        .assert(
            400,
            &format!(
                r#"{{"error_code":"ORDER_NOT_PAYABLE","detail":"Order {number} is cancelled and cannot be paid."}}"#
            ),
        );
    let stats = toss.stats().await;
    assert!(
        !stats.endpoints.contains_key("POST /v1/payments/confirm"),
        "Toss was never asked: {stats:?}"
    );
    assert!(payments(&app, id).await.is_empty());
}

pub async fn tosss_refusal_is_passed_through_and_the_order_stays_pending(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    toss.chaos(json!({"error_rate": 1.0})).await;
    let key = toss.checkout(&number, total).await;
    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    insta::assert_json_snapshot!(reply.json());
    assert_eq!(order_status(&app, id).await, "pending");
    assert_eq!(stock(&app, ids[0]).await, (10_000, 2, 9_998));
    assert!(payments(&app, id).await.is_empty());
    assert_eq!(toss.lookup(&number).await["status"], "ABORTED");

    // The buyer checks out again: a new payment, a new idempotency key, and it goes through.
    toss.chaos(json!({})).await;
    let key = toss.checkout(&number, total).await;
    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(order_status(&app, id).await, "paid");
}

pub async fn a_confirm_whose_answer_is_lost_still_pays_once(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    // Toss approves, then the connection drops before the shop hears it.
    toss.chaos(json!({"commit_then_drop_rate": 1.0})).await;
    let key = toss.checkout(&number, total).await;
    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["payment"]["status"], "DONE");
    assert_eq!(order_status(&app, id).await, "paid");
    assert_eq!(payments(&app, id).await, [(key.clone(), "DONE".into())]);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    let stats = toss.stats().await;
    assert_eq!(stats.approved.count, 1, "{stats:?}");
    assert_eq!(
        stats.endpoints["GET /v1/payments/orders/{order_id}"],
        toss::outcomes(&[("OK", 1)]),
        "settled by a lookup, not a second confirm: {stats:?}"
    );
    confirm(&app, token, &key, &number, total).await.assert(
        409,
        &format!(r#"{{"error_code":"ALREADY_PAID","detail":"Order {number} is already paid."}}"#),
    );
    assert_eq!(toss.stats().await.approved.count, 1);
}

pub async fn a_payment_approved_while_the_database_restarts_is_recorded_once_it_is_back(
    app: TestApp,
) {
    let toss = TossMock::start().await;
    let gate = ConfirmGate::start(&toss).await;
    let app = app.with_toss_url(gate.url()).await;
    let (tokens, ids) = shop(&app, 1).await;
    let (id, number, total) = order(&app, &tokens[0], ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    // While Toss decides, every connection the shop holds dies, as in a PostgreSQL restart: the
    // payment's record then meets a dead connection first.
    let (reply, ()) = tokio::join!(confirm(&app, &tokens[0], &key, &number, total), async {
        gate.arrived().await;
        assert!(restart_as_the_pool_sees_it(&app).await >= 1);
        gate.open();
    });
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(order_status(&app, id).await, "paid");
    assert_eq!(payments(&app, id).await, [(key, "DONE".into())]);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    assert_eq!(toss.stats().await.approved.count, 1);
}

pub async fn a_payment_approved_while_the_shop_was_down_is_recorded_at_start_up(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 2).await;
    let (id, number, total) = order(&app, &tokens[0], ids[0], 2).await;
    // Another pending order, never confirmed: Toss knows no payment for it.
    let (other, _, _) = order(&app, &tokens[1], ids[1], 1).await;
    let key = toss.checkout(&number, total).await;
    toss.approve(&key, &number, total).await;
    assert_eq!(
        order_status(&app, id).await,
        "pending",
        "the shop never heard of it"
    );

    let paid = target_shop::payments::settle_pending(app.state.clone()).await;
    assert_eq!(paid, 1);
    assert_eq!(order_status(&app, id).await, "paid");
    assert_eq!(payments(&app, id).await, [(key.clone(), "DONE".into())]);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    assert_eq!(reservation_statuses(&app, id).await, ["committed"]);
    assert_eq!(order_status(&app, other).await, "pending");
    let stats = toss.stats().await;
    assert_eq!(stats.approved.count, 1, "never confirmed twice: {stats:?}");
    // A second settling (another web process starting) finds nothing left to do.
    assert_eq!(
        target_shop::payments::settle_pending(app.state.clone()).await,
        0
    );
    assert_eq!(payments(&app, id).await, [(key, "DONE".into())]);
}

pub async fn a_timed_out_confirm_answers_503_and_a_retry_pays(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let app = app
        .with_config(|config| config.toss.timeout = Duration::from_millis(300))
        .await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    toss.chaos(json!({"timeout_rate": 1.0, "hang": "3s"})).await;
    let key = toss.checkout(&number, total).await;
    let started = Instant::now();
    let reply = confirm(&app, token, &key, &number, total).await;
    reply.assert(
        503,
        r#"{"error_code":"PAYMENT_PROVIDER_UNAVAILABLE","detail":"Payment provider unavailable, try again."}"#,
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the shop's timeout, not Toss's hang: {:?}",
        started.elapsed()
    );
    assert_eq!(order_status(&app, id).await, "pending");
    assert!(payments(&app, id).await.is_empty());
    assert_eq!(stock(&app, ids[0]).await, (10_000, 2, 9_998));
    assert_eq!(toss.lookup(&number).await["status"], "IN_PROGRESS");

    // Toss is back: the buyer's retry pays (once Toss has let go of the abandoned attempt).
    toss.chaos(json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = confirm(&app, token, &key, &number, total).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(
            reply.json()["error_code"],
            "IDEMPOTENT_REQUEST_PROCESSING",
            "{}",
            reply.text
        );
        assert!(Instant::now() < deadline, "still refused: {}", reply.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(order_status(&app, id).await, "paid");
    assert_eq!(toss.stats().await.approved.count, 1);
}

pub async fn money_taken_for_an_order_expired_meanwhile_is_refunded(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = tokens[0].clone();
    let (id, number, total) = order(&app, &token, ids[0], 2).await;
    toss.chaos(json!({"latency": "fixed:1s"})).await;
    let key = toss.checkout(&number, total).await;
    let app = std::sync::Arc::new(app);
    let confirming = tokio::spawn({
        let (app, key, number) = (app.clone(), key.clone(), number.clone());
        async move { confirm(&app, &token, &key, &number, total).await }
    });
    // While Toss deliberates (its in-flight idempotency record says it has the confirm), the
    // reservation runs out.
    let deadline = Instant::now() + Duration::from_secs(10);
    while toss.stats().await.stored.idempotency_records != 1 {
        assert!(Instant::now() < deadline, "the confirm never reached Toss");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("UPDATE products_stockreservation SET expires_at = now() - interval '1 second' WHERE order_id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let expired = target_shop::jobs::sweep_once(&app.state).await.unwrap();
    assert_eq!(expired.orders, 1);
    let reply = confirming.await.unwrap();
    reply.assert(
        400,
        &format!(
            r#"{{"error_code":"ORDER_NOT_PAYABLE","detail":"Order {number} is expired and cannot be paid; the payment was refunded."}}"#
        ),
    );
    assert_eq!(order_status(&app, id).await, "expired");
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    assert_eq!(payments(&app, id).await, [(key, "CANCELED".into())]);
    let stats = toss.stats().await;
    assert_eq!(stats.approved.count, 1);
    assert_eq!(
        stats.canceled,
        Money {
            count: 1,
            amount: total
        }
    );
}

pub async fn cancelling_a_payment_refunds_it_and_returns_the_stock(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 2).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    assert_eq!(confirm(&app, token, &key, &number, total).await.status, 200);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
    let path = format!("/api/payments/{key}/cancel/");

    app.send(
        Method::POST,
        &path,
        token,
        Some(&json!({"cancelReason": ""})),
    )
    .await
    .assert(400, r#"{"cancelReason":["This field may not be blank."]}"#);
    app.send(Method::POST, &path, &tokens[1], None)
        .await
        .assert(404, r#"{"detail":"No Payment matches the given query."}"#);
    let reply = app
        .send(
            Method::POST,
            &path,
            token,
            Some(&json!({"cancelReason": "changed my mind"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("allow"), "POST, OPTIONS");
    assert_payment_snapshot!(reply.json());
    // Back on the shelf, once.
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    assert_eq!(reservation_statuses(&app, id).await, ["released"]);
    assert_eq!(order_status(&app, id).await, "cancelled");
    assert_eq!(payments(&app, id).await, [(key.clone(), "CANCELED".into())]);
    assert_eq!(toss.lookup(&number).await["status"], "CANCELED");

    app.send(Method::POST, &path, token, None).await.assert(
        400,
        &format!(
            r#"{{"error_code":"PAYMENT_NOT_CANCELLABLE","detail":"Only a paid order's payment can be cancelled; order {number} is cancelled."}}"#
        ),
    );
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    assert_eq!(toss.stats().await.canceled.count, 1);
    // A paid order is refunded here, not cancelled through the order endpoint.
    let (id, number, total) = order(&app, token, ids[1], 1).await;
    let key = toss.checkout(&number, total).await;
    assert_eq!(confirm(&app, token, &key, &number, total).await.status, 200);
    let reply = app
        .send(
            Method::POST,
            &format!("/api/orders/{id}/cancel/"),
            token,
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["error_code"].clone()),
        (400, json!("ORDER_NOT_CANCELLABLE"))
    );
}

pub async fn a_paid_order_is_never_expired(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    assert_eq!(confirm(&app, token, &key, &number, total).await.status, 200);
    sqlx::query("UPDATE products_stockreservation SET expires_at = now() - interval '1 hour'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let expired = target_shop::jobs::sweep_once(&app.state).await.unwrap();
    assert_eq!(expired, target_shop::orders::Expired::default());
    assert_eq!(order_status(&app, id).await, "paid");
    assert_eq!(reservation_statuses(&app, id).await, ["committed"]);
    assert_eq!(stock(&app, ids[0]).await, (9_998, 0, 9_998));
}
