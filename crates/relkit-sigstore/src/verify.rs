//! Verification of bundles (v0.1–v0.3) against a trusted root and a [`Policy`]: the
//! cryptography (certificate chain, SCT, transparency log inclusion, timestamps, signature) is
//! sigstore-verify's; who signed is our policy's. Legacy cosign layers (`.sig`/`.att`) are turned
//! into the equivalent v0.1 bundle first, so both storage schemes are judged the same way.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use relkit_core::{Error, Result};
use serde_json::{Value, json};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::bundle::SignatureContent;
use sigstore_types::{Artifact, Bundle, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

use crate::cosign::{
    ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_RFC3161, ANNOTATION_SIGNATURE,
    DSSE_MEDIA_TYPE, Envelope, RekorBundle, Rfc3161Annotation, SIMPLE_SIGNING_MEDIA_TYPE, StatementView,
    pem_blocks,
};
use crate::policy::{CertificateFacts, Policy};

/// What was verified about one signature.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The certificate identity (keyless).
    pub identity: Option<String>,
    /// The OIDC issuer (keyless).
    pub issuer: Option<String>,
    /// The transparency log index, when logged.
    pub log_index: Option<i64>,
    /// The signed statement, for DSSE bundles.
    pub statement: Option<StatementView>,
}

/// Verifies bundles against one trusted root.
pub struct BundleVerifier {
    inner: sigstore_verify::Verifier,
}

impl std::fmt::Debug for BundleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleVerifier").finish_non_exhaustive()
    }
}

/// What the bundle must be about: the artifact's bytes or its SHA-256.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The artifact itself.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 (for DSSE: a statement subject's digest).
    Digest(&'a Sha256Hash),
}

impl BundleVerifier {
    /// A verifier for this trusted root.
    pub fn new(trusted_root: &TrustedRoot) -> Result<Self> {
        let inner = sigstore_verify::Verifier::new(trusted_root)
            .map_err(|e| Error::usage(format!("the trusted root cannot be used ({e})")))?;
        Ok(Self { inner })
    }

    /// Verifies `bundle` for `subject` under `policy`. With `require_tlog` off, a key-signed
    /// bundle without a log entry is accepted (`--insecure-ignore-tlog`). The error names the
    /// check that failed.
    pub fn verify(
        &self,
        subject: Subject<'_>,
        bundle: &Bundle,
        policy: &Policy,
        require_tlog: bool,
    ) -> Result<Verified> {
        let artifact: Artifact<'_> = match subject {
            Subject::Bytes(bytes) => bytes.into(),
            Subject::Digest(digest) => digest.into(),
        };
        let fail = |e: sigstore_verify::Error| Error::failed(describe(&e));
        let (identity, issuer, log_index) = match policy {
            Policy::Key(key) => {
                if bundle.signing_certificate().is_some() {
                    return Err(Error::failed(
                        "key check failed: the signature was made keyless (it carries a certificate), not with --key",
                    ));
                }
                let logged = !bundle.verification_material.tlog_entries.is_empty();
                if !logged && require_tlog {
                    return Err(Error::failed(
                        "transparency log check failed: the key signature is in no log; pass --insecure-ignore-tlog if it was made with --tlog-upload=false",
                    ));
                }
                if logged {
                    let policy = PublicKeyVerificationPolicy::new(key.clone());
                    self.inner.verify(artifact, bundle, &policy).map_err(fail)?;
                } else {
                    verify_unlogged(key, subject, bundle)?;
                }
                (None, None, log_index(bundle))
            }
            _ => {
                let result =
                    self.inner.verify(artifact, bundle, &VerificationPolicy::any_identity()).map_err(fail)?;
                let cert = result.certificate().ok_or_else(|| {
                    Error::failed("certificate check failed: the bundle has no signing certificate")
                })?;
                let facts = CertificateFacts::from(cert);
                policy.check_certificate(&facts)?;
                (Some(facts.identity), Some(facts.issuer), log_index(bundle))
            }
        };
        let statement = match &bundle.content {
            SignatureContent::DsseEnvelope(envelope) => {
                Some(StatementView::parse(envelope.payload.as_bytes())?)
            }
            _ => None,
        };
        Ok(Verified { identity, issuer, log_index, statement })
    }
}

