//! The web UI in a real browser: Debian's `chromium`, headless, driven over W3C WebDriver by
//! `chromedriver` (package `chromium-driver`). A user's session: fill the form (5 users, 5/s),
//! Start, see rows and the charts move, Edit to 20 users and see 20, Stop, Reset stats, download
//! the stats CSV (Locust's header), reload and find the whole run still there. A screenshot of
//! each step goes to `target/tmp/ui-screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::stub::{Server, scenario};
use crate::web::{PACED, STATS_HEADER, Ui};

/// A chromedriver process and one browser session in it. chromedriver runs through the launcher,
/// in a process group of its own: the chromium it starts is in that group too, so a test that
/// fails half-way leaves no browser behind (dropping the service kills the group).
struct Browser {
    driver: Option<launcher::Service>,
    base: String,
    http: reqwest::Client,
    shots: PathBuf,
}

impl Browser {
    async fn start() -> Self {
        let port = launcher::free_port().unwrap();
        let log =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chromedriver-{port}.log"));
        let base = format!("http://127.0.0.1:{port}");
        let driver = launcher::Launch::new("chromedriver", log)
            .arg(format!("--port={port}"))
            .health(format!("{base}/status"))
            .start()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "this test drives a real browser: chromedriver did not start ({e}); install \
                     Debian's chromium and chromium-driver"
                )
            });
        let http = reqwest::Client::new();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let mut b = Self {
            driver: Some(driver),
            base,
            http,
            shots,
        };
        let session = b
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000"
                    ]}
                }}})),
            )
            .await;
        let id = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            answer["value"].get("error").is_none(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element reference")
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Evaluates `script` (an expression) until it is true, at most `within`.
    async fn until(&self, within: Duration, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.js(&format!("return !!({script});")).await == json!(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {what} within {within:?} ({script})"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Browser {
    /// Ends the session (chromedriver quits chromium), then chromedriver itself.
    async fn quit(mut self) {
        let answer = self.http.delete(&self.base).send().await.unwrap();
        assert!(answer.status().is_success(), "DELETE session: {answer:?}");
        if let Some(driver) = self.driver.take() {
            driver.stop().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_runs_the_plans_workflow_in_chromium() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "paced.toml", PACED);
    let ui = Ui::start(dir.path(), &["-H", &server.url(), "-f", "paced.toml"]).await;
    let b = Browser::start().await;

    b.open(&ui.url).await;
    b.until(
        Duration::from_secs(10),
        "the start form",
        "!document.getElementById('start-modal').hidden",
    )
    .await;
    b.fill("#user_count", "5").await;
    b.fill("#spawn_rate", "5").await;
    b.screenshot("01-start-form").await;
    b.click("#start-button").await;
    b.until(
        Duration::from_secs(15),
        "rows and 5 users",
        "document.querySelectorAll('#stats-table tr.stat-row').length >= 2 \
         && document.getElementById('user-count').textContent.trim() === '5'",
    )
    .await;
    b.screenshot("02-statistics").await;
    assert!(b.text("#stats-table").await.contains("Aggregated"));

    b.click("#tab-charts").await;
    b.until(
        Duration::from_secs(10),
        "chart points",
        "hist.points.length >= 2",
    )
    .await;
    b.screenshot("03-charts").await;

    b.click("#edit-open").await;
    b.fill("#edit_user_count", "20").await;
    b.fill("#edit_spawn_rate", "10").await;
    b.click("#edit-button").await;
    b.until(
        Duration::from_secs(15),
        "20 users",
        "document.getElementById('user-count').textContent.trim() === '20'",
    )
    .await;
    b.until(
        Duration::from_secs(10),
        "the edit's mark",
        "hist.marks.some(m => m.label.startsWith('users 5 -> 20'))",
    )
    .await;
    b.screenshot("04-edited-to-20").await;

    b.click("#stop-button").await;
    b.until(
        Duration::from_secs(15),
        "STOPPED",
        "document.getElementById('state').textContent.trim().toUpperCase() === 'STOPPED'",
    )
    .await;
    b.screenshot("05-stopped").await;
    let points_before = b.js("return hist.points.length;").await;

    b.click("#reset-button").await;
    b.click("#tab-download").await;
    let header = b
        .js("const x = new XMLHttpRequest(); \
             x.open('GET', document.getElementById('download-stats-csv').getAttribute('href'), false); \
             x.send(); return x.responseText.split('\\r\\n')[0];")
        .await;
    assert_eq!(header, json!(STATS_HEADER), "Locust's stats CSV header");
    b.screenshot("06-download").await;

    // A reload (or a second browser) gets the whole run from the server.
    b.open(&ui.url).await;
    b.click("#tab-charts").await;
    b.until(
        Duration::from_secs(10),
        "the history after a reload",
        &format!("hist.points.length >= {points_before} && hist.marks.length >= 2"),
    )
    .await;
    b.screenshot("07-reloaded").await;
    assert!(
        b.text("#stats-table").await.contains("Aggregated") || {
            b.click("#tab-statistics").await;
            b.text("#stats-table").await.contains("Aggregated")
        }
    );
    b.quit().await;
    drop(ui);
}
