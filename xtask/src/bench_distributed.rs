//! `cargo xtask bench distributed`: loadgen as a worker of a real Locust master, beside Locust's
//! own FastHttpUser workers, on the trivial endpoint `bench loadgen` uses (nginx pinned to core 0).
//! For 1 and 2 workers of each kind: one headless master (`--expect-workers N`, 50 users a
//! worker, 10 s) on core 0 with nginx, each worker pinned to a core of its own from core 1 on (on
//! a machine with fewer cores, workers share the last one and the table says so). The figures
//! are the master's own: its `_stats.csv` requests/s, divided by the cores the workers had; and
//! the master's CPU per second of load, since a worker that floods the master with stats is a
//! defect of the worker.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use launcher::{Launch, Output, free_port, log_tail, procfs};

use crate::bench_loadgen::{CONNECTIONS, SECONDS, nginx, which, workdir};
use crate::bench_rounds::Rounds;
use crate::binaries::build_release;

/// One configuration's figures, from the master's point of view.
struct Distributed {
    /// Requests/s the master counted.
    rps: f64,
    /// Requests the master counted.
    requests: f64,
    /// The master's CPU over the run, in percent of one core.
    master_cpu: f64,
}

pub async fn run(rounds: u32) -> anyhow::Result<ExitCode> {
    for tool in ["nginx", "taskset"] {
        which(tool)
            .with_context(|| format!("{tool} is needed: apt-get install nginx-light util-linux"))?;
    }
    let loadgen = build_release("loadgen")?;
    let (dir, locust) = workdir("bench-distributed")?;
    let (nginx, url) = nginx(&dir, false).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Worker i on core 1 + i, or on the last core when there are not that many.
    let core_of = |i: usize| {
        (1 + i)
            .min(cores.saturating_sub(1))
            .max(usize::from(cores > 1))
    };
    let worker_cores = |n: usize| {
        let mut used: Vec<usize> = (0..n).map(core_of).collect();
        used.dedup();
        used.len()
    };

    let mut seen = Rounds::default();
    let mut master_cpu: Vec<(&'static str, f64)> = Vec::new();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        for (name, kind, workers) in [
            ("Locust FastHttpUser x1", Kind::Locust, 1),
            ("loadgen worker x1", Kind::Loadgen, 1),
            ("Locust FastHttpUser x2", Kind::Locust, 2),
            ("loadgen worker x2", Kind::Loadgen, 2),
        ] {
            eprintln!("measuring {name} under a Locust master for {SECONDS} s ...");
            let d = distributed(&locust, &loadgen, &dir, &url, kind, workers, &core_of)
                .await
                .with_context(|| format!("measuring {name}"))?;
            let per_core = d.rps / worker_cores(workers) as f64;
            seen.add(crate::bench_loadgen::Client {
                name,
                requests_per_second: per_core,
                cpu_us_per_request: if d.requests > 0.0 {
                    d.master_cpu / 100.0 * SECONDS as f64 * 1e6 / d.requests
                } else {
                    0.0
                },
            });
            master_cpu.push((name, d.master_cpu));
        }
    }
    nginx.stop().await.context("stopping nginx")?;

    seen.print_every_round();
    println!();
    if cores < 4 {
        println!(
            "note: {cores} cores: nginx and the master share core 0, and the 2 workers of a run \
             share core {} (requests/s per worker core is the run's over the cores its workers had)",
            core_of(1)
        );
    }
    println!(
        "{:<26} {:>20} {:>22}",
        format!("workers (median of {rounds})"),
        "req/s per worker core",
        "master CPU % (µs/req)"
    );
    for name in [
        "Locust FastHttpUser x1",
        "loadgen worker x1",
        "Locust FastHttpUser x2",
        "loadgen worker x2",
    ] {
        let c = seen.median(name)?;
        let cpu = median_of(
            master_cpu
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| *v),
        );
        println!(
            "{:<26} {:>20.0} {:>14.1} ({:.1})",
            name, c.requests_per_second, cpu, c.cpu_us_per_request
        );
    }
    println!();
    let mut within = true;
    for n in [1, 2] {
        let ratio = seen.ratio(
            if n == 1 {
                "loadgen worker x1"
            } else {
                "loadgen worker x2"
            },
            if n == 1 {
                "Locust FastHttpUser x1"
            } else {
                "Locust FastHttpUser x2"
            },
        );
        let ok = ratio >= 15.0;
        within &= ok;
        println!(
            "{} {n} worker{}: loadgen / Locust FastHttpUser = {ratio:.1}x per worker core (target >= 15x)",
            if ok { "ok  " } else { "MISS" },
            if n == 1 { "" } else { "s" }
        );
    }
    // The master's cost per request with loadgen workers must stay near its cost with Locust's:
    // the same report every 3 s, however many requests it carries.
    let locust_cpu = seen.median("Locust FastHttpUser x2")?.cpu_us_per_request;
    let ours = seen.median("loadgen worker x2")?.cpu_us_per_request;
    let ok = ours <= locust_cpu;
    within &= ok;
    println!(
        "{} the master's CPU per request with 2 loadgen workers = {ours:.2} µs (with Locust's: \
         {locust_cpu:.2} µs; target: no more)",
        if ok { "ok  " } else { "MISS" }
    );
    Ok(if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn median_of(values: impl Iterator<Item = f64>) -> f64 {
    let mut all: Vec<f64> = values.collect();
    all.sort_by(f64::total_cmp);
    all.get(all.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Clone, Copy)]
enum Kind {
    Locust,
    Loadgen,
}

/// One headless master with `workers` workers of `kind`, 50 users each, for SECONDS. The master
/// and the workers are load tools in xtask's own process group, as a shell would run them (a
/// Ctrl-C at the terminal ends them with xtask); every path out of here kills what is left.
async fn distributed(
    locust: &Path,
    loadgen: &Path,
    dir: &Path,
    url: &str,
    kind: Kind,
    workers: usize,
    core_of: &dyn Fn(usize) -> usize,
) -> anyhow::Result<Distributed> {
    let port = free_port()?.to_string();
    let users = (CONNECTIONS.parse::<usize>()? * workers).to_string();
    let csv = dir.join("master");
    let _ = std::fs::remove_file(dir.join("master_stats.csv"));
    let locust_bin = locust.to_str().context("the venv's path is not UTF-8")?;
    let mut master = Launch::new("taskset", dir.join("master.log"))
        .name("the Locust master")
        .args([
            "-c",
            "0",
            locust_bin,
            "-f",
            "locustfile.py",
            "--master",
            "--headless",
        ])
        .args(["--expect-workers", &workers.to_string()])
        .args([
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            &port,
        ])
        .args([
            "-u",
            &users,
            "-r",
            &users,
            "-t",
            &format!("{SECONDS}s"),
            "-H",
            url,
        ])
        .args(["--only-summary", "--csv"])
        .arg(&csv)
        .current_dir(dir)
        .stdout(Output::Null)
        .share_group()
        .start()
        .await
        .context("starting the Locust master")?;
    let mut children = Vec::new();
    for i in 0..workers {
        let core = core_of(i).to_string();
        let worker = Launch::new("taskset", dir.join(format!("worker{i}.log")))
            .name(format!("worker {i}"))
            .args(["-c", &core]);
        let worker = match kind {
            Kind::Locust => worker.args([locust_bin, "-f", "locustfile.py", "--worker"]),
            Kind::Loadgen => {
                worker
                    .arg(loadgen)
                    .args(["worker", "-f", "trivial.toml", "--master-wait", "30s"])
            }
        };
        let child = worker
            .args(["--master-host", "127.0.0.1", "--master-port", &port])
            .current_dir(dir)
            .stdout(Output::Null)
            .share_group()
            .start()
            .await
            .context("starting a worker")?;
        children.push(child);
    }
    // The master's CPU from its first second to its last: the whole run, spawning included.
    let pid = master.pid();
    let cpu_at = |pid: u32| procfs::stat(pid).map_or(0.0, |s| s.cpu_seconds());
    let start_cpu = cpu_at(pid);
    let started = std::time::Instant::now();
    let mut last_cpu = start_cpu;
    let deadline = started + Duration::from_secs(SECONDS + 60);
    let status = loop {
        if let Some(status) = master.try_wait()? {
            break status;
        }
        last_cpu = cpu_at(pid).max(last_cpu);
        if std::time::Instant::now() > deadline {
            // The master and the workers are killed as they are dropped.
            bail!("the Locust master did not end within {} s", SECONDS + 60);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    for mut c in children {
        // Each worker leaves when its master quits; one that hangs is killed here (dropped).
        let _ = c.wait(Duration::from_secs(5)).await;
    }
    if !status.success() {
        bail!(
            "the Locust master exited with {status}: see {}",
            dir.join("master.log").display()
        );
    }
    let (rps, requests) = crate::bench_loadgen::aggregated_from_locust_csv(&csv)
        .with_context(|| log_tail(&dir.join("master.log"), 20))?;
    Ok(Distributed {
        rps,
        requests,
        master_cpu: (last_cpu - start_cpu) / wall * 100.0,
    })
}
