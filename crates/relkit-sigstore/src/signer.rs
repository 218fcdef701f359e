//! Signing: one key for a whole run (an ephemeral key with one Fulcio certificate, or the user's
//! key), used for every payload the run signs, each logged in Rekor (v1 `hashedrekord`/`dsse`,
//! or v2) and timestamped when a TSA is configured. The results are v0.3 bundles.
//!
//! The flow is assembled from sigstore-rust's building blocks (Fulcio, Rekor and TSA clients,
//! bundle builder) rather than its one-shot `Signer`, because that signer asks Fulcio for a new
//! certificate per payload and cannot sign with a caller's key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use relkit_core::{Error, Result};
use serde_json::json;
use sigstore_bundle::{BundleV03, VerificationMaterialV03};
use sigstore_crypto::{KeyPair, Sha256Hasher};
use sigstore_fulcio::FulcioClient;
use sigstore_rekor::{
    DsseEntry, HashedRekord, HashedRekordV2, RekorApiVersion, RekorClient, RekorV2Client, RekorV2KeyDetails,
};
use sigstore_tsa::TimestampClient;
use sigstore_types::bundle::SignatureContent;
use sigstore_types::{
    Bundle, DerCertificate, DerPublicKey, DsseEnvelope, DsseSignature, KeyId, KindVersion, PayloadBytes,
    Sha256Hash, SignatureBytes, TransparencyLogEntry,
};

use crate::cosign::{IN_TOTO_PAYLOAD_TYPE, pem};
use crate::keys::PrivateKey;
use crate::token::IdentityToken;
use crate::trust::Services;

/// What a signature can be checked against: a Fulcio certificate (with the chain Fulcio sent),
/// or a public key.
#[derive(Debug, Clone)]
pub enum Material {
    /// Keyless: the leaf and its intermediates/root, leaf first.
    Certificate(Vec<DerCertificate>),
    /// Key-based.
    PublicKey(DerPublicKey),
}

impl Material {
    /// The PEM the transparency log records for this material (LF line ends, as Rekor stores it).
    pub fn log_pem(&self) -> String {
        match self {
            Material::Certificate(chain) => pem("CERTIFICATE", chain[0].as_bytes()),
            Material::PublicKey(key) => pem("PUBLIC KEY", key.as_bytes()),
        }
    }
}

/// One signed payload.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The v0.3 bundle.
    pub bundle: Bundle,
    /// The raw signature (over the payload, or over the DSSE PAE).
    pub signature: SignatureBytes,
}

/// The key every signature of a run is made with, and the services it logs to.
pub struct SigningSession {
    key_pair: KeyPair,
    material: Material,
    rekor: Option<Rekor>,
    tsa: Option<(String, TimestampClient)>,
}

enum Rekor {
    V1(RekorClient),
    V2(RekorV2Client),
}

impl std::fmt::Debug for SigningSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningSession").field("material", &self.material).finish_non_exhaustive()
    }
}

fn sigstore_error(service: &str, e: impl std::fmt::Display) -> Error {
    Error::failed(format!("{service}: {e}"))
}

impl SigningSession {
    /// Keyless: an ephemeral P-256 key certified once by Fulcio for `token`.
    pub async fn keyless(token: &IdentityToken, services: &Services, http: &reqwest::Client) -> Result<Self> {
        let fulcio_url = services.fulcio.as_deref().ok_or_else(|| {
            Error::usage("keyless signing needs a Fulcio URL; give --signing-config with `caUrls`")
        })?;
        let key_pair = KeyPair::generate_ecdsa_p256().map_err(|e| sigstore_error("key generation", e))?;
        let oidc = sigstore_oidc::IdentityToken::from_jwt(token.jwt().expose())
            .map_err(|e| Error::usage(format!("the identity token is not usable for Fulcio ({e})")))?;
        let fulcio = FulcioClient::builder(fulcio_url)
            .with_http_client(http.clone())
            .build()
            .map_err(|e| sigstore_error("Fulcio", e))?;
        let response = fulcio
            .create_signing_certificate(&oidc, &key_pair)
            .await
            .map_err(|e| Error::failed(format!("Fulcio at {fulcio_url} refused a certificate: {e}")))?;
        let chain = response.certificate_chain().to_vec();
        if chain.is_empty() {
            return Err(Error::failed(format!("Fulcio at {fulcio_url} returned no certificate")));
        }
        Ok(Self {
            key_pair,
            material: Material::Certificate(chain),
            rekor: rekor(services, http)?,
            tsa: tsa(services, http)?,
        })
    }

