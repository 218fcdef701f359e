//! `authors_seen` (who committed before a range) against the authors `git log` lists, on real
//! repositories: merges, a maintenance branch whose author must not count, an octopus merge
//! whose header is longer than the prefix read from packs; commits loose, packed, or both; with
//! no second walker, or one seeded at an ancestor, off the history, at the tip, at the root,
//! above the tip, at several of these one after the other, or at every commit.

use std::collections::BTreeSet;
use std::path::Path;

use relkit_git::Repo;
use relkit_testkit::git;

/// A commit adding a file of its own, so branches merge without conflicts.
fn commit(dir: &Path, author: &str, message: &str) -> String {
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::fs::write(dir.join(format!("file{n}")), format!("{message}\n")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--author", author, "-m", message]);
    rev(dir, "HEAD")
}

fn rev(dir: &Path, name: &str) -> String {
    git(dir, &["rev-parse", name]).trim().to_string()
}

/// The history, with the names of the commits the table uses.
struct History {
    dir: tempfile::TempDir,
    tip: String,
    released: String,
    old_release: String,
    maintenance: String,
    root: String,
    octopus: String,
}

fn history() -> History {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    let root = commit(p, "Ann <ann@example.org>", "feat: start");
    let old_release = commit(p, "Bob <Bob@Example.org>", "fix: one");
    git(p, &["checkout", "-q", "-b", "maint"]);
    let maintenance = commit(p, "Mallory <mallory@example.org>", "fix: only on the maintenance branch");
    git(p, &["checkout", "-q", "main"]);
    git(p, &["checkout", "-q", "-b", "feature"]);
    commit(p, "Dave <dave@example.org>", "feat: on a branch");
    git(p, &["checkout", "-q", "main"]);
    commit(p, "Carol <carol@example.org>", "docs: main moves on");
    git(p, &["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    // Twelve branches merged at once: a header longer than the prefix read from a pack.
    let mut branches = Vec::new();
    for i in 0..12 {
        let name = format!("side{i}");
        git(p, &["checkout", "-q", "-b", &name, "main"]);
        std::fs::write(p.join(format!("side{i}")), "x\n").unwrap();
        git(p, &["add", "-A"]);
        git(p, &["commit", "-q", "--author", &format!("Side{i} <side{i}@example.org>"), "-m", "chore: side"]);
        branches.push(name);
    }
    git(p, &["checkout", "-q", "main"]);
    let mut args = vec!["merge", "-q", "--no-ff", "-m", "octopus"];
    args.extend(branches.iter().map(String::as_str));
    git(p, &args);
    let octopus = rev(p, "HEAD");
    let released = commit(p, "Erin <erin@example.org>", "feat: released");
    let tip = commit(p, "Frank <frank@example.org>", "fix: after the release");
    commit(p, "Grace <grace@example.org>", "fix: above the tip");
    History { dir, tip, released, old_release, maintenance, root, octopus }
}

/// The lower-cased authors (`%aN <%aE>`) `git log` lists for `tip`'s history.
fn git_log_authors(dir: &Path, tip: &str) -> BTreeSet<String> {
    git(dir, &["log", "--format=%aN <%aE>", tip]).lines().map(str::to_lowercase).collect()
}

fn authors_seen(repo: &Repo, tip: &str, seeds: &[&String], wanted: &BTreeSet<String>) -> BTreeSet<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(wanted.clone()).unwrap();
    let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    repo.authors_seen(tip, &seeds, rx).unwrap()
}

#[test]
fn authors_seen_matches_git_log_for_every_seed_and_storage() {
    let h = history();
    let p = h.dir.path();
    let everyone: BTreeSet<String> = git(p, &["log", "--all", "--format=%aN <%aE>"])
        .lines()
        .map(str::to_lowercase)
        .chain(["new <new@example.org>".to_string()])
        .collect();
    let above = rev(p, "main");
    for storage in ["loose", "packed", "packed, then loose"] {
        match storage {
            "packed" => {
                git(p, &["gc", "-q", "--prune=now"]);
            }
            "packed, then loose" => {
                commit(p, "Heidi <heidi@example.org>", "fix: loose again");
            }
            _ => {}
        }
        let repo = Repo::discover(p).unwrap();
        for tip in [&h.tip, &h.released, &h.octopus] {
            let want = git_log_authors(p, tip);
            assert!(
                !want.contains("mallory <mallory@example.org>") && !want.contains("new <new@example.org>")
            );
            // Every commit of every branch, newest first: both threads take seeds in turn.
            let every_commit: Vec<String> =
                git(p, &["rev-list", "--all"]).lines().map(str::to_string).collect();
            let seeds: [(&str, Vec<&String>); 9] = [
                ("no seed", vec![]),
                ("an older release", vec![&h.old_release]),
                ("the maintenance branch", vec![&h.maintenance]),
                ("the tip itself", vec![tip]),
                ("the root", vec![&h.root]),
                ("above the tip", vec![&above]),
                (
                    "the root, then an older release, then the octopus",
                    vec![&h.root, &h.old_release, &h.octopus],
                ),
                ("the maintenance branch, then above the tip", vec![&h.maintenance, &above]),
                ("every commit", every_commit.iter().collect()),
            ];
            for (seed_name, seeds) in seeds {
                let got = authors_seen(&repo, tip, &seeds, &everyone);
                assert_eq!(got, want, "{storage}, tip {tip}, seeds: {seed_name}");
            }
        }
    }
}

/// The wanted authors known before the walk starts, sent while it runs (either way the same
/// answer), or never (nothing found); compared in lower case.
#[test]
fn authors_seen_learns_the_wanted_authors_at_any_time() {
    let h = history();
    let repo = Repo::discover(h.dir.path()).unwrap();
    let wanted: BTreeSet<String> =
        ["ann <ann@example.org>", "bob <bob@example.org>", "new <new@example.org>"].map(String::from).into();
    let want: BTreeSet<String> = ["ann <ann@example.org>", "bob <bob@example.org>"].map(String::from).into();
    for seeds in [vec![], vec![h.old_release.clone()]] {
        let seed_refs: Vec<&String> = seeds.iter().collect();
        assert_eq!(authors_seen(&repo, &h.tip, &seed_refs, &wanted), want, "known at the start");

        let (tx, rx) = std::sync::mpsc::channel();
        let (walker, tip, owned) = (repo.handle(), h.tip.clone(), seeds.clone());
        let walk = std::thread::spawn(move || walker.authors_seen(&tip, &owned, rx));
        tx.send(wanted.clone()).unwrap();
        assert_eq!(walk.join().unwrap().unwrap(), want, "sent while the walk runs");

        let (tx, rx) = std::sync::mpsc::channel::<BTreeSet<String>>();
        drop(tx);
        assert!(repo.authors_seen(&h.tip, &seeds, rx).unwrap().is_empty(), "never sent");
    }
}

/// A seed that cannot be read (a tag whose history is not fetched) fails the walk only when the
/// answer needs what lies below it: not when every wanted author was seen before.
#[test]
fn an_unreadable_seed_matters_only_when_the_answer_needs_it() {
    let h = history();
    let repo = Repo::discover(h.dir.path()).unwrap();
    let missing = "1234567890123456789012345678901234567890".to_string();
    let known: BTreeSet<String> = ["erin <erin@example.org>".to_string()].into();
    assert_eq!(authors_seen(&repo, &h.tip, &[&missing], &known), known);
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(["new <new@example.org>".to_string()].into()).unwrap();
    let error = repo.authors_seen(&h.tip, &[missing], rx).unwrap_err().to_string();
    assert!(error.contains("cannot read a commit"), "{error}");
}

/// An author is a name and an e-mail (`%aN <%aE>`): an address seen before under another name
/// (a maintainer's, on commits filed under a contributor's name) is not the same author, though
/// the address alone (`<e-mail>`) was seen; `.mailmap` maps both before they are compared.
#[test]
fn an_author_is_name_and_email_through_the_mailmap() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    commit(p, "Maintainer <shared@example.org>", "feat: start");
    commit(p, "nick <nick@old.example>", "fix: one");
    let tip = commit(p, "Ann <ann@example.org>", "fix: two");
    let shared = relkit_git::email_key("Shared@example.org");
    let wanted: BTreeSet<String> =
        ["contributor <shared@example.org>", "nick name <nick@example.org>", &shared, "<nobody@example.org>"]
            .map(String::from)
            .into();
    let repo = Repo::discover(p).unwrap();
    let want: BTreeSet<String> = [shared.clone()].into();
    assert_eq!(authors_seen(&repo, &tip, &[], &wanted), want, "the address alone was seen");
    std::fs::write(p.join(".mailmap"), "Nick Name <nick@example.org> <nick@old.example>\n").unwrap();
    let repo = Repo::discover(p).unwrap();
    let want: BTreeSet<String> = [shared, "nick name <nick@example.org>".to_string()].into();
    assert_eq!(authors_seen(&repo, &tip, &[], &wanted), want, "mapped");
    assert_eq!(relkit_git::author_key(" Nick Name ", "Nick@Example.org"), "nick name <nick@example.org>");
    assert_eq!(relkit_git::email_key("Nick@Example.org"), "<nick@example.org>");
}
