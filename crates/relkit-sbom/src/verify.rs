//! `sbom-attach verify`: the SBOM referrers of an image (and of each platform image of an
//! index) fetched, validated, checked to be bound to the digest they are attached to, with a
//! non-zero package count and the expected packages present; with a signer policy, also a
//! signed attestation of that very SBOM from that signer.

use relkit_core::{Error, Result};
use relkit_registry::ops::{referrers, resolve_digest};
use relkit_registry::{Digest, ImageRef, Registry};
use relkit_sigstore::image::check_found;
use relkit_sigstore::policy::Policy;
use relkit_sigstore::store::{SignatureStore, predicate_type_of};
use relkit_sigstore::verify::BundleVerifier;

use crate::attach::SPDX_PREDICATE_TYPE;
use crate::validate::{SPDX_JSON_MEDIA_TYPE, check};

/// Who must have attested each SBOM: every SBOM then needs a signed attestation (predicate
/// type `https://spdx.dev/Document`) verifying under `policy` whose predicate is that SBOM
/// (the document itself, or a by-reference statement naming its digest).
pub struct SignatureCheck {
    /// Verifies bundles against the trusted root.
    pub verifier: BundleVerifier,
    /// The identity or key required.
    pub policy: Policy,
    /// Require a transparency log entry (off with `--insecure-ignore-tlog`).
    pub require_tlog: bool,
}

/// What to require.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Package names (or purl prefixes like `pkg:deb/debian/libc6`) every SBOM must list.
    pub expect_packages: Vec<String>,
}

/// One checked SBOM referrer (or a subject that has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The image manifest it is attached to.
    pub subject: Digest,
    /// `os/arch` for a platform image, `index` for the index.
    pub platform: String,
    /// The referrer manifest, if one was found.
    pub referrer: Option<Digest>,
    /// `SPDX-2.3`, … when valid.
    pub spdx_version: Option<String>,
    /// Number of packages.
    pub packages: usize,
    /// Problems; empty when the SBOM passed.
    pub problems: Vec<String>,
    /// Who attested it (certificate identity, or `key`), when signatures were checked.
    pub signer: Option<String>,
    /// Why a subject without its own SBOM still passes.
    pub note: Option<String>,
}

impl Checked {
    /// True when nothing is wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every SBOM referrer of `reference`'s digest and, for an index, of each platform.
pub async fn verify<R: Registry>(
    registry: &R,
    reference: &ImageRef,
    options: &VerifyOptions,
    signature: Option<&SignatureCheck>,
) -> Result<Vec<Checked>> {
    let repo = reference.repository();
    let root = resolve_digest(registry, reference).await?;
    let manifest = registry
        .get_manifest(repo, root.as_str())
        .await?
        .ok_or_else(|| Error::failed(format!("{reference}: manifest {root} disappeared while reading it")))?
        .manifest;
    let view = manifest.view()?;
    let mut subjects = Vec::new();
    if view.is_index(&manifest.media_type) {
        subjects.push((root.clone(), "index".to_string()));
        for child in &view.manifests {
            let platform = child.extra.get("platform");
            let os = platform.and_then(|p| p["os"].as_str()).unwrap_or("unknown");
            let arch = platform.and_then(|p| p["architecture"].as_str()).unwrap_or("unknown");
            if os == "unknown" || child.annotations.contains_key("vnd.docker.reference.type") {
                continue;
            }
            subjects.push((child.digest.clone(), format!("{os}/{arch}")));
        }
    } else {
        subjects.push((root.clone(), "image".to_string()));
    }
    let mut found = Vec::new();
    for (subject, platform) in subjects {
        let sboms: Vec<Digest> = referrers::list(registry, repo, &subject)
            .await?
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(SPDX_JSON_MEDIA_TYPE))
            .map(|d| d.digest)
            .collect();
        found.push((subject, platform, sboms));
    }
    // The index document lists platform images, not packages: the expected packages are
    // required of the platform SBOMs, and of the index's only when no platform has one.
    let platforms_have_sboms = found.iter().any(|(_, p, s)| p != "index" && !s.is_empty());
    let index_has_sbom = found.iter().any(|(_, p, s)| p == "index" && !s.is_empty());
    let mut checked = Vec::new();
    for (subject, platform, sboms) in found {
        if sboms.is_empty() && platform != "index" && index_has_sbom && !platforms_have_sboms {
            // One SBOM for the whole multi-arch image (e.g. `--sbom` on an index).
            checked.push(Checked {
                subject: subject.clone(),
                platform: platform.clone(),
                referrer: None,
                spdx_version: None,
                packages: 0,
                problems: Vec::new(),
                signer: None,
                note: Some("covered by the index SBOM".into()),
            });
            continue;
        }
        if sboms.is_empty() {
            checked.push(Checked {
                subject: subject.clone(),
                platform: platform.clone(),
                referrer: None,
                spdx_version: None,
                packages: 0,
                problems: vec![format!("no {SPDX_JSON_MEDIA_TYPE} referrer is attached")],
                signer: None,
                note: None,
            });
            continue;
        }
        let expect =
            if platform == "index" && platforms_have_sboms { &[][..] } else { &options.expect_packages[..] };
        for referrer in sboms {
            let mut one = check_referrer(registry, repo, &subject, &platform, &referrer, expect).await?;
            if let (Some(rule), Some(bytes)) = (signature, one.1.take()) {
                match check_attestation(registry, repo, &subject, &bytes, rule).await {
                    Ok(signer) => one.0.signer = Some(signer),
                    Err(problem) => one.0.problems.push(problem),
                }
            }
            checked.push(one.0);
        }
    }
    Ok(checked)
}

