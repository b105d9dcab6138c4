//! Child processes that die with us: a server started by xtask is killed when its handle drops,
//! whatever path (error, Ctrl-C unwinding, success) leaves the command.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Server {
    child: Child,
    pub base_url: String,
}

impl Server {
    /// Starts `command` with its output in `log`, then polls `GET base_url + health` until it
    /// answers 200 or `deadline` passes (the child dying early is reported with its log).
    pub async fn start(
        mut command: Command,
        base_url: String,
        health: &str,
        log: &std::path::Path,
        deadline: Duration,
    ) -> anyhow::Result<Self> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        // Its own process group, so the whole tree (nginx's workers, a shell's children) goes with it.
        let child = std::os::unix::process::CommandExt::process_group(&mut command, 0)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting a server")?;
        let mut server = Self { child, base_url };
        let url = format!("{}{health}", server.base_url);
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                bail!("server exited ({status}) before answering: {}", tail.trim());
            }
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(server);
            }
            if started.elapsed() > deadline {
                bail!("{url} did not answer within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Server {
    /// The server's process id (its `/proc/<pid>/status` has its memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
