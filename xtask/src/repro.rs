//! `cargo xtask repro NAME`: each error the load-test plan met, reproduced on the real shop. A short
//! load with the bug switched on prints the symptom as the report shows it (status, endpoint, the
//! server's answer), then the cause and the fix; the same load again with the fix shows the symptom
//! gone. Exit 0 when both hold, 1 when the symptom did not appear or did not go away.
//!
//! Every run gets its own database (cloned from a migrated, seeded template), Toss mock, shop and
//! Redis key prefix on one stack, so the two runs of a repro, and the repros of `all`, never see
//! each other's data or statements.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use fixtures::database::TemplateDatabase;
use fixtures::reconcile::{self, Before};
use fixtures::stack::Stack;
use serde_json::Value;

use crate::bench::build_release_all;
use crate::children::{Server, free_port};
use crate::phase::hot_products;
use crate::stack_args::StackArgs;
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_help = "Reproductions (also `cargo xtask repro --list`):\n  \
    405, 401 (= 401-users, 401-expiry, 401-scheme), stock, serializer, pool, n-plus-one, no-cache, \
    inline-jobs, oversell, all")]
pub struct Args {
    /// What to reproduce: a name from --list, `401` for its three causes, or `all`
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the reproductions with the plan's error each one shows
    #[arg(long)]
    pub list: bool,
    /// Where the runs' reports go [default: reports/repro-NAME-<time>/]
    #[arg(long, env = "SHOPLOAD_REPORT_DIR")]
    pub report_dir: Option<PathBuf>,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// The load of one run.
#[derive(Clone, Copy)]
struct Load {
    /// A built-in scenario name or a file under `loadgen/scenarios/`.
    scenario: &'static str,
    tags: Option<&'static str>,
    users: usize,
    spawn_rate: f64,
    run_time: &'static str,
    vars: &'static [&'static str],
}

/// The test data of one run.
#[derive(Clone, Copy, PartialEq)]
enum Data {
    /// The plan's data: 1000 users, 100 products with ample stock.
    Seeded,
    /// Products, but the test users were never created.
    NoUsers,
    /// Users and products, but no stock rows.
    NoStock,
    /// The payment scenario's five hot products limited to this stock; reconciled afterwards.
    HotStock(i64),
}

#[derive(Clone, Copy)]
struct Variant {
    faults: &'static [&'static str],
    data: Data,
    load: Load,
}

struct Repro {
    name: &'static str,
    /// The plan's words for what went wrong.
    error: &'static str,
    cause: &'static str,
    fix: &'static str,
    broken: Variant,
    fixed: Variant,
    /// The fix in a few words, for the second run's heading.
    fixed_how: &'static str,
    symptom: fn(&Observed) -> Symptom,
    /// The finding loadgen's diagnosis (or the reconciliation) must name with the bug on, and
    /// not after the fix; None where the plan's error is one of data, not of the shop.
    finding: Option<&'static str>,
}

/// What one run left behind.
struct Observed {
    summary: Value,
    /// Statements the shop ran in its database (pg_stat_statements), if the extension is there.
    statements: Option<Statements>,
    reconciliation: Option<Vec<reconcile::Check>>,
    shop_log: String,
}

struct Statements {
    calls: u64,
    /// The most called statement and its calls.
    top: Option<(String, u64)>,
}

struct Symptom {
    present: bool,
    lines: Vec<String>,
}

const SHOP: Load = Load {
    scenario: "shop",
    tags: None,
    users: 10,
    spawn_rate: 10.0,
    run_time: "10s",
    vars: &[],
};

