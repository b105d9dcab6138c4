//! `fuzz-api`: schemathesis (pinned in `.ci/requirements.txt`, run from `target/venv`) against the
//! real Toss mock and the real shop, each from the OpenAPI document it serves (`/__mock/schema`,
//! `/api/schema/`): every phase (examples, coverage, fuzzing, stateful through the documents'
//! links), every check. A server error or an answer its own document does not allow is a finding,
//! and any finding fails the command: the fix goes into the server, not into an exclusion here.
//!
//! The stack, the seed and the two servers come up as for a phase (`services`), the shop with a
//! seeded user's JWT for its Bearer routes; the mock is called with the shop's secret key.
//! schemathesis's settings are `docs/openapi/schemathesis.toml` (each with its reason). Left out
//! here: the mock's `PUT /__mock/chaos` (chaos settings exist to hang and drop connections, which
//! is what they would then do to every later request of the run) and, for the mock only, the
//! `unsupported_method` check (Toss answers a known path's other methods 404
//! `NOT_FOUND_HTTP_METHOD`, not 405, and the mock keeps Toss's word). The mock keeps no
//! idempotency answers for the run (below).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use fixtures::stack::Stack;

use crate::binaries::BinArgs;
use crate::stack_args::StackArgs;
use crate::{services, workspace};

/// A seeded user (fixtures' plan) whose token the shop's run carries.
const USER: &str = "load_test_user_1";
const PASSWORD: &str = "testpass123";
/// The secret key the mock accepts by default (Basic auth with an empty password).
const SECRET_KEY: &str = "test_sk_shopload";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Test cases per operation and phase (schemathesis's --max-examples): with 20 both runs take
    /// well under a minute
    #[arg(long, env = "SHOPLOAD_FUZZ_EXAMPLES", default_value_t = 20)]
    pub max_examples: u32,
    /// schemathesis's --seed: the same seed generates the same requests
    #[arg(long, env = "SHOPLOAD_FUZZ_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Only this server: shop or mock (both by default)
    #[arg(long, value_parser = ["shop", "mock"])]
    pub only: Option<String>,
    /// Where the servers' logs and schemathesis's JUnit reports go
    #[arg(long, default_value_os_t = workspace::root().join("target").join("fuzz-api"))]
    pub report_dir: PathBuf,
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub bins: BinArgs,
}

pub async fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let schemathesis = workspace::venv_bin("schemathesis")?;
    // schemathesis runs in the report directory (its own files stay there): paths must not be
    // relative to ours.
    args.report_dir = std::path::absolute(&args.report_dir).context("--report-dir")?;
    std::fs::create_dir_all(&args.report_dir)
        .with_context(|| format!("creating {}", args.report_dir.display()))?;
    if args.bins.bin_dir.is_none() {
        // Before the build: a machine that cannot run the stack hears so in seconds.
        crate::provider::ensure(&args.stack.config()).await?;
    }
    let programs = args
        .bins
        .programs(&["target-shop", "toss-mock", "fixtures"])?;
    let (shop, mock, fixtures) = (&programs[0], &programs[1], &programs[2]);
    let stack = Stack::start(&args.stack.config())
        .await
        .context("starting PostgreSQL and Redis")?;
    let result = with_stack(&args, &stack, &schemathesis, shop, mock, fixtures).await;
    stack.stop().await.context("stopping the stack")?;
    result
}

