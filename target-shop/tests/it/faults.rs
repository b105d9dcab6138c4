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
    // Counted by the fault itself: the test process's resident memory is shared with the tests
    // running beside this one, which allocate and free as they go (the repro `memory` reads a
    // real shop's RSS).
    let app = app.with_faults(&["leak=1024"]).await;
    let before = target_shop::faults::leaked_bytes();
    for _ in 0..64 {
        let reply = app.get("/api/products/", None).await;
        assert_eq!(reply.status, 200);
    }
    let grown = target_shop::faults::leaked_bytes() - before;
    assert!(grown >= 64 * 1024 * 1024, "kept {grown} bytes");
}
