//! relkit-git: the git edge of relkit. Reads tags, HEAD and commit ranges once with gix (pure
//! Rust, no `git` process), and turns shallow clones into a clear error.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use relkit_core::tagset::TagRef;
use relkit_core::{Error, Result};

mod authors;
mod commit_heads;

/// A commit as relkit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Full hex id.
    pub id: String,
    /// The whole message (lossily decoded as UTF-8).
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
    /// Number of parents (2 or more for a merge).
    pub parent_count: usize,
}

impl Commit {
    /// What [`Repo::authors_seen`] is asked about this commit's author: the author as
    /// [`author_key`] spells it, and the e-mail alone as [`email_key`] does.
    pub fn author_keys(&self) -> [String; 2] {
        [author_key(&self.author_name, &self.author_email), email_key(&self.author_email)]
    }

    /// The first line of the message.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

/// An author as relkit compares authors across history (who committed before a range): name
/// and e-mail as `git log --format='%aN <%aE>'` shows them, in lower case. An e-mail alone is
/// no identity: bots and squash merges file maintainers' addresses under other people's names.
pub fn author_key(name: &str, email: &str) -> String {
    let mut key = String::new();
    write_author_key(&mut key, name, email);
    key
}

/// An e-mail alone, spelled as in [`author_key`] (`<e-mail>`, in lower case): what the authors
/// walk answers about any name with that address.
pub fn email_key(email: &str) -> String {
    author_key("", email).split_off(1)
}

/// The `<e-mail>` part of an [`author_key`]: its [`email_key`].
fn email_of_author_key(key: &str) -> &str {
    key.rfind(" <").map_or(key, |at| &key[at + 1..])
}

/// [`author_key`] into a buffer kept between commits.
fn write_author_key(out: &mut String, name: &str, email: &str) {
    out.clear();
    out.push_str(name.trim());
    out.push_str(" <");
    out.push_str(email.trim());
    out.push('>');
    out.make_ascii_lowercase();
    if !out.is_ascii() {
        *out = out.to_lowercase();
    }
}

/// An open repository.
pub struct Repo {
    repo: gix::Repository,
    /// The repository's `.mailmap` (and `mailmap.file`/`mailmap.blob`), when it has entries.
    mailmap: Option<std::sync::Arc<gix::mailmap::Snapshot>>,
}

/// Memory for decoded objects (commits and trees read more than once in a run).
const OBJECT_CACHE_BYTES: usize = 64 * 1024 * 1024;

fn git_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::failed(format!("git: {what}: {e}"))
}

impl Repo {
    /// Opens the repository containing `path`. Not a repository is a usage error (exit 2).
    pub fn discover(path: &Path) -> Result<Self> {
        let mut repo = gix::discover(path).map_err(|e| {
            Error::usage(format!(
                "{} is not inside a readable git repository ({e}); run from a checkout or pass --repo DIR",
                path.display()
            ))
        })?;
        // Walks read each commit to find its parents, and callers then read the same commit
        // (author, message, tree): the cache makes the second read a lookup, not an inflate.
        repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        let mailmap = repo.open_mailmap();
        let has_entries = mailmap.iter().next().is_some();
        let mailmap = has_entries.then(|| std::sync::Arc::new(mailmap));
        Ok(Self { repo, mailmap })
    }

    /// The work tree root (or the git dir for a bare repository).
    pub fn root(&self) -> PathBuf {
        self.repo.workdir().unwrap_or_else(|| self.repo.git_dir()).to_path_buf()
    }

