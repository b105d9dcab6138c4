//! `cargo xtask bench loadgen --tls`: the same trivial keep-alive endpoint as `bench loadgen`, over
//! HTTPS. nginx (core 0) ends TLS with a certificate a CA made here signed (openssl); wrk, Locust's
//! FastHttpUser and loadgen (`--ca-cert`) each take core 1 in turn with 50 connections for 10 s, in
//! `--rounds` rounds, each figure the median of its rounds. With keep-alive the handshakes are made
//! once per connection, so what is compared is the cost of encrypting and decrypting every
//! request and answer on top of the HTTP work.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use launcher::{Launch, Service, free_port};

use crate::bench::build_release;
use crate::bench_loadgen::{Client, loadgen_run, locust_run, measure, which, wrk_run};
use crate::bench_rounds::Rounds;
use crate::workspace;

pub async fn run(rounds: u32) -> anyhow::Result<ExitCode> {
    for tool in ["nginx", "wrk", "taskset", "openssl"] {
        which(tool).with_context(|| {
            format!("{tool} is needed: apt-get install nginx-light wrk util-linux openssl")
        })?;
    }
    let loadgen = build_release("loadgen")?;
    let dir = workspace::root()
        .join("target")
        .join("shopload")
        .join("bench-tls");
    std::fs::create_dir_all(&dir)?;
    let locust = workspace::venv_bin("locust")?;
    certificates(&dir)?;
    let (nginx, url) = nginx(&dir).await?;
    // FastHttpUser checks no certificate by default (`insecure = True`): said here, not assumed.
    std::fs::write(
        dir.join("locustfile.py"),
        "from locust import FastHttpUser, task\n\n\nclass Trivial(FastHttpUser):\n    insecure = True\n\n    @task\n    def root(self):\n        self.client.get(\"/\")\n",
    )?;
    std::fs::write(
        dir.join("trivial.toml"),
        "[[task]]\n[[task.request]]\npath = \"/\"\n",
    )?;

    let mut rounds_seen = Rounds::default();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds} (HTTPS)");
        let mut add = |client: Client| rounds_seen.add(client);
        add(measure("wrk, https", || wrk_run(&url))?);
        add(measure("Locust FastHttpUser, https", || {
            locust_run(&locust, &dir, &url)
        })?);
        add(measure("loadgen, https", || {
            loadgen_run(
                &loadgen,
                &dir,
                &[
                    "-H",
                    &url,
                    "--ca-cert",
                    "ca.pem",
                    "-f",
                    "trivial.toml",
                    "-u",
                    crate::bench_loadgen::CONNECTIONS,
                    "-r",
                    "1000",
                ],
                "tls.json",
            )
        })?);
    }
    nginx.stop().await.context("stopping nginx")?;

    rounds_seen.print_every_round();
    println!();
    println!(
        "{:<32} {:>12} {:>14}",
        format!("client, HTTPS (median of {rounds})"),
        "req/s",
        "CPU µs/request"
    );
    for name in ["wrk, https", "Locust FastHttpUser, https", "loadgen, https"] {
        let c = rounds_seen.median(name)?;
        println!(
            "{:<32} {:>12.0} {:>14.1}",
            c.name, c.requests_per_second, c.cpu_us_per_request
        );
    }
    let vs_wrk = rounds_seen.ratio("loadgen, https", "wrk, https");
    let vs_locust = rounds_seen.ratio("loadgen, https", "Locust FastHttpUser, https");
    println!();
    println!("     loadgen / Locust FastHttpUser over HTTPS = {vs_locust:.1}x");
    let ok = vs_wrk >= 0.8;
    println!(
        "{} loadgen / wrk over HTTPS = {vs_wrk:.2}x (target >= 0.8x)",
        if ok { "ok  " } else { "MISS" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A CA and a certificate for 127.0.0.1 it signed (P-256, as most staging certificates are now):
/// `ca.pem`, `server.pem`, `server.key` in `dir`.
fn certificates(dir: &Path) -> anyhow::Result<()> {
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-new",
                "-days",
                "2",
                "-subj",
                "/CN=bench CA",
            ][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req", "-new", "-subj", "/CN=127.0.0.1"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ])
}

/// nginx pinned to core 0: HTTPS on one port, and plain HTTP on another for its health check;
/// returns the HTTPS base URL.
async fn nginx(dir: &Path) -> anyhow::Result<(Service, String)> {
    let (port, plain) = (free_port()?, free_port()?);
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {err} warn;\nworker_rlimit_nofile 30000;\n\
             events {{ worker_connections 20000; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n\
               client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n  fastcgi_temp_path {tmp};\n  uwsgi_temp_path {tmp};\n  scgi_temp_path {tmp};\n\
               ssl_session_cache shared:SSL:10m;\n\
               server {{\n    listen 127.0.0.1:{port} ssl;\n    listen 127.0.0.1:{plain};\n\
                 ssl_certificate {dir}/server.pem;\n    ssl_certificate_key {dir}/server.key;\n\
                 location / {{ default_type text/plain; return 200 \"ok\"; }}\n  }}\n}}\n",
            pid = prefix.join("nginx.pid").display(),
            err = prefix.join("logs").join("error.log").display(),
            tmp = prefix.display(),
            dir = dir.display(),
        ),
    )?;
    let nginx = Launch::new("taskset", prefix.join("logs").join("stdout.log"))
        .name("nginx")
        .args(["-c", "0", "nginx", "-p"])
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .health(format!("http://127.0.0.1:{plain}/"))
        .deadline(Duration::from_secs(10))
        .start()
        .await
        .context("starting nginx")?;
    Ok((nginx, format!("https://127.0.0.1:{port}")))
}
