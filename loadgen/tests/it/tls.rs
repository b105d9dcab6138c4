//! HTTPS: loadgen against the stub behind a TLS front whose certificate a test CA signed (made
//! here with rcgen): with `--ca-cert` every request passes and each user's connection shakes hands
//! once (keep-alive), counted in the report's own column; without it the run does not start and
//! says what is wrong with the certificate (exit 2); `--insecure` passes and says so loudly.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::stub::{ROOT, Server, loadgen, scenario, summary, text};

/// A TLS front on 127.0.0.1:0 forwarding each connection to `upstream` in plain TCP, as an
/// Nginx or a load balancer ends TLS before a shop; and the PEM of the CA that signed its
/// certificate (for `localhost` and `127.0.0.1`).
pub struct Front {
    pub addr: SocketAddr,
    pub ca_pem: String,
}

/// A server configuration with a certificate for `localhost` and `127.0.0.1` that a test CA
/// signed, offering `alpn`; and that CA's PEM.
pub fn server_config(alpn: &[&[u8]]) -> (rustls::ServerConfig, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "loadgen test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (config, ca.pem())
}

pub async fn tls_front(upstream: SocketAddr) -> Front {
    let (config, ca_pem) = server_config(&[b"http/1.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Front { addr, ca_pem }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_ca_passes_and_each_connection_shakes_hands_once() {
    let server = Server::start().await;
    let front = tls_front(server.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario(d, "root.toml", ROOT);
    std::fs::write(d.join("ca.pem"), &front.ca_pem).unwrap();
    // By name (SNI and the certificate's DNS name) and by address (its IP name).
    for host in [
        format!("https://localhost:{}", front.addr.port()),
        format!("https://127.0.0.1:{}", front.addr.port()),
    ] {
        // The monitors' scrape goes over the same TLS settings.
        let metrics = format!("{host}/metrics");
        let out = loadgen(
            d,
            &[
                "run",
                "-H",
                &host,
                "-f",
                "root.toml",
                "-u",
                "4",
                "-r",
                "100",
                "-t",
                "3s",
                "--headless",
                "--only-summary",
                "--ca-cert",
                "ca.pem",
                "--json",
                "s.json",
                "--html",
                "r.html",
                "--metrics-url",
                &metrics,
            ],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{host}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let s = summary(d, "s.json");
        let total = &s["aggregate"];
        assert!(total["requests"].as_u64().unwrap() > 50, "{total}");
        assert_eq!(total["failures"], 0, "{host}: {}", s["failures"]);
        // Keep-alive: one handshake per user, not per request.
        let handshakes = total["tls_handshakes"].as_u64().unwrap();
        assert!((1..=4).contains(&handshakes), "{handshakes} handshakes");
        assert!(total["tls_handshake_avg_ms"].as_f64().unwrap() > 0.0);
        let scraped = &s["server"]["metrics"];
        assert_eq!(scraped["scrapes_failed"], 0, "{}", s["server"]);
        assert!(
            !scraped["points"].as_array().unwrap().is_empty(),
            "{scraped}"
        );
        let html = std::fs::read_to_string(d.join("r.html")).unwrap();
        assert!(html.contains("<th>TLS handshakes</th>"), "{html}");
        assert!(!html.contains("NOT verified"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_stops_the_run_before_any_load_and_says_why() {
    let server = Server::start().await;
    let front = tls_front(server.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario(d, "root.toml", ROOT);
    let host = format!("https://localhost:{}", front.addr.port());
    let args = [
        "run",
        "-H",
        &host,
        "-f",
        "root.toml",
        "-u",
        "2",
        "-t",
        "2s",
        "--headless",
        "--only-summary",
    ];
    let out = loadgen(d, &args).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(stderr.contains("--ca-cert"), "{stderr}");

    // A CA file that is not one.
    std::fs::write(d.join("bad.pem"), "not a certificate\n").unwrap();
    let out = loadgen(d, &[&args[..], &["--ca-cert", "bad.pem"]].concat()).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--ca-cert bad.pem: no certificate"),
        "{stderr}"
    );

    // --insecure: the same server passes, and every output says the server was not checked.
    let out = loadgen(
        d,
        &[
            &args[..],
            &["--insecure", "--html", "r.html", "--json", "s.json"],
        ]
        .concat(),
    )
    .await;
    let console = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{console}");
    assert!(console.contains("certificates NOT verified"), "{console}");
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.contains("certificates NOT verified"), "{html}");
    assert_eq!(summary(d, "s.json")["meta"]["tls_insecure"], true);
}
