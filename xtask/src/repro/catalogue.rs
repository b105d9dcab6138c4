//! The reproductions: each error of the load-test plan as data (the load, the test data and the
//! faults of a run with the bug, and of the run with its fix), the plan's words for it, its cause
//! and fix, the symptom check and the finding the diagnosis must name. Kept apart from the runner
//! and the checks so that adding a reproduction is one entry here, reviewed as prose.

use std::fmt::Write as _;

use loadgen::diagnosis::FindingId;

use super::runner::Observed;
use super::symptoms::{
    Symptom, cache_symptom, expiry_symptom, failures_with, inline_jobs_symptom, oversell_symptom,
    pool_symptom, scheme_symptom, serializer_symptom, statements_per_request,
};

/// The load of one run.
#[derive(Clone, Copy)]
pub(super) struct Load {
    /// A built-in scenario name or a file under `loadgen/scenarios/`.
    pub(super) scenario: &'static str,
    pub(super) tags: Option<&'static str>,
    pub(super) users: usize,
    pub(super) spawn_rate: f64,
    pub(super) run_time: &'static str,
    pub(super) vars: &'static [&'static str],
}

/// The test data of one run.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Data {
    /// The plan's data: 1000 users, 100 products with ample stock.
    Seeded,
    /// Products, but the test users were never created.
    NoUsers,
    /// Users and products, but no stock rows.
    NoStock,
    /// The payment scenario's five hot products limited to this stock; reconciled afterwards.
    HotStock(i64),
    /// Seeded, and this many past orders spread over the users (an order history worth an index).
    ManyOrders(u32),
}

/// Where the load goes.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Target {
    /// The run's own shop.
    Shop,
    /// A loopback port where nothing listens (the shop was never started).
    Nothing,
}

/// How the shop reaches PostgreSQL.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Connections {
    /// As the stack's superuser, straight to the server.
    Direct,
    /// As an application role, to a database limited to `limit` connections, with a pool timeout
    /// of 5 s; through PgBouncer in transaction mode with this many server connections, if any.
    Limited { limit: u32, pgbouncer: Option<u32> },
}

#[derive(Clone, Copy)]
pub(super) struct Variant {
    pub(super) faults: &'static [&'static str],
    pub(super) data: Data,
    pub(super) load: Load,
    pub(super) target: Target,
    pub(super) connections: Connections,
}

pub(super) struct Repro {
    pub(super) name: &'static str,
    /// The plan's words for what went wrong.
    pub(super) error: &'static str,
    pub(super) cause: &'static str,
    pub(super) fix: &'static str,
    pub(super) broken: Variant,
    pub(super) fixed: Variant,
    /// The fix in a few words, for the second run's heading.
    pub(super) fixed_how: &'static str,
    pub(super) symptom: Check,
    pub(super) diagnosis: Diagnosis,
}

impl Repro {
    /// Whether either run puts PgBouncer in front of the database.
    pub(super) fn uses_pgbouncer(&self) -> bool {
        [self.broken, self.fixed].iter().any(|v| {
            matches!(
                v.connections,
                Connections::Limited {
                    pgbouncer: Some(_),
                    ..
                }
            )
        })
    }
}

/// How a run shows the bug.
#[derive(Clone, Copy)]
pub(super) enum Check {
    /// The load ran; its summary, statements, reconciliation or the shop's log show it.
    Run(fn(&Observed) -> Symptom),
    /// Nothing was sent: the harness refused before any load with a message containing this.
    Refused(&'static str),
}

/// What must name the bug with it on, and not after the fix.
#[derive(Clone, Copy)]
pub(super) enum Diagnosis {
    /// This finding of loadgen's diagnosis (or of the reconciliation) in summary.json.
    Finding(FindingId),
    /// The refusal's message, with each of these (the cause and the fix in its words).
    Names(&'static [&'static str]),
    /// None: the plan's error is one of data, not of the shop.
    None,
}

/// A variant of the shop on the plan's data, without faults.
pub(super) fn seeded(load: Load) -> Variant {
    seeded_with(Data::Seeded, load)
}

/// A variant of the shop on this data, without faults.
pub(super) fn seeded_with(data: Data, load: Load) -> Variant {
    Variant {
        faults: &[],
        data,
        load,
        target: Target::Shop,
        connections: Connections::Direct,
    }
}

pub(super) const SHOP: Load = Load {
    scenario: "shop",
    tags: None,
    users: 10,
    spawn_rate: 10.0,
    run_time: "10s",
    vars: &[],
};

