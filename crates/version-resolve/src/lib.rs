//! version-resolve: the release version and everything known about it.
//!
//! [`resolve`] reads the inputs (I/O at the edge: config, GitHub context, git) and hands them to
//! [`decide`], a pure function of [`Facts`] that the table-driven tests drive directly.

use std::collections::HashSet;
use std::path::PathBuf;

use relkit_core::actions::{self, Env, Outputs};
use relkit_core::channel::{DEV, NEXT};
use relkit_core::config::Config;
use relkit_core::conventional::{Bump, apply_bump};
use relkit_core::github::GithubContext;
use relkit_core::message::{RangeCommit, range_entries};
use relkit_core::resolved::{ResolvedVersion, Source};
use relkit_core::tagset::{Scope, TagEntry, TagSet};
use relkit_core::version::{TagGrammar, is_stable, parse_version};
use relkit_core::{Error, Result};
use relkit_git::{BothFilters, PathGlobs, Repo};
use semver::{BuildMetadata, Prerelease, Version};

/// How `--bump` computes the next version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BumpKind {
    /// From conventional commits since the last release.
    Auto,
    /// Next major (`2.0.0`).
    Major,
    /// Next minor (`1.5.0`).
    Minor,
    /// Next patch (`1.4.3`).
    Patch,
    /// Next prerelease (`2.0.0-rc.2` after `2.0.0-rc.1`, or `-rc.1` of the auto version).
    Prerelease,
}

/// What the command line (or the action's inputs) asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Repository directory (default: the current directory, or `GITHUB_WORKSPACE`).
    pub repo: Option<PathBuf>,
    /// Explicit version or tag.
    pub version: Option<String>,
    /// Compute the next version and release it.
    pub bump: Option<BumpKind>,
    /// Monorepo component.
    pub component: Option<String>,
    /// Configuration file (default `.github/relkit.yml`).
    pub config: Option<PathBuf>,
}

/// Everything [`decide`] needs, gathered from config, the GitHub context and git.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The configuration in force.
    pub config: Config,
    /// The tag grammar (configured component, or `--component`).
    pub grammar: TagGrammar,
    /// The GitHub context (empty off Actions).
    pub github: GithubContext,
    /// Explicit version from `--version` or the input.
    pub explicit: Option<String>,
    /// `--bump`.
    pub bump: Option<BumpKind>,
    /// All release tags of the repository.
    pub tags: TagSet,
    /// HEAD commit id and time (seconds).
    pub head: (String, i64),
    /// The history of HEAD, read only when the answer depends on it ([`needs_history`]).
    pub history: Option<History>,
    /// The current branch (from `GITHUB_REF`, `GITHUB_HEAD_REF` for a pull request, or git).
    pub branch: Option<String>,
    /// The default branch.
    pub default_branch: String,
    /// `remote.origin.url`.
    pub origin_url: Option<String>,
}

/// What version-resolve needs from the history of HEAD.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Commits reachable from HEAD (ids), to find the last release on this line.
    pub reachable: HashSet<String>,
    /// The commits between the last stable release reachable from HEAD and HEAD, newest first:
    /// `(id, message, is_merge)`.
    pub commits_since_stable: Vec<(String, String, bool)>,
    /// Files matching `notes.schema_globs` changed since that release (against the merge base).
    pub schema_changed: bool,
    /// Number of commits since the last release tag (any) reachable from HEAD, or all commits.
    pub commits_since_tag: usize,
}

/// Resolves the version for `options` with the process environment.
pub fn resolve(options: &Options, env: &dyn Env) -> Result<ResolvedVersion> {
    let (facts, repo) = gather(options, env)?;
    let mut resolved = decide(&facts)?;
    if resolved.sha != facts.head.0 {
        // The version names another commit (a tag elsewhere, GITHUB_SHA): use that commit's time.
        if let Ok(commit) = repo.commit(&resolved.sha) {
            resolved.commit_time = rfc3339(commit.time);
        }
    }
    Ok(resolved)
}

/// Runs the command: resolve, print, and under Actions write outputs and a summary.
pub fn run(options: &Options, json: bool, env: &dyn Env) -> Result<()> {
    let resolved = resolve(options, env)?;
    let document = serde_json::to_string_pretty(&resolved).expect("serializable");
    if json {
        println!("{document}");
    } else {
        for (key, value) in resolved.output_pairs() {
            println!("{key}={value}");
        }
    }
    if actions::running_in_actions(env) {
        let mut outputs = Outputs::new();
        for (key, value) in resolved.output_pairs() {
            outputs.set(key, value);
        }
        outputs.set("json", serde_json::to_string(&resolved).expect("serializable"));
        outputs.write(env)?;
        actions::append_summary(env, &summary(&resolved))?;
    }
    Ok(())
}

