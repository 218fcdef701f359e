//! docker/metadata-action's `tags:` and `flavor:` rule syntax, evaluated by relkit.
//!
//! A pure module (no I/O): [`parse_tags`] and [`parse_flavor`] turn the action inputs into
//! [`Rules`] and a [`Flavor`]; [`evaluate`] applies them to a [`RuleContext`] and returns the
//! tags in metadata-action's order (the `version` tag first, then the others by rule priority,
//! `latest` last) plus the `version` output.
//!
//! Layout: the model (this file), `parse` (the inputs), `template` (the `{{expressions}}`),
//! `moment` (date formats), `evaluate` (rules → tags), `tests`.
//!
//! The output is metadata-action's, except where relkit deliberately differs (each difference
//! is described in `docs/migrate-from-metadata-action.md`):
//! - `latest` (with `latest=auto`), `{{major}}` and `{{major}}.{{minor}}` are emitted only when
//!   the version is the highest overall, in its major, in its minor;
//! - `type=semver` and `type=match` take the version resolved by version-resolve when the ref
//!   is not a tag (`release`, `workflow_dispatch`, `workflow_call`, API-created tags);
//! - `{{raw}}` spells the build metadata separator `+` as `_` (as relkit's default policy does);
//! - an invalid version, an unknown attribute, an unknown `{{expression}}` or a tag that a
//!   registry would refuse is an error, not a warning.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use regex::{Regex, RegexBuilder};
use relkit_core::{Error, Result};
use semver::Version;

/// Longest tag a registry accepts (OCI distribution spec).
const MAX_TAG_LENGTH: usize = 128;

/// metadata-action's default short SHA length.
pub const DEFAULT_SHORT_SHA_LENGTH: usize = 7;

/// The `type=` of a tag rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleType {
    /// `type=schedule`: on `schedule` events.
    Schedule,
    /// `type=semver`: from the release version.
    Semver,
    /// `type=match`: a regular expression on the tag.
    Match,
    /// `type=edge`: on pushes to the default (or named) branch.
    Edge,
    /// `type=ref`: the branch, tag or pull request of the ref.
    Ref,
    /// `type=raw`: a literal value (with expressions).
    Raw,
    /// `type=sha`: the commit SHA.
    Sha,
}

impl RuleType {
    const ALL: [Self; 7] =
        [Self::Schedule, Self::Semver, Self::Match, Self::Edge, Self::Ref, Self::Raw, Self::Sha];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule_type| rule_type.name() == name)
    }

    /// The name used in `type=`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Semver => "semver",
            Self::Match => "match",
            Self::Edge => "edge",
            Self::Ref => "ref",
            Self::Raw => "raw",
            Self::Sha => "sha",
        }
    }

    /// metadata-action's default priority for this type.
    pub fn default_priority(self) -> i64 {
        match self {
            Self::Schedule => 1000,
            Self::Semver => 900,
            Self::Match => 800,
            Self::Edge => 700,
            Self::Ref => 600,
            Self::Raw => 200,
            Self::Sha => 100,
        }
    }

    /// Attributes this type accepts besides the global ones.
    fn own_attributes(self) -> &'static [&'static str] {
        match self {
            Self::Schedule => &["pattern"],
            Self::Semver => &["pattern", "value", "match"],
            Self::Match => &["pattern", "group", "value"],
            Self::Edge => &["branch"],
            Self::Ref => &["event"],
            Self::Raw => &["value"],
            Self::Sha => &["format"],
        }
    }

    fn expected_form(self) -> &'static str {
        match self {
            Self::Schedule => "type=schedule[,pattern=nightly]",
            Self::Semver => "type=semver,pattern={{version}}[,value=v1.2.3][,match=REGEX]",
            Self::Match => "type=match,pattern=REGEX[,group=N][,value=...]",
            Self::Edge => "type=edge[,branch=main]",
            Self::Ref => "type=ref,event=branch|tag|pr",
            Self::Raw => "type=raw,value=TAG",
            Self::Sha => "type=sha[,prefix=sha-][,format=short|long]",
        }
    }
}

/// Which ref `type=ref` turns into a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefEvent {
    /// `refs/heads/<branch>`.
    Branch,
    /// `refs/tags/<tag>`.
    Tag,
    /// `refs/pull/<n>/merge`.
    Pr,
}

/// Short or full commit SHA for `type=sha`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaFormat {
    /// The first `short_sha_length` characters.
    Short,
    /// The full SHA.
    Long,
}

