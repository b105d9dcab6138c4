//! A Toss Payments v1 mock (`docs/contracts/toss-mock.md`): confirm, lookup and cancel with Toss's
//! wire formats, idempotency, test codes and seeded chaos, all state in memory.
//!
//! `serve(config, listener, shutdown)` runs it on a listener the caller bound; `app(config)` is the
//! router tests call directly. The binary (`main.rs`) only parses flags.

pub mod admin;
pub mod api;
pub mod auth;
pub mod chaos;
pub mod cli;
pub mod clock;
pub mod codes;
pub mod error;
pub mod gate;
pub mod idempotency;
pub mod ids;
pub mod openapi;
pub mod payment;
pub mod request;
pub mod routes;
pub mod state;
pub mod stats;
pub mod store;

use std::time::Duration;

use tokio::net::TcpListener;

pub use chaos::{Chaos, Latency};
pub use clock::Clock;
pub use routes::{app, router};
pub use state::AppState;

/// Everything the mock needs; built by `main.rs` from flags and environment, or by tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// Secret keys accepted in `Authorization: Basic base64("<key>:")`.
    pub secret_keys: Vec<String>,
    /// Seeds chaos and identifiers, so a run can be repeated.
    pub seed: u64,
    /// A `READY` session (checkout open, buyer not yet authenticated) expires after this.
    pub ready_expiry: Duration,
    /// An `IN_PROGRESS` session (authenticated, waiting for confirm) expires after this.
    pub in_progress_expiry: Duration,
    pub chaos: Chaos,
    /// How long an `Idempotency-Key`'s answer is replayed (Toss: 15 days).
    pub idempotency_retention: Duration,
    /// Idempotency records kept at most (each holds an answer, ~1.5 KB); oldest evicted first.
    pub idempotency_max_records: usize,
    /// How long a payment stays after its session was created, whatever became of it.
    pub payment_retention: Duration,
    /// Payments kept at most (~300 bytes each); oldest evicted first.
    pub max_payments: usize,
    /// Where `POST /__mock/payments` says the buyer's browser would be sent.
    pub success_url: String,
    /// How often expired payments and idempotency records are swept out.
    pub sweep_interval: Duration,
    /// The displayed times' anchor; expiry follows tokio's clock (`tokio::time::pause` drives it).
    pub clock: Clock,
    /// How long a connection may take to send a request's headers, or stay idle between two
    /// requests, before it is closed (slow clients must not hold connections forever).
    pub header_read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secret_keys: vec![
                "test_sk_shopload".into(),
                "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6".into(),
            ],
            seed: 0,
            ready_expiry: Duration::from_secs(30 * 60),
            in_progress_expiry: Duration::from_secs(10 * 60),
            chaos: Chaos::default(),
            idempotency_retention: Duration::from_secs(15 * 24 * 3600),
            idempotency_max_records: 100_000,
            payment_retention: Duration::from_secs(24 * 3600),
            max_payments: 1_000_000,
            success_url: "http://127.0.0.1:8000/payments/success".into(),
            sweep_interval: Duration::from_secs(1),
            clock: Clock::default(),
            header_read_timeout: http_edge::DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// How long requests in flight may finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the mock on `listener` until `shutdown` resolves, sweeping out expired state meanwhile.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config
        .chaos
        .compile()
        .map_err(|e| anyhow::anyhow!("chaos: {e}"))?;
    if config.secret_keys.is_empty() {
        anyhow::bail!("no secret key configured");
    }
    if config.secret_keys.len() > usize::from(u16::MAX) {
        anyhow::bail!("more than {} secret keys", u16::MAX);
    }
    let edge = http_edge::Edge {
        // Small JSON answers: sent at once rather than after Nagle's wait.
        nodelay: true,
        // A chaos hang never ends: shutdown waits this long for the requests in flight, no more.
        drain: Some(DRAIN),
        ..http_edge::Edge::new(config.header_read_timeout)
    };
    let state = AppState::new(config);
    let sweeper = tokio::spawn(sweep(state.clone()));
    tracing::info!(addr = %listener.local_addr()?, "toss-mock listening");
    http_edge::serve(edge, router(state), listener, shutdown).await;
    sweeper.abort();
    Ok(())
}

async fn sweep(state: AppState) {
    let mut every = tokio::time::interval(state.sweep_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let (payments, records) = state.sweep();
        if payments + records > 0 {
            tracing::debug!(payments, records, "evicted");
        }
    }
}
