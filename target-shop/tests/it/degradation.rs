//! Degradation, not failure (issue 19): with Redis stopped (SIGSTOP: connections accepted, nothing
//! answered) or killed, the catalog is served from PostgreSQL within the request's bound, orders
//! and payments are taken, their jobs wait in PostgreSQL and run exactly once when Redis is back,
//! and `/healthz` names Redis as the part that is down. A PostgreSQL restart (every pooled
//! connection ended at once) fails no read, and writes work right after.
//!
//! Each test stops a `redis-server` of its own (the run's shared one serves the other tests at the
//! same time), on a Unix socket in a directory of its own (no port to race for), started through
//! the launcher. It is resumed and killed by guards, so a failing assertion never leaves a
//! stopped Redis behind.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use launcher::{Launch, LaunchError, Service};

use redis::AsyncCommands;
use serde_json::Value;
use target_shop::jobs::Worker;

use crate::app::TestApp;
use crate::toss::{PRICE, TossMock, confirm, order, shop};

/// What a read may take while Redis is away (the shop's bound is 150 ms; the rest is slack for a
/// loaded CI machine, far below the 500 ms + 500 the shop answered with before).
const READ_LIMIT: Duration = Duration::from_secs(1);

/// A `redis-server` owned by one test.
struct PrivateRedis {
    server: Option<Service>,
    dir: PathBuf,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("shopload-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("redis+unix://{}", dir.join("redis.sock").display());
        let mut redis = Self {
            server: None,
            dir,
            url,
        };
        redis.start_server().await;
        redis
    }

    /// Starts the server (again, on the same socket: a Redis restarted empty) and waits for PING.
    async fn start_server(&mut self) {
        let socket = self.dir.join("redis.sock");
        let mut server = Launch::new("redis-server", self.dir.join("redis.log"))
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .start()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the degradation tests stop a redis-server of their own and could not start \
                     one ({e}): install it (apt-get install redis-server) so it is on PATH"
                )
            });
        let client = &redis::Client::open(self.url.as_str()).unwrap();
        let ping = move || async move {
            let attempt = async {
                let mut connection = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(1), attempt).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 1 s".to_owned()),
            }
        };
        match server.ready(&self.url, Duration::from_secs(10), ping).await {
            Ok(()) => self.server = Some(server),
            Err(e @ LaunchError::Unanswered { .. }) => {
                panic!("the test's redis-server did not answer within 10 s: {e}")
            }
            Err(e) => panic!("the test's redis-server: {e}"),
        }
    }

    /// SIGSTOP until the guard is dropped (SIGCONT), however the test ends.
    fn stop(&self) -> Stopped<'_> {
        if let Some(server) = &self.server {
            server.pause().expect("SIGSTOP to the test's redis-server");
        }
        Stopped(self)
    }

    /// SIGKILL (a stopped process dies of it too), reaped.
    fn kill(&mut self) {
        drop(self.server.take());
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Stopped<'a>(&'a PrivateRedis);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if let Some(server) = &self.0.server {
            let _ = server.resume();
        }
    }
}

/// `future`'s output, asserting it took less than `limit`.
async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let output = future.await;
    let took = started.elapsed();
    assert!(took < limit, "{what} took {took:?} (limit {limit:?})");
    output
}

/// This test's shop on `redis`, confirming against `toss`.
async fn shop_on(app: TestApp, redis: &PrivateRedis, toss: &TossMock) -> TestApp {
    let (redis_url, toss_url) = (redis.url.clone(), toss.url());
    app.with_config(|config| {
        config.redis_url = redis_url;
        config.toss.url = toss_url;
    })
    .await
}

