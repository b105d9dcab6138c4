//! `loadgen run`'s flags: Locust's names (and `--phase`, `--arrival-rate`, `--threshold`), every
//! one also read from the environment (`LOADGEN_*`) by clap in the binary. This is the `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::timespan;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "shopload's load generator: Locust's flags and CSV files, exact percentiles, \
             thresholds with exit codes, an HTML report that opens offline",
    after_help = "Exit codes (as Locust's): with thresholds, 0 every threshold held and 1 one failed; \
                  without any, 0 when no request failed and --exit-code-on-error (1) when one did; \
                  2 the run could not happen.\n\
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
    /// Compare two runs (summary.json files or report directories): every figure side by side,
    /// judged against the runs' own noise, and a regression gate for CI
    #[command(
        long_about = "Compare two runs (each a summary.json or a report directory holding one): \
                      per endpoint and in aggregate requests/s, failure %, avg, p50, p95, p99, p99.9, \
                      and the server side where both runs have it (database connections, pool waits, \
                      CPU per request, statements per request); endpoints and findings of one run only.\n\n\
                      How a change is judged: each run's seconds are its samples (that second's p95, \
                      request count, failure ratio ...). A change counts as a regression or an \
                      improvement only when the Mann-Whitney rank test over both runs' seconds gives \
                      p < 0.01 and the change is at least --min-change (5 %; a tenth of it in \
                      percentage points for fail_ratio); otherwise it is \"within noise\". Each row says \
                      how many seconds each side had; fewer than 5 and it is not judged.",
        after_help = "Exit codes: 0 no limit broken, 1 a --max-regression limit broken by a significant \
                      change, 2 the runs cannot be compared (another scenario, phase, load or endpoints; \
                      --force compares the common part) or an argument is wrong.\n\
                      Example: loadgen compare reports/smoke-20261201-1000 reports/smoke-20261203-0930 \
                      --max-regression \"p95 10%\" --max-regression \"rps -5%\" --junit compare.xml"
    )]
    Compare(CompareArgs),
    /// Merge the summary.json of sharded runs (--shard I/N) into one run's reports, exactly, and
    /// judge the thresholds on the whole
    #[command(
        long_about = "Merge the summary.json files of the N shards of one run (loadgen run --shard I/N) \
                      into the reports of one run, as `loadgen run` writes them: counts summed, every \
                      endpoint's HdrHistogram added (so percentiles are exact, not averaged), the \
                      per-second series added on wall-clock time, failures and errors combined. The \
                      thresholds the shards carried and every --threshold are judged on the whole.\n\n\
                      Every shard 1..N must be there exactly once, of one scenario and phase: a \
                      missing, unreadable or foreign file stops the merge (exit 2), never a partial one.",
        after_help = "Exit codes (as `loadgen run`'s): with thresholds, 0 every threshold held and 1 one \
                      failed; without any, 0 when no request failed and --exit-code-on-error (1) when \
                      one did; 2 the shards could not be merged.\n\
                      Example: loadgen merge reports/shards --csv reports/all --html reports/all.html \
                      --json reports/all.json --threshold \"p95 < 500ms\""
    )]
    Merge(MergeArgs),
    /// Join a Locust master (`locust --master`) as one of its workers and run this scenario's
    /// users when it says so; its web UI, console and CSV files show our requests
    #[command(
        long_about = "Join a Locust master (`locust --master`, Locust 2.11 or later) as one of its \
                      workers, speaking its protocol (msgpack over ZeroMQ): the master decides how many \
                      users run and when (its web UI, --headless -u/-r/-t, or a load shape), this \
                      worker runs that many users of the scenario and reports every 3 s in Locust's \
                      own buckets, so the master's UI, console and CSV files show its requests. The \
                      master's locustfile names the user classes (any HttpUser class will do); the \
                      users run this worker's scenario whatever the class.\n\n\
                      The worker also keeps its exact histograms: --json writes its own summary.json \
                      at the end of each test, marked as shard INDEX+1 of the master's \
                      --expect-workers, so `loadgen merge` gives exact percentiles where the master \
                      has only Locust's rounded buckets.",
        after_help = "Exit codes: 0 the master said quit (or Ctrl-C, or a test reached --max-run-time), \
                      2 no master answered within --master-wait, or the master went silent for 60 s.\n\
                      Example: locust -f master.py --master --headless --expect-workers 2 -u 20 -r 5 \
                      -t 1m -H http://127.0.0.1:8000 --csv reports/locust &\n         \
                      loadgen worker --master-host 127.0.0.1 --scenario shop --json reports/w1.json"
    )]
    Worker(Box<WorkerArgs>),
}

