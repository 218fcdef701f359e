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

use relkit_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The accepted input: what `sign` and `sbom-attach` write with `--json`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VerificationInput {
    /// Published images.
    #[serde(default)]
    pub images: Vec<ImageInput>,
    /// Release files and their checksums.
    #[serde(default)]
    pub assets: Vec<AssetChecksum>,
}

/// One published image.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    /// Repository without tag or digest, e.g. `ghcr.io/acme/app`.
    pub image: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// Tags pushed for this digest.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How it was signed, when it was.
    #[serde(default)]
    pub signature: Option<SignatureInput>,
    /// Attestations attached to it.
    #[serde(default)]
    pub attestations: Vec<AttestationInput>,
    /// The attestations were also stored in GitHub's attestation API (`gh attestation verify`).
    #[serde(default)]
    pub github_attestations: bool,
}

/// Keyless (certificate identity + issuer, or an identity regexp) or key-based signing.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignatureInput {
    /// The signer identity (the workflow URI for GitHub Actions).
    #[serde(default)]
    pub certificate_identity: Option<String>,
    /// A regular expression for the identity, instead of the exact identity.
    #[serde(default)]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer.
    #[serde(default)]
    pub certificate_oidc_issuer: Option<String>,
    /// The public key (path or KMS URI) for key-based signatures.
    #[serde(default)]
    pub key: Option<String>,
}

/// One attestation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttestationInput {
    /// cosign's `--type` (`spdxjson`, `slsaprovenance1`, `cyclonedx`, or a predicate URI).
    #[serde(rename = "type")]
    pub kind: String,
    /// The in-toto predicate type URI, used for `gh attestation verify --predicate-type`.
    #[serde(default)]
    pub predicate_type: Option<String>,
}

/// A checksum line.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct AssetChecksum {
    /// The file name.
    pub name: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

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

fn commands(reference: &str, image: &ImageInput, repository: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let identity = image.signature.as_ref().map(identity_flags);
    if let Some(flags) = &identity {
        out.push(format!("cosign verify {flags}{}", shell_quote(reference)));
        for a in &image.attestations {
            out.push(format!(
                "cosign verify-attestation --type {} {flags}{}",
                shell_quote(&a.kind),
                shell_quote(reference)
            ));
        }
    }
    if image.github_attestations
        && let Some(repo) = repository
    {
        let oci = format!("oci://{reference}");
        out.push(format!("gh attestation verify {} --repo {}", shell_quote(&oci), shell_quote(repo)));
        for a in &image.attestations {
            if let Some(p) = &a.predicate_type {
                out.push(format!(
                    "gh attestation verify {} --repo {} --predicate-type {}",
                    shell_quote(&oci),
                    shell_quote(repo),
                    shell_quote(p)
                ));
            }
        }
    }
    out
}

fn identity_flags(sig: &SignatureInput) -> String {
    let mut flags = String::new();
    if let Some(key) = &sig.key {
        flags.push_str(&format!("--key {} ", shell_quote(key)));
        return flags;
    }
    if let Some(id) = &sig.certificate_identity {
        flags.push_str(&format!("--certificate-identity {} ", shell_quote(id)));
    } else if let Some(re) = &sig.certificate_identity_regexp {
        flags.push_str(&format!("--certificate-identity-regexp {} ", shell_quote(re)));
    }
    if let Some(issuer) = &sig.certificate_oidc_issuer {
        flags.push_str(&format!("--certificate-oidc-issuer {} ", shell_quote(issuer)));
    }
    flags
}

/// Quotes a word for POSIX shells only when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
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
        assert!(serde_json::from_str::<VerificationInput>(r#"{"imagez":[]}"#).is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a/b@sha256:00"), "a/b@sha256:00");
        assert_eq!(shell_quote("^https://x/.*$"), "'^https://x/.*$'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
