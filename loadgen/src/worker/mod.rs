//! `loadgen worker`: a worker of a real Locust master (`locust --master`), speaking its protocol
//! (`protocol`) over a ZeroMQ DEALER socket (`link`). The master decides how many users run and
//! when; each test it starts (its first `spawn` after ready) is one run of the `engine`, steered
//! by its later `spawn`s and ended by `stop` or `quit`. Every 3 s the worker sends what its users
//! measured since the last report, in Locust's buckets; it also keeps its exact histograms, and
//! hands each ended test to `WorkerConfig::on_test_end` (the binary writes its own summary.json
//! from it, for `loadgen merge`).
//!
//! Lifecycle, as Locust's own worker: `client_ready` (every 5 s until `ack`, for at most
//! `master_wait`), then a `heartbeat` each second and `stats` every 3 s, idle or not; `spawn`
//! -> `spawning`, the absolute counts reached, `spawning_complete`; `stop` -> `client_stopped`
//! and `client_ready` again; `quit` -> the last stats, exit; `reconnect` -> a new socket. No
//! heartbeat from the master for 60 s ends the worker, as does the run's own time limit.

mod link;
pub mod protocol;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;
use http::Uri;
use rmpv::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::link::Link;
use self::protocol::{Message, Spawn};
use crate::engine::{Controller, Engine, EngineConfig, Finished};
use crate::runner::{Plan, Stage};
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::stats::deltas::LocustReport;

/// Locust's intervals (`runners.py`).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
const REPORT_INTERVAL: Duration = Duration::from_secs(3);
const CONNECT_RETRY: Duration = Duration::from_secs(5);
const MASTER_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);
/// The master paces the ramp (a new `spawn` each second); the worker reaches each count at once.
const AT_ONCE: f64 = 1e6;

/// Everything a worker needs; the binary has parsed it.
pub struct WorkerConfig {
    pub master_host: String,
    pub master_port: u16,
    /// This worker's id: the socket's routing identity and every message's node id.
    pub node_id: String,
    pub scenario: Scenario,
    /// The target when the master's `spawn` names none (the master's --host wins).
    pub host: Option<Uri>,
    pub tls: Option<crate::client::tls::Tls>,
    pub vars: Vec<(String, String)>,
    pub seed: u64,
    pub request_timeout: Duration,
    pub stop_timeout: Duration,
    /// How long to wait for the master's `ack` before giving up (Locust's 60 tries of 5 s).
    pub master_wait: Duration,
    /// The longest one test may run, whatever the master says: a worker's load stops by itself.
    pub max_run_time: Duration,
}

/// How the worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The master said quit.
    MasterQuit,
    /// The caller's shutdown (Ctrl-C).
    Shutdown,
    /// A test reached `max_run_time`.
    TimeLimit,
}

/// What the caller learns about an ended test besides its numbers.
#[derive(Debug, Clone)]
pub struct TestEnd {
    /// This worker as a shard of the master's run (index + 1 of --expect-workers), so that the
    /// workers' own summaries merge; None when the master gave no index.
    pub shard: Option<Shard>,
    /// The target the test ran against.
    pub host: String,
}

/// A test in progress: one engine run.
struct Test {
    controller: Controller,
    end: JoinHandle<anyhow::Result<Finished>>,
    counts: Vec<(String, u64)>,
    host: String,
}

struct Worker<F> {
    config: WorkerConfig,
    link: Link,
    on_test_end: F,
    test: Option<Test>,
    /// The user classes as the master last named them, at 0 when no test runs.
    counts: Vec<(String, u64)>,
    /// Locust's worker state (ready, spawning, running), as the heartbeat task reports it.
    state: watch::Sender<&'static str>,
    last_spawn: f64,
    last_master_heartbeat: Option<Instant>,
    /// The master's 0-based index of this worker (its `ack`).
    index: Option<u64>,
    /// The master's --expect-workers, from its last `spawn`.
    expect_workers: Option<u64>,
}

