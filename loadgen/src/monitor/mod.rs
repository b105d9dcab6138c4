//! The server side of a run, watched while the load goes: PostgreSQL (`--db-url`), Redis
//! (`--redis-url`), the shop's Prometheus `/metrics` (`--metrics-url`) and processes (`--pid`).
//! Each monitor is enabled by its flag, holds one connection, samples once a second on its own
//! task into a time series whose `t` is the same second as the client's series (so the report
//! draws both on one axis), and never fails the run: a monitor that cannot connect or read leaves
//! a note in the report instead.

mod exposition;
pub mod metrics;
pub mod plans;
pub mod postgres;
pub mod process;
pub mod redis;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A sample that takes longer than this is abandoned: a server too busy to answer within the
/// second leaves a gap in the chart rather than a pile of late samples.
const SAMPLE_TIMEOUT: Duration = Duration::from_millis(900);
/// How long connecting (and the start-of-run snapshot) may take before a monitor gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to watch; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `postgres://user:password@host:port/database` of the shop's database.
    pub db_url: Option<String>,
    /// `redis://host:port` of the shop's Redis.
    pub redis_url: Option<String>,
    /// The job stream's key and consumer group.
    pub redis_stream: String,
    pub redis_group: String,
    /// Celery queues (Redis lists) whose length is followed.
    pub celery_queues: Vec<String>,
    /// The shop's Prometheus endpoint, `http://host:port/metrics` (or `https://`).
    pub metrics_url: Option<String>,
    /// The TLS client for an `https` metrics URL (the run's, so `--ca-cert` and `--insecure`
    /// apply to it too).
    pub tls: Option<crate::client::tls::Tls>,
    /// Processes by name (`shop`, `postgres`, ...); loadgen itself is always added.
    pub pids: Vec<(String, u32)>,
}

impl Config {
    /// True when no monitor was asked for: the run then has no server section at all.
    pub fn is_empty(&self) -> bool {
        self.db_url.is_none()
            && self.redis_url.is_none()
            && self.metrics_url.is_none()
            && self.pids.is_empty()
    }
}

/// Parses `--pid NAME=PID` (or a bare `PID`, named after its program).
pub fn parse_pid(text: &str) -> anyhow::Result<(String, u32)> {
    let (name, pid) = match text.split_once('=') {
        Some((name, pid)) => (Some(name.trim().to_owned()), pid.trim()),
        None => (None, text.trim()),
    };
    let pid: u32 = pid
        .parse()
        .map_err(|_| anyhow::anyhow!("--pid {text:?}: write NAME=PID, e.g. shop=1234"))?;
    let name = name
        .filter(|n| !n.is_empty())
        .or_else(|| process::program_name(pid))
        .unwrap_or_else(|| format!("pid {pid}"));
    Ok((name, pid))
}

/// Why a part of the server side is missing or incomplete, and what to do about it.
#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Note {
    /// `postgres`, `redis`, `metrics`, `process`.
    #[serde(deserialize_with = "monitor_name")]
    pub monitor: MonitorName,
    pub message: String,
}

/// Spelt as an alias so serde does not borrow the name from its input (it would for a bare
/// `&str`): a note read back from a file outlives the file's text.
pub type MonitorName = &'static str;

/// The monitors' names are a closed set, so a note read back from summary.json keeps its
/// `&'static str` without leaking: an unknown name is an error, not a guess.
fn monitor_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    const NAMES: [&str; 4] = ["postgres", "redis", "metrics", "process"];
    let name = <String as serde::Deserialize>::deserialize(d)?;
    NAMES
        .into_iter()
        .find(|n| *n == name)
        .ok_or_else(|| serde::de::Error::unknown_variant(&name, &NAMES))
}

/// Everything the monitors saw, for the report and the diagnosis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Server {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<postgres::Data>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<redis::Data>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<metrics::Data>,
    pub processes: Vec<process::Data>,
    pub notes: Vec<Note>,
}

