//! The async jobs a payment leaves behind (the plan's "move e-mail and point accrual to Celery"),
//! on a Redis stream (`<redis_prefix>jobs`) read by a consumer group, and the reservation-expiry
//! sweep. Delivery is at least once (a job is acknowledged only after its work is committed, and a
//! worker that dies mid-job has it claimed by another), so every job is idempotent: its effect is
//! keyed by `(kind, "order:<id>")` in `jobs_outbox`'s unique index. A payment's jobs are first
//! written to `jobs_queued` in the payment's transaction and moved to the stream from there
//! (`relay`): a Redis outage delays them, it never loses them nor fails the payment.
//!
//! Each job spends a realistic delay (simulated SMTP, the points service): invisible to buyers when
//! the worker does it, and the whole point of the `inline-jobs` fault, which does it in the request.

pub mod relay;
pub mod worker;

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;

pub use worker::{Delivery, Worker};

use crate::AppState;
use crate::error::ApiError;

/// The consumer group every worker reads in.
pub const GROUP: &str = "workers";

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Simulated SMTP time of one order e-mail.
    pub email_delay: Duration,
    /// Simulated points-service time of one accrual.
    pub points_delay: Duration,
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// A job delivered this long ago and not acknowledged is taken over by another worker (its
    /// worker is taken to have died).
    pub claim_idle: Duration,
    /// How often expired reservations are looked for.
    pub sweep_interval: Duration,
    /// Longest wait of one stream read for new jobs.
    pub block: Duration,
    /// This worker's consumer name in the group (unique per process).
    pub consumer: String,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            email_delay: Duration::from_millis(200),
            points_delay: Duration::from_millis(100),
            concurrency: 16,
            claim_idle: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(5),
            block: Duration::from_secs(1),
            consumer: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The order confirmation e-mail.
    Email { order: i64 },
    /// 1 % of the order's total (rounded down) added to the buyer's points.
    Points { order: i64 },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Email { .. } => "email",
            Self::Points { .. } => "points",
        }
    }

    /// The job of a `jobs_queued` row; `None` for a kind no version of the shop wrote.
    fn of(kind: &str, order: i64) -> Option<Self> {
        match kind {
            "email" => Some(Self::Email { order }),
            "points" => Some(Self::Points { order }),
            _ => None,
        }
    }

    fn order(&self) -> i64 {
        match self {
            Self::Email { order } | Self::Points { order } => *order,
        }
    }

    /// The job's key in `jobs_outbox`: one effect per kind and order, however often delivered.
    fn dedup_key(&self) -> String {
        format!("order:{}", self.order())
    }

    /// The stream entry's fields.
    fn fields(&self) -> [(&'static str, String); 2] {
        [
            ("kind", self.kind().to_string()),
            ("order_id", self.order().to_string()),
        ]
    }

    /// A stream entry's job; `None` for an entry no version of the shop wrote.
    fn from_entry(entry: &redis::streams::StreamId) -> Option<Self> {
        let order: i64 = entry.get::<String>("order_id")?.parse().ok()?;
        Self::of(&entry.get::<String>("kind")?, order)
    }
}

pub fn stream_key(state: &AppState) -> String {
    format!("{}jobs", state.redis_prefix)
}

/// The jobs a payment of `order` owes.
fn payment_jobs(order: i64) -> [Job; 2] {
    [Job::Email { order }, Job::Points { order }]
}

/// Queues a payment's jobs in the payment's transaction (nothing with the `inline-jobs` fault,
/// which does them in the request instead).
pub async fn stage_payment(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    order: i64,
) -> Result<(), ApiError> {
    if state.faults.inline_jobs {
        return Ok(());
    }
    relay::stage(tx, &payment_jobs(order)).await
}

/// A payment's follow-up work, after its transaction committed: its queued jobs moved to the
/// stream for the worker, or (the `inline-jobs` fault) done here, delays included, before the
/// buyer gets an answer.
pub async fn after_payment(state: &AppState, order: i64) -> Result<(), ApiError> {
    if state.faults.inline_jobs {
        for job in payment_jobs(order) {
            perform(state, job).await?;
        }
    } else {
        relay::send_order(state, order).await;
    }
    Ok(())
}

