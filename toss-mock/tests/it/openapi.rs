//! The OpenAPI document at `/__mock/schema` against its checked-in copy,
//! `docs/openapi/toss-mock.json`: a change to a route, a body or an error shape shows up as a diff
//! to review. `UPDATE_SCHEMA=1` rewrites the copy instead of failing.

use std::path::Path;

use crate::app::{Config, TestServer};

#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let server = TestServer::start(Config::default()).await;
    let response = server
        .request(reqwest::Method::GET, "/__mock/schema")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: serde_json::Value = response.json().await.unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docs/openapi/toss-mock.json");
    let update = std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1");
    http_edge::testing::check_document(&path, &served, update);
}
