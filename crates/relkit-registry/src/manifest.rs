//! Manifests as bytes plus the few fields we read. The bytes are never re-serialized, so digests
//! survive every copy byte for byte.

use std::collections::BTreeMap;

use bytes::Bytes;
use relkit_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI artifact manifest media type (OCI 1.1 release candidates; some registries store
/// referrers pushed by older tools in it).
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
/// Every manifest media type we accept, for `Accept` headers.
pub const ACCEPTED_MANIFESTS: [&str; 5] =
    [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, OCI_ARTIFACT_MANIFEST];
/// The annotation carrying an image's version.
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
/// The annotation carrying an image's creation time.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// A content descriptor (the subset of fields we use; unknown fields are kept in `extra`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type, for referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform and any other fields, kept as they came.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The fields of an image manifest or index that copying, tagging and pruning need.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestView {
    /// Declared media type, if any.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Config blob (image manifests).
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Layer blobs (image manifests).
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Child manifests (indexes).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Blobs of an OCI artifact manifest.
    #[serde(default)]
    pub blobs: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ManifestView {
    /// True for an image index or Docker manifest list.
    pub fn is_index(&self, media_type: &str) -> bool {
        matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST) || !self.manifests.is_empty()
    }

    /// Every blob this manifest needs: the config and the layers (an artifact manifest's blobs).
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter()).chain(self.blobs.iter())
    }
}

/// A manifest exactly as the registry stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    /// The bytes, never re-serialized.
    pub bytes: Bytes,
    /// The media type (from `Content-Type` or the `mediaType` field).
    pub media_type: String,
    /// The digest of `bytes`.
    pub digest: Digest,
}

impl RawManifest {
    /// Wraps bytes, taking the media type from the `mediaType` field when `media_type` is unset
    /// or generic (`application/json`, `text/plain`, `application/octet-stream`: what some
    /// registries and proxies send), so a copy is stored under the type it declares.
    pub fn new(bytes: impl Into<Bytes>, media_type: Option<&str>) -> Result<Self> {
        let bytes = bytes.into();
        let view = parse_view(&bytes)?;
        let media_type = media_type
            .map(|m| m.split(';').next().unwrap_or_default().trim())
            .filter(|m| !matches!(*m, "" | "application/octet-stream" | "application/json" | "text/plain"))
            .map(str::to_string)
            .or(view.media_type)
            .unwrap_or_else(|| {
                if view.manifests.is_empty() { OCI_MANIFEST.to_string() } else { OCI_INDEX.to_string() }
            });
        let digest = Digest::of(&bytes);
        Ok(Self { bytes, media_type, digest })
    }

    /// The parsed fields.
    pub fn view(&self) -> Result<ManifestView> {
        parse_view(&self.bytes)
    }

    /// A descriptor pointing at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

fn parse_view(bytes: &[u8]) -> Result<ManifestView> {
    serde_json::from_slice(bytes).map_err(|e| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).replace(['\n', '\r'], " ");
        Error::failed(format!("manifest is not valid JSON ({e}); it starts with `{start}`"))
    })
}

/// Builds the bytes of an OCI image index listing `manifests` (used for the referrers fallback
/// tag). Serialization is deterministic: the same list gives the same digest.
pub fn referrers_index(manifests: &[Descriptor]) -> Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Index<'a> {
        schema_version: u32,
        media_type: &'a str,
        manifests: &'a [Descriptor],
    }
    let index = Index { schema_version: 2, media_type: OCI_INDEX, manifests };
    Bytes::from(serde_json::to_vec(&index).expect("an index of descriptors always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_manifest_keeps_bytes_and_digest() {
        let body = br#"{ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [] }"#;
        let m = RawManifest::new(&body[..], None).unwrap();
        assert_eq!(&m.bytes[..], &body[..]);
        assert_eq!(m.digest, Digest::of(body));
        assert_eq!(m.media_type, OCI_INDEX);
    }

    #[test]
    fn media_type_from_the_body_when_the_header_is_generic() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":null,"layers":[]}"#;
        for (header, expected) in [
            (Some("application/json"), OCI_MANIFEST),
            (Some("text/plain; charset=utf-8"), OCI_MANIFEST),
            (Some("application/octet-stream"), OCI_MANIFEST),
            (Some(DOCKER_MANIFEST), DOCKER_MANIFEST),
            (None, OCI_MANIFEST),
        ] {
            assert_eq!(RawManifest::new(&body[..], header).unwrap().media_type, expected, "{header:?}");
        }
        let artifact = format!(
            r#"{{"mediaType":"{OCI_ARTIFACT_MANIFEST}","artifactType":"a/b","blobs":[{{"mediaType":"x","digest":"{}","size":1}}]}}"#,
            Digest::of(b"x")
        );
        let m = RawManifest::new(artifact.into_bytes(), Some("application/json")).unwrap();
        assert_eq!(m.media_type, OCI_ARTIFACT_MANIFEST);
        assert_eq!(m.view().unwrap().blobs().count(), 1);
    }

    #[test]
    fn html_is_not_a_manifest() {
        let e = RawManifest::new(&b"<html><body>login</body></html>"[..], None).unwrap_err();
        assert!(e.message().contains("<html>"), "{e}");
    }

    #[test]
    fn descriptors_keep_unknown_fields() {
        let d = Digest::of(b"c");
        let json = format!(
            r#"{{"mediaType":"m","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}"#
        );
        let desc: Descriptor = serde_json::from_str(&json).unwrap();
        let back = serde_json::to_value(&desc).unwrap();
        assert_eq!(back["platform"]["architecture"], "arm64");
    }
}
