//! The web UI's state: what the command line set up, the run going (or the last one, until "New
//! test"), the log lines the Logs tab shows. A run from the form is an ordinary engine run: the
//! same plan, monitors, verdicts, diagnosis and report files as a headless one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;

use super::form::Start;
use crate::diagnosis::ScenarioFacts;
use crate::engine::{Controller, Engine, EngineConfig};
use crate::monitor;
use crate::outcome::{self, Measured, RunFacts};
use crate::phase::Outputs;
use crate::report::Results;
use crate::runner::{Plan, Stage};
use crate::saturation::Saturation;
use crate::threshold::Threshold;

/// The longest a run from the form lasts without a run time: it stops by itself (every load
/// loop here is bounded), Stop ends it sooner.
pub const LONGEST_RUN: Duration = Duration::from_secs(3600);

/// How often PostgreSQL's statements are read during a UI run (the findings are judged as often).
const STATEMENTS_EVERY: u64 = 5;

/// Log lines kept for the Logs tab.
const LOG_LINES: usize = 500;

/// Everything the command line decided that a run from the form starts from.
pub struct Setup {
    pub scenario: String,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub host: String,
    pub users: usize,
    pub spawn_rate: f64,
    pub run_time: Option<Duration>,
    pub tls: crate::client::tls::Tls,
    pub monitors: monitor::Config,
    pub thresholds: Vec<Threshold>,
    /// The phase file's own stages (empty without one), and the thresholds that judge a run of
    /// them (the phase's per-stage ones too).
    pub phase_stages: Vec<Stage>,
    pub phase_thresholds: Vec<Threshold>,
    pub vars: Vec<(String, String)>,
    pub request_timeout: Duration,
    pub stop_timeout: Duration,
    pub seed: u64,
    pub phase: Option<String>,
    pub outputs: Outputs,
    pub csv_full_history: bool,
    pub command: String,
    pub insecure: bool,
}

/// A mark on the charts' time axis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mark {
    pub t: u64,
    pub label: String,
}

/// One run started from the form.
pub struct Run {
    pub number: u32,
    pub controller: Controller,
    pub facts: RunFacts,
    pub run_time: Option<Duration>,
    /// Task names and weights of the scenario (the Current ratio tab).
    pub tasks: Vec<(String, f64)>,
    pub started_at: chrono::DateTime<Utc>,
    /// True once the run has ended (judged, or failed with a log line).
    pub over: tokio::sync::watch::Sender<bool>,
    /// What changes while it goes, under one lock (held for a copy or an assignment, never across
    /// an await).
    state: Mutex<RunState>,
}

/// A run's changing part.
pub struct RunState {
    /// The stages so far: those it started with, then one per Edit (as the runner names them).
    pub stages: Vec<Stage>,
    pub spawn_rate: f64,
    pub marks: Vec<Mark>,
    /// The judged results once the run has ended.
    pub finished: Option<Arc<Results>>,
    /// The last findings computed while running, and when.
    pub findings: Option<(Instant, Arc<Results>)>,
}

impl Run {
    pub fn state(&self) -> MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    /// Seconds since the start, as the charts count them.
    pub fn now_t(&self) -> u64 {
        self.controller.snapshot().elapsed_s as u64
    }

    pub fn mark(&self, label: String) {
        let t = self.now_t();
        self.state().marks.push(Mark { t, label });
    }

    pub fn is_over(&self) -> bool {
        *self.over.borrow()
    }

    pub fn finished(&self) -> Option<Arc<Results>> {
        self.state().finished.clone()
    }

    /// The results of the run so far (its end's, once it ended): a copy of every number, judged.
    pub async fn results(&self) -> Option<Arc<Results>> {
        if let Some(done) = self.finished() {
            return Some(done);
        }
        let Ok(recorder) = self.controller.recorder_so_far().await else {
            // The load has just ended and its results are being judged: they are moments away.
            let _ = self.over.subscribe().wait_for(|over| *over).await;
            return self.finished();
        };
        let results = outcome::judge(
            &self.facts,
            Measured {
                recorder,
                started_at: self.started_at,
                ended_at: Utc::now(),
                stages: self.state().stages.clone(),
                saturation: Saturation::default(),
                server: self.controller.server_so_far(),
            },
        );
        Some(Arc::new(results))
    }
}

