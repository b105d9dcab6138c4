//! The job worker: one consumer of the `workers` group. It takes over jobs other consumers left
//! unacknowledged for `claim_idle` (XAUTOCLAIM), reads new ones (XREADGROUP), runs a batch at once,
//! and acknowledges and deletes each job only after its work is committed. Every `sweep_interval`
//! it also expires overdue reservations, and every second it relays the jobs an outage of Redis
//! left queued in PostgreSQL (`relay`). `run_once` is one round without waiting, for tests.

use std::future::Future;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};

use super::relay::relay_once;
use super::{GROUP, Job, perform, stream_key, sweep_once};
use crate::AppState;

/// How often the worker looks for jobs left queued in PostgreSQL: a request moves its own jobs
/// at once, so these are only the ones an outage of Redis held back.
const RELAY_EVERY: Duration = Duration::from_secs(1);

/// A stream entry delivered to this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    /// `None` for an entry that is no job this shop knows: acknowledged and dropped.
    pub job: Option<Job>,
}

impl Delivery {
    fn of(entry: &StreamId) -> Self {
        Self {
            id: entry.id.clone(),
            job: Job::from_entry(entry),
        }
    }
}

pub struct Worker {
    state: AppState,
    /// A connection of its own: a blocked XREADGROUP holds its connection, and must not hold up
    /// the shop's requests queued behind it on the shared one.
    redis: ConnectionManager,
    key: String,
    consumer: String,
}

impl Worker {
    /// A worker named by the configuration's consumer name; makes the group if it is missing.
    pub async fn start(state: AppState) -> anyhow::Result<Self> {
        let consumer = state.jobs.consumer.clone();
        Self::with_consumer(state, consumer).await
    }