    /// Key-based: the user's key; logged to Rekor unless `tlog_upload` is off.
    pub fn with_key(
        key: PrivateKey,
        services: &Services,
        tlog_upload: bool,
        http: &reqwest::Client,
    ) -> Result<Self> {
        Ok(Self {
            key_pair: key.key_pair,
            material: Material::PublicKey(key.public_key),
            rekor: if tlog_upload { rekor(services, http)? } else { None },
            tsa: tsa(services, http)?,
        })
    }

    /// What verifiers check the signatures against.
    pub fn material(&self) -> &Material {
        &self.material
    }

    /// Signs a payload's bytes (a message signature; the log records their SHA-256).
    pub async fn sign_message(&self, payload: &[u8]) -> Result<Signed> {
        let mut hasher = Sha256Hasher::new();
        hasher.update(payload);
        self.sign_digest(hasher.finalize()).await
    }

    /// Signs an artifact by its SHA-256 (a message signature).
    pub async fn sign_digest(&self, digest: Sha256Hash) -> Result<Signed> {
        let signature = self.key_pair.sign_digest(&digest).map_err(|e| sigstore_error("signing", e))?;
        let entry = match &self.rekor {
            Some(Rekor::V1(client)) => {
                let request: HashedRekord = serde_json::from_value(json!({
                    "apiVersion": "0.0.1",
                    "kind": "hashedrekord",
                    "spec": {
                        "data": {"hash": {"algorithm": "sha256", "value": digest.to_hex()}},
                        "signature": {
                            "content": B64.encode(signature.as_bytes()),
                            "publicKey": {"content": B64.encode(self.material.log_pem())}
                        }
                    }
                }))
                .map_err(|e| sigstore_error("Rekor entry", e))?;
                let logged = client.create_entry(request).await.map_err(|e| rekor_error(client.url(), e))?;
                Some(bundle_entry(&logged, KindVersion::HashedRekordV001)?)
            }
            Some(Rekor::V2(client)) => Some(self.log_v2(client, &digest, &signature).await?),
            None => None,
        };
        let content = SignatureContent::MessageSignature(
            sigstore_types::bundle::MessageSignature::new(signature.clone()).with_message_digest(
                sigstore_types::bundle::MessageDigest::new(
                    sigstore_types::HashAlgorithm::Sha2256,
                    sigstore_types::DigestBytes::new(digest.as_bytes().to_vec()),
                ),
            ),
        );
        self.finish(content, entry, &signature).await
    }

    /// Signs an in-toto statement as a DSSE envelope (the log records a `dsse` entry).
    pub async fn sign_statement(&self, statement: &[u8]) -> Result<Signed> {
        let mut hasher = Sha256Hasher::new();
        for part in [
            b"DSSEv1 ".as_slice(),
            IN_TOTO_PAYLOAD_TYPE.len().to_string().as_bytes(),
            b" ",
            IN_TOTO_PAYLOAD_TYPE.as_bytes(),
            b" ",
            statement.len().to_string().as_bytes(),
            b" ",
            statement,
        ] {
            hasher.update(part);
        }
        let (pae_hash, signature) =
            self.key_pair.sign_prehashed(hasher).map_err(|e| sigstore_error("signing", e))?;
        let envelope = DsseEnvelope::new(
            IN_TOTO_PAYLOAD_TYPE.to_string(),
            PayloadBytes::new(statement.to_vec()),
            DsseSignature::new(signature.clone(), KeyId::default()),
        );
        let entry = match &self.rekor {
            Some(Rekor::V1(client)) => {
                let envelope_json = String::from_utf8(crate::cosign::go_json(
                    &crate::cosign::Envelope::single(statement, IN_TOTO_PAYLOAD_TYPE, signature.as_bytes()),
                ))
                .expect("JSON is UTF-8");
                let request: DsseEntry = serde_json::from_value(json!({
                    "apiVersion": "0.0.1",
                    "kind": "dsse",
                    "spec": {"proposedContent": {
                        "envelope": envelope_json,
                        "verifiers": [B64.encode(self.material.log_pem())]
                    }}
                }))
                .map_err(|e| sigstore_error("Rekor entry", e))?;
                let logged =
                    client.create_dsse_entry(request).await.map_err(|e| rekor_error(client.url(), e))?;
                Some(bundle_entry(&logged, KindVersion::DsseV001)?)
            }
            Some(Rekor::V2(client)) => Some(self.log_v2(client, &pae_hash, &signature).await?),
            None => None,
        };
        self.finish(SignatureContent::DsseEnvelope(envelope), entry, &signature).await
    }

