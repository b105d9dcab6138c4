//! The verdict: every threshold checked against what was measured, in the scope it names (the
//! whole run or one stage, the aggregate or one endpoint).

use anyhow::bail;

use crate::stats::{Entry, Recorder};
use crate::threshold::{Threshold, Verdict};

/// The endpoint a selector names: `METHOD NAME` exactly, or a `NAME` only one method uses.
pub fn find_endpoint(endpoints: &[(String, String)], selector: &str) -> Option<usize> {
    if let Some(i) = endpoints
        .iter()
        .position(|(m, n)| format!("{m} {n}") == selector)
    {
        return Some(i);
    }
    let mut by_name = endpoints
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| n == selector);
    match (by_name.next(), by_name.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Refuses, before any load, thresholds naming an endpoint or a stage the run does not have.
pub fn validate(
    thresholds: &[Threshold],
    endpoints: &[(String, String)],
    stages: usize,
) -> anyhow::Result<()> {
    for t in thresholds {
        if let Some(sel) = &t.endpoint
            && find_endpoint(endpoints, sel).is_none()
        {
            let known: Vec<String> = endpoints.iter().map(|(m, n)| format!("{m} {n}")).collect();
            bail!(
                "threshold {:?}: the scenario has no endpoint {sel:?} (it has: {})",
                t.source,
                known.join(", ")
            );
        }
        if let Some(stage) = t.stage
            && stage >= stages
        {
            bail!(
                "threshold {:?}: stage {} does not exist (the run has {stages})",
                t.source,
                stage + 1
            );
        }
    }
    Ok(())
}

/// Checks every threshold.
pub fn evaluate(thresholds: &[Threshold], recorder: &Recorder) -> Vec<Verdict> {
    let endpoints: Vec<(String, String)> = recorder
        .entries
        .iter()
        .map(|e| (e.method.clone(), e.name.clone()))
        .collect();
    thresholds
        .iter()
        .map(|t| {
            let (entries, aggregate, seconds, scope_stage): (&[Entry], &Entry, f64, String) =
                match t.stage.and_then(|s| recorder.stages.get(s)) {
                    Some(stage) => (
                        &stage.entries,
                        &stage.aggregate,
                        stage.end_s - stage.start_s,
                        format!("stage {}", stage.index + 1),
                    ),
                    None => (
                        &recorder.entries,
                        &recorder.aggregate,
                        recorder.duration_s(),
                        "run".to_owned(),
                    ),
                };
            let entry = match &t.endpoint {
                Some(sel) => find_endpoint(&endpoints, sel).map(|i| &entries[i]),
                None => Some(aggregate),
            };
            let scope = match &t.endpoint {
                Some(sel) => format!("{scope_stage}, {sel}"),
                None => format!("{scope_stage}, all requests"),
            };
            let actual = entry.and_then(|e| t.measure(e, seconds));
            let passed = actual.is_some_and(|a| t.holds(a));
            Verdict {
                threshold: t.source.clone(),
                scope,
                actual,
                actual_text: actual.map_or_else(|| "no requests".to_owned(), |a| t.format(a)),
                limit_text: t.describe_limit(),
                passed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_find_endpoints() {
        let endpoints = vec![
            ("GET".to_owned(), "/a".to_owned()),
            ("POST".to_owned(), "/a".to_owned()),
            ("GET".to_owned(), "/b".to_owned()),
        ];
        assert_eq!(find_endpoint(&endpoints, "POST /a"), Some(1));
        assert_eq!(find_endpoint(&endpoints, "/b"), Some(2));
        assert_eq!(find_endpoint(&endpoints, "/a"), None, "ambiguous");
        let bad = Threshold::parse("p95{GET /nope} < 1s").unwrap();
        let e = validate(&[bad], &endpoints, 1).unwrap_err().to_string();
        assert!(e.contains("no endpoint") && e.contains("GET /a"), "{e}");
    }
}
