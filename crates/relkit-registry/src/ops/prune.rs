//! Retention and garbage collection. [`select`] is the pure rule deciding which tags go;
//! [`prune`] then walks index → children → referrers from every kept tag and deletes only what
//! nothing kept still needs, parents before children, so no remaining tag ever resolves to an
//! incomplete image. Dry run unless `apply` is set.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use relkit_core::Result;
use semver::Version;
use serde::Serialize;

use crate::digest::Digest;
use crate::ops::tags::{parse_version, read_created};
use crate::ops::tree;
use crate::ops::{referrers, resolve_tags};
use crate::registry::Registry;

/// Retention rules: the `prune:` section of the relkit configuration.
pub use relkit_core::config::PruneConfig as Retention;

/// A tag with what retention needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFacts {
    /// Tag name.
    pub name: String,
    /// When the image was created, if it says.
    pub created: Option<Timestamp>,
}

/// Keep or delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Tag name.
    pub tag: String,
    /// True when the tag goes.
    pub delete: bool,
    /// Why.
    pub reason: String,
}

pub use crate::ops::referrers::attachment_subject;

/// Glob match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The pure retention rule. With `only_matching`, exactly the tags matching that glob go
/// (protected ones excepted); otherwise the retention rules decide. Attachment tags are not
/// judged here.
pub fn select(
    tags: &[TagFacts],
    retention: &Retention,
    only_matching: Option<&str>,
    now: Timestamp,
) -> Vec<Verdict> {
    let verdict = |tag: &str, delete: bool, reason: String| Verdict { tag: tag.to_string(), delete, reason };
    let mut verdicts = Vec::new();
    let mut prereleases: BTreeMap<(u64, u64), Vec<(Version, &str)>> = BTreeMap::new();
    let mut builds: Vec<&TagFacts> = Vec::new();
    let mut releases: Vec<(Version, &str)> = Vec::new();
    for facts in tags {
        let tag = facts.name.as_str();
        if attachment_subject(tag).is_some() {
            continue;
        }
        if let Some(p) = retention.protect.iter().find(|p| glob_match(p, tag)) {
            verdicts.push(verdict(tag, false, format!("protected by `{p}`")));
            continue;
        }
        if let Some(pattern) = only_matching {
            if glob_match(pattern, tag) {
                verdicts.push(verdict(tag, true, format!("matches `{pattern}`")));
            } else {
                verdicts.push(verdict(tag, false, format!("does not match `{pattern}`")));
            }
            continue;
        }
        if let Some(version) = parse_version(tag) {
            if version.pre.is_empty() {
                releases.push((version, tag));
            } else {
                prereleases.entry((version.major, version.minor)).or_default().push((version, tag));
            }
            continue;
        }
        if retention.build_tags.iter().any(|p| glob_match(p, tag)) {
            builds.push(facts);
            continue;
        }
        verdicts.push(verdict(tag, false, "floating or channel tag".to_string()));
    }
    verdicts.extend(release_verdicts(releases, retention));
    for ((major, minor), mut list) in prereleases {
        list.sort_by(|a, b| b.0.cmp_precedence(&a.0));
        for (rank, (_, tag)) in list.into_iter().enumerate() {
            let keep = rank < retention.keep_prereleases;
            let reason = if keep {
                format!("one of the {} newest prereleases of {major}.{minor}", retention.keep_prereleases)
            } else {
                format!("beyond the {} newest prereleases of {major}.{minor}", retention.keep_prereleases)
            };
            verdicts.push(verdict(tag, !keep, reason));
        }
    }
    // Newest first; builds without a creation time count as oldest.
    builds.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
    for (rank, facts) in builds.into_iter().enumerate() {
        let age_days = facts.created.map(|c| (now.as_second() - c.as_second()).max(0) as u64 / 86_400);
        let too_old = matches!((retention.max_build_age_days, age_days), (Some(max), Some(age)) if age > max);
        let (delete, reason) = if too_old {
            (true, format!("build older than {} days", retention.max_build_age_days.unwrap_or_default()))
        } else if rank >= retention.keep_builds {
            (true, format!("beyond the {} newest builds", retention.keep_builds))
        } else {
            (false, format!("one of the {} newest builds", retention.keep_builds))
        };
        verdicts.push(verdict(&facts.name, delete, reason));
    }
    verdicts.sort_by(|a, b| a.tag.cmp(&b.tag));
    verdicts
}

