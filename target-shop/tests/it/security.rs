//! What an attacker tries (issue 19). auth.rs already has garbage, expired-access and wrong-type
//! tokens on `me` and the token views; here are the tokens an attacker crafts (another key, a
//! changed payload or header, `alg: none`, other algorithms), expired refresh tokens and the order
//! simplejwt judges in, another user's objects on every object route, bodies over Django's size
//! limit, and clients that never finish their headers.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};
use target_shop::auth::token::Tokens;
use target_shop::drf::MAX_BODY;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{Reply, TestApp};
use crate::toss::{self, TossMock};

/// A bound on liveness, not a performance figure: a server that waits on a stalled client or on a
/// body it should not read never answers; a working one answers in milliseconds.
const PROMPTLY: Duration = Duration::from_secs(10);

/// The same for a connection the server must close (after a linger or a 1 s header deadline).
const CLOSED_SOON: Duration = Duration::from_secs(30);

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

pub async fn an_oversized_body_is_refused_before_it_is_read(app: TestApp) {
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
        for length in [MAX_BODY + 1, 1_000_000_000] {
            let mut stream = sent(app.addr, &head(path, authorization, length)).await;
            let answer = response(&mut stream).await;
            assert_eq!(answer, (400, TOO_BIG.to_string()), "{path}, {length} bytes");
        }
    }
    // Nor is the connection kept waiting for the gigabyte.
    let mut stream = sent(app.addr, &head("/api/auth/login/", "", 1_000_000_000)).await;
    response(&mut stream).await;
    assert!(
        closed_within(&mut stream, CLOSED_SOON).await,
        "the connection still waits for the body"
    );
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
    // A chunked body announces no length: it is cut off at the limit while it streams.
    let chunked = "POST /api/auth/login/ HTTP/1.1\r\nHost: shop\r\n\
                   Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (mut reader, mut writer) = sent(app.addr, chunked).await.into_split();
    let endless = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        let mut written = 0;
        while writer.write_all(chunk.as_bytes()).await.is_ok() {
            written += 0x10000;
        }
        written
    });
    assert_eq!(response(&mut reader).await, (400, TOO_BIG.to_string()));
    let written = tokio::time::timeout(CLOSED_SOON, endless)
        .await
        .expect("the server kept reading an endless body")
        .unwrap();
    assert!(written > MAX_BODY, "only {written} bytes were sent");
}

/// What a slow client sends before it stalls: nothing, part of HTTP/2's preface, part of a
/// request line, part of the headers.
const STALLS: [&str; 5] = [
    "",
    "P",
    "PRI * HTTP/2.0\r\n",
    "GET /api/products/ HT",
    "GET /api/products/ HTTP/1.1\r\nHost: shop\r\nX-Slow: ",
];

pub async fn slow_clients_do_not_stop_others_being_served(app: TestApp) {
    app.create_user("quick", "pw", true).await;
    let mut stalled = Vec::new();
    for i in 0..200 {
        stalled.push(sent(app.addr, STALLS[i % STALLS.len()]).await);
    }
    // A buyer arriving now reads and logs in at once ...
    let served = tokio::time::timeout(PROMPTLY, async {
        let page = app.get("/api/products/", None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        app.login("quick", "pw").await
    })
    .await;
    assert!(served.is_ok(), "a request waited behind stalled clients");
    // ... while every stalled client still holds its connection (the 30 s deadline is far off):
    // they were outlasted, not cut short.
    let mut buf = [0_u8; 64];
    for (i, stream) in stalled.iter().enumerate() {
        let open = matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(open, "stalled connection {i} was closed early");
    }
}

pub async fn a_connection_that_never_finishes_its_headers_is_closed(app: TestApp) {
    let app = app
        .with_config(|config| config.header_read_timeout = Duration::from_secs(1))
        .await;
    let addr = app.addr;
    let mut waits = Vec::new();
    for stall in STALLS {
        waits.push(tokio::spawn(async move {
            let mut stream = sent(addr, stall).await;
            (stall, closed_within(&mut stream, CLOSED_SOON).await)
        }));
    }
    // A header trickled a byte at a time: the deadline is for the whole head, not per byte.
    waits.push(tokio::spawn(async move {
        let (mut reader, mut writer) = sent(addr, "GET / HTTP/1.1\r\nX-Trickle: ")
            .await
            .into_split();
        let trickle = tokio::spawn(async move {
            while writer.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let closed = closed_within(&mut reader, CLOSED_SOON).await;
        trickle.abort();
        ("a trickled header", closed)
    }));
    // A keep-alive connection that asks for nothing after its answer.
    waits.push(tokio::spawn(async move {
        let mut stream = sent(addr, "GET /api/products/ HTTP/1.1\r\nHost: shop\r\n\r\n").await;
        assert_eq!(response(&mut stream).await.0, 200);
        (
            "idle after an answer",
            closed_within(&mut stream, CLOSED_SOON).await,
        )
    }));
    for wait in waits {
        let (what, closed) = wait.await.unwrap();
        assert!(closed, "{what:?}: still open after {CLOSED_SOON:?}");
    }
}

/// A connection to `addr` that has sent `bytes`.
async fn sent(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// The next response on `stream`: status and body (its Content-Length's worth), within
/// [`PROMPTLY`].
async fn response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
    let mut got = Vec::new();
    let read = async {
        loop {
            if let Some(answer) = parse_response(&got) {
                return answer;
            }
            let mut buf = [0_u8; 4096];
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => panic!(
                    "closed before a whole response: {:?}",
                    String::from_utf8_lossy(&got)
                ),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PROMPTLY, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {PROMPTLY:?}"))
}

fn parse_response(bytes: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })?;
    (body.len() >= length).then(|| (status, body[..length].to_string()))
}

/// Whether the server closes `stream` (end of stream or a reset) within `bound`; whatever it sends
/// before is skipped.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), bound: Duration) -> bool {
    let mut buf = [0_u8; 4096];
    let closed = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(bound, closed).await.is_ok()
}
