//! `loadgen run`: Locust's flags (and `--phase`, `--arrival-rate`, `--threshold`), every one also
//! read from the environment (`LOADGEN_*`). Exit codes: 0 every threshold held, 1 one failed,
//! 2 the run could not happen.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use tokio::sync::{Notify, mpsc};

use crate::diagnosis::{self, ScenarioFacts};
use crate::monitor;
use crate::phase::{Outputs, Phase, parse_rate};
use crate::report::{self, Meta, Results};
use crate::runner::{self, Live, Plan, Stage};
use crate::saturation;
use crate::scenario::Scenario;
use crate::stats::{self, Recorder};
use crate::threshold::Threshold;
use crate::trend;
use crate::user::Shared;
use crate::verdict;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "shopload's load generator: Locust's flags and CSV files, exact percentiles, \
             thresholds with exit codes, an HTML report that opens offline",
    after_help = "Exit codes: 0 every threshold held, 1 a threshold failed, 2 the run could not happen.\n\
                  Example: loadgen run --host http://127.0.0.1:8000 --scenario shop -u 10 -r 2 -t 30s \
                  --headless --csv reports/smoke --html reports/smoke.html"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a load test (a scenario with -u/-r/-t, or a whole phase file with --phase)
    Run(Box<RunArgs>),
    /// List the built-in scenarios
    Scenarios,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Base URL of the system under test (http://host:port); wins over the phase file's host
    #[arg(short = 'H', long, env = "LOADGEN_HOST")]
    pub host: Option<String>,
    /// Built-in scenario (shop, payment, browse) or a scenario TOML file [default: shop]
    #[arg(
        short = 'f',
        long,
        visible_alias = "locustfile",
        env = "LOADGEN_SCENARIO"
    )]
    pub scenario: Option<String>,
    /// A phase file: scenario, host, stages, thresholds and outputs in one TOML
    #[arg(long, env = "LOADGEN_PHASE")]
    pub phase: Option<PathBuf>,
    /// Peak number of concurrent users (open model: the most iterations in flight)
    #[arg(short = 'u', long, env = "LOADGEN_USERS")]
    pub users: Option<usize>,
    /// Users started (or stopped) per second
    #[arg(short = 'r', long, env = "LOADGEN_SPAWN_RATE")]
    pub spawn_rate: Option<f64>,
    /// How long to run: 90s, 5m, 1h30m [default: 1m; with --phase alone: its stages scaled to fit]
    #[arg(short = 't', long, env = "LOADGEN_RUN_TIME")]
    pub run_time: Option<String>,
    /// Open model: start iterations at this rate (500/s) instead of looping users
    #[arg(long, env = "LOADGEN_ARRIVAL_RATE")]
    pub arrival_rate: Option<String>,
    /// Open model: a start that waits longer than this for a free user is dropped (and counted)
    #[arg(long, default_value = "10s", env = "LOADGEN_MAX_LAG")]
    pub max_lag: String,
    /// Accepted for Locust compatibility: loadgen always runs without a web UI
    #[arg(long, env = "LOADGEN_HEADLESS")]
    pub headless: bool,
    /// Print only the final summary, no live lines
    #[arg(long, env = "LOADGEN_ONLY_SUMMARY")]
    pub only_summary: bool,
    /// Write Locust's CSV files PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv
    #[arg(long = "csv", value_name = "PREFIX", env = "LOADGEN_CSV")]
    pub csv: Option<String>,
    /// Every endpoint in _stats_history.csv each second, not only the Aggregated row
    #[arg(long, env = "LOADGEN_CSV_FULL_HISTORY")]
    pub csv_full_history: bool,
    /// Write the self-contained HTML report to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_HTML")]
    pub html: Option<String>,
    /// Write summary.json (everything, machine-readable, with its histograms) to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_JSON")]
    pub json: Option<String>,
    /// Write junit.xml (one test case per threshold) to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_JUNIT")]
    pub junit: Option<String>,
    /// A pass/fail rule, repeatable: "p95 < 1000ms", "fail_ratio < 5%", "rps >= 100",
    /// "p95{POST /api/payments/confirm/} < 800ms", "p99{stage=3} < 2s"
    #[arg(
        long = "threshold",
        value_name = "RULE",
        env = "LOADGEN_THRESHOLDS",
        value_delimiter = '|'
    )]
    pub thresholds: Vec<String>,
    /// Seconds (or a duration) users may take to finish their task when the run ends
    #[arg(long, default_value = "0", env = "LOADGEN_STOP_TIMEOUT")]
    pub stop_timeout: String,
    /// Only run tasks with one of these tags (comma-separated)
    #[arg(short = 'T', long, value_delimiter = ',', env = "LOADGEN_TAGS")]
    pub tags: Vec<String>,
    /// Skip tasks with any of these tags (comma-separated)
    #[arg(short = 'E', long, value_delimiter = ',', env = "LOADGEN_EXCLUDE_TAGS")]
    pub exclude_tags: Vec<String>,
    /// Seed of every random choice (tasks, ids, wait times), so a run can be repeated
    #[arg(long, default_value_t = 0, env = "LOADGEN_SEED")]
    pub seed: u64,
    /// A scenario variable, repeatable: --var toss_url=http://127.0.0.1:8090
    #[arg(
        long = "var",
        value_name = "KEY=VALUE",
        env = "LOADGEN_VARS",
        value_delimiter = ','
    )]
    pub vars: Vec<String>,
    /// Give up on a request after this long (the plan's 60 s)
    #[arg(long, default_value = "60s", env = "LOADGEN_REQUEST_TIMEOUT")]
    pub request_timeout: String,
    /// Monitor PostgreSQL each second (connections by state, lock waits) and report the run's
    /// top statements from pg_stat_statements: postgres://user:password@host:port/database
    #[arg(
        long,
        value_name = "URL",
        env = "LOADGEN_DB_URL",
        help_heading = "Server monitors"
    )]
    pub db_url: Option<String>,
    /// Monitor Redis each second (memory, hit ratio, ops/s, clients, the job stream's backlog):
    /// redis://host:port
    #[arg(
        long,
        value_name = "URL",
        env = "LOADGEN_REDIS_URL",
        help_heading = "Server monitors"
    )]
    pub redis_url: Option<String>,
    /// The job stream whose backlog the Redis monitor follows
    #[arg(
        long,
        value_name = "KEY",
        default_value = "shop:jobs",
        env = "LOADGEN_REDIS_STREAM",
        help_heading = "Server monitors"
    )]
    pub redis_stream: String,
    /// The job stream's consumer group (pending and lag)
    #[arg(
        long,
        value_name = "GROUP",
        default_value = "workers",
        env = "LOADGEN_REDIS_GROUP",
        help_heading = "Server monitors"
    )]
    pub redis_group: String,
    /// Scrape the shop's Prometheus metrics each second (server time per route, DB pool, jobs):
    /// http://host:port/metrics
    #[arg(
        long,
        value_name = "URL",
        env = "LOADGEN_METRICS_URL",
        help_heading = "Server monitors"
    )]
    pub metrics_url: Option<String>,
    /// Follow a process's CPU and memory (with its children), repeatable: --pid shop=1234
    #[arg(
        long = "pid",
        value_name = "NAME=PID",
        env = "LOADGEN_PIDS",
        value_delimiter = ',',
        help_heading = "Server monitors"
    )]
    pub pids: Vec<String>,
}

