//! `loadgen run` without `--headless`: the command line's plan becomes the web UI form's first
//! values, the UI is served until Stop and quit, `--autoquit` or Ctrl-C, and the exit code is the
//! last run's, as a headless run's would be.

use std::time::Duration;

use super::args::RunArgs;
use super::plan::Resolved;
use crate::web;

pub(super) async fn run(
    args: &RunArgs,
    r: Resolved,
    tls: crate::client::tls::Tls,
    invocation: super::Invocation,
) -> anyhow::Result<u8> {
    if r.shard.is_some() || r.start_at.is_some() {
        anyhow::bail!("--shard and --start-at run without the web UI: add --headless");
    }
    let credentials = args
        .web_auth
        .as_deref()
        .map(web::Credentials::parse)
        .transpose()?;
    let address = web::address(&args.web_host, args.web_port, credentials.is_some())?;
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        anyhow::anyhow!(
            "--web-port {}: cannot listen on {address}: {e}",
            args.web_port
        )
    })?;
    let peak = r.plan.stages.iter().max_by_key(|s| s.users);
    let run_time = args.run_time;
    // The phase's own stages (-u/-r only set the form's first values) and every threshold that
    // judges them, per stage too: the form's "Run the phase's stages".
    let phase_stages = r
        .phase
        .as_ref()
        .map(|p| p.stages.clone())
        .unwrap_or_default();
    let mut phase_thresholds = r
        .phase
        .as_ref()
        .map(|p| p.thresholds.clone())
        .unwrap_or_default();
    for t in &args.verdict.thresholds {
        phase_thresholds.push(
            crate::threshold::Threshold::parse(t)
                .map_err(|e| anyhow::anyhow!("--threshold: {e:#}"))?,
        );
    }
    let setup = web::Setup {
        scenario: args
            .scenario
            .clone()
            .or_else(|| r.phase.as_ref().map(|p| p.scenario.clone()))
            .unwrap_or_else(|| r.scenario.name.clone()),
        tags: args.tags.clone(),
        exclude_tags: args.exclude_tags.clone(),
        host: r.host.to_string(),
        users: peak.map_or(1, |s| s.users.max(1)),
        spawn_rate: peak.map_or(1.0, |s| s.spawn_rate),
        run_time,
        monitors: super::plan::monitor_config(args, &tls)?,
        tls,
        thresholds: r.thresholds,
        phase_stages,
        phase_thresholds,
        vars: r.vars,
        request_timeout: r.request_timeout,
        stop_timeout: r.plan.stop_timeout,
        seed: args.seed,
        phase: r.phase.as_ref().map(|p| p.name.clone()),
        outputs: r.outputs,
        csv_full_history: args.csv_full_history,
        command: super::shown_command(invocation.command_line.into_iter()),
        insecure: args.tls.insecure,
    };
    // The bound address: --web-port 0 takes a free port, and this line says which.
    let bound = listener.local_addr()?;
    let shown = match bound.ip() {
        ip if ip.is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
        _ => format!("http://{bound}"),
    };
    eprintln!(
        "loadgen: web UI on {shown} ({}Ctrl-C or \"Stop and quit\" ends it)",
        if credentials.is_some() {
            "with --web-auth; "
        } else {
            ""
        }
    );
    let results = web::serve(
        listener,
        setup,
        web::Options {
            credentials,
            autostart: args.autostart,
            autoquit: args.autoquit.map(Duration::from_secs),
        },
        invocation.interrupt,
    )
    .await?;
    Ok(match results {
        Some(results) => {
            println!("{}", crate::report::console::final_report(&results));
            super::exit_code(&results, args.verdict.exit_code_on_error)
        }
        None => 0,
    })
}
