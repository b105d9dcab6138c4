//! The flags every command that needs a stack shares, each with its environment fallback.

use std::path::PathBuf;
use std::time::Duration;

use fixtures::stack::{Provider, StackConfig, default_search_path};

#[derive(clap::Args, Debug, Clone)]
pub struct StackArgs {
    /// How to get PostgreSQL and Redis: auto (given URLs, else Docker, else local servers),
    /// docker (testcontainers), local (initdb/postgres and redis-server on PATH) or external
    /// (DATABASE_URL and REDIS_URL)
    #[arg(long, env = "SHOPLOAD_PROVIDER", default_value = "auto")]
    pub provider: Provider,
    /// PostgreSQL image for the docker provider [default: postgres:16-alpine, or the Debian stand-in
    /// shopload/postgres:15-bookworm when that cannot be pulled]
    #[arg(long, env = "SHOPLOAD_POSTGRES_IMAGE")]
    pub postgres_image: Option<String>,
    /// Redis image for the docker provider [default: redis:7-alpine, or the stand-in
    /// shopload/redis:7-bookworm]
    #[arg(long, env = "SHOPLOAD_REDIS_IMAGE")]
    pub redis_image: Option<String>,
    /// An existing PostgreSQL (external provider; with auto, used when REDIS_URL is given too)
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// An existing Redis (external provider; with auto, used when DATABASE_URL is given too)
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Where local servers keep their data and a detached stack its record
    #[arg(long, env = "SHOPLOAD_STATE_DIR", default_value_os_t = crate::workspace::default_state_dir())]
    pub state_dir: PathBuf,
    /// How long a server may take to answer its first query
    #[arg(long, env = "SHOPLOAD_READY_TIMEOUT", default_value = "60s", value_parser = loadgen::timespan::parse)]
    pub ready_timeout: Duration,
}

impl StackArgs {
    pub fn config(&self) -> StackConfig {
        let path = std::env::var_os("PATH");
        let mut config = StackConfig::new(
            self.provider,
            default_search_path(path.as_deref()),
            self.state_dir.clone(),
        );
        config.postgres_image = self.postgres_image.clone();
        config.redis_image = self.redis_image.clone();
        config.database_url = self.database_url.clone();
        config.redis_url = self.redis_url.clone();
        config.ready_timeout = self.ready_timeout;
        config
    }
}