/// A run, resolved from flags and the phase file.
struct Resolved {
    phase: Option<Phase>,
    scenario: Scenario,
    host: hyper::Uri,
    plan: Plan,
    thresholds: Vec<Threshold>,
    vars: Vec<(String, String)>,
    outputs: Outputs,
    request_timeout: Duration,
}

/// The run's stages. A phase file's own, unless the command line shapes the run:
/// `--run-time` alone scales the phase's stages to fit it (a short CI run of the same shape: the
/// same users and spawn rates, every step shorter); `--users`, `--spawn-rate` or `--arrival-rate`
/// make one stage, whose other settings default to the phase's peak stage (its users, spawn rate
/// and arrival rate) and whole length.
fn stages(
    args: &RunArgs,
    phase: Option<&Phase>,
    arrival_rate: Option<f64>,
) -> anyhow::Result<Vec<Stage>> {
    let run_time = args
        .run_time
        .as_deref()
        .map(|t| duration("--run-time", t))
        .transpose()?;
    if run_time.is_some_and(|t| t.is_zero()) {
        bail!("--run-time must be longer than 0s");
    }
    let one_stage = makes_one_stage(args, arrival_rate);
    let peak = phase.and_then(|p| p.stages.iter().max_by_key(|s| s.users));
    match (phase, run_time, one_stage) {
        (Some(p), None, false) => return Ok(p.stages.clone()),
        (Some(p), Some(total), false) => return Ok(scaled(&p.stages, total)),
        _ => {}
    }
    let arrival_rate = arrival_rate.or(if args.users.is_none() {
        peak.and_then(|s| s.arrival_rate)
    } else {
        None
    });
    let users = match (args.users, peak) {
        (Some(u), _) => u,
        (None, Some(s)) => s.users,
        (None, None) => arrival_rate.map_or(1, |rate| (rate.ceil() as usize).max(1)),
    };
    if users == 0 {
        bail!("--users must be at least 1");
    }
    let spawn_rate = args
        .spawn_rate
        .or(peak.map(|s| s.spawn_rate))
        .unwrap_or(users as f64);
    if spawn_rate.is_nan() || spawn_rate <= 0.0 {
        bail!("--spawn-rate must be above 0");
    }
    let duration = match (run_time, phase) {
        (Some(t), _) => t,
        (None, Some(p)) => p.stages.iter().map(|s| s.duration).sum(),
        (None, None) => Duration::from_secs(60),
    };
    Ok(vec![Stage {
        name: Stage::default_name(users, arrival_rate),
        users,
        spawn_rate,
        duration,
        arrival_rate,
    }])
}

