//! `reports/index.html`: every run in `reports/` (phase, time, verdict, p95, requests/s) with a
//! link to its report and to its comparison with the previous run of the same phase, written
//! beside that run as `compare-previous.html`. Rewritten after every phase.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use loadgen::compare;
use loadgen::report::html::esc;
use loadgen::summary::Summary;

struct Run {
    dir: String,
    summary: Summary,
}

/// Writes `reports/index.html` (and each run's `compare-previous.html`); returns its path.
pub fn write(reports: &Path) -> anyhow::Result<PathBuf> {
    let mut runs: Vec<Run> = Vec::new();
    let mut unreadable = Vec::new();
    let entries =
        std::fs::read_dir(reports).with_context(|| format!("listing {}", reports.display()))?;
    for entry in entries.flatten() {
        let path = entry.path().join("summary.json");
        if !path.is_file() {
            continue;
        }
        let dir = entry.file_name().to_string_lossy().into_owned();
        match Summary::read(&path) {
            Ok(summary) => runs.push(Run { dir, summary }),
            Err(e) => unreadable.push(format!("{dir}: {e:#}")),
        }
    }
    runs.sort_by_key(|r| r.summary.meta.started_at);
    let mut rows = String::new();
    for (i, run) in runs.iter().enumerate().rev() {
        let s = &run.summary;
        let phase = s
            .meta
            .phase
            .clone()
            .unwrap_or_else(|| s.meta.scenario.clone());
        let previous = runs[..i].iter().rev().find(|p| {
            p.summary
                .meta
                .phase
                .clone()
                .unwrap_or_else(|| p.summary.meta.scenario.clone())
                == phase
        });
        let comparison = match previous {
            None => "first run of this phase".to_owned(),
            Some(p) => compare_with(reports, p, run)?,
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{:.1}</td>\
             <td><a href=\"{}/report.html\">report</a></td><td>{comparison}</td></tr>",
            s.meta.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            esc(&phase),
            if s.passed { "pass" } else { "fail" },
            if s.passed { "passed" } else { "failed" },
            s.aggregate
                .percentiles_ms
                .p95
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.1} ms")),
            s.aggregate.rps,
            esc(&run.dir),
        );
    }
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>shopload runs</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.25em .6em}.pass{color:#070}.fail{color:#b00}</style>\
         </head><body><h1>Runs in reports/</h1><table><tr><th>started</th><th>phase</th>\
         <th>verdict</th><th>p95</th><th>requests/s</th><th>report</th>\
         <th>against the previous run of the phase</th></tr>",
    );
    page.push_str(&rows);
    page.push_str("</table>");
    for u in &unreadable {
        let _ = write!(page, "<p>not listed: {}</p>", esc(u));
    }
    page.push_str("</body></html>\n");
    let index = reports.join("index.html");
    std::fs::write(&index, page).with_context(|| format!("writing {}", index.display()))?;
    Ok(index)
}

/// `run` against `previous`: its page's link with the count of regressions, or why not.
fn compare_with(reports: &Path, previous: &Run, run: &Run) -> anyhow::Result<String> {
    let c = compare::compare(
        &previous.summary,
        &previous.dir,
        &run.summary,
        &run.dir,
        5.0,
    );
    if !c.differences.is_empty() {
        return Ok(format!(
            "not like for like with {}: {}",
            esc(&previous.dir),
            esc(&c.differences.join("; "))
        ));
    }
    let page = reports.join(&run.dir).join("compare-previous.html");
    std::fs::write(
        &page,
        compare::html::render(&c, &[], &previous.summary, &run.summary),
    )
    .with_context(|| format!("writing {}", page.display()))?;
    let count = |j: compare::Judgement| c.rows.iter().filter(|r| r.judgement == j).count();
    Ok(format!(
        "<a href=\"{}/compare-previous.html\">against {}</a>: {} regressed, {} improved",
        esc(&run.dir),
        esc(&previous.dir),
        count(compare::Judgement::Regressed),
        count(compare::Judgement::Improved)
    ))
}

#[cfg(test)]
mod tests {
    /// The summary of loadgen's own snapshot test: a real small run.
    fn snapshot() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../loadgen/src/summary/snapshots/loadgen__summary__tests__summary_of_a_small_run.snap",
        );
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("\n{").unwrap();
        // insta's redactions back to values of their type.
        text[start..].replace("\"[unix]\"", "1767225600")
    }

    #[test]
    fn lists_each_run_and_compares_it_with_the_previous_of_its_phase() {
        let reports = tempfile::tempdir().unwrap();
        let json = snapshot();
        for (dir, at) in [
            ("smoke-1", "2026-01-01T00:00:00Z"),
            ("smoke-2", "2026-01-02T00:00:00Z"),
        ] {
            let d = reports.path().join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("summary.json"),
                json.replace("2026-01-01T00:00:00Z", at),
            )
            .unwrap();
        }
        std::fs::create_dir_all(reports.path().join("broken")).unwrap();
        std::fs::write(reports.path().join("broken/summary.json"), "{}").unwrap();
        let index = super::write(reports.path()).unwrap();
        let page = std::fs::read_to_string(index).unwrap();
        assert_eq!(page.matches("<tr><td>2026-").count(), 2, "{page}");
        assert!(
            page.contains("<a href=\"smoke-1/report.html\">report</a>"),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"smoke-2/compare-previous.html\">against smoke-1</a>"),
            "{page}"
        );
        assert!(page.contains("first run of this phase"), "{page}");
        assert!(page.contains("not listed: broken"), "{page}");
        assert!(
            reports
                .path()
                .join("smoke-2/compare-previous.html")
                .is_file()
        );
        // Newest first.
        assert!(page.find("2026-01-02").unwrap() < page.find("2026-01-01").unwrap());
    }
}
