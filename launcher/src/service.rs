//! One child server: [`Launch`] describes it, [`Launch::start`] spawns it and holds it behind its
//! health check, [`Service::stop`] ends it gracefully, and dropping a [`Service`] kills it.
//!
//! Why it is shaped so:
//! - The child leads a process group of its own, and every signal goes to the group: a server that
//!   forks workers (nginx) or runs under a wrapper (`taskset`, `sh -c`) goes with all its
//!   descendants, and a Ctrl-C at the terminal reaches only the owner, which then stops it.
//! - Exits are observed with `waitid(WNOWAIT)`, which leaves the leader a zombie: its pid (the
//!   group's id) cannot be reused until it is reaped, so the final SIGKILL to the group, sent just
//!   before reaping, can never reach an unrelated process.
//! - `Drop` cannot wait long or be async: it sends SIGKILL and reaps, which returns at once for
//!   anything not stuck in the kernel. A graceful stop is `stop().await`.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use tokio::time::Instant;

/// How long a health check may take before the child is given up on, unless told otherwise.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// How long a child has between SIGTERM and SIGKILL, unless told otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// One health request may not hang the poll: a server that accepts but never answers is retried.
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const HEALTH_POLL: Duration = Duration::from_millis(50);
const EXIT_POLL: Duration = Duration::from_millis(20);
/// After SIGKILL a process is gone within milliseconds unless it is stuck in the kernel.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Lines of the log quoted when a child dies or never answers.
const LOG_TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("creating the log file {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("building the health check's HTTP client: {0}")]
    Client(String),
    #[error("{}", exited(name, *status, url, log, tail))]
    Exited {
        name: String,
        status: ExitStatus,
        url: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{name}: {url} did not answer 2xx within {waited:?} (last: {last}); the end of {}:\n{tail}",
        log.display()
    )]
    NotReady {
        name: String,
        // Boxed: the error stays small enough to return by value.
        url: Box<str>,
        waited: Duration,
        last: Box<str>,
        log: PathBuf,
        tail: Box<str>,
    },
    #[error("waiting for {name} (pid {pid}): {source}")]
    Wait {
        name: String,
        pid: u32,
        source: std::io::Error,
    },
    #[error("sending {signal} to {name} (pid {pid}): {source}")]
    Signal {
        name: String,
        pid: u32,
        signal: &'static str,
        source: std::io::Error,
    },
    #[error("{name} (pid {pid}) was still there {KILL_WAIT:?} after SIGKILL")]
    Unkillable { name: String, pid: u32 },
}

/// What to start: a program, its arguments and environment, its log, and how to know it is up.
pub struct Launch {
    name: String,
    command: Command,
    log: PathBuf,
    health: Option<String>,
    deadline: Duration,
    grace: Duration,
}

impl Launch {
    /// `program` with its stdout and stderr in `log` (created or truncated). Its name in messages
    /// is the program's file name until [`Launch::name`] says otherwise.
    pub fn new(program: impl AsRef<OsStr>, log: impl Into<PathBuf>) -> Self {
        let program = program.as_ref();
        let name = Path::new(program).file_name().map_or_else(
            || program.to_string_lossy().into_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self {
            name,
            command: Command::new(program),
            log: log.into(),
            health: None,
            deadline: DEFAULT_DEADLINE,
            grace: DEFAULT_GRACE,
        }
    }

    /// The name errors use (a wrapped program: `taskset ... nginx` is "nginx").
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// `start` returns once `GET url` answers 2xx; without it, once the child is spawned.
    pub fn health(mut self, url: impl Into<String>) -> Self {
        self.health = Some(url.into());
        self
    }

    /// How long the health check may take [default: 30 s].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How long [`Service::stop`] waits between SIGTERM and SIGKILL [default: 5 s].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Spawns the child (stdin null, output in the log, its own process group) and waits for its
    /// health check. A child that exits first is reported with the tail of its log; one that does
    /// not answer by the deadline is killed and reported likewise.
    pub async fn start(mut self) -> Result<Service, LaunchError> {
        let log_error = |source| LaunchError::Log {
            path: self.log.clone(),
            source,
        };
        let file = File::create(&self.log).map_err(log_error)?;
        let stderr = file.try_clone().map_err(log_error)?;
        let child = std::os::unix::process::CommandExt::process_group(&mut self.command, 0)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                name: self.name.clone(),
                source,
            })?;
        let mut service = Service {
            name: self.name,
            pid: child.id(),
            child: Some(child),
            log: self.log,
            grace: self.grace,
        };
        if let Some(url) = &self.health {
            service.wait_healthy(url, self.deadline).await?;
        }
        Ok(service)
    }
}