fn summary(r: &ResolvedVersion) -> String {
    let or_none = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
    format!(
        "### Version {}\n\n| | |\n|---|---|\n| tag | `{}` |\n| channel | {} |\n| highest | {} (major {}, minor {}) |\n\
         | previous | {} (stable: {}) |\n| next | {} |\n| commit | `{}` |\n| source | {:?} |\n\n",
        r.version,
        r.tag,
        r.channel,
        r.is_highest,
        r.is_highest_in_major,
        r.is_highest_in_minor,
        or_none(&r.previous_tag),
        or_none(&r.previous_stable_tag),
        r.next_version,
        r.short_sha,
        r.source
    )
}

/// Reads config, context and git into [`Facts`]; also returns the open repository.
pub fn gather(options: &Options, env: &dyn Env) -> Result<(Facts, Repo)> {
    let github = GithubContext::from_env(env)?;
    let dir = options
        .repo
        .clone()
        .or_else(|| actions::input(env, "working-directory").map(PathBuf::from))
        .or_else(|| github.workspace.clone().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    let repo = Repo::discover(&dir)?;
    let root = repo.root();
    let config_path = options.config.clone().or_else(|| actions::input(env, "config").map(PathBuf::from));
    let config = Config::load(config_path.as_deref(), Some(&root))?;
    let component = options.component.clone().or_else(|| actions::input(env, "component"));
    let grammar = config.tags.grammar(component.as_deref());
    let explicit = options.version.clone().or_else(|| actions::input(env, "version"));
    let bump = match options.bump {
        Some(b) => Some(b),
        None => actions::input(env, "bump").map(|b| parse_bump(&b)).transpose()?,
    };
    repo.require_full_history("version-resolve (previous tags, highest version, commit counts)")?;

    let tags = TagSet::from_refs(&grammar, repo.tag_refs()?);
    let head = repo.head()?;
    // A pull request builds on its head branch (GITHUB_HEAD_REF), not on refs/pull/N/merge.
    let branch = github
        .branch()
        .map(str::to_string)
        .or_else(|| github.head_ref.clone())
        .or_else(|| if github.git_ref.is_some() { None } else { repo.current_branch() });
    let default_branch = github
        .default_branch()
        .map(str::to_string)
        .or_else(|| config.version.default_branch.clone())
        .or_else(|| repo.origin_default_branch())
        .or_else(|| ["main", "master"].into_iter().find(|b| repo.has_branch(b)).map(str::to_string))
        .unwrap_or_else(|| "main".into());
    let origin_url = repo.origin_url();
    let mut facts = Facts {
        config,
        grammar,
        github,
        explicit,
        bump,
        tags,
        head: (head.id, head.time),
        history: None,
        branch,
        default_branch,
        origin_url,
    };
    if needs_history(&facts) {
        let schema_globs = PathGlobs::new(&facts.config.notes.schema_globs, "notes.schema_globs")?;
        let patterns = facts.config.component_paths(component.as_deref());
        let paths = if patterns.is_empty() {
            None
        } else {
            Some(PathGlobs::new(&patterns, "components.<name>.paths")?)
        };
        facts.history = Some(read_history(&repo, &facts.tags, &facts.head.0, &schema_globs, paths.as_ref())?);
    }
    Ok((facts, repo))
}

fn parse_bump(text: &str) -> Result<BumpKind> {
    <BumpKind as clap::ValueEnum>::from_str(text, true).map_err(|_| {
        Error::usage(format!("invalid bump {text:?}: expected auto, major, minor, patch or prerelease"))
    })
}

/// Reads the history of HEAD: what is reachable, the commits since the last releases (only
/// those touching the component's `paths`, when given), and whether a schema file changed
/// since the last stable release.
pub fn read_history(
    repo: &Repo,
    tags: &TagSet,
    head: &str,
    schema_globs: &PathGlobs,
    paths: Option<&PathGlobs>,
) -> Result<History> {
    let reachable: HashSet<String> = repo.commit_ids(head, &[])?.into_iter().collect();
    let last_stable = last_reachable(tags, &reachable, true).and_then(|e| e.commit.clone());
    let last_any = last_reachable(tags, &reachable, false).and_then(|e| e.commit.clone());
    // The last stable release is an ancestor of HEAD: it is its own merge base. A component's
    // schema changes are those inside its paths.
    let schema_changed = match paths {
        Some(paths) => repo.touches(last_stable.as_deref(), head, &BothFilters(schema_globs, paths))?,
        None => repo.touches(last_stable.as_deref(), head, schema_globs)?,
    };
    let since_stable: Vec<String> = last_stable.iter().cloned().collect();
    let mut memo = relkit_git::TouchMemo::default();
    let commits_since_stable = match paths {
        Some(paths) => repo.commits_touching(head, &since_stable, paths, &mut memo)?,
        None => repo.commits(head, &since_stable)?,
    }
    .into_iter()
    .map(|c| (c.id, c.message, c.parent_count >= 2))
    .collect();
    let since_any: Vec<String> = last_any.into_iter().collect();
    let commits_since_tag = match paths {
        Some(paths) => repo.commits_touching(head, &since_any, paths, &mut memo)?.len(),
        None => repo.commit_ids(head, &since_any)?.len(),
    };
    Ok(History { reachable, commits_since_stable, commits_since_tag, schema_changed })
}

/// Whether the answer depends on the history of HEAD: a bump, a development version, or a
/// version that is not tagged yet (its `next_version` comes from the commits). A release whose
/// tag exists needs only the tag set.
pub fn needs_history(facts: &Facts) -> bool {
    if facts.bump.is_some() {
        return true;
    }
    match candidate(facts) {
        Some(c) => parse_candidate(facts, &c).is_ok_and(|(_, tag)| facts.tags.get(&tag).is_none()),
        None => release_on_head(facts).is_none(),
    }
}

/// The release tag on HEAD, which makes HEAD a release on a laptop. In CI (`GITHUB_ACTIONS`) a
/// release comes only from a tag ref, a release event or an explicit input: a branch push or a
/// pull request whose commit happens to carry `v2.0.0` is a development build, so a workflow
/// triggered by both the branch and the tag push does not plan the release twice.
fn release_on_head(facts: &Facts) -> Option<&TagEntry> {
    if facts.github.in_actions {
        return None;
    }
    facts.tags.best_on_commit(&facts.head.0)
}

fn history(facts: &Facts) -> Result<&History> {
    facts.history.as_ref().ok_or_else(|| Error::failed("the history of HEAD was needed but not read"))
}

/// The highest release tag (stable only, if asked) whose commit is reachable from HEAD.
fn last_reachable<'a>(tags: &'a TagSet, reachable: &HashSet<String>, stable: bool) -> Option<&'a TagEntry> {
    tags.entries().iter().rev().find(|e| {
        (!stable || is_stable(e.version())) && e.commit.as_ref().is_some_and(|c| reachable.contains(c))
    })
}

