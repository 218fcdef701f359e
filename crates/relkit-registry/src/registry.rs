//! The one interface every command uses, with its two implementations: [`HttpRegistry`] for
//! registries and [`LayoutRegistry`] for OCI image layouts on disk.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use relkit_core::{Error, Result};

use crate::digest::{Digest, DigestHasher};
use crate::http::{HttpOptions, HttpRegistry};
use crate::layout::LayoutRegistry;
use crate::manifest::{Descriptor, RawManifest};
use crate::reference::{ImageRef, Location};

/// A manifest read from a registry, with the `ETag` the registry sent (if any).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The manifest as stored.
    pub manifest: RawManifest,
    /// The entity tag, for conditional updates.
    pub etag: Option<String>,
}

/// A blob's content as a stream of chunks, so copies hold a bounded amount in memory.
pub type BlobStream = BoxStream<'static, Result<Bytes>>;

/// Passes `data` through, failing at its end when the content does not hash to `expected`
/// (`source` names where it came from, for the message).
pub fn verify_stream(expected: Digest, source: String, data: BlobStream) -> BlobStream {
    let state = (data, Some(DigestHasher::default()), expected, source);
    Box::pin(futures::stream::unfold(state, |(mut data, mut hasher, expected, source)| async move {
        let h = hasher.as_mut()?;
        match data.next().await {
            Some(Ok(chunk)) => {
                h.update(&chunk);
                Some((Ok(chunk), (data, hasher, expected, source)))
            }
            Some(Err(e)) => Some((Err(e), (data, None, expected, source))),
            None => {
                let actual = hasher.take().expect("checked above").finish();
                if actual == expected {
                    return None;
                }
                let error = Error::failed(format!(
                    "{source} sent blob {expected} with content that does not match its digest ({actual})"
                ));
                Some((Err(error), (data, None, expected, source)))
            }
        }
    }))
}

/// The result of a conditional manifest PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The manifest was stored.
    Stored,
    /// `If-Match` did not match: someone else changed the tag first.
    PreconditionFailed,
}

/// Access to the repositories of one registry (or one OCI layout). `repo` is the repository path;
/// a layout holds a single repository and ignores it. `reference` is a tag or a digest.
pub trait Registry: Send + Sync {
    /// The registry's name for messages (host or `oci:DIR`).
    fn name(&self) -> String;

    /// The retry policy operations on this registry follow (blob copies retry with it).
    fn retry_policy(&self) -> crate::RetryPolicy {
        crate::RetryPolicy::default()
    }

    /// The descriptor of a manifest (HEAD), or `None` when it does not exist.
    fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Descriptor>>> + Send;

    /// A manifest's exact bytes, or `None` when it does not exist.
    fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Fetched>>> + Send;

    /// Stores a manifest under a tag or its digest, optionally only if the tag's current `ETag`
    /// still matches `if_match`.
    fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;

    /// Deletes a manifest by digest (and so every tag on it). `false` when it was already gone.
    fn delete_manifest(&self, repo: &str, digest: &Digest) -> impl Future<Output = Result<bool>> + Send;

    /// Declares that the running operation will use `actions` (`pull`, `push`, `delete`) on
    /// `repo`, before its first request: a registry with token auth then asks once for a token
    /// covering all of it instead of one per kind of request.
    fn plan_access(&self, repo: &str, actions: &[&str]) {
        let _ = (repo, actions);
    }

    /// Whether the registry serves the OCI 1.1 referrers API, when an earlier request showed
    /// it (`None`: not known yet; ask [`Registry::referrers`]).
    fn knows_referrers_api(&self) -> Option<bool> {
        None
    }

    /// Fails (before anything is deleted) when the registry is known not to delete images
    /// through the distribution API at all, naming why and what to do instead.
    fn check_can_delete(&self) -> Result<()> {
        Ok(())
    }

    /// Deletes one tag. `false` when the registry cannot delete single tags.
    fn delete_tag(&self, repo: &str, tag: &str) -> impl Future<Output = Result<bool>> + Send;

    /// True when the blob exists in the repository.
    fn blob_exists(&self, repo: &str, digest: &Digest) -> impl Future<Output = Result<bool>> + Send;

    /// A blob's bytes (verified against the digest).
    fn get_blob(&self, repo: &str, digest: &Digest) -> impl Future<Output = Result<Bytes>> + Send;

