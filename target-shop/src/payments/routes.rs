//! `POST /api/payments/confirm/` and `POST /api/payments/{paymentKey}/cancel/`: the serializers'
//! validation, then the payment rules in `payments`.

use axum::extract::{Path, State};
use axum::response::Response;

use super::ConfirmRequest;
use crate::AppState;
use crate::auth::AuthUser;
use crate::drf::{self, Data};
use crate::error::ApiError;
use crate::fields::Fields;

/// Toss's longest paymentKey.
const PAYMENT_KEY_MAX: usize = 200;
/// Toss's longest orderId.
const ORDER_ID_MAX: usize = 64;
/// Toss's longest cancelReason.
const CANCEL_REASON_MAX: usize = 200;
/// The reason sent to Toss when the client gives none.
const DEFAULT_CANCEL_REASON: &str = "Customer request";

/// `{"paymentKey","orderId","amount"}`; `amount` may be a number or a numeric string (the success
/// redirect's query carries it as text).
#[utoipa::path(
    post,
    path = "/api/payments/confirm/",
    tag = "payments",
    operation_id = "confirm_payment",
    request_body = crate::openapi::wire::ConfirmBody,
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "paid", body = crate::openapi::wire::PaymentResult),
        (status = 400, description = "field errors, `AMOUNT_MISMATCH`, `ORDER_NOT_PAYABLE`, or Toss's refusal (its code as `error_code`)", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such order of the user", body = crate::error::Detail),
        (status = 409, description = "`ALREADY_PAID`", body = crate::error::ErrorCode),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
        (status = 503, description = "`PAYMENT_PROVIDER_UNAVAILABLE`: Toss did not answer; nothing changed", body = crate::error::ErrorCode),
    ),
)]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let payment_key = fields.char_field_max("paymentKey", PAYMENT_KEY_MAX);
    let order_id = fields.char_field_max("orderId", ORDER_ID_MAX);
    let amount = fields.integer_field("amount", None, 1, i64::MAX);
    fields.finish()?;
    let (Some(payment_key), Some(order_id), Some(amount)) = (payment_key, order_id, amount) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let request = ConfirmRequest {
        payment_key,
        order_id,
        amount,
    };
    Ok(drf::ok(&super::confirm(&state, user, &request).await?))
}

/// Optional `{"cancelReason"}`.
#[utoipa::path(
    post,
    path = "/api/payments/{payment_key}/cancel/",
    tag = "payments",
    operation_id = "cancel_payment",
    request_body = crate::openapi::wire::PaymentCancelBody,
    params(("payment_key" = String, Path, description = "the paymentKey")),
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "refunded: the order cancelled, its stock back", body = crate::openapi::wire::PaymentResult),
        (status = 400, description = "field errors, `PAYMENT_NOT_CANCELLABLE`, or Toss's refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such payment of the user", body = crate::error::Detail),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
        (status = 503, description = "`PAYMENT_PROVIDER_UNAVAILABLE`: Toss did not answer; nothing changed", body = crate::error::ErrorCode),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(payment_key): Path<String>,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let reason = fields.optional_char_field("cancelReason", CANCEL_REASON_MAX);
    fields.finish()?;
    let reason = reason.unwrap_or_else(|| DEFAULT_CANCEL_REASON.to_string());
    Ok(drf::ok(
        &super::cancel(&state, user, &payment_key, &reason).await?,
    ))
}