    /// A worker with its own consumer name (tests run several in one process).
    pub async fn with_consumer(
        state: AppState,
        consumer: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(state.jobs.block + Duration::from_secs(5)));
        let redis = state
            .redis_client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| anyhow::anyhow!("connecting the job worker to Redis: {e}"))?;
        let worker = Self {
            key: stream_key(&state),
            state,
            redis,
            consumer: consumer.into(),
        };
        worker
            .ensure_group()
            .await
            .map_err(|e| anyhow::anyhow!("creating the job group: {e}"))?;
        Ok(worker)
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The group from the stream's start, so jobs enqueued before any worker existed are done.
    async fn ensure_group(&self) -> redis::RedisResult<()> {
        let created: redis::RedisResult<()> = self
            .redis
            .clone()
            .xgroup_create_mkstream(&self.key, GROUP, "0")
            .await;
        match created {
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Up to `concurrency` jobs never delivered before, waiting up to `block` for one.
    pub async fn read_new(&self, block: Option<Duration>) -> redis::RedisResult<Vec<Delivery>> {
        let mut options = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(self.state.jobs.concurrency.max(1));
        if let Some(block) = block {
            // BLOCK 0 would wait forever.
            options = options.block((block.as_millis() as usize).max(1));
        }
        let read: redis::RedisResult<Option<StreamReadReply>> = self
            .redis
            .clone()
            .xread_options(&[&self.key], &[">"], &options)
            .await;
        let reply = match read {
            // The stream (and with it the group) was deleted: start again.
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group().await?;
                return Ok(Vec::new());
            }
            other => other?,
        };
        Ok(reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .map(|entry| Delivery::of(&entry))
            .collect())
    }

    /// Takes over up to `concurrency` jobs delivered (to any consumer) at least `min_idle` ago and
    /// still not acknowledged: their worker died or hangs.
    pub async fn claim_stale(&self, min_idle: Duration) -> redis::RedisResult<Vec<Delivery>> {
        let options = StreamAutoClaimOptions::default().count(self.state.jobs.concurrency.max(1));
        let reply: redis::streams::StreamAutoClaimReply = self
            .redis
            .clone()
            .xautoclaim_options(
                &self.key,
                GROUP,
                &self.consumer,
                min_idle.as_millis() as u64,
                "0-0",
                options,
            )
            .await?;
        Ok(reply.claimed.iter().map(Delivery::of).collect())
    }

    /// Runs the deliveries at once and acknowledges the ones done; a failed one stays pending for
    /// a later claim. Returns how many were acknowledged. The same job delivered twice in one batch
    /// (the relay sends a job again when Redis's answer to the first XADD was lost) runs once: two
    /// concurrent runs of one e-mail would both pass its "already sent?" check.
    pub async fn handle(&self, deliveries: Vec<Delivery>) -> usize {
        let mut unique: Vec<Job> = Vec::new();
        for delivery in &deliveries {
            match delivery.job {
                None => tracing::warn!(id = %delivery.id, "unknown stream entry dropped"),
                Some(job) if !unique.contains(&job) => unique.push(job),
                Some(_) => {}
            }
        }
        let outcomes = futures::future::join_all(unique.iter().map(|&job| async move {
            let started = Instant::now();
            let outcome = perform(&self.state, job).await;
            let ok = match &outcome {
                Ok(()) => {
                    tracing::debug!(
                        ?job,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "job done"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(?job, error = %e, "job failed; it will be retried");
                    false
                }
            };
            self.state
                .telemetry
                .job_processed(job.kind(), if ok { "ok" } else { "error" });
            ok
        }))
        .await;
        let succeeded: Vec<Job> = unique
            .into_iter()
            .zip(outcomes)
            .filter(|(_, ok)| *ok)
            .map(|(job, _)| job)
            .collect();
        let done: Vec<&str> = deliveries
            .iter()
            .filter(|delivery| delivery.job.is_none_or(|job| succeeded.contains(&job)))
            .map(|delivery| delivery.id.as_str())
            .collect();
        if let Err(e) = self.ack(&done).await {
            // Done but not acknowledged: redelivered later, and idempotent.
            tracing::warn!(error = %e, "acknowledging jobs failed");
            return 0;
        }
        done.len()
    }

    /// Acknowledges and deletes entries, so the stream's length is the backlog.
    pub async fn ack(&self, ids: &[&str]) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::pipe()
            .xack(&self.key, GROUP, ids)
            .ignore()
            .xdel(&self.key, ids)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    /// Moves the jobs queued in PostgreSQL to the stream (those their request could not move while
    /// Redis was away); a failure is logged and left to the next round.
    pub async fn relay(&self) -> usize {
        match relay_once(&self.state).await {
            Ok(0) => 0,
            Ok(moved) => {
                tracing::info!(jobs = moved, "queued jobs moved to the stream");
                moved
            }
            Err(e) => {
                tracing::warn!(error = %e, "relaying queued jobs failed");
                0
            }
        }
    }

    /// One round without waiting: queued jobs relayed, stale jobs claimed, new ones read, all run.
    /// Returns the jobs done.
    pub async fn run_once(&self) -> redis::RedisResult<usize> {
        self.relay().await;
        let stale = self.claim_stale(self.state.jobs.claim_idle).await?;
        let mut done = self.handle(stale).await;
        let new = self.read_new(None).await?;
        done += self.handle(new).await;
        Ok(done)
    }

    /// Works until `shutdown` resolves. A job cut short by the shutdown stays pending and is
    /// claimed by a worker later.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tracing::info!(consumer = %self.consumer, "job worker started");
        let config = self.state.jobs.clone();
        // Claims are checked a few times per idle period, so a dead worker's job waits at most
        // about 1.5 idle periods.
        let claim_every = (config.claim_idle / 2).max(Duration::from_millis(50));
        let mut next_sweep = Instant::now();
        let mut next_claim = Instant::now();
        let mut next_relay = Instant::now();
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            if now >= next_sweep {
                if let Err(e) = sweep_once(&self.state).await {
                    tracing::warn!(error = %e, "reservation expiry sweep failed");
                }
                next_sweep = Instant::now() + config.sweep_interval;
            }
            if now >= next_relay {
                self.relay().await;
                next_relay = Instant::now() + RELAY_EVERY;
            }
            if now >= next_claim {
                match self.claim_stale(config.claim_idle).await {
                    Ok(stale) if !stale.is_empty() => {
                        tracing::info!(jobs = stale.len(), "claimed jobs of a stalled worker");
                        self.handle(stale).await;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "claiming stale jobs failed"),
                }
                next_claim = Instant::now() + claim_every;
            }
            let until_due = next_sweep
                .min(next_claim)
                .min(next_relay)
                .saturating_duration_since(Instant::now());
            let block = config.block.min(until_due);
            let failed = tokio::select! {
                biased;
                () = &mut shutdown => break,
                read = self.read_new(Some(block)) => match read {
                    Ok(new) => {
                        self.handle(new).await;
                        false
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading jobs failed");
                        true
                    }
                },
            };
            if failed {
                // Redis is away: retry calmly rather than spin.
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        tracing::info!(consumer = %self.consumer, "job worker stopped");
    }
}
