//! The commit-message model shared by release notes and version bumps: one parse of a message
//! into its header, entries and trailers, and one walk over a range that turns commits into
//! the entries the notes list. The bump of a range is computed from exactly those entries
//! ([`bump_of`]), so notes and `next_version` cannot disagree.
//!
//! - The subject is always an entry: a conventional header gives its type, scope and `!`;
//!   anything else is an entry without a type. It is folded into a body entry only when it
//!   repeats it (GitHub's squash subject `feat: x (#12)` over the body line `* feat: x`).
//! - Body lines (bullets `* `/`- ` or bare) whose header has a **known** type are entries of
//!   their own (the commits of a squash merge); other `word: text` lines never are.
//! - Trailers (`Token: value`, `Token #value`, per `git interpret-trailers`) are read from any
//!   paragraph after the header made only of trailers; they are never entries.
//! - `BREAKING CHANGE:`/`BREAKING-CHANGE:` anywhere after the header marks the entry it
//!   follows (the subject before any body entry) as breaking; its value runs until a blank
//!   line or the next trailer, so it may span several lines.
//! - A line of dashes (GitHub's `---------` before the co-author trailers) ends the body
//!   entries: what follows belongs to the subject again.
//! - `This reverts commit <id>.` makes a revert: within a range the revert and its original
//!   cancel out; a revert of a commit outside the range is one `revert` entry.

use std::collections::{BTreeSet, HashSet};

use crate::conventional::{Bump, Header, parse_header};

/// Conventional types recognised in squash-merge bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTypes(BTreeSet<String>);

/// The types of the Conventional Commits convention (Angular's list) plus `deps`, `revert` and
/// `security`.
pub const STANDARD_TYPES: &[&str] = &[
    "build", "chore", "ci", "deps", "docs", "feat", "fix", "perf", "refactor", "revert", "security", "style",
    "test",
];

impl KnownTypes {
    /// The standard types and `extra` (lower-cased).
    pub fn with<'a>(extra: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set: BTreeSet<String> = STANDARD_TYPES.iter().map(|t| t.to_string()).collect();
        set.extend(extra.into_iter().map(str::to_ascii_lowercase));
        Self(set)
    }

    /// True when `kind` (lower case) is known.
    pub fn contains(&self, kind: &str) -> bool {
        self.0.contains(kind)
    }
}

impl Default for KnownTypes {
    fn default() -> Self {
        Self::with([])
    }
}

/// A trailer (`Signed-off-by: …`, `Refs #12`, `BREAKING CHANGE: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// The token as written.
    pub token: String,
    /// The value; continuation lines are joined with `\n`.
    pub value: String,
}

/// One change a commit contributes to the notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased conventional type; `None` for a non-conventional subject.
    pub kind: Option<String>,
    /// Conventional scope.
    pub scope: Option<String>,
    /// The description (the whole subject when it is not conventional).
    pub description: String,
    /// `!` or a breaking footer.
    pub breaking: bool,
    /// The breaking footers' values (the description when only `!` marks it).
    pub breaking_notes: Vec<String>,
    /// The lines of the message this entry owns (its header and the text up to the next
    /// entry), for references such as advisory ids.
    pub text: String,
}

impl Entry {
    /// The bump this entry asks for.
    pub fn bump(&self) -> Bump {
        match self.kind.as_deref() {
            _ if self.breaking => Bump::Major,
            Some("feat") => Bump::Minor,
            Some("fix" | "perf") => Bump::Patch,
            _ => Bump::None,
        }
    }

    fn from_header(header: Header, text: &str) -> Self {
        Self {
            breaking: header.breaking,
            kind: Some(header.kind),
            scope: header.scope,
            description: header.description,
            breaking_notes: Vec::new(),
            text: text.to_string(),
        }
    }
}

/// A parsed commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMessage {
    /// The first line.
    pub subject: String,
    /// The subject's conventional header, if it has one.
    pub header: Option<Header>,
    /// The entries, the subject's first (unless a body entry repeats it).
    pub entries: Vec<Entry>,
    /// Every trailer after the header, in order.
    pub trailers: Vec<Trailer>,
    /// The commit this one reverts (`This reverts commit <id>.`), as written.
    pub reverts: Option<String>,
}

