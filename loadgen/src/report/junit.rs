//! junit.xml for CI: one test case per threshold, failed with the measured value and the limit,
//! one per reconciliation check after a phase, the baseline's gate after a phase with
//! `--baseline`, and one per injected fault's recovery limit after a phase with `--inject`.
//! Written by quick-xml's writer, which escapes every attribute value and text it is given.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use super::Results;

pub fn render(r: &Results) -> anyhow::Result<String> {
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
    let tests = (r.verdicts.len() + extra.len()).to_string();
    let failures = failures.to_string();
    let time = format!("{:.3}", r.meta.duration_s);
    let timestamp = r.meta.started_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut w = writer()?;
    w.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(
        [
            ("name", "loadgen"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("time", time.as_str()),
        ],
    )))?;
    w.write_event(Event::Start(BytesStart::new("testsuite").with_attributes(
        [
            ("name", suite.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", "0"),
            ("skipped", "0"),
            ("time", time.as_str()),
            ("timestamp", timestamp.as_str()),
        ],
    )))?;
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in [
            ("host", r.meta.host.as_str()),
            ("scenario", r.meta.scenario.as_str()),
            ("failure_band", r.failure_band()),
        ] {
            w.create_element("property")
                .with_attributes([("name", name), ("value", value)])
                .write_empty()?;
        }
        Ok(())
    })?;
    for v in &r.verdicts {
        let name = format!("{} ({})", v.threshold, v.scope);
        let message = format!(
            "{} was {}, needs {}",
            v.threshold, v.actual_text, v.limit_text
        );
        testcase(
            &mut w,
            &[("classname", &suite), ("name", &name), ("time", "0")],
            (!v.passed).then_some([("type", "threshold"), ("message", &message)]),
        )?;
    }
    for (kind, name, failure) in &extra {
        let classname = format!("{suite}.{kind}");
        testcase(
            &mut w,
            &[("classname", &classname), ("name", name), ("time", "0")],
            failure
                .as_deref()
                .map(|m| [("type", *kind), ("message", m)]),
        )?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    finish(w)
}

/// A JUnit file's writer, its declaration written: elements indented by two spaces.
pub fn writer() -> io::Result<Writer<Vec<u8>>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    Ok(w)
}

/// The file written, ending in a newline.
pub fn finish(w: Writer<Vec<u8>>) -> anyhow::Result<String> {
    let mut xml = String::from_utf8(w.into_inner())?;
    xml.push('\n');
    Ok(xml)
}

/// A `<testcase>` with these attributes, holding a `<failure>` with `failure`'s when it failed.
pub fn testcase<const N: usize>(
    w: &mut Writer<Vec<u8>>,
    attributes: &[(&str, &str)],
    failure: Option<[(&str, &str); N]>,
) -> io::Result<()> {
    let case = w
        .create_element("testcase")
        .with_attributes(attributes.iter().copied());
    match failure {
        None => case.write_empty().map(|_| ()),
        Some(failure) => case
            .write_inner_content(|w| {
                w.create_element("failure")
                    .with_attributes(failure)
                    .write_empty()
                    .map(|_| ())
            })
            .map(|_| ()),
    }
}
