//! Signatures and attestations in a registry (or an OCI layout), through relkit-registry: cosign
//! v3 referrers (a v0.3 bundle per referrer manifest, with the `sha256-<hex>` fallback index
//! where the registry has no referrers API) and cosign's legacy `.sig`/`.att` tags (one layer per
//! signature, appended with a re-read check so concurrent writers never lose one).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use relkit_core::{Error, Result};
use relkit_registry::manifest::OCI_MANIFEST;
use relkit_registry::ops::referrers;
use relkit_registry::{Descriptor, Digest, PutOutcome, RawManifest, Registry};
use serde_json::Value;
use sigstore_types::Bundle;

use crate::cosign::{
    ANNOTATION_BUNDLE, ANNOTATION_BUNDLE_PREDICATE_TYPE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN,
    ANNOTATION_PREDICATE_TYPE, ANNOTATION_RFC3161, ANNOTATION_SIGNATURE, BUNDLE_MEDIA_TYPE_PREFIX,
    DSSE_MEDIA_TYPE, EMPTY_CONFIG, Envelope, LegacyLayer, RekorBundle, RekorPayload, Rfc3161Annotation,
    SIGN_PREDICATE_TYPE, legacy_manifest, pem, referrer_manifest,
};
use crate::signer::{Material, Signed};
use crate::verify::{legacy_layer_bundle, parse_bundle};

/// Where a signature or attestation is stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum Location {
    /// A cosign v3 referrer manifest.
    Referrer {
        /// The referrer manifest's digest.
        digest: String,
    },
    /// A layer of a legacy `.sig`/`.att` manifest.
    Legacy {
        /// `sha256-<hex>.sig` or `.att`.
        tag: String,
        /// The layer blob's digest.
        layer: String,
        /// The signature annotation (`.sig` layers of one payload differ only by it).
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
}

/// A signature or attestation found for a subject, as a bundle ready to verify.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where it lives.
    pub location: Location,
    /// The bundle (legacy layers converted).
    pub bundle: Bundle,
    /// For a legacy `.sig` layer: the simple-signing payload the signature covers.
    pub payload: Option<Vec<u8>>,
}

/// One repository's signatures, with the referrers-API probe done once per run.
pub struct SignatureStore<'a, R: Registry> {
    registry: &'a R,
    repo: String,
    referrers_api: tokio::sync::OnceCell<bool>,
    config_present: tokio::sync::OnceCell<()>,
}

impl<'a, R: Registry> SignatureStore<'a, R> {
    /// A store for `repo` of `registry`.
    pub fn new(registry: &'a R, repo: &str) -> Self {
        Self {
            registry,
            repo: repo.to_string(),
            referrers_api: tokio::sync::OnceCell::new(),
            config_present: tokio::sync::OnceCell::new(),
        }
    }

    /// True when the registry serves the OCI referrers API (probed once, on `subject`).
    pub async fn has_referrers_api(&self, subject: &Digest) -> Result<bool> {
        self.referrers_api
            .get_or_try_init(|| async { Ok(self.registry.referrers(&self.repo, subject).await?.is_some()) })
            .await
            .copied()
    }

    /// The referrers of `subject` (one request: the API, or the fallback tag when the probe
    /// found no API).
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>> {
        if self.has_referrers_api(subject).await? {
            Ok(self.registry.referrers(&self.repo, subject).await?.unwrap_or_default())
        } else {
            referrers::fallback_list(self.registry, &self.repo, subject).await
        }
    }

