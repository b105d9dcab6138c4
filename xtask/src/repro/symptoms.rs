//! The symptom checks: what a run's summary.json, statements, reconciliation and shop log show of
//! a reproduction's bug, as the lines the report would, and whether it is there. Pure functions of
//! an [`Observed`], so they are unit-tested on hand-built summaries without running anything.
//! summary.json is read as loadgen's own [`Summary`] type, so a field loadgen renames breaks the
//! build here rather than a repro at run time.

use loadgen::diagnosis::FindingId;
use loadgen::stats::FailureRow;
use loadgen::summary::{EntrySummary, Summary};
use serde_json::Value;

use super::runner::Observed;
#[cfg(test)]
use super::runner::Statements;

pub(super) struct Symptom {
    pub(super) present: bool,
    pub(super) lines: Vec<String>,
}

/// The failures of endpoints whose name contains `name_part` with this status, as the report shows
/// them; or, when there are none, what those endpoints did.
pub(super) fn failures_with(o: &Observed, name_part: &str, status: u16) -> Symptom {
    // No text fallback: loadgen records the status of every answer, and a failure without one
    // (refused, reset, timed out) has no status to match.
    let rows: Vec<&FailureRow> = o
        .summary
        .failures
        .iter()
        .filter(|f| f.name.contains(name_part) && f.status == Some(status))
        .collect();
    if rows.is_empty() {
        let lines = o
            .summary
            .entries
            .iter()
            .filter(|e| e.name.contains(name_part))
            .map(|e| {
                format!(
                    "{} {}: {} requests, {} failures",
                    e.method, e.name, e.requests, e.failures
                )
            })
            .collect::<Vec<_>>();
        return Symptom {
            present: false,
            lines: if lines.is_empty() {
                vec![format!("no request to {name_part} was made")]
            } else {
                lines
            },
        };
    }
    Symptom {
        present: true,
        lines: rows
            .iter()
            .map(|f| {
                format!(
                    "{} × {} {} → {}",
                    f.occurrences,
                    f.method,
                    f.name,
                    f.example.as_deref().unwrap_or(&f.error)
                )
            })
            .collect(),
    }
}

/// Seconds from the run's start to the first failure on `name_part`.
fn first_seen_after_start(o: &Observed, name_part: &str) -> Option<i64> {
    let start = o.summary.meta.started_at.timestamp();
    o.summary
        .failures
        .iter()
        .filter(|f| f.name.contains(name_part))
        .map(|f| f.first_seen)
        .min()
        .map(|t| t - start)
}

pub(super) fn pool_symptom(o: &Observed) -> Symptom {
    let agg = &o.summary.aggregate;
    let p95 = agg.percentiles_ms.p95.unwrap_or(0.0);
    let failures = agg.failures;
    let requests = agg.requests;
    // The shop's /metrics as the monitor sampled it each second; seconds that lack either figure
    // say nothing of the pool.
    let points: Vec<(f64, f64)> = o
        .summary
        .server
        .as_ref()
        .and_then(|s| s.metrics.as_ref())
        .into_iter()
        .flat_map(|m| &m.points)
        .filter_map(|p| Some((p.pool_in_use?, p.pool_max?)))
        .collect();
    let full = points.iter().filter(|(in_use, max)| in_use >= max).count();
    let max = points.iter().map(|&(_, max)| max).fold(0.0, f64::max);
    let mut lines = vec![format!(
        "the shop's pool: all {max:.0} connections in use in {full} of {} seconds",
        points.len()
    )];
    lines.push(format!(
        "all requests: p95 {p95:.0} ms, {failures} of {requests} failed"
    ));
    let server_errors = failures_with(o, "/", 500);
    if server_errors.present {
        lines.extend(server_errors.lines.into_iter().take(3));
    }
    if let Some(line) = o
        .shop_log
        .lines()
        .find(|l| l.contains("pool timed out") || l.contains("PoolTimedOut"))
    {
        lines.push(format!("the shop's log: {}", excerpt(line.trim(), 200)));
    }
    Symptom {
        // Full for a third of the run, or requests failing for want of a connection.
        present: (points.len() >= 5 && full * 3 >= points.len()) || failures > 0,
        lines,
    }
}

