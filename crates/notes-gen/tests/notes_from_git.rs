//! notes-gen against real repositories built with `git`: ranges around release candidates,
//! hotfixes, deleted tags, first releases and shallow clones; merges and squash bodies; golden
//! Markdown and JSON outputs.

mod common;

use common::{GitRepo, notes_gen, run_git};
use predicates::prelude::*;
use predicates::str::contains;

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// v1.0.0 (annotated) → two RCs (lightweight) → v1.1.0 on the same commit as rc.2.
fn release_train() -> GitRepo {
    let mut r = GitRepo::new();
    r.commit("feat: first feature");
    r.annotated_tag("v1.0.0");
    r.commit("feat(api): add the list endpoint");
    r.commit_as("fix: handle empty input", "Bob Builder", "bob@example.org");
    r.light_tag("v1.1.0-rc.1");
    r.commit("perf: cache the index\n\nCloses #7");
    r.commit("Tidy up the README");
    r.light_tag("v1.1.0-rc.2");
    r.annotated_tag("v1.1.0");
    r
}

#[test]
fn stable_release_covers_every_candidate() {
    let r = release_train();
    let md = stdout(notes_gen(&r.path).args(["--tag", "v1.1.0"]));
    insta::assert_snapshot!("stable_covers_candidates", md);
}

#[test]
fn ranges_follow_since_and_skip_tags_on_the_same_commit() {
    let r = release_train();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut cmd = notes_gen(&r.path);
        cmd.args(args).args(["--format", "json"]);
        serde_json::from_str(&stdout(&mut cmd)).unwrap()
    };
    let table: &[(&[&str], &str, u64)] = &[
        (&["--tag", "v1.1.0"], "v1.0.0", 4),
        // rc.2 sits on the release commit: it is an alias, not a base.
        (&["--tag", "v1.1.0", "--since", "any"], "v1.1.0-rc.1", 2),
        (&["--tag", "v1.1.0-rc.2"], "v1.1.0-rc.1", 2),
        (&["--tag", "v1.1.0-rc.1"], "v1.0.0", 2),
        (&["--tag", "v1.1.0", "--from", "v1.1.0-rc.1"], "v1.1.0-rc.1", 2),
    ];
    for (args, previous, count) in table {
        let v = json(args);
        assert_eq!(v["release"]["previous_tag"], *previous, "{args:?}");
        assert_eq!(v["release"]["commit_count"], *count, "{args:?}");
    }
    // Without --tag, the highest tag on HEAD is the release.
    assert_eq!(json(&[])["release"]["tag"], "v1.1.0");
}

#[test]
fn hotfix_on_an_older_line_uses_its_own_previous_release() {
    let mut r = GitRepo::new();
    r.commit("feat: one");
    r.annotated_tag("v1.9.0");
    r.commit("feat!: two");
    r.annotated_tag("v2.0.0");
    r.git(&["checkout", "-q", "-b", "release-1.9", "v1.9.0"]);
    r.commit("fix: backport the crash fix");
    r.annotated_tag("v1.9.1");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(notes_gen(&r.path).args(["--tag", "v1.9.1", "--format", "json"])))
            .unwrap();
    assert_eq!(v["release"]["previous_tag"], "v1.9.0");
    assert_eq!(v["sections"][0]["changes"][0]["description"], "backport the crash fix");
    assert_eq!(v["release"]["commit_count"], 1);
}

#[test]
fn merges_and_squash_bodies() {
    let mut r = GitRepo::new();
    r.commit("chore: init");
    r.annotated_tag("v0.1.0");
    r.git(&["checkout", "-q", "-b", "topic"]);
    r.commit_as("feat(ui): dark mode", "Cy Contributor", "cy@example.org");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--no-ff", "topic", "-m", "Merge pull request #3 from cy/topic"]);
    r.commit("Release train (#4)\n\n* feat(cli): add --quiet\n\n* fix: exit code on error\n\n* docs: explain flags");
    r.commit("refactor!: rename the config file (#5)\n\nBREAKING CHANGE: rename .toolrc to tool.toml");
    r.commit("feat!: drop Node 18 (#6)");
    r.annotated_tag("v0.2.0");
    let md = stdout(notes_gen(&r.path).args(["--tag", "v0.2.0"]));
    insta::assert_snapshot!("merges_and_squash_bodies", md);
}

#[test]
fn a_deleted_previous_tag_falls_back_and_an_explicit_one_is_a_clear_error() {
    let mut r = GitRepo::new();
    r.commit("feat: a");
    r.annotated_tag("v1.0.0");
    r.commit("feat: b");
    r.annotated_tag("v1.1.0");
    r.commit("fix: c");
    r.annotated_tag("v1.1.1");
    r.git(&["tag", "-d", "v1.1.0"]);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(notes_gen(&r.path).args(["--tag", "v1.1.1", "--format", "json"])))
            .unwrap();
    assert_eq!(v["release"]["previous_tag"], "v1.0.0");
    assert_eq!(v["release"]["commit_count"], 2);
    notes_gen(&r.path)
        .args(["--tag", "v1.1.1", "--from", "v1.1.0"])
        .assert()
        .code(2)
        .stderr(contains("--from \"v1.1.0\" does not name a commit in this clone"));
}