    /// True for a shallow clone (`.git/shallow` exists).
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow().unwrap_or(false)
    }

    /// Fails with the fix (`fetch-depth: 0`) when the clone is shallow and `what` needs history.
    pub fn require_full_history(&self, what: &str) -> Result<()> {
        if self.is_shallow() {
            return Err(Error::usage(format!(
                "this is a shallow clone, but {what} needs the full history and tags: use \
                 actions/checkout with `fetch-depth: 0` (or run `git fetch --unshallow --tags`)"
            )));
        }
        Ok(())
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> Result<Commit> {
        let commit = self.repo.head_commit().map_err(|e| git_error("cannot read HEAD", e))?;
        self.to_commit(&commit)
    }

    /// Resolves a revision (`v1.2.3`, `HEAD~2`, a sha) to the hex id of the commit it names.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| Error::usage(format!("git: cannot resolve {rev:?}: {e}")))?;
        let not_a_commit =
            |e: &dyn std::fmt::Display| Error::usage(format!("git: {rev:?} does not name a commit: {e}"));
        let object = id.object().map_err(|e| not_a_commit(&e))?;
        let commit = object.peel_to_kind(gix::object::Kind::Commit).map_err(|e| not_a_commit(&e))?;
        Ok(commit.id.to_string())
    }

    /// Reads one commit by hex id.
    pub fn commit(&self, id: &str) -> Result<Commit> {
        let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| git_error(id, e))?;
        let commit = self.repo.find_commit(oid).map_err(|e| git_error(id, e))?;
        self.to_commit(&commit)
    }

    /// Every tag under `refs/tags/`, peeled to its commit, with the annotated flag (`signed` is
    /// left false: see [`Repo::tag_ref`]). Fast on thousands of tags: packed refs are read as
    /// hex straight from `packed-refs` with their peeled ids, loose refs (which take precedence)
    /// cost one object-header read each. Tags that do not point at a commit (a tagged tree or
    /// blob) have `commit: None`.
    pub fn tag_refs(&self) -> Result<Vec<TagRef>> {
        const PREFIX: &str = "refs/tags/";
        let store = &self.repo.refs;
        let mut out = Vec::new();
        let mut loose = std::collections::HashSet::new();
        let prefix: &gix::path::RelativePath = PREFIX.try_into().map_err(|e| git_error("refs/tags", e))?;
        let loose_refs = store.loose_iter_prefixed(prefix).map_err(|e| git_error("cannot read tags", e))?;
        for reference in loose_refs {
            let reference = reference.map_err(|e| git_error("cannot read a tag", e))?;
            let name = reference.name.as_bstr().to_str_lossy();
            let Some(name) = name.strip_prefix(PREFIX).map(str::to_string) else { continue };
            let Some(target) = reference.target.try_id().map(|id| id.to_owned()) else { continue };
            let (commit, annotated) = self.peel_tag(target).map_err(|e| e.context(&name))?;
            loose.insert(name.clone());
            out.push(TagRef { name, commit, annotated, signed: false });
        }
        let packed = store.cached_packed_buffer().map_err(|e| git_error("cannot read packed-refs", e))?;
        if let Some(packed) = packed {
            let records =
                packed.iter_prefixed(PREFIX.into()).map_err(|e| git_error("cannot read packed-refs", e))?;
            for reference in records {
                let reference = reference.map_err(|e| git_error("cannot read packed-refs", e))?;
                let name = reference.name.as_bstr().to_str_lossy();
                let Some(name) = name.strip_prefix(PREFIX).map(str::to_string) else { continue };
                if loose.contains(&name) {
                    continue;
                }
                let (commit, annotated) = match reference.object {
                    Some(peeled) => (Some(peeled.to_str_lossy().into_owned()), peeled != reference.target),
                    None => self.peel_tag(reference.target()).map_err(|e| e.context(&name))?,
                };
                out.push(TagRef { name, commit, annotated, signed: false });
            }
        }
        Ok(out)
    }

    /// One tag with every flag, `signed` included; `None` if it does not exist.
    pub fn tag_ref(&self, name: &str) -> Result<Option<TagRef>> {
        let Ok(reference) = self.repo.find_reference(format!("refs/tags/{name}").as_str()) else {
            return Ok(None);
        };
        let Some(target) = reference.target().try_id().map(|id| id.to_owned()) else {
            return Ok(None);
        };
        let (commit, annotated) = self.peel_tag(target).map_err(|e| e.context(name))?;
        let mut signed = false;
        if annotated {
            let object = self.repo.find_object(target).map_err(|e| git_error(name, e))?;
            let tag = object.to_tag_ref();
            signed = tag.signature.is_some() || tag.message.contains_str("-----BEGIN SSH SIGNATURE-----");
        }
        Ok(Some(TagRef { name: name.to_string(), commit, annotated, signed }))
    }

    /// Peels an object id to its commit: `(commit, annotated)`. Reads only the object header
    /// unless the id names a tag object.
    fn peel_tag(&self, id: gix::ObjectId) -> Result<(Option<String>, bool)> {
        let kind = self.repo.find_header(id).map_err(|e| git_error("cannot read a tag target", e))?.kind();
        match kind {
            gix::object::Kind::Commit => Ok((Some(id.to_string()), false)),
            gix::object::Kind::Tag => {
                let object =
                    self.repo.find_object(id).map_err(|e| git_error("cannot read a tag object", e))?;
                let commit = object.peel_to_kind(gix::object::Kind::Commit).ok().map(|c| c.id.to_string());
                Ok((commit, true))
            }
            _ => Ok((None, false)),
        }
    }

    /// Commits reachable from `tip` but not from any of `hidden` (`hidden..tip`), newest first.
    pub fn commits(&self, tip: &str, hidden: &[String]) -> Result<Vec<Commit>> {
        let mut out = Vec::new();
        for info in self.walk(tip, hidden)? {
            let info = info.map_err(|e| git_error("cannot walk history", e))?;
            let commit = info.object().map_err(|e| git_error("cannot read a commit", e))?;
            out.push(self.to_commit(&commit)?);
        }
        Ok(out)
    }

    /// Ids of the commits reachable from `tip` but not from `hidden`, newest first (no messages
    /// are decoded).
    pub fn commit_ids(&self, tip: &str, hidden: &[String]) -> Result<Vec<String>> {
        self.walk(tip, hidden)?
            .map(|info| info.map(|i| i.id.to_string()).map_err(|e| git_error("cannot walk history", e)))
            .collect()
    }

    fn walk(&self, tip: &str, hidden: &[String]) -> Result<gix::revision::Walk<'_>> {
        let tip = parse_id(tip)?;
        let hidden = hidden.iter().map(|h| parse_id(h)).collect::<Result<Vec<_>>>()?;
        self.repo.rev_walk([tip]).with_hidden(hidden).all().map_err(|e| git_error("cannot walk history", e))
    }

    /// `remote.origin.url`, if configured.
    pub fn origin_url(&self) -> Option<String> {
        self.repo.config_snapshot().string("remote.origin.url").map(|s| s.to_str_lossy().into_owned())
    }

    /// The checked-out branch, if HEAD is not detached.
    pub fn current_branch(&self) -> Option<String> {
        let name = self.repo.head_name().ok()??;
        Some(name.shorten().to_str_lossy().into_owned())
    }

    /// The default branch as `origin/HEAD` names it, if the clone recorded it.
    pub fn origin_default_branch(&self) -> Option<String> {
        let reference = self.repo.find_reference("refs/remotes/origin/HEAD").ok()?;
        let target = reference.target().try_name()?.as_bstr().to_str_lossy().into_owned();
        target.strip_prefix("refs/remotes/origin/").map(str::to_string)
    }

    /// True if a local branch of this name exists.
    pub fn has_branch(&self, name: &str) -> bool {
        self.repo.find_reference(format!("refs/heads/{name}").as_str()).is_ok()
    }
}