#[derive(Args, Debug, Clone)]
#[command(
    mut_arg("ca_cert", |a| a.help("HTTPS: a PEM file with the CA certificate(s) that signed the server's")),
    mut_arg("insecure", |a| a.help("HTTPS: accept any certificate (the server is then not authenticated)")),
)]
pub struct WorkerArgs {
    /// The master's host (Locust's flag and variable)
    #[arg(long, default_value = "127.0.0.1", env = "LOCUST_MASTER_NODE_HOST")]
    pub master_host: String,
    /// The master's port (its --master-bind-port)
    #[arg(long, default_value_t = 5557, env = "LOCUST_MASTER_NODE_PORT")]
    pub master_port: u16,
    /// How long to wait for the master to answer (it may start after its workers) before giving
    /// up: 300s is Locust's 60 tries of 5 s
    #[arg(long, default_value = "300s", env = "LOADGEN_MASTER_WAIT", value_parser = timespan::parse)]
    pub master_wait: Duration,
    /// Built-in scenario (shop, payment, browse) or a scenario TOML file
    #[arg(
        short = 'f',
        long,
        visible_alias = "locustfile",
        default_value = "shop",
        env = "LOADGEN_SCENARIO"
    )]
    pub scenario: String,
    /// The system under test when the master has no --host (the master's wins)
    #[arg(short = 'H', long, env = "LOADGEN_HOST")]
    pub host: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// A scenario variable, repeatable: --var toss_url=http://127.0.0.1:8090
    #[arg(
        long = "var",
        value_name = "KEY=VALUE",
        env = "LOADGEN_VARS",
        value_delimiter = ','
    )]
    pub vars: Vec<String>,
    /// Seed of every random choice (each worker adds its index, so workers differ)
    #[arg(long, default_value_t = 0, env = "LOADGEN_SEED")]
    pub seed: u64,
    /// Give up on a request after this long
    #[arg(long, default_value = "60s", env = "LOADGEN_REQUEST_TIMEOUT", value_parser = timespan::parse)]
    pub request_timeout: Duration,
    /// How long users may finish their task when the master stops the test
    #[arg(long, default_value = "0", env = "LOADGEN_STOP_TIMEOUT", value_parser = timespan::parse)]
    pub stop_timeout: Duration,
    /// The longest one test may run on this worker, whatever the master says; then the worker
    /// leaves the master
    #[arg(long, default_value = "1h", env = "LOADGEN_MAX_RUN_TIME", value_parser = timespan::parse)]
    pub max_run_time: Duration,
    /// Write this worker's own summary.json (exact histograms) to FILE at the end of each test
    #[arg(long, value_name = "FILE", env = "LOADGEN_JSON")]
    pub json: Option<String>,
    /// Write this worker's own HTML report to FILE at the end of each test
    #[arg(long, value_name = "FILE", env = "LOADGEN_HTML")]
    pub html: Option<String>,
}

