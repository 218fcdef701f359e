//! The optional configuration file `.github/relkit.yml`. Zero configuration gives the right
//! answer for the common case; an unknown key is an error that names the key. Every key is
//! documented in `docs/configuration.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::channel::ChannelRules;
use crate::error::{Error, Result};
use crate::version::{TagGrammar, VPrefix};

/// Where the configuration file lives, relative to the repository root.
pub const DEFAULT_PATH: &str = ".github/relkit.yml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How release tags are spelled.
    pub tags: TagsConfig,
    /// Which channel a version belongs to.
    pub channels: ChannelRules,
    /// How version-resolve finds the version.
    pub version: VersionConfig,
    /// Which image tags `tag-policy plan` computes.
    pub plan: PlanConfig,
    /// What `tag-policy lint` checks and what it lets pass.
    pub lint: LintConfig,
    /// What `tag-policy check` enforces on a new git tag.
    pub check: CheckConfig,
    /// What `notes-gen` puts in release notes.
    pub notes: NotesConfig,
    /// What `tag-policy prune` keeps.
    pub prune: PruneConfig,
    /// Monorepo components by name (the name their tags start with, `api` for `api/v1.2.3`,
    /// `@scope/pkg` for `@scope/pkg@1.2.3`).
    pub components: std::collections::BTreeMap<String, ComponentConfig>,
}

/// `components.<name>:` — one component of a monorepo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentConfig {
    /// Globs of the files that belong to it (`packages/api/**`): its notes, `next_version` and
    /// development versions count only the commits that touch them.
    pub paths: Vec<String>,
}

impl Config {
    /// The path globs of `component` (configured, or `tags.component` when none is given);
    /// empty when it has none.
    pub fn component_paths(&self, component: Option<&str>) -> Vec<String> {
        component
            .or(self.tags.component.as_deref())
            .and_then(|c| self.components.get(c))
            .map(|c| c.paths.clone())
            .unwrap_or_default()
    }
}

/// `tags:` — the release tag grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagsConfig {
    /// Monorepo component whose tags are read (`api` for `api/v1.2.3`); none by default.
    pub component: Option<String>,
    /// Separators between component and version; the first is used for new tags.
    pub separators: Vec<String>,
    /// `optional` (default), `required` or `never`.
    pub v_prefix: VPrefix,
}

impl Default for TagsConfig {
    fn default() -> Self {
        let plain = TagGrammar::plain();
        Self { component: None, separators: plain.separators, v_prefix: plain.v_prefix }
    }
}

impl TagsConfig {
    /// The grammar these settings describe; `component` overrides the configured one.
    pub fn grammar(&self, component: Option<&str>) -> TagGrammar {
        TagGrammar {
            component: component.map(str::to_string).or_else(|| self.component.clone()),
            separators: self.separators.clone(),
            v_prefix: self.v_prefix,
        }
    }
}

/// `version:` — version resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionConfig {
    /// The default branch, when neither the event payload nor `origin/HEAD` tells.
    pub default_branch: Option<String>,
    /// First prerelease identifier of development versions (`1.5.0-dev.12+g1a2b3c4`).
    pub dev_prerelease: String,
    /// First prerelease identifier used by `--bump prerelease` on a stable base.
    pub prerelease_identifier: String,
    /// The least bump a change to a file matching `notes.schema_globs` asks for.
    pub schema_bump: SchemaBump,
}

impl Default for VersionConfig {
    fn default() -> Self {
        Self {
            default_branch: None,
            dev_prerelease: "dev".into(),
            prerelease_identifier: "rc".into(),
            schema_bump: SchemaBump::Minor,
        }
    }
}

/// `version.schema_bump`: what a schema change in the range bumps at least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaBump {
    /// Schema changes do not bump by themselves.
    None,
    /// At least the patch version.
    Patch,
    /// At least the minor version (default).
    Minor,
    /// The major version.
    Major,
}

impl SchemaBump {
    /// As a bump.
    pub fn bump(self) -> crate::conventional::Bump {
        use crate::conventional::Bump;
        match self {
            Self::None => Bump::None,
            Self::Patch => Bump::Patch,
            Self::Minor => Bump::Minor,
            Self::Major => Bump::Major,
        }
    }
}

