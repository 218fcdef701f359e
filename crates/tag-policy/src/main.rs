//! `tag-policy`: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use relkit_core::actions::{ProcessEnv, report_error};

/// Image tags, git tag rules and image reference policy for container releases.
#[derive(Debug, Parser)]
#[command(name = "tag-policy", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find image and action references not pinned by digest or commit SHA (exit 2 when any).
    Lint(tag_policy::lint::cli::LintArgs),
}

fn main() {
    let cli = Cli::parse();
    let env = ProcessEnv;
    let result = match &cli.command {
        Command::Lint(args) => tag_policy::lint::cli::run(&env, args),
    };
    std::process::exit(result.unwrap_or_else(|err| report_error(&env, "tag-policy", &err)));
}
