//! `loadgen run` and `loadgen scenarios`: the binary's side of a run. It resolves flags into a
//! plan (`plan`, a shard's share of it with `--shard`, claimed in `--shard-dir` by `shard_dir`),
//! connects the monitors, waits for `--start-at`, starts the `engine`, shows the live line from
//! the engine's snapshots, turns Ctrl-C into the handle's stop, then judges and writes the
//! reports. `loadgen merge` (`merge`) writes the same reports for shards added up.
//! Exit codes, as Locust's: with thresholds 0 every threshold held, 1 one failed; without any, 0
//! when no request failed, else `--exit-code-on-error`; 2 the run could not happen.

mod args;
pub mod compare;
pub mod merge;
mod plan;
mod shard_dir;
mod start_at;
mod ui;
pub mod worker;

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;

pub use self::args::{Cli, Command, CompareArgs, MergeArgs, RunArgs, WorkerArgs};
use crate::diagnosis::ScenarioFacts;
use crate::engine::{Engine, EngineConfig, Snapshot};
use crate::monitor;
use crate::outcome::{self, Measured, RunFacts};
use crate::phase::Outputs;
use crate::report::{self, Results};

/// What only the program knows, handed in by `main`: library code reads no arguments and
/// installs no signal handler (ARCHITECTURE.md's invariant).
pub struct Invocation {
    /// The command line as typed, shown in the reports (a URL's password redacted).
    pub command_line: Vec<String>,
    /// Resolves when the user asks the program to stop (Ctrl-C): a run then ends its load and
    /// still writes its reports. `main` makes it from the signal; a library caller passes its own.
    pub interrupt: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Invocation {
    /// For a caller nobody interrupts (a test, a program driving loadgen as a library).
    pub fn uninterrupted(command_line: Vec<String>) -> Self {
        Self {
            command_line,
            interrupt: Box::pin(std::future::pending()),
        }
    }
}

/// Runs `loadgen run`; returns the exit code (see the module's doc). Errors mean the run could not
/// happen (exit 2).
pub async fn run(args: RunArgs, invocation: Invocation) -> anyhow::Result<u8> {
    let r = plan::resolve(&args)?;
    let tls = crate::client::tls::Tls::new(&crate::client::tls::TlsOptions {
        ca_cert: args.tls.ca_cert.clone(),
        insecure: args.tls.insecure,
        http2: args.http2,
    })?;
    if args.tls.insecure {
        eprintln!(
            "loadgen: WARNING: --insecure: TLS certificates NOT verified; the server is not \
             authenticated"
        );
    }
    if !args.headless {
        return ui::run(&args, r, tls, invocation).await;
    }
    let Invocation {
        command_line,
        interrupt,
    } = invocation;
    let protocol = crate::client::preflight(&r.host, Some(&tls), Duration::from_secs(5)).await?;
    if args.http2 && protocol != "HTTP/2" {
        eprintln!(
            "loadgen: --http2: {} chose {protocol} (ALPN); the run speaks {protocol}",
            r.host
        );
    }
    let monitor_config = plan::monitor_config(&args, &tls)?;
    let facts = ScenarioFacts::of(&r.scenario);
    let monitors = if monitor_config.is_empty() {
        None
    } else {
        Some(monitor::connect(&monitor_config).await)
    };
    let scenario_name = r.scenario.name.clone();
    let open_model = r.plan.open_model();
    let total = r.plan.duration();
    let quiet = args.only_summary;
    let first_line = match &r.phase {
        Some(p) => format!(
            "phase {}: {}",
            p.name,
            p.description.clone().unwrap_or_default()
        ),
        None => format!("scenario {scenario_name}"),
    };
    let shard_text = r.shard.map(|s| format!(", shard {s}")).unwrap_or_default();
    if !quiet {
        eprintln!(
            "loadgen: {first_line} against {} ({} stage{}, {:?}, {} model{shard_text})",
            r.host.to_string().trim_end_matches('/'),
            r.plan.stages.len(),
            if r.plan.stages.len() == 1 { "" } else { "s" },
            total,
            if open_model { "open" } else { "closed" }
        );
    }
    if let Some(shard) = r.shard {
        if r.plan.stages.iter().all(|s| s.users == 0) {
            eprintln!(
                "note: shard {shard} has no users in any stage (fewer users than shards): it sends \
                 no load, and its summary still completes the set for `loadgen merge`"
            );
        }
        if !r.thresholds.is_empty() {
            eprintln!(
                "note: shard {shard} judges its thresholds on its own share; `loadgen merge` judges \
                 them on the whole"
            );
        }
    }
    if let Some(at) = r.start_at {
        start_at::wait(at, quiet).await;
    }
    let handle = Engine::start(EngineConfig {
        scenario: r.scenario,
        host: r.host.clone(),
        tls: Some(tls),
        plan: r.plan,
        request_timeout: r.request_timeout,
        seed: r.shard.map_or(args.seed, |s| s.seed(args.seed)),
        vars: r.vars,
        monitors,
        locust_report: false,
    });
    let console = tokio::spawn(console(handle.subscribe(), total, quiet));
    // Ctrl-C ends the load, not the program: the report still covers the run so far.
    let ctrl_c = {
        let controller = handle.controller();
        tokio::spawn(async move {
            interrupt.await;
            eprintln!("stopping: Ctrl-C (the report covers the run so far)");
            controller.stop();
        })
    };
    let finished = handle.wait().await;
    ctrl_c.abort();
    let _ = console.await;
    let finished = finished?;
    let facts = RunFacts {
        phase: r.phase.as_ref().map(|p| p.name.clone()),
        scenario: scenario_name,
        host: r.host.to_string(),
        open_model,
        seed: args.seed,
        command: shown_command(command_line.into_iter()),
        tls_insecure: args.tls.insecure,
        protocol: args.http2.then(|| protocol.to_owned()),
        shard: r.shard,
        thresholds: r.thresholds,
        scenario_facts: facts,
    };
    let results = outcome::judge(&facts, Measured::from(finished));
    println!("{}", report::console::final_report(&results));
    // The shard's summary first: it is what the merge needs, whatever becomes of the other files.
    if let Some(claim) = r.claim {
        let path = claim.finish(&results)?;
        eprintln!("wrote {}", path.display());
    }
    write_outputs(&results, &r.outputs, args.csv_full_history)?;
    Ok(exit_code(&results, args.verdict.exit_code_on_error))
}

/// Locust's rule: thresholds decide when there are any (as a locustfile setting
/// `process_exit_code` does); otherwise any failed request is `on_error`.
pub(crate) fn exit_code(results: &Results, on_error: u8) -> u8 {
    if !results.passed() {
        1
    } else if results.verdicts.is_empty() && results.recorder.aggregate.failures > 0 {
        on_error
    } else {
        0
    }
}

/// The live line: a progress bar on a terminal, a line every other second otherwise.
async fn console(
    mut snapshots: tokio::sync::watch::Receiver<std::sync::Arc<Snapshot>>,
    total: Duration,
    quiet: bool,
) {
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last_t = 0;
    while snapshots.changed().await.is_ok() {
        let snapshot = std::sync::Arc::clone(&snapshots.borrow_and_update());
        let Some(t) = snapshot.series.last().map(|p| p.t) else {
            continue;
        };
        if t == last_t {
            continue;
        }
        last_t = t;
        let line = report::console::live_line(&snapshot);
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
}

pub(crate) fn write_outputs(
    results: &Results,
    outputs: &Outputs,
    full_history: bool,
) -> anyhow::Result<()> {
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
        create(path, report::junit::render(results)?)?;
    }
    Ok(())
}

/// `loadgen scenarios`.
pub fn list_scenarios() {
    for (name, description) in crate::scenario::built_ins() {
        println!("{name:<10} {description}");
    }
}

/// The command line as the report shows it: a password inside a URL (`--pg-url
/// postgres://user:secret@host/db`) is replaced by `***`, since reports are shared.
pub(crate) fn shown_command(args: impl Iterator<Item = String>) -> String {
    args.map(|arg| redact_url_password(&arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn redact_url_password(arg: &str) -> String {
    let Some(scheme_end) = arg.find("://") else {
        return arg.to_owned();
    };
    let rest = &arg[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return arg.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return arg.to_owned();
    };
    let start = scheme_end + 3 + colon + 1;
    format!("{}***{}", &arg[..start], &arg[scheme_end + 3 + at..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_not_shown() {
        let shown = super::shown_command(
            [
                "loadgen",
                "run",
                "--pg-url=postgres://shop:s3cr:et@127.0.0.1:5432/shop?sslmode=disable",
                "--redis-url",
                "redis://:pw@localhost:6379/0",
                "-H",
                "http://127.0.0.1:8000",
                "--var",
                "note=a:b@c",
                "http://user@host/x:y@z",
            ]
            .into_iter()
            .map(str::to_owned),
        );
        assert_eq!(
            shown,
            "loadgen run --pg-url=postgres://shop:***@127.0.0.1:5432/shop?sslmode=disable \
             --redis-url redis://:***@localhost:6379/0 -H http://127.0.0.1:8000 --var note=a:b@c \
             http://user@host/x:y@z"
        );
    }
}
