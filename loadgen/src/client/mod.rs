//! Each user's own HTTP/1.1 keep-alive connections, spoken on the user's own task
//! ([`http1`]), in plain TCP or over TLS ([`tls`]), or HTTP/2 when asked for ([`http2`]). A user
//! holds at most one connection per origin: the shop, and the Toss mock's checkout.

mod http1;
#[cfg(test)]
mod http1_props;
mod http2;
#[cfg(test)]
mod tests;
pub mod tls;

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Uri};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// A finished response.
pub struct Response {
    pub status: u16,
    pub body: Bytes,
    /// The TLS handshake of the connection this request opened, if it did.
    pub tls_handshake_us: Option<u64>,
    /// `Allow`, `WWW-Authenticate` and `Retry-After` of an error answer: what explains it.
    pub notable_headers: Option<String>,
}

/// The headers that explain an error answer, as `Name: value; Name: value`; `header` finds one
/// by name (any case).
fn notable_headers<'a>(status: u16, header: impl Fn(&str) -> Option<&'a [u8]>) -> Option<String> {
    if status < 400 {
        return None;
    }
    let found: Vec<String> = ["Allow", "WWW-Authenticate", "Retry-After"]
        .iter()
        .filter_map(|shown| {
            let value = std::str::from_utf8(header(shown)?).ok()?;
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
    /// The connection failed while the request was written or its answer read.
    #[error("{}", io_error(.0))]
    Io(io::Error),
    #[error("TimeoutError('timed out after {0:?}')")]
    Timeout(Duration),
    #[error("RemoteDisconnected('Remote end closed connection without response')")]
    Disconnected,
    #[error("ConnectionError('{0}')")]
    Http(String),
    #[error("InvalidURL('{0}')")]
    Url(String),
    /// The TLS handshake failed (requests' and so Locust's word for it).
    #[error("SSLError('{0}')")]
    Tls(String),
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

/// Where a connection goes: `host:port`, and whether TLS is spoken on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub authority: String,
    pub tls: bool,
}

impl Origin {
    /// An absolute URL's origin; None without a host or with a scheme other than http(s).
    pub fn of(url: &Uri) -> Option<Self> {
        let tls = match url.scheme_str() {
            Some("https") => true,
            Some("http") | None => false,
            Some(_) => return None,
        };
        let authority = url.authority()?;
        // The port the scheme implies, written out: it is part of the connection's key.
        let authority = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:{}", authority.host(), if tls { 443 } else { 80 }),
        };
        Some(Self { authority, tls })
    }
}

/// The protocol spoken on one connection.
enum Wire {
    H1(http1::Conn),
    H2(http2::Conn),
}

impl Wire {
    fn is_reusable(&mut self) -> bool {
        match self {
            Wire::H1(c) => c.is_reusable(),
            Wire::H2(c) => c.is_reusable(),
        }
    }
}

struct Connection {
    origin: Origin,
    conn: Wire,
    /// The TLS handshake that opened it, reported with its first request.
    handshake_us: Option<u64>,
}

/// A user's connections, keyed by origin.
#[derive(Default)]
pub struct Connections {
    /// The run's TLS client; an https origin without one is refused.
    tls: Option<tls::Tls>,
    /// HTTP/2 with prior knowledge on plain-http origins (`--http2`); https ones take what ALPN
    /// agrees.
    h2c: bool,
    open: Vec<Connection>,
    /// Every request's timeout, on one timer moved forward each time: tokio then only stores the
    /// later deadline, where a new timer per request would enter and leave the timer wheel.
    deadline: Option<Pin<Box<Sleep>>>,
}

const AGENT: &str = concat!("loadgen/", env!("CARGO_PKG_VERSION"));

impl Connections {
    /// `h2c`: speak HTTP/2 to plain-http origins without asking (the server must).
    pub fn new(tls: Option<tls::Tls>, h2c: bool) -> Self {
        Self {
            tls,
            h2c,
            ..Self::default()
        }
    }

    /// Sends one request to `origin` with the request target `path` (its
    /// headers, Content-Type included, set by the caller) and reads the whole response within
    /// `timeout`. A connection that fails, or that the server closes, is dropped, and the next
    /// request opens a new one.
    pub async fn send(
        &mut self,
        method: &Method,
        origin: &Origin,
        path: PathAndQuery,
        headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let until = tokio::time::Instant::now() + timeout;
        let timer = match &mut self.deadline {
            Some(timer) => {
                timer.as_mut().reset(until);
                timer
            }
            None => self
                .deadline
                .insert(Box::pin(tokio::time::sleep_until(until))),
        };
        let dialer = Dialer {
            tls: self.tls.as_ref(),
            h2c: self.h2c,
        };
        let exchange = exchange(
            &mut self.open,
            dialer,
            method,
            origin,
            path.as_str(),
            &headers,
            body.as_deref().unwrap_or_default(),
        );
        let result = tokio::select! {
            biased;
            result = exchange => result,
            () = timer.as_mut() => Err(ClientError::Timeout(timeout)),
        };
        if result.is_err() {
            self.open.retain(|c| c.origin != *origin);
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
        let (origin, path) = target_of(url).ok_or_else(|| ClientError::Url(url.to_string()))?;
        self.send(method, &origin, path, headers, body, timeout)
            .await
    }
}

/// How a user opens a connection: the run's TLS client, and HTTP/2 by prior knowledge or not.
#[derive(Clone, Copy)]
struct Dialer<'a> {
    tls: Option<&'a tls::Tls>,
    h2c: bool,
}

/// One request on the user's connection to `authority`, opened first when there is none (or the
/// server closed it); a connection the server will not keep is let go.
async fn exchange(
    open: &mut Vec<Connection>,
    dialer: Dialer<'_>,
    method: &Method,
    origin: &Origin,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ClientError> {
    let i = ready(open, dialer, origin).await?;
    let tls_handshake_us = open[i].handshake_us.take();
    let outgoing = http1::Outgoing {
        method,
        target,
        host: &origin.authority,
        agent: AGENT,
        headers,
        body,
    };
    let answer = match &mut open[i].conn {
        Wire::H1(c) => c.round_trip(&outgoing).await?,
        Wire::H2(c) => c.round_trip(&outgoing).await?,
    };
    if !answer.keep_alive {
        open.swap_remove(i);
    }
    Ok(Response {
        status: answer.status,
        body: answer.body,
        tls_handshake_us,
        notable_headers: answer.notable_headers,
    })
}

/// The index of an open connection to `origin`, opened now when there is none.
async fn ready(
    open: &mut Vec<Connection>,
    dialer: Dialer<'_>,
    origin: &Origin,
) -> Result<usize, ClientError> {
    if let Some(i) = open.iter().position(|c| c.origin == *origin) {
        // A keep-alive connection the server closed while idle is replaced, not reported.
        if open[i].conn.is_reusable() {
            return Ok(i);
        }
        open.swap_remove(i);
    }
    if http::HeaderValue::from_str(&origin.authority).is_err() {
        return Err(ClientError::Url(origin.authority.clone()));
    }
    let tls = match (origin.tls, dialer.tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            return Err(ClientError::Tls(format!(
                "https://{} with no TLS settings",
                origin.authority
            )));
        }
    };
    let (conn, handshake_us) = dial(&origin.authority, tls, dialer.h2c).await?;
    open.push(Connection {
        origin: origin.clone(),
        conn,
        handshake_us,
    });
    Ok(open.len() - 1)
}

/// Connects to `authority` (`host:port`), shakes hands with `tls` when given, and starts the
/// protocol the two sides agree on: HTTP/2 when ALPN chose it (or `h2c` on plain TCP), HTTP/1.1
/// otherwise. Returns the TLS handshake's time too.
async fn dial(
    authority: &str,
    tls: Option<&tls::Tls>,
    h2c: bool,
) -> Result<(Wire, Option<u64>), ClientError> {
    let tcp = TcpStream::connect(authority)
        .await
        .map_err(ClientError::Connect)?;
    tcp.set_nodelay(true).map_err(ClientError::Connect)?;
    let Some(tls) = tls else {
        let wire = if h2c {
            Wire::H2(http2::Conn::handshake(tcp, "http").await?)
        } else {
            Wire::H1(http1::Conn::new(http1::Stream::Plain(tcp)))
        };
        return Ok((wire, None));
    };
    let started = std::time::Instant::now();
    let stream = tls.connect(authority, tcp).await?;
    let took = Some(started.elapsed().as_micros() as u64);
    let wire = if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        Wire::H2(http2::Conn::handshake(stream, "https").await?)
    } else {
        Wire::H1(http1::Conn::new(http1::Stream::Tls(Box::new(stream))))
    };
    Ok((wire, took))
}

