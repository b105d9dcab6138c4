//! The Redis cache of anonymous product-list pages. Keys carry a catalog version; anything that
//! changes a product or its stock bumps the version, so no stale page is ever served.
//!
//! The cache is an optimisation, never a condition: every call goes through the `RedisGuard`
//! (bounded by `Config::redis_timeout`, skipped during an outage), and a cache that does not answer
//! is a miss, so the page comes from PostgreSQL. A version bump that fails leaves the cache unread
//! (`RedisGuard::catalog_bumps`) until a later bump succeeds: pages cached before the change must not be
//! served once Redis is back.

use redis::AsyncCommands;

use crate::AppState;

/// How long a cached page lives (the plan's "cache it in Redis for about 5 minutes").
pub const TTL_SECONDS: u64 = 300;
/// Anonymous pages up to this one are cached ("the first pages").
pub const CACHED_PAGES: i64 = 5;

fn version_key(state: &AppState) -> String {
    format!("{}catalog:version", state.redis_prefix)
}

/// The key of a page under the current catalog version, `None` when the cache is not to be used
/// now (Redis away, or a missed version bump not yet made up). A caller reads it once, before it
/// reads the database, and stores the page under that same key: a change that lands meanwhile
/// bumps the version, so the page it may have missed goes under a key nobody reads any more.
pub async fn page_key(state: &AppState, query: &str) -> Option<String> {
    if !make_up_missed_bump(state).await {
        return None;
    }
    let version: Option<u64> = state
        .redis_guard
        .call(
            "reading the catalog version",
            state.redis.clone().get(version_key(state)),
        )
        .await?;
    Some(format!(
        "{}products:v{}:{query}",
        state.redis_prefix,
        version.unwrap_or(0)
    ))
}

/// The cached page; `None` on a miss or when Redis does not answer in time.
pub async fn get(state: &AppState, key: &str) -> Option<String> {
    state
        .redis_guard
        .call("reading a cached page", state.redis.clone().get(key))
        .await
        .flatten()
}

/// Caches a page; a failure only costs the next reader a database query.
pub async fn put(state: &AppState, key: &str, body: &str) {
    let _: Option<()> = state
        .redis_guard
        .call(
            "caching a page",
            state.redis.clone().set_ex(key, body, TTL_SECONDS),
        )
        .await;
}

/// Called by every change to products or stock. It never fails the change: a bump that does not
/// happen marks the cache stale, and [`page_key`] makes the bump up before it reads again.
pub async fn invalidate(state: &AppState) {
    if !bump(state).await {
        state.redis_guard.catalog_bumps.missed();
    }
}

async fn bump(state: &AppState) -> bool {
    let bumped: Option<u64> = state
        .redis_guard
        .call(
            "bumping the catalog version",
            state.redis.clone().incr(version_key(state), 1),
        )
        .await;
    bumped.is_some()
}

/// True when the cache may be read: no bump was missed, or the missed ones are made up now.
async fn make_up_missed_bump(state: &AppState) -> bool {
    let bumps = &state.redis_guard.catalog_bumps;
    let Some(ticket) = bumps.owed() else {
        return true;
    };
    if !bump(state).await {
        return false;
    }
    bumps.made_up(ticket);
    true
}
