//! `sbom-attach`: parses the command line and hands over to relkit-sbom.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use relkit_core::actions::{ProcessEnv, report_error};
use relkit_sbom::commands::{self, GenerateCommand};
use relkit_sbom::generate::GenerateOptions;

/// SPDX 2.3 SBOMs: generated from lockfiles or given, validated, bound to image digests,
/// attached as referrers and verified.
#[derive(Debug, Parser)]
#[command(name = "sbom-attach", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an SPDX 2.3 document from the lockfiles in DIR.
    Generate(GenerateArgs),
    /// Validate an SPDX 2.2/2.3 JSON document from any tool (one line per problem, exit 2).
    Validate {
        /// The SBOM file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Directory holding Cargo.lock, package-lock.json, go.mod, uv.lock or poetry.lock.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Write the document here (and FILE.sha256 beside it) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Generate even when a lockfile is out of sync with its manifest.
    #[arg(long)]
    allow_stale_lock: bool,
    /// Do not run `cargo metadata` for crate licenses (they become NOASSERTION).
    #[arg(long)]
    no_cargo_metadata: bool,
    /// Document name [default: the root package's name-version].
    #[arg(long)]
    name: Option<String>,
    /// Seconds since 1970 for `created` (reproducible output).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let env = ProcessEnv;
    let result = match cli.command {
        Command::Generate(a) => commands::generate(
            &GenerateCommand {
                dir: a.dir,
                output: a.output,
                options: GenerateOptions {
                    allow_stale_lock: a.allow_stale_lock,
                    cargo_metadata: !a.no_cargo_metadata,
                    source_date_epoch: a.source_date_epoch,
                    name: a.name,
                },
            },
            &env,
        ),
        Command::Validate { file } => commands::validate_file(&file, &env),
    };
    std::process::exit(result.unwrap_or_else(|err| report_error(&env, "sbom-attach", &err)));
}
