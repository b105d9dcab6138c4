//! The resource rules on synthetic runs: a leak, a missing index and a database at its connection
//! limit yield their findings, the clean run and the look-alikes (a step at start-up, memory that
//! comes with new backends, a small table, a cheap statement, a database with room) do not.

use super::tests::{clean, ids, only, server};
use crate::monitor::plans::{Plan, SeqScan};

const MIB: u64 = 1024 * 1024;

#[test]
fn memory_that_grows_all_run_long_is_a_leak_named_by_its_process() {
    let mut v = clean();
    for p in &mut server(&mut v).processes[0].points {
        p.rss_bytes = 50 * MIB + p.t * 2 * MIB;
    }
    let f = only(&v, "memory-growth");
    assert!(
        f.title.starts_with("shop's memory grows 2.0 MiB/s"),
        "{}",
        f.title
    );
    assert!(f.evidence.contains("KiB per request"), "{}", f.evidence);
    assert!(f.fix.contains("--max-requests"));

    // A step while warming up, flat afterwards: not a leak.
    let mut v = clean();
    for p in &mut server(&mut v).processes[0].points {
        p.rss_bytes = if p.t < 10 { 50 * MIB } else { 200 * MIB };
    }
    assert!(!ids(&v).contains(&"memory-growth"), "{:?}", ids(&v));
    // The generator's own memory is not the target's.
    let mut v = clean();
    let loadgen = &mut server(&mut v).processes[0];
    loadgen.name = "loadgen".into();
    for p in &mut loadgen.points {
        p.rss_bytes = 50 * MIB + p.t * 2 * MIB;
    }
    assert!(ids(&v).is_empty(), "{:?}", ids(&v));
}

#[test]
fn memory_that_comes_with_new_backends_is_no_leak() {
    // A database gaining a backend every 4 s as users are stepped up, each warming its caches
    // for its first 3 s (to 6 MiB), then flat: up nearly every second, 6 MiB a process all along.
    let warmed = |t: u64| -> u64 { (1..=t / 4).map(|b| (t - b * 4 + 1).min(3) * 2 * MIB).sum() };
    let mut v = clean();
    for p in &mut server(&mut v).processes[0].points {
        p.processes = 1 + (p.t / 4) as usize;
        p.rss_bytes = 6 * MIB + warmed(p.t);
    }
    assert!(!ids(&v).contains(&"memory-growth"), "{:?}", ids(&v));
    // The same backends, each also keeping 1 MiB more every second: named.
    let mut v = clean();
    for p in &mut server(&mut v).processes[0].points {
        let processes = 1 + p.t / 4;
        p.processes = processes as usize;
        p.rss_bytes = 6 * MIB + warmed(p.t) + processes * p.t * MIB;
    }
    assert_eq!(ids(&v), ["memory-growth"]);
}

fn order_list_plan(table_rows: i64, mean_ms: f64) -> Plan {
    Plan {
        query: "SELECT id, order_number FROM orders_order WHERE user_id = $1 ORDER BY created_at \
                DESC LIMIT $2"
            .into(),
        calls: 900,
        mean_ms,
        share_percent: 70.0,
        seq_scans: vec![SeqScan {
            table: "orders_order".into(),
            table_rows,
            filter: Some("(user_id = $1)".into()),
        }],
        nodes: vec!["Limit".into(), "Sort".into(), "Seq Scan".into()],
    }
}

#[test]
fn a_sequential_scan_of_a_large_table_taking_the_time_is_a_missing_index() {
    let mut v = clean();
    server(&mut v).postgres.as_mut().unwrap().plans = vec![order_list_plan(300_000, 28.0)];
    let f = only(&v, "missing-index");
    assert!(
        f.title.contains("orders_order (300000 rows)"),
        "{}",
        f.title
    );
    assert!(f.evidence.contains("mean 28 ms"), "{}", f.evidence);
    assert!(
        f.evidence.contains("Limit > Sort > Seq Scan"),
        "{}",
        f.evidence
    );
    assert!(f.fix.contains("CREATE INDEX CONCURRENTLY ON orders_order"));

    for (rows, mean) in [(500, 28.0), (300_000, 0.5)] {
        let mut v = clean();
        server(&mut v).postgres.as_mut().unwrap().plans = vec![order_list_plan(rows, mean)];
        assert!(ids(&v).is_empty(), "{rows} rows, {mean} ms: {:?}", ids(&v));
    }
}

#[test]
fn a_database_at_its_own_connection_limit_is_named_though_the_server_has_room() {
    let mut v = clean();
    let pg = server(&mut v).postgres.as_mut().unwrap();
    pg.database_connection_limit = Some(12);
    for p in &mut pg.points {
        p.in_database = Some(if p.t > 20 { 12 } else { 4 });
    }
    let f = only(&v, "db-connections");
    assert_eq!(
        f.title,
        "connections to database \"shopload\" near its limit: 12 of 12"
    );
    assert!(
        f.evidence.contains("CONNECTION LIMIT is 12"),
        "{}",
        f.evidence
    );
    assert!(
        f.evidence.contains("max_connections = 100"),
        "{}",
        f.evidence
    );
    assert!(f.fix.starts_with("PgBouncer"), "{}", f.fix);

    // Below 90 % of the limit (PgBouncer's pool in front): nothing.
    let pg = server(&mut v).postgres.as_mut().unwrap();
    for p in &mut pg.points {
        p.in_database = Some(8);
    }
    assert!(ids(&v).is_empty(), "{:?}", ids(&v));
}