/// How a [`Service`] ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    pub status: ExitStatus,
    /// True when it outlived the grace period after SIGTERM and was killed.
    pub killed: bool,
}

/// A running child server. Dropping it kills its process group and reaps it.
pub struct Service {
    name: String,
    pid: u32,
    /// `None` once reaped.
    child: Option<Child>,
    log: PathBuf,
    grace: Duration,
}

impl Service {
    /// The child's pid, which is also its process group's id (`/proc/PID` has its figures).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Freezes the process group (SIGSTOP): the server keeps its connections and answers
    /// nothing until [`Service::resume`] (a hung dependency, on purpose).
    pub fn pause(&self) -> Result<(), LaunchError> {
        self.signal(Signal::SIGSTOP)
    }

    /// Thaws the process group (SIGCONT); a running one is unaffected.
    pub fn resume(&self) -> Result<(), LaunchError> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, signal: Signal) -> Result<(), LaunchError> {
        if self.child.is_none() {
            return Ok(());
        }
        killpg(group(self.pid), signal).map_err(|errno| LaunchError::Signal {
            name: self.name.clone(),
            pid: self.pid,
            signal: signal.as_str(),
            source: errno.into(),
        })
    }

    /// SIGTERM to the process group; SIGKILL to it once the child has exited or the grace period
    /// has passed (so nothing of the group outlives the stop); the child reaped.
    pub async fn stop(mut self) -> Result<Stopped, LaunchError> {
        let pid = self.pid();
        let _ = killpg(group(pid), Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        let mut killed = false;
        while !self.has_exited()? {
            if Instant::now() >= deadline {
                killed = true;
                break;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
        let _ = killpg(group(pid), Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while !self.has_exited()? {
            if Instant::now() >= deadline {
                return Err(LaunchError::Unkillable {
                    name: self.name.clone(),
                    pid,
                });
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
        let status = self.reap()?;
        Ok(Stopped { status, killed })
    }

    async fn wait_healthy(&mut self, url: &str, deadline: Duration) -> Result<(), LaunchError> {
        let client = reqwest::Client::builder()
            .timeout(HEALTH_REQUEST_TIMEOUT)
            .build()
            .map_err(|e| LaunchError::Client(with_sources(&e)))?;
        let started = Instant::now();
        loop {
            if self.has_exited()? {
                // Whatever the group left behind goes before the leader is reaped.
                let _ = killpg(group(self.pid()), Signal::SIGKILL);
                let status = self.reap()?;
                return Err(LaunchError::Exited {
                    name: self.name.clone(),
                    status,
                    url: url.to_owned(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log),
                });
            }
            let last = match client.get(url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => format!("answered {}", response.status()),
                Err(e) => with_sources(&e),
            };
            if started.elapsed() >= deadline {
                return Err(LaunchError::NotReady {
                    name: self.name.clone(),
                    url: url.into(),
                    waited: deadline,
                    last: last.into(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log).into(),
                });
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    /// Whether the child has exited, without reaping it.
    fn has_exited(&self) -> Result<bool, LaunchError> {
        let pid = self.pid;
        if self.child.is_none() {
            return Ok(true);
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(group(pid)), flags) {
            Ok(WaitStatus::StillAlive) => Ok(false),
            Ok(_) => Ok(true),
            Err(Errno::EINTR) => Ok(false),
            Err(errno) => Err(LaunchError::Wait {
                name: self.name.clone(),
                pid,
                source: errno.into(),
            }),
        }
    }

    fn reap(&mut self) -> Result<ExitStatus, LaunchError> {
        let pid = self.pid();
        let Some(mut child) = self.child.take() else {
            return Err(LaunchError::Wait {
                name: self.name.clone(),
                pid,
                source: std::io::Error::other("already reaped"),
            });
        };
        child.wait().map_err(|source| LaunchError::Wait {
            name: self.name.clone(),
            pid,
            source,
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(group(self.pid), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn group(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last lines of a log, for an error message.
/// Why a child died before answering, in its own words: the last `error: ` line of its log (how
/// this workspace's binaries, and a Rust `main` returning an error, say it), then the tail.
fn exited(name: &str, status: ExitStatus, url: &str, log: &Path, tail: &str) -> String {
    let what = format!(
        "{name} exited ({status}) before {url} answered; the end of {}:\n{tail}",
        log.display()
    );
    let reason = tail
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "));
    match reason {
        Some(reason) => format!("{name} refused to start: {reason}\n({what})"),
        None => what,
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(LOG_TAIL_LINES).collect();
    let tail = lines.into_iter().rev().collect::<Vec<_>>().join("\n");
    if tail.trim().is_empty() {
        "(nothing logged)".to_owned()
    } else {
        tail
    }
}

/// An error with its causes: reqwest's own text ("error sending request") hides the reason.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
