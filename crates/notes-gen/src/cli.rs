//! Command-line arguments. Every flag also has an environment fallback so that the composite
//! Action passes inputs through `env:` only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::range::Since;
use crate::render::Format;

/// Release notes from the right commit range, merged pull requests and verification facts,
/// published to GitHub or Forgejo.
#[derive(Debug, Parser)]
#[command(name = "notes-gen", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `revoke` or `changelog`; without one, generates (and optionally publishes) release notes.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Release notes options.
    #[command(flatten)]
    pub notes: NotesArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepend a revocation notice to a published release and mark it as a prerelease.
    Revoke(RevokeArgs),
    /// Write a whole CHANGELOG.md over all (or the last N) releases, from git alone.
    Changelog(ChangelogArgs),
}

/// Where the repository and its configuration are.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// The repository (any directory inside it).
    #[arg(long, env = "INPUT_WORKING-DIRECTORY", default_value = ".")]
    pub repo: PathBuf,
    /// The configuration file (default: `.github/relkit.yml` when it exists).
    #[arg(long, env = "INPUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Monorepo component whose tags are read (`api` for `api/v1.2.3`).
    #[arg(long, env = "INPUT_COMPONENT")]
    pub component: Option<String>,
    /// Only commits touching these paths (globs, repeatable); default: the component's
    /// `components.<name>.paths` in `.github/relkit.yml`.
    #[arg(long = "path", env = "INPUT_PATHS", value_delimiter = '\n')]
    pub paths: Vec<String>,
    /// A minijinja template instead of the default layout.
    #[arg(long, env = "INPUT_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, env = "INPUT_FORMAT", default_value = "markdown")]
    pub format: Format,
    /// Write the output to this file instead of stdout.
    #[arg(long, short, env = "INPUT_OUTPUT")]
    pub output: Option<PathBuf>,
}

/// The forge to talk to.
#[derive(Debug, Clone, Args)]
pub struct ForgeArgs {
    /// `github` (github.com or GitHub Enterprise) or `forgejo` (Forgejo and Gitea).
    #[arg(long, value_enum, env = "INPUT_FORGE", default_value = "github")]
    pub forge: ForgeKind,
    /// Forgejo server URL (e.g. https://forge.example.org); GitHub uses GITHUB_API_URL.
    #[arg(long, env = "INPUT_SERVER")]
    pub server: Option<String>,
    /// `owner/repo` (default: GITHUB_REPOSITORY).
    #[arg(long, env = "INPUT_REPOSITORY")]
    pub repository: Option<String>,
    /// The longest wait, in seconds, for a rate limit to reset before failing.
    #[arg(long, env = "INPUT_MAX-RATE-LIMIT-WAIT", default_value_t = 300)]
    pub max_rate_limit_wait: u64,
}

/// Which forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForgeKind {
    /// GitHub REST and GraphQL.
    Github,
    /// Forgejo or Gitea API v1.
    Forgejo,
}

/// Options of the default command.
#[derive(Debug, Clone, Args)]
pub struct NotesArgs {
    /// Repository, configuration and output.
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Forge access (pull requests and publishing).
    #[command(flatten)]
    pub forge: ForgeArgs,
    /// The release tag (default: GITHUB_REF's tag, else the highest tag on --to).
    #[arg(long, env = "INPUT_TAG")]
    pub tag: Option<String>,
    /// Base: previous `stable` tag, previous tag of `any` kind, or `auto` (stable for a stable
    /// release, any for a prerelease).
    #[arg(long, value_enum, env = "INPUT_SINCE", default_value = "auto")]
    pub since: Since,
    /// An explicit base revision (exclusive).
    #[arg(long, env = "INPUT_FROM")]
    pub from: Option<String>,
    /// An explicit last revision (default: the tag's commit, else HEAD).
    #[arg(long, env = "INPUT_TO")]
    pub to: Option<String>,
    /// Fail when a commit in the range is not a conventional commit.
    #[arg(long, env = "INPUT_REQUIRE-CONVENTIONAL")]
    pub require_conventional: bool,
    /// Look up merged pull requests when a GitHub token is available (`--pull-requests false`
    /// keeps the notes to git alone).
    #[arg(long, env = "INPUT_PULL-REQUESTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub pull_requests: bool,
    /// JSON outputs of `sign`/`sbom-attach` (repeatable; one per line or comma-separated in
    /// the environment variable).
    #[arg(long = "verification", env = "INPUT_VERIFICATION", value_delimiter = '\n')]
    pub verification: Vec<String>,
    /// Files to attach to the release (repeatable, or a list as above); their checksums go into
    /// the Verification block.
    #[arg(long = "asset", env = "INPUT_ASSETS", value_delimiter = '\n')]
    pub assets: Vec<String>,
    /// Create or update the release on the forge.
    #[arg(long, env = "INPUT_PUBLISH")]
    pub publish: bool,
    /// Publish as a draft (an already published release stays published).
    #[arg(long, env = "INPUT_DRAFT")]
    pub draft: bool,
    /// Lift a revocation: without it, re-publishing a revoked release keeps the notice, the
    /// prerelease flag and "not latest".
    #[arg(long, env = "INPUT_UNREVOKE")]
    pub unrevoke: bool,
    /// The release title (default: the tag).
    #[arg(long, env = "INPUT_NAME")]
    pub name: Option<String>,
}

/// `notes-gen revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The release tag to revoke.
    pub tag: String,
    /// Why (shown in the notice).
    #[arg(long, env = "INPUT_REASON")]
    pub reason: String,
    /// Forge access.
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// `notes-gen changelog`.
#[derive(Debug, Clone, Args)]
pub struct ChangelogArgs {
    /// Repository, configuration and output.
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Only the newest N releases.
    #[arg(long, env = "INPUT_LAST")]
    pub last: Option<usize>,
    /// `any` lists every tag; `stable` lists stable releases only, each covering its candidates.
    #[arg(long, value_enum, env = "INPUT_SINCE", default_value = "any")]
    pub since: Since,
    /// Add an "Unreleased" entry for commits after the newest tag.
    #[arg(long, env = "INPUT_UNRELEASED")]
    pub unreleased: bool,
}