/// Runs until the master says quit, `shutdown` resolves, the master is gone for 60 s or a test
/// reaches its time limit. Errors: the master never answered, or it went silent.
pub async fn run<F>(
    config: WorkerConfig,
    on_test_end: F,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Ending>
where
    F: FnMut(Finished, TestEnd) -> anyhow::Result<()>,
{
    let link = Link::connect(&config.master_host, config.master_port, &config.node_id)?;
    let mut worker = Worker {
        config,
        link,
        on_test_end,
        test: None,
        counts: Vec::new(),
        state: watch::channel("ready").0,
        last_spawn: 0.0,
        last_master_heartbeat: None,
        index: None,
        expect_workers: None,
    };
    tokio::pin!(shutdown);
    let index = tokio::select! {
        index = worker.connect() => index?,
        () = &mut shutdown => return Ok(Ending::Shutdown),
    };
    worker.index = u64::try_from(index).ok();
    // A task of its own, so a test that takes its stop timeout to end does not look dead.
    let heartbeats = heartbeats(
        worker.link.outbox(),
        worker.config.node_id.clone(),
        worker.state.subscribe(),
    );
    tracing::info!(
        "joined the Locust master at {}:{} as {} (worker index {index})",
        worker.config.master_host,
        worker.config.master_port,
        worker.config.node_id
    );
    let ending = worker.serve(&mut shutdown).await;
    worker.finish_test().await;
    worker.send_stats().await;
    if ending.as_ref().is_ok_and(|e| *e != Ending::MasterQuit) {
        worker.send("quit", Value::Nil);
    }
    heartbeats.abort();
    // Dropping the link sends what is queued (the last report, the quit) and closes it.
    drop(worker);
    ending
}

/// A `heartbeat` each second with the worker's state, CPU and memory, until the state's sender
/// is gone.
fn heartbeats(
    outbox: link::Outbox,
    node_id: String,
    mut state: watch::Receiver<&'static str>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cpu = CpuClock::start();
        let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let (percent, memory) = cpu.sample();
                    let data = protocol::heartbeat(*state.borrow(), percent, memory);
                    outbox.send(Message::new("heartbeat", data, &node_id).encode());
                }
                changed = state.changed() => if changed.is_err() {
                    return;
                },
            }
        }
    })
}

