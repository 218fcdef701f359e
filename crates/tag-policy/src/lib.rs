//! tag-policy: which image tags to push for a resolved version, and the rules around them.

pub mod lint;
pub mod metadata_rules;
pub mod registry_cmds;
