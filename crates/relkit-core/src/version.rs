//! The tag grammar: `[COMPONENT SEP][v]MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, strict SemVer 2.0.
//!
//! Versions are [`semver::Version`]s; release ordering always uses precedence
//! ([`semver::Version::cmp_precedence`]), which ignores build metadata.

use std::cmp::Ordering;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether release tags carry a `v` before the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VPrefix {
    /// `v1.2.3` and `1.2.3` both parse; new tags are written with `v`.
    #[default]
    Optional,
    /// Only `v1.2.3` parses.
    Required,
    /// Only `1.2.3` parses; new tags are written without `v`.
    Never,
}

/// How release tags are spelled in one repository (or one component of a monorepo).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagGrammar {
    /// Monorepo component, e.g. `api` for `api/v1.2.3`; `None` for plain tags.
    pub component: Option<String>,
    /// Separators accepted between component and version; the first is used when writing.
    pub separators: Vec<String>,
    /// The `v` rule.
    pub v_prefix: VPrefix,
}

/// A git (or registry) tag that parsed as a release version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTag {
    /// The tag as written, e.g. `api/v1.2.3-rc.1`.
    pub name: String,
    /// The version it denotes.
    pub version: Version,
}

/// The expected form, quoted in every version error.
pub const EXPECTED_FORM: &str =
    "expected [v]MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (strict SemVer 2.0), e.g. v1.2.3 or v1.2.3-rc.1";

impl TagGrammar {
    /// Plain tags (`v1.2.3` or `1.2.3`), no component.
    pub fn plain() -> Self {
        Self { component: None, separators: default_separators(), v_prefix: VPrefix::Optional }
    }

    /// Tags of one monorepo component: `COMPONENT/v1.2.3` or `COMPONENT-v1.2.3`.
    pub fn for_component(component: impl Into<String>) -> Self {
        Self { component: Some(component.into()), ..Self::plain() }
    }

    /// Parses a tag, failing with a message that quotes the tag and the expected form.
    pub fn parse(&self, tag: &str) -> Result<ReleaseTag> {
        let rest = self.strip_component(tag).ok_or_else(|| {
            let component = self.component.as_deref().unwrap_or_default();
            Error::usage(format!(
                "tag {tag:?} does not belong to component {component:?}: expected {component}{}v1.2.3",
                self.write_separator()
            ))
        })?;
        let version = self
            .parse_version_text(rest)
            .map_err(|why| Error::usage(format!("invalid version tag {tag:?}: {why}; {EXPECTED_FORM}")))?;
        Ok(ReleaseTag { name: tag.to_string(), version })
    }

    /// Parses a tag if it is a release tag of this grammar; `None` for anything else.
    pub fn try_parse(&self, tag: &str) -> Option<ReleaseTag> {
        self.parse(tag).ok()
    }

    /// Writes the tag for a version: `[component SEP]v1.2.3`.
    pub fn format(&self, version: &Version) -> String {
        let v = if self.v_prefix == VPrefix::Never { "" } else { "v" };
        match &self.component {
            Some(c) => format!("{c}{}{v}{version}", self.write_separator()),
            None => format!("{v}{version}"),
        }
    }

    fn write_separator(&self) -> &str {
        self.separators.first().map(String::as_str).unwrap_or("/")
    }

    fn strip_component<'a>(&self, tag: &'a str) -> Option<&'a str> {
        match &self.component {
            None => Some(tag),
            Some(c) => {
                let rest = tag.strip_prefix(c.as_str())?;
                self.separators.iter().find_map(|sep| rest.strip_prefix(sep.as_str()))
            }
        }
    }

    fn parse_version_text(&self, text: &str) -> std::result::Result<Version, String> {
        let (had_v, bare) = match text.strip_prefix('v') {
            Some(bare) => (true, bare),
            None => (false, text),
        };
        match (self.v_prefix, had_v) {
            (VPrefix::Required, false) => return Err("the tag must start with 'v'".into()),
            (VPrefix::Never, true) => return Err("the tag must not start with 'v'".into()),
            _ => {}
        }
        parse_strict(bare)
    }
}