fn repros() -> Vec<Repro> {
    let seeded = |load: Load| Variant {
        faults: &[],
        data: Data::Seeded,
        load,
    };
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
            symptom: |o| failures_with(o, "/api/cart/items/", 405),
            finding: Some("method-not-allowed"),
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
            symptom: |o| failures_with(o, "/api/auth/login/", 401),
            finding: Some("unauthorized"),
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
            symptom: |o| {
                let mut s = failures_with(o, "/api/cart/", 401);
                if s.present
                    && let Some(first) = first_seen_after_start(o, "/api/cart/")
                {
                    s.lines.push(format!(
                        "the first 401 came {first} s into the run, not at once"
                    ));
                }
                s
            },
            finding: Some("token-expiry"),
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
            symptom: |o| {
                let mut s = failures_with(o, "/api/cart/", 401);
                let relogins = o.summary["relogins"].as_u64().unwrap_or(0);
                if s.present && relogins > 0 {
                    s.lines.push(format!(
                        "{relogins} logins again after a 401, none of them helped"
                    ));
                }
                s
            },
            finding: Some("unauthorized"),
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
            symptom: |o| failures_with(o, "/stock/reserve/", 400),
            finding: None,
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
            symptom: |o| {
                let mut s = failures_with(o, "/stock/reserve/", 500);
                if s.present
                    && let Some(line) = o.shop_log.lines().find(|l| l.contains("AttributeError"))
                {
                    s.lines
                        .push(format!("the shop's log: {}", excerpt(line.trim(), 200)));
                }
                s
            },
            finding: Some("reservation-serializer"),
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
            symptom: pool_symptom,
            finding: Some("pool-saturated"),
        },
        Repro {
            name: "n-plus-one",
            error: "N+1 queries: the product list runs a query per product",
            cause: "the list loads each product's category and stock one query at a time \
                    (`--fault n-plus-one`): 41 statements a page instead of 2.",
            fix: "load them with the page: a join (select_related) or one IN query (prefetch_related).",
            broken: Variant {
                faults: &["n-plus-one"],
                ..seeded(browse)
            },
            fixed: seeded(browse),
            fixed_how: "category and stock joined in",
            symptom: |o| statements_per_request(o, 8.0),
            finding: Some("n-plus-one"),
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
            symptom: cache_symptom,
            finding: Some("no-cache"),
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
            symptom: |o| {
                let p50 = endpoint(o, "POST", "/api/payments/confirm/")
                    .and_then(|e| e["percentiles_ms"]["p50"].as_f64());
                match p50 {
                    Some(ms) => Symptom {
                        present: ms >= 250.0,
                        lines: vec![format!("POST /api/payments/confirm/ median {ms:.0} ms")],
                    },
                    None => Symptom {
                        present: false,
                        lines: vec!["no payment was confirmed".into()],
                    },
                }
            },
            finding: Some("inline-jobs"),
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
                data: Data::HotStock(20),
                load: oversell_load,
            },
            fixed: Variant {
                faults: &[],
                data: Data::HotStock(20),
                load: oversell_load,
            },
            fixed_how: "stock rows are locked",
            symptom: |o| match &o.reconciliation {
                Some(checks) => {
                    let failed: Vec<String> = checks
                        .iter()
                        .filter(|c| !c.ok)
                        .map(|c| format!("reconciliation: {}: {}", c.name, c.detail))
                        .collect();
                    Symptom {
                        present: !failed.is_empty(),
                        lines: if failed.is_empty() {
                            vec!["reconciliation: money and stock hold".into()]
                        } else {
                            failed.into_iter().map(|l| excerpt(&l, 400)).collect()
                        },
                    }
                }
                None => Symptom {
                    present: false,
                    lines: vec!["no reconciliation ran".into()],
                },
            },
            finding: Some("oversell"),
        },
    ]
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = repros();
    if args.list {
        for r in &all {
            println!("{:<12} {}", r.name, r.error);
        }
        println!("{:<12} 401-users, 401-expiry and 401-scheme", "401");
        println!("{:<12} every one above", "all");
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.as_deref().unwrap_or_default();
    let chosen: Vec<&Repro> = match name {
        "all" => all.iter().collect(),
        "401" => all.iter().filter(|r| r.name.starts_with("401-")).collect(),
        _ => all.iter().filter(|r| r.name == name).collect(),
    };
    if chosen.is_empty() {
        let names: Vec<&str> = all.iter().map(|r| r.name).collect();
        bail!(
            "no reproduction named '{name}' (known: {}, 401, all)",
            names.join(", ")
        );
    }
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        workspace::root().join("reports").join(format!(
            "repro-{name}-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let binaries = build_release_all(&["loadgen", "target-shop", "toss-mock"])?;
    let bins = Binaries {
        loadgen: binaries[0].clone(),
        shop: binaries[1].clone(),
        mock: binaries[2].clone(),
    };
    let stack = Stack::start(&args.stack.config())
        .await
        .context("starting PostgreSQL and Redis")?;
    let result = run_all(&chosen, &bins, &stack, &report_dir).await;
    stack.stop().await.context("stopping the stack")?;
    let failed = result?;
    println!("\nreports: {}", report_dir.display());
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("not reproduced: {}", failed.join(", "));
        Ok(ExitCode::from(1))
    }
}

struct Binaries {
    loadgen: PathBuf,
    shop: PathBuf,
    mock: PathBuf,
}

/// Runs each repro; returns the names of those that did not reproduce.
async fn run_all(
    chosen: &[&Repro],
    bins: &Binaries,
    stack: &Stack,
    report_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let template =
        TemplateDatabase::create(stack.database_url(), "repro_template", |url| async move {
            fixtures::seed::migrate(&url).await?;
            let pool = fixtures::seed::pool(&url)?;
            // Logins stay cheap so a repro shows its own bug, not a PBKDF2 storm (`repro` is about
            // the fault; `phase` keeps Django's 1,000,000 iterations).
            let plan = fixtures::seed::SeedPlan {
                hash_iterations: 1000,
                ..fixtures::seed::SeedPlan::default()
            };
            fixtures::seed::seed(&pool, &plan).await?;
            pool.close();
            Ok::<(), anyhow::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut failed = Vec::new();
    for repro in chosen {
        let dir = report_dir.join(repro.name);
        let reproduced = run_one(repro, bins, stack, &template, &dir).await?;
        if !reproduced {
            failed.push(repro.name.to_owned());
        }
    }
    Ok(failed)
}

async fn run_one(
    repro: &Repro,
    bins: &Binaries,
    stack: &Stack,
    template: &TemplateDatabase,
    dir: &Path,
) -> anyhow::Result<bool> {
    println!("\n== repro {}: {} ==", repro.name, repro.error);
    println!("with the bug ({}):", describe(&repro.broken));
    let broken = observe(repro, &repro.broken, "with-bug", bins, stack, template, dir).await?;
    let before = (repro.symptom)(&broken);
    for line in &before.lines {
        println!(
            "  {} {line}",
            if before.present { "symptom:" } else { "(none)" }
        );
    }
    print_findings(&broken.summary);
    println!("cause: {}", squeeze(repro.cause));
    println!("fix:   {}", squeeze(repro.fix));
    println!(
        "after the fix ({}): {}",
        repro.fixed_how,
        describe(&repro.fixed)
    );
    let fixed = observe(repro, &repro.fixed, "fixed", bins, stack, template, dir).await?;
    let after = (repro.symptom)(&fixed);
    for line in &after.lines {
        println!(
            "  {} {line}",
            if after.present { "still:" } else { "gone:" }
        );
    }
    print_findings(&fixed.summary);
    let diagnosed = match repro.finding {
        Some(id) => {
            let (with, without) = (has_finding(&broken, id), has_finding(&fixed, id));
            println!(
                "diagnosis: `{id}` {} with the bug, {} after the fix",
                if with { "found" } else { "NOT found" },
                if without { "STILL found" } else { "absent" }
            );
            with && !without
        }
        None => true,
    };
    let reproduced = before.present && !after.present && diagnosed;
    println!(
        "{}",
        match (before.present, after.present) {
            (true, false) if diagnosed =>
                "reproduced: the symptom appears with the bug and is gone after the fix",
            (true, false) => "NOT reproduced: the diagnosis did not name the bug",
            (false, _) => "NOT reproduced: the bug did not show its symptom",
            (true, true) => "NOT reproduced: the symptom stayed after the fix",
        }
    );
    Ok(reproduced)
}

fn describe(v: &Variant) -> String {
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
    }
    s
}

/// One run: a fresh database, mock and shop; the load; what it left behind.
async fn observe(
    repro: &Repro,
    variant: &Variant,
    label: &str,
    bins: &Binaries,
    stack: &Stack,
    template: &TemplateDatabase,
    dir: &Path,
) -> anyhow::Result<Observed> {
    let dir = dir.join(label);
    std::fs::create_dir_all(&dir)?;
    let database_url = template.fresh().await.map_err(|e| anyhow::anyhow!(e))?;
    let db = reconcile::connect(&database_url).await?;
    // The statement monitor's view (the server preloads the library in every stack provider).
    let _ = db
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await;
    match variant.data {
        Data::NoUsers => {
            // Their profiles, carts and points go with them, as if they had never been seeded.
            db.batch_execute("TRUNCATE auth_user CASCADE")
                .await
                .context("removing the test users")?;
        }
        Data::NoStock => {
            db.batch_execute("DELETE FROM products_productstock")
                .await
                .context("removing the stock rows")?;
        }
        Data::Seeded | Data::HotStock(_) => {}
    }

    let mock_port = free_port()?;
    let mut mock = Command::new(&bins.mock);
    mock.args(["--listen", &format!("127.0.0.1:{mock_port}"), "--seed", "1"])
        .env("RUST_LOG", "warn");
    let mock = Server::start(
        mock,
        format!("http://127.0.0.1:{mock_port}"),
        "/healthz",
        &dir.join("toss-mock.log"),
        Duration::from_secs(30),
    )
    .await
    .context("starting toss-mock")?;
    let shop_port = free_port()?;
    let mut shop = Command::new(&bins.shop);
    shop.args(["--listen", &format!("127.0.0.1:{shop_port}")])
        .args(["--database-url", &database_url])
        .args(["--redis-url", stack.redis_url()])
        .args(["--toss-url", &mock.base_url])
        .args(["--redis-prefix", &format!("repro:{}:{label}:", repro.name)])
        .env("RUST_LOG", "info");
    for fault in variant.faults {
        shop.args(["--fault", fault]);
    }
    let shop = Server::start(
        shop,
        format!("http://127.0.0.1:{shop_port}"),
        "/healthz",
        &dir.join("target-shop.log"),
        Duration::from_secs(60),
    )
    .await
    .context("starting target-shop")?;

    if let Data::HotStock(stock) = variant.data {
        let ids = hot_products(&shop.base_url).await?;
        reconcile::limit_stock(&db, &ids, stock).await?;
    }
    let before = Before::take(&db).await?;
    let summary_path = dir.join("summary.json");
    let load = &variant.load;
    let mut command = tokio::process::Command::new(&bins.loadgen);
    command
        .arg("run")
        .args(["--host", &shop.base_url])
        .args(["--scenario", &scenario_arg(load.scenario)])
        .args(["--users", &load.users.to_string()])
        .args(["--spawn-rate", &load.spawn_rate.to_string()])
        .args(["--run-time", load.run_time])
        .args(["--seed", "1", "--headless", "--only-summary"])
        .arg("--var")
        .arg(format!("toss_url={}", mock.base_url))
        .arg("--csv")
        .arg(dir.join("run"))
        .arg("--html")
        .arg(dir.join("report.html"))
        .arg("--json")
        .arg(&summary_path)
        // The server monitors, so the report's diagnosis names the fault with its evidence.
        .args(["--db-url", &database_url])
        .args(["--redis-url", stack.redis_url()])
        .arg("--redis-stream")
        .arg(format!("repro:{}:{label}:jobs", repro.name))
        .arg("--metrics-url")
        .arg(format!("{}/metrics", shop.base_url))
        .arg("--pid")
        .arg(format!("shop={}", shop.pid()))
        .arg("--pid")
        .arg(format!("toss-mock={}", mock.pid()))
        .stdout(std::process::Stdio::null());
    if let Some(tags) = load.tags {
        command.args(["--tags", tags]);
    }
    for var in load.vars {
        command.args(["--var", var]);
    }
    let status = command.status().await.context("running loadgen")?;
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("loadgen could not run the load ({status})");
    }
    let read_summary = || -> anyhow::Result<Value> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&summary_path)
                .with_context(|| format!("reading {}", summary_path.display()))?,
        )?)
    };
    let mut summary = read_summary()?;
    let statements = statements(&db).await;
    let reconciliation = if matches!(variant.data, Data::HotStock(_)) {
        // The worker drains the job backlog shortly after the last payment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats: Value = reqwest::get(format!("{}/__mock/stats", mock.base_url))
            .await?
            .json()
            .await
            .context("reading the Toss mock's stats")?;
        let checks = reconcile::check(&db, &stats, &before).await?;
        reconcile::report(&checks, &dir)?;
        // The reconciliation added its verdict and findings to summary.json.
        summary = read_summary()?;
        Some(checks)
    } else {
        None
    };
    drop(shop);
    drop(mock);
    let shop_log = std::fs::read_to_string(dir.join("target-shop.log")).unwrap_or_default();
    drop(db);
    template
        .drop_database(&database_url)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Observed {
        summary,
        statements,
        reconciliation,
        shop_log,
    })
}

