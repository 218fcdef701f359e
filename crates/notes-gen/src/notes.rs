//! The structured release notes (also the template context and the `--format json` output),
//! assembled from the commits of a range by a pure function.

use std::collections::{BTreeMap, BTreeSet};

use relkit_core::{Error, Result};
use relkit_git::Commit;
use serde::Serialize;

use crate::changes::{Change, change_of_entry, without_pr_suffix};
use crate::forge::github::PullRequest;
use crate::sections::{Exclusion, ReleaseYml, Section, group};
use crate::verification::Verification;
use relkit_core::config::{NotesConfig, SchemaBump};
use relkit_core::message::{RangeCommit, RangeEntries, range_entries};

/// Release notes for one release (or for unreleased commits).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Notes {
    /// What is released and which range the notes cover.
    pub release: ReleaseInfo,
    /// Breaking changes with upgrade notes (also listed in their sections).
    pub breaking: Vec<Change>,
    /// Security fixes.
    pub security: Vec<Change>,
    /// The other sections in configured order; "Other changes" last.
    pub sections: Vec<Section>,
    /// Files matching `notes.schema_globs` changed in the range.
    pub schema_changes: Vec<SchemaChange>,
    /// The least bump the schema changes ask for (`version.schema_bump`): `patch`, `minor` or
    /// `major`; `None` without schema changes or with `schema_bump: none`.
    pub schema_bump: Option<String>,
    /// Merged pull requests of the range, by number.
    pub pull_requests: Vec<PullRequest>,
    /// Everyone who authored a commit in the range.
    pub contributors: Vec<Contributor>,
    /// Contributors whose first commit is in this range.
    pub first_time_contributors: Vec<Contributor>,
    /// Image digests, verification commands and checksums.
    pub verification: Verification,
    /// Changes left out by configuration, counted.
    pub excluded: Vec<Exclusion>,
    /// Facts the reader should know (first release, no token, …).
    pub notices: Vec<String>,
}

/// The release and its range.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// The release tag, or `None` for unreleased commits.
    pub tag: Option<String>,
    /// The version without prefix.
    pub version: Option<String>,
    /// The heading: the tag, or "Unreleased".
    pub title: String,
    /// A prerelease version.
    pub prerelease: bool,
    /// The tag the range starts after, if any.
    pub previous_tag: Option<String>,
    /// The commit the range starts after (exclusive), if any.
    pub from: Option<String>,
    /// The last commit of the range.
    pub to: String,
    /// Commits in the range (merges included).
    pub commit_count: usize,
    /// The date of the last commit, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// `owner/repo`, when known.
    pub repository: Option<String>,
    /// A compare link between the two tags, when both and the repository are known.
    pub compare_url: Option<String>,
}

/// A changed schema file and its diff stat.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SchemaChange {
    /// Path in the repository.
    pub path: String,
    /// Lines added (`None` for a binary file).
    pub added: Option<u64>,
    /// Lines removed (`None` for a binary file).
    pub removed: Option<u64>,
}

/// A commit author.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Contributor {
    /// The name from git.
    pub name: String,
    /// The forge login, when a pull request of theirs was looked up.
    pub login: Option<String>,
    /// Commits in the range.
    pub commits: usize,
    /// Their first commit is in this range.
    pub first_time: bool,
    /// The first pull request of theirs in the range, when looked up.
    pub first_pull_request: Option<u64>,
}

/// Everything [`assemble`] needs; all of it already read from git and the forge.
pub struct Inputs<'a> {
    /// The release and range (commit count and date are filled in).
    pub release: ReleaseInfo,
    /// The commits of the range, newest first.
    pub commits: &'a [Commit],
    /// Merged PR per commit id.
    pub pulls: &'a BTreeMap<String, PullRequest>,
    /// The forge login of each commit's own author, when looked up.
    pub commit_logins: &'a BTreeMap<String, String>,
    /// Authors of the range (as [`relkit_git::author_key`] spells them, and their e-mails alone
    /// as [`relkit_git::email_key`] does) that also authored a commit before it; `None` when
    /// unknown (first release).
    pub earlier_authors: Option<&'a BTreeSet<String>>,
    /// Forge logins of the range known to have authored a commit before it (under any e-mail);
    /// `None` when not looked up, then first-timers are decided by git alone.
    pub earlier_logins: Option<&'a BTreeSet<String>>,
    /// Changed files matching the schema globs.
    pub schema_changes: Vec<SchemaChange>,
    /// `version.schema_bump`.
    pub schema_bump: SchemaBump,
    /// The verification block.
    pub verification: Verification,
    /// Configuration.
    pub config: &'a NotesConfig,
    /// `.github/release.yml`, when present.
    pub release_yml: Option<&'a ReleaseYml>,
    /// Notices gathered so far.
    pub notices: Vec<String>,
}