/// Does `job`. Done twice, it has the effect of once. An order that no longer exists is nothing
/// to do; an error (the database) leaves the job to be retried.
pub async fn perform(state: &AppState, job: Job) -> Result<(), ApiError> {
    let order: Option<(i32, String, i64, String)> = sqlx::query_as(
        "SELECT o.user_id, o.order_number, o.total_amount, u.email FROM orders_order o
         JOIN auth_user u ON u.id = o.user_id WHERE o.id = $1",
    )
    .bind(job.order())
    .fetch_optional(&state.db)
    .await?;
    let Some((user, order_number, total, email)) = order else {
        tracing::warn!(?job, "job for a missing order dropped");
        return Ok(());
    };
    let key = job.dedup_key();
    match job {
        Job::Email { .. } => {
            // A redelivered e-mail whose sending was recorded is not sent again.
            let sent: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM jobs_outbox WHERE kind = 'email' AND dedup_key = $1",
            )
            .bind(&key)
            .fetch_optional(&state.db)
            .await?;
            if sent.is_some() {
                return Ok(());
            }
            tokio::time::sleep(state.jobs.email_delay).await;
            sqlx::query(
                "INSERT INTO jobs_outbox (kind, dedup_key, user_id, payload)
                 VALUES ('email', $1, $2, $3) ON CONFLICT (kind, dedup_key) DO NOTHING",
            )
            .bind(&key)
            .bind(user)
            .bind(json!({
                "to": email,
                "subject": format!("Order {order_number} confirmed"),
                "order_number": order_number,
                "total_amount": total,
            }))
            .execute(&state.db)
            .await?;
        }
        Job::Points { .. } => {
            let points = total / 100;
            tokio::time::sleep(state.jobs.points_delay).await;
            // The outbox row and the points in one transaction: the row's unique key is the proof
            // these points were added, so a redelivery adds nothing.
            let mut tx = state.db.begin().await?;
            let recorded: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs_outbox (kind, dedup_key, user_id, payload)
                 VALUES ('points', $1, $2, $3) ON CONFLICT (kind, dedup_key) DO NOTHING RETURNING id",
            )
            .bind(&key)
            .bind(user)
            .bind(json!({"order_number": order_number, "points": points}))
            .fetch_optional(&mut *tx)
            .await?;
            if recorded.is_some() {
                sqlx::query(
                    "INSERT INTO accounts_profile (user_id, email_verified, points) VALUES ($1, false, $2)
                     ON CONFLICT (user_id) DO UPDATE SET points = accounts_profile.points + EXCLUDED.points",
                )
                .bind(user)
                .bind(points)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// One reservation-expiry sweep (`orders::expire_due`), with the catalog cache told when stock came
/// back.
pub async fn sweep_once(state: &AppState) -> Result<crate::orders::Expired, ApiError> {
    let expired = crate::orders::expire_due(&state.db).await?;
    if expired != crate::orders::Expired::default() {
        tracing::info!(
            orders = expired.orders,
            reservations = expired.reservations,
            "expired reservations released"
        );
        crate::orders::routes::changed_stock(state).await;
    }
    Ok(expired)
}

/// `(backlog, in progress)`: jobs queued in PostgreSQL plus entries in the stream (done ones are
/// deleted, so every entry is waiting or being worked on), and those delivered to a worker and not
/// yet acknowledged. Bounded like every request's Redis call: an outage is an error at once.
pub async fn backlog(state: &AppState) -> redis::RedisResult<(u64, u64)> {
    let key = stream_key(state);
    let mut redis = state.redis.clone();
    let stream = async {
        let length: u64 = redis.xlen(&key).await?;
        // No group yet (no worker has started): nothing is in progress.
        let pending = redis
            .xpending::<_, _, redis::streams::StreamPendingReply>(&key, GROUP)
            .await
            .map_or(0, |reply| reply.count() as u64);
        Ok((length, pending))
    };
    let (length, pending) = state
        .redis_guard
        .call("reading the job backlog", stream)
        .await
        .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "redis unavailable")))?;
    let queued = relay::queued(state).await.map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::Client,
            "counting queued jobs",
            e.to_string(),
        ))
    })?;
    Ok((length + queued, pending))
}
