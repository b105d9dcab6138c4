//! The diagnosis: rules that read the client's numbers and the server's together and name what
//! went wrong, with the evidence and the fix, e.g. "GET /api/products/ p95 840 ms; 20 queries per
//! request (N+1)". Each rule looks for one known bottleneck or bug of the load-test plan; a rule
//! without the data it needs (no monitor) stays silent, and a clean run yields no finding, so
//! every finding is worth reading.
//!
//! Shaped as a folder with a file per job: `view` builds the [`View`] (a plain summary of the run
//! that tests build by hand), `rules::generic` and `rules::shop` hold the rules (any target, or
//! our shop's routes), and this file the one table that orders them and the [`FindingId`] that
//! scripts match on. Ids are an enum so a typo is a compile error, while their wire form stays
//! the kebab-case strings summary.json has always carried.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod rules;
pub mod view;

use rules::{generic, resources, shop};
pub use view::{Endpoint, Failure, ScenarioFacts, View};

/// A finding's stable name. The strings are a wire format (summary.json, `cargo xtask repro`):
/// a variant may be added, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FindingId {
    GeneratorSaturated,
    MethodNotAllowed,
    ReservationSerializer,
    TokenExpiry,
    Unauthorized,
    ShortToken,
    ServerErrors,
    PoolSaturated,
    DbConnections,
    DbConnectionChurn,
    NPlusOne,
    NoCache,
    InlineJobs,
    JobBacklog,
    LoginStorm,
    RedisMemory,
    MemoryGrowth,
    MissingIndex,
    /// Named by fixtures' reconciliation (stock against orders), which adds its findings to
    /// summary.json beside the diagnosis's: a reader of that file meets these ids too.
    Oversell,
    /// Named by the reconciliation: the shop's payments against the Toss mock's books.
    PaymentMismatch,
    /// Named by the reconciliation: jobs still queued after the phase.
    JobsNotDrained,
}

impl FindingId {
    pub const ALL: [FindingId; 21] = [
        Self::GeneratorSaturated,
        Self::MethodNotAllowed,
        Self::ReservationSerializer,
        Self::TokenExpiry,
        Self::Unauthorized,
        Self::ShortToken,
        Self::ServerErrors,
        Self::PoolSaturated,
        Self::DbConnections,
        Self::DbConnectionChurn,
        Self::NPlusOne,
        Self::NoCache,
        Self::InlineJobs,
        Self::JobBacklog,
        Self::LoginStorm,
        Self::RedisMemory,
        Self::MemoryGrowth,
        Self::MissingIndex,
        Self::Oversell,
        Self::PaymentMismatch,
        Self::JobsNotDrained,
    ];

    /// The wire name; a test holds it equal to serde's.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GeneratorSaturated => "generator-saturated",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::ReservationSerializer => "reservation-serializer",
            Self::TokenExpiry => "token-expiry",
            Self::Unauthorized => "unauthorized",
            Self::ShortToken => "short-token",
            Self::ServerErrors => "server-errors",
            Self::PoolSaturated => "pool-saturated",
            Self::DbConnections => "db-connections",
            Self::DbConnectionChurn => "db-connection-churn",
            Self::NPlusOne => "n-plus-one",
            Self::NoCache => "no-cache",
            Self::InlineJobs => "inline-jobs",
            Self::JobBacklog => "job-backlog",
            Self::LoginStorm => "login-storm",
            Self::RedisMemory => "redis-memory",
            Self::MemoryGrowth => "memory-growth",
            Self::MissingIndex => "missing-index",
            Self::Oversell => "oversell",
            Self::PaymentMismatch => "payment-mismatch",
            Self::JobsNotDrained => "jobs-not-drained",
        }
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no finding's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding id `{0}`")]
pub struct UnknownFindingId(pub String);

impl FromStr for FindingId {
    type Err = UnknownFindingId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownFindingId(s.to_owned()))
    }
}

/// One thing the run shows, named so a reader can act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// Stable name (`n-plus-one`, `pool-saturated`, ...), for scripts.
    pub id: FindingId,
    pub title: String,
    pub evidence: String,
    pub fix: String,
}

type Rule = fn(&View) -> Vec<Finding>;

/// Every rule, in the order findings are listed: what makes the results untrustworthy first, then
/// bugs, then bottlenecks.
const RULES: [Rule; 18] = [
    generic::generator_saturated,
    shop::method_not_allowed,
    shop::reservation_serializer,
    shop::unauthorized,
    shop::short_tokens,
    generic::server_errors,
    generic::pool_saturated,
    generic::db_connections,
    generic::db_connection_churn,
    shop::n_plus_one,
    generic::statements_per_request,
    resources::missing_index,
    shop::no_cache,
    shop::inline_jobs,
    generic::job_backlog,
    generic::login_storm,
    generic::redis_memory,
    resources::memory_growth,
];

/// Runs every rule.
pub fn diagnose(view: &View) -> Vec<Finding> {
    RULES.iter().flat_map(|rule| rule(view)).collect()
}

#[cfg(test)]
mod resource_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_keep_their_wire_names() {
        for id in FindingId::ALL {
            let wire = serde_json::to_value(id).unwrap();
            assert_eq!(wire, serde_json::json!(id.as_str()), "{id:?}");
            assert_eq!(serde_json::from_value::<FindingId>(wire).unwrap(), id);
            assert_eq!(id.as_str().parse::<FindingId>(), Ok(id));
            assert_eq!(id.to_string(), id.as_str());
        }
        assert_eq!(FindingId::NPlusOne.as_str(), "n-plus-one");
        assert_eq!(
            "pool-saturated".parse::<FindingId>(),
            Ok(FindingId::PoolSaturated)
        );
        assert_eq!(
            "n_plus_one".parse::<FindingId>(),
            Err(UnknownFindingId("n_plus_one".into()))
        );
    }
}
