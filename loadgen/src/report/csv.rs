//! Locust's four CSV files, byte for byte: the same headers, CRLF line ends, Python's float
//! formatting, `N/A` for an empty percentile, entries by name then method and the Aggregated row
//! (empty Type) last, so existing scripts and dashboards read them unchanged.

use std::path::Path;

use anyhow::Context;
use csv::{Terminator, WriterBuilder};

use super::Results;
use super::history::HistoryCells;
use crate::stats::{Entry, PERCENTILES};

const STATS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
const HISTORY: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";
const FAILURES: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen";
const EXCEPTIONS: &str = "Count,Message,Traceback,Nodes";

/// One of Locust's four files: its file name's suffix (`PREFIX_stats.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFile {
    Stats,
    History,
    Failures,
    Exceptions,
}

impl CsvFile {
    pub const ALL: [CsvFile; 4] = [
        CsvFile::Stats,
        CsvFile::History,
        CsvFile::Failures,
        CsvFile::Exceptions,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            CsvFile::Stats => "stats",
            CsvFile::History => "stats_history",
            CsvFile::Failures => "failures",
            CsvFile::Exceptions => "exceptions",
        }
    }
}

/// Writes `PREFIX_stats.csv`, `PREFIX_stats_history.csv`, `PREFIX_failures.csv` and
/// `PREFIX_exceptions.csv`.
pub fn write(results: &Results, prefix: &str, full_history: bool) -> anyhow::Result<()> {
    if let Some(dir) = Path::new(prefix)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for file in CsvFile::ALL {
        let path = format!("{prefix}_{}.csv", file.suffix());
        std::fs::write(&path, render(results, file, full_history)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// One file's bytes (the web UI's downloads are these, as the files are).
pub fn render(results: &Results, file: CsvFile, full_history: bool) -> anyhow::Result<Vec<u8>> {
    let header = match file {
        CsvFile::Stats => STATS,
        CsvFile::History => HISTORY,
        CsvFile::Failures => FAILURES,
        CsvFile::Exceptions => EXCEPTIONS,
    };
    let mut w = WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header.split(','))?;
    match file {
        CsvFile::Stats => {
            for entry in results.sorted_entries() {
                w.write_record(stats_row(results, entry, &entry.method))?;
            }
            w.write_record(stats_row(results, &results.recorder.aggregate, ""))?;
        }
        CsvFile::History => {
            for second in &results.recorder.seconds {
                for cells in &second.history.rows {
                    if cells.endpoint.is_some() && !full_history {
                        continue;
                    }
                    w.write_record(history_row(
                        results,
                        second.unix,
                        second.users,
                        cells,
                        full_history,
                    ))?;
                }
            }
        }
        CsvFile::Failures => {
            for f in results.recorder.failures.values() {
                w.write_record([
                    f.method.clone(),
                    f.name.clone(),
                    f.error.clone(),
                    f.occurrences.to_string(),
                    iso(f.first_seen),
                    iso(f.last_seen),
                ])?;
            }
        }
        CsvFile::Exceptions => {
            for (message, count) in &results.recorder.exceptions {
                w.write_record([
                    count.to_string(),
                    message.clone(),
                    String::new(),
                    "local".into(),
                ])?;
            }
        }
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("writing the CSV: {}", e.error()))
}

fn stats_row(results: &Results, e: &Entry, kind: &str) -> Vec<String> {
    let mut row = vec![
        kind.to_owned(),
        e.name.clone(),
        e.requests.to_string(),
        e.failures.to_string(),
        e.percentile_ms(0.5).map_or("0".into(), int),
        py_float(e.avg_ms().unwrap_or(0.0)),
        e.min_ms().map_or("0".into(), py_float),
        e.max_ms().map_or("0".into(), py_float),
        // Locust's avg_content_length is the integer 0 before the first request.
        if e.requests == 0 {
            "0".into()
        } else {
            py_float(e.avg_content_size())
        },
        py_float(results.rps(e)),
        py_float(results.fails_per_s(e)),
    ];
    for q in PERCENTILES {
        row.push(e.percentile_ms(q).map_or("N/A".into(), int));
    }
    row
}

fn history_row(
    results: &Results,
    unix: i64,
    users: usize,
    c: &HistoryCells,
    full_history: bool,
) -> Vec<String> {
    let (kind, name) = match c.endpoint {
        Some(i) => {
            let e = &results.recorder.entries[i];
            (e.method.clone(), e.name.clone())
        }
        None => (String::new(), "Aggregated".to_owned()),
    };
    let mut row = vec![
        unix.to_string(),
        users.to_string(),
        kind,
        name,
        format!("{:.6}", c.rps_window),
        format!("{:.6}", c.fails_window),
    ];
    // Locust: the current window with --csv-full-history, since the start without it.
    let percentiles = if full_history { c.window } else { c.cumulative };
    match percentiles {
        Some(p) => row.extend(p.iter().map(|&v| int(v))),
        None => row.extend(PERCENTILES.iter().map(|_| "N/A".to_owned())),
    }
    row.extend([
        c.total_requests.to_string(),
        c.total_failures.to_string(),
        c.total_median.map_or("0".into(), int),
        py_float(c.total_avg.unwrap_or(0.0)),
        c.total_min.map_or("0".into(), py_float),
        c.total_max.map_or("0".into(), py_float),
        py_float(c.total_avg_size),
    ]);
    row
}

/// Locust prints percentiles and medians as whole milliseconds.
fn int(ms: f64) -> String {
    format!("{}", ms.round() as i64)
}

fn iso(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Python's `repr(float)`: the shortest round-trip digits, `.0` on whole numbers, and an exponent
/// (`1e-05`, `1e+16`) outside 1e-4..1e16.
pub fn py_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = v.abs();
    if v != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{v}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(py_float(6.414461700857913), "6.414461700857913");
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(0.00001), "1e-05");
        assert_eq!(py_float(1.5e16), "1.5e+16");
        assert_eq!(py_float(0.1 + 0.2), "0.30000000000000004");
    }
}
