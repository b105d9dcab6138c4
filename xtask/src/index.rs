//! `reports/index.html`: every run in `reports/` (phase, time, verdict, p95, requests/s) with a
//! link to its report and to its comparison with the previous run of the same phase, written
//! beside that run as `compare-previous.html`. Rewritten after every phase.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use loadgen::compare;
use loadgen::summary::Summary;
use maud::{DOCTYPE, Markup, PreEscaped, html};

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
    let mut rows = Vec::new();
    for (i, run) in runs.iter().enumerate().rev() {
        let phase = phase_of(&run.summary);
        let previous = runs[..i]
            .iter()
            .rev()
            .find(|p| phase_of(&p.summary) == phase);
        let comparison = match previous {
            None => html! { "first run of this phase" },
            Some(p) => compare_with(reports, p, run)?,
        };
        let s = &run.summary;
        rows.push(html! {
            tr {
                td { (s.meta.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                td { (phase) }
                @if s.passed { td.pass { "passed" } } @else { td.fail { "failed" } }
                td {
                    (s.aggregate.percentiles_ms.p95.map_or_else(|| "-".to_owned(), |p| format!("{p:.1} ms")))
                }
                td { (format!("{:.1}", s.aggregate.rps)) }
                td { a href={ (run.dir) "/report.html" } { "report" } }
                td { (comparison) }
            }
        });
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "shopload runs" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Runs in reports/" }
                table {
                    tr {
                        th { "started" } th { "phase" } th { "verdict" } th { "p95" }
                        th { "requests/s" } th { "report" }
                        th { "against the previous run of the phase" }
                    }
                    @for row in &rows { (row) }
                }
                @for u in &unreadable { p { "not listed: " (u) } }
            }
        }
    };
    let index = reports.join("index.html");
    std::fs::write(&index, page.into_string() + "\n")
        .with_context(|| format!("writing {}", index.display()))?;
    Ok(index)
}

/// The phase a run is listed under: its phase, or its scenario when it ran without one.
fn phase_of(s: &Summary) -> &str {
    s.meta.phase.as_deref().unwrap_or(&s.meta.scenario)
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.25em .6em}.pass{color:#070}.fail{color:#b00}";

/// `run` against `previous`: its page's link with the count of regressions, or why not.
fn compare_with(reports: &Path, previous: &Run, run: &Run) -> anyhow::Result<Markup> {
    let c = compare::compare(
        &previous.summary,
        &previous.dir,
        &run.summary,
        &run.dir,
        5.0,
    );
    if !c.differences.is_empty() {
        return Ok(html! {
            "not like for like with " (previous.dir) ": " (c.differences.join("; "))
        });
    }
    let page = reports.join(&run.dir).join("compare-previous.html");
    std::fs::write(
        &page,
        compare::html::render(&c, &[], &previous.summary, &run.summary),
    )
    .with_context(|| format!("writing {}", page.display()))?;
    let count = |j: compare::Judgement| c.rows.iter().filter(|r| r.judgement == j).count();
    Ok(html! {
        a href={ (run.dir) "/compare-previous.html" } { "against " (previous.dir) }
        ": " (count(compare::Judgement::Regressed)) " regressed, "
        (count(compare::Judgement::Improved)) " improved"
    })
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
