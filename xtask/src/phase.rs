//! `cargo xtask phase smoke|stress|payment|soak|chaos`: the load-test plan end to end in one
//! command. Build once (release), start the stack, migrate and seed, start the Toss mock and the
//! shop as children behind a health gate, run loadgen with `loadgen/phases/NAME.toml` (with
//! `--inject`, faults applied on schedule meanwhile: `fault`), reconcile money and stock, and
//! leave everything in `reports/NAME-<time>/`. The exit code is the verdict's.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use fixtures::reconcile::{self, Before};
use fixtures::stack::Stack;
use launcher::{Launch, Service};

use crate::binaries::BinArgs;
use crate::fault::{self, apply::Children};
use crate::services;
use crate::stack_args::StackArgs;
use crate::up;
use crate::workspace;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum PhaseName {
    /// 10 users, 2/s, 2 min: every request succeeds, average < 200 ms
    Smoke,
    /// 10 -> 50 -> 100 -> 500 -> 1000 users, 5 min a step: where latency jumps, errors start
    Stress,
    /// 500 users, 50/s, 3 min on hot products with limited stock: payment concurrency
    Payment,
    /// 300 users, 30/s, 30 min: leaks, exhaustion, drift
    Soak,
    /// 15 payers, 70 s, with Redis, PostgreSQL and Toss faults injected (unless --inject says
    /// otherwise): recovery and the books
    Chaos,
}