pub(super) fn statements_per_request(o: &Observed, limit: f64) -> Symptom {
    let requests = o.summary.aggregate.requests;
    let Some(s) = &o.statements else {
        return Symptom {
            present: false,
            lines: vec![
                "pg_stat_statements is not available: start PostgreSQL with \
                 shared_preload_libraries=pg_stat_statements"
                    .into(),
            ],
        };
    };
    let per = s.calls as f64 / requests.max(1) as f64;
    let mut lines = vec![format!(
        "{} statements for {requests} requests: {per:.1} per request",
        s.calls
    )];
    if let Some((query, calls)) = &s.top {
        lines.push(format!(
            "most run: {calls} × {}",
            excerpt(&squeeze(query), 160)
        ));
    }
    if let Some(e) = o.summary.entry("GET", "/api/products/") {
        // Shown as summary.json spells it (`12.5`, or `null` without a latency), as it always was.
        lines.push(format!(
            "GET /api/products/ p95 {} ms",
            Value::from(e.percentiles_ms.p95)
        ));
    }
    Symptom {
        present: per > limit,
        lines,
    }
}

fn is_product_list(e: &EntrySummary) -> bool {
    e.method == "GET" && (e.name.starts_with("/api/products/?") || e.name == "/api/products/")
}

pub(super) fn cache_symptom(o: &Observed) -> Symptom {
    let lists = o
        .summary
        .entries
        .iter()
        .filter(|e| is_product_list(e))
        .map(|e| e.requests)
        .sum::<u64>();
    // Redis's own count of GET commands during the run (INFO commandstats, by the monitor): a
    // shop that caches the list looks it up there on every list request.
    let Some(gets) = o
        .summary
        .server
        .as_ref()
        .and_then(|s| s.redis.as_ref())
        .map(|r| r.commands.get("get").copied().unwrap_or(0))
    else {
        return Symptom {
            present: false,
            lines: vec!["the Redis monitor did not report (see the report's notes)".into()],
        };
    };
    let mut lines = vec![format!(
        "{lists} list requests; the shop looked the list up in Redis {gets} times (GET)"
    )];
    if let Some(s) = &o.statements {
        lines.push(format!("{} statements in PostgreSQL", s.calls));
    }
    Symptom {
        present: lists > 0 && gets * 2 < lists,
        lines,
    }
}

/// Whether the run's summary.json names the finding `id`.
pub(super) fn has_finding(o: &Observed, id: FindingId) -> bool {
    o.summary.findings.iter().any(|f| f.id == id)
}

/// The diagnosis's findings in summary.json, when loadgen made any.
pub(super) fn print_findings(summary: &Summary) {
    // The reconciliation's own findings were printed with its table.
    let reconciled = summary.reconciliation.is_some();
    for f in summary.findings.iter().filter(|f| {
        !(reconciled
            && matches!(
                f.id,
                FindingId::Oversell | FindingId::PaymentMismatch | FindingId::JobsNotDrained
            ))
    }) {
        println!("  finding: {} ({})", f.title, f.evidence);
    }
}

pub(super) fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn excerpt(s: &str, chars: usize) -> String {
    let mut out: String = s.chars().take(chars).collect();
    if s.chars().count() > chars {
        out.push('…');
    }
    out
}

/// Failures on the cart, and how long into the run the first 401 came (not at once: the token expired).
pub(super) fn expiry_symptom(o: &Observed) -> Symptom {
    let mut s = failures_with(o, "/api/cart/", 401);
    if s.present
        && let Some(first) = first_seen_after_start(o, "/api/cart/")
    {
        s.lines.push(format!(
            "the first 401 came {first} s into the run, not at once"
        ));
    }
    s
}

/// Failures on the cart, and the logins again that did not help.
pub(super) fn scheme_symptom(o: &Observed) -> Symptom {
    let mut s = failures_with(o, "/api/cart/", 401);
    let relogins = o.summary.relogins;
    if s.present && relogins > 0 {
        s.lines.push(format!(
            "{relogins} logins again after a 401, none of them helped"
        ));
    }
    s
}

/// 500s on the reservation, with the AttributeError from the shop's log.
pub(super) fn serializer_symptom(o: &Observed) -> Symptom {
    let mut s = failures_with(o, "/stock/reserve/", 500);
    if s.present
        && let Some(line) = o.shop_log.lines().find(|l| l.contains("AttributeError"))
    {
        s.lines
            .push(format!("the shop's log: {}", excerpt(line.trim(), 200)));
    }
    s
}

