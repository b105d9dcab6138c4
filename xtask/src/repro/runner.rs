//! Running a reproduction: one template database per `repro` command, then for each of a repro's
//! two runs a fresh database cloned from it, a Toss mock and a shop started through the launcher
//! (their own Redis prefix and job stream), loadgen with its server monitors, the statements the
//! database ran, and the reconciliation where stock is limited. Everything a symptom check needs
//! comes back as one [`Observed`]; nothing here judges it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use fixtures::database::TemplateDatabase;
use fixtures::reconcile::{self, Before};
use fixtures::stack::Stack;
use loadgen::summary::Summary;
use serde_json::Value;

use super::catalogue::{Data, Repro, Variant, describe};
use super::symptoms::{has_finding, print_findings, squeeze};
use crate::phase::hot_products;
use crate::services;
use crate::workspace;

/// What one run left behind.
pub(super) struct Observed {
    pub(super) summary: Summary,
    /// Statements the shop ran in its database (pg_stat_statements), if the extension is there.
    pub(super) statements: Option<Statements>,
    pub(super) reconciliation: Option<Vec<reconcile::Check>>,
    pub(super) shop_log: String,
}

pub(super) struct Statements {
    pub(super) calls: u64,
    /// The most called statement and its calls.
    pub(super) top: Option<(String, u64)>,
}

pub(super) struct Binaries {
    pub(super) loadgen: PathBuf,
    pub(super) shop: PathBuf,
    pub(super) mock: PathBuf,
}

/// Runs each repro; returns the names of those that did not reproduce.
pub(super) async fn run_all(
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
    compare_runs(&broken.summary, &fixed.summary, dir)?;
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

/// The two runs through `loadgen compare`: every figure on `compare.html` in the reproduction's
/// directory, and on the console what changed beyond the noise, with statements per request.
fn compare_runs(broken: &Summary, fixed: &Summary, dir: &Path) -> anyhow::Result<()> {
    use loadgen::compare::{self, Judgement, Metric, render};
    let c = compare::compare(broken, "with the bug", fixed, "fixed", 5.0);
    let page = dir.join("compare.html");
    std::fs::write(&page, compare::html::render(&c, &[], broken, fixed))
        .with_context(|| format!("writing {}", page.display()))?;
    for row in c.rows.iter().filter(|r| {
        matches!(r.judgement, Judgement::Regressed | Judgement::Improved)
            || r.metric == Metric::StatementsPerRequest
    }) {
        println!(
            "  compared: {} {}: {} -> {} ({}, {})",
            row.subject,
            row.metric.as_str(),
            render::value(row.base, row.metric),
            render::value(row.new, row.metric),
            render::change(row),
            render::verdict(row)
        );
    }
    println!("  comparison: {}", page.display());
    Ok(())
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

    let services::Running {
        service: mock,
        url: mock_url,
    } = services::toss_mock(&bins.mock, &dir, &[]).await?;
    let services::Running {
        service: shop,
        url: shop_url,
    } = services::shop(
        &bins.shop,
        &dir,
        &services::ShopConfig {
            database_url: &database_url,
            redis_url: stack.redis_url(),
            toss_url: &mock_url,
            redis_prefix: Some(format!("repro:{}:{label}:", repro.name)),
            faults: variant.faults.to_vec(),
        },
    )
    .await?;

    if let Data::HotStock(stock) = variant.data {
        let ids = hot_products(&shop_url).await?;
        reconcile::limit_stock(&db, &ids, stock).await?;
    }
    let before = Before::take(&db).await?;
    let summary_path = dir.join("summary.json");
    let load = &variant.load;
    let mut command = tokio::process::Command::new(&bins.loadgen);
    command
        .arg("run")
        .args(["--host", &shop_url])
        .args(["--scenario", &scenario_arg(load.scenario)])
        .args(["--users", &load.users.to_string()])
        .args(["--spawn-rate", &load.spawn_rate.to_string()])
        .args(["--run-time", load.run_time])
        .args(["--seed", "1", "--headless", "--only-summary"])
        .arg("--var")
        .arg(format!("toss_url={mock_url}"))
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
        .arg(format!("{shop_url}/metrics"))
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
    let read_summary = || Summary::read(&summary_path);
    let mut summary = read_summary()?;
    let statements = statements(&db).await;
    let reconciliation = if matches!(variant.data, Data::HotStock(_)) {
        // The worker drains the job backlog shortly after the last payment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats: Value = reqwest::get(format!("{mock_url}/__mock/stats"))
            .await?
            .json()
            .await
            .context("reading the Toss mock's stats")?;
        let checks = reconcile::check(&db, &stats, &before).await?;
        crate::reconciliation::report(&checks, &dir)?;
        // The reconciliation added its verdict and findings to summary.json.
        summary = read_summary()?;
        Some(checks)
    } else {
        None
    };
    // The shop's connections must be gone before its database is dropped.
    shop.stop().await.context("stopping target-shop")?;
    mock.stop().await.context("stopping toss-mock")?;
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
