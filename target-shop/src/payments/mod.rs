//! Payments through Toss (shop-api.md, "Payment confirm"). The rules that keep money and stock
//! right under retries, races and a flaky provider:
//! - Toss is asked only for a pending order whose amount matches; a paid one is a 409 at once.
//! - An answer that leaves in doubt whether Toss approved (no answer, a dropped connection,
//!   `ALREADY_PROCESSED_PAYMENT`, Toss's 5xx) is settled by looking the payment up by orderId: an
//!   approved payment is never lost, and the shop never confirms it a second time.
//! - The order is paid, its stock committed and its payment stored in one transaction under the
//!   order's row lock, so two confirms of one order (or a confirm and the expiry sweep) cannot
//!   both win; the payment table's partial unique index is the last line of defence.
//! - Money approved for an order that expired meanwhile is refunded, and the row kept for audit.
//! - Once Toss approved, the money is taken: a database that goes away while the payment is being
//!   recorded (a restart) is waited out and the record written again on a fresh connection, for
//!   up to [`RECORD_PATIENCE`]. The record is one transaction, so it lands once or not at all;
//!   a retry that finds this very payment already recorded knows the lost attempt had committed.

pub mod routes;
pub mod toss;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::{jobs, orders};
use toss::{Payment, TossError};

/// Where and how the shop reaches Toss.
#[derive(Debug, Clone)]
pub struct TossConfig {
    /// Base URL of the Toss API (the mock's by default).
    pub url: String,
    /// The secret key (`test_sk_...`); sent as `Basic base64("key:")`.
    pub secret_key: String,
    /// Longest wait for one Toss call.
    pub timeout: Duration,
}

impl Default for TossConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8090".into(),
            secret_key: "test_sk_shopload".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `POST /api/payments/confirm/` as the Toss success redirect gives it.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub payment_key: String,
    /// The order's `order_number`.
    pub order_id: String,
    pub amount: i64,
}

/// The order row the payment rules look at.
#[derive(Debug, Clone, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    order_number: String,
    status: String,
    total_amount: i64,
}

fn not_found_order() -> ApiError {
    ApiError::NotFound("No Order matches the given query.".into())
}

fn already_paid(order_number: &str) -> ApiError {
    ApiError::coded(
        StatusCode::CONFLICT,
        "ALREADY_PAID",
        format!("Order {order_number} is already paid."),
    )
}

fn not_payable(order_number: &str, status: &str) -> ApiError {
    ApiError::coded(
        StatusCode::BAD_REQUEST,
        "ORDER_NOT_PAYABLE",
        format!("Order {order_number} is {status} and cannot be paid."),
    )
}

/// Toss's refusal, passed through for the client to branch on.
fn refused(code: String, message: String) -> ApiError {
    ApiError::Coded {
        status: StatusCode::BAD_REQUEST,
        code,
        detail: message,
    }
}

/// Confirms `request` for `user`: answers `{"order","payment"}` once the order is paid.
pub async fn confirm(
    state: &AppState,
    user: AuthUser,
    request: &ConfirmRequest,
) -> Result<Value, ApiError> {
    let order: OrderRow = sqlx::query_as(
        "SELECT id, order_number, status, total_amount FROM orders_order
         WHERE order_number = $1 AND user_id = $2",
    )
    .bind(&request.order_id)
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(not_found_order)?;
    match order.status.as_str() {
        "paid" => return Err(already_paid(&order.order_number)),
        "pending" => {}
        other => return Err(not_payable(&order.order_number, other)),
    }
    if request.amount != order.total_amount {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "AMOUNT_MISMATCH",
            format!(
                "Amount {} does not match the order total {}.",
                request.amount, order.total_amount
            ),
        ));
    }
    // Per order and checkout session: a retry of this very confirm is replayed by Toss instead of
    // run twice, while a new checkout after a decline (a new paymentKey) is a new request.
    let idempotency_key = format!("confirm-{}-{}", order.order_number, request.payment_key);
    let answer = state
        .toss
        .confirm(
            &request.payment_key,
            &order.order_number,
            order.total_amount,
            &idempotency_key,
        )
        .await;
    let payment = match answer {
        Ok(payment) => payment,
        Err(e) if e.in_doubt() => {
            tracing::warn!(order = %order.order_number, error = %e, "confirm in doubt: looking the payment up");
            match approved_payment(state, &order).await {
                Some(payment) => payment,
                None => return Err(unsettled(e)),
            }
        }
        Err(e) => return Err(unsettled(e)),
    };
    if payment.status != "DONE" {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "PAYMENT_NOT_DONE",
            format!("The payment is {}, not approved.", payment.status),
        ));
    }
    finish(state, user, &order, payment).await
}