/// The confirm's median: the inline e-mail and points add ~300 ms to it.
pub(super) fn inline_jobs_symptom(o: &Observed) -> Symptom {
    let p50 = o
        .summary
        .entry("POST", "/api/payments/confirm/")
        .and_then(|e| e.percentiles_ms.p50);
    match p50 {
        Some(ms) => Symptom {
            present: ms >= 250.0,
            lines: vec![format!("POST /api/payments/confirm/ median {ms:.0} ms")],
        },
        None => Symptom {
            present: false,
            lines: vec!["no payment was confirmed".into()],
        },
    }
}

/// The reconciliation's failed checks: stock or money not adding up.
pub(super) fn oversell_symptom(o: &Observed) -> Symptom {
    match &o.reconciliation {
        Some(checks) => {
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("reconciliation: {}: {}", c.name, c.detail))
                .collect();
            Symptom {
                present: !failed.is_empty(),
                lines: if failed.is_empty() {
                    vec!["reconciliation: money and stock hold".into()]
                } else {
                    failed.into_iter().map(|l| excerpt(&l, 400)).collect()
                },
            }
        }
        None => Symptom {
            present: false,
            lines: vec!["no reconciliation ran".into()],
        },
    }
}

#[cfg(test)]
mod tests {
    use loadgen::diagnosis::Finding;
    use loadgen::report::{Meta, Model};
    use loadgen::summary::{Percentiles, SCHEMA_VERSION};

    use super::*;

    const NO_LATENCY: Percentiles = Percentiles {
        p50: None,
        p66: None,
        p75: None,
        p80: None,
        p90: None,
        p95: None,
        p98: None,
        p99: None,
        p99_9: None,
        p99_99: None,
        p100: None,
    };

    fn entry(method: &str, name: &str, requests: u64, failures: u64) -> EntrySummary {
        EntrySummary {
            method: method.into(),
            name: name.into(),
            requests,
            failures,
            handled: 0,
            fail_ratio: 0.0,
            avg_ms: None,
            min_ms: None,
            max_ms: None,
            avg_content_size: 0.0,
            rps: 0.0,
            percentiles_ms: NO_LATENCY,
            corrected_percentiles_ms: None,
            histogram: None,
            corrected_histogram: None,
            tls_handshakes: 0,
            tls_handshake_avg_ms: None,
        }
    }

    /// Built field by field rather than parsed, so the test breaks at compile time with the type.
    fn summary() -> Summary {
        let started_at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Summary {
            schema_version: SCHEMA_VERSION,
            generator: "loadgen test".into(),
            meta: Meta {
                phase: None,
                scenario: "shop".into(),
                host: "http://127.0.0.1:8000".into(),
                started_at,
                ended_at: started_at + chrono::Duration::seconds(10),
                duration_s: 10.0,
                model: Model::Closed,
                seed: 1,
                command: "loadgen run".into(),
                tls_insecure: false,
                protocol: None,
                stages: Vec::new(),
                shard: None,
            },
            passed: true,
            failure_band: "normal".into(),
            thresholds: Vec::new(),
            aggregate: entry("", "Aggregated", 0, 0),
            entries: Vec::new(),
            endpoints: Vec::new(),
            stages: Vec::new(),
            failures: Vec::new(),
            exceptions: Vec::new(),
            relogins: 0,
            dropped_iterations: 0,
            saturation: Default::default(),
            stage_slos: Vec::new(),
            first_broken_stage: None,
            drift: None,
            series: Vec::new(),
            server: None,
            findings: Vec::new(),
            reconciliation: None,
            baseline: None,
            faults: None,
        }
    }

    fn observed(summary: Summary) -> Observed {
        Observed {
            summary,
            statements: None,
            reconciliation: None,
            shop_log: String::new(),
        }
    }

    fn failure(name: &str, status: Option<u16>, error: &str, example: Option<&str>) -> FailureRow {
        FailureRow {
            method: "POST".into(),
            name: name.into(),
            error: error.into(),
            occurrences: 7,
            first_seen: 1_700_000_003,
            last_seen: 1_700_000_009,
            status,
            example: example.map(str::to_owned),
        }
    }

