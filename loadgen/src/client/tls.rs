//! TLS for the users' connections, with rustls (no OpenSSL): the server is checked against the
//! system's roots and a private CA (`--ca-cert`), or not at all (`--insecure`, for a staging shop's
//! self-signed certificate, said loudly in the report). SNI is the host's name (none for an IP
//! address, as RFC 6066 wants); ALPN offers http/1.1, and h2 before it with `--http2`.
//! One connector is made per run and shared by every user: handshakes then resume sessions from
//! its cache, as browsers and Locust's clients do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ClientError;

/// How the users' TLS connections check the server.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A PEM file with the CA certificate(s) that signed the server's, trusted beside the
    /// system's roots.
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate: the connection is encrypted but the server is not authenticated.
    pub insecure: bool,
    /// Offer HTTP/2 by ALPN (`--http2`); the users' plain-http connections then speak it with
    /// prior knowledge.
    pub http2: bool,
}

/// The run's TLS client: cheap to clone, shared by every user.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
    http2: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The client configuration, made once. Fails on a CA file that cannot be read or holds no
    /// certificate: a typo must not end as a run of certificate failures.
    pub fn new(options: &TlsOptions) -> anyhow::Result<Self> {
        // The provider is named rather than taken from the process default, which another crate
        // in the same process may have set differently (or not at all).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        let mut config = if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            // A machine without a CA bundle still reaches a private CA's servers.
            let system = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(system.certs);
            if let Some(path) = &options.ca_cert {
                for cert in read_ca(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| anyhow::anyhow!("--ca-cert {}: {e}", path.display()))?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = if options.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            http2: options.http2,
        })
    }

    /// Whether `--http2` was asked for.
    pub fn http2(&self) -> bool {
        self.http2
    }

    /// The handshake on a connected socket; `authority` is the `host:port` the user asked for.
    pub(super) async fn connect(
        &self,
        authority: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, ClientError> {
        let name = server_name(authority)?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| ClientError::Tls(describe(&e)))
    }
}

/// Every certificate in a PEM file; none is an error.
fn read_ca(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let text =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("--ca-cert {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--ca-cert {}: not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "--ca-cert {}: no certificate in it (a PEM file with BEGIN CERTIFICATE blocks)",
            path.display()
        );
    }
    Ok(certs)
}

/// The name the certificate must carry: the host of `host:port` (an IP address as such).
fn server_name(authority: &str) -> Result<ServerName<'static>, ClientError> {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| ClientError::Url(authority.to_owned()))
}

/// A handshake's failure in words a person can act on: rustls's reason, and for a certificate
/// problem the flag that fixes it.
fn describe(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(r @ rustls::Error::InvalidCertificate(_)) => format!(
            "{r} (the server's certificate is not trusted: --ca-cert FILE with the CA that signed \
             it, or --insecure for a self-signed staging certificate)"
        ),
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// `--insecure`: any certificate is taken as the server's. The handshake's signatures are still
/// checked (the connection is encrypted with the key of the certificate shown), only who owns
/// that certificate is not.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
