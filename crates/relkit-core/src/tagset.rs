//! All release tags of a repository (git, or a registry repository), read once, parsed and
//! ordered by SemVer precedence, with the queries every relkit binary needs.

use std::cmp::Ordering;

use semver::Version;

use crate::version::{ReleaseTag, TagGrammar, cmp_precedence, is_stable};

/// A tag as read from git: name, the commit it peels to, and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagRef {
    /// Short name, e.g. `v1.2.3`.
    pub name: String,
    /// Hex id of the commit the tag peels to, when known.
    pub commit: Option<String>,
    /// Annotated tag object (as opposed to a lightweight ref).
    pub annotated: bool,
    /// The tag object carries a PGP or SSH signature.
    pub signed: bool,
}

/// A release tag in a [`TagSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    /// The parsed tag.
    pub tag: ReleaseTag,
    /// Hex id of the commit the tag peels to, when known.
    pub commit: Option<String>,
    /// Annotated tag object.
    pub annotated: bool,
    /// Signed tag object.
    pub signed: bool,
}

impl TagEntry {
    /// The tag's version.
    pub fn version(&self) -> &Version {
        &self.tag.version
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.tag.name
    }
}

/// Which versions a "highest" query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every version.
    All,
    /// Versions `MAJOR.*.*`.
    Major(u64),
    /// Versions `MAJOR.MINOR.*`.
    Minor(u64, u64),
}

impl Scope {
    fn contains(self, v: &Version) -> bool {
        match self {
            Scope::All => true,
            Scope::Major(major) => v.major == major,
            Scope::Minor(major, minor) => v.major == major && v.minor == minor,
        }
    }
}

/// Release tags ordered by ascending precedence (ties broken by name, so the order is total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagSet {
    entries: Vec<TagEntry>,
    ignored: Vec<String>,
}

impl TagSet {
    /// Builds the set from git tags; names that are not release tags of `grammar` are kept in
    /// [`TagSet::ignored`].
    pub fn from_refs(grammar: &TagGrammar, refs: impl IntoIterator<Item = TagRef>) -> Self {
        let mut entries = Vec::new();
        let mut ignored = Vec::new();
        for r in refs {
            match grammar.try_parse(&r.name) {
                Some(tag) => {
                    entries.push(TagEntry { tag, commit: r.commit, annotated: r.annotated, signed: r.signed })
                }
                None => ignored.push(r.name),
            }
        }
        sort_entries(&mut entries);
        ignored.sort();
        Self { entries, ignored }
    }

    /// Builds the set from bare tag names (a registry tag list, an `--existing-tags` file).
    pub fn from_names<S: AsRef<str>>(grammar: &TagGrammar, names: impl IntoIterator<Item = S>) -> Self {
        Self::from_refs(
            grammar,
            names.into_iter().map(|n| TagRef { name: n.as_ref().to_string(), ..TagRef::default() }),
        )
    }

    /// Adds the tags of `other` that this set lacks (by name).
    pub fn merge(mut self, other: TagSet) -> Self {
        for e in other.entries {
            if self.get(e.name()).is_none() {
                self.entries.push(e);
            }
        }
        sort_entries(&mut self.entries);
        self
    }

    /// All release tags, lowest precedence first.
    pub fn entries(&self) -> &[TagEntry] {
        &self.entries
    }

    /// Tag names that did not parse as release tags (sorted).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Number of release tags.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no release tag.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with this exact name.
    pub fn get(&self, name: &str) -> Option<&TagEntry> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// The highest version in `scope`, among stable versions only or among all.
    pub fn highest(&self, scope: Scope, stable_only: bool) -> Option<&TagEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| scope.contains(e.version()) && (!stable_only || is_stable(e.version())))
    }

    /// Whether `version` is at least as high as every tag in `scope` it competes with: a stable
    /// version competes with stable tags only (a `2.0.0-rc.1` does not stop `1.9.0` from being
    /// the highest release), a prerelease with every tag.
    pub fn is_highest(&self, version: &Version, scope: Scope) -> bool {
        let stable_only = is_stable(version);
        match self.highest(scope, stable_only) {
            Some(top) => cmp_precedence(version, top.version()) != Ordering::Less,
            None => true,
        }
    }

    /// The highest tag with lower precedence than `version` (a stable tag only, if asked):
    /// for `v2.0.0` with `v2.0.0-rc.3` and `v1.9.0`, any gives `v2.0.0-rc.3` and stable gives
    /// `v1.9.0`; for a hotfix `v1.9.1` after `v2.0.0`, both give `v1.9.0`.
    pub fn previous(&self, version: &Version, stable_only: bool) -> Option<&TagEntry> {
        self.entries.iter().rev().find(|e| {
            cmp_precedence(e.version(), version) == Ordering::Less && (!stable_only || is_stable(e.version()))
        })
    }

    /// The release tags on a commit, lowest precedence first.
    pub fn on_commit(&self, commit: &str) -> Vec<&TagEntry> {
        self.entries.iter().filter(|e| e.commit.as_deref() == Some(commit)).collect()
    }

    /// The tag that names a commit: the highest precedence among its tags (a commit with both
    /// `v2.0.0-rc.3` and `v2.0.0` is `v2.0.0`).
    pub fn best_on_commit(&self, commit: &str) -> Option<&TagEntry> {
        self.on_commit(commit).into_iter().last()
    }
}

