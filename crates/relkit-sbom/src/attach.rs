//! Binding SBOMs to image digests and attaching them as OCI referrer artifacts
//! (`artifactType: application/spdx+json`, the shape `oras attach` writes), idempotently; the
//! size policy (`--trim`, `--by-reference`); and [`AttestationInput`], what the signing layer
//! turns into an in-toto statement with predicate type `https://spdx.dev/Document`.

use std::collections::BTreeMap;

use relkit_core::{Error, Result};
use relkit_registry::manifest::{CREATED_ANNOTATION, Descriptor, OCI_MANIFEST};
use relkit_registry::ops::referrers;
use relkit_registry::{Digest, RawManifest, Registry};
use serde_json::{Value, json};

use crate::validate::{SPDX_JSON_MEDIA_TYPE, ValidSbom, validate};

/// The in-toto predicate type of an SPDX document (cosign's `spdxjson`).
pub const SPDX_PREDICATE_TYPE: &str = "https://spdx.dev/Document";
/// The default size limit: the `actions/attest` cap.
pub const DEFAULT_MAX_SIZE: u64 = 16 * 1024 * 1024;
/// The OCI empty config (`{}`), as `oras attach` writes it.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Annotation on the referrer manifest: the number of packages in the SBOM.
pub const PACKAGES_ANNOTATION: &str = "dev.relkit.sbom.packages";
/// Annotation on the referrer manifest: the platform the SBOM describes.
pub const PLATFORM_ANNOTATION: &str = "dev.relkit.sbom.platform";

/// What to do with an SBOM above the size limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizePolicy {
    /// The limit in bytes.
    pub max_size: u64,
    /// Drop `files` and `snippets` (and their relationships) above the limit.
    pub trim_files: bool,
    /// Drop every relationship but DESCRIBES above the limit.
    pub trim_relationships: bool,
    /// Keep the SBOM whole as a referrer blob; the attestation carries only its digest.
    pub by_reference: bool,
}

/// One SBOM bound to the digest it describes.
#[derive(Debug, Clone)]
pub struct BoundSbom {
    /// The image (platform image or index) manifest the SBOM describes.
    pub subject: Descriptor,
    /// `os/arch[/variant]` for a platform image.
    pub platform: Option<String>,
    /// The validated document (bytes as given or generated).
    pub sbom: ValidSbom,
    /// True when the size policy trimmed it.
    pub trimmed: bool,
    /// True when it exceeds the limit and is attested by reference.
    pub by_reference: bool,
}

/// What the signing layer attests for one SBOM: an in-toto statement whose subject is
/// `subject` and whose predicate is `predicate` with type [`SPDX_PREDICATE_TYPE`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationInput {
    /// The image manifest digest the statement's subject names.
    pub subject: Digest,
    /// Always [`SPDX_PREDICATE_TYPE`].
    pub predicate_type: &'static str,
    /// The SPDX document itself, or for `--by-reference` a small JSON object naming the
    /// referrer blob that holds it (`{"sbom":{"mediaType","digest","size"}, "referrer": …}`).
    pub predicate: Value,
}

/// Applies the size policy: the SBOM as it is when under the limit; trimmed (re-validated) or
/// marked by-reference when allowed; otherwise an error offering both.
pub fn bind(
    subject: Descriptor,
    platform: Option<String>,
    sbom: ValidSbom,
    policy: &SizePolicy,
) -> Result<BoundSbom> {
    let size = sbom.bytes.len() as u64;
    let limit = if policy.max_size == 0 { DEFAULT_MAX_SIZE } else { policy.max_size };
    if size <= limit {
        return Ok(BoundSbom { subject, platform, sbom, trimmed: false, by_reference: false });
    }
    if policy.trim_files || policy.trim_relationships {
        let trimmed = trim(&sbom.bytes, policy.trim_files, policy.trim_relationships)?;
        let sbom = validate("trimmed SBOM", trimmed)?;
        if sbom.bytes.len() as u64 <= limit {
            return Ok(BoundSbom { subject, platform, sbom, trimmed: true, by_reference: false });
        }
        if !policy.by_reference {
            return Err(Error::usage(format!(
                "the SBOM for {} is {} bytes after --trim, above the {limit}-byte limit; add --by-reference or raise --max-size",
                subject.digest,
                sbom.bytes.len()
            )));
        }
        return Ok(BoundSbom { subject, platform, sbom, trimmed: true, by_reference: true });
    }
    if policy.by_reference {
        return Ok(BoundSbom { subject, platform, sbom, trimmed: false, by_reference: true });
    }
    Err(Error::usage(format!(
        "the SBOM for {} is {size} bytes, above the {limit}-byte limit (the actions/attest cap); pass --trim files,relationships to drop file entries and dependency edges, or --by-reference to attach it whole and attest its digest, or raise --max-size",
        subject.digest
    )))
}