impl CommitMessage {
    /// Parses a message; body entries must have a type in `known`.
    pub fn parse(message: &str, known: &KnownTypes) -> Self {
        let text = message.replace("\r\n", "\n");
        let text = text.trim_start_matches('\n');
        let (subject, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = subject.trim().to_string();
        let header = parse_header(&subject);
        let mut entries = vec![match &header {
            Some(h) => Entry::from_header(h.clone(), &subject),
            None => Entry {
                kind: None,
                scope: None,
                description: subject.clone(),
                breaking: false,
                breaking_notes: Vec::new(),
                text: subject.clone(),
            },
        }];
        let mut trailers: Vec<Trailer> = Vec::new();
        let mut reverts = None;
        let mut owner = 0;
        for paragraph in paragraphs(rest) {
            let trailer_block = is_trailer_block(&paragraph, known);
            // The breaking note being continued: (entry, trailer index).
            let mut open: Option<(usize, usize)> = None;
            for line in paragraph {
                let item = line.trim();
                if item.len() >= 3 && item.bytes().all(|b| b == b'-') {
                    owner = 0;
                    open = None;
                    continue;
                }
                if let Some(h) = body_entry(item, known) {
                    entries.push(Entry::from_header(h, item));
                    owner = entries.len() - 1;
                    open = None;
                    continue;
                }
                if let Some(note) = breaking_footer(item) {
                    let entry = &mut entries[owner];
                    entry.breaking = true;
                    entry.breaking_notes.push(note.value.clone());
                    entry.text.push('\n');
                    entry.text.push_str(item);
                    trailers.push(note);
                    open = Some((owner, trailers.len() - 1));
                    continue;
                }
                if reverts.is_none() {
                    reverts = reverted_commit(item);
                }
                entries[owner].text.push('\n');
                entries[owner].text.push_str(item);
                if trailer_block && let Some(trailer) = trailer_line(line) {
                    trailers.push(trailer);
                    open = None;
                } else if let Some((entry, trailer)) = open {
                    let notes = &mut entries[entry].breaking_notes;
                    if let Some(last) = notes.last_mut() {
                        last.push('\n');
                        last.push_str(line.trim_end());
                    }
                    trailers[trailer].value.push('\n');
                    trailers[trailer].value.push_str(line.trim_end());
                } else if trailer_block && let Some(last) = trailers.last_mut() {
                    last.value.push('\n');
                    last.value.push_str(line.trim_end());
                }
            }
        }
        for entry in &mut entries {
            if entry.breaking && entry.breaking_notes.is_empty() {
                entry.breaking_notes.push(entry.description.clone());
            }
        }
        fold_repeated_subject(&mut entries);
        Self { subject, header, entries, trailers, reverts }
    }

    /// True when the subject is a conventional header.
    pub fn is_conventional(&self) -> bool {
        self.header.is_some()
    }
}

/// Drops the subject entry when a body entry says the same (GitHub's squash subject is the
/// first commit's message plus ` (#N)`), carrying its breaking mark over.
fn fold_repeated_subject(entries: &mut Vec<Entry>) {
    let Some((subject, body)) = entries.split_first_mut() else { return };
    let key = same_text_key(&subject.description);
    if subject.kind.is_none() {
        return;
    }
    if let Some(twin) =
        body.iter_mut().find(|e| same_text_key(&e.description) == key && e.kind == subject.kind)
    {
        if subject.breaking {
            twin.breaking = true;
            for note in &subject.breaking_notes {
                if !twin.breaking_notes.contains(note) {
                    twin.breaking_notes.push(note.clone());
                }
            }
        }
        twin.text = format!("{}\n{}", subject.text, twin.text);
        entries.remove(0);
    }
}

/// A description compared without case, surrounding space and the ` (#123)` GitHub appends.
fn same_text_key(description: &str) -> String {
    let d = description.trim();
    let d = match d.rfind(" (#") {
        Some(i) if d.ends_with(')') && d[i + 3..d.len() - 1].bytes().all(|b| b.is_ascii_digit()) => &d[..i],
        _ => d,
    };
    d.trim().to_lowercase()
}

/// The paragraphs after the header, as lines (blank lines separate them).
fn paragraphs(rest: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in rest.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A body line that is an entry: an optional `* `/`- ` bullet, then a header of a known type.
fn body_entry(item: &str, known: &KnownTypes) -> Option<Header> {
    let item = item.strip_prefix("* ").or_else(|| item.strip_prefix("- ")).unwrap_or(item);
    parse_header(item.trim()).filter(|h| known.contains(&h.kind))
}

fn breaking_footer(item: &str) -> Option<Trailer> {
    ["BREAKING CHANGE", "BREAKING-CHANGE"].into_iter().find_map(|token| {
        let value = item.strip_prefix(token)?.strip_prefix(':')?;
        Some(Trailer { token: token.to_string(), value: value.trim().to_string() })
    })
}

/// A paragraph of trailers: every line a trailer, a breaking footer or an indented
/// continuation, the first not a continuation, and no body entry among them.
fn is_trailer_block(paragraph: &[&str], known: &KnownTypes) -> bool {
    let first_is_continuation = paragraph.first().is_some_and(|l| l.starts_with([' ', '\t']));
    !first_is_continuation
        && paragraph.iter().all(|line| {
            line.starts_with([' ', '\t'])
                || (body_entry(line.trim(), known).is_none()
                    && (trailer_line(line).is_some() || breaking_footer(line.trim()).is_some()))
        })
}

/// `Token: value` or `Token #value`, the token made of letters, digits and `-`, starting with a
/// letter (git's trailer syntax).
fn trailer_line(line: &str) -> Option<Trailer> {
    let line = line.trim_end();
    let (token, value) = match (line.find(": "), line.find(" #")) {
        (Some(c), Some(h)) if h < c => (&line[..h], &line[h + 1..]),
        (Some(c), _) => (&line[..c], line[c + 2..].trim()),
        (None, Some(h)) => (&line[..h], &line[h + 1..]),
        (None, None) => return None,
    };
    let valid = token.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| Trailer { token: token.to_string(), value: value.trim().to_string() })
}

/// The id in git's `This reverts commit <id>.` line.
fn reverted_commit(line: &str) -> Option<String> {
    let rest = line.strip_prefix("This reverts commit ")?;
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (id.len() >= 7).then(|| id.to_ascii_lowercase())
}

/// A commit of a range, as the model needs it.
#[derive(Debug, Clone, Copy)]
pub struct RangeCommit<'a> {
    /// Full hex id.
    pub id: &'a str,
    /// The message.
    pub message: &'a str,
    /// A merge commit (two or more parents): not listed itself, its commits are.
    pub merge: bool,
}