#[derive(Args, Debug, Clone)]
#[command(
    mut_arg("csv", |a| a.env("LOADGEN_MERGE_CSV").help(
        "Write Locust's CSV files PREFIX_stats.csv, _stats_history.csv (its header: the shards' \
         running totals are not in their summaries), _failures.csv, _exceptions.csv",
    )),
    mut_arg("html", |a| a.env("LOADGEN_MERGE_HTML").help("Write the merged run's self-contained HTML report to FILE")),
    mut_arg("json", |a| a.env("LOADGEN_MERGE_JSON").help("Write the merged run's summary.json to FILE")),
    mut_arg("junit", |a| a.env("LOADGEN_MERGE_JUNIT")),
    mut_arg("thresholds", |a| a.env("LOADGEN_MERGE_THRESHOLDS").help(
        "A pass/fail rule judged on the merged run, repeatable, beside those the shards carried: \
         \"p95 < 1000ms\", \"rps >= 100\", \"p99{stage=3} < 2s\"",
    )),
    mut_arg("exit_code_on_error", |a| a.help("The exit code of a merged run without thresholds in which any request failed")),
)]
pub struct MergeArgs {
    /// The shards' summary.json files, or directories searched (three levels deep) for files
    /// named summary.json
    #[arg(required = true, value_name = "DIR_OR_FILE")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The run before (summary.json or its report directory)
    pub base: PathBuf,
    /// The run after
    pub new: PathBuf,
    /// A limit, repeatable: "p95 10%", "p99{POST /api/payments/confirm/} 20%", "rps -5%",
    /// "fail_ratio +0.5pp", "p99 +50ms"; without {endpoint} it holds for every endpoint and the
    /// aggregate
    #[arg(
        long = "max-regression",
        value_name = "LIMIT",
        env = "LOADGEN_MAX_REGRESSION",
        value_delimiter = ';'
    )]
    pub max_regression: Vec<String>,
    /// Exit 1 when any figure is judged regressed (what `cargo xtask phase --baseline` does
    /// without limits)
    #[arg(long, env = "LOADGEN_FAIL_ON_REGRESSION")]
    pub fail_on_regression: bool,
    /// The smallest relative change, in percent, that counts however confident the test is
    #[arg(
        long,
        default_value_t = crate::compare::DEFAULT_MIN_CHANGE,
        value_name = "PERCENT",
        env = "LOADGEN_MIN_CHANGE"
    )]
    pub min_change: f64,
    /// Compare runs that are not like for like (their common endpoints)
    #[arg(long, env = "LOADGEN_FORCE")]
    pub force: bool,
    /// Write the comparison as one offline HTML page (the table, the gate, both runs' charts on
    /// one time axis)
    #[arg(long, value_name = "FILE", env = "LOADGEN_COMPARE_HTML")]
    pub html: Option<PathBuf>,
    /// Write the comparison as JSON
    #[arg(long, value_name = "FILE", env = "LOADGEN_COMPARE_JSON")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML: a test case per limit and figure (per figure without limits)
    #[arg(long, value_name = "FILE", env = "LOADGEN_COMPARE_JUNIT")]
    pub junit: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Base URL of the system under test (http://host:port or https://host:port); wins over the
    /// phase file's host
    #[arg(short = 'H', long, env = "LOADGEN_HOST")]
    pub host: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// HTTP/2: offered by ALPN on https (the server may still choose HTTP/1.1), spoken with prior
    /// knowledge (h2c) on http://; one connection per user, one request at a time on it
    #[arg(long, env = "LOADGEN_HTTP2")]
    pub http2: bool,
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
    #[arg(short = 't', long, env = "LOADGEN_RUN_TIME", value_parser = timespan::parse)]
    pub run_time: Option<Duration>,
    /// Open model: start iterations at this rate (500/s) instead of looping users
    #[arg(long, env = "LOADGEN_ARRIVAL_RATE")]
    pub arrival_rate: Option<String>,
    /// Run shard I of N of this plan (I from 1): its share of the users, spawn and arrival rates
    /// (and of every stage's); `loadgen merge` adds the N shards' summary.json up into one run.
    /// auto/N: claim the lowest free index in --shard-dir (replicas started alike)
    #[arg(
        long,
        value_name = "I/N",
        env = "LOADGEN_SHARD",
        help_heading = "Sharding"
    )]
    pub shard: Option<String>,
    /// A directory every shard sees (a bind mount, a volume): the shard claims its index there
    /// (DIR/shard-I-of-N.claim, created exclusively: never two processes on one shard) and writes
    /// its summary.json to DIR/shard-I-of-N/summary.json for `loadgen merge DIR`; one run per
    /// directory
    #[arg(
        long,
        value_name = "DIR",
        env = "LOADGEN_SHARD_DIR",
        help_heading = "Sharding"
    )]
    pub shard_dir: Option<PathBuf>,
    /// Begin the load at this moment (RFC 3339, 2026-01-31T12:00:00Z, or unix seconds), so that
    /// shards start together; at most 24h ahead, a past time starts at once, empty is unset
    #[arg(
        long,
        value_name = "TIME",
        env = "LOADGEN_START_AT",
        help_heading = "Sharding"
    )]
    pub start_at: Option<String>,
    /// Open model: a start that waits longer than this for a free user is dropped (and counted)
    #[arg(long, default_value = "10s", env = "LOADGEN_MAX_LAG", value_parser = timespan::parse)]
    pub max_lag: Duration,
    /// Run without the web UI: start the load at once and exit when it ends (as Locust). Without
    /// it, the web UI is served (--web-host:--web-port) and a run starts from its form
    #[arg(long, env = "LOADGEN_HEADLESS")]
    pub headless: bool,
    /// The web UI's address; anything but a loopback address needs --web-auth
    #[arg(
        long,
        default_value = "127.0.0.1",
        env = "LOADGEN_WEB_HOST",
        help_heading = "Web UI"
    )]
    pub web_host: String,
    /// The web UI's port
    #[arg(
        long,
        default_value_t = 8089,
        env = "LOADGEN_WEB_PORT",
        help_heading = "Web UI"
    )]
    pub web_port: u16,
    /// HTTP basic credentials the web UI asks for, USER:PASSWORD (as Locust's)
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "LOADGEN_WEB_AUTH",
        help_heading = "Web UI"
    )]
    pub web_auth: Option<String>,
    /// Start the load as soon as the web UI is up, with the command line's users, spawn rate and
    /// run time (as Locust's)
    #[arg(long, env = "LOADGEN_AUTOSTART", help_heading = "Web UI")]
    pub autostart: bool,
    /// Quit this many seconds after a run ends (with --autostart: after the run); the reports are
    /// written first (as Locust's)
    #[arg(
        long,
        value_name = "SECONDS",
        env = "LOADGEN_AUTOQUIT",
        help_heading = "Web UI"
    )]
    pub autoquit: Option<u64>,
    /// Print only the final summary, no live lines
    #[arg(long, env = "LOADGEN_ONLY_SUMMARY")]
    pub only_summary: bool,
    /// Every endpoint in _stats_history.csv each second, not only the Aggregated row
    #[arg(long, env = "LOADGEN_CSV_FULL_HISTORY")]
    pub csv_full_history: bool,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    /// Seconds (or a duration) users may take to finish their task when the run ends
    #[arg(long, default_value = "0", env = "LOADGEN_STOP_TIMEOUT", value_parser = timespan::parse)]
    pub stop_timeout: Duration,
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
    #[arg(long, default_value = "60s", env = "LOADGEN_REQUEST_TIMEOUT", value_parser = timespan::parse)]
    pub request_timeout: Duration,
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
    /// A Celery queue (a Redis list, Celery's Redis transport) whose backlog the Redis monitor
    /// follows, repeatable: into the series, the charts and the job-backlog finding
    #[arg(
        long = "celery-queue",
        value_name = "NAME",
        default_value = "celery",
        env = "LOADGEN_CELERY_QUEUES",
        value_delimiter = ',',
        help_heading = "Server monitors"
    )]
    pub celery_queues: Vec<String>,
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