/// A key signature that was kept out of the log: the signature itself, and that it is about the
/// subject (sigstore-verify insists on a log entry or a timestamp).
fn verify_unlogged(key: &sigstore_types::DerPublicKey, subject: Subject<'_>, bundle: &Bundle) -> Result<()> {
    let verification_key = sigstore_crypto::VerificationKey::from_spki(key)
        .map_err(|e| Error::usage(format!("key check failed: the public key cannot be used ({e})")))?;
    let bad_signature = |e: sigstore_crypto::Error| Error::failed(format!("signature check failed: {e}"));
    match &bundle.content {
        SignatureContent::MessageSignature(message) => match subject {
            Subject::Bytes(bytes) => {
                verification_key.verify(bytes, &message.signature).map_err(bad_signature)
            }
            Subject::Digest(digest) => verification_key
                .verify_prehashed(digest.as_bytes(), &message.signature)
                .map_err(bad_signature),
        },
        SignatureContent::DsseEnvelope(envelope) => {
            let pae = sigstore_types::dsse::pae(&envelope.payload_type, envelope.payload.as_bytes());
            verification_key.verify(&pae, &envelope.signature.sig).map_err(bad_signature)?;
            let statement = StatementView::parse(envelope.payload.as_bytes())?;
            let wanted = match subject {
                Subject::Digest(digest) => digest.to_hex(),
                Subject::Bytes(bytes) => {
                    use sha2::Digest as _;
                    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
                }
            };
            if !statement
                .subject
                .iter()
                .any(|s| s.digest.get("sha256").is_some_and(|h| h.eq_ignore_ascii_case(&wanted)))
            {
                return Err(Error::failed(format!(
                    "digest check failed: no statement subject has sha256 {wanted}"
                )));
            }
            Ok(())
        }
        _ => Err(Error::failed("signature check failed: the bundle holds no signature")),
    }
}

fn log_index(bundle: &Bundle) -> Option<i64> {
    bundle
        .verification_material
        .tlog_entries
        .first()
        .map(|e| i64::try_from(u64::from(e.log_index)).unwrap_or(i64::MAX))
}

/// One line naming the failed check, chosen by the kind of sigstore-verify's error.
fn describe(e: &sigstore_verify::Error) -> String {
    use sigstore_verify::Error as E;
    use sigstore_verify::error::CertificateError as C;
    let check = match e {
        E::IdentityMismatch { .. } => "identity check",
        E::IssuerMismatch { .. } => "issuer check",
        E::ArtifactMismatch(_) | E::UnsupportedArtifact(_) | E::ArtifactRead(_) => "digest check",
        E::SignatureInvalid(_) | E::Crypto(_) => "signature check",
        E::Certificate(C::Expired { .. } | C::NotYetValid { .. } | C::NoValidAuthority { .. }) => {
            "certificate validity check"
        }
        E::Certificate(_) | E::TrustedCertificate(_) => "certificate check",
        E::TransparencyLog(_) => "transparency log check",
        E::Timestamp(_) => "timestamp check",
        E::InvalidTrustRoot(_) | E::TrustRoot(_) => "trusted root check",
        _ => "bundle check",
    };
    format!("{check} failed: {e}")
}

/// The policy-relevant facts of a certificate (its identity, issuer and build extensions).
pub fn certificate_facts(cert: &sigstore_types::DerCertificate) -> Result<CertificateFacts> {
    let info = sigstore_crypto::parse_certificate_info(cert)
        .map_err(|e| Error::failed(format!("the signing certificate cannot be read ({e})")))?;
    Ok(CertificateFacts::from(&info))
}

/// Parses a bundle file's JSON.
pub fn parse_bundle(json: &str, source: &str) -> Result<Bundle> {
    Bundle::from_json(json).map_err(|e| Error::usage(format!("{source} is not a Sigstore bundle ({e})")))
}

