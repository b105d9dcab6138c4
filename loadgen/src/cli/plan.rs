//! From flags and a phase file to what the engine runs: the stages (a phase's own, scaled by
//! `--run-time`, or one stage of the command line's, then this shard's share of them), the
//! thresholds that still have a stage to judge, variables, outputs and the monitors. Every bad
//! value is an error naming its flag.

use std::time::Duration;

use anyhow::{Context as _, bail};

use super::args::RunArgs;
use crate::monitor;
use crate::phase::{Outputs, Phase, parse_rate};
use crate::runner::{Plan, Stage};
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::threshold::Threshold;
use crate::verdict;

/// `--request-timeout`'s default ("60s" in `args.rs`), which a phase file's own timeout replaces.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The web UI form's host when neither the command line nor the phase gives one: the shop's.
const DEFAULT_UI_HOST: &str = "http://127.0.0.1:8000";

/// A run, resolved from flags and the phase file.
pub(super) struct Resolved {
    pub(super) phase: Option<Phase>,
    pub(super) scenario: Scenario,
    pub(super) host: http::Uri,
    pub(super) plan: Plan,
    pub(super) thresholds: Vec<Threshold>,
    pub(super) vars: Vec<(String, String)>,
    pub(super) outputs: Outputs,
    pub(super) request_timeout: Duration,
    /// `--shard`: the plan above is already this shard's share.
    pub(super) shard: Option<Shard>,
    /// `--shard-dir`: the shard's claim there, which writes its summary.json at the end.
    pub(super) claim: Option<super::shard_dir::Claim>,
    pub(super) start_at: Option<chrono::DateTime<chrono::Utc>>,
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
    let run_time = args.run_time;
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

/// `--var KEY=VALUE`s, in order.
pub(super) fn parse_vars(vars: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    vars.iter()
        .map(|v| {
            let (k, val) = v
                .split_once('=')
                .with_context(|| format!("--var {v:?}: write KEY=VALUE"))?;
            Ok((k.trim().to_owned(), val.to_owned()))
        })
        .collect()
}

pub(super) fn resolve(args: &RunArgs) -> anyhow::Result<Resolved> {
    let wanted = args
        .shard
        .as_deref()
        .map(super::shard_dir::Wanted::parse)
        .transpose()?;
    let start_at = args
        .start_at
        .as_deref()
        // Empty is unset: a Kubernetes manifest's `value: ""` left for `kubectl set env` to fill.
        .filter(|t| !t.trim().is_empty())
        .map(|t| super::start_at::parse(t, chrono::Utc::now()))
        .transpose()?;
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
        // The web UI's form asks for the host; this is only its first value.
        .or_else(|| (!args.headless).then(|| DEFAULT_UI_HOST.to_owned()))
        .context("no host: give --host http://127.0.0.1:8000 (or host = ... in the phase file)")?;
    let host = crate::client::parse_host(&host_text)?;

    let arrival_rate = args
        .arrival_rate
        .as_deref()
        .map(|r| parse_rate(r).map_err(|e| anyhow::anyhow!("--arrival-rate: {e}")))
        .transpose()?;
    let stages = stages(args, phase.as_ref(), arrival_rate)?;
    let mut plan = Plan {
        stages,
        stop_timeout: args.stop_timeout,
        max_lag: args.max_lag,
    };
    let mut thresholds: Vec<Threshold> = phase
        .as_ref()
        .map(|p| p.thresholds.clone())
        .unwrap_or_default();
    if phase.is_some() && makes_one_stage(args, arrival_rate) {
        // The phase's stages were replaced by one: its per-stage rules have no stage to judge. (The
        // web UI keeps them for a run of the phase's stages from its form: nothing to say there.)
        for t in thresholds
            .iter()
            .filter(|t| t.stage.is_some() && args.headless)
        {
            eprintln!(
                "note: the phase's per-stage threshold {:?} is not judged: --users/--spawn-rate/--arrival-rate made one stage",
                t.source
            );
        }
        thresholds.retain(|t| t.stage.is_none());
    }
    for t in &args.verdict.thresholds {
        thresholds.push(Threshold::parse(t).map_err(|e| anyhow::anyhow!("--threshold: {e:#}"))?);
    }
    verdict::validate(&thresholds, &scenario.endpoints, plan.stages.len())?;
    let mut vars = phase.as_ref().map(|p| p.vars.clone()).unwrap_or_default();
    vars.extend(parse_vars(&args.vars)?);
    let phase_outputs = phase
        .as_ref()
        .map(|p| p.outputs.clone())
        .unwrap_or_default();
    let outputs = Outputs {
        csv: args.outputs.csv.clone().or(phase_outputs.csv),
        html: args.outputs.html.clone().or(phase_outputs.html),
        json: args.outputs.json.clone().or(phase_outputs.json),
        junit: args.outputs.junit.clone().or(phase_outputs.junit),
    };
    // The flag's default gives way to the phase file's own timeout.
    let request_timeout = match (&phase, args.request_timeout) {
        (
            Some(Phase {
                request_timeout: Some(t),
                ..
            }),
            d,
        ) if d == DEFAULT_REQUEST_TIMEOUT => *t,
        (_, d) => d,
    };
    // Claimed last, once nothing above can refuse the run: a claim is a file other shards see.
    let (shard, claim) = shard_of(args, wanted)?;
    if let Some(shard) = shard {
        plan.stages = shard.stages(&plan.stages);
    }
    Ok(Resolved {
        phase,
        scenario,
        host,
        plan,
        thresholds,
        vars,
        outputs,
        request_timeout,
        shard,
        claim,
        start_at,
    })
}

/// The shard this process runs: the one given, or with `--shard-dir` the one it claimed there.
fn shard_of(
    args: &RunArgs,
    wanted: Option<super::shard_dir::Wanted>,
) -> anyhow::Result<(Option<Shard>, Option<super::shard_dir::Claim>)> {
    use super::shard_dir::{Wanted, claim};
    let dir = args
        .shard_dir
        .as_deref()
        .filter(|d| !d.as_os_str().is_empty());
    match (wanted, dir) {
        (None, None) => Ok((None, None)),
        (Some(Wanted::Given(shard)), None) => Ok((Some(shard), None)),
        (Some(Wanted::Auto { count }), None) => bail!(
            "--shard auto/{count} claims its index in a directory every shard sees: add --shard-dir DIR"
        ),
        (None, Some(_)) => bail!("--shard-dir is where shards meet: add --shard I/N or auto/N"),
        (Some(_), Some(_)) if !args.headless => {
            bail!("--shard and --start-at run without the web UI: add --headless")
        }
        (Some(wanted), Some(dir)) => {
            let c = claim(dir, wanted, &super::shard_dir::holder())?;
            Ok((Some(c.shard), Some(c)))
        }
    }
}

/// The monitors `--db-url`, `--redis-url`, `--metrics-url` and `--pid` ask for; an https metrics
/// URL is scraped with the run's TLS client.
pub(super) fn monitor_config(
    args: &RunArgs,
    tls: &crate::client::tls::Tls,
) -> anyhow::Result<monitor::Config> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    Ok(monitor::Config {
        db_url: nonempty(&args.db_url),
        redis_url: nonempty(&args.redis_url),
        redis_stream: args.redis_stream.clone(),
        redis_group: args.redis_group.clone(),
        celery_queues: args.celery_queues.clone(),
        metrics_url: nonempty(&args.metrics_url),
        tls: Some(tls.clone()),
        pids: args
            .pids
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| monitor::parse_pid(p))
            .collect::<anyhow::Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn run_args(flags: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["loadgen", "run"].iter().chain(flags)).unwrap();
        match cli.command {
            Command::Run(args) => *args,
            // Parsed from `loadgen run ...`: no other subcommand can come back.
            other => unreachable!("not loadgen run: {other:?}"),
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
    fn a_shard_runs_its_share_of_every_stage() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("phases/stress.toml");
        let shares: Vec<Vec<Stage>> = (1..=3)
            .map(|i| {
                let shard = format!("{i}/3");
                let args = run_args(&["--phase", file.to_str().unwrap(), "--shard", &shard]);
                resolve(&args).unwrap().plan.stages
            })
            .collect();
        let whole = stress().stages;
        for (k, stage) in whole.iter().enumerate() {
            let users: usize = shares.iter().map(|s| s[k].users).sum();
            let spawn = shares.iter().fold(0.0, |a, s| a + s[k].spawn_rate);
            assert_eq!((users, spawn), (stage.users, stage.spawn_rate), "{stage:?}");
            assert!(
                shares
                    .iter()
                    .all(|s| s[k].name == stage.name && s[k].duration == stage.duration)
            );
        }
        let one = run_args(&[
            "-H",
            "http://127.0.0.1:1",
            "-u",
            "10",
            "-r",
            "2",
            "--shard",
            "4/4",
            "--start-at",
            "0",
        ]);
        let r = resolve(&one).unwrap();
        let stage = &r.plan.stages[0];
        assert_eq!((stage.users, stage.duration.as_secs()), (2, 60));
        assert!((stage.spawn_rate - 0.4).abs() < 1e-12, "{stage:?}");
        assert_eq!(r.start_at.map(|t| t.timestamp()), Some(0));
        let e = resolve(&run_args(&["--shard", "0/4"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("count from 1"), "{e}");
    }

    #[test]
    fn a_shard_dir_claims_the_shard_and_auto_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shards");
        let replica = || {
            let flags = [
                "-H",
                "http://127.0.0.1:1",
                "--headless",
                "--shard",
                "auto/2",
            ];
            let args = run_args(&[&flags[..], &["--shard-dir", shared.to_str().unwrap()]].concat());
            resolve(&args)
        };
        let (one, two) = (replica().unwrap(), replica().unwrap());
        assert_eq!(
            (one.shard, two.shard),
            (
                Some(Shard { index: 1, count: 2 }),
                Some(Shard { index: 2, count: 2 })
            )
        );
        // The plan is the claimed shard's share: 1 user of the default 1 goes to shard 1.
        assert_eq!((one.plan.stages[0].users, two.plan.stages[0].users), (1, 0));
        assert!(shared.join("shard-2-of-2.claim").exists());
        let e = |flags: &[&str]| resolve(&run_args(flags)).err().unwrap().to_string();
        assert!(
            e(&["--headless", "-H", "http://x", "--shard", "auto/2"]).contains("add --shard-dir")
        );
        assert!(
            e(&["--headless", "-H", "http://x", "--shard-dir", "d"]).contains("add --shard I/N")
        );
        // An empty --start-at (a template's unset value) is no start time.
        let r = resolve(&run_args(&[
            "--headless",
            "-H",
            "http://x",
            "--start-at",
            " ",
        ]))
        .unwrap();
        assert_eq!(r.start_at, None);
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