impl<F> Worker<F>
where
    F: FnMut(Finished, TestEnd) -> anyhow::Result<()>,
{
    fn send(&self, kind: &str, data: Value) {
        self.link
            .send(Message::new(kind, data, &self.config.node_id).encode());
    }

    /// `client_ready` until the master's `ack`; returns the worker index it gave.
    async fn connect(&mut self) -> anyhow::Result<i64> {
        let deadline = Instant::now() + self.config.master_wait;
        loop {
            self.send("client_ready", Value::from(-1));
            let retry = tokio::time::sleep(CONNECT_RETRY.min(self.config.master_wait));
            tokio::pin!(retry);
            loop {
                tokio::select! {
                    frame = self.link.inbox.recv() => {
                        let Some(frame) = frame else { bail!("the master's connection closed") };
                        match Message::decode(&frame) {
                            Ok(m) if m.kind == "ack" => {
                                // Masters before 2.11 acknowledge without an index.
                                return Ok(protocol::get(&m.data, "index")
                                    .and_then(Value::as_i64)
                                    .unwrap_or(-1));
                            }
                            Ok(m) => tracing::debug!("before the ack: {} ignored", m.kind),
                            Err(e) => tracing::warn!("from the master: {e}"),
                        }
                    }
                    () = &mut retry => break,
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "no Locust master answered at {}:{} within {:?} ({}): start one with \
                     `locust --master` or give its address with --master-host/--master-port",
                    self.config.master_host,
                    self.config.master_port,
                    self.config.master_wait,
                    probe(&self.config.master_host, self.config.master_port)
                );
            }
            tracing::info!(
                "no answer yet from the master at {}:{}; asking again",
                self.config.master_host,
                self.config.master_port
            );
        }
    }

    async fn serve(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> anyhow::Result<Ending> {
        let mut master_check = tokio::time::interval(HEARTBEAT_INTERVAL);
        let mut report = tokio::time::interval_at(
            tokio::time::Instant::now() + REPORT_INTERVAL,
            REPORT_INTERVAL,
        );
        loop {
            tokio::select! {
                frame = self.link.inbox.recv() => {
                    let Some(frame) = frame else { bail!("the master's connection closed") };
                    match Message::decode(&frame) {
                        Ok(m) => {
                            if let Some(ending) = self.handle(m).await? {
                                return Ok(ending);
                            }
                        }
                        Err(e) => tracing::warn!("from the master: {e}"),
                    }
                }
                _ = master_check.tick() => {
                    if self
                        .last_master_heartbeat
                        .is_some_and(|t| t.elapsed() > MASTER_HEARTBEAT_TIMEOUT)
                    {
                        bail!(
                            "no heartbeat from the master in over {}s: it is gone",
                            MASTER_HEARTBEAT_TIMEOUT.as_secs()
                        );
                    }
                }
                _ = report.tick() => self.send_stats().await,
                ended = async { (&mut self.test.as_mut()?.end).await.ok() }, if self.test.is_some() => {
                    tracing::warn!(
                        "this worker's test reached --max-run-time ({:?}): leaving the master",
                        self.config.max_run_time
                    );
                    if let (Some(test), Some(Ok(finished))) = (self.test.take(), ended) {
                        self.test_ended(finished, &test.counts, test.host);
                    }
                    return Ok(Ending::TimeLimit);
                }
                () = &mut *shutdown => return Ok(Ending::Shutdown),
            }
        }
    }

    /// One message from the master; Some when it ends the worker.
    async fn handle(&mut self, m: Message) -> anyhow::Result<Option<Ending>> {
        match m.kind.as_str() {
            "spawn" => {
                self.send("spawning", Value::Nil);
                match Spawn::parse(&m.data) {
                    Ok(spawn) if spawn.timestamp <= self.last_spawn => {
                        tracing::info!("a spawn older than the last one was dropped");
                    }
                    Ok(spawn) => {
                        self.last_spawn = spawn.timestamp;
                        self.expect_workers = spawn.expect_workers.or(self.expect_workers);
                        self.spawn(spawn);
                    }
                    Err(e) => tracing::warn!("from the master: {e}"),
                }
            }
            "stop" => {
                self.finish_test().await;
                self.send("client_stopped", Value::Nil);
                self.send("client_ready", Value::from(-1));
                self.state.send_replace("ready");
            }
            "quit" => {
                tracing::info!("the master said quit");
                return Ok(Some(Ending::MasterQuit));
            }
            "reconnect" => {
                tracing::warn!("the master asked for a new connection");
                self.link.reconnect();
            }
            "heartbeat" => self.last_master_heartbeat = Some(Instant::now()),
            "ack" | "spawning_complete" | "update_user_class" => {
                tracing::debug!("{} from the master", m.kind);
            }
            other => tracing::warn!("an unknown message from the master: {other}"),
        }
        Ok(None)
    }

    fn spawn(&mut self, spawn: Spawn) {
        let users = usize::try_from(spawn.users()).unwrap_or(usize::MAX);
        let counts = spawn.user_classes_count.clone();
        match &mut self.test {
            Some(test) => {
                if let Err(e) = test.controller.set_users(users, AT_ONCE) {
                    tracing::warn!("steering the test: {e}");
                }
                test.counts = counts.clone();
            }
            None => {
                let host = match spawn.host.as_deref().map(crate::client::parse_host) {
                    Some(Ok(host)) => host,
                    Some(Err(e)) => return self.refuse(&format!("the master's host: {e:#}")),
                    None => match &self.config.host {
                        Some(host) => host.clone(),
                        None => {
                            return self.refuse(
                                "no host: start the master with --host, or this worker with --host",
                            );
                        }
                    },
                };
                let host_text = host.to_string().trim_end_matches('/').to_owned();
                let handle = Engine::start(EngineConfig {
                    scenario: self.config.scenario.clone(),
                    host,
                    tls: self.config.tls.clone(),
                    plan: Plan {
                        stages: vec![Stage {
                            name: "master".into(),
                            users,
                            spawn_rate: AT_ONCE,
                            duration: self.config.max_run_time,
                            arrival_rate: None,
                        }],
                        stop_timeout: self.config.stop_timeout,
                        max_lag: Duration::from_secs(10),
                    },
                    request_timeout: self.config.request_timeout,
                    seed: self
                        .shard()
                        .map_or(self.config.seed, |s| s.seed(self.config.seed)),
                    vars: self.config.vars.clone(),
                    monitors: None,
                    locust_report: true,
                });
                let controller = handle.controller();
                self.test = Some(Test {
                    controller,
                    end: tokio::spawn(handle.wait()),
                    counts: counts.clone(),
                    host: host_text,
                });
            }
        }
        self.counts = counts;
        self.send(
            "spawning_complete",
            protocol::spawning_complete(&self.counts),
        );
        self.state.send_replace("running");
    }

    /// A test that cannot start: the master's Exceptions tab and this worker's log say why.
    fn refuse(&mut self, reason: &str) {
        tracing::error!("{reason}");
        self.send("exception", protocol::exception(reason));
    }

    /// Stops the test in progress, sends what it measured since the last report, hands it over.
    async fn finish_test(&mut self) {
        let Some(test) = self.test.take() else {
            return;
        };
        test.controller.stop();
        let finished = test.end.await;
        match finished {
            Ok(Ok(finished)) => self.test_ended(finished, &test.counts, test.host),
            Ok(Err(e)) => tracing::error!("the test ended badly: {e:#}"),
            Err(e) => tracing::error!("the test ended badly: {e}"),
        }
        for (_, n) in &mut self.counts {
            *n = 0;
        }
    }

    fn test_ended(&mut self, mut finished: Finished, counts: &[(String, u64)], host: String) {
        if let Some(rest) = finished.locust_rest.take() {
            self.send_report(&rest, counts);
        }
        let end = TestEnd {
            shard: self.shard(),
            host,
        };
        if let Err(e) = (self.on_test_end)(finished, end) {
            tracing::error!("writing this worker's report: {e:#}");
        }
    }

    /// See `TestEnd::shard`.
    fn shard(&self) -> Option<Shard> {
        let index = usize::try_from(self.index?).ok()? + 1;
        let expected = self.expect_workers.and_then(|n| usize::try_from(n).ok());
        Some(Shard {
            index,
            count: expected.unwrap_or(1).max(index),
        })
    }

    /// The `stats` message: the running test's counts since the last, or an empty report.
    async fn send_stats(&self) {
        let report = match &self.test {
            Some(test) => match test.controller.take_locust_report().await {
                Ok(Some(r)) => r,
                _ => return,
            },
            None => LocustReport::empty(crate::engine::unix_now()),
        };
        let counts = self.counts.clone();
        self.send_report(&report, &counts);
    }

    fn send_report(&self, report: &LocustReport, counts: &[(String, u64)]) {
        for message in &report.exceptions {
            self.send("exception", protocol::exception(message));
        }
        self.send("stats", protocol::stats(report, counts));
    }
}

/// Why nothing answered at host:port, for the error: refused, or something else listening.
fn probe(host: &str, port: u16) -> String {
    use std::net::ToSocketAddrs as _;
    let addrs = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return format!("{host} does not resolve: {e}"),
    };
    for addr in &addrs {
        match std::net::TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
            Ok(_) => return format!("{addr} accepts connections but speaks no Locust"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return format!("{addr}: {e}"),
        }
    }
    "connection refused".into()
}

