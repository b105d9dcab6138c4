//! Child servers that die with their owner, and the one reader of `/proc`.
//!
//! xtask's phases, repros and benchmarks all start release binaries (the Toss mock, the shop,
//! nginx) as children and must never leave one running, whatever path ends the command: so there
//! is one way to do it ([`Launch`] -> [`Service`]): its own process group (a server's workers or a
//! shell's children go with it), output in a log file whose tail explains an early death, a real
//! HTTP health check with a deadline instead of a sleep, SIGTERM to the group then SIGKILL after a
//! grace period, and a SIGKILL on drop when nobody stopped it gracefully.
//!
//! Measuring those processes (memory, CPU, liveness) reads `/proc`; [`procfs`] is the one parser.
//!
//! Library rules hold: nothing here reads the environment or installs a signal handler.

pub mod procfs;
mod service;

pub use service::{Launch, LaunchError, Service, Stopped, free_port};