    /// The bundle a referrer manifest carries, or `None` when it is not a Sigstore bundle (or
    /// is gone: a stale fallback entry).
    async fn read_referrer(&self, digest: &Digest) -> Result<Option<Found>> {
        let Some(fetched) = self.registry.get_manifest(&self.repo, digest.as_str()).await? else {
            return Ok(None);
        };
        let view = fetched.manifest.view()?;
        let [layer] = view.layers.as_slice() else { return Ok(None) };
        if !layer.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
            return Ok(None);
        }
        let blob = self.registry.get_blob(&self.repo, &layer.digest).await?;
        let bundle = parse_bundle(&String::from_utf8_lossy(&blob), &format!("referrer {digest}"))?;
        Ok(Some(Found { location: Location::Referrer { digest: digest.to_string() }, bundle, payload: None }))
    }

    /// Reads back one entry this run wrote.
    pub async fn read(&self, subject: &Digest, location: &Location) -> Result<Option<Found>> {
        match location {
            Location::Referrer { digest } => self.read_referrer(&digest.parse()?).await,
            Location::Legacy { tag, .. } => {
                let suffix = if tag.ends_with(".att") { "att" } else { "sig" };
                Ok(self.legacy(subject, suffix).await?.into_iter().find(|f| &f.location == location))
            }
        }
    }

    /// Every cosign signature and attestation of `subject` in the schemes asked for: bundle
    /// referrers, and the layers of the legacy `.sig` and `.att` tags. Unreadable entries are
    /// errors naming them.
    /// With `predicate_type`, referrers whose listing names another predicate type are not read.
    pub async fn find(
        &self,
        subject: &Digest,
        referrers: bool,
        legacy: bool,
        predicate_type: Option<&str>,
    ) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        if referrers {
            let listed = self.referrers(subject).await?;
            let wanted = |d: &&Descriptor| {
                may_hold_bundle(d)
                    && predicate_type
                        .is_none_or(|t| referrer_predicate_type(d).is_none_or(|listed| listed == t))
            };
            for descriptor in listed.iter().filter(wanted) {
                found.extend(self.read_referrer(&descriptor.digest).await?);
            }
        }
        if legacy {
            for suffix in ["sig", "att"] {
                found.extend(self.legacy(subject, suffix).await?);
            }
        }
        Ok(found)
    }

    /// The layers of the legacy `sha256-<hex>.<suffix>` manifest, as bundles.
    async fn legacy(&self, subject: &Digest, suffix: &str) -> Result<Vec<Found>> {
        let tag = subject.cosign_tag(suffix);
        let Some(fetched) = self.registry.get_manifest(&self.repo, &tag).await? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for layer in fetched.manifest.view()?.layers {
            let blob = self.registry.get_blob(&self.repo, &layer.digest).await?;
            let bundle = legacy_layer_bundle(&layer.media_type, &blob, &layer.annotations)
                .map_err(|e| e.context(format!("layer {} of {tag}", layer.digest)))?;
            found.push(Found {
                location: Location::Legacy {
                    tag: tag.clone(),
                    layer: layer.digest.to_string(),
                    signature: layer.annotations.get(ANNOTATION_SIGNATURE).cloned(),
                },
                bundle,
                payload: (suffix == "sig").then(|| blob.to_vec()),
            });
        }
        Ok(found)
    }

    /// Stores a bundle as a cosign v3 referrer of `subject` and records it in the fallback
    /// index when the registry has no referrers API. Returns the referrer's digest.
    pub async fn put_referrer(
        &self,
        subject: &Descriptor,
        signed: &Signed,
        predicate_type: &str,
        created: &str,
    ) -> Result<Digest> {
        let bundle = bundle_bytes(&signed.bundle)?;
        let content =
            if matches!(signed.bundle.content, sigstore_types::bundle::SignatureContent::DsseEnvelope(_)) {
                "dsse-envelope"
            } else {
                "message-signature"
            };
        self.put_blob_once(&Digest::of(EMPTY_CONFIG), EMPTY_CONFIG).await?;
        self.registry.put_blob(&self.repo, &Digest::of(&bundle), bundle.clone().into()).await?;
        let bytes = referrer_manifest(
            &bundle,
            &subject.media_type,
            &subject.digest,
            subject.size,
            content,
            predicate_type,
            created,
        );
        let manifest = RawManifest::new(bytes, Some(OCI_MANIFEST))?;
        self.registry.put_manifest(&self.repo, manifest.digest.as_str(), &manifest, None).await?;
        if !self.has_referrers_api(&subject.digest).await? {
            self.register_checked(&subject.digest, &manifest).await?;
        }
        Ok(manifest.digest)
    }

    async fn put_blob_once(&self, digest: &Digest, data: &'static [u8]) -> Result<()> {
        self.config_present
            .get_or_try_init(|| async {
                if !self.registry.blob_exists(&self.repo, digest).await? {
                    self.registry.put_blob(&self.repo, digest, data.into()).await?;
                }
                Ok::<_, Error>(())
            })
            .await
            .map(|_| ())
    }

    /// Adds `referrer` to the fallback index, then re-reads it: a registry that ignores
    /// `If-Match` may have let a concurrent writer drop it, and then it is added again.
    async fn register_checked(&self, subject: &Digest, referrer: &RawManifest) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let started = std::time::Instant::now();
            referrers::add_to_fallback(self.registry, &self.repo, subject, referrer).await?;
            let present = self
                .settled(started.elapsed(), || async {
                    let listed = referrers::fallback_list(self.registry, &self.repo, subject).await?;
                    Ok(listed.iter().any(|d| d.digest == referrer.digest))
                })
                .await?;
            if present {
                return Ok(());
            }
        }
        Err(concurrent_writers(&subject.fallback_tag(), &self.repo))
    }

    /// Appends a layer to the legacy `sha256-<hex>.<suffix>` manifest, creating it when absent.
    /// Concurrent writers: `If-Match` where honoured, and everywhere a re-read after the write
    /// that appends again when another writer's manifest replaced ours.
    pub async fn append_legacy(
        &self,
        subject: &Digest,
        suffix: &str,
        layer: &LegacyLayer,
    ) -> Result<Location> {
        let tag = subject.cosign_tag(suffix);
        let layer_digest = Digest::of(&layer.blob);
        let signature = layer.annotations.get(ANNOTATION_SIGNATURE).cloned();
        // Layers of one payload differ only by their annotations: match on both.
        let same = |d: &Descriptor| {
            d.digest == layer_digest && d.annotations.get(ANNOTATION_SIGNATURE) == signature.as_ref()
        };
        self.registry.put_blob(&self.repo, &layer_digest, layer.blob.clone().into()).await?;
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let started = std::time::Instant::now();
            let current = self.registry.get_manifest(&self.repo, &tag).await?;
            let (mut layers, etag) = match &current {
                Some(f) => {
                    let v: Value = serde_json::from_slice(&f.manifest.bytes)
                        .map_err(|e| Error::failed(format!("{tag} in {} is not JSON ({e})", self.repo)))?;
                    (v["layers"].as_array().cloned().unwrap_or_default(), f.etag.clone())
                }
                None => (Vec::new(), None),
            };
            let descriptor = layer.descriptor();
            if !layers
                .iter()
                .any(|l| l["digest"] == descriptor["digest"] && l["annotations"] == descriptor["annotations"])
            {
                layers.push(descriptor);
                let (bytes, config) = legacy_manifest(&layers);
                self.registry.put_blob(&self.repo, &Digest::of(&config), config.into()).await?;
                let manifest = RawManifest::new(bytes, Some(OCI_MANIFEST))?;
                match self.registry.put_manifest(&self.repo, &tag, &manifest, etag.as_deref()).await {
                    Ok(PutOutcome::Stored) => {}
                    Ok(PutOutcome::PreconditionFailed) => continue,
                    // A concurrent writer's uploads can make the registry refuse this one
                    // (distribution answers DIGEST_INVALID): read again and retry, bounded.
                    Err(e) if attempt + 1 < ATTEMPTS => {
                        last_error = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if self
                .settled(started.elapsed(), || async {
                    let reread = self.registry.get_manifest(&self.repo, &tag).await?;
                    Ok(reread.is_some_and(|f| f.manifest.view().is_ok_and(|v| v.layers.iter().any(same))))
                })
                .await?
            {
                return Ok(Location::Legacy { tag, layer: layer_digest.to_string(), signature });
            }
        }
        Err(last_error.unwrap_or_else(|| concurrent_writers(&tag, &self.repo)))
    }
}

impl<R: Registry> SignatureStore<'_, R> {
    /// True when `present` holds after a pause following our write: a concurrent writer that
    /// read before our write has written by then, and if it dropped our entry the caller appends
    /// it again. `window` is how long our own read-modify-write took;
    /// another writer on the same registry takes about as long, so the pause is several times
    /// that (jittered). Registries that honour `If-Match` make this exact; on the others it closes
    /// the window for any writer not more than four times slower than we were.
    async fn settled<F, Fut>(&self, window: std::time::Duration, present: F) -> Result<bool>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        tokio::time::sleep(settle_pause(window)).await;
        present().await
    }
}

