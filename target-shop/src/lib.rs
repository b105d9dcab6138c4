//! The reference shop: on the wire a Django 5.2 + DRF 3.18 + simplejwt 5.5 backend
//! (`docs/contracts/shop-api.md`), on axum, PostgreSQL and Redis, so a load test written against it
//! runs unchanged against a team's real Django shop.
//!
//! `serve(config, listener, shutdown)` runs it on a listener the caller bound, with its job worker
//! alongside unless told not to; `run_worker` runs the worker alone; `app(state)` is the router
//! tests call directly. The binary (`main.rs`) only parses flags.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod drf;
pub mod error;
pub mod faults;
pub mod fields;
pub mod health;
pub mod jobs;
pub mod openapi;
pub mod orders;
pub mod outage;
pub mod payments;
pub mod reconnect;
pub mod routes;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::net::TcpListener;

pub use clock::Clock;
pub use routes::app;

/// The shop's migrations, embedded in the binary (Django's table names).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the shop needs to run; built by `main.rs` from flags and environment, or by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: String,
    /// simplejwt's SIGNING_KEY (Django's SECRET_KEY by default).
    pub jwt_secret: String,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// Database connections in the pool.
    pub pool_size: u32,
    /// How long a request waits for a pooled connection.
    pub pool_timeout: Duration,
    /// Run the embedded migrations before serving.
    pub migrate: bool,
    /// Prefix of every Redis key the shop writes, so several shops (or tests) share one Redis.
    pub redis_prefix: String,
    /// Password hashes verified at once (a login storm queues behind this many cores).
    pub hash_concurrency: usize,
    /// Known bugs switched on.
    pub faults: faults::Faults,
    /// Where and how payments are confirmed.
    pub toss: payments::TossConfig,
    /// How long an unpaid reservation holds its stock before the worker gives it back.
    pub reservation_lifetime: Duration,
    /// Run the job worker inside `serve` (off when separate `--worker-only` processes do the work).
    pub worker: bool,
    /// The job worker's settings (also the delays the `inline-jobs` fault spends in a request).
    pub jobs: jobs::JobsConfig,
    /// How long a connection may take to send a request's headers, or stay idle between two
    /// requests, before it is closed (slow clients must not hold connections forever).
    pub header_read_timeout: Duration,
    /// Longest wait of a request for one Redis call (cache, job stream, health check); past it the
    /// request goes on without Redis (`outage`).
    pub redis_timeout: Duration,
}

impl Config {
    /// Defaults that work on a laptop, simplejwt's lifetimes (5 minutes, 1 day).
    pub fn new(database_url: impl Into<String>, redis_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            redis_url: redis_url.into(),
            jwt_secret: "shopload-insecure-development-key".into(),
            access_token_lifetime: Duration::from_secs(300),
            refresh_token_lifetime: Duration::from_secs(86_400),
            pool_size: 20,
            pool_timeout: Duration::from_secs(30),
            migrate: false,
            redis_prefix: "shop:".into(),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            faults: faults::Faults::default(),
            toss: payments::TossConfig::default(),
            reservation_lifetime: orders::RESERVATION_LIFETIME,
            worker: true,
            jobs: jobs::JobsConfig::default(),
            header_read_timeout: http_edge::DEFAULT_HEADER_READ_TIMEOUT,
            redis_timeout: outage::REDIS_TIMEOUT,
        }
    }
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    /// When the database last dropped connections: older pooled ones are replaced (`reconnect`).
    pub connection_loss: Arc<reconnect::ConnectionLoss>,
    pub redis: redis::aio::ConnectionManager,
    /// Bounds and skips the request path's calls on `redis` during an outage (`outage`).
    pub redis_guard: Arc<outage::RedisGuard>,
    /// For connections of their own (the worker's blocking stream reads).
    pub redis_client: redis::Client,
    pub tokens: Arc<auth::token::Tokens>,
    pub hasher: auth::routes::Hasher,
    pub clock: Clock,
    pub redis_prefix: Arc<str>,
    /// Verified in place of a missing user's hash, so unknown users cost a full PBKDF2 like Django;
    /// made on first need.
    pub dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    pub faults: Arc<faults::Faults>,
    pub telemetry: Arc<telemetry::Telemetry>,
    pub toss: payments::toss::Toss,
    pub reservation_lifetime: Duration,
    pub jobs: Arc<jobs::JobsConfig>,
    /// The server's deadline for a request's headers (`Config::header_read_timeout`), kept here so
    /// that [`serve_state`] serves a state built by a test as `serve` would.
    pub header_read_timeout: Duration,
}