/// The entries of one commit of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEntries {
    /// Full hex id.
    pub id: String,
    /// Its entries.
    pub entries: Vec<Entry>,
    /// True for a non-conventional subject (for `require_conventional`).
    pub conventional: bool,
}

/// A revert and the original it cancelled, both within the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    /// The revert commit.
    pub revert: String,
    /// The reverted commit.
    pub original: String,
}

/// What a range contributes: entries per listed commit (newest first), and the cancelled pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeEntries {
    /// Listed commits, newest first; merges and cancelled pairs are not here.
    pub commits: Vec<CommitEntries>,
    /// Reverts that cancelled a commit of the same range.
    pub cancelled: Vec<Cancelled>,
    /// Merge commits left out.
    pub merges: usize,
}

impl RangeEntries {
    /// Every entry, newest commit first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.commits.iter().flat_map(|c| &c.entries)
    }

    /// The bump the listed entries imply.
    pub fn bump(&self) -> Bump {
        bump_of(self.entries())
    }
}

/// The entries of a range given newest first (as a walk returns it). A revert whose original is
/// in the range cancels it (and a revert of that revert cancels the revert, reinstating the
/// original); a revert of an older commit is one `revert` entry.
pub fn range_entries(commits: &[RangeCommit<'_>], known: &KnownTypes) -> RangeEntries {
    let ids: HashSet<&str> = commits.iter().map(|c| c.id).collect();
    let find = |prefix: &str| ids.iter().find(|id| id.starts_with(prefix)).map(|id| id.to_string());
    let mut out = RangeEntries::default();
    let mut cancelled: HashSet<String> = HashSet::new();
    for commit in commits {
        if commit.merge {
            out.merges += 1;
            continue;
        }
        if cancelled.contains(commit.id) {
            continue;
        }
        let message = CommitMessage::parse(commit.message, known);
        if let Some(original) = message.reverts.as_deref().and_then(find)
            && !cancelled.contains(&original)
        {
            cancelled.insert(original.clone());
            out.cancelled.push(Cancelled { revert: commit.id.to_string(), original });
            continue;
        }
        let conventional = message.is_conventional();
        let entries = match &message.reverts {
            Some(_) if !conventional => vec![revert_entry(&message)],
            _ => message.entries,
        };
        out.commits.push(CommitEntries { id: commit.id.to_string(), entries, conventional });
    }
    out
}

/// `Revert "feat: x"` as a `revert` entry describing what was reverted.
fn revert_entry(message: &CommitMessage) -> Entry {
    let inner = message
        .subject
        .strip_prefix("Revert \"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&message.subject)
        .to_string();
    Entry {
        kind: Some("revert".to_string()),
        scope: None,
        description: inner,
        breaking: false,
        breaking_notes: Vec::new(),
        text: message.subject.clone(),
    }
}

/// The largest bump of the entries.
pub fn bump_of<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Bump {
    entries.into_iter().map(Entry::bump).max().unwrap_or(Bump::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (type, description, breaking) of one entry.
    type Summary = (Option<String>, String, bool);

    fn summary(message: &str) -> Vec<Summary> {
        CommitMessage::parse(message, &KnownTypes::default())
            .entries
            .into_iter()
            .map(|e| (e.kind, e.description, e.breaking))
            .collect()
    }

    fn e(kind: Option<&str>, description: &str, breaking: bool) -> Summary {
        (kind.map(str::to_string), description.to_string(), breaking)
    }

    #[test]
    fn table_of_messages() {
        let cases: Vec<(&str, Vec<Summary>)> = vec![
            (
                "fix: handle empty config\n\nSigned-off-by: Ann Example <ann@example.com>",
                vec![e(Some("fix"), "handle empty config", false)],
            ),
            (
                "Update the README wording\n\nCo-authored-by: Bob <bob@example.com>",
                vec![e(None, "Update the README wording", false)],
            ),
            (
                "feat(api): new endpoint (#12)\n\nBREAKING CHANGE: the old endpoint is gone\n\n---------\n\n\
                 Co-authored-by: Bob <bob@example.com>",
                vec![e(Some("feat"), "new endpoint (#12)", true)],
            ),
            (
                "feat(api): new endpoint (#12)\n\n* feat(api): new endpoint\n\nBREAKING CHANGE: old one gone\n\n\
                 * fix: typo\n\n---------\n\nCo-authored-by: Bob <bob@example.com>",
                vec![e(Some("feat"), "new endpoint", true), e(Some("fix"), "typo", false)],
            ),
            (
                "Release train (#40)\n\n* feat!: one\n* fix(core): two\n* note: not a known type",
                vec![
                    e(None, "Release train (#40)", false),
                    e(Some("feat"), "one", true),
                    e(Some("fix"), "two", false),
                ],
            ),
            (
                "chore: deps\n\nfeat: bare line entry",
                vec![e(Some("chore"), "deps", false), e(Some("feat"), "bare line entry", false)],
            ),
            (
                "refactor: config\n\nBREAKING-CHANGE: key `a`\nis now `b`",
                vec![e(Some("refactor"), "config", true)],
            ),
            ("Fix: typo", vec![e(Some("fix"), "typo", false)]),
        ];
        for (message, want) in cases {
            assert_eq!(summary(message), want, "{message:?}");
        }
    }

    #[test]
    fn trailers_anywhere_and_multi_line_breaking_notes() {
        let m = CommitMessage::parse(
            "fix: nulls\n\nReviewed-by: Z\nRefs #133\n\nProse: that looks like a trailer\nbut is not.\n\n\
             BREAKING CHANGE: the key `a` is now `b`\n  continued\nAcked-by: Y",
            &KnownTypes::default(),
        );
        let tokens: Vec<&str> = m.trailers.iter().map(|t| t.token.as_str()).collect();
        assert_eq!(tokens, ["Reviewed-by", "Refs", "BREAKING CHANGE", "Acked-by"]);
        assert_eq!(m.trailers[1].value, "#133");
        assert_eq!(m.entries[0].breaking_notes, ["the key `a` is now `b`\n  continued"]);
        assert_eq!(m.entries.len(), 1);
        let bang = CommitMessage::parse("refactor!: remove the old CLI", &KnownTypes::default());
        assert_eq!(bang.entries[0].breaking_notes, ["remove the old CLI"]);
    }

    #[test]
    fn reverts_cancel_within_the_range() {
        let original = "a".repeat(40);
        let outside = "f".repeat(40);
        let revert = format!("Revert \"feat: x\"\n\nThis reverts commit {original}.");
        let revert_outside = format!("Revert \"fix: y\"\n\nThis reverts commit {outside}.");
        let commits = [
            RangeCommit { id: &"c".repeat(40), message: &revert_outside, merge: false },
            RangeCommit { id: &"b".repeat(40), message: &revert, merge: false },
            RangeCommit { id: &original, message: "feat: x", merge: false },
        ];
        let r = range_entries(&commits, &KnownTypes::default());
        assert_eq!(r.cancelled, [Cancelled { revert: "b".repeat(40), original: original.clone() }]);
        assert_eq!(r.commits.len(), 1);
        assert_eq!(r.commits[0].entries[0].kind.as_deref(), Some("revert"));
        assert_eq!(r.commits[0].entries[0].description, "fix: y");
        assert_eq!(r.bump(), Bump::None);
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            "(feat|fix|docs|perf|note)(\\([a-z]{1,6}\\))?!?: [a-z ]{1,20}( \\(#[0-9]{1,3}\\))?",
            "[*-] (feat|fix|chore): [a-z ]{1,20}",
            "BREAKING[ -]CHANGE: [a-z ]{0,20}",
            "(Signed-off-by|Co-authored-by|Refs): [A-Za-z <>@.]{1,20}",
            Just("---------".to_string()),
            Just(String::new()),
        ]
    }

    proptest! {
        #[test]
        fn parsing_never_panics(msg in "\\PC{0,200}") {
            let _ = CommitMessage::parse(&msg, &KnownTypes::default());
        }

        /// The bump of a range is the largest bump among the entries listed, and a subject is
        /// never lost: every commit yields at least one entry, and trailers never do.
        #[test]
        fn bump_is_that_of_the_listed_entries(messages in proptest::collection::vec(("((feat|fix|chore)!?: [a-z ]{1,20}|[A-Z][a-z ]{1,20})", proptest::collection::vec(line(), 0..8)), 1..6)) {
            let messages: Vec<String> = messages.into_iter().map(|(s, l)| format!("{s}\n\n{}", l.join("\n"))).collect();
            let ids: Vec<String> = (0..messages.len()).map(|i| format!("{i:040x}")).collect();
            let commits: Vec<RangeCommit<'_>> = messages.iter().zip(&ids)
                .map(|(m, id)| RangeCommit { id, message: m, merge: false }).collect();
            let known = KnownTypes::default();
            let range = range_entries(&commits, &known);
            let implied = if range.entries().any(|e| e.breaking) { Bump::Major }
                else if range.entries().any(|e| e.kind.as_deref() == Some("feat")) { Bump::Minor }
                else if range.entries().any(|e| matches!(e.kind.as_deref(), Some("fix" | "perf"))) { Bump::Patch }
                else { Bump::None };
            prop_assert_eq!(range.bump(), implied);
            for c in &range.commits {
                prop_assert!(!c.entries.is_empty());
                for e in &c.entries {
                    prop_assert!(!matches!(e.kind.as_deref(), Some("signed-off-by" | "co-authored-by" | "refs")));
                    prop_assert_eq!(e.breaking, !e.breaking_notes.is_empty());
                }
            }
        }
    }
}
