//! Promotion by digest: resolve the source once, copy the image (mounting blobs within one
//! registry), carry along everything that refers to it and to each child (OCI referrers and
//! cosign's legacy `.sig/.att/.sbom` tags), then apply the channel's tags.

use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use relkit_core::{Error, Result};
use semver::Version;
use serde::Serialize;

use std::collections::BTreeSet;

use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::ops::copy::{self, CopyStats, Endpoint};
use crate::ops::referrers::{self, COSIGN_SUFFIXES};
use crate::ops::tags::{self, TagDecision, TagRequest};
use crate::ops::tree;
use crate::reference::ImageRef;
use crate::registry::Registry;

/// What to promote and how.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// Tags to put on the digest at the destination.
    pub tags: Vec<TagRequest>,
    /// The planned version, used when the image declares none.
    pub version: Option<Version>,
    /// Artifact types that must refer to the digest before it may be promoted.
    pub require_referrers: Vec<String>,
    /// Move immutable tags too.
    pub force: bool,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Blob transfers in flight.
    pub concurrency: usize,
}

/// Something that refers to the image and was carried along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The manifest it refers to (the root or a child).
    pub subject: Digest,
    /// `referrer` or the cosign tag suffix (`sig`, `att`, `sbom`).
    pub kind: String,
    /// The attachment's own digest.
    pub digest: Digest,
    /// `copied`, `present`, `kept-existing` (the destination has a different one), or
    /// `stale-skipped` (a fallback index names a referrer that no longer exists).
    pub outcome: String,
}

/// What a promotion did (or would do, in a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct PromoteReport {
    /// The source reference as given.
    pub source: String,
    /// The digest promoted.
    pub digest: Digest,
    /// The destination repository.
    pub destination: String,
    /// Per-tag decisions.
    pub tags: Vec<TagDecision>,
    /// Blob and manifest transfer counts (image and attachments).
    pub copy: CopyStats,
    /// Attachments carried along.
    pub attachments: Vec<Attachment>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// Lookups of attachments in flight.
const PROBE_CONCURRENCY: usize = 8;

