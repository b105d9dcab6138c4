//! The product list and detail: DRF's pagination, filters, ordering, the anonymous page cache and
//! its invalidation, and the 404s.

use serde_json::Value;

use crate::app::TestApp;

/// 45 products over 3 categories, 1 user.
async fn seeded(app: &TestApp) {
    let pool = fixtures::seed::pool(&app.database_url).unwrap();
    let plan = fixtures::seed::SeedPlan {
        users: 1,
        products: 45,
        categories: 3,
        hash_iterations: 1000,
        ..fixtures::seed::SeedPlan::default()
    };
    fixtures::seed::seed(&pool, &plan).await.unwrap();
}

fn host(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

pub async fn the_list_is_paginated_like_drf(app: TestApp) {
    seeded(&app).await;
    let reply = app.get("/api/products/", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
    let body = reply.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    assert_eq!(body["count"], 45);
    assert_eq!(body["next"], format!("{}/api/products/?page=2", host(&app)));
    assert_eq!(body["previous"], Value::Null);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    let first = &results[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "description",
            "price",
            "status",
            "category",
            "stock"
        ]
    );
    assert_eq!(first["name"], "load_test_product_0");
    assert_eq!(first["status"], "active");
    assert_eq!(first["stock"].to_string(), r#"{"available_stock":10000}"#);
    assert_eq!(first["category"]["name"], "load_test_category_0");

    let last = app.get("/api/products/?page=last", None).await.json();
    assert_eq!(last["results"].as_array().unwrap().len(), 5);
    assert_eq!(
        last["previous"],
        format!("{}/api/products/?page=2", host(&app))
    );
    assert_eq!(last["next"], Value::Null);
    let second = app
        .get("/api/products/?page=2&search=load", None)
        .await
        .json();
    assert_eq!(
        second["previous"],
        format!("{}/api/products/?search=load", host(&app))
    );
    assert_eq!(
        second["next"],
        format!("{}/api/products/?page=3&search=load", host(&app))
    );
    for bad in ["99", "0", "abc"] {
        app.get(&format!("/api/products/?page={bad}"), None)
            .await
            .assert(404, r#"{"detail":"Invalid page."}"#);
    }
}

pub async fn filters_and_ordering(app: TestApp) {
    seeded(&app).await;
    let category: i64 =
        sqlx::query_scalar("SELECT id FROM products_category WHERE name = 'load_test_category_1'")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let body = app
        .get(&format!("/api/products/?category={category}"), None)
        .await
        .json();
    assert_eq!(body["count"], 15);
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"]["id"] == category)
    );
    for bad in ["abc", "999999"] {
        app.get(&format!("/api/products/?category={bad}"), None).await.assert(
            400,
            r#"{"category":["Select a valid choice. That choice is not one of the available choices."]}"#,
        );
    }
    let body = app
        .get("/api/products/?search=product_4", None)
        .await
        .json();
    // product_4 and product_40..44
    assert_eq!(body["count"], 6);
    let body = app.get("/api/products/?search=100%25", None).await.json();
    assert_eq!(body["count"], 0, "% is matched literally");
    let prices = |body: &Value| -> Vec<i64> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["price"].as_i64().unwrap())
            .collect()
    };
    let descending = prices(&app.get("/api/products/?ordering=-price", None).await.json());
    assert!(
        descending.windows(2).all(|w| w[0] >= w[1]),
        "{descending:?}"
    );
    let ascending = prices(&app.get("/api/products/?ordering=price", None).await.json());
    assert!(ascending.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}");
    // An unknown ordering falls back to the default, as OrderingFilter does.
    assert_eq!(
        app.get("/api/products/?ordering=bogus", None).await.status,
        200
    );
}

