//! The mock's own endpoints under `/__mock` (none exist at Toss): the session a buyer's checkout
//! would create, statistics, reset, run-time chaos; and `/healthz`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::chaos::Chaos;
use crate::codes;
use crate::error::{ApiError, Outcome, json_response};
use crate::payment::{Payment, Status};
use crate::request::{Amount, TossJson, valid_order_id};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    order_id: String,
    amount: Amount,
    order_name: Option<String>,
    status: Option<String>,
    success_url: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created<'a> {
    payment_key: &'a str,
    order_id: &'a str,
    amount: i64,
    status: &'static str,
    success_url: String,
}

/// `POST /__mock/payments`: what Toss's checkout does when the buyer pays, a session bound to the
/// caller's key, `IN_PROGRESS` (authenticated) unless `READY` is asked for.
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

pub async fn stats(State(state): State<AppState>) -> Response {
    let now = state.now();
    let payments: serde_json::Map<String, serde_json::Value> = state
        .payments
        .count_by_status(now)
        .iter()
        .map(|(status, n)| (status.as_str().to_string(), json!(n)))
        .collect();
    let (approved, canceled) = state.stats.money();
    Json(json!({
        "endpoints": state.stats.endpoints(),
        "payments": payments,
        "approved": approved,
        "canceled": canceled,
        "stored": {
            "payments": state.payments.len(),
            "idempotencyRecords": state.idempotency.len(),
        },
    }))
    .into_response()
}

/// Forgets every payment, idempotency record and count; chaos settings stay, its sequence restarts.
pub async fn reset(State(state): State<AppState>) -> Response {
    state.payments.clear();
    state.idempotency.clear();
    state.stats.clear();
    state.chaos.restart();
    tracing::info!("state reset");
    Json(json!({"reset": true})).into_response()
}

pub async fn chaos(State(state): State<AppState>) -> Response {
    Json(&state.chaos.compiled().settings).into_response()
}

/// `PUT /__mock/chaos`: replaces the settings (fields left out take their defaults). A refusal
/// says what is wrong in its message, as this is a person's tool, not Toss's API.
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
            let mut response = json_response(
                StatusCode::BAD_REQUEST,
                json!({"code": codes::INVALID_REQUEST.code, "message": message}).to_string(),
            );
            response
                .extensions_mut()
                .insert(Outcome(codes::INVALID_REQUEST.code));
            response
        }
    }
}

pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Any other path: Toss's `NOT_FOUND`.
pub async fn not_found() -> ApiError {
    ApiError::from(&codes::NOT_FOUND)
}

/// A known path with another method: Toss's `NOT_FOUND_HTTP_METHOD`.
pub async fn method_not_allowed() -> ApiError {
    ApiError::from(&codes::NOT_FOUND_HTTP_METHOD)
}
