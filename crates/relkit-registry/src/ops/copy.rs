//! Copying an image by digest between repositories or registries, in the order that never
//! exposes a manifest before its content: blobs, then child manifests, then the root.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use relkit_core::Result;
use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore};

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::ops::tree::{self, ImageTree, Reads};
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
/// next stores the root with that write); see [`Copier`].
pub async fn copy_children<S: Registry, D: Registry>(
    source: &Endpoint<'_, S>,
    dest: &Endpoint<'_, D>,
    tree: &ImageTree,
    same_registry: bool,
    concurrency: usize,
) -> Result<CopyStats> {
    let reads = Reads::with(source.registry, source.repo, tree.manifests.iter().cloned());
    let copier = Copier::new(source, dest, &reads, same_registry, concurrency);
    copier.copy_under(tree.root()).await?;
    Ok(copier.stats())
}

/// One copy from a source repository to a destination, which may take several roots (an image
/// and what refers to it): everything under a root is copied, but not the root itself. The
/// manifests under a root are read through `reads` (shared with a tree loader running
/// alongside); each child's copy starts as soon as that child is read, its blobs go out at once,
/// and it is stored as soon as everything it points at is there (an image after its own blobs,
/// a nested index after its children), so the children of an index are copied side by side
/// instead of in rounds. Each blob and each manifest is copied once per copier however many
/// manifests and roots share it: a blob is never mounted again while a manifest that needs it
/// is being stored (distribution rewrites the link of a mounted blob in place, and a manifest
/// PUT reading it meanwhile fails as `DIGEST_INVALID`). Blob requests and manifest writes stay
/// within `concurrency` transfers (more for mounts, which move no bytes).
pub struct Copier<'a, S: Registry, D: Registry> {
    source: &'a Endpoint<'a, S>,
    dest: &'a Endpoint<'a, D>,
    reads: &'a Reads<'a, S>,
    same_registry: bool,
    /// Blob requests and manifest writes in flight.
    requests: Semaphore,
    /// Blob uploads in flight.
    transfers: Semaphore,
    blobs: Mutex<BTreeMap<Digest, Arc<OnceCell<BlobOutcome>>>>,
    manifests: Mutex<BTreeMap<Digest, Arc<OnceCell<()>>>>,
}

impl<'a, S: Registry, D: Registry> Copier<'a, S, D> {
    /// A copier from `source` to `dest` (`same_registry` allows cross-repository mounts).
    pub fn new(
        source: &'a Endpoint<'a, S>,
        dest: &'a Endpoint<'a, D>,
        reads: &'a Reads<'a, S>,
        same_registry: bool,
        concurrency: usize,
    ) -> Self {
        // Mounts move no bytes: many at once. Transfers stay within `concurrency`.
        let in_flight = if same_registry { concurrency.max(MOUNT_CONCURRENCY) } else { concurrency.max(1) };
        Self {
            source,
            dest,
            reads,
            same_registry,
            requests: Semaphore::new(in_flight),
            transfers: Semaphore::new(concurrency.max(1)),
            blobs: Mutex::default(),
            manifests: Mutex::default(),
        }
    }

    /// Copies what `manifest` points at (its blobs and child manifests, all at once), but not
    /// `manifest` itself.
    pub fn copy_under<'s>(&'s self, manifest: &'s RawManifest) -> BoxFuture<'s, Result<()>> {
        Box::pin(async move {
            let view = manifest.view()?;
            let children =
                futures::future::try_join_all(view.manifests.iter().map(|c| self.copy_manifest(&c.digest)));
            let blobs = futures::future::try_join_all(view.blobs().map(|b| self.copy_blob(b)));
            futures::try_join!(children, blobs)?;
            Ok(())
        })
    }

    /// The source's manifest reads this copier goes through.
    pub fn reads(&self) -> &Reads<'a, S> {
        self.reads
    }

    /// What was copied so far.
    pub fn stats(&self) -> CopyStats {
        let mut stats = CopyStats {
            manifests_pushed: self.manifests.lock().expect("copied manifests lock").len(),
            ..CopyStats::default()
        };
        for cell in self.blobs.lock().expect("copied blobs lock").values() {
            match cell.get() {
                Some(BlobOutcome::Present) => stats.blobs_present += 1,
                Some(BlobOutcome::Mounted) => stats.blobs_mounted += 1,
                Some(BlobOutcome::Uploaded(bytes)) => {
                    stats.blobs_uploaded += 1;
                    stats.bytes_uploaded += bytes;
                }
                None => {}
            }
        }
        stats
    }

    /// Reads the child manifest `digest`, copies what it points at, then stores it (once).
    async fn copy_manifest(&self, digest: &Digest) -> Result<()> {
        let cell = once(&self.manifests, digest);
        cell.get_or_try_init(|| async {
            let manifest = self.reads.get(digest).await?;
            self.copy_under(&manifest).await?;
            let _slot = self.requests.acquire().await.expect("the request semaphore is never closed");
            self.dest.registry.put_manifest(self.dest.repo, digest.as_str(), &manifest, None).await?;
            Ok::<_, relkit_core::Error>(())
        })
        .await?;
        Ok(())
    }

    /// Copies one blob (once).
    async fn copy_blob(&self, blob: &Descriptor) -> Result<()> {
        let cell = once(&self.blobs, &blob.digest);
        cell.get_or_try_init(|| async {
            let _slot = self.requests.acquire().await.expect("the request semaphore is never closed");
            copy_blob(self.source, self.dest, blob, self.same_registry, &self.transfers).await
        })
        .await?;
        Ok(())
    }
}

/// The cell of `digest` in `cells`, made on first use.
fn once<T>(cells: &Mutex<BTreeMap<Digest, Arc<OnceCell<T>>>>, digest: &Digest) -> Arc<OnceCell<T>> {
    cells.lock().expect("copy state lock").entry(digest.clone()).or_default().clone()
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
    transfers: &Semaphore,
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