pub(super) fn repros() -> Vec<Repro> {
    let cart = Load {
        tags: Some("cart"),
        ..SHOP
    };
    let browse = Load {
        tags: Some("browse"),
        ..SHOP
    };
    let reserve = Load {
        tags: Some("reserve"),
        ..SHOP
    };
    let naive = Load {
        scenario: "repro/naive-token.toml",
        run_time: "15s",
        ..SHOP
    };
    let refreshing = Load {
        scenario: "repro/auth-scheme.toml",
        run_time: "15s",
        vars: &["scheme=Bearer"],
        ..SHOP
    };
    let payment = Load {
        scenario: "payment",
        run_time: "15s",
        ..SHOP
    };
    let pool_load = Load {
        scenario: "repro/pool.toml",
        users: 6,
        spawn_rate: 6.0,
        run_time: "15s",
        ..SHOP
    };
    let oversell_load = Load {
        users: 100,
        spawn_rate: 50.0,
        ..payment
    };
    vec![
        Repro {
            name: "405",
            error: "POST /api/cart/items/ answered 405: the route did not accept POST",
            cause: "the cart-items route was registered like a read-only viewset (list only), so POST \
                    has no handler and DRF answers 405 with the methods it does allow.",
            fix: "route POST to the create view (a ModelViewSet, or a ViewSet with `create`).",
            broken: Variant {
                faults: &["cart-405"],
                ..seeded(cart)
            },
            fixed: seeded(cart),
            fixed_how: "the route accepts POST",
            symptom: Check::Run(|o| failures_with(o, "/api/cart/items/", 405)),
            diagnosis: Diagnosis::Finding(FindingId::MethodNotAllowed),
        },
        Repro {
            name: "401-users",
            error: "JWT 401 Unauthorized: the test users are missing",
            cause: "the users the scenario logs in as were never created: simplejwt answers 401 \
                    `No active account found with the given credentials`.",
            fix: "seed the users (`cargo xtask seed`), then test the login on its own before any load.",
            broken: Variant {
                data: Data::NoUsers,
                ..seeded(browse)
            },
            fixed: seeded(browse),
            fixed_how: "the users are seeded",
            symptom: Check::Run(|o| failures_with(o, "/api/auth/login/", 401)),
            diagnosis: Diagnosis::Finding(FindingId::Unauthorized),
        },
        Repro {
            name: "401-expiry",
            error: "JWT 401 Unauthorized: the access token expired mid-run",
            cause: "the client logged in once and kept its access token; the shop's tokens live 5 s \
                    here (`--fault short-token=5`; 5 min by default), after which every request is 401.",
            fix: "cache the token and refresh it before `exp` (loadgen's [auth] does; log in again \
                  only on a 401).",
            broken: Variant {
                faults: &["short-token=5"],
                ..seeded(naive)
            },
            fixed: Variant {
                faults: &["short-token=5"],
                ..seeded(refreshing)
            },
            fixed_how: "the client refreshes before expiry; tokens still live 5 s",
            symptom: Check::Run(expiry_symptom),
            diagnosis: Diagnosis::Finding(FindingId::TokenExpiry),
        },
        Repro {
            name: "401-scheme",
            error: "JWT 401 Unauthorized: the token was sent under another scheme",
            cause: "the Authorization header said `JWT <token>`; simplejwt only reads the `Bearer` \
                    scheme, so the request counts as anonymous (see WWW-Authenticate).",
            fix: "send `Authorization: Bearer <access>` (or add the scheme to AUTH_HEADER_TYPES).",
            broken: Variant {
                load: Load {
                    vars: &["scheme=JWT"],
                    ..refreshing
                },
                ..seeded(refreshing)
            },
            fixed: seeded(refreshing),
            fixed_how: "the header says Bearer",
            symptom: Check::Run(scheme_symptom),
            diagnosis: Diagnosis::Finding(FindingId::Unauthorized),
        },
        Repro {
            name: "stock",
            error: "stock reservation keeps failing: there are no stock rows",
            cause: "the products were created without their products_productstock rows; the \
                    reservation finds no stock record and refuses (STOCK_NOT_FOUND).",
            fix: "seed the stock with the products (`cargo xtask seed` writes a row per product).",
            broken: Variant {
                data: Data::NoStock,
                ..seeded(reserve)
            },
            fixed: seeded(reserve),
            fixed_how: "every product has its stock row",
            symptom: Check::Run(|o| failures_with(o, "/stock/reserve/", 400)),
            diagnosis: Diagnosis::None,
        },
        Repro {
            name: "serializer",
            error: "a serializer handed the domain's ReservationResult fails with a missing attribute",
            cause: "the view passed the ReservationResult object to ReservationSerializer, which reads \
                    `product_id` off it: AttributeError, HTML 500, the reservation rolled back.",
            fix: "turn the result into response data in the view (success, reservation, \
                  error_message, error_code) before serializing.",
            broken: Variant {
                faults: &["reservation-serializer"],
                ..seeded(reserve)
            },
            fixed: seeded(reserve),
            fixed_how: "the view converts the result",
            symptom: Check::Run(serializer_symptom),
            diagnosis: Diagnosis::Finding(FindingId::ReservationSerializer),
        },
        Repro {
            name: "pool",
            error: "DB connection exhaustion: requests wait for a connection, then fail",
            cause: "two database connections (`--fault pool=2`) for 6 users reading back to back: \
                    every DB route queues for a connection (after 5 s the wait times out and the \
                    request fails), and every route's latency rises together.",
            fix: "size the pool for the concurrency, or put PgBouncer in front (docker-compose.yml \
                  does) and keep connections persistent.",
            broken: Variant {
                faults: &["pool=2"],
                ..seeded(pool_load)
            },
            fixed: seeded(pool_load),
            fixed_how: "the default pool of 20",
            symptom: Check::Run(pool_symptom),
            diagnosis: Diagnosis::Finding(FindingId::PoolSaturated),
        },
        Repro {
            name: "n-plus-one",
            error: "N+1 queries: the product list runs a query per product",
            cause: "the list loads each product's category and stock one query at a time \
                    (`--fault n-plus-one`): 42 statements a page instead of 2.",
            fix: "load them with the page: a join (select_related) or one IN query (prefetch_related).",
            broken: Variant {
                faults: &["n-plus-one"],
                ..seeded(browse)
            },
            fixed: seeded(browse),
            fixed_how: "category and stock joined in",
            symptom: Check::Run(|o| statements_per_request(o, 8.0)),
            diagnosis: Diagnosis::Finding(FindingId::NPlusOne),
        },
        Repro {
            name: "no-cache",
            error: "the product list is not cached",
            cause: "every anonymous list request goes to PostgreSQL (`--fault no-cache`) although the \
                    first pages change only when stock does.",
            fix: "cache the first pages in Redis for ~5 minutes, invalidated on stock changes.",
            broken: Variant {
                faults: &["no-cache"],
                ..seeded(Load {
                    scenario: "browse",
                    ..SHOP
                })
            },
            fixed: seeded(Load {
                scenario: "browse",
                ..SHOP
            }),
            fixed_how: "the list is cached",
            symptom: Check::Run(cache_symptom),
            diagnosis: Diagnosis::Finding(FindingId::NoCache),
        },
        Repro {
            name: "inline-jobs",
            error: "heavy work inline: the e-mail and point accrual run inside the payment request",
            cause: "the confirm view sends the e-mail and books the points before answering \
                    (`--fault inline-jobs`): ~300 ms more on every payment, held DB connection included.",
            fix: "enqueue them after commit (the shop's Redis-stream worker) and answer at once.",
            broken: Variant {
                faults: &["inline-jobs"],
                ..seeded(payment)
            },
            fixed: seeded(payment),
            fixed_how: "jobs go to the worker",
            symptom: Check::Run(inline_jobs_symptom),
            diagnosis: Diagnosis::Finding(FindingId::InlineJobs),
        },
        Repro {
            name: "oversell",
            error: "overselling: more sold than in stock under concurrent payments",
            cause: "stock is read, then written back without a row lock (`--fault no-lock`): two \
                    orders read the same stock and both succeed.",
            fix: "lock the stock row (SELECT ... FOR UPDATE, select_for_update) or decrement \
                  conditionally (UPDATE ... SET stock = stock - n WHERE stock >= n).",
            broken: Variant {
                faults: &["no-lock"],
                ..seeded_with(Data::HotStock(20), oversell_load)
            },
            fixed: seeded_with(Data::HotStock(20), oversell_load),
            fixed_how: "stock rows are locked",
            symptom: Check::Run(oversell_symptom),
            diagnosis: Diagnosis::Finding(FindingId::Oversell),
        },
    ]
    .into_iter()
    .chain(super::bottlenecks::repros())
    .collect()
}

