//! Stock reservation and orders: the ReservationResult shapes, all-or-nothing orders, cancel, and
//! the concurrency guarantee (never oversold, never negative).

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

/// `users` seeded users (with tokens) and products 0..4 with stock 10000 (ids returned).
async fn shop(app: &TestApp, users: u32) -> (Vec<String>, Vec<i64>) {
    let pool = fixtures::seed::pool(&app.database_url).unwrap();
    let plan = fixtures::seed::SeedPlan {
        users,
        products: 4,
        categories: 1,
        hash_iterations: 1000,
        ..fixtures::seed::SeedPlan::default()
    };
    fixtures::seed::seed(&pool, &plan).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM products_product ORDER BY id")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    let logins = (0..users).map(|i| async move {
        app.login(&format!("load_test_user_{i}"), "testpass123")
            .await
            .1
    });
    (futures::future::join_all(logins).await, ids)
}

async fn stock(app: &TestApp, product: i64) -> (i32, i32, i32) {
    sqlx::query_as("SELECT physical_stock, reserved_stock, available_stock FROM products_productstock WHERE product_id = $1")
        .bind(product)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn set_stock(app: &TestApp, product: i64, n: i32) {
    sqlx::query("UPDATE products_productstock SET physical_stock = $2, reserved_stock = 0, available_stock = $2 WHERE product_id = $1")
        .bind(product)
        .bind(n)
        .execute(&app.state.db)
        .await
        .unwrap();
}

pub async fn reservations_answer_with_a_reservation_result(app: TestApp) {
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let path = |id: i64| format!("/api/products/{id}/stock/reserve/");
    let reply = app
        .send(
            Method::POST,
            &path(ids[0]),
            token,
            Some(&json!({"quantity": 3})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("allow"), "POST, OPTIONS");
    let body = reply.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["success", "reservation", "error_message", "error_code"]
    );
    assert_eq!(body["success"], true);
    let reservation: Vec<&String> = body["reservation"].as_object().unwrap().keys().collect();
    assert_eq!(
        reservation,
        ["id", "product_id", "quantity", "status", "expires_at"]
    );
    assert_eq!(body["reservation"]["status"], "active");
    assert!(
        body["reservation"]["expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(stock(&app, ids[0]).await, (10_000, 3, 9_997));

    set_stock(&app, ids[1], 1).await;
    app.send(Method::POST, &path(ids[1]), token, Some(&json!({"quantity": 3}))).await.assert(
        400,
        r#"{"success":false,"reservation":null,"error_message":"Not enough stock: 3 requested, 1 available.","error_code":"INSUFFICIENT_STOCK"}"#,
    );
    sqlx::query("DELETE FROM products_productstock WHERE product_id = $1")
        .bind(ids[2])
        .execute(&app.state.db)
        .await
        .unwrap();
    let reply = app
        .send(
            Method::POST,
            &path(ids[2]),
            token,
            Some(&json!({"quantity": 1})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["error_code"].clone()),
        (400, json!("STOCK_NOT_FOUND"))
    );
    sqlx::query("UPDATE products_product SET status = 'inactive' WHERE id = $1")
        .bind(ids[3])
        .execute(&app.state.db)
        .await
        .unwrap();
    let reply = app
        .send(
            Method::POST,
            &path(ids[3]),
            token,
            Some(&json!({"quantity": 1})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["error_code"].clone()),
        (400, json!("PRODUCT_NOT_AVAILABLE"))
    );
    app.send(
        Method::POST,
        &path(999_999),
        token,
        Some(&json!({"quantity": 1})),
    )
    .await
    .assert(404, r#"{"detail":"No Product matches the given query."}"#);
    app.send(
        Method::POST,
        &path(ids[0]),
        token,
        Some(&json!({"quantity": -1})),
    )
    .await
    .assert(
        400,
        r#"{"quantity":["Ensure this value is greater than or equal to 1."]}"#,
    );
    // Nothing but the first reservation changed stock.
    assert_eq!(stock(&app, ids[0]).await, (10_000, 3, 9_997));
    assert_eq!(stock(&app, ids[1]).await, (1, 0, 1));
}

pub async fn an_order_reserves_the_whole_cart_and_empties_it(app: TestApp) {
    let (tokens, ids) = shop(&app, 2).await;
    let token = &tokens[0];
    for (product, quantity) in [(ids[0], 2), (ids[1], 1)] {
        let reply = app
            .send(
                Method::POST,
                "/api/cart/items/",
                token,
                Some(&json!({"product_id": product, "quantity": quantity})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let cart_total = app.get("/api/cart/", Some(token)).await.json()["total_amount"].clone();
    let reply = app
        .send(Method::POST, "/api/orders/", token, Some(&json!({})))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let order = reply.json();
    let keys: Vec<&String> = order.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "order_number",
            "status",
            "total_amount",
            "items",
            "created_at"
        ]
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total_amount"], cart_total);
    let number = order["order_number"].as_str().unwrap();
    assert!(
        number.starts_with("ORD-") && number.len() == "ORD-20261122-000001".len(),
        "{number}"
    );
    assert_eq!(
        app.get("/api/cart/", Some(token)).await.json()["items"],
        json!([])
    );
    assert_eq!(stock(&app, ids[0]).await, (10_000, 2, 9_998));
    assert_eq!(stock(&app, ids[1]).await, (10_000, 1, 9_999));

    let list = app.get("/api/orders/", Some(token)).await.json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["id"], order["id"]);
    let path = format!("/api/orders/{}/", order["id"]);
    assert_eq!(app.get(&path, Some(token)).await.json(), order);
    app.get(&path, Some(&tokens[1]))
        .await
        .assert(404, r#"{"detail":"No Order matches the given query."}"#);
    // An empty cart orders nothing.
    app.send(Method::POST, "/api/orders/", token, Some(&json!({})))
        .await
        .assert(400, r#"{"non_field_errors":["The cart is empty."]}"#);
}

pub async fn an_order_is_all_or_nothing(app: TestApp) {
    let (tokens, ids) = shop(&app, 1).await;
    set_stock(&app, ids[1], 2).await;
    let body = json!({"items": [{"product_id": ids[0], "quantity": 5}, {"product_id": ids[1], "quantity": 3}]});
    let reply = app
        .send(Method::POST, "/api/orders/", &tokens[0], Some(&body))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json()["error_code"], "INSUFFICIENT_STOCK");
    assert_eq!(
        stock(&app, ids[0]).await,
        (10_000, 0, 10_000),
        "the first line was rolled back"
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_order")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM products_stockreservation")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(reservations, 0);
    // Bad items get DRF's nested errors.
    let reply = app
        .send(
            Method::POST,
            "/api/orders/",
            &tokens[0],
            Some(&json!({"items": [{"product_id": ids[0]}, {"quantity": 0}]})),
        )
        .await;
    reply.assert(
        400,
        r#"{"items":{"1":{"product_id":["This field is required."],"quantity":["Ensure this value is greater than or equal to 1."]}}}"#,
    );
    app.send(
        Method::POST,
        "/api/orders/",
        &tokens[0],
        Some(&json!({"items": 5})),
    )
    .await
    .assert(
        400,
        r#"{"items":{"non_field_errors":["Expected a list of items but got type \"int\"."]}}"#,
    );
}

pub async fn cancelling_gives_the_stock_back_once(app: TestApp) {
    let (tokens, ids) = shop(&app, 1).await;
    let body = json!({"items": [{"product_id": ids[0], "quantity": 4}]});
    let order = app
        .send(Method::POST, "/api/orders/", &tokens[0], Some(&body))
        .await
        .json();
    assert_eq!(stock(&app, ids[0]).await, (10_000, 4, 9_996));
    let path = format!("/api/orders/{}/cancel/", order["id"]);
    let reply = app.send(Method::POST, &path, &tokens[0], None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["status"], "cancelled");
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    let again = app.send(Method::POST, &path, &tokens[0], None).await;
    assert_eq!(
        (again.status, again.json()["error_code"].clone()),
        (400, json!("ORDER_NOT_CANCELLABLE"))
    );
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
}

/// 200 buyers of one item each, at once, of a product with 50 in stock: `(orders created, told
/// INSUFFICIENT_STOCK, active reservations afterwards)`.
async fn rush(app: &TestApp, tokens: Vec<String>, product: i64) -> (usize, usize, i64) {
    set_stock(app, product, 50).await;
    let buy = |token: String| async move {
        let body = json!({"items": [{"product_id": product, "quantity": 1}]});
        app.send(Method::POST, "/api/orders/", &token, Some(&body))
            .await
    };
    let replies = futures::future::join_all(tokens.into_iter().map(buy)).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let insufficient = replies
        .iter()
        .filter(|r| r.status == 400 && r.json()["error_code"] == "INSUFFICIENT_STOCK")
        .count();
    let reserved: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0) FROM products_stockreservation WHERE product_id = $1 AND status = 'active'",
    )
    .bind(product)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    (created, insufficient, reserved)
}

pub async fn two_hundred_buyers_of_fifty_never_oversell(app: TestApp) {
    let (tokens, ids) = shop(&app, 200).await;
    let (created, insufficient, reserved) = rush(&app, tokens, ids[0]).await;
    assert_eq!(created, 50, "exactly the stock is sold");
    assert_eq!(insufficient, 150, "every other buyer is told why");
    assert_eq!(stock(&app, ids[0]).await, (50, 50, 0));
    assert_eq!(
        reserved, 50,
        "reserved stock equals the active reservations"
    );
}

pub async fn the_no_lock_fault_oversells(app: TestApp) {
    let (tokens, ids) = shop(&app, 200).await;
    let app = app.with_faults(&["no-lock"]).await;
    let (created, _, reserved) = rush(&app, tokens, ids[0]).await;
    let (physical, recorded_reserved, _) = stock(&app, ids[0]).await;
    // Lost updates: more reserved (and sold) than there is, and the stock row no longer knows.
    assert!(created > 50, "{created} orders for 50 items");
    assert!(
        reserved > i64::from(physical),
        "{reserved} reserved of {physical}"
    );
    assert!(
        i64::from(recorded_reserved) < reserved,
        "the stock row lost updates"
    );
}

pub async fn the_reservation_serializer_fault_is_a_500_that_changes_nothing(app: TestApp) {
    let (tokens, ids) = shop(&app, 1).await;
    let app = app.with_faults(&["reservation-serializer"]).await;
    let path = format!("/api/products/{}/stock/reserve/", ids[0]);
    let reply = app
        .send(
            Method::POST,
            &path,
            &tokens[0],
            Some(&json!({"quantity": 2})),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text);
    assert!(reply.text.contains("<h1>Server Error (500)</h1>"));
    assert!(
        !reply.text.contains("ReservationResult"),
        "the cause goes to the log, not the client"
    );
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    let app = app.with_faults(&[]).await;
    let reply = app
        .send(
            Method::POST,
            &path,
            &tokens[0],
            Some(&json!({"quantity": 2})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}
