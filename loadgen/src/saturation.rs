//! The generator watching itself: a task that asks to wake every 100 ms and notes how late it
//! wakes (a busy runtime delays every user's timers the same way), and the process's CPU from
//! /proc. If the generator is the bottleneck the report says so, instead of blaming the target.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Lateness above this, in any 100 ms tick, marks that second as saturated.
const LAG_LIMIT: Duration = Duration::from_millis(50);
/// CPU above this share of the cores the generator may use marks the second as saturated.
const CPU_LIMIT: f64 = 0.90;

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Saturation {
    /// The worst timer lateness seen (ms).
    pub max_lag_ms: f64,
    /// Seconds with lateness over 50 ms.
    pub lagging_seconds: u32,
    /// The highest CPU use of one second, as a share of the cores (1.0 = all of them).
    pub max_cpu: f64,
    /// Seconds with CPU over 90 %.
    pub busy_seconds: u32,
    pub cores: usize,
}

impl Saturation {
    pub fn saturated(&self) -> bool {
        self.lagging_seconds > 0 || self.busy_seconds > 2
    }

    /// One line for the console and the report, or None when the generator kept up.
    pub fn warning(&self) -> Option<String> {
        self.saturated().then(|| {
            format!(
                "the load generator was saturated: timers up to {:.0} ms late ({} s over 50 ms), CPU \
                 up to {:.0}% of {} cores ({} s over 90%); latencies include the generator's own \
                 delay: use fewer users per process, or more processes",
                self.max_lag_ms,
                self.lagging_seconds,
                self.max_cpu * 100.0,
                self.cores,
                self.busy_seconds
            )
        })
    }
}

/// Watches until `done` is set; returns what it saw.
pub async fn watch(done: Arc<AtomicBool>) -> Saturation {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut seen = Saturation {
        cores,
        ..Saturation::default()
    };
    let tick = Duration::from_millis(100);
    let mut cpu_before = cpu_seconds();
    let mut second_started = Instant::now();
    let mut lag_this_second = Duration::ZERO;
    while !done.load(Ordering::Relaxed) {
        let asked = Instant::now();
        tokio::time::sleep(tick).await;
        let late = asked.elapsed().saturating_sub(tick);
        lag_this_second = lag_this_second.max(late);
        seen.max_lag_ms = seen.max_lag_ms.max(late.as_secs_f64() * 1000.0);
        let span = second_started.elapsed();
        if span >= Duration::from_secs(1) {
            if lag_this_second > LAG_LIMIT {
                seen.lagging_seconds += 1;
            }
            let cpu_now = cpu_seconds();
            if let (Some(before), Some(now)) = (cpu_before, cpu_now) {
                let share = (now - before) / span.as_secs_f64() / cores as f64;
                seen.max_cpu = seen.max_cpu.max(share);
                if share > CPU_LIMIT {
                    seen.busy_seconds += 1;
                }
            }
            cpu_before = cpu_now;
            second_started = Instant::now();
            lag_this_second = Duration::ZERO;
        }
    }
    seen
}

/// User plus system CPU seconds of this process (Linux; None elsewhere).
pub fn cpu_seconds() -> Option<f64> {
    launcher::procfs::stat(std::process::id()).map(|stat| stat.cpu_seconds())
}

/// This process's resident memory in bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    launcher::procfs::memory(std::process::id())?.rss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_are_read() {
        assert!(cpu_seconds().is_some());
        assert!(rss_bytes().unwrap() > 0);
    }
}
