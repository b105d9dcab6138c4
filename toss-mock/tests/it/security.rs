//! What an attacker tries (issue 19). auth.rs has an unknown key, no header and a key without its
//! colon on one route each; here every keyed route refuses every key it does not know (empty,
//! another prefix, a near miss, another scheme) and malformed Basic credentials, without telling
//! whether the payment asked about exists; bodies over the size limit are refused before they are
//! read; clients that never finish their headers neither stop others being served nor keep their
//! connection.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toss_mock::request::MAX_BODY;

use crate::app::{Config, KEY, TestApp, TestServer, basic};

/// A bound on liveness, not a performance figure: a server that waits on a stalled client or on a
/// body it should not read never answers; a working one answers in milliseconds.
const PROMPTLY: Duration = Duration::from_secs(10);

/// The same for a connection the server must close (after a linger or a 1 s header deadline).
const CLOSED_SOON: Duration = Duration::from_secs(30);

#[tokio::test]
async fn every_keyed_route_refuses_keys_it_does_not_know_and_malformed_credentials() {
    let app = TestApp::new();
    let paid = app.paid("order-sec-paid", 1000).await;
    let open = app.session("order-sec-open", 1000).await;
    let routes = [
        (
            "POST",
            "/v1/payments/confirm".to_string(),
            Some(json!({"paymentKey": open, "orderId": "order-sec-open", "amount": 1000})),
        ),
        ("GET", format!("/v1/payments/{paid}"), None::<Value>),
        ("GET", "/v1/payments/orders/order-sec-paid".into(), None),
        (
            "POST",
            format!("/v1/payments/{paid}/cancel"),
            Some(json!({"cancelReason": "not mine"})),
        ),
        (
            "POST",
            "/__mock/payments".into(),
            Some(json!({"orderId": "order-sec-new", "amount": 1000})),
        ),
    ];
    let unknown = [
        basic("test_sk_not_ours"),
        basic(""),
        basic("live_sk_shopload"),
        basic("test_ck_shopload"),
        basic("test_sk_shoploa"),
        basic("test_sk_shopload_"),
        basic("TEST_SK_SHOPLOAD"),
        basic(" test_sk_shopload"),
        basic("test_sk_shopload "),
        format!("Bearer {KEY}"),
        format!("Bearer {}", STANDARD.encode(format!("{KEY}:"))),
        "Basic".into(),
        KEY.into(),
    ];
    let malformed = [
        "Basic %%%".to_string(),
        format!("Basic {KEY}:"),
        format!("Basic {}", STANDARD.encode(b"\xff\xfe:")),
    ];
    for (method, path, body) in &routes {
        let body = body.as_ref().map(Value::to_string);
        let call = |authorization: &str| {
            let authorization = authorization.to_string();
            let body = body.clone();
            let app = &app;
            async move {
                app.call(
                    method,
                    path,
                    body.as_deref(),
                    &[("authorization", &authorization)],
                )
                .await
            }
        };
        for authorization in &unknown {
            call(authorization)
                .await
                .assert_error(401, "UNAUTHORIZED_KEY");
        }
        for authorization in &malformed {
            call(authorization)
                .await
                .assert_error(403, "INCORRECT_BASIC_AUTH_FORMAT");
        }
    }
    // An unknown key learns nothing of what exists: a real payment and a made-up one answer alike.
    let wrong = basic("test_sk_not_ours");
    let real = app
        .call(
            "GET",
            &format!("/v1/payments/{paid}"),
            None,
            &[("authorization", &wrong)],
        )
        .await;
    let made_up = app
        .call(
            "GET",
            "/v1/payments/tnone",
            None,
            &[("authorization", &wrong)],
        )
        .await;
    assert_eq!(real.bytes, made_up.bytes);
    // Nothing was done: the payment is still paid, the session still open, no session was made.
    let lookup = app.get(&format!("/v1/payments/{paid}")).await;
    assert_eq!(lookup.json["status"], "DONE", "{}", lookup.json);
    assert_eq!(lookup.json["cancels"], Value::Null, "{}", lookup.json);
    app.get("/v1/payments/orders/order-sec-new")
        .await
        .assert_error(404, "NOT_FOUND_PAYMENT");
    let confirmed = app.confirm(&open, "order-sec-open", 1000).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.json);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let server = TestServer::start(Config::default()).await;
    let addr = address(&server);
    let auth = format!("Authorization: {}\r\n", basic(KEY));
    let head = |length: usize| {
        format!(
            "POST /v1/payments/confirm HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {length}\r\n\r\n"
        )
    };
    // Announced and not a byte of it sent: refused at once.
    for length in [MAX_BODY + 1, 1_000_000_000] {
        let mut stream = sent(addr, &head(length)).await;
        let (status, body) = response(&mut stream).await;
        assert_eq!(status, 400, "{length} bytes: {body}");
        assert_eq!(code(&body), "INVALID_REQUEST", "{length} bytes");
    }
    // Nor is the connection kept waiting for the gigabyte.
    let mut stream = sent(addr, &head(1_000_000_000)).await;
    response(&mut stream).await;
    assert!(
        closed_within(&mut stream, CLOSED_SOON).await,
        "the connection still waits for the body"
    );
    // A body of exactly the limit is read and honoured.
    let key = server.session("order-sec-big", 1000).await;
    let confirm =
        json!({"paymentKey": key, "orderId": "order-sec-big", "amount": 1000}).to_string();
    let at_limit = format!("{confirm}{}", " ".repeat(MAX_BODY - confirm.len()));
    let answer = server
        .request(reqwest::Method::POST, "/v1/payments/confirm")
        .header("content-type", "application/json")
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    // A chunked body announces no length: it is cut off at the limit while it streams.
    let chunked = format!(
        "POST /v1/payments/confirm HTTP/1.1\r\nHost: mock\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
    );
    let (mut reader, mut writer) = sent(addr, &chunked).await.into_split();
    let endless = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        let mut written = 0;
        while writer.write_all(chunk.as_bytes()).await.is_ok() {
            written += 0x10000;
        }
        written
    });
    let (status, body) = response(&mut reader).await;
    assert_eq!(
        (status, code(&body)),
        (400, "INVALID_REQUEST".to_string()),
        "{body}"
    );
    let written = tokio::time::timeout(CLOSED_SOON, endless)
        .await
        .expect("the server kept reading an endless body")
        .unwrap();
    assert!(written > MAX_BODY, "only {written} bytes were sent");
}