/// The UI's whole state.
pub struct Session {
    pub setup: Setup,
    /// The run, the runs' count and the log, under one lock (held for a copy or an assignment).
    state: Mutex<SessionState>,
    /// Told when the process should quit (Stop and quit, --autoquit).
    pub quit: Notify,
    /// Told when a run ends (with its number), for --autoquit.
    pub ended: tokio::sync::watch::Sender<u32>,
    /// Held while a form is answered: two Starts at once make one run, the other an edit.
    pub swarming: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SessionState {
    run: Option<Arc<Run>>,
    runs: u32,
    logs: VecDeque<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Session {
    pub fn new(setup: Setup) -> Arc<Self> {
        Arc::new(Self {
            setup,
            state: Mutex::new(SessionState::default()),
            quit: Notify::new(),
            ended: tokio::sync::watch::Sender::new(0),
            swarming: tokio::sync::Mutex::new(()),
        })
    }

    pub fn run(&self) -> Option<Arc<Run>> {
        lock(&self.state).run.clone()
    }

    /// The run going now, if one is.
    pub fn running(&self) -> Option<Arc<Run>> {
        self.run().filter(|r| !r.is_over())
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        let stamped = format!("{} {line}", Utc::now().format("%Y-%m-%d %H:%M:%S"));
        let logs = &mut lock(&self.state).logs;
        if logs.len() == LOG_LINES {
            logs.pop_front();
        }
        logs.push_back(stamped);
    }

    pub fn logs(&self) -> Vec<String> {
        lock(&self.state).logs.iter().cloned().collect()
    }

    /// "New test": forgets a finished run. False while one goes.
    pub fn forget(&self) -> bool {
        let run = &mut lock(&self.state).run;
        if run.as_ref().is_some_and(|r| !r.is_over()) {
            return false;
        }
        *run = None;
        true
    }

    /// Starts a run from a checked form. The caller has made sure none is going.
    pub async fn start(self: &Arc<Self>, start: Start) -> Arc<Run> {
        let setup = &self.setup;
        let monitors = if setup.monitors.is_empty() {
            None
        } else {
            let mut connected = monitor::connect(&setup.monitors).await;
            connected.statements_every(STATEMENTS_EVERY);
            Some(connected)
        };
        let number = {
            let mut state = lock(&self.state);
            state.runs += 1;
            state.runs
        };
        let host = start.host.to_string();
        let scenario_name = start.scenario.name.clone();
        let tasks = start.scenario.task_weights();
        let facts = RunFacts {
            phase: setup.phase.clone(),
            scenario: scenario_name.clone(),
            host: host.clone(),
            open_model: false,
            seed: setup.seed,
            command: setup.command.clone(),
            tls_insecure: setup.insecure,
            protocol: None,
            shard: None,
            thresholds: if start.stages.is_some() {
                setup.phase_thresholds.clone()
            } else {
                setup.thresholds.clone()
            },
            scenario_facts: ScenarioFacts::of(&start.scenario),
        };
        let phased = start.stages.is_some();
        let stages = start.stages.clone().unwrap_or_else(|| {
            vec![Stage {
                name: Stage::default_name(start.users, None),
                users: start.users,
                spawn_rate: start.spawn_rate,
                duration: start.run_time.unwrap_or(LONGEST_RUN),
                arrival_rate: None,
            }]
        });
        let handle = Engine::start(EngineConfig {
            scenario: start.scenario,
            host: start.host,
            tls: Some(setup.tls.clone()),
            plan: Plan {
                stages: stages.clone(),
                stop_timeout: setup.stop_timeout,
                max_lag: Duration::from_secs(10),
            },
            request_timeout: setup.request_timeout,
            seed: setup.seed,
            vars: setup.vars.clone(),
            monitors,
            locust_report: false,
        });
        let run = Arc::new(Run {
            number,
            controller: handle.controller(),
            facts,
            run_time: if phased {
                Some(stages.iter().map(|s| s.duration).sum())
            } else {
                start.run_time
            },
            tasks,
            started_at: Utc::now(),
            over: tokio::sync::watch::Sender::new(false),
            state: Mutex::new(RunState {
                stages: stages.clone(),
                spawn_rate: start.spawn_rate,
                marks: vec![Mark {
                    t: 0,
                    label: if phased {
                        format!("stage 1: {}", stages[0].name)
                    } else {
                        format!("start: {} users at {}/s", start.users, start.spawn_rate)
                    },
                }],
                finished: None,
                findings: None,
            }),
        });
        lock(&self.state).run = Some(Arc::clone(&run));
        let load = if phased {
            format!(
                "the phase's {} stages ({})",
                stages.len(),
                stages
                    .iter()
                    .map(|s| s.users.to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )
        } else {
            format!("{} users at {}/s", start.users, start.spawn_rate)
        };
        self.log(format!(
            "run {number}: {scenario_name} against {} with {load}, {}",
            host.trim_end_matches('/'),
            match run.run_time {
                Some(t) => format!("for {}", humantime::format_duration(t)),
                None => format!(
                    "until Stop (at most {})",
                    humantime::format_duration(LONGEST_RUN)
                ),
            }
        ));
        if phased {
            tokio::spawn(mark_stages(Arc::clone(&run), stages));
        }
        let session = Arc::clone(self);
        let ending = Arc::clone(&run);
        tokio::spawn(async move {
            let finished = handle.wait().await;
            session.finish(&ending, finished);
        });
        run
    }

    /// A run's end: judged, its report files written as a headless run's, kept for the page.
    fn finish(&self, run: &Run, finished: anyhow::Result<crate::engine::Finished>) {
        match finished {
            Ok(f) => self.judge(run, f),
            Err(e) => self.log(format!("run {}: {e:#}", run.number)),
        }
        run.over.send_replace(true);
        self.ended.send_replace(run.number);
    }

    fn judge(&self, run: &Run, finished: crate::engine::Finished) {
        let results = outcome::judge(&run.facts, Measured::from(finished));
        let agg = &results.recorder.aggregate;
        self.log(format!(
            "run {} stopped: {} requests, {} failed, thresholds {}",
            run.number,
            agg.requests,
            agg.failures,
            if results.verdicts.is_empty() {
                "none".to_owned()
            } else if results.passed() {
                "held".to_owned()
            } else {
                "FAILED".to_owned()
            }
        ));
        for f in &results.findings {
            self.log(format!("finding {}: {}", f.id.as_str(), f.title));
        }
        if let Err(e) =
            crate::cli::write_outputs(&results, &self.setup.outputs, self.setup.csv_full_history)
        {
            self.log(format!("writing the reports: {e:#}"));
        }
        run.state().finished = Some(Arc::new(results));
    }
}

/// Marks each stage boundary on the charts as the run crosses it.
async fn mark_stages(run: Arc<Run>, stages: Vec<Stage>) {
    let mut snapshots = run.controller.subscribe();
    let mut seen = 0;
    while snapshots.changed().await.is_ok() {
        let stage = snapshots.borrow_and_update().stage;
        if stage > seen {
            seen = stage;
            if let Some(s) = stages.get(stage) {
                run.mark(format!("stage {}: {}", stage + 1, s.name));
            }
        }
    }
}
