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
use crate::registry::Registry;

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
    futures::stream::iter(requests)
        .map(|request| observe(registry, repo, request, target))
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
    let Some(held) = registry.head_manifest(repo, &request.name).await? else { return Ok(None) };
    if held.digest == *target || request.rule != TagRule::Monotonic {
        return Ok(Some(CurrentTag { digest: held.digest, version: None }));
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

/// Writes the tags [`plan_tags`] decided to write. Tags that are not plainly mutable are looked
/// up again right before their PUT (another release may have moved them meanwhile); then every
/// tag is read back.
pub async fn apply_planned<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    requests: &[TagRequest],
    mut decisions: Vec<TagDecision>,
    force: bool,
) -> Result<Vec<TagDecision>> {
    for (request, decision) in requests.iter().zip(decisions.iter_mut()) {
        if !decision.writes() {
            continue;
        }
        if request.rule != TagRule::Mutable {
            let current = observe(registry, repo, request, &target.digest).await?;
            *decision = decide(request, &target.digest, version, current.as_ref(), force);
            if let TagAction::Refuse { reason, .. } = &decision.action {
                return Err(Error::failed(reason.clone()));
            }
            if !decision.writes() {
                continue;
            }
        }
        registry.put_manifest(repo, &request.name, target, None).await?;
    }
    verify_tags(registry, repo, target, version, &decisions).await?;
    Ok(decisions)
}

/// Reads every tag back: it must point at the target, or (monotonic tags) at an equal or higher
/// version another release put there meanwhile.
async fn verify_tags<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    decisions: &[TagDecision],
) -> Result<()> {
    let checked = decisions
        .iter()
        .filter(|d| matches!(d.action, TagAction::Add | TagAction::Move { .. } | TagAction::Keep));
    futures::stream::iter(checked)
        .map(|decision| verify_tag(registry, repo, target, version, decision))
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn verify_tag<R: Registry>(
    registry: &R,
    repo: &str,
    target: &RawManifest,
    version: Option<&Version>,
    decision: &TagDecision,
) -> Result<()> {
    let request = TagRequest { name: decision.tag.clone(), rule: decision.rule };
    let now = observe(registry, repo, &request, &target.digest).await?;
    let ok = match &now {
        Some(c) if c.digest == target.digest => true,
        Some(c) => {
            decision.rule == TagRule::Monotonic
                && matches!((&c.version, version), (Some(h), Some(t)) if h.cmp_precedence(t) != Ordering::Less)
        }
        None => false,
    };
    if ok {
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
    fn versions_accept_an_optional_v() {
        assert_eq!(parse_version("v1.2.3"), Some(v("1.2.3")));
        assert_eq!(parse_version("1.2.3-rc.1"), Some(v("1.2.3-rc.1")));
        assert_eq!(parse_version("1.2"), None);
    }
}
