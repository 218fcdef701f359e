//! Which commits the notes cover: from the previous tag (previous stable for a stable release, so
//! that the notes cover every release candidate; previous of any kind for a prerelease) to the
//! release, or an explicit `--from`/`--to`. Tags on the release's own commit (an `-rc` promoted
//! to stable) are not a base; a first release covers the whole history and says so.

use std::cmp::Ordering;
use std::collections::HashSet;

use relkit_core::tagset::TagSet;
use relkit_core::version::{ReleaseTag, TagGrammar, is_stable};
use relkit_core::{Error, Result};
use relkit_git::Repo;
use semver::Version;

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
    // Without a release, the base is the nearest release in the history of `to` (on a
    // maintenance branch, not a newer release made on another line).
    let reachable: Option<HashSet<String>> = match &release {
        Some(_) => None,
        None => Some(repo.commit_ids(&to, &[])?.into_iter().collect()),
    };
    let candidates = tags.entries().iter().rev().filter(|e| {
        let below = match (&release, &reachable) {
            (Some(r), _) => e.version().cmp_precedence(&r.version) == Ordering::Less,
            (None, Some(reachable)) => e.commit.as_ref().is_none_or(|c| reachable.contains(c)),
            (None, None) => true,
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
            if let (Some(r), Some(base)) = (&release, tags.get(&name))
                && let Some(missing) = missing_predecessor(&r.version, base.version())
            {
                notices.push(format!(
                    "No tag was found for the release before {} ({missing}: deleted, or not fetched?): \
                     these notes start at {name} and so also cover what that release had.",
                    r.name
                ));
            }
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

/// The release a stable `release` must have followed that `base` is not: `1.1.0` before
/// `1.1.1`, some `1.0.x` before `1.1.0`, some `1.x.y` before `2.0.0`. `None` when `base` is
/// that release, or when the release is a prerelease (whose predecessors are not numbered).
pub fn missing_predecessor(release: &Version, base: &Version) -> Option<String> {
    if !is_stable(release) || !is_stable(base) {
        return None;
    }
    let (x, y, z) = (release.major, release.minor, release.patch);
    let (expected, found) = if z > 0 {
        (format!("{x}.{y}.{}", z - 1), (base.major, base.minor, base.patch) == (x, y, z - 1))
    } else if y > 0 {
        (format!("{x}.{}.x", y - 1), (base.major, base.minor) == (x, y - 1))
    } else if x > 0 {
        (format!("{}.x.y", x - 1), base.major == x - 1)
    } else {
        return None;
    };
    (!found).then_some(expected)
}

/// Releases below the range's base (`from`, tagged `previous_tag`) where the walks of the older
/// history start, in the order they are taken (see `Repo::authors_seen`, which never trusts them
/// for the answer): the release halfway down, then the middles of the two halves, then of the
/// quarters, and so on, [`MIDWAY_RELEASES`] at most; guesses at splitting the older history
/// into stretches either walker can take when it is done with the last one.
pub fn midway_releases(tags: &TagSet, from: &str, previous_tag: Option<&str>) -> Vec<String> {
    let base = previous_tag.and_then(|name| tags.get(name));
    let below: Vec<&str> = tags
        .entries()
        .iter()
        .filter(|e| base.is_none_or(|base| e.version() < base.version()))
        .filter_map(|e| e.commit.as_deref())
        .filter(|commit| *commit != from)
        .collect();
    let mut seeds = Vec::new();
    // Stretches of `below` still to split, as (start, end) index pairs, widest first.
    let mut stretches = std::collections::VecDeque::from([(0, below.len())]);
    while let Some((start, end)) = stretches.pop_front() {
        if seeds.len() == MIDWAY_RELEASES {
            break;
        }
        if start == end {
            continue;
        }
        let middle = start + (end - start) / 2;
        seeds.push(below[middle].to_string());
        stretches.push_back((start, middle));
        stretches.push_back((middle + 1, end));
    }
    seeds
}

/// Seeds at most: the middles of five levels of halving, stretches of about 1/32 of the history.
pub const MIDWAY_RELEASES: usize = 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_predecessors() {
        let v = |s: &str| Version::parse(s).unwrap();
        let table = [
            ("1.1.1", "1.1.0", None),
            ("1.1.1", "1.0.0", Some("1.1.0")),
            ("1.1.0", "1.0.7", None),
            ("1.2.0", "1.0.7", Some("1.1.x")),
            ("2.0.0", "1.9.3", None),
            ("3.0.0", "1.9.3", Some("2.x.y")),
            ("2.0.0-rc.2", "1.0.0", None),
        ];
        for (release, base, want) in table {
            assert_eq!(missing_predecessor(&v(release), &v(base)).as_deref(), want, "{release} after {base}");
        }
    }

    /// The seeds: the middle of the releases below the base, then the middles of its halves
    /// (lower first), and so on; never the base, and no more than [`MIDWAY_RELEASES`].
    #[test]
    fn midway_releases_halve_the_releases_below_the_base() {
        let grammar = TagGrammar::default();
        let tags_of = |count: usize| {
            let refs = (1..=count).map(|i| relkit_core::tagset::TagRef {
                name: format!("v{i}.0.0"),
                commit: Some(format!("c{i}")),
                ..Default::default()
            });
            TagSet::from_refs(&grammar, refs)
        };
        let tags = tags_of(9);
        let table: [(&str, Option<&str>, &[&str]); 5] = [
            // v1..v6 below: c4, then c2 (of c1..c3) and c6 (of c5..c6), then c1, c3, c5
            ("c7", Some("v7.0.0"), &["c4", "c2", "c6", "c1", "c3", "c5"]),
            ("c2", Some("v2.0.0"), &["c1"]),
            ("c1", Some("v1.0.0"), &[]),
            ("c9", None, &["c5", "c3", "c7", "c2", "c4", "c6", "c8", "c1"]), // every release but the base
            ("abc", Some("v10.0.0"), &["c5", "c3", "c8", "c2", "c4", "c7", "c9", "c1", "c6"]), // an unknown tag
        ];
        for (from, previous, want) in table {
            assert_eq!(midway_releases(&tags, from, previous), want, "{from} {previous:?}");
        }
        let many = tags_of(1000);
        let seeds = midway_releases(&many, "c1000", Some("v1000.0.0"));
        assert_eq!(seeds.len(), MIDWAY_RELEASES);
        assert_eq!(seeds[..3], ["c500", "c250", "c750"]);
    }
}
