//! Each rule on synthetic runs: the fault's numbers yield its finding, a clean run yields none.

use std::collections::BTreeMap;

use super::{rules::shop::is_list, *};
use crate::monitor::{Server, metrics, postgres, process, redis};

const SECONDS: u64 = 120;

fn endpoint(method: &str, name: &str, requests: u64, mean_ms: f64) -> Endpoint {
    Endpoint {
        method: method.into(),
        name: name.into(),
        requests,
        p50_ms: Some(mean_ms * 0.9),
        p95_ms: Some(mean_ms * 2.0),
        mean_ms: Some(mean_ms),
        p95_by_second: vec![Some(mean_ms * 2.0); SECONDS as usize],
        ..Endpoint::default()
    }
}

fn statement(query: &str, calls: u64, mean_ms: f64) -> postgres::Statement {
    postgres::Statement {
        query: query.into(),
        calls,
        total_ms: calls as f64 * mean_ms,
        mean_ms,
        rows: calls,
    }
}

fn metrics_point(t: u64, in_use: f64, backlog: f64) -> metrics::Point {
    metrics::Point {
        t,
        pool_in_use: Some(in_use),
        pool_idle: Some(20.0 - in_use),
        pool_max: Some(20.0),
        pool_waiting: None,
        jobs_backlog: Some(backlog),
        jobs_in_progress: Some(0.0),
        jobs_processed_per_s: Some(1.6),
        ..Default::default()
    }
}

/// A clean smoke run of the shop scenario with every monitor on.
pub(super) fn clean() -> View {
    let endpoints = vec![
        endpoint("POST", "/api/auth/login/", 10, 350.0),
        endpoint("GET", "/api/products/", 500, 12.0),
        endpoint("GET", "/api/products/[id]/", 300, 4.0),
        endpoint("POST", "/api/cart/items/", 200, 8.0),
        endpoint("POST", "/api/orders/", 200, 20.0),
        endpoint("POST", "/api/payments/confirm/", 100, 60.0),
    ];
    let requests = endpoints.iter().map(|e| e.requests).sum();
    let by_calls = vec![
        statement(
            "SELECT id, username FROM auth_user WHERE id = $1",
            1300,
            0.05,
        ),
        statement(
            "SELECT count(*) FROM products_product p WHERE true",
            510,
            0.3,
        ),
        statement("SELECT ... FROM products_product p LEFT JOIN ...", 510, 0.8),
    ];
    let server = Server {
        postgres: Some(postgres::Data {
            database: "shopload".into(),
            server_version: "15".into(),
            max_connections: Some(100),
            database_connection_limit: None,
            points: (1..=SECONDS)
                .map(|t| postgres::Point {
                    t,
                    active: 1,
                    idle: 19,
                    idle_in_transaction: 0,
                    total: 21,
                    lock_waiting: 0,
                    locks_not_granted: 0,
                    transactions_per_s: Some(20.0),
                    in_database: None,
                })
                .collect(),
            statements: Some(postgres::Statements {
                by_total_time: by_calls.clone(),
                by_mean_time: by_calls.clone(),
                calls: 4000,
                total_ms: 1500.0,
                distinct: 40,
                by_calls,
            }),
            plans: Vec::new(),
        }),
        redis: Some(redis::Data {
            version: Some("7.0".into()),
            maxmemory: None,
            stream: "shop:jobs".into(),
            group: "workers".into(),
            queues: vec!["celery".into()],
            points: (1..=SECONDS)
                .map(|t| redis::Point {
                    t,
                    used_memory: Some(1_000_000),
                    connected_clients: Some(5),
                    ops_per_s: Some(30.0),
                    hits_per_s: Some(2.0),
                    misses_per_s: Some(0.0),
                    hit_ratio: Some(1.0),
                    stream_length: Some(t % 3),
                    pending: Some(0),
                    lag: Some(0),
                    queues: vec![Some(t % 2)],
                })
                .collect(),
            hits: 240,
            misses: 0,
            commands: BTreeMap::from([("xadd".into(), 200), ("xreadgroup".into(), 120)]),
        }),
        metrics: Some(metrics::Data {
            url: "http://127.0.0.1:8000/metrics".into(),
            routes: Vec::new(),
            points: (1..=SECONDS)
                .map(|t| metrics_point(t, (t % 3) as f64, (t % 4) as f64))
                .collect(),
            jobs_processed: Some(200),
            ..Default::default()
        }),
        processes: vec![process::Data {
            name: "shop".into(),
            pid: 1,
            cores: 2,
            points: (1..=SECONDS)
                .map(|t| process::Point {
                    t,
                    cpu_percent: Some(40.0),
                    rss_bytes: 50_000_000,
                    processes: 1,
                })
                .collect(),
            gone: false,
        }],
        notes: Vec::new(),
    };
    View {
        duration_s: SECONDS as f64,
        start_unix: 1_700_000_000,
        peak_users: 10,
        mean_users: 9.0,
        requests,
        endpoints,
        failures: Vec::new(),
        relogins: 0,
        login: Some("POST /api/auth/login/".into()),
        refresh: Some("POST /api/auth/refresh/".into()),
        saturation: None,
        server: Some(server),
    }
}

