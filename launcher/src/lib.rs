//! Child processes that die with their owner, and the one reader of `/proc`.
//!
//! xtask's phases, repros and benchmarks, the stack's local servers and the tests all start
//! programs (the Toss mock, the shop, nginx, PostgreSQL and Redis, loadgen, a Locust master and its
//! workers) as children and must never leave one running, whatever path ends their owner: so
//! there is one way to do it ([`Launch`] -> [`Service`]): its own process group (a server's
//! workers or a shell's children go with it), output in a log file whose tail explains an early
//! death (or piped, or shown, stream by stream), a real health check with a deadline instead of
//! a sleep, a wait with a deadline for a child that ends by itself, its stop signal to the group
//! then SIGKILL after a grace period, and a SIGKILL on drop when nobody stopped it gracefully.
//! The one free-port helper and the one reader of a log's tail are here too.
//!
//! Measuring those processes (memory, CPU, liveness) reads `/proc`; [`procfs`] is the one parser.
//!
//! Library rules hold: nothing here reads the environment or installs a signal handler.

mod error;
mod launch;
pub mod procfs;
mod ready;
mod service;

pub use error::{LaunchError, log_tail};
pub use launch::{Launch, Output};
/// The signals [`Launch::stop_signal`] takes.
pub use nix::sys::signal::Signal;
pub use service::{Service, Stopped};

/// A free port on 127.0.0.1 (bound, then released for a child, or a test, to take).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
