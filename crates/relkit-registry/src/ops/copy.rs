//! Copying an image by digest between repositories or registries, in the order that never
//! exposes a manifest before its content: blobs, then child manifests, then the root.

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};
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

/// Copies a tree whose root the destination lacks (the caller checked): everything under the
/// root (see [`copy_children`]), then the root.
pub async fn copy_missing_tree<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    tree: &ImageTree,
    same_registry: bool,
    concurrency: usize,
) -> Result<CopyStats> {
    let mut stats = copy_children(source, dest, tree, same_registry, concurrency).await?;
    let root = tree.root();
    dest.registry.put_manifest(dest.repo, root.digest.as_str(), root, None).await?;
    stats.manifests_pushed += 1;
    Ok(stats)
}

/// Copies everything a tree's root needs, but not the root itself (a caller that writes a tag
/// next stores the root with that write): every blob, each image manifest as soon as its own
/// blobs are there (the images of an index are independent, so their blobs and manifests go
/// out together), then the nested indexes, children first. Each blob is copied once however
/// many manifests share it.
pub async fn copy_children<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    tree: &ImageTree,
    same_registry: bool,
    concurrency: usize,
) -> Result<CopyStats> {
    let root = tree.root();
    // Mounts move no bytes: many at once. Transfers stay within `concurrency`.
    let in_flight = if same_registry { concurrency.max(MOUNT_CONCURRENCY) } else { concurrency.max(1) };
    let requests = tokio::sync::Semaphore::new(in_flight);
    let transfers = tokio::sync::Semaphore::new(concurrency.max(1));
    let copied: BTreeMap<&Digest, (&Descriptor, tokio::sync::OnceCell<BlobOutcome>)> =
        tree.blobs.iter().map(|b| (&b.digest, (b, tokio::sync::OnceCell::new()))).collect();
    let copy_blobs = |digests: Vec<Digest>| {
        let copied = &copied;
        let (requests, transfers) = (&requests, &transfers);
        futures::future::try_join_all(digests.into_iter().map(move |digest| async move {
            let (blob, cell) = &copied[&digest];
            cell.get_or_try_init(|| async {
                let _slot = requests.acquire().await.expect("the request semaphore is never closed");
                copy_blob(source, dest, blob, same_registry, transfers).await
            })
            .await
            .map(|_| ())
        }))
    };
    let (images, indexes): (Vec<&RawManifest>, Vec<&RawManifest>) = tree
        .manifests
        .iter()
        .filter(|m| m.digest != root.digest)
        .partition(|m| m.view().is_ok_and(|v| !v.is_index(&m.media_type)));
    let push_images = futures::stream::iter(images)
        .map(|m| async {
            copy_blobs(m.view()?.blobs().map(|b| b.digest.clone()).collect()).await?;
            dest.registry.put_manifest(dest.repo, m.digest.as_str(), m, None).await
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<_>>();
    // Blobs of no image manifest (those of the root image itself) go out meanwhile.
    let (pushed, _) =
        futures::try_join!(push_images, copy_blobs(tree.blobs.iter().map(|b| b.digest.clone()).collect()))?;
    let mut stats = CopyStats { manifests_pushed: pushed.len(), ..CopyStats::default() };
    for outcome in copied.values().filter_map(|(_, c)| c.get()) {
        match outcome {
            BlobOutcome::Present => stats.blobs_present += 1,
            BlobOutcome::Mounted => stats.blobs_mounted += 1,
            BlobOutcome::Uploaded(bytes) => {
                stats.blobs_uploaded += 1;
                stats.bytes_uploaded += bytes;
            }
        }
    }
    for m in indexes {
        dest.registry.put_manifest(dest.repo, m.digest.as_str(), m, None).await?;
        stats.manifests_pushed += 1;
    }
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
