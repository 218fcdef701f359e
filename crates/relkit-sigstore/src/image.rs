//! Signing and attesting images by digest, and verifying them: every reference is resolved to
//! a digest first; an index is handled with each of its platform manifests; a digest that
//! already carries a valid signature from the same signer is left alone (unless forced); what
//! is written is read back and verified before the run reports success.

use std::collections::BTreeMap;

use relkit_core::{Error, Result};
use relkit_registry::{Descriptor, Digest, ImageRef, Registry};
use serde::Serialize;
use serde_json::Value;

use crate::cosign::{
    LegacyLayer, SIGN_PREDICATE_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, signature_statement, simple_signing_payload,
    statement,
};
use crate::policy::Policy;
use crate::signer::SigningSession;
use crate::store::{
    Found, Location, SignatureStore, has_annotations, is_signature, legacy_annotations,
    legacy_attestation_layer, predicate_type_of,
};
use crate::verify::{BundleVerifier, Subject, Verified};

/// Where signatures are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// cosign v3: bundle referrers (with the fallback index where the API is missing).
    Referrers,
    /// cosign v2: `sha256-<hex>.sig`/`.att` tags.
    Legacy,
    /// Both, for v2 and v3 verifiers side by side.
    Both,
}

impl Storage {
    /// Parses `auto|referrers|legacy|both` (`auto` is referrers: the fallback index covers
    /// registries without the API).
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "auto" | "referrers" => Ok(Self::Referrers),
            "legacy" => Ok(Self::Legacy),
            "both" => Ok(Self::Both),
            other => {
                Err(Error::usage(format!("--storage `{other}` is not one of auto, referrers, legacy, both")))
            }
        }
    }

    fn referrers(self) -> bool {
        matches!(self, Self::Referrers | Self::Both)
    }

    fn legacy(self) -> bool {
        matches!(self, Self::Legacy | Self::Both)
    }
}

/// One manifest to sign: the image repository, the digest and its descriptor.
#[derive(Debug, Clone)]
pub struct Target {
    /// `registry/repo` (or `oci:DIR`), for payloads and commands.
    pub repository: String,
    /// The manifest's descriptor (media type, digest, size).
    pub descriptor: Descriptor,
    /// `os/arch[/variant]` for a platform manifest of an index.
    pub platform: Option<String>,
}

/// Resolves a reference to its manifest and, for an index, each platform manifest (the index
/// first). Tags are resolved here once; nothing downstream sees a tag.
pub async fn resolve_targets<R: Registry>(registry: &R, reference: &ImageRef) -> Result<Vec<Target>> {
    let wanted = reference.manifest_reference();
    let repo = reference.repository();
    let fetched = registry
        .get_manifest(repo, &wanted)
        .await
        .map_err(|e| e.context(format!("cannot read {reference}")))?
        .ok_or_else(|| {
            Error::failed(format!(
                "{reference} does not exist on {}; check the name, tag or digest",
                registry.name()
            ))
        })?;
    if let Some(pinned) = &reference.digest
        && *pinned != fetched.manifest.digest
    {
        return Err(Error::failed(format!(
            "{} served {} for {reference}: the content does not match the digest",
            registry.name(),
            fetched.manifest.digest
        )));
    }
    let repository = reference.repository_name();
    let view = fetched.manifest.view()?;
    let mut targets = vec![Target {
        repository: repository.clone(),
        descriptor: fetched.manifest.descriptor(),
        platform: None,
    }];
    if view.is_index(&fetched.manifest.media_type) {
        for child in view.manifests {
            if !child.extra.contains_key("platform") && child.artifact_type.is_some() {
                continue; // an attached artifact listed in the index, not a platform image
            }
            let platform = child.extra.get("platform").map(platform_name);
            let descriptor = Descriptor {
                media_type: child.media_type.clone(),
                digest: child.digest.clone(),
                size: child.size,
                artifact_type: None,
                annotations: BTreeMap::new(),
                extra: BTreeMap::new(),
            };
            targets.push(Target { repository: repository.clone(), descriptor, platform });
        }
    }
    Ok(targets)
}

fn platform_name(platform: &Value) -> String {
    let part = |k: &str| platform[k].as_str().unwrap_or_default().to_string();
    let mut name = format!("{}/{}", part("os"), part("architecture"));
    if !part("variant").is_empty() {
        name.push('/');
        name.push_str(&part("variant"));
    }
    name
}