/// Whether the command line replaces a phase's stages with one stage of its own.
fn makes_one_stage(args: &RunArgs, arrival_rate: Option<f64>) -> bool {
    args.users.is_some() || args.spawn_rate.is_some() || arrival_rate.is_some()
}

/// The same stages, each lasting its share of `total` (at least a second).
fn scaled(stages: &[Stage], total: Duration) -> Vec<Stage> {
    let whole: Duration = stages.iter().map(|s| s.duration).sum();
    if whole.is_zero() {
        return stages.to_vec();
    }
    stages
        .iter()
        .map(|s| Stage {
            duration: total
                .mul_f64(s.duration.as_secs_f64() / whole.as_secs_f64())
                .max(Duration::from_secs(1)),
            ..s.clone()
        })
        .collect()
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    if let Ok(secs) = text.parse::<f64>()
        && secs >= 0.0
        && secs.is_finite()
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("{flag} {text:?} is not a duration (90s, 5m, 1h30m): {e}"))
}

fn resolve(args: &RunArgs) -> anyhow::Result<Resolved> {
    let phase = args.phase.as_deref().map(Phase::load).transpose()?;
    let scenario_name = args
        .scenario
        .clone()
        .or_else(|| phase.as_ref().map(|p| p.scenario.clone()))
        .unwrap_or_else(|| "shop".into());
    let mut scenario = Scenario::load(&scenario_name)?;
    scenario.filter_tags(&args.tags, &args.exclude_tags)?;
    let host_text = args
        .host
        .clone()
        .or_else(|| phase.as_ref().and_then(|p| p.host.clone()))
        .context("no host: give --host http://127.0.0.1:8000 (or host = ... in the phase file)")?;
    let host = crate::client::parse_host(&host_text)?;

    let arrival_rate = args
        .arrival_rate
        .as_deref()
        .map(|r| parse_rate(r).map_err(|e| anyhow::anyhow!("--arrival-rate: {e}")))
        .transpose()?;
    let stages = stages(args, phase.as_ref(), arrival_rate)?;
    let plan = Plan {
        stages,
        stop_timeout: duration("--stop-timeout", &args.stop_timeout)?,
        max_lag: duration("--max-lag", &args.max_lag)?,
    };
    let mut thresholds: Vec<Threshold> = phase
        .as_ref()
        .map(|p| p.thresholds.clone())
        .unwrap_or_default();
    if phase.is_some() && makes_one_stage(args, arrival_rate) {
        // The phase's stages were replaced by one: its per-stage rules have no stage to judge.
        for t in thresholds.iter().filter(|t| t.stage.is_some()) {
            eprintln!(
                "note: the phase's per-stage threshold {:?} is not judged: --users/--spawn-rate/--arrival-rate made one stage",
                t.source
            );
        }
        thresholds.retain(|t| t.stage.is_none());
    }
    for t in &args.thresholds {
        thresholds.push(Threshold::parse(t).map_err(|e| anyhow::anyhow!("--threshold: {e:#}"))?);
    }
    verdict::validate(&thresholds, &scenario.endpoints, plan.stages.len())?;
    let mut vars = phase.as_ref().map(|p| p.vars.clone()).unwrap_or_default();
    for v in &args.vars {
        let (k, val) = v
            .split_once('=')
            .with_context(|| format!("--var {v:?}: write KEY=VALUE"))?;
        vars.push((k.trim().to_owned(), val.to_owned()));
    }
    let phase_outputs = phase
        .as_ref()
        .map(|p| p.outputs.clone())
        .unwrap_or_default();
    let outputs = Outputs {
        csv: args.csv.clone().or(phase_outputs.csv),
        html: args.html.clone().or(phase_outputs.html),
        json: args.json.clone().or(phase_outputs.json),
        junit: args.junit.clone().or(phase_outputs.junit),
    };
    let request_timeout = match (&phase, args.request_timeout.as_str()) {
        (
            Some(Phase {
                request_timeout: Some(t),
                ..
            }),
            "60s",
        ) => *t,
        (_, text) => duration("--request-timeout", text)?,
    };
    Ok(Resolved {
        phase,
        scenario,
        host,
        plan,
        thresholds,
        vars,
        outputs,
        request_timeout,
    })
}

