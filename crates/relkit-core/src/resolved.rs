//! The resolved version: what version-resolve prints and every later step (tag-policy,
//! notes-gen, sign, sbom-attach) reads. One document, the same keys as the step outputs.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the version came from, in the order version-resolve tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `--version` or the action's `version` input.
    Input,
    /// `release.tag_name` of a `release` event.
    ReleaseEvent,
    /// A `workflow_dispatch`/`workflow_call` input named `version` (or `tag`).
    DispatchInput,
    /// `GITHUB_REF=refs/tags/…`.
    TagRef,
    /// A release tag on HEAD.
    GitTag,
    /// `--bump`: the next version from conventional commits.
    Bump,
    /// No tag: a development version for the next release.
    Development,
}

/// The resolved release version and everything known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedVersion {
    /// SemVer without `v`, e.g. `1.2.3-rc.1+build.5`.
    pub version: String,
    /// The git tag spelling, e.g. `v1.2.3` or `api/v1.2.3`.
    pub tag: String,
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
    /// Prerelease identifiers (`rc.1`), empty for a release.
    pub prerelease: String,
    /// Build metadata, empty when none.
    pub build: String,
    /// True when `prerelease` is not empty.
    pub is_prerelease: bool,
    /// Release channel: `stable`, `candidate`, `testing`, `next`, `dev`, ...
    pub channel: String,
    /// Not lower than any existing release it competes with (stable vs stable tags, prerelease vs all).
    pub is_highest: bool,
    /// Likewise within its major version.
    pub is_highest_in_major: bool,
    /// Likewise within its minor version.
    pub is_highest_in_minor: bool,
    /// The highest tag below this version, if any.
    pub previous_tag: Option<String>,
    /// The highest stable tag below this version, if any.
    pub previous_stable_tag: Option<String>,
    /// Full commit id.
    pub sha: String,
    /// Short commit id (7 characters).
    pub short_sha: String,
    /// `owner/repo`, lower-cased (image namespace), if known.
    pub namespace: Option<String>,
    /// The version a release cut from this commit would get (conventional commits).
    pub next_version: String,
    /// Where the version came from.
    pub source: Source,
    /// Monorepo component, if any.
    pub component: Option<String>,
    /// Commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// The branch the build is on, if known.
    pub branch: Option<String>,
    /// True when `branch` is the default branch.
    pub is_default_branch: bool,
    /// Web URL of the repository, if known.
    pub repository_url: Option<String>,
}

impl ResolvedVersion {
    /// Parses the JSON document version-resolve writes; errors name `origin` and say how to fix.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            Error::usage(format!(
                "{origin} is not version-resolve JSON ({e}); pass the output of `version-resolve --json`"
            ))
        })
    }

    /// The version as a [`semver::Version`].
    pub fn semver(&self) -> Result<semver::Version> {
        crate::version::parse_version(&self.version)
    }

    /// The flat `key=value` pairs of the step outputs (booleans as `true`/`false`, missing as empty).
    pub fn output_pairs(&self) -> Vec<(&'static str, String)> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        vec![
            ("version", self.version.clone()),
            ("tag", self.tag.clone()),
            ("major", self.major.to_string()),
            ("minor", self.minor.to_string()),
            ("patch", self.patch.to_string()),
            ("prerelease", self.prerelease.clone()),
            ("build", self.build.clone()),
            ("is_prerelease", self.is_prerelease.to_string()),
            ("channel", self.channel.clone()),
            ("is_highest", self.is_highest.to_string()),
            ("is_highest_in_major", self.is_highest_in_major.to_string()),
            ("is_highest_in_minor", self.is_highest_in_minor.to_string()),
            ("previous_tag", opt(&self.previous_tag)),
            ("previous_stable_tag", opt(&self.previous_stable_tag)),
            ("sha", self.sha.clone()),
            ("short_sha", self.short_sha.clone()),
            ("namespace", opt(&self.namespace)),
            ("next_version", self.next_version.clone()),
            (
                "source",
                serde_json::to_value(self.source)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            ),
            ("component", opt(&self.component)),
            ("commit_time", self.commit_time.clone()),
            ("branch", opt(&self.branch)),
            ("is_default_branch", self.is_default_branch.to_string()),
            ("repository_url", opt(&self.repository_url)),
        ]
    }
}
