//! A comparison as a console table, JSON and JUnit XML.

use std::fmt::Write as _;

use serde::Serialize;

use super::gate::Check;
use super::{ALPHA, Comparison, Judgement, Metric, Row};
use crate::report::junit;

/// The console table: the two runs, their differences, every figure with its change and
/// judgement, the endpoints and findings of one run only, and the gate's checks.
pub fn console(c: &Comparison, checks: &[Check]) -> String {
    let mut out = String::new();
    let run = |r: &super::RunInfo| {
        format!(
            "{} ({}{}, {}, {:.0} s, {})",
            r.path,
            r.phase
                .as_deref()
                .map(|p| format!("phase {p}, "))
                .unwrap_or_default(),
            r.scenario,
            r.started_at,
            r.duration_s,
            if r.passed { "passed" } else { "failed" }
        )
    };
    let _ = writeln!(out, "base: {}", run(&c.base));
    let _ = writeln!(out, "new:  {}", run(&c.new));
    for d in &c.differences {
        let _ = writeln!(out, "not like for like: {d}");
    }
    let _ = writeln!(
        out,
        "\n{:<40} {:<22} {:>12} {:>12} {:>9} {:>7}  verdict",
        "endpoint", "figure", "base", "new", "change", "seconds"
    );
    let mut last = "";
    for row in &c.rows {
        let subject = if row.subject == last {
            ""
        } else {
            &row.subject
        };
        last = &row.subject;
        let _ = writeln!(
            out,
            "{:<40} {:<22} {:>12} {:>12} {:>9} {:>7}  {}",
            truncate(subject, 40),
            row.metric.as_str(),
            value(row.base, row.metric),
            value(row.new, row.metric),
            change(row),
            format!("{}/{}", row.samples.0, row.samples.1),
            verdict(row)
        );
    }
    for (title, list) in [
        ("only in base", &c.only_in_base),
        ("only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}: {}", list.join(", "));
        }
    }
    for (title, list) in [
        ("findings that appeared", &c.findings_appeared),
        ("findings that went away", &c.findings_gone),
    ] {
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().map(|f| f.as_str()).collect();
            let _ = writeln!(out, "{title}: {}", names.join(", "));
        }
    }
    let regressed = c
        .rows
        .iter()
        .filter(|r| r.judgement == Judgement::Regressed)
        .count();
    let improved = c
        .rows
        .iter()
        .filter(|r| r.judgement == Judgement::Improved)
        .count();
    let _ = writeln!(
        out,
        "\n{regressed} figure(s) regressed, {improved} improved; a change counts when the rank test \
         over both runs' seconds gives p < {ALPHA} and it is at least {}% ({}pp for fail_ratio)",
        c.min_change_percent,
        c.min_change_percent / 10.0
    );
    if !checks.is_empty() {
        let _ = writeln!(out);
        for check in checks {
            let _ = writeln!(
                out,
                "{} {} {}: {}",
                if check.broken { "BROKEN" } else { "ok    " },
                check.limit,
                check.subject,
                check.detail
            );
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

pub fn value(v: Option<f64>, m: Metric) -> String {
    match v {
        None => "-".into(),
        Some(v) if m == Metric::Rps => format!("{v:.1}{}", m.unit()),
        Some(v) if m.is_ratio() => format!("{v:.2}{}", m.unit()),
        Some(v) => format!("{v:.2}{}", m.unit()),
    }
}

pub fn change(row: &Row) -> String {
    match row.change {
        None => "-".into(),
        Some(c) if row.metric.is_ratio() => format!("{c:+.2}pp"),
        Some(c) => format!("{c:+.1}%"),
    }
}

pub fn verdict(row: &Row) -> String {
    let p = row.p_value.map(|p| {
        if p < 0.001 {
            "p<0.001".to_owned()
        } else {
            format!("p={p:.3}")
        }
    });
    match row.judgement {
        Judgement::Regressed => format!("REGRESSED ({})", p.unwrap_or_default()),
        Judgement::Improved => format!("improved ({})", p.unwrap_or_default()),
        Judgement::WithinNoise => format!("within noise ({})", p.unwrap_or_default()),
        Judgement::Mixed => format!(
            "mixed ({}): the seconds moved the other way",
            p.unwrap_or_default()
        ),
        Judgement::NotJudged if row.samples == (0, 0) => "one figure per run".into(),
        Judgement::NotJudged => "too few seconds".into(),
    }
}

#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    comparison: &'a Comparison,
    checks: &'a [Check],
    alpha: f64,
}

pub fn json(c: &Comparison, checks: &[Check]) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&Json {
        comparison: c,
        checks,
        alpha: ALPHA,
    })?)
}

/// JUnit XML: a test case per limit and figure it applies to; without limits, one per figure,
/// failing when it regressed.
pub fn junit(c: &Comparison, checks: &[Check]) -> anyhow::Result<String> {
    let cases: Vec<(String, Option<String>)> = if checks.is_empty() {
        c.rows
            .iter()
            .map(|r| {
                let name = format!("{} {}", r.subject, r.metric.as_str());
                let failure = (r.judgement == Judgement::Regressed).then(|| {
                    format!(
                        "{}: {} -> {}",
                        verdict(r),
                        value(r.base, r.metric),
                        value(r.new, r.metric)
                    )
                });
                (name, failure)
            })
            .collect()
    } else {
        checks
            .iter()
            .map(|k| {
                (
                    format!("{} {}", k.limit, k.subject),
                    k.broken.then(|| k.detail.clone()),
                )
            })
            .collect()
    };
    let tests = cases.len().to_string();
    let failures = cases
        .iter()
        .filter(|(_, f)| f.is_some())
        .count()
        .to_string();
    let mut w = junit::writer()?;
    w.create_element("testsuite")
        .with_attributes([
            ("name", "loadgen compare"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
        ])
        .write_inner_content(|w| {
            for (name, failure) in &cases {
                junit::testcase(
                    w,
                    &[("name", name)],
                    failure.as_deref().map(|f| [("message", f)]),
                )?;
            }
            Ok(())
        })?;
    junit::finish(w)
}