/// The verdicts on stable releases: every one stays (or goes, with `keep_stable` off) unless
/// `keep_releases` or `keep_per_line` is set; then a release stays when either keeps it.
fn release_verdicts(mut releases: Vec<(Version, &str)>, retention: &Retention) -> Vec<Verdict> {
    let verdict = |tag: &str, delete: bool, reason: String| Verdict { tag: tag.to_string(), delete, reason };
    if retention.keep_releases.is_none() && retention.keep_per_line.is_none() {
        return releases
            .into_iter()
            .map(|(_, tag)| {
                let reason = if retention.keep_stable {
                    "stable release"
                } else {
                    "stable release (keep-stable is off)"
                };
                verdict(tag, !retention.keep_stable, reason.to_string())
            })
            .collect();
    }
    releases.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    let mut rank_in_line: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    releases
        .into_iter()
        .enumerate()
        .map(|(rank, (version, tag))| {
            let line = (version.major, version.minor);
            let line_rank = rank_in_line.entry(line).or_default();
            let in_line = *line_rank;
            *line_rank += 1;
            let kept_overall = retention.keep_releases.filter(|n| rank < *n);
            let kept_in_line = retention.keep_per_line.filter(|n| in_line < *n);
            let (major, minor) = line;
            match (kept_overall, kept_in_line) {
                (Some(n), _) => {
                    verdict(tag, false, format!("one of the {n} newest releases (keep-releases)"))
                }
                (None, Some(n)) => verdict(
                    tag,
                    false,
                    format!("one of the {n} newest releases of {major}.{minor} (keep-per-line)"),
                ),
                (None, None) => {
                    let mut beyond = Vec::new();
                    if let Some(n) = retention.keep_releases {
                        beyond.push(format!("the {n} newest releases (keep-releases)"));
                    }
                    if let Some(n) = retention.keep_per_line {
                        beyond.push(format!("the {n} newest releases of {major}.{minor} (keep-per-line)"));
                    }
                    verdict(tag, true, format!("beyond {}", beyond.join(" and ")))
                }
            }
        })
        .collect()
}

/// What a prune did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Per-tag verdicts from the retention rules.
    pub tags: Vec<Verdict>,
    /// Manifests deleted (or to delete), parents before children. With `apply`, each was
    /// confirmed gone by a follow-up HEAD.
    pub manifests: Vec<Digest>,
    /// Tags that should go but whose manifest a kept tag still needs, so the manifest stays.
    /// A dry run lists all of them; with `apply`, those the registry could not delete alone
    /// (CNCF distribution deletes manifests, not tags) and that therefore stay.
    pub kept_shared: Vec<String>,
    /// Tags deleted on their own (their manifest stays for a kept tag).
    pub untagged: Vec<String>,
    /// Attachment tags (`sha256-…`, `.sig`, `.att`, `.sbom`) kept because their subject still
    /// exists, untagged: it may be pulled by digest, and its signatures must stay with it.
    pub kept_attachments: Vec<String>,
    /// True when nothing was deleted.
    pub dry_run: bool,
}

