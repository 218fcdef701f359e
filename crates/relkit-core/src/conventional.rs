//! Conventional commits (<https://www.conventionalcommits.org/en/v1.0.0/>): parsing and the
//! version bump a set of commits implies.

use semver::{Prerelease, Version};

/// A footer line such as `Refs: #123` or `BREAKING CHANGE: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// The token, e.g. `Refs` or `BREAKING CHANGE`.
    pub token: String,
    /// The value; continuation lines are joined with `\n`.
    pub value: String,
}

/// A parsed conventional commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConventionalCommit {
    /// Lower-cased type, e.g. `feat`.
    pub kind: String,
    /// Optional scope, e.g. `api` in `feat(api): ...`.
    pub scope: Option<String>,
    /// `!` after the type/scope, or a breaking-change footer.
    pub breaking: bool,
    /// The description after `: `.
    pub description: String,
    /// The body between the header and the footers, if any.
    pub body: Option<String>,
    /// Footers, in order.
    pub footers: Vec<Footer>,
}

impl ConventionalCommit {
    /// Parses a commit message; `None` when the header is not `type[(scope)][!]: description`.
    pub fn parse(message: &str) -> Option<Self> {
        let message = message.trim_start_matches(['\n', '\r']);
        let (header, rest) = message.split_once('\n').unwrap_or((message, ""));
        let (kind, scope, bang, description) = parse_header(header.trim_end_matches('\r'))?;
        let (body, footers) = split_body_and_footers(rest);
        let breaking = bang || footers.iter().any(|f| is_breaking_token(&f.token));
        Some(Self { kind, scope, breaking, description, body, footers })
    }

    /// The upgrade notes: every `BREAKING CHANGE:`/`BREAKING-CHANGE:` footer value, or the
    /// description when the break is only marked with `!`.
    pub fn breaking_notes(&self) -> Vec<String> {
        let notes: Vec<String> =
            self.footers.iter().filter(|f| is_breaking_token(&f.token)).map(|f| f.value.clone()).collect();
        if notes.is_empty() && self.breaking { vec![self.description.clone()] } else { notes }
    }

    /// The bump this commit asks for on its own.
    pub fn bump(&self) -> Bump {
        if self.breaking {
            Bump::Major
        } else if self.kind == "feat" {
            Bump::Minor
        } else if self.kind == "fix" || self.kind == "perf" {
            Bump::Patch
        } else {
            Bump::None
        }
    }
}

fn is_breaking_token(token: &str) -> bool {
    token == "BREAKING CHANGE" || token == "BREAKING-CHANGE"
}

fn parse_header(header: &str) -> Option<(String, Option<String>, bool, String)> {
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
    Some((kind.to_ascii_lowercase(), scope, bang, description.to_string()))
}

/// Splits what follows the header into a body and the trailing footer block.
fn split_body_and_footers(rest: &str) -> (Option<String>, Vec<Footer>) {
    let rest = rest.replace("\r\n", "\n");
    let paragraphs: Vec<&str> =
        rest.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.trim().is_empty()).collect();
    let Some((last, before)) = paragraphs.split_last() else {
        return (None, Vec::new());
    };
    let footers = parse_footers(last);
    let body_parts: Vec<&str> = if footers.is_some() { before.to_vec() } else { paragraphs.clone() };
    let body = body_parts.join("\n\n");
    (Some(body).filter(|b| !b.trim().is_empty()), footers.unwrap_or_default())
}

/// Parses a paragraph as footers; `None` if its first line is not a footer.
fn parse_footers(paragraph: &str) -> Option<Vec<Footer>> {
    let mut footers: Vec<Footer> = Vec::new();
    for line in paragraph.lines() {
        match footer_line(line) {
            Some(footer) => footers.push(footer),
            None => match footers.last_mut() {
                Some(last) => {
                    last.value.push('\n');
                    last.value.push_str(line.trim_end());
                }
                None => return None,
            },
        }
    }
    Some(footers)
}

