//! `cargo xtask bench loadgen`: the load generator beside its peers, in one run, on 127.0.0.1.
//! nginx serves a trivial keep-alive endpoint pinned to core 0; each client (wrk, Locust's
//! FastHttpUser, loadgen) is pinned to core 1 in turn with 50 connections for 10 s, so the figures
//! are per core; `--rounds` repeats the whole turn and each figure is the median of its rounds (a
//! shared machine's slow spells otherwise decide a ratio). Then the built-in shop scenario (login, browse, cart, order, checkout, confirm)
//! against an nginx stub that answers every request at once with the JSON the scenario captures,
//! so the figure is loadgen's own cost per request of a real scenario. `--baseline BINARY` runs an
//! earlier loadgen through the same two measurements, for a before/after table. Then loadgen's
//! memory at 10,000 idle users, and its accuracy against a server that stalls 1 s every 10 s at
//! 1,000 req/s for 60 s.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use launcher::{Launch, Output, Service, free_port, procfs};
use loadgen::summary::Summary;
use nix::sys::resource::{UsageWho, getrusage};

use crate::bench_rounds::Rounds;
use crate::binaries::build_release;
use crate::workspace;

pub(crate) const CONNECTIONS: &str = "50";
pub(crate) const SECONDS: u64 = 10;

#[derive(Clone, Copy)]
pub(crate) struct Client {
    pub name: &'static str,
    pub requests_per_second: f64,
    pub cpu_us_per_request: f64,
}

