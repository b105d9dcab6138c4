//! `cargo xtask bench loadgen`'s web UI row: the trivial run of the headless row, served with its
//! web UI and polled as the page polls it (`/stats/requests` and `/api/history` every 2 s,
//! `/api/findings` every 5 s), so the two rows' ratio is what a browser watching costs the load.
//! The poller runs in this process: only loadgen's own CPU is charged to it.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::bench_loadgen::{SECONDS, pinned, requests_of, trivial_flags};

/// One GET on its own connection, as a browser's poll; the answer is read whole and dropped.
fn get(port: u16, path: &str) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    Ok(answer.len())
}

/// Polls like the page until `done`; returns how many polls were answered.
fn poll(port: u16, done: &AtomicBool) -> u64 {
    let start = Instant::now();
    let (mut answered, mut tick) = (0, 0u64);
    while !done.load(Ordering::Relaxed) {
        let mut routes = vec![
            "/stats/requests".to_owned(),
            format!("/api/history?run=1&since={}", tick.saturating_sub(3)),
        ];
        if tick % 5 == 0 {
            routes.push("/api/findings".into());
        }
        for route in routes {
            if get(port, &route).is_ok() {
                answered += 1;
            }
        }
        tick += 2;
        let next = start + Duration::from_secs(tick);
        while Instant::now() < next && !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    answered
}

/// The trivial endpoint for SECONDS with the UI served (`--autostart`, `--autoquit 0`) and
/// polled; requests/s and requests from its summary.json.
pub(crate) fn polled_run(loadgen: &Path, dir: &Path, url: &str) -> anyhow::Result<(f64, f64)> {
    let port = launcher::free_port()?;
    let json = "web.json";
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || poll(port, &done))
    };
    // A run to completion (`-t`), polled meanwhile from the thread above.
    let out = pinned(loadgen.to_str().unwrap_or("loadgen"))
        .current_dir(dir)
        .arg("run")
        .args(trivial_flags(url))
        .args([
            "-t",
            &format!("{SECONDS}s"),
            "--only-summary",
            "--json",
            json,
        ])
        .args([
            "--web-port",
            &port.to_string(),
            "--autostart",
            "--autoquit",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .context("running loadgen with its web UI");
    done.store(true, Ordering::Relaxed);
    let answered = poller.join().unwrap_or(0);
    let out = out?;
    if !out.status.success() {
        bail!("loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    if answered == 0 {
        bail!("the web UI answered no poll: nothing was measured");
    }
    requests_of(dir, json)
}
