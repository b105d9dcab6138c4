//! What to start: [`Launch`] is a program with its arguments, where its output goes ([`Output`]),
//! which process group it joins, how it is stopped, and (for a server) its HTTP health check.
//! [`Launch::start`] turns it into a running [`Service`].
//!
//! Why it is shaped so:
//! - A server leads a process group of its own by default, and every signal goes to the group: a
//!   server that forks workers (nginx) or runs under a wrapper (`taskset`, `sh -c`) goes with all
//!   its descendants, and a Ctrl-C at the terminal reaches only the owner, which then stops it.
//!   A tool the user runs in the foreground (loadgen under a phase, a load tool in a test) may stay
//!   in the owner's group instead ([`Launch::share_group`]), so that Ctrl-C reaches it as it
//!   reaches the owner; it is then signalled alone.
//! - Output goes to a log file by default, whose tail explains an early death; a caller that reads
//!   the child's output or shows it says so stream by stream.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::LaunchError;
use crate::service::Service;

/// How long a health check may take before the child is given up on, unless told otherwise.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// How long a child has between its stop signal and SIGKILL, unless told otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Where one of a child's output streams goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A file, created or truncated (appended to after [`Launch::append`]). Both streams may name
    /// the same file; it is opened once.
    File(PathBuf),
    /// Discarded.
    Null,
    /// This process's own stream: the terminal, or a test's captured output.
    Inherit,
    /// A pipe the owner reads ([`Service::take_stdout`], [`Service::take_stderr`]); a child that
    /// writes much blocks until it is read.
    Piped,
}

/// What to start: a program, its arguments and environment, its output, and how to know it is up.
pub struct Launch {
    name: String,
    command: Command,
    stdout: Output,
    stderr: Output,
    append: bool,
    own_group: bool,
    health: Option<String>,
    deadline: Duration,
    grace: Duration,
    stop_signal: Signal,
}

impl Launch {
    /// `program` with its stdout and stderr in `log` (created or truncated). Its name in messages
    /// is the program's file name until [`Launch::name`] says otherwise.
    pub fn new(program: impl AsRef<OsStr>, log: impl Into<PathBuf>) -> Self {
        let log = log.into();
        Self::with_output(
            program.as_ref(),
            Output::File(log.clone()),
            Output::File(log),
        )
    }

    /// `program` writing to this process's own stdout and stderr (a tool whose output the user
    /// reads as it runs); [`Launch::stdout`] and [`Launch::stderr`] redirect either.
    pub fn attached(program: impl AsRef<OsStr>) -> Self {
        Self::with_output(program.as_ref(), Output::Inherit, Output::Inherit)
    }

    fn with_output(program: &OsStr, stdout: Output, stderr: Output) -> Self {
        let name = Path::new(program).file_name().map_or_else(
            || program.to_string_lossy().into_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self {
            name,
            command: Command::new(program),
            stdout,
            stderr,
            append: false,
            own_group: true,
            health: None,
            deadline: DEFAULT_DEADLINE,
            grace: DEFAULT_GRACE,
            stop_signal: Signal::SIGTERM,
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

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Runs the child as another user (PostgreSQL refuses to run as root).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.command.uid(uid).gid(gid);
        self
    }

    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Output files are appended to instead of truncated (a server restarted on the same log).
    pub fn append(mut self) -> Self {
        self.append = true;
        self
    }

    /// The child stays in this process's group: a terminal's Ctrl-C reaches it as it reaches the
    /// owner, and every signal (the stop, the kill on drop) goes to it alone.
    pub fn share_group(mut self) -> Self {
        self.own_group = false;
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

    /// How long [`Service::stop`] waits between the stop signal and SIGKILL [default: 5 s].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The signal [`Service::stop`] sends first [default: SIGTERM] (PostgreSQL's fast shutdown
    /// is SIGINT).
    pub fn stop_signal(mut self, signal: Signal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Spawns the child (stdin null, its output where asked, its own process group unless told
    /// otherwise) and waits for its health check. A child that exits first is reported with the
    /// tail of its log; one that does not answer by the deadline is killed and reported likewise.
    pub async fn start(self) -> Result<Service, LaunchError> {
        let (health, deadline) = (self.health.clone(), self.deadline);
        let mut service = self.spawn_child()?;
        if let Some(url) = &health {
            service.healthy(url, deadline).await?;
        }
        Ok(service)
    }

    fn spawn_child(mut self) -> Result<Service, LaunchError> {
        let mut opened: Vec<(PathBuf, File)> = Vec::new();
        let stdout = self.stdio(&self.stdout, &mut opened)?;
        let stderr = self.stdio(&self.stderr, &mut opened)?;
        // The log an error quotes: where the child says what went wrong, else where it talks.
        let log = [&self.stderr, &self.stdout]
            .into_iter()
            .find_map(|output| match output {
                Output::File(path) => Some(path.clone()),
                _ => None,
            });
        if self.own_group {
            self.command.process_group(0);
        }
        let child = self
            .command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                name: self.name.clone(),
                source,
            })?;
        Ok(Service::new(
            self.name,
            child,
            log,
            self.own_group,
            self.grace,
            self.stop_signal,
        ))
    }

    /// The stream for `output`; a file already opened for the other stream is shared.
    fn stdio(
        &self,
        output: &Output,
        opened: &mut Vec<(PathBuf, File)>,
    ) -> Result<Stdio, LaunchError> {
        Ok(match output {
            Output::Null => Stdio::null(),
            Output::Inherit => Stdio::inherit(),
            Output::Piped => Stdio::piped(),
            Output::File(path) => {
                let log_error = |source| LaunchError::Log {
                    path: path.clone(),
                    source,
                };
                let file = match opened.iter().find(|(p, _)| p == path) {
                    Some((_, file)) => file.try_clone().map_err(log_error)?,
                    None => {
                        let file = OpenOptions::new()
                            .create(true)
                            .write(true)
                            .append(self.append)
                            .truncate(!self.append)
                            .open(path)
                            .map_err(log_error)?;
                        opened.push((path.clone(), file.try_clone().map_err(log_error)?));
                        file
                    }
                };
                Stdio::from(file)
            }
        })
    }
}