/// Runs `loadgen run`; returns the exit code (0 passed, 1 a threshold failed). Errors mean the run
/// could not happen (exit 2).
pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let resolved = resolve(&args)?;
    let outcome = execute(resolved, &args).await?;
    Ok(outcome)
}

async fn execute(r: Resolved, args: &RunArgs) -> anyhow::Result<u8> {
    crate::client::preflight(&r.host, Duration::from_secs(5)).await?;
    let monitor_config = monitor_config(args)?;
    let facts = ScenarioFacts::of(&r.scenario);
    // Connected before the run, so the start-of-run snapshots are not taken under load.
    let monitors = if monitor_config.is_empty() {
        None
    } else {
        Some(monitor::connect(&monitor_config).await)
    };
    let scenario_name = r.scenario.name.clone();
    let endpoints = r.scenario.endpoints.clone();
    let open_model = r.plan.open_model();
    let shared = Arc::new(Shared::new(
        r.scenario,
        r.host.clone(),
        r.request_timeout,
        args.seed,
        &r.vars,
    ));

    let (events, receiver) = mpsc::unbounded_channel();
    let live = Arc::new(Live::default());
    let (live_tx, mut live_rx) = mpsc::unbounded_channel::<stats::Second>();
    let recorder = Recorder::new(&endpoints, open_model);
    let monitors = monitors.map(|m| m.start(recorder.start));
    let aggregator = tokio::spawn(stats::aggregate(
        recorder,
        receiver,
        Arc::clone(&live.users),
        Some(live_tx),
    ));

    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(saturation::watch(Arc::clone(&done)));

    let total = r.plan.duration();
    let quiet = args.only_summary;
    let console = tokio::spawn(async move {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut recent: Vec<stats::Second> = Vec::new();
        let (mut requests, mut failures) = (0u64, 0u64);
        while let Some(second) = live_rx.recv().await {
            requests += second.requests;
            failures += second.failures;
            let t = second.t;
            recent.push(second);
            if recent.len() > 5 {
                recent.remove(0);
            }
            let line = report::console::live_line(&recent, requests, failures);
            match &bar {
                Some(bar) => {
                    bar.set_position(t);
                    bar.set_message(line);
                }
                None if !quiet && t % 2 == 0 => eprintln!("{line}"),
                None => {}
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    });

    let cancel = Arc::new(Notify::new());
    let ctrl_c = {
        let cancel = Arc::clone(&cancel);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("stopping: Ctrl-C (the report covers the run so far)");
                cancel.notify_waiters();
            }
        })
    };
    let started_at = chrono::Utc::now();
    let first_line = match &r.phase {
        Some(p) => format!(
            "phase {}: {}",
            p.name,
            p.description.clone().unwrap_or_default()
        ),
        None => format!("scenario {scenario_name}"),
    };
    if !quiet {
        eprintln!(
            "loadgen: {first_line} against {} ({} stage{}, {:?}, {} model)",
            r.host.to_string().trim_end_matches('/'),
            r.plan.stages.len(),
            if r.plan.stages.len() == 1 { "" } else { "s" },
            total,
            if open_model { "open" } else { "closed" }
        );
    }
    runner::run(&r.plan, shared, events, Arc::clone(&live), cancel).await;
    ctrl_c.abort();
    let recorder = aggregator.await.context("the aggregator stopped")?;
    done.store(true, Ordering::Relaxed);
    let saturation = watcher.await.unwrap_or_default();
    let _ = console.await;
    let server = match monitors {
        Some(m) => Some(m.finish().await),
        None => None,
    };

    let verdicts = verdict::evaluate(&r.thresholds, &recorder);
    let stage_slos = trend::stage_slos(&r.thresholds, &recorder);
    let drift = trend::drift(&recorder);
    let mut results = Results {
        meta: Meta {
            phase: r.phase.as_ref().map(|p| p.name.clone()),
            scenario: scenario_name,
            host: r.host.to_string().trim_end_matches('/').to_owned(),
            started_at,
            ended_at: chrono::Utc::now(),
            duration_s: recorder.duration_s(),
            model: if open_model { "open" } else { "closed" },
            seed: args.seed,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            stages: r.plan.stages.clone(),
        },
        recorder,
        verdicts,
        saturation,
        stage_slos,
        drift,
        server,
        findings: Vec::new(),
    };
    results.findings = diagnosis::diagnose(&diagnosis::View::of(
        &results,
        &facts,
        results.server.as_ref(),
    ));
    println!("{}", report::console::final_report(&results));
    write_outputs(&results, &r.outputs, args.csv_full_history)?;
    Ok(if results.passed() { 0 } else { 1 })
}

