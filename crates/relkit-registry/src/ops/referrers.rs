//! What refers to an image: OCI 1.1 referrers (through the API, or the `sha256-<hex>` fallback
//! tag this module maintains when the registry has no API) and cosign's legacy
//! `sha256-<hex>.sig/.att/.sbom` tags.

use std::collections::BTreeMap;

use relkit_core::{Error, Result};

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest, referrers_index};
use crate::registry::{PutOutcome, Registry};

/// cosign's legacy attachment tag suffixes.
pub const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// The subject a tag is attached to: `sha256-<hex>` (the referrers fallback index) and cosign's
/// `sha256-<hex>.sig/.att/.sbom`. They live and die with their subject.
pub fn attachment_subject(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = rest
        .split_once('.')
        .map_or(rest, |(h, suffix)| if COSIGN_SUFFIXES.contains(&suffix) { h } else { "" });
    format!("sha256:{hex}").parse().ok()
}

/// True for the referrers fallback tag (`sha256-<hex>`, no cosign suffix).
pub fn is_fallback_tag(tag: &str) -> bool {
    attachment_subject(tag).is_some() && !tag.contains('.')
}

/// The attachment tags of a repository, from one tag listing already resolved to digests: per
/// subject, its fallback index tag and cosign tags. Prune and promote find attachments this
/// way instead of probing four tags per manifest.
#[derive(Debug, Clone, Default)]
pub struct AttachmentTags {
    by_subject: BTreeMap<Digest, Vec<(String, Digest)>>,
}

impl AttachmentTags {
    /// Picks the attachment tags out of `tags` (tag → digest); other tags are ignored.
    pub fn from_tags(tags: &BTreeMap<String, Digest>) -> Self {
        let mut by_subject: BTreeMap<Digest, Vec<(String, Digest)>> = BTreeMap::new();
        for (tag, digest) in tags {
            if let Some(subject) = attachment_subject(tag) {
                by_subject.entry(subject).or_default().push((tag.clone(), digest.clone()));
            }
        }
        Self { by_subject }
    }

    /// The attachment tags of `subject` and where they point.
    pub fn of(&self, subject: &Digest) -> impl Iterator<Item = (&String, &Digest)> {
        self.by_subject.get(subject).into_iter().flatten().map(|(t, d)| (t, d))
    }

    /// Every subject with its attachment tags.
    pub fn by_subject(&self) -> impl Iterator<Item = (&Digest, &Vec<(String, Digest)>)> {
        self.by_subject.iter()
    }

    /// The digest of `subject`'s referrers fallback index, when the tag exists.
    pub fn fallback(&self, subject: &Digest) -> Option<&Digest> {
        self.of(subject).find(|(t, _)| is_fallback_tag(t)).map(|(_, d)| d)
    }
}

/// The referrers of `subject` when the attachment tags are already known: through the API, else
/// from the fallback index when its tag exists (no probe for a tag that is not there).
pub async fn list_with<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    attachments: &AttachmentTags,
) -> Result<Vec<Descriptor>> {
    if let Some(list) = registry.referrers(repo, subject).await? {
        return Ok(list);
    }
    let Some(index) = attachments.fallback(subject) else { return Ok(Vec::new()) };
    if index == subject {
        return Ok(Vec::new());
    }
    match registry.get_manifest(repo, index.as_str()).await? {
        Some(f) => Ok(f.manifest.view()?.manifests),
        None => Ok(Vec::new()),
    }
}

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
/// this themselves (asked once per registry and run, not per referrer); otherwise the fallback tag is updated with `If-Match` when the registry
/// sends an `ETag`, re-reading and retrying when another writer got there first.
pub async fn register<R: Registry>(
    registry: &R,
    repo: &str,
    subject: &Digest,
    referrer: &RawManifest,
) -> Result<()> {
    let has_api = match registry.knows_referrers_api() {
        Some(known) => known,
        None => registry.referrers(repo, subject).await?.is_some(),
    };
    if has_api {
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
