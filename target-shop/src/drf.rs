//! DRF's wire dialect: compact JSON without charset, `Allow` on every response of a route, 405 after
//! authentication, request bodies parsed lazily with DRF's 415 and parse-error answers (and a body
//! over Django's size limit refused before it is read), and the unknown URL fallback.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body read (Django's DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB).
pub const MAX_BODY: usize = 2_621_440;

/// A JSON response the way `JSONRenderer` writes it: compact, `application/json` with no charset.
pub fn json(status: StatusCode, body: &Value) -> Response {
    json_text(status, body.to_string())
}

/// A response whose JSON is already rendered (a cached page).
pub fn json_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 200 with a JSON body.
pub fn ok(body: &Value) -> Response {
    json(StatusCode::OK, body)
}

/// 204 with no body and no Content-Type, as DRF sends it.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Django's HTML 404 for unknown URLs (the router's fallback), rendered with every other error.
pub async fn unknown_url() -> Response {
    ApiError::UnknownUrl.into_response()
}

/// Adds the route's `Allow` to a response unless it is Django's (HTML 500).
pub fn with_allow(mut response: Response, allow: HeaderValue) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The methods a route accepts in Django's order, HEAD added wherever GET is, OPTIONS always.
pub fn allow_header(methods: &[Method]) -> String {
    let order = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    order
        .iter()
        .filter(|m| {
            methods.contains(m)
                || (**m == Method::HEAD && methods.contains(&Method::GET))
                || **m == Method::OPTIONS
        })
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `request.data`: the body as DRF's JSON or form parser reads it. An empty body is empty data; a
/// body with an unsupported (or no) content type is a 415 echoing the header; malformed JSON is a
/// 400 parse error. Anything that is not an object becomes DRF's `non_field_errors` answer.
pub struct Data(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Data {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        // Django's `HttpRequest.body` refuses a declared length over the limit before it reads a
        // byte, and so does the edge: a client announcing a huge body holds no memory and no
        // handler while it sends it. A chunked body is cut off at the limit by `DefaultBodyLimit`.
        let req = http_edge::body::refuse_declared_over(req, MAX_BODY)?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = http_edge::body::read(req).await?;
        if bytes.is_empty() {
            return Ok(Self(Map::new()));
        }
        let media_type = content_type
            .as_deref()
            .and_then(|ct| ct.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        let value = match media_type.as_deref() {
            Some("application/json") => serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| ApiError::ParseError(python_json_message(&e)))?,
            Some("application/x-www-form-urlencoded") => Value::Object(
                form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect(),
            ),
            _ => {
                return Err(ApiError::UnsupportedMediaType(
                    content_type.unwrap_or_default(),
                ));
            }
        };
        match value {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Err(ApiError::BadRequest(serde_json::json!({
                "non_field_errors": ["No data provided"]
            }))),
            other => Err(ApiError::BadRequest(serde_json::json!({
                "non_field_errors": [format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type(&other)
                )]
            }))),
        }
    }
}

/// Python's name for a JSON value's type, as DRF's messages print it.
pub fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `json` error text is what DRF shows; serde's differs, so the position is given the
/// Python way (`line L column C (char N)`) after serde's description.
fn python_json_message(e: &serde_json::Error) -> String {
    let description = e.to_string();
    let description = description
        .split(" at line ")
        .next()
        .unwrap_or(&description)
        .to_string();
    format!("{description}: line {} column {}", e.line(), e.column())
}

/// The body of a 405 for `method`, checked after authentication by the caller.
pub fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.as_str().to_ascii_uppercase(),
    }
}

/// DRF's answer to OPTIONS: the view's metadata.
pub fn options_metadata(name: &str) -> Response {
    ok(&serde_json::json!({
        "name": name,
        "description": "",
        "renders": ["application/json", "text/html"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    }))
}

/// A datetime as DRF renders it: ISO 8601, microseconds only when non-zero, `Z` for UTC.
pub fn datetime(at: &chrono::DateTime<chrono::Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}