impl PhaseName {
    fn file(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Stress => "stress",
            Self::Payment => "payment",
            Self::Soak => "soak",
            Self::Chaos => "chaos",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plan's phase
    #[arg(value_enum)]
    pub phase: PhaseName,
    /// Users (replaces the phase's stages with one stage; a short CI run of any phase)
    #[arg(short = 'u', long, env = "SHOPLOAD_USERS")]
    pub users: Option<usize>,
    /// Users started per second
    #[arg(short = 'r', long, env = "SHOPLOAD_SPAWN_RATE")]
    pub spawn_rate: Option<f64>,
    /// How long to run (90s, 5m): alone, the phase's stages scaled to fit; with -u/-r, one stage
    #[arg(short = 't', long, env = "SHOPLOAD_RUN_TIME")]
    pub run_time: Option<String>,
    /// A known bug to switch on in the shop (repeatable): cart-405, no-lock, pool=5, ...
    #[arg(long = "fault", env = "SHOP_FAULTS", value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Chaos for the Toss mock, e.g. "commit-then-drop-rate=0.05,latency=lognormal:median=120ms,p99=900ms"
    #[arg(long, env = "SHOPLOAD_CHAOS")]
    pub chaos: Option<String>,
    /// A fault injected during the load (repeatable), KIND@AT[+LENGTH][/LIMIT]: redis-stop@20s+10s,
    /// postgres-stall@50s+5s, postgres-restart@40s, toss-hang@30s+5s, toss-down@30s+10s,
    /// shop-kill@60s; AT from the start of the load, LIMIT the time allowed to recover [for
    /// chaos: its own set, which these replace]
    #[arg(
        long = "inject",
        value_name = "SPEC",
        env = "SHOPLOAD_INJECT",
        value_delimiter = ','
    )]
    pub inject: Vec<String>,
    /// Stock of each of the payment phase's five hot products (so out-of-stock is exercised)
    /// [default: 100; chaos: 300, so that payments go on through every fault]
    #[arg(long, env = "SHOPLOAD_HOT_STOCK")]
    pub hot_stock: Option<i64>,
    /// Where the report goes [default: reports/NAME-<time>/]
    #[arg(long, env = "SHOPLOAD_REPORT_DIR")]
    pub report_dir: Option<PathBuf>,
    /// PBKDF2 iterations of the test users' password hash [default: 1000000 (Django's) for smoke
    /// and --host, 10000 for payment, stress and soak, whose hundreds of logins a second would
    /// otherwise measure the hashing of one laptop, not the API under test]
    #[arg(long, env = "SHOPLOAD_HASH_ITERATIONS")]
    pub hash_iterations: Option<u32>,
    /// Leave the stack running afterwards, recorded like `up --detach`: its URLs are printed, and
    /// `cargo xtask down` stops it
    #[arg(long)]
    pub keep_stack: bool,
    /// Run the phase against your own shop: no stack, shop or mock is started here, nothing is
    /// reconciled; the test data is seeded only with --database-url
    #[arg(long, env = "SHOPLOAD_HOST")]
    pub host: Option<String>,
    /// With an https --host: a PEM file of the CA that signed its certificate (loadgen's flag)
    #[arg(long, value_name = "FILE", env = "SHOPLOAD_CA_CERT", requires = "host")]
    pub ca_cert: Option<PathBuf>,
    /// With an https --host: accept any certificate (a self-signed staging one; loadgen's flag)
    #[arg(
        long,
        env = "SHOPLOAD_INSECURE",
        requires = "host",
        conflicts_with = "ca_cert"
    )]
    pub insecure: bool,
    /// A threshold added to the phase's (repeatable), e.g. "p95 < 300ms"
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// An earlier run's report directory: the run ends with `loadgen compare` against it
    /// (compare.html, compare.json, compare.xml in the report) and exits 1 on a regression
    #[arg(long, value_name = "DIR", env = "SHOPLOAD_BASELINE")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: the limits that fail the phase instead of any regression, e.g. "p95 10%"
    #[arg(long = "max-regression", value_name = "LIMIT", requires = "baseline")]
    pub max_regression: Vec<String>,
    /// Serve loadgen's web UI instead of running the phase headless: the stack comes up as for
    /// the phase, the form starts at 10 users and 2/s (or -u/-r), and Ctrl-C or the UI's "Stop
    /// and quit" ends it; the reports cover the last run
    #[arg(long, env = "SHOPLOAD_UI")]
    pub ui: bool,
    /// With --ui: the UI's port
    #[arg(long, default_value_t = 8089, env = "SHOPLOAD_WEB_PORT")]
    pub web_port: u16,
    /// With --ui: HTTP basic credentials for the UI, USER:PASSWORD
    #[arg(long, value_name = "USER:PASSWORD", env = "SHOPLOAD_WEB_AUTH")]
    pub web_auth: Option<String>,
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub bins: BinArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let name = args.phase.file();
    let root = workspace::root();
    // Before anything else: a bad spec costs a one-line reason, not a build and a stack.
    let faults = fault_plan(&args)?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        root.join("reports")
            .join(format!("{name}-{}", chrono_stamp()))
    });
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    if let Some(baseline) = &args.baseline {
        // Before the build and the run: a mistyped baseline must not cost a whole phase.
        loadgen::compare::read_run(baseline).context("--baseline")?;
    }
    let record_path = workspace::stack_file(&args.stack.state_dir);
    if args.keep_stack && args.host.is_none() {
        // Checked before the build: a second recorded stack would orphan the first.
        up::clear_stale_record(&record_path).await?;
    }
    let stack_config = fault::stack_config(args.stack.config(), &faults).await;
    if args.host.is_none() {
        // Before the build: a machine that cannot run the stack hears so in seconds.
        let provider = crate::provider::ensure(&stack_config).await?;
        fault::check_provider(&faults, provider)?;
    }
    let binaries = args
        .bins
        .programs(&["loadgen", "target-shop", "toss-mock", "fixtures"])?;
    let (loadgen, shop, mock, fixtures) = (&binaries[0], &binaries[1], &binaries[2], &binaries[3]);

    if let Some(host) = &args.host {
        if let Some(db) = &args.stack.database_url {
            seed(fixtures, db, false, hash_iterations(&args))?;
        }
        let code = run_loadgen(loadgen, &args, host, &report_dir).await?;
        println!("report: {}", report_dir.join("report.html").display());
        let code = against_baseline(&args, &report_dir, code)?;
        write_index(&report_dir);
        return Ok(ExitCode::from(code));
    }

    let mut stack = Stack::start(&stack_config)
        .await
        .context("starting PostgreSQL and Redis")?;
    let binaries = Binaries {
        shop,
        mock,
        fixtures,
        loadgen,
    };
    let result = with_stack(&args, &mut stack, &binaries, &faults, &report_dir).await;
    if args.keep_stack {
        let (database_url, redis_url) = (
            stack.database_url().to_owned(),
            stack.redis_url().to_owned(),
        );
        let record = up::detach(stack, &record_path).await?;
        println!(
            "the {} stack keeps running (recorded in {}):\nexport DATABASE_URL='{database_url}'\n\
             export REDIS_URL='{redis_url}'\nstop it with: cargo xtask down",
            record.provider,
            record_path.display()
        );
    } else {
        stack.stop().await.context("stopping the stack")?;
    }
    let code = result?;
    println!("report: {}", report_dir.join("report.html").display());
    let code = against_baseline(&args, &report_dir, code)?;
    write_index(&report_dir);
    Ok(ExitCode::from(code))
}

