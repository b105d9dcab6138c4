//! The load engine as a library: `Engine::start(config)` runs a compiled scenario against a host
//! and returns an `EngineHandle` that steers it while it runs (users and spawn rate like Locust's
//! Edit, another stage list, pause, reset stats, stop) and hands out the live statistics. The
//! binary's `loadgen run`, a web UI or a Locust worker are all callers of this one engine: no flag
//! parsing, environment reads, signal handling or printing happens here.
//!
//! Tasks: the runner (one controller for users and the schedule, taking the handle's commands),
//! the aggregator (owns every number, publishes a `Snapshot` each second), the saturation watch
//! and, when asked for, the server-side monitors, sampling on the aggregator's clock.

mod aggregator;
pub mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::Uri;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use self::aggregator::unix_now;
pub use self::snapshot::{EntrySnapshot, Point, Snapshot};
use crate::monitor;
use crate::runner::{self, Command, Live, Plan, Stage};
use crate::saturation::{self, Saturation};
use crate::scenario::Scenario;
use crate::stats::Recorder;
use crate::stats::deltas::{LocustDeltas, LocustReport};
use crate::user::Shared;

/// What to run. Everything is explicit: the caller has already parsed flags and files.
pub struct EngineConfig {
    pub scenario: Scenario,
    pub host: Uri,
    /// The TLS client for https origins (the host's and absolute URLs'); None refuses them.
    pub tls: Option<crate::client::tls::Tls>,
    pub plan: Plan,
    pub request_timeout: Duration,
    /// Seed of every random choice, so a run can be repeated.
    pub seed: u64,
    /// Scenario variables (`--var`), over the scenario's own.
    pub vars: Vec<(String, String)>,
    /// Server-side monitors, connected beforehand (so their start-of-run snapshots are not taken
    /// under load); they sample on the run's own seconds.
    pub monitors: Option<monitor::Connected>,
    /// Also keep Locust's worker report (rounded buckets, per-second counts, emptied at each
    /// `Controller::take_locust_report`): a worker of a Locust master.
    pub locust_report: bool,
}

/// A request the running engine cannot take.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("the run is over")]
    Finished,
    #[error("the spawn rate must be above 0 (got {0})")]
    SpawnRate(f64),
    #[error("a stage list needs at least one stage")]
    NoStages,
    #[error("stage {index} ({name}): {reason}")]
    Stage {
        index: usize,
        name: String,
        reason: &'static str,
    },
    #[error("this run uses the {running} model; a stage list of the {asked} model needs a new run")]
    Model {
        running: &'static str,
        asked: &'static str,
    },
}

/// A run that has ended: everything the reports and the verdict need.
pub struct Finished {
    pub recorder: Recorder,
    pub saturation: Saturation,
    /// What the monitors saw (None when none ran).
    pub server: Option<monitor::Server>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// The stages as they ran: the plan's, shortened or extended by edits and replacements.
    pub stages: Vec<Stage>,
    /// What Locust's worker report had not taken yet (with `EngineConfig::locust_report`).
    pub locust_rest: Option<LocustReport>,
}

pub struct Engine;

impl Engine {
    /// Starts the run on the current tokio runtime. It ends by itself when its last stage is
    /// over, or when the handle says stop.
    pub fn start(config: EngineConfig) -> EngineHandle {
        let open_model = config.plan.open_model();
        let endpoints = config.scenario.endpoints.clone();
        let shared = Arc::new(Shared::new(
            config.scenario,
            config.host,
            config.tls,
            config.request_timeout,
            config.seed,
            &config.vars,
        ));
        let (events, receiver) = mpsc::unbounded_channel();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (snapshot_tx, snapshots) = watch::channel(Arc::new(Snapshot::empty()));
        let live = Arc::new(Live::default());
        let deltas = config
            .locust_report
            .then(|| LocustDeltas::new(&endpoints, aggregator::unix_now()));
        let recorder = Recorder::new(&endpoints, open_model);
        let monitors = config.monitors.map(|m| m.start(recorder.start));
        let server = monitors.as_ref().map(monitor::Monitors::live);
        let started_at = Utc::now();
        let aggregator = tokio::spawn(aggregator::aggregate(
            recorder,
            deltas,
            receiver,
            control_rx,
            Arc::clone(&live),
            snapshot_tx,
        ));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(saturation::watch(Arc::clone(&done)));
        let runner = tokio::spawn(runner::run(
            config.plan,
            shared,
            events,
            Arc::clone(&live),
            command_rx,
        ));
        let task = tokio::spawn(async move {
            let ran = runner.await;
            let aggregated = aggregator.await;
            let ended_at = Utc::now();
            done.store(true, Ordering::Relaxed);
            let saturation = watcher.await.unwrap_or_default();
            let server = match monitors {
                Some(m) => Some(m.finish().await),
                None => None,
            };
            let stages = ran.map(|r| r.stages).map_err(|e| e.to_string())?;
            let (recorder, locust_rest) =
                aggregated.map_err(|e| format!("the aggregator stopped: {e}"))?;
            Ok(Finished {
                recorder,
                locust_rest,
                saturation,
                server,
                started_at,
                ended_at,
                stages,
            })
        });
        EngineHandle {
            controller: Controller {
                commands,
                control: control_tx,
                snapshots,
                server,
                open_model,
            },
            task,
        }
    }
}