/// `plan:` — image tags and metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Image names to tag when none is given on the command line.
    pub images: Vec<String>,
    /// Push the full version tag (`v1.2.3`).
    pub full_version: bool,
    /// Spell the full version tag with `v`: `None` follows the git tag.
    pub v_prefix: Option<bool>,
    /// Push `MAJOR.MINOR` when the version is the highest of its minor line.
    pub major_minor: bool,
    /// Push `MAJOR` when the version is the highest of its major line.
    pub major: bool,
    /// Also push `0` for `0.x` versions.
    pub major_zero: bool,
    /// Push `latest` when the version is stable and the highest overall.
    pub latest: bool,
    /// Push `sha-<short>`.
    pub sha: bool,
    /// Prefix of the sha tag.
    pub sha_prefix: String,
    /// Length of the short sha (7 to 40).
    pub sha_length: usize,
    /// Push the channel tag (`candidate`, `testing`, `next`) for prereleases and builds.
    pub channel_tags: bool,
    /// Also push a `stable` channel tag for stable releases that are the highest.
    pub stable_channel_tag: bool,
    /// `org.opencontainers.image.title`; the repository name by default.
    pub title: Option<String>,
    /// `org.opencontainers.image.description`; the repository description by default.
    pub description: Option<String>,
    /// `org.opencontainers.image.licenses`; the repository license by default.
    pub licenses: Option<String>,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            images: Vec::new(),
            full_version: true,
            v_prefix: None,
            major_minor: true,
            major: true,
            major_zero: false,
            latest: true,
            sha: true,
            sha_prefix: "sha-".into(),
            sha_length: 7,
            channel_tags: true,
            stable_channel_tag: false,
            title: None,
            description: None,
            licenses: None,
        }
    }
}

/// `lint:` — what `tag-policy lint` reads and which mutable references it lets pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LintConfig {
    /// Images and actions that may stay unpinned: `*` matches anything (`ghcr.io/myorg/*`,
    /// `actions/checkout`, `debian:12`).
    pub allow: Vec<String>,
    /// Files or directories to lint, relative to the repository root; all of it when empty.
    pub paths: Vec<String>,
    /// Globs of paths to skip, relative to the repository root (`vendor/**`).
    pub exclude: Vec<String>,
}

/// `check:` — rules for new git tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// Require an annotated tag (default true).
    pub require_annotated: bool,
    /// Require a signed tag (default false).
    pub require_signed: bool,
    /// Allowed first prerelease identifiers (prefix match); empty allows any.
    pub allowed_prereleases: Vec<String>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            require_annotated: true,
            require_signed: false,
            allowed_prereleases: ["rc", "beta", "alpha", "test"].map(String::from).to_vec(),
        }
    }
}

/// `notes:` — what `notes-gen` puts in release notes and how it groups them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotesConfig {
    /// Sections in order, each with the conventional types it collects.
    pub sections: Vec<SectionConfig>,
    /// Heading for non-conventional commits and types no section lists.
    pub other_title: String,
    /// Conventional types left out of the notes (counted in a footnote, never silently dropped;
    /// breaking and security changes are always kept).
    pub exclude_types: Vec<String>,
    /// PR labels that mark a security fix (besides a `security` type or scope and GHSA/CVE ids).
    pub security_labels: Vec<String>,
    /// Fail when a commit in the range is not a conventional commit.
    pub require_conventional: bool,
    /// Globs of files whose changes are listed under "Schema changes" with their diff stat.
    pub schema_globs: Vec<String>,
    /// GitHub's `.github/release.yml` to honour (categories and exclusions), if it exists.
    pub release_yml: String,
    /// A minijinja template file for the notes, relative to the repository root.
    pub template: Option<String>,
    /// List authors and first-time contributors.
    pub contributors: bool,
}

impl NotesConfig {
    /// The conventional types recognised in squash-merge bodies: the standard ones and every
    /// type a section lists.
    pub fn known_types(&self) -> crate::message::KnownTypes {
        crate::message::KnownTypes::with(self.sections.iter().flat_map(|s| &s.types).map(String::as_str))
    }
}