pub(super) fn describe(v: &Variant) -> String {
    let l = &v.load;
    let mut s = format!("{} scenario", l.scenario.trim_end_matches(".toml"));
    if let Some(tags) = l.tags {
        let _ = write!(s, " [{tags}]");
    }
    let _ = write!(s, ", {} users for {}", l.users, l.run_time);
    if !v.faults.is_empty() {
        let _ = write!(s, ", --fault {}", v.faults.join(","));
    }
    for var in l.vars {
        let _ = write!(s, ", --var {var}");
    }
    match v.data {
        Data::Seeded => {}
        Data::NoUsers => s.push_str(", no test users"),
        Data::NoStock => s.push_str(", no stock rows"),
        Data::HotStock(n) => {
            let _ = write!(s, ", 5 hot products with {n} in stock");
        }
        Data::ManyOrders(n) => {
            let _ = write!(s, ", {n} past orders");
        }
    }
    if v.target == Target::Nothing {
        s.push_str(", nothing listening at the host");
    }
    if let Connections::Limited { limit, pgbouncer } = v.connections {
        let _ = write!(
            s,
            ", the database limited to {limit} connections, shop pool timeout 5 s, "
        );
        match pgbouncer {
            Some(pool) => {
                let _ = write!(
                    s,
                    "PgBouncer (transaction mode, {pool} connections) in front"
                );
            }
            None => s.push_str("straight to PostgreSQL"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_listed() {
        let all = repros();
        let mut names: Vec<&str> = all.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for r in &all {
            assert_ne!(describe(&r.broken), describe(&r.fixed), "{}", r.name);
        }
    }
}
