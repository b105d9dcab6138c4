//! The shop's one error type and its single mapping to DRF's wire shapes (drf-wire.md, section 3).
//! Handlers return `Result<_, ApiError>`; nothing else in the crate builds an error response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::drf;

/// `WWW-Authenticate` on every 401, from simplejwt's `JWTAuthentication.authenticate_header`.
const WWW_AUTHENTICATE: &str = "Bearer realm=\"api\"";

/// Django's 404 page for a URL no route matches (179 bytes).
const NOT_FOUND_HTML: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";

/// Django's page for an uncaught exception with DEBUG off (145 bytes).
const SERVER_ERROR_HTML: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or a scheme other than exactly `Bearer`, on a view that needs a user.
    #[error("authentication credentials were not provided")]
    NotAuthenticated,
    /// DRF's plain `AuthenticationFailed`: `{"detail": message}` (wrong login, inactive refresh).
    #[error("authentication failed: {0}")]
    AuthenticationFailed(&'static str),
    /// simplejwt's `InvalidToken` on an authenticated view: the `messages` list names the reason.
    #[error("token not valid: {0}")]
    TokenNotValid(&'static str),
    /// simplejwt's `InvalidToken` raised by the token views: `{"detail","code"}`.
    #[error("token not valid: {0}")]
    TokenViewInvalid(&'static str),
    #[error("bad authorization header")]
    BadAuthorizationHeader,
    #[error("token names no user")]
    NoUserIdentification,
    #[error("user not found")]
    UserNotFound,
    #[error("user inactive")]
    UserInactive,
    #[error("permission denied")]
    PermissionDenied,
    /// `{"detail": message}` with 404.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String },
    /// The raw `Content-Type` value, echoed as DRF does.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("json parse error: {0}")]
    ParseError(String),
    /// A body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (`drf::MAX_BODY`). Django's own answer is
    /// its HTML 400 page for the `RequestDataTooBig` it raises (a `SuspiciousOperation`; never a
    /// 413); DRF projects that enforce the limit on JSON raise a `ParseError` with the exception's
    /// message instead, which is this JSON 400.
    #[error("request body over the size limit")]
    RequestDataTooBig,
    /// A 400 whose body is already DRF-shaped: field errors, `non_field_errors`, business codes.
    #[error("bad request: {0}")]
    BadRequest(Value),
    /// Any other status with a body already shaped (a 409 `ALREADY_PAID`, a ReservationResult).
    #[error("{status}: {body}")]
    Shaped { status: StatusCode, body: Value },
    /// A business refusal clients branch on: `{"error_code","detail"}` (the payment answers:
    /// `AMOUNT_MISMATCH`, `ORDER_NOT_PAYABLE`, `ALREADY_PAID`, or Toss's own code passed through).
    #[error("{status} {code}: {detail}")]
    Coded {
        status: StatusCode,
        code: String,
        detail: String,
    },
    /// Toss did not answer (timeout, connection refused or dropped) and a lookup could not settle
    /// what happened: nothing was recorded, the order is still pending, the client may try again.
    #[error("payment provider unavailable")]
    PaymentProviderUnavailable,
    /// A URL no route matches: Django's HTML 404 page, not DRF's JSON.
    #[error("no route for the url")]
    UnknownUrl,
    /// Anything unexpected: an opaque 500 for the client, logged once at the edge.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// `{"detail": message}`: the shape of most of DRF's errors (401, 403, 404, 405, 415, a parse
/// error's 400).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "Authentication credentials were not provided."}))]
pub struct Detail {
    pub detail: String,
}

/// simplejwt's `{"detail","code"}` (the token views, a bad header, an unknown user).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "Token is invalid", "code": "token_not_valid"}))]
pub struct DetailCode {
    pub detail: String,
    pub code: String,
}

/// simplejwt's answer to an invalid token on an authenticated view: the reason per token class.
#[derive(Serialize, ToSchema)]
pub struct TokenNotValid {
    #[schema(example = "Given token not valid for any token type")]
    pub detail: String,
    #[schema(example = "token_not_valid")]
    pub code: String,
    pub messages: Vec<TokenMessage>,
}

/// One token class's reason in [`TokenNotValid`].
#[derive(Serialize, ToSchema)]
pub struct TokenMessage {
    #[schema(example = "AccessToken")]
    pub token_class: String,
    #[schema(example = "access")]
    pub token_type: String,
    #[schema(example = "Token is expired")]
    pub message: String,
}

/// A business refusal clients branch on: `{"error_code","detail"}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error_code": "AMOUNT_MISMATCH", "detail": "Amount does not match the order total."}))]
pub struct ErrorCode {
    pub error_code: String,
    pub detail: String,
}

/// A shape as the JSON DRF renders (plain structs cannot fail to serialise).
fn body(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).unwrap_or(Value::Null)
}

fn detail(message: impl Into<String>) -> Value {
    body(Detail {
        detail: message.into(),
    })
}

fn detail_code(message: impl Into<String>, code: &str) -> Value {
    body(DetailCode {
        detail: message.into(),
        code: code.into(),
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        Self::Internal(anyhow::Error::new(e).context("redis"))
    }
}

/// The edge's body refusals as Django answers them: over the limit (declared, or reached while
/// streaming) is `RequestDataTooBig`; a body that could not be read is DRF's parse error with
/// axum's text.
impl From<http_edge::BodyError> for ApiError {
    fn from(e: http_edge::BodyError) -> Self {
        match e {
            http_edge::BodyError::DeclaredTooLarge { .. } | http_edge::BodyError::TooLarge(_) => {
                Self::RequestDataTooBig
            }
            http_edge::BodyError::Unreadable(text) => Self::ParseError(text),
        }
    }
}

impl ApiError {
    /// The database's error in this one's causes, when the database failed the request rather
    /// than the request's own logic refusing it.
    fn database_error(&self) -> Option<&sqlx::Error> {
        let Self::Internal(error) = self else {
            return None;
        };
        error
            .chain()
            .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
    }

    /// Whether the database failed the request: what a payment Toss approved is written again
    /// after.
    pub fn database_failed(&self) -> bool {
        self.database_error().is_some()
    }

    /// A `{"error_code","detail"}` refusal.
    pub fn coded(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Coded {
            status,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// Field errors in DRF's shape: `{"field":["message"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(json!({ field: [message.into()] }))
    }

    fn status_and_body(&self) -> (StatusCode, Value) {
        let token_messages = |message: &str| {
            body(TokenNotValid {
                detail: "Given token not valid for any token type".into(),
                code: "token_not_valid".into(),
                messages: vec![TokenMessage {
                    token_class: "AccessToken".into(),
                    token_type: "access".into(),
                    message: message.into(),
                }],
            })
        };
        match self {
            Self::NotAuthenticated => (
                StatusCode::UNAUTHORIZED,
                detail("Authentication credentials were not provided."),
            ),
            Self::AuthenticationFailed(message) => (StatusCode::UNAUTHORIZED, detail(*message)),
            Self::TokenNotValid(message) => (StatusCode::UNAUTHORIZED, token_messages(message)),
            Self::TokenViewInvalid(message) => (
                StatusCode::UNAUTHORIZED,
                detail_code(*message, "token_not_valid"),
            ),
            Self::BadAuthorizationHeader => (
                StatusCode::UNAUTHORIZED,
                detail_code(
                    "Authorization header must contain two space-delimited values",
                    "bad_authorization_header",
                ),
            ),
            Self::NoUserIdentification => (
                StatusCode::UNAUTHORIZED,
                detail_code(
                    "Token contained no recognizable user identification",
                    "token_not_valid",
                ),
            ),
            Self::UserNotFound => (
                StatusCode::UNAUTHORIZED,
                detail_code("User not found", "user_not_found"),
            ),
            Self::UserInactive => (
                StatusCode::UNAUTHORIZED,
                detail_code("User is inactive", "user_inactive"),
            ),
            Self::PermissionDenied => (
                StatusCode::FORBIDDEN,
                detail("You do not have permission to perform this action."),
            ),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, detail(message.as_str())),
            Self::MethodNotAllowed { method } => (
                StatusCode::METHOD_NOT_ALLOWED,
                detail(format!("Method \"{method}\" not allowed.")),
            ),
            Self::UnsupportedMediaType(content_type) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail(format!(
                    "Unsupported media type \"{content_type}\" in request."
                )),
            ),
            Self::ParseError(reason) => (
                StatusCode::BAD_REQUEST,
                detail(format!("JSON parse error - {reason}")),
            ),
            Self::RequestDataTooBig => (
                StatusCode::BAD_REQUEST,
                detail("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."),
            ),
            Self::BadRequest(body) => (StatusCode::BAD_REQUEST, body.clone()),
            Self::Shaped { status, body } => (*status, body.clone()),
            Self::Coded {
                status,
                code,
                detail,
            } => (
                *status,
                body(ErrorCode {
                    error_code: code.clone(),
                    detail: detail.clone(),
                }),
            ),
            Self::PaymentProviderUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                body(ErrorCode {
                    error_code: "PAYMENT_PROVIDER_UNAVAILABLE".into(),
                    detail: "Payment provider unavailable, try again.".into(),
                }),
            ),
            Self::UnknownUrl => (StatusCode::NOT_FOUND, Value::Null),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, Value::Null),
        }
    }
}

impl ApiError {
    /// Whether a database connection died under the request (a restart, a terminated backend),
    /// rather than its logic failing: what `reconnect` and a payment's recording act on.
    pub fn connection_lost(&self) -> bool {
        self.database_error()
            .is_some_and(crate::reconnect::is_connection_lost)
    }
}

/// One of Django's HTML pages.
fn html(status: StatusCode, page: &'static str) -> Response {
    let mut response = (status, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::UnknownUrl = self {
            return html(StatusCode::NOT_FOUND, NOT_FOUND_HTML);
        }
        if let Self::Internal(error) = &self {
            // The request id is on the span of the request (telemetry); the client sees nothing.
            tracing::error!(error = format!("{error:#}"), "internal server error");
            let mut response = html(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR_HTML);
            // For `reconnect::recover`: the pool's connections died, not this request's logic.
            if self.connection_lost() {
                response
                    .extensions_mut()
                    .insert(crate::reconnect::ConnectionLost);
            }
            return response;
        }
        let (status, body) = self.status_and_body();
        let mut response = drf::json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
        }
        response
    }
}
