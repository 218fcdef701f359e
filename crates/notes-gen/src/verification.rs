//! The Verification block: image digests and the exact `cosign verify`, `cosign
//! verify-attestation` and `gh attestation verify` commands for what `sign` and `sbom-attach`
//! produced, and SHA-256 checksums of the release assets.
//!
//! Input (one or more JSON files, merged; documented in `docs/notes-gen.md`):
//!
//! ```json
//! {
//!   "images": [{
//!     "image": "ghcr.io/acme/app",
//!     "digest": "sha256:<64 hex>",
//!     "tags": ["v1.2.3"],
//!     "signature": {"certificate_identity": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
//!                   "certificate_oidc_issuer": "https://token.actions.githubusercontent.com"},
//!     "attestations": [{"type": "spdxjson", "predicate_type": "https://spdx.dev/Document"}],
//!     "github_attestations": true
//!   }],
//!   "assets": [{"name": "app-linux-amd64.tar.gz", "sha256": "<64 hex>"}]
//! }
//! ```

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

pub use relkit_core::verification::AssetChecksum;
use relkit_core::verification::{ImageInput, VerificationInput, commands};
use relkit_core::{Error, Result};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The Verification block as templates see it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// One entry per image digest.
    pub images: Vec<ImageVerification>,
    /// Checksums of release assets, sorted by name.
    pub checksums: Vec<AssetChecksum>,
}

/// Verification commands for one image.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageVerification {
    /// `image@digest`.
    pub reference: String,
    /// The repository.
    pub image: String,
    /// The digest.
    pub digest: String,
    /// Tags pushed for it.
    pub tags: Vec<String>,
    /// Shell commands, ready to copy.
    pub commands: Vec<String>,
}

impl Verification {
    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.checksums.is_empty()
    }
}

/// Reads and merges the input files.
pub fn read_inputs(paths: &[impl AsRef<Path>]) -> Result<VerificationInput> {
    let mut merged = VerificationInput::default();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read verification file {}: {e}", path.display())))?;
        let input: VerificationInput = serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!(
                "verification file {} is not in the expected shape: {e}; see docs/notes-gen.md#verification-input",
                path.display()
            ))
        })?;
        merged.images.extend(input.images);
        merged.assets.extend(input.assets);
    }
    Ok(merged)
}

/// Builds the block: validates digests and names, merges entries for the same digest, and
/// writes the commands. `repository` (`owner/repo`) enables `gh attestation verify`.
pub fn build(input: VerificationInput, repository: Option<&str>) -> Result<Verification> {
    let mut by_ref: BTreeMap<String, ImageInput> = BTreeMap::new();
    let mut order = Vec::new();
    for image in input.images {
        validate_image(&image)?;
        let key = format!("{}@{}", image.image, image.digest);
        match by_ref.get_mut(&key) {
            Some(existing) => {
                for t in image.tags {
                    if !existing.tags.contains(&t) {
                        existing.tags.push(t);
                    }
                }
                if existing.signature.is_none() {
                    existing.signature = image.signature;
                }
                for a in image.attestations {
                    if !existing.attestations.contains(&a) {
                        existing.attestations.push(a);
                    }
                }
                existing.github_attestations |= image.github_attestations;
            }
            None => {
                order.push(key.clone());
                by_ref.insert(key, image);
            }
        }
    }
    let images = order
        .into_iter()
        .filter_map(|key| by_ref.remove(&key).map(|image| (key, image)))
        .map(|(reference, image)| ImageVerification {
            commands: commands(&reference, &image, repository),
            reference,
            image: image.image,
            digest: image.digest,
            tags: image.tags,
        })
        .collect();
    let mut checksums = Vec::new();
    for asset in input.assets {
        if !is_hex64(&asset.sha256) {
            return Err(Error::usage(format!(
                "asset {:?}: sha256 must be 64 lower-case hex characters, got {:?}",
                asset.name, asset.sha256
            )));
        }
        if !checksums.contains(&asset) {
            checksums.push(asset);
        }
    }
    checksums.sort();
    Ok(Verification { images, checksums })
}

fn validate_image(image: &ImageInput) -> Result<()> {
    let digest_ok = image.digest.strip_prefix("sha256:").is_some_and(is_hex64);
    if !digest_ok {
        return Err(Error::usage(format!(
            "image {:?}: digest must be sha256:<64 lower-case hex>, got {:?}",
            image.image, image.digest
        )));
    }
    let name_ok = !image.image.is_empty()
        && !image.image.contains('@')
        && image.image.bytes().all(|b| b.is_ascii_alphanumeric() || b"./:-_".contains(&b));
    if !name_ok {
        return Err(Error::usage(format!(
            "image {:?}: expected a repository such as ghcr.io/owner/name, without tag or digest",
            image.image
        )));
    }
    Ok(())
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::usage(format!("cannot read asset {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::failed(format!("cannot read asset {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use relkit_core::verification::shell_quote;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn input(json: &str) -> VerificationInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keyless_commands_for_signature_sbom_and_github() {
        let i = input(&format!(
            r#"{{"images":[{{"image":"ghcr.io/acme/app","digest":"{D}","tags":["v1.2.3"],
            "signature":{{"certificate_identity":"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
            "certificate_oidc_issuer":"https://token.actions.githubusercontent.com"}},
            "attestations":[{{"type":"spdxjson","predicate_type":"https://spdx.dev/Document"}}],
            "github_attestations":true}}]}}"#
        ));
        let v = build(i, Some("acme/app")).unwrap();
        let cmds = &v.images[0].commands;
        assert_eq!(
            cmds[0],
            format!(
                "cosign verify --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3 --certificate-oidc-issuer https://token.actions.githubusercontent.com ghcr.io/acme/app@{D}"
            )
        );
        assert!(cmds[1].starts_with("cosign verify-attestation --type spdxjson --certificate-identity "));
        assert_eq!(cmds[2], format!("gh attestation verify oci://ghcr.io/acme/app@{D} --repo acme/app"));
        assert!(cmds[3].ends_with("--predicate-type https://spdx.dev/Document"));
    }

    #[test]
    fn entries_for_one_digest_are_merged_from_sign_and_sbom_outputs() {
        let sign = input(&format!(
            r#"{{"images":[{{"image":"r.io/a","digest":"{D}","signature":{{"key":"cosign.pub"}}}}]}}"#
        ));
        let sbom = input(&format!(
            r#"{{"images":[{{"image":"r.io/a","digest":"{D}","attestations":[{{"type":"spdxjson"}}]}}]}}"#
        ));
        let mut all = sign;
        all.images.extend(sbom.images);
        let v = build(all, None).unwrap();
        assert_eq!(v.images.len(), 1);
        assert_eq!(
            v.images[0].commands,
            [
                format!("cosign verify --key cosign.pub r.io/a@{D}"),
                format!("cosign verify-attestation --type spdxjson --key cosign.pub r.io/a@{D}")
            ]
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for json in [
            r#"{"images":[{"image":"r.io/a","digest":"sha256:abc"}]}"#,
            &format!(r#"{{"images":[{{"image":"r.io/a:v1; rm -rf /","digest":"{D}"}}]}}"#),
            r#"{"assets":[{"name":"x","sha256":"XYZ"}]}"#,
        ] {
            let err = build(input(json), None).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{json}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a/b@sha256:00"), "a/b@sha256:00");
        assert_eq!(shell_quote("^https://x/.*$"), "'^https://x/.*$'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