fn parse_id(hex: &str) -> Result<gix::ObjectId> {
    gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| Error::usage(format!("not a commit id {hex:?}: {e}")))
}

impl Repo {
    /// A commit as relkit needs it, its author mapped through the mailmap as `git log %aN <%aE>`
    /// shows it.
    fn to_commit(&self, commit: &gix::Commit<'_>) -> Result<Commit> {
        let id = commit.id.to_string();
        let decoded = commit.decode().map_err(|e| git_error(&id, e))?;
        let author = decoded.author().map_err(|e| git_error(&id, e))?;
        let time = decoded.committer().map_err(|e| git_error(&id, e))?.time().map(|t| t.seconds).unwrap_or(0);
        let (author_name, author_email) = match &self.mailmap {
            Some(mailmap) => {
                let mapped = mailmap.resolve_cow(author);
                (mapped.name.to_str_lossy().into_owned(), mapped.email.to_str_lossy().into_owned())
            }
            None => (author.name.to_str_lossy().into_owned(), author.email.to_str_lossy().into_owned()),
        };
        Ok(Commit {
            message: decoded.message.to_str_lossy().into_owned(),
            author_name,
            author_email,
            time,
            parent_count: decoded.parents().count(),
            id,
        })
    }
}

/// Lines added and removed in one file between two commits (`None` for a binary file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Path in the repository (the new path of a rename).
    pub path: String,
    /// Lines added.
    pub added: Option<u64>,
    /// Lines removed.
    pub removed: Option<u64>,
}

/// Which paths a tree diff looks at: directories it may skip, files it reports.
pub trait PathFilter {
    /// Whether a file under the directory `dir` (`a/b`, no trailing slash) could match.
    fn may_contain(&self, dir: &str) -> bool;
    /// Whether the file `path` is reported.
    fn matches(&self, path: &str) -> bool;
}