/// The entries of the commits (newest first) under the shared model, with the configured types:
/// the notes list exactly these, and version-resolve bumps from exactly these.
pub fn entries_of(commits: &[Commit], config: &NotesConfig) -> RangeEntries {
    let range: Vec<RangeCommit<'_>> = commits
        .iter()
        .map(|c| RangeCommit { id: &c.id, message: &c.message, merge: c.parent_count >= 2 })
        .collect();
    range_entries(&range, &config.known_types())
}

/// Builds the notes. Fails only for `require_conventional` with a non-conventional commit.
pub fn assemble(inputs: Inputs<'_>) -> Result<Notes> {
    let Inputs {
        mut release,
        commits,
        pulls,
        commit_logins,
        earlier_authors,
        earlier_logins,
        schema_changes,
        schema_bump,
        verification,
        config,
        release_yml,
        mut notices,
    } = inputs;
    release.commit_count = commits.len();
    if let Some(first) = commits.first() {
        release.date = date_of(first.time);
    }
    let non_merges: Vec<&Commit> = commits.iter().filter(|c| c.parent_count < 2).collect();
    let range = entries_of(commits, config);
    if config.require_conventional {
        let offenders: Vec<String> = range
            .commits
            .iter()
            .filter(|c| !c.conventional)
            .filter_map(|c| commits.iter().find(|x| x.id == c.id))
            .map(|c| format!("{} {:?}", &c.id[..c.id.len().min(7)], c.subject()))
            .collect();
        if !offenders.is_empty() {
            let shown: Vec<&str> = offenders.iter().take(5).map(String::as_str).collect();
            return Err(Error::usage(format!(
                "{} commit(s) in the range are not conventional commits (require_conventional is on): {}{}; \
                 reword them or turn the option off",
                offenders.len(),
                shown.join(", "),
                if offenders.len() > 5 { ", …" } else { "" }
            )));
        }
    }
    let by_id: BTreeMap<&str, &Commit> = commits.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut changes = Vec::new();
    for listed in &range.commits {
        let commit = by_id[listed.id.as_str()];
        for entry in &listed.entries {
            let mut change = change_of_entry(&commit.id, entry, &commit.author_name, &commit.author_email);
            change.pr = pulls.get(&commit.id).cloned();
            if change.pr.is_some() {
                change.description = without_pr_suffix(&change.description);
                for note in &mut change.breaking_notes {
                    *note = without_pr_suffix(note);
                }
            }
            changes.push(change);
        }
    }
    let changes = one_line_per_pull_request(changes);
    let mut grouped = group(changes, config, release_yml);
    if !range.cancelled.is_empty() {
        grouped.excluded.push(Exclusion {
            reason: "commit(s) reverted within the range, with their reverts".into(),
            count: range.cancelled.len() * 2,
        });
    }
    let mut pull_requests: Vec<PullRequest> = Vec::new();
    for pr in pulls.values() {
        if !pull_requests.iter().any(|p| p.number == pr.number) {
            pull_requests.push(pr.clone());
        }
    }
    pull_requests.sort_by_key(|p| p.number);
    let (contributors, first_time_contributors) = if config.contributors {
        contributors_of(&non_merges, pulls, commit_logins, earlier_authors, earlier_logins)
    } else {
        (Vec::new(), Vec::new())
    };
    if commits.is_empty() {
        notices.push(
            "No commits in this range: the release points at the same commit as the previous one.".into(),
        );
    }
    let schema_bump = match schema_bump {
        _ if schema_changes.is_empty() => None,
        SchemaBump::None => None,
        SchemaBump::Patch => Some("patch".to_string()),
        SchemaBump::Minor => Some("minor".to_string()),
        SchemaBump::Major => Some("major".to_string()),
    };
    Ok(Notes {
        release,
        breaking: grouped.breaking,
        security: grouped.security,
        sections: grouped.sections,
        schema_changes,
        schema_bump,
        pull_requests,
        contributors,
        first_time_contributors,
        verification,
        excluded: grouped.excluded,
        notices,
    })
}

