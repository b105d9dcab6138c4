//! The body limit: a declared length over it refused before a byte is read (and the connection
//! not kept for the rest), a body at it read, a streaming body cut off at it, an unreadable body
//! told apart from a large one.

use http_edge::testing::{CLOSED_SOON, closed_within, response, sent};
use http_edge::{DEFAULT_HEADER_READ_TIMEOUT, Edge};
use tokio::io::AsyncWriteExt;

use crate::{LIMIT, Served};

fn head(length: usize, extra: &str) -> String {
    format!("POST /echo HTTP/1.1\r\nHost: edge\r\n{extra}Content-Length: {length}\r\n\r\n")
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_read() {
    let server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    // Announced and not a byte of it sent: refused at once.
    for length in [LIMIT + 1, 1_000_000_000] {
        let mut stream = sent(server.addr, &head(length, "")).await;
        let want = format!("a body of {length} bytes, over {LIMIT}");
        assert_eq!(response(&mut stream).await, (413, want), "{length} bytes");
    }
    // Nor is the connection kept waiting for the gigabyte.
    let mut stream = sent(server.addr, &head(1_000_000_000, "")).await;
    response(&mut stream).await;
    assert!(
        closed_within(&mut stream, CLOSED_SOON).await,
        "the connection still waits for the body"
    );
    // A client waiting for `100 Continue` is refused without being asked for anything.
    let mut stream = sent(
        server.addr,
        &head(1_000_000_000, "Expect: 100-continue\r\n"),
    )
    .await;
    assert_eq!(response(&mut stream).await.0, 413);
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_read() {
    let server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let request = format!("{}{}", head(LIMIT, ""), "x".repeat(LIMIT));
    let mut stream = sent(server.addr, &request).await;
    assert_eq!(response(&mut stream).await, (200, LIMIT.to_string()));
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit_while_it_streams() {
    let server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let chunked = "POST /echo HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (mut reader, mut writer) = sent(server.addr, chunked).await.into_split();
    let endless = tokio::spawn(async move {
        let chunk = format!("1000\r\n{}\r\n", " ".repeat(0x1000));
        let mut written = 0;
        while writer.write_all(chunk.as_bytes()).await.is_ok() {
            written += 0x1000;
        }
        written
    });
    let (status, text) = response(&mut reader).await;
    assert_eq!(status, 413, "{text}");
    let written = tokio::time::timeout(CLOSED_SOON, endless)
        .await
        .expect("the server kept reading an endless body")
        .unwrap();
    assert!(written > LIMIT, "only {written} bytes were sent");
}

#[tokio::test]
async fn a_malformed_body_is_unreadable_not_too_large() {
    let server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let broken = "POST /echo HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let mut stream = sent(server.addr, broken).await;
    let (status, text) = response(&mut stream).await;
    assert_eq!(status, 400, "{text}");
}