/// A version candidate and where it came from.
struct Candidate {
    text: String,
    origin: String,
    source: Source,
}

/// The pure core: from facts to the resolved version.
pub fn decide(facts: &Facts) -> Result<ResolvedVersion> {
    let next = || next_version(facts, history(facts)?, facts.bump.unwrap_or(BumpKind::Auto));
    let candidate = candidate(facts);
    let (version, tag, sha, source) = match (candidate, facts.bump) {
        (Some(c), _) => {
            let (version, tag) = parse_candidate(facts, &c)?;
            let sha = facts
                .tags
                .get(&tag)
                .and_then(|e| e.commit.clone())
                .or_else(|| facts.github.sha.clone().filter(|_| c.source != Source::Input))
                .unwrap_or_else(|| facts.head.0.clone());
            (version, tag, sha, c.source)
        }
        (None, Some(_)) => {
            let next = next()?;
            (next.clone(), facts.grammar.format(&next), facts.head.0.clone(), Source::Bump)
        }
        (None, None) => match release_on_head(facts) {
            Some(entry) => {
                (entry.version().clone(), entry.name().to_string(), facts.head.0.clone(), Source::GitTag)
            }
            None => {
                let mut target = next()?;
                if let Some(released) = facts.tags.best_on_commit(&facts.head.0).map(TagEntry::version)
                    && released.cmp_precedence(&target).is_ge()
                {
                    // CI on a released commit: develop the next patch, above the release.
                    target = apply_bump(released, Bump::Patch);
                }
                let dev = development_version(facts, history(facts)?, &target);
                (dev.clone(), facts.grammar.format(&dev), facts.head.0.clone(), Source::Development)
            }
        },
    };
    let is_default_branch = facts.branch.as_deref() == Some(facts.default_branch.as_str());
    let channel = match source {
        Source::Development if is_default_branch => NEXT.to_string(),
        Source::Development => DEV.to_string(),
        _ => facts.config.channels.channel_of(&version),
    };
    let next_version = if source == Source::GitTag || facts.tags.get(&tag).is_some() && source != Source::Bump
    {
        // This commit is already released as `version`: a release cut from it is that release.
        version.clone()
    } else {
        next()?
    };
    Ok(ResolvedVersion {
        version: version.to_string(),
        tag,
        major: version.major,
        minor: version.minor,
        patch: version.patch,
        prerelease: version.pre.to_string(),
        build: version.build.to_string(),
        is_prerelease: !version.pre.is_empty(),
        channel,
        is_highest: facts.tags.is_highest(&version, Scope::All),
        is_highest_in_major: facts.tags.is_highest(&version, Scope::Major(version.major)),
        is_highest_in_minor: facts.tags.is_highest(&version, Scope::Minor(version.major, version.minor)),
        previous_tag: facts.tags.previous(&version, false).map(|e| e.name().to_string()),
        previous_stable_tag: facts.tags.previous(&version, true).map(|e| e.name().to_string()),
        short_sha: sha.chars().take(7).collect(),
        sha,
        namespace: namespace(facts),
        next_version: next_version.to_string(),
        source,
        component: facts.grammar.component.clone(),
        commit_time: rfc3339(facts.head.1),
        branch: facts.branch.clone(),
        is_default_branch,
        repository_url: facts
            .github
            .repository_url()
            .or_else(|| facts.origin_url.as_deref().and_then(web_url)),
    })
}