/// The changes of one pull request as one line with the pull request's title, as GitHub's
/// generated notes give them (a merge-commit PR's "wip" and "address review" commits disappear
/// into it). Its type is the title's when the title is conventional and asks for at least the
/// largest bump of its entries, else that of the entry with the largest bump, so the line
/// bumps what its entries bump; breaking notes and advisories are kept from every entry.
fn one_line_per_pull_request(changes: Vec<Change>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut by_number: BTreeMap<u64, Vec<Change>> = BTreeMap::new();
    for change in changes {
        match &change.pr {
            Some(pr) => {
                let number = pr.number;
                if !by_number.contains_key(&number) {
                    out.push(change.clone());
                }
                by_number.entry(number).or_default().push(change);
            }
            None => out.push(change),
        }
    }
    for slot in &mut out {
        let Some(number) = slot.pr.as_ref().map(|p| p.number) else { continue };
        let Some(members) = by_number.remove(&number) else { continue };
        let title = slot.pr.as_ref().map(|p| without_pr_suffix(&p.title)).unwrap_or_default();
        let bump_of = |c: &Change| change_bump(c.kind.as_deref(), c.breaking);
        let strongest = members.iter().max_by_key(|c| bump_of(c)).cloned().unwrap_or_else(|| slot.clone());
        let header = relkit_core::conventional::parse_header(&title);
        let mut line = strongest.clone();
        match header {
            Some(h) if change_bump(Some(&h.kind), h.breaking) >= bump_of(&strongest) => {
                line.kind = Some(h.kind);
                line.scope = h.scope;
                line.description = h.description;
            }
            _ => {
                if header.is_none() {
                    line.description = title;
                }
            }
        }
        line.breaking = members.iter().any(|c| c.breaking);
        line.breaking_notes = members.iter().flat_map(|c| c.breaking_notes.clone()).collect();
        line.breaking_notes.dedup();
        line.security = members.iter().any(|c| c.security);
        line.advisories = members.iter().flat_map(|c| c.advisories.clone()).collect();
        let mut seen = BTreeSet::new();
        line.advisories.retain(|a| seen.insert(a.clone()));
        *slot = line;
    }
    out
}

fn change_bump(kind: Option<&str>, breaking: bool) -> relkit_core::conventional::Bump {
    use relkit_core::conventional::Bump;
    match kind {
        _ if breaking => Bump::Major,
        Some("feat") => Bump::Minor,
        Some("fix" | "perf") => Bump::Patch,
        _ => Bump::None,
    }
}

/// Credits the range's contributors anew, once the walk of the older history has said who
/// committed before the range (`earlier_authors`, `earlier_logins` as in [`Inputs`]): the rest
/// of the notes can be assembled while that walk still runs.
pub fn credit_contributors(
    notes: &mut Notes,
    commits: &[Commit],
    pulls: &BTreeMap<String, PullRequest>,
    commit_logins: &BTreeMap<String, String>,
    earlier_authors: Option<&BTreeSet<String>>,
    earlier_logins: Option<&BTreeSet<String>>,
    config: &NotesConfig,
) {
    if config.contributors {
        let non_merges: Vec<&Commit> = commits.iter().filter(|c| c.parent_count < 2).collect();
        (notes.contributors, notes.first_time_contributors) =
            contributors_of(&non_merges, pulls, commit_logins, earlier_authors, earlier_logins);
    }
}

