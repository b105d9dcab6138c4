//! `loadgen compare` on real runs of a stub: the same load twice is within noise (a gate that
//! flags noise is a defect), one endpoint slowed by 30 % is the one regression and breaks the
//! gate (and a phase's report carries it), runs that are not like for like exit 2.

use std::path::Path;

use loadgen::compare::{Options, compare_runs};
use loadgen::report::baseline::{Baseline, add_to_reports};
use loadgen::summary::Summary;

use crate::stub::{Server, loadgen, scenario, text};

/// Two endpoints of 20 ms and `b_us` (long enough that a loaded machine's scheduling is not most
/// of a request's time); `name`s keep their rows the same whatever their paths.
const TWO: &str = r#"
[vars]
b_us = 20000
[[task]]
[[task.request]]
path = "/sleep/20000"
name = "a"
[[task.request]]
path = "/sleep/{b_us}"
name = "b"
"#;

/// The stub, and a directory holding the two-endpoint scenario.
async fn stub_and_dir() -> (Server, tempfile::TempDir) {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "two.toml", TWO);
    (server, dir)
}

async fn run(dir: &Path, url: &str, json: &str, extra: &[&str]) {
    let mut args = vec![
        "run",
        "-H",
        url,
        "-f",
        "two.toml",
        "-u",
        "8",
        "-r",
        "100",
        "-t",
        "14s",
        "--headless",
        "--only-summary",
        "--json",
        json,
    ];
    args.extend_from_slice(extra);
    let out = loadgen(dir, &args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_is_not_a_regression_and_a_slowed_endpoint_is_the_one_that_is() {
    let (server, dir) = stub_and_dir().await;
    let d = dir.path();
    let url = server.url();
    // Each pair runs at the same time: the machine's load (other tests, CI) then weighs on both
    // sides alike, and what differs is what the runs themselves were given.
    tokio::join!(
        run(d, &url, "base.json", &["--seed", "1"]),
        run(d, &url, "same.json", &["--seed", "2"]),
    );
    tokio::join!(
        run(d, &url, "base2.json", &["--seed", "3"]),
        run(d, &url, "same2.json", &["--seed", "4"]),
    );
    tokio::join!(
        run(d, &url, "base3.json", &["--seed", "5"]),
        run(
            d,
            &url,
            "slow.json",
            &["--seed", "6", "--var", "b_us=26000"]
        ),
    );

    // The same load twice: nothing regressed or improved, the gate passes.
    for (base_run, seed_run) in [("base.json", "same.json"), ("base2.json", "same2.json")] {
        let out = loadgen(
            d,
            &[
                "compare",
                base_run,
                seed_run,
                "--max-regression",
                "p95 10%",
                "--json",
                "c.json",
            ],
        )
        .await;
        let console = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{console}{}", text(&out.stderr));
        assert!(!console.contains("REGRESSED"), "{console}");
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("c.json")).unwrap()).unwrap();
        let rows = c["rows"].as_array().unwrap();
        assert!(
            rows.len() >= 21,
            "three subjects of seven figures: {rows:?}"
        );
        for row in rows {
            assert_ne!(row["judgement"], "regressed", "{row}");
            if row["subject"] != "Aggregated" && row["metric"] == "p95" {
                let (a, b) = (
                    row["samples"][0].as_u64().unwrap(),
                    row["samples"][1].as_u64().unwrap(),
                );
                assert!(a >= 5 && b >= 5, "{row}");
            }
        }
    }

    // b slowed by 30 %: b's latency regressed, a's did not; the gate breaks and says where.
    let out = loadgen(
        d,
        &[
            "compare",
            "base3.json",
            "slow.json",
            "--max-regression",
            "p95 10%",
            "--json",
            "c.json",
            "--junit",
            "c.xml",
            "--html",
            "c.html",
        ],
    )
    .await;
    let console = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}{}", text(&out.stderr));
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("c.json")).unwrap()).unwrap();
    let judged = |subject: &str, metric: &str| {
        c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["subject"] == subject && r["metric"] == metric)
            .unwrap()["judgement"]
            .clone()
    };
    assert_eq!(judged("GET b", "p50"), "regressed", "{console}");
    assert_eq!(judged("GET b", "p95"), "regressed", "{console}");
    assert_ne!(judged("GET a", "p50"), "regressed", "{console}");
    assert!(console.contains("BROKEN p95 10% GET b"), "{console}");
    assert!(!console.contains("BROKEN p95 10% GET a"), "{console}");
    let html = std::fs::read_to_string(d.join("c.html")).unwrap();
    assert!(
        html.contains("<tr class=\"regressed\"><td>GET b</td>"),
        "{html}"
    );
    assert!(html.contains("p95 (ms), GET b") && html.matches("<svg").count() >= 3);
    let junit = std::fs::read_to_string(d.join("c.xml")).unwrap();
    assert!(
        junit.contains("<testcase name=\"p95 10% GET b\">\n    <failure"),
        "{junit}"
    );

    // The same comparison as a phase's --baseline adds it: a section of the run's own report,
    // its verdict failed, a JUnit case per limit and figure.
    let report = d.join("slow-report");
    std::fs::create_dir(&report).unwrap();
    std::fs::copy(d.join("slow.json"), report.join("summary.json")).unwrap();
    for written_by_the_run in ["report.html", "junit.xml"] {
        std::fs::write(report.join(written_by_the_run), "").unwrap();
    }
    let limits = vec!["p95 10%".to_owned()];
    let compared = compare_runs(&Options {
        base: d.join("base3.json"),
        new: report.clone(),
        max_regression: limits.clone(),
        html: Some(report.join("compare.html")),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(compared.code, 1);
    let section = Baseline::new(
        &compared.comparison,
        &compared.checks,
        &limits,
        "compare.html",
    );
    assert!(!add_to_reports(&report, section).unwrap());
    let summary = Summary::read(report.join("summary.json")).unwrap();
    assert!(!summary.passed);
    let baseline = summary.baseline.unwrap();
    let regressed: Vec<(&str, &str)> = baseline
        .changes
        .iter()
        .filter(|c| c.regressed)
        .map(|c| (c.subject.as_str(), c.metric.as_str()))
        .collect();
    assert!(regressed.contains(&("GET b", "p95")), "{regressed:?}");
    // a's latency held (its requests/s fell with b's: a closed model's users wait for b too).
    assert!(
        !regressed.iter().any(|(s, m)| *s == "GET a" && *m != "rps"),
        "{regressed:?}"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Compared with the baseline</h2>"),
        "{html}"
    );
    assert!(html.contains("<a href=\"compare.html\">"), "{html}");
    assert!(html.contains("<tr><td>GET b</td><td>p95</td>"), "{html}");
    assert!(
        html.contains("<span class=\"fail\">FAILED</span> (failure rate"),
        "the run's verdict follows the gate: {html}"
    );
    let junit = std::fs::read_to_string(report.join("junit.xml")).unwrap();
    assert!(
        junit.contains("baseline\" name=\"p95 10% (GET b)\" time=\"0\">\n      <failure"),
        "{junit}"
    );
    assert!(
        junit.contains("baseline\" name=\"p95 10% (GET a)\" time=\"0\"/>"),
        "{junit}"
    );

    // A limit on the endpoint that did not change holds.
    let out = loadgen(
        d,
        &[
            "compare",
            "base3.json",
            "slow.json",
            "--max-regression",
            "p95{GET a} 10%",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_are_not_like_for_like_exit_2_unless_forced() {
    let (server, dir) = stub_and_dir().await;
    let d = dir.path();
    scenario(
        d,
        "one.toml",
        "[[task]]\n[[task.request]]\npath = \"/sleep/20000\"\nname = \"a\"\n",
    );
    let url = server.url();
    run(d, &url, "two.json", &[]).await;
    let out = loadgen(
        d,
        &[
            "run",
            "-H",
            &url,
            "-f",
            "one.toml",
            "-u",
            "8",
            "-r",
            "100",
            "-t",
            "6s",
            "--headless",
            "--only-summary",
            "--json",
            "one.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = loadgen(d, &["compare", "two.json", "one.json"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not like for like"), "{err}");
    assert!(
        err.contains("scenario two.toml vs one.toml") || err.contains("scenario"),
        "{err}"
    );
    assert!(err.contains("endpoints in one run only: GET b"), "{err}");

    let out = loadgen(d, &["compare", "two.json", "one.json", "--force"]).await;
    let console = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(console.contains("only in base: GET b"), "{console}");

    for (bad, says) in [
        (vec!["compare", "two.json", "missing.json"], "missing.json"),
        (
            vec![
                "compare",
                "two.json",
                "one.json",
                "--force",
                "--max-regression",
                "p97 1%",
            ],
            "unknown metric",
        ),
        (
            vec![
                "compare",
                "two.json",
                "one.json",
                "--force",
                "--max-regression",
                "p95{GET zz} 1%",
            ],
            "no such figure",
        ),
    ] {
        let out = loadgen(d, &bad).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(says), "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}