/// The anonymous first page's `available_stock` of `product`, read within [`READ_LIMIT`].
async fn listed_stock(app: &TestApp, product: i64) -> i64 {
    let reply = within(
        "GET /api/products/",
        READ_LIMIT,
        app.get("/api/products/", None),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let page = reply.json();
    let row = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"].as_i64() == Some(product))
        .unwrap_or_else(|| panic!("product {product} not on the first page: {page}"));
    row["stock"]["available_stock"].as_i64().unwrap()
}

async fn detail(app: &TestApp, product: i64) -> Value {
    let path = format!("/api/products/{product}/");
    let reply = within(&format!("GET {path}"), READ_LIMIT, app.get(&path, None)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

async fn healthz(app: &TestApp) -> (u16, String) {
    let reply = within("GET /healthz", READ_LIMIT, app.get("/healthz", None)).await;
    (reply.status, reply.text)
}

const DOWN: &str = r#"{"status":"error","db":"ok","redis":"error"}"#;
const UP: &str = r#"{"status":"ok","db":"ok","redis":"ok"}"#;

/// Orders 2 of `product` and pays for it: the order's id.
async fn order_and_pay(app: &TestApp, toss: &TossMock, token: &str, product: i64) -> i64 {
    let (id, number, total) = order(app, token, product, 2).await;
    let key = toss.checkout(&number, total).await;
    let reply = confirm(app, token, &key, &number, total).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["order"]["status"], "paid");
    id
}

async fn queued_jobs(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs_queued")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// `(kind, count)` of the effects recorded for `order`: each job's proof it happened.
async fn effects(app: &TestApp, order: i64) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT kind, count(*) FROM jobs_outbox WHERE dedup_key = $1 GROUP BY kind ORDER BY kind",
    )
    .bind(format!("order:{order}"))
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

/// The sum of the buyers' points.
async fn total_points(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(points), 0)::bigint FROM accounts_profile")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// Once Redis answers: the worker runs every order's jobs, each exactly once (the e-mail recorded
/// once, 1 % of 2 x PRICE in points once per order), and nothing is left queued or on the stream.
async fn jobs_run_once_when_redis_is_back(app: &TestApp, worker: &Worker, orders: &[i64]) {
    let expected = vec![("email".to_string(), 1), ("points".to_string(), 1)];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Errors (Redis still reconnecting) are retried until the deadline.
        let _ = worker.run_once().await;
        let mut all = true;
        for &order in orders {
            all &= effects(app, order).await == expected;
        }
        if all && queued_jobs(app).await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs not done 30 s after Redis came back: {} queued",
            queued_jobs(app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Duplicates a lost XADD answer put on the stream, and anything a late relay adds, are run
    // too, and change nothing.
    for _ in 0..3 {
        worker.run_once().await.unwrap();
    }
    for &order in orders {
        assert_eq!(effects(app, order).await, expected, "order {order}");
    }
    let per_order = i64::from(PRICE) * 2 / 100;
    assert_eq!(total_points(app).await, per_order * orders.len() as i64);
    let length: u64 = app
        .state
        .redis
        .clone()
        .xlen(target_shop::jobs::stream_key(&app.state))
        .await
        .unwrap();
    assert_eq!(length, 0, "every stream entry done and deleted");
    assert_eq!(queued_jobs(app).await, 0);
}

/// `/healthz` says ok again within `limit` of Redis answering (its probe finds out).
async fn healthy_again(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = healthz(app).await;
        if status == 200 {
            assert_eq!(body, UP);
            return;
        }
        assert!(Instant::now() < deadline, "/healthz still {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn a_stopped_redis_fails_no_read_order_or_payment_and_loses_no_job(app: TestApp) {
    let redis = PrivateRedis::start().await;
    let toss = TossMock::start().await;
    let app = shop_on(app, &redis, &toss).await;
    let (tokens, ids) = shop(&app, 2).await;
    let worker = Worker::with_consumer(app.state.clone(), "degradation")
        .await
        .unwrap();
    assert_eq!(healthz(&app).await, (200, UP.to_string()));
    // A page cached before the outage: it must not be served after the changes made during it.
    let stock_before = listed_stock(&app, ids[0]).await;
    let product = detail(&app, ids[0]).await;

    let orders = {
        let _stopped = redis.stop();
        let stalled = Instant::now();
        assert_eq!(listed_stock(&app, ids[0]).await, stock_before);
        assert_eq!(detail(&app, ids[0]).await, product);
        assert_eq!(healthz(&app).await, (503, DOWN.to_string()));
        let mut orders = Vec::new();
        for token in &tokens {
            orders.push(order_and_pay(&app, &toss, token, ids[0]).await);
        }
        // Read from PostgreSQL: the stock the orders just took is already gone from the list.
        assert_eq!(listed_stock(&app, ids[0]).await, stock_before - 4);
        assert_eq!(
            detail(&app, ids[0]).await["stock"]["physical_stock"],
            product["stock"]["physical_stock"].as_i64().unwrap() - 4
        );
        assert_eq!(
            queued_jobs(&app).await,
            4,
            "both payments' jobs wait in PostgreSQL"
        );
        assert_eq!(healthz(&app).await, (503, DOWN.to_string()));
        // "A few seconds" of outage, whatever the machine's speed: the guard's retries and the
        // client's reconnections run meanwhile.
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(stalled.elapsed())).await;
        orders
    };

    healthy_again(&app).await;
    jobs_run_once_when_redis_is_back(&app, &worker, &orders).await;
    // The version bump the orders missed is made up before the cache is read again.
    assert_eq!(listed_stock(&app, ids[0]).await, stock_before - 4);
    assert_eq!(listed_stock(&app, ids[0]).await, stock_before - 4);
}

pub async fn a_killed_redis_fails_no_read_or_payment_and_its_jobs_wait_for_a_new_one(app: TestApp) {
    let mut redis = PrivateRedis::start().await;
    let toss = TossMock::start().await;
    let app = shop_on(app, &redis, &toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let stock_before = listed_stock(&app, ids[1]).await;

    redis.kill();
    assert_eq!(healthz(&app).await, (503, DOWN.to_string()));
    assert_eq!(listed_stock(&app, ids[1]).await, stock_before);
    let order = order_and_pay(&app, &toss, &tokens[0], ids[1]).await;
    assert_eq!(listed_stock(&app, ids[1]).await, stock_before - 2);
    assert_eq!(queued_jobs(&app).await, 2);
    assert_eq!(healthz(&app).await, (503, DOWN.to_string()));

    // A new, empty Redis on the same socket: the queued jobs are all there is of them.
    redis.start_server().await;
    healthy_again(&app).await;
    let worker = Worker::with_consumer(app.state.clone(), "degradation")
        .await
        .unwrap();
    jobs_run_once_when_redis_is_back(&app, &worker, &[order]).await;
    assert_eq!(listed_stock(&app, ids[1]).await, stock_before - 2);
}

pub async fn a_job_sent_twice_runs_once(app: TestApp) {
    let toss = TossMock::start().await;
    let app = app.with_toss(&toss).await;
    let (tokens, ids) = shop(&app, 1).await;
    let worker = Worker::with_consumer(app.state.clone(), "twice")
        .await
        .unwrap();
    let order = order_and_pay(&app, &toss, &tokens[0], ids[0]).await;
    assert_eq!(
        queued_jobs(&app).await,
        0,
        "moved to the stream by the confirm"
    );
    // What an XADD whose answer was lost leaves behind: the jobs on the stream and still queued.
    sqlx::query("INSERT INTO jobs_queued (kind, order_id) VALUES ('email', $1), ('points', $1)")
        .bind(order)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(worker.relay().await, 2);
    jobs_run_once_when_redis_is_back(&app, &worker, &[order]).await;
}

/// Ends every connection the shop holds to its database at once, as a PostgreSQL restart does
/// (`pg_terminate_backend` sends 57P01, the code a shutdown sends), from a connection of its own.
pub async fn restart_as_the_pool_sees_it(app: &TestApp) -> i64 {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    ended
}

pub async fn a_database_restart_fails_no_read_and_replaces_the_pool(app: TestApp) {
    let (tokens, products) = shop(&app, 1).await;
    let token = tokens[0].as_str();
    let reads =
        |n: usize| futures::future::join_all((0..n).map(|_| app.get("/api/orders/", Some(token))));
    // Every pooled connection in use once, so all of them die with the restart.
    assert!(reads(10).await.iter().all(|r| r.status == 200));
    let ended = restart_as_the_pool_sees_it(&app).await;
    assert!(ended >= 2, "the shop's pooled connections ended: {ended}");

    // Reads right after, at once: none fails (the first to meet a dead connection runs again on a
    // fresh one, and the other dead ones are dropped unasked).
    let after = reads(20).await;
    let failed: Vec<_> = after.iter().filter(|r| r.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 20 reads failed after the restart: {:?}",
        failed.len(),
        failed
            .iter()
            .map(|r| (r.status, &r.text))
            .collect::<Vec<_>>()
    );
    // A write right after is taken too: the pool holds only fresh connections by now.
    let (order_id, _, _) = order(&app, token, products[0], 1).await;
    assert!(order_id > 0);
    assert!(reads(5).await.iter().all(|r| r.status == 200));
}