/// What a rule produces, with its type-specific attributes.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// `type=schedule,pattern=`.
    Schedule { pattern: Template },
    /// `type=semver,pattern=,value=,match=`.
    Semver { pattern: Template, value: Option<Template>, matcher: Option<Regex> },
    /// `type=match,pattern=,group=,value=`.
    Match { pattern: JsRegex, group: usize, value: Option<Template> },
    /// `type=edge,branch=`.
    Edge { branch: Option<String> },
    /// `type=ref,event=`.
    Ref { event: RefEvent },
    /// `type=raw,value=`.
    Raw { value: Template },
    /// `type=sha,format=`.
    Sha { format: ShaFormat },
}

/// One line of the `tags:` input.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The line as written, for messages.
    pub text: String,
    /// The rule's type.
    pub rule_type: RuleType,
    /// Type-specific attributes.
    pub kind: RuleKind,
    /// `enable=` (an expression that must render `true` or `false`).
    pub enable: Template,
    /// `priority=` (or the type's default).
    pub priority: i64,
    /// `prefix=`, if the rule sets one (an empty value still overrides the flavor's).
    pub prefix: Option<Template>,
    /// `suffix=`, if the rule sets one.
    pub suffix: Option<Template>,
}

/// The parsed `tags:` input, sorted by priority (highest first, stable for ties).
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// The rules, highest priority first.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Whether a semver rule names its own version (`value=`), which is ranked against
    /// [`RuleContext::existing_versions`]: only then do those need reading.
    pub fn ranks_values(&self) -> bool {
        self.rules.iter().any(|rule| matches!(rule.kind, RuleKind::Semver { value: Some(_), .. }))
    }
}

/// `latest=` of the `flavor:` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatestMode {
    /// relkit: `latest` for a stable release that is the highest version (see module docs).
    Auto,
    /// Always add `latest` when any tag is produced.
    Always,
    /// Never add `latest`.
    Never,
}

/// The parsed `flavor:` input.
#[derive(Debug, Clone)]
pub struct Flavor {
    /// `latest=auto|true|false`.
    pub latest: LatestMode,
    /// Global `prefix=` for tags whose rule sets none.
    pub prefix: Template,
    /// Whether the prefix also applies to `latest` (`prefix=...,onlatest=true`).
    pub prefix_on_latest: bool,
    /// Global `suffix=`.
    pub suffix: Template,
    /// Whether the suffix also applies to `latest`.
    pub suffix_on_latest: bool,
}

impl Default for Flavor {
    fn default() -> Self {
        Self {
            latest: LatestMode::Auto,
            prefix: Template::default(),
            prefix_on_latest: false,
            suffix: Template::default(),
            suffix_on_latest: false,
        }
    }
}

/// The release version the rules are evaluated against, as version-resolve resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseVersion {
    /// The version.
    pub version: Version,
    /// The tag it was read from, as spelled (`v1.2.3`, `api/v1.2.3`); the `{{raw}}` of semver
    /// patterns and the subject of `match=` attributes and `type=match` rules.
    pub tag: String,
    /// No stable version of higher precedence exists.
    pub is_highest: bool,
    /// No stable version of the same major with higher precedence exists.
    pub is_highest_in_major: bool,
    /// No stable version of the same major.minor with higher precedence exists.
    pub is_highest_in_minor: bool,
}

/// Whose answers the rules give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// relkit's own: strict (an invalid version, a failed `match=` or a tag a registry would
    /// refuse is an error) and `latest`/`X`/`X.Y` only for the highest version of their scope.
    #[default]
    Relkit,
    /// docker/metadata-action's answers: problems are warnings and the rule yields nothing,
    /// `{{raw}}` keeps `+` (sanitized to `-`). `highest_only` is the one deliberate difference:
    /// `latest`, `{{major}}` and `{{major}}.{{minor}}` only for the highest version of their scope.
    Compatible {
        /// The deliberate difference (on by default; off gives metadata-action's `latest`).
        highest_only: bool,
    },
}

impl Dialect {
    /// Whether `latest`, `X` and `X.Y` wait for the highest version of their scope.
    pub fn ranks(self) -> bool {
        match self {
            Self::Relkit => true,
            Self::Compatible { highest_only } => highest_only,
        }
    }

    /// Whether problems are errors (relkit) or warnings (metadata-action).
    pub fn is_strict(self) -> bool {
        self == Self::Relkit
    }
}