// HTTPS trust, `run`'s and `worker`'s (its shorter help set by `mut_arg` on `WorkerArgs`). Plain
// comments: a flattened struct's doc comment would become its subcommand's about.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// HTTPS: a PEM file with the CA certificate(s) that signed the server's, trusted beside the
    /// system's roots (a private or staging CA)
    #[arg(long, value_name = "FILE", env = "LOADGEN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// HTTPS: accept any certificate (a self-signed staging one); the server is then not
    /// authenticated, and every report says so
    #[arg(long, env = "LOADGEN_INSECURE", conflicts_with = "ca_cert")]
    pub insecure: bool,
}

// The report files, `run`'s and `merge`'s (its `LOADGEN_MERGE_*` variables and help set by
// `mut_arg` on `MergeArgs`).
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Write Locust's CSV files PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv
    #[arg(long = "csv", value_name = "PREFIX", env = "LOADGEN_CSV")]
    pub csv: Option<String>,
    /// Write the self-contained HTML report to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_HTML")]
    pub html: Option<String>,
    /// Write summary.json (everything, machine-readable, with its histograms) to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_JSON")]
    pub json: Option<String>,
    /// Write junit.xml (one test case per threshold) to FILE
    #[arg(long, value_name = "FILE", env = "LOADGEN_JUNIT")]
    pub junit: Option<String>,
}

// What judges the run, `run`'s and `merge`'s (as above).
#[derive(Args, Debug, Clone)]
pub struct VerdictArgs {
    /// A pass/fail rule, repeatable: "p95 < 1000ms", "fail_ratio < 5%", "rps >= 100",
    /// "p95{POST /api/payments/confirm/} < 800ms", "p99{stage=3} < 2s"
    #[arg(
        long = "threshold",
        value_name = "RULE",
        env = "LOADGEN_THRESHOLDS",
        value_delimiter = '|'
    )]
    pub thresholds: Vec<String>,
    /// The exit code of a run without thresholds in which any request failed (Locust's flag);
    /// a run with thresholds exits by them
    #[arg(long, default_value_t = 1, env = "LOADGEN_EXIT_CODE_ON_ERROR")]
    pub exit_code_on_error: u8,
}
