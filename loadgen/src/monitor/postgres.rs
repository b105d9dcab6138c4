//! PostgreSQL (`--db-url`), over one connection named `loadgen-monitor`: each second one query
//! over `pg_stat_activity`, `pg_locks` and `pg_stat_database` (connections by state, sessions
//! waiting on a lock, ungranted locks, transactions per second); at the start and the end a
//! snapshot of `pg_stat_statements` for this database, whose difference is the run's statements
//! (nothing is reset: the server's statistics are left as they were). The top ten by total time,
//! by mean time and by calls go to the report.
//!
//! Without `pg_stat_statements` the run goes on: if the library is preloaded but the extension is
//! not created, the monitor creates it (when it has the right); otherwise a note says how to
//! enable it.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use tokio_postgres::{Client, NoTls};

use super::{CONNECT_TIMEOUT, Monitor, Note};

/// Statements kept in each top list.
pub const TOP: usize = 10;

/// How to turn the statistics on, for the note when they are off.
pub const ENABLE_STATEMENTS: &str = "add shared_preload_libraries = 'pg_stat_statements' to \
     postgresql.conf (docker: `-c shared_preload_libraries=pg_stat_statements`), restart \
     PostgreSQL, then run `CREATE EXTENSION pg_stat_statements;` in the database as a superuser";

#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Point {
    pub t: u64,
    pub active: i64,
    pub idle: i64,
    pub idle_in_transaction: i64,
    /// Every client connection, whatever its state.
    pub total: i64,
    /// Sessions waiting for a lock (`wait_event_type = 'Lock'`).
    pub lock_waiting: i64,
    /// Locks not granted (`pg_locks`).
    pub locks_not_granted: i64,
    /// Commits and rollbacks in this database per second.
    pub transactions_per_s: Option<f64>,
    /// Client connections to this database, the monitor's own included: what its `CONNECTION
    /// LIMIT` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_database: Option<i64>,
}

/// A statement's work during the run.
#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Statement {
    pub query: String,
    pub calls: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Statements {
    pub by_total_time: Vec<Statement>,
    pub by_mean_time: Vec<Statement>,
    pub by_calls: Vec<Statement>,
    /// All statements' calls and time during the run.
    pub calls: u64,
    pub total_ms: f64,
    /// Distinct statements that ran.
    pub distinct: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    pub database: String,
    pub server_version: String,
    pub max_connections: Option<i64>,
    /// This database's own `CONNECTION LIMIT` (`ALTER DATABASE ... CONNECTION LIMIT n`), when it
    /// has one: it refuses all but superusers beyond it, whatever `max_connections` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_connection_limit: Option<i64>,
    pub points: Vec<Point>,
    /// None when `pg_stat_statements` could not be read (the notes say why).
    pub statements: Option<Statements>,
    /// How the top statements by total time are planned (read at the end of the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<super::plans::Plan>,
}

/// Cumulative counters of one statement (`pg_stat_statements` may split one query id across
/// `toplevel`; they are added up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub query: String,
    pub calls: u64,
    pub total_ms: f64,
    pub rows: u64,
}

pub type Snapshot = HashMap<(u32, i64), Counters>;

