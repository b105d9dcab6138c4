//! simplejwt's token views and JWT authentication, body for body.

use base64::Engine;
use serde_json::json;

use crate::app::{Reply, TestApp};

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn get_with_authorization(app: &TestApp, path: &str, authorization: &str) -> Reply {
    Reply::of(
        app.client
            .get(app.url(path))
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn login_returns_a_simplejwt_pair(app: TestApp) {
    let id = app
        .create_user("load_test_user_0", "testpass123", true)
        .await;
    let reply = app
        .post_json(
            "/api/auth/login/",
            &json!({"username": "  load_test_user_0 ", "password": "testpass123"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("allow"), "POST, OPTIONS");
    assert!(
        reply
            .text
            .starts_with(r#"{"refresh":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."#)
    );
    let body = reply.json();
    let (refresh, access) = (
        claims(body["refresh"].as_str().unwrap()),
        claims(body["access"].as_str().unwrap()),
    );
    let keys = |c: &serde_json::Value| c.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&refresh),
        ["token_type", "exp", "iat", "jti", "user_id"]
    );
    assert_eq!(
        keys(&access),
        ["token_type", "exp", "iat", "jti", "user_id"]
    );
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(access["token_type"], "access");
    assert_eq!(access["user_id"], id.to_string());
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(access["jti"].as_str().unwrap().len(), 32);
    // Form-encoded logins work too (DRF's default parsers).
    let reply = Reply::of(
        app.client
            .post(app.url("/api/auth/login/"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("username=load_test_user_0&password=testpass123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

pub async fn a_django_made_hash_logs_in(app: TestApp) {
    // Django's pbkdf2_sha256 of "testpass123" with this salt at 1,000 iterations (hashlib).
    sqlx::query(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                                is_staff, is_active, date_joined)
         VALUES ('pbkdf2_sha256$1000$lNn2IGuaIE9WDPRJPiZFlq$Fzd0ej9UDq2tdCX4tgUmjTM8CJf2vq2fv3YbOeuLq/o=',
                 false, 'django_user', '', '', '', false, true, now())",
    )
    .execute(&app.state.db)
    .await
    .unwrap();
    app.login("django_user", "testpass123").await;
}

pub async fn wrong_unknown_and_inactive_logins_get_the_same_401(app: TestApp) {
    app.create_user("bob", "right", true).await;
    app.create_user("carol", "right", false).await;
    for (username, password) in [
        ("bob", "wrong"),
        ("nobody", "right"),
        ("carol", "right"),
        ("bob", " right "),
    ] {
        let reply = app
            .post_json(
                "/api/auth/login/",
                &json!({"username": username, "password": password}),
            )
            .await;
        if password == " right " {
            // trim_whitespace: the padded password is the right one.
            assert_eq!(reply.status, 200, "{}", reply.text);
            continue;
        }
        reply.assert(
            401,
            r#"{"detail":"No active account found with the given credentials"}"#,
        );
        assert_eq!(reply.header("www-authenticate"), r#"Bearer realm="api""#);
    }
}

pub async fn login_validation_errors_are_drfs(app: TestApp) {
    let cases = [
        (
            json!({}),
            r#"{"username":["This field is required."],"password":["This field is required."]}"#,
        ),
        (
            json!({"username": "", "password": null}),
            r#"{"username":["This field may not be blank."],"password":["This field may not be null."]}"#,
        ),
        (
            json!({"username": {"a": 1}, "password": "x"}),
            r#"{"username":["Not a valid string."]}"#,
        ),
        (
            json!([]),
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#,
        ),
        (
            json!("x"),
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}"#,
        ),
        (json!(null), r#"{"non_field_errors":["No data provided"]}"#),
    ];
    for (body, expected) in cases {
        let reply = app.post_json("/api/auth/login/", &body).await;
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (400, expected),
            "{body}"
        );
    }
}

pub async fn bad_bodies_get_drfs_answers(app: TestApp) {
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = app.client.post(app.url("/api/auth/login/")).body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        async move { Reply::of(request.send().await.unwrap()).await }
    };
    let reply = send(Some("application/json"), "{bad").await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{}",
        reply.text
    );
    send(Some("text/plain"), "hello").await.assert(
        415,
        r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
    );
    send(Some("text/plain; charset=utf-8"), "hello")
        .await
        .assert(
            415,
            r#"{"detail":"Unsupported media type \"text/plain; charset=utf-8\" in request."}"#,
        );
    send(None, "hello").await.assert(
        415,
        r#"{"detail":"Unsupported media type \"\" in request."}"#,
    );
    // An empty body is empty data, never a 415.
    let reply = send(Some("text/plain"), "").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    // Parameters on the request's content type are ignored.
    let reply = send(
        Some("application/json; charset=utf-8"),
        r#"{"username":"x","password":"y"}"#,
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    // An oversized body is refused without a 500.
    let big = "x".repeat(3_000_000);
    let reply = Reply::of(
        app.client
            .post(app.url("/api/auth/login/"))
            .header("Content-Type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
}

pub async fn refresh_and_verify(app: TestApp) {
    app.create_user("dave", "pw", true).await;
    let (refresh, access) = app.login("dave", "pw").await;
    let reply = app
        .post_json("/api/auth/refresh/", &json!({"refresh": refresh}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["access"]
    );
    let new_access = body["access"].as_str().unwrap();
    assert_eq!(claims(new_access)["token_type"], "access");
    app.get("/api/auth/me/", Some(new_access))
        .await
        .status
        .eq(&200)
        .then_some(())
        .unwrap();
    for token in [&refresh, &access] {
        app.post_json("/api/auth/verify/", &json!({ "token": token }))
            .await
            .assert(200, "{}");
    }
}

pub async fn refresh_and_verify_refuse_bad_tokens(app: TestApp) {
    app.create_user("erin", "pw", true).await;
    let (_, access) = app.login("erin", "pw").await;
    app.post_json("/api/auth/refresh/", &json!({ "refresh": access }))
        .await
        .assert(
            401,
            r#"{"detail":"Token has wrong type","code":"token_not_valid"}"#,
        );
    app.post_json("/api/auth/refresh/", &json!({ "refresh": "garbage" }))
        .await
        .assert(
            401,
            r#"{"detail":"Token is invalid","code":"token_not_valid"}"#,
        );
    app.post_json("/api/auth/refresh/", &json!({}))
        .await
        .assert(400, r#"{"refresh":["This field is required."]}"#);
    app.post_json("/api/auth/verify/", &json!({ "token": "garbage" }))
        .await
        .assert(
            401,
            r#"{"detail":"Token is invalid","code":"token_not_valid"}"#,
        );
    app.post_json("/api/auth/verify/", &json!({}))
        .await
        .assert(400, r#"{"token":["This field is required."]}"#);
    app.state.clock.advance(301);
    app.post_json("/api/auth/verify/", &json!({ "token": access }))
        .await
        .assert(
            401,
            r#"{"detail":"Token is expired","code":"token_not_valid"}"#,
        );
}

pub async fn me_with_a_valid_token(app: TestApp) {
    let id = app.create_user("frank", "pw", true).await;
    let (_, access) = app.login("frank", "pw").await;
    let reply = app.get("/api/auth/me/", Some(&access)).await;
    reply.assert(
        200,
        &format!(r#"{{"id":{id},"username":"frank","email":"frank@example.com","email_verified":true,"points":0}}"#),
    );
    assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
}

pub async fn me_authentication_failures(app: TestApp) {
    let not_provided = r#"{"detail":"Authentication credentials were not provided."}"#;
    app.get("/api/auth/me/", None)
        .await
        .assert(401, not_provided);
    // A scheme other than exactly `Bearer` is anonymous.
    for header in ["Token abc", "bearer abc", "JWT abc"] {
        get_with_authorization(&app, "/api/auth/me/", header)
            .await
            .assert(401, not_provided);
    }
    let bad_header = r#"{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}"#;
    for header in ["Bearer", "Bearer a b"] {
        get_with_authorization(&app, "/api/auth/me/", header)
            .await
            .assert(401, bad_header);
    }
    let reply = get_with_authorization(&app, "/api/auth/me/", "Bearer garbage").await;
    reply.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid"}]}"#,
    );
    assert_eq!(reply.header("www-authenticate"), r#"Bearer realm="api""#);
    app.create_user("gina", "pw", true).await;
    let (refresh, _) = app.login("gina", "pw").await;
    app.get("/api/auth/me/", Some(&refresh)).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"}]}"#,
    );
}

pub async fn an_expired_access_token_is_refused(app: TestApp) {
    app.create_user("hank", "pw", true).await;
    let (_, access) = app.login("hank", "pw").await;
    assert_eq!(app.get("/api/auth/me/", Some(&access)).await.status, 200);
    app.state.clock.advance(300);
    app.get("/api/auth/me/", Some(&access)).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is expired"}]}"#,
    );
}

pub async fn a_deleted_user_is_not_found(app: TestApp) {
    let id = app.create_user("ivan", "pw", true).await;
    let (_, access) = app.login("ivan", "pw").await;
    sqlx::query("DELETE FROM accounts_profile WHERE user_id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM auth_user WHERE id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .unwrap();
    app.get("/api/auth/me/", Some(&access)).await.assert(
        401,
        r#"{"detail":"User not found","code":"user_not_found"}"#,
    );
}

pub async fn the_short_token_fault_shortens_access_tokens(app: TestApp) {
    app.create_user("judy", "pw", true).await;
    let app = app.with_faults(&["short-token=30"]).await;
    let (refresh, access) = app.login("judy", "pw").await;
    let access_claims = claims(&access);
    assert_eq!(
        access_claims["exp"].as_i64().unwrap() - access_claims["iat"].as_i64().unwrap(),
        30
    );
    let refresh_claims = claims(&refresh);
    assert_eq!(
        refresh_claims["exp"].as_i64().unwrap() - refresh_claims["iat"].as_i64().unwrap(),
        86_400
    );
    app.state.clock.advance(30);
    let reply = app.get("/api/auth/me/", Some(&access)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.text.contains("Token is expired"), "{}", reply.text);
}
