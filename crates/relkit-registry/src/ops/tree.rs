//! The manifests and blobs that make up one image: an index, its children (recursively) and
//! every config and layer blob.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt as _, TryStreamExt as _};
use relkit_core::{Error, Result};
use tokio::sync::{OnceCell, Semaphore};

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::registry::Registry;

/// Manifest reads in flight while loading a tree.
const READ_CONCURRENCY: usize = 8;

/// An image's full content, manifests ordered children first so that pushing in this order
/// never stores a manifest before what it points at.
#[derive(Debug, Clone)]
pub struct ImageTree {
    /// Every manifest, children before parents; the last one is the root.
    pub manifests: Vec<RawManifest>,
    /// Every blob (config and layers), without duplicates.
    pub blobs: Vec<Descriptor>,
}

impl ImageTree {
    /// The root manifest.
    pub fn root(&self) -> &RawManifest {
        self.manifests.last().expect("a tree always holds its root")
    }

    /// Digests of every manifest in the tree.
    pub fn manifest_digests(&self) -> impl Iterator<Item = &Digest> {
        self.manifests.iter().map(|m| &m.digest)
    }
}

/// Reads the tree rooted at `digest` from `repo`.
pub async fn load<R: Registry>(registry: &R, repo: &str, digest: &Digest) -> Result<ImageTree> {
    let root = read(registry, repo, digest).await?;
    load_from(registry, repo, root).await
}

/// The manifest reads of one repository, shared by everything that walks the same image at
/// once (the tree loader and a copy that starts on each child as soon as it is read): each
/// manifest is read once, by whoever asks first, and every asker gets it when that read
/// answers. At most [`READ_CONCURRENCY`] reads are in flight.
pub struct Reads<'a, R> {
    registry: &'a R,
    repo: &'a str,
    cells: Mutex<BTreeMap<Digest, Arc<OnceCell<RawManifest>>>>,
    slots: Semaphore,
}

impl<'a, R: Registry> Reads<'a, R> {
    /// Nothing read yet.
    pub fn new(registry: &'a R, repo: &'a str) -> Self {
        Self::with(registry, repo, [])
    }

    /// With `manifests` already read (a loaded tree).
    pub fn with(registry: &'a R, repo: &'a str, manifests: impl IntoIterator<Item = RawManifest>) -> Self {
        let cells = manifests
            .into_iter()
            .map(|m| (m.digest.clone(), Arc::new(OnceCell::new_with(Some(m)))))
            .collect();
        Self { registry, repo, cells: Mutex::new(cells), slots: Semaphore::new(READ_CONCURRENCY) }
    }

    /// The manifest `digest` (a missing one is an error: the image is incomplete).
    pub async fn get(&self, digest: &Digest) -> Result<RawManifest> {
        let cell = self.cells.lock().expect("manifest reads lock").entry(digest.clone()).or_default().clone();
        let manifest = cell
            .get_or_try_init(|| async {
                let _slot = self.slots.acquire().await.expect("the read semaphore is never closed");
                read(self.registry, self.repo, digest).await
            })
            .await?;
        Ok(manifest.clone())
    }
}

/// Reads the rest of the tree under an already read root. The children of each level are read
/// concurrently.
pub async fn load_from<R: Registry>(registry: &R, repo: &str, root: RawManifest) -> Result<ImageTree> {
    load_with(&Reads::new(registry, repo), root).await
}

/// [`load_from`] through shared [`Reads`].
pub async fn load_with<R: Registry>(reads: &Reads<'_, R>, root: RawManifest) -> Result<ImageTree> {
    let mut children_of: BTreeMap<Digest, Vec<Digest>> = BTreeMap::new();
    let mut read_so_far: BTreeMap<Digest, RawManifest> = BTreeMap::new();
    let root_digest = root.digest.clone();
    let mut level = vec![root];
    while !level.is_empty() {
        let mut next = Vec::new();
        for manifest in &level {
            let children: Vec<Digest> = manifest.view()?.manifests.into_iter().map(|d| d.digest).collect();
            for child in &children {
                if !read_so_far.contains_key(child) && level.iter().all(|m| m.digest != *child) {
                    next.push(child.clone());
                }
            }
            children_of.insert(manifest.digest.clone(), children);
        }
        for manifest in level {
            read_so_far.insert(manifest.digest.clone(), manifest);
        }
        next.sort();
        next.dedup();
        level = futures::stream::iter(next.iter())
            .map(|d| reads.get(d))
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
    }
    // Post-order from the root: every child before its parents, the root last.
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    let mut stack = vec![(root_digest, false)];
    while let Some((d, expanded)) = stack.pop() {
        if placed.contains(&d) {
            continue;
        }
        if expanded {
            placed.insert(d.clone());
            order.push(d);
            continue;
        }
        stack.push((d.clone(), true));
        for child in children_of.get(&d).into_iter().flatten().rev() {
            if !placed.contains(child) {
                stack.push((child.clone(), false));
            }
        }
    }
    let mut manifests = Vec::with_capacity(order.len());
    let mut blobs = Vec::new();
    let mut seen_blobs = BTreeSet::new();
    for d in order {
        let manifest = read_so_far.remove(&d).expect("every placed manifest was read");
        for blob in manifest.view()?.blobs() {
            if seen_blobs.insert(blob.digest.clone()) {
                blobs.push(blob.clone());
            }
        }
        manifests.push(manifest);
    }
    Ok(ImageTree { manifests, blobs })
}

async fn read<R: Registry>(registry: &R, repo: &str, d: &Digest) -> Result<RawManifest> {
    let fetched = registry.get_manifest(repo, d.as_str()).await?.ok_or_else(|| {
        Error::failed(format!(
            "manifest {d} is missing from {repo} on {}; the image is incomplete",
            registry.name()
        ))
    })?;
    Ok(fetched.manifest)
}