/// 200 ms plus four read-modify-write windows plus up to 200 ms of jitter, at most 5 s.
fn settle_pause(window: std::time::Duration) -> std::time::Duration {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 2];
    let jitter = aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map(|()| u16::from_le_bytes(bytes) % 200)
        .unwrap_or(100);
    let pause = std::time::Duration::from_millis(200 + u64::from(jitter)) + window * 4;
    pause.min(std::time::Duration::from_secs(5))
}

/// Read-modify-write rounds before giving up on a contended tag.
const ATTEMPTS: usize = 8;

fn concurrent_writers(tag: &str, repo: &str) -> Error {
    Error::failed(format!(
        "{tag} in {repo} kept changing under concurrent writers; re-run the step (it is safe) or serialize signing with a workflow `concurrency:` group"
    ))
}

/// True unless the descriptor says it is some other kind of artifact (readers must accept every
/// bundle media type version, and cosign wrote `artifactType` inconsistently).
fn may_hold_bundle(descriptor: &Descriptor) -> bool {
    match &descriptor.artifact_type {
        Some(t) => t.starts_with(BUNDLE_MEDIA_TYPE_PREFIX),
        None => true,
    }
}

/// The bundle as the compact JSON stored in registries and files.
pub fn bundle_bytes(bundle: &Bundle) -> Result<Vec<u8>> {
    bundle
        .to_json()
        .map(String::into_bytes)
        .map_err(|e| Error::failed(format!("cannot serialize the bundle ({e})")))
}

