//! The OpenAPI document at `/api/schema/` against its checked-in copy, `docs/openapi/shop.json`:
//! a change to a route, a body or an error shape shows up as a diff to review. `UPDATE_SCHEMA=1`
//! rewrites the copy instead of failing. And what schemathesis (`cargo xtask fuzz-api`) found, each
//! answered as DRF answers it.

use std::path::Path;

use crate::app::TestApp;

pub async fn the_served_document_is_the_checked_in_one(app: TestApp) {
    let reply = app.get("/api/schema/", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), "application/json");
    let served = reply.json();
    // drf-spectacular's `?format=json` gives the same document.
    let json = app.get("/api/schema/?format=json", None).await;
    assert_eq!(json.text, reply.text);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docs/openapi/shop.json");
    let update = std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1");
    http_edge::testing::check_document(&path, &served, update);
}

/// A NUL reaching PostgreSQL was a 500 (`invalid byte sequence for encoding "UTF8": 0x00`). DRF's
/// `CharField` refuses it (`ProhibitNullCharactersValidator`), SearchFilter's too (its bare list),
/// and a key with a NUL cannot name a stored payment.
pub async fn a_nul_in_any_text_is_drfs_400_or_a_404_never_a_500(app: TestApp) {
    app.create_user("nul", "pw", true).await;
    app.post_json(
        "/api/auth/login/",
        &serde_json::json!({"username": "nu\0l", "password": "pw"}),
    )
    .await
    .assert(400, r#"{"username":["Null characters are not allowed."]}"#);
    app.get("/api/products/?search=a%00b", None)
        .await
        .assert(400, r#"["Null characters are not allowed."]"#);
    let (_, access) = app.login("nul", "pw").await;
    let confirm = serde_json::json!({"paymentKey": "k\0", "orderId": "ORD-1", "amount": 1});
    app.send(
        reqwest::Method::POST,
        "/api/payments/confirm/",
        &access,
        Some(&confirm),
    )
    .await
    .assert(
        400,
        r#"{"paymentKey":["Null characters are not allowed."]}"#,
    );
    let too_long = serde_json::json!({"cancelReason": format!("{}\0", "x".repeat(200))});
    app.send(reqwest::Method::POST, "/api/payments/key/cancel/", &access, Some(&too_long))
        .await
        .assert(
            400,
            r#"{"cancelReason":["Ensure this field has no more than 200 characters.","Null characters are not allowed."]}"#,
        );
    app.send(
        reqwest::Method::POST,
        "/api/payments/k%00/cancel/",
        &access,
        None,
    )
    .await
    .assert(404, r#"{"detail":"No Payment matches the given query."}"#);
}
