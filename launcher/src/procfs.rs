//! The one reader of `/proc` (Linux): a process's CPU ticks, state and parent from `stat`, its
//! memory from `status`, its program from `cmdline` and `comm`, and the process tree. Benchmarks,
//! loadgen's process monitor and saturation check, and the stack's liveness checks all measure
//! through here, so a parsing subtlety (a command name holding `) (`) is handled once.
//!
//! Every reader returns `None` when the process is gone or the file does not parse: a process can
//! exit between any two reads, and callers decide whether that is an error.

use std::collections::HashMap;

/// USER_HZ: the unit of `/proc/PID/stat`'s CPU times on every Linux the project runs on.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of one `/proc/PID/stat` line that the workspace uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z` (a zombie: exited, not yet reaped), ...
    pub state: char,
    pub ppid: u32,
    /// utime + stime, in ticks ([`TICKS_PER_SECOND`]).
    pub cpu_ticks: u64,
}

impl Stat {
    /// CPU time in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_ticks as f64 / TICKS_PER_SECOND
    }
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field - 3.
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        cpu_ticks: utime + stime,
    })
}

/// `/proc/PID/stat` of a process.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Memory figures of `/proc/PID/status`, in bytes; a field the kernel did not print is `None`
/// (kernel threads and zombies have none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: the resident set now.
    pub rss: Option<u64>,
    /// `VmHWM`: the resident set's peak.
    pub peak_rss: Option<u64>,
    /// `RssAnon`: resident private memory, without shared mappings (a backend's view of shared
    /// buffers is counted by the server that owns them, not once per backend).
    pub anon_rss: Option<u64>,
}

/// Parses the memory lines of a `/proc/PID/status` text.
pub fn parse_memory(status: &str) -> Memory {
    Memory {
        rss: status_kb(status, "VmRSS:"),
        peak_rss: status_kb(status, "VmHWM:"),
        anon_rss: status_kb(status, "RssAnon:"),
    }
}

/// `/proc/PID/status`'s memory lines of a process.
pub fn memory(pid: u32) -> Option<Memory> {
    Some(parse_memory(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
    ))
}

/// A `kB` line of a `/proc/PID/status` text (`VmRSS:`, `RssAnon:`), in bytes.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process's argv from `/proc/PID/cmdline` (empty for a zombie or a kernel thread). Empty
/// arguments are kept (`redis-server --save ""`): only the final NUL terminates.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    if raw.is_empty() {
        return Some(Vec::new());
    }
    Some(
        raw.split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// The process's short program name (`/proc/PID/comm`), when it has one.
pub fn comm(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_owned()).filter(|c| !c.is_empty())
}

/// This machine's host name (`/proc/sys/kernel/hostname`), when it has one.
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned()).filter(|n| !n.is_empty())
}

/// Every process's `stat`, from one pass over `/proc`.
pub fn all_stats() -> HashMap<u32, Stat> {
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

/// `root` and its descendants in `stats` (empty when `root` is not there).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 5 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 1,
                cpu_ticks: 300
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) Z"), None);
    }

    #[test]
    fn memory_lines_parse_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t 512 kB\n";
        assert_eq!(
            parse_memory(status),
            Memory {
                rss: Some(1024 * 1024),
                peak_rss: Some(2048 * 1024),
                anon_rss: Some(512 * 1024),
            }
        );
        assert_eq!(parse_memory("Name:\tkthreadd\n"), Memory::default());
    }

    #[test]
    fn trees_follow_parents() {
        let stat = |ppid| Stat {
            state: 'S',
            ppid,
            cpu_ticks: 0,
        };
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
}
