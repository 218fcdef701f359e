//! A minimal image written straight into an OCI image layout: one uncompressed tar layer of
//! the given files, a config carrying the labels, and a manifest carrying them as annotations.
//! The output is deterministic (fixed modes, owners and times), so the same files and labels
//! always give the same digest. Offline dry runs and tests build their images with it.

use std::collections::BTreeMap;

use relkit_core::{Error, Result};

use crate::digest::Digest;
use crate::layout::LayoutRegistry;
use crate::manifest::{CREATED_ANNOTATION, OCI_INDEX, OCI_MANIFEST, RawManifest};
use crate::registry::Registry;

/// Layer media type: a plain tar.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Config media type.
pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What goes into the image.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// Files of the layer: path inside the image (relative, `/`-separated) and content.
    pub files: Vec<(String, Vec<u8>)>,
    /// Labels (`org.opencontainers.image.*`): config labels and manifest annotations.
    pub labels: BTreeMap<String, String>,
    /// CPU architecture (GOARCH spelling); default `amd64`.
    pub architecture: Option<String>,
}

/// Writes the image's blobs and manifest into `layout` (tagged `tag` when given) and returns
/// the manifest.
pub async fn write_image(
    layout: &LayoutRegistry,
    spec: &ImageSpec,
    tag: Option<&str>,
) -> Result<RawManifest> {
    let layer = tar(&spec.files)?;
    let layer_digest = Digest::of(&layer);
    let mut config = serde_json::json!({
        "architecture": spec.architecture.as_deref().unwrap_or("amd64"),
        "os": "linux",
        "config": { "Labels": spec.labels },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest.as_str()] },
    });
    if let Some(created) = spec.labels.get(CREATED_ANNOTATION) {
        config["created"] = created.clone().into();
    }
    let config = serde_json::to_vec(&config).expect("a config serializes");
    let config_digest = Digest::of(&config);
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": IMAGE_CONFIG, "digest": config_digest.as_str(), "size": config.len() },
        "layers": [{ "mediaType": LAYER_TAR, "digest": layer_digest.as_str(), "size": layer.len() }],
    });
    if !spec.labels.is_empty() {
        manifest["annotations"] = serde_json::to_value(&spec.labels).expect("labels serialize");
    }
    let manifest =
        RawManifest::new(serde_json::to_vec(&manifest).expect("a manifest serializes"), Some(OCI_MANIFEST))?;
    layout.put_blob("", &layer_digest, layer.into()).await?;
    layout.put_blob("", &config_digest, config.into()).await?;
    layout.put_manifest("", tag.unwrap_or(manifest.digest.as_str()), &manifest, None).await?;
    Ok(manifest)
}

/// Writes one image per architecture (linux) and an OCI index over them into `layout` (the
/// index tagged `tag` when given); returns the index. Deterministic like [`write_image`].
pub async fn write_index(
    layout: &LayoutRegistry,
    images: &[(&str, ImageSpec)],
    tag: Option<&str>,
) -> Result<RawManifest> {
    let mut manifests = Vec::new();
    for (architecture, spec) in images {
        let spec = ImageSpec { architecture: Some(architecture.to_string()), ..spec.clone() };
        let manifest = write_image(layout, &spec, None).await?;
        manifests.push(serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest.digest.as_str(),
            "size": manifest.bytes.len(),
            "platform": {"architecture": architecture, "os": "linux"},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let index = RawManifest::new(serde_json::to_vec(&index).expect("an index serializes"), Some(OCI_INDEX))?;
    layout.put_manifest("", tag.unwrap_or(index.digest.as_str()), &index, None).await?;
    Ok(index)
}

/// A POSIX (ustar) archive of regular files, mode 0644, owner 0, time 0, in the given order.
pub fn tar(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, content) in files {
        if name.is_empty() || name.len() > 100 || name.starts_with('/') || name.split('/').any(|c| c == "..")
        {
            return Err(Error::usage(format!(
                "image file name `{name}` must be a relative path of at most 100 bytes without `..`"
            )));
        }
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..108].copy_from_slice(b"0000644\0");
        header[108..116].copy_from_slice(b"0000000\0");
        header[116..124].copy_from_slice(b"0000000\0");
        header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
        header[136..148].copy_from_slice(b"00000000000\0");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_entries_are_padded_and_checksummed() {
        let t = tar(&[("a.txt".into(), b"hello".to_vec()), ("d/b".into(), vec![7; 600])]).unwrap();
        // two headers, 512 + 1024 bytes of content blocks, two zero blocks
        assert_eq!(t.len(), 512 + 512 + 512 + 1024 + 1024);
        assert_eq!(&t[..5], b"a.txt");
        assert_eq!(&t[512..517], b"hello");
        assert_eq!(&t[1024..1027], b"d/b");
        let stored: u32 = u32::from_str_radix(std::str::from_utf8(&t[148..154]).unwrap(), 8).unwrap();
        let mut header = t[..512].to_vec();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|b| u32::from(*b)).sum::<u32>());
        assert!(tar(&[("../x".into(), vec![])]).is_err());
        assert!(tar(&[("/etc/x".into(), vec![])]).is_err());
    }

    #[tokio::test]
    async fn the_same_input_gives_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LayoutRegistry::new(dir.path());
        let mut spec = ImageSpec { files: vec![("LICENSE".into(), b"text".to_vec())], ..Default::default() };
        spec.labels.insert("org.opencontainers.image.version".into(), "1.2.3".into());
        let a = write_image(&layout, &spec, None).await.unwrap();
        let b = write_image(&layout, &spec, Some("v1.2.3")).await.unwrap();
        assert_eq!(a.digest, b.digest);
        spec.labels.insert("org.opencontainers.image.version".into(), "1.2.4".into());
        assert_ne!(write_image(&layout, &spec, None).await.unwrap().digest, a.digest);
        let version = crate::ops::tags::read_version(&layout, "", &a).await.unwrap();
        assert_eq!(version, Some(semver::Version::new(1, 2, 3)));
        assert_eq!(layout.list_tags("").await.unwrap(), vec!["v1.2.3".to_string()]);
    }
}
