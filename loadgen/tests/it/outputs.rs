//! The files a run writes: Locust's CSVs byte for byte, the offline HTML, summary.json, junit.xml.

use crate::stub::{HOSTILE, ROOT, Server, loadgen, scenario, summary, text};

const STATS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n";
const HISTORY: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\r\n";
const FAILURES: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n";
const EXCEPTIONS: &str = "Count,Message,Traceback,Nodes\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_have_locusts_headers_rows_and_line_ends() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        r#"
[[task]]
weight = 3
[[task.request]]
path = "/"
[[task]]
[[task.request]]
path = "/status/404?id={rand 1 9}"
name = "/status/[id]"
"#,
    );
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3s",
            "--csv",
            "out/x",
            "--csv-full-history",
            "--seed",
            "7",
        ],
    )
    .await;
    // Some requests fail on purpose and no threshold decides: Locust's exit code on error.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let read = |f: &str| std::fs::read_to_string(dir.path().join("out").join(f)).unwrap();

    let stats = read("x_stats.csv");
    assert!(stats.starts_with(STATS), "{stats}");
    let lines: Vec<&str> = stats.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        !stats.replace("\r\n", "").contains('\n'),
        "every line ends in CRLF"
    );
    assert_eq!(lines.len(), 4, "header, two entries, Aggregated: {stats}");
    assert!(
        lines[1].starts_with("GET,/,"),
        "sorted by name: {}",
        lines[1]
    );
    assert!(lines[2].starts_with("GET,/status/[id],"), "{}", lines[2]);
    assert!(
        lines[3].starts_with(",Aggregated,"),
        "Aggregated last with an empty Type: {}",
        lines[3]
    );
    let cells: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(cells.len(), 22);
    assert_eq!(cells[2], cells[3], "every 404 is a failure");
    assert!(
        cells[5].contains('.'),
        "the average is a Python float: {}",
        cells[5]
    );
    assert!(
        cells[11..].iter().all(|c| c.parse::<u64>().is_ok()),
        "percentiles are whole ms: {cells:?}"
    );

    let history = read("x_stats_history.csv");
    assert!(history.starts_with(HISTORY), "{history}");
    let rows: Vec<&str> = history
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        rows.len() >= 6,
        "a row per endpoint and the aggregate each second: {history}"
    );
    assert!(
        rows.iter().any(|r| r.contains(",GET,/,")),
        "full history has endpoint rows"
    );
    let rate = rows[0].split(',').nth(4).unwrap();
    assert_eq!(
        rate.split('.').nth(1).map(str::len),
        Some(6),
        "Requests/s printed with six decimals: {rate}"
    );

    let failures = read("x_failures.csv");
    assert!(failures.starts_with(FAILURES), "{failures}");
    assert!(
        failures.contains(
            "GET,/status/[id],HTTPError('404 Client Error: Not Found for url: /status/[id]'),"
        ),
        "{failures}"
    );
    let exceptions = read("x_exceptions.csv");
    assert_eq!(exceptions, EXCEPTIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_run_prints_na_and_its_exceptions() {
    // The Aggregated row below is byte for byte what Locust 2.46 wrote for a run with no requests.
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        "[[task]]\n[[task.request]]\npath = \"/{never_captured}/\"\n",
    );
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-t",
            "1s",
            "--csv",
            "x",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stats = std::fs::read_to_string(dir.path().join("x_stats.csv")).unwrap();
    assert!(
        stats.ends_with(
            ",Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\r\n"
        ),
        "{stats}"
    );
    let exceptions = std::fs::read_to_string(dir.path().join("x_exceptions.csv")).unwrap();
    assert!(
        exceptions.contains("never_captured") && exceptions.ends_with(",,local\r\n"),
        "{exceptions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_opens_offline_with_inline_svg_charts() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", ROOT);
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "2",
            "-t",
            "3s",
            "--html",
            "r.html",
            "--threshold",
            "p99 < 5s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    for section in [
        "Thresholds",
        "Request Statistics",
        "Response Time Statistics",
        "Failures Statistics",
        "Charts",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.matches("<svg").count() >= 4, "four inline SVG charts");
    assert!(!html.contains("<script"), "no script");
    assert!(!html.contains("<link"), "no stylesheet link");
    let urls: Vec<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 40).min(html.len())])
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.starts_with(&format!("http://{}", server.addr))),
        "the only URL named is the target itself: {urls:?}"
    );
    assert!(html.contains("PASSED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_threshold_exits_1_and_junit_names_it() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", ROOT);
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "2",
            "-t",
            "2s",
            "--threshold",
            "p95 < 0.001ms",
            "--threshold",
            "fail_ratio < 5%",
            "--junit",
            "j.xml",
            "--json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL p95 < 0.001ms"), "{stdout}");
    assert!(
        stdout.contains("Verdict: FAILED (p95 < 0.001ms)"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    assert!(junit.contains("tests=\"2\" failures=\"1\""), "{junit}");
    assert!(junit.contains("<testcase classname=\"loadgen.s\" name=\"p95 &lt; 0.001ms (run, all requests)\" time=\"0\">\n      <failure type=\"threshold\""), "{junit}");
    assert!(
        junit.contains("name=\"fail_ratio &lt; 5% (run, all requests)\" time=\"0\"/>"),
        "{junit}"
    );
    let s = summary(dir.path(), "s.json");
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["passed"], false);
    assert!(
        s["aggregate"]["histogram"].as_str().unwrap().len() > 10,
        "the histogram travels with the summary"
    );

    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "2",
            "-t",
            "1s",
            "--threshold",
            "p95 < 5s",
            "--junit",
            "j.xml",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let junit = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    assert!(junit.contains("tests=\"1\" failures=\"0\""), "{junit}");
}

/// A request named, and a server answering, with markup and quotes: the HTML report, the
/// comparison page and both JUnit files hold them escaped, never a raw tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_answers_that_are_markup_are_escaped_in_every_page() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml_name = HOSTILE.replace('"', "\\\"");
    scenario(
        dir.path(),
        "s.toml",
        &format!("[[task]]\n[[task.request]]\npath = \"/hostile\"\nname = \"{toml_name}\"\n"),
    );
    let threshold = format!("max{{GET {HOSTILE}}} < 0.001ms");
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "1",
            "-t",
            "2s",
            "--threshold",
            &threshold,
            "--html",
            "r.html",
            "--junit",
            "j.xml",
            "--json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = loadgen(
        dir.path(),
        &[
            "compare", "s.json", "s.json", "--html", "c.html", "--junit", "c.xml",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();

    // HTML: `'` needs no escape inside text and double-quoted attributes.
    let html_name = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;'";
    let report = read("r.html");
    assert!(
        report.contains(&format!("<td>{html_name}</td>")),
        "the name: {report}"
    );
    assert!(
        report.contains(&format!("{html_name} from the server")),
        "the server's answer: {report}"
    );
    let xml_name = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&apos;";
    let junit = read("j.xml");
    assert!(junit.contains(&format!("GET {xml_name}")), "{junit}");
    let page = read("c.html");
    assert!(
        page.contains(&format!("<td>GET {html_name}</td>")),
        "{page}"
    );
    let compared = read("c.xml");
    assert!(
        compared.contains(&format!("GET {xml_name} p95")),
        "{compared}"
    );
    for (file, text) in [
        ("r.html", &report),
        ("j.xml", &junit),
        ("c.html", &page),
        ("c.xml", &compared),
    ] {
        assert!(!text.contains("<script"), "a raw tag in {file}: {text}");
        assert!(!text.contains("\"&'"), "raw quotes in {file}: {text}");
    }
}