/// Removes `files`/`snippets` (and relationships naming them) and/or every relationship but
/// DESCRIBES. The one place an SBOM is re-serialized, and only on request.
pub fn trim(bytes: &[u8], files: bool, relationships: bool) -> Result<Vec<u8>> {
    let mut doc: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::usage(format!("cannot trim the SBOM: {e}")))?;
    let object =
        doc.as_object_mut().ok_or_else(|| Error::usage("cannot trim the SBOM: not a JSON object"))?;
    if files {
        let mut removed: Vec<String> = Vec::new();
        for key in ["files", "snippets"] {
            if let Some(Value::Array(items)) = object.remove(key) {
                removed.extend(items.iter().filter_map(|i| i["SPDXID"].as_str().map(str::to_string)));
            }
        }
        for package in object.get_mut("packages").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(p) = package.as_object_mut() {
                p.remove("hasFiles");
            }
        }
        if let Some(Value::Array(rels)) = object.get_mut("relationships") {
            rels.retain(|r| {
                !removed
                    .iter()
                    .any(|id| r["spdxElementId"] == id.as_str() || r["relatedSpdxElement"] == id.as_str())
            });
        }
    }
    if relationships && let Some(Value::Array(rels)) = object.get_mut("relationships") {
        rels.retain(|r| matches!(r["relationshipType"].as_str(), Some("DESCRIBES" | "DESCRIBED_BY")));
    }
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

/// The attestation input for a bound SBOM (the seam to the signing layer).
pub fn attestation_input(bound: &BoundSbom, referrer: Option<&RawManifest>) -> Result<AttestationInput> {
    let predicate = if bound.by_reference {
        let mut reference = json!({
            "sbom": { "mediaType": SPDX_JSON_MEDIA_TYPE, "digest": bound.sbom.digest.as_str(), "size": bound.sbom.bytes.len() },
        });
        if let Some(r) = referrer {
            reference["referrer"] =
                json!({ "mediaType": r.media_type, "digest": r.digest.as_str(), "size": r.bytes.len() });
        }
        reference
    } else {
        serde_json::from_slice(&bound.sbom.bytes)
            .map_err(|e| Error::failed(format!("SBOM is not JSON: {e}")))?
    };
    Ok(AttestationInput {
        subject: bound.subject.digest.clone(),
        predicate_type: SPDX_PREDICATE_TYPE,
        predicate,
    })
}

/// The referrer manifest for a bound SBOM: deterministic (the same SBOM on the same subject
/// gives the same digest, so attaching twice stores nothing new).
pub fn referrer_manifest(bound: &BoundSbom) -> Result<RawManifest> {
    let mut annotations = BTreeMap::new();
    if let Some(created) = created_of(&bound.sbom.bytes) {
        annotations.insert(CREATED_ANNOTATION.to_string(), created);
    }
    annotations.insert(PACKAGES_ANNOTATION.to_string(), bound.sbom.packages.len().to_string());
    if let Some(p) = &bound.platform {
        annotations.insert(PLATFORM_ANNOTATION.to_string(), p.clone());
    }
    let subject = json!({
        "mediaType": bound.subject.media_type, "digest": bound.subject.digest.as_str(), "size": bound.subject.size,
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_JSON_MEDIA_TYPE,
        "config": { "mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": Digest::of(b"{}").as_str(), "size": 2 },
        "layers": [{
            "mediaType": SPDX_JSON_MEDIA_TYPE,
            "digest": bound.sbom.digest.as_str(),
            "size": bound.sbom.bytes.len(),
            "annotations": { "org.opencontainers.image.title": "sbom.spdx.json" },
        }],
        "subject": subject,
        "annotations": annotations,
    });
    RawManifest::new(serde_json::to_vec(&manifest).expect("a manifest serializes"), Some(OCI_MANIFEST))
}

fn created_of(bytes: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    doc["creationInfo"]["created"].as_str().map(str::to_string)
}

/// What attaching did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// The referrer was stored now.
    Stored(Digest),
    /// The same referrer was already there.
    AlreadyThere(Digest),
}

impl Attached {
    /// The referrer manifest's digest.
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Stored(d) | Self::AlreadyThere(d) => d,
        }
    }
}