/// Applies retention to `repo` (see the module docs).
pub async fn prune<R: Registry>(
    registry: &R,
    repo: &str,
    retention: &Retention,
    only_matching: Option<&str>,
    apply: bool,
    now: Timestamp,
) -> Result<PruneReport> {
    if apply {
        registry.check_can_delete()?;
        registry.plan_access(repo, &["pull", "push", "delete"]);
    }
    let names = registry.list_tags(repo).await?;
    let digests = resolve_tags(registry, repo, &names).await?;
    let mut facts = Vec::new();
    for (name, digest) in &digests {
        let is_build = attachment_subject(name).is_none()
            && only_matching.is_none()
            && parse_version(name).is_none()
            && retention.build_tags.iter().any(|p| glob_match(p, name));
        let created = if is_build {
            match registry.get_manifest(repo, digest.as_str()).await? {
                Some(f) => {
                    read_created(registry, repo, &f.manifest).await?.and_then(|c| c.parse::<Timestamp>().ok())
                }
                None => None,
            }
        } else {
            None
        };
        facts.push(TagFacts { name: name.clone(), created });
    }
    let verdicts = select(&facts, retention, only_matching, now);
    let doomed_tags: BTreeSet<&str> = verdicts.iter().filter(|v| v.delete).map(|v| v.tag.as_str()).collect();
    let attachments = referrers::AttachmentTags::from_tags(&digests);

    // Everything a kept tag needs: its tree, the referrers and cosign attachments of every
    // manifest in it, and their trees.
    let mut needed = BTreeSet::new();
    for (name, digest) in &digests {
        if attachment_subject(name).is_none() && !doomed_tags.contains(name.as_str()) {
            mark_needed(registry, repo, digest, &attachments, &mut needed).await?;
        }
    }

    let mut report = PruneReport { tags: verdicts.clone(), dry_run: !apply, ..Default::default() };
    let mut doomed_manifests: Vec<Digest> = Vec::new();
    let mut shared = Vec::new();
    for tag in &doomed_tags {
        let digest = &digests[*tag];
        if needed.contains(digest) {
            shared.push(*tag);
            continue;
        }
        collect_doomed(registry, repo, digest, &needed, &attachments, &mut doomed_manifests).await?;
    }
    // Attachment tags whose subject nothing kept reaches: they go only when the subject is gone
    // or goes now. A subject that still exists untagged may be pulled by digest (a deployment
    // pinned by `lint --fix`, a digest that left a channel tag), and admission policies check
    // its signatures.
    for (subject, tags) in attachments.by_subject() {
        if needed.contains(subject) || doomed_manifests.contains(subject) {
            continue;
        }
        if registry.head_manifest(repo, subject.as_str()).await?.is_some() {
            report.kept_attachments.extend(tags.iter().map(|(tag, _)| tag.clone()));
            continue;
        }
        for (_, digest) in tags {
            if !needed.contains(digest) {
                collect_doomed(registry, repo, digest, &needed, &attachments, &mut doomed_manifests).await?;
            }
        }
    }
    if apply {
        recheck_tags(registry, repo, &digests, &doomed_tags, &doomed_manifests).await?;
        for tag in shared {
            if registry.delete_tag(repo, tag).await? {
                report.untagged.push(tag.to_string());
            } else {
                report.kept_shared.push(tag.to_string());
            }
        }
        for digest in &doomed_manifests {
            delete_confirmed(registry, repo, digest, &digests).await?;
        }
    } else {
        report.kept_shared = shared.into_iter().map(str::to_string).collect();
    }
    report.manifests = doomed_manifests;
    Ok(report)
}

/// Right before deleting: every tag is looked up again, and a tag that now points at a
/// manifest about to go (a release re-tagged meanwhile, a new tag) stops the prune before
/// anything is deleted.
async fn recheck_tags<R: Registry>(
    registry: &R,
    repo: &str,
    before: &BTreeMap<String, Digest>,
    doomed_tags: &BTreeSet<&str>,
    doomed_manifests: &[Digest],
) -> Result<()> {
    let names = registry.list_tags(repo).await?;
    let watched: Vec<String> = names
        .into_iter()
        .filter(|n| !doomed_tags.contains(n.as_str()) && attachment_subject(n).is_none())
        .collect();
    let now = resolve_tags(registry, repo, &watched).await?;
    for (tag, digest) in &now {
        if doomed_manifests.contains(digest) {
            let was = before.get(tag).map_or_else(|| "a new tag".to_string(), |d| format!("it was on {d}"));
            return Err(relkit_core::Error::failed(format!(
                "tag `{tag}` now points at {digest}, which this prune was about to delete ({was}); nothing was deleted, run prune again"
            )));
        }
    }
    Ok(())
}

