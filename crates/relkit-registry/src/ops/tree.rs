//! The manifests and blobs that make up one image: an index, its children (recursively) and
//! every config and layer blob.

use std::collections::BTreeSet;

use relkit_core::{Error, Result};

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::registry::Registry;

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
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let mut seen_blobs = BTreeSet::new();
    let mut seen_manifests = BTreeSet::new();
    // Depth-first with an explicit stack: (digest, children already expanded).
    let mut stack = vec![(digest.clone(), None::<RawManifest>)];
    while let Some((d, expanded)) = stack.pop() {
        if let Some(manifest) = expanded {
            if seen_manifests.insert(manifest.digest.clone()) {
                manifests.push(manifest);
            }
            continue;
        }
        if seen_manifests.contains(&d) {
            continue;
        }
        let fetched = registry.get_manifest(repo, d.as_str()).await?.ok_or_else(|| {
            Error::failed(format!(
                "manifest {d} is missing from {repo} on {}; the image is incomplete",
                registry.name()
            ))
        })?;
        let view = fetched.manifest.view()?;
        for blob in view.blobs() {
            if seen_blobs.insert(blob.digest.clone()) {
                blobs.push(blob.clone());
            }
        }
        stack.push((d, Some(fetched.manifest)));
        for child in view.manifests.iter().rev() {
            stack.push((child.digest.clone(), None));
        }
    }
    Ok(ImageTree { manifests, blobs })
}
