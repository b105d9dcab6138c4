//! `POST /api/products/{id}/stock/reserve/`, `GET, POST /api/orders/`, `GET /api/orders/{id}/`,
//! `POST /api/orders/{id}/cancel/`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Locking, ReservationResult, release_order, reserve};
use crate::AppState;
use crate::auth::AuthUser;
use crate::catalog::{cache, pagination};
use crate::drf::{self, Data};
use crate::error::ApiError;
use crate::fields::Fields;

/// `POST /api/products/{id}/stock/reserve/` `{"quantity"}`: 201 or 400 with a ReservationResult.
#[utoipa::path(
    post,
    path = "/api/products/{id}/stock/reserve/",
    tag = "orders",
    operation_id = "reserve_stock",
    request_body = crate::openapi::wire::ReserveBody,
    params(("id" = i64, Path, description = "the object's id")),
    security(("jwtAuth" = [])),
    responses(
        (status = 201, description = "reserved", body = crate::openapi::wire::ReservationResult),
        (status = 400, description = "not reserved: a ReservationResult with the reason, or field errors", body = crate::openapi::wire::ReserveRefusal),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such product", body = crate::error::Detail),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn reserve_stock(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product): Path<String>,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let product: i64 = product
        .parse()
        .map_err(|_| ApiError::NotFound("Not found.".into()))?;
    let mut fields = Fields::new(&data);
    let quantity = fields.integer_field("quantity", None, 1, crate::cart::MAX_QUANTITY);
    fields.finish()?;
    let mut tx = state.db.begin().await?;
    let result = reserve(
        &mut tx,
        locking(&state),
        product,
        user.id,
        None,
        quantity.unwrap_or(1) as i32,
        state.reservation_lifetime,
    )
    .await?;
    if state.faults.reservation_serializer {
        // The seed's bug: `ReservationSerializer(result).data` reads `product_id` off the result
        // object, which has none. Django logs the AttributeError and answers its HTML 500; the
        // transaction is rolled back with the request.
        return Err(ApiError::Internal(anyhow::anyhow!(
            "AttributeError: 'ReservationResult' object has no attribute 'product_id'"
        )));
    }
    if !result.success {
        return Err(ApiError::BadRequest(result.to_json()));
    }
    tx.commit().await?;
    changed_stock(&state).await;
    Ok(drf::json(StatusCode::CREATED, &result.to_json()))
}

fn locking(state: &AppState) -> Locking {
    if state.faults.no_lock {
        Locking::ReadThenWrite
    } else {
        Locking::RowLock
    }
}

/// Stock changed: no cached catalog page may show the old numbers. A Redis outage must not fail a
/// committed order: a bump that fails is made up before the cache is read again (`cache`).
pub async fn changed_stock(state: &AppState) {
    cache::invalidate(state).await;
}

/// `POST /api/orders/`: the whole cart (`{}`) or the given `items`, reserved all or nothing.
#[utoipa::path(
    post,
    path = "/api/orders/",
    tag = "orders",
    operation_id = "create_order",
    request_body = crate::openapi::wire::OrderCreateBody,
    security(("jwtAuth" = [])),
    responses(
        (status = 201, description = "the order, every line reserved", body = crate::openapi::wire::Order),
        (status = 400, description = "an empty cart, field errors, or a line that cannot be reserved (`error_code`, `detail`, `product_id`)", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "a line's product does not exist", body = crate::error::Detail),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let from_cart = !data.contains_key("items");
    let mut lines = if from_cart {
        sqlx::query_as::<_, (i64, i32)>(
            "SELECT i.product_id, i.quantity FROM cart_cartitem i JOIN cart_cart c ON c.id = i.cart_id
             WHERE c.user_id = $1",
        )
        .bind(user.id)
        .fetch_all(&state.db)
        .await?
    } else {
        parse_items(data.get("items"))?
    };
    if lines.is_empty() {
        return Err(ApiError::BadRequest(
            json!({"non_field_errors": ["The cart is empty."]}),
        ));
    }
    // One lock order for every transaction: no two orders wait on each other in a cycle.
    lines.sort_unstable();
    let mut tx = state.db.begin().await?;
    // The id first, so the order number (`ORD-20261122-000123`) is written once, with the row.
    let order_id: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('orders_order', 'id'))")
            .fetch_one(&mut *tx)
            .await?;
    let order_number: String = sqlx::query_scalar(
        "INSERT INTO orders_order (id, order_number, user_id, status, total_amount, created_at)
         VALUES ($1, 'ORD-' || to_char(now(), 'YYYYMMDD') || '-' || lpad($1::text, 6, '0'), $2,
                 'pending', 0, now())
         RETURNING order_number",
    )
    .bind(order_id)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    for (product, quantity) in &lines {
        let result: ReservationResult = reserve(
            &mut tx,
            locking(&state),
            *product,
            user.id,
            Some(order_id),
            *quantity,
            state.reservation_lifetime,
        )
        .await?;
        if !result.success {
            // Dropping the transaction rolls back every line reserved before this one.
            return Err(ApiError::BadRequest(json!({
                "error_code": result.error_code,
                "detail": result.error_message,
                "product_id": product,
            })));
        }
        sqlx::query(
            "INSERT INTO orders_orderitem (order_id, product_id, quantity, unit_price)
             SELECT $1, id, $3, price FROM products_product WHERE id = $2",
        )
        .bind(order_id)
        .bind(product)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
    }
    tracing::debug!(%order_number, "order reserved");
    sqlx::query(
        "UPDATE orders_order SET total_amount = (
             SELECT coalesce(sum(quantity::bigint * unit_price), 0) FROM orders_orderitem WHERE order_id = $1)
         WHERE id = $1",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    if from_cart {
        sqlx::query(
            "DELETE FROM cart_cartitem WHERE cart_id IN (SELECT id FROM cart_cart WHERE user_id = $1)",
        )
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    changed_stock(&state).await;
    Ok(drf::json(
        StatusCode::CREATED,
        &order_json(&state, user, order_id).await?,
    ))
}