pub(super) fn ids(v: &View) -> Vec<&'static str> {
    diagnose(v).into_iter().map(|f| f.id.as_str()).collect()
}

pub(super) fn only(v: &View, id: &str) -> Finding {
    let found = diagnose(v);
    assert_eq!(
        found.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec![id],
        "{found:#?}"
    );
    found.into_iter().next().unwrap()
}

pub(super) fn server(v: &mut View) -> &mut Server {
    v.server.as_mut().unwrap()
}

fn failure(method: &str, name: &str, status: u16, n: u64, first_s: f64, example: &str) -> Failure {
    Failure {
        method: method.into(),
        name: name.into(),
        error: format!("HTTPError('{status} Client Error: x for url: {name}')"),
        status: Some(status),
        occurrences: n,
        first_s,
        example: Some(example.into()),
    }
}

#[test]
fn a_clean_run_has_no_finding() {
    assert_eq!(ids(&clean()), Vec::<&str>::new());
    let mut no_server = clean();
    no_server.server = None;
    assert_eq!(ids(&no_server), Vec::<&str>::new());
}

#[test]
fn cart_405_names_the_allowed_methods() {
    let mut v = clean();
    v.endpoints[3].failures = 200;
    v.failures.push(failure(
        "POST",
        "/api/cart/items/",
        405,
        200,
        1.0,
        "405 Method Not Allowed · Allow: GET, HEAD, OPTIONS · {\"detail\":\"Method \\\"POST\\\" not allowed.\"}",
    ));
    let f = only(&v, "method-not-allowed");
    assert_eq!(
        f.title,
        "POST /api/cart/items/ 405 Allow: GET, HEAD, OPTIONS: the route has no create"
    );
    assert!(
        f.evidence.contains("200 of 200 requests (100 %)"),
        "{}",
        f.evidence
    );
}

#[test]
fn late_401s_are_token_expiry_and_early_ones_missing_users() {
    let mut v = clean();
    v.failures.push(failure(
        "GET",
        "/api/products/",
        401,
        30,
        300.0,
        "401 Unauthorized",
    ));
    v.failures.push(failure(
        "POST",
        "/api/orders/",
        401,
        10,
        301.0,
        "401 Unauthorized",
    ));
    v.relogins = 40;
    let f = only(&v, "token-expiry");
    assert!(f.title.contains("all after 300 s"), "{}", f.title);
    assert!(f.evidence.contains("re-logins after a 401: 40"));

    let mut v = clean();
    v.failures.push(failure(
        "GET",
        "/api/products/",
        401,
        30,
        0.0,
        "401 Unauthorized",
    ));
    only(&v, "unauthorized");

    // 5-second tokens: the first 401 five seconds in, on an endpoint that worked before it.
    let mut v = clean();
    v.endpoints.push(endpoint("GET", "/api/cart/", 100, 5.0));
    v.failures.push(failure(
        "GET",
        "/api/cart/",
        401,
        66,
        5.0,
        "401 Unauthorized",
    ));
    only(&v, "token-expiry");

    // Every request of the endpoint refused, the first a few seconds in (users started late):
    // the credentials never worked.
    let mut v = clean();
    let mut cart = endpoint("GET", "/api/cart/", 66, 5.0);
    cart.failures = 66;
    v.endpoints.push(cart);
    v.failures.push(failure(
        "GET",
        "/api/cart/",
        401,
        66,
        5.0,
        "401 Unauthorized",
    ));
    only(&v, "unauthorized");
}

#[test]
fn frequent_refreshes_are_short_tokens() {
    let mut v = clean();
    // 10 users refreshing every 27 s for 120 s.
    v.endpoints
        .push(endpoint("POST", "/api/auth/refresh/", 40, 3.0));
    let f = only(&v, "short-token");
    assert!(
        f.title.contains("every user refreshed every 27 s"),
        "{}",
        f.title
    );
    // A 30-minute soak with 5-minute tokens refreshes every 270 s: nothing to say.
    let mut v = clean();
    v.duration_s = 1800.0;
    v.endpoints
        .push(endpoint("POST", "/api/auth/refresh/", 60, 3.0));
    assert_eq!(ids(&v), Vec::<&str>::new());
}