/// One section of the notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    /// The heading.
    pub title: String,
    /// Conventional types listed under it.
    pub types: Vec<String>,
}

impl Default for NotesConfig {
    fn default() -> Self {
        let section = |title: &str, types: &[&str]| SectionConfig {
            title: title.to_string(),
            types: types.iter().map(|t| t.to_string()).collect(),
        };
        Self {
            sections: vec![
                section("Features", &["feat"]),
                section("Bug fixes", &["fix"]),
                section("Performance", &["perf"]),
                section("Reverts", &["revert"]),
                section("Documentation", &["docs"]),
                section("Refactoring", &["refactor"]),
                section("Maintenance", &["build", "ci", "chore", "style", "test", "deps"]),
            ],
            other_title: "Other changes".to_string(),
            exclude_types: Vec::new(),
            security_labels: vec!["security".to_string()],
            require_conventional: false,
            schema_globs: vec!["**/*.schema.json".to_string()],
            release_yml: ".github/release.yml".to_string(),
            template: None,
            contributors: true,
        }
    }
}

/// `prune:` — retention for `tag-policy prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PruneConfig {
    /// Keep every stable release tag (`v1.2.3`) forever. Default true.
    pub keep_stable: bool,
    /// Prerelease tags kept per `major.minor` line (the highest ones). Default 3.
    pub keep_prereleases: usize,
    /// Stable releases kept: the N highest of the repository. With `keep_per_line`, a release
    /// either rule keeps stays; with neither, `keep_stable` decides. Default none.
    pub keep_releases: Option<usize>,
    /// Stable releases kept per `major.minor` line: the N highest of each. Default none.
    pub keep_per_line: Option<usize>,
    /// Glob patterns of build tags. Default `["sha-*", "next-*"]`.
    pub build_tags: Vec<String>,
    /// Build tags kept (the newest). Default 10.
    pub keep_builds: usize,
    /// Build tags older than this many days go even within `keep_builds`. Default none.
    pub max_build_age_days: Option<u64>,
    /// Glob patterns of tags never deleted.
    pub protect: Vec<String>,
}

impl Default for PruneConfig {
    fn default() -> Self {
        Self {
            keep_stable: true,
            keep_prereleases: 3,
            keep_releases: None,
            keep_per_line: None,
            build_tags: vec!["sha-*".to_string(), "next-*".to_string()],
            keep_builds: 10,
            max_build_age_days: None,
            protect: Vec::new(),
        }
    }
}

