//! `GET /healthz`: 200 when PostgreSQL and Redis both answer, 503 naming the part that does not.
//! Both are asked at once, and Redis's PING is bounded by `Config::redis_timeout` (a stopped Redis
//! accepts the connection and never answers): a load balancer's check gets its answer in time, and
//! the answer says which part is down while the shop goes on serving without it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::AppState;
use crate::drf;

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    security(()),
    responses(
        (status = 200, description = "PostgreSQL and Redis answer", body = crate::openapi::wire::Health),
        (status = 503, description = "the part that does not answer is `error`", body = crate::openapi::wire::Health),
    ),
)]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let db = async {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&state.db)
            .await
            .is_ok()
    };
    // A probe, not a guarded call: during an outage it is what finds out whether Redis is back.
    let redis = async {
        let mut redis = state.redis.clone();
        state
            .redis_guard
            .probe(
                "health check",
                redis::cmd("PING").query_async::<String>(&mut redis),
            )
            .await
            .is_some()
    };
    let (db, redis_ok) = tokio::join!(db, redis);
    let word = |ok: bool| if ok { "ok" } else { "error" };
    let status = if db && redis_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    drf::json(
        status,
        &json!({
            "status": word(db && redis_ok),
            "db": word(db),
            "redis": word(redis_ok),
        }),
    )
}
