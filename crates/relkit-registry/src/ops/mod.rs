//! Operations on images by digest, built on [`crate::Registry`]: the pure decisions (which tag
//! moves, what retention keeps) are separate functions; the I/O follows a fixed safe order.

pub mod copy;
pub mod promote;
pub mod prune;
pub mod referrers;
pub mod tags;
pub mod tree;

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};
use relkit_core::{Error, Result};

use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::registry::Registry;

/// Resolves a reference to the digest of its manifest (the digest itself when pinned, after
/// checking it exists). This is what lint's `--fix` pins references to.
pub async fn resolve_digest<R: Registry>(registry: &R, reference: &ImageRef) -> Result<Digest> {
    let wanted = reference.manifest_reference();
    let descriptor = registry
        .head_manifest(reference.repository(), &wanted)
        .await
        .map_err(|e| e.context(format!("cannot resolve {reference}")))?;
    match descriptor {
        Some(d) => Ok(d.digest),
        None => Err(Error::failed(format!(
            "{reference} does not exist on {} (no manifest for `{wanted}`); check the name, tag or digest",
            registry.name()
        ))),
    }
}

/// Tag lookups in flight.
const LOOKUP_CONCURRENCY: usize = 8;

/// Where each of `names` points (concurrent HEADs); tags that vanished meanwhile are left out.
pub async fn resolve_tags<R: Registry>(
    registry: &R,
    repo: &str,
    names: &[String],
) -> Result<BTreeMap<String, Digest>> {
    let found: Vec<Option<(String, Digest)>> = futures::stream::iter(names)
        .map(|name| async move {
            Ok::<_, Error>(registry.head_manifest(repo, name).await?.map(|d| (name.clone(), d.digest)))
        })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}
