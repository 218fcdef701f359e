//! The `tag-policy lint` command: arguments, configuration, output and exit code.

use std::path::PathBuf;

use relkit_core::Result;
use relkit_core::actions::{Env, Outputs, running_in_actions};
use relkit_core::config::Config;

use super::live::LiveResolver;
use super::{Report, Severity, fix_report, lint};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One `file:line: severity: message` line per finding (plus annotations under Actions).
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `tag-policy lint`.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// Files or directories to lint, relative to --root (default: `lint.paths` from the
    /// configuration, else the whole root).
    pub paths: Vec<String>,
    /// Repository root: paths are reported relative to it and the configuration is read from it.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Configuration file (default: <root>/.github/relkit.yml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Pin every fixable reference in place: images to the digest their registry serves now,
    /// actions to the commit their tag names (through `git ls-remote`).
    #[arg(long)]
    pub fix: bool,
}

/// Runs the command; returns the exit code (0 clean, 2 when an error finding remains).
pub fn run(env: &dyn Env, args: &LintArgs) -> Result<i32> {
    let config = Config::load(args.config.as_deref(), Some(&args.root))?;
    let mut settings = config.lint;
    if !args.paths.is_empty() {
        settings.paths = args.paths.clone();
    }
    let mut report = lint(&args.root, &settings)?;
    let mut fixed = None;
    if args.fix {
        let resolver = LiveResolver::new(env)?;
        fixed = Some(fix_report(&report, &resolver)?);
        report = lint(&args.root, &settings)?;
    }
    print_report(env, &report, args.format, fixed);
    let mut outputs = Outputs::new();
    outputs.set("errors", report.count(Severity::Error).to_string());
    outputs.set("warnings", report.count(Severity::Warning).to_string());
    outputs.set("fixed", fixed.unwrap_or(0).to_string());
    outputs.write(env)?;
    Ok(report.exit_code())
}

fn print_report(env: &dyn Env, report: &Report, format: Format, fixed: Option<usize>) {
    match format {
        Format::Json => print!("{}", report.to_json(fixed)),
        Format::Text => {
            print!("{}", report.to_text());
            if running_in_actions(env) {
                for finding in report.findings() {
                    println!("{}", finding.to_annotation());
                }
            }
        }
    }
    let pinned = fixed.map(|n| format!("pinned {n} reference(s); ")).unwrap_or_default();
    eprintln!(
        "tag-policy lint: {pinned}{} error(s), {} warning(s) in {} file(s), {} allowlisted",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.files.len(),
        report.allowed
    );
}
