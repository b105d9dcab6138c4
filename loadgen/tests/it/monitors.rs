//! The server-side monitors against a real PostgreSQL and Redis (a `fixtures::stack::Stack` per
//! test: local servers, containers, or `DATABASE_URL`/`REDIS_URL`), a Prometheus endpoint served
//! here, and this process: every series fills with plausible numbers, the run's statements come
//! from `pg_stat_statements`, and a database where the statistics cannot be had is a note, not a
//! failure. Then the binary end to end: the flags reach summary.json and the HTML report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fixtures::stack::{Provider, Stack, StackConfig, default_search_path};
use loadgen::monitor::{self, Config};
use redis::AsyncCommands as _;

use crate::stub::{self, loadgen, summary, text};

/// A real stack, or a failure that says what is missing and how to get it.
pub async fn stack() -> Stack {
    let provider = std::env::var("SHOPLOAD_PROVIDER")
        .ok()
        .map(|p| p.parse::<Provider>().unwrap())
        .unwrap_or(Provider::Auto);
    let path = std::env::var_os("PATH");
    let mut config = StackConfig::new(
        provider,
        default_search_path(path.as_deref()),
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stacks"),
    );
    config.postgres_image = std::env::var("SHOPLOAD_POSTGRES_IMAGE").ok();
    config.redis_image = std::env::var("SHOPLOAD_REDIS_IMAGE").ok();
    config.database_url = std::env::var("DATABASE_URL").ok();
    config.redis_url = std::env::var("REDIS_URL").ok();
    Stack::start(&config).await.unwrap_or_else(|e| {
        panic!(
            "the monitor tests need PostgreSQL and Redis: {e} (`apt-get install postgresql \
             redis-server`, or Docker, or DATABASE_URL and REDIS_URL)"
        )
    })
}

/// A stand-in for the shop's `/metrics`: each scrape, ten more requests of 20 ms on one route,
/// the pool 3 of 5 in use, the backlog one higher.
async fn metrics_server() -> (String, tokio::task::JoinHandle<()>) {
    let scrapes = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                let k = n.fetch_add(1, Ordering::Relaxed) as f64;
                format!(
                    "# TYPE shop_http_request_duration_seconds histogram\n\
                     shop_http_request_duration_seconds_sum{{method=\"GET\",route=\"/api/products/\",status=\"200\"}} {}\n\
                     shop_http_request_duration_seconds_count{{method=\"GET\",route=\"/api/products/\",status=\"200\"}} {}\n\
                     shop_http_request_duration_seconds_bucket{{le=\"0.01\",method=\"GET\",route=\"/api/products/\",status=\"200\"}} 0\n\
                     shop_http_request_duration_seconds_bucket{{le=\"0.025\",method=\"GET\",route=\"/api/products/\",status=\"200\"}} {}\n\
                     shop_http_request_duration_seconds_bucket{{le=\"+Inf\",method=\"GET\",route=\"/api/products/\",status=\"200\"}} {}\n\
                     shop_db_pool_connections{{state=\"in_use\"}} 3\n\
                     shop_db_pool_connections{{state=\"idle\"}} 2\n\
                     shop_db_pool_max_connections 5\n\
                     shop_jobs_backlog {k}\n# EOF\n",
                    k * 10.0 * 0.02,
                    k * 10.0,
                    k * 10.0,
                    k * 10.0
                )
            }),
        )
        .with_state(scrapes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, handle)
}

/// Work for the monitors to see: one statement 300 times, cache reads and a job stream of 5.
async fn some_work(db: &str, redis_url: &str, prefix: &str) {
    let (client, connection) = tokio_postgres::connect(db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS monitor_probe (id int PRIMARY KEY, name text);
             INSERT INTO monitor_probe SELECT g, 'n' || g FROM generate_series(1, 50) g
             ON CONFLICT DO NOTHING",
        )
        .await
        .unwrap();
    for i in 0..300 {
        client
            .query("SELECT name FROM monitor_probe WHERE id = $1", &[&(i % 50)])
            .await
            .unwrap();
    }
    let mut r = redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = r.set(format!("{prefix}cached"), "page").await.unwrap();
    for _ in 0..20 {
        let _: Option<String> = r.get(format!("{prefix}cached")).await.unwrap();
    }
    for i in 0..5 {
        let _: String = r
            .xadd(format!("{prefix}jobs"), "*", &[("job", i)])
            .await
            .unwrap();
    }
    // Three tasks as Celery's Redis transport (kombu) queues them: a JSON message LPUSHed onto
    // the list named after the queue, the worker BRPOPing from its other end.
    for i in 0..3 {
        let message = serde_json::json!({
            "body": "W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsfV0=",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": "shop.tasks.send_email", "id": format!("task-{i}")},
            "properties": {"delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": format!("tag-{i}")}
        });
        let _: i64 = r
            .lpush(format!("{prefix}celery"), message.to_string())
            .await
            .unwrap();
    }
}

