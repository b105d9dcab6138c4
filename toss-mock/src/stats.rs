//! What the mock has answered, for `GET /__mock/stats`: requests per endpoint and outcome (`OK`, a
//! Toss code, `REPLAYED`, a chaos drop), and approved and cancelled money. One lock per endpoint,
//! held for a map increment. `StatsReport` is the answer's wire type: the mock serializes it and
//! every reader (the reconciliation, xtask's books, tests) deserializes it, so a renamed key fails
//! loudly at the reader instead of reading as zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Outcome;
use crate::payment::Status;
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

/// The mock's books.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = StatsView)]
pub struct StatsReport {
    /// Requests per endpoint (`METHOD path-template`) and outcome (`OK`, a Toss code,
    /// `REPLAYED`, a chaos drop).
    #[schema(value_type = HashMap<String, HashMap<String, u64>>)]
    pub endpoints: BTreeMap<String, BTreeMap<String, u64>>,
    /// Payments held, by status.
    #[schema(value_type = HashMap<String, u64>)]
    pub payments: PaymentsByStatus,
    pub approved: Money,
    pub canceled: Money,
    pub stored: Stored,
}

/// Payments held, by the status a lookup would show now; every status, in Toss's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct PaymentsByStatus {
    pub ready: u64,
    pub in_progress: u64,
    pub done: u64,
    pub canceled: u64,
    pub partial_canceled: u64,
    pub aborted: u64,
    pub expired: u64,
}

/// Money approved or cancelled: how many payments, how many won.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub count: u64,
    pub amount: i64,
}

/// What the mock holds in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub payments: usize,
    pub idempotency_records: usize,
}

impl StatsReport {
    /// Adds `earlier`'s books to these, number by number: the books of a mock process killed
    /// before this one, whose approved money the shop still holds.
    pub fn add(&mut self, earlier: &StatsReport) {
        for (endpoint, outcomes) in &earlier.endpoints {
            let mine = self.endpoints.entry(endpoint.clone()).or_default();
            for (outcome, n) in outcomes {
                *mine.entry(outcome.clone()).or_default() += n;
            }
        }
        self.payments.add(&earlier.payments);
        self.approved.add(earlier.approved);
        self.canceled.add(earlier.canceled);
        self.stored.payments += earlier.stored.payments;
        self.stored.idempotency_records += earlier.stored.idempotency_records;
    }
}

impl PaymentsByStatus {
    pub fn from_counts(counts: impl IntoIterator<Item = (Status, u64)>) -> Self {
        let mut by = Self::default();
        for (status, n) in counts {
            *by.slot(status) += n;
        }
        by
    }

    fn slot(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Ready => &mut self.ready,
            Status::InProgress => &mut self.in_progress,
            Status::Done => &mut self.done,
            Status::Canceled => &mut self.canceled,
            Status::PartialCanceled => &mut self.partial_canceled,
            Status::Aborted => &mut self.aborted,
            Status::Expired => &mut self.expired,
        }
    }

    fn add(&mut self, earlier: &PaymentsByStatus) {
        let mut earlier = *earlier;
        for status in Status::ALL {
            *self.slot(status) += *earlier.slot(status);
        }
    }
}

impl Money {
    fn add(&mut self, earlier: Money) {
        self.count += earlier.count;
        self.amount += earlier.amount;
    }
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
    pub fn endpoints(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        ENDPOINTS
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(name, outcomes)| {
                let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
                (!outcomes.is_empty()).then(|| {
                    let outcomes = outcomes.iter().map(|(k, v)| ((*k).to_owned(), *v));
                    ((*name).to_owned(), outcomes.collect())
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_of_killed_mocks_add_up() {
        let books = |approved: Money, endpoint: &str| StatsReport {
            endpoints: BTreeMap::from([(
                endpoint.to_owned(),
                BTreeMap::from([("OK".to_owned(), approved.count)]),
            )]),
            payments: PaymentsByStatus {
                done: approved.count,
                ..PaymentsByStatus::default()
            },
            approved,
            ..StatsReport::default()
        };
        let mut last = books(
            Money {
                count: 3,
                amount: 300,
            },
            "POST /v1/payments/confirm",
        );
        last.add(&books(
            Money {
                count: 2,
                amount: 250,
            },
            "POST /v1/payments/confirm",
        ));
        last.add(&books(
            Money {
                count: 1,
                amount: 5,
            },
            "GET /healthz",
        ));
        assert_eq!(
            last.approved,
            Money {
                count: 6,
                amount: 555
            }
        );
        assert_eq!(last.payments.done, 6);
        assert_eq!(last.endpoints["POST /v1/payments/confirm"]["OK"], 5);
        assert_eq!(last.endpoints["GET /healthz"]["OK"], 1);
        assert_eq!(last.canceled, Money::default());
    }
}