fn candidate(facts: &Facts) -> Option<Candidate> {
    let gh = &facts.github;
    let found =
        |text: &str, origin: String, source| Some(Candidate { text: text.to_string(), origin, source });
    if let Some(v) = &facts.explicit {
        return found(v, "the version input".into(), Source::Input);
    }
    if let Some(tag) = gh.release_tag() {
        return found(tag, "the release event's tag_name".into(), Source::ReleaseEvent);
    }
    if let Some(v) = gh.dispatch_input("version").or_else(|| gh.dispatch_input("tag")) {
        return found(&v, "the workflow_dispatch input".into(), Source::DispatchInput);
    }
    if let Some(tag) = gh.tag_from_ref() {
        return found(
            tag,
            format!("GITHUB_REF={}", gh.git_ref.as_deref().unwrap_or_default()),
            Source::TagRef,
        );
    }
    None
}

/// Parses a candidate as a tag of the grammar, or (for inputs) as a bare version.
fn parse_candidate(facts: &Facts, c: &Candidate) -> Result<(Version, String)> {
    let is_input = c.source == Source::Input || c.source == Source::DispatchInput;
    if let Some(tag) = facts.grammar.try_parse(&c.text) {
        // An input that is not an existing tag is spelled the way this repository writes tags.
        let name = if is_input && facts.tags.get(&tag.name).is_none() {
            facts.grammar.format(&tag.version)
        } else {
            tag.name
        };
        return Ok((tag.version, name));
    }
    let tag_error = facts.grammar.parse(&c.text).unwrap_err();
    if let Some(version) = parse_version(&c.text).ok().filter(|_| is_input) {
        return Ok((version.clone(), facts.grammar.format(&version)));
    }
    Err(tag_error.context(format!("version from {}", c.origin)))
}

/// The version a release cut from HEAD would get.
fn next_version(facts: &Facts, history: &History, kind: BumpKind) -> Result<Version> {
    let last_stable = last_reachable(&facts.tags, &history.reachable, true).map(|e| e.version().clone());
    let base = last_stable.clone().unwrap_or_else(|| Version::new(0, 0, 0));
    let auto = auto_bump(facts, history);
    let released = |bump| {
        if last_stable.is_none() && bump == Bump::None {
            Version::new(0, 1, 0)
        } else {
            apply_bump(&base, bump)
        }
    };
    Ok(match kind {
        BumpKind::Auto => released(auto),
        BumpKind::Major if last_stable.is_none() => Version::new(1, 0, 0),
        BumpKind::Major => Version::new(base.major + 1, 0, 0),
        BumpKind::Minor => apply_bump(&base, Bump::Minor),
        BumpKind::Patch => apply_bump(&base, Bump::Patch),
        BumpKind::Prerelease => {
            let target = released(auto);
            let identifier = &facts.config.version.prerelease_identifier;
            let last_pre = last_reachable(&facts.tags, &history.reachable, false)
                .map(|e| e.version().clone())
                .filter(|v| {
                    !v.pre.is_empty()
                        && (v.major, v.minor, v.patch) >= (target.major, target.minor, target.patch)
                });
            match last_pre {
                Some(pre) => increment_prerelease(&pre),
                None => with_pre(&target, &format!("{identifier}.1")),
            }
        }
    })
}