/// `api/v1.2.3`, `api-v1.2.3` and the npm/changesets form `create-vite@5.0.0` (also
/// `@scope/pkg@1.2.3`).
fn default_separators() -> Vec<String> {
    vec!["/".to_string(), "-".to_string(), "@".to_string()]
}

/// Parses a version string with an optional leading `v` (strict SemVer 2.0 otherwise).
pub fn parse_version(text: &str) -> Result<Version> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    parse_strict(bare)
        .map_err(|why| Error::usage(format!("invalid version {text:?}: {why}; {EXPECTED_FORM}")))
}

/// Strict SemVer 2.0, with our own explanation of the common mistakes.
fn parse_strict(bare: &str) -> std::result::Result<Version, String> {
    Version::parse(bare).map_err(|e| explain_common_mistake(bare).unwrap_or_else(|| e.to_string()))
}

fn explain_common_mistake(bare: &str) -> Option<String> {
    let core = bare.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if core.is_empty() || !core.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("it does not start with a version number".into());
    }
    if parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        if parts.len() < 3 {
            return Some(format!("partial version with {} part(s)", parts.len()));
        }
        if parts.len() > 3 {
            return Some(format!("{} numeric parts, SemVer has exactly 3", parts.len()));
        }
        if parts.iter().any(|p| p.len() > 1 && p.starts_with('0')) {
            return Some("leading zero in a numeric part".into());
        }
    }
    if let Some((_, pre)) = bare.split_once('-') {
        let pre = pre.split('+').next().unwrap_or_default();
        if pre.is_empty() || pre.split('.').any(str::is_empty) {
            return Some("empty prerelease identifier".into());
        }
    }
    None
}

/// Release ordering: SemVer precedence (build metadata ignored).
pub fn cmp_precedence(a: &Version, b: &Version) -> Ordering {
    // The numeric triple decides almost every comparison; compare it first, cheaply.
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| a.cmp_precedence(b))
}

