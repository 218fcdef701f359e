//! Putting tags on a digest with the release safety rules:
//! - a full-version tag never moves to another digest unless forced;
//! - `latest`, `X`, `X.Y` and channel tags never move to a lower version than they hold now
//!   (checked again right before each PUT, so concurrent releases cannot move them backwards).
//!
//! [`decide`] is the pure rule; [`apply_tags`] does the reads, the PUTs and the final check.

use std::cmp::Ordering;

use futures::{StreamExt as _, TryStreamExt as _};
use relkit_core::{Error, Result};
use semver::Version;
use serde::Serialize;

use crate::digest::Digest;
use crate::manifest::{CREATED_ANNOTATION, RawManifest, VERSION_ANNOTATION};
use crate::registry::{PutOutcome, Registry};

/// How a tag may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagRule {
    /// A full release version (`v1.4.0`): set once, moved only with `force`.
    Immutable,
    /// `latest`, `X`, `X.Y`, channel tags: only ever move to an equal or higher version.
    Monotonic,
    /// Anything else (`sha-…`, build tags): set to the digest.
    Mutable,
}

/// One tag to put on the target digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagRequest {
    /// Tag name.
    pub name: String,
    /// How it may move.
    pub rule: TagRule,
}

/// What happens to one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum TagAction {
    /// The tag is new.
    Add,
    /// The tag moves from another digest.
    Move {
        /// Where it points now.
        from: Digest,
    },
    /// The tag already points at the target.
    Keep,
    /// The tag stays where it is because it holds a higher version.
    Hold {
        /// Where it points.
        at: Digest,
        /// Why it stays.
        reason: String,
    },
    /// Moving the tag is refused (immutable without `force`, or unknown version).
    Refuse {
        /// Where it points.
        at: Digest,
        /// Why, and how to proceed.
        reason: String,
    },
}

/// The decision for one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDecision {
    /// Tag name.
    pub tag: String,
    /// Its rule.
    pub rule: TagRule,
    /// What happens.
    #[serde(flatten)]
    pub action: TagAction,
}

impl TagDecision {
    /// True when the decision writes the tag.
    pub fn writes(&self) -> bool {
        matches!(self.action, TagAction::Add | TagAction::Move { .. })
    }
}

/// Where a tag points now, with the version found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTag {
    /// The digest it points at.
    pub digest: Digest,
    /// That image's version, when it declares one.
    pub version: Option<Version>,
}

/// The pure rule: what to do with `request` given where the tag points now.
pub fn decide(
    request: &TagRequest,
    target: &Digest,
    target_version: Option<&Version>,
    current: Option<&CurrentTag>,
    force: bool,
) -> TagDecision {
    let action = match current {
        None => TagAction::Add,
        Some(c) if c.digest == *target => TagAction::Keep,
        Some(c) => match request.rule {
            TagRule::Mutable => TagAction::Move { from: c.digest.clone() },
            TagRule::Immutable if force => TagAction::Move { from: c.digest.clone() },
            TagRule::Immutable => TagAction::Refuse {
                at: c.digest.clone(),
                reason: format!(
                    "release tag `{}` already points at {}; release tags are immutable (pass --force to move it)",
                    request.name, c.digest
                ),
            },
            TagRule::Monotonic => match (target_version, &c.version) {
                (_, None) => TagAction::Move { from: c.digest.clone() },
                (None, Some(held)) => TagAction::Refuse {
                    at: c.digest.clone(),
                    reason: format!(
                        "`{}` holds version {held} but the target declares no version \
                         (org.opencontainers.image.version); pass the version or label the image",
                        request.name
                    ),
                },
                (Some(new), Some(held)) => match new.cmp_precedence(held) {
                    Ordering::Less => TagAction::Hold {
                        at: c.digest.clone(),
                        reason: format!("`{}` holds {held}, higher than {new}", request.name),
                    },
                    _ => TagAction::Move { from: c.digest.clone() },
                },
            },
        },
    };
    TagDecision { tag: request.name.clone(), rule: request.rule, action }
}

/// Parses a version as images label it: SemVer with an optional `v`.
pub fn parse_version(text: &str) -> Option<Version> {
    let t = text.trim();
    Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()
}