/// An absolute URL's origin and request target; None without a host.
pub fn target_of(url: &Uri) -> Option<(Origin, PathAndQuery)> {
    let origin = Origin::of(url)?;
    let path = url
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Some((origin, path))
}

/// Checks before any load that the host answers TCP (and completes a TLS handshake with the
/// run's settings, and HTTP/2's preface with `--http2`), so a typo, an untrusted certificate or a
/// server without h2c exits 2 with the reason. Returns the protocol the host agreed to speak.
pub async fn preflight(
    host: &Uri,
    tls: Option<&tls::Tls>,
    timeout: Duration,
) -> anyhow::Result<&'static str> {
    let origin =
        Origin::of(host).ok_or_else(|| anyhow::anyhow!("--host {host} has no host:port"))?;
    let http2 = tls.is_some_and(tls::Tls::http2);
    let tls = if origin.tls { tls } else { None };
    let h2c = http2 && !origin.tls;
    let no_h2c = |why: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "{host} does not speak HTTP/2 with prior knowledge (--http2 on http://): {why}; use \
             https:// (ALPN) or leave --http2 out"
        )
    };
    let connect = async {
        let (wire, _) = dial(&origin.authority, tls, h2c)
            .await
            .map_err(|e| match e {
                // Refused: the address is right but no server is there, the guide's first
                // check before reading any 401 ("is the server running?").
                ClientError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    anyhow::anyhow!(
                        "nothing answers at {host} (connection refused): start the server first \
                         (`cargo xtask up` starts the shop) or correct --host; no load was sent"
                    )
                }
                ClientError::Connect(e) => anyhow::anyhow!("target {host} is unreachable: {e}"),
                ClientError::Tls(why) => anyhow::anyhow!("TLS handshake with {host} failed: {why}"),
                other if h2c => no_h2c(&other),
                other => anyhow::anyhow!("{host}: {other}"),
            })?;
        match wire {
            Wire::H1(_) => Ok("HTTP/1.1"),
            // h2's handshake only sends the preface; an answer in HTTP/2 (any status) is what
            // shows that the server speaks it (a GET: h2 takes a HEAD's Content-Length as a body's).
            Wire::H2(mut conn) if h2c => {
                let headers = HeaderMap::new();
                conn.round_trip(&http1::Outgoing {
                    method: &Method::GET,
                    target: "/",
                    host: &origin.authority,
                    agent: AGENT,
                    headers: &headers,
                    body: &[],
                })
                .await
                .map_err(|e| no_h2c(&e))?;
                Ok("HTTP/2")
            }
            Wire::H2(_) => Ok("HTTP/2"),
        }
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(done) => done,
        Err(_) => anyhow::bail!("target {host} did not accept a connection within {timeout:?}"),
    }
}

/// Parses `--host`: an http:// or https:// URL.
pub fn parse_host(host: &str) -> anyhow::Result<Uri> {
    let uri: Uri = host
        .trim_end_matches('/')
        .parse()
        .map_err(|e| anyhow::anyhow!("--host {host:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => anyhow::bail!("--host {host:?} must start with http:// or https://"),
    }
    if uri.authority().is_none() {
        anyhow::bail!("--host {host:?} has no host");
    }
    Ok(uri)
}
