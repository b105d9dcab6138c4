//! The mock's one error type and its single mapping to Toss's wire format,
//! `{"code":"...","message":"..."}` with the code's status. The message's language is the request's
//! (`Accept-Language: en-US` gives English), set for the whole request by [`with_language`].

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::codes::{self, Code};

tokio::task_local! {
    static ENGLISH: bool;
}

/// Runs `fut` (a request's handling) in the language its `Accept-Language` asked for, so every
/// error rendered inside it speaks that language without each handler passing it along.
pub async fn in_language<F: Future>(english: bool, fut: F) -> F::Output {
    ENGLISH.scope(english, fut).await
}

/// Toss answers in English when the client's first choice is English (`en`, `en-US`).
pub fn wants_english(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| {
            let tag = first.split(';').next().unwrap_or("").trim();
            tag.eq_ignore_ascii_case("en") || tag.to_ascii_lowercase().starts_with("en-")
        })
}

/// The language of the request being handled (Korean outside one).
pub fn english() -> bool {
    ENGLISH.try_with(|e| *e).unwrap_or(false)
}

/// What a request came to, for `/__mock/stats`: `OK`, a Toss code, or a chaos outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A documented Toss error.
    #[error("{}", .0.code)]
    Toss(&'static Code),
    /// A malformed request (bad JSON, a missing or mistyped field); the detail is only logged, as
    /// Toss's `INVALID_REQUEST` message does not name the field consistently.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Anything unexpected: an opaque 500 for the client, logged once here.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<&'static Code> for ApiError {
    fn from(code: &'static Code) -> Self {
        Self::Toss(code)
    }
}

/// The edge's body refusals (over the size limit, declared or reached; unreadable) are all Toss's
/// `INVALID_REQUEST`, the edge's text only logged.
impl From<http_edge::BodyError> for ApiError {
    fn from(e: http_edge::BodyError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }

    pub fn code(&self) -> &'static Code {
        match self {
            Self::Toss(code) => code,
            Self::Invalid(_) => &codes::INVALID_REQUEST,
            Self::Internal(_) => &codes::FAILED_INTERNAL_SYSTEM_PROCESSING,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Invalid(detail) => tracing::debug!(%detail, "invalid request"),
            Self::Internal(e) => tracing::error!(error = %format!("{e:#}"), "internal error"),
            Self::Toss(_) => {}
        }
        render(self.code())
    }
}

/// Toss's error body, the only one the mock sends: `{"code","message"}` (the message in the
/// request's language; clients branch on the code).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TossError, example = json!({"code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 정보 입니다."}))]
pub struct ErrorBody<'a> {
    /// One of Toss's documented codes (`toss-mock/src/codes.rs`).
    pub code: &'a str,
    pub message: &'a str,
}

impl ErrorBody<'_> {
    /// The body's bytes (plain strings cannot fail to serialise).
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `code` as Toss sends it, in the request's language.
pub fn render(code: &'static Code) -> Response {
    let body = ErrorBody {
        code: code.code,
        message: code.message(english()),
    };
    let status = StatusCode::from_u16(code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, body.to_vec());
    response.extensions_mut().insert(Outcome(code.code));
    response
}

/// A JSON body with Toss's content type.
pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_only_when_asked_first() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(v));
            wants_english(&h)
        };
        assert!(with("en-US"));
        assert!(with("en"));
        assert!(with("en-GB;q=0.9, ko"));
        assert!(!with("ko-KR,en-US;q=0.8"));
        assert!(!with("eng"));
        assert!(!wants_english(&HeaderMap::new()));
    }
}
