//! Orders and stock reservation: the only code that changes stock. Every change locks the stock rows
//! it touches (`SELECT ... FOR UPDATE`, in product-id order so two orders never deadlock), checks,
//! and writes in the same transaction; the CHECK constraint on `products_productstock` is the last
//! line of defence. An order reserves all its lines or none. An order's life: `pending` (stock
//! reserved) -> `paid` (reservations committed: the stock leaves the warehouse) -> `cancelled` (a
//! refund puts it back); or `pending` -> `cancelled` / `expired` (reservations released).

pub mod routes;

use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};

use crate::error::ApiError;

/// How long an unpaid reservation holds stock by default (the reservation lifetime is configurable).
pub const RESERVATION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);

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

/// Locks `product`'s stock row and reserves `quantity` of it for `user` (and `order`) for
/// `lifetime`, or says why not. Nothing is written when it fails.
pub async fn reserve(
    tx: &mut Transaction<'_, Postgres>,
    locking: Locking,
    product: i64,
    user: i32,
    order: Option<i64>,
    quantity: i32,
    lifetime: std::time::Duration,
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
         VALUES ($1, $2, $3, $4, 'active', now() + make_interval(secs => $5), now())
         RETURNING id, product_id, quantity, status, expires_at",
    )
    .bind(product)
    .bind(user)
    .bind(order)
    .bind(quantity)
    .bind(lifetime.as_secs_f64())
    .fetch_one(&mut **tx)
    .await?;
    Ok(ReservationResult {
        success: true,
        reservation: Some(reservation),
        error_message: None,
        error_code: None,
    })
}

/// Locks the stock rows of an order's products in product-id order, the one order every stock
/// change takes, so the bulk updates that follow never wait on each other in a cycle.
async fn lock_order_stock(tx: &mut Transaction<'_, Postgres>, order: i64) -> Result<(), ApiError> {
    sqlx::query(
        "SELECT 1 FROM products_productstock WHERE product_id IN (
             SELECT product_id FROM products_stockreservation WHERE order_id = $1)
         ORDER BY product_id FOR UPDATE",
    )
    .bind(order)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives an order's active reservations back to stock and marks them `status` (`released` or
/// `expired`). The caller holds the order's row lock.
pub async fn release_order(
    tx: &mut Transaction<'_, Postgres>,
    order: i64,
    status: &str,
) -> Result<(), ApiError> {
    lock_order_stock(tx, order).await?;
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

/// A paid order's stock leaves the warehouse: its active reservations become `committed`, physical
/// and reserved stock both drop by them (available is unchanged: it was already taken). Returns the
/// units committed. The caller holds the order's row lock.
pub async fn commit_order(tx: &mut Transaction<'_, Postgres>, order: i64) -> Result<i64, ApiError> {
    lock_order_stock(tx, order).await?;
    let committed: Option<i64> = sqlx::query_scalar(
        "WITH committed AS (
             UPDATE products_stockreservation SET status = 'committed'
             WHERE order_id = $1 AND status = 'active' RETURNING product_id, quantity),
         totals AS (SELECT product_id, sum(quantity)::int AS quantity FROM committed GROUP BY product_id),
         updated AS (
             UPDATE products_productstock s SET physical_stock = s.physical_stock - t.quantity,
                 reserved_stock = s.reserved_stock - t.quantity, version = s.version + 1
             FROM totals t WHERE s.product_id = t.product_id RETURNING t.quantity)
         SELECT sum(quantity)::bigint FROM updated",
    )
    .bind(order)
    .fetch_one(&mut **tx)
    .await?;
    Ok(committed.unwrap_or(0))
}

/// A refunded order's goods go back on the shelf: its committed reservations become `released`,
/// physical and available stock both rise by them. The caller holds the order's row lock.
pub async fn restock_order(tx: &mut Transaction<'_, Postgres>, order: i64) -> Result<(), ApiError> {
    lock_order_stock(tx, order).await?;
    sqlx::query(
        "WITH restocked AS (
             UPDATE products_stockreservation SET status = 'released'
             WHERE order_id = $1 AND status = 'committed' RETURNING product_id, quantity),
         totals AS (SELECT product_id, sum(quantity)::int AS quantity FROM restocked GROUP BY product_id)
         UPDATE products_productstock s SET physical_stock = s.physical_stock + t.quantity,
             available_stock = s.available_stock + t.quantity, version = s.version + 1
         FROM totals t WHERE s.product_id = t.product_id",
    )
    .bind(order)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What one expiry sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Pending orders whose reservations ran out: now `expired`, their stock given back.
    pub orders: u64,
    /// Reservations without an order (the reserve endpoint's) given back.
    pub reservations: u64,
}

/// Most orders (and loose reservations) one sweep handles; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 500;

/// Gives back the stock of reservations past their `expires_at`: their pending orders become
/// `expired`. Each order is decided under its row lock, so a payment finishing at the same moment
/// either comes first (the order is paid and left alone) or finds the order expired. Running it
/// twice, or in several workers at once, changes nothing more.
pub async fn expire_due(db: &sqlx::PgPool) -> Result<Expired, ApiError> {
    let mut expired = Expired::default();
    let orders: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT order_id FROM products_stockreservation
         WHERE status = 'active' AND expires_at <= now() AND order_id IS NOT NULL
         ORDER BY order_id LIMIT $1",
    )
    .bind(SWEEP_BATCH)
    .fetch_all(db)
    .await?;
    for order in orders {
        let mut tx = db.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM orders_order WHERE id = $1 FOR UPDATE")
                .bind(order)
                .fetch_optional(&mut *tx)
                .await?;
        // Only a pending order expires: a paid one's reservations are committed, and one decided
        // meanwhile (paid, cancelled) is no longer this sweep's business.
        if status.as_deref() != Some("pending") {
            continue;
        }
        release_order(&mut tx, order, "expired").await?;
        sqlx::query("UPDATE orders_order SET status = 'expired' WHERE id = $1")
            .bind(order)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        expired.orders += 1;
    }
    let mut tx = db.begin().await?;
    // Loose reservations are locked first (nobody else locks them before stock), then their stock
    // in product-id order; SKIP LOCKED lets two sweeps share the work instead of queueing.
    let loose: Vec<(i64, i64, i32)> = sqlx::query_as(
        "SELECT id, product_id, quantity FROM products_stockreservation
         WHERE status = 'active' AND order_id IS NULL AND expires_at <= now()
         ORDER BY product_id, id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(SWEEP_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if !loose.is_empty() {
        let ids: Vec<i64> = loose.iter().map(|(id, _, _)| *id).collect();
        sqlx::query(
            "SELECT 1 FROM products_productstock WHERE product_id IN (
                 SELECT product_id FROM products_stockreservation WHERE id = ANY($1))
             ORDER BY product_id FOR UPDATE",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "WITH expired AS (
                 UPDATE products_stockreservation SET status = 'expired'
                 WHERE id = ANY($1) RETURNING product_id, quantity),
             totals AS (SELECT product_id, sum(quantity)::int AS quantity FROM expired GROUP BY product_id)
             UPDATE products_productstock s SET reserved_stock = s.reserved_stock - t.quantity,
                 available_stock = s.available_stock + t.quantity, version = s.version + 1
             FROM totals t WHERE s.product_id = t.product_id",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        expired.reservations = loose.len() as u64;
    }
    tx.commit().await?;
    Ok(expired)
}
