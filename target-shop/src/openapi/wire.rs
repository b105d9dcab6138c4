//! The shapes of the shop's request and success bodies, for the OpenAPI document only: the handlers
//! read `request.data` field by field (`fields`) and write their answers with `json!`, in DRF's
//! key order, so these types say what those bodies are. schemathesis holds the served answers to
//! them in CI (every response checked against its schema), and the error bodies are the very
//! types `error.rs` renders.

#![allow(dead_code)] // schemas only: their fields are read by utoipa's derive, never by code

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type,
};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::error::{Detail, DetailCode, ErrorCode, TokenNotValid};

/// `POST /api/auth/login/`.
#[derive(ToSchema)]
pub struct LoginBody {
    #[schema(min_length = 1, pattern = "\\S", example = "load_test_user_1")]
    username: String,
    #[schema(min_length = 1, pattern = "\\S", example = "testpass123")]
    password: String,
}

/// simplejwt's pair: a refresh token (1 day) and an access token (5 minutes).
#[derive(ToSchema)]
pub struct TokenPair {
    refresh: String,
    access: String,
}

/// `POST /api/auth/refresh/`.
#[derive(ToSchema)]
pub struct RefreshBody {
    #[schema(min_length = 1, pattern = "\\S")]
    refresh: String,
}

/// A new access token.
#[derive(ToSchema)]
pub struct AccessToken {
    access: String,
}

/// `POST /api/auth/verify/`.
#[derive(ToSchema)]
pub struct VerifyBody {
    #[schema(min_length = 1, pattern = "\\S")]
    token: String,
}

/// `{}`: the token is valid.
#[derive(ToSchema)]
pub struct Verified {}

/// `GET /api/auth/me/`.
#[derive(ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    email: String,
    email_verified: bool,
    points: i64,
}

/// A product's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ProductStatus {
    Active,
    Inactive,
    Soldout,
}

#[derive(ToSchema)]
pub struct Category {
    id: i64,
    name: String,
}

/// Stock as the list shows it.
#[derive(ToSchema)]
pub struct ListStock {
    available_stock: i64,
}

/// Stock as the detail shows it.
#[derive(ToSchema)]
pub struct DetailStock {
    available_stock: i64,
    physical_stock: Option<i64>,
    reserved_stock: Option<i64>,
}

/// A product in the list.
#[derive(ToSchema)]
pub struct Product {
    id: i64,
    name: String,
    description: String,
    /// KRW.
    price: i64,
    status: ProductStatus,
    category: Option<Category>,
    stock: Option<ListStock>,
}

/// `GET /api/products/{id}/`.
#[derive(ToSchema)]
pub struct ProductDetail {
    id: i64,
    name: String,
    description: String,
    price: i64,
    status: ProductStatus,
    category: Option<Category>,
    stock: Option<DetailStock>,
}

/// DRF's PageNumberPagination: absolute links, 20 a page.
#[derive(ToSchema)]
pub struct ProductPage {
    count: i64,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Product>,
}

/// `POST /api/products/{id}/stock/reserve/`.
#[derive(ToSchema)]
pub struct ReserveBody {
    #[schema(minimum = 1, maximum = 1000)]
    quantity: i64,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ReservationStatus {
    Active,
    Committed,
    Released,
    Expired,
}

#[derive(ToSchema)]
pub struct Reservation {
    id: i64,
    product_id: i64,
    quantity: i64,
    status: ReservationStatus,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The seed's ReservationResult: 201 with the reservation, 400 with the reason
/// (`INSUFFICIENT_STOCK`, `STOCK_NOT_FOUND`, `PRODUCT_NOT_AVAILABLE`).
#[derive(ToSchema)]
pub struct ReservationResult {
    success: bool,
    reservation: Option<Reservation>,
    error_message: Option<String>,
    error_code: Option<String>,
}

/// A line of the cart.
#[derive(ToSchema)]
pub struct CartItem {
    id: i64,
    product_id: i64,
    name: String,
    price: i64,
    quantity: i64,
    subtotal: i64,
}

/// `GET /api/cart/`.
#[derive(ToSchema)]
pub struct Cart {
    id: i64,
    items: Vec<CartItem>,
    total_amount: i64,
}

/// `POST /api/cart/items/`: adds, or increases the line.
#[derive(ToSchema)]
pub struct CartAddBody {
    product_id: i64,
    #[schema(
        minimum = 1,
        maximum = 1000,
        default = 1,
        nullable = false,
        required = false
    )]
    quantity: Option<i64>,
}

/// `PATCH /api/cart/items/{id}/`.
#[derive(ToSchema)]
pub struct CartUpdateBody {
    #[schema(minimum = 1, maximum = 1000, nullable = false, required = false)]
    quantity: Option<i64>,
}

/// A line of an order to create.
#[derive(ToSchema)]
pub struct OrderLine {
    #[schema(minimum = 1)]
    product_id: i64,
    #[schema(
        minimum = 1,
        maximum = 1000,
        default = 1,
        nullable = false,
        required = false
    )]
    quantity: Option<i64>,
}

