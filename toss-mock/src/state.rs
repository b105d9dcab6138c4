//! What every handler shares: configuration, the clock, identifiers, the payment and idempotency
//! stores, chaos and statistics. Cheap to clone (one `Arc`).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::Config;
use crate::chaos;
use crate::clock::{Clock, Millis, millis};
use crate::idempotency::Idempotency;
use crate::ids::Ids;
use crate::stats::Stats;
use crate::store::Payments;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub secret_keys: Vec<String>,
    pub ready_expiry: Millis,
    pub in_progress_expiry: Millis,
    pub success_url: String,
    pub sweep_interval: Duration,
    pub clock: Clock,
    pub ids: Ids,
    pub payments: Payments,
    pub idempotency: Arc<Idempotency>,
    pub chaos: chaos::Engine,
    pub stats: Stats,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let compiled = config.chaos.compile().unwrap_or_else(|e| {
            // `serve` refuses bad chaos up front; a router built directly falls back to none.
            tracing::warn!(error = %e, "chaos settings refused, running without chaos");
            chaos::Compiled::none()
        });
        Self(Arc::new(Inner {
            secret_keys: config.secret_keys,
            ready_expiry: millis(config.ready_expiry),
            in_progress_expiry: millis(config.in_progress_expiry),
            success_url: config.success_url,
            sweep_interval: config.sweep_interval,
            clock: config.clock,
            ids: Ids::new(config.seed),
            payments: Payments::new(millis(config.payment_retention), config.max_payments),
            idempotency: Arc::new(Idempotency::new(
                millis(config.idempotency_retention),
                config.idempotency_max_records,
            )),
            chaos: chaos::Engine::new(config.seed, compiled),
            stats: Stats::default(),
        }))
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Evicts what has outlived its retention (the periodic sweep's one pass).
    pub fn sweep(&self) -> (usize, usize) {
        let now = self.now();
        (self.payments.sweep(now), self.idempotency.sweep(now))
    }
}
