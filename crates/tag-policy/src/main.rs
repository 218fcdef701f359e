//! `tag-policy`: parses the command line and hands over to the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use relkit_core::actions::{ProcessEnv, report_error};
use tag_policy::commands::{CheckOptions, PlanOptions, run_check, run_plan};
use tag_policy::registry_cmds;

/// Image tags, git tag rules and image reference policy for container releases.
#[derive(Debug, Parser)]
#[command(name = "tag-policy", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute the image tags, labels and annotations for a resolved version.
    Plan(PlanArgs),
    /// docker/metadata-action's inputs and outputs (INPUT_*, GITHUB_*), answered by relkit.
    Metadata(MetadataArgs),
    /// Validate a git tag before it is pushed (one line per violation, exit 2).
    Check(CheckArgs),
    /// Put tags on the digest an image reference resolves to (registry or oci:DIR).
    Apply(registry_cmds::ApplyArgs),
    /// Promote an image by digest to a channel, carrying signatures, SBOMs and referrers.
    Promote(registry_cmds::PromoteArgs),
    /// Retention and garbage collection of a repository (dry run unless --apply).
    Prune(registry_cmds::PruneArgs),
    /// Find image and action references not pinned by digest or commit SHA (exit 2 when any).
    Lint(tag_policy::lint::cli::LintArgs),
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// version-resolve JSON: a file, `-` for stdin [default: resolve in-process].
    #[arg(long)]
    from: Option<String>,
    /// Image name (repeatable), e.g. ghcr.io/acme/widget [default: ghcr.io/<owner>/<repo>].
    #[arg(long = "image")]
    images: Vec<String>,
    /// File of existing image tags (one per line) that also count for "highest".
    #[arg(long)]
    existing_tags: Option<PathBuf>,
    /// Repository whose tags also count for "highest", read live (`registry/repo` or `oci:DIR`).
    #[arg(long, value_name = "REPO")]
    registry_tags: Option<String>,
    /// docker/metadata-action `tags:` rules (replace the default policy).
    #[arg(long)]
    tags: Option<String>,
    /// docker/metadata-action `flavor:` settings.
    #[arg(long)]
    flavor: Option<String>,
    /// Print the JSON document instead of one reference per line.
    #[arg(long)]
    json: bool,
    /// Repository directory.
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Resolve this version instead of the event or git (without --from).
    #[arg(long = "release-version")]
    version: Option<String>,
    /// Monorepo component.
    #[arg(long)]
    component: Option<String>,
    /// Configuration file [default: .github/relkit.yml].
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MetadataArgs {
    /// Repository directory whose tags rank the version [default: GITHUB_WORKSPACE, else .].
    #[arg(long)]
    repo: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The tag to validate, e.g. v1.4.0.
    tag: String,
    /// The commit the tag is for [default: HEAD].
    #[arg(long)]
    commit: Option<String>,
    /// Allow a version below the highest of its major line.
    #[arg(long)]
    allow_lower: bool,
    /// Repository directory.
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Monorepo component.
    #[arg(long)]
    component: Option<String>,
    /// Configuration file [default: .github/relkit.yml].
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let env = ProcessEnv;
    let result = match cli.command {
        Command::Plan(a) => {
            let resolve = version_resolve::Options {
                repo: a.repo,
                version: a.version,
                bump: None,
                component: a.component,
                config: a.config,
            };
            let options = PlanOptions {
                from: a.from,
                images: a.images,
                existing_tags: a.existing_tags,
                registry_tags: a.registry_tags,
                tags: a.tags,
                flavor: a.flavor,
                resolve,
            };
            run_plan(&options, a.json, &env)
        }
        Command::Metadata(a) => tag_policy::metadata_cmd::run_metadata(a.repo.as_deref(), &env),
        Command::Check(a) => run_check(
            &CheckOptions {
                tag: a.tag,
                repo: a.repo,
                commit: a.commit,
                allow_lower: a.allow_lower,
                component: a.component,
                config: a.config,
            },
            &env,
        ),
        Command::Apply(a) => registry_cmds::run(&env, || registry_cmds::apply(&a, &env)),
        Command::Promote(a) => registry_cmds::run(&env, || registry_cmds::promote(&a, &env)),
        Command::Prune(a) => registry_cmds::run(&env, || registry_cmds::prune(&a, &env)),
        Command::Lint(args) => tag_policy::lint::cli::run(&env, &args),
    };
    std::process::exit(result.unwrap_or_else(|err| report_error(&env, "tag-policy", &err)));
}
