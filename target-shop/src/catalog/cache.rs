//! The Redis cache of anonymous product-list pages. Keys carry a catalog version; anything that
//! changes a product or its stock bumps the version, so no stale page is ever served.

use redis::AsyncCommands;

use crate::AppState;

/// How long a cached page lives (the plan's "cache it in Redis for about 5 minutes").
pub const TTL_SECONDS: u64 = 300;
/// Anonymous pages up to this one are cached ("the first pages").
pub const CACHED_PAGES: i64 = 5;

fn version_key(state: &AppState) -> String {
    format!("{}catalog:version", state.redis_prefix)
}

/// The key of a page under the current catalog version. A caller reads it once, before it reads the
/// database, and stores the page under that same key: a change that lands meanwhile bumps the
/// version, so the page it may have missed goes under a key nobody reads any more.
pub async fn page_key(state: &AppState, query: &str) -> redis::RedisResult<String> {
    let mut redis = state.redis.clone();
    let version: Option<u64> = redis.get(version_key(state)).await?;
    Ok(format!(
        "{}products:v{}:{query}",
        state.redis_prefix,
        version.unwrap_or(0)
    ))
}

pub async fn get(state: &AppState, key: &str) -> redis::RedisResult<Option<String>> {
    state.redis.clone().get(key).await
}

pub async fn put(state: &AppState, key: &str, body: &str) -> redis::RedisResult<()> {
    state.redis.clone().set_ex(key, body, TTL_SECONDS).await
}

/// Called by every change to products or stock.
pub async fn invalidate(state: &AppState) -> redis::RedisResult<()> {
    state.redis.clone().incr(version_key(state), 1).await
}