/// Deletes one manifest: first the tags on it (registries such as Google Artifact Registry
/// refuse to delete a tagged manifest), then the manifest, then a HEAD confirms it is gone
/// (ECR answers some DELETEs with 404 and keeps the image).
async fn delete_confirmed<R: Registry>(
    registry: &R,
    repo: &str,
    digest: &Digest,
    tags: &BTreeMap<String, Digest>,
) -> Result<()> {
    for (tag, _) in tags.iter().filter(|(_, d)| *d == digest) {
        registry.delete_tag(repo, tag).await?;
    }
    let answered_deleted = registry.delete_manifest(repo, digest).await?;
    if registry.head_manifest(repo, digest.as_str()).await?.is_some() {
        let answer = if answered_deleted { "accepted the delete" } else { "answered 404 Not Found" };
        return Err(relkit_core::Error::failed(format!(
            "registry {} {answer} for {repo}@{digest} but still serves it; the registry does not delete through the distribution API (ECR: use `aws ecr batch-delete-image`)",
            registry.name()
        )));
    }
    Ok(())
}

/// Marks `digest`, its tree, and everything referring to any manifest in it as needed.
async fn mark_needed<R: Registry>(
    registry: &R,
    repo: &str,
    digest: &Digest,
    attachments: &referrers::AttachmentTags,
    needed: &mut BTreeSet<Digest>,
) -> Result<()> {
    let mut pending = vec![digest.clone()];
    while let Some(d) = pending.pop() {
        if needed.contains(&d) {
            continue;
        }
        let image = tree::load(registry, repo, &d).await?;
        for m in image.manifest_digests() {
            if !needed.insert(m.clone()) {
                continue;
            }
            for r in referrers::list_with(registry, repo, m, attachments).await? {
                pending.push(r.digest);
            }
            for (tag, attachment) in attachments.of(m) {
                if referrers::is_fallback_tag(tag) {
                    needed.insert(attachment.clone());
                } else {
                    pending.push(attachment.clone());
                }
            }
        }
    }
    Ok(())
}