/// Stores the SBOM blob, the empty config and the referrer manifest, and records it as a
/// referrer of its subject (fallback tag on registries without the API). Idempotent.
pub async fn attach_referrer<R: Registry>(
    registry: &R,
    repo: &str,
    bound: &BoundSbom,
) -> Result<(Attached, RawManifest)> {
    let manifest = referrer_manifest(bound)?;
    let existing = referrers::list(registry, repo, &bound.subject.digest).await?;
    if existing.iter().any(|d| d.digest == manifest.digest) {
        // Re-registering is a no-op when already listed; it repairs a fallback tag otherwise.
        referrers::register(registry, repo, &bound.subject.digest, &manifest).await?;
        return Ok((Attached::AlreadyThere(manifest.digest.clone()), manifest));
    }
    let config_digest = Digest::of(b"{}");
    if !registry.blob_exists(repo, &config_digest).await? {
        registry.put_blob(repo, &config_digest, bytes::Bytes::from_static(b"{}")).await?;
    }
    if !registry.blob_exists(repo, &bound.sbom.digest).await? {
        registry.put_blob(repo, &bound.sbom.digest, bytes::Bytes::from(bound.sbom.bytes.clone())).await?;
    }
    registry.put_manifest(repo, manifest.digest.as_str(), &manifest, None).await?;
    referrers::register(registry, repo, &bound.subject.digest, &manifest).await?;
    Ok((Attached::Stored(manifest.digest.clone()), manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbom(extra_packages: usize) -> ValidSbom {
        let mut packages =
            vec![json!({"name":"app","SPDXID":"SPDXRef-app","downloadLocation":"NOASSERTION"})];
        for i in 0..extra_packages {
            packages.push(json!({"name":format!("dep{i}"),"SPDXID":format!("SPDXRef-dep{i}"),"downloadLocation":"NOASSERTION"}));
        }
        let mut relationships = vec![
            json!({"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-app"}),
        ];
        for i in 0..extra_packages {
            relationships.push(json!({"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":format!("SPDXRef-dep{i}")}));
        }
        let doc = json!({"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x",
            "documentNamespace":"https://example.com/x","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: t"]},
            "packages":packages,"relationships":relationships,
            "files":[{"SPDXID":"SPDXRef-f","fileName":"./a","checksums":[{"algorithm":"SHA1","checksumValue":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}]}]});
        validate("x.json", serde_json::to_vec(&doc).unwrap()).unwrap()
    }

    fn subject() -> Descriptor {
        serde_json::from_value(
            json!({"mediaType":OCI_MANIFEST,"digest":Digest::of(b"image").as_str(),"size":5}),
        )
        .unwrap()
    }

    #[test]
    fn size_policy() {
        let big = sbom(200);
        let size = big.bytes.len() as u64;
        let under = SizePolicy { max_size: size, ..Default::default() };
        assert!(!bind(subject(), None, big.clone(), &under).unwrap().trimmed);
        let over = SizePolicy { max_size: size / 4, ..Default::default() };
        let e = bind(subject(), None, big.clone(), &over).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message().contains("pass --trim files,relationships") && e.message().contains("--by-reference"),
            "{e}"
        );
        let trim = SizePolicy {
            trim_files: true,
            trim_relationships: true,
            max_size: size * 2 / 3,
            ..Default::default()
        };
        let bound = bind(subject(), None, big.clone(), &trim).unwrap();
        assert!(bound.trimmed && !bound.by_reference);
        assert_eq!(bound.sbom.packages.len(), 201, "trimming keeps every package");
        let by_ref = SizePolicy { by_reference: true, ..over };
        let bound = bind(subject(), None, big, &by_ref).unwrap();
        assert!(bound.by_reference);
        let input = attestation_input(&bound, None).unwrap();
        assert_eq!(input.predicate["sbom"]["digest"], bound.sbom.digest.as_str());
        assert_eq!(input.predicate_type, "https://spdx.dev/Document");
    }

    #[test]
    fn the_referrer_manifest_is_deterministic_and_bound() {
        let bound = bind(subject(), Some("linux/amd64".into()), sbom(1), &SizePolicy::default()).unwrap();
        let a = referrer_manifest(&bound).unwrap();
        assert_eq!(a, referrer_manifest(&bound).unwrap());
        let view = a.view().unwrap();
        assert_eq!(view.artifact_type.as_deref(), Some("application/spdx+json"));
        assert_eq!(view.subject.unwrap().digest, Digest::of(b"image"));
        assert_eq!(view.annotations[PACKAGES_ANNOTATION], "2");
        assert_eq!(view.annotations[CREATED_ANNOTATION], "2024-01-01T00:00:00Z");
        let input = attestation_input(&bound, Some(&a)).unwrap();
        assert_eq!(input.predicate["name"], "x", "the predicate is the document itself");
    }
}
