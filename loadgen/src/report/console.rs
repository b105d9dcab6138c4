//! The console: a live line every few seconds while the run goes (inside a progress bar on a
//! terminal), and at the end Locust's tables, the failures and the verdict.

use std::fmt::Write as _;

use super::Results;
use crate::stats::{Entry, percentile_ms};

/// The live line: elapsed time, users, requests/s, failures and p95 of the last seconds.
pub fn live_line(snapshot: &crate::engine::Snapshot) -> String {
    let Some(last) = snapshot.series.last() else {
        return String::new();
    };
    let recent = &snapshot.series[snapshot.series.len().saturating_sub(5)..];
    let span = recent.len().max(1) as f64;
    let rps = recent.iter().map(|s| s.requests).sum::<u64>() as f64 / span;
    let p95 = recent
        .iter()
        .filter_map(|s| s.p95)
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let (total_requests, total_failures) =
        (snapshot.aggregate.requests, snapshot.aggregate.failures);
    let fail_pct = if total_requests > 0 {
        total_failures as f64 * 100.0 / total_requests as f64
    } else {
        0.0
    };
    format!(
        "{:>5}s  users {:<5} rps {:>8.1}  requests {:<8} failures {} ({:.2}%)  p95 {}",
        last.t,
        last.users,
        rps,
        total_requests,
        total_failures,
        fail_pct,
        p95.map_or("-".to_owned(), |v| format!("{v:.0} ms"))
    )
}

