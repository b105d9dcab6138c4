//! The plan's remaining bottlenecks and start-up errors as reproductions, beside the first
//! eleven in `catalogue`: a job backlog, a missing index, memory kept per request, connections
//! running out (fixed with PgBouncer), a misconfigured start, nothing listening at the host, and a
//! per-user header on the shared client. Each is data as in `catalogue`, reviewed as prose.

use loadgen::diagnosis::FindingId;

use super::catalogue::{
    Check, Connections, Data, Diagnosis, Load, Repro, SHOP, Target, Variant, seeded, seeded_with,
};
use super::usage::{backlog_symptom, connections_symptom, memory_symptom, slow_list_symptom};

pub(super) fn repros() -> Vec<Repro> {
    let payments = Load {
        scenario: "payment",
        users: 30,
        spawn_rate: 30.0,
        run_time: "20s",
        ..SHOP
    };
    let orders = Load {
        scenario: "repro/orders.toml",
        run_time: "15s",
        ..SHOP
    };
    let history = Data::ManyOrders(300_000);
    let paced = Load {
        scenario: "repro/memory.toml",
        run_time: "20s",
        ..SHOP
    };
    let cart = Load {
        scenario: "repro/per-request-header.toml",
        ..SHOP
    };
    let crowd = Load {
        scenario: "repro/pool.toml",
        users: 40,
        spawn_rate: 40.0,
        run_time: "20s",
        ..SHOP
    };
    vec![
        Repro {
            name: "job-backlog",
            error: "the job queue piles up: payments enqueue e-mails and points faster than the \
                    worker runs them",
            cause: "the worker runs one job at a time (`--fault single-worker`, as a Celery worker \
                    with --concurrency 1): each e-mail takes 200 ms, so 30 users' payments enqueue \
                    more jobs a second than it finishes, and the e-mails go out later and later.",
            fix: "more worker concurrency (`--worker-concurrency 16`, Celery's --concurrency, or \
                  more `--worker-only` processes), and payments' jobs on a queue of their own \
                  (Celery's `-Q high,default`) so a backlog of other work never delays them.",
            broken: Variant {
                faults: &["single-worker"],
                ..seeded(payments)
            },
            fixed: seeded(payments),
            fixed_how: "16 jobs at a time",
            symptom: Check::Run(backlog_symptom),
            diagnosis: Diagnosis::Finding(FindingId::JobBacklog),
        },
        Repro {
            name: "missing-index",
            error: "a missing index: the order list reads the whole orders table on every request",
            cause: "the index on orders_order.user_id is gone (`--fault missing-index`): each \
                    user's order list is a sequential scan of 300,000 orders to find a few hundred.",
            fix: "index the filtered column (`CREATE INDEX CONCURRENTLY ON orders_order (user_id)`; \
                  in Django `db_index=True`, which a ForeignKey has unless it is turned off).",
            broken: Variant {
                faults: &["missing-index"],
                ..seeded_with(history, orders)
            },
            fixed: seeded_with(history, orders),
            fixed_how: "the index is back",
            symptom: Check::Run(slow_list_symptom),
            diagnosis: Diagnosis::Finding(FindingId::MissingIndex),
        },
        Repro {
            name: "memory",
            error: "memory grows under load until the workers are killed",
            cause: "every request keeps 32 KiB it never frees (`--fault leak=32`, like a \
                    module-level list or DEBUG = True keeping every query): at 500 requests a \
                    second the shop grows by megabytes a second.",
            fix: "find what each request keeps and bound it; meanwhile recycle workers \
                  (`gunicorn --max-requests 1000 --max-requests-jitter 100`), fewer web workers, \
                  Redis with a maxmemory, and less logging.",
            broken: Variant {
                faults: &["leak=32"],
                ..seeded(paced)
            },
            fixed: seeded(paced),
            fixed_how: "nothing kept per request",
            symptom: Check::Run(memory_symptom),
            diagnosis: Diagnosis::Finding(FindingId::MemoryGrowth),
        },
        Repro {
            name: "pgbouncer",
            error: "connections run out: PostgreSQL refuses new ones (\"too many connections\") \
                    while the application's pool asks for more",
            cause: "the database allows the shop's role 12 connections (a small PostgreSQL's \
                    max_connections, here `ALTER DATABASE ... CONNECTION LIMIT 12`) and the \
                    shop's pool opens up to 20 for 40 users reading their carts back to back: past the limit each new connection \
                    is refused, the pool retries until its 5 s timeout, and the request fails.",
            fix: "PgBouncer in transaction mode in front (the plan's docker-compose: \
                  pool_mode = transaction, a default_pool_size below the limit): the shop's 20 \
                  connections share 6 to PostgreSQL, each held only for a transaction. A bigger \
                  limit only moves the wall (see `pool` for the application's side).",
            broken: Variant {
                connections: Connections::Limited {
                    limit: 12,
                    pgbouncer: None,
                },
                ..seeded(crowd)
            },
            fixed: Variant {
                connections: Connections::Limited {
                    limit: 12,
                    pgbouncer: Some(6),
                },
                ..seeded(crowd)
            },
            fixed_how: "PgBouncer in front",
            symptom: Check::Run(connections_symptom),
            diagnosis: Diagnosis::Finding(FindingId::DbConnections),
        },
        Repro {
            name: "misconfigured",
            error: "the server does not start: a missing app or middleware breaks start-up",
            cause: "the settings name simplejwt's authentication class but INSTALLED_APPS lacks \
                    'rest_framework_simplejwt' (`--fault missing-app`): Django raises \
                    ImproperlyConfigured at start-up and nothing ever listens.",
            fix: "add the missing app (and middleware) to the settings; the health gate shows \
                  the server's own message instead of waiting for a timeout.",
            broken: Variant {
                faults: &["missing-app"],
                ..seeded(SHOP)
            },
            fixed: seeded(SHOP),
            fixed_how: "the app is installed",
            symptom: Check::Refused("target-shop refused to start"),
            diagnosis: Diagnosis::Names(&[
                "ImproperlyConfigured",
                "'rest_framework_simplejwt' is not in INSTALLED_APPS",
                "fix: add",
            ]),
        },
        Repro {
            name: "nothing-listening",
            error: "JWT 401 or connection errors because the server is not running",
            cause: "the load went to a host where nothing listens (the shop was never started, or \
                    another port): every login fails before any 401 could mean anything.",
            fix: "start the server first and check the host (`curl HOST/api/auth/login/`), then \
                  test the login alone before any load.",
            broken: Variant {
                target: Target::Nothing,
                ..seeded(SHOP)
            },
            fixed: seeded(SHOP),
            fixed_how: "the shop is running",
            symptom: Check::Refused("nothing answers at http://127.0.0.1:"),
            diagnosis: Diagnosis::Names(&["connection refused", "start the server first"]),
        },
        Repro {
            name: "shared-headers",
            error: "headers set on a shared client: one user's token sent by every user",
            cause: "the scenario puts the token captured at login into [headers], the client's \
                    default headers that every user shares (Locust's FastHttpSession error): each \
                    login would overwrite it for all users.",
            fix: "set per-user headers on each request (`headers = { Authorization = \"Bearer \
                  {access}\" }`) or with [auth]; keep only constants in [headers].",
            broken: seeded(Load {
                scenario: "repro/shared-header.toml",
                ..cart
            }),
            fixed: seeded(cart),
            fixed_how: "the token goes on each request",
            symptom: Check::Refused("shared-header.toml:"),
            diagnosis: Diagnosis::Names(&[
                "{access} is captured per user",
                "set it on each request instead",
            ]),
        },
    ]
}
