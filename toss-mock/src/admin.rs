//! The mock's own endpoints under `/__mock` (none exist at Toss): the session a buyer's checkout
//! would create, statistics, reset, run-time chaos; and `/healthz`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::chaos::Chaos;
use crate::codes;
use crate::error::{ApiError, ErrorBody, Outcome, json_response};
use crate::openapi;
use crate::payment::{Payment, Status};
use crate::request::{Amount, TossJson, valid_order_id};
use crate::state::AppState;
use crate::stats::{PaymentsByStatus, StatsReport, Stored};

/// The buyer's checkout: a session for an order.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// 6 to 64 of `A-Z a-z 0-9 - _ =`.
    #[schema(pattern = "^[A-Za-z0-9_=-]{6,64}$", example = "ORD-20261122-000123")]
    order_id: String,
    #[schema(schema_with = openapi::amount)]
    amount: Amount,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    order_name: Option<String>,
    /// `IN_PROGRESS` (the buyer authenticated; the default) or `READY` (checkout open).
    #[schema(value_type = Option<SessionStatus>)]
    status: Option<String>,
    /// Where the buyer's browser goes after paying (the mock's `--success-url` by default).
    success_url: Option<String>,
}

/// The statuses a session can be opened in.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)] // a schema only: `CreateBody::status` is read as text
enum SessionStatus {
    Ready,
    InProgress,
}

/// The session opened, with the successUrl the buyer's browser would be sent to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Created<'a> {
    payment_key: &'a str,
    order_id: &'a str,
    amount: i64,
    #[schema(value_type = SessionStatus)]
    status: &'static str,
    success_url: String,
}

