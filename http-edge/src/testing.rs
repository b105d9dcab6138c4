//! Test support for servers built on this edge (feature `testing`; tests only, so a failure here
//! is a panic naming what went wrong). A raw TCP client for what an HTTP client will not do (stall
//! part-way through a request, trickle a header, announce a body and never send it), and the
//! check of a served OpenAPI document against its checked-in copy.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on liveness, not a performance figure: a server that waits on a stalled client or on a
/// body it should not read never answers; a working one answers in milliseconds.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// The same for a connection the server must close (after a linger or a short header deadline).
pub const CLOSED_SOON: Duration = Duration::from_secs(30);

/// A connection to `addr` that has sent `bytes`.
pub async fn sent(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream
        .write_all(bytes.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("writing to {addr}: {e}"));
    stream
}

/// The next response on `stream`: status and body (its Content-Length's worth), within
/// [`PROMPTLY`].
pub async fn response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
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

/// Status and body of a whole HTTP/1 response with a Content-Length; `None` while incomplete.
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
pub async fn closed_within(stream: &mut (impl AsyncRead + Unpin), bound: Duration) -> bool {
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

/// Whether `stream` is still open and silent: nothing to read, and not closed.
pub fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0_u8; 64];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// `served` (a server's OpenAPI document, 3.1) pretty-printed against the file at `path`: a panic
/// with the unified diff when they differ, unless `update` (the caller's `UPDATE_SCHEMA=1`), which
/// writes the file instead.
pub fn check_document(path: &Path, served: &serde_json::Value, update: bool) {
    assert_eq!(served["openapi"], "3.1.0", "not an OpenAPI 3.1 document");
    let served = match serde_json::to_string_pretty(served) {
        Ok(text) => format!("{text}\n"),
        Err(e) => panic!("printing the served document: {e}"),
    };
    if update {
        if let Err(e) = std::fs::write(path, &served) {
            panic!("writing {}: {e}", path.display());
        }
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if checked_in != served {
        let diff = similar::TextDiff::from_lines(&checked_in, &served)
            .unified_diff()
            .context_radius(3)
            .header(&path.display().to_string(), "served")
            .to_string();
        panic!(
            "the served OpenAPI document differs from {} (run with UPDATE_SCHEMA=1 to accept it):\n{diff}",
            path.display()
        );
    }
}
