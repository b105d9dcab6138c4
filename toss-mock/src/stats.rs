//! What the mock has answered, for `GET /__mock/stats`: requests per endpoint and outcome (`OK`, a
//! Toss code, `REPLAYED`, a chaos drop), and approved and cancelled money. One lock per endpoint,
//! held for a map increment.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::error::Outcome;
use crate::state::AppState;

/// Every route, as `METHOD path-template`; anything else counts as `other`.
const ENDPOINTS: [&str; 11] = [
    "POST /v1/payments/confirm",
    "GET /v1/payments/{payment_key}",
    "GET /v1/payments/orders/{order_id}",
    "POST /v1/payments/{payment_key}/cancel",
    "POST /__mock/payments",
    "GET /__mock/stats",
    "POST /__mock/reset",
    "PUT /__mock/chaos",
    "GET /__mock/chaos",
    "GET /healthz",
    "other",
];

#[derive(Default)]
pub struct Stats {
    outcomes: [Mutex<HashMap<&'static str, u64>>; ENDPOINTS.len()],
    pub approved_count: AtomicU64,
    pub approved_amount: AtomicI64,
    pub canceled_count: AtomicU64,
    pub canceled_amount: AtomicI64,
}

/// Money approved or cancelled: how many payments, how many won.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub count: u64,
    pub amount: i64,
}

impl Stats {
    fn count(&self, endpoint: usize, outcome: &'static str) {
        let mut map = self.outcomes[endpoint]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry(outcome).or_default() += 1;
    }

    pub fn approved(&self, amount: i64) {
        self.approved_count.fetch_add(1, Ordering::Relaxed);
        self.approved_amount.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn canceled(&self, amount: i64) {
        self.canceled_count.fetch_add(1, Ordering::Relaxed);
        self.canceled_amount.fetch_add(amount, Ordering::Relaxed);
    }

    /// `{"POST /v1/payments/confirm": {"OK": 3, "ALREADY_PROCESSED_PAYMENT": 1}, ...}`, only
    /// endpoints that were called, sorted.
    pub fn endpoints(&self) -> BTreeMap<&'static str, BTreeMap<&'static str, u64>> {
        ENDPOINTS
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(name, outcomes)| {
                let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
                (!outcomes.is_empty())
                    .then(|| (*name, outcomes.iter().map(|(k, v)| (*k, *v)).collect()))
            })
            .collect()
    }

    pub fn money(&self) -> (Money, Money) {
        (
            Money {
                count: self.approved_count.load(Ordering::Relaxed),
                amount: self.approved_amount.load(Ordering::Relaxed),
            },
            Money {
                count: self.canceled_count.load(Ordering::Relaxed),
                amount: self.canceled_amount.load(Ordering::Relaxed),
            },
        )
    }

    pub fn clear(&self) {
        for outcomes in &self.outcomes {
            outcomes.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        for n in [&self.approved_count, &self.canceled_count] {
            n.store(0, Ordering::Relaxed);
        }
        for n in [&self.approved_amount, &self.canceled_amount] {
            n.store(0, Ordering::Relaxed);
        }
    }
}

/// Middleware: counts each answer under its route and outcome.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("", MatchedPath::as_str);
        let method = request.method().as_str();
        ENDPOINTS
            .iter()
            .position(|e| {
                e.split_once(' ')
                    .is_some_and(|(m, p)| m == method && p == route)
            })
            .unwrap_or(ENDPOINTS.len() - 1)
    };
    let response = next.run(request).await;
    let outcome = response.extensions().get::<Outcome>().map_or_else(
        || {
            if response.status().is_success() {
                "OK"
            } else {
                "ERROR"
            }
        },
        |o| o.0,
    );
    state.stats.count(endpoint, outcome);
    response
}