/// The run's statements: `end - start` by (user, query id), the monitor's own left out.
pub fn difference(start: &Snapshot, end: &Snapshot) -> Statements {
    let mut ran: Vec<Statement> = end
        .iter()
        .filter_map(|(key, now)| {
            let before = start.get(key);
            let calls = now.calls.saturating_sub(before.map_or(0, |b| b.calls));
            // An entry evicted and re-created mid-run restarts from zero: its counts are since then.
            let (calls, total_ms, rows) = match before {
                Some(b) if now.calls >= b.calls => (
                    calls,
                    (now.total_ms - b.total_ms).max(0.0),
                    now.rows.saturating_sub(b.rows),
                ),
                _ => (now.calls, now.total_ms, now.rows),
            };
            (calls > 0 && !is_monitoring(&now.query)).then(|| Statement {
                query: now.query.clone(),
                calls,
                total_ms,
                mean_ms: total_ms / calls as f64,
                rows,
            })
        })
        .collect();
    let calls = ran.iter().map(|s| s.calls).sum();
    let total_ms = ran.iter().map(|s| s.total_ms).sum();
    let distinct = ran.len();
    let top = |ran: &mut Vec<Statement>, key: &dyn Fn(&Statement) -> f64| {
        ran.sort_by(|a, b| key(b).total_cmp(&key(a)));
        ran.iter().take(TOP).cloned().collect::<Vec<_>>()
    };
    Statements {
        by_total_time: top(&mut ran, &|s| s.total_ms),
        by_mean_time: top(&mut ran, &|s| s.mean_ms),
        by_calls: top(&mut ran, &|s| s.calls as f64),
        calls,
        total_ms,
        distinct,
    }
}

/// The monitor's own statements (and other tools' reads of the statistics views).
fn is_monitoring(query: &str) -> bool {
    let q = query.to_ascii_lowercase();
    [
        "pg_stat_activity",
        "pg_stat_statements",
        "pg_locks",
        "pg_stat_database",
    ]
    .iter()
    .any(|v| q.contains(v))
}

const SAMPLE: &str = "SELECT \
     count(*) FILTER (WHERE a.state = 'active'), \
     count(*) FILTER (WHERE a.state = 'idle'), \
     count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'), \
     count(*), \
     count(*) FILTER (WHERE a.wait_event_type = 'Lock'), \
     (SELECT count(*) FROM pg_locks WHERE NOT granted), \
     (SELECT (xact_commit + xact_rollback)::float8 FROM pg_stat_database WHERE datname = current_database()), \
     (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend') \
     FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()";

pub struct Postgres {
    client: Client,
    database: String,
    server_version: String,
    max_connections: Option<i64>,
    database_connection_limit: Option<i64>,
    /// `total_exec_time` (13+) or `total_time` (older); None when the statements cannot be read.
    time_column: Option<&'static str>,
    start: Snapshot,
    points: Vec<Point>,
    transactions: Option<(f64, Instant)>,
    notes: Vec<Note>,
    /// For a live view (the web UI): read the statements every this many seconds, so the
    /// findings that need them can fire during the run. None: once, at the end.
    pub(super) statements_every: Option<u64>,
    live_statements: Option<Statements>,
}

