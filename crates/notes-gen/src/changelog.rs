//! `notes-gen changelog`: notes for every release (or the last N) from one pass over the tags,
//! each release covering the commits since the release before it. Git only: no forge lookups.

use std::collections::BTreeMap;

use relkit_core::Result;
use relkit_core::tagset::{TagEntry, TagSet};
use relkit_core::version::is_stable;
use relkit_git::{PathGlobs, Repo, TouchMemo};

use crate::notes::{Inputs, Notes, ReleaseInfo, assemble};
use crate::sections::ReleaseYml;
use crate::verification::Verification;
use relkit_core::config::NotesConfig;

/// Which releases the changelog lists.
#[derive(Debug, Clone, Default)]
pub struct ChangelogRequest {
    /// Only stable releases (a stable release then covers its candidates).
    pub stable_only: bool,
    /// Only the newest N releases.
    pub last: Option<usize>,
    /// Add an "Unreleased" entry for commits after the newest tag (up to HEAD).
    pub unreleased: bool,
    /// `(server_url, owner/repo)` for compare links.
    pub links: Option<(String, String)>,
}

/// The notes of each release, newest first.
pub fn build(
    repo: &Repo,
    tags: &TagSet,
    config: &NotesConfig,
    release_yml: Option<&ReleaseYml>,
    paths: Option<&PathGlobs>,
    request: &ChangelogRequest,
) -> Result<Vec<Notes>> {
    let releases = release_tags(tags, request.stable_only);
    let first_shown = match request.last {
        Some(n) => releases.len().saturating_sub(n),
        None => 0,
    };
    let mut out = Vec::new();
    // Releases share history: each commit is judged against the paths once.
    let mut memo = TouchMemo::default();
    if request.unreleased {
        let head = repo.resolve("HEAD")?;
        let base = releases.last().and_then(|e| e.commit.clone());
        if base.as_deref() != Some(head.as_str()) {
            let commits = commits(repo, &head, &base.iter().cloned().collect::<Vec<_>>(), paths, &mut memo)?;
            if !commits.is_empty() {
                let info = ReleaseInfo {
                    title: "Unreleased".to_string(),
                    previous_tag: releases.last().map(|e| e.name().to_string()),
                    from: base,
                    to: head,
                    repository: request.links.as_ref().map(|(_, r)| r.clone()),
                    ..ReleaseInfo::default()
                };
                out.push(notes_for(info, &commits, config, release_yml)?);
            }
        }
    }
    for i in (first_shown..releases.len()).rev() {
        let entry = releases[i];
        let previous = i.checked_sub(1).map(|p| releases[p]);
        let to = entry.commit.clone().unwrap_or_default();
        let hidden: Vec<String> = previous.and_then(|p| p.commit.clone()).into_iter().collect();
        let commits = commits(repo, &to, &hidden, paths, &mut memo)?;
        let compare_url = match (&request.links, previous) {
            (Some((server, repo_name)), Some(p)) => {
                Some(format!("{server}/{repo_name}/compare/{}...{}", p.name(), entry.name()))
            }
            _ => None,
        };
        let info = ReleaseInfo {
            tag: Some(entry.name().to_string()),
            version: Some(entry.version().to_string()),
            title: entry.name().to_string(),
            prerelease: !is_stable(entry.version()),
            previous_tag: previous.map(|p| p.name().to_string()),
            from: hidden.first().cloned(),
            to,
            repository: request.links.as_ref().map(|(_, r)| r.clone()),
            compare_url,
            ..ReleaseInfo::default()
        };
        out.push(notes_for(info, &commits, config, release_yml)?);
    }
    Ok(out)
}

/// The commits of `hidden..tip`, only those touching `paths` when given (a monorepo component).
pub fn commits(
    repo: &Repo,
    tip: &str,
    hidden: &[String],
    paths: Option<&PathGlobs>,
    memo: &mut TouchMemo,
) -> Result<Vec<relkit_git::Commit>> {
    match paths {
        Some(paths) => repo.commits_touching(tip, hidden, paths, memo),
        None => repo.commits(tip, hidden),
    }
}

fn notes_for(
    release: ReleaseInfo,
    commits: &[relkit_git::Commit],
    config: &NotesConfig,
    release_yml: Option<&ReleaseYml>,
) -> Result<Notes> {
    let pulls = BTreeMap::new();
    // History is what it is: `require_conventional` guards new releases, not old ones.
    let config = NotesConfig { contributors: false, require_conventional: false, ..config.clone() };
    let mut notes = assemble(Inputs {
        release,
        commits,
        pulls: &pulls,
        commit_logins: &BTreeMap::new(),
        earlier_authors: None,
        earlier_logins: None,
        schema_changes: Vec::new(),
        schema_bump: relkit_core::config::SchemaBump::None,
        verification: Verification::default(),
        config: &config,
        release_yml,
        notices: Vec::new(),
    })?;
    notes.notices.clear();
    Ok(notes)
}

/// Release tags in ascending order that point at a commit; when several share a commit (an rc
/// promoted to stable) only the highest is kept, so its commits are listed once.
fn release_tags(tags: &TagSet, stable_only: bool) -> Vec<&TagEntry> {
    let mut highest_on_commit: BTreeMap<&str, usize> = BTreeMap::new();
    let entries: Vec<&TagEntry> = tags
        .entries()
        .iter()
        .filter(|e| e.commit.is_some() && (!stable_only || is_stable(e.version())))
        .collect();
    for (i, e) in entries.iter().enumerate() {
        highest_on_commit.insert(e.commit.as_deref().unwrap_or_default(), i);
    }
    entries
        .iter()
        .enumerate()
        .filter(|(i, e)| highest_on_commit.get(e.commit.as_deref().unwrap_or_default()) == Some(i))
        .map(|(_, e)| *e)
        .collect()
}
