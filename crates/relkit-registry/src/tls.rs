//! The one HTTP client of the process. TLS verification uses the platform's roots, loaded on the
//! first TLS handshake rather than at start-up: loading them takes tens of milliseconds, and a
//! run against a plain-HTTP (loopback) registry never needs them.
//!
//! A registry with its own TLS material (`--ca-file`, or docker's `certs.d/HOST/`: `*.crt`
//! roots, `client.cert`/`client.key` client certificates) gets a client of its own, with
//! those roots added to the platform's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use relkit_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The shared client (reqwest clients are cheap handles over one connection pool).
pub(crate) fn shared_client() -> Result<reqwest::Client> {
    static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| build_client().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::failed(format!("cannot set up an HTTP client: {e}")))
}

/// TLS material for one registry.
#[derive(Debug, Default)]
pub(crate) struct TlsMaterial {
    /// Roots trusted besides the platform's.
    roots: Vec<CertificateDer<'static>>,
    /// A client certificate chain and its key.
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl TlsMaterial {
    /// The material for `host` (`name` or `name:port`): every `ca_files` root, and from each
    /// certs.d directory `DIR/HOST/*.crt` (roots) and `*.cert` with its `*.key` (a client
    /// certificate), as docker and podman read them.
    pub fn load(host: &str, ca_files: &[PathBuf], certs_dirs: &[PathBuf]) -> Result<Self> {
        let mut material = Self::default();
        for file in ca_files {
            material.roots.extend(read_certs(file)?);
        }
        for dir in certs_dirs {
            let Ok(entries) = std::fs::read_dir(dir.join(host)) else { continue };
            let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for file in &files {
                match file.extension().and_then(|e| e.to_str()) {
                    Some("crt") => material.roots.extend(read_certs(file)?),
                    Some("cert") => {
                        let key = file.with_extension("key");
                        let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                            Error::usage(format!(
                                "client certificate {} needs its key {} ({e}); put the PEM key next to it",
                                file.display(),
                                key.display()
                            ))
                        })?;
                        material.client = Some((read_certs(file)?, key));
                    }
                    _ => {}
                }
            }
        }
        Ok(material)
    }

    /// True when the registry needs no client of its own.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.client.is_none()
    }
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::usage(format!(
                "{} is not a PEM certificate file ({e}); check --ca-file or certs.d",
                file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::usage(format!(
            "{} holds no PEM certificate; check --ca-file or certs.d",
            file.display()
        )));
    }
    Ok(certs)
}

/// A client of its own for a registry with TLS material.
pub(crate) fn client_with(material: TlsMaterial) -> Result<reqwest::Client> {
    build(material).map_err(|e| Error::usage(format!("cannot set up TLS with the given certificates: {e}")))
}

fn build_client() -> std::result::Result<reqwest::Client, Box<dyn std::error::Error>> {
    build(TlsMaterial::default())
}

fn build(material: TlsMaterial) -> std::result::Result<reqwest::Client, Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = LazyPlatformVerifier {
        provider: provider.clone(),
        extra_roots: material.roots,
        inner: OnceLock::new(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut tls = match material.client {
        Some((chain, key)) => config.with_client_auth_cert(chain, key)?,
        None => config.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("relkit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .build()?)
}

/// The platform verifier, created on first use. Signature checks need only the crypto provider,
/// so only the certificate-chain check loads the roots.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    inner: OnceLock<std::result::Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verifier = self
            .inner
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new_with_extra_roots(
                    self.extra_roots.iter().cloned(),
                    self.provider.clone(),
                )
            })
            .as_ref()
            .map_err(Clone::clone)?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