impl Postgres {
    /// Connects, reads the server's facts and the statements' start snapshot.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(url))
            .await
            .map_err(|_| anyhow::anyhow!("PostgreSQL did not answer within {CONNECT_TIMEOUT:?}"))?
    }

    async fn connect_inner(url: &str) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| "--db-url is not a PostgreSQL URL")?;
        // Named, so a reader of pg_stat_activity knows this connection is the monitor's.
        config.application_name("loadgen-monitor");
        let (client, connection) = config
            .connect(NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "the PostgreSQL monitor's connection ended");
            }
        });
        let row = client
            .query_one(
                "SELECT current_database()::text, current_setting('server_version'), \
                 current_setting('server_version_num')::int, \
                 current_setting('max_connections')::int8, \
                 (SELECT datconnlimit::int8 FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .context("reading the server's settings")?;
        let database: String = row.try_get(0)?;
        let server_version: String = row.try_get(1)?;
        let version_num: i32 = row.try_get(2)?;
        let max_connections: Option<i64> = row.try_get(3).ok();
        // -1 is "no limit".
        let database_connection_limit = row
            .try_get::<_, Option<i64>>(4)
            .ok()
            .flatten()
            .filter(|l| *l >= 0);
        // Only superusers (and pg_read_all_settings) may read it: None is "could not tell".
        let preload: Option<String> = client
            .query_one("SELECT current_setting('shared_preload_libraries')", &[])
            .await
            .and_then(|r| r.try_get(0))
            .ok();
        let mut m = Self {
            client,
            database,
            server_version,
            max_connections,
            database_connection_limit,
            time_column: None,
            start: Snapshot::new(),
            points: Vec::new(),
            statements_every: None,
            live_statements: None,
            transactions: None,
            notes: Vec::new(),
        };
        let column = if version_num >= 130_000 {
            "total_exec_time"
        } else {
            "total_time"
        };
        match m.enable_statements(preload.as_deref()).await {
            Ok(()) => {
                m.time_column = Some(column);
                match m.snapshot().await {
                    Ok(s) => m.start = s,
                    Err(e) => {
                        m.time_column = None;
                        m.note(format!(
                            "pg_stat_statements could not be read: {e:#}; {ENABLE_STATEMENTS}"
                        ));
                    }
                }
            }
            Err(why) => m.note(why),
        }
        Ok(m)
    }

    fn note(&mut self, message: String) {
        tracing::warn!(monitor = "postgres", "{message}");
        self.notes.push(Note {
            monitor: "postgres",
            message,
        });
    }

    /// Makes sure `pg_stat_statements` can be read; Err is the note to show.
    async fn enable_statements(&self, preload: Option<&str>) -> Result<(), String> {
        let installed: bool = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
                &[],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| format!("checking for pg_stat_statements: {e}"))?;
        if installed {
            // Reading it (the start snapshot) tells whether the library is loaded too.
            return Ok(());
        }
        if let Some(preload) = preload
            && !preload
                .split(',')
                .any(|l| l.trim().trim_matches('"') == "pg_stat_statements")
        {
            return Err(format!(
                "pg_stat_statements is not loaded (shared_preload_libraries = {preload:?}): no \
                 slow or frequent statements in this report; to enable it, {ENABLE_STATEMENTS}"
            ));
        }
        // Loaded (or not known) but not created in this database: creating it changes no data,
        // it only adds the view.
        if let Err(e) = self
            .client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
        {
            return Err(format!(
                "pg_stat_statements is not created in database {:?}, and the monitor may not \
                 create it ({}): no slow or frequent statements in this report; run `CREATE \
                 EXTENSION pg_stat_statements;` there as a superuser (the library must also be \
                 in shared_preload_libraries)",
                self.database,
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned())
            ));
        }
        tracing::info!(database = %self.database, "created the pg_stat_statements extension");
        Ok(())
    }

    async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let Some(column) = self.time_column else {
            return Ok(Snapshot::new());
        };
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT userid, coalesce(queryid, 0), calls, {column}, rows, coalesce(query, '') \
                     FROM pg_stat_statements \
                     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                &[],
            )
            .await
            .context("reading pg_stat_statements")?;
        let mut snapshot = Snapshot::with_capacity(rows.len());
        for row in rows {
            let user: u32 = row.try_get(0)?;
            let id: i64 = row.try_get(1)?;
            let calls: i64 = row.try_get(2)?;
            let total_ms: f64 = row.try_get(3)?;
            let rows_done: i64 = row.try_get(4)?;
            let query: String = row.try_get(5)?;
            let c = snapshot.entry((user, id)).or_insert_with(|| Counters {
                query,
                ..Counters::default()
            });
            c.calls += calls.max(0) as u64;
            c.total_ms += total_ms;
            c.rows += rows_done.max(0) as u64;
        }
        Ok(snapshot)
    }

    /// One sample (second `t`).
    pub async fn sample_now(&mut self, t: u64) {
        let row = match self.client.query_one(SAMPLE, &[]).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "PostgreSQL sample failed");
                return;
            }
        };
        let get = |i: usize| row.try_get::<_, i64>(i).unwrap_or(0);
        let xacts: Option<f64> = row.try_get(6).ok().flatten();
        let now = Instant::now();
        let transactions_per_s = xacts.and_then(|x| super::rate(self.transactions, x, now));
        if let Some(x) = xacts {
            self.transactions = Some((x, now));
        }
        self.points.push(Point {
            t,
            active: get(0),
            idle: get(1),
            idle_in_transaction: get(2),
            total: get(3),
            lock_waiting: get(4),
            locks_not_granted: get(5),
            transactions_per_s,
            in_database: row.try_get(7).ok(),
        });
        if self.time_column.is_some()
            && self
                .statements_every
                .is_some_and(|every| every > 0 && t.is_multiple_of(every))
            && let Ok(now) = self.snapshot().await
        {
            self.live_statements = Some(difference(&self.start, &now));
        }
    }

    /// The end of the run: the statements' end snapshot, differenced with the start.
    pub async fn finish_now(mut self) -> (Data, Vec<Note>) {
        let statements = if self.time_column.is_some() {
            match self.snapshot().await {
                Ok(end) => Some(difference(&self.start, &end)),
                Err(e) => {
                    self.note(format!("pg_stat_statements at the end of the run: {e:#}"));
                    None
                }
            }
        } else {
            None
        };
        let plans = match &statements {
            Some(s) => super::plans::explain_top(&self.client, &s.by_total_time, s.total_ms).await,
            None => Vec::new(),
        };
        (
            Data {
                database: self.database,
                server_version: self.server_version,
                max_connections: self.max_connections,
                database_connection_limit: self.database_connection_limit,
                points: self.points,
                statements,
                plans,
            },
            self.notes,
        )
    }
}

