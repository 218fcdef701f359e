//! The verification contract between steps: what `sign` and `sbom-attach` report about the
//! images and files they signed, and what `notes-gen` turns into the release's Verification
//! block; plus the exact verification commands for an image.
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

use serde::{Deserialize, Serialize};

/// What `sign` and `sbom-attach` write with `--json` and `notes-gen` reads. Readers ignore fields
/// they do not know, so writers may add their own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerificationInput {
    /// Published images.
    #[serde(default)]
    pub images: Vec<ImageInput>,
    /// Release files and their checksums.
    #[serde(default)]
    pub assets: Vec<AssetChecksum>,
}

/// One published image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
    /// The attestations are OCI referrers of the image (`gh attestation verify --bundle-from-oci`).
    #[serde(default)]
    pub oci_attestations: bool,
}

/// Keyless (certificate identity + issuer, or an identity regexp) or key-based signing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
pub struct AssetChecksum {
    /// The file name.
    pub name: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The verification commands for one image (`reference` is `image@digest`): `cosign verify`
/// and `verify-attestation` with the signer's identity or key, and `gh attestation verify` when
/// GitHub holds the attestations (or they are OCI referrers) and `repository` is known.
pub fn commands(reference: &str, image: &ImageInput, repository: Option<&str>) -> Vec<String> {
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
    if (image.github_attestations || image.oci_attestations)
        && let Some(repo) = repository
    {
        let oci = format!("oci://{reference}");
        let from_oci = if image.github_attestations { "" } else { " --bundle-from-oci" };
        out.push(format!(
            "gh attestation verify {} --repo {}{from_oci}",
            shell_quote(&oci),
            shell_quote(repo)
        ));
        for a in &image.attestations {
            if let Some(p) = &a.predicate_type {
                out.push(format!(
                    "gh attestation verify {} --repo {}{from_oci} --predicate-type {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_accept_fields_they_do_not_know() {
        let doc: VerificationInput = serde_json::from_str(
            r#"{"images":[{"image":"r.io/a","digest":"sha256:00","platform":"linux/amd64","locations":[]}],"extra":1}"#,
        )
        .unwrap();
        assert_eq!(doc.images[0].image, "r.io/a");
    }

    #[test]
    fn oci_attestations_verify_from_the_registry() {
        let image = ImageInput {
            image: "r.io/a".into(),
            digest: "sha256:00".into(),
            tags: vec![],
            signature: None,
            attestations: vec![AttestationInput { kind: "slsaprovenance1".into(), predicate_type: None }],
            github_attestations: false,
            oci_attestations: true,
        };
        assert_eq!(
            commands("r.io/a@sha256:00", &image, Some("acme/app")),
            ["gh attestation verify oci://r.io/a@sha256:00 --repo acme/app --bundle-from-oci"]
        );
    }
}