/// The answer when Toss did not approve (or it could not be found out).
fn unsettled(error: TossError) -> ApiError {
    match error {
        TossError::Refused { code, message, .. } => refused(code, message),
        TossError::NoAnswer(_) => ApiError::PaymentProviderUnavailable,
    }
}

/// Whether Toss's `payment` pays `order` in full.
fn pays(payment: &Payment, order: &OrderRow) -> bool {
    payment.status == "DONE"
        && payment.total_amount == order.total_amount
        && payment.order_id == order.order_number
}

/// Toss's payment for `order`, if Toss approved it for the order's amount.
async fn approved_payment(state: &AppState, order: &OrderRow) -> Option<Payment> {
    match state.toss.payment_by_order(&order.order_number).await {
        Ok(payment) if pays(&payment, order) => Some(payment),
        Ok(payment) => {
            tracing::info!(order = %order.order_number, status = %payment.status, "not approved by Toss");
            None
        }
        Err(e) => {
            tracing::warn!(order = %order.order_number, error = %e, "payment lookup failed");
            None
        }
    }
}

/// Orders left pending by a shop that stopped in the middle of their confirm (killed, crashed)
/// after Toss had approved: each pending order is looked up at Toss by orderId, and one Toss
/// approved is recorded as its confirm would have recorded it (or refunded if it cannot be paid
/// any more). Without it that money stays taken for an order that later expires. Run in the
/// background at start-up; returns how many orders it paid.
pub async fn settle_pending(state: AppState) -> usize {
    let pending: Vec<OrderRow> = match sqlx::query_as(
        "SELECT id, order_number, status, total_amount FROM orders_order
         WHERE status = 'pending' ORDER BY id",
    )
    .fetch_all(&state.db)
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "settling pending payments: the orders could not be read");
            return 0;
        }
    };
    let mut paid = 0;
    for order in &pending {
        // Most pending orders were never confirmed: Toss knows no payment, nothing to log.
        let Ok(payment) = state.toss.payment_by_order(&order.order_number).await else {
            continue;
        };
        if !pays(&payment, order) {
            continue;
        }
        match record(&state, order, payment, false).await {
            Ok(()) => {
                paid += 1;
                tracing::warn!(order = %order.order_number,
                    "Toss had approved this pending order's payment before the shop stopped: recorded now");
            }
            Err(e) => tracing::warn!(order = %order.order_number, error = ?e,
                "a payment Toss had approved could not be recorded"),
        }
    }
    if !pending.is_empty() {
        tracing::info!(
            pending = pending.len(),
            paid,
            "pending orders settled against Toss"
        );
    }
    paid
}

/// How long a payment Toss approved is written again while the database is away: longer than a
/// PostgreSQL restart takes, shorter than a client's patience with a confirm.
const RECORD_PATIENCE: Duration = Duration::from_secs(20);

/// Toss approved `payment`: recorded (`record_approved`), then the confirm's answer.
async fn finish(
    state: &AppState,
    user: AuthUser,
    order: &OrderRow,
    payment: Payment,
) -> Result<Value, ApiError> {
    let shown = payment_json(&payment);
    record_approved(state, order, payment).await?;
    Ok(json!({
        "order": orders::routes::order_json(state, user, order.id).await?,
        "payment": shown,
    }))
}

/// `record`, written again on a fresh connection while the database fails under it
/// (the pool is told, so it drops the connections opened before the loss), with a growing pause,
/// for up to [`RECORD_PATIENCE`]. Any other outcome is the answer.
async fn record_approved(
    state: &AppState,
    order: &OrderRow,
    payment: Payment,
) -> Result<(), ApiError> {
    let deadline = Instant::now() + RECORD_PATIENCE;
    let mut pause = Duration::from_millis(50);
    let mut again = false;
    loop {
        match record(state, order, payment.clone(), again).await {
            // Any database failure, not only a connection seen dying: during a restart a fresh
            // connection can also fail otherwise (the pool timing out, the server starting up).
            // The record checks what already landed, so writing it again is safe.
            Err(e) if e.database_failed() && Instant::now() < deadline => {
                if e.connection_lost() {
                    state.connection_loss.record();
                }
                tracing::warn!(order = %order.order_number, error = %e,
                    "the database connection died while recording a payment Toss approved: writing it again");
                // The database is restarting: give it time rather than spin on refused connects.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                again = true;
            }
            outcome => return outcome,
        }
    }
}