/// A built-in scenario by name; a repro scenario by its path in the workspace.
fn scenario_arg(scenario: &str) -> String {
    if scenario.ends_with(".toml") {
        workspace::root()
            .join("loadgen/scenarios")
            .join(scenario)
            .display()
            .to_string()
    } else {
        scenario.to_owned()
    }
}

/// The statements this database ran (it is new for the run, so its counters are the run's).
async fn statements(db: &tokio_postgres::Client) -> Option<Statements> {
    const OWN: &str = "query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE '%pg_database%'";
    let here = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let calls = db
        .query_one(
            &format!(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE {here} AND {OWN}"
            ),
            &[],
        )
        .await
        .ok()?
        .get::<_, i64>(0);
    let top = db
        .query_opt(
            &format!(
                "SELECT query, calls::bigint FROM pg_stat_statements WHERE {here} AND {OWN} \
                 ORDER BY calls DESC LIMIT 1"
            ),
            &[],
        )
        .await
        .ok()
        .flatten()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64));
    Some(Statements {
        calls: calls as u64,
        top,
    })
}

fn entries(summary: &Value) -> impl Iterator<Item = &Value> {
    summary["entries"].as_array().into_iter().flatten()
}

fn endpoint<'a>(o: &'a Observed, method: &str, name: &str) -> Option<&'a Value> {
    entries(&o.summary).find(|e| e["method"] == method && e["name"] == name)
}

