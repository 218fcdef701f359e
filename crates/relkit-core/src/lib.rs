//! relkit-core: the model every relkit binary shares.
//!
//! - [`version`]: the tag grammar (component prefix, optional `v`, strict SemVer 2.0).
//! - [`tagset`]: all release tags read once and ordered by precedence, with the queries
//!   "highest", "previous" and "tags on a commit".
//! - [`channel`]: which release channel a version belongs to.
//! - [`conventional`]: the conventional header grammar, bumps and how they apply.
//! - [`message`]: the commit-message model (entries, trailers, reverts) shared by the notes and
//!   the bump, so both list and count the same changes.
//! - [`config`]: the optional `.github/relkit.yml`.
//! - [`resolved`]: the resolved-version document passed between steps.
//! - [`github`]: the GitHub Actions context (`GITHUB_*` and the event payload).
//! - [`actions`]: inputs, outputs, summaries and annotations under GitHub Actions.
//! - [`verification`]: the verification contract between sign, sbom-attach and notes-gen.
//! - [`error`]: the error type and its exit codes.

pub mod actions;
pub mod channel;
pub mod config;
pub mod conventional;
pub mod error;
pub mod github;
pub mod message;
pub mod resolved;
pub mod tagset;
pub mod verification;
pub mod version;

pub use error::{Error, ErrorKind, Result};
