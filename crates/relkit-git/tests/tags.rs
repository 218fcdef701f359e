//! Tag reading on real repositories: loose and packed refs, annotated and lightweight tags.

use relkit_git::Repo;
use relkit_testkit::git;

#[test]
fn packed_and_loose_tags_peel_to_their_commits() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let first = git(p, &["rev-parse", "HEAD"]);
    git(p, &["tag", "-a", "-m", "a", "v1.0.0"]);
    git(p, &["tag", "light-1"]);
    git(p, &["pack-refs", "--all"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let second = git(p, &["rev-parse", "HEAD"]);
    git(p, &["tag", "-a", "-m", "b", "v2.0.0"]);
    // A loose ref overrides its packed copy: move light-1 to the second commit.
    git(p, &["tag", "-f", "light-1"]);
    let tree = git(p, &["rev-parse", "HEAD^{tree}"]);
    git(p, &["tag", "tree-tag", &tree]);

    let repo = Repo::discover(p).unwrap();
    let mut tags = repo.tag_refs().unwrap();
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&str, Option<&str>, bool)> =
        tags.iter().map(|t| (t.name.as_str(), t.commit.as_deref(), t.annotated)).collect();
    assert_eq!(
        got,
        [
            ("light-1", Some(second.as_str()), false),
            ("tree-tag", None, false),
            ("v1.0.0", Some(first.as_str()), true),
            ("v2.0.0", Some(second.as_str()), true),
        ]
    );
    let one = repo.tag_ref("v1.0.0").unwrap().unwrap();
    assert!(one.annotated && !one.signed);
    assert_eq!(one.commit.as_deref(), Some(first.as_str()));
    assert!(repo.tag_ref("v9.9.9").unwrap().is_none());
}

#[test]
fn shallow_clones_ask_for_full_history() {
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q", "-b", "main"]);
    git(origin.path(), &["commit", "-q", "--allow-empty", "-m", "one"]);
    git(origin.path(), &["commit", "-q", "--allow-empty", "-m", "two"]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git(dir.path(), &["clone", "-q", "--depth", "1", &url, "c"]);
    let repo = Repo::discover(&dir.path().join("c")).unwrap();
    assert!(repo.is_shallow());
    let err = repo.require_full_history("notes").unwrap_err();
    assert!(err.message().contains("fetch-depth: 0"));
}
