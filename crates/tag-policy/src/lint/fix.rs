//! `--fix`: resolve every fixable reference first, then rewrite each file in place, changing only
//! the bytes of the reference (`debian:12` → `debian:12@sha256:…`,
//! `actions/checkout@v4` → `actions/checkout@<sha> # v4`).
//!
//! Nothing is written unless every reference resolved, and each file is replaced atomically, so
//! a failed run leaves the tree as it was and a second run changes nothing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::path::Path;
use std::process::Command;

use relkit_core::{Error, Result};

use super::finding::{Finding, Fix};
use super::reference::{is_commit_sha, is_sha256_digest};

/// Turns tags into immutable identifiers. The registry lookup and the git lookup are behind
/// this trait so the rewriting can be tested on its own.
pub trait Resolver {
    /// The manifest digest (`sha256:…`) the registry serves for `image` (a tag reference; no tag
    /// means `latest`).
    fn image_digest(&self, image: &str) -> Result<String>;

    /// The commit SHA that `git_ref` (a tag or branch) names in the action repository `repo`
    /// (`owner/repo`).
    fn action_commit(&self, repo: &str, git_ref: &str) -> Result<String>;
}

/// One replacement of a byte range (an insertion when the range is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Bytes replaced.
    pub range: Range<usize>,
    /// Replacement text.
    pub text: String,
}

/// What a lookup is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Lookup {
    Image(String),
    Action(String, String),
}

impl Lookup {
    fn of(fix: &Fix) -> Self {
        match fix {
            Fix::AppendDigest { image, .. } => Lookup::Image(image.clone()),
            Fix::PinAction { repo, git_ref, .. } => Lookup::Action(repo.clone(), git_ref.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Lookup::Image(image) => image.clone(),
            Lookup::Action(repo, git_ref) => format!("{repo}@{git_ref}"),
        }
    }
}

/// The edits that pin one fix, given what its reference resolved to.
pub fn edits_for(fix: &Fix, resolved: &str) -> Vec<Edit> {
    match fix {
        Fix::AppendDigest { at, add_latest, .. } => {
            let latest = if *add_latest { ":latest" } else { "" };
            vec![Edit { range: *at..*at, text: format!("{latest}@{resolved}") }]
        }
        Fix::PinAction { git_ref, range, comment_at, .. } => {
            let mut edits = vec![Edit { range: range.clone(), text: resolved.to_string() }];
            if let Some(at) = comment_at {
                edits.push(Edit { range: *at..*at, text: format!(" # {git_ref}") });
            }
            edits
        }
    }
}

/// Applies edits to `source`. Identical edits (one `ARG` used by two `FROM`s) apply once;
/// overlapping different edits are refused.
pub fn apply_edits(source: &str, mut edits: Vec<Edit>) -> Result<String> {
    edits.sort_by(|a, b| (a.range.start, a.range.end, &a.text).cmp(&(b.range.start, b.range.end, &b.text)));
    edits.dedup();
    let mut out = String::with_capacity(source.len() + edits.len() * 80);
    let mut pos = 0;
    for edit in &edits {
        if edit.range.start < pos || source.get(edit.range.clone()).is_none() {
            return Err(Error::failed(format!(
                "internal: overlapping or out-of-range edit at byte {}; no file was changed",
                edit.range.start
            )));
        }
        out.push_str(&source[pos..edit.range.start]);
        out.push_str(&edit.text);
        pos = edit.range.end;
    }
    out.push_str(&source[pos..]);
    Ok(out)
}

/// One file's worth of fixes: where it is, its text as linted, and its findings.
#[derive(Debug, Clone)]
pub struct FileFixes<'a> {
    /// Path to write.
    pub path: &'a Path,
    /// The text the findings were computed from.
    pub source: &'a str,
    /// The findings; those without a fix are left alone.
    pub findings: Vec<&'a Finding>,
}

/// What `--fix` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixSummary {
    /// References pinned.
    pub fixed: usize,
    /// Files rewritten.
    pub files: usize,
}