/// With `--baseline`: `loadgen compare` of the baseline's run and this one, its files in this
/// report and its result in the report's own pages (a section of report.html, summary.json and
/// junit.xml); the phase's code becomes the worse of the two (2 when the runs are not comparable).
fn against_baseline(args: &Args, report_dir: &Path, code: u8) -> anyhow::Result<u8> {
    let Some(baseline) = &args.baseline else {
        return Ok(code);
    };
    println!("\ncompared with {}:", baseline.display());
    let compared = loadgen::compare::compare_runs(&loadgen::compare::Options {
        base: baseline.clone(),
        new: report_dir.to_path_buf(),
        max_regression: args.max_regression.clone(),
        // Without limits, any figure judged regressed fails the phase.
        fail_on_regression: args.max_regression.is_empty(),
        html: Some(report_dir.join("compare.html")),
        json: Some(report_dir.join("compare.json")),
        junit: Some(report_dir.join("compare.xml")),
        ..loadgen::compare::Options::default()
    })?;
    let section = loadgen::report::baseline::Baseline::new(
        &compared.comparison,
        &compared.checks,
        &args.max_regression,
        "compare.html",
    );
    loadgen::report::baseline::add_to_reports(report_dir, section)
        .context("adding the comparison to the report")?;
    if compared.code != 2 {
        println!("comparison: {}", report_dir.join("compare.html").display());
    }
    Ok(code.max(compared.code))
}

/// Rewrites the index of the runs beside this one; a failure there is said, not fatal.
fn write_index(report_dir: &Path) {
    let Some(reports) = report_dir.parent() else {
        return;
    };
    match crate::index::write(reports) {
        Ok(index) => println!("runs: {}", index.display()),
        Err(e) => eprintln!("warning: reports index not written: {e:#}"),
    }
}

/// The faults to inject: `--inject`, else the chaos phase's own; refused where this command does
/// not own what they act on.
fn fault_plan(args: &Args) -> anyhow::Result<Vec<fault::Spec>> {
    let injects: Vec<String> = if args.inject.is_empty() && args.phase == PhaseName::Chaos {
        fault::CHAOS_DEFAULTS.map(String::from).to_vec()
    } else {
        args.inject.clone()
    };
    if !injects.is_empty() && args.host.is_some() {
        bail!("--inject: faults act on this command's own stack and children, not on --host");
    }
    if !injects.is_empty() && args.ui {
        bail!("--inject: a UI run has no fixed start for the faults' times");
    }
    fault::plan(&injects, args.run_time.as_deref(), &phase_file(args))
}

fn phase_file(args: &Args) -> PathBuf {
    workspace::root()
        .join("loadgen")
        .join("phases")
        .join(format!("{}.toml", args.phase.file()))
}

/// The release binaries a local phase runs.
struct Binaries<'a> {
    shop: &'a Path,
    mock: &'a Path,
    fixtures: &'a Path,
    loadgen: &'a Path,
}