fn write_outputs(results: &Results, outputs: &Outputs, full_history: bool) -> anyhow::Result<()> {
    let create = |path: &str, text: String| -> anyhow::Result<()> {
        let p = std::path::Path::new(path);
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(p, text).with_context(|| format!("writing {path}"))?;
        eprintln!("wrote {path}");
        Ok(())
    };
    if let Some(prefix) = &outputs.csv {
        report::csv::write(results, prefix, full_history)?;
        eprintln!(
            "wrote {prefix}_stats.csv, {prefix}_stats_history.csv, {prefix}_failures.csv, {prefix}_exceptions.csv"
        );
    }
    if let Some(path) = &outputs.html {
        create(path, report::html::render(results))?;
    }
    if let Some(path) = &outputs.json {
        create(path, report::json::render(results)?)?;
    }
    if let Some(path) = &outputs.junit {
        create(path, report::junit::render(results))?;
    }
    Ok(())
}

/// The monitors `--db-url`, `--redis-url`, `--metrics-url` and `--pid` ask for.
fn monitor_config(args: &RunArgs) -> anyhow::Result<monitor::Config> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    Ok(monitor::Config {
        db_url: nonempty(&args.db_url),
        redis_url: nonempty(&args.redis_url),
        redis_stream: args.redis_stream.clone(),
        redis_group: args.redis_group.clone(),
        metrics_url: nonempty(&args.metrics_url),
        pids: args
            .pids
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| monitor::parse_pid(p))
            .collect::<anyhow::Result<_>>()?,
    })
}

