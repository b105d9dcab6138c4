//! Processes (`--pid NAME=PID`, and loadgen itself): CPU and resident memory each second, read
//! from `/proc` (Linux). A process counts with its descendants, so PostgreSQL's backends count as
//! PostgreSQL. CPU is in percent of one core (200 % = two cores busy); memory is the process's own
//! resident set plus its descendants' private (anonymous) memory, so shared buffers mapped by
//! every backend are counted once, not once per backend.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::{Monitor, Note};

/// USER_HZ: the unit of `/proc/PID/stat`'s CPU times on every Linux the project runs on.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t: u64,
    /// CPU over the last second, in percent of one core.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: u64,
    /// Processes counted (the process and its descendants).
    pub processes: usize,
}

#[derive(Debug, Clone, Serialize)]
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
}

/// One `/proc/PID/stat` line's fields that matter here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub ppid: u32,
    /// utime + stime, in ticks.
    pub cpu_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field - 3.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        ppid,
        cpu_ticks: utime + stime,
    })
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `RssAnon:`) in bytes.
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The program of a process (`/proc/PID/comm`), for an unnamed `--pid`.
pub fn program_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_owned()).filter(|c| !c.is_empty())
}

/// Every process's parent and CPU, from one pass over `/proc`.
fn all_stats() -> HashMap<u32, Stat> {
    let mut stats = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return stats;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(stat) = parse_stat(&text)
        {
            stats.insert(pid, stat);
        }
    }
    stats
}

/// `root` and its descendants.
pub fn tree(root: u32, stats: &HashMap<u32, Stat>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, stat) in stats {
        children.entry(stat.ppid).or_default().push(*pid);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        // A pid seen twice would be a cycle in a racing read of /proc: stop there.
        if out.contains(&pid) || !stats.contains_key(&pid) {
            continue;
        }
        out.push(pid);
        if let Some(c) = children.get(&pid) {
            todo.extend(c);
        }
    }
    out
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
        let stats = all_stats();
        let now = Instant::now();
        for w in &mut self.watched {
            let pids = tree(w.data.pid, &stats);
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
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                rss += if pid == w.data.pid {
                    status_kb(&status, "VmRSS:")
                } else {
                    status_kb(&status, "RssAnon:").or_else(|| status_kb(&status, "VmRSS:"))
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
    fn stat_lines_with_odd_names_parse() {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 5 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 1,
                cpu_ticks: 300
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn trees_follow_parents() {
        let stat = |ppid| Stat { ppid, cpu_ticks: 0 };
        let stats: HashMap<u32, Stat> = [
            (1, stat(0)),
            (10, stat(1)),
            (11, stat(10)),
            (12, stat(10)),
            (20, stat(1)),
        ]
        .into_iter()
        .collect();
        let mut t = tree(10, &stats);
        t.sort_unstable();
        assert_eq!(t, vec![10, 11, 12]);
        assert!(tree(99, &stats).is_empty());
    }

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
