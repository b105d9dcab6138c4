//! Reading requests the way Toss does: JSON bodies and path segments whose every rejection is a
//! Toss `INVALID_REQUEST` (axum's own plain-text rejections never reach a client, and a body over
//! the size limit is refused before it is read), and amounts sent as a number or as the numeric
//! string the successUrl gave.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest body read. Toss's are a few hundred bytes; this is axum's default limit, made
/// explicit so that a declared length can be judged against it before anything is read.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Refuses (`INVALID_REQUEST`) a request whose `Content-Length` is over [`MAX_BODY`] before
/// anything reads its body (the edge's check; here on every route, before authentication). A chunked
/// body is cut off at the limit when it is read (`DefaultBodyLimit`).
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    match http_edge::body::refuse_declared_over(request, MAX_BODY) {
        Ok(request) => next.run(request).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A JSON body; the `Content-Type` is not checked (Toss's own samples forget it as often as not).
pub struct TossJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for TossJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = http_edge::body::read(req).await?;
        serde_json::from_slice(&bytes)
            .map(TossJson)
            .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// One path parameter, percent-decoded.
pub struct TossPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TossPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| TossPath(p))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}

/// Toss's largest amounts are far below this; it keeps sums and VAT from overflowing.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// A whole number of won, from `15000` or `"15000"` (any sign: callers decide what is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAmount")]
pub struct Amount(pub i64);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAmount {
    Number(i64),
    Text(String),
}

impl TryFrom<RawAmount> for Amount {
    type Error = String;

    fn try_from(raw: RawAmount) -> Result<Self, String> {
        let n = match raw {
            RawAmount::Number(n) => n,
            RawAmount::Text(s) => s
                .parse::<i64>()
                .map_err(|_| format!("amount {s:?} is not a whole number"))?,
        };
        if n.abs() > MAX_AMOUNT {
            return Err(format!("amount {n} is too large"));
        }
        Ok(Amount(n))
    }
}

/// Toss's orderId: 6 to 64 of `[A-Za-z0-9_=-]`.
pub fn valid_order_id(order_id: &str) -> bool {
    (6..=64).contains(&order_id.len())
        && order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

/// Toss's limit on a paymentKey's length.
pub const MAX_PAYMENT_KEY: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_number_or_string() {
        let parse = |s: &str| serde_json::from_str::<Amount>(s).map(|a| a.0).ok();
        assert_eq!(parse("15000"), Some(15000));
        assert_eq!(parse("\"15000\""), Some(15000));
        assert_eq!(parse("-5"), Some(-5));
        assert_eq!(parse("1000.5"), None);
        assert_eq!(parse("\"12a\""), None);
        assert_eq!(parse("\"\""), None);
        assert_eq!(parse("null"), None);
        assert_eq!(parse("true"), None);
        assert_eq!(parse("99999999999999999999"), None);
        assert_eq!(parse("1000000000001"), None);
    }

    #[test]
    fn order_id_rules() {
        assert!(valid_order_id("a4CWyWY5m89PNh7xJwhk1"));
        assert!(valid_order_id("ord-1_2=3"));
        assert!(!valid_order_id("short"));
        assert!(!valid_order_id(&"a".repeat(65)));
        assert!(!valid_order_id("order 123"));
        assert!(!valid_order_id("주문번호123456"));
    }
}
