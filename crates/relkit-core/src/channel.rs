//! Release channels: which audience a version is for. Seed pipelines promote
//! `next` → `testing` → `stable`; release candidates go to `candidate`.

use semver::Version;
use serde::{Deserialize, Serialize};

/// The channel of a stable release.
pub const STABLE: &str = "stable";
/// The channel of an untagged build of the default branch.
pub const NEXT: &str = "next";
/// The channel of an untagged build of any other branch or a pull request.
pub const DEV: &str = "dev";

/// One rule: prereleases whose first identifier starts with one of `prefixes` go to `channel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRule {
    /// Channel name, e.g. `candidate`.
    pub channel: String,
    /// Prefixes of the first prerelease identifier, compared case-insensitively, e.g. `rc`.
    pub prerelease: Vec<String>,
}

/// The rules mapping a version to its channel, tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelRules {
    /// Prerelease rules in order; the first match wins.
    pub rules: Vec<ChannelRule>,
    /// Channel of a prerelease no rule matches; `None` means its first identifier is the channel.
    pub fallback: Option<String>,
}

impl Default for ChannelRules {
    fn default() -> Self {
        let rule = |channel: &str, prefixes: &[&str]| ChannelRule {
            channel: channel.to_string(),
            prerelease: prefixes.iter().map(|p| p.to_string()).collect(),
        };
        Self {
            rules: vec![
                rule("candidate", &["rc"]),
                rule("testing", &["test", "beta", "alpha"]),
                rule(NEXT, &["dev", "next"]),
            ],
            fallback: None,
        }
    }
}

impl ChannelRules {
    /// The channel of a tagged version: `stable` without prerelease, else the first matching rule.
    pub fn channel_of(&self, version: &Version) -> String {
        if version.pre.is_empty() {
            return STABLE.to_string();
        }
        let first = version.pre.as_str().split('.').next().unwrap_or_default().to_ascii_lowercase();
        self.rules
            .iter()
            .find(|r| r.prerelease.iter().any(|p| first.starts_with(&p.to_ascii_lowercase())))
            .map(|r| r.channel.clone())
            .or_else(|| self.fallback.clone())
            .unwrap_or_else(|| first.trim_end_matches(|c: char| c.is_ascii_digit()).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_channels() {
        let rules = ChannelRules::default();
        let cases = [
            ("1.2.3", "stable"),
            ("1.2.3-rc.1", "candidate"),
            ("1.2.3-RC1", "candidate"),
            ("1.2.3-test.4", "testing"),
            ("1.2.3-beta.2", "testing"),
            ("1.2.3-alpha", "testing"),
            ("1.2.3-dev.12", "next"),
            ("1.2.3-preview.1", "preview"),
            ("1.2.3-nightly20", "nightly"),
        ];
        for (version, channel) in cases {
            assert_eq!(rules.channel_of(&Version::parse(version).unwrap()), channel, "{version}");
        }
    }

    #[test]
    fn fallback_and_custom_rules() {
        let rules = ChannelRules {
            rules: vec![ChannelRule { channel: "edge".into(), prerelease: vec!["preview".into()] }],
            fallback: Some("testing".into()),
        };
        assert_eq!(rules.channel_of(&Version::parse("1.0.0-preview.1").unwrap()), "edge");
        assert_eq!(rules.channel_of(&Version::parse("1.0.0-rc.1").unwrap()), "testing");
    }
}
