//! The job worker and the reservation-expiry sweep: a payment's e-mail and points happen exactly
//! once whatever dies when, expired reservations give their stock back, and the `inline-jobs`
//! fault moves the jobs' time into the confirm.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use target_shop::jobs::{Job, Worker, sweep_once};
use target_shop::orders::Expired;

use crate::app::TestApp;
use crate::toss::{TossMock, confirm, order, order_status, shop, stock};

/// `(kind, payload)` of the order's outbox rows, by kind.
async fn outbox(app: &TestApp, order: i64) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as("SELECT kind, payload FROM jobs_outbox WHERE dedup_key = $1 ORDER BY kind")
        .bind(format!("order:{order}"))
        .fetch_all(&app.state.db)
        .await
        .unwrap()
}

async fn points(app: &TestApp, token: &str) -> i64 {
    app.get("/api/auth/me/", Some(token)).await.json()["points"]
        .as_i64()
        .unwrap()
}

/// The `/metrics` lines about jobs.
async fn job_metrics(app: &TestApp) -> Vec<String> {
    app.get("/metrics", None)
        .await
        .text
        .lines()
        .filter(|l| l.starts_with("shop_jobs_"))
        .map(str::to_string)
        .collect()
}

/// A paid order of 2 x 15,000: `(order id, buyer's token)`.
async fn paid_order(app: &TestApp, toss: &TossMock) -> (i64, String) {
    let (tokens, ids) = shop(app, 1).await;
    let (id, number, total) = order(app, &tokens[0], ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    let reply = confirm(app, &tokens[0], &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (id, tokens[0].clone())
}

pub async fn a_payments_jobs_happen_once_even_when_a_worker_dies_mid_job(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (id, token) = paid_order(&app, &toss).await;
    assert!(
        outbox(&app, id).await.is_empty(),
        "nothing done in the request"
    );
    assert_eq!(points(&app, &token).await, 0);

    // Worker a takes both jobs, sends the e-mail, and dies before acknowledging either.
    let a = Worker::with_consumer(app.state.clone(), "a").await.unwrap();
    let taken = a.read_new(None).await.unwrap();
    let jobs: Vec<_> = taken.iter().map(|d| d.job).collect();
    assert_eq!(
        jobs,
        [
            Some(Job::Email { order: id }),
            Some(Job::Points { order: id })
        ]
    );
    target_shop::jobs::perform(&app.state, Job::Email { order: id })
        .await
        .unwrap();
    drop(a);
    assert_eq!(
        job_metrics(&app).await,
        ["shop_jobs_backlog 2", "shop_jobs_in_progress 2",],
        "both jobs are still owed"
    );

    // They are nobody's new work; once idle long enough, worker b takes them over.
    let b = Worker::with_consumer(app.state.clone(), "b").await.unwrap();
    assert!(b.read_new(None).await.unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    let claimed = loop {
        let claimed = b.claim_stale(Duration::from_millis(200)).await.unwrap();
        if !claimed.is_empty() {
            break claimed;
        }
        assert!(Instant::now() < deadline, "nothing claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(claimed, taken);
    assert_eq!(b.handle(claimed).await, 2);

    let rows = outbox(&app, id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].0, "points");
    insta::assert_json_snapshot!(rows, {
        "[][1].order_number" => "[order_number]",
        "[][1].subject" => "[subject]",
    });
    assert_eq!(points(&app, &token).await, 300, "1 % of 30,000");

    // A redelivery (an acknowledgement lost on the way) changes nothing.
    assert_eq!(b.handle(taken).await, 2);
    assert_eq!(outbox(&app, id).await.len(), 2);
    assert_eq!(points(&app, &token).await, 300);
    let metrics = job_metrics(&app).await;
    for line in [
        "shop_jobs_backlog 0",
        "shop_jobs_in_progress 0",
        r#"shop_jobs_processed_total{kind="email",outcome="ok"} 2"#,
        r#"shop_jobs_processed_total{kind="points",outcome="ok"} 2"#,
    ] {
        assert!(metrics.iter().any(|l| l == line), "{line} in {metrics:?}");
    }
}

pub async fn expired_reservations_give_their_stock_back(app: TestApp) {
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];
    let (id, number, total) = order(&app, token, ids[0], 3).await;
    let reply = app
        .send(
            Method::POST,
            &format!("/api/products/{}/stock/reserve/", ids[1]),
            token,
            Some(&json!({"quantity": 2})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let (fresh, _, _) = order(&app, token, ids[2], 1).await;
    assert_eq!(
        sweep_once(&app.state).await.unwrap(),
        Expired::default(),
        "nothing is due yet"
    );
    // Warm the catalog cache: it must not keep showing the reserved stock.
    let cached = app
        .get(&format!("/api/products/{}/", ids[0]), None)
        .await
        .json();
    assert_eq!(cached["stock"]["available_stock"], 9_997);

    sqlx::query(
        "UPDATE products_stockreservation SET expires_at = now() - interval '1 second'
         WHERE order_id = $1 OR order_id IS NULL",
    )
    .bind(id)
    .execute(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        sweep_once(&app.state).await.unwrap(),
        Expired {
            orders: 1,
            reservations: 1
        }
    );
    assert_eq!(order_status(&app, id).await, "expired");
    assert_eq!(order_status(&app, fresh).await, "pending");
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    assert_eq!(stock(&app, ids[1]).await, (10_000, 0, 10_000));
    assert_eq!(stock(&app, ids[2]).await, (10_000, 1, 9_999));
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM products_stockreservation WHERE product_id = ANY($1) ORDER BY product_id",
    )
    .bind(&ids[..2])
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(statuses, ["expired", "expired"]);
    let product = app
        .get(&format!("/api/products/{}/", ids[0]), None)
        .await
        .json();
    assert_eq!(product["stock"]["available_stock"], 10_000);

    // Idempotent: a second sweep (or a second worker's) finds nothing.
    assert_eq!(sweep_once(&app.state).await.unwrap(), Expired::default());
    assert_eq!(stock(&app, ids[0]).await, (10_000, 0, 10_000));
    // And an expired order is not paid.
    confirm(&app, token, "tviva20261122000000abcde", &number, total)
        .await
        .assert(
            400,
            &format!(
                r#"{{"error_code":"ORDER_NOT_PAYABLE","detail":"Order {number} is expired and cannot be paid."}}"#
            ),
        );
}

pub async fn the_worker_runs_jobs_and_expires_reservations_on_its_own(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app
        .with_toss(&toss)
        .await
        .with_config(|config| {
            config.jobs.email_delay = Duration::from_millis(10);
            config.jobs.points_delay = Duration::from_millis(10);
        })
        .await;
    let (paid, token) = paid_order(&app, &toss).await;
    // Orders from now on hold their stock for a second.
    let app = app
        .with_config(|config| {
            config.reservation_lifetime = Duration::from_secs(1);
            config.jobs.sweep_interval = Duration::from_millis(100);
            config.jobs.block = Duration::from_millis(200);
        })
        .await;
    let product: i64 = sqlx::query_scalar("SELECT min(id) + 1 FROM products_product")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let (unpaid, _, _) = order(&app, &token, product, 4).await;
    assert_eq!(stock(&app, product).await, (10_000, 4, 9_996));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::start(app.state.clone()).await.unwrap();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(&app, paid).await.len() < 2 || order_status(&app, unpaid).await != "expired" {
        assert!(
            Instant::now() < deadline,
            "outbox {:?}, unpaid order {}",
            outbox(&app, paid).await,
            order_status(&app, unpaid).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(points(&app, &token).await, 300);
    assert_eq!(stock(&app, product).await, (10_000, 0, 10_000));
    assert_eq!(order_status(&app, paid).await, "paid");
    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops when told")
        .unwrap();
}

pub async fn the_inline_jobs_fault_does_the_jobs_inside_the_confirm(app: TestApp) {
    let toss = TossMock::start().await;
    let delay = Duration::from_millis(2_000);
    let app = app
        .with_toss(&toss)
        .await
        .with_config(|config| {
            config.jobs.email_delay = Duration::from_millis(1_500);
            config.jobs.points_delay = Duration::from_millis(500);
        })
        .await;
    let (tokens, ids) = shop(&app, 1).await;
    let token = &tokens[0];

    // Without the fault the buyer does not wait for the e-mail: it is queued.
    let (queued, number, total) = order(&app, token, ids[0], 2).await;
    let key = toss.checkout(&number, total).await;
    let started = Instant::now();
    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());
    assert!(outbox(&app, queued).await.is_empty());
    assert!(
        job_metrics(&app)
            .await
            .contains(&"shop_jobs_backlog 2".to_string())
    );

    let app = app.with_faults(&["inline-jobs"]).await;
    let (inline, number, total) = order(&app, token, ids[1], 1).await;
    let key = toss.checkout(&number, total).await;
    let started = Instant::now();
    let reply = confirm(&app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        started.elapsed() >= delay,
        "the jobs' time is in the request: {:?}",
        started.elapsed()
    );
    // Done by the time the buyer hears back, nothing queued: the same data, later.
    let kinds: Vec<String> = outbox(&app, inline)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["email", "points"]);
    assert_eq!(points(&app, token).await, 150);
    assert!(
        job_metrics(&app)
            .await
            .contains(&"shop_jobs_backlog 2".to_string())
    );
}
