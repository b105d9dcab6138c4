//! Where PostgreSQL and Redis will come from, settled before anything is compiled: a machine with
//! no way to run them hears so in seconds, not after a build of many minutes. A Docker engine that
//! answers but cannot pull (no registry) gets the Debian stand-in images built once, saying so,
//! instead of a message asking for it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use fixtures::stack::{Provider, StackConfig, StackError, choose, docker_engine_answers};

use crate::workspace;

/// Checks that the stack can come up as configured; builds the stand-in images first when that
/// is what stands in the way. Prints the provider it settled on, and returns it.
pub async fn ensure(config: &StackConfig) -> anyhow::Result<Provider> {
    let first = choose(config).await;
    let choice = match first {
        Ok(choice) => choice,
        Err(e) if standins_would_help(config, &e).await => {
            build_standins()?;
            choose(config)
                .await
                .context("PostgreSQL and Redis, after building the stand-in images")?
        }
        Err(e) => return Err(e).context("PostgreSQL and Redis"),
    };
    eprintln!("stack: {} provider", choice.provider());
    Ok(choice.provider())
}

/// Docker was the way (asked for, or auto with no local servers), it answers, and only the
/// default images are missing: the stand-ins replace exactly those.
async fn standins_would_help(config: &StackConfig, error: &StackError) -> bool {
    let docker_failed = matches!(
        (config.provider, error),
        (Provider::Auto, StackError::NoProvider { .. }) | (Provider::Docker, StackError::Docker(_))
    );
    docker_failed
        && config.postgres_image.is_none()
        && config.redis_image.is_none()
        && docker_engine_answers(config).await
}

/// `.ci/images/build.sh stack`, its progress lines shown as they come.
fn build_standins() -> anyhow::Result<()> {
    let script = workspace::root().join(".ci/images/build.sh");
    eprintln!(
        "Docker answers but cannot pull postgres:16-alpine and redis:7-alpine (no registry): \
         building the Debian stand-in images from Debian's packages, once per machine \
         (about 2 minutes; needs debootstrap)"
    );
    if Command::new("debootstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!(
            "the stand-in images need debootstrap: `apt-get install debootstrap`, then run this \
             again; or `apt-get install postgresql redis-server` to use local servers instead"
        );
    }
    let started = Instant::now();
    // The workspace's one child spawned outside the launcher (the tidy test names it): a one-shot
    // tool streamed as it runs, left in our process group so a Ctrl-C stops it with us, and
    // waited for right below with nothing that can return in between.
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("stack")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", script.display()))?;
    // debootstrap's own lines ("I: Retrieving ...") are many: its stderr is kept for an error,
    // the script's own steps are shown.
    let stderr = child.stderr.take();
    let tail = std::thread::spawn(move || {
        let mut kept: Vec<String> = Vec::new();
        for line in stderr
            .map(BufReader::new)
            .into_iter()
            .flat_map(|r| r.lines())
        {
            let Ok(line) = line else { break };
            if !line.starts_with("I: ") {
                eprintln!("  {line}");
            }
            kept.push(line);
            if kept.len() > 20 {
                kept.remove(0);
            }
        }
        kept
    });
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("  {line}");
        }
    }
    let status = child.wait().context("waiting for the image build")?;
    let kept = tail.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "building the stand-in images failed ({status}):\n{}",
            kept.join("\n")
        );
    }
    eprintln!(
        "stand-in images built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
