//! Request bodies at the transport level, before any server reads one as its own format: a body
//! whose declared length is over the limit is refused before a byte of it is read, so a client
//! announcing a huge body holds no memory and no handler while it sends it; a body is read whole,
//! cut off at the router's `DefaultBodyLimit` (set to the same limit) when it streams without a
//! declared length (chunked). What a refusal looks like on the wire is each server's: a
//! [`BodyError`] is mapped in its `error.rs`.

use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};

/// How long the rest of a body refused for its size is read and thrown away (nginx's
/// `lingering_timeout`).
const LINGER: Duration = Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// Its `Content-Length` is over the limit: refused before a byte of it was read.
    #[error("a body of {declared} bytes, over {limit}")]
    DeclaredTooLarge { declared: u64, limit: usize },
    /// It grew past the router's `DefaultBodyLimit` while it was read (no declared length). The
    /// text is axum's.
    #[error("{0}")]
    TooLarge(String),
    /// It could not be read: the client went away, a malformed chunk. The text is axum's.
    #[error("{0}")]
    Unreadable(String),
}

/// `request` back when its declared length is within `limit` (or it declares none); otherwise
/// [`BodyError::DeclaredTooLarge`], before anything read the body. What the client still sends of
/// the refused body is read and thrown away in the background for a while, as nginx's lingering
/// close does: a connection closed on unread bytes is reset by the kernel, and the reset can
/// destroy the refusal before the client has read it.
pub fn refuse_declared_over(request: Request, limit: usize) -> Result<Request, BodyError> {
    match declared_length(request.headers()) {
        Some(declared) if declared > limit as u64 => {
            discard_rest(request);
            Err(BodyError::DeclaredTooLarge { declared, limit })
        }
        _ => Ok(request),
    }
}

/// The whole body of `request`, at most the router's `DefaultBodyLimit`.
pub async fn read(request: Request) -> Result<Bytes, BodyError> {
    Bytes::from_request(request, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BodyError::TooLarge(e.body_text())
        } else {
            BodyError::Unreadable(e.body_text())
        }
    })
}

/// The body's `Content-Length`, when it has one (hyper has already refused a malformed one).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads what the client still sends of a refused body and throws it away, for at most
/// [`LINGER`]. A client waiting for `100 Continue` sends nothing more, so its body is left alone.
fn discard_rest(request: Request) {
    let waits_for_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if waits_for_continue {
        return;
    }
    let mut body = request.into_body();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(_)) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
            {
            }
        })
        .await;
    });
}
