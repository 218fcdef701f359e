//! From the entries of the shared commit-message model ([`relkit_core::message`]) to the
//! changes the notes list, with security references per entry.

use std::sync::LazyLock;

use regex::Regex;
use relkit_core::message::{CommitMessage, Entry, KnownTypes};
use serde::Serialize;

use crate::forge::github::PullRequest;

/// One line of the release notes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// The commit it comes from (full id).
    pub sha: String,
    /// The first 7 characters of the id.
    pub short_sha: String,
    /// Conventional type (`feat`, `fix`…), `None` for a non-conventional commit.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Conventional scope.
    pub scope: Option<String>,
    /// The description (the subject for a non-conventional commit).
    pub description: String,
    /// Marked breaking (`!` or a `BREAKING CHANGE:` footer).
    pub breaking: bool,
    /// Upgrade notes from the breaking footers (the description when there is no footer).
    pub breaking_notes: Vec<String>,
    /// A security fix (type or scope `security`, a security label, or a GHSA/CVE reference).
    pub security: bool,
    /// GHSA and CVE identifiers mentioned in the message.
    pub advisories: Vec<String>,
    /// The author's name from git.
    pub author: String,
    /// The author's email from git (used to find first-time contributors; not rendered).
    #[serde(skip)]
    pub author_email: String,
    /// The merged pull request this commit belongs to, when it was looked up.
    pub pr: Option<PullRequest>,
    /// The section title this change is listed under (filled in by [`crate::sections`]).
    pub section: String,
}

// ASCII digits (`[0-9]`, not Unicode `\d`): what the identifiers use, and compiled in less than
// half the time at every start of the binary.
static ADVISORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|CVE-[0-9]{4}-[0-9]{4,})\b")
        .expect("valid regex")
});

/// A PR number GitHub appends to squash-merge subjects: ` (#123)`.
static PR_SUFFIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*\(#[0-9]+\)\s*$").expect("valid regex"));

/// The change for one entry of a commit (see [`relkit_core::message`]). Security is decided per
/// entry: its type or scope is `security`, or its own lines name a GHSA/CVE id.
pub fn change_of_entry(sha: &str, entry: &Entry, author: &str, author_email: &str) -> Change {
    let advisories = advisories(&entry.text);
    let security = entry.kind.as_deref() == Some("security")
        || entry.scope.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("security"))
        || !advisories.is_empty();
    Change {
        sha: sha.to_string(),
        short_sha: sha.chars().take(7).collect(),
        kind: entry.kind.clone(),
        scope: entry.scope.clone(),
        description: entry.description.clone(),
        breaking: entry.breaking,
        breaking_notes: entry.breaking_notes.clone(),
        security,
        advisories,
        author: author.to_string(),
        author_email: author_email.to_string(),
        pr: None,
        section: String::new(),
    }
}

/// The changes of one commit on its own (no reverts to pair up), with the standard types.
pub fn changes_of_commit(sha: &str, message: &str, author: &str, author_email: &str) -> Vec<Change> {
    CommitMessage::parse(message, &KnownTypes::default())
        .entries
        .iter()
        .map(|e| change_of_entry(sha, e, author, author_email))
        .collect()
}

/// The description without the ` (#123)` GitHub appends to squash-merge subjects; used once the
/// pull request itself is linked.
pub fn without_pr_suffix(description: &str) -> String {
    PR_SUFFIX.replace(description, "").to_string()
}

