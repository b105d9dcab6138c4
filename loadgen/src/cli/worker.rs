//! `loadgen worker`: flags resolved into a `worker::WorkerConfig`, Ctrl-C turned into the worker's
//! shutdown, and each test's end judged and written (--json, --html) as `loadgen run` writes its
//! reports, marked as the master's shard so `loadgen merge` adds the workers up.

use std::time::Duration;

use super::plan::parse_vars;
use super::{Invocation, WorkerArgs};
use crate::diagnosis::ScenarioFacts;
use crate::outcome::{self, Measured, RunFacts};
use crate::phase::Outputs;
use crate::scenario::Scenario;
use crate::worker::{self, Ending, TestEnd, WorkerConfig};

/// Returns the exit code: 0 when the master said quit (or Ctrl-C, or the time limit); an `Err`
/// is 2 (no master, or it went away).
pub async fn run(args: &WorkerArgs, invocation: Invocation) -> anyhow::Result<u8> {
    let scenario = Scenario::load(&args.scenario)?;
    let host = args
        .host
        .as_deref()
        .map(crate::client::parse_host)
        .transpose()?;
    let tls = crate::client::tls::Tls::new(&crate::client::tls::TlsOptions {
        ca_cert: args.tls.ca_cert.clone(),
        insecure: args.tls.insecure,
        http2: false,
    })?;
    let vars = parse_vars(&args.vars)?;
    let max_run_time = args.max_run_time;
    if max_run_time < Duration::from_secs(1) {
        anyhow::bail!("--max-run-time must be at least 1s");
    }
    let config = WorkerConfig {
        master_host: args.master_host.clone(),
        master_port: args.master_port,
        node_id: worker::node_id(),
        scenario: scenario.clone(),
        host,
        tls: Some(tls),
        vars,
        seed: args.seed,
        request_timeout: args.request_timeout,
        stop_timeout: args.stop_timeout,
        master_wait: args.master_wait,
        max_run_time,
    };
    eprintln!(
        "loadgen: worker {} joining the Locust master at {}:{} (scenario {})",
        config.node_id, config.master_host, config.master_port, scenario.name
    );
    let outputs = Outputs {
        csv: None,
        html: args.html.clone(),
        json: args.json.clone(),
        junit: None,
    };
    let facts = ScenarioFacts::of(&scenario);
    let command = super::shown_command(invocation.command_line.into_iter());
    let seed = args.seed;
    let on_test_end = move |finished: crate::engine::Finished, end: TestEnd| {
        let run = RunFacts {
            phase: None,
            scenario: scenario.name.clone(),
            host: end.host,
            open_model: false,
            seed,
            command: command.clone(),
            tls_insecure: args.tls.insecure,
            protocol: None,
            shard: end.shard,
            thresholds: Vec::new(),
            scenario_facts: facts.clone(),
        };
        let results = outcome::judge(&run, Measured::from(finished));
        eprintln!(
            "loadgen: the master's test ended: {} requests, {} failed on this worker",
            results.recorder.aggregate.requests, results.recorder.aggregate.failures
        );
        super::write_outputs(&results, &outputs, false)
    };
    let ending = worker::run(config, on_test_end, invocation.interrupt).await?;
    eprintln!(
        "loadgen: worker done: {}",
        match ending {
            Ending::MasterQuit => "the master said quit",
            Ending::Shutdown => "Ctrl-C",
            Ending::TimeLimit => "a test reached --max-run-time",
        }
    );
    Ok(0)
}