/// The failures of endpoints whose name contains `name_part` with this status, as the report shows
/// them; or, when there are none, what those endpoints did.
fn failures_with(o: &Observed, name_part: &str, status: u16) -> Symptom {
    let marker = format!("'{status} ");
    let rows: Vec<&Value> = o.summary["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["name"].as_str().is_some_and(|n| n.contains(name_part))
                && f["error"].as_str().is_some_and(|e| e.contains(&marker))
        })
        .collect();
    if rows.is_empty() {
        let lines = entries(&o.summary)
            .filter(|e| e["name"].as_str().is_some_and(|n| n.contains(name_part)))
            .map(|e| {
                format!(
                    "{} {}: {} requests, {} failures",
                    e["method"].as_str().unwrap_or(""),
                    e["name"].as_str().unwrap_or(""),
                    e["requests"],
                    e["failures"]
                )
            })
            .collect::<Vec<_>>();
        return Symptom {
            present: false,
            lines: if lines.is_empty() {
                vec![format!("no request to {name_part} was made")]
            } else {
                lines
            },
        };
    }
    Symptom {
        present: true,
        lines: rows
            .iter()
            .map(|f| {
                format!(
                    "{} × {} {} → {}",
                    f["occurrences"],
                    f["method"].as_str().unwrap_or(""),
                    f["name"].as_str().unwrap_or(""),
                    f["example"]
                        .as_str()
                        .or(f["error"].as_str())
                        .unwrap_or_default()
                )
            })
            .collect(),
    }
}

