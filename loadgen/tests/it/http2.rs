//! `--http2`: against an h2 server behind TLS (ALPN) and one in plain TCP (prior knowledge), every
//! request goes over HTTP/2, bodies and captures included; against an HTTP/1.1-only TLS server
//! the run falls back to HTTP/1.1 and says so; h2c against an HTTP/1.1 server stops before load.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::stub::{ROOT, Server, loadgen, scenario, summary, text};
use crate::tls::{server_config, tls_front};

/// The requests an h2 server answered, by protocol.
#[derive(Default)]
struct Seen {
    h2: AtomicU64,
    other: AtomicU64,
    /// POST bodies that arrived whole.
    bodies: AtomicU64,
}

/// GET answers a JSON object with an id to capture; POST checks that its body arrived.
async fn answer(
    seen: Arc<Seen>,
    request: Request<Incoming>,
) -> Result<Response<String>, Infallible> {
    let counter = if request.version() == Version::HTTP_2 {
        &seen.h2
    } else {
        &seen.other
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if request.method() == hyper::Method::POST {
        let body = read_body(request.into_body()).await;
        if body == br#"{"id":7}"# {
            seen.bodies.fetch_add(1, Ordering::Relaxed);
            return Ok(Response::builder().status(201).body("{}".into()).unwrap());
        }
        return Ok(Response::builder().status(400).body(String::new()).unwrap());
    }
    Ok(Response::new(r#"{"id":7,"name":"x"}"#.into()))
}

/// A request body read to its end (http-body-util is not a dependency of this workspace).
async fn read_body(mut body: Incoming) -> Vec<u8> {
    use hyper::body::Body as _;
    let mut out = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(Ok(data)) = frame.map(|f| f.into_data()) {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// An HTTP/2-only server on 127.0.0.1:0, behind TLS (ALPN h2) when `tls` is given.
async fn h2_server(tls: Option<rustls::ServerConfig>) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let acceptor = tls.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    let counted = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&counted);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |r| answer(Arc::clone(&seen), r));
                let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let _ = match acceptor {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        builder.serve_connection(TokioIo::new(tls), service).await
                    }
                    None => builder.serve_connection(TokioIo::new(tcp), service).await,
                };
            });
        }
    });
    (addr, seen)
}

/// A GET whose answer is captured, then a POST of the captured id.
const GET_THEN_POST: &str = r#"
[[task]]
[[task.request]]
path = "/api/products/1/"
capture = { id = "/id" }
[[task.request]]
method = "POST"
path = "/api/orders/"
json = { id = "{id}" }
expect = [201]
"#;

async fn run_h2(d: &std::path::Path, host: &str, extra: &[&str]) -> std::process::Output {
    let args = [
        &[
            "run",
            "-H",
            host,
            "-f",
            "s.toml",
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "2s",
            "--headless",
            "--only-summary",
            "--http2",
            "--json",
            "s.json",
        ][..],
        extra,
    ]
    .concat();
    loadgen(d, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_by_alpn_and_over_plain_tcp_by_prior_knowledge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario(d, "s.toml", GET_THEN_POST);
    let (config, ca_pem) = server_config(&[b"h2"]);
    std::fs::write(d.join("ca.pem"), ca_pem).unwrap();
    let (tls_addr, tls_seen) = h2_server(Some(config)).await;
    let (plain_addr, plain_seen) = h2_server(None).await;
    for (host, seen, extra) in [
        (
            format!("https://localhost:{}", tls_addr.port()),
            &tls_seen,
            &["--ca-cert", "ca.pem"][..],
        ),
        (
            format!("http://127.0.0.1:{}", plain_addr.port()),
            &plain_seen,
            &[][..],
        ),
    ] {
        let out = run_h2(d, &host, extra).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{host}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let s = summary(d, "s.json");
        assert_eq!(s["meta"]["protocol"], "HTTP/2", "{}", s["meta"]);
        let total = &s["aggregate"];
        assert_eq!(total["failures"], 0, "{host}: {}", s["failures"]);
        let requests = total["requests"].as_u64().unwrap();
        assert!(requests > 50, "{total}");
        assert_eq!(seen.other.load(Ordering::Relaxed), 0, "{host}: only HTTP/2");
        // Every request the run counted; at most one per user more (in flight when the run
        // ended) and the check before the load (h2c: one GET of /).
        let answered = seen.h2.load(Ordering::Relaxed);
        assert!(
            (requests..=requests + 5).contains(&answered),
            "{host}: {answered} answered, {requests} counted"
        );
        let posts = seen.bodies.load(Ordering::Relaxed);
        assert!(
            requests.abs_diff(posts * 2) <= 4,
            "{host}: {posts} POST bodies of {requests} requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_falls_back_to_http1_where_the_server_declines_and_h2c_needs_a_server_that_speaks_it()
{
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario(d, "s.toml", ROOT);

    // ALPN: a TLS server offering only http/1.1 gets HTTP/1.1, and the run says so.
    let front = tls_front(server.addr).await;
    std::fs::write(d.join("ca.pem"), &front.ca_pem).unwrap();
    let host = format!("https://localhost:{}", front.addr.port());
    let out = run_h2(d, &host, &["--ca-cert", "ca.pem"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("chose HTTP/1.1"), "{stderr}");
    let s = summary(d, "s.json");
    assert_eq!(s["meta"]["protocol"], "HTTP/1.1");
    assert_eq!(s["aggregate"]["failures"], 0, "{}", s["failures"]);

    // h2c against an HTTP/1.1-only server (the stub's axum would take h2c too): exit 2 before
    // any load, with the reason and the way out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http1_only = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                )
                .await;
        }
    });
    let host = format!("http://{http1_only}");
    let out = run_h2(d, &host, &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not speak HTTP/2"), "{stderr}");
    assert!(stderr.contains("leave --http2 out"), "{stderr}");
}
