//! The router: Toss's endpoints and the mock's, the gate (auth, test codes, idempotency) on those
//! that need a key, the body size limit, statistics and the request's language around everything.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::AppState;
use crate::{Config, admin, api, error, gate, openapi, request, stats};

/// The mock's router over a fresh state built from `config` (tests call it directly).
pub fn app(config: Config) -> Router {
    router(AppState::new(config))
}

pub fn router(state: AppState) -> Router {
    let keyed = Router::new()
        .route("/v1/payments/confirm", post(api::confirm))
        .route("/v1/payments/{payment_key}", get(api::by_key))
        .route("/v1/payments/orders/{order_id}", get(api::by_order))
        .route("/v1/payments/{payment_key}/cancel", post(api::cancel))
        .route("/__mock/payments", post(admin::create))
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate));
    Router::new()
        .merge(keyed)
        .route("/__mock/stats", get(admin::stats))
        .route("/__mock/reset", post(admin::reset))
        .route("/__mock/chaos", get(admin::chaos).put(admin::set_chaos))
        .route("/__mock/schema", get(openapi::schema))
        .route("/healthz", get(admin::health))
        .fallback(admin::not_found)
        .method_not_allowed_fallback(admin::method_not_allowed)
        .layer(middleware::from_fn(request::refuse_oversized))
        .layer(DefaultBodyLimit::max(request::MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), stats::record))
        .layer(middleware::from_fn(language))
        .with_state(state)
}

async fn language(request: Request, next: Next) -> Response {
    let english = error::wants_english(request.headers());
    error::in_language(english, next.run(request)).await
}
