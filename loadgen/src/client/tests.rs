//! The wire against a raw TCP server that answers with canned bytes: every framing a server may
//! choose, interim answers, closes at each point, and what is sent.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{ClientError, Connections, Response};

/// A server that, per connection, reads one request head (and its body, by Content-Length)
/// then writes the next canned answer; `close` after an answer ends that connection. Requests
/// seen are sent back as text.
struct Canned {
    authority: String,
    requests: mpsc::UnboundedReceiver<String>,
    accepted: mpsc::UnboundedReceiver<()>,
}

async fn canned(answers: Vec<(&'static [u8], bool)>) -> Canned {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    let (seen, requests) = mpsc::unbounded_channel();
    let (accept, accepted) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let _ = accept.send(());
            let mut buf = Vec::new();
            loop {
                let Some(request) = read_request(&mut socket, &mut buf).await else {
                    break;
                };
                let _ = seen.send(request);
                let Some((answer, close)) = answers.next() else {
                    return;
                };
                socket.write_all(answer).await.unwrap();
                if close {
                    break;
                }
            }
        }
    });
    Canned {
        authority,
        requests,
        accepted,
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            while buf.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = socket.read(&mut chunk).await.ok()?;
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            buf.drain(..end + 4 + length);
            return Some(head + &body);
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn get(c: &mut Connections, server: &Canned) -> Result<Response, ClientError> {
    send(c, server, Method::GET, None).await
}

async fn send(
    c: &mut Connections,
    server: &Canned,
    method: Method,
    body: Option<&'static str>,
) -> Result<Response, ClientError> {
    let origin = super::Origin {
        authority: server.authority.clone(),
        tls: false,
    };
    c.send(
        &method,
        &origin,
        PathAndQuery::from_static("/api/products/?page=2"),
        HeaderMap::new(),
        body.map(|b| Bytes::from_static(b.as_bytes())),
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn content_length_bodies_on_one_kept_alive_connection() {
    let mut server = canned(vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false),
        (
            b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}",
            false,
        ),
    ])
    .await;
    let mut c = Connections::default();
    let first = get(&mut c, &server).await.unwrap();
    assert_eq!((first.status, &first.body[..]), (200, &b"hello"[..]));
    let second = send(&mut c, &server, Method::POST, Some("{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!((second.status, &second.body[..]), (201, &b"{}"[..]));
    server.accepted.recv().await.unwrap();
    assert!(
        server.accepted.try_recv().is_err(),
        "one connection for both"
    );
    let request = server.requests.recv().await.unwrap();
    assert!(
        request.starts_with("GET /api/products/?page=2 HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{request}"
    );
    assert!(request.contains("\r\nuser-agent: loadgen/"), "{request}");
    assert!(!request.contains("content-length"), "{request}");
    let post = server.requests.recv().await.unwrap();
    assert!(
        post.ends_with("content-length: 7\r\n\r\n{\"a\":1}"),
        "{post}"
    );
}

#[tokio::test]
async fn chunked_body_with_trailers_is_joined() {
    let server = canned(vec![(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n",
        false,
    )])
    .await;
    let mut c = Connections::default();
    let r = get(&mut c, &server).await.unwrap();
    assert_eq!(&r.body[..], b"Wikipedia in \r\n\r\nchunks.");
    assert_eq!(c.open.len(), 1, "kept alive after the last chunk");
}

#[tokio::test]
async fn interim_answer_skipped_and_head_has_no_body() {
    let server = canned(vec![
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", false),
    ])
    .await;
    let mut c = Connections::default();
    let r = get(&mut c, &server).await.unwrap();
    assert_eq!((r.status, r.body.len()), (204, 0));
    let head = send(&mut c, &server, Method::HEAD, None).await.unwrap();
    assert_eq!((head.status, head.body.len()), (200, 0));
}

#[tokio::test]
async fn body_until_close_and_connection_close_open_a_new_connection() {
    let mut server = canned(vec![
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", true),
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            true,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nv0", true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv1", false),
    ])
    .await;
    let mut c = Connections::default();
    assert_eq!(
        &get(&mut c, &server).await.unwrap().body[..],
        b"until the end"
    );
    assert_eq!(&get(&mut c, &server).await.unwrap().body[..], b"ok");
    assert_eq!(&get(&mut c, &server).await.unwrap().body[..], b"v0");
    assert_eq!(&get(&mut c, &server).await.unwrap().body[..], b"v1");
    for _ in 0..4 {
        server.accepted.recv().await.unwrap();
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_not_reported() {
    let mut server = canned(vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", false),
    ])
    .await;
    let mut c = Connections::default();
    assert_eq!(&get(&mut c, &server).await.unwrap().body[..], b"a");
    // The server closed after answering although it said keep-alive; let the FIN arrive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(&get(&mut c, &server).await.unwrap().body[..], b"b");
    server.accepted.recv().await.unwrap();
    server.accepted.recv().await.unwrap();
}

#[tokio::test]
async fn failures_are_worded_as_locust_users_read_them() {
    let server = canned(vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true),
        (b"SMTP ready\r\n\r\n", true),
        (
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
    ])
    .await;
    let mut c = Connections::default();
    let cut = get(&mut c, &server).await.err().unwrap();
    assert_eq!(
        cut.to_string(),
        "RemoteDisconnected('Remote end closed connection without response')"
    );
    let garbage = get(&mut c, &server).await.err().unwrap();
    assert!(
        garbage
            .to_string()
            .starts_with("ConnectionError('invalid HTTP response"),
        "{garbage}"
    );
    let refused = get(&mut c, &server).await.unwrap();
    assert_eq!(refused.notable_headers.as_deref(), Some("Allow: GET, HEAD"));
    assert!(c.open.len() <= 1);
    // The canned answers are used up: the server closes without answering.
    let none = get(&mut c, &server).await.err().unwrap();
    assert!(matches!(none, ClientError::Disconnected), "{none}");
}

#[tokio::test]
async fn headers_are_sent_as_given_and_a_slow_answer_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = super::Origin {
        authority: listener.local_addr().unwrap().to_string(),
        tls: false,
    };
    tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer x"));
    let mut c = Connections::default();
    let e = c
        .send(
            &Method::GET,
            &origin,
            PathAndQuery::from_static("/"),
            headers,
            None,
            Duration::from_millis(100),
        )
        .await
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "TimeoutError('timed out after 100ms')");
    assert!(c.open.is_empty(), "a timed-out connection is not reused");
}