/// A running engine: its `Controller` (also through `Deref`) and its end. Dropping it does not
/// stop the run (it ends with its last stage); `stop` does.
pub struct EngineHandle {
    controller: Controller,
    task: JoinHandle<Result<Finished, String>>,
}

impl EngineHandle {
    /// A controller to hand to another task (a signal handler, a web route).
    pub fn controller(&self) -> Controller {
        self.controller.clone()
    }

    /// Waits for the end of the run.
    pub async fn wait(self) -> anyhow::Result<Finished> {
        self.task
            .await
            .map_err(|e| anyhow::anyhow!("the engine stopped: {e}"))?
            .map_err(|e| anyhow::anyhow!("the engine stopped: {e}"))
    }
}

impl std::ops::Deref for EngineHandle {
    type Target = Controller;

    fn deref(&self) -> &Controller {
        &self.controller
    }
}

/// Steers a running engine and reads its live statistics; cheap to clone. After the run every
/// command answers `EngineError::Finished` and the snapshot stays the last one.
#[derive(Clone)]
pub struct Controller {
    commands: mpsc::UnboundedSender<Command>,
    control: mpsc::UnboundedSender<aggregator::Control>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    server: Option<watch::Receiver<monitor::Server>>,
    open_model: bool,
}

impl Controller {
    /// Ramps to `users` at `spawn_rate` users/s (up or down) for the rest of the run, as
    /// Locust's Edit does. In the open model `users` is the most iterations in flight.
    pub fn set_users(&self, users: usize, spawn_rate: f64) -> Result<(), EngineError> {
        if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
            return Err(EngineError::SpawnRate(spawn_rate));
        }
        self.send(Command::SetUsers { users, spawn_rate })
    }

    /// Replaces what is left of the run by `stages`, starting now.
    pub fn set_stages(&self, stages: Vec<Stage>) -> Result<(), EngineError> {
        if stages.is_empty() {
            return Err(EngineError::NoStages);
        }
        for (index, s) in stages.iter().enumerate() {
            let bad = |reason| EngineError::Stage {
                index: index + 1,
                name: s.name.clone(),
                reason,
            };
            if s.duration.is_zero() {
                return Err(bad("a stage must last longer than 0 s"));
            }
            if !(s.spawn_rate.is_finite() && s.spawn_rate > 0.0) {
                return Err(bad("the spawn rate must be above 0"));
            }
            if s.arrival_rate.is_some() != self.open_model {
                let name = |open| if open { "open" } else { "closed" };
                return Err(EngineError::Model {
                    running: name(self.open_model),
                    asked: name(!self.open_model),
                });
            }
        }
        self.send(Command::SetStages(stages))
    }

    /// Stops starting new iterations (tasks in hand finish); users stay connected.
    pub fn pause(&self) -> Result<(), EngineError> {
        self.send(Command::Pause(true))
    }

    pub fn resume(&self) -> Result<(), EngineError> {
        self.send(Command::Pause(false))
    }

    /// Locust's "Reset stats": every count starts again from zero now.
    pub fn reset_stats(&self) -> Result<(), EngineError> {
        self.control
            .send(aggregator::Control::Reset)
            .map_err(|_| EngineError::Finished)
    }

    /// Ends the run: users finish the task in hand within the plan's stop timeout.
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// Every number so far, as the reports of a run that ended now would see them (Locust's
    /// "Download data" during a run). Costs one copy of the histograms; not for every second.
    pub async fn recorder_so_far(&self) -> Result<Recorder, EngineError> {
        let (reply, copy) = tokio::sync::oneshot::channel();
        self.control
            .send(aggregator::Control::Copy(reply))
            .map_err(|_| EngineError::Finished)?;
        copy.await.map_err(|_| EngineError::Finished)
    }

    /// Locust's worker report: every count since the last call (None unless the run keeps it,
    /// `EngineConfig::locust_report`).
    pub async fn take_locust_report(&self) -> Result<Option<LocustReport>, EngineError> {
        let (reply, report) = tokio::sync::oneshot::channel();
        self.control
            .send(aggregator::Control::TakeLocust(reply))
            .map_err(|_| EngineError::Finished)?;
        report.await.map_err(|_| EngineError::Finished)
    }

    /// What the server monitors saw so far (each at its last sample); None without monitors.
    pub fn server_so_far(&self) -> Option<monitor::Server> {
        self.server.as_ref().map(|s| s.borrow().clone())
    }

    /// The latest live statistics (at most a second old).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::Finished)
    }
}
