//! The in-process tree diff against `git diff --numstat --no-renames` (the independent judge)
//! on a real repository: edits, additions, deletions, a binary file, a file turned into a
//! directory, and directories the globs rule out.

use relkit_git::{FileStat, PathGlobs, Repo};
use relkit_testkit::git;

fn write(dir: &std::path::Path, file: &str, data: &[u8]) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn numstat(dir: &std::path::Path, from: &str, to: &str) -> Vec<FileStat> {
    let out = git(dir, &["diff", "--numstat", "--no-renames", from, to]);
    let mut stats: Vec<FileStat> = out
        .lines()
        .map(|line| {
            let mut f = line.splitn(3, '\t');
            let (a, r, p) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            FileStat { path: p.to_string(), added: a.parse().ok(), removed: r.parse().ok() }
        })
        .collect();
    stats.sort_by(|a, b| a.path.cmp(&b.path));
    stats
}

#[test]
fn tree_diff_matches_git_numstat() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    write(p, "api/recipe.schema.json", b"{\n  \"a\": 1,\n  \"b\": 2\n}\n");
    write(p, "api/gone.schema.json", b"{}\n");
    write(p, "src/lib.rs", b"fn a() {}\n");
    write(p, "img.schema.json", b"\x00\x01binary");
    write(p, "was-a-file", b"x\n");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "one"]);
    let one = git(p, &["rev-parse", "HEAD"]);
    write(p, "api/recipe.schema.json", b"{\n  \"a\": 1,\n  \"b\": 3,\n  \"c\": 4\n}\n");
    std::fs::remove_file(p.join("api/gone.schema.json")).unwrap();
    write(p, "api/v2/new.schema.json", b"{\n}\n");
    write(p, "src/lib.rs", b"fn a() {}\nfn b() {}\n");
    write(p, "img.schema.json", b"\x00\x02binary");
    std::fs::remove_file(p.join("was-a-file")).unwrap();
    write(p, "was-a-file/inner.schema.json", b"1\n");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "two"]);
    let two = git(p, &["rev-parse", "HEAD"]);

    let repo = Repo::discover(p).unwrap();
    let everything = PathGlobs::new(&["**".to_string()], "test").unwrap();
    let mut got = repo.diff_stat(Some(&one), &two, &everything).unwrap();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(got, numstat(p, &one, &two));

    let schemas = PathGlobs::new(&["**/*.schema.json".to_string()], "test").unwrap();
    let got: Vec<String> =
        repo.diff_stat(Some(&one), &two, &schemas).unwrap().into_iter().map(|s| s.path).collect();
    assert_eq!(
        got,
        [
            "api/gone.schema.json",
            "api/recipe.schema.json",
            "api/v2/new.schema.json",
            "img.schema.json",
            "was-a-file/inner.schema.json"
        ]
    );
    let src = PathGlobs::new(&["src/**".to_string()], "test").unwrap();
    assert!(repo.touches(Some(&one), &two, &src).unwrap());
    let docs = PathGlobs::new(&["docs/**".to_string()], "test").unwrap();
    assert!(!repo.touches(Some(&one), &two, &docs).unwrap());
    let whole = repo.diff_stat(None, &one, &schemas).unwrap();
    assert_eq!(whole.len(), 3, "from the empty tree: {whole:?}");
    let none = PathGlobs::new(&[], "test").unwrap();
    assert!(repo.diff_stat(Some(&one), &two, &none).unwrap().is_empty());
}

/// A file written (`Some`) or deleted (`None`) by one commit.
type Change = (&'static str, Option<&'static [u8]>);

/// A component's commits against `git log -- :(glob)PATTERN` (git's own pathspec matching as
/// the judge), per pattern set, with one memo shared by two overlapping ranges as a changelog
/// shares it.
#[test]
fn commits_touching_match_git_log_with_pathspecs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    let steps: &[&[Change]] = &[
        &[("README.md", Some(b"r\n")), ("packages/api/src/lib.rs", Some(b"1\n"))],
        &[("packages/api/src/lib.rs", Some(b"2\n"))],
        &[("packages/web/index.ts", Some(b"w\n"))],
        &[("packages/api/package.json", Some(b"{}\n")), ("packages/web/index.ts", Some(b"w2\n"))],
        &[("packages/api/src/lib.rs", None)],
        &[("docs/api.md", Some(b"d\n"))],
        &[("packages/api/schema/a.schema.json", Some(b"{}\n"))],
        &[("packages/apiary/x.rs", Some(b"x\n"))],
        &[("packages/api/src/lib.rs", Some(b"back\n")), ("README.md", Some(b"r2\n"))],
    ];
    let mut ids = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for (file, data) in *step {
            match data {
                Some(data) => write(p, file, data),
                None => std::fs::remove_file(p.join(file)).unwrap(),
            }
        }
        git(p, &["add", "-A"]);
        git(p, &["commit", "-q", "-m", &format!("step {i}")]);
        ids.push(git(p, &["rev-parse", "HEAD"]).trim().to_string());
    }
    // A merge whose first parent already has the change, and a branch commit under the path.
    git(p, &["checkout", "-q", "-b", "side", &ids[5]]);
    write(p, "packages/api/side.rs", b"s\n");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "side"]);
    git(p, &["checkout", "-q", "main"]);
    git(p, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let head = git(p, &["rev-parse", "HEAD"]).trim().to_string();

    let repo = Repo::discover(p).unwrap();
    let cases: &[&[&str]] = &[
        &["packages/api/**"],
        &["packages/api/**/*.json"],
        &["packages/api/package.json"],
        &["packages/web/**", "docs/**"],
        &["**/*.rs"],
        &["README.md"],
        &["**"],
    ];
    for patterns in cases {
        let globs =
            PathGlobs::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "test").unwrap();
        let mut memo = relkit_git::TouchMemo::default();
        for hidden in [vec![ids[2].clone()], vec![]] {
            let got: Vec<String> = repo
                .commits_touching(&head, &hidden, &globs, &mut memo)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            let mut args: Vec<String> = vec!["log".into(), "--format=%H".into(), head.clone()];
            args.extend(hidden.iter().map(|h| format!("^{h}")));
            // Merges are judged against their first parent, as `git log --first-parent -m`
            // shows them; plain `git log -- PATH` would drop a merge as TREESAME to a parent.
            args.extend(["-m".into(), "--first-parent".into(), "--".into()]);
            args.extend(patterns.iter().map(|pat| format!(":(glob){pat}")));
            let first_parent: Vec<String> = git(p, &args.iter().map(String::as_str).collect::<Vec<_>>())
                .lines()
                .map(str::to_string)
                .collect();
            // Commits off the first-parent line (the side branch) are judged on their own.
            let mut args: Vec<String> =
                vec!["log".into(), "--format=%H".into(), "--no-merges".into(), head.clone()];
            args.extend(hidden.iter().map(|h| format!("^{h}")));
            args.push("--".into());
            args.extend(patterns.iter().map(|pat| format!(":(glob){pat}")));
            let all: Vec<String> = git(p, &args.iter().map(String::as_str).collect::<Vec<_>>())
                .lines()
                .map(str::to_string)
                .collect();
            let mut want: Vec<String> = first_parent.into_iter().chain(all).collect();
            want.sort();
            want.dedup();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            assert_eq!(got_sorted, want, "patterns {patterns:?}, hidden {hidden:?}");
        }
    }
}
