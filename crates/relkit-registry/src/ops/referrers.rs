//! What refers to an image: OCI 1.1 referrers (through the API, or the `sha256-<hex>` fallback
//! tag this module maintains when the registry has no API) and cosign's legacy
//! `sha256-<hex>.sig/.att/.sbom` tags.

use relkit_core::{Error, Result};

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest, referrers_index};
use crate::registry::{PutOutcome, Registry};

/// cosign's legacy attachment tag suffixes.
pub const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// The referrers of `subject`: from the API when the registry has one, else from the fallback
/// tag (an index whose digest equals the subject's is a registry aliasing the tag, not a list).
pub async fn list<R: Registry>(registry: &R, repo: &str, subject: &Digest) -> Result<Vec<Descriptor>> {
    if let Some(list) = registry.referrers(repo, subject).await? {
        return Ok(list);
    }
    fallback_list(registry, repo, subject).await
}

/// The referrers the fallback tag lists (for callers that already know the registry has no
/// referrers API, so they need not ask again).
pub async fn fallback_list<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
) -> Result<Vec<Descriptor>> {
    match registry.get_manifest(repo, &subject.fallback_tag()).await? {
        Some(f) if f.manifest.digest != *subject => Ok(f.manifest.view()?.manifests),
        _ => Ok(Vec::new()),
    }
}

/// The descriptor a referrers list holds for `referrer`: its artifact type (or config media
/// type) and its annotations.
pub fn referrer_descriptor(referrer: &RawManifest) -> Result<Descriptor> {
    let view = referrer.view()?;
    let mut descriptor = referrer.descriptor();
    descriptor.artifact_type =
        view.artifact_type.clone().or_else(|| view.config.as_ref().map(|c| c.media_type.clone()));
    descriptor.annotations = view.annotations.clone();
    Ok(descriptor)
}

/// Records `referrer` (already stored) as a referrer of its subject. Registries with the API do
/// this themselves; otherwise the fallback tag is updated with `If-Match` when the registry
/// sends an `ETag`, re-reading and retrying when another writer got there first.
pub async fn register<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    referrer: &RawManifest,
) -> Result<()> {
    if registry.referrers(repo, subject).await?.is_some() {
        return Ok(());
    }
    add_to_fallback(registry, repo, subject, referrer).await
}

/// Adds `referrer` to the fallback tag's index (for callers that already know the registry has
/// no referrers API), with `If-Match` when the registry sends an `ETag`.
pub async fn add_to_fallback<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    referrer: &RawManifest,
) -> Result<()> {
    let tag = subject.fallback_tag();
    let descriptor = referrer_descriptor(referrer)?;
    for _ in 0..8 {
        let current = registry.get_manifest(repo, &tag).await?;
        let (mut list, etag) = match &current {
            Some(f) if f.manifest.digest != *subject => (f.manifest.view()?.manifests, f.etag.clone()),
            _ => (Vec::new(), None),
        };
        if list.iter().any(|d| d.digest == descriptor.digest) {
            return Ok(());
        }
        list.push(descriptor.clone());
        let index = RawManifest::new(referrers_index(&list), Some(crate::manifest::OCI_INDEX))?;
        match registry.put_manifest(repo, &tag, &index, etag.as_deref()).await? {
            PutOutcome::Stored => return Ok(()),
            PutOutcome::PreconditionFailed => continue,
        }
    }
    Err(Error::failed(format!(
        "the referrers tag {tag} in {repo} on {} kept changing while adding {}; retry the command",
        registry.name(),
        referrer.digest
    )))
}