/// Without a forge, contributors are grouped by their git name, as `git shortlog` does: one
/// person committing from two e-mails is listed once, and is no first-timer when they committed
/// before the range under either. A maintainer's address on a commit filed under a newcomer's
/// name (as bots and format commits do) does not make the newcomer an old hand; someone who
/// renamed themselves, every address of theirs seen before, is no newcomer.
#[test]
fn contributors_without_a_forge_are_one_per_name() {
    let mut r = GitRepo::new();
    r.commit_as("feat: first", "Dal Oshu", "dal@work.example");
    r.commit_as("fix: setup", "Maintainer", "maint@example.org");
    r.commit_as("fix: old name", "Kendell R", "kendell@example.org");
    r.annotated_tag("v1.0.0");
    r.commit_as("fix: new name", "Kendell", "kendell@example.org");
    r.commit_as("feat: from home", "Dal Oshu", "dal@home.example");
    r.commit_as("fix: from work", "Dal Oshu", "dal@work.example");
    r.commit_as("fix: typo", "Cy New", "cy@one.example");
    r.commit_as("docs: more", "Cy New", "cy@two.example");
    r.commit_as("[ci] format", "Cy New", "maint@example.org");
    r.annotated_tag("v1.1.0");
    let (all, first_timers) = contributors(&r, "v1.1.0");
    assert_eq!(all, [("Kendell".to_string(), 1), ("Dal Oshu".to_string(), 2), ("Cy New".to_string(), 3)]);
    assert_eq!(first_timers, [("Cy New".to_string(), 3)]);
}

/// Contributors as (name, commits).
type Credits = Vec<(String, u64)>;

/// The release's contributors and its first-timers, from the JSON notes.
fn contributors(r: &GitRepo, tag: &str) -> (Credits, Credits) {
    let notes: serde_json::Value =
        serde_json::from_str(&stdout(notes_gen(&r.path).args(["--tag", tag, "--format", "json"]))).unwrap();
    let list = |field: &str| -> Credits {
        notes[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["commits"].as_u64().unwrap()))
            .collect()
    };
    (list("contributors"), list("first_time_contributors"))
}

/// `.mailmap` maps authors as `git shortlog` and `git log %aN <%aE>` show them: an old address
/// mapped to the current one is the same person (no first-timer), a nickname gets the proper name.
#[test]
fn mailmap_names_the_authors_as_git_does() {
    let mut r = GitRepo::new();
    r.commit_as("feat: first", "dal", "dal@old.example");
    r.annotated_tag("v1.0.0");
    r.write(
        ".mailmap",
        "Dal Oshu <dal@work.example> <dal@old.example>\nCy New <cy@one.example> cyborg <cy@one.example>\n",
    );
    r.commit_as("feat: from work", "Dal Oshu", "dal@work.example");
    r.commit_as("fix: typo", "cyborg", "cy@one.example");
    r.annotated_tag("v1.1.0");
    let (all, first_timers) = contributors(&r, "v1.1.0");
    assert_eq!(all, [("Dal Oshu".to_string(), 1), ("Cy New".to_string(), 1)]);
    assert_eq!(first_timers, [("Cy New".to_string(), 1)]);
}

#[test]
fn first_release_says_it_covers_the_whole_history() {
    let mut r = GitRepo::new();
    r.commit("feat: a");
    r.commit("fix: b");
    r.annotated_tag("v0.1.0");
    let md = stdout(&mut notes_gen(&r.path));
    assert!(md.contains("First release: no earlier stable release tag was found"), "{md}");
    assert!(md.contains("- a (") && md.contains("- b ("), "{md}");
}

#[test]
fn shallow_clone_is_refused_with_the_fix() {
    let r = release_train();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.path.display());
    run_git(dir.path(), &["clone", "-q", "--depth", "1", &url, "shallow"], &[]);
    notes_gen(&dir.path().join("shallow"))
        .assert()
        .code(2)
        .stderr(contains("shallow clone").and(contains("fetch-depth: 0")));
}

#[test]
fn require_conventional_fails_and_names_the_commit() {
    let r = release_train();
    notes_gen(&r.path)
        .args(["--tag", "v1.1.0", "--require-conventional"])
        .assert()
        .code(2)
        .stderr(contains("\"Tidy up the README\""));
}

#[test]
fn bad_input_exits_2_without_a_panic() {
    let r = release_train();
    for args in [
        vec!["--tag", "v1.2"],
        vec!["--to", "no-such-branch"],
        vec!["--verification", "/nonexistent.json"],
        vec!["--publish"],
    ] {
        let out = notes_gen(&r.path).args(&args).env("INPUT_TAG", "").assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line: {stderr}");
    }
}