/// An image's version: the manifest's `org.opencontainers.image.version` annotation, else the
/// config label of the same name; for an index, the first child that declares one.
pub async fn read_version<R: Registry>(
    registry: &R,
    repo: &str,
    manifest: &RawManifest,
) -> Result<Option<Version>> {
    read_label(registry, repo, manifest, VERSION_ANNOTATION)
        .await
        .map(|v| v.as_deref().and_then(parse_version))
}

/// An image's creation time text (`org.opencontainers.image.created`, else the config's
/// `created`), for retention by age.
pub async fn read_created<R: Registry>(
    registry: &R,
    repo: &str,
    manifest: &RawManifest,
) -> Result<Option<String>> {
    if let Some(created) = read_label(registry, repo, manifest, CREATED_ANNOTATION).await? {
        return Ok(Some(created));
    }
    let view = manifest.view()?;
    let config = match view.config {
        Some(c) => Some(c),
        None => match view.manifests.first() {
            Some(child) => match registry.get_manifest(repo, child.digest.as_str()).await? {
                Some(f) => f.manifest.view()?.config,
                None => None,
            },
            None => None,
        },
    };
    let Some(config) = config else { return Ok(None) };
    let bytes = registry.get_blob(repo, &config.digest).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(value.get("created").and_then(|c| c.as_str()).map(str::to_string))
}

async fn read_label<R: Registry>(
    registry: &R,
    repo: &str,
    manifest: &RawManifest,
    key: &str,
) -> Result<Option<String>> {
    let view = manifest.view()?;
    if let Some(v) = view.annotations.get(key) {
        return Ok(Some(v.clone()));
    }
    if view.config.is_none() {
        // An index: the first of its first children that declares it (read concurrently).
        let children = &view.manifests[..view.manifests.len().min(4)];
        if let Some(v) = children.iter().find_map(|c| c.annotations.get(key)) {
            return Ok(Some(v.clone()));
        }
        let labels: Vec<Option<String>> = futures::stream::iter(children)
            .map(|child| child_label(registry, repo, &child.digest, key))
            .buffered(LOOKUP_CONCURRENCY)
            .try_collect()
            .await?;
        return Ok(labels.into_iter().flatten().next());
    }
    match view.config {
        Some(config) => config_label(registry, repo, &config.digest, &config.media_type, key).await,
        None => Ok(None),
    }
}

async fn child_label<R: Registry>(
    registry: &R,
    repo: &str,
    child: &Digest,
    key: &str,
) -> Result<Option<String>> {
    let Some(fetched) = registry.get_manifest(repo, child.as_str()).await? else { return Ok(None) };
    let view = fetched.manifest.view()?;
    if let Some(v) = view.annotations.get(key) {
        return Ok(Some(v.clone()));
    }
    match view.config {
        Some(config) => config_label(registry, repo, &config.digest, &config.media_type, key).await,
        None => Ok(None),
    }
}

async fn config_label<R: Registry>(
    registry: &R,
    repo: &str,
    digest: &Digest,
    media_type: &str,
    key: &str,
) -> Result<Option<String>> {
    if !media_type.contains("config") && !media_type.contains("container.image") {
        return Ok(None);
    }
    let bytes = registry.get_blob(repo, digest).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(value.pointer("/config/Labels").and_then(|l| l.get(key)).and_then(|v| v.as_str()).map(str::to_string))
}

/// Options for [`apply_tags`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyTagsOptions {
    /// Move immutable tags too.
    pub force: bool,
    /// Decide and report, write nothing.
    pub dry_run: bool,
}

/// The version to enforce for `target`: what the image declares, else the planned version. An
/// image that declares another version than the plan is refused (exit 2).
pub async fn target_version<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    planned: Option<&Version>,
) -> Result<Option<Version>> {
    let declared = read_version(registry, repo, target).await?;
    if let (Some(declared), Some(planned)) = (&declared, planned)
        && declared.cmp_precedence(planned) != Ordering::Equal
    {
        return Err(Error::usage(format!(
            "image {} declares version {declared} but the plan says {planned}; tag the image that was built for {planned}",
            target.digest
        )));
    }
    Ok(declared.or_else(|| planned.cloned()))
}

/// Tag lookups in flight.
const LOOKUP_CONCURRENCY: usize = 8;

