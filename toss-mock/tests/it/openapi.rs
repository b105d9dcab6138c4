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
    assert_eq!(served["openapi"], "3.1.0");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docs/openapi/toss-mock.json");
    compare(&path, &served);
}

/// `served` pretty-printed against the file at `path`, or written there with `UPDATE_SCHEMA=1`.
fn compare(path: &Path, served: &serde_json::Value) {
    let served = format!("{}\n", serde_json::to_string_pretty(served).unwrap());
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(path, &served).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if checked_in != served {
        let diff = similar::TextDiff::from_lines(&checked_in, &served)
            .unified_diff()
            .context_radius(3)
            .header(&path.display().to_string(), "served")
            .to_string();
        panic!(
            "the served OpenAPI document differs from {} (run with UPDATE_SCHEMA=1 to accept it):\n{diff}",
            path.display()
        );
    }
}