/// GHSA and CVE identifiers in a message, upper-cased, without duplicates.
pub fn advisories(message: &str) -> Vec<String> {
    let mut found: Vec<String> =
        ADVISORY.find_iter(message).map(|m| m.as_str().to_ascii_uppercase()).collect();
    found.dedup();
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|a| seen.insert(a.clone()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, description, breaking, security) of each entry.
    type Summary = Vec<(Option<String>, String, bool, bool)>;

    fn summary(message: &str) -> Summary {
        changes_of_commit(&"a".repeat(40), message, "Ann", "ann@example.org")
            .into_iter()
            .map(|c| (c.kind, c.description, c.breaking, c.security))
            .collect()
    }

    #[test]
    fn table_of_messages() {
        let s = |k: &str| Some(k.to_string());
        let cases: Vec<(&str, Summary)> = vec![
            ("feat(api): add x", vec![(s("feat"), "add x".into(), false, false)]),
            ("fix!: drop y (#12)", vec![(s("fix"), "drop y (#12)".into(), true, false)]),
            ("Update README", vec![(None, "Update README".into(), false, false)]),
            ("fix(security): escape html", vec![(s("fix"), "escape html".into(), false, true)]),
            (
                "fix: bump openssl\n\nFixes CVE-2024-12345",
                vec![(s("fix"), "bump openssl".into(), false, true)],
            ),
            (
                "Release train (#40)\n\n* feat: one\n\n* fix(core): two\n* not conventional",
                vec![
                    (None, "Release train (#40)".into(), false, false),
                    (s("feat"), "one".into(), false, false),
                    (s("fix"), "two".into(), false, false),
                ],
            ),
            (
                "Deps (#41)\n\n* fix: bump openssl for CVE-2024-12345\n* feat: new flag\n\n---------\n\nCo-authored-by: B <b@x>",
                vec![
                    (None, "Deps (#41)".into(), false, false),
                    (s("fix"), "bump openssl for CVE-2024-12345".into(), false, true),
                    (s("feat"), "new flag".into(), false, false),
                ],
            ),
            (
                "feat: one (#41)\n\n* feat: one\n* docs: three",
                vec![(s("feat"), "one".into(), false, false), (s("docs"), "three".into(), false, false)],
            ),
            (
                "refactor: config\n\nBREAKING CHANGE: key `a` is now `b`",
                vec![(s("refactor"), "config".into(), true, false)],
            ),
        ];
        for (message, want) in cases {
            assert_eq!(summary(message), want, "{message:?}");
        }
    }

    #[test]
    fn breaking_footer_gives_upgrade_notes() {
        let c = changes_of_commit("abcdef0123", "feat: x\n\nBREAKING-CHANGE: run the migration", "A", "a@x");
        assert_eq!(c[0].breaking_notes, ["run the migration"]);
        assert_eq!(c[0].short_sha, "abcdef0");
    }

    #[test]
    fn advisories_are_normalised() {
        assert_eq!(
            advisories("see ghsa-xvch-5gv4-984h and CVE-2021-44228, again CVE-2021-44228"),
            ["GHSA-XVCH-5GV4-984H", "CVE-2021-44228"]
        );
        assert!(advisories("CVE-21-1").is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "\\PC{0,40}",
            "(feat|fix|docs|security)(\\([a-z]{1,6}\\))?!?: [a-z ]{1,20}( \\(#[0-9]{1,3}\\))?",
            "[*-] (feat|fix): [a-z ]{1,20}",
            "BREAKING[ -]CHANGE: [a-z ]{0,20}",
            "(CVE-20[0-9]{2}-[0-9]{4,6}|GHSA-[2-9cfghjmpqrvwx]{4}-[2-9cfghjmpqrvwx]{4}-[2-9cfghjmpqrvwx]{4})",
            Just(String::new()),
        ];
        proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #[test]
        fn every_commit_gives_well_formed_entries(msg in message()) {
            let changes = changes_of_commit(&"c".repeat(40), &msg, "A", "a@x");
            let parsed = CommitMessage::parse(&msg, &KnownTypes::default());
            prop_assert!(!changes.is_empty(), "a commit is never dropped: {:?}", msg);
            for c in &changes {
                prop_assert_eq!(c.short_sha.len(), 7);
                prop_assert_eq!(c.breaking, !c.breaking_notes.is_empty());
                prop_assert!(c.advisories.iter().all(|a| msg.to_ascii_uppercase().contains(a.as_str())));
                if c.kind.is_some() {
                    prop_assert!(!c.description.trim().is_empty());
                }
            }
            prop_assert_eq!(changes.len(), parsed.entries.len());
            if !parsed.is_conventional() {
                prop_assert_eq!(&changes[0].description, parsed.subject.trim(), "the subject is never dropped");
            }
        }
    }
}
