//! Shutdown: no new connection is accepted, a request in flight finishes (all of them, or for at
//! most the drain's bound).

use std::time::Duration;

use http_edge::testing::{PROMPTLY, response, sent};
use http_edge::{DEFAULT_HEADER_READ_TIMEOUT, Edge};
use tokio::net::TcpStream;

use crate::Served;

/// Starts `GET /wait` and returns its connection once the handler has it.
async fn waiting(server: &mut Served) -> TcpStream {
    let stream = sent(server.addr, "GET /wait HTTP/1.1\r\nHost: edge\r\n\r\n").await;
    tokio::time::timeout(PROMPTLY, server.entered.recv())
        .await
        .expect("the request never reached its handler");
    stream
}

/// Waits until the listener is gone: connecting is refused.
async fn refusing(server: &Served) {
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while TcpStream::connect(server.addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting {PROMPTLY:?} after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server = Served::start(Edge::new(DEFAULT_HEADER_READ_TIMEOUT)).await;
    let mut in_flight = waiting(&mut server).await;
    server.shut_down();
    refusing(&server).await;
    assert!(
        !server.done.is_finished(),
        "serve returned with a request in flight"
    );
    server.release();
    assert_eq!(
        response(&mut in_flight).await,
        (200, "released".to_string())
    );
    tokio::time::timeout(PROMPTLY, &mut server.done)
        .await
        .expect("serve did not return after its last request")
        .unwrap();
}

#[tokio::test]
async fn a_bounded_drain_leaves_a_request_that_never_ends() {
    let edge = Edge {
        drain: Some(Duration::from_millis(200)),
        ..Edge::new(DEFAULT_HEADER_READ_TIMEOUT)
    };
    let mut server = Served::start(edge).await;
    let _hung = waiting(&mut server).await;
    server.shut_down();
    tokio::time::timeout(PROMPTLY, &mut server.done)
        .await
        .expect("serve waited on a request that never ends")
        .unwrap();
}
