//! notes-gen: release notes from the right commit range, merged pull requests and verification
//! facts, rendered with minijinja and published idempotently to GitHub or Forgejo.
//!
//! - [`range`]: which commits (previous stable or previous tag, explicit `--from`/`--to`).
//! - [`changes`] and [`sections`]: conventional commits, squash bodies, security references,
//!   `.github/release.yml` categories.
//! - [`notes`]: the structured notes (the template context and the JSON output).
//! - [`verification`]: digests, `cosign`/`gh` commands and checksums from `sign`/`sbom-attach`.
//! - [`render`]: Markdown and JSON; [`changelog`]: a whole CHANGELOG.md.
//! - [`forge`] and [`publish`]: GitHub and Forgejo releases, created or updated idempotently.

pub mod app;
pub mod changelog;
pub mod changes;
pub mod cli;
pub mod notes;
pub mod publish;
pub mod range;
pub mod render;
pub mod schema;
pub mod sections;
pub mod verification;

/// The forge client (GitHub, Forgejo), shared with the other binaries that publish assets.
pub use relkit_forge as forge;

pub use app::run;
pub use cli::Cli;
