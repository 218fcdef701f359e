//! Ordinary histories as a new user has them (trailers, GitHub squash merges with their
//! `---------` and `Co-authored-by:` layout, `feat!:` inside a squash body, reverts,
//! merge-commit pull requests), built as real repositories. For each, the notes list the
//! expected entries, and the next version version-resolve computes is the one the notes'
//! sections imply: one model, one source of truth.

mod common;

use std::collections::BTreeMap;

use common::{GitRepo, notes_gen};
use relkit_core::conventional::{Bump, apply_bump};
use serde_json::Value;

/// How a history is built after `v1.0.0`.
enum Step<'a> {
    Commit(&'a str),
    /// A commit that reverts the commit made `n` steps before it.
    Revert(usize),
    /// A `--no-ff` merge of a branch with these commits.
    Merge(&'a str, &'a [&'a str]),
}

struct Case<'a> {
    name: &'a str,
    steps: &'a [Step<'a>],
    /// `(section title, descriptions)` expected in the notes, in order.
    sections: &'a [(&'a str, &'a [&'a str])],
    breaking: &'a [&'a str],
    next: &'a str,
}

fn build(steps: &[Step<'_>]) -> GitRepo {
    let mut r = GitRepo::new();
    r.commit("feat: first");
    r.annotated_tag("v1.0.0");
    let mut ids: Vec<String> = Vec::new();
    for step in steps {
        let id = match step {
            Step::Commit(message) => r.commit(message),
            Step::Revert(back) => {
                // The message `git revert` writes (the test repository's files do not revert
                // cleanly, each commit appends to one log).
                let target = ids[ids.len() - back].clone();
                let subject = r.git(&["log", "-1", "--format=%s", &target]);
                r.commit(&format!("Revert \"{}\"\n\nThis reverts commit {target}.", subject.trim()))
            }
            Step::Merge(branch, commits) => {
                r.git(&["checkout", "-q", "-b", branch]);
                for c in *commits {
                    r.commit(c);
                }
                r.git(&["checkout", "-q", "main"]);
                r.git(&[
                    "merge",
                    "-q",
                    "--no-ff",
                    branch,
                    "-m",
                    &format!("Merge pull request #9 from acme/{branch}"),
                ]);
                r.head()
            }
        };
        ids.push(id);
    }
    r
}

/// The bump the notes' sections imply: a breaking change is major, a feature minor, a fix or a
/// performance change patch.
fn implied_by_notes(notes: &Value) -> Bump {
    let changes = notes["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["changes"].as_array().unwrap())
        .chain(notes["security"].as_array().unwrap());
    let mut bump = if notes["breaking"].as_array().unwrap().is_empty() { Bump::None } else { Bump::Major };
    bump = bump.max(match notes["schema_bump"].as_str() {
        Some("major") => Bump::Major,
        Some("minor") => Bump::Minor,
        Some("patch") => Bump::Patch,
        _ => Bump::None,
    });
    for c in changes {
        bump = bump.max(match c["type"].as_str() {
            Some("feat") => Bump::Minor,
            Some("fix" | "perf") => Bump::Patch,
            _ => Bump::None,
        });
    }
    bump
}

fn next_version_of(r: &GitRepo) -> String {
    let env: BTreeMap<String, String> = BTreeMap::new();
    let options = version_resolve::Options { repo: Some(r.path.clone()), ..Default::default() };
    version_resolve::resolve(&options, &env).unwrap().next_version
}

#[test]
fn ordinary_histories() {
    let cases = [
        Case {
            name: "trailers are never entries, a plain subject is kept",
            steps: &[
                Step::Commit("fix: handle empty config\n\nSigned-off-by: Ann Example <ann@example.com>"),
                Step::Commit("Update the README wording\n\nCo-authored-by: Bob <bob@example.com>"),
            ],
            sections: &[
                ("Bug fixes", &["handle empty config"]),
                ("Other changes", &["Update the README wording"]),
            ],
            breaking: &[],
            next: "1.0.1",
        },
        Case {
            name: "GitHub squash layout: breaking footer, then --------- and co-authors",
            steps: &[Step::Commit(
                "feat(api): new endpoint (#12)\n\nBREAKING CHANGE: the old endpoint is gone\n\n---------\n\n\
                 Co-authored-by: Bob <bob@example.com>",
            )],
            // Breaking changes are listed once, in their own section.
            sections: &[],
            breaking: &["new endpoint (#12)"],
            next: "2.0.0",
        },
        Case {
            name: "feat! inside a squash body",
            steps: &[Step::Commit(
                "Release the new API (#13)\n\n* feat!: drop the v1 API\n\n* fix: typo in the help\n\n---------\n\n\
                 Co-authored-by: Bob <bob@example.com>\nSigned-off-by: Ann <ann@example.org>",
            )],
            sections: &[
                ("Bug fixes", &["typo in the help"]),
                ("Other changes", &["Release the new API (#13)"]),
            ],
            breaking: &["drop the v1 API"],
            next: "2.0.0",
        },
        Case {
            name: "a revert cancels its original within the range",
            steps: &[Step::Commit("feat: shiny"), Step::Commit("fix: small"), Step::Revert(2)],
            sections: &[("Bug fixes", &["small"])],
            breaking: &[],
            next: "1.0.1",
        },
        Case {
            name: "merge-commit pull request: its commits, not the merge",
            steps: &[Step::Merge("topic", &["feat: dark mode", "wip"])],
            sections: &[("Features", &["dark mode"]), ("Other changes", &["wip"])],
            breaking: &[],
            next: "1.1.0",
        },
    ];
    for case in cases {
        let r = build(case.steps);
        let out = notes_gen(&r.path).args(["--format", "json", "--to", "HEAD"]).assert().success();
        let notes: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let sections: Vec<(String, Vec<String>)> = notes["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let changes = s["changes"].as_array().unwrap();
                (
                    s["title"].as_str().unwrap().to_string(),
                    changes.iter().map(|c| c["description"].as_str().unwrap().to_string()).collect(),
                )
            })
            .collect();
        let want: Vec<(String, Vec<String>)> = case
            .sections
            .iter()
            .map(|(t, d)| (t.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(sections, want, "{}", case.name);
        let breaking: Vec<&str> = notes["breaking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["description"].as_str().unwrap())
            .collect();
        assert_eq!(breaking, case.breaking, "{}", case.name);
        let base = semver::Version::new(1, 0, 0);
        let implied = apply_bump(&base, implied_by_notes(&notes)).to_string();
        assert_eq!(implied, case.next, "{}: the notes imply", case.name);
        assert_eq!(next_version_of(&r), case.next, "{}: version-resolve computes", case.name);
    }
}

fn notes_json(r: &GitRepo, args: &[&str]) -> Value {
    let out = notes_gen(&r.path).args(["--format", "json"]).args(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn a_schema_change_bumps_at_least_the_minor_and_the_notes_say_so() {
    let mut r = GitRepo::new();
    r.write("api/recipe.schema.json", "{\n  \"a\": 1\n}\n");
    r.commit("feat: first");
    r.annotated_tag("v1.0.0");
    r.write("api/recipe.schema.json", "{\n  \"a\": 1,\n  \"b\": 2\n}\n");
    r.commit("chore: describe field b");
    let notes = notes_json(&r, &[]);
    assert_eq!(notes["schema_changes"][0]["path"], "api/recipe.schema.json");
    assert_eq!(notes["schema_changes"][0]["added"], 2);
    assert_eq!(notes["schema_bump"], "minor");
    assert_eq!(apply_bump(&semver::Version::new(1, 0, 0), implied_by_notes(&notes)).to_string(), "1.1.0");
    assert_eq!(next_version_of(&r), "1.1.0");
    let md = String::from_utf8(notes_gen(&r.path).assert().success().get_output().stdout.clone()).unwrap();
    assert!(md.contains("Schema changes make this at least a minor release"), "{md}");
    // `version.schema_bump: major` makes it a major release.
    r.write(".github/relkit.yml", "version:\n  schema_bump: major\n");
    r.commit("ci: configure relkit");
    assert_eq!(next_version_of(&r), "2.0.0");
    assert_eq!(notes_json(&r, &[])["schema_bump"], "major");
}

/// main: v1.4.0 → v1.5.0; release/1.4 (from v1.4.0): a schema fix tagged v1.4.1, then an
/// untagged fix.
fn maintenance_branch() -> GitRepo {
    let mut r = GitRepo::new();
    r.write("api/recipe.schema.json", "{}\n");
    r.commit("feat: first");
    r.annotated_tag("v1.4.0");
    r.git(&["checkout", "-q", "-b", "release/1.4"]);
    r.write("api/recipe.schema.json", "{\n  \"fixed\": true\n}\n");
    r.commit("fix: the schema accepts fixed");
    r.annotated_tag("v1.4.1");
    r.git(&["checkout", "-q", "main"]);
    r.commit("feat: new line");
    r.annotated_tag("v1.5.0");
    r.git(&["checkout", "-q", "release/1.4"]);
    r.commit("fix: backport the crash fix");
    r
}

#[test]
fn untagged_head_on_a_maintenance_branch_starts_at_its_own_last_release() {
    let r = maintenance_branch();
    let notes = notes_json(&r, &[]);
    assert_eq!(notes["release"]["title"], "Unreleased");
    assert_eq!(notes["release"]["previous_tag"], "v1.4.1", "not v1.5.0 of another line");
    assert_eq!(notes["release"]["commit_count"], 1);
    assert_eq!(next_version_of(&r), "1.4.2");
}

#[test]
fn schema_changes_diff_against_the_merge_base() {
    let r = maintenance_branch();
    // v1.5.0's previous stable release is v1.4.1, made on the maintenance branch: its schema
    // change is not part of v1.5.0 and must not show up reversed.
    let notes = notes_json(&r, &["--tag", "v1.5.0"]);
    assert_eq!(notes["release"]["previous_tag"], "v1.4.1");
    assert_eq!(notes["schema_changes"], serde_json::json!([]));
}

#[test]
fn a_deleted_previous_tag_widens_the_range_with_a_notice() {
    let mut r = GitRepo::new();
    r.commit("feat: a");
    r.annotated_tag("v1.0.0");
    r.commit("feat: b");
    r.annotated_tag("v1.1.0");
    r.commit("fix: c");
    r.annotated_tag("v1.1.1");
    r.git(&["tag", "-d", "v1.1.0"]);
    let notes = notes_json(&r, &["--tag", "v1.1.1"]);
    assert_eq!(notes["release"]["previous_tag"], "v1.0.0");
    assert_eq!(notes["release"]["commit_count"], 2);
    let notices = notes["notices"].to_string();
    assert!(notices.contains("No tag was found for the release before v1.1.1 (1.1.0"), "{notices}");
}

#[test]
fn changelog_with_require_conventional_accepts_history() {
    let mut r = GitRepo::new();
    r.commit("Initial import");
    r.annotated_tag("v1.0.0");
    r.commit("fix: a");
    r.annotated_tag("v1.0.1");
    r.write(".github/relkit.yml", "notes:\n  require_conventional: true\n");
    r.commit("ci: require conventional commits");
    notes_gen(&r.path).args(["changelog"]).assert().success();
    notes_gen(&r.path).args(["--tag", "v1.0.0"]).assert().failure().code(2);
}

#[test]
fn a_component_counts_only_the_commits_touching_its_paths() {
    let mut r = GitRepo::new();
    r.write(
        ".github/relkit.yml",
        "components:\n  api:\n    paths: ['packages/api/**']\n  '@acme/web':\n    paths: ['packages/web/**']\n",
    );
    r.write("packages/api/src/lib.rs", "1\n");
    r.write("packages/web/index.js", "1\n");
    r.write("packages/web/form.schema.json", "{}\n");
    r.commit("feat: both packages");
    r.light_tag("api@1.0.0");
    r.light_tag("@acme/web@1.0.0");
    r.write("packages/web/index.js", "2\n");
    // A schema change of one package is not another's (no section, no minor bump for it).
    r.write("packages/web/form.schema.json", "{\"type\": \"object\"}\n");
    r.commit("feat(web): a new page");
    r.write("packages/api/src/lib.rs", "2\n");
    r.commit("fix(api): empty body");
    r.write("README.md", "docs\n");
    r.commit("docs: readme");

    let api = notes_json(&r, &["--component", "api"]);
    assert_eq!(api["release"]["previous_tag"], "api@1.0.0");
    assert_eq!(api["release"]["commit_count"], 1);
    assert_eq!(api["sections"][0]["changes"][0]["description"], "empty body");
    assert_eq!(api["schema_changes"], serde_json::json!([]));
    let web = notes_json(&r, &["--component", "@acme/web"]);
    assert_eq!(web["release"]["previous_tag"], "@acme/web@1.0.0");
    assert_eq!(web["schema_changes"][0]["path"], "packages/web/form.schema.json");
    assert_eq!(web["sections"][0]["changes"][0]["description"], "a new page");
    // `--path` for one-off use.
    let docs = notes_json(&r, &["--component", "api", "--path", "*.md"]);
    assert_eq!(docs["sections"][0]["changes"][0]["description"], "readme");

    let env: BTreeMap<String, String> = BTreeMap::new();
    let next = |component: &str| {
        let options = version_resolve::Options {
            repo: Some(r.path.clone()),
            component: Some(component.to_string()),
            ..Default::default()
        };
        version_resolve::resolve(&options, &env).unwrap()
    };
    assert_eq!(next("api").next_version, "1.0.1");
    assert_eq!(next("@acme/web").next_version, "1.1.0");
    assert!(next("api").version.starts_with("1.0.1-dev.1+"), "{}", next("api").version);
}
