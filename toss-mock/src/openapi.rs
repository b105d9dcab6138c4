//! The mock's OpenAPI 3.1 document, served at `GET /__mock/schema`. It is derived by utoipa from
//! the handlers' `#[utoipa::path]` and the wire types' `ToSchema` (the same types the handlers
//! read and write), so a changed field or route changes the document; a test diffs the served
//! document against `docs/openapi/toss-mock.json`, and schemathesis fuzzes the mock from it.
//!
//! What cannot be derived is added here: the Basic auth scheme (Toss's `base64("<key>:")`), the
//! links between operations (a session's paymentKey to confirm, look up and cancel it), and the
//! null-only fields of the Payment object.

use axum::response::Response;
use http_edge::openapi::{add_links, link};
use utoipa::openapi::Schema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::{admin, api};

/// The name of the Basic auth scheme in the document.
pub const SECRET_KEY: &str = "secretKey";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "toss-mock",
        description = "A Toss Payments v1 mock: confirm, lookup and cancel with Toss's wire \
                       formats (docs/contracts/toss-mock.md), plus the mock's own endpoints under \
                       /__mock. Every error is Toss's {\"code\",\"message\"}."
    ),
    paths(
        api::confirm,
        api::by_key,
        api::by_order,
        api::cancel,
        admin::create,
        admin::stats,
        admin::reset,
        admin::chaos,
        admin::set_chaos,
        admin::health,
        schema,
    ),
    modifiers(&Additions),
    tags(
        (name = "payments", description = "Toss Payments v1: what a shop calls"),
        (name = "mock", description = "the mock's own endpoints (none exist at Toss)"),
    )
)]
pub struct ApiDoc;

/// `GET /__mock/schema`: the document as JSON.
#[utoipa::path(
    get,
    path = "/__mock/schema",
    tag = "mock",
    operation_id = "schema",
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn schema() -> Result<Response, ApiError> {
    // Built on each call: cheap, a few hundred objects.
    http_edge::openapi::response(&ApiDoc::openapi()).map_err(|e| ApiError::Internal(e.into()))
}

/// `Idempotency-Key` on a POST: a repeat replays the first answer byte for byte.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 300 characters of visible ASCII (spaces inside); a repeat within the retention
    /// replays the first answer, 409 `IDEMPOTENT_REQUEST_PROCESSING` while the first still runs,
    /// 400 `INVALID_IDEMPOTENCY_KEY` over 300 characters
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 300,
        pattern = "^[!-~]([\\t -~]*[!-~])?$"
    )]
    pub idempotency_key: Option<String>,
}

/// A field Toss always sends as `null` for a card payment.
pub fn null() -> Schema {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// An amount of won as a number or as the numeric text a successUrl carries, 1 to 10^12.
pub fn amount() -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1))
                .maximum(Some(crate::request::MAX_AMOUNT)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\+?0*([1-9][0-9]{0,11}|1000000000000)$")),
        )
        .into()
}

/// [`amount`], or `null` (the field left to its default).
pub fn optional_amount() -> Schema {
    OneOfBuilder::new().item(amount()).item(null()).into()
}

struct Additions;

impl Modify for Additions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECRET_KEY,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Toss's secret key as the user name and an empty password: \
                         `Basic base64(\"<key>:\")`, the colon included",
                    ))
                    .build(),
            ),
        );
        let key = "$response.body#/paymentKey";
        let by_key = || link("by_key", &[("payment_key", key)], None);
        let cancel = || {
            link(
                "cancel",
                &[("payment_key", key)],
                Some(serde_json::json!({"cancelReason": "schemathesis"})),
            )
        };
        let paths = &mut openapi.paths.paths;
        if let Some(op) = paths
            .get_mut("/__mock/payments")
            .and_then(|p| p.post.as_mut())
        {
            add_links(
                op,
                "200",
                [
                    (
                        "confirm",
                        link(
                            "confirm",
                            &[],
                            Some(serde_json::json!({
                                "paymentKey": key,
                                "orderId": "$response.body#/orderId",
                                "amount": "$response.body#/amount",
                            })),
                        ),
                    ),
                    ("byKey", by_key()),
                    (
                        "byOrder",
                        link("by_order", &[("order_id", "$response.body#/orderId")], None),
                    ),
                ],
            );
        }
        if let Some(op) = paths
            .get_mut("/v1/payments/confirm")
            .and_then(|p| p.post.as_mut())
        {
            add_links(op, "200", [("byKey", by_key()), ("cancel", cancel())]);
        }
        if let Some(op) = paths
            .get_mut("/v1/payments/{payment_key}/cancel")
            .and_then(|p| p.post.as_mut())
        {
            add_links(op, "200", [("byKey", by_key())]);
        }
    }
}
