//! The cart: `GET /api/cart/`, `GET, POST /api/cart/items/`, `PATCH, DELETE /api/cart/items/{id}/`.
//! A user's cart is made on first use; adding a product already in it increases its quantity; a
//! quantity is never more than the product's available stock at the time it is set.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AuthUser;
use crate::drf::{self, Data};
use crate::error::ApiError;
use crate::fields::Fields;

/// Largest quantity of one line (an `IntegerField(max_value=...)`).
pub const MAX_QUANTITY: i64 = 1000;

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    product_id: i64,
    name: String,
    price: i32,
    quantity: i32,
}

impl ItemRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "product_id": self.product_id,
            "name": self.name,
            "price": self.price,
            "quantity": self.quantity,
            "subtotal": i64::from(self.price) * i64::from(self.quantity),
        })
    }
}

const ITEM_SELECT: &str = "SELECT i.id, i.product_id, p.name, p.price, i.quantity
     FROM cart_cartitem i JOIN products_product p ON p.id = i.product_id";

/// The user's cart id, made on first use.
pub async fn cart_id(state: &AppState, user: AuthUser) -> Result<i64, ApiError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cart_cart (user_id, created_at) VALUES ($1, now())
         ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING id",
    )
    .bind(user.id)
    .fetch_one(&state.db)
    .await?;
    Ok(id)
}

async fn items(state: &AppState, cart: i64) -> Result<Vec<ItemRow>, ApiError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ITEM_SELECT} WHERE i.cart_id = $1 ORDER BY i.id"
    )))
    .bind(cart)
    .fetch_all(&state.db)
    .await?)
}

/// `GET /api/cart/`.
#[utoipa::path(
    get,
    path = "/api/cart/",
    tag = "cart",
    operation_id = "cart",
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the cart", body = crate::openapi::wire::Cart),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
    ),
)]
pub async fn show(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let cart = cart_id(&state, user).await?;
    let items = items(&state, cart).await?;
    let total: i64 = items
        .iter()
        .map(|i| i64::from(i.price) * i64::from(i.quantity))
        .sum();
    let items: Vec<Value> = items.iter().map(ItemRow::to_json).collect();
    Ok(drf::ok(
        &json!({"id": cart, "items": items, "total_amount": total}),
    ))
}

/// `GET /api/cart/items/`.
#[utoipa::path(
    get,
    path = "/api/cart/items/",
    tag = "cart",
    operation_id = "cart_items",
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the cart's lines", body = Vec<crate::openapi::wire::CartItem>),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
    ),
)]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let cart = cart_id(&state, user).await?;
    let items: Vec<Value> = items(&state, cart)
        .await?
        .iter()
        .map(ItemRow::to_json)
        .collect();
    Ok(drf::ok(&Value::Array(items)))
}

/// `POST /api/cart/items/` `{"product_id","quantity"}`: adds, or increases the line.
#[utoipa::path(
    post,
    path = "/api/cart/items/",
    tag = "cart",
    operation_id = "add_cart_item",
    request_body = crate::openapi::wire::CartAddBody,
    security(("jwtAuth" = [])),
    responses(
        (status = 201, description = "the line", body = crate::openapi::wire::CartItem),
        (status = 400, description = "field errors, a JSON parse error or a refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let product = fields.integer_field("product_id", None, i64::MIN, i64::MAX);
    let quantity = fields.integer_field("quantity", Some(1), 1, MAX_QUANTITY);
    fields.finish()?;
    let (product, quantity) = (product.unwrap_or_default(), quantity.unwrap_or(1));
    let available = available(&state, product).await?;
    let cart = cart_id(&state, user).await?;
    let current: Option<i32> = sqlx::query_scalar(
        "SELECT quantity FROM cart_cartitem WHERE cart_id = $1 AND product_id = $2",
    )
    .bind(cart)
    .bind(product)
    .fetch_optional(&state.db)
    .await?;
    let wanted = i64::from(current.unwrap_or(0)) + quantity;
    check_quantity(wanted, available)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cart_cartitem (cart_id, product_id, quantity) VALUES ($1, $2, $3)
         ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_cartitem.quantity + $3
         RETURNING id",
    )
    .bind(cart)
    .bind(product)
    .bind(quantity as i32)
    .fetch_one(&state.db)
    .await?;
    let item = item(&state, cart, id).await?;
    Ok(drf::json(StatusCode::CREATED, &item.to_json()))
}

/// `PATCH /api/cart/items/{id}/` `{"quantity"}`.
#[utoipa::path(
    patch,
    path = "/api/cart/items/{id}/",
    tag = "cart",
    operation_id = "update_cart_item",
    request_body = crate::openapi::wire::CartUpdateBody,
    params(("id" = i64, Path, description = "the object's id")),
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the line", body = crate::openapi::wire::CartItem),
        (status = 400, description = "field errors, a JSON parse error or a refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such line in the user's cart", body = crate::error::Detail),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let cart = cart_id(&state, user).await?;
    let existing = item(&state, cart, parse_id(&id)?).await?;
    let mut fields = Fields::new(&data);
    let quantity = fields.integer_field(
        "quantity",
        Some(i64::from(existing.quantity)),
        1,
        MAX_QUANTITY,
    );
    fields.finish()?;
    let quantity = quantity.unwrap_or(1);
    check_quantity(quantity, available(&state, existing.product_id).await?)?;
    sqlx::query("UPDATE cart_cartitem SET quantity = $1 WHERE id = $2")
        .bind(quantity as i32)
        .bind(existing.id)
        .execute(&state.db)
        .await?;
    Ok(drf::ok(&item(&state, cart, existing.id).await?.to_json()))
}

/// `DELETE /api/cart/items/{id}/`.
#[utoipa::path(
    delete,
    path = "/api/cart/items/{id}/",
    tag = "cart",
    operation_id = "remove_cart_item",
    params(("id" = i64, Path, description = "the object's id")),
    security(("jwtAuth" = [])),
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such line in the user's cart", body = crate::error::Detail),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cart = cart_id(&state, user).await?;
    let existing = item(&state, cart, parse_id(&id)?).await?;
    sqlx::query("DELETE FROM cart_cartitem WHERE id = $1")
        .bind(existing.id)
        .execute(&state.db)
        .await?;
    Ok(drf::no_content())
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound("Not found.".into()))
}

/// One of the user's items; another user's is as missing as one that does not exist.
async fn item(state: &AppState, cart: i64, id: i64) -> Result<ItemRow, ApiError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ITEM_SELECT} WHERE i.cart_id = $1 AND i.id = $2"
    )))
    .bind(cart)
    .bind(id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::NotFound("No CartItem matches the given query.".into()))
}

/// The product's available stock (0 without a stock row); DRF's answer for an unknown product.
async fn available(state: &AppState, product: i64) -> Result<i64, ApiError> {
    let row: Option<Option<i32>> = sqlx::query_scalar(
        "SELECT s.available_stock FROM products_product p
         LEFT JOIN products_productstock s ON s.product_id = p.id WHERE p.id = $1",
    )
    .bind(product)
    .fetch_optional(&state.db)
    .await?;
    match row {
        None => Err(ApiError::field(
            "product_id",
            format!("Invalid pk \"{product}\" - object does not exist."),
        )),
        Some(stock) => Ok(i64::from(stock.unwrap_or(0))),
    }
}

fn check_quantity(wanted: i64, available: i64) -> Result<(), ApiError> {
    if wanted > available {
        return Err(ApiError::BadRequest(json!({
            "non_field_errors": [format!("Not enough stock: {wanted} requested, {available} available.")]
        })));
    }
    Ok(())
}