/// What a slow client sends before it stalls: nothing, part of a request line, part of the
/// headers.
const STALLS: [&str; 3] = [
    "",
    "GET /v1/payments/orders/order-sec-1 HT",
    "GET /healthz HTTP/1.1\r\nHost: mock\r\nX-Slow: ",
];

#[tokio::test]
async fn slow_clients_do_not_stop_others_being_served() {
    let server = TestServer::start(Config::default()).await;
    let addr = address(&server);
    let mut stalled = Vec::new();
    for i in 0..200 {
        stalled.push(sent(addr, STALLS[i % STALLS.len()]).await);
    }
    // A shop arriving now opens and confirms a payment at once ...
    let served = tokio::time::timeout(PROMPTLY, async {
        let key = server.session("order-sec-quick", 1000).await;
        server
            .confirm(&key, "order-sec-quick", 1000)
            .send()
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(
        served.ok().map(|s| s.as_u16()),
        Some(200),
        "a request waited behind stalled clients"
    );
    // ... while every stalled client still holds its connection (the 30 s deadline is far off):
    // they were outlasted, not cut short.
    let mut buf = [0_u8; 64];
    for (i, stream) in stalled.iter().enumerate() {
        let open = matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(open, "stalled connection {i} was closed early");
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let server = TestServer::start(Config {
        header_read_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let addr = address(&server);
    let mut waits = Vec::new();
    for stall in STALLS {
        waits.push(tokio::spawn(async move {
            let mut stream = sent(addr, stall).await;
            (stall, closed_within(&mut stream, CLOSED_SOON).await)
        }));
    }
    // A keep-alive connection that asks for nothing after its answer.
    waits.push(tokio::spawn(async move {
        let mut stream = sent(addr, "GET /healthz HTTP/1.1\r\nHost: mock\r\n\r\n").await;
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

fn address(server: &TestServer) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

fn code(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    json["code"].as_str().unwrap_or_default().to_string()
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
