//! Orders and stock reservation: the only code that changes stock. Every change locks the stock rows
//! it touches (`SELECT ... FOR UPDATE`, in product-id order so two orders never deadlock), checks,
//! and writes in the same transaction; the CHECK constraint on `products_productstock` is the last
//! line of defence. An order reserves all its lines or none.

pub mod routes;

use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};

use crate::error::ApiError;

/// How long an unpaid reservation holds stock.
pub const RESERVATION_MINUTES: i32 = 10;

/// The domain's answer to "reserve N of product P", as the seed's `ReservationResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationResult {
    pub success: bool,
    pub reservation: Option<Reservation>,
    pub error_message: Option<String>,
    pub error_code: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reservation {
    pub id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub status: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl ReservationResult {
    fn failed(code: &'static str, message: String) -> Self {
        Self {
            success: false,
            reservation: None,
            error_message: Some(message),
            error_code: Some(code),
        }
    }

    /// The response data the view builds from the result (never the result itself).
    pub fn to_json(&self) -> Value {
        json!({
            "success": self.success,
            "reservation": self.reservation.as_ref().map(|r| json!({
                "id": r.id,
                "product_id": r.product_id,
                "quantity": r.quantity,
                "status": r.status,
                "expires_at": crate::drf::datetime(&r.expires_at),
            })),
            "error_message": self.error_message,
            "error_code": self.error_code,
        })
    }
}

/// How stock is changed: correctly, or as the `no-lock` fault's read-then-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    RowLock,
    /// The fault: read, let time pass (a Django view's Python between its two queries), write
    /// back absolute values. Concurrent buyers overwrite each other's reservations: oversell.
    ReadThenWrite,
}

/// Locks `product`'s stock row and reserves `quantity` of it for `user` (and `order`), or says why
/// not. Nothing is written when it fails.
pub async fn reserve(
    tx: &mut Transaction<'_, Postgres>,
    locking: Locking,
    product: i64,
    user: i32,
    order: Option<i64>,
    quantity: i32,
) -> Result<ReservationResult, ApiError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM products_product WHERE id = $1")
            .bind(product)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(status) = status else {
        return Err(ApiError::NotFound(
            "No Product matches the given query.".into(),
        ));
    };
    // The row lock: concurrent reservations of this product queue here, one at a time.
    let read = match locking {
        Locking::RowLock => {
            "SELECT reserved_stock, available_stock FROM products_productstock WHERE product_id = $1 FOR UPDATE"
        }
        Locking::ReadThenWrite => {
            "SELECT reserved_stock, available_stock FROM products_productstock WHERE product_id = $1"
        }
    };
    let stock: Option<(i32, i32)> = sqlx::query_as(read)
        .bind(product)
        .fetch_optional(&mut **tx)
        .await?;
    let (reserved, available) = match stock {
        Some((reserved, available)) => (reserved, Some(available)),
        None => (0, None),
    };
    if status != "active" {
        return Ok(ReservationResult::failed(
            "PRODUCT_NOT_AVAILABLE",
            format!("Product {product} is not available ({status})."),
        ));
    }
    let Some(available) = available else {
        return Ok(ReservationResult::failed(
            "STOCK_NOT_FOUND",
            format!("No stock record for product {product}."),
        ));
    };
    if available < quantity {
        return Ok(ReservationResult::failed(
            "INSUFFICIENT_STOCK",
            format!("Not enough stock: {quantity} requested, {available} available."),
        ));
    }
    match locking {
        Locking::RowLock => {
            sqlx::query(
                "UPDATE products_productstock SET reserved_stock = reserved_stock + $2,
                     available_stock = available_stock - $2, version = version + 1
                 WHERE product_id = $1",
            )
            .bind(product)
            .bind(quantity)
            .execute(&mut **tx)
            .await?;
        }
        Locking::ReadThenWrite => {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            sqlx::query(
                "UPDATE products_productstock SET reserved_stock = $2, available_stock = $3,
                     version = version + 1
                 WHERE product_id = $1",
            )
            .bind(product)
            .bind(reserved + quantity)
            .bind(available - quantity)
            .execute(&mut **tx)
            .await?;
        }
    }
    let reservation: Reservation = sqlx::query_as(
        "INSERT INTO products_stockreservation (product_id, user_id, order_id, quantity, status,
                                                expires_at, created_at)
         VALUES ($1, $2, $3, $4, 'active', now() + make_interval(mins => $5), now())
         RETURNING id, product_id, quantity, status, expires_at",
    )
    .bind(product)
    .bind(user)
    .bind(order)
    .bind(quantity)
    .bind(RESERVATION_MINUTES)
    .fetch_one(&mut **tx)
    .await?;
    Ok(ReservationResult {
        success: true,
        reservation: Some(reservation),
        error_message: None,
        error_code: None,
    })
}

/// Gives an order's active reservations back to stock and marks them `status`.
pub async fn release_order(
    tx: &mut Transaction<'_, Postgres>,
    order: i64,
    status: &str,
) -> Result<(), ApiError> {
    sqlx::query(
        "WITH released AS (
             UPDATE products_stockreservation SET status = $2
             WHERE order_id = $1 AND status = 'active' RETURNING product_id, quantity),
         totals AS (SELECT product_id, sum(quantity)::int AS quantity FROM released GROUP BY product_id)
         UPDATE products_productstock s SET reserved_stock = s.reserved_stock - t.quantity,
             available_stock = s.available_stock + t.quantity, version = s.version + 1
         FROM totals t WHERE s.product_id = t.product_id",
    )
    .bind(order)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