/// Decides every tag against where it points now (no writes; the tags are looked up
/// concurrently). A refused tag is an error (exit 2) naming the tag and the fix.
pub async fn plan_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &Digest,
    version: Option<&Version>,
    requests: &[TagRequest],
    force: bool,
) -> Result<Vec<TagDecision>> {
    let current = observe_tags(registry, repo, target, requests).await?;
    decide_tags(target, version, requests, &current, force)
}

/// Where every requested tag points now (concurrent lookups; no decision yet, so callers can
/// look up while they still read the target's version).
pub async fn observe_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &Digest,
    requests: &[TagRequest],
) -> Result<Vec<Option<CurrentTag>>> {
    let found = lookup_tags(registry, repo, requests).await?;
    held_by_tags(registry, repo, target, requests, found).await
}

/// The digest each requested tag points at now (concurrent HEADs). The target need not be
/// known yet, so a caller can look up while it still reads the target; [`held_by_tags`] turns
/// the answers into what [`decide_tags`] needs.
pub async fn lookup_tags<R: Registry>(
    registry: &R,
    repo: &str,
    requests: &[TagRequest],
) -> Result<Vec<Option<Digest>>> {
    futures::stream::iter(requests)
        .map(
            |request| async move { Ok(registry.head_manifest(repo, &request.name).await?.map(|d| d.digest)) },
        )
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

/// The tags [`lookup_tags`] found, with the version each holds where the rule needs it: a
/// monotonic tag on another digest than `target`.
pub async fn held_by_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &Digest,
    requests: &[TagRequest],
    found: Vec<Option<Digest>>,
) -> Result<Vec<Option<CurrentTag>>> {
    futures::stream::iter(requests.iter().zip(found))
        .map(|(request, held)| held_by(registry, repo, request, held, target))
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

/// The decisions for tags observed by [`observe_tags`]; a refused tag is an error (exit 2).
pub fn decide_tags(
    target: &Digest,
    version: Option<&Version>,
    requests: &[TagRequest],
    current: &[Option<CurrentTag>],
    force: bool,
) -> Result<Vec<TagDecision>> {
    let decisions: Vec<TagDecision> = requests
        .iter()
        .zip(current)
        .map(|(request, current)| decide(request, target, version, current.as_ref(), force))
        .collect();
    if let Some(refusal) = decisions.iter().find_map(|d| match &d.action {
        TagAction::Refuse { reason, .. } => Some(reason.clone()),
        _ => None,
    }) {
        return Err(Error::usage(refusal));
    }
    Ok(decisions)
}

/// Where a tag points now. The held version is read only when the rule needs it: a monotonic
/// tag on another digest.
async fn observe<R: Registry>(
    registry: &R,
    repo: &str,
    request: &TagRequest,
    target: &Digest,
) -> Result<Option<CurrentTag>> {
    let held = registry.head_manifest(repo, &request.name).await?.map(|d| d.digest);
    held_by(registry, repo, request, held, target).await
}

/// What a tag found pointing at `held` holds: the version is read only for a monotonic tag on
/// another digest than `target`.
async fn held_by<R: Registry>(
    registry: &R,
    repo: &str,
    request: &TagRequest,
    held: Option<Digest>,
    target: &Digest,
) -> Result<Option<CurrentTag>> {
    let Some(digest) = held else { return Ok(None) };
    if digest == *target || request.rule != TagRule::Monotonic {
        return Ok(Some(CurrentTag { digest, version: None }));
    }
    current_tag(registry, repo, &request.name).await
}

/// Applies `requests` to `target` (already stored in `repo`). Every decision is made before
/// anything is written, so a refused tag leaves the repository untouched. Monotonic tags are
/// re-read right before their PUT. Afterwards every tag is read back.
pub async fn apply_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    requests: &[TagRequest],
    options: ApplyTagsOptions,
) -> Result<Vec<TagDecision>> {
    let decisions = plan_tags(registry, repo, &target.digest, version, requests, options.force).await?;
    if options.dry_run {
        return Ok(decisions);
    }
    apply_planned(registry, repo, target, version, requests, decisions, options.force).await
}

/// Rounds of re-read / re-decide / re-write for one tag before giving up.
const MAX_TAG_ROUNDS: usize = 8;