/// The predicate type a found bundle carries (`None` for a message signature).
pub fn predicate_type_of(found: &Found) -> Option<String> {
    match &found.bundle.content {
        sigstore_types::bundle::SignatureContent::DsseEnvelope(envelope) => {
            crate::cosign::StatementView::parse(envelope.payload.as_bytes()).ok().map(|s| s.predicate_type)
        }
        _ => None,
    }
}

/// The annotations a found signature carries for `digest`: a legacy payload's `optional`, or the
/// statement subject's annotations (cosign v3).
pub fn signed_annotations(found: &Found, digest: &Digest) -> BTreeMap<String, String> {
    if let Some(payload) = &found.payload {
        return crate::cosign::simple_signing_annotations(payload);
    }
    let sigstore_types::bundle::SignatureContent::DsseEnvelope(envelope) = &found.bundle.content else {
        return BTreeMap::new();
    };
    crate::cosign::StatementView::parse(envelope.payload.as_bytes())
        .ok()
        .and_then(|statement| {
            statement.subject.into_iter().find(|s| s.digest.get("sha256").is_some_and(|h| h == digest.hex()))
        })
        .map(|subject| {
            subject.annotations.into_iter().map(|(k, v)| (k, crate::cosign::annotation_text(v))).collect()
        })
        .unwrap_or_default()
}

/// True when a found signature carries every one of `wanted` (cosign's `-a` on verify).
pub fn has_annotations(found: &Found, digest: &Digest, wanted: &BTreeMap<String, String>) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let signed = signed_annotations(found, digest);
    wanted.iter().all(|(k, v)| signed.get(k) == Some(v))
}