#[test]
fn a_reserve_that_always_fails_is_the_serializer_bug() {
    let mut v = clean();
    v.endpoints.push(endpoint(
        "POST",
        "/api/products/[id]/stock/reserve/",
        50,
        5.0,
    ));
    v.failures.push(failure(
        "POST",
        "/api/products/[id]/stock/reserve/",
        500,
        50,
        2.0,
        "500 Internal Server Error · <h1>Server Error (500)</h1>",
    ));
    let f = only(&v, "reservation-serializer");
    assert!(f.evidence.contains("50 of 50 requests"), "{}", f.evidence);
    assert!(f.fix.contains("ReservationResult"));
}

#[test]
fn scattered_5xx_are_server_errors() {
    let mut v = clean();
    v.failures.push(failure(
        "POST",
        "/api/orders/",
        500,
        12,
        40.0,
        "500 Internal Server Error",
    ));
    let f = only(&v, "server-errors");
    assert!(
        f.evidence.contains("POST /api/orders/ 12"),
        "{}",
        f.evidence
    );
}

#[test]
fn a_full_pool_with_rising_latency_is_pool_saturation() {
    let mut v = clean();
    let m = server(&mut v).metrics.as_mut().unwrap();
    for p in m.points.iter_mut().skip(30) {
        p.pool_max = Some(5.0);
        p.pool_in_use = Some(5.0);
        p.pool_idle = Some(0.0);
        p.pool_waiting = Some(37.0);
    }
    for e in &mut v.endpoints {
        for p in e.p95_by_second.iter_mut().skip(30) {
            *p = Some(840.0);
        }
    }
    let f = only(&v, "pool-saturated");
    assert!(
        f.title.starts_with("DB pool saturated from 22:13:51 UTC"),
        "{}",
        f.title
    );
    assert!(f.evidence.contains("waiting"), "{}", f.evidence);
    assert!(
        f.evidence.contains("GET /api/products/ 24 ms → 840 ms"),
        "{}",
        f.evidence
    );
    // A pool full for one second is not saturation.
    let mut v = clean();
    server(&mut v).metrics.as_mut().unwrap().points[5].pool_in_use = Some(20.0);
    assert_eq!(ids(&v), Vec::<&str>::new());
}

#[test]
fn many_connections_are_reported() {
    let mut v = clean();
    server(&mut v).postgres.as_mut().unwrap().points[50].total = 97;
    only(&v, "db-connections");
}

#[test]
fn one_statement_per_row_is_n_plus_one() {
    let mut v = clean();
    v.endpoints[1].mean_ms = Some(42.0);
    v.endpoints[1].p95_ms = Some(84.0);
    let st = server(&mut v)
        .postgres
        .as_mut()
        .unwrap()
        .statements
        .as_mut()
        .unwrap();
    st.by_calls.insert(
        0,
        statement(
            "SELECT name FROM products_category WHERE id = $1",
            10_000,
            0.05,
        ),
    );
    st.by_calls.insert(
        1,
        statement(
            "SELECT available_stock, physical_stock, reserved_stock FROM products_productstock WHERE product_id = $1",
            10_000,
            0.05,
        ),
    );
    let f = only(&v, "n-plus-one");
    assert_eq!(
        f.title,
        "GET /api/products/ p95 84 ms; 40 queries per request (N+1)"
    );
    assert!(
        f.evidence
            .contains("20.0 per request of GET /api/products/"),
        "{}",
        f.evidence
    );
}

#[test]
fn anonymous_reads_without_cache_gets_are_no_cache() {
    let mut v = clean();
    for e in &mut v.endpoints[1..3] {
        e.anonymous = true;
    }
    // With the cache: two GETs per list request.
    server(&mut v)
        .redis
        .as_mut()
        .unwrap()
        .commands
        .insert("get".into(), 1000);
    assert_eq!(ids(&v), Vec::<&str>::new());
    server(&mut v)
        .redis
        .as_mut()
        .unwrap()
        .commands
        .remove("get");
    let f = only(&v, "no-cache");
    assert!(
        f.title.starts_with("GET /api/products/ is not cached"),
        "{}",
        f.title
    );
    // Reads that never reached the database were answered from memory: no cache is missing.
    let mut quiet_db = v.clone();
    let st = server(&mut quiet_db).postgres.as_mut().unwrap();
    st.statements.as_mut().unwrap().calls = 10;
    assert_eq!(ids(&quiet_db), Vec::<&str>::new());
    // Logged-in reads are never cached by design: no finding.
    let mut v = clean();
    server(&mut v)
        .redis
        .as_mut()
        .unwrap()
        .commands
        .remove("get");
    assert_eq!(ids(&v), Vec::<&str>::new());
}

