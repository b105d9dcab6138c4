//! Each user's own HTTP/1.1 keep-alive connections, spoken on the user's own task
//! ([`http1`]). A user holds at most one connection per host: the shop, and the Toss mock's
//! checkout.

mod http1;
#[cfg(test)]
mod tests;

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
    /// `Allow`, `WWW-Authenticate` and `Retry-After` of an error answer: what explains it.
    pub notable_headers: Option<String>,
}

/// The headers that explain an error answer, as `Name: value; Name: value`.
fn notable_headers(status: u16, headers: &[httparse::Header<'_>]) -> Option<String> {
    if status < 400 {
        return None;
    }
    let found: Vec<String> = ["Allow", "WWW-Authenticate", "Retry-After"]
        .iter()
        .filter_map(|shown| {
            let h = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(shown))?;
            let value = std::str::from_utf8(h.value).ok()?;
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
    conn: http1::Conn,
}

/// A user's connections, keyed by host:port.
#[derive(Default)]
pub struct Connections {
    open: Vec<Connection>,
    /// Every request's timeout, on one timer moved forward each time: tokio then only stores the
    /// later deadline, where a new timer per request would enter and leave the timer wheel.
    deadline: Option<Pin<Box<Sleep>>>,
}

const AGENT: &str = concat!("loadgen/", env!("CARGO_PKG_VERSION"));

impl Connections {
    /// Sends one request to `authority` (`host:port`) with the request target `path` (its
    /// headers, Content-Type included, set by the caller) and reads the whole response within
    /// `timeout`. A connection that fails, or that the server closes, is dropped, and the next
    /// request opens a new one.
    pub async fn send(
        &mut self,
        method: &Method,
        authority: &str,
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
        let exchange = exchange(
            &mut self.open,
            method,
            authority,
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
}

/// One request on the user's connection to `authority`, opened first when there is none (or the
/// server closed it); a connection the server will not keep is let go.
async fn exchange(
    open: &mut Vec<Connection>,
    method: &Method,
    authority: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ClientError> {
    let i = ready(open, authority).await?;
    let answer = open[i]
        .conn
        .round_trip(&http1::Outgoing {
            method,
            target,
            host: authority,
            agent: AGENT,
            headers,
            body,
        })
        .await?;
    if !answer.keep_alive {
        open.swap_remove(i);
    }
    Ok(Response {
        status: answer.status,
        body: answer.body,
        notable_headers: answer.notable_headers,
    })
}

/// The index of an open connection to `authority`, opened now when there is none.
async fn ready(open: &mut Vec<Connection>, authority: &str) -> Result<usize, ClientError> {
    if let Some(i) = open.iter().position(|c| c.authority == authority) {
        // A keep-alive connection the server closed while idle is replaced, not reported.
        if open[i].conn.is_reusable() {
            return Ok(i);
        }
        open.swap_remove(i);
    }
    if http::HeaderValue::from_str(authority).is_err() {
        return Err(ClientError::Url(authority.to_owned()));
    }
    let conn = http1::Conn::connect(authority).await?;
    open.push(Connection {
        authority: authority.to_owned(),
        conn,
    });
    Ok(open.len() - 1)
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
