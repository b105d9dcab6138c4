//! Toss's `/v1/payments` endpoints: confirm, lookup by paymentKey or orderId, cancel.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::chaos::{Dropped, Fate};
use crate::codes::{self, Code};
use crate::error::{self, ApiError, ErrorBody, Outcome, json_response};
use crate::ids::PaymentKey;
use crate::openapi;
use crate::payment::{Cancel, Payment, PaymentView, Status};
use crate::request::{Amount, MAX_PAYMENT_KEY, TossJson, TossPath};
use crate::state::AppState;

/// What the successUrl gave the shop.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmBody {
    #[schema(min_length = 1, max_length = 200)]
    payment_key: String,
    #[schema(example = "ORD-20261122-000123")]
    order_id: String,
    #[schema(schema_with = openapi::amount)]
    amount: Amount,
}

/// `POST /v1/payments/confirm`: approves an `IN_PROGRESS` session.
#[utoipa::path(
    post,
    path = "/v1/payments/confirm",
    tag = "payments",
    operation_id = "confirm",
    request_body = ConfirmBody,
    params(openapi::IdempotencyKey),
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "approved: the Payment, `DONE`", body = PaymentView),
        (status = 400, description = "`INVALID_REQUEST`, `ALREADY_PROCESSED_PAYMENT`, `INVALID_API_KEY` (another key's payment), `INVALID_IDEMPOTENCY_KEY`, or chaos's refusal", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED_KEY`: no key, or one the mock does not know", body = ErrorBody),
        (status = 403, description = "`INCORRECT_BASIC_AUTH_FORMAT`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND_PAYMENT_SESSION`: unknown, expired or not yet authenticated", body = ErrorBody),
        (status = 409, description = "`IDEMPOTENT_REQUEST_PROCESSING`", body = ErrorBody),
    ),
)]
pub async fn confirm(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    TossJson(body): TossJson<ConfirmBody>,
) -> Response {
    if body.payment_key.is_empty() || body.payment_key.len() > MAX_PAYMENT_KEY {
        return ApiError::invalid("paymentKey must have 1 to 200 characters").into_response();
    }
    if body.amount.0 <= 0 {
        return ApiError::invalid("amount must be positive").into_response();
    }
    let plan = state.chaos.next();
    if let Fate::Hang(hang) = plan.fate {
        tokio::time::sleep(hang).await;
        return dropped(Response::default(), Dropped::BeforeCommit, "TIMEOUT");
    }
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let refusal = match plan.fate {
        Fate::Refuse(code) => Some(code),
        _ => None,
    };
    let response = match approve(&state, caller, &body, refusal) {
        Ok(json) => ok(json),
        Err(e) => e.into_response(),
    };
    match plan.fate {
        Fate::CommitThenDrop => dropped(response, Dropped::AfterCommit, "COMMIT_THEN_DROP"),
        _ => response,
    }
}

/// The confirm itself, under the payment's lock; `refusal` is chaos declining it.
fn approve(
    state: &AppState,
    caller: Caller,
    body: &ConfirmBody,
    refusal: Option<&'static Code>,
) -> Result<Vec<u8>, ApiError> {
    let key = PaymentKey::parse(&body.payment_key).ok_or(&codes::NOT_FOUND_PAYMENT_SESSION)?;
    let now = state.now();
    let tx = state.ids.tx_key();
    let english = error::english();
    let approved = state.payments.with(&key, now, |p| {
        let p = p.ok_or(&codes::NOT_FOUND_PAYMENT_SESSION)?;
        if p.owner != caller.0 {
            return Err(ApiError::from(&codes::INVALID_API_KEY));
        }
        match p.status {
            // A READY session has no authenticated method yet: nothing to confirm.
            Status::Ready | Status::Expired => {
                Err(ApiError::from(&codes::NOT_FOUND_PAYMENT_SESSION))
            }
            Status::Done | Status::Canceled | Status::PartialCanceled | Status::Aborted => {
                Err(ApiError::from(&codes::ALREADY_PROCESSED_PAYMENT))
            }
            Status::InProgress => {
                if *p.order_id != *body.order_id || p.total != body.amount.0 {
                    return Err(ApiError::invalid(
                        "orderId or amount differ from the session",
                    ));
                }
                p.attempt = Some(tx);
                if let Some(code) = refusal {
                    p.status = Status::Aborted;
                    p.failure = Some(code);
                    return Err(ApiError::from(code));
                }
                p.status = Status::Done;
                p.approved_at = Some(now);
                Ok((p.total, p.to_json(&state.clock, english)))
            }
        }
    })?;
    state.stats.approved(approved.0);
    Ok(approved.1)
}