/// Toss approved `payment`: the order is paid, its stock committed and the payment stored, all in
/// one transaction under the order's row lock with the jobs it owes (`jobs::relay`); then the
/// catalog cache, and the jobs moved to the stream. An order paid meanwhile is a 409 (a second
/// payment of it refunded); one no longer payable gets its money back.
/// `again`: an earlier attempt lost its connection, so finding this very payment recorded means
/// that attempt committed (success), not that another confirm got there first (409).
async fn record(
    state: &AppState,
    order: &OrderRow,
    payment: Payment,
    again: bool,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let status: String =
        sqlx::query_scalar("SELECT status FROM orders_order WHERE id = $1 FOR UPDATE")
            .bind(order.id)
            .fetch_one(&mut *tx)
            .await?;
    match status.as_str() {
        "pending" => {}
        "paid" => {
            let recorded: Option<String> = sqlx::query_scalar(
                "SELECT payment_key FROM payments_payment WHERE order_id = $1 AND status = 'DONE'",
            )
            .bind(order.id)
            .fetch_optional(&mut *tx)
            .await?;
            drop(tx);
            if again && recorded.as_deref() == Some(payment.payment_key.as_str()) {
                orders::routes::changed_stock(state).await;
                jobs::after_payment(state, order.id).await?;
                return Ok(());
            }
            // Usually another confirm of this very payment got there first (Toss approved once:
            // same idempotency key, or ALREADY_PROCESSED_PAYMENT). A second checkout of the same
            // order approved as well would be a double charge: it goes back.
            if recorded.as_deref() != Some(payment.payment_key.as_str()) {
                refund_duplicate(state, order, &payment).await;
            }
            return Err(already_paid(&order.order_number));
        }
        other => {
            drop(tx);
            let other = other.to_string();
            return Err(refund_unpayable(state, order, payment, &other).await);
        }
    }
    let committed = orders::commit_order(&mut tx, order.id).await?;
    if committed == 0 {
        // A pending order always holds its reservations; paying one without would sell air.
        return Err(ApiError::Internal(anyhow::anyhow!(
            "order {} is pending without active reservations",
            order.order_number
        )));
    }
    sqlx::query("UPDATE orders_order SET status = 'paid' WHERE id = $1")
        .bind(order.id)
        .execute(&mut *tx)
        .await?;
    store_payment(&mut tx, order.id, &payment).await?;
    // The jobs in the payment's transaction: paid means owed an e-mail and points, Redis or not.
    jobs::stage_payment(state, &mut tx, order.id).await?;
    tx.commit().await?;
    tracing::info!(order = %order.order_number, payment_key = %payment.payment_key, "order paid");
    orders::routes::changed_stock(state).await;
    jobs::after_payment(state, order.id).await?;
    Ok(())
}