async fn with_stack(
    args: &Args,
    stack: &mut Stack,
    binaries: &Binaries<'_>,
    faults: &[fault::Spec],
    report_dir: &Path,
) -> anyhow::Result<u8> {
    let (shop_binary, mock_binary) = (binaries.shop, binaries.mock);
    seed(
        binaries.fixtures,
        stack.database_url(),
        true,
        hash_iterations(args),
    )?;
    let chaos: Vec<String> = chaos_flags(args.chaos.as_deref())?
        .into_iter()
        .flat_map(|(flag, value)| [format!("--{flag}"), value])
        .collect();
    let services::Running {
        service: mock,
        url: mock_url,
    } = services::toss_mock(mock_binary, report_dir, &chaos).await?;
    let (database_url, redis_url) = (
        stack.database_url().to_owned(),
        stack.redis_url().to_owned(),
    );
    let shop_config = services::ShopConfig {
        database_url: &database_url,
        redis_url: &redis_url,
        toss_url: &mock_url,
        redis_prefix: None,
        faults: args.faults.iter().map(String::as_str).collect(),
        pool_timeout: None,
    };
    let services::Running {
        service: shop,
        url: shop_url,
    } = services::shop(shop_binary, report_dir, &shop_config).await?;

    let db = reconcile::connect(stack.database_url()).await?;
    if matches!(args.phase, PhaseName::Payment | PhaseName::Chaos) {
        let ids = hot_products(&shop_url).await?;
        let stock = args.hot_stock.unwrap_or(match args.phase {
            PhaseName::Chaos => 300,
            _ => 100,
        });
        reconcile::limit_stock(&db, &ids, stock).await?;
        eprintln!("hot products {ids:?}: {stock} in stock each");
    }
    let before = Before::take(&db).await?;
    let load = loadgen_command(
        binaries.loadgen,
        args,
        &shop_url,
        Some(&mock_url),
        report_dir,
        Some((&*stack, shop.pid(), mock.pid())),
    )
    .start()
    .await
    .context("starting loadgen")?;
    let mut children = Children::new(
        mock,
        shop,
        mock_binary,
        &chaos,
        &mock_url,
        shop_binary,
        &shop_config,
        &shop_url,
        report_dir,
    );
    let (code, applied) = fault::apply::during(
        faults,
        stack,
        &mut children,
        args.stack.ready_timeout,
        wait_loadgen(load),
    )
    .await;
    let code = code?;
    let mut stats = services::mock_stats(&reqwest::Client::new(), &mock_url).await?;
    for earlier in &children.earlier_books {
        stats.add(earlier);
    }
    // A connection of its own: one opened before the load may have died with a PostgreSQL restart.
    let db = reconcile::connect(&database_url).await?;
    let checks = reconcile::check(&db, &stats, &before).await?;
    let passed = crate::reconciliation::report(&checks, report_dir)?;
    let recovered = applied.is_empty() || fault::report::report(report_dir, &applied)?;
    children.stop().await?;
    Ok(if code == 0 && !(passed && recovered) {
        1
    } else {
        code
    })
}

/// The payment scenario's hot products: the first five of the list's first page.
pub(crate) async fn hot_products(shop: &str) -> anyhow::Result<Vec<i64>> {
    let page: serde_json::Value = reqwest::get(format!("{shop}/api/products/"))
        .await?
        .json()
        .await
        .context("reading the product list")?;
    Ok(page["results"]
        .as_array()
        .context("no product list")?
        .iter()
        .take(5)
        .filter_map(|p| p["id"].as_i64())
        .collect())
}

/// The test users' hash cost: as asked, else Django's for the light smoke phase and for a
/// team's own shop, and a cheap one where the phase logs hundreds of users in at once on the
/// machine that also runs the shop, its database and loadgen (Django verifies any count).
fn hash_iterations(args: &Args) -> u32 {
    args.hash_iterations
        .unwrap_or(match (&args.phase, &args.host) {
            (PhaseName::Smoke, _) | (_, Some(_)) => 1_000_000,
            _ => 10_000,
        })
}

