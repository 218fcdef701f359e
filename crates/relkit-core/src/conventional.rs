//! Conventional commits (<https://www.conventionalcommits.org/en/v1.0.0/>): the header grammar,
//! bumps and how a bump applies to a version. Whole messages are read by [`crate::message`].

use semver::{Prerelease, Version};

/// A conventional header `type[(scope)][!]: description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-cased type, e.g. `feat`.
    pub kind: String,
    /// Optional scope, e.g. `api` in `feat(api): ...`.
    pub scope: Option<String>,
    /// `!` after the type/scope.
    pub breaking: bool,
    /// The description after `: `.
    pub description: String,
}

/// Parses one line as a conventional header; `None` when it is not `type[(scope)][!]: description`.
pub fn parse_header(line: &str) -> Option<Header> {
    let header = line.trim_end_matches('\r');
    let (prefix, description) = header.split_once(':')?;
    let description = description.strip_prefix(' ')?.trim();
    if description.is_empty() {
        return None;
    }
    let (prefix, bang) = match prefix.strip_suffix('!') {
        Some(p) => (p, true),
        None => (prefix, false),
    };
    let (kind, scope) = match prefix.split_once('(') {
        Some((kind, scope)) => {
            let scope = scope.strip_suffix(')')?;
            if scope.is_empty() || scope.contains(['(', ')']) {
                return None;
            }
            (kind, Some(scope.to_string()))
        }
        None => (prefix, None),
    };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    Some(Header {
        kind: kind.to_ascii_lowercase(),
        scope,
        breaking: bang,
        description: description.to_string(),
    })
}

/// A version bump, ordered from none to major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bump {
    /// Nothing that warrants a release.
    None,
    /// `fix`, `perf`.
    Patch,
    /// `feat`.
    Minor,
    /// A breaking change.
    Major,
}

/// Applies a bump to the last release. In `0.x` a breaking change bumps the minor version and a
/// feature the patch version is NOT special-cased: only breaking changes are softened. A bump
/// of `None` still yields the next patch, so a development version is always ahead of `base`.
pub fn apply_bump(base: &Version, bump: Bump) -> Version {
    let effective = if base.major == 0 && bump == Bump::Major { Bump::Minor } else { bump };
    let mut next = Version::new(base.major, base.minor, base.patch);
    if !base.pre.is_empty() {
        // The release of a prerelease base is the base itself for any bump it already covers.
        return next;
    }
    match effective {
        Bump::Major => {
            next.major += 1;
            next.minor = 0;
            next.patch = 0;
        }
        Bump::Minor => {
            next.minor += 1;
            next.patch = 0;
        }
        Bump::Patch | Bump::None => next.patch += 1,
    }
    next.pre = Prerelease::EMPTY;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers() {
        let c = parse_header("feat(api)!: drop v1 endpoints").unwrap();
        assert_eq!((c.kind.as_str(), c.scope.as_deref(), c.breaking), ("feat", Some("api"), true));
        assert_eq!(c.description, "drop v1 endpoints");
        assert_eq!(parse_header("Fix: typo").unwrap().kind, "fix");
        for bad in ["fix typo", "feat(): x", "feat:", "feat:x", "fe at: x", "Merge branch 'x'", ""] {
            assert!(parse_header(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn bumps() {
        let v = |s| Version::parse(s).unwrap();
        let table = [
            ("1.4.2", Bump::Major, "2.0.0"),
            ("1.4.2", Bump::Minor, "1.5.0"),
            ("1.4.2", Bump::Patch, "1.4.3"),
            ("1.4.2", Bump::None, "1.4.3"),
            ("0.4.2", Bump::Major, "0.5.0"),
            ("0.4.2", Bump::Minor, "0.5.0"),
            ("2.0.0-rc.1", Bump::Minor, "2.0.0"),
        ];
        for (base, bump, want) in table {
            assert_eq!(apply_bump(&v(base), bump).to_string(), want, "{base} {bump:?}");
        }
    }

    proptest! {
        #[test]
        fn well_formed_headers_parse(kind in "[a-z]{1,8}", scope in proptest::option::of("[a-z0-9-]{1,8}"), desc in "[a-zA-Z0-9][a-zA-Z0-9 ]{0,30}") {
            let header = match &scope { Some(s) => format!("{kind}({s}): {desc}"), None => format!("{kind}: {desc}") };
            let c = parse_header(&header).unwrap();
            prop_assert_eq!(c.kind, kind);
            prop_assert_eq!(c.scope, scope);
            prop_assert_eq!(c.description, desc.trim());
        }
    }
}