#[test]
fn lists_are_told_from_details() {
    assert!(is_list("/api/products/"));
    assert!(is_list("/api/products/?search="));
    assert!(!is_list("/api/products/[id]/"));
    assert!(!is_list("/api/products/42/"));
    assert!(!is_list("/"));
}

#[test]
fn slow_confirms_without_jobs_are_inline_jobs() {
    let mut v = clean();
    v.endpoints[5].p50_ms = Some(420.0);
    {
        let s = server(&mut v);
        s.redis.as_mut().unwrap().commands.remove("xadd");
        s.metrics.as_mut().unwrap().jobs_processed = Some(0);
    }
    let f = only(&v, "inline-jobs");
    assert!(f.evidence.contains("received 0 jobs"), "{}", f.evidence);
    // Jobs queued as they should be: a slow confirm is something else.
    let mut v = clean();
    v.endpoints[5].p50_ms = Some(420.0);
    assert_eq!(ids(&v), Vec::<&str>::new());
}

#[test]
fn a_growing_backlog_is_reported_with_its_rate() {
    let mut v = clean();
    for p in &mut server(&mut v).metrics.as_mut().unwrap().points {
        p.jobs_backlog = Some(p.t as f64 * 40.0);
    }
    let f = only(&v, "job-backlog");
    assert!(f.title.starts_with("job backlog grows 40/s"), "{}", f.title);
    // Without /metrics the stream's length tells the same.
    let mut v = clean();
    server(&mut v).metrics = None;
    for p in &mut server(&mut v).redis.as_mut().unwrap().points {
        p.stream_length = Some(p.t * 40);
    }
    only(&v, "job-backlog");
    // A Django shop's Celery queue (a Redis list) piling up is named as such.
    let mut v = clean();
    for p in &mut server(&mut v).redis.as_mut().unwrap().points {
        p.queues = vec![Some(p.t * 25)];
    }
    let f = only(&v, "job-backlog");
    let said = format!("{} / {}", f.title, f.evidence);
    assert!(
        said.starts_with("Celery queue celery backlog grows 25/s"),
        "{said}"
    );
}

#[test]
fn slow_logins_at_full_cpu_are_a_login_storm() {
    let mut v = clean();
    v.peak_users = 1000;
    v.endpoints[0].requests = 1000;
    v.endpoints[0].p50_ms = Some(1400.0);
    for p in &mut server(&mut v).processes[0].points {
        p.cpu_percent = Some(199.0);
    }
    let f = only(&v, "login-storm");
    assert!(
        f.title.contains("p50 1.40 s with shop's CPU at 199 %"),
        "{}",
        f.title
    );
    // The shop short of the whole machine, which loadgen and the database fill with it.
    let mut v = clean();
    v.peak_users = 500;
    v.endpoints[0].requests = 414;
    v.endpoints[0].p50_ms = Some(23_000.0);
    let mut loadgen = server(&mut v).processes[0].clone();
    loadgen.name = "loadgen".into();
    for (shop, generator) in server(&mut v).processes[0]
        .points
        .iter_mut()
        .zip(&mut loadgen.points)
    {
        shop.cpu_percent = Some(150.0);
        generator.cpu_percent = Some(40.0);
    }
    server(&mut v).processes.push(loadgen);
    let f = only(&v, "login-storm");
    assert!(
        f.title
            .contains("with shop's CPU at 150 % and the machine's at 190 % (2 cores)"),
        "{}",
        f.title
    );
    // A shop at 150 % with the rest idle is not CPU-bound.
    let mut v = clean();
    v.peak_users = 100;
    v.endpoints[0].requests = 100;
    v.endpoints[0].p50_ms = Some(1400.0);
    for p in &mut server(&mut v).processes[0].points {
        p.cpu_percent = Some(150.0);
    }
    assert!(ids(&v).is_empty(), "{:?}", ids(&v));
    // Logging in again and again is a storm too, whatever the CPU data.
    let mut v = clean();
    v.endpoints[0].requests = 400;
    v.endpoints[0].p50_ms = Some(700.0);
    v.server = None;
    only(&v, "login-storm");
}

#[test]
fn a_saturated_generator_is_said_first() {
    let mut v = clean();
    v.saturation = Some("the load generator was saturated: ...".into());
    v.failures
        .push(failure("POST", "/api/orders/", 500, 12, 40.0, "500"));
    assert_eq!(ids(&v), vec!["generator-saturated", "server-errors"]);
}

#[test]
fn redis_near_maxmemory_is_reported() {
    let mut v = clean();
    server(&mut v).redis.as_mut().unwrap().maxmemory = Some(1_050_000);
    only(&v, "redis-memory");
}