pub async fn run(baseline: Option<&Path>, rounds: u32) -> anyhow::Result<ExitCode> {
    for tool in ["nginx", "wrk", "taskset"] {
        which(tool).with_context(|| {
            format!("{tool} is needed: apt-get install nginx-light wrk util-linux")
        })?;
    }
    let loadgen = build_release("loadgen")?;
    let (dir, locust) = workdir("bench-loadgen")?;
    let (nginx, url) = nginx(&dir, false).await?;

    let mut rounds_seen = Rounds::default();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        let mut add = |client: Client| rounds_seen.add(client);
        add(measure("wrk", || wrk_run(&url))?);
        add(measure("Locust FastHttpUser", || {
            locust_run(&locust, &dir, &url)
        })?);
        add(measure("loadgen", || {
            trivial_run(&loadgen, &dir, &url, &[])
        })?);
        add(measure("loadgen, shop scenario", || {
            shop_run(&loadgen, &dir, &url)
        })?);
        add(measure("loadgen, web UI polled", || {
            crate::bench_web::polled_run(&loadgen, &dir, &url)
        })?);
        if let Some(old) = baseline {
            add(measure("baseline loadgen", || {
                trivial_run(old, &dir, &url, &[])
            })?);
            add(measure("baseline loadgen, shop scenario", || {
                shop_run(old, &dir, &url)
            })?);
        }
    }
    let median = |name: &str| rounds_seen.median(name);
    let ratio = |a: &str, b: &str| rounds_seen.ratio(a, b);
    let wrk = median("wrk")?;
    let locust_figure = median("Locust FastHttpUser")?;
    let loadgen_figure = median("loadgen")?;
    let shop = median("loadgen, shop scenario")?;
    let before = match baseline {
        Some(_) => Some((
            median("baseline loadgen")?,
            median("baseline loadgen, shop scenario")?,
        )),
        None => None,
    };

    let idle_rss = idle_memory(&loadgen, &dir, &url).await?;
    nginx.stop().await.context("stopping nginx")?;
    let (p99, p999) = accuracy(&loadgen, &dir).await?;

    rounds_seen.print_every_round();
    println!();
    println!(
        "{:<32} {:>12} {:>14}",
        format!("client (one core, median of {rounds})"),
        "req/s",
        "CPU µs/request"
    );
    let polled = median("loadgen, web UI polled")?;
    let mut rows = vec![&wrk, &locust_figure, &loadgen_figure, &polled, &shop];
    if let Some((trivial, scenario)) = &before {
        rows.extend([trivial, scenario]);
    }
    for c in rows {
        println!(
            "{:<32} {:>12.0} {:>14.1}",
            c.name, c.requests_per_second, c.cpu_us_per_request
        );
    }
    if let Some((trivial, scenario)) = &before {
        println!();
        println!(
            "before/after: trivial {:.2}x, shop scenario {:.2}x (requests/s, after / before; \
             median of the rounds' ratios; CPU per request {:.1} -> {:.1} µs and {:.1} -> {:.1} µs)",
            ratio("loadgen", "baseline loadgen"),
            ratio("loadgen, shop scenario", "baseline loadgen, shop scenario"),
            trivial.cpu_us_per_request,
            loadgen_figure.cpu_us_per_request,
            scenario.cpu_us_per_request,
            shop.cpu_us_per_request
        );
    }
    let ui_cost = 1.0 - ratio("loadgen, web UI polled", "loadgen");
    let vs_locust = ratio("loadgen", "Locust FastHttpUser");
    let vs_wrk = ratio("loadgen", "wrk");
    let rss_mb = idle_rss as f64 / 1_048_576.0;
    println!();
    let mut within = true;
    let mut check = |what: String, ok: bool| {
        within &= ok;
        println!("{} {what}", if ok { "ok  " } else { "MISS" });
    };
    check(
        format!("loadgen / Locust FastHttpUser = {vs_locust:.1}x (target >= 20x)"),
        vs_locust >= 20.0,
    );
    check(
        format!("loadgen / wrk = {vs_wrk:.2}x (target >= 0.9x)"),
        vs_wrk >= 0.9,
    );
    check(
        format!(
            "loadgen with a browser polling its web UI: {:+.1} % requests/s against headless \
             (target: under 3 % fewer)",
            -ui_cost * 100.0
        ),
        ui_cost < 0.03,
    );
    check(
        format!("RSS at 10,000 idle users = {rss_mb:.0} MB (target < 200 MB)"),
        rss_mb < 200.0,
    );
    check(
        format!("corrected p99 = {p99:.0} ms (target 900 ms ± 10%)"),
        (p99 - 900.0).abs() <= 90.0,
    );
    check(
        format!("corrected p99.9 = {p999:.0} ms (target 990 ms ± 10%)"),
        (p999 - 990.0).abs() <= 99.0,
    );
    Ok(if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// wrk on the trivial endpoint: requests/s and requests.
pub(crate) fn wrk_run(url: &str) -> anyhow::Result<(f64, f64)> {
    let out = pinned("wrk")
        .args([
            "-t1",
            "-c",
            CONNECTIONS,
            "-d",
            &format!("{SECONDS}s"),
            &format!("{url}/"),
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {text}"))?;
    Ok((rps, rps * SECONDS as f64))
}

/// Locust's FastHttpUser on the trivial endpoint, headless: requests/s and requests.
pub(crate) fn locust_run(locust: &Path, dir: &Path, url: &str) -> anyhow::Result<(f64, f64)> {
    let csv = dir.join("locust");
    let out = pinned(locust.to_str().unwrap_or("locust"))
        .current_dir(dir)
        .args([
            "-f",
            "locustfile.py",
            "--headless",
            "--only-summary",
            "-u",
            CONNECTIONS,
            "-r",
            CONNECTIONS,
        ])
        .args(["-t", &format!("{SECONDS}s"), "-H", url, "--csv"])
        .arg(&csv)
        .output()?;
    aggregated_from_locust_csv(&csv)
        .with_context(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// loadgen on the trivial endpoint: requests/s and requests.
/// `extra`: more flags (`--ca-cert ca.pem` over HTTPS).
pub(crate) fn trivial_run(
    loadgen: &Path,
    dir: &Path,
    url: &str,
    extra: &[&str],
) -> anyhow::Result<(f64, f64)> {
    loadgen_run(
        loadgen,
        dir,
        &[&trivial_flags(url)[..], extra].concat(),
        "trivial.json",
    )
}

/// The trivial endpoint's run: CONNECTIONS users started at once, no think time.
pub(crate) fn trivial_flags(url: &str) -> [&str; 8] {
    [
        "-H",
        url,
        "-f",
        "trivial.toml",
        "-u",
        CONNECTIONS,
        "-r",
        "1000",
    ]
}

/// `target/shopload/NAME` with the trivial endpoint's Locust file and loadgen scenario in it, and
/// Locust from the project's venv.
pub(crate) fn workdir(name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = workspace::root().join("target").join("shopload").join(name);
    std::fs::create_dir_all(&dir)?;
    let locust = workspace::venv_bin("locust")?;
    // FastHttpUser checks no certificate (`insecure = True` is its default): said, not assumed.
    std::fs::write(
        dir.join("locustfile.py"),
        "from locust import FastHttpUser, task\n\n\nclass Trivial(FastHttpUser):\n    insecure = True\n\n    @task\n    def root(self):\n        self.client.get(\"/\")\n",
    )?;
    std::fs::write(
        dir.join("trivial.toml"),
        "[[task]]\n[[task.request]]\npath = \"/\"\n",
    )?;
    Ok((dir, locust))
}

/// loadgen's built-in shop scenario, without think time, against the stub: every request
/// succeeds at once, so what is measured is the scenario's own work (templates, captures, JSON).
fn shop_run(loadgen: &Path, dir: &Path, url: &str) -> anyhow::Result<(f64, f64)> {
    let scenario = dir.join("shop-no-wait.toml");
    let source = std::fs::read_to_string(workspace::root().join("loadgen/scenarios/shop.toml"))?;
    let no_wait: String = source
        .lines()
        .map(|l| {
            if l.starts_with("wait_time") {
                "wait_time = \"0s\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&scenario, no_wait)?;
    let host = format!("{url}/shop");
    let toss = format!("toss_url={url}/shop");
    loadgen_run(
        loadgen,
        dir,
        &[
            "-H",
            &host,
            "-f",
            "shop-no-wait.toml",
            "--var",
            &toss,
            "-u",
            CONNECTIONS,
            "-r",
            "1000",
        ],
        "shop.json",
    )
}

/// One pinned loadgen run of SECONDS; requests/s and requests from its summary.json. A run with
/// failures is refused: a stub that does not answer as the scenario expects measures nothing.
pub(crate) fn loadgen_run(
    loadgen: &Path,
    dir: &Path,
    args: &[&str],
    json: &str,
) -> anyhow::Result<(f64, f64)> {
    let out = pinned(loadgen.to_str().unwrap_or("loadgen"))
        .current_dir(dir)
        .arg("run")
        .arg("--headless")
        .args(args)
        .args([
            "-t",
            &format!("{SECONDS}s"),
            "--only-summary",
            "--json",
            json,
        ])
        .output()?;
    if !out.status.success() {
        bail!("loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    requests_of(dir, json)
}

/// Requests/s and requests of a run's summary.json. A run with failures is refused: a stub that
/// does not answer as the scenario expects measures nothing.
pub(crate) fn requests_of(dir: &Path, json: &str) -> anyhow::Result<(f64, f64)> {
    let s = Summary::read(dir.join(json))?;
    let (requests, failures) = (s.aggregate.requests, s.aggregate.failures);
    if failures > 0 {
        bail!(
            "{failures} of {requests} requests failed in {json}: the stub and the scenario disagree"
        );
    }
    let requests = requests as f64;
    Ok((requests / s.meta.duration_s, requests))
}

/// Runs one client and charges it the CPU its process used (from the kernel's child accounting).
pub(crate) fn measure(
    name: &'static str,
    run: impl FnOnce() -> anyhow::Result<(f64, f64)>,
) -> anyhow::Result<Client> {
    eprintln!("measuring {name} for {SECONDS} s ...");
    let before = children_cpu_us()?;
    let (requests_per_second, requests) = run().with_context(|| format!("measuring {name}"))?;
    let cpu = children_cpu_us()? - before;
    Ok(Client {
        name,
        requests_per_second,
        cpu_us_per_request: if requests > 0.0 { cpu / requests } else { 0.0 },
    })
}

fn children_cpu_us() -> anyhow::Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
    Ok(us(usage.user_time()) + us(usage.system_time()))
}

pub(crate) fn pinned(program: &str) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", "1", program]).stdin(Stdio::null());
    c
}

pub(crate) fn which(tool: &str) -> anyhow::Result<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()?;
    if !out.status.success() {
        bail!("{tool} not found");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The shop's routes under `/shop/`, each answered at once with one JSON body holding every
/// value the built-in scenario captures, and the status it expects (201 for what it creates).
const SHOP_STUB: &str = concat!(
    "    location /shop/ { default_type application/json; return 200 '",
    r#"{"access":"a","refresh":"r","count":3,"results":[{"id":1},{"id":2},{"id":3}],"order_number":"ORD-1","total_amount":1000,"paymentKey":"pk","status":"paid"}"#,
    "'; }\n",
    "    location ~ ^/shop/api/(cart/items|orders|products/.*/stock/reserve)/$ { default_type application/json; return 201 '",
    r#"{"id":1,"order_number":"ORD-1","total_amount":1000,"quantity":1}"#,
    "'; }\n",
);

/// nginx pinned to core 0 (the trivial endpoint at `/`, the shop stub under `/shop/`), and its
/// base URL. With `tls`, that is HTTPS with `dir`'s `server.pem` and `server.key`, and plain HTTP
/// on another port serves the health check.
pub(crate) async fn nginx(dir: &Path, tls: bool) -> anyhow::Result<(Service, String)> {
    let (port, plain) = (free_port()?, free_port()?);
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    let listen = if tls {
        format!(
            "listen 127.0.0.1:{port} ssl;\n    listen 127.0.0.1:{plain};\n    \
             ssl_certificate {dir}/server.pem;\n    ssl_certificate_key {dir}/server.key;\n",
            dir = dir.display()
        )
    } else {
        format!("listen 127.0.0.1:{port};\n")
    };
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {err} warn;\nworker_rlimit_nofile 30000;\n\
             events {{ worker_connections 20000; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n\
               client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n  fastcgi_temp_path {tmp};\n  uwsgi_temp_path {tmp};\n  scgi_temp_path {tmp};\n\
               ssl_session_cache shared:SSL:10m;\n\
               server {{\n    {listen}    location / {{ default_type text/plain; return 200 \"ok\"; }}\n{shop}  }}\n}}\n",
            shop = SHOP_STUB,
            pid = prefix.join("nginx.pid").display(),
            err = prefix.join("logs").join("error.log").display(),
            tmp = prefix.display(),
        ),
    )?;
    let health = if tls { plain } else { port };
    let nginx = Launch::new("taskset", prefix.join("logs").join("stdout.log"))
        .name("nginx")
        .args(["-c", "0", "nginx", "-p"])
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .health(format!("http://127.0.0.1:{health}/"))
        .deadline(Duration::from_secs(10))
        .start()
        .await
        .context("starting nginx")?;
    let scheme = if tls { "https" } else { "http" };
    Ok((nginx, format!("{scheme}://127.0.0.1:{port}")))
}

pub(crate) fn aggregated_from_locust_csv(prefix: &Path) -> anyhow::Result<(f64, f64)> {
    let path = PathBuf::from(format!("{}_stats.csv", prefix.display()));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let row = text
        .lines()
        .find(|l| l.starts_with(",Aggregated,"))
        .context("no Aggregated row in Locust's CSV")?;
    let cells: Vec<&str> = row.split(',').collect();
    let requests: f64 = cells.get(2).context("short row")?.parse()?;
    let failures: f64 = cells.get(3).context("short row")?.parse()?;
    // Failed requests (a refused certificate, a closed port) are fast and count as requests.
    if failures > 0.0 {
        bail!(
            "{failures} of Locust's {requests} requests failed: see {}",
            path.display()
        );
    }
    let rps: f64 = cells.get(9).context("short row")?.parse()?;
    Ok((rps, requests))
}

/// loadgen's resident memory with 10,000 users connected and idle.
async fn idle_memory(loadgen: &Path, dir: &Path, url: &str) -> anyhow::Result<u64> {
    eprintln!("measuring loadgen's memory at 10,000 idle users ...");
    std::fs::write(
        dir.join("idle.toml"),
        "wait_time = \"constant 60s\"\n[[task]]\n[[task.request]]\npath = \"/\"\n",
    )?;
    // A load tool in xtask's own group, as a shell would run it; killed on every path out of here.
    let mut child = Launch::attached(loadgen)
        .current_dir(dir)
        .args([
            "run",
            "--headless",
            "-H",
            url,
            "-f",
            "idle.toml",
            "-u",
            "10000",
            "-r",
            "5000",
            "-t",
            "12s",
            "--only-summary",
        ])
        .stdout(Output::Null)
        .stderr(Output::Null)
        .share_group()
        .start()
        .await?;
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(11) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(rss) = procfs::memory(child.pid()).and_then(|m| m.rss) {
            peak = peak.max(rss);
        }
    }
    // A 12 s run: one still going after 2 minutes is hung (and killed as it is dropped).
    let status = child.wait(Duration::from_secs(120)).await?;
    if !status.success() {
        bail!("loadgen with 10,000 users failed ({status})");
    }
    Ok(peak)
}

/// A server that stalls 1 s every 10 s, driven at 1,000 req/s for 60 s: returns the corrected
/// p99 and p99.9 (ms), whose analytic values are 900 and 990.
async fn accuracy(loadgen: &Path, dir: &Path) -> anyhow::Result<(f64, f64)> {
    eprintln!("measuring loadgen's accuracy against 1 s stalls every 10 s for 60 s ...");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            let into = Duration::from_nanos((started.elapsed().as_nanos() % 10_000_000_000) as u64);
            if into < Duration::from_secs(1) {
                tokio::time::sleep(Duration::from_secs(1) - into).await;
            }
            "ok"
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    std::fs::write(
        dir.join("stall.toml"),
        "[[task]]\n[[task.request]]\npath = \"/\"\n",
    )?;
    let loadgen = loadgen.to_owned();
    let dir_owned = dir.to_owned();
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("taskset")
            .args(["-c", "1"])
            .arg(&loadgen)
            .current_dir(&dir_owned)
            .args([
                "run",
                "--headless",
                "-H",
                &url,
                "-f",
                "stall.toml",
                "--arrival-rate",
                "1000/s",
                "-u",
                "50",
                "-t",
                "60s",
            ])
            .args(["--only-summary", "--json", "stall.json"])
            .output()
    })
    .await??;
    server.abort();
    if !out.status.success() {
        bail!("loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s = Summary::read(dir.join("stall.json"))?;
    let c = s
        .aggregate
        .corrected_percentiles_ms
        .context("no corrected percentiles in stall.json")?;
    Ok((
        c.p99.context("no corrected p99")?,
        c.p99_9.context("no corrected p99.9")?,
    ))
}
