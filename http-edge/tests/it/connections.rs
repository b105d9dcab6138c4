//! The accept loop's connections: a header deadline that closes stalled clients without holding
//! up the others, h2c beside HTTP/1 when asked for, a response that closes its connection.

use std::time::Duration;

use http_edge::testing::{CLOSED_SOON, PROMPTLY, closed_within, response, sent, still_open};
use http_edge::{DEFAULT_HEADER_READ_TIMEOUT, Edge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{SHORT, Served};

/// What a slow client sends before it stalls: nothing, part of HTTP/2's preface, part of a
/// request line, part of the headers.
const STALLS: [&str; 5] = [
    "",
    "P",
    "PRI * HTTP/2.0\r\n",
    "GET /hello HT",
    "GET /hello HTTP/1.1\r\nHost: edge\r\nX-Slow: ",
];

fn with_h2c(header_read_timeout: Duration) -> Edge {
    Edge {
        h2c: true,
        ..Edge::new(header_read_timeout)
    }
}

#[tokio::test]
async fn slow_clients_do_not_stop_others_being_served() {
    let server = Served::start(with_h2c(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let mut stalled = Vec::new();
    for i in 0..200 {
        stalled.push(sent(server.addr, STALLS[i % STALLS.len()]).await);
    }
    // A client arriving now is answered at once ...
    let mut quick = sent(server.addr, "GET /hello HTTP/1.1\r\nHost: edge\r\n\r\n").await;
    assert_eq!(response(&mut quick).await, (200, "hello".to_string()));
    // ... while every stalled client still holds its connection (the 30 s deadline is far off):
    // they were outlasted, not cut short.
    for (i, stream) in stalled.iter().enumerate() {
        assert!(
            still_open(stream),
            "stalled connection {i} was closed early"
        );
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    for edge in [Edge::new(SHORT), with_h2c(SHORT)] {
        let server = Served::start(edge).await;
        let addr = server.addr;
        let mut waits = Vec::new();
        for stall in STALLS {
            waits.push(tokio::spawn(async move {
                let mut stream = sent(addr, stall).await;
                (stall, closed_within(&mut stream, CLOSED_SOON).await)
            }));
        }
        // A header trickled a byte at a time: the deadline is for the whole head, not per byte.
        waits.push(tokio::spawn(async move {
            let (mut reader, mut writer) = sent(addr, "GET /hello HTTP/1.1\r\nX-Trickle: ")
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
            let mut stream = sent(addr, "GET /hello HTTP/1.1\r\nHost: edge\r\n\r\n").await;
            assert_eq!(response(&mut stream).await.0, 200);
            (
                "idle after an answer",
                closed_within(&mut stream, CLOSED_SOON).await,
            )
        }));
        for wait in waits {
            let (what, closed) = wait.await.unwrap();
            assert!(
                closed,
                "{what:?}: still open after {CLOSED_SOON:?} (h2c: {})",
                edge.h2c
            );
        }
    }
}

#[tokio::test]
async fn h2c_is_served_beside_http1_only_when_asked_for() {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let server = Served::start(with_h2c(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let url = format!("http://{}/hello", server.addr);
    let answer = tokio::time::timeout(PROMPTLY, client.get(&url).send())
        .await
        .expect("no h2c answer")
        .unwrap();
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert_eq!(answer.text().await.unwrap(), "hello");
    let mut http1 = sent(server.addr, "GET /hello HTTP/1.1\r\nHost: edge\r\n\r\n").await;
    assert_eq!(response(&mut http1).await, (200, "hello".to_string()));

    let server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let url = format!("http://{}/hello", server.addr);
    let refused = tokio::time::timeout(PROMPTLY, client.get(&url).send())
        .await
        .expect("no answer to h2c on an HTTP/1 server");
    assert!(refused.is_err(), "HTTP/1 only, yet h2c got {refused:?}");
}

#[tokio::test]
async fn a_response_marked_to_close_its_connection_is_never_written() {
    for edge in [Edge::new(SHORT), with_h2c(SHORT)] {
        let server = Served::start(edge).await;
        let mut stream = sent(server.addr, "GET /close HTTP/1.1\r\nHost: edge\r\n\r\n").await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(PROMPTLY, stream.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "the connection was not closed");
        assert!(
            got.is_empty(),
            "wrote {:?} (h2c: {})",
            String::from_utf8_lossy(&got),
            edge.h2c
        );
        // The server goes on serving others.
        let mut next = sent(server.addr, "GET /hello HTTP/1.1\r\nHost: edge\r\n\r\n").await;
        assert_eq!(response(&mut next).await, (200, "hello".to_string()));
    }
}