/// Migrates (when asked) and seeds the plan's data.
fn seed(
    fixtures: &Path,
    database_url: &str,
    migrate: bool,
    hash_iterations: u32,
) -> anyhow::Result<()> {
    let mut command = Command::new(fixtures);
    command.args(["seed", "--database-url", database_url]);
    command.args(["--hash-iterations", &hash_iterations.to_string()]);
    if migrate {
        command.arg("--migrate");
    }
    let out = command.output().context("running fixtures seed")?;
    if !out.status.success() {
        bail!(
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

/// Runs loadgen on the phase (against `--host`).
async fn run_loadgen(
    loadgen: &Path,
    args: &Args,
    host: &str,
    report_dir: &Path,
) -> anyhow::Result<u8> {
    let child = loadgen_command(loadgen, args, host, None, report_dir, None)
        .start()
        .await
        .context("starting loadgen")?;
    wait_loadgen(child).await
}

/// loadgen's command line for the phase. `ours` (the stack, and the pids of the shop and the
/// mock this command started) turns loadgen's server monitors on: PostgreSQL, Redis, the shop's
/// /metrics, and the processes' CPU and memory (the stack's own servers when they are local
/// processes, not containers). loadgen shows its progress on our terminal and stays in our
/// process group, so a Ctrl-C reaches it as it reaches us; it is killed if we leave without it.
fn loadgen_command(
    loadgen: &Path,
    args: &Args,
    host: &str,
    mock: Option<&str>,
    report_dir: &Path,
    ours: Option<(&Stack, u32, u32)>,
) -> Launch {
    let phase_file = phase_file(args);
    let mut command = Launch::attached(loadgen)
        .share_group()
        .arg("run")
        .arg("--phase")
        .arg(&phase_file)
        .args(["--host", host])
        .arg("--csv")
        .arg(report_dir.join(args.phase.file()))
        .arg("--html")
        .arg(report_dir.join("report.html"))
        .arg("--json")
        .arg(report_dir.join("summary.json"))
        .arg("--junit")
        .arg(report_dir.join("junit.xml"));
    if let Some(mock) = mock {
        command = command.arg("--var").arg(format!("toss_url={mock}"));
    }
    if let Some((stack, shop, toss)) = ours {
        command = command
            .args(["--db-url", stack.database_url()])
            .args(["--redis-url", stack.redis_url()])
            .arg("--metrics-url")
            .arg(format!("{host}/metrics"))
            .arg("--pid")
            .arg(format!("shop={shop}"))
            .arg("--pid")
            .arg(format!("toss-mock={toss}"));
        for p in stack.record().processes {
            command = command.arg("--pid").arg(format!("{}={}", p.name, p.pid));
        }
    }
    if args.ui {
        // The plan's exploratory start: 10 users at 2/s, raised from the UI's Edit.
        command = command
            .args(["--web-port", &args.web_port.to_string()])
            .args(["--users", &args.users.unwrap_or(10).to_string()])
            .args(["--spawn-rate", &args.spawn_rate.unwrap_or(2.0).to_string()]);
        if let Some(auth) = &args.web_auth {
            command = command.args(["--web-auth", auth]);
        }
    } else {
        command = command.arg("--headless");
        if let Some(u) = args.users {
            command = command.args(["--users", &u.to_string()]);
        }
        if let Some(r) = args.spawn_rate {
            command = command.args(["--spawn-rate", &r.to_string()]);
        }
    }
    if let Some(t) = &args.run_time {
        command = command.args(["--run-time", t]);
    }
    for t in &args.thresholds {
        command = command.args(["--threshold", t]);
    }
    if let Some(ca) = &args.ca_cert {
        command = command.arg("--ca-cert").arg(ca);
    }
    if args.insecure {
        command = command.arg("--insecure");
    }
    command
}

/// Waits for loadgen, as long as it runs; its exit code is the run's verdict (2: it could not run).
async fn wait_loadgen(mut child: Service) -> anyhow::Result<u8> {
    // Ctrl-C reaches loadgen too (same process group): it stops, reports, and we clean up after it.
    let status = loop {
        tokio::select! {
            status = child.wait(std::time::Duration::MAX) => break status?,
            _ = tokio::signal::ctrl_c() => eprintln!("stopping: waiting for loadgen's report"),
        }
    };
    match status.code() {
        Some(code @ (0 | 1)) => Ok(code as u8),
        _ => bail!("loadgen could not run the phase ({status})"),
    }
}

/// `a=1,b=x` into the mock's flags (`--a 1 --b x`); a latency spec keeps its own commas.
fn chaos_flags(chaos: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
    let Some(chaos) = chaos else {
        return Ok(Vec::new());
    };
    let mut flags: Vec<(String, String)> = Vec::new();
    for part in chaos.split(',') {
        match part.split_once('=') {
            Some((k, v)) if !k.contains(':') && !k.contains("median") && !k.starts_with("p9") => {
                flags.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            _ => match flags.last_mut() {
                // `latency=lognormal:median=120ms,p99=900ms`: the part after a comma continues it.
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(part.trim());
                }
                None => bail!(
                    "--chaos {chaos:?}: write name=value pairs, e.g. commit-then-drop-rate=0.05"
                ),
            },
        }
    }
    Ok(flags)
}

fn chrono_stamp() -> String {
    chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_specs_become_the_mocks_flags() {
        assert_eq!(
            chaos_flags(Some(
                "commit-then-drop-rate=0.05,latency=lognormal:median=120ms,p99=900ms"
            ))
            .unwrap(),
            vec![
                ("commit-then-drop-rate".to_owned(), "0.05".to_owned()),
                (
                    "latency".to_owned(),
                    "lognormal:median=120ms,p99=900ms".to_owned()
                )
            ]
        );
        assert!(chaos_flags(Some("nonsense")).is_err());
    }
}
