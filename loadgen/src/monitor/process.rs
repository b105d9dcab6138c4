//! Processes (`--pid NAME=PID`, and loadgen itself): CPU and resident memory each second, read
//! from `/proc` (Linux) by `launcher::procfs`. A process counts with its descendants, so PostgreSQL's backends count as
//! PostgreSQL. CPU is in percent of one core (200 % = two cores busy); memory is the process's own
//! resident set plus its descendants' private (anonymous) memory, so shared buffers mapped by
//! every backend are counted once, not once per backend.

use std::collections::HashMap;
use std::time::Instant;

use launcher::procfs::{self, TICKS_PER_SECOND};
use serde::Serialize;

use super::{Monitor, Note};

/// Seconds at the start of a run whose memory is start-up, not growth.
pub const WARM_UP_S: u64 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Point {
    pub t: u64,
    /// CPU over the last second, in percent of one core.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: u64,
    /// Processes counted (the process and its descendants).
    pub processes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    pub name: String,
    pub pid: u32,
    /// Cores of this machine: CPU percent over `cores * 100` is not possible.
    pub cores: usize,
    pub points: Vec<Point>,
    /// True when the process was gone at some sample (it exited or was never there).
    pub gone: bool,
}

impl Data {
    pub fn max_cpu(&self) -> Option<f64> {
        self.points
            .iter()
            .filter_map(|p| p.cpu_percent)
            .fold(None, |a, b| Some(a.map_or(b, |a: f64| a.max(b))))
    }

    pub fn max_rss(&self) -> u64 {
        self.points.iter().map(|p| p.rss_bytes).max().unwrap_or(0)
    }

    /// The samples after start-up (the first [`WARM_UP_S`] seconds fill caches, pools and
    /// allocator arenas): where memory that keeps growing is growth, not warming up.
    pub fn settled(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.t >= WARM_UP_S)
    }
}

/// The program of a process (`/proc/PID/comm`), for an unnamed `--pid`.
pub fn program_name(pid: u32) -> Option<String> {
    procfs::comm(pid)
}

struct Watched {
    data: Data,
    /// Ticks per process at the last sample: a descendant that appeared since counts only from
    /// its first sight, and one that exited stops counting (its CPU is lost, not negative).
    before: HashMap<u32, u64>,
    at: Option<Instant>,
}

pub struct Processes {
    watched: Vec<Watched>,
}

impl Processes {
    pub fn new(pids: Vec<(String, u32)>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            watched: pids
                .into_iter()
                .map(|(name, pid)| Watched {
                    data: Data {
                        name,
                        pid,
                        cores,
                        points: Vec::new(),
                        gone: false,
                    },
                    before: HashMap::new(),
                    at: None,
                })
                .collect(),
        }
    }

    /// One sample of every process (second `t`).
    pub fn sample_now(&mut self, t: u64) {
        let stats = procfs::all_stats();
        let now = Instant::now();
        for w in &mut self.watched {
            let pids = procfs::tree(w.data.pid, &stats);
            if pids.is_empty() {
                w.data.gone = true;
                continue;
            }
            let mut rss = 0u64;
            let mut ticks = HashMap::with_capacity(pids.len());
            let mut spent = 0u64;
            for &pid in &pids {
                let Some(stat) = stats.get(&pid) else {
                    continue;
                };
                ticks.insert(pid, stat.cpu_ticks);
                if let Some(before) = w.before.get(&pid) {
                    spent += stat.cpu_ticks.saturating_sub(*before);
                }
                let memory = procfs::memory(pid).unwrap_or_default();
                rss += if pid == w.data.pid {
                    memory.rss
                } else {
                    memory.anon_rss.or(memory.rss)
                }
                .unwrap_or(0);
            }
            let cpu_percent = w.at.map(|then| {
                let seconds = now.duration_since(then).as_secs_f64().max(0.001);
                spent as f64 / TICKS_PER_SECOND / seconds * 100.0
            });
            w.data.points.push(Point {
                t,
                cpu_percent,
                rss_bytes: rss,
                processes: pids.len(),
            });
            w.before = ticks;
            w.at = Some(now);
        }
    }
}

impl Monitor for Processes {
    type Data = Vec<Data>;

    fn so_far(&self) -> Vec<Data> {
        self.watched.iter().map(|w| w.data.clone()).collect()
    }

    fn publish(data: Vec<Data>, server: &mut super::Server) {
        server.processes = data;
    }

    async fn sample(&mut self, t: u64) {
        // Reading /proc is a few hundred small files: quick, but blocking; off the runtime's
        // threads it cannot delay a user's timer.
        let mut me = std::mem::replace(
            self,
            Processes {
                watched: Vec::new(),
            },
        );
        match tokio::task::spawn_blocking(move || {
            me.sample_now(t);
            me
        })
        .await
        {
            Ok(back) => *self = back,
            Err(e) => tracing::warn!(error = %e, "process sample failed"),
        }
    }

    async fn finish(self) -> (Vec<Data>, Vec<Note>) {
        let notes = self
            .watched
            .iter()
            .filter(|w| w.data.gone)
            .map(|w| Note {
                monitor: "process",
                message: format!(
                    "{} (pid {}) was not running at some samples{}",
                    w.data.name,
                    w.data.pid,
                    if w.data.points.is_empty() {
                        ": nothing measured"
                    } else {
                        ""
                    }
                ),
            })
            .collect();
        (self.watched.into_iter().map(|w| w.data).collect(), notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_measured() {
        let mut p = Processes::new(vec![("me".into(), std::process::id())]);
        p.sample_now(1);
        // Burn a little CPU so the second sample has something to show.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        p.sample_now(2);
        let data = &p.watched[0].data;
        assert_eq!(data.points.len(), 2);
        assert!(data.points[0].cpu_percent.is_none());
        assert!(data.points[1].cpu_percent.is_some());
        assert!(data.points[1].rss_bytes > 1024 * 1024);
        assert!(!data.gone);
    }
}