/// Writes the tags [`plan_tags`] decided to write, safely against other releases writing at the
/// same time:
///
/// - immutable tags first, then mutable ones, monotonic ones last, so a release's version tag is
///   in the repository before it claims `latest`;
/// - every tag that is not plainly mutable is read again (with its `ETag`) right before its PUT,
///   the PUT carries `If-Match` with that `ETag` (a registry that honours it refuses the write
///   when another writer got there first), and the tag is read back; when it changed meanwhile,
///   the decision is made again and the write repeated (a bounded number of rounds);
/// - a release-scoped monotonic tag (`latest`, `X`, `X.Y`) a stable release just set is then
///   settled: when the repository holds a higher stable release of that scope (another release
///   ran at the same time and its write was overwritten), the tag moves on to it.
pub async fn apply_planned<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    requests: &[TagRequest],
    mut decisions: Vec<TagDecision>,
    force: bool,
) -> Result<Vec<TagDecision>> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|i| match requests[*i].rule {
        TagRule::Immutable => 0,
        TagRule::Mutable => 1,
        TagRule::Monotonic => 2,
    });
    for i in order {
        if !decisions[i].writes() {
            continue;
        }
        let write = Write { registry, repo, target, version, force };
        decisions[i] = if requests[i].rule == TagRule::Mutable {
            registry.put_manifest(repo, &requests[i].name, target, None).await?;
            decisions[i].clone()
        } else {
            write.converge(&requests[i]).await?
        };
    }
    settle_release_tags(registry, repo, target, version, requests, &decisions, force).await?;
    verify_tags(registry, repo, target, version, &decisions, force).await?;
    Ok(decisions)
}

/// One target written to tags of one repository.
struct Write<'a, R> {
    registry: &'a R,
    repo: &'a str,
    target: &'a RawManifest,
    version: Option<&'a Version>,
    force: bool,
}

impl<R: Registry> Write<'_, R> {
    /// Re-reads, re-decides and writes `request` until the tag holds the target (or a higher
    /// version another release put there), or the rules say to leave it.
    async fn converge(&self, request: &TagRequest) -> Result<TagDecision> {
        let digest = &self.target.digest;
        for _ in 0..MAX_TAG_ROUNDS {
            let (current, etag) = observe_for_write(self.registry, self.repo, request, digest).await?;
            let decision = decide(request, digest, self.version, current.as_ref(), self.force);
            if let TagAction::Refuse { reason, .. } = &decision.action {
                return Err(Error::failed(reason.clone()));
            }
            if !decision.writes() {
                return Ok(decision);
            }
            match self.registry.put_manifest(self.repo, &request.name, self.target, etag.as_deref()).await? {
                PutOutcome::PreconditionFailed => continue,
                PutOutcome::Stored => {}
            }
            let now = observe(self.registry, self.repo, request, digest).await?;
            if holds_target_or_higher(request.rule, now.as_ref(), digest, self.version) {
                return Ok(decision);
            }
        }
        Err(Error::failed(format!(
            "tag `{}` in {} on {} kept changing while {} was written to it; another release is writing the same tags (run releases one at a time with a workflow `concurrency:` group)",
            request.name,
            self.repo,
            self.registry.name(),
            digest
        )))
    }
}

/// Where a tag points now and its `ETag` (for `If-Match`), with the held version when the rule
/// needs it.
async fn observe_for_write<R: Registry>(
    registry: &R,
    repo: &str,
    request: &TagRequest,
    target: &Digest,
) -> Result<(Option<CurrentTag>, Option<String>)> {
    let Some(fetched) = registry.get_manifest(repo, &request.name).await? else { return Ok((None, None)) };
    let digest = fetched.manifest.digest.clone();
    let version = if digest != *target && request.rule == TagRule::Monotonic {
        read_version(registry, repo, &fetched.manifest).await?
    } else {
        None
    };
    Ok((Some(CurrentTag { digest, version }), fetched.etag))
}

/// True when the tag holds the target, or (monotonic) an equal or higher version.
fn holds_target_or_higher(
    rule: TagRule,
    now: Option<&CurrentTag>,
    target: &Digest,
    version: Option<&Version>,
) -> bool {
    match now {
        Some(c) if c.digest == *target => true,
        Some(c) => {
            rule == TagRule::Monotonic
                && matches!((&c.version, version), (Some(h), Some(t)) if h.cmp_precedence(t) != Ordering::Less)
        }
        None => false,
    }
}

/// The stable versions a release-scoped tag follows: `(major, minor)`, `None` meaning any.
pub type ReleaseScope = (Option<u64>, Option<u64>);

