//! `tag-policy plan`: the image tags to push for a resolved version, and the OCI labels and
//! annotations that describe it.
//!
//! The default policy: a stable release that is the highest overall gets `vX.Y.Z`, `X.Y`, `X`,
//! `latest` and `sha-<7>`; a stable release that is not the highest gets `X` only if it is the
//! highest of its major line and `X.Y` only if it is the highest of its minor line, never
//! `latest`; a prerelease gets its full version, its channel tag (when it is the highest) and
//! the sha tag; an untagged build of the default branch gets `next` and the sha tag.

use std::collections::BTreeMap;

use relkit_core::config::PlanConfig;
use relkit_core::resolved::{ResolvedVersion, Source};
use relkit_core::tagset::{Scope, TagSet};
use relkit_core::{Error, Result};
use serde::Serialize;

/// Why a tag is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    /// The full version (`v1.2.3`): immutable once pushed.
    Version,
    /// `MAJOR.MINOR`, floating.
    MajorMinor,
    /// `MAJOR`, floating.
    Major,
    /// `latest`, floating.
    Latest,
    /// A channel tag (`candidate`, `testing`, `next`, `stable`), floating.
    Channel,
    /// `sha-<short>`: immutable.
    Sha,
    /// Produced by a metadata-action `tags:` rule.
    Rule,
}

impl TagKind {
    /// True for tags that must never move once pushed.
    pub fn is_immutable(self) -> bool {
        matches!(self, TagKind::Version | TagKind::Sha)
    }
}

/// One tag to push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTag {
    /// The tag, e.g. `1.2`.
    pub name: String,
    /// Why it is pushed.
    pub kind: TagKind,
}

/// Facts about the repository that end up in labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoMetadata {
    /// Web URL of the repository.
    pub url: Option<String>,
    /// Repository name (image title).
    pub title: Option<String>,
    /// Repository description.
    pub description: Option<String>,
    /// SPDX license expression.
    pub licenses: Option<String>,
    /// `created`, RFC 3339: `SOURCE_DATE_EPOCH` if set, else the commit time.
    pub created: String,
}

/// The computed plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The version label value (SemVer without `v`).
    pub version: String,
    /// Image names the tags apply to.
    pub images: Vec<String>,
    /// Tags, in push order (most specific first).
    pub tags: Vec<PlannedTag>,
    /// OCI labels (`org.opencontainers.image.*`).
    pub labels: BTreeMap<String, String>,
    /// The resolved version the plan was made from (with highest flags against existing tags).
    pub resolved: ResolvedVersion,
}

impl Plan {
    /// Every `image:tag` reference, image by image.
    pub fn references(&self) -> Vec<String> {
        self.images
            .iter()
            .flat_map(|image| self.tags.iter().map(move |t| format!("{image}:{}", t.name)))
            .collect()
    }

    /// Annotations in docker/metadata-action's output form (`manifest:KEY=VALUE`).
    pub fn annotation_lines(&self) -> Vec<String> {
        self.labels.iter().map(|(k, v)| format!("manifest:{k}={v}")).collect()
    }

    /// Labels as `KEY=VALUE` lines.
    pub fn label_lines(&self) -> Vec<String> {
        self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// The JSON document of the `json` output: metadata-action's keys plus relkit's.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "tags": self.references(),
            "tag_names": self.tags.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "labels": self.labels,
            "annotations": self.annotation_lines(),
            "images": self.images,
            "plan": self.tags,
            "resolved": self.resolved,
        })
    }
}

/// Recomputes the "highest" flags against tags that exist elsewhere (a registry's tag list):
/// a version is the highest only if it is so in git and there.
pub fn with_existing(mut resolved: ResolvedVersion, existing: &TagSet) -> Result<ResolvedVersion> {
    let v = resolved.semver()?;
    resolved.is_highest &= existing.is_highest(&v, Scope::All);
    resolved.is_highest_in_major &= existing.is_highest(&v, Scope::Major(v.major));
    resolved.is_highest_in_minor &= existing.is_highest(&v, Scope::Minor(v.major, v.minor));
    Ok(resolved)
}