fn footer_line(line: &str) -> Option<Footer> {
    let line = line.trim_end_matches('\r');
    for breaking in ["BREAKING CHANGE", "BREAKING-CHANGE"] {
        if let Some(value) = line.strip_prefix(breaking).and_then(|r| r.strip_prefix(": ")) {
            return Some(Footer { token: breaking.to_string(), value: value.trim().to_string() });
        }
    }
    let (token, value) = line.split_once(": ").or_else(|| line.split_once(" #"))?;
    let valid_token = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && token.as_bytes()[0].is_ascii_alphabetic();
    valid_token.then(|| Footer { token: token.to_string(), value: value.trim().to_string() })
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

/// The largest bump any of the messages asks for (non-conventional messages ask for none).
pub fn bump_for_messages<'a>(messages: impl IntoIterator<Item = &'a str>) -> Bump {
    messages.into_iter().filter_map(ConventionalCommit::parse).map(|c| c.bump()).max().unwrap_or(Bump::None)
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
        let c = ConventionalCommit::parse("feat(api)!: drop v1 endpoints").unwrap();
        assert_eq!((c.kind.as_str(), c.scope.as_deref(), c.breaking), ("feat", Some("api"), true));
        assert_eq!(c.description, "drop v1 endpoints");
        assert_eq!(ConventionalCommit::parse("Fix: typo").unwrap().kind, "fix");
        for bad in ["fix typo", "feat(): x", "feat:", "feat:x", "fe at: x", "Merge branch 'x'", ""] {
            assert!(ConventionalCommit::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn body_and_footers() {
        let msg = "fix: handle nulls\n\nLong explanation\nover two lines.\n\nSecond paragraph.\n\n\
                   Reviewed-by: Z\nRefs #133\nBREAKING CHANGE: the config key `a` is now `b`\n  continued";
        let c = ConventionalCommit::parse(msg).unwrap();
        assert!(c.breaking);
        assert_eq!(c.body.as_deref(), Some("Long explanation\nover two lines.\n\nSecond paragraph."));
        assert_eq!(c.footers.len(), 3);
        assert_eq!(c.footers[1], Footer { token: "Refs".into(), value: "133".into() });
        assert_eq!(c.breaking_notes(), ["the config key `a` is now `b`\n  continued"]);
        assert_eq!(c.bump(), Bump::Major);
    }

    #[test]
    fn bang_without_footer_uses_the_description_as_note() {
        let c = ConventionalCommit::parse("refactor!: remove the old CLI").unwrap();
        assert_eq!(c.breaking_notes(), ["remove the old CLI"]);
        let c = ConventionalCommit::parse("chore: x\n\nBREAKING-CHANGE: gone").unwrap();
        assert!(c.breaking);
        assert_eq!(c.breaking_notes(), ["gone"]);
    }

    #[test]
    fn bumps() {
        assert_eq!(bump_for_messages(["docs: x", "fix: y", "not conventional"]), Bump::Patch);
        assert_eq!(bump_for_messages(["perf: x", "feat: y"]), Bump::Minor);
        assert_eq!(bump_for_messages(["feat!: x", "fix: y"]), Bump::Major);
        assert_eq!(bump_for_messages(["chore: x"]), Bump::None);
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
        fn parsing_never_panics(msg in "\\PC{0,200}") {
            let _ = ConventionalCommit::parse(&msg);
        }

        #[test]
        fn well_formed_headers_parse(kind in "[a-z]{1,8}", scope in proptest::option::of("[a-z0-9-]{1,8}"), desc in "[a-zA-Z0-9][a-zA-Z0-9 ]{0,30}") {
            let header = match &scope { Some(s) => format!("{kind}({s}): {desc}"), None => format!("{kind}: {desc}") };
            let c = ConventionalCommit::parse(&header).unwrap();
            prop_assert_eq!(c.kind, kind);
            prop_assert_eq!(c.scope, scope);
            prop_assert_eq!(c.description, desc.trim());
        }
    }
}
