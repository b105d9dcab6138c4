//! junit.xml for CI: one test case per threshold, failed with the measured value and the limit,
//! one per reconciliation check after a phase, the baseline's gate after a phase with
//! `--baseline`, and one per injected fault's recovery limit after a phase with `--inject`.

use std::fmt::Write as _;

use super::Results;
use super::html::esc;

pub fn render(r: &Results) -> String {
    let suite = format!(
        "loadgen.{}",
        r.meta.phase.as_deref().unwrap_or(r.meta.scenario.as_str())
    );
    // The books and the baseline's gate count as tests too: CI shows an oversell or a regression
    // like a slow p95. Each: (kind, name, failure message when failed).
    let mut extra: Vec<(&str, String, Option<String>)> = Vec::new();
    for c in r.reconciliation.iter().flat_map(|rec| &rec.checks) {
        extra.push((
            "reconciliation",
            c.check.clone(),
            (!c.ok).then(|| c.detail.clone()),
        ));
    }
    for (name, failure) in r.baseline.iter().flat_map(|b| b.junit_cases()) {
        extra.push(("baseline", name, failure));
    }
    for (name, failure) in r.faults.iter().flat_map(super::faults::junit_cases) {
        extra.push(("fault", name, failure));
    }
    let failures = r.verdicts.iter().filter(|v| !v.passed).count()
        + extra.iter().filter(|e| e.2.is_some()).count();
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"loadgen\" tests=\"{n}\" failures=\"{failures}\" time=\"{t:.3}\">\n  <testsuite name=\"{s}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{t:.3}\" timestamp=\"{ts}\">",
        n = r.verdicts.len() + extra.len(),
        t = r.meta.duration_s,
        s = esc(&suite),
        ts = r.meta.started_at.format("%Y-%m-%dT%H:%M:%S"),
    );
    let _ = writeln!(
        x,
        "    <properties><property name=\"host\" value=\"{}\"/><property name=\"scenario\" value=\"{}\"/><property name=\"failure_band\" value=\"{}\"/></properties>",
        esc(&r.meta.host),
        esc(&r.meta.scenario),
        r.failure_band()
    );
    for v in &r.verdicts {
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"{} ({})\" time=\"0\"",
            esc(&suite),
            esc(&v.threshold),
            esc(&v.scope)
        );
        if v.passed {
            x.push_str("/>\n");
        } else {
            let _ = writeln!(
                x,
                ">\n      <failure type=\"threshold\" message=\"{} was {}, needs {}\"/>\n    </testcase>",
                esc(&v.threshold),
                esc(&v.actual_text),
                esc(&v.limit_text)
            );
        }
    }
    for (kind, name, failure) in &extra {
        let _ = write!(
            x,
            "    <testcase classname=\"{}.{kind}\" name=\"{}\" time=\"0\"",
            esc(&suite),
            esc(name)
        );
        match failure {
            None => x.push_str("/>\n"),
            Some(message) => {
                let _ = writeln!(
                    x,
                    ">\n      <failure type=\"{kind}\" message=\"{}\"/>\n    </testcase>",
                    esc(message)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
