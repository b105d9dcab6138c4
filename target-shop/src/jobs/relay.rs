//! The job outbox (`jobs_queued`): a payment's jobs are written in the payment's transaction
//! ([`stage`]), so a payment never exists without its jobs whatever Redis does, and then moved to
//! the stream: at once by the request ([`send_order`]), or by the worker's relay ([`relay_once`])
//! when Redis did not answer in time.
//!
//! Moving holds the rows (`FOR UPDATE SKIP LOCKED`) across the XADD and deletes them in the same
//! transaction, so two relays never send the same rows. A row is deleted only after its XADD
//! succeeded, so no job is lost; an XADD that went through but whose answer did not arrive (a
//! stalled Redis executes it later) sends the job again, and `perform`'s idempotency key makes
//! the second delivery a no-op: no job runs twice.

use sqlx::{Postgres, Transaction};

use super::{Job, stream_key};
use crate::AppState;
use crate::error::ApiError;

/// Rows one relay transaction moves (and holds locked across one XADD pipeline).
const BATCH: i64 = 200;

/// Queues `jobs` in the caller's transaction: they exist if and only if it commits.
pub async fn stage(tx: &mut Transaction<'_, Postgres>, jobs: &[Job]) -> Result<(), ApiError> {
    let kinds: Vec<&str> = jobs.iter().map(Job::kind).collect();
    let orders: Vec<i64> = jobs.iter().map(Job::order).collect();
    sqlx::query(
        "INSERT INTO jobs_queued (kind, order_id) SELECT * FROM unnest($1::text[], $2::bigint[])",
    )
    .bind(&kinds)
    .bind(&orders)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves `order`'s queued jobs to the stream, right after the transaction that queued them. It
/// never fails the request: jobs it cannot move stay queued for the worker's relay.
pub async fn send_order(state: &AppState, order: i64) {
    if let Err(e) = move_batch(state, Some(order)).await {
        tracing::warn!(order, error = %e, "moving the order's jobs to the stream failed; the relay will");
    }
}

/// Moves every queued job to the stream, a batch at a time, until none is left or Redis does not
/// answer. Returns the jobs moved.
pub async fn relay_once(state: &AppState) -> Result<usize, ApiError> {
    let mut moved = 0;
    loop {
        match move_batch(state, None).await? {
            Moved::Sent(0) | Moved::Kept => return Ok(moved),
            Moved::Sent(n) => moved += n,
        }
    }
}

/// Queued jobs in PostgreSQL (part of the backlog: owed, not yet on the stream).
pub async fn queued(state: &AppState) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs_queued")
        .fetch_one(&state.db)
        .await?;
    Ok(count.max(0) as u64)
}

enum Moved {
    /// Rows sent and deleted (0: none were queued, or all were held by another relay).
    Sent(usize),
    /// Redis did not take them: they stay queued.
    Kept,
}

/// One transaction: up to [`BATCH`] rows (of `order`, or the oldest) locked, sent, deleted.
async fn move_batch(state: &AppState, order: Option<i64>) -> Result<Moved, ApiError> {
    let mut tx = state.db.begin().await?;
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, kind, order_id FROM jobs_queued WHERE $1::bigint IS NULL OR order_id = $1
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(order)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Moved::Sent(0));
    }
    let jobs: Vec<Job> = rows
        .iter()
        .filter_map(|(id, kind, order)| {
            let job = Job::of(kind, *order);
            if job.is_none() {
                // Written by no version of this shop: sending it would only have it dropped later.
                tracing::warn!(id, kind, "unknown queued job dropped");
            }
            job
        })
        .collect();
    if !jobs.is_empty() {
        let key = stream_key(state);
        let mut pipe = redis::pipe();
        for job in &jobs {
            pipe.xadd(&key, "*", &job.fields()).ignore();
        }
        let mut redis = state.redis.clone();
        let sent: Option<()> = state
            .redis_guard
            .call("enqueueing jobs", pipe.query_async::<()>(&mut redis))
            .await;
        if sent.is_none() {
            // Rolled back on drop: the rows stay queued, unlocked, for the next try.
            return Ok(Moved::Kept);
        }
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
    sqlx::query("DELETE FROM jobs_queued WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    // A failure here leaves the rows queued although sent: they are sent again, and run once.
    tx.commit().await?;
    Ok(Moved::Sent(rows.len()))
}
