//! Whole phases: the shipped phase files and scenarios, shortened, against the real shop and mock.

use std::sync::Arc;

use fixtures::reconcile::{self, Before};
use loadgen::diagnosis::Finding;
use loadgen::summary::Summary;

use crate::world::{Shop, World, loadgen, phase_file};

/// Every endpoint the shop scenario calls must appear in the stats, and none may fail.
pub async fn the_shop_scenario_runs_clean_and_covers_every_endpoint(world: Arc<World>) {
    let shop = Shop::start(&world, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("s.json");
    let toss = format!("toss_url={}", shop.mock_url);
    let code = loadgen(&[
        "--host",
        &shop.url,
        "--scenario",
        "shop",
        "-u",
        "20",
        "-r",
        "10",
        "-t",
        "20s",
        "--var",
        &toss,
        "--json",
        json.to_str().unwrap(),
        "--only-summary",
        "--seed",
        "11",
    ])
    .await;
    assert_eq!(code, 0);
    let s = Summary::read(&json).unwrap();
    assert_eq!(s.aggregate.failures, 0, "{:#?}", s.failures);
    let names: Vec<String> = s
        .entries
        .iter()
        .map(|e| format!("{} {}", e.method, e.name))
        .collect();
    for endpoint in [
        "POST /api/auth/login/",
        "GET /api/products/",
        "GET /api/products/[product_id]/",
        "POST /api/cart/items/",
        "POST /api/products/[product_id]/stock/reserve/",
        "POST /api/orders/",
        "POST toss checkout (mock)",
        "POST /api/payments/confirm/",
    ] {
        assert!(
            names.iter().any(|n| n == endpoint),
            "{endpoint} missing from {names:?}"
        );
    }
}

pub async fn a_smoke_phase_passes_and_writes_every_report(world: Arc<World>) {
    let shop = Shop::start(&world, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    let toss = format!("toss_url={}", shop.mock_url);
    let metrics = format!("{}/metrics", shop.url);
    let pid = format!("e2e={}", std::process::id());
    let code = loadgen(&[
        "--phase",
        &phase_file("smoke"),
        // Every monitor on, as `cargo xtask phase` runs them: a clean run must find nothing.
        "--db-url",
        &shop.database_url,
        "--redis-url",
        &world.redis_url,
        "--metrics-url",
        &metrics,
        "--pid",
        &pid,
        "--host",
        &shop.url,
        "-t",
        "20s",
        "--var",
        &toss,
        "--csv",
        &p("smoke"),
        "--html",
        &p("report.html"),
        "--json",
        &p("summary.json"),
        "--junit",
        &p("junit.xml"),
        "--only-summary",
    ])
    .await;
    assert_eq!(code, 0, "the smoke phase's thresholds hold");
    let summary = Summary::read(dir.path().join("summary.json")).unwrap();
    assert!(summary.passed);
    assert_eq!(summary.aggregate.failures, 0);
    assert_eq!(summary.meta.phase.as_deref(), Some("smoke"));
    assert_eq!(
        summary.findings,
        Vec::<Finding>::new(),
        "a clean smoke run has no finding"
    );
    let server = summary.server.as_ref().expect("the monitors ran");
    let points = |n: Option<usize>| n.unwrap_or(0) >= 10;
    assert!(
        points(server.postgres.as_ref().map(|p| p.points.len()))
            && points(server.redis.as_ref().map(|r| r.points.len()))
            && points(server.metrics.as_ref().map(|m| m.points.len())),
        "every monitor sampled the run: {:?}",
        server.notes
    );
    assert!(
        server
            .postgres
            .as_ref()
            .and_then(|p| p.statements.as_ref())
            .is_some_and(|s| !s.by_total_time.is_empty()),
        "the run's statements from pg_stat_statements: {:?}",
        server.notes
    );
    for csv in [
        "smoke_stats.csv",
        "smoke_stats_history.csv",
        "smoke_failures.csv",
        "smoke_exceptions.csv",
    ] {
        let text = std::fs::read_to_string(dir.path().join(csv)).unwrap();
        assert!(
            text.ends_with("\r\n") && text.lines().next().unwrap().contains(','),
            "{csv}"
        );
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("failures=\"0\"") && junit.contains("avg &lt; 200ms"),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("PASSED") && html.contains("<svg"));
}

/// The plan's payment phase, shortened: 100 payers on five hot products with 20 units each.
async fn payment_phase(
    world: &World,
    faults: &[&str],
    chaos: Option<serde_json::Value>,
) -> (Vec<reconcile::Check>, Summary) {
    let shop = Shop::start(world, faults).await;
    if let Some(chaos) = chaos {
        shop.chaos(chaos).await;
    }
    let db = reconcile::connect(&shop.database_url).await.unwrap();
    let page: serde_json::Value = reqwest::get(format!("{}/api/products/", shop.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hot: Vec<i64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    reconcile::limit_stock(&db, &hot, 20).await.unwrap();
    let before = Before::take(&db).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("s.json");
    let toss = format!("toss_url={}", shop.mock_url);
    loadgen(&[
        "--phase",
        &phase_file("payment"),
        "--host",
        &shop.url,
        "-u",
        "100",
        "-r",
        "50",
        "-t",
        "30s",
        "--var",
        &toss,
        "--json",
        json.to_str().unwrap(),
        // The phase file's own outputs would land in the working directory.
        "--csv",
        dir.path().join("payment").to_str().unwrap(),
        "--html",
        dir.path().join("report.html").to_str().unwrap(),
        "--junit",
        dir.path().join("junit.xml").to_str().unwrap(),
        "--only-summary",
    ])
    .await;
    let checks = reconcile::check(&db, &shop.mock_stats().await, &before)
        .await
        .unwrap();
    (checks, Summary::read(&json).unwrap())
}

fn failed(checks: &[reconcile::Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

pub async fn a_payment_phase_on_scarce_hot_products_reconciles(world: Arc<World>) {
    let (checks, s) = payment_phase(&world, &[], None).await;
    assert!(failed(&checks).is_empty(), "{:?}", failed(&checks));
    let orders = s.entry("POST", "/api/orders/").unwrap();
    assert!(
        orders.handled > 0,
        "out-of-stock answers occurred: {orders:?}"
    );
    assert_eq!(s.aggregate.failures, 0, "{:#?}", s.failures);
}

pub async fn commit_then_drop_chaos_still_reconciles(world: Arc<World>) {
    let (checks, s) = payment_phase(
        &world,
        &[],
        Some(serde_json::json!({"commit_then_drop_rate": 0.05})),
    )
    .await;
    assert!(failed(&checks).is_empty(), "{:?}", failed(&checks));
    let confirm = s.entry("POST", "/api/payments/confirm/").unwrap();
    assert!(confirm.requests > 20, "{confirm:?}");
}

pub async fn the_no_lock_fault_is_caught_by_the_reconciliation(world: Arc<World>) {
    let (checks, _) = payment_phase(&world, &["no-lock"], None).await;
    let failed = failed(&checks);
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("stock = initial - sold")),
        "the oversell is caught: {failed:?}"
    );
}
