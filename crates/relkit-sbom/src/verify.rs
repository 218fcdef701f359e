//! `sbom-attach verify`: the SBOM referrers of an image (and of each platform image of an
//! index) fetched, validated, checked to be bound to the digest they are attached to, with a
//! non-zero package count and the expected packages present.

use relkit_core::{Error, Result};
use relkit_registry::ops::{referrers, resolve_digest};
use relkit_registry::{Digest, ImageRef, Registry};

use crate::validate::{SPDX_JSON_MEDIA_TYPE, check};

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
                note: None,
            });
            continue;
        }
        let expect =
            if platform == "index" && platforms_have_sboms { &[][..] } else { &options.expect_packages[..] };
        for referrer in sboms {
            checked.push(check_referrer(registry, repo, &subject, &platform, &referrer, expect).await?);
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
) -> Result<Checked> {
    let mut result = Checked {
        subject: subject.clone(),
        platform: platform.to_string(),
        referrer: Some(referrer.clone()),
        spdx_version: None,
        packages: 0,
        problems: Vec::new(),
        note: None,
    };
    let Some(fetched) = registry.get_manifest(repo, referrer.as_str()).await? else {
        result.problems.push(format!("referrer {referrer} is listed but missing"));
        return Ok(result);
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
        return Ok(result);
    };
    let bytes = registry.get_blob(repo, &layer.digest).await?;
    let (summary, violations) = check(&bytes);
    result.problems.extend(violations.iter().take(3).map(|v| format!("invalid SPDX: {v}")));
    if violations.len() > 3 {
        result.problems.push(format!("invalid SPDX: and {} more problems", violations.len() - 3));
    }
    let Some(summary) = summary else { return Ok(result) };
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
    Ok(result)
}

/// The summary table (Markdown, also readable in a terminal).
pub fn table(checked: &[Checked]) -> String {
    let mut out = String::from(
        "| subject | platform | SBOM referrer | SPDX | packages | result |\n|---|---|---|---|---|---|\n",
    );
    for c in checked {
        let short = |d: &Digest| format!("{}…", &d.as_str()[..19]);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            short(&c.subject),
            c.platform,
            c.referrer.as_ref().map_or("none".to_string(), short),
            c.spdx_version.as_deref().unwrap_or("-"),
            c.packages,
            match (&c.note, c.passed()) {
                (_, false) => format!("FAILED: {}", c.problems.join("; ")),
                (Some(note), true) => format!("ok ({note})"),
                (None, true) => "ok".to_string(),
            }
        ));
    }
    out
}