impl AppState {
    /// Connects to PostgreSQL and Redis (and migrates when asked).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let faults = &config.faults;
        if faults.missing_app {
            anyhow::bail!(faults::MISSING_APP);
        }
        // The `pool=N` fault: a small pool that gives up after 5 s, as a starved Django would.
        let (pool_size, pool_timeout) = match faults.pool {
            Some(n) => (n, Duration::from_secs(5)),
            None => (config.pool_size, config.pool_timeout),
        };
        let connection_loss = Arc::new(reconnect::ConnectionLoss::default());
        let loss = Arc::clone(&connection_loss);
        let db = PgPoolOptions::new()
            .max_connections(pool_size)
            // After a restart every pooled connection is dead: those opened before the loss was
            // seen are dropped unasked (their age tells), not found one failed request at a time.
            .before_acquire(move |_, meta| {
                let keep = !loss.outlived_by(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            // sqlx pings every connection it hands out: one more round trip per query. A broken
            // connection shows as that query's error instead, as with Django's default
            // CONN_HEALTH_CHECKS = False.
            .test_before_acquire(false)
            .acquire_timeout(pool_timeout)
            .connect(&config.database_url)
            .await
            .context("connecting to PostgreSQL")?;
        if config.migrate {
            MIGRATOR.run(&db).await.context("running migrations")?;
        }
        faults::order_index(&db, faults.missing_index).await;
        let redis_client =
            redis::Client::open(config.redis_url.as_str()).context("parsing the Redis URL")?;
        // The client's own timeouts no longer than the request path's bound, so a stopped Redis
        // also gets its connection replaced; few reconnection retries, so a Redis that is back is
        // found by the next call instead of after a long backoff.
        let redis_config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.redis_timeout))
            .set_connection_timeout(Some(config.redis_timeout))
            .set_number_of_retries(2);
        let redis = redis_client
            .get_connection_manager_with_config(redis_config)
            .await
            .context("connecting to Redis")?;
        Ok(Self {
            db,
            connection_loss,
            redis,
            redis_guard: Arc::new(outage::RedisGuard::new(config.redis_timeout)),
            redis_client,
            tokens: Arc::new(auth::token::Tokens::new(
                config.jwt_secret.as_bytes(),
                faults.short_token.unwrap_or(config.access_token_lifetime),
                config.refresh_token_lifetime,
            )),
            hasher: auth::routes::Hasher::new(config.hash_concurrency),
            clock: Clock::system(),
            redis_prefix: config.redis_prefix.as_str().into(),
            dummy_hash: Arc::default(),
            faults: Arc::new(faults.clone()),
            telemetry: telemetry::Telemetry::new(),
            toss: payments::toss::Toss::new(&config.toss).context("the Toss client")?,
            reservation_lifetime: config.reservation_lifetime,
            jobs: Arc::new(jobs::JobsConfig {
                concurrency: if faults.single_worker {
                    1
                } else {
                    config.jobs.concurrency
                },
                ..config.jobs.clone()
            }),
            header_read_timeout: config.header_read_timeout,
        })
    }
}

/// Serves the shop on `listener` until `shutdown` resolves, then finishes the requests in flight;
/// the job worker runs alongside (when `config.worker`) and stops after the last request.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::connect(&config).await?;
    // A shop that stopped mid-confirm may have left orders Toss approved: they are settled
    // beside the first requests, not before them.
    tokio::spawn(payments::settle_pending(state.clone()));
    if !config.worker {
        return serve_state(state, listener, shutdown).await;
    }
    let worker = jobs::Worker::start(state.clone()).await?;
    // Dropping the sender is the worker's shutdown signal.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let served = serve_state(state, listener, shutdown).await;
    drop(stop);
    if let Err(e) = worker.await {
        tracing::error!(error = %e, "the job worker panicked");
    }
    served
}

/// Only the job worker (`target-shop --worker-only`): more workers for a backlog, none in the web
/// processes. Stops when `shutdown` resolves; a job cut short is redelivered to another worker.
pub async fn run_worker(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::connect(&config).await?;
    jobs::Worker::start(state).await?.run(shutdown).await;
    Ok(())
}

/// [`serve`] with a state already built (tests share one clock with the server).
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "target-shop listening");
    // h2c beside HTTP/1 (loadgen's --http2 with prior knowledge); every request in flight is
    // finished at shutdown, however long it takes.
    let edge = http_edge::Edge {
        h2c: true,
        ..http_edge::Edge::new(state.header_read_timeout)
    };
    http_edge::serve(edge, app(state), listener, shutdown).await;
    Ok(())
}
