use std::path::PathBuf;

use clap::Parser;
use relkit_core::actions::{ProcessEnv, report_error};
use version_resolve::{BumpKind, Options};

/// Resolve the release version: from --version, a release event, a workflow_dispatch input, a
/// tag ref, or git (a tag on HEAD, else a development version of the next release).
#[derive(Parser)]
#[command(about, version, disable_version_flag = true)]
struct Cli {
    /// Print the version of version-resolve (`--version` names the version to release).
    #[arg(short = 'V', action = clap::ArgAction::Version)]
    print_version: (),
    /// Repository directory [default: GITHUB_WORKSPACE or the current directory].
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Use this version or tag (e.g. v1.2.3) instead of the event or git.
    #[arg(long)]
    version: Option<String>,
    /// Release the next version computed from conventional commits (or the given bump).
    #[arg(long, value_enum)]
    bump: Option<BumpKind>,
    /// Monorepo component whose tags to read (api for api/v1.2.3).
    #[arg(long)]
    component: Option<String>,
    /// Configuration file [default: .github/relkit.yml].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the JSON document instead of key=value lines.
    #[arg(long)]
    json: bool,
}

fn main() {
    let cli = Cli::parse();
    let options = Options {
        repo: cli.repo,
        version: cli.version,
        bump: cli.bump,
        component: cli.component,
        config: cli.config,
    };
    if let Err(err) = version_resolve::run(&options, cli.json, &ProcessEnv) {
        std::process::exit(report_error(&ProcessEnv, "version-resolve", &err));
    }
}