/// Resolves every fixable finding, then rewrites the files. Any lookup failure stops before a
/// single file is written, with one message listing every reference that failed.
pub fn fix_files(files: &[FileFixes<'_>], resolver: &dyn Resolver) -> Result<FixSummary> {
    let mut resolved: BTreeMap<Lookup, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for fix in files.iter().flat_map(|f| f.findings.iter().filter_map(|f| f.fix.as_ref())) {
        let key = Lookup::of(fix);
        if resolved.contains_key(&key) {
            continue;
        }
        match resolve(&key, resolver) {
            Ok(value) => {
                resolved.insert(key, value);
            }
            Err(e) => failures.push(format!("{}: {e}", key.describe())),
        }
    }
    failures.dedup();
    if !failures.is_empty() {
        return Err(Error::failed(format!(
            "cannot resolve {} reference(s), no file was changed: {}",
            failures.len(),
            failures.join("; ")
        )));
    }
    let mut rewrites = Vec::new();
    let mut summary = FixSummary::default();
    for file in files {
        let mut edits = Vec::new();
        for fix in file.findings.iter().filter_map(|f| f.fix.as_ref()) {
            edits.extend(edits_for(fix, &resolved[&Lookup::of(fix)]));
            summary.fixed += 1;
        }
        if !edits.is_empty() {
            rewrites.push((file.path, apply_edits(file.source, edits)?));
        }
    }
    for (path, text) in &rewrites {
        write_atomically(path, text)?;
    }
    summary.files = rewrites.len();
    Ok(summary)
}

/// Looks one reference up and checks the answer's shape.
fn resolve(key: &Lookup, resolver: &dyn Resolver) -> Result<String> {
    match key {
        Lookup::Image(image) => {
            let digest = resolver.image_digest(image)?;
            if !is_sha256_digest(&digest) {
                return Err(Error::failed(format!("the registry answered {digest:?}, not a sha256 digest")));
            }
            Ok(digest)
        }
        Lookup::Action(repo, git_ref) => {
            let sha = resolver.action_commit(repo, git_ref)?.to_ascii_lowercase();
            if !is_commit_sha(&sha) {
                return Err(Error::failed(format!("git answered {sha:?}, not a 40-hex commit SHA")));
            }
            Ok(sha)
        }
    }
}

/// Replaces a file through a temporary file in the same directory, keeping its permissions.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let fail = |e: std::io::Error| Error::failed(format!("cannot rewrite {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path).map_err(fail)?.permissions();
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    temp.write_all(text.as_bytes()).map_err(fail)?;
    temp.as_file().set_permissions(permissions).map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Resolves action refs with `git ls-remote` against a GitHub server (`GITHUB_SERVER_URL`,
/// `https://github.com` by default): tags first (peeled to their commit), then branches.
/// Needs network access to the server; no API token is used.
#[derive(Debug, Clone)]
pub struct GitActionResolver {
    /// Base URL the repositories live under (`<server>/<owner>/<repo>`).
    pub server: String,
}

impl GitActionResolver {
    /// Looks up `git_ref` in `repo` on the server.
    pub fn commit(&self, repo: &str, git_ref: &str) -> Result<String> {
        let url = format!("{}/{repo}", self.server.trim_end_matches('/'));
        let wanted = [
            format!("refs/tags/{git_ref}^{{}}"),
            format!("refs/tags/{git_ref}"),
            format!("refs/heads/{git_ref}"),
        ];
        let output = Command::new("git")
            .args(["ls-remote", "--", &url])
            .args(&wanted)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| Error::failed(format!("cannot run git ls-remote (is git installed?): {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(Error::failed(format!("git ls-remote {url} failed: {}", stderr.trim())));
        }
        let listing = String::from_utf8_lossy(&output.stdout);
        let refs: BTreeMap<&str, &str> =
            listing.lines().filter_map(|l| l.split_once('\t')).map(|(sha, name)| (name, sha)).collect();
        wanted.iter().find_map(|name| refs.get(name.as_str())).map(|sha| sha.to_string()).ok_or_else(|| {
            Error::failed(format!(
                "{url} has no tag or branch {git_ref:?}; pin it by hand to a commit SHA from {url}/commits"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_insert_and_replace_without_touching_the_rest() {
        let src = "FROM debian:12 AS a # keep\n";
        let fix = Fix::AppendDigest { at: 14, image: "debian:12".into(), add_latest: false };
        let out = apply_edits(src, edits_for(&fix, "sha256:ab")).unwrap();
        assert_eq!(out, "FROM debian:12@sha256:ab AS a # keep\n");

        let fix = Fix::AppendDigest { at: 11, image: "debian".into(), add_latest: true };
        assert_eq!(
            apply_edits("FROM debian\n", edits_for(&fix, "sha256:ab")).unwrap(),
            "FROM debian:latest@sha256:ab\n"
        );

        let src = "  - uses: \"actions/checkout@v4\"   \r\n";
        let fix = Fix::PinAction {
            repo: "actions/checkout".into(),
            git_ref: "v4".into(),
            range: 28..30,
            comment_at: Some(31),
        };
        let out = apply_edits(src, edits_for(&fix, "abc")).unwrap();
        assert_eq!(out, "  - uses: \"actions/checkout@abc\" # v4   \r\n");
    }

    #[test]
    fn identical_edits_apply_once_and_overlaps_are_refused() {
        let e = Edit { range: 3..3, text: "@x".into() };
        assert_eq!(apply_edits("abcdef", vec![e.clone(), e]).unwrap(), "abc@xdef");
        let overlap = vec![Edit { range: 1..4, text: "x".into() }, Edit { range: 2..3, text: "y".into() }];
        assert!(apply_edits("abcdef", overlap).is_err());
        assert!(apply_edits("ab", vec![Edit { range: 1..9, text: "x".into() }]).is_err());
    }
}