/// This process's CPU (percent of one core, as psutil's `cpu_percent`) and memory, for the
/// heartbeat.
struct CpuClock {
    at: Instant,
    cpu_s: f64,
}

impl CpuClock {
    fn start() -> Self {
        Self {
            at: Instant::now(),
            cpu_s: own_cpu_seconds(),
        }
    }

    fn sample(&mut self) -> (f64, u64) {
        let now = Instant::now();
        let cpu_s = own_cpu_seconds();
        let wall = now.duration_since(self.at).as_secs_f64();
        let percent = if wall > 0.0 {
            (cpu_s - self.cpu_s) / wall * 100.0
        } else {
            0.0
        };
        self.at = now;
        self.cpu_s = cpu_s;
        let memory = launcher::procfs::memory(std::process::id())
            .and_then(|m| m.rss)
            .unwrap_or(0);
        (percent.max(0.0), memory)
    }
}

fn own_cpu_seconds() -> f64 {
    launcher::procfs::stat(std::process::id()).map_or(0.0, |s| s.cpu_seconds())
}

/// Locust's node id: `hostname_<32 hex digits>`.
pub fn node_id() -> String {
    let host = launcher::procfs::hostname().unwrap_or_else(|| "loadgen".into());
    format!("{host}_{}", uuid::Uuid::new_v4().simple())
}
