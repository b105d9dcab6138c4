//! What every authenticated request passes before its handler, in Toss's order: Basic auth, then
//! a `TossPayments-Test-Code` (before any other check), then `Idempotency-Key` on a POST. Requests
//! refused here are never recorded for idempotency.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api;
use crate::auth;
use crate::chaos::Dropped;
use crate::codes;
use crate::error::{self, ApiError, Outcome, json_response};
use crate::idempotency::{Begin, Idempotency, MAX_KEY_CHARS};
use crate::state::AppState;

const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Bodies read again for a test code's decline; Toss's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match auth::authenticate(&state.secret_keys, request.headers()) {
        Ok(caller) => caller,
        Err(code) => return error::render(code),
    };
    let secret_key = state
        .secret_keys
        .get(usize::from(caller.0))
        .map_or("", String::as_str);
    let path = request.uri().path().to_owned();
    if path.starts_with("/v1/")
        && let Some(code) = auth::test_code(request.headers(), secret_key)
    {
        if code.declines && request.method() == Method::POST && path == "/v1/payments/confirm" {
            match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
                Ok(body) => api::abort_by_test_code(&state, caller, &body, code),
                Err(e) => tracing::debug!(error = %e, "unreadable body with a test code"),
            }
        }
        return error::render(code);
    }
    request.extensions_mut().insert(caller);
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS => k,
        _ => return error::render(&codes::INVALID_IDEMPOTENCY_KEY),
    };
    let scope = Idempotency::scope(secret_key, request.method().as_str(), &path, key);
    match state.idempotency.begin(scope, state.now()) {
        Begin::Replay(status, body) => {
            let mut response = json_response(status, body);
            response.extensions_mut().insert(Outcome("REPLAYED"));
            response
        }
        Begin::Busy => error::render(&codes::IDEMPOTENT_REQUEST_PROCESSING),
        Begin::Started(ticket) => {
            let response = next.run(request).await;
            if response.extensions().get::<Dropped>() == Some(&Dropped::BeforeCommit) {
                // Nothing happened: the ticket's drop frees the key for a retry.
                return response;
            }
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => {
                    ticket.finish(parts.status, bytes.clone());
                    Response::from_parts(parts, Body::from(bytes))
                }
                Err(e) => ApiError::Internal(anyhow::anyhow!("reading our own answer: {e}"))
                    .into_response(),
            }
        }
    }
}