impl Config {
    /// Parses configuration text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let config: Self = serde_norway::from_str(text).map_err(|e| {
            Error::usage(format!("invalid configuration {origin}: {e}; see docs/configuration.md"))
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Loads `explicit` if given (it must exist), else `<repo_root>/.github/relkit.yml` if it
    /// exists, else the defaults.
    pub fn load(explicit: Option<&Path>, repo_root: Option<&Path>) -> Result<Self> {
        let path: PathBuf = match (explicit, repo_root) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(root)) => {
                let p = root.join(DEFAULT_PATH);
                if !p.exists() {
                    return Ok(Self::default());
                }
                p
            }
            (None, None) => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::usage(format!("cannot read configuration {}: {e}", path.display())))?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::usage(format!("invalid configuration {origin}: {what}")));
        if !(7..=40).contains(&self.plan.sha_length) {
            return bad(format!("plan.sha_length is {}, expected 7 to 40", self.plan.sha_length));
        }
        if self.tags.separators.is_empty() || self.tags.separators.iter().any(String::is_empty) {
            return bad("tags.separators must list at least one non-empty separator".into());
        }
        if self.version.dev_prerelease.is_empty() || self.version.prerelease_identifier.is_empty() {
            return bad("version.dev_prerelease and version.prerelease_identifier must not be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_missing_config_is_the_default() {
        assert_eq!(Config::from_yaml("", "x").unwrap(), Config::default());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(None, Some(dir.path())).unwrap(), Config::default());
    }

    #[test]
    fn keys_parse() {
        let c = Config::from_yaml(
            "tags:\n  component: api\n  v_prefix: required\nplan:\n  latest: false\n  sha_length: 8\n\
             channels:\n  rules:\n    - channel: edge\n      prerelease: [preview]\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.tags.grammar(None).component.as_deref(), Some("api"));
        assert_eq!(c.tags.grammar(Some("web")).component.as_deref(), Some("web"));
        assert_eq!(c.tags.v_prefix, VPrefix::Required);
        assert!(!c.plan.latest);
        assert_eq!(c.plan.sha_length, 8);
        assert_eq!(c.channels.rules[0].channel, "edge");
    }

    #[test]
    fn lint_section_parses_and_rejects_unknown_keys() {
        let c = Config::from_yaml(
            "lint:\n  allow: ['ghcr.io/myorg/*', actions/checkout]\n  paths: [docker]\n  exclude: ['vendor/**']\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.lint.allow, ["ghcr.io/myorg/*", "actions/checkout"]);
        assert_eq!(c.lint.paths, ["docker"]);
        assert_eq!(c.lint.exclude, ["vendor/**"]);
        assert_eq!(Config::default().lint, LintConfig::default());
        let err = Config::from_yaml("lint:\n  allowed: []\n", "x").unwrap_err();
        assert!(err.message().contains("allowed"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [("plan:\n  lates: true\n", "lates"), ("bogus: 1\n", "bogus")] {
            let err = Config::from_yaml(text, ".github/relkit.yml").unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.message().contains(key), "{err}");
            assert!(err.message().contains(".github/relkit.yml"), "{err}");
            assert!(!err.message().contains('\n'));
        }
    }

    #[test]
    fn invalid_values_are_rejected() {
        assert!(
            Config::from_yaml("plan:\n  sha_length: 3\n", "x").unwrap_err().message().contains("sha_length")
        );
        assert!(Config::from_yaml("tags:\n  v_prefix: sometimes\n", "x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yml");
        assert!(Config::load(Some(&missing), None).unwrap_err().message().contains("cannot read"));
    }

    #[test]
    fn notes_section_parses_and_rejects_unknown_keys() {
        let c = Config::from_yaml(
            "notes:\n  sections:\n    - title: New\n      types: [feat]\n  exclude_types: [chore]\n  \
             require_conventional: true\n  schema_globs: ['schemas/*.json']\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.notes.sections, [SectionConfig { title: "New".into(), types: vec!["feat".into()] }]);
        assert_eq!(c.notes.other_title, "Other changes");
        assert!(c.notes.require_conventional);
        assert_eq!(c.notes.schema_globs, ["schemas/*.json"]);
        assert!(c.notes.known_types().contains("feat") && c.notes.known_types().contains("deps"));
        let c = Config::from_yaml("version:\n  schema_bump: major\n", "x").unwrap();
        assert_eq!(c.version.schema_bump, SchemaBump::Major);
        assert_eq!(Config::default().version.schema_bump, SchemaBump::Minor);
        let c =
            Config::from_yaml("components:\n  '@scope/pkg':\n    paths: ['packages/pkg/**']\n", "x").unwrap();
        assert_eq!(c.component_paths(Some("@scope/pkg")), ["packages/pkg/**"]);
        assert!(c.component_paths(Some("other")).is_empty());
        assert!(Config::from_yaml("components:\n  a:\n    path: []\n", "x").is_err());
        let err = Config::from_yaml("notes:\n  sektions: []\n", "x").unwrap_err();
        assert!(err.message().contains("sektions"), "{err}");
    }

    #[test]
    fn prune_section_parses_and_rejects_unknown_keys() {
        let c = Config::from_yaml(
            "prune:\n  keep_prereleases: 5\n  keep_builds: 20\n  max_build_age_days: 30\n  protect: ['v0.*']\n",
            "x",
        )
        .unwrap();
        assert_eq!(
            c.prune,
            PruneConfig {
                keep_prereleases: 5,
                keep_builds: 20,
                max_build_age_days: Some(30),
                protect: vec!["v0.*".into()],
                ..PruneConfig::default()
            }
        );
        assert!(c.prune.keep_stable && c.prune.build_tags == ["sha-*", "next-*"]);
        let err = Config::from_yaml("prune:\n  keep_build: 1\n", "x").unwrap_err();
        assert!(err.message().contains("keep_build"), "{err}");
    }
}