/// `loadgen scenarios`.
pub fn list_scenarios() {
    for (name, source) in crate::scenario::BUILT_IN {
        let description = Scenario::parse(name, source, name)
            .ok()
            .and_then(|s| s.description)
            .unwrap_or_default();
        println!("{name:<10} {description}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(flags: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["loadgen", "run"].iter().chain(flags)).unwrap();
        match cli.command {
            Command::Run(args) => *args,
            Command::Scenarios => unreachable!(),
        }
    }

    fn stress() -> Phase {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("phases/stress.toml");
        Phase::load(&path).unwrap()
    }

    fn shape(stages: &[Stage]) -> Vec<(usize, f64, u64)> {
        stages
            .iter()
            .map(|s| (s.users, s.spawn_rate, s.duration.as_secs()))
            .collect()
    }

    #[test]
    fn a_phase_keeps_its_stages_without_shaping_flags() {
        let phase = stress();
        let stages = stages(&run_args(&[]), Some(&phase), None).unwrap();
        assert_eq!(stages, phase.stages);
    }

    #[test]
    fn run_time_alone_scales_the_phase_to_fit() {
        let stages = stages(&run_args(&["-t", "2m"]), Some(&stress()), None).unwrap();
        assert_eq!(
            shape(&stages),
            [
                (10, 10.0, 24),
                (50, 10.0, 24),
                (100, 10.0, 24),
                (500, 50.0, 24),
                (1000, 50.0, 24)
            ]
        );
    }

    #[test]
    fn users_make_one_stage_with_the_phases_peak_as_defaults() {
        let phase = stress();
        let one = stages(&run_args(&["-u", "20", "-t", "30s"]), Some(&phase), None).unwrap();
        assert_eq!(shape(&one), [(20, 50.0, 30)]);
        let peak = stages(&run_args(&["-r", "5"]), Some(&phase), None).unwrap();
        assert_eq!(shape(&peak), [(1000, 5.0, 25 * 60)]);
    }

    #[test]
    fn per_stage_thresholds_go_only_with_the_stages_they_judge() {
        let staged = |phase: &std::path::Path, flags: &[&str]| -> usize {
            let args = run_args(&[&["--phase", phase.to_str().unwrap()], flags].concat());
            let resolved = resolve(&args).unwrap();
            resolved
                .thresholds
                .iter()
                .filter(|t| t.stage.is_some())
                .count()
        };
        let stress = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("phases/stress.toml");
        // The top step's two rules: kept with the phase's stages, scaled or not...
        assert_eq!(staged(&stress, &[]), 2);
        assert_eq!(staged(&stress, &["-t", "2m"]), 2);
        // ...dropped when the command line makes one stage of its own,
        assert_eq!(staged(&stress, &["-u", "20"]), 0);
        assert_eq!(staged(&stress, &["-r", "5"]), 0);
        // even when the phase had one stage too (another stage, though it has the same index).
        let dir = tempfile::tempdir().unwrap();
        let single = dir.path().join("single.toml");
        std::fs::write(
            &single,
            "name = \"single\"\nscenario = \"shop\"\nhost = \"http://127.0.0.1:8000\"\n\
             [[stage]]\nusers = 10\nspawn_rate = 2\nduration = \"1m\"\nthresholds = [\"p95 < 1s\"]\n",
        )
        .unwrap();
        assert_eq!(staged(&single, &[]), 1);
        assert_eq!(staged(&single, &["-u", "20"]), 0);
    }

    #[test]
    fn without_a_phase_the_flags_and_locusts_defaults_apply() {
        assert_eq!(
            shape(&stages(&run_args(&[]), None, None).unwrap()),
            [(1, 1.0, 60)]
        );
        assert_eq!(
            shape(&stages(&run_args(&["-u", "10", "-r", "2", "-t", "30s"]), None, None).unwrap()),
            [(10, 2.0, 30)]
        );
        assert!(stages(&run_args(&["-t", "0s"]), None, None).is_err());
        assert!(stages(&run_args(&["-u", "0"]), None, None).is_err());
    }
}