async fn with_stack(
    args: &Args,
    stack: &Stack,
    schemathesis: &Path,
    shop: &Path,
    mock: &Path,
    fixtures: &Path,
) -> anyhow::Result<ExitCode> {
    seed(fixtures, stack.database_url())?;
    let log_dir = &args.report_dir;
    // No answer is kept for replay: schemathesis reuses a few Idempotency-Keys across valid and
    // invalid bodies, and a valid answer replayed to an invalid body is Toss's contract (it compares
    // no bodies), not a finding. The mock's own tests hold the replay.
    let no_replay = ["--idempotency-retention".to_owned(), "0s".to_owned()];
    let mock = services::toss_mock(mock, log_dir, &no_replay).await?;
    let shop = services::shop(
        shop,
        log_dir,
        &services::ShopConfig {
            database_url: stack.database_url(),
            redis_url: stack.redis_url(),
            toss_url: &mock.url,
            redis_prefix: None,
            faults: Vec::new(),
            pool_timeout: None,
        },
    )
    .await?;
    let mut failed = Vec::new();
    if args.only.as_deref() != Some("shop") {
        let run = Run {
            name: "toss-mock",
            schema: format!("{}/__mock/schema", mock.url),
            auth: vec!["--auth".into(), format!("{SECRET_KEY}:")],
            exclude: vec![
                "--exclude-operation-id".into(),
                "set_chaos".into(),
                "--exclude-checks".into(),
                "unsupported_method".into(),
            ],
        };
        if !run.go(schemathesis, args)? {
            failed.push(run.name);
        }
    }
    if args.only.as_deref() != Some("mock") {
        // Fetched right before the run: an access token lives 5 minutes.
        let token = login(&shop.url).await?;
        let run = Run {
            name: "target-shop",
            schema: format!("{}/api/schema/", shop.url),
            auth: vec!["--header".into(), format!("Authorization: Bearer {token}")],
            exclude: Vec::new(),
        };
        if !run.go(schemathesis, args)? {
            failed.push(run.name);
        }
    }
    shop.service.stop().await.ok();
    mock.service.stop().await.ok();
    if failed.is_empty() {
        println!("\nfuzz-api: schemathesis found nothing in either server");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\nfuzz-api: schemathesis found problems in {} (server logs and JUnit reports in {})",
            failed.join(" and "),
            log_dir.display()
        );
        Ok(ExitCode::from(1))
    }
}

/// One schemathesis run against one server.
struct Run {
    name: &'static str,
    schema: String,
    auth: Vec<String>,
    exclude: Vec<String>,
}

impl Run {
    /// Runs it with its output on ours; whether it found nothing.
    fn go(&self, schemathesis: &Path, args: &Args) -> anyhow::Result<bool> {
        println!("\n==== schemathesis: {} ({}) ====", self.name, self.schema);
        let junit = args.report_dir.join(format!("{}.junit.xml", self.name));
        let config = workspace::root()
            .join("docs")
            .join("openapi")
            .join("schemathesis.toml");
        // Every check is on unless the config or `exclude` says otherwise.
        let status = Command::new(schemathesis)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(&self.schema)
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--max-examples", &args.max_examples.to_string()])
            .args(["--seed", &args.seed.to_string()])
            .args(["--request-timeout", "10"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&junit)
            .args(["--report-dir"])
            .arg(&args.report_dir)
            .args(&self.auth)
            .args(&self.exclude)
            // No colours or progress bars in a log; schemathesis's summary is printed all the same.
            .env("NO_COLOR", "1")
            // Whatever it writes beside itself stays under target/, not in the repository.
            .current_dir(&args.report_dir)
            .status()
            .with_context(|| format!("running {}", schemathesis.display()))?;
        Ok(status.success())
    }
}

/// The plan's data (users with Django hashes of `testpass123`), the schema migrated first.
fn seed(fixtures: &Path, database_url: &str) -> anyhow::Result<()> {
    let out = Command::new(fixtures)
        .args(["seed", "--migrate", "--database-url", database_url])
        .args(["--hash-iterations", "10000"])
        .output()
        .context("running fixtures seed")?;
    if !out.status.success() {
        bail!(
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A seeded user's access token.
async fn login(shop: &str) -> anyhow::Result<String> {
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{shop}/api/auth/login/"))
        .json(&serde_json::json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .context("logging in to the shop")?
        .error_for_status()
        .context("logging in to the shop")?
        .json()
        .await
        .context("reading the shop's tokens")?;
    reply["access"]
        .as_str()
        .map(str::to_owned)
        .context("no access token in the shop's login answer")
}