/// Promotes `source_ref` into `dest_ref`'s repository (its tag, if any, is ignored: the tags
/// come from `options.tags`).
pub async fn promote<S: Registry, D: Registry>(
    source: &S,
    source_ref: &ImageRef,
    dest: &D,
    dest_ref: &ImageRef,
    options: &PromoteOptions,
) -> Result<PromoteReport> {
    let src = Endpoint { registry: source, repo: source_ref.repository() };
    let dst = Endpoint { registry: dest, repo: dest_ref.repository() };
    if !options.dry_run {
        // One token for the whole promotion: push on the destination, pull on the mount source.
        dest.plan_access(dst.repo, &["pull", "push"]);
        if source_ref.same_registry(dest_ref) {
            dest.plan_access(src.repo, &["pull"]);
        }
    }
    let same_registry = source_ref.same_registry(dest_ref);
    let same_repo = source_ref.same_repository(dest_ref);
    let concurrency = options.concurrency.max(1);
    // Attachments are carried (and so looked up) when the image goes to another repository.
    let carries = !options.dry_run && !same_repo;
    let at_source = |e: Error| e.context(format!("{source_ref}"));
    let context = |e: Error| e.context(format!("promote {source_ref} to {}", dest_ref.repository_name()));

    // What needs no digest goes out with the read that resolves the reference and gives the
    // root manifest: where the destination tags point now and the source's tag list (its
    // attachment tags).
    let source_tags = async {
        if carries { src.registry.list_tags(src.repo).await.map(Some).map_err(context) } else { Ok(None) }
    };
    let (root, found_tags, source_tags) = futures::try_join!(
        read_root(source, source_ref),
        async { tags::lookup_tags(dest, dst.repo, &options.tags).await.map_err(at_source) },
        source_tags,
    )?;
    let digest = root.digest.clone();

    // Then, all at once: the children of the root are read, and each is copied as soon as it
    // is read and the plan allows writing; what refers to the image is looked up once the
    // tree is read. The plan (the version, where the tags stand, whether the destination holds
    // the image) is decided before anything is written: a refusal leaves the destination
    // untouched. The image's version is read only when a rule needs it: a monotonic tag, or a
    // planned version to match.
    let needs_version =
        options.version.is_some() || options.tags.iter().any(|t| t.rule == tags::TagRule::Monotonic);
    let plan = async {
        let version = async {
            if needs_version {
                tags::target_version(source, src.repo, &root, options.version.as_ref()).await
            } else {
                Ok(None)
            }
        };
        let (version, current, dest_has_root) = futures::try_join!(
            version,
            tags::held_by_tags(dest, dst.repo, &digest, &options.tags, found_tags),
            async { Ok(dest.head_manifest(dst.repo, digest.as_str()).await?.is_some()) },
        )
        .map_err(at_source)?;
        if !options.require_referrers.is_empty() {
            check_required(source, src.repo, &digest, &options.require_referrers).await.map_err(at_source)?;
        }
        let decisions = tags::decide_tags(&digest, version.as_ref(), &options.tags, &current, options.force)
            .map_err(context)?;
        Ok::<_, Error>((version, decisions, dest_has_root))
    };
    // Decided once, awaited by the copy of the image and by the copy of its attachments.
    let plan = plan.shared();
    let reads = tree::Reads::new(source, src.repo);
    // One copier for the image and its attachments: a blob they share is copied once.
    let copier = copy::Copier::new(&src, &dst, &reads, same_registry, concurrency);
    // A destination that holds the root holds everything under it (copies store it last).
    let plan_and_copy = async {
        let (version, decisions, dest_has_root) = plan.clone().await?;
        let copies = !options.dry_run && !same_repo && !dest_has_root;
        if copies {
            copier.copy_under(&root).await.map_err(context)?;
        }
        Ok::<_, Error>((version, decisions, copies))
    };
    // What refers to the image is looked up once the tree is read, and copied (all but the
    // manifests that refer, which wait for their subject) while the image is copied.
    let attachments = async {
        let image = tree::load_with(&reads, root.clone()).await.map_err(at_source)?;
        let Some(names) = source_tags else { return Ok(Vec::new()) };
        let found = find_attachments(&src, &image, names).await.map_err(context)?;
        prepare_attachments(&src, &dst, &copier, found, plan.clone()).await.map_err(context)
    };
    let ((version, decisions, copies), prepared) = futures::try_join!(plan_and_copy, attachments)?;

    let mut report = PromoteReport {
        source: source_ref.to_string(),
        digest: digest.clone(),
        destination: dest_ref.repository_name(),
        tags: Vec::new(),
        copy: copier.stats(),
        attachments: Vec::new(),
        dry_run: options.dry_run,
    };
    if options.dry_run {
        report.tags = decisions;
        return Ok(report);
    }
    // The root is stored by the first tag write, or by digest when attachments must refer to
    // it first or no tag is written.
    let put_root = || async {
        dest.put_manifest(dst.repo, digest.as_str(), &root, None).await?;
        Ok::<_, Error>(1)
    };
    let mut root_stored = !copies;
    if copies && !prepared.is_empty() {
        report.copy.manifests_pushed += put_root().await.map_err(context)?;
        root_stored = true;
    }
    store_attachments(&dst, prepared, &mut report).await.map_err(context)?;
    report.tags =
        tags::apply_planned(dest, dst.repo, &root, version.as_ref(), &options.tags, decisions, options.force)
            .await
            .map_err(context)?;
    if report.tags.iter().any(TagDecision::writes) {
        report.copy.manifests_pushed += usize::from(!root_stored);
    } else if !root_stored {
        report.copy.manifests_pushed += put_root().await.map_err(context)?;
    }
    Ok(report)
}

/// The manifest a reference names, read once (a digest reference is verified by the read).
async fn read_root<R: Registry>(registry: &R, reference: &ImageRef) -> Result<RawManifest> {
    let wanted = reference.manifest_reference();
    let fetched = registry
        .get_manifest(reference.repository(), &wanted)
        .await
        .map_err(|e| e.context(format!("cannot resolve {reference}")))?;
    fetched.map(|f| f.manifest).ok_or_else(|| {
        Error::failed(format!(
            "{reference} does not exist on {} (no manifest for `{wanted}`); check the name, tag or digest",
            registry.name()
        ))
    })
}

