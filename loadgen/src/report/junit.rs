//! junit.xml for CI: one test case per threshold, failed with the measured value and the limit.

use std::fmt::Write as _;

use super::Results;
use super::html::esc;

pub fn render(r: &Results) -> String {
    let suite = format!(
        "loadgen.{}",
        r.meta.phase.as_deref().unwrap_or(r.meta.scenario.as_str())
    );
    let failures = r.verdicts.iter().filter(|v| !v.passed).count();
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"loadgen\" tests=\"{n}\" failures=\"{failures}\" time=\"{t:.3}\">\n  <testsuite name=\"{s}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{t:.3}\" timestamp=\"{ts}\">",
        n = r.verdicts.len(),
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
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