/// Finishes the monitors as soon as what they published satisfies `enough` (a wait on the
/// condition, not a guess at how long it takes); fails saying what it waited for after 30 s.
async fn finish_when(
    running: monitor::Monitors,
    what: &str,
    enough: impl Fn(&monitor::Server) -> bool,
) -> monitor::Server {
    let mut live = running.live();
    let waited = tokio::time::timeout(Duration::from_secs(30), live.wait_for(|s| enough(s)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(
        waited,
        "the monitors did not {what} within 30 s; they published: {:#?}",
        *live.borrow()
    );
    running.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_fill_plausible_series_from_real_servers() {
    let stack = stack().await;
    let prefix = format!("monitor-test:{}:", std::process::id());
    let (metrics_url, metrics) = metrics_server().await;
    let config = Config {
        db_url: Some(stack.database_url().to_owned()),
        redis_url: Some(stack.redis_url().to_owned()),
        redis_stream: format!("{prefix}jobs"),
        redis_group: "workers".into(),
        celery_queues: vec![format!("{prefix}celery"), format!("{prefix}empty")],
        metrics_url: Some(metrics_url),
        tls: None,
        pids: vec![("me".into(), std::process::id())],
    };
    let connected = monitor::connect(&config).await;
    let running = connected.start(Instant::now());
    some_work(stack.database_url(), stack.redis_url(), &prefix).await;
    // Two samples of every monitor (at 1 s and 2 s): a rate needs two.
    let points = |n: Option<usize>| n.is_some_and(|n| n >= 2);
    let server = finish_when(running, "take two samples each", |s| {
        points(s.postgres.as_ref().map(|p| p.points.len()))
            && points(s.redis.as_ref().map(|r| r.points.len()))
            && points(s.metrics.as_ref().map(|m| m.points.len()))
            && s.processes.len() == 2
            && s.processes.iter().all(|p| p.points.len() >= 2)
    })
    .await;
    metrics.abort();

    assert!(server.notes.is_empty(), "{:#?}", server.notes);
    let pg = server
        .postgres
        .as_ref()
        .expect("the PostgreSQL monitor ran");
    assert!(pg.points.len() >= 2, "{:?}", pg.points);
    assert!(pg.points.iter().all(|p| p.total >= p.active + p.idle));
    assert!(pg.max_connections.is_some_and(|m| m > 0));
    assert!(pg.points.iter().any(|p| p.transactions_per_s.is_some()));
    let st = pg
        .statements
        .as_ref()
        .expect("pg_stat_statements is preloaded by every stack provider");
    let probe = st
        .by_calls
        .iter()
        .find(|s| s.query.contains("monitor_probe WHERE id"))
        .unwrap_or_else(|| panic!("the probe query in the top statements: {st:#?}"));
    assert_eq!(probe.calls, 300);
    assert!(probe.mean_ms > 0.0 && probe.total_ms > 0.0);
    assert!(
        !st.by_calls
            .iter()
            .any(|s| s.query.contains("pg_stat_activity")),
        "the monitor's own statements are left out"
    );

    let rd = server.redis.as_ref().expect("the Redis monitor ran");
    assert!(rd.points.len() >= 2);
    let last = rd.points.last().unwrap();
    assert!(last.used_memory.is_some_and(|m| m > 100_000), "{last:?}");
    assert!(last.connected_clients.is_some_and(|c| c >= 1));
    assert_eq!(last.stream_length, Some(5));
    assert_eq!(
        rd.queues,
        [format!("{prefix}celery"), format!("{prefix}empty")]
    );
    assert_eq!(
        last.queues,
        [Some(3), Some(0)],
        "Celery's queue and an empty one"
    );
    assert!(
        !rd.commands.contains_key("llen"),
        "the monitor's own LLENs are left out: {:?}",
        rd.commands
    );
    assert!(
        rd.points
            .iter()
            .any(|p| p.ops_per_s.is_some_and(|o| o > 0.0))
    );
    assert!(
        rd.commands.get("get").is_some_and(|n| *n >= 20),
        "{:?}",
        rd.commands
    );
    assert_eq!(rd.commands.get("xadd"), Some(&5));
    assert!(rd.hits >= 20, "the cache reads hit: {}", rd.hits);

    let m = server.metrics.as_ref().expect("the metrics monitor ran");
    let route = &m.routes[0];
    assert_eq!(
        (route.method.as_str(), route.route.as_str()),
        ("GET", "/api/products/")
    );
    let p = route.points.last().unwrap();
    assert!((p.rps - 10.0).abs() < 3.0, "{p:?}");
    assert!(
        p.mean_ms.is_some_and(|ms| (ms - 20.0).abs() < 0.01),
        "{p:?}"
    );
    assert!(p.p95_ms.is_some_and(|ms| ms > 10.0 && ms <= 25.0), "{p:?}");
    let mp = m.points.last().unwrap();
    assert_eq!((mp.pool_in_use, mp.pool_max), (Some(3.0), Some(5.0)));

    let names: Vec<&str> = server.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["me", "loadgen"]);
    let me = &server.processes[0];
    assert!(me.points.len() >= 2 && me.max_rss() > 1_000_000);
    assert!(me.points.iter().skip(1).all(|p| p.cpu_percent.is_some()));

    stack.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_pg_stat_statements_is_a_note_not_an_error() {
    let stack = stack().await;
    // A role that may not create the extension, owning a database that lacks it.
    let (admin, connection) = tokio_postgres::connect(stack.database_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let n = std::process::id();
    for statement in [
        format!("CREATE ROLE plain_{n} LOGIN PASSWORD 'plain'"),
        format!("CREATE DATABASE bare_{n} OWNER plain_{n}"),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    let mut url: url_parts::Parts = url_parts::Parts::of(stack.database_url());
    url.user = format!("plain_{n}:plain");
    url.database = format!("bare_{n}");
    let config = Config {
        db_url: Some(url.to_string()),
        ..Config::default()
    };
    let running = monitor::connect(&config).await.start(Instant::now());
    let server = finish_when(running, "sample the connections", |s| {
        s.postgres.as_ref().is_some_and(|p| !p.points.is_empty())
    })
    .await;
    let pg = server
        .postgres
        .as_ref()
        .unwrap_or_else(|| panic!("the monitor still ran: {:#?}", server.notes));
    assert!(pg.statements.is_none());
    assert!(!pg.points.is_empty(), "connections are still sampled");
    let note = server
        .notes
        .iter()
        .find(|n| n.monitor == "postgres")
        .unwrap_or_else(|| panic!("a note on the statements: {:#?}", server.notes));
    assert!(
        note.message.contains("CREATE EXTENSION pg_stat_statements"),
        "{}",
        note.message
    );
    stack.stop().await.unwrap();
}

/// Enough of a `postgres://user:password@host:port/database` URL to swap its user and database.
mod url_parts {
    pub struct Parts {
        pub user: String,
        host: String,
        pub database: String,
    }

    impl Parts {
        pub fn of(url: &str) -> Self {
            let rest = url.strip_prefix("postgres://").unwrap();
            let (user, rest) = rest.split_once('@').unwrap();
            let (host, database) = rest.split_once('/').unwrap();
            Self {
                user: user.to_owned(),
                host: host.to_owned(),
                database: database.split('?').next().unwrap().to_owned(),
            }
        }
    }

    impl std::fmt::Display for Parts {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "postgres://{}@{}/{}",
                self.user, self.host, self.database
            )
        }
    }
}

/// The binary with every monitor flag: the run's summary.json has `server` and `findings`, the
/// HTML report its server section, and the console its diagnosis line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flags_reach_the_reports() {
    let stack = stack().await;
    let target = stub::Server::start().await;
    let (metrics_url, metrics) = metrics_server().await;
    let dir = tempfile::tempdir().unwrap();
    let pid = format!("me={}", std::process::id());
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &target.url(),
            "-f",
            &stub::scenario(dir.path(), "s.toml", stub::ROOT).to_string_lossy(),
            "-u",
            "2",
            "-t",
            "3s",
            "--json",
            "summary.json",
            "--html",
            "report.html",
            "--db-url",
            stack.database_url(),
            "--redis-url",
            stack.redis_url(),
            "--metrics-url",
            &metrics_url,
            "--pid",
            &pid,
        ],
    )
    .await;
    metrics.abort();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stdout}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Diagnosis: no finding"), "{stdout}");
    let s = summary(dir.path(), "summary.json");
    assert_eq!(s["findings"], serde_json::json!([]));
    let server = &s["server"];
    assert!(
        server["postgres"]["points"]
            .as_array()
            .is_some_and(|p| p.len() >= 2),
        "{server}"
    );
    assert!(
        server["postgres"]["statements"]["by_total_time"].is_array(),
        "{server}"
    );
    assert!(
        server["redis"]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    assert!(
        server["metrics"]["routes"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
    );
    let names: Vec<&str> = server["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["me", "loadgen"]);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for part in [
        "<h2>Diagnosis</h2>",
        "<h2>Server</h2>",
        "PostgreSQL connections",
        "Top 10 by total time",
        "Database pool",
        "CPU (% of one core",
    ] {
        assert!(html.contains(part), "{part} in the HTML report");
    }
    stack.stop().await.unwrap();
}