/// Which stable versions a release-scoped monotonic tag follows: `latest` all of them, `X` one
/// major line, `X.Y` one minor line. `None` for other tags (channels).
pub fn release_scope(tag: &str) -> Option<ReleaseScope> {
    if tag == "latest" {
        return Some((None, None));
    }
    let mut parts = tag.split('.');
    let major = parts.next()?.parse::<u64>().ok()?;
    let minor = match parts.next() {
        None => None,
        Some(m) => Some(m.parse::<u64>().ok()?),
    };
    if parts.next().is_some() || tag.starts_with('0') && tag.len() > 1 && !tag.starts_with("0.") {
        return None;
    }
    Some((Some(major), minor))
}

/// The highest stable release tag of the repository within `scope`, with its version.
pub fn highest_in_scope(tags: &[String], scope: ReleaseScope) -> Option<(&str, Version)> {
    tags.iter()
        .filter_map(|t| parse_version(t).map(|v| (t.as_str(), v)))
        .filter(|(_, v)| v.pre.is_empty())
        .filter(|(_, v)| scope.0.is_none_or(|m| v.major == m) && scope.1.is_none_or(|m| v.minor == m))
        .max_by(|a, b| a.1.cmp_precedence(&b.1))
}

/// After a stable release set `latest`/`X`/`X.Y`: if a higher stable release of the tag's scope
/// is in the repository (its own write of the tag was overwritten by this one), the tag moves
/// on to that release. Repeated while the repository keeps changing (bounded).
async fn settle_release_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    requests: &[TagRequest],
    decisions: &[TagDecision],
    force: bool,
) -> Result<()> {
    let Some(version) = version.filter(|v| v.pre.is_empty()) else { return Ok(()) };
    let scoped: Vec<(&TagRequest, ReleaseScope)> = requests
        .iter()
        .zip(decisions)
        .filter(|(r, d)| {
            r.rule == TagRule::Monotonic && matches!(d.action, TagAction::Add | TagAction::Move { .. })
        })
        .filter_map(|(r, _)| release_scope(&r.name).map(|s| (r, s)))
        .collect();
    if scoped.is_empty() {
        return Ok(());
    }
    for _ in 0..MAX_TAG_ROUNDS {
        let tags = registry.list_tags(repo).await?;
        let mut moved = false;
        for (request, scope) in &scoped {
            let Some((name, highest)) = highest_in_scope(&tags, *scope) else { continue };
            if highest.cmp_precedence(version) != Ordering::Greater {
                continue;
            }
            let Some(fetched) = registry.get_manifest(repo, name).await? else { continue };
            if fetched.manifest.digest == target.digest {
                continue;
            }
            let write = Write { registry, repo, target: &fetched.manifest, version: Some(&highest), force };
            let decision = write.converge(request).await?;
            moved |= decision.writes();
        }
        if !moved {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads every immutable and monotonic tag back: it must point at the target, or (monotonic
/// tags) at an equal or higher version another release put there meanwhile. A monotonic tag that another release moved back
/// below the target since it was written is written again (the same bounded rounds).
async fn verify_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    decisions: &[TagDecision],
    force: bool,
) -> Result<()> {
    // A mutable tag is confirmed by its PUT (the registry's `Docker-Content-Digest` is checked
    // there) and may legitimately move again at any time: reading it back proves nothing.
    let checked = decisions.iter().filter(|d| {
        d.rule != TagRule::Mutable
            && matches!(d.action, TagAction::Add | TagAction::Move { .. } | TagAction::Keep)
    });
    let write = Write { registry, repo, target, version, force };
    futures::stream::iter(checked)
        .map(|decision| verify_tag(&write, decision))
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn verify_tag<R: Registry>(write: &Write<'_, R>, decision: &TagDecision) -> Result<()> {
    let (registry, repo, target) = (write.registry, write.repo, write.target);
    let request = TagRequest { name: decision.tag.clone(), rule: decision.rule };
    let mut now = observe(registry, repo, &request, &target.digest).await?;
    if !holds_target_or_higher(decision.rule, now.as_ref(), &target.digest, write.version)
        && decision.rule == TagRule::Monotonic
    {
        write.converge(&request).await?;
        now = observe(registry, repo, &request, &target.digest).await?;
    }
    if holds_target_or_higher(decision.rule, now.as_ref(), &target.digest, write.version) {
        return Ok(());
    }
    Err(Error::failed(format!(
        "tag `{}` in {repo} on {} points at {} after the push, expected {}",
        decision.tag,
        registry.name(),
        now.map_or_else(|| "nothing".to_string(), |c| c.digest.to_string()),
        target.digest
    )))
}

/// Where `tag` points now and which version that image declares.
pub async fn current_tag<R: Registry>(registry: &R, repo: &str, tag: &str) -> Result<Option<CurrentTag>> {
    let Some(fetched) = registry.get_manifest(repo, tag).await? else { return Ok(None) };
    let version = read_version(registry, repo, &fetched.manifest).await?;
    Ok(Some(CurrentTag { digest: fetched.manifest.digest, version }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn decision_table() {
        let target = d("new");
        let other = d("old");
        let held = |ver: Option<&str>| CurrentTag { digest: other.clone(), version: ver.map(v) };
        let same = CurrentTag { digest: target.clone(), version: Some(v("1.4.0")) };
        // (rule, target version, current, force, expected action kind)
        type Case<'a> = (TagRule, Option<&'a str>, Option<CurrentTag>, bool, &'a str);
        let cases: Vec<Case> = vec![
            (TagRule::Immutable, Some("1.4.0"), None, false, "add"),
            (TagRule::Immutable, Some("1.4.0"), Some(same.clone()), false, "keep"),
            (TagRule::Immutable, Some("1.4.0"), Some(held(Some("1.4.0"))), false, "refuse"),
            (TagRule::Immutable, Some("1.4.0"), Some(held(Some("1.4.0"))), true, "move"),
            (TagRule::Monotonic, Some("1.4.0"), Some(held(Some("1.3.9"))), false, "move"),
            (TagRule::Monotonic, Some("1.4.0"), Some(held(Some("1.4.0"))), false, "move"),
            (TagRule::Monotonic, Some("1.9.1"), Some(held(Some("2.0.0"))), false, "hold"),
            (TagRule::Monotonic, Some("2.0.0-rc.10"), Some(held(Some("2.0.0-rc.9"))), false, "move"),
            (TagRule::Monotonic, Some("2.0.0-rc.1"), Some(held(Some("2.0.0"))), true, "hold"),
            (TagRule::Monotonic, Some("1.0.0"), Some(held(None)), false, "move"),
            (TagRule::Monotonic, None, Some(held(Some("1.0.0"))), false, "refuse"),
            (TagRule::Mutable, None, Some(held(Some("9.9.9"))), false, "move"),
        ];
        for (rule, tv, current, force, expected) in cases {
            let req = TagRequest { name: "t".into(), rule };
            let decision = decide(&req, &target, tv.map(v).as_ref(), current.as_ref(), force);
            let kind = match decision.action {
                TagAction::Add => "add",
                TagAction::Move { .. } => "move",
                TagAction::Keep => "keep",
                TagAction::Hold { .. } => "hold",
                TagAction::Refuse { .. } => "refuse",
            };
            assert_eq!(kind, expected, "{rule:?} {tv:?} {current:?} force={force}");
        }
    }

    #[test]
    fn release_scopes() {
        for (tag, scope) in [
            ("latest", Some((None, None))),
            ("2", Some((Some(2), None))),
            ("1.9", Some((Some(1), Some(9)))),
            ("0.4", Some((Some(0), Some(4)))),
            ("1.9.1", None),
            ("testing", None),
            ("01", None),
            ("v2", None),
        ] {
            assert_eq!(release_scope(tag), scope, "{tag}");
        }
        let tags: Vec<String> = ["v1.9.1", "v2.0.0", "2.1.0-rc.1", "v1.10.0", "latest", "2"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let name = |scope| highest_in_scope(&tags, scope).map(|(n, _)| n);
        assert_eq!(name((None, None)), Some("v2.0.0"));
        assert_eq!(name((Some(1), None)), Some("v1.10.0"));
        assert_eq!(name((Some(1), Some(9))), Some("v1.9.1"));
        assert_eq!(name((Some(3), None)), None);
    }

    #[test]
    fn versions_accept_an_optional_v() {
        assert_eq!(parse_version("v1.2.3"), Some(v("1.2.3")));
        assert_eq!(parse_version("1.2.3-rc.1"), Some(v("1.2.3-rc.1")));
        assert_eq!(parse_version("1.2"), None);
    }
}
