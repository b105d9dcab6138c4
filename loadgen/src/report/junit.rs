//! junit.xml for CI: one test case per threshold, failed with the measured value and the limit,
//! and one per reconciliation check after a phase.

use std::fmt::Write as _;

use super::Results;
use super::html::esc;

pub fn render(r: &Results) -> String {
    let suite = format!(
        "loadgen.{}",
        r.meta.phase.as_deref().unwrap_or(r.meta.scenario.as_str())
    );
    let checks: &[super::reconciliation::ReconciliationCheck] =
        r.reconciliation.as_ref().map_or(&[], |rec| &rec.checks);
    let failures =
        r.verdicts.iter().filter(|v| !v.passed).count() + checks.iter().filter(|c| !c.ok).count();
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"loadgen\" tests=\"{n}\" failures=\"{failures}\" time=\"{t:.3}\">\n  <testsuite name=\"{s}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{t:.3}\" timestamp=\"{ts}\">",
        n = r.verdicts.len() + checks.len(),
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
    // The books checked after the run count as tests too: CI shows an oversell like a slow p95.
    for c in checks {
        let _ = write!(
            x,
            "    <testcase classname=\"{}.reconciliation\" name=\"{}\" time=\"0\"",
            esc(&suite),
            esc(&c.check)
        );
        if c.ok {
            x.push_str("/>\n");
        } else {
            let _ = writeln!(
                x,
                ">\n      <failure type=\"reconciliation\" message=\"{}\"/>\n    </testcase>",
                esc(&c.detail)
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