/// `{"items":[{"product_id","quantity"}]}` with DRF's nested error shape (3.18: keyed by index).
fn parse_items(items: Option<&Value>) -> Result<Vec<(i64, i32)>, ApiError> {
    let Some(Value::Array(items)) = items else {
        let got = items.map_or("NoneType", drf::python_type);
        return Err(ApiError::BadRequest(json!({
            "items": {"non_field_errors": [format!("Expected a list of items but got type \"{got}\".")]}
        })));
    };
    let mut lines = Vec::with_capacity(items.len());
    let mut errors = serde_json::Map::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            errors.insert(
                index.to_string(),
                json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {}.", drf::python_type(item))]}),
            );
            continue;
        };
        let mut fields = Fields::new(item);
        let product = fields.integer_field("product_id", None, 1, i64::MAX);
        let quantity = fields.integer_field("quantity", Some(1), 1, crate::cart::MAX_QUANTITY);
        match fields.finish() {
            Ok(()) => lines.push((product.unwrap_or_default(), quantity.unwrap_or(1) as i32)),
            Err(ApiError::BadRequest(body)) => {
                errors.insert(index.to_string(), body);
            }
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::BadRequest(json!({ "items": errors })));
    }
    // The same product twice is one line.
    lines.sort_unstable();
    lines.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 += b.1;
            true
        } else {
            false
        }
    });
    Ok(lines)
}

/// An order of `user` as JSON; another user's order does not exist for them.
pub async fn order_json(state: &AppState, user: AuthUser, id: i64) -> Result<Value, ApiError> {
    let order: Option<(i64, String, String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT id, order_number, status, total_amount, created_at FROM orders_order
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?;
    let (id, number, status, total, created_at) =
        order.ok_or_else(|| ApiError::NotFound("No Order matches the given query.".into()))?;
    let items: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT product_id, quantity, unit_price FROM orders_orderitem WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|(product, quantity, price)| json!({"product_id": product, "quantity": quantity, "unit_price": price}))
        .collect();
    Ok(json!({
        "id": id,
        "order_number": number,
        "status": status,
        "total_amount": total,
        "items": items,
        "created_at": drf::datetime(&created_at),
    }))
}

/// `GET /api/orders/`: the user's orders, newest first, paginated.
#[utoipa::path(
    get,
    path = "/api/orders/",
    tag = "orders",
    operation_id = "order_list",
    params(("page" = Option<String>, Query, description = "a page number or `last`")),
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the user's orders, newest first", body = crate::openapi::wire::OrderPage),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "`Invalid page.`", body = crate::error::Detail),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_order WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(&state.db)
        .await?;
    let page_param = query
        .iter()
        .rev()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.as_str());
    let page = pagination::page_number(page_param, count)?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM orders_order WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user.id)
    .bind(pagination::PAGE_SIZE)
    .bind((page - 1) * pagination::PAGE_SIZE)
    .fetch_all(&state.db)
    .await?;
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        results.push(order_json(&state, user, id).await?);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}/api/orders/");
    Ok(drf::ok(&pagination::envelope(
        &base, &query, page, count, results,
    )))
}

/// `GET /api/orders/{id}/`.
#[utoipa::path(
    get,
    path = "/api/orders/{id}/",
    tag = "orders",
    operation_id = "order_detail",
    params(("id" = i64, Path, description = "the object's id")),
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the order", body = crate::openapi::wire::Order),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such order of the user", body = crate::error::Detail),
    ),
)]
pub async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Not found.".into()))?;
    Ok(drf::ok(&order_json(&state, user, id).await?))
}

/// `POST /api/orders/{id}/cancel/`: releases the reservations; only a pending order can be
/// cancelled here (a paid one is refunded through its payment).
#[utoipa::path(
    post,
    path = "/api/orders/{id}/cancel/",
    tag = "orders",
    operation_id = "cancel_order",
    params(("id" = i64, Path, description = "the object's id")),
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "cancelled, its stock released", body = crate::openapi::wire::Order),
        (status = 400, description = "`ORDER_NOT_CANCELLABLE`: not pending", body = crate::error::ErrorCode),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such order of the user", body = crate::error::Detail),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Not found.".into()))?;
    let mut tx = state.db.begin().await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM orders_order WHERE id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let status =
        status.ok_or_else(|| ApiError::NotFound("No Order matches the given query.".into()))?;
    if status != "pending" {
        return Err(ApiError::BadRequest(json!({
            "error_code": "ORDER_NOT_CANCELLABLE",
            "detail": format!("Only a pending order can be cancelled; this one is {status}."),
        })));
    }
    release_order(&mut tx, id, "released").await?;
    sqlx::query("UPDATE orders_order SET status = 'cancelled' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    changed_stock(&state).await;
    Ok(drf::ok(&order_json(&state, user, id).await?))
}
