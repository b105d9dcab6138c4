//! `cargo xtask bench loadgen --tls`: the same trivial keep-alive endpoint as `bench loadgen`, over
//! HTTPS. nginx (core 0) ends TLS with a certificate a CA made here signed (openssl); wrk, Locust's
//! FastHttpUser and loadgen (`--ca-cert`) each take core 1 in turn with 50 connections for 10 s, in
//! `--rounds` rounds, each figure the median of its rounds. With keep-alive the handshakes are made
//! once per connection, so what is compared is the cost of encrypting and decrypting every
//! request and answer on top of the HTTP work.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::bench_loadgen::{
    Client, locust_run, measure, nginx, trivial_run, which, workdir, wrk_run,
};
use crate::bench_rounds::Rounds;
use crate::binaries::build_release;

pub async fn run(rounds: u32) -> anyhow::Result<ExitCode> {
    for tool in ["nginx", "wrk", "taskset", "openssl"] {
        which(tool).with_context(|| {
            format!("{tool} is needed: apt-get install nginx-light wrk util-linux openssl")
        })?;
    }
    let loadgen = build_release("loadgen")?;
    let (dir, locust) = workdir("bench-tls")?;
    certificates(&dir)?;
    let (nginx, url) = nginx(&dir, true).await?;

    let mut rounds_seen = Rounds::default();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds} (HTTPS)");
        let mut add = |client: Client| rounds_seen.add(client);
        add(measure("wrk, https", || wrk_run(&url))?);
        add(measure("Locust FastHttpUser, https", || {
            locust_run(&locust, &dir, &url)
        })?);
        add(measure("loadgen, https", || {
            trivial_run(&loadgen, &dir, &url, &["--ca-cert", "ca.pem"])
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