/// Everything the rules may look at. Build it from the GitHub context and version-resolve.
#[derive(Debug, Clone)]
pub struct RuleContext {
    /// `GITHUB_EVENT_NAME` (`push`, `pull_request`, `schedule`, `release`, ...).
    pub event_name: String,
    /// `GITHUB_REF` (`refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/15/merge`).
    pub git_ref: String,
    /// The commit SHA (the caller applies `DOCKER_METADATA_PR_HEAD_SHA` if it wants to).
    pub sha: String,
    /// The repository's default branch, if known (`type=edge`, `{{is_default_branch}}`).
    pub default_branch: Option<String>,
    /// The event's base ref: `base_ref` of a tag push payload, `pull_request.base.ref` of a
    /// pull request (`{{base_ref}}`).
    pub base_ref: Option<String>,
    /// The pull request number (used for `pull_request_target`, whose ref is the base branch).
    pub pr_number: Option<u64>,
    /// The current time (`{{date}}`); pass `SOURCE_DATE_EPOCH` for reproducible output.
    pub now: Timestamp,
    /// The commit time (`{{commit_date}}`); falls back to `now`.
    pub commit_time: Option<Timestamp>,
    /// The release version, when this run releases one (tag ref, `release` event, explicit
    /// version input, tag on the commit). `None` for development builds.
    pub release: Option<ReleaseVersion>,
    /// Stable versions that already exist, to rank a version given by a semver `value=` that
    /// is not [`RuleContext::release`]. Empty means "no others".
    pub existing_versions: Vec<Version>,
    /// Length of short SHAs (`DOCKER_METADATA_SHORT_SHA_LENGTH`, default 7).
    pub short_sha_length: usize,
    /// relkit's strict answers or metadata-action's.
    pub dialect: Dialect,
}

impl Default for RuleContext {
    fn default() -> Self {
        Self {
            event_name: String::new(),
            git_ref: String::new(),
            sha: String::new(),
            default_branch: None,
            base_ref: None,
            pr_number: None,
            now: Timestamp::UNIX_EPOCH,
            commit_time: None,
            release: None,
            existing_versions: Vec::new(),
            short_sha_length: DEFAULT_SHORT_SHA_LENGTH,
            dialect: Dialect::Relkit,
        }
    }
}

impl RuleContext {
    /// The ref the rules see: for `pull_request_target` it is the pull request's merge ref, as
    /// in metadata-action, not the base branch.
    fn effective_ref(&self) -> String {
        match self.pr_number {
            Some(number) if self.event_name.contains("pull_request_target") => {
                format!("refs/pull/{number}/merge")
            }
            _ => self.git_ref.clone(),
        }
    }

    fn short_sha(&self) -> &str {
        let length = self.short_sha_length;
        if length >= self.sha.len() { &self.sha } else { self.sha.get(..length).unwrap_or(&self.sha) }
    }
}

/// Parses `DOCKER_METADATA_SHORT_SHA_LENGTH` (a positive integer).
pub fn parse_short_sha_length(value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(length) if length > 0 => Ok(length),
        _ => Err(Error::usage(format!(
            "DOCKER_METADATA_SHORT_SHA_LENGTH is not a positive number: {value:?}; set it to e.g. 12"
        ))),
    }
}

/// One produced tag (without the image name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTag {
    /// The tag, sanitized as metadata-action does.
    pub name: String,
    /// Priority of the rule that produced it first.
    pub priority: i64,
    /// Whether this is the `latest` tag added by the flavor.
    pub is_latest: bool,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Tags in metadata-action's order: the version first, the others by priority (first
    /// occurrence wins), `latest` last. Empty when no rule applied.
    pub tags: Vec<RuleTag>,
    /// The `version` output: the highest-priority tag.
    pub version: Option<String>,
    /// Non-fatal notes (a `type=match` pattern that did not match), for `::warning::`.
    pub warnings: Vec<String>,
}

impl Evaluation {
    /// The tag names (metadata-action's `tag-names` output).
    pub fn tag_names(&self) -> Vec<String> {
        self.tags.iter().map(|tag| tag.name.clone()).collect()
    }

    /// `image:tag` for every image and tag, image by image (metadata-action's `tags` output);
    /// image names are lowercased. With no images, the bare tag names.
    pub fn image_tags(&self, images: &[&str]) -> Vec<String> {
        if images.is_empty() {
            return self.tag_names();
        }
        images
            .iter()
            .flat_map(|image| {
                let image = image.to_lowercase();
                self.tags.iter().map(move |tag| format!("{image}:{}", tag.name))
            })
            .collect()
    }
}

mod evaluate;
mod moment;
mod parse;
mod template;
#[cfg(test)]
mod tests;

pub use evaluate::{evaluate, sanitize_tag};
pub use parse::{JsRegex, parse_flavor, parse_tags};
pub(crate) use parse::{input_lines, split_fields};
pub use template::{Template, render_global};