impl Monitor for Postgres {
    type Data = Data;

    /// The points, and the statements when a live view asked for them; the plans are read once,
    /// at the end.
    fn so_far(&self) -> Data {
        Data {
            database: self.database.clone(),
            server_version: self.server_version.clone(),
            max_connections: self.max_connections,
            database_connection_limit: self.database_connection_limit,
            points: self.points.clone(),
            statements: self.live_statements.clone(),
            plans: Vec::new(),
        }
    }

    fn publish(data: Data, server: &mut super::Server) {
        server.postgres = Some(data);
    }

    async fn sample(&mut self, t: u64) {
        self.sample_now(t).await;
    }

    async fn finish(self) -> (Data, Vec<Note>) {
        self.finish_now().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(query: &str, calls: u64, total_ms: f64) -> Counters {
        Counters {
            query: query.to_owned(),
            calls,
            total_ms,
            rows: calls,
        }
    }

    #[test]
    fn the_run_is_the_difference_of_two_snapshots() {
        let start: Snapshot = [
            ((10, 1), counters("SELECT a", 100, 50.0)),
            ((10, 2), counters("SELECT b", 5, 5.0)),
            ((10, 9), counters("SELECT * FROM pg_stat_activity", 5, 5.0)),
        ]
        .into_iter()
        .collect();
        let end: Snapshot = [
            ((10, 1), counters("SELECT a", 1100, 550.0)),
            ((10, 2), counters("SELECT b", 5, 5.0)),
            ((10, 3), counters("SELECT slow", 2, 400.0)),
            (
                (10, 9),
                counters("SELECT * FROM pg_stat_activity", 50, 50.0),
            ),
        ]
        .into_iter()
        .collect();
        let s = difference(&start, &end);
        assert_eq!(
            s.distinct, 2,
            "b did not run; the monitor's own is left out"
        );
        assert_eq!(s.calls, 1002);
        assert_eq!(s.by_total_time[0].query, "SELECT a");
        assert_eq!(s.by_total_time[0].total_ms, 500.0);
        assert_eq!(s.by_mean_time[0].query, "SELECT slow");
        assert_eq!(s.by_mean_time[0].mean_ms, 200.0);
        assert_eq!(s.by_calls[0].calls, 1000);
    }

    #[test]
    fn an_evicted_entry_counts_from_its_return() {
        let start: Snapshot = [((1, 1), counters("q", 100, 10.0))].into_iter().collect();
        let end: Snapshot = [((1, 1), counters("q", 7, 1.0))].into_iter().collect();
        let s = difference(&start, &end);
        assert_eq!(s.calls, 7);
    }
}