/// True for a version without prerelease identifiers.
pub fn is_stable(version: &Version) -> bool {
    version.pre.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_of_tags() {
        let plain = TagGrammar::plain();
        let cases: &[(&str, Option<&str>)] = &[
            ("v1.2.3", Some("1.2.3")),
            ("1.2.3", Some("1.2.3")),
            ("v1.2.3-rc.1", Some("1.2.3-rc.1")),
            ("v1.2.3+build.5", Some("1.2.3+build.5")),
            ("v0.4.0", Some("0.4.0")),
            ("1.2", None),
            ("v1.2.3.4", None),
            ("release1", None),
            ("v01.2.3", None),
            ("v1.2.3-", None),
            ("v1.2.3-rc..1", None),
            ("v1.2.3-rc.01", None),
            ("V1.2.3", None),
            ("", None),
        ];
        for (tag, want) in cases {
            let got = plain.parse(tag);
            match want {
                Some(v) => assert_eq!(got.unwrap().version.to_string(), *v, "{tag}"),
                None => {
                    let err = got.unwrap_err();
                    assert_eq!(err.exit_code(), 2);
                    assert!(err.message().contains(&format!("{tag:?}")), "{err}");
                    assert!(err.message().contains("MAJOR.MINOR.PATCH"), "{err}");
                }
            }
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let plain = TagGrammar::plain();
        assert!(plain.parse("1.2").unwrap_err().message().contains("partial version"));
        assert!(plain.parse("v1.2.3.4").unwrap_err().message().contains("4 numeric parts"));
        assert!(plain.parse("v01.2.3").unwrap_err().message().contains("leading zero"));
        assert!(plain.parse("release1").unwrap_err().message().contains("does not start"));
        assert!(plain.parse("v1.0.0-").unwrap_err().message().contains("empty prerelease"));
    }

    #[test]
    fn components_and_separators() {
        let api = TagGrammar::for_component("api");
        assert_eq!(api.parse("api/v1.2.3").unwrap().version, Version::new(1, 2, 3));
        assert_eq!(api.parse("api-v1.2.3").unwrap().version, Version::new(1, 2, 3));
        assert!(api.parse("web/v1.2.3").unwrap_err().message().contains("component \"api\""));
        assert!(api.try_parse("v1.2.3").is_none());
        assert_eq!(api.format(&Version::new(1, 0, 0)), "api/v1.0.0");
        assert!(TagGrammar::plain().try_parse("api/v1.2.3").is_none());
        let vite = TagGrammar::for_component("create-vite");
        assert_eq!(vite.parse("create-vite@5.0.0").unwrap().version, Version::new(5, 0, 0));
        let scoped = TagGrammar::for_component("@scope/pkg");
        assert_eq!(scoped.parse("@scope/pkg@1.2.3").unwrap().version, Version::new(1, 2, 3));
        assert!(TagGrammar::plain().try_parse("create-vite@5.0.0").is_none());
    }

    #[test]
    fn v_prefix_rules() {
        let required = TagGrammar { v_prefix: VPrefix::Required, ..TagGrammar::plain() };
        assert!(required.parse("1.2.3").unwrap_err().message().contains("must start with 'v'"));
        let never = TagGrammar { v_prefix: VPrefix::Never, ..TagGrammar::plain() };
        assert!(never.parse("v1.2.3").is_err());
        assert_eq!(never.format(&Version::new(1, 2, 3)), "1.2.3");
    }

    #[test]
    fn semver_spec_precedence_examples() {
        // SemVer 2.0 §11 examples, in ascending order.
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0-rc.9",
            "1.0.0-rc.10",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        let versions: Vec<Version> = ordered.iter().map(|s| parse_version(s).unwrap()).collect();
        for pair in versions.windows(2) {
            assert_eq!(cmp_precedence(&pair[0], &pair[1]), Ordering::Less, "{} < {}", pair[0], pair[1]);
        }
        let a = parse_version("1.0.0+build.1").unwrap();
        let b = parse_version("1.0.0+build.2").unwrap();
        assert_eq!(cmp_precedence(&a, &b), Ordering::Equal);
    }

    fn identifier() -> impl Strategy<Value = String> {
        prop_oneof![(0u64..1000).prop_map(|n| n.to_string()), "[a-zA-Z][0-9a-zA-Z-]{0,6}".prop_map(|s| s),]
    }

    fn version() -> impl Strategy<Value = Version> {
        (
            0u64..50,
            0u64..50,
            0u64..50,
            proptest::collection::vec(identifier(), 0..3),
            proptest::option::of("[0-9a-zA-Z]{1,5}"),
        )
            .prop_map(|(ma, mi, pa, pre, build)| {
                let mut text = format!("{ma}.{mi}.{pa}");
                if !pre.is_empty() {
                    text.push('-');
                    text.push_str(&pre.join("."));
                }
                if let Some(b) = build {
                    text.push('+');
                    text.push_str(&b);
                }
                Version::parse(&text).unwrap()
            })
    }

    proptest! {
        #[test]
        fn parse_of_format_is_identity(v in version(), component in proptest::option::of("[a-z]{1,6}")) {
            let grammar = match component { Some(c) => TagGrammar::for_component(c), None => TagGrammar::plain() };
            let tag = grammar.format(&v);
            let parsed = grammar.parse(&tag).unwrap();
            prop_assert_eq!(&parsed.version, &v);
            prop_assert_eq!(parsed.name, tag);
        }

        #[test]
        fn precedence_is_a_total_order(a in version(), b in version(), c in version()) {
            let ab = cmp_precedence(&a, &b);
            prop_assert_eq!(ab.reverse(), cmp_precedence(&b, &a));
            if ab != Ordering::Greater && cmp_precedence(&b, &c) != Ordering::Greater {
                prop_assert_ne!(cmp_precedence(&a, &c), Ordering::Greater);
            }
            // A prerelease always sorts before its release.
            if !a.pre.is_empty() {
                let release = Version::new(a.major, a.minor, a.patch);
                prop_assert_eq!(cmp_precedence(&a, &release), Ordering::Less);
            }
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = TagGrammar::plain().parse(&text);
            let _ = TagGrammar::for_component("api").parse(&text);
        }
    }
}
