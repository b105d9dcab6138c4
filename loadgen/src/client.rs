//! Each user's own HTTP/1.1 keep-alive connections, on hyper's client connection with no pool in
//! between (the cheapest request path tokio offers; reqwest costs about twice the CPU per request).
//! A user holds at most one connection per host: the shop, and the Toss mock's checkout.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::http::uri::PathAndQuery;
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A finished response.
pub struct Response {
    pub status: u16,
    pub body: Bytes,
    /// `Allow`, `WWW-Authenticate` and `Retry-After` of an error answer: what explains it.
    pub notable_headers: Option<String>,
}

/// The headers that explain an error answer, as `Name: value; Name: value`.
fn notable_headers(status: u16, headers: &HeaderMap) -> Option<String> {
    if status < 400 {
        return None;
    }
    let found: Vec<String> = [
        ("allow", "Allow"),
        ("www-authenticate", "WWW-Authenticate"),
        ("retry-after", "Retry-After"),
    ]
    .iter()
    .filter_map(|(name, shown)| {
        let value = headers.get(*name)?.to_str().ok()?;
        Some(format!("{shown}: {value}"))
    })
    .collect();
    (!found.is_empty()).then(|| found.join("; "))
}

/// Why a request got no response, worded as Locust users read it in failures.csv.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", io_error(.0))]
    Connect(io::Error),
    #[error("TimeoutError('timed out after {0:?}')")]
    Timeout(Duration),
    #[error("RemoteDisconnected('Remote end closed connection without response')")]
    Disconnected,
    #[error("ConnectionError('{0}')")]
    Http(String),
    #[error("InvalidURL('{0}')")]
    Url(String),
}

fn io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "ConnectionRefusedError(111, 'Connection refused')".into()
        }
        io::ErrorKind::ConnectionReset => {
            "ConnectionResetError(104, 'Connection reset by peer')".into()
        }
        io::ErrorKind::TimedOut => "TimeoutError('connect timed out')".into(),
        _ => format!("ConnectionError('{e}')"),
    }
}

struct Connection {
    authority: String,
    /// The Host header of every request on it, made once.
    host: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
}

/// A user's connections, keyed by host:port.
#[derive(Default)]
pub struct Connections {
    open: Vec<Connection>,
}

static AGENT: HeaderValue =
    HeaderValue::from_static(concat!("loadgen/", env!("CARGO_PKG_VERSION")));

impl Connections {
    /// Sends one request to `authority` (`host:port`) with the request target `path` (its
    /// headers, Content-Type included, set by the caller) and reads the whole response within
    /// `timeout`. A connection that fails is dropped, and the next request opens a new one.
    pub async fn send(
        &mut self,
        method: &Method,
        authority: &str,
        path: PathAndQuery,
        headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let result = tokio::time::timeout(timeout, async {
            let connection = self.ready(authority).await?;
            let mut request = Request::new(Full::new(body.unwrap_or_default()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = Uri::from(path);
            let h = request.headers_mut();
            *h = headers;
            h.insert(HOST, connection.host.clone());
            h.entry(USER_AGENT).or_insert_with(|| AGENT.clone());
            let response = connection
                .sender
                .send_request(request)
                .await
                .map_err(http_error)?;
            let status = response.status().as_u16();
            let notable_headers = notable_headers(status, response.headers());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(http_error)?
                .to_bytes();
            Ok(Response {
                status,
                body,
                notable_headers,
            })
        })
        .await;
        let result = result.unwrap_or(Err(ClientError::Timeout(timeout)));
        if result.is_err() {
            self.open.retain(|c| c.authority != authority);
        }
        result
    }

    /// `send` to an absolute URL (the monitors' scrapes).
    pub async fn send_to(
        &mut self,
        method: &Method,
        url: &Uri,
        headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let (authority, path) = target_of(url).ok_or_else(|| ClientError::Url(url.to_string()))?;
        self.send(method, authority, path, headers, body, timeout)
            .await
    }

    async fn ready(&mut self, authority: &str) -> Result<&mut Connection, ClientError> {
        if let Some(i) = self.open.iter().position(|c| c.authority == authority) {
            // A keep-alive connection the server closed while idle is replaced, not reported.
            if self.open[i].sender.ready().await.is_ok() {
                return Ok(&mut self.open[i]);
            }
            self.open.swap_remove(i);
        }
        let stream = TcpStream::connect(authority)
            .await
            .map_err(ClientError::Connect)?;
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        tokio::spawn(async move {
            // Its end (the peer closing, or the user dropping the sender) is not an event.
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(authority).map_err(|e| ClientError::Url(e.to_string()))?;
        self.open.push(Connection {
            authority: authority.to_owned(),
            host,
            sender,
        });
        let last = self.open.len() - 1;
        Ok(&mut self.open[last])
    }
}

/// An absolute URL's `host:port` and request target; None without a host.
pub fn target_of(url: &Uri) -> Option<(&str, PathAndQuery)> {
    let authority = url.authority()?.as_str();
    let path = url
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Some((authority, path))
}

fn http_error(e: hyper::Error) -> ClientError {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ClientError::Disconnected
    } else {
        ClientError::Http(e.to_string())
    }
}

/// Checks before any load that the host answers TCP, so a typo exits 2 with the reason.
pub async fn preflight(host: &Uri, timeout: Duration) -> anyhow::Result<()> {
    let authority = host
        .authority()
        .ok_or_else(|| anyhow::anyhow!("--host {host} has no host:port"))?;
    match tokio::time::timeout(timeout, TcpStream::connect(authority.as_str())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("target {host} is unreachable: {e}"),
        Err(_) => anyhow::bail!("target {host} did not accept a connection within {timeout:?}"),
    }
}

/// Parses `--host`: an http:// URL (TLS is not built in).
pub fn parse_host(host: &str) -> anyhow::Result<Uri> {
    let uri: Uri = host
        .trim_end_matches('/')
        .parse()
        .map_err(|e| anyhow::anyhow!("--host {host:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => anyhow::bail!(
            "--host {host}: https is not supported yet; put the load generator next to the shop, or \
             terminate TLS in front of it"
        ),
        _ => anyhow::bail!("--host {host:?} must start with http://"),
    }
    if uri.authority().is_none() {
        anyhow::bail!("--host {host:?} has no host");
    }
    Ok(uri)
}
