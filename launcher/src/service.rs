//! A running child: [`Service`] is how its owner signals it, waits for it, stops it gracefully
//! ([`Service::stop`], or [`Service::stop_blocking`] for a caller without a runtime), and
//! dropping it kills it, on every path out of the owner's scope (`?`, a panic, a dropped future).
//!
//! Why it is shaped so:
//! - Exits are observed with `waitid(WNOWAIT)`, which leaves the leader a zombie: its pid (the
//!   group's id) cannot be reused until it is reaped, so the final SIGKILL to the group, sent just
//!   before reaping, can never reach an unrelated process. A child that ends by itself is reaped
//!   the same way, so nothing of its group outlives it either.
//! - `Drop` cannot wait long or be async: it sends SIGKILL and reaps, which returns at once for
//!   anything not stuck in the kernel. A graceful stop is `stop().await`.
//! - A child frozen on purpose ([`Service::pause`]) is thawed after its stop signal, so it sees it.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use tokio::time::Instant;

use crate::LaunchError;
use crate::error::KILL_WAIT;

/// How often an exit is looked for while waiting or stopping.
pub(crate) const EXIT_POLL: Duration = Duration::from_millis(20);

/// How a [`Service`] ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    pub status: ExitStatus,
    /// True when it outlived the grace period after its stop signal and was killed.
    pub killed: bool,
}

/// A running child. Dropping it kills it (its process group, unless it shares ours) and reaps it.
pub struct Service {
    name: String,
    pid: u32,
    /// `None` once reaped (or detached).
    child: Option<Child>,
    /// How it ended, once reaped.
    status: Option<ExitStatus>,
    log: Option<PathBuf>,
    own_group: bool,
    grace: Duration,
    stop_signal: Signal,
}

/// Where a stop is: the stop signal sent, then SIGKILL.
struct Stopping {
    grace_until: Instant,
    kill_until: Option<Instant>,
    killed: bool,
}

impl Service {
    pub(crate) fn new(
        name: String,
        child: Child,
        log: Option<PathBuf>,
        own_group: bool,
        grace: Duration,
        stop_signal: Signal,
    ) -> Self {
        Self {
            name,
            pid: child.id(),
            child: Some(child),
            status: None,
            log,
            own_group,
            grace,
            stop_signal,
        }
    }