/// `POST /api/orders/`: `{}` orders the whole cart, `items` the given lines.
#[derive(ToSchema)]
pub struct OrderCreateBody {
    #[schema(min_items = 1, nullable = false, required = false)]
    items: Option<Vec<OrderLine>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Cancelled,
    Expired,
}

#[derive(ToSchema)]
pub struct OrderItem {
    product_id: i64,
    quantity: i64,
    unit_price: i64,
}

#[derive(ToSchema)]
pub struct Order {
    id: i64,
    #[schema(example = "ORD-20261122-000123")]
    order_number: String,
    status: OrderStatus,
    total_amount: i64,
    items: Vec<OrderItem>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// The user's orders, newest first.
#[derive(ToSchema)]
pub struct OrderPage {
    count: i64,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Order>,
}

/// `POST /api/payments/confirm/`: what Toss's success redirect gives.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct ConfirmBody {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    paymentKey: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "\\S",
        example = "ORD-20261122-000123"
    )]
    orderId: String,
    /// A number, or the numeric text the redirect carries.
    #[schema(minimum = 1)]
    amount: i64,
}

/// `POST /api/payments/{paymentKey}/cancel/`.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct PaymentCancelBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        nullable = false,
        required = false
    )]
    cancelReason: Option<String>,
}

/// The payment as the confirm and cancel answers show it.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct PaymentSummary {
    paymentKey: String,
    orderId: String,
    status: String,
    method: Option<String>,
    totalAmount: i64,
    #[schema(format = DateTime)]
    approvedAt: Option<String>,
}

/// The order and its payment.
#[derive(ToSchema)]
pub struct PaymentResult {
    order: Order,
    payment: PaymentSummary,
}

/// `GET /healthz`: `ok` or `error` for the whole and each part.
#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
    #[schema(example = "ok")]
    db: String,
    #[schema(example = "ok")]
    redis: String,
}

/// DRF's field errors: `{"field": ["message", ...]}`, `{"non_field_errors": [...]}`, and the
/// nested serializers' `{"items": {"0": {"quantity": [...]}}}`.
pub struct FieldErrors;

impl PartialSchema for FieldErrors {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
                AnyOfBuilder::new()
                    .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
                    .item(ObjectBuilder::new().schema_type(Type::Object))
                    .into(),
            ))))
            .min_properties(Some(1))
            .examples([serde_json::json!({"quantity": ["This field is required."]})])
            .into()
    }
}

impl ToSchema for FieldErrors {}

/// Every 400 body the shop sends: DRF's `{"detail"}` (a parse error), field errors, or a
/// business refusal.
pub struct Invalid;

impl PartialSchema for Invalid {
    fn schema() -> RefOr<Schema> {
        any_of(&["Detail", "FieldErrors", "ErrorCode"])
    }
}

impl ToSchema for Invalid {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push::<Detail>(schemas);
        push::<FieldErrors>(schemas);
        push::<ErrorCode>(schemas);
    }
}

/// A filter's 400: django-filter's field errors (`category`), or the bare list of messages of a
/// ValidationError raised in a filter backend (SearchFilter's `search` with a NUL).
pub struct FilterRefusal;

impl PartialSchema for FilterRefusal {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("FieldErrors"))
            .item(
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .examples([serde_json::json!(["Null characters are not allowed."])]),
            )
            .into()
    }
}

impl ToSchema for FilterRefusal {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push::<FieldErrors>(schemas);
    }
}

/// A reservation's 400: the ReservationResult saying why, or DRF's field errors and parse error.
pub struct ReserveRefusal;

impl PartialSchema for ReserveRefusal {
    fn schema() -> RefOr<Schema> {
        any_of(&["ReservationResult", "Detail", "FieldErrors"])
    }
}

impl ToSchema for ReserveRefusal {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push::<ReservationResult>(schemas);
        push::<Detail>(schemas);
        push::<FieldErrors>(schemas);
    }
}

/// Every 401 body: no credentials or a wrong login (`{"detail"}`), simplejwt's `{"detail","code"}`,
/// or an invalid token on an authenticated view.
pub struct Unauthorized;

impl PartialSchema for Unauthorized {
    fn schema() -> RefOr<Schema> {
        any_of(&["Detail", "DetailCode", "TokenNotValid"])
    }
}

impl ToSchema for Unauthorized {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push::<Detail>(schemas);
        push::<DetailCode>(schemas);
        push::<TokenNotValid>(schemas);
    }
}

fn any_of(names: &[&str]) -> RefOr<Schema> {
    names
        .iter()
        .fold(AnyOfBuilder::new(), |any, name| {
            any.item(Ref::from_schema_name(*name))
        })
        .into()
}

fn push<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    let name: Cow<'static, str> = T::name();
    schemas.push((name.into_owned(), T::schema()));
    T::schemas(schemas);
}
