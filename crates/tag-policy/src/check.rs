//! `tag-policy check`: validates a git tag before it is pushed (a maintainer, a pre-push hook,
//! PR validation). Every rule that fails is reported on its own line.

use std::cmp::Ordering;

use relkit_core::config::CheckConfig;
use relkit_core::tagset::TagSet;
use relkit_core::version::{TagGrammar, cmp_precedence, is_stable};

/// How the tag to check exists in the repository, if it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingTag {
    /// The commit it points at.
    pub commit: Option<String>,
    /// Annotated tag object.
    pub annotated: bool,
    /// Signed tag object.
    pub signed: bool,
}

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckInput<'a> {
    /// The tag name.
    pub tag: &'a str,
    /// The tag grammar.
    pub grammar: &'a TagGrammar,
    /// The rules from configuration.
    pub rules: &'a CheckConfig,
    /// All release tags of the repository (the tag itself included, if it exists).
    pub tags: &'a TagSet,
    /// The tag as it exists locally, if it does.
    pub local: Option<ExistingTag>,
    /// The commit the tag is meant for (HEAD by default).
    pub target: &'a str,
    /// `--allow-lower`: a version below the highest of its major line is fine.
    pub allow_lower: bool,
}

/// Returns one message per violated rule; empty when the tag may be pushed.
pub fn check(input: &CheckInput) -> Vec<String> {
    let tag = input.tag;
    let parsed = match input.grammar.parse(tag) {
        Ok(p) => p,
        Err(e) => return vec![e.message().to_string()],
    };
    let version = &parsed.version;
    let mut violations = Vec::new();

    let allowed = &input.rules.allowed_prereleases;
    if !version.pre.is_empty() && !allowed.is_empty() {
        let first = version.pre.as_str().split('.').next().unwrap_or_default().to_ascii_lowercase();
        if !allowed.iter().any(|a| first.starts_with(&a.to_ascii_lowercase())) {
            violations.push(format!(
                "{tag}: prerelease {:?} is not allowed; use one of {} (check.allowed_prereleases)",
                version.pre.as_str(),
                allowed.join(", ")
            ));
        }
    }

    match &input.local {
        Some(local) if local.commit.as_deref() != Some(input.target) => violations.push(format!(
            "{tag}: the tag already exists at {}; release tags never move: pick the next version",
            local.commit.as_deref().map(|c| &c[..c.len().min(12)]).unwrap_or("a non-commit object")
        )),
        Some(local) => {
            if input.rules.require_annotated && !local.annotated {
                violations.push(format!(
                    "{tag}: lightweight tag; create an annotated tag: git tag -d {tag} && git tag -a {tag} -m \"{tag}\""
                ));
            }
            if input.rules.require_signed && !local.signed {
                violations.push(format!(
                    "{tag}: unsigned tag; sign it: git tag -s {tag} -m \"{tag}\" (check.require_signed)"
                ));
            }
        }
        None => {}
    }

    if !input.allow_lower {
        let mut competitors = input.tags.entries().iter().filter(|e| {
            e.name() != tag
                && e.version().major == version.major
                && (!is_stable(version) || is_stable(e.version()))
        });
        if let Some(higher) = competitors.rfind(|e| cmp_precedence(e.version(), version) != Ordering::Less) {
            violations.push(format!(
                "{tag}: not above {}, the highest existing version of the {}.x line; pick a higher version \
                 or pass --allow-lower",
                higher.name(),
                version.major
            ));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tag: &str, existing: &[&str], local: Option<ExistingTag>, allow_lower: bool) -> Vec<String> {
        let grammar = TagGrammar::plain();
        let tags = TagSet::from_names(&grammar, existing);
        check(&CheckInput {
            tag,
            grammar: &grammar,
            rules: &CheckConfig::default(),
            tags: &tags,
            local,
            target: "head",
            allow_lower,
        })
    }

    fn here(annotated: bool) -> Option<ExistingTag> {
        Some(ExistingTag { commit: Some("head".into()), annotated, signed: false })
    }

    /// (tag, existing tags, the tag as it exists locally, --allow-lower, expected violations)
    type Case<'a> = (&'a str, &'a [&'a str], Option<ExistingTag>, bool, &'a [&'a str]);

    #[test]
    fn table() {
        let cases: &[Case] = &[
            ("v1.2.4", &["v1.2.3"], None, false, &[]),
            ("v1.9.1", &["v1.9.0", "v2.0.0"], None, false, &[]),
            ("v1.9.1", &["v1.9.0", "v1.10.0"], None, false, &["not above v1.10.0"]),
            ("v1.9.1", &["v1.9.0", "v1.10.0"], None, true, &[]),
            ("v2.0.0", &["v2.0.0-rc.3"], None, false, &[]),
            ("v1.9.2", &["v1.10.0-rc.1"], None, false, &[]),
            ("v2.0.0-rc.2", &["v2.0.0-rc.3"], None, false, &["not above v2.0.0-rc.3"]),
            ("v1.2.3", &["v1.2.3"], here(true), false, &[]),
            ("v1.2.3", &["v1.2.3"], here(false), false, &["lightweight tag"]),
            (
                "v1.2.3",
                &["v1.2.3"],
                Some(ExistingTag { commit: Some("other".into()), annotated: true, signed: false }),
                false,
                &["already exists"],
            ),
            ("v1.2.3-preview.1", &[], None, false, &["prerelease \"preview.1\" is not allowed"]),
            ("1.2", &[], None, false, &["partial version"]),
            ("v01.2.3", &[], None, false, &["leading zero"]),
        ];
        for (tag, existing, local, allow_lower, want) in cases {
            let got = run(tag, existing, local.clone(), *allow_lower);
            assert_eq!(got.len(), want.len(), "{tag} {existing:?}: {got:?}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(g.contains(w), "{tag}: {g:?} should contain {w:?}");
                assert!(g.contains(tag), "{tag}: every message names the tag: {g}");
            }
        }
    }

    #[test]
    fn signed_tags_when_configured() {
        let grammar = TagGrammar::plain();
        let tags = TagSet::default();
        let rules = CheckConfig { require_signed: true, ..CheckConfig::default() };
        let got = check(&CheckInput {
            tag: "v1.0.0",
            grammar: &grammar,
            rules: &rules,
            tags: &tags,
            local: here(true),
            target: "head",
            allow_lower: false,
        });
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("git tag -s"));
    }
}
