//! What can go wrong with a child, said so that the message alone explains it: a child that died
//! before it was ready is quoted from its own log (its last `error: ` line first), and the one
//! reader of a log's tail is here, so every caller quotes logs the same way.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

/// After SIGKILL a process is gone within milliseconds unless it is stuck in the kernel.
pub(crate) const KILL_WAIT: Duration = Duration::from_secs(5);
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
    /// The child exited before its health check (an HTTP URL, or what a probe checks) answered.
    #[error("{}", exited(name, *status, url, log.as_deref(), tail))]
    Exited {
        name: String,
        status: ExitStatus,
        url: String,
        log: Option<PathBuf>,
        tail: String,
    },
    #[error(
        "{name}: {url} did not answer 2xx within {waited:?} (last: {last}); {}",
        quoted(log.as_deref(), tail)
    )]
    NotReady {
        name: String,
        // Boxed: the error stays small enough to return by value.
        url: Box<str>,
        waited: Duration,
        last: Box<str>,
        log: Option<PathBuf>,
        tail: Box<str>,
    },
    /// A probe ([`crate::Service::ready`]) still failed at its deadline.
    #[error(
        "{name}: {what} did not answer within {waited:?} (last: {last}); {}",
        quoted(log.as_deref(), tail)
    )]
    Unanswered {
        name: String,
        what: Box<str>,
        waited: Duration,
        last: Box<str>,
        log: Option<PathBuf>,
        tail: Box<str>,
    },
    /// [`crate::Service::wait`] gave up; the child is still running (dropping it kills it).
    #[error("{name} (pid {pid}) was still running after {waited:?}")]
    StillRunning {
        name: String,
        pid: u32,
        waited: Duration,
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

/// The last `lines` lines of the file at `path`, joined by newlines; empty when it is missing or
/// empty. The one reader of a child's log for a message: callers pick how much and how to join.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The tail an error quotes: what the child said last, or that it said nothing.
pub(crate) fn error_tail(log: Option<&Path>) -> String {
    let Some(log) = log else {
        return String::new();
    };
    let tail = log_tail(log, LOG_TAIL_LINES);
    if tail.trim().is_empty() {
        "(nothing logged)".to_owned()
    } else {
        tail
    }
}

fn quoted(log: Option<&Path>, tail: &str) -> String {
    match log {
        Some(log) => format!("the end of {}:\n{tail}", log.display()),
        None => "its output went to no log".to_owned(),
    }
}

/// Why a child died before answering, in its own words: the last `error: ` line of its log (how
/// this workspace's binaries, and a Rust `main` returning an error, say it), then the tail.
fn exited(name: &str, status: ExitStatus, url: &str, log: Option<&Path>, tail: &str) -> String {
    let what = format!(
        "{name} exited ({status}) before {url} answered; {}",
        quoted(log, tail)
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