async fn store_payment(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    order: i64,
    payment: &Payment,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO payments_payment (order_id, payment_key, toss_order_id, amount, status, method,
                                       approved_at, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(order)
    .bind(&payment.payment_key)
    .bind(&payment.order_id)
    .bind(payment.total_amount)
    .bind(&payment.status)
    .bind(&payment.method)
    .bind(payment.approved_at)
    .bind(&payment.raw)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Toss took money for an order that expired (or was cancelled) while Toss was deciding: give it
/// back, and keep the payment's row (CANCELED, or DONE with an error log if the refund failed) so
/// reconciliation sees it.
async fn refund_unpayable(
    state: &AppState,
    order: &OrderRow,
    payment: Payment,
    status: &str,
) -> ApiError {
    let key = format!("cancel-{}", payment.payment_key);
    let reason = format!("order {} is {status}", order.order_number);
    let stored = match state.toss.cancel(&payment.payment_key, &reason, &key).await {
        Ok(cancelled) => cancelled,
        Err(e) => {
            tracing::error!(order = %order.order_number, payment_key = %payment.payment_key, error = %e,
                "approved payment of an unpayable order could not be refunded");
            payment
        }
    };
    let recorded = async {
        let mut tx = state.db.begin().await?;
        sqlx::query("SELECT 1 FROM orders_order WHERE id = $1 FOR UPDATE")
            .bind(order.id)
            .execute(&mut *tx)
            .await?;
        store_payment(&mut tx, order.id, &stored).await?;
        tx.commit().await?;
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(e) = recorded {
        tracing::error!(order = %order.order_number, payment_key = %stored.payment_key, error = %e,
            "recording the refunded payment failed");
    }
    ApiError::coded(
        StatusCode::BAD_REQUEST,
        "ORDER_NOT_PAYABLE",
        format!(
            "Order {} is {status} and cannot be paid; the payment was refunded.",
            order.order_number
        ),
    )
}

/// A second approved payment of an order already paid: refunded (logged; its row cannot be kept,
/// since one order has one payment row).
async fn refund_duplicate(state: &AppState, order: &OrderRow, payment: &Payment) {
    let key = format!("cancel-{}", payment.payment_key);
    let reason = format!("order {} is already paid", order.order_number);
    match state.toss.cancel(&payment.payment_key, &reason, &key).await {
        Ok(_) => tracing::warn!(order = %order.order_number, payment_key = %payment.payment_key,
            "duplicate payment refunded"),
        Err(e) => tracing::error!(order = %order.order_number, payment_key = %payment.payment_key,
            error = %e, "duplicate payment could not be refunded"),
    }
}

/// The payment as the confirm and cancel answers show it.
fn payment_json(payment: &Payment) -> Value {
    json!({
        "paymentKey": payment.payment_key,
        "orderId": payment.order_id,
        "status": payment.status,
        "method": payment.method,
        "totalAmount": payment.total_amount,
        "approvedAt": payment.approved_at.as_ref().map(crate::drf::datetime),
    })
}

/// A full refund of `user`'s payment `payment_key`: Toss first, then the order `cancelled`, the
/// payment `CANCELED` and the stock back on the shelf, in one transaction under the order's lock.
pub async fn cancel(
    state: &AppState,
    user: AuthUser,
    payment_key: &str,
    reason: &str,
) -> Result<Value, ApiError> {
    let not_found = || ApiError::NotFound("No Payment matches the given query.".into());
    // PostgreSQL refuses a NUL in a text parameter; no stored key has one, so it matches nothing.
    if payment_key.contains('\0') {
        return Err(not_found());
    }
    let row: Option<(i64, String, String, String)> = sqlx::query_as(
        "SELECT o.id, o.order_number, o.status, p.status FROM payments_payment p
         JOIN orders_order o ON o.id = p.order_id
         WHERE p.payment_key = $1 AND o.user_id = $2",
    )
    .bind(payment_key)
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?;
    let (order, order_number, order_status, payment_status) = row.ok_or_else(not_found)?;
    if order_status != "paid" || payment_status != "DONE" {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "PAYMENT_NOT_CANCELLABLE",
            format!(
                "Only a paid order's payment can be cancelled; order {order_number} is {order_status}."
            ),
        ));
    }
    let idempotency_key = format!("cancel-{payment_key}");
    let payment = match state
        .toss
        .cancel(payment_key, reason, &idempotency_key)
        .await
    {
        Ok(payment) => payment,
        Err(e) if e.in_doubt() => match state.toss.payment(payment_key).await {
            Ok(payment) if payment.status == "CANCELED" => payment,
            _ => return Err(unsettled(e)),
        },
        Err(e) => return Err(unsettled(e)),
    };
    if payment.status != "CANCELED" {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "PAYMENT_NOT_CANCELLED",
            format!("The payment is {}, not cancelled.", payment.status),
        ));
    }
    let mut tx = state.db.begin().await?;
    let status: String =
        sqlx::query_scalar("SELECT status FROM orders_order WHERE id = $1 FOR UPDATE")
            .bind(order)
            .fetch_one(&mut *tx)
            .await?;
    // A concurrent cancel of the same payment may have done all this already.
    if status == "paid" {
        orders::restock_order(&mut tx, order).await?;
        sqlx::query("UPDATE orders_order SET status = 'cancelled' WHERE id = $1")
            .bind(order)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE payments_payment SET status = $2, raw = $3 WHERE payment_key = $1")
            .bind(payment_key)
            .bind(&payment.status)
            .bind(&payment.raw)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(order = %order_number, %payment_key, "payment cancelled");
        orders::routes::changed_stock(state).await;
    }
    Ok(json!({
        "order": orders::routes::order_json(state, user, order).await?,
        "payment": payment_json(&payment),
    }))
}