/// Seconds from the run's start to the first failure on `name_part`.
fn first_seen_after_start(o: &Observed, name_part: &str) -> Option<i64> {
    let start = chrono::DateTime::parse_from_rfc3339(o.summary["meta"]["started_at"].as_str()?)
        .ok()?
        .timestamp();
    o.summary["failures"]
        .as_array()?
        .iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.contains(name_part)))
        .filter_map(|f| f["first_seen"].as_i64())
        .min()
        .map(|t| t - start)
}

fn pool_symptom(o: &Observed) -> Symptom {
    let agg = &o.summary["aggregate"];
    let p95 = agg["percentiles_ms"]["p95"].as_f64().unwrap_or(0.0);
    let failures = agg["failures"].as_u64().unwrap_or(0);
    let requests = agg["requests"].as_u64().unwrap_or(0);
    // The shop's /metrics as the monitor sampled it each second.
    let points: Vec<&Value> = o.summary["server"]["metrics"]["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["pool_in_use"].is_number() && p["pool_max"].is_number())
        .collect();
    let full = points
        .iter()
        .filter(|p| p["pool_in_use"].as_f64() >= p["pool_max"].as_f64())
        .count();
    let max = points
        .iter()
        .filter_map(|p| p["pool_max"].as_f64())
        .fold(0.0, f64::max);
    let mut lines = vec![format!(
        "the shop's pool: all {max:.0} connections in use in {full} of {} seconds",
        points.len()
    )];
    lines.push(format!(
        "all requests: p95 {p95:.0} ms, {failures} of {requests} failed"
    ));
    let server_errors = failures_with(o, "/", 500);
    if server_errors.present {
        lines.extend(server_errors.lines.into_iter().take(3));
    }
    if let Some(line) = o
        .shop_log
        .lines()
        .find(|l| l.contains("pool timed out") || l.contains("PoolTimedOut"))
    {
        lines.push(format!("the shop's log: {}", excerpt(line.trim(), 200)));
    }
    Symptom {
        // Full for a third of the run, or requests failing for want of a connection.
        present: (points.len() >= 5 && full * 3 >= points.len()) || failures > 0,
        lines,
    }
}

fn statements_per_request(o: &Observed, limit: f64) -> Symptom {
    let requests = o.summary["aggregate"]["requests"].as_u64().unwrap_or(0);
    let Some(s) = &o.statements else {
        return Symptom {
            present: false,
            lines: vec![
                "pg_stat_statements is not available: start PostgreSQL with \
                 shared_preload_libraries=pg_stat_statements"
                    .into(),
            ],
        };
    };
    let per = s.calls as f64 / requests.max(1) as f64;
    let mut lines = vec![format!(
        "{} statements for {requests} requests: {per:.1} per request",
        s.calls
    )];
    if let Some((query, calls)) = &s.top {
        lines.push(format!(
            "most run: {calls} × {}",
            excerpt(&squeeze(query), 160)
        ));
    }
    if let Some(e) = endpoint(o, "GET", "/api/products/") {
        lines.push(format!(
            "GET /api/products/ p95 {} ms",
            e["percentiles_ms"]["p95"]
        ));
    }
    Symptom {
        present: per > limit,
        lines,
    }
}

fn cache_symptom(o: &Observed) -> Symptom {
    let lists = entries(&o.summary)
        .filter(|e| {
            e["method"] == "GET"
                && e["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("/api/products/?") || n == "/api/products/")
        })
        .filter_map(|e| e["requests"].as_u64())
        .sum::<u64>();
    // Redis's own count of GET commands during the run (INFO commandstats, by the monitor): a
    // shop that caches the list looks it up there on every list request.
    let Some(gets) = o.summary["server"]["redis"]["commands"]
        .as_object()
        .map(|c| c.get("get").and_then(Value::as_u64).unwrap_or(0))
    else {
        return Symptom {
            present: false,
            lines: vec!["the Redis monitor did not report (see the report's notes)".into()],
        };
    };
    let mut lines = vec![format!(
        "{lists} list requests; the shop looked the list up in Redis {gets} times (GET)"
    )];
    if let Some(s) = &o.statements {
        lines.push(format!("{} statements in PostgreSQL", s.calls));
    }
    Symptom {
        present: lists > 0 && gets * 2 < lists,
        lines,
    }
}

/// Whether the run's summary.json names the finding `id`.
fn has_finding(o: &Observed, id: &str) -> bool {
    o.summary["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["id"] == id)
}

/// The diagnosis's findings in summary.json, when loadgen made any.
fn print_findings(summary: &Value) {
    // The reconciliation's own findings were printed with its table.
    let reconciled = summary["reconciliation"]["checks"].is_array();
    for f in summary["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            !(reconciled
                && matches!(
                    f["id"].as_str(),
                    Some("oversell" | "payment-mismatch" | "jobs-not-drained")
                ))
        })
    {
        println!(
            "  finding: {} ({})",
            f["title"].as_str().unwrap_or(""),
            f["evidence"].as_str().unwrap_or("")
        );
    }
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn excerpt(s: &str, chars: usize) -> String {
    let mut out: String = s.chars().take(chars).collect();
    if s.chars().count() > chars {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(summary: Value) -> Observed {
        Observed {
            summary,
            statements: None,
            reconciliation: None,
            shop_log: String::new(),
        }
    }

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

    #[test]
    fn a_405_failure_is_the_symptom_and_its_absence_is_not() {
        let with = observed(serde_json::json!({
            "failures": [{"method": "POST", "name": "/api/cart/items/", "occurrences": 7,
                "error": "HTTPError('405 Client Error: Method Not Allowed for url: /api/cart/items/')",
                "example": "405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"}],
            "entries": []
        }));
        let s = failures_with(&with, "/api/cart/items/", 405);
        assert!(s.present);
        assert!(
            s.lines[0].contains("Allow: GET, HEAD, OPTIONS"),
            "{:?}",
            s.lines
        );
        let without = observed(serde_json::json!({
            "failures": [],
            "entries": [{"method": "POST", "name": "/api/cart/items/", "requests": 9, "failures": 0}]
        }));
        let s = failures_with(&without, "/api/cart/items/", 405);
        assert!(!s.present);
        assert_eq!(s.lines, ["POST /api/cart/items/: 9 requests, 0 failures"]);
    }

    #[test]
    fn statements_per_request_needs_the_extension() {
        let mut o = observed(serde_json::json!({"aggregate": {"requests": 10}}));
        assert!(!statements_per_request(&o, 8.0).present);
        o.statements = Some(Statements {
            calls: 410,
            top: None,
        });
        assert!(statements_per_request(&o, 8.0).present);
        o.statements = Some(Statements {
            calls: 20,
            top: None,
        });
        assert!(!statements_per_request(&o, 8.0).present);
    }
}
