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