/// True when a found entry is an image signature (a legacy `.sig` layer or a sign/v1 bundle).
pub fn is_signature(found: &Found) -> bool {
    found.payload.is_some() || predicate_type_of(found).as_deref() == Some(SIGN_PREDICATE_TYPE)
}

/// cosign's legacy layer annotations for a signed payload: certificate and chain (keyless), the
/// Rekor inclusion promise, the RFC 3161 timestamp, and for `.sig` layers the signature itself.
pub fn legacy_annotations(
    signed: &Signed,
    material: &Material,
    with_signature: bool,
) -> Result<BTreeMap<String, String>> {
    let mut annotations = BTreeMap::new();
    if with_signature {
        annotations.insert(ANNOTATION_SIGNATURE.to_string(), B64.encode(signed.signature.as_bytes()));
    }
    if let Material::Certificate(chain) = material {
        annotations.insert(ANNOTATION_CERTIFICATE.to_string(), pem("CERTIFICATE", chain[0].as_bytes()));
        let rest: String = chain[1..].iter().map(|c| pem("CERTIFICATE", c.as_bytes())).collect();
        annotations.insert(ANNOTATION_CHAIN.to_string(), rest);
    }
    let json: Value = serde_json::from_slice(&bundle_bytes(&signed.bundle)?)
        .map_err(|e| Error::failed(format!("cannot read back the bundle ({e})")))?;
    let material_json = &json["verificationMaterial"];
    if let Some(entry) = material_json["tlogEntries"].as_array().and_then(|a| a.first())
        && let Some(set) = entry["inclusionPromise"]["signedEntryTimestamp"].as_str()
    {
        let number =
            |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok()).or_else(|| v.as_i64()).unwrap_or(0);
        let log_id = B64
            .decode(entry["logId"]["keyId"].as_str().unwrap_or_default())
            .map_err(|e| Error::failed(format!("the log id is not base64 ({e})")))?;
        let rekor = RekorBundle {
            signed_entry_timestamp: set.to_string(),
            payload: RekorPayload {
                body: entry["canonicalizedBody"].as_str().unwrap_or_default().to_string(),
                integrated_time: number(&entry["integratedTime"]),
                log_index: number(&entry["logIndex"]),
                log_id: log_id.iter().map(|b| format!("{b:02x}")).collect(),
            },
        };
        annotations.insert(
            ANNOTATION_BUNDLE.to_string(),
            String::from_utf8(crate::cosign::go_json(&rekor)).unwrap_or_default(),
        );
    }
    if let Some(ts) =
        material_json["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"].as_str()
    {
        let value = Rfc3161Annotation { signed_rfc3161_timestamp: ts.to_string() };
        annotations.insert(
            ANNOTATION_RFC3161.to_string(),
            String::from_utf8(crate::cosign::go_json(&value)).unwrap_or_default(),
        );
    }
    Ok(annotations)
}

/// A legacy `.att` layer for a DSSE-signed statement.
pub fn legacy_attestation_layer(
    signed: &Signed,
    material: &Material,
    predicate_type: &str,
) -> Result<LegacyLayer> {
    let sigstore_types::bundle::SignatureContent::DsseEnvelope(envelope) = &signed.bundle.content else {
        return Err(Error::failed("an attestation layer needs a DSSE-signed statement"));
    };
    let blob = crate::cosign::go_json(&Envelope::single(
        envelope.payload.as_bytes(),
        &envelope.payload_type,
        signed.signature.as_bytes(),
    ));
    let mut annotations = legacy_annotations(signed, material, false)?;
    annotations.insert(ANNOTATION_PREDICATE_TYPE.to_string(), predicate_type.to_string());
    Ok(LegacyLayer { media_type: DSSE_MEDIA_TYPE.to_string(), blob, annotations })
}

/// The predicate-type annotation of a referrer descriptor, when the registry copied it.
pub fn referrer_predicate_type(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotations.get(ANNOTATION_BUNDLE_PREDICATE_TYPE).map(String::as_str)
}
