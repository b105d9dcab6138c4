//! `start_world`: fixtures' `World` with a migrated, seeded template for the run. `Shop`: a fresh
//! database, the Toss mock and the shop, all on 127.0.0.1:0, for one test.

use std::net::SocketAddr;
use std::time::Duration;

use fixtures::seed::SeedPlan;
pub use fixtures::world::World;
use fixtures::world::WorldConfig;
use loadgen::cli::Invocation;
use tokio::sync::oneshot;

/// The stack the environment asks for (`SHOPLOAD_PROVIDER`, default auto) and a template migrated
/// and seeded with the plan's data.
pub async fn start_world() -> Result<World, String> {
    let config = WorldConfig::from_lookup(
        "the end-to-end tests",
        "e2e_template",
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stacks"),
        |name| std::env::var(name).ok(),
    )?;
    World::start(&config, |url| async move {
        fixtures::seed::migrate(&url).await?;
        let pool = fixtures::seed::pool(&url)?;
        // Any iteration count verifies; a thousand keeps 100 logins from dominating a 30 s phase.
        let plan = SeedPlan {
            hash_iterations: 1000,
            ..SeedPlan::default()
        };
        fixtures::seed::seed(&pool, &plan).await?;
        Ok::<(), anyhow::Error>(())
    })
    .await
}

/// A running mock and shop on a fresh copy of the seeded database.
pub struct Shop {
    pub url: String,
    pub mock_url: String,
    pub database_url: String,
    _stop: Vec<oneshot::Sender<()>>,
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

impl Shop {
    pub async fn start(world: &World, faults: &[&str]) -> Self {
        let database_url = world.template.fresh().await.unwrap();
        let (mock_listener, mock_addr) = listen().await;
        let (stop_mock, mock_stopped) = oneshot::channel::<()>();
        tokio::spawn(toss_mock::serve(
            toss_mock::Config {
                seed: 7,
                ..toss_mock::Config::default()
            },
            mock_listener,
            async move {
                let _ = mock_stopped.await;
            },
        ));
        let mock_url = format!("http://{mock_addr}");

        let mut config = target_shop::Config::new(&database_url, &world.redis_url);
        config.redis_prefix = format!("e2e:{}:", database_url.rsplit('/').next().unwrap_or("x"));
        config.toss.url = mock_url.clone();
        config.pool_size = 40;
        config.faults = target_shop::faults::Faults::parse(faults.iter().copied()).unwrap();
        let (shop_listener, shop_addr) = listen().await;
        let (stop_shop, shop_stopped) = oneshot::channel::<()>();
        tokio::spawn(target_shop::serve(config, shop_listener, async move {
            let _ = shop_stopped.await;
        }));
        let url = format!("http://{shop_addr}");
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let shop_ok = client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let mock_ok = client
                .get(format!("{mock_url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if shop_ok && mock_ok {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the shop or the mock did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            url,
            mock_url,
            database_url,
            _stop: vec![stop_mock, stop_shop],
        }
    }

    pub async fn mock_stats(&self) -> toss_mock::stats::StatsReport {
        reqwest::get(format!("{}/__mock/stats", self.mock_url))
            .await
            .unwrap()
            .json()
            .await
            .expect("the Toss mock's books as toss_mock::stats::StatsReport")
    }

    pub async fn chaos(&self, chaos: serde_json::Value) {
        let r = reqwest::Client::new()
            .put(format!("{}/__mock/chaos", self.mock_url))
            .basic_auth("test_sk_shopload", Some(""))
            .json(&chaos)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "setting chaos: {}",
            r.text().await.unwrap()
        );
    }
}

/// Runs loadgen in this process with `args` (after `loadgen run`); returns its exit code.
pub async fn loadgen(args: &[&str]) -> u8 {
    use clap::Parser as _;
    let argv: Vec<String> = ["loadgen", "run", "--headless"]
        .iter()
        .chain(args)
        .map(|a| (*a).to_owned())
        .collect();
    let cli = loadgen::cli::Cli::try_parse_from(&argv).unwrap();
    match cli.command {
        loadgen::cli::Command::Run(args) => {
            loadgen::cli::run(*args, Invocation::uninterrupted(argv))
                .await
                .unwrap()
        }
        loadgen::cli::Command::Scenarios
        | loadgen::cli::Command::Compare(_)
        | loadgen::cli::Command::Merge(_)
        | loadgen::cli::Command::Worker(_) => unreachable!(),
    }
}

/// `loadgen worker ARGS...` in this process; returns its exit code.
pub async fn loadgen_worker(args: Vec<String>) -> u8 {
    use clap::Parser as _;
    let argv: Vec<String> = ["loadgen".to_owned(), "worker".to_owned()]
        .into_iter()
        .chain(args)
        .collect();
    let cli = loadgen::cli::Cli::try_parse_from(&argv).unwrap();
    match cli.command {
        loadgen::cli::Command::Worker(args) => {
            loadgen::cli::worker::run(&args, Invocation::uninterrupted(argv))
                .await
                .unwrap()
        }
        _ => unreachable!(),
    }
}

pub fn phase_file(name: &str) -> String {
    format!(
        "{}/../loadgen/phases/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}