#[test]
fn broken_custom_template_fails_in_one_line_naming_the_file() {
    let r = release_train();
    let template = r.path.join("broken.j2");
    for source in ["{% for s in sections %}{{ s.title }}", "{{ release.title | no_such_filter }}"] {
        std::fs::write(&template, source).unwrap();
        for command in [&[][..], &["changelog"][..]] {
            let out = notes_gen(&r.path).args(command).arg("--template").arg(&template).assert().code(2);
            let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
            assert!(stderr.contains("broken.j2"), "{source} {command:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{source} {command:?}: one line: {stderr}");
        }
    }
}

#[test]
fn schema_changes_verification_release_yml_and_custom_template() {
    let mut r = GitRepo::new();
    r.write("schemas/recipe.schema.json", "{\n  \"type\": \"object\"\n}\n");
    r.commit("feat: recipe schema");
    r.annotated_tag("v1.0.0");
    r.write("schemas/recipe.schema.json", "{\n  \"type\": \"object\",\n  \"required\": [\"name\"]\n}\n");
    r.commit("feat(schema): require a name\n\nRefs GHSA-xvch-5gv4-984h");
    r.write(
        ".github/release.yml",
        "changelog:\n  categories:\n    - title: Everything\n      labels: ['*']\n",
    );
    r.write(".github/relkit.yml", "notes:\n  schema_globs: ['schemas/*.schema.json']\n");
    r.commit("Configure the notes");
    r.annotated_tag("v1.1.0");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let verification = r.path.join("signed.json");
    std::fs::write(
        &verification,
        format!(
            r#"{{"images":[{{"image":"ghcr.io/acme/app","digest":"{digest}","tags":["v1.1.0"],
            "signature":{{"certificate_identity":"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.1.0",
            "certificate_oidc_issuer":"https://token.actions.githubusercontent.com"}},
            "attestations":[{{"type":"spdxjson","predicate_type":"https://spdx.dev/Document"}}],
            "github_attestations":true}}]}}"#
        ),
    )
    .unwrap();
    let asset = r.path.join("app linux.tar.gz");
    std::fs::write(&asset, b"binary").unwrap();
    let md = stdout(
        notes_gen(&r.path)
            .args(["--tag", "v1.1.0", "--repository", "acme/app", "--pull-requests=false"])
            .args([
                "--verification".as_ref(),
                verification.as_os_str(),
                "--asset".as_ref(),
                asset.as_os_str(),
            ]),
    );
    insta::assert_snapshot!("schema_verification_release_yml", md);

    let template = r.path.join("short.j2");
    std::fs::write(
        &template,
        "{{ release.title }} since {{ release.previous_tag }}: {% for s in sections %}{{ s.title }}={{ s.changes | length }} {% endfor %}\
         security={{ security | length }} schema={{ schema_changes[0].path }}",
    )
    .unwrap();
    let custom = stdout(notes_gen(&r.path).args(["--tag", "v1.1.0", "--template"]).arg(&template));
    assert_eq!(custom, "v1.1.0 since v1.0.0: Everything=1 security=1 schema=schemas/recipe.schema.json");
}

#[test]
fn changelog_of_all_and_of_the_last_releases() {
    let r = release_train();
    let all = stdout(notes_gen(&r.path).args(["changelog"]));
    insta::assert_snapshot!("changelog_all", all);
    let last = stdout(notes_gen(&r.path).args(["changelog", "--last", "1", "--since", "stable"]));
    assert!(last.contains("## v1.1.0") && !last.contains("## v1.0.0"), "{last}");
    assert!(last.contains("add the list endpoint") && last.contains("cache the index"), "{last}");
}

#[test]
fn outputs_and_summary_under_actions() {
    let r = release_train();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary = dir.path().join("summary");
    notes_gen(&r.path)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REF", "refs/tags/v1.1.0-rc.2")
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_TOKEN", "ghs_secretvalue")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .args(["--pull-requests=false", "--output"])
        .arg(dir.path().join("notes.md"))
        .assert()
        .success()
        .stdout(contains("::add-mask::ghs_secretvalue"));
    let outputs = std::fs::read_to_string(&out).unwrap();
    assert!(outputs.contains("tag<<ghadelimiter_relkit_0\nv1.1.0-rc.2\n"), "{outputs}");
    assert!(outputs.contains("previous_tag<<ghadelimiter_relkit_0\nv1.1.0-rc.1\n"), "{outputs}");
    assert!(outputs.contains("commit_count<<ghadelimiter_relkit_0\n2\n"), "{outputs}");
    // The `json` output holds the structured notes, though stdout printed Markdown.
    let json = outputs
        .split("json<<ghadelimiter_relkit_0\n")
        .nth(1)
        .and_then(|rest| rest.split("\nghadelimiter_relkit_0\n").next());
    let json: serde_json::Value = serde_json::from_str(json.expect("a json output")).unwrap();
    assert_eq!(json["release"]["tag"], "v1.1.0-rc.2", "{outputs}");
    assert!(std::fs::read_to_string(&summary).unwrap().starts_with("## Release notes: v1.1.0-rc.2"));
}
