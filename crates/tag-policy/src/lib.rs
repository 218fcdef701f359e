//! tag-policy: which image tags to push for a resolved version, and the rules around them.
//!
//! - [`plan`]: the default tag policy and OCI labels (pure).
//! - [`metadata_rules`]: docker/metadata-action's `tags:`/`flavor:` rules (pure).
//! - [`metadata_compat`]: docker/metadata-action's outputs (pure); [`metadata_cmd`]: `tag-policy metadata`.
//! - [`check`]: rules for a new git tag (pure).
//! - [`commands`]: the I/O edge of `plan` and `check`.
//! - [`registry_cmds`]: `apply`, `promote` and `prune` against a registry or an OCI layout.
//! - [`lint`]: mutable image and action references.

pub mod check;
pub mod commands;
pub mod lint;
pub mod metadata_cmd;
pub mod metadata_compat;
pub mod metadata_rules;
pub mod plan;
pub mod registry_cmds;