impl Server {
    /// The job backlog each second: the application's own gauge (the shop's `/metrics`), else the
    /// length of the job stream Redis holds; empty when neither was followed.
    pub fn job_backlog(&self) -> Vec<(u64, f64)> {
        let from_metrics: Vec<(u64, f64)> = self
            .metrics
            .iter()
            .flat_map(|m| &m.points)
            .filter_map(|p| Some((p.t, p.jobs_backlog?)))
            .collect();
        if !from_metrics.is_empty() {
            return from_metrics;
        }
        self.redis
            .iter()
            .flat_map(|r| &r.points)
            .filter_map(|p| Some((p.t, p.stream_length? as f64)))
            .collect()
    }
}

/// A monitor: sampled once a second, finished once at the end.
pub(crate) trait Monitor: Send + 'static {
    type Data: Send + 'static;
    /// Takes the sample of second `t` (seconds since the run started).
    fn sample(&mut self, t: u64) -> impl Future<Output = ()> + Send;
    /// The end of the run: last reads (the statements' snapshot), then the data.
    fn finish(self) -> impl Future<Output = (Self::Data, Vec<Note>)> + Send;
    /// What it saw so far, without reading anything (the live view's copy, each second).
    fn so_far(&self) -> Self::Data;
    /// Where its data goes in the live `Server`.
    fn publish(data: Self::Data, server: &mut Server);
}

/// The running monitors.
pub struct Monitors {
    stop: watch::Sender<bool>,
    /// What every monitor saw so far, renewed after each of its samples (the live view's).
    live: Arc<watch::Sender<Server>>,
    postgres: Option<JoinHandle<(postgres::Data, Vec<Note>)>>,
    redis: Option<JoinHandle<(redis::Data, Vec<Note>)>>,
    metrics: Option<JoinHandle<(metrics::Data, Vec<Note>)>>,
    processes: Option<JoinHandle<(Vec<process::Data>, Vec<Note>)>>,
    notes: Vec<Note>,
}

/// The monitors the config asks for, connected (and their start-of-run snapshots taken), not yet
/// sampling.
pub struct Connected {
    postgres: Option<postgres::Postgres>,
    redis: Option<redis::Redis>,
    metrics: Option<metrics::Metrics>,
    processes: Option<process::Processes>,
    notes: Vec<Note>,
}

/// Connects every monitor the config asks for, at once. A monitor that cannot connect is left out
/// with a note: the run goes on without it.
pub async fn connect(config: &Config) -> Connected {
    let (pg, rd, mt) = tokio::join!(
        async {
            match &config.db_url {
                Some(url) => Some(postgres::Postgres::connect(url).await),
                None => None,
            }
        },
        async {
            match &config.redis_url {
                Some(url) => Some(
                    redis::Redis::connect(
                        url,
                        &config.redis_stream,
                        &config.redis_group,
                        &config.celery_queues,
                    )
                    .await,
                ),
                None => None,
            }
        },
        async {
            match &config.metrics_url {
                Some(url) => Some(metrics::Metrics::connect(url, config.tls.clone()).await),
                None => None,
            }
        },
    );
    let mut notes = Vec::new();
    let postgres = keep("postgres", pg, &mut notes);
    let redis = keep("redis", rd, &mut notes);
    let metrics = keep("metrics", mt, &mut notes);
    let processes = (!config.is_empty()).then(|| {
        let mut pids = config.pids.clone();
        pids.push(("loadgen".to_owned(), std::process::id()));
        process::Processes::new(pids)
    });
    Connected {
        postgres,
        redis,
        metrics,
        processes,
        notes,
    }
}

/// A monitor that connected, or None with a note saying why not.
fn keep<M>(
    monitor: &'static str,
    result: Option<anyhow::Result<M>>,
    notes: &mut Vec<Note>,
) -> Option<M> {
    match result? {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(monitor, error = format!("{e:#}"), "monitor not started");
            notes.push(Note {
                monitor,
                message: format!("not monitored: {e:#}"),
            });
            None
        }
    }
}

impl Connected {
    /// For a live view: PostgreSQL's statements read every `seconds` too (not only at the end),
    /// so the findings that need them can fire during the run.
    pub fn statements_every(&mut self, seconds: u64) {
        if let Some(pg) = &mut self.postgres {
            pg.statements_every = Some(seconds);
        }
    }