/// Adds to `out`, parents first, every manifest of `digest`'s tree and of its attachments that
/// nothing kept needs.
async fn collect_doomed<R: Registry>(
    registry: &R,
    repo: &str,
    digest: &Digest,
    needed: &BTreeSet<Digest>,
    attachments: &referrers::AttachmentTags,
    out: &mut Vec<Digest>,
) -> Result<()> {
    let mut pending = vec![digest.clone()];
    while let Some(d) = pending.pop() {
        if needed.contains(&d) || out.contains(&d) {
            continue;
        }
        let Ok(image) = tree::load(registry, repo, &d).await else {
            // Already partly gone (an earlier interrupted prune): delete what is left.
            if registry.head_manifest(repo, d.as_str()).await?.is_some() {
                out.push(d);
            }
            continue;
        };
        for m in image.manifests.iter().rev() {
            if needed.contains(&m.digest) || out.contains(&m.digest) {
                continue;
            }
            out.push(m.digest.clone());
            for r in referrers::list_with(registry, repo, &m.digest, attachments).await? {
                pending.push(r.digest);
            }
            pending.extend(attachments.of(&m.digest).map(|(_, a)| a.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(names: &[&str]) -> Vec<TagFacts> {
        names.iter().map(|n| TagFacts { name: n.to_string(), created: None }).collect()
    }

    fn deleted(verdicts: &[Verdict]) -> Vec<&str> {
        verdicts.iter().filter(|v| v.delete).map(|v| v.tag.as_str()).collect()
    }

    #[test]
    fn stable_kept_prereleases_trimmed_per_line() {
        let tags = facts(&[
            "v1.0.0",
            "v1.1.0-rc.1",
            "v1.1.0-rc.2",
            "v1.1.0-rc.10",
            "v1.1.0-rc.9",
            "v2.0.0-beta.1",
            "latest",
            "1",
        ]);
        let retention = Retention { keep_prereleases: 2, ..Default::default() };
        let v = select(&tags, &retention, None, Timestamp::UNIX_EPOCH);
        assert_eq!(deleted(&v), vec!["v1.1.0-rc.1", "v1.1.0-rc.2"]);
    }

    #[test]
    fn release_retention_keeps_the_newest_overall_and_per_line() {
        let tags = facts(&["v1.0.0", "v1.0.1", "v1.1.0", "v1.1.1", "v1.1.2", "v2.0.0", "v2.0.1", "latest"]);
        type Case = (Option<usize>, Option<usize>, &'static [&'static str]);
        let cases: [Case; 4] = [
            (None, None, &[]),
            (Some(3), None, &["v1.0.0", "v1.0.1", "v1.1.0", "v1.1.1"]),
            (None, Some(1), &["v1.0.0", "v1.1.0", "v1.1.1", "v2.0.0"]),
            (Some(2), Some(1), &["v1.0.0", "v1.1.0", "v1.1.1"]),
        ];
        for (keep_releases, keep_per_line, expected) in cases {
            let retention = Retention { keep_releases, keep_per_line, ..Default::default() };
            let v = select(&tags, &retention, None, Timestamp::UNIX_EPOCH);
            assert_eq!(deleted(&v), expected, "{keep_releases:?} {keep_per_line:?}");
        }
        let retention = Retention { keep_releases: Some(2), keep_per_line: Some(1), ..Default::default() };
        let v = select(&tags, &retention, None, Timestamp::UNIX_EPOCH);
        let reason = |t: &str| v.iter().find(|x| x.tag == t).unwrap().reason.clone();
        assert_eq!(reason("v2.0.1"), "one of the 2 newest releases (keep-releases)");
        assert_eq!(reason("v1.1.2"), "one of the 1 newest releases of 1.1 (keep-per-line)");
        assert_eq!(
            reason("v1.1.1"),
            "beyond the 2 newest releases (keep-releases) and the 1 newest releases of 1.1 (keep-per-line)"
        );
    }

    #[test]
    fn builds_beyond_n_or_older_than_d_days_go() {
        let day = 86_400;
        let now = Timestamp::from_second(100 * day).unwrap();
        let at = |n: &str, days_ago: i64| TagFacts {
            name: n.to_string(),
            created: Some(Timestamp::from_second((100 - days_ago) * day).unwrap()),
        };
        let tags = vec![at("sha-a", 1), at("sha-b", 2), at("sha-c", 3), at("next-x", 40), at("keep", 400)];
        let retention = Retention { keep_builds: 2, max_build_age_days: Some(30), ..Default::default() };
        let v = select(&tags, &retention, None, now);
        assert_eq!(deleted(&v), vec!["next-x", "sha-c"]);
    }

    #[test]
    fn match_mode_deletes_exactly_the_matching_tags_and_respects_protect() {
        let tags = facts(&["v0.0.0-test1", "v0.0.0-rc1", "v1.0.0", "latest", "v0.0.0-keep"]);
        let retention = Retention { protect: vec!["*-keep".into()], ..Default::default() };
        let v = select(&tags, &retention, Some("v0.0.0-*"), Timestamp::UNIX_EPOCH);
        assert_eq!(deleted(&v), vec!["v0.0.0-rc1", "v0.0.0-test1"]);
    }

    #[test]
    fn attachment_tags_name_their_subject() {
        let d = Digest::of(b"s");
        assert_eq!(attachment_subject(&d.fallback_tag()), Some(d.clone()));
        assert_eq!(attachment_subject(&d.cosign_tag("sig")), Some(d.clone()));
        assert_eq!(attachment_subject(&format!("{}.other", d.fallback_tag())), None);
        assert_eq!(attachment_subject("sha256-short"), None);
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("sha-*", "sha-abc", true),
            ("sha-*", "sha", false),
            ("v0.0.0-*", "v0.0.0-rc1", true),
            ("*-rc?", "1.0-rc1", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(glob_match(p, t), m, "{p} {t}");
        }
    }
}
