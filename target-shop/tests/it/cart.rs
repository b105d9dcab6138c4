//! The cart and its items; the `cart-405` fault.

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

/// A user with a token, and three products: ids of product 0 (stock 10000), 1 (stock 3), 2 (none).
async fn shop(app: &TestApp) -> (String, [i64; 3]) {
    let pool = fixtures::seed::pool(&app.database_url).unwrap();
    let plan = fixtures::seed::SeedPlan {
        users: 1,
        products: 3,
        categories: 1,
        hash_iterations: 1000,
        ..fixtures::seed::SeedPlan::default()
    };
    fixtures::seed::seed(&pool, &plan).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM products_product ORDER BY id")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    sqlx::query("UPDATE products_productstock SET physical_stock = 3, available_stock = 3 WHERE product_id = $1")
        .bind(ids[1])
        .execute(&app.state.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM products_productstock WHERE product_id = $1")
        .bind(ids[2])
        .execute(&app.state.db)
        .await
        .unwrap();
    let (_, access) = app.login("load_test_user_0", "testpass123").await;
    (access, [ids[0], ids[1], ids[2]])
}

pub async fn adding_items_and_reading_the_cart(app: TestApp) {
    let (token, [a, b, _]) = shop(&app).await;
    let reply = app
        .send(
            Method::POST,
            "/api/cart/items/",
            &token,
            Some(&json!({"product_id": a, "quantity": 2})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("allow"), "GET, POST, HEAD, OPTIONS");
    let item = reply.json();
    assert_eq!(item["quantity"], 2);
    // Adding the same product again increases the line.
    let again = app
        .send(
            Method::POST,
            "/api/cart/items/",
            &token,
            Some(&json!({"product_id": a, "quantity": 3})),
        )
        .await
        .json();
    assert_eq!(
        (again["id"].clone(), again["quantity"].clone()),
        (item["id"].clone(), json!(5))
    );
    app.send(
        Method::POST,
        "/api/cart/items/",
        &token,
        Some(&json!({"product_id": b})),
    )
    .await;
    let cart = app.get("/api/cart/", Some(&token)).await;
    assert_eq!(cart.status, 200);
    let cart = cart.json();
    let keys: Vec<&String> = cart.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "items", "total_amount"]);
    let items = cart["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let expected: i64 = items.iter().map(|i| i["subtotal"].as_i64().unwrap()).sum();
    assert_eq!(cart["total_amount"], expected);
    let list = app.get("/api/cart/items/", Some(&token)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

pub async fn bad_cart_input_gets_drfs_answer_and_changes_nothing(app: TestApp) {
    let (token, [a, b, c]) = shop(&app).await;
    let cases = [
        (
            json!({"product_id": 999_999, "quantity": 1}),
            r#"{"product_id":["Invalid pk \"999999\" - object does not exist."]}"#,
        ),
        (
            json!({"product_id": a, "quantity": 0}),
            r#"{"quantity":["Ensure this value is greater than or equal to 1."]}"#,
        ),
        (
            json!({"product_id": a, "quantity": -5}),
            r#"{"quantity":["Ensure this value is greater than or equal to 1."]}"#,
        ),
        (
            json!({"product_id": a, "quantity": "many"}),
            r#"{"quantity":["A valid integer is required."]}"#,
        ),
        (
            json!({"product_id": a, "quantity": 1e30}),
            r#"{"quantity":["A valid integer is required."]}"#,
        ),
        (
            json!({"product_id": a, "quantity": 1001}),
            r#"{"quantity":["Ensure this value is less than or equal to 1000."]}"#,
        ),
        (
            json!({"quantity": 1}),
            r#"{"product_id":["This field is required."]}"#,
        ),
        (
            json!({"product_id": b, "quantity": 4}),
            r#"{"non_field_errors":["Not enough stock: 4 requested, 3 available."]}"#,
        ),
        (
            json!({"product_id": c, "quantity": 1}),
            r#"{"non_field_errors":["Not enough stock: 1 requested, 0 available."]}"#,
        ),
    ];
    for (body, expected) in cases {
        let reply = app
            .send(Method::POST, "/api/cart/items/", &token, Some(&body))
            .await;
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (400, expected),
            "{body}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_cartitem")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "no bad request wrote anything");
}

pub async fn items_are_private_to_their_owner(app: TestApp) {
    let (token, [a, _, _]) = shop(&app).await;
    let item = app
        .send(
            Method::POST,
            "/api/cart/items/",
            &token,
            Some(&json!({"product_id": a})),
        )
        .await
        .json();
    let path = format!("/api/cart/items/{}/", item["id"]);
    let updated = app
        .send(Method::PATCH, &path, &token, Some(&json!({"quantity": 7})))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["quantity"], 7);
    assert_eq!(updated.header("allow"), "PATCH, DELETE, OPTIONS");

    app.create_user("mallory", "pw", true).await;
    let (_, other) = app.login("mallory", "pw").await;
    let not_found = r#"{"detail":"No CartItem matches the given query."}"#;
    app.send(Method::PATCH, &path, &other, Some(&json!({"quantity": 1})))
        .await
        .assert(404, not_found);
    app.send(Method::DELETE, &path, &other, None)
        .await
        .assert(404, not_found);
    app.send(Method::DELETE, "/api/cart/items/abc/", &token, None)
        .await
        .assert(404, r#"{"detail":"Not found."}"#);

    let deleted = app.send(Method::DELETE, &path, &token, None).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    assert!(deleted.headers.get("content-type").is_none());
    app.send(Method::DELETE, &path, &token, None)
        .await
        .assert(404, not_found);
}

pub async fn the_cart_405_fault_refuses_post_like_a_read_only_viewset(app: TestApp) {
    let (token, [a, _, _]) = shop(&app).await;
    let app = app.with_faults(&["cart-405"]).await;
    let reply = app
        .send(
            Method::POST,
            "/api/cart/items/",
            &token,
            Some(&json!({"product_id": a, "quantity": 1})),
        )
        .await;
    reply.assert(405, r#"{"detail":"Method \"POST\" not allowed."}"#);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
    // Only that: reading still works, and without the fault POST works again.
    assert_eq!(app.get("/api/cart/items/", Some(&token)).await.status, 200);
    let app = app.with_faults(&[]).await;
    let reply = app
        .send(
            Method::POST,
            "/api/cart/items/",
            &token,
            Some(&json!({"product_id": a, "quantity": 1})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}