/// The default policy's tags for a resolved version.
pub fn policy_tags(r: &ResolvedVersion, config: &PlanConfig) -> Result<Vec<PlannedTag>> {
    let mut tags = Vec::new();
    let mut push = |name: String, kind: TagKind| -> Result<()> {
        let name = docker_tag(&name)?;
        if !tags.iter().any(|t: &PlannedTag| t.name == name) {
            tags.push(PlannedTag { name, kind });
        }
        Ok(())
    };
    let released = r.source != Source::Development;
    if released && config.full_version {
        let git_has_v = r.tag.ends_with(&format!("v{}", r.version));
        let v = if config.v_prefix.unwrap_or(git_has_v) { "v" } else { "" };
        push(format!("{v}{}", r.version), TagKind::Version)?;
    }
    if released && !r.is_prerelease {
        let zero_ok = r.major > 0 || config.major_zero;
        if config.major_minor && r.is_highest_in_minor && r.is_highest_in_major {
            push(format!("{}.{}", r.major, r.minor), TagKind::MajorMinor)?;
        }
        if config.major && r.is_highest_in_major && zero_ok {
            push(r.major.to_string(), TagKind::Major)?;
        }
        if config.latest && r.is_highest {
            push("latest".into(), TagKind::Latest)?;
        }
        if config.channel_tags && config.stable_channel_tag && r.is_highest {
            push(r.channel.clone(), TagKind::Channel)?;
        }
    }
    if config.channel_tags {
        let floating = match r.source {
            Source::Development => r.is_default_branch,
            _ => r.is_prerelease && r.is_highest,
        };
        if floating && !r.channel.is_empty() {
            push(r.channel.clone(), TagKind::Channel)?;
        }
    }
    if config.sha {
        let short: String = r.sha.chars().take(config.sha_length).collect();
        push(format!("{}{short}", config.sha_prefix), TagKind::Sha)?;
    }
    Ok(tags)
}

/// OCI labels for the image: `org.opencontainers.image.{version,revision,created,source,url,
/// title,description,licenses}` (absent facts are left out).
pub fn labels(r: &ResolvedVersion, meta: &RepoMetadata) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut set = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{key}"), v.to_string());
        }
    };
    set("version", Some(&r.version));
    set("revision", Some(&r.sha));
    set("created", Some(&meta.created));
    set("source", meta.url.as_deref());
    set("url", meta.url.as_deref());
    set("title", meta.title.as_deref());
    set("description", meta.description.as_deref());
    set("licenses", meta.licenses.as_deref());
    labels
}

/// Builds the plan from a resolved version and the tags the policy chose.
pub fn build_plan(
    resolved: ResolvedVersion,
    images: Vec<String>,
    tags: Vec<PlannedTag>,
    meta: &RepoMetadata,
) -> Result<Plan> {
    if images.is_empty() {
        return Err(Error::usage(
            "no image to tag: pass --image NAME (or the `images` input, or plan.images in .github/relkit.yml)",
        ));
    }
    for image in &images {
        validate_image_name(image)?;
    }
    Ok(Plan { version: resolved.version.clone(), labels: labels(&resolved, meta), images, tags, resolved })
}

/// Spells a version as a valid OCI tag: `+` (build metadata) becomes `_`, as Helm does; anything
/// else outside `[A-Za-z0-9_.-]` or over 128 characters is an error.
pub fn docker_tag(name: &str) -> Result<String> {
    let tag = name.replace('+', "_");
    let valid_first = tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let valid = valid_first
        && tag.len() <= 128
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(Error::usage(format!(
            "{name:?} is not a valid image tag: tags are 1-128 characters of [A-Za-z0-9_.-], not starting with . or -"
        )));
    }
    Ok(tag)
}

