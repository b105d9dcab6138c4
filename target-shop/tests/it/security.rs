//! What an attacker tries (issue 19). auth.rs already has garbage, expired-access and wrong-type
//! tokens on `me` and the token views; here are the tokens an attacker crafts (another key, a
//! changed payload or header, `alg: none`, other algorithms), expired refresh tokens and the order
//! simplejwt judges in, another user's objects on every object route, bodies over Django's size
//! limit (DRF's answer), and the shop served through the edge (its header deadline, h2c).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_edge::testing::{CLOSED_SOON, closed_within, response, sent};
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};
use target_shop::auth::token::Tokens;
use target_shop::drf::MAX_BODY;
use tokio::io::AsyncWriteExt;

use crate::app::{Reply, TestApp};
use crate::toss::{self, TossMock};

const TOO_BIG: &str = r#"{"detail":"Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."}"#;

/// simplejwt's 401 on an authenticated view.
fn not_valid(message: &str) -> String {
    format!(
        r#"{{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{{"token_class":"AccessToken","token_type":"access","message":"{message}"}}]}}"#
    )
}

/// simplejwt's 401 from a token view (refresh, verify).
fn view_not_valid(message: &str) -> String {
    format!(r#"{{"detail":"{message}","code":"token_not_valid"}}"#)
}

/// A 401 with exactly `body` and simplejwt's `WWW-Authenticate`.
#[track_caller]
fn refused(reply: &Reply, body: &str, what: &str) {
    assert_eq!((reply.status, reply.text.as_str()), (401, body), "{what}");
    assert_eq!(
        reply.header("www-authenticate"),
        r#"Bearer realm="api""#,
        "{what}"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token's three dot-separated parts, and its claims.
fn split(token: &str) -> ([String; 3], Value) {
    let parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    (
        [parts[0].clone(), parts[1].clone(), parts[2].clone()],
        claims,
    )
}

/// `claims` under a header naming `alg`, signed with `secret` by that algorithm.
fn signed(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    let header = json!({"alg": format!("{alg:?}"), "typ": "JWT"});
    let input = format!("{}.{}", b64(&header), b64(claims));
    let key = EncodingKey::from_secret(secret);
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).unwrap();
    format!("{input}.{signature}")
}

fn another_key() -> Tokens {
    Tokens::new(
        b"not the shop's signing key",
        Duration::from_secs(300),
        Duration::from_secs(86_400),
    )
}

pub async fn crafted_tokens_get_simplejwts_token_is_invalid(app: TestApp) {
    let victim = app.create_user("victim", "pw", true).await;
    app.create_user("mallory", "pw", true).await;
    let (refresh, access) = app.login("mallory", "pw").await;
    let (_, second) = app.login("mallory", "pw").await;
    // Mallory's tokens as issued work: each refusal below is for what was changed.
    assert_eq!(app.get("/api/auth/me/", Some(&access)).await.status, 200);
    let ([header, payload, signature], claims) = split(&access);
    let [_, _, second_signature] = split(&second).0;
    let mut as_victim = claims.clone();
    as_victim["user_id"] = json!(victim.to_string());
    let mut for_ten_years = claims.clone();
    for_ten_years["exp"] = json!(claims["exp"].as_i64().unwrap() + 10 * 365 * 86_400);
    let none = b64(&json!({"alg": "none", "typ": "JWT"}));
    let hs512 = b64(&json!({"alg": "HS512", "typ": "JWT"}));
    let secret = app.config.jwt_secret.as_bytes();
    let now = app.state.clock.now();
    let crafted = [
        ("signed with another key", another_key().pair(victim, now).1),
        (
            "user_id changed, signature kept",
            format!("{header}.{}.{signature}", b64(&as_victim)),
        ),
        (
            "exp moved on, signature kept",
            format!("{header}.{}.{signature}", b64(&for_ten_years)),
        ),
        (
            "another token's signature",
            format!("{header}.{payload}.{second_signature}"),
        ),
        (
            "alg none, no signature",
            format!("{none}.{}.", b64(&as_victim)),
        ),
        (
            "alg none, signature kept",
            format!("{none}.{payload}.{signature}"),
        ),
        (
            "alg HS512, signature kept",
            format!("{hs512}.{payload}.{signature}"),
        ),
        (
            "HS512 with the shop's key",
            signed(Algorithm::HS512, &as_victim, secret),
        ),
        (
            "HS384 with the shop's key",
            signed(Algorithm::HS384, &as_victim, secret),
        ),
        ("signature cut off", format!("{header}.{payload}.")),
        ("two parts", format!("{header}.{payload}")),
    ];
    let invalid = not_valid("Token is invalid");
    let view_invalid = view_not_valid("Token is invalid");
    let empty = json!({});
    for (what, token) in &crafted {
        refused(&app.get("/api/auth/me/", Some(token)).await, &invalid, what);
        let write = app.send(Method::POST, "/api/orders/", token, Some(&empty));
        refused(&write.await, &invalid, what);
        let verify = json!({ "token": token });
        refused(
            &app.post_json("/api/auth/verify/", &verify).await,
            &view_invalid,
            what,
        );
    }

    // The same crafts on a refresh token get no access token out of the refresh view.
    let ([header, payload, signature], claims) = split(&refresh);
    let mut as_victim = claims.clone();
    as_victim["user_id"] = json!(victim.to_string());
    let crafted = [
        ("signed with another key", another_key().pair(victim, now).0),
        (
            "user_id changed, signature kept",
            format!("{header}.{}.{signature}", b64(&as_victim)),
        ),
        (
            "alg none, no signature",
            format!("{none}.{}.", b64(&as_victim)),
        ),
        (
            "alg HS512, signature kept",
            format!("{hs512}.{payload}.{signature}"),
        ),
        (
            "HS512 with the shop's key",
            signed(Algorithm::HS512, &as_victim, secret),
        ),
    ];
    for (what, token) in &crafted {
        let body = json!({ "refresh": token });
        refused(
            &app.post_json("/api/auth/refresh/", &body).await,
            &view_invalid,
            what,
        );
    }
}

pub async fn expired_and_wrong_type_tokens_are_judged_in_simplejwts_order(app: TestApp) {
    let id = app.create_user("erin", "pw", true).await;
    let (refresh, access) = app.login("erin", "pw").await;
    let (foreign_refresh, foreign_access) = another_key().pair(id, app.state.clock.now());
    // A refresh token is no access token on a route that writes either.
    app.send(Method::POST, "/api/orders/", &refresh, Some(&json!({})))
        .await
        .assert(401, &not_valid("Token has wrong type"));

    // Expired comes before the wrong type: PyJWT judges `exp` while decoding, simplejwt the type
    // afterwards.
    app.state.clock.advance(300);
    app.post_json("/api/auth/refresh/", &json!({ "refresh": access }))
        .await
        .assert(401, &view_not_valid("Token is expired"));
    app.send(Method::POST, "/api/orders/", &access, Some(&json!({})))
        .await
        .assert(401, &not_valid("Token is expired"));
    // The refresh token outlives its access token ...
    let renewed = app
        .post_json("/api/auth/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    // ... until its own day is over: refused by the refresh and verify views alike.
    app.state.clock.advance(86_400 - 300);
    let expired = view_not_valid("Token is expired");
    app.post_json("/api/auth/refresh/", &json!({ "refresh": refresh }))
        .await
        .assert(401, &expired);
    app.post_json("/api/auth/verify/", &json!({ "token": refresh }))
        .await
        .assert(401, &expired);
    // A token signed with another key is invalid before it is expired: the signature comes first.
    app.post_json("/api/auth/refresh/", &json!({ "refresh": foreign_refresh }))
        .await
        .assert(401, &view_not_valid("Token is invalid"));
    app.get("/api/auth/me/", Some(&foreign_access))
        .await
        .assert(401, &not_valid("Token is invalid"));
}

pub async fn another_users_objects_are_not_found_on_every_object_route(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = toss::shop(&app, 2).await;
    let (owner, intruder) = (&tokens[0], &tokens[1]);
    let item = app
        .send(
            Method::POST,
            "/api/cart/items/",
            owner,
            Some(&json!({"product_id": ids[0]})),
        )
        .await;
    assert_eq!(item.status, 201, "{}", item.text);
    let item = item.json()["id"].as_i64().unwrap();
    let (pending, pending_number, pending_total) = toss::order(&app, owner, ids[1], 1).await;
    let pending_key = toss.checkout(&pending_number, pending_total).await;
    let (paid, paid_number, paid_total) = toss::order(&app, owner, ids[2], 1).await;
    let paid_key = toss.checkout(&paid_number, paid_total).await;
    let confirmed = toss::confirm(&app, owner, &paid_key, &paid_number, paid_total).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let mut stock = Vec::new();
    for id in &ids {
        stock.push(toss::stock(&app, *id).await);
    }

    // Every object route, on the owner's object and on one that does not exist: the same 404,
    // byte for byte, so nothing tells the intruder that the owner's exists.
    let no_order = r#"{"detail":"No Order matches the given query."}"#;
    let no_item = r#"{"detail":"No CartItem matches the given query."}"#;
    let no_payment = r#"{"detail":"No Payment matches the given query."}"#;
    let routes = [
        (
            Method::GET,
            "/api/orders/{}/",
            pending.to_string(),
            no_order,
        ),
        (Method::GET, "/api/orders/{}/", paid.to_string(), no_order),
        (
            Method::POST,
            "/api/orders/{}/cancel/",
            pending.to_string(),
            no_order,
        ),
        (
            Method::PATCH,
            "/api/cart/items/{}/",
            item.to_string(),
            no_item,
        ),
        (
            Method::DELETE,
            "/api/cart/items/{}/",
            item.to_string(),
            no_item,
        ),
        (
            Method::POST,
            "/api/payments/{}/cancel/",
            paid_key.clone(),
            no_payment,
        ),
    ];
    let quantity = json!({"quantity": 2});
    for (method, pattern, theirs, not_found) in &routes {
        let body = (*method == Method::PATCH).then_some(&quantity);
        for id in [theirs.as_str(), "999999999"] {
            let path = pattern.replace("{}", id);
            let reply = app.send(method.clone(), &path, intruder, body).await;
            reply.assert(404, not_found);
        }
    }
    for order_id in [pending_number.as_str(), "ORD-20000101-999999"] {
        let body = json!({"paymentKey": pending_key, "orderId": order_id, "amount": pending_total});
        let reply = app.send(
            Method::POST,
            "/api/payments/confirm/",
            intruder,
            Some(&body),
        );
        reply.await.assert(404, no_order);
    }
    // The intruder's own lists show none of it.
    assert_eq!(
        app.get("/api/orders/", Some(intruder)).await.json()["count"],
        0
    );
    assert_eq!(
        app.get("/api/cart/items/", Some(intruder)).await.json(),
        json!([])
    );
    assert_eq!(
        app.get("/api/cart/", Some(intruder)).await.json()["items"],
        json!([])
    );

    // And nothing of the owner's changed, here or at Toss.
    let status = |reply: Reply| reply.json()["status"].clone();
    assert_eq!(
        status(
            app.get(&format!("/api/orders/{pending}/"), Some(owner))
                .await
        ),
        "pending"
    );
    assert_eq!(
        status(app.get(&format!("/api/orders/{paid}/"), Some(owner)).await),
        "paid"
    );
    let items = app.get("/api/cart/items/", Some(owner)).await.json();
    assert_eq!(
        (items[0]["id"].as_i64(), items[0]["quantity"].as_i64()),
        (Some(item), Some(1))
    );
    assert_eq!(
        toss::payments(&app, paid).await,
        [(paid_key, "DONE".to_string())]
    );
    assert!(toss::payments(&app, pending).await.is_empty());
    for (id, before) in ids.iter().zip(&stock) {
        assert_eq!(toss::stock(&app, *id).await, *before, "product {id}");
    }
    let stats = toss.stats().await;
    assert_eq!(
        stats.endpoints["POST /v1/payments/confirm"],
        toss::outcomes(&[("OK", 1)]),
        "{stats:?}"
    );
    assert!(
        !stats
            .endpoints
            .contains_key("POST /v1/payments/{payment_key}/cancel"),
        "Toss was asked to cancel: {stats:?}"
    );
}

/// How the edge refuses a body over the limit is http-edge's test; here, that the shop's limit is
/// Django's, its refusal DRF's JSON 400 whether the length was declared or reached while streaming,
/// and that authentication still comes first.
pub async fn an_oversized_body_gets_drfs_answer_after_authentication(app: TestApp) {
    app.create_user("olga", "pw", true).await;
    let (_, token) = app.login("olga", "pw").await;
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let head = |path: &str, authorization: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
             {authorization}Content-Length: {length}\r\n\r\n"
        )
    };
    // Announced and not a byte of it sent: refused at once, as Django's `request.body` refuses a
    // CONTENT_LENGTH over DATA_UPLOAD_MAX_MEMORY_SIZE before reading.
    for (path, authorization) in [
        ("/api/auth/login/", ""),
        ("/api/cart/items/", bearer.as_str()),
    ] {
        let mut stream = sent(app.addr, &head(path, authorization, MAX_BODY + 1)).await;
        let answer = response(&mut stream).await;
        assert_eq!(answer, (400, TOO_BIG.to_string()), "{path}");
    }
    // Authentication comes first, as in DRF: no credentials, no look at the body.
    let mut stream = sent(app.addr, &head("/api/cart/items/", "", 1_000_000_000)).await;
    assert_eq!(
        response(&mut stream).await,
        (
            401,
            r#"{"detail":"Authentication credentials were not provided."}"#.to_string()
        )
    );
    // A body of exactly the limit is read and parsed.
    let credentials = r#"{"username":"nobody","password":"x"}"#;
    let at_limit = format!("{credentials}{}", " ".repeat(MAX_BODY - credentials.len()));
    let reply = Reply::of(
        app.client
            .post(app.url("/api/auth/login/"))
            .header("Content-Type", "application/json")
            .body(at_limit)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert(
        401,
        r#"{"detail":"No active account found with the given credentials"}"#,
    );
    // A chunked body announces no length: one chunk past the limit gets the same answer.
    let chunked = format!(
        "POST /api/auth/login/ HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n",
        MAX_BODY + 1,
        " ".repeat(MAX_BODY + 1)
    );
    let (mut reader, mut writer) = sent(app.addr, "").await.into_split();
    let writing = tokio::spawn(async move { writer.write_all(chunked.as_bytes()).await });
    assert_eq!(response(&mut reader).await, (400, TOO_BIG.to_string()));
    writing.abort();
}

/// The shop is served through the edge with its `--header-read-timeout` and h2c: a stalled head
/// and a stalled HTTP/2 preface are closed, and h2c is spoken (http-edge's tests hold the rest:
/// trickles, idle keep-alives, slow clients outlasted while others are served).
pub async fn the_edge_serves_the_shop_with_its_header_deadline_and_h2c(app: TestApp) {
    let app = app
        .with_config(|config| config.header_read_timeout = Duration::from_secs(1))
        .await;
    for stall in [
        "PRI * HTTP/2.0\r\n",
        "GET /api/products/ HTTP/1.1\r\nHost: shop\r\nX-Slow: ",
    ] {
        let mut stream = sent(app.addr, stall).await;
        let closed = closed_within(&mut stream, CLOSED_SOON).await;
        assert!(closed, "{stall:?}: still open after {CLOSED_SOON:?}");
    }
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let page = h2c.get(app.url("/api/products/")).send().await.unwrap();
    assert_eq!(
        (page.version(), page.status().as_u16()),
        (reqwest::Version::HTTP_2, 200)
    );
}