/// The v0.1 bundle equivalent to a legacy cosign layer (`.sig` simple-signing payload or `.att`
/// DSSE envelope) with its annotations, so the same verifier judges it.
pub fn legacy_layer_bundle(
    media_type: &str,
    blob: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Bundle> {
    let bad = |what: String| Error::failed(format!("the legacy signature layer is malformed: {what}"));
    let mut material = serde_json::Map::new();
    match annotations.get(ANNOTATION_CERTIFICATE).filter(|c| !c.is_empty()) {
        Some(cert) => {
            let mut certificates = Vec::new();
            let chain = annotations.get(ANNOTATION_CHAIN).map(String::as_str).unwrap_or_default();
            for text in [cert.as_str(), chain] {
                for (_, der) in pem_blocks(text)? {
                    certificates.push(json!({"rawBytes": B64.encode(der)}));
                }
            }
            material.insert("x509CertificateChain".into(), json!({"certificates": certificates}));
        }
        None => {
            material.insert("publicKey".into(), json!({"hint": ""}));
        }
    }
    if let Some(text) = annotations.get(ANNOTATION_BUNDLE) {
        let rekor: RekorBundle =
            serde_json::from_str(text).map_err(|e| bad(format!("bundle annotation ({e})")))?;
        let body = B64.decode(&rekor.payload.body).map_err(|e| bad(format!("log entry body ({e})")))?;
        let body: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("log entry body ({e})")))?;
        let log_id = (0..rekor.payload.log_id.len() / 2)
            .map(|i| u8::from_str_radix(&rekor.payload.log_id[2 * i..2 * i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|e| bad(format!("log id ({e})")))?;
        material.insert(
            "tlogEntries".into(),
            json!([{
                "logIndex": rekor.payload.log_index.to_string(),
                "logId": {"keyId": B64.encode(log_id)},
                "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
                "integratedTime": rekor.payload.integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp},
                "canonicalizedBody": rekor.payload.body,
            }]),
        );
    } else {
        material.insert("tlogEntries".into(), json!([]));
    }
    if let Some(text) = annotations.get(ANNOTATION_RFC3161) {
        let ts: Rfc3161Annotation =
            serde_json::from_str(text).map_err(|e| bad(format!("timestamp annotation ({e})")))?;
        material.insert(
            "timestampVerificationData".into(),
            json!({"rfc3161Timestamps": [{"signedTimestamp": ts.signed_rfc3161_timestamp}]}),
        );
    }
    let mut bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
    });
    match media_type {
        SIMPLE_SIGNING_MEDIA_TYPE => {
            use sha2::Digest as _;
            let signature = annotations
                .get(ANNOTATION_SIGNATURE)
                .ok_or_else(|| bad(format!("no `{ANNOTATION_SIGNATURE}` annotation")))?;
            bundle["messageSignature"] = json!({
                "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(sha2::Sha256::digest(blob))},
                "signature": signature,
            });
        }
        DSSE_MEDIA_TYPE => {
            let envelope: Envelope =
                serde_json::from_slice(blob).map_err(|e| bad(format!("DSSE envelope ({e})")))?;
            bundle["dsseEnvelope"] = json!({
                "payload": envelope.payload,
                "payloadType": envelope.payload_type,
                "signatures": envelope.signatures.iter().map(|s| json!({"sig": s.sig, "keyid": s.keyid.clone().unwrap_or_default()})).collect::<Vec<_>>(),
            });
        }
        other => return Err(bad(format!("unknown layer media type `{other}`"))),
    }
    parse_bundle(&bundle.to_string(), "the legacy signature layer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_verify::Error as E;
    use sigstore_verify::error::CertificateError as C;

    #[test]
    fn each_kind_of_failure_names_its_check() {
        let table: Vec<(E, &str)> = vec![
            (E::SignatureInvalid("bad".into()), "signature check failed"),
            (E::ArtifactMismatch("other digest".into()), "digest check failed"),
            (E::Certificate(C::Sct("missing".into())), "certificate check failed"),
            (E::Certificate(C::ChainInvalid("foreign CA".into())), "certificate check failed"),
            (E::InvalidTrustRoot("empty".into()), "trusted root check failed"),
            (E::InvalidBundle("no content".into()), "bundle check failed"),
        ];
        for (error, expected) in table {
            let line = describe(&error);
            assert!(line.starts_with(expected), "{line}");
            assert!(line.ends_with(&error.to_string()), "the library's reason is kept: {line}");
        }
    }
}