/// Checks an image name (`registry/namespace/name`, lower case, no tag or digest).
pub fn validate_image_name(image: &str) -> Result<()> {
    let last = image.rsplit('/').next().unwrap_or_default();
    let bad = image.is_empty()
        || image.contains('@')
        || last.contains(':')
        || image
            .split('/')
            .skip(1)
            .any(|part| part.is_empty() || part.chars().any(|c| c.is_ascii_uppercase()));
    if bad {
        return Err(Error::usage(format!(
            "invalid image name {image:?}: expected REGISTRY/NAMESPACE/NAME in lower case without tag or digest, \
             e.g. ghcr.io/acme/widget"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use relkit_core::version::TagGrammar;

    fn resolved(
        version: &str,
        highest: (bool, bool, bool),
        channel: &str,
        source: Source,
    ) -> ResolvedVersion {
        let v = semver::Version::parse(version).unwrap();
        ResolvedVersion {
            version: version.into(),
            tag: format!("v{version}"),
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            prerelease: v.pre.to_string(),
            build: v.build.to_string(),
            is_prerelease: !v.pre.is_empty(),
            channel: channel.into(),
            is_highest: highest.0,
            is_highest_in_major: highest.1,
            is_highest_in_minor: highest.2,
            previous_tag: None,
            previous_stable_tag: None,
            sha: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d".into(),
            short_sha: "1a2b3c4".into(),
            namespace: Some("acme/widget".into()),
            next_version: version.into(),
            source,
            component: None,
            commit_time: "2026-01-02T03:04:05Z".into(),
            branch: Some("main".into()),
            is_default_branch: true,
            repository_url: Some("https://github.com/acme/widget".into()),
        }
    }

    fn names(r: &ResolvedVersion, config: &PlanConfig) -> Vec<String> {
        policy_tags(r, config).unwrap().into_iter().map(|t| t.name).collect()
    }

    const ALL: (bool, bool, bool) = (true, true, true);

    #[test]
    fn default_policy_table() {
        let c = PlanConfig::default();
        let table: &[(ResolvedVersion, &[&str])] = &[
            (
                resolved("1.2.3", ALL, "stable", Source::TagRef),
                &["v1.2.3", "1.2", "1", "latest", "sha-1a2b3c4"],
            ),
            (
                resolved("1.9.1", (false, true, true), "stable", Source::TagRef),
                &["v1.9.1", "1.9", "1", "sha-1a2b3c4"],
            ),
            (resolved("1.8.5", (false, false, true), "stable", Source::TagRef), &["v1.8.5", "sha-1a2b3c4"]),
            (
                resolved("1.9.0", (false, true, false), "stable", Source::TagRef),
                &["v1.9.0", "1", "sha-1a2b3c4"],
            ),
            (resolved("0.4.0", ALL, "stable", Source::TagRef), &["v0.4.0", "0.4", "latest", "sha-1a2b3c4"]),
            (
                resolved("1.2.3-rc.1", ALL, "candidate", Source::TagRef),
                &["v1.2.3-rc.1", "candidate", "sha-1a2b3c4"],
            ),
            (
                resolved("1.2.3-rc.1", (false, false, false), "candidate", Source::TagRef),
                &["v1.2.3-rc.1", "sha-1a2b3c4"],
            ),
            (
                resolved("1.2.3-beta.2", ALL, "testing", Source::GitTag),
                &["v1.2.3-beta.2", "testing", "sha-1a2b3c4"],
            ),
            (
                resolved("1.2.3+build.5", ALL, "stable", Source::TagRef),
                &["v1.2.3_build.5", "1.2", "1", "latest", "sha-1a2b3c4"],
            ),
            (resolved("1.5.0-dev.12+g1a2b3c4", ALL, "next", Source::Development), &["next", "sha-1a2b3c4"]),
        ];
        for (r, want) in table {
            assert_eq!(names(r, &c), *want, "{}", r.version);
        }
    }

    #[test]
    fn feature_branch_builds_get_only_the_sha_tag() {
        let mut r = resolved("1.5.0-dev.3+gabc", ALL, "dev", Source::Development);
        r.is_default_branch = false;
        assert_eq!(names(&r, &PlanConfig::default()), ["sha-1a2b3c4"]);
    }

    #[test]
    fn configurable_rules() {
        let c = PlanConfig {
            v_prefix: Some(false),
            major_zero: true,
            latest: false,
            sha_length: 12,
            sha_prefix: "git-".into(),
            stable_channel_tag: true,
            ..PlanConfig::default()
        };
        assert_eq!(
            names(&resolved("0.4.0", ALL, "stable", Source::TagRef), &c),
            ["0.4.0", "0.4", "0", "stable", "git-1a2b3c4d5e6f"]
        );
    }

    #[test]
    fn existing_registry_tags_can_take_highest_away() {
        let existing = TagSet::from_names(&TagGrammar::plain(), ["2.0.0", "1.9", "latest", "sha-x"]);
        let r = with_existing(resolved("1.9.1", ALL, "stable", Source::TagRef), &existing).unwrap();
        assert!(!r.is_highest);
        assert!(r.is_highest_in_major && r.is_highest_in_minor);
        assert_eq!(names(&r, &PlanConfig::default()), ["v1.9.1", "1.9", "1", "sha-1a2b3c4"]);
    }

    #[test]
    fn labels_and_outputs() {
        let meta = RepoMetadata {
            url: Some("https://github.com/acme/widget".into()),
            title: Some("widget".into()),
            description: None,
            licenses: Some("MIT".into()),
            created: "2026-01-02T03:04:05Z".into(),
        };
        let r = resolved("1.2.3", ALL, "stable", Source::TagRef);
        let tags = policy_tags(&r, &PlanConfig::default()).unwrap();
        let plan = build_plan(r, vec!["ghcr.io/acme/widget".into()], tags, &meta).unwrap();
        assert_eq!(plan.references()[0], "ghcr.io/acme/widget:v1.2.3");
        assert!(plan.label_lines().contains(&"org.opencontainers.image.licenses=MIT".to_string()));
        assert!(!plan.labels.contains_key("org.opencontainers.image.description"));
        assert!(
            plan.annotation_lines().contains(&"manifest:org.opencontainers.image.version=1.2.3".to_string())
        );
        assert_eq!(plan.to_json()["tags"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn bad_names() {
        assert!(docker_tag("-x").is_err());
        assert!(docker_tag(&"a".repeat(129)).is_err());
        assert_eq!(docker_tag("v1+b").unwrap(), "v1_b");
        for bad in ["ghcr.io/Acme/widget", "ghcr.io/acme/widget:1", "x@sha256:00", "", "ghcr.io//x"] {
            assert!(validate_image_name(bad).is_err(), "{bad}");
        }
        validate_image_name("localhost:5000/a/b").unwrap();
        assert!(
            build_plan(
                resolved("1.0.0", ALL, "stable", Source::TagRef),
                vec![],
                vec![],
                &RepoMetadata::default()
            )
            .is_err()
        );
    }
}