/// `POST /__mock/payments`: what Toss's checkout does when the buyer pays, a session bound to the
/// caller's key, `IN_PROGRESS` (authenticated) unless `READY` is asked for.
#[utoipa::path(
    post,
    path = "/__mock/payments",
    tag = "mock",
    operation_id = "create",
    request_body = CreateBody,
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "the session, open", body = Created),
        (status = 400, description = "`INVALID_REQUEST` (a malformed body), `INVALID_ORDER_ID`, `INVALID_ORDER_NAME`", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED_KEY`: no key, or one the mock does not know", body = ErrorBody),
        (status = 403, description = "`INCORRECT_BASIC_AUTH_FORMAT`", body = ErrorBody),
        (status = 409, description = "`IDEMPOTENT_REQUEST_PROCESSING`: the same Idempotency-Key is in flight", body = ErrorBody),
    ),
    params(openapi::IdempotencyKey),
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    TossJson(body): TossJson<CreateBody>,
) -> Result<Response, ApiError> {
    if !valid_order_id(&body.order_id) {
        return Err(ApiError::from(&codes::INVALID_ORDER_ID));
    }
    if body.amount.0 <= 0 {
        return Err(ApiError::invalid("amount must be positive"));
    }
    if body
        .order_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 100)
    {
        return Err(ApiError::from(&codes::INVALID_ORDER_NAME));
    }
    let (status, expiry) = match body.status.as_deref() {
        None | Some("IN_PROGRESS") => (Status::InProgress, state.in_progress_expiry),
        Some("READY") => (Status::Ready, state.ready_expiry),
        Some(other) => return Err(ApiError::invalid(format!("status {other:?}"))),
    };
    let now = state.now();
    let key = state.ids.payment_key(&state.clock.compact(now));
    let payment = Payment {
        key,
        order_id: body.order_id.as_str().into(),
        order_name: body.order_name.map(String::into_boxed_str),
        owner: caller.0,
        status,
        total: body.amount.0,
        balance: body.amount.0,
        requested_at: now,
        expires_at: now.saturating_add(expiry),
        approved_at: None,
        attempt: None,
        failure: None,
        cancels: Vec::new(),
    };
    state.payments.insert(payment, now)?;
    let base = body.success_url.as_deref().unwrap_or(&state.success_url);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("paymentType", "NORMAL")
        .append_pair("orderId", &body.order_id)
        .append_pair("paymentKey", key.as_str())
        .append_pair("amount", &body.amount.0.to_string())
        .finish();
    let separator = if base.contains('?') { '&' } else { '?' };
    let created = Created {
        payment_key: key.as_str(),
        order_id: &body.order_id,
        amount: body.amount.0,
        status: status.as_str(),
        success_url: format!("{base}{separator}{query}"),
    };
    let mut response = json_response(
        StatusCode::OK,
        serde_json::to_vec(&created).unwrap_or_default(),
    );
    response.extensions_mut().insert(Outcome("OK"));
    Ok(response)
}

/// `GET /__mock/stats`.
#[utoipa::path(
    get,
    path = "/__mock/stats",
    tag = "mock",
    operation_id = "stats",
    responses((status = 200, description = "requests, payments and money so far", body = StatsReport)),
)]
pub async fn stats(State(state): State<AppState>) -> Response {
    let now = state.now();
    let payments = PaymentsByStatus::from_counts(state.payments.count_by_status(now));
    let (approved, canceled) = state.stats.money();
    Json(StatsReport {
        endpoints: state.stats.endpoints(),
        payments,
        approved,
        canceled,
        stored: Stored {
            payments: state.payments.len(),
            idempotency_records: state.idempotency.len(),
        },
    })
    .into_response()
}

/// `{"reset":true}`.
#[derive(Serialize, ToSchema)]
struct Reset {
    reset: bool,
}

/// Forgets every payment, idempotency record and count; chaos settings stay, its sequence restarts.
#[utoipa::path(
    post,
    path = "/__mock/reset",
    tag = "mock",
    operation_id = "reset",
    responses((status = 200, description = "everything forgotten", body = Reset)),
)]
pub async fn reset(State(state): State<AppState>) -> Response {
    state.payments.clear();
    state.idempotency.clear();
    state.stats.clear();
    state.chaos.restart();
    tracing::info!("state reset");
    Json(Reset { reset: true }).into_response()
}

/// `GET /__mock/chaos`.
#[utoipa::path(
    get,
    path = "/__mock/chaos",
    tag = "mock",
    operation_id = "chaos",
    responses((status = 200, description = "the chaos settings in force", body = Chaos)),
)]
pub async fn chaos(State(state): State<AppState>) -> Response {
    Json(&state.chaos.compiled().settings).into_response()
}

/// `PUT /__mock/chaos`: replaces the settings (fields left out take their defaults). A refusal
/// says what is wrong in its message, as this is a person's tool, not Toss's API.
#[utoipa::path(
    put,
    path = "/__mock/chaos",
    tag = "mock",
    operation_id = "set_chaos",
    request_body = Chaos,
    responses(
        (status = 200, description = "the settings now in force", body = Chaos),
        (status = 400, description = "`INVALID_REQUEST`, the message saying what is wrong", body = ErrorBody),
    ),
)]
pub async fn set_chaos(State(state): State<AppState>, body: Bytes) -> Response {
    let compiled = serde_json::from_slice::<Chaos>(&body)
        .map_err(|e| e.to_string())
        .and_then(|chaos| chaos.compile());
    match compiled {
        Ok(compiled) => {
            tracing::info!(chaos = ?compiled.settings, "chaos set");
            let response = Json(&compiled.settings).into_response();
            state.chaos.set(compiled);
            response
        }
        Err(message) => {
            let body = ErrorBody {
                code: codes::INVALID_REQUEST.code,
                message: &message,
            };
            let mut response = json_response(StatusCode::BAD_REQUEST, body.to_vec());
            response
                .extensions_mut()
                .insert(Outcome(codes::INVALID_REQUEST.code));
            response
        }
    }
}

/// `{"status":"ok"}`.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "mock",
    operation_id = "health",
    responses((status = 200, description = "the mock answers", body = Health)),
)]
pub async fn health() -> Response {
    Json(Health { status: "ok" }).into_response()
}

/// Any other path: Toss's `NOT_FOUND`.
pub async fn not_found() -> ApiError {
    ApiError::from(&codes::NOT_FOUND)
}

/// A known path with another method: Toss's `NOT_FOUND_HTTP_METHOD`.
pub async fn method_not_allowed() -> ApiError {
    ApiError::from(&codes::NOT_FOUND_HTTP_METHOD)
}