/// A test code that declines a confirm ends the named session as a real decline would.
pub fn abort_by_test_code(state: &AppState, caller: Caller, body: &[u8], code: &'static Code) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        payment_key: String,
    }
    let Some(key) = serde_json::from_slice::<Named>(body)
        .ok()
        .and_then(|n| PaymentKey::parse(&n.payment_key))
    else {
        return;
    };
    let tx = state.ids.tx_key();
    state.payments.with(&key, state.now(), |p| {
        if let Some(p) = p.filter(|p| p.owner == caller.0 && p.status == Status::InProgress) {
            p.status = Status::Aborted;
            p.failure = Some(code);
            p.attempt = Some(tx);
        }
    });
}

/// `GET /v1/payments/{paymentKey}`.
#[utoipa::path(
    get,
    path = "/v1/payments/{payment_key}",
    tag = "payments",
    operation_id = "by_key",
    params(("payment_key" = String, Path, description = "the paymentKey", max_length = 200)),
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "the Payment as it is now", body = PaymentView),
        (status = 400, description = "`INVALID_REQUEST`, `INVALID_API_KEY`", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED_KEY`: no key, or one the mock does not know", body = ErrorBody),
        (status = 403, description = "`INCORRECT_BASIC_AUTH_FORMAT`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND_PAYMENT` (`NOT_FOUND_HTTP_METHOD` for the key `confirm`)", body = ErrorBody),
    ),
)]
pub async fn by_key(
    State(state): State<AppState>,
    TossPath(payment_key): TossPath,
) -> Result<Response, ApiError> {
    if payment_key.len() > MAX_PAYMENT_KEY {
        return Err(ApiError::invalid("paymentKey over 200 characters"));
    }
    let key = PaymentKey::parse(&payment_key).ok_or(&codes::NOT_FOUND_PAYMENT)?;
    show(&state, &key)
}

/// `GET /v1/payments/orders/{orderId}`: what a shop looks up when a confirm's answer was lost.
#[utoipa::path(
    get,
    path = "/v1/payments/orders/{order_id}",
    tag = "payments",
    operation_id = "by_order",
    params(("order_id" = String, Path, description = "the orderId", max_length = 64)),
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "the order's Payment as it is now", body = PaymentView),
        (status = 400, description = "`INVALID_REQUEST`, `INVALID_API_KEY`", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED_KEY`: no key, or one the mock does not know", body = ErrorBody),
        (status = 403, description = "`INCORRECT_BASIC_AUTH_FORMAT`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND_PAYMENT`", body = ErrorBody),
    ),
)]
pub async fn by_order(
    State(state): State<AppState>,
    TossPath(order_id): TossPath,
) -> Result<Response, ApiError> {
    if order_id.len() > 64 {
        return Err(ApiError::invalid("orderId over 64 characters"));
    }
    let key = state
        .payments
        .key_of_order(&order_id)
        .ok_or(&codes::NOT_FOUND_PAYMENT)?;
    show(&state, &key)
}

fn show(state: &AppState, key: &PaymentKey) -> Result<Response, ApiError> {
    let english = error::english();
    let json = state.payments.with(key, state.now(), |p| {
        p.map(|p| p.to_json(&state.clock, english))
            .ok_or(&codes::NOT_FOUND_PAYMENT)
    })?;
    Ok(ok(json))
}

/// A full or partial cancel.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    /// 1 to 200 characters, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    cancel_reason: String,
    /// The amount to cancel (the whole balance when left out).
    #[schema(schema_with = openapi::optional_amount)]
    cancel_amount: Option<Amount>,
    /// Deprecated at Toss, still honoured: the balance the caller believes is left.
    #[schema(schema_with = openapi::optional_amount)]
    refundable_amount: Option<Amount>,
    /// Only `KRW`, the approved currency.
    #[schema(pattern = "^KRW$")]
    currency: Option<String>,
}