pub async fn anonymous_pages_are_cached_until_the_catalog_changes(app: TestApp) {
    seeded(&app).await;
    let first = app.get("/api/products/", None).await.text;
    sqlx::query("UPDATE products_product SET price = 1 WHERE name = 'load_test_product_0'")
        .execute(&app.state.db)
        .await
        .unwrap();
    // Served from Redis: the change is not seen yet by anonymous users...
    assert_eq!(app.get("/api/products/", None).await.text, first);
    // ...but an authenticated user is never served a cached page.
    app.create_user("reader", "pw", true).await;
    let (_, access) = app.login("reader", "pw").await;
    let fresh = app.get("/api/products/", Some(&access)).await.json();
    assert_eq!(fresh["results"][0]["price"], 1);
    // A change through the shop invalidates every cached page.
    target_shop::catalog::cache::invalidate(&app.state).await;
    assert_eq!(
        app.get("/api/products/", None).await.json()["results"][0]["price"],
        1
    );
}

/// A page read from the database just before a change lands must not outlive the change: it is
/// stored under the key taken before the read, which the change has retired.
pub async fn a_page_read_before_a_change_is_never_served_after_it(app: TestApp) {
    use target_shop::catalog::cache;
    let key = cache::page_key(&app.state, "race?").await.unwrap();
    cache::invalidate(&app.state).await;
    cache::put(&app.state, &key, "stale").await;
    let now = cache::page_key(&app.state, "race?").await.unwrap();
    assert_ne!(now, key);
    assert_eq!(cache::get(&app.state, &now).await, None);
}

pub async fn detail_and_its_404s(app: TestApp) {
    seeded(&app).await;
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM products_product WHERE name = 'load_test_product_3'")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let reply = app.get(&format!("/api/products/{id}/"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
    let body = reply.json();
    assert_eq!(
        body["stock"].to_string(),
        r#"{"available_stock":10000,"physical_stock":10000,"reserved_stock":0}"#
    );
    app.get("/api/products/999999/", None)
        .await
        .assert(404, r#"{"detail":"No Product matches the given query."}"#);
    app.get("/api/products/abc/", None)
        .await
        .assert(404, r#"{"detail":"Not found."}"#);
}

pub async fn public_views_still_refuse_a_bad_token(app: TestApp) {
    app.get("/api/products/", Some("garbage")).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid"}]}"#,
    );
    let reply = app
        .post_json("/api/products/", &serde_json::json!({}))
        .await;
    reply.assert(405, r#"{"detail":"Method \"POST\" not allowed."}"#);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
    app.get("/api/products/", None).await.assert(
        200,
        r#"{"count":0,"next":null,"previous":null,"results":[]}"#,
    );
}

pub async fn the_no_cache_fault_serves_every_page_from_the_database(app: TestApp) {
    seeded(&app).await;
    let app = app.with_faults(&["no-cache"]).await;
    app.get("/api/products/", None).await;
    sqlx::query("UPDATE products_product SET price = 7 WHERE name = 'load_test_product_0'")
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/products/", None).await.json()["results"][0]["price"],
        7
    );
}

/// Calls of statements that look like `pattern` in this test's database (pg_stat_statements).
async fn calls(app: &TestApp, pattern: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s
         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE $1",
    )
    .bind(pattern)
    .fetch_one(&app.state.db)
    .await
    .unwrap()
}

pub async fn the_n_plus_one_fault_queries_per_product_with_the_same_answer(app: TestApp) {
    seeded(&app).await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&app.state.db)
        .await
        .expect("pg_stat_statements is preloaded by every stack provider");
    let correct = app
        .get("/api/products/?ordering=price", Some(&login(&app).await))
        .await
        .json();
    let per_product = "SELECT name FROM products_category WHERE id = $%";
    assert_eq!(calls(&app, per_product).await, 0);
    let app = app.with_faults(&["n-plus-one"]).await;
    let token = login(&app).await;
    let faulty = app
        .get("/api/products/?ordering=price", Some(&token))
        .await
        .json();
    // The same answer (the shop restarted on another port, so links differ), only slower.
    assert_eq!(faulty["results"], correct["results"]);
    assert_eq!(
        calls(&app, per_product).await,
        20,
        "one category query per product on the page"
    );
    assert_eq!(
        calls(
            &app,
            "SELECT available_stock, physical_stock, reserved_stock FROM products_productstock%"
        )
        .await,
        20
    );
}

async fn login(app: &TestApp) -> String {
    app.login("load_test_user_0", "testpass123").await.1
}