    /// The child's pid, which is also its process group's id unless it shares ours (`/proc/PID`
    /// has its figures).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file its errors are quoted from: its stderr's, else its stdout's; none if neither
    /// goes to a file.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Its stdout, once, when launched with [`crate::Output::Piped`].
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// Its stderr, once, when launched with [`crate::Output::Piped`].
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.as_mut().and_then(|c| c.stderr.take())
    }

    /// Freezes the child (SIGSTOP): a server keeps its connections and answers nothing until
    /// [`Service::resume`] (a hung dependency, on purpose).
    pub fn pause(&self) -> Result<(), LaunchError> {
        self.signal(Signal::SIGSTOP)
    }

    /// Thaws the child (SIGCONT); a running one is unaffected.
    pub fn resume(&self) -> Result<(), LaunchError> {
        self.signal(Signal::SIGCONT)
    }

    /// SIGINT, what a terminal's Ctrl-C sends: a tool stops and reports.
    pub fn interrupt(&self) -> Result<(), LaunchError> {
        self.signal(Signal::SIGINT)
    }

    fn signal(&self, signal: Signal) -> Result<(), LaunchError> {
        if self.child.is_none() {
            return Ok(());
        }
        self.send(signal).map_err(|errno| LaunchError::Signal {
            name: self.name.clone(),
            pid: self.pid,
            signal: signal.as_str(),
            source: errno.into(),
        })
    }

    /// `signal` to the child's group, or to the child alone when it shares our group. Only while
    /// it is unreaped: its pid cannot have been reused.
    fn send(&self, signal: Signal) -> nix::Result<()> {
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        if self.own_group {
            killpg(pid, signal)
        } else {
            kill(pid, signal)
        }
    }

    /// Its stop signal (then SIGCONT, should it be frozen); SIGKILL once it has exited or the
    /// grace period has passed (so nothing of its group outlives the stop); reaped.
    pub async fn stop(mut self) -> Result<Stopped, LaunchError> {
        let mut stopping = self.begin_stop();
        loop {
            if let Some(stopped) = self.stop_step(&mut stopping)? {
                return Ok(stopped);
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// [`Service::stop`] for a caller that cannot await (a `Drop`, a test without a runtime):
    /// the same signals and grace period, blocking the thread meanwhile.
    pub fn stop_blocking(mut self) -> Result<Stopped, LaunchError> {
        let mut stopping = self.begin_stop();
        loop {
            if let Some(stopped) = self.stop_step(&mut stopping)? {
                return Ok(stopped);
            }
            std::thread::sleep(EXIT_POLL);
        }
    }

    fn begin_stop(&self) -> Stopping {
        if self.child.is_some() {
            let _ = self.send(self.stop_signal);
            let _ = self.send(Signal::SIGCONT);
        }
        Stopping {
            grace_until: Instant::now() + self.grace,
            kill_until: None,
            killed: false,
        }
    }

    /// One look at a stop in progress: `Some` once the child is reaped.
    fn stop_step(&mut self, stopping: &mut Stopping) -> Result<Option<Stopped>, LaunchError> {
        if let Some(status) = self.status {
            return Ok(Some(Stopped {
                status,
                killed: stopping.killed,
            }));
        }
        let exited = self.has_exited()?;
        match stopping.kill_until {
            None => {
                if !exited && Instant::now() < stopping.grace_until {
                    return Ok(None);
                }
                stopping.killed = !exited;
                let _ = self.send(Signal::SIGKILL);
                stopping.kill_until = Some(Instant::now() + KILL_WAIT);
                if !exited {
                    return Ok(None);
                }
            }
            Some(_) if exited => {}
            Some(until) if Instant::now() >= until => {
                return Err(LaunchError::Unkillable {
                    name: self.name.clone(),
                    pid: self.pid,
                });
            }
            Some(_) => return Ok(None),
        }
        let status = self.reap()?;
        Ok(Some(Stopped {
            status,
            killed: stopping.killed,
        }))
    }

    /// How it ended, if it has: reaped then, after a SIGKILL to whatever its group left behind.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, LaunchError> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        if !self.has_exited()? {
            return Ok(None);
        }
        self.reap_exited().map(Some)
    }

    /// Waits for the child to end by itself, at most `within` (`Duration::MAX`: as long as it
    /// runs). Past it the error is [`LaunchError::StillRunning`] and the child runs on until it is
    /// stopped or dropped. Cancel-safe: a dropped wait leaves the child as it was.
    pub async fn wait(&mut self, within: Duration) -> Result<ExitStatus, LaunchError> {
        let deadline = Instant::now().checked_add(within);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            self.check_deadline(deadline, within)?;
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// [`Service::wait`] for a caller that cannot await.
    pub fn wait_blocking(&mut self, within: Duration) -> Result<ExitStatus, LaunchError> {
        let deadline = Instant::now().checked_add(within);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            self.check_deadline(deadline, within)?;
            std::thread::sleep(EXIT_POLL);
        }
    }

    fn check_deadline(
        &self,
        deadline: Option<Instant>,
        within: Duration,
    ) -> Result<(), LaunchError> {
        match deadline {
            Some(deadline) if Instant::now() >= deadline => Err(LaunchError::StillRunning {
                name: self.name.clone(),
                pid: self.pid,
                waited: within,
            }),
            _ => Ok(()),
        }
    }

    /// Lets the child outlive this owner (a stack another command stops later): it is neither
    /// stopped nor killed from here on. Returns its pid.
    pub fn detach(mut self) -> u32 {
        // Dropping a std `Child` neither kills nor waits for it.
        drop(self.child.take());
        self.pid
    }

    /// Whether the child has exited, without reaping it.
    pub(crate) fn has_exited(&self) -> Result<bool, LaunchError> {
        if self.child.is_none() {
            return Ok(true);
        }
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => Ok(false),
            Ok(_) => Ok(true),
            Err(Errno::EINTR) => Ok(false),
            Err(errno) => Err(LaunchError::Wait {
                name: self.name.clone(),
                pid: self.pid,
                source: errno.into(),
            }),
        }
    }

    /// Reaps a child that has exited; whatever its group left behind must be killed first.
    pub(crate) fn reap(&mut self) -> Result<ExitStatus, LaunchError> {
        let Some(mut child) = self.child.take() else {
            return self.status.ok_or_else(|| LaunchError::Wait {
                name: self.name.clone(),
                pid: self.pid,
                source: std::io::Error::other("already reaped"),
            });
        };
        let status = child.wait().map_err(|source| LaunchError::Wait {
            name: self.name.clone(),
            pid: self.pid,
            source,
        })?;
        self.status = Some(status);
        Ok(status)
    }

    /// Kills what is left of an exited child's group and reaps it.
    pub(crate) fn reap_exited(&mut self) -> Result<ExitStatus, LaunchError> {
        let _ = self.send(Signal::SIGKILL);
        self.reap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.send(Signal::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}
