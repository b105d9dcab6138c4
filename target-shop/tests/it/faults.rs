//! The faults the reproductions added for the plan's remaining bottlenecks: each does what its
//! name says on a real database, and a start without it undoes what can be undone.

use crate::app::TestApp;

async fn order_index_exists(app: &TestApp) -> bool {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'orders_order_user_id_idx')",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap()
}

pub async fn missing_index_drops_the_order_index_and_a_plain_start_restores_it(app: TestApp) {
    assert!(order_index_exists(&app).await, "the migrations make it");
    let app = app.with_faults(&["missing-index"]).await;
    assert!(!order_index_exists(&app).await, "the fault drops it");
    let app = app.with_faults(&[]).await;
    assert!(order_index_exists(&app).await, "the fix puts it back");
}

pub async fn missing_app_refuses_to_start_naming_the_app_and_the_fix(app: TestApp) {
    let mut config = app.config.clone();
    config.faults = target_shop::faults::Faults::parse(["missing-app"]).unwrap();
    let error = target_shop::AppState::connect(&config)
        .await
        .err()
        .expect("the start is refused");
    let message = format!("{error:#}");
    assert!(message.starts_with("ImproperlyConfigured: "), "{message}");
    assert!(message.contains("'rest_framework_simplejwt' is not in INSTALLED_APPS"));
    assert!(message.contains("fix: add"));
}

pub async fn single_worker_runs_one_job_at_a_time(app: TestApp) {
    assert!(app.state.jobs.concurrency > 1);
    let app = app.with_faults(&["single-worker"]).await;
    assert_eq!(app.state.jobs.concurrency, 1);
}

pub async fn leak_keeps_memory_per_request(app: TestApp) {
    let app = app.with_faults(&["leak=1024"]).await;
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let before = rss();
    for _ in 0..64 {
        let reply = app.get("/api/products/", None).await;
        assert_eq!(reply.status, 200);
    }
    // 64 requests × 1 MiB kept; the test process is the shop here.
    let grown_kib = rss().saturating_sub(before);
    assert!(grown_kib >= 32 * 1024, "RSS grew {grown_kib} KiB");
}
