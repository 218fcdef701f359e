//! Copying an image by digest between repositories or registries, in the order that never
//! exposes a manifest before its content: blobs, then child manifests, then the root.

use futures::{StreamExt as _, TryFutureExt as _, TryStreamExt as _};
use relkit_core::Result;
use serde::Serialize;

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::ops::tree::{self, ImageTree};
use crate::registry::Registry;

/// Default number of blob transfers in flight.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Cross-repository mounts in flight (uploads after a declined mount still wait for one of the
/// `concurrency` transfer slots).
const MOUNT_CONCURRENCY: usize = 8;

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyStats {
    /// Blobs already present at the destination.
    pub blobs_present: usize,
    /// Blobs mounted from the source repository (no bytes moved).
    pub blobs_mounted: usize,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Manifests pushed (none when the destination held the image already).
    pub manifests_pushed: usize,
}

impl CopyStats {
    /// Adds another copy's counts.
    pub fn add(&mut self, other: &CopyStats) {
        self.blobs_present += other.blobs_present;
        self.blobs_mounted += other.blobs_mounted;
        self.blobs_uploaded += other.blobs_uploaded;
        self.bytes_uploaded += other.bytes_uploaded;
        self.manifests_pushed += other.manifests_pushed;
    }
}

/// Where an image goes.
pub struct Endpoint<'a, R> {
    /// The registry.
    pub registry: &'a R,
    /// The repository on it.
    pub repo: &'a str,
}

/// Copies the image `digest` (a manifest or an index with every child) from `source` to
/// `dest`. `same_registry` allows cross-repository mounts. Returns the root manifest.
pub async fn copy_image<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    digest: &Digest,
    same_registry: bool,
    concurrency: usize,
) -> Result<(RawManifest, CopyStats)> {
    let tree = tree::load(source.registry, source.repo, digest).await?;
    let stats = copy_tree(source, dest, &tree, same_registry, concurrency).await?;
    Ok((tree.root().clone(), stats))
}

/// Copies a loaded tree (see [`copy_image`]). A destination that already holds the root holds
/// everything under it (copies store the root last), so that case costs one request.
pub async fn copy_tree<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    tree: &ImageTree,
    same_registry: bool,
    concurrency: usize,
) -> Result<CopyStats> {
    if same_registry && source.repo == dest.repo {
        return Ok(CopyStats::default());
    }
    if dest.registry.head_manifest(dest.repo, tree.root().digest.as_str()).await?.is_some() {
        return Ok(CopyStats::default());
    }
    copy_missing_tree(source, dest, tree, same_registry, concurrency).await
}

/// Copies a tree whose root the destination lacks (the caller checked): blobs, then image
/// manifests, then indexes, the root last.
pub async fn copy_missing_tree<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    tree: &ImageTree,
    same_registry: bool,
    concurrency: usize,
) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    let root = tree.root();
    // Mounts move no bytes: many at once. Transfers stay within `concurrency`.
    let in_flight = if same_registry { concurrency.max(MOUNT_CONCURRENCY) } else { concurrency.max(1) };
    let transfers = tokio::sync::Semaphore::new(concurrency.max(1));
    let outcomes: Vec<BlobOutcome> = futures::stream::iter(tree.blobs.iter())
        .map(|blob| copy_blob(source, dest, blob, same_registry, &transfers))
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    for outcome in outcomes {
        match outcome {
            BlobOutcome::Present => stats.blobs_present += 1,
            BlobOutcome::Mounted => stats.blobs_mounted += 1,
            BlobOutcome::Uploaded(bytes) => {
                stats.blobs_uploaded += 1;
                stats.bytes_uploaded += bytes;
            }
        }
    }
    // Image manifests need only blobs: push them together. Indexes follow one by one, children
    // first, and the root last.
    let (images, indexes): (Vec<&RawManifest>, Vec<&RawManifest>) =
        tree.manifests.iter().partition(|m| m.view().is_ok_and(|v| !v.is_index(&m.media_type)));
    let pushed: Vec<()> = futures::stream::iter(images.iter().filter(|m| m.digest != root.digest))
        .map(|m| dest.registry.put_manifest(dest.repo, m.digest.as_str(), m, None).map_ok(|_| ()))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    stats.manifests_pushed += pushed.len();
    for m in indexes.iter().filter(|m| m.digest != root.digest) {
        dest.registry.put_manifest(dest.repo, m.digest.as_str(), m, None).await?;
        stats.manifests_pushed += 1;
    }
    dest.registry.put_manifest(dest.repo, root.digest.as_str(), root, None).await?;
    stats.manifests_pushed += 1;
    Ok(stats)
}

enum BlobOutcome {
    Present,
    Mounted,
    Uploaded(u64),
}

/// Retries of streaming one blob across registries (each opens the source again).
const STREAM_RETRIES: usize = 2;

async fn copy_blob<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    blob: &Descriptor,
    same_registry: bool,
    transfers: &tokio::sync::Semaphore,
) -> Result<BlobOutcome> {
    // Within one registry the mount answers 201 whether or not the blob was there already.
    if same_registry {
        if dest.registry.mount_blob(dest.repo, source.repo, &blob.digest).await? {
            return Ok(BlobOutcome::Mounted);
        }
    } else if dest.registry.blob_exists(dest.repo, &blob.digest).await? {
        return Ok(BlobOutcome::Present);
    }
    let _slot = transfers.acquire().await.expect("the transfer semaphore is never closed");
    dest.registry
        .retry_policy()
        .run_operation(STREAM_RETRIES, || async {
            let data = source.registry.open_blob(source.repo, &blob.digest).await?;
            dest.registry.put_blob_stream(dest.repo, &blob.digest, blob.size, data).await
        })
        .await
        .map(|()| BlobOutcome::Uploaded(blob.size))
        .map_err(|e| {
            e.context(format!(
                "copy blob {} from {} to {}",
                blob.digest,
                source.registry.name(),
                dest.registry.name()
            ))
        })
}