async fn check_referrer<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    platform: &str,
    referrer: &Digest,
    expect_packages: &[String],
) -> Result<(Checked, Option<Vec<u8>>)> {
    let mut result = Checked {
        subject: subject.clone(),
        platform: platform.to_string(),
        referrer: Some(referrer.clone()),
        spdx_version: None,
        packages: 0,
        problems: Vec::new(),
        signer: None,
        note: None,
    };
    let Some(fetched) = registry.get_manifest(repo, referrer.as_str()).await? else {
        result.problems.push(format!("referrer {referrer} is listed but missing"));
        return Ok((result, None));
    };
    let view = fetched.manifest.view()?;
    if view.subject.as_ref().map(|s| &s.digest) != Some(subject) {
        result.problems.push(format!(
            "referrer {referrer} is not bound to {subject} (its subject is {:?})",
            view.subject.map(|s| s.digest.to_string())
        ));
    }
    let Some(layer) = view.layers.iter().find(|l| l.media_type == SPDX_JSON_MEDIA_TYPE) else {
        result.problems.push(format!("referrer {referrer} has no {SPDX_JSON_MEDIA_TYPE} layer"));
        return Ok((result, None));
    };
    let bytes = registry.get_blob(repo, &layer.digest).await?;
    let (summary, violations) = check(&bytes);
    result.problems.extend(violations.iter().take(3).map(|v| format!("invalid SPDX: {v}")));
    if violations.len() > 3 {
        result.problems.push(format!("invalid SPDX: and {} more problems", violations.len() - 3));
    }
    let Some(summary) = summary else { return Ok((result, Some(bytes.to_vec()))) };
    result.spdx_version = Some(summary.spdx_version.clone());
    result.packages = summary.packages.len();
    if summary.packages.is_empty() {
        result.problems.push("the SBOM lists no packages".into());
    }
    // Our own image documents name the image by digest in a described purl: check it matches.
    let oci_purls: Vec<&String> =
        summary.packages.iter().flat_map(|p| &p.purls).filter(|p| p.starts_with("pkg:oci/")).collect();
    if !oci_purls.is_empty() && !oci_purls.iter().any(|p| p.contains(subject.as_str())) {
        result.problems.push(format!("the SBOM describes another image (no pkg:oci purl names {subject})"));
    }
    for wanted in expect_packages {
        let found = summary
            .packages
            .iter()
            .any(|p| p.name == *wanted || p.purls.iter().any(|u| u.starts_with(wanted.as_str())));
        if !found {
            result.problems.push(format!("expected package `{wanted}` is not listed"));
        }
    }
    Ok((result, Some(bytes.to_vec())))
}

/// The signer of a verifying attestation of exactly `sbom` on `subject`, or the problem naming
/// the check that failed (signature, identity, digest).
async fn check_attestation<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    sbom: &[u8],
    rule: &SignatureCheck,
) -> std::result::Result<String, String> {
    let store = SignatureStore::new(registry, repo);
    let found = store
        .find(subject, true, true, Some(SPDX_PREDICATE_TYPE))
        .await
        .map_err(|e| format!("attestation: {}", e.message()))?;
    let document: Option<serde_json::Value> = serde_json::from_slice(sbom).ok();
    let sbom_digest = Digest::of(sbom);
    let mut failures = Vec::new();
    for entry in found.iter().filter(|f| predicate_type_of(f).as_deref() == Some(SPDX_PREDICATE_TYPE)) {
        match check_found(&rule.verifier, &rule.policy, subject, entry, rule.require_tlog) {
            Ok(verified) => {
                let predicate = verified.statement.map(|s| s.predicate).unwrap_or_default();
                let by_reference = predicate["sbom"]["digest"].as_str() == Some(sbom_digest.as_str());
                if by_reference || Some(&predicate) == document.as_ref() {
                    return Ok(verified.identity.unwrap_or_else(|| "key".into()));
                }
                failures.push(format!(
                    "digest check failed: the attestation's predicate is not the attached SBOM {sbom_digest}"
                ));
            }
            Err(e) => failures.push(e.message().to_string()),
        }
    }
    if failures.is_empty() {
        return Err(format!("no signed {SPDX_PREDICATE_TYPE} attestation is attached to {subject}"));
    }
    Err(format!("attestation: {}", failures.join("; ")))
}

/// The summary table (Markdown, also readable in a terminal).
pub fn table(checked: &[Checked]) -> String {
    let mut out = String::from(
        "| subject | platform | SBOM referrer | SPDX | packages | attested by | result |\n|---|---|---|---|---|---|---|\n",
    );
    for c in checked {
        let short = |d: &Digest| format!("{}…", &d.as_str()[..19]);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            short(&c.subject),
            c.platform,
            c.referrer.as_ref().map_or("none".to_string(), short),
            c.spdx_version.as_deref().unwrap_or("-"),
            c.packages,
            c.signer.as_deref().unwrap_or("-"),
            match (&c.note, c.passed()) {
                (_, false) => format!("FAILED: {}", c.problems.join("; ")),
                (Some(note), true) => format!("ok ({note})"),
                (None, true) => "ok".to_string(),
            }
        ));
    }
    out
}