fn contributors_of(
    commits: &[&Commit],
    pulls: &BTreeMap<String, PullRequest>,
    logins: &BTreeMap<String, String>,
    earlier: Option<&BTreeSet<String>>,
    earlier_logins: Option<&BTreeSet<String>>,
) -> (Vec<Contributor>, Vec<Contributor>) {
    let mut by_key: BTreeMap<String, (Contributor, Earlier)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // Oldest first, so that the list follows the order of first contribution. A contributor is
    // their own login when the forge knows it (several e-mails, one person), else their name as
    // git has it (as `git shortlog` groups: one person committing from two e-mails is listed
    // once), else the e-mail; a commit is credited to its own author, never to the pull
    // request's. Whether they committed before the range: see `Earlier::before`.
    for commit in commits.iter().rev() {
        let login = logins.get(&commit.id).cloned();
        let name = commit.author_name.trim();
        let key = match (&login, name.is_empty()) {
            (Some(login), _) => format!("@{login}"),
            (None, false) => format!("name:{name}"),
            (None, true) => commit.author_email.to_lowercase(),
        };
        let (entry, history) = by_key.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            let contributor = Contributor {
                name: commit.author_name.clone(),
                login: login.clone(),
                commits: 0,
                first_time: false,
                first_pull_request: None,
            };
            (contributor, Earlier { author: false, any_email: false, every_email: true })
        });
        entry.commits += 1;
        if entry.first_pull_request.is_none() {
            entry.first_pull_request = pulls.get(&commit.id).map(|p| p.number);
        }
        if let Some(earlier) = earlier {
            let [author, email] = commit.author_keys();
            let email_seen = earlier.contains(&email);
            history.author |= earlier.contains(&author);
            history.any_email |= email_seen;
            history.every_email &= email_seen;
        }
    }
    for (contributor, history) in by_key.values_mut() {
        let login_seen = match &contributor.login {
            Some(login) => earlier_logins.is_some_and(|known| known.contains(login)),
            None => false,
        };
        contributor.first_time =
            earlier.is_some() && !login_seen && !history.before(contributor.login.is_some());
    }
    let all: Vec<Contributor> = order.iter().filter_map(|k| by_key.remove(k)).map(|(c, _)| c).collect();
    let first = all.iter().filter(|c| c.first_time).cloned().collect();
    (all, first)
}

/// What git says of a contributor's commits in the range: whether one of their authors (name and
/// e-mail) committed before it, and whether any or every one of their e-mails did.
struct Earlier {
    author: bool,
    any_email: bool,
    every_email: bool,
}

impl Earlier {
    /// Whether the contributor committed before the range. The same name and e-mail before is
    /// the same person. For a login, every e-mail is the account's own (the forge matched it),
    /// so any of them seen before will do. For a git name, an e-mail is only telling when every
    /// one of theirs was seen (a renamed author): bots and format commits file maintainers'
    /// addresses under newcomers' names, so one old address among new ones proves nothing.
    fn before(&self, is_login: bool) -> bool {
        self.author || if is_login { self.any_email } else { self.every_email }
    }
}

/// `YYYY-MM-DD` in UTC for a Unix time.
pub fn date_of(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: char, message: &str, email: &str, parents: usize) -> Commit {
        Commit {
            id: id.to_string().repeat(40),
            message: message.into(),
            author_name: email.split('@').next().unwrap().into(),
            author_email: email.into(),
            time: 1_700_000_000,
            parent_count: parents,
        }
    }

    static NO_LOGINS: BTreeMap<String, String> = BTreeMap::new();

    fn inputs<'a>(
        commits: &'a [Commit],
        config: &'a NotesConfig,
        pulls: &'a BTreeMap<String, PullRequest>,
        earlier: Option<&'a BTreeSet<String>>,
    ) -> Inputs<'a> {
        Inputs {
            release: ReleaseInfo { title: "v1.0.0".into(), ..Default::default() },
            commits,
            pulls,
            commit_logins: &NO_LOGINS,
            earlier_authors: earlier,
            earlier_logins: None,
            schema_changes: Vec::new(),
            schema_bump: SchemaBump::Minor,
            verification: Verification::default(),
            config,
            release_yml: None,
            notices: Vec::new(),
        }
    }

    #[test]
    fn merges_are_counted_and_first_timers_found() {
        let commits = [
            commit('c', "Merge pull request #2 from x/y", "bob@x", 2),
            commit('b', "feat: b", "new@x", 1),
            commit('a', "fix: a", "bob@x", 1),
        ];
        let config = NotesConfig::default();
        let pulls = BTreeMap::new();
        let earlier: BTreeSet<String> = commits[2].author_keys().into();
        let notes = assemble(inputs(&commits, &config, &pulls, Some(&earlier))).unwrap();
        assert_eq!(notes.release.commit_count, 3);
        assert_eq!(notes.release.date, "2023-11-14");
        assert!(notes.excluded.is_empty(), "merges are not a footnote on every release");
        assert_eq!(notes.contributors.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["bob", "new"]);
        assert_eq!(notes.first_time_contributors.len(), 1);
        assert_eq!(notes.first_time_contributors[0].name, "new");
    }

    #[test]
    fn require_conventional_names_the_offenders() {
        let commits = [commit('a', "Did stuff", "a@x", 1), commit('b', "fix: ok", "a@x", 1)];
        let config = NotesConfig { require_conventional: true, ..NotesConfig::default() };
        let pulls = BTreeMap::new();
        let err = assemble(inputs(&commits, &config, &pulls, None)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("aaaaaaa \"Did stuff\""), "{err}");
    }
}