/// Locust's final tables, then the verdict.
pub fn final_report(r: &Results) -> String {
    let mut out = String::new();
    let entries = r.sorted_entries();
    let width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0)
        .clamp(30, 70);
    let rule = format!(
        "--------|{}|-------|-------------|-------|-------|-------|-------|--------|-----------",
        "-".repeat(width + 2)
    );
    let _ = writeln!(
        out,
        "Type     {:<width$}   # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s",
        "Name"
    );
    let _ = writeln!(out, "{rule}");
    let row = |out: &mut String, e: &Entry| {
        let _ = writeln!(
            out,
            "{:<8} {:<width$} {:>8} {:>6}({:.2}%) | {:>6} {:>7} {:>7} {:>6} | {:>7.2} {:>11.2}",
            e.method,
            truncate(&e.name, width),
            e.requests,
            e.failures,
            e.fail_ratio() * 100.0,
            whole(e.avg_ms()),
            whole(e.min_ms()),
            whole(e.max_ms()),
            whole(e.percentile_ms(0.5)),
            r.rps(e),
            r.fails_per_s(e),
        );
    };
    for e in &entries {
        row(&mut out, e);
    }
    let _ = writeln!(out, "{rule}");
    row(&mut out, &r.recorder.aggregate);

    let headline = if r.recorder.open_model {
        "Response time percentiles (exact; open model: from the intended start)"
    } else {
        "Response time percentiles (exact)"
    };
    let _ = writeln!(out, "\n{headline}");
    let _ = writeln!(
        out,
        "Type     {:<width$} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>7}",
        "Name",
        "50%",
        "66%",
        "75%",
        "80%",
        "90%",
        "95%",
        "98%",
        "99%",
        "99.9%",
        "99.99%",
        "100%",
        "# reqs"
    );
    let rule2 = format!("--------|{}|{}", "-".repeat(width + 1), "-".repeat(98));
    let _ = writeln!(out, "{rule2}");
    let prow = |out: &mut String, e: &Entry| {
        let h = e.headline();
        let mut line = format!("{:<8} {:<width$}", e.method, truncate(&e.name, width));
        for q in crate::stats::PERCENTILES {
            let _ = write!(line, " {:>7}", whole(percentile_ms(h, q)));
        }
        let _ = write!(line, " | {:>7}", e.requests);
        let _ = writeln!(out, "{line}");
    };
    for e in &entries {
        prow(&mut out, e);
    }
    let _ = writeln!(out, "{rule2}");
    prow(&mut out, &r.recorder.aggregate);

    if !r.recorder.failures.is_empty() {
        let _ = writeln!(out, "\nError report\n# occurrences      Error");
        let _ = writeln!(out, "{}", "-".repeat(width + 40));
        for f in r.recorder.failures.values() {
            let _ = writeln!(
                out,
                "{:<18} {} {}: {}",
                f.occurrences, f.method, f.name, f.error
            );
            if let Some(example) = &f.example {
                let _ = writeln!(out, "{:<18} answer: {example}", "");
            }
        }
    }
    if r.recorder.relogins > 0 {
        let _ = writeln!(out, "\nRe-logins after a 401: {}", r.recorder.relogins);
    }
    if r.recorder.dropped > 0 {
        let _ = writeln!(
            out,
            "\nIterations dropped (no free user within the allowed lag): {}",
            r.recorder.dropped
        );
    }
    if let Some(w) = r.saturation.warning() {
        let _ = writeln!(out, "\nwarning: {w}");
    }
    let agg = &r.recorder.aggregate;
    let handled = if agg.handled > 0 {
        format!(", {} handled business errors", agg.handled)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\nFailure rate {:.2}% ({}){handled}",
        agg.fail_ratio() * 100.0,
        r.failure_band()
    );
    if let Some(protocol) = &r.meta.protocol {
        let _ = writeln!(out, "Protocol: {protocol} (--http2)");
    }
    if let Some(avg) = agg.tls_handshake_avg_ms() {
        let _ = writeln!(
            out,
            "TLS: {} handshakes, {avg:.1} ms on average (counted in the requests that opened \
             their connection){}",
            agg.tls_handshakes,
            if r.meta.tls_insecure {
                "; certificates NOT verified (--insecure)"
            } else {
                ""
            }
        );
    }
    if !r.stage_slos.is_empty() {
        let _ = writeln!(
            out,
            "\nSteps (each judged by the SLO thresholds on its own)"
        );
        for slo in &r.stage_slos {
            let stage = r.recorder.stages.get(slo.stage - 1);
            let users = r.meta.stages.get(slo.stage - 1).map_or(0, |p| p.users);
            let (p95, p99, fail) = stage.map_or((None, None, 0.0), |s| {
                let a = &s.aggregate;
                (a.percentile_ms(0.95), a.percentile_ms(0.99), a.fail_ratio())
            });
            let broken: Vec<String> = slo
                .broken
                .iter()
                .map(|v| format!("{} (measured {})", v.threshold, v.actual_text))
                .collect();
            let _ = writeln!(
                out,
                "  stage {} {:>5} users  p95 {:>8}  p99 {:>8}  failures {:>6.2}%  {}",
                slo.stage,
                users,
                ms_text(p95),
                ms_text(p99),
                fail * 100.0,
                if broken.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("BROKE {}", broken.join(", "))
                }
            );
        }
        match crate::trend::first_broken(&r.stage_slos) {
            Some(first) => {
                let users = r.meta.stages.get(first.stage - 1).map_or(0, |p| p.users);
                let _ = writeln!(
                    out,
                    "  first step that broke an SLO: stage {} ({users} users)",
                    first.stage
                );
            }
            None => {
                let _ = writeln!(out, "  every step held its SLOs");
            }
        }
    }
    if let Some(d) = &r.drift {
        let _ = writeln!(
            out,
            "\nDrift (first {0} s against last {0} s): p95 {1} -> {2}, failures {3:.2}% -> {4:.2}%{5}",
            d.window_s,
            ms_text(d.first.p95_ms),
            ms_text(d.last.p95_ms),
            d.first.fail_ratio * 100.0,
            d.last.fail_ratio * 100.0,
            if d.flags.is_empty() { ": steady" } else { "" }
        );
        for flag in &d.flags {
            let _ = writeln!(out, "  {flag}");
        }
    }
    if !r.verdicts.is_empty() {
        let _ = writeln!(out, "\nThresholds");
        for v in &r.verdicts {
            let _ = writeln!(
                out,
                "  {} {:<40} {:<30} measured {}, needs {}",
                if v.passed { "pass" } else { "FAIL" },
                v.threshold,
                format!("({})", v.scope),
                v.actual_text,
                v.limit_text
            );
        }
    }
    let _ = writeln!(
        out,
        "\nVerdict: {}",
        if r.passed() {
            "PASSED".to_owned()
        } else {
            let failed: Vec<&str> = r
                .verdicts
                .iter()
                .filter(|v| !v.passed)
                .map(|v| v.threshold.as_str())
                .collect();
            format!("FAILED ({})", failed.join("; "))
        }
    );
    super::server::console(&mut out, r);
    out
}

fn whole(v: Option<f64>) -> String {
    v.map_or("N/A".to_owned(), |v| {
        if v < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    })
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn ms_text(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"))
}