/// The files two filters both take: schema files inside a component's paths.
pub struct BothFilters<'a>(pub &'a dyn PathFilter, pub &'a dyn PathFilter);

impl PathFilter for BothFilters<'_> {
    fn may_contain(&self, dir: &str) -> bool {
        self.0.may_contain(dir) && self.1.may_contain(dir)
    }

    fn matches(&self, path: &str) -> bool {
        self.0.matches(path) && self.1.matches(path)
    }
}

/// Glob patterns (`**/*.schema.json`, `packages/api/**`) as a [`PathFilter`]: a directory is
/// entered only when some pattern's literal leading directories are compatible with it.
#[derive(Debug, Clone)]
pub struct PathGlobs {
    set: globset::GlobSet,
    /// Each pattern's leading directories before the first wildcard (`packages/api` for
    /// `packages/api/**`; empty for `**/*.json`), and whether a wildcard follows (else the
    /// pattern names one file).
    prefixes: Vec<(String, bool)>,
    /// The deepest directory every pattern lies under (`packages/api`; empty when none).
    base: String,
    /// Some pattern matches every file under `base` (`packages/api/**`).
    covers_base: bool,
}

impl PathGlobs {
    /// Compiles the patterns; `what` names the setting in errors (a usage error naming the
    /// pattern).
    pub fn new(patterns: &[String], what: &str) -> Result<Self> {
        let mut builder = globset::GlobSetBuilder::new();
        let mut prefixes = Vec::new();
        for pattern in patterns {
            let glob = globset::Glob::new(pattern)
                .map_err(|e| Error::usage(format!("invalid {what} entry {pattern:?}: {e}")))?;
            builder.add(glob);
            let literal: Vec<&str> =
                pattern.split('/').take_while(|part| !part.contains(['*', '?', '[', '{', '\\'])).collect();
            // A pattern without wildcards names one file: its directories are the prefix.
            let open = literal.len() < pattern.split('/').count();
            let dirs = if open { &literal[..] } else { &literal[..literal.len().saturating_sub(1)] };
            prefixes.push((dirs.join("/"), open));
        }
        let set = builder.build().map_err(|e| Error::usage(format!("invalid {what}: {e}")))?;
        let base = common_directory(prefixes.iter().map(|(prefix, _)| prefix.as_str()));
        let everything = if base.is_empty() { "**".to_string() } else { format!("{base}/**") };
        let covers_base = patterns.iter().any(|p| p.trim_end_matches('/') == everything);
        Ok(Self { set, prefixes, base, covers_base })
    }

    /// True when there is no pattern (nothing can match).
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// The longest directory path (whole components) that every one of `dirs` starts with.
fn common_directory<'a>(mut dirs: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = dirs.next() else { return String::new() };
    let mut common: Vec<&str> = first.split('/').filter(|c| !c.is_empty()).collect();
    for dir in dirs {
        let parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
        let shared = common.iter().zip(&parts).take_while(|(a, b)| a == b).count();
        common.truncate(shared);
    }
    common.join("/")
}

impl PathFilter for PathGlobs {
    fn may_contain(&self, dir: &str) -> bool {
        self.prefixes.iter().any(|(prefix, open)| {
            let ancestor_of_prefix = dir.is_empty()
                || prefix == dir
                || prefix.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
            let inside_prefix = prefix.is_empty()
                || dir.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'));
            ancestor_of_prefix || (*open && inside_prefix)
        })
    }

    fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// What [`Repo::commits_touching`] learned about commits, kept across the ranges of one
/// filter: whether each commit touches it, and its tree at the filter's base directory.
#[derive(Debug, Default)]
pub struct TouchMemo {
    touched: std::collections::HashMap<gix::ObjectId, bool>,
    base_trees: std::collections::HashMap<gix::ObjectId, TreeSide>,
}

/// A side of a tree comparison: a tree id, or nothing (the path is absent on that side).
type TreeSide = Option<gix::ObjectId>;

impl Repo {
    /// The files matching `filter` that differ between the trees of `from` (`None`: the empty
    /// tree) and `to`, with lines added and removed (`git diff --numstat --no-renames`), read
    /// in-process. Subtrees with the same id on both sides and directories the filter rules
    /// out are never read, so the cost follows what changed where the filter looks, not the
    /// size of the tree. An empty filter reads nothing.
    pub fn diff_stat(&self, from: Option<&str>, to: &str, filter: &dyn PathFilter) -> Result<Vec<FileStat>> {
        let mut out = Vec::new();
        self.changed_files(from, to, filter, &mut |repo, path, old, new| {
            out.push(repo.file_stat(path, old, new)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// True when some file matching `filter` differs between `from` (`None`: the empty tree)
    /// and `to`; stops at the first one.
    pub fn touches(&self, from: Option<&str>, to: &str, filter: &dyn PathFilter) -> Result<bool> {
        let mut found = false;
        self.changed_files(from, to, filter, &mut |_, _, _, _| {
            found = true;
            Ok(false)
        })?;
        Ok(found)
    }

    /// The commits of `hidden..tip` (newest first) whose change against their first parent
    /// touches a file matching `filter`: a component's commits in a monorepo. Each commit is
    /// judged once per `memo` (a changelog's ranges share it): its tree at the filter's base
    /// directory is compared with its parent's, and only when the two differ and the filter
    /// does not take every file there are the changed subtrees the filter can match read.
    pub fn commits_touching(
        &self,
        tip: &str,
        hidden: &[String],
        filter: &PathGlobs,
        memo: &mut TouchMemo,
    ) -> Result<Vec<Commit>> {
        let mut out = Vec::new();
        for info in self.walk(tip, hidden)? {
            let info = info.map_err(|e| git_error("cannot walk history", e))?;
            let parent = info.parent_ids.first().copied();
            if self.touches_scope(info.id, parent, filter, memo)? {
                let commit =
                    self.repo.find_commit(info.id).map_err(|e| git_error("cannot read a commit", e))?;
                out.push(self.to_commit(&commit)?);
            }
        }
        Ok(out)
    }

    fn touches_scope(
        &self,
        commit: gix::ObjectId,
        parent: Option<gix::ObjectId>,
        filter: &PathGlobs,
        memo: &mut TouchMemo,
    ) -> Result<bool> {
        if let Some(known) = memo.touched.get(&commit) {
            return Ok(*known);
        }
        let new = self.base_tree(commit, filter, memo)?;
        let old = match parent {
            Some(parent) => self.base_tree(parent, filter, memo)?,
            None => None,
        };
        let touched = if old == new || !filter.may_contain("") {
            false
        } else if filter.covers_base {
            true
        } else {
            let mut found = false;
            self.compare_trees(&filter.base, old, new, filter, &mut |_, _, _, _| {
                found = true;
                Ok(false)
            })?;
            found
        };
        memo.touched.insert(commit, touched);
        Ok(touched)
    }

    /// The id of the tree at the filter's base directory in `commit` (`None` when absent).
    fn base_tree(&self, commit: gix::ObjectId, filter: &PathGlobs, memo: &mut TouchMemo) -> Result<TreeSide> {
        if let Some(known) = memo.base_trees.get(&commit) {
            return Ok(*known);
        }
        let object = self.repo.find_commit(commit).map_err(|e| git_error("cannot read a commit", e))?;
        let root = object.tree_id().map_err(|e| git_error("cannot read a tree", e))?.detach();
        let tree = if filter.base.is_empty() {
            Some(root)
        } else {
            let root = self.repo.find_tree(root).map_err(|e| git_error("cannot read a tree", e))?;
            root.lookup_entry(filter.base.split('/'))
                .map_err(|e| git_error("cannot read a tree", e))?
                .filter(|entry| entry.mode().is_tree())
                .map(|entry| entry.object_id())
        };
        memo.base_trees.insert(commit, tree);
        Ok(tree)
    }

    /// The best common ancestor of two commits, if they have one.
    pub fn merge_base(&self, one: &str, two: &str) -> Result<Option<String>> {
        let base = self
            .repo
            .merge_base(parse_id(one)?, parse_id(two)?)
            .map_err(|e| git_error("cannot compute a merge base", e))?;
        Ok(base.map(|id| id.to_string()))
    }

    fn tree_of(&self, commit: Option<&str>) -> Result<TreeSide> {
        let Some(commit) = commit else { return Ok(None) };
        let commit = self.repo.find_commit(parse_id(commit)?).map_err(|e| git_error(commit, e))?;
        Ok(Some(commit.tree_id().map_err(|e| git_error("cannot read a tree", e))?.detach()))
    }

    /// Calls `found(path, old blob, new blob)` for each changed file the filter matches until
    /// it returns `false`.
    fn changed_files(
        &self,
        from: Option<&str>,
        to: &str,
        filter: &dyn PathFilter,
        found: &mut dyn FnMut(&Self, &str, TreeSide, TreeSide) -> Result<bool>,
    ) -> Result<()> {
        let old = self.tree_of(from)?;
        let new = self.tree_of(Some(to))?;
        if filter.may_contain("") {
            self.compare_trees("", old, new, filter, found)?;
        }
        Ok(())
    }

    /// Entries of a tree by name: (is a tree, is a blob or link, id).
    fn tree_entries(
        &self,
        tree: TreeSide,
    ) -> Result<std::collections::BTreeMap<Vec<u8>, (bool, bool, gix::ObjectId)>> {
        let mut out = std::collections::BTreeMap::new();
        let Some(id) = tree else { return Ok(out) };
        let tree = self.repo.find_tree(id).map_err(|e| git_error("cannot read a tree", e))?;
        let decoded = tree.decode().map_err(|e| git_error("cannot decode a tree", e))?;
        for entry in decoded.entries {
            let mode = entry.mode;
            out.insert(
                entry.filename.to_vec(),
                (mode.is_tree(), mode.is_blob_or_symlink(), entry.oid.to_owned()),
            );
        }
        Ok(out)
    }

    /// Returns `false` once `found` asked to stop.
    fn compare_trees(
        &self,
        dir: &str,
        old: TreeSide,
        new: TreeSide,
        filter: &dyn PathFilter,
        found: &mut dyn FnMut(&Self, &str, TreeSide, TreeSide) -> Result<bool>,
    ) -> Result<bool> {
        if old == new {
            return Ok(true);
        }
        let old_entries = self.tree_entries(old)?;
        let new_entries = self.tree_entries(new)?;
        let names: std::collections::BTreeSet<&Vec<u8>> =
            old_entries.keys().chain(new_entries.keys()).collect();
        for name in names {
            let before = old_entries.get(name);
            let after = new_entries.get(name);
            if before.map(|e| e.2) == after.map(|e| e.2) {
                continue;
            }
            let path = if dir.is_empty() {
                name.to_str_lossy().into_owned()
            } else {
                format!("{dir}/{}", name.to_str_lossy())
            };
            let side = |e: Option<&(bool, bool, gix::ObjectId)>, tree: bool| {
                e.filter(|(is_tree, is_blob, _)| if tree { *is_tree } else { *is_blob }).map(|e| e.2)
            };
            let (old_tree, new_tree) = (side(before, true), side(after, true));
            if (old_tree.is_some() || new_tree.is_some())
                && filter.may_contain(&path)
                && !self.compare_trees(&path, old_tree, new_tree, filter, found)?
            {
                return Ok(false);
            }
            let (old_blob, new_blob) = (side(before, false), side(after, false));
            if (old_blob.is_some() || new_blob.is_some())
                && filter.matches(&path)
                && !found(self, &path, old_blob, new_blob)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn blob(&self, id: TreeSide) -> Result<Vec<u8>> {
        match id {
            Some(id) => {
                Ok(self.repo.find_blob(id).map_err(|e| git_error("cannot read a file", e))?.data.clone())
            }
            None => Ok(Vec::new()),
        }
    }

    /// Lines added and removed, as `git diff --numstat` counts them (Myers); `None` for binary
    /// files (a NUL byte in the first 8,000 bytes, git's rule).
    fn file_stat(&self, path: &str, old: TreeSide, new: TreeSide) -> Result<FileStat> {
        let (before, after) = (self.blob(old)?, self.blob(new)?);
        let binary = |data: &[u8]| data[..data.len().min(8000)].contains(&0);
        if binary(&before) || binary(&after) {
            return Ok(FileStat { path: path.to_string(), added: None, removed: None });
        }
        let input = imara_diff::InternedInput::new(before.as_slice(), after.as_slice());
        let diff = imara_diff::Diff::compute(imara_diff::Algorithm::Myers, &input);
        Ok(FileStat {
            path: path.to_string(),
            added: Some(u64::from(diff.count_additions())),
            removed: Some(u64::from(diff.count_removals())),
        })
    }
}

impl Repo {
    /// A second handle on the same repository, to read history on another thread. It has no
    /// object cache: its walks read each commit once, and copying every commit into a cache
    /// would cost more than it saves.
    pub fn handle(&self) -> Repo {
        let mut repo = self.repo.clone();
        repo.object_cache_size(0);
        Repo { repo, mailmap: self.mailmap.clone() }
    }
}
