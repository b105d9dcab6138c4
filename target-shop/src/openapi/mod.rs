//! The shop's OpenAPI 3.1 document, served at `GET /api/schema/` (drf-spectacular's path; JSON
//! whatever `?format=` asks, as `?format=json` would give). utoipa derives it from the handlers'
//! `#[utoipa::path]` (method, path, body, every answer) and from `ToSchema` types: the error
//! bodies are the very types `error.rs` renders, the other bodies are described in `wire`. A test
//! diffs the served document against `docs/openapi/shop.json`; schemathesis fuzzes the shop from
//! it in CI and checks every answer against it.
//!
//! Added here, as utoipa cannot derive them: the JWT Bearer scheme (simplejwt's), and the links
//! between operations that schemathesis's stateful mode follows (a login's tokens to refresh and
//! verify, a created cart item or order to the operations on it).

pub mod wire;

use axum::response::Response;
use http_edge::openapi::{add_links, link};
use serde_json::json;
use utoipa::openapi::link::Link;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, Detail, DetailCode, ErrorCode, TokenNotValid};
use crate::{auth, cart, catalog, health, orders, payments, telemetry};

/// The name of the Bearer scheme in the document.
pub const JWT: &str = "jwtAuth";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "target-shop",
        description = "The reference shop: a Django 5.2 + DRF 3.18 + simplejwt 5.5 shop's API, \
                       byte for byte (docs/contracts/shop-api.md). Every route ends in a slash \
                       (without it: 301); errors are DRF's shapes: {\"detail\"}, field errors \
                       {\"field\":[\"...\"]}, and {\"error_code\",\"detail\"} for refusals \
                       clients branch on."
    ),
    paths(
        auth::routes::login,
        auth::routes::refresh,
        auth::routes::verify,
        auth::routes::me,
        catalog::routes::list,
        catalog::routes::detail,
        orders::routes::reserve_stock,
        cart::show,
        cart::list,
        cart::add,
        cart::update,
        cart::remove,
        orders::routes::list,
        orders::routes::create,
        orders::routes::detail,
        orders::routes::cancel,
        payments::routes::confirm,
        payments::routes::cancel,
        health::healthz,
        telemetry::metrics,
        schema,
    ),
    components(schemas(Detail, DetailCode, TokenNotValid, ErrorCode, wire::FieldErrors)),
    modifiers(&Additions),
    tags(
        (name = "auth", description = "simplejwt's token views and the current user"),
        (name = "catalog", description = "products"),
        (name = "cart", description = "the user's cart"),
        (name = "orders", description = "stock reservations and orders"),
        (name = "payments", description = "payment through Toss"),
        (name = "operations", description = "health, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// `GET /api/schema/`: the document as JSON.
#[utoipa::path(
    get,
    path = "/api/schema/",
    tag = "operations",
    operation_id = "schema",
    params(("format" = Option<String>, Query, description = "`json` (the only format served; anything else is served JSON too)")),
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn schema() -> Result<Response, ApiError> {
    // Built on each call: a few hundred objects.
    http_edge::openapi::response(&ApiDoc::openapi()).map_err(|e| ApiError::Internal(e.into()))
}

struct Additions;

impl Modify for Additions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            JWT,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "simplejwt's HS256 access token from `POST /api/auth/login/`: \
                         `Authorization: Bearer <access>`",
                    ))
                    .build(),
            ),
        );
        let paths = &mut openapi.paths.paths;
        let mut links = |path: &str, post: bool, status: &str, new: Vec<(&str, Link)>| {
            let op = paths.get_mut(path).and_then(|item| {
                if post {
                    item.post.as_mut()
                } else {
                    item.get.as_mut()
                }
            });
            if let Some(op) = op {
                add_links(op, status, new);
            }
        };
        links(
            "/api/auth/login/",
            true,
            "200",
            vec![
                (
                    "refresh",
                    link(
                        "refresh",
                        &[],
                        Some(json!({"refresh": "$response.body#/refresh"})),
                    ),
                ),
                (
                    "verify",
                    link(
                        "verify",
                        &[],
                        Some(json!({"token": "$response.body#/access"})),
                    ),
                ),
            ],
        );
        let item = "$response.body#/id";
        links(
            "/api/cart/items/",
            true,
            "201",
            vec![
                ("update", link("update_cart_item", &[("id", item)], None)),
                ("remove", link("remove_cart_item", &[("id", item)], None)),
            ],
        );
        links(
            "/api/orders/",
            true,
            "201",
            vec![
                ("detail", link("order_detail", &[("id", item)], None)),
                ("cancel", link("cancel_order", &[("id", item)], None)),
            ],
        );
        links(
            "/api/products/",
            false,
            "200",
            vec![
                (
                    "detail",
                    link(
                        "product_detail",
                        &[("id", "$response.body#/results/0/id")],
                        None,
                    ),
                ),
                (
                    "reserve",
                    link(
                        "reserve_stock",
                        &[("id", "$response.body#/results/0/id")],
                        Some(json!({"quantity": 1})),
                    ),
                ),
                (
                    "addToCart",
                    link(
                        "add_cart_item",
                        &[],
                        Some(json!({"product_id": "$response.body#/results/0/id", "quantity": 1})),
                    ),
                ),
            ],
        );
    }
}