/// What a run did for one digest.
#[derive(Debug, Clone, Serialize)]
pub struct DigestReport {
    /// `registry/repo`. Not serialized: the report entry that embeds this carries it already.
    #[serde(skip_serializing)]
    pub image: String,
    /// `sha256:…`. Not serialized, as `image`.
    #[serde(skip_serializing)]
    pub digest: String,
    /// The platform, for a manifest of an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `signed`, `attested`, or `already signed`/`already attested` (left alone).
    pub status: String,
    /// Where the new (or existing) entries live.
    pub locations: Vec<Location>,
    /// Transparency log indexes of the new entries.
    pub log_indexes: Vec<i64>,
    /// The bundles written by this run (for GitHub's attestation API).
    #[serde(skip)]
    pub bundles: Vec<sigstore_types::Bundle>,
}

/// The signing key of a run: given (key-based), or made on first use from an identity token so
/// that a re-run with nothing left to sign asks Fulcio for nothing.
pub struct SignerSource {
    session: tokio::sync::OnceCell<SigningSession>,
    keyless: Option<(crate::token::IdentityToken, crate::trust::Services, reqwest::Client)>,
}

impl SignerSource {
    /// A key-based signer.
    pub fn key(session: SigningSession) -> Self {
        Self { session: tokio::sync::OnceCell::new_with(Some(session)), keyless: None }
    }

    /// A keyless signer for this token, against these services.
    pub fn keyless(
        token: crate::token::IdentityToken,
        services: crate::trust::Services,
        http: reqwest::Client,
    ) -> Self {
        Self { session: tokio::sync::OnceCell::new(), keyless: Some((token, services, http)) }
    }

    /// The session, certified now if it was not yet.
    pub async fn session(&self) -> Result<&SigningSession> {
        self.session
            .get_or_try_init(|| async {
                let (token, services, http) =
                    self.keyless.as_ref().ok_or_else(|| Error::failed("no signing key was given"))?;
                SigningSession::keyless(token, services, http).await
            })
            .await
    }
}

/// Verifies one found entry for `subject` under `policy`: the bundle, then that the signed
/// content names this digest (the simple-signing payload's digest, or a statement subject).
pub fn check_found(
    verifier: &BundleVerifier,
    policy: &Policy,
    subject: &Digest,
    found: &Found,
    require_tlog: bool,
) -> Result<Verified> {
    match &found.payload {
        Some(payload) => {
            let verified = verifier.verify(Subject::Bytes(payload), &found.bundle, policy, require_tlog)?;
            let named = crate::cosign::simple_signing_digest(payload)?;
            if named != subject.as_str() {
                return Err(Error::failed(format!(
                    "digest check failed: the signature is for {named}, not {subject}"
                )));
            }
            Ok(verified)
        }
        None => {
            let hash = sha256_of(subject)?;
            verifier.verify(Subject::Digest(&hash), &found.bundle, policy, require_tlog)
        }
    }
}

/// What one signing run writes, and how it checks its own work.
pub struct Run<'a> {
    /// The key.
    pub signer: &'a SignerSource,
    /// Verifies what exists and what was written.
    pub verifier: &'a BundleVerifier,
    /// Who this run signs as (for "already signed" and the read-back).
    pub own_policy: &'a Policy,
    /// Where to write.
    pub storage: Storage,
    /// Sign again even when a valid signature from this signer exists.
    pub force: bool,
    /// `org.opencontainers.image.created` of new referrers (RFC 3339 UTC).
    pub created: String,
    /// Transparency log entries are required when verifying (off for `--tlog-upload=false`).
    pub require_tlog: bool,
    /// cosign's `-a KEY=VALUE` annotations signed with image signatures (not attestations).
    pub annotations: BTreeMap<String, String>,
}

/// An attestation to attach.
#[derive(Debug, Clone)]
pub struct Predicate {
    /// Predicate type URI.
    pub predicate_type: String,
    /// The predicate JSON.
    pub predicate: Value,
}