/// Ascending precedence, ties (same precedence, e.g. `v1.0.0` and `1.0.0+b`) by name: a total order.
fn sort_entries(entries: &mut [TagEntry]) {
    entries.sort_unstable_by(|a, b| {
        cmp_precedence(a.version(), b.version()).then_with(|| a.name().cmp(b.name()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> TagSet {
        TagSet::from_names(&TagGrammar::plain(), names)
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn orders_by_precedence_and_keeps_the_rest_aside() {
        let s = set(&["v1.0.0-rc.10", "v1.0.0", "v1.0.0-rc.9", "nightly", "v0.9.0", "1.2"]);
        let names: Vec<&str> = s.entries().iter().map(|e| e.name()).collect();
        assert_eq!(names, ["v0.9.0", "v1.0.0-rc.9", "v1.0.0-rc.10", "v1.0.0"]);
        assert_eq!(s.ignored(), ["1.2", "nightly"]);
    }

    #[test]
    fn highest_queries() {
        let s = set(&["v1.9.0", "v2.0.0", "v2.1.0-rc.1", "v1.8.3", "v1.9.1"]);
        assert_eq!(s.highest(Scope::All, true).unwrap().name(), "v2.0.0");
        assert_eq!(s.highest(Scope::All, false).unwrap().name(), "v2.1.0-rc.1");
        assert_eq!(s.highest(Scope::Major(1), true).unwrap().name(), "v1.9.1");
        assert_eq!(s.highest(Scope::Minor(1, 8), true).unwrap().name(), "v1.8.3");
        assert!(s.highest(Scope::Major(3), false).is_none());
    }

    #[test]
    fn hotfix_is_highest_in_its_line_only() {
        let s = set(&["v1.9.0", "v2.0.0"]);
        let hotfix = v("1.9.1");
        assert!(!s.is_highest(&hotfix, Scope::All));
        assert!(s.is_highest(&hotfix, Scope::Major(1)));
        assert!(s.is_highest(&hotfix, Scope::Minor(1, 9)));
    }

    #[test]
    fn a_prerelease_does_not_steal_highest_from_a_release() {
        let s = set(&["v1.9.0", "v2.0.0-rc.1"]);
        assert!(s.is_highest(&v("1.9.1"), Scope::All));
        assert!(!s.is_highest(&v("2.0.0-rc.0"), Scope::All));
        assert!(s.is_highest(&v("2.0.0-rc.2"), Scope::All));
        assert!(set(&[]).is_highest(&v("0.1.0"), Scope::All));
    }

    #[test]
    fn previous_tags() {
        let s = set(&["v1.9.0", "v2.0.0-rc.1", "v2.0.0-rc.3", "v2.0.0", "v1.8.0"]);
        assert_eq!(s.previous(&v("2.0.0"), false).unwrap().name(), "v2.0.0-rc.3");
        assert_eq!(s.previous(&v("2.0.0"), true).unwrap().name(), "v1.9.0");
        assert_eq!(s.previous(&v("1.9.1"), false).unwrap().name(), "v1.9.0");
        assert_eq!(s.previous(&v("2.0.0-rc.3"), false).unwrap().name(), "v2.0.0-rc.1");
        assert!(s.previous(&v("1.8.0"), false).is_none());
        // Build metadata does not make a version "previous" to itself.
        assert_eq!(s.previous(&v("2.0.0+build.1"), false).unwrap().name(), "v2.0.0-rc.3");
    }

    #[test]
    fn best_tag_on_a_commit_is_the_release() {
        let refs = [("v2.0.0-rc.3", "c1"), ("v2.0.0", "c1"), ("v1.0.0", "c0")].map(|(n, c)| TagRef {
            name: n.into(),
            commit: Some(c.into()),
            ..TagRef::default()
        });
        let s = TagSet::from_refs(&TagGrammar::plain(), refs);
        assert_eq!(s.best_on_commit("c1").unwrap().name(), "v2.0.0");
        assert_eq!(s.on_commit("c1").len(), 2);
        assert!(s.best_on_commit("c9").is_none());
    }

    #[test]
    fn merge_adds_missing_names() {
        let merged = set(&["v1.0.0"]).merge(set(&["v1.0.0", "v3.0.0"]));
        assert_eq!(merged.len(), 2);
        assert_eq!(merged.highest(Scope::All, true).unwrap().name(), "v3.0.0");
    }
}