    /// Starts sampling at `start + 1 s`, `start + 2 s`, ...: `start` is the client's own start, so
    /// second `t` is the same second on both sides.
    pub fn start(self, start: Instant) -> Monitors {
        let (stop, stopped) = watch::channel(false);
        let start = tokio::time::Instant::from_std(start);
        let live = Arc::new(watch::Sender::new(Server {
            notes: self.notes.clone(),
            ..Server::default()
        }));
        let ends = || (stopped.clone(), Arc::clone(&live));
        Monitors {
            postgres: self.postgres.map(|m| tokio::spawn(drive(m, start, ends()))),
            redis: self.redis.map(|m| tokio::spawn(drive(m, start, ends()))),
            metrics: self.metrics.map(|m| tokio::spawn(drive(m, start, ends()))),
            processes: self
                .processes
                .map(|m| tokio::spawn(drive(m, start, ends()))),
            notes: self.notes,
            stop,
            live,
        }
    }
}

impl Monitors {
    /// A receiver of what the monitors saw so far (notes of the ones that could not start
    /// included), renewed each second.
    pub fn live(&self) -> watch::Receiver<Server> {
        self.live.subscribe()
    }

    /// Stops sampling and collects what every monitor saw.
    pub async fn finish(self) -> Server {
        let _ = self.stop.send(true);
        let mut server = Server {
            notes: self.notes,
            ..Server::default()
        };
        server.postgres = collect("postgres", self.postgres, &mut server.notes).await;
        server.redis = collect("redis", self.redis, &mut server.notes).await;
        server.metrics = collect("metrics", self.metrics, &mut server.notes).await;
        server.processes = collect("process", self.processes, &mut server.notes)
            .await
            .unwrap_or_default();
        server
    }
}

/// A monitor's data and notes once its task ends.
async fn collect<D>(
    monitor: &'static str,
    handle: Option<JoinHandle<(D, Vec<Note>)>>,
    notes: &mut Vec<Note>,
) -> Option<D> {
    match handle?.await {
        Ok((data, more)) => {
            notes.extend(more);
            Some(data)
        }
        Err(e) => {
            notes.push(Note {
                monitor,
                message: format!("the monitor stopped unexpectedly: {e}"),
            });
            None
        }
    }
}

/// Samples `monitor` each second until told to stop, then finishes it.
async fn drive<M: Monitor>(
    mut monitor: M,
    start: tokio::time::Instant,
    (mut stop, live): (watch::Receiver<bool>, Arc<watch::Sender<Server>>),
) -> (M::Data, Vec<Note>) {
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    // A late sample is skipped, never bunched: each point stays the second it names.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            at = ticker.tick() => {
                let t = at.saturating_duration_since(start).as_secs();
                if tokio::time::timeout(SAMPLE_TIMEOUT, monitor.sample(t)).await.is_err() {
                    tracing::debug!(t, "a monitor sample took over {SAMPLE_TIMEOUT:?}: skipped");
                }
                // A copy of the points so far each second: microseconds, off the request path.
                let data = monitor.so_far();
                live.send_modify(|server| M::publish(data, server));
            }
        }
    }
    monitor.finish().await
}

/// Per-second rate of a counter between two readings; None across a reset (a restart).
pub(crate) fn rate(before: Option<(f64, Instant)>, now: f64, at: Instant) -> Option<f64> {
    let (value, then) = before?;
    let seconds = at.duration_since(then).as_secs_f64();
    (now >= value && seconds > 0.0).then(|| (now - value) / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_named() {
        assert_eq!(parse_pid("shop=42").unwrap(), ("shop".to_owned(), 42));
        let (name, pid) = parse_pid(&std::process::id().to_string()).unwrap();
        assert_eq!(pid, std::process::id());
        assert!(!name.is_empty());
        assert!(parse_pid("shop=x").is_err());
    }

    #[test]
    fn rates_skip_resets() {
        let then = Instant::now();
        let now = then + Duration::from_secs(2);
        assert_eq!(rate(Some((10.0, then)), 30.0, now), Some(10.0));
        assert_eq!(rate(Some((10.0, then)), 3.0, now), None);
        assert_eq!(rate(None, 3.0, now), None);
    }
}