impl Run<'_> {
    /// Signs `target` (or reports that this signer already did).
    pub async fn sign<R: Registry>(
        &self,
        store: &SignatureStore<'_, R>,
        target: &Target,
    ) -> Result<DigestReport> {
        self.write(store, target, None).await
    }

    /// Attests `predicate` about `target` (or reports that the same attestation exists).
    pub async fn attest<R: Registry>(
        &self,
        store: &SignatureStore<'_, R>,
        target: &Target,
        predicate: &Predicate,
    ) -> Result<DigestReport> {
        self.write(store, target, Some(predicate)).await
    }

    fn matches(&self, found: &Found, digest: &Digest, predicate: Option<&Predicate>) -> bool {
        match predicate {
            None => is_signature(found) && has_annotations(found, digest, &self.annotations),
            Some(p) => predicate_type_of(found).as_deref() == Some(p.predicate_type.as_str()),
        }
    }

    fn same_predicate(verified: &Verified, predicate: Option<&Predicate>) -> bool {
        match (predicate, &verified.statement) {
            (None, _) => true,
            (Some(p), Some(s)) => s.predicate == p.predicate,
            (Some(_), None) => false,
        }
    }

    async fn write<R: Registry>(
        &self,
        store: &SignatureStore<'_, R>,
        target: &Target,
        predicate: Option<&Predicate>,
    ) -> Result<DigestReport> {
        let digest = &target.descriptor.digest;
        let verb = if predicate.is_some() { "attested" } else { "signed" };
        let wanted_type = predicate.map_or(SIGN_PREDICATE_TYPE, |p| p.predicate_type.as_str());
        let existing =
            store.find(digest, self.storage.referrers(), self.storage.legacy(), Some(wanted_type)).await?;
        let mut report = DigestReport {
            image: target.repository.clone(),
            digest: digest.to_string(),
            platform: target.platform.clone(),
            status: verb.to_string(),
            locations: Vec::new(),
            log_indexes: Vec::new(),
            bundles: Vec::new(),
        };
        if !self.force {
            let valid: Vec<&Found> = existing
                .iter()
                .filter(|f| self.matches(f, digest, predicate))
                .filter(|f| {
                    check_found(self.verifier, self.own_policy, digest, f, self.require_tlog)
                        .is_ok_and(|v| Self::same_predicate(&v, predicate))
                })
                .collect();
            let covers = |referrer: bool| {
                valid.iter().any(|f| matches!(f.location, Location::Referrer { .. }) == referrer)
            };
            let done =
                (!self.storage.referrers() || covers(true)) && (!self.storage.legacy() || covers(false));
            if done {
                report.status = format!("already {verb}");
                report.locations = valid.iter().map(|f| f.location.clone()).collect();
                return Ok(report);
            }
        }
        let session = self.signer.session().await?;
        let subjects = [(target.repository.clone(), digest.hex().to_string())];
        let statement = match predicate {
            None => signature_statement(&target.repository, digest, &self.annotations),
            Some(p) => statement(&subjects, &p.predicate_type, &p.predicate),
        };
        let predicate_type = wanted_type;
        if self.storage.referrers() {
            let signed = session.sign_statement(&statement).await?;
            report.log_indexes.extend(log_index(&signed));
            let referrer =
                store.put_referrer(&target.descriptor, &signed, predicate_type, &self.created).await?;
            report.locations.push(Location::Referrer { digest: referrer.to_string() });
            report.bundles.push(signed.bundle);
        }
        if self.storage.legacy() {
            let (signed, layer, suffix) = match predicate {
                None => {
                    let payload = simple_signing_payload(&target.repository, digest, &self.annotations);
                    let signed = session.sign_message(&payload).await?;
                    let annotations = legacy_annotations(&signed, session.material(), true)?;
                    (
                        signed,
                        LegacyLayer {
                            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
                            blob: payload,
                            annotations,
                        },
                        "sig",
                    )
                }
                Some(p) => {
                    let signed = session.sign_statement(&statement).await?;
                    let layer = legacy_attestation_layer(&signed, session.material(), &p.predicate_type)?;
                    (signed, layer, "att")
                }
            };
            report.log_indexes.extend(log_index(&signed));
            if report.bundles.is_empty() {
                report.bundles.push(signed.bundle);
            }
            report.locations.push(store.append_legacy(digest, suffix, &layer).await?);
        }
        self.read_back(store, digest, &report.locations).await?;
        Ok(report)
    }

    /// Reads what was written from the registry and verifies it.
    async fn read_back<R: Registry>(
        &self,
        store: &SignatureStore<'_, R>,
        digest: &Digest,
        written: &[Location],
    ) -> Result<()> {
        for location in written {
            let entry = store.read(digest, location).await?.ok_or_else(|| {
                Error::failed(format!(
                    "the signature written for {digest} ({location:?}) cannot be read back"
                ))
            })?;
            check_found(self.verifier, self.own_policy, digest, &entry, self.require_tlog)
                .map_err(|e| e.context(format!("the signature written for {digest} does not verify")))?;
        }
        Ok(())
    }
}

fn log_index(signed: &crate::signer::Signed) -> Option<i64> {
    signed
        .bundle
        .verification_material
        .tlog_entries
        .first()
        .and_then(|e| i64::try_from(u64::from(e.log_index)).ok())
}

/// The SHA-256 of an OCI digest, as sigstore's type.
pub fn sha256_of(digest: &Digest) -> Result<sigstore_types::Sha256Hash> {
    sigstore_types::Sha256Hash::from_hex(digest.hex())
        .map_err(|e| Error::failed(format!("digest {digest} is not SHA-256 ({e})")))
}
