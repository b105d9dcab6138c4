//! A database with few connections, and PgBouncer in front of it: the run's database limited to a
//! handful of connections for an application role (`ALTER DATABASE ... CONNECTION LIMIT`, which
//! binds every role but superusers, so the limit of a small PostgreSQL without restarting the
//! stack's shared server), and PgBouncer in transaction mode in a container of
//! `shopload/pgbouncer` (the image docker-compose.yml runs; PgBouncer 1.21 or later, since the
//! shop's driver prepares its statements) on the host's network.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use launcher::free_port;
use reqwest::Url;

/// The application's role: it owns the run's tables, as a Django deployment's user owns its
/// schema, and is no superuser, so the database's limit applies to it.
const ROLE: &str = "shopload_app";
const PASSWORD: &str = "shopload_app";

/// How long PgBouncer may take to answer a login after its container starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits the database of `database_url` (the stack's superuser's) to `limit` connections, hands
/// its tables to the application role, and returns the role's URL for the same database.
pub(super) async fn limit_database(
    db: &tokio_postgres::Client,
    database_url: &str,
    limit: u32,
) -> anyhow::Result<String> {
    let name: String = db
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    // Roles belong to the server: made once, kept for later runs (it owns nothing outside the
    // databases that are dropped after each run).
    db.batch_execute(&format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN \
             CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; \
           END IF; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
         ALTER DATABASE \"{name}\" OWNER TO {ROLE}; \
         ALTER DATABASE \"{name}\" CONNECTION LIMIT {limit}; \
         DO $$ DECLARE r record; BEGIN \
           FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c \
                    JOIN pg_namespace n ON n.oid = c.relnamespace \
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') \
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                                      WHERE d.objid = c.oid AND d.deptype = 'e') LOOP \
             EXECUTE format('ALTER TABLE %s OWNER TO {ROLE}', r.rel); \
           END LOOP; \
         END $$;"
    ))
    .await
    .with_context(|| format!("limiting database {name} to {limit} connections for {ROLE}"))?;
    let mut url = Url::parse(database_url).context("the stack's database URL")?;
    url.set_username(ROLE)
        .and_then(|()| url.set_password(Some(PASSWORD)))
        .map_err(|()| anyhow::anyhow!("the stack's database URL takes no user"))?;
    Ok(url.to_string())
}

/// Fails with what is missing when PgBouncer's image cannot run here, before any stack or build.
pub(super) fn preflight(image: &str) -> anyhow::Result<()> {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match info {
        Ok(out) if out.status.success() => {}
        Ok(out) => bail!(
            "the pgbouncer reproduction runs PgBouncer in a container, and no Docker engine \
             answers (`docker info`: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => bail!(
            "the pgbouncer reproduction runs PgBouncer in a container, and `docker` cannot be \
             run ({e})"
        ),
    }
    let present = Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        bail!(
            "PgBouncer's image {image} is not here: build it with `bash .ci/images/build.sh \
             pgbouncer` (from Debian's packages), or name another with --pgbouncer-image \
             (PgBouncer 1.21 or later)"
        );
    }
    Ok(())
}

/// PgBouncer in transaction mode in front of one database, in a container of its own.
pub(super) struct PgBouncer {
    container: String,
    /// The shop's URL: the application role through PgBouncer.
    pub(super) url: String,
}

impl PgBouncer {
    /// Starts PgBouncer for the database of `app_url` (the role's URL from [`limit_database`])
    /// with `pool` server connections, and waits until a login through it works.
    pub(super) async fn start(image: &str, app_url: &str, pool: u32) -> anyhow::Result<Self> {
        let server = Url::parse(app_url).context("the database URL")?;
        let port = free_port()?;
        let container = format!("shopload-repro-pgbouncer-{}-{port}", std::process::id());
        let database = server.path().trim_start_matches('/');
        let env = [
            format!("DATABASE_HOST={}", server.host_str().unwrap_or("127.0.0.1")),
            format!("DATABASE_PORT={}", server.port().unwrap_or(5432)),
            format!("DATABASE_USER={ROLE}"),
            format!("DATABASE_PASSWORD={PASSWORD}"),
            format!("DATABASE_NAME={database}"),
            format!("LISTEN_PORT={port}"),
            "POOL_MODE=transaction".to_owned(),
            format!("DEFAULT_POOL_SIZE={pool}"),
        ];
        // The host's network: the stack's PostgreSQL is on the host's loopback in every provider.
        let out = Command::new("docker")
            .args(["run", "-d", "--network", "host", "--name", &container])
            .args(env.iter().flat_map(|e| ["-e", e.as_str()]))
            .arg(image)
            .output()
            .context("running docker")?;
        if !out.status.success() {
            bail!(
                "starting PgBouncer ({image}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut url = server.clone();
        url.set_host(Some("127.0.0.1")).context("PgBouncer's URL")?;
        url.set_port(Some(port))
            .map_err(|()| anyhow::anyhow!("PgBouncer's URL takes no port"))?;
        let bouncer = Self {
            container,
            url: url.to_string(),
        };
        bouncer.wait_ready().await?;
        Ok(bouncer)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let error = match tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    let connection = tokio::spawn(connection);
                    let answered = client.simple_query("SELECT 1").await;
                    drop(client);
                    let _ = connection.await;
                    match answered {
                        Ok(_) => return Ok(()),
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "PgBouncer did not take a login within {READY_TIMEOUT:?} ({error}); its log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log(&self) -> String {
        Command::new("docker")
            .args(["logs", &self.container])
            .output()
            .map(|o| {
                let mut log = String::from_utf8_lossy(&o.stdout).into_owned();
                log.push_str(&String::from_utf8_lossy(&o.stderr));
                log
            })
            .unwrap_or_default()
    }

    /// Stops the container, its log kept as `pgbouncer.log` in `dir`.
    pub(super) fn stop(self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("pgbouncer.log");
        std::fs::write(&path, self.log()).with_context(|| format!("writing {}", path.display()))
        // Drop removes the container.
    }
}

impl Drop for PgBouncer {
    /// The container goes with the run, whichever way the run ended.
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.container])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
