//! `GET /healthz`: 200 when PostgreSQL and Redis both answer, 503 naming the part that does not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::AppState;
use crate::drf;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let db = sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&state.db)
        .await
        .is_ok();
    let mut redis = state.redis.clone();
    let redis_ok = redis::cmd("PING")
        .query_async::<String>(&mut redis)
        .await
        .is_ok();
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
