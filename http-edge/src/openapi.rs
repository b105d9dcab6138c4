//! A server's OpenAPI document on the wire, and what utoipa cannot derive for it. Each server
//! derives its own document (its `ApiDoc`, its security scheme, which links it adds); this is the
//! part that was the same in both: the document served as compact JSON, and the links between
//! operations that schemathesis's stateful mode follows, built and attached.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// `document` as a 200 with compact JSON, `Content-Type: application/json` (no charset). The
/// error is the serialisation's, for the server to answer as its own 500.
pub fn response(document: &OpenApi) -> Result<Response, serde_json::Error> {
    let mut response = (StatusCode::OK, document.to_json()?).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// A link to the operation `operation_id`, its `parameters` as (name, runtime expression) pairs,
/// with a request body when given (runtime expressions inside it are followed too).
pub fn link(
    operation_id: &str,
    parameters: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Link {
    let mut builder = LinkBuilder::new().operation_id(operation_id);
    for (name, expression) in parameters {
        builder = builder.parameter(*name, *expression);
    }
    if let Some(body) = body {
        builder = builder.request_body(Some(body));
    }
    builder.build()
}

/// Adds `links` by name to `op`'s response for `status`; nothing when it has none.
pub fn add_links<'a>(
    op: &mut Operation,
    status: &str,
    links: impl IntoIterator<Item = (&'a str, Link)>,
) {
    if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
        for (name, link) in links {
            response.links.insert(name.to_string(), RefOr::T(link));
        }
    }
}
