//! One run of a reproduction: a fresh database cloned from the template (with the variant's data),
//! a Toss mock and a shop started through the launcher (their own Redis prefix and job stream;
//! where the variant says so, as an application role limited to a few connections, with PgBouncer
//! in front),
//! loadgen with its server monitors, the statements the database ran, and the reconciliation where
//! stock is limited. A shop that will not start, or a loadgen that refuses before any load, is an
//! outcome too: the start-up errors are reproductions of their own.

use std::path::Path;

use anyhow::Context as _;
use fixtures::database::TemplateDatabase;
use fixtures::reconcile::{self, Before};
use fixtures::stack::Stack;
use launcher::free_port;
use loadgen::summary::Summary;

use super::catalogue::{Connections, Data, Repro, Target, Variant};
use super::connections::{self, PgBouncer};
use super::runner::{Binaries, Observed, Outcome, Statements};
use crate::phase::hot_products;
use crate::services;
use crate::workspace;

/// Where one run happens.
struct Run<'a> {
    repro: &'a Repro,
    variant: &'a Variant,
    label: &'a str,
    bins: &'a Binaries,
    stack: &'a Stack,
    dir: &'a Path,
    database_url: &'a str,
    /// The application role's URL, where the variant limits the database's connections.
    app_url: Option<&'a str>,
}

/// One run: a fresh database, mock and shop; the load; what it left behind.
pub(super) async fn observe(
    repro: &Repro,
    variant: &Variant,
    label: &str,
    bins: &Binaries,
    stack: &Stack,
    template: &TemplateDatabase,
    dir: &Path,
) -> anyhow::Result<Outcome> {
    let dir = dir.join(label);
    std::fs::create_dir_all(&dir)?;
    let database_url = template.fresh().await.map_err(|e| anyhow::anyhow!(e))?;
    let db = reconcile::connect(&database_url).await?;
    // The statement monitor's view (the server preloads the library in every stack provider).
    let _ = db
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await;
    prepare(&db, variant.data).await?;
    let app_url = match variant.connections {
        Connections::Direct => None,
        Connections::Limited { limit, .. } => {
            Some(connections::limit_database(&db, &database_url, limit).await?)
        }
    };
    let run = Run {
        repro,
        variant,
        label,
        bins,
        stack,
        dir: &dir,
        database_url: &database_url,
        app_url: app_url.as_deref(),
    };
    let outcome = run.servers_and_load(&db).await;
    drop(db);
    template
        .drop_database(&database_url)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    outcome
}

/// The variant's test data in the fresh database.
async fn prepare(db: &tokio_postgres::Client, data: Data) -> anyhow::Result<()> {
    match data {
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
        Data::ManyOrders(n) => {
            // Paid orders of the past, spread evenly over the users, then fresh statistics so
            // the planner knows the table's size.
            db.batch_execute(&format!(
                "INSERT INTO orders_order (order_number, user_id, status, total_amount, created_at) \
                 SELECT 'HIST' || lpad(g::text, 12, '0'), \
                        u.ids[1 + g % array_length(u.ids, 1)], 'paid', 10000, \
                        now() - make_interval(secs => g) \
                 FROM generate_series(1, {n}) AS g, \
                      (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user) AS u; \
                 ANALYZE orders_order;"
            ))
            .await
            .context("adding the past orders")?;
        }
        Data::Seeded | Data::HotStock(_) => {}
    }
    Ok(())
}