/// `POST /v1/payments/{paymentKey}/cancel`.
#[utoipa::path(
    post,
    path = "/v1/payments/{payment_key}/cancel",
    tag = "payments",
    operation_id = "cancel",
    request_body = CancelBody,
    params(
        ("payment_key" = String, Path, description = "the paymentKey", max_length = 200),
        openapi::IdempotencyKey,
    ),
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "cancelled: the Payment, `PARTIAL_CANCELED` or `CANCELED`", body = PaymentView),
        (status = 400, description = "`INVALID_REQUEST`, `ALREADY_CANCELED_PAYMENT`, `NOT_CANCELABLE_AMOUNT`, `NOT_MATCHES_REFUNDABLE_AMOUNT`, `INVALID_API_KEY`", body = ErrorBody),
        (status = 401, description = "`UNAUTHORIZED_KEY`: no key, or one the mock does not know", body = ErrorBody),
        (status = 403, description = "`NOT_CANCELABLE_PAYMENT` or `INCORRECT_BASIC_AUTH_FORMAT`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND_PAYMENT`", body = ErrorBody),
        (status = 409, description = "`IDEMPOTENT_REQUEST_PROCESSING`", body = ErrorBody),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    TossPath(payment_key): TossPath,
    TossJson(body): TossJson<CancelBody>,
) -> Result<Response, ApiError> {
    let reason = body.cancel_reason.trim();
    if reason.is_empty() || body.cancel_reason.chars().count() > 200 {
        return Err(ApiError::invalid(
            "cancelReason must have 1 to 200 characters",
        ));
    }
    if body.currency.as_deref().is_some_and(|c| c != "KRW") {
        return Err(ApiError::invalid("currency must be the approved one, KRW"));
    }
    if payment_key.len() > MAX_PAYMENT_KEY {
        return Err(ApiError::invalid("paymentKey over 200 characters"));
    }
    let key = PaymentKey::parse(&payment_key).ok_or(&codes::NOT_FOUND_PAYMENT)?;
    let now = state.now();
    let tx = state.ids.tx_key();
    let english = error::english();
    let (amount, json) = state.payments.with(&key, now, |p| {
        let p = p.ok_or(&codes::NOT_FOUND_PAYMENT)?;
        match p.status {
            Status::Canceled => return Err(&codes::ALREADY_CANCELED_PAYMENT),
            Status::Done | Status::PartialCanceled => {}
            _ => return Err(&codes::NOT_CANCELABLE_PAYMENT),
        }
        let amount = body.cancel_amount.map_or(p.balance, |a| a.0);
        if amount <= 0 || amount > p.balance {
            return Err(&codes::NOT_CANCELABLE_AMOUNT);
        }
        if body.refundable_amount.is_some_and(|r| r.0 != p.balance) {
            return Err(&codes::NOT_MATCHES_REFUNDABLE_AMOUNT);
        }
        apply_cancel(p, amount, body.cancel_reason.as_str().into(), tx, now);
        Ok((amount, p.to_json(&state.clock, english)))
    })?;
    state.stats.canceled(amount);
    Ok(ok(json))
}

fn apply_cancel(p: &mut Payment, amount: i64, reason: Box<str>, tx: crate::ids::TxKey, now: u64) {
    p.balance -= amount;
    p.cancels.push(Cancel {
        tx,
        reason,
        at: now,
        amount,
        refundable: p.balance,
    });
    p.status = if p.balance == 0 {
        Status::Canceled
    } else {
        Status::PartialCanceled
    };
}

fn ok(json: Vec<u8>) -> Response {
    let mut response = json_response(StatusCode::OK, json);
    response.extensions_mut().insert(Outcome("OK"));
    response
}

/// Marks `response` for the edge to drop instead of send (the connection closed without a byte),
/// and says for the gate whether anything was done.
fn dropped(mut response: Response, how: Dropped, outcome: &'static str) -> Response {
    response.extensions_mut().insert(http_edge::CloseConnection);
    response.extensions_mut().insert(how);
    response.extensions_mut().insert(Outcome(outcome));
    response
}