    /// Uploads a blob (its digest is verified by the receiver).
    fn put_blob(&self, repo: &str, digest: &Digest, data: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// A blob's content as a stream, verified against the digest as it flows.
    fn open_blob(&self, repo: &str, digest: &Digest) -> impl Future<Output = Result<BlobStream>> + Send;

    /// Uploads a blob of `size` bytes from a stream (one attempt: a stream cannot be replayed,
    /// so the caller retries by opening the source again).
    fn put_blob_stream(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        data: BlobStream,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Mounts a blob from another repository of the same registry. `false` when the registry
    /// declined the mount (the caller then uploads the blob).
    fn mount_blob(
        &self,
        repo: &str,
        from_repo: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Every tag of the repository (all pages).
    fn list_tags(&self, repo: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The referrers of a manifest through the OCI 1.1 referrers API, or `None` when the
    /// registry has no such API (then the `sha256-<hex>` fallback tag holds them).
    fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<Vec<Descriptor>>>> + Send;
}

/// Either implementation, chosen by the reference's location.
#[derive(Clone)]
pub enum AnyRegistry {
    /// A registry over HTTP(S).
    Http(Arc<HttpRegistry>),
    /// An OCI image layout directory.
    Layout(Arc<LayoutRegistry>),
}

impl AnyRegistry {
    /// Opens the registries of a source and a destination: one handle (one token cache, one
    /// challenge probe) when both live in the same registry or layout.
    pub fn open_pair(source: &ImageRef, dest: &ImageRef, options: &HttpOptions) -> Result<(Self, Self)> {
        let source_registry = Self::open(source, options)?;
        let dest_registry =
            if source.same_registry(dest) { source_registry.clone() } else { Self::open(dest, options)? };
        Ok((source_registry, dest_registry))
    }

    /// Opens the registry or layout a reference points into. A layout directory is created on
    /// first write.
    pub fn open(reference: &ImageRef, options: &HttpOptions) -> Result<Self> {
        Ok(match &reference.location {
            Location::Registry { registry, .. } => {
                Self::Http(Arc::new(HttpRegistry::new(registry, options)?))
            }
            Location::Layout { dir } => Self::Layout(Arc::new(LayoutRegistry::new(dir))),
        })
    }
}

macro_rules! delegate {
    ($self:ident, $r:ident => $call:expr) => {
        match $self {
            AnyRegistry::Http($r) => $call,
            AnyRegistry::Layout($r) => $call,
        }
    };
}

impl Registry for AnyRegistry {
    fn name(&self) -> String {
        delegate!(self, r => r.name())
    }
    fn retry_policy(&self) -> crate::RetryPolicy {
        delegate!(self, r => r.retry_policy())
    }
    async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        delegate!(self, r => r.head_manifest(repo, reference).await)
    }
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Option<Fetched>> {
        delegate!(self, r => r.get_manifest(repo, reference).await)
    }
    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> Result<PutOutcome> {
        delegate!(self, r => r.put_manifest(repo, reference, manifest, if_match).await)
    }
    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        delegate!(self, r => r.delete_manifest(repo, digest).await)
    }
    fn plan_access(&self, repo: &str, actions: &[&str]) {
        delegate!(self, r => r.plan_access(repo, actions))
    }
    fn knows_referrers_api(&self) -> Option<bool> {
        delegate!(self, r => r.knows_referrers_api())
    }
    fn check_can_delete(&self) -> Result<()> {
        delegate!(self, r => r.check_can_delete())
    }
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        delegate!(self, r => r.delete_tag(repo, tag).await)
    }
    async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool> {
        delegate!(self, r => r.blob_exists(repo, digest).await)
    }
    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<Bytes> {
        delegate!(self, r => r.get_blob(repo, digest).await)
    }
    async fn put_blob(&self, repo: &str, digest: &Digest, data: Bytes) -> Result<()> {
        delegate!(self, r => r.put_blob(repo, digest, data).await)
    }
    async fn open_blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream> {
        delegate!(self, r => r.open_blob(repo, digest).await)
    }
    async fn put_blob_stream(&self, repo: &str, digest: &Digest, size: u64, data: BlobStream) -> Result<()> {
        delegate!(self, r => r.put_blob_stream(repo, digest, size, data).await)
    }
    async fn mount_blob(&self, repo: &str, from_repo: &str, digest: &Digest) -> Result<bool> {
        delegate!(self, r => r.mount_blob(repo, from_repo, digest).await)
    }
    async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        delegate!(self, r => r.list_tags(repo).await)
    }
    async fn referrers(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<Descriptor>>> {
        delegate!(self, r => r.referrers(repo, digest).await)
    }
}