impl Run<'_> {
    async fn servers_and_load(&self, db: &tokio_postgres::Client) -> anyhow::Result<Outcome> {
        // PgBouncer, where the variant puts it in front: the shop's URL becomes PgBouncer's.
        let pgbouncer = match (self.variant.connections, self.app_url) {
            (
                Connections::Limited {
                    pgbouncer: Some(pool),
                    ..
                },
                Some(app_url),
            ) => Some(PgBouncer::start(&self.bins.pgbouncer_image, app_url, pool).await?),
            _ => None,
        };
        let shop_database_url = match (&pgbouncer, self.app_url) {
            (Some(bouncer), _) => bouncer.url.as_str(),
            (None, Some(app_url)) => app_url,
            (None, None) => self.database_url,
        };
        let outcome = self.shop_and_load(db, shop_database_url).await;
        if let Some(bouncer) = pgbouncer {
            bouncer.stop(self.dir)?;
        }
        outcome
    }

    async fn shop_and_load(
        &self,
        db: &tokio_postgres::Client,
        shop_database_url: &str,
    ) -> anyhow::Result<Outcome> {
        let mock = services::toss_mock(&self.bins.mock, self.dir, &[]).await?;
        let shop = match self.variant.target {
            Target::Nothing => None,
            Target::Shop => {
                let started = services::shop(
                    &self.bins.shop,
                    self.dir,
                    &services::ShopConfig {
                        database_url: shop_database_url,
                        redis_url: self.stack.redis_url(),
                        toss_url: &mock.url,
                        redis_prefix: Some(format!("repro:{}:{}:", self.repro.name, self.label)),
                        faults: self.variant.faults.to_vec(),
                        // Requests that cannot get a connection fail within the run.
                        pool_timeout: matches!(
                            self.variant.connections,
                            Connections::Limited { .. }
                        )
                        .then_some("5s"),
                    },
                )
                .await;
                match started {
                    Ok(shop) => Some(shop),
                    Err(e) => {
                        mock.service.stop().await.context("stopping toss-mock")?;
                        return Ok(Outcome::Refused(format!("{e:#}")));
                    }
                }
            }
        };
        let outcome = self.load(db, &mock, shop.as_ref()).await;
        // The shop's connections must be gone before its database is dropped.
        if let Some(shop) = shop {
            shop.service.stop().await.context("stopping target-shop")?;
        }
        mock.service.stop().await.context("stopping toss-mock")?;
        let mut outcome = outcome?;
        if let Outcome::Ran(o) = &mut outcome {
            o.shop_log =
                std::fs::read_to_string(self.dir.join("target-shop.log")).unwrap_or_default();
        }
        Ok(outcome)
    }

    async fn load(
        &self,
        db: &tokio_postgres::Client,
        mock: &services::Running,
        shop: Option<&services::Running>,
    ) -> anyhow::Result<Outcome> {
        let (dir, variant, database_url) = (self.dir, self.variant, self.database_url);
        let host = match shop {
            Some(shop) => shop.url.clone(),
            None => format!("http://127.0.0.1:{}", free_port()?),
        };
        if let (Data::HotStock(stock), Some(shop)) = (variant.data, shop) {
            let ids = hot_products(&shop.url).await?;
            reconcile::limit_stock(db, &ids, stock).await?;
        }
        let before = Before::take(db).await?;
        let summary_path = dir.join("summary.json");
        let load = &variant.load;
        let mut command = tokio::process::Command::new(&self.bins.loadgen);
        command
            .arg("run")
            .args(["--host", &host])
            .args(["--scenario", &scenario_arg(load.scenario)])
            .args(["--users", &load.users.to_string()])
            .args(["--spawn-rate", &load.spawn_rate.to_string()])
            .args(["--run-time", load.run_time])
            .args(["--seed", "1", "--headless", "--only-summary"])
            .arg("--var")
            .arg(format!("toss_url={}", mock.url))
            .arg("--csv")
            .arg(dir.join("run"))
            .arg("--html")
            .arg(dir.join("report.html"))
            .arg("--json")
            .arg(&summary_path)
            // The server monitors, so the report's diagnosis names the fault with its evidence.
            .args(["--db-url", database_url])
            .args(["--redis-url", self.stack.redis_url()])
            .arg("--redis-stream")
            .arg(format!("repro:{}:{}:jobs", self.repro.name, self.label))
            .arg("--pid")
            .arg(format!("toss-mock={}", mock.service.pid()))
            .stdout(std::process::Stdio::null());
        if let Some(shop) = shop {
            command
                .arg("--metrics-url")
                .arg(format!("{}/metrics", shop.url))
                .arg("--pid")
                .arg(format!("shop={}", shop.service.pid()));
        }
        if let Some(tags) = load.tags {
            command.args(["--tags", tags]);
        }
        for var in load.vars {
            command.args(["--var", var]);
        }
        let out = command.output().await.context("running loadgen")?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        std::fs::write(dir.join("loadgen.log"), &stderr)
            .with_context(|| format!("writing {}", dir.join("loadgen.log").display()))?;
        match out.status.code() {
            Some(0 | 1) => {}
            // Refused before any load: the one-line reason is the outcome.
            Some(2) => {
                let reason = stderr
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(stderr.trim());
                return Ok(Outcome::Refused(reason.to_owned()));
            }
            _ => anyhow::bail!("loadgen could not run the load ({}): {stderr}", out.status),
        }
        let read_summary = || Summary::read(&summary_path);
        let mut summary = read_summary()?;
        let statements = statements(db).await;
        let reconciliation = if matches!(variant.data, Data::HotStock(_)) {
            // The job backlog drains shortly after the last payment: `reconcile::check` waits for
            // it (the jobs' effects against the paid orders, with a deadline), not a sleep here.
            let stats = services::mock_stats(&reqwest::Client::new(), &mock.url).await?;
            let checks = reconcile::check(db, &stats, &before).await?;
            crate::reconciliation::report(&checks, dir)?;
            // The reconciliation added its verdict and findings to summary.json.
            summary = read_summary()?;
            Some(checks)
        } else {
            None
        };
        Ok(Outcome::Ran(Box::new(Observed {
            summary,
            statements,
            reconciliation,
            shop_log: String::new(),
        })))
    }
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
