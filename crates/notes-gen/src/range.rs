//! Which commits the notes cover: from the previous tag (previous stable for a stable release, so
//! that the notes cover every release candidate; previous of any kind for a prerelease) to the
//! release, or an explicit `--from`/`--to`. Tags on the release's own commit (an `-rc` promoted
//! to stable) are not a base; a first release covers the whole history and says so.

use std::cmp::Ordering;

use relkit_core::tagset::TagSet;
use relkit_core::version::{ReleaseTag, TagGrammar, is_stable};
use relkit_core::{Error, Result};
use relkit_git::Repo;

/// Which previous tag is the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Since {
    /// `stable` for a stable release, `any` for a prerelease.
    #[default]
    Auto,
    /// The previous stable release: notes of a stable release cover all its candidates.
    Stable,
    /// The previous tag of any kind.
    Any,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct RangeRequest {
    /// The release tag (it need not exist yet).
    pub tag: Option<String>,
    /// Base selection.
    pub since: Since,
    /// An explicit base revision.
    pub from: Option<String>,
    /// An explicit last revision.
    pub to: Option<String>,
}

/// The resolved range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRange {
    /// The release tag, when there is one.
    pub release: Option<ReleaseTag>,
    /// The last commit.
    pub to: String,
    /// The base commit (exclusive), or `None` for the whole history.
    pub from: Option<String>,
    /// The base tag name, when the base is a tag.
    pub previous_tag: Option<String>,
    /// Messages for the reader.
    pub notices: Vec<String>,
}

/// Resolves the range against the repository and its tags.
pub fn resolve(
    repo: &Repo,
    tags: &TagSet,
    grammar: &TagGrammar,
    request: &RangeRequest,
) -> Result<ResolvedRange> {
    let mut notices = Vec::new();
    let release = match &request.tag {
        Some(tag) => Some(grammar.parse(tag)?),
        None => None,
    };
    let to = match (&request.to, &release) {
        (Some(rev), _) => repo.resolve(rev).map_err(|e| e.context("--to"))?,
        (None, Some(tag)) => match tags.get(&tag.name).and_then(|e| e.commit.clone()) {
            Some(commit) => commit,
            None => repo.resolve("HEAD")?,
        },
        (None, None) => repo.resolve("HEAD")?,
    };
    let release = release.or_else(|| tags.best_on_commit(&to).map(|e| e.tag.clone()));
    if let Some(rev) = &request.from {
        let from = repo.resolve(rev).map_err(|_| {
            Error::usage(format!(
                "--from {rev:?} does not name a commit in this clone (a deleted tag, or tags not fetched?): \
                 pass an existing tag or commit, or leave --from out to use the previous tag"
            ))
        })?;
        let previous_tag = tags.get(rev).map(|e| e.name().to_string());
        return Ok(ResolvedRange { release, to, from: Some(from), previous_tag, notices });
    }
    let stable_only = match request.since {
        Since::Stable => true,
        Since::Any => false,
        Since::Auto => release.as_ref().is_some_and(|r| is_stable(&r.version)),
    };
    let candidates = tags.entries().iter().rev().filter(|e| {
        let below = match &release {
            Some(r) => e.version().cmp_precedence(&r.version) == Ordering::Less,
            None => true,
        };
        below && (!stable_only || is_stable(e.version()))
    });
    let mut base = None;
    for entry in candidates {
        match &entry.commit {
            None => notices.push(format!("Tag {} was skipped: it does not point at a commit.", entry.name())),
            Some(commit) if *commit == to => {} // an alias of this release (rc and stable on one commit)
            Some(commit) => {
                base = Some((entry.name().to_string(), commit.clone()));
                break;
            }
        }
    }
    match base {
        Some((name, commit)) => {
            Ok(ResolvedRange { release, to, from: Some(commit), previous_tag: Some(name), notices })
        }
        None => {
            let what = if stable_only { "stable release tag" } else { "release tag" };
            notices.push(format!(
                "First release: no earlier {what} was found, so these notes cover the whole history."
            ));
            Ok(ResolvedRange { release, to, from: None, previous_tag: None, notices })
        }
    }
}