    async fn log_v2(
        &self,
        client: &RekorV2Client,
        digest: &Sha256Hash,
        signature: &SignatureBytes,
    ) -> Result<TransparencyLogEntry> {
        let details = RekorV2KeyDetails::PkixEcdsaP256Sha256;
        let request = match &self.material {
            Material::Certificate(chain) => {
                HashedRekordV2::new_with_certificate(digest, signature, &chain[0], details)
            }
            Material::PublicKey(key) => HashedRekordV2::new_with_public_key(digest, signature, key, details),
        };
        client.create_entry(request).await.map_err(|e| rekor_error(client.url(), e))
    }

    async fn finish(
        &self,
        content: SignatureContent,
        entry: Option<TransparencyLogEntry>,
        signature: &SignatureBytes,
    ) -> Result<Signed> {
        let verification = match &self.material {
            Material::Certificate(chain) => VerificationMaterialV03::Certificate(chain[0].clone()),
            Material::PublicKey(key) => {
                use sha2::Digest as _;
                VerificationMaterialV03::PublicKey { hint: B64.encode(sha2::Sha256::digest(key.as_bytes())) }
            }
        };
        let mut bundle = BundleV03::new(verification, content);
        if let Some(entry) = entry {
            bundle = bundle.with_tlog_entry(entry);
        }
        if let Some((url, tsa)) = &self.tsa {
            let token = tsa
                .timestamp_signature(signature)
                .await
                .map_err(|e| Error::failed(format!("the timestamp authority at {url} failed: {e}")))?;
            bundle = bundle.with_rfc3161_timestamp(token);
        }
        Ok(Signed { bundle: bundle.into_bundle(), signature: signature.clone() })
    }
}

fn rekor_error(url: &str, e: impl std::fmt::Display) -> Error {
    Error::failed(format!("the transparency log at {url} refused the entry: {e}"))
}

fn bundle_entry(entry: &sigstore_rekor::LogEntry, kind: KindVersion) -> Result<TransparencyLogEntry> {
    entry.to_bundle_entry(kind).map_err(|e| {
        Error::failed(format!("the transparency log sent an entry that cannot be bundled ({e})"))
    })
}

fn rekor(services: &Services, http: &reqwest::Client) -> Result<Option<Rekor>> {
    let Some((url, version)) = &services.rekor else { return Ok(None) };
    Ok(Some(match version {
        RekorApiVersion::V2 => Rekor::V2(
            RekorV2Client::builder(url)
                .with_http_client(http.clone())
                .build()
                .map_err(|e| sigstore_error("Rekor", e))?,
        ),
        _ => Rekor::V1(
            RekorClient::builder(url)
                .with_http_client(http.clone())
                .build()
                .map_err(|e| sigstore_error("Rekor", e))?,
        ),
    }))
}

fn tsa(services: &Services, http: &reqwest::Client) -> Result<Option<(String, TimestampClient)>> {
    services
        .tsa
        .as_deref()
        .map(|url| {
            let client = TimestampClient::builder(url)
                .with_http_client(http.clone())
                .build()
                .map_err(|e| sigstore_error("TSA", e))?;
            Ok((url.to_string(), client))
        })
        .transpose()
}