/// The bump of the commits since the last stable release: exactly the entries the release
/// notes list (the shared model of [`relkit_core::message`]), raised to `version.schema_bump`
/// when a schema file changed.
pub fn auto_bump(facts: &Facts, history: &History) -> Bump {
    let commits: Vec<RangeCommit<'_>> = history
        .commits_since_stable
        .iter()
        .map(|(id, message, merge)| RangeCommit { id, message, merge: *merge })
        .collect();
    let from_entries = range_entries(&commits, &facts.config.notes.known_types()).bump();
    let from_schema =
        if history.schema_changed { facts.config.version.schema_bump.bump() } else { Bump::None };
    from_entries.max(from_schema)
}

/// `2.0.0-rc.1` → `2.0.0-rc.2`; `2.0.0-beta` → `2.0.0-beta.1`.
fn increment_prerelease(v: &Version) -> Version {
    let mut parts: Vec<String> = v.pre.as_str().split('.').map(String::from).collect();
    match parts.last().and_then(|p| p.parse::<u64>().ok()) {
        Some(n) => *parts.last_mut().expect("non-empty") = (n + 1).to_string(),
        None => parts.push("1".into()),
    }
    with_pre(v, &parts.join("."))
}

fn with_pre(v: &Version, pre: &str) -> Version {
    let mut out = Version::new(v.major, v.minor, v.patch);
    out.pre = Prerelease::new(pre).expect("valid prerelease identifiers");
    out
}

/// `1.5.0-dev.12+g1a2b3c4`, or `2.0.0-rc.1.dev.3+g…` after the prerelease `2.0.0-rc.1` of the
/// same version, so the development build sorts after the prerelease it follows.
fn development_version(facts: &Facts, history: &History, next: &Version) -> Version {
    let dev = &facts.config.version.dev_prerelease;
    let n = history.commits_since_tag;
    let last_any = last_reachable(&facts.tags, &history.reachable, false).map(|e| e.version().clone());
    let pre = match last_any {
        Some(p)
            if !p.pre.is_empty() && (p.major, p.minor, p.patch) == (next.major, next.minor, next.patch) =>
        {
            format!("{}.{dev}.{n}", p.pre)
        }
        _ => format!("{dev}.{n}"),
    };
    let mut version = with_pre(next, &pre);
    let short: String = facts.head.0.chars().take(7).collect();
    version.build = BuildMetadata::new(&format!("g{short}")).expect("hex is valid build metadata");
    version
}

fn namespace(facts: &Facts) -> Option<String> {
    facts
        .github
        .repository
        .clone()
        .or_else(|| facts.origin_url.as_deref().and_then(owner_repo))
        .map(|s| s.to_lowercase())
}

/// `owner/repo` from a GitHub-style remote URL (`https://host/owner/repo.git`, `git@host:owner/repo`).
pub fn owner_repo(url: &str) -> Option<String> {
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else {
        url.split_once(':')?.1
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.rsplitn(3, '/');
    let repo = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{repo}"))
}

fn web_url(remote: &str) -> Option<String> {
    let host = if let Some((_, rest)) = remote.split_once("://") {
        let authority = rest.split('/').next()?;
        authority.rsplit('@').next()?.to_string()
    } else {
        remote.split_once(':')?.0.rsplit('@').next()?.to_string()
    };
    if host.is_empty() || host.starts_with('/') {
        return None;
    }
    Some(format!("https://{host}/{}", owner_repo(remote)?))
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls() {
        for (url, want) in [
            ("https://github.com/Org/Repo.git", Some("Org/Repo")),
            ("git@github.com:org/repo.git", Some("org/repo")),
            ("ssh://git@host:22/a/b", Some("a/b")),
            ("/local/path", None),
        ] {
            assert_eq!(owner_repo(url).as_deref(), want, "{url}");
        }
        assert_eq!(web_url("git@github.com:o/r.git").as_deref(), Some("https://github.com/o/r"));
        assert_eq!(web_url("https://x@github.com/o/r").as_deref(), Some("https://github.com/o/r"));
    }

    #[test]
    fn prerelease_increments() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(increment_prerelease(&v("2.0.0-rc.1")).to_string(), "2.0.0-rc.2");
        assert_eq!(increment_prerelease(&v("2.0.0-rc.9")).to_string(), "2.0.0-rc.10");
        assert_eq!(increment_prerelease(&v("2.0.0-beta")).to_string(), "2.0.0-beta.1");
    }
}