    #[test]
    fn a_405_failure_is_the_symptom_and_its_absence_is_not() {
        let mut with = summary();
        with.failures.push(failure(
            "/api/cart/items/",
            Some(405),
            "HTTPError('405 Client Error: Method Not Allowed for url: /api/cart/items/')",
            Some("405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"),
        ));
        let s = failures_with(&observed(with), "/api/cart/items/", 405);
        assert!(s.present);
        assert_eq!(
            s.lines,
            ["7 × POST /api/cart/items/ → 405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"]
        );

        let mut without = summary();
        without
            .entries
            .push(entry("POST", "/api/cart/items/", 9, 0));
        let s = failures_with(&observed(without), "/api/cart/items/", 405);
        assert!(!s.present);
        assert_eq!(s.lines, ["POST /api/cart/items/: 9 requests, 0 failures"]);

        let s = failures_with(&observed(summary()), "/api/cart/items/", 405);
        assert_eq!(s.lines, ["no request to /api/cart/items/ was made"]);
    }

    #[test]
    fn failures_match_on_their_status_not_their_text() {
        let mut s = summary();
        // Text that names 405, on an answer that was a 500: not a 405.
        s.failures.push(failure(
            "/api/cart/items/",
            Some(500),
            "HTTPError('405 in the body of a 500')",
            None,
        ));
        // No answer at all (a reset): no status to match.
        s.failures.push(failure(
            "/api/cart/items/",
            None,
            "ConnectionResetError('405')",
            None,
        ));
        let o = observed(s);
        assert!(!failures_with(&o, "/api/cart/items/", 405).present);
        let errors = failures_with(&o, "/api/cart/", 500);
        assert!(errors.present);
        // Without an example the error text stands in for it.
        assert_eq!(
            errors.lines,
            ["7 × POST /api/cart/items/ → HTTPError('405 in the body of a 500')"]
        );
        assert!(!failures_with(&o, "/api/orders/", 500).present);
    }

    #[test]
    fn expiry_counts_from_the_start_of_the_run() {
        let mut s = summary();
        s.failures
            .push(failure("/api/cart/", Some(401), "HTTPError('401')", None));
        let lines = expiry_symptom(&observed(s)).lines;
        assert_eq!(
            lines.last().map(String::as_str),
            Some("the first 401 came 3 s into the run, not at once")
        );
    }

    #[test]
    fn a_finding_is_named_by_its_id() {
        let mut s = summary();
        s.findings.push(Finding {
            id: FindingId::MethodNotAllowed,
            title: "POST /api/cart/items/ answers 405".into(),
            evidence: "7 × 405".into(),
            fix: "route POST".into(),
        });
        let o = observed(s);
        assert!(has_finding(&o, FindingId::MethodNotAllowed));
        assert!(!has_finding(&o, FindingId::Unauthorized));
        assert!(!has_finding(
            &observed(summary()),
            FindingId::MethodNotAllowed
        ));
    }

    #[test]
    fn a_finding_is_read_from_summary_json_by_its_wire_name() {
        let mut value = serde_json::to_value(summary()).unwrap();
        value["findings"] = serde_json::json!([
            {"id": "n-plus-one", "title": "t", "evidence": "e", "fix": "f"}
        ]);
        let o = observed(Summary::from_json(&value.to_string()).unwrap());
        assert!(has_finding(&o, FindingId::NPlusOne));
        assert!(!has_finding(&o, FindingId::NoCache));
    }

    #[test]
    fn statements_per_request_needs_the_extension() {
        let mut s = summary();
        s.aggregate.requests = 10;
        let mut o = observed(s);
        assert!(!statements_per_request(&o, 8.0).present);
        o.statements = Some(Statements {
            calls: 410,
            top: None,
        });
        assert!(statements_per_request(&o, 8.0).present);
        o.statements = Some(Statements {
            calls: 20,
            top: None,
        });
        assert!(!statements_per_request(&o, 8.0).present);
    }

    #[test]
    fn the_list_latency_reads_as_summary_json_wrote_it() {
        let mut s = summary();
        let mut list = entry("GET", "/api/products/", 10, 0);
        list.percentiles_ms.p95 = Some(12.0);
        s.entries.push(list);
        let mut o = observed(s);
        o.statements = Some(Statements {
            calls: 20,
            top: None,
        });
        let lines = statements_per_request(&o, 8.0).lines;
        assert_eq!(
            lines.last().map(String::as_str),
            Some("GET /api/products/ p95 12.0 ms")
        );
    }
}