/// What refers to one manifest of the image at the source.
enum Found {
    Referrers(Digest, Vec<Descriptor>),
    Cosign { subject: Digest, suffix: &'static str, digest: Digest },
}

/// How deep attachments of attachments are followed (a signature on an SBOM of the image is 2).
const MAX_NESTING: usize = 4;

/// Finds what refers to the root and to every child at the source, and what refers to those
/// (a signature on an SBOM), level by level so that a subject is always carried before what
/// refers to it: OCI referrers (API, or the fallback index) and cosign's tags. One tag listing
/// (`source_tags`, listed while the root was read) tells which attachment tags exist (the same
/// [`referrers::AttachmentTags`] prune reads), so a registry without the referrers API costs
/// the listing, one referrers probe and one HEAD per attachment tag found.
async fn find_attachments<S: Registry>(
    src: &Endpoint<'_, S>,
    image: &tree::ImageTree,
    source_tags: Vec<String>,
) -> Result<Vec<Found>> {
    let names: Vec<String> =
        source_tags.into_iter().filter(|t| referrers::attachment_subject(t).is_some()).collect();
    let mut found = Vec::new();
    let mut seen: BTreeSet<Digest> = image.manifest_digests().cloned().collect();
    let mut level: Vec<Digest> = image.manifest_digests().cloned().collect();
    for _ in 0..MAX_NESTING {
        if level.is_empty() {
            break;
        }
        let wanted: Vec<String> = names
            .iter()
            .filter(|t| referrers::attachment_subject(t).is_some_and(|s| level.contains(&s)))
            .cloned()
            .collect();
        let attachments = referrers::AttachmentTags::from_tags(
            &crate::ops::resolve_tags(src.registry, src.repo, &wanted).await?,
        );
        // The first subject alone: its answer tells whether the registry has the referrers API.
        let (first, rest) = level.split_first().expect("checked above");
        let first_list = referrers::list_with(src.registry, src.repo, first, &attachments).await?;
        let rest_lists: Vec<Vec<Descriptor>> = futures::stream::iter(rest.iter())
            .map(|subject| referrers::list_with(src.registry, src.repo, subject, &attachments))
            .buffered(PROBE_CONCURRENCY)
            .try_collect()
            .await?;
        let mut next = Vec::new();
        for (subject, list) in level.iter().zip(std::iter::once(first_list).chain(rest_lists)) {
            next.extend(list.iter().map(|r| r.digest.clone()).filter(|d| seen.insert(d.clone())));
            if !list.is_empty() {
                found.push(Found::Referrers(subject.clone(), list));
            }
        }
        for subject in &level {
            for (tag, digest) in attachments.of(subject) {
                if let Some(suffix) = COSIGN_SUFFIXES.iter().find(|s| tag.ends_with(&format!(".{s}"))) {
                    found.push(Found::Cosign { subject: subject.clone(), suffix, digest: digest.clone() });
                    if seen.insert(digest.clone()) {
                        next.push(digest.clone());
                    }
                }
            }
        }
        level = next;
    }
    Ok(found)
}

/// An attachment found at the source, read and copied but for its own manifest.
struct Prepared {
    attachment: Attachment,
    /// The manifest still to store (with its tag, for cosign's), when it was copied.
    store: Option<(RawManifest, Option<String>)>,
    /// Registered as a referrer of `attachment.subject` once stored (or already present).
    register: Option<RawManifest>,
}

/// Attachments carried in flight.
const CARRY_CONCURRENCY: usize = 4;

/// Once `plan` allows writing, reads what [`find_attachments`] found, checks the destination
/// and copies everything under each attachment's own manifest (its blobs and children), the
/// attachments side by side and alongside the image's copy: what is left for
/// [`store_attachments`] is one write per attachment. The result keeps the order of `found`,
/// subjects before what refers to them.
async fn prepare_attachments<S: Registry, D: Registry, P>(
    src: &Endpoint<'_, S>,
    dst: &Endpoint<'_, D>,
    copier: &copy::Copier<'_, S, D>,
    found: Vec<Found>,
    plan: P,
) -> Result<Vec<Prepared>>
where
    P: std::future::Future<Output = Result<(Option<Version>, Vec<TagDecision>, bool)>>,
{
    let mut items = Vec::new();
    for found in found {
        match found {
            Found::Referrers(subject, list) => {
                items.extend(list.into_iter().map(|r| (subject.clone(), None, r.digest)));
            }
            Found::Cosign { subject, suffix, digest } => items.push((subject, Some(suffix), digest)),
        }
    }
    if items.is_empty() {
        return Ok(Vec::new());
    }
    plan.await?;
    futures::stream::iter(items)
        .map(|(subject, suffix, digest)| {
            async move {
                let kind = suffix.map_or("referrer", |s| s).to_string();
                let attachment = |outcome: &str| Attachment {
                    subject: subject.clone(),
                    kind: kind.clone(),
                    digest: digest.clone(),
                    outcome: outcome.to_string(),
                };
                let Some(suffix) = suffix else {
                    let Some(manifest) =
                        src.registry.get_manifest(src.repo, digest.as_str()).await?.map(|f| f.manifest)
                    else {
                        // A fallback index can name a referrer deleted since: skip it, loudly.
                        crate::http::warn(&format!(
                            "referrer {digest} of {subject} in {} on {} no longer exists; not carried along",
                            src.repo,
                            src.registry.name()
                        ));
                        return Ok(Prepared {
                            attachment: attachment("stale-skipped"),
                            store: None,
                            register: None,
                        });
                    };
                    let present = dst.registry.head_manifest(dst.repo, digest.as_str()).await?.is_some();
                    let mut store = None;
                    if !present {
                        copier.copy_under(&manifest).await?;
                        store = Some((manifest.clone(), None));
                    }
                    let outcome = if present { "present" } else { "copied" };
                    return Ok(Prepared { attachment: attachment(outcome), store, register: Some(manifest) });
                };
                let tag = subject.cosign_tag(suffix);
                let existing = dst.registry.head_manifest(dst.repo, &tag).await?.map(|d| d.digest);
                let (outcome, store) = match existing {
                    Some(d) if d == digest => ("present", None),
                    // A destination signature that differs was made there; never overwrite it.
                    Some(_) => ("kept-existing", None),
                    None => {
                        // The tag write stores the manifest: no separate write by digest.
                        let manifest = copier.reads().get(&digest).await?;
                        copier.copy_under(&manifest).await?;
                        ("copied", Some((manifest, Some(tag))))
                    }
                };
                Ok::<_, Error>(Prepared { attachment: attachment(outcome), store, register: None })
            }
        })
        .buffered(CARRY_CONCURRENCY)
        .try_collect()
        .await
}

/// Stores the attachments [`prepare_attachments`] copied, in their order (a subject before
/// what refers to it), and registers referrers at the destination.
async fn store_attachments<D: Registry>(
    dst: &Endpoint<'_, D>,
    prepared: Vec<Prepared>,
    report: &mut PromoteReport,
) -> Result<()> {
    for Prepared { attachment, store, register } in prepared {
        if let Some((manifest, tag)) = store {
            let reference = tag.unwrap_or_else(|| manifest.digest.to_string());
            dst.registry.put_manifest(dst.repo, &reference, &manifest, None).await?;
            report.copy.manifests_pushed += 1;
        }
        if let Some(referrer) = register {
            referrers::register(dst.registry, dst.repo, &attachment.subject, &referrer).await?;
        }
        report.attachments.push(attachment);
    }
    Ok(())
}

/// Fails unless every required artifact type refers to `digest` (as an OCI referrer, or for
/// cosign signatures as a legacy `.sig` tag whose layers have that media type).
async fn check_required<R: Registry>(
    registry: &R,
    repo: &str,
    digest: &Digest,
    required: &[String],
) -> Result<()> {
    let referrers = referrers::list(registry, repo, digest).await?;
    let mut found: Vec<String> = referrers.iter().filter_map(|r| r.artifact_type.clone()).collect();
    for suffix in COSIGN_SUFFIXES {
        if let Some(f) = registry.get_manifest(repo, &digest.cosign_tag(suffix)).await? {
            let view = f.manifest.view()?;
            found.extend(view.layers.iter().map(|l| l.media_type.clone()));
            found.extend(view.artifact_type);
        }
    }
    for wanted in required {
        if !found.iter().any(|f| f == wanted) {
            return Err(Error::failed(format!(
                "{digest} has no referrer of artifact type `{wanted}` on {}; attach it (sign, sbom-attach) before promoting",
                registry.name()
            )));
        }
    }
    Ok(())
}
