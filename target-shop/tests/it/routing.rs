//! Routing as Django and DRF do it: Allow headers, 405 after authentication, APPEND_SLASH, the HTML
//! 404, and the health check.

use crate::app::{Reply, TestApp};

pub async fn token_views_answer_post_only(app: TestApp) {
    let reply = app.get("/api/auth/login/", None).await;
    reply.assert(405, r#"{"detail":"Method \"GET\" not allowed."}"#);
    assert_eq!(reply.header("allow"), "POST, OPTIONS");
    assert_eq!(reply.header("content-type"), "application/json");
    // Token views ignore the Authorization header entirely.
    let reply = app.get("/api/auth/login/", Some("garbage")).await;
    assert_eq!(reply.status, 405);
    let reply = Reply::of(
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/auth/login/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["name"], "Token Obtain Pair");
}

pub async fn authentication_comes_before_the_method_check(app: TestApp) {
    let reply = app.post_json("/api/auth/me/", &serde_json::json!({})).await;
    reply.assert(
        401,
        r#"{"detail":"Authentication credentials were not provided."}"#,
    );
    assert_eq!(reply.header("www-authenticate"), r#"Bearer realm="api""#);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");

    app.create_user("alice", "pw-alice", true).await;
    let (_, access) = app.login("alice", "pw-alice").await;
    let reply = Reply::of(
        app.client
            .post(app.url("/api/auth/me/"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert(405, r#"{"detail":"Method \"POST\" not allowed."}"#);
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
}

pub async fn a_missing_trailing_slash_is_redirected(app: TestApp) {
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let reply = Reply::of(
            app.client
                .request(method.clone(), app.url("/api/auth/login?next=1"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 301, "{method}");
        assert_eq!(reply.header("location"), "/api/auth/login/?next=1");
        assert_eq!(reply.text, "");
    }
}

pub async fn unknown_urls_get_djangos_html_404(app: TestApp) {
    for path in ["/api/nothing/", "/api/nothing", "/"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(reply.text.len(), 179, "{path}: {}", reply.text);
        assert!(reply.text.contains("<h1>Not Found</h1>"));
    }
}

pub async fn healthz_reports_both_stores(app: TestApp) {
    app.get("/healthz", None)
        .await
        .assert(200, r#"{"status":"ok","db":"ok","redis":"ok"}"#);
}

pub async fn the_pool_fault_starves_requests_into_a_500(app: TestApp) {
    let app = app.with_faults(&["pool=1"]).await;
    assert_eq!(app.state.db.options().get_max_connections(), 1);
    // Someone holds the only connection: the next request waits 5 s for it, then fails as Django
    // would, with the HTML 500 and nothing of the error in the body.
    let held = app.state.db.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let reply = app.get("/api/products/", None).await;
    assert_eq!(reply.status, 500, "{}", reply.text);
    assert!(started.elapsed() >= std::time::Duration::from_secs(5));
    assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
    assert!(reply.text.contains("<h1>Server Error (500)</h1>"));
    assert!(reply.headers.get("allow").is_none());
    drop(held);
    assert_eq!(app.get("/api/products/", None).await.status, 200);
}

pub async fn metrics_count_requests_by_route_and_show_the_pool(app: TestApp) {
    for _ in 0..3 {
        app.get("/api/products/", None).await;
    }
    app.get("/api/products/42/", None).await;
    let reply = app.get("/api/auth/me/", None).await;
    let request_id = reply.header("x-request-id").to_string();
    assert_eq!(request_id.len(), 32);
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = &metrics.text;
    for line in [
        r#"shop_http_requests_total{method="GET",route="/api/products/",status="200"} 3"#,
        r#"shop_http_requests_total{method="GET",route="/api/products/{id}/",status="404"} 1"#,
        r#"shop_http_requests_total{method="GET",route="/api/auth/me/",status="401"} 1"#,
        r#"shop_http_request_duration_seconds_count{method="GET",route="/api/products/",status="200"} 3"#,
        "shop_db_pool_max_connections 5",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    assert!(
        text.contains(r#"shop_db_pool_connections{state="idle"}"#),
        "{text}"
    );
    // A request id the client sends is kept.
    let reply = Reply::of(
        app.client
            .get(app.url("/healthz"))
            .header("X-Request-Id", "load-test-17")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), "load-test-17");
}
