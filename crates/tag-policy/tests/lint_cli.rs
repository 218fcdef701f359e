//! `tag-policy lint` end to end: exit codes, text, JSON and Actions output, configuration, and
//! `--fix` of `uses:` through real git repositories.

mod lint_support;

use assert_cmd::Command;
use lint_support::{action_repo, tree};
use predicates::prelude::*;

const SHA: &str = "8e5e7e5ab8b370d6c329ec480221332ada57f0ab";
const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn lint(root: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("tag-policy").unwrap();
    cmd.args(["lint", "--root"]).arg(root).env_remove("GITHUB_ACTIONS").env_remove("GITHUB_OUTPUT");
    cmd
}

#[test]
fn a_pinned_tree_passes() {
    let dir = tree(&[
        ("Dockerfile", &format!("FROM debian:12@{D} AS b\nFROM b\nFROM scratch\n")),
        (
            ".github/workflows/ci.yml",
            &format!(
                "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@{SHA} # v4\n      - uses: ./local\n"
            ),
        ),
    ]);
    lint(dir.path())
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicate::str::contains("0 error(s), 0 warning(s) in 2 file(s)"));
}

#[test]
fn findings_are_file_line_messages_and_exit_2() {
    let dir = tree(&[
        ("docker/app.Dockerfile", "ARG BASE\nFROM $BASE\nFROM node:22-slim\n"),
        (".github/workflows/ci.yml", "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n"),
    ]);
    let out = lint(dir.path()).assert().code(2).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(".github/workflows/ci.yml:4: error: uses: actions/checkout@v4 is not pinned"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("docker/app.Dockerfile:2: warning: FROM $BASE cannot be checked: ARG BASE"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("docker/app.Dockerfile:3: error: FROM node:22-slim is not pinned by digest"),
        "{text}"
    );
}

#[test]
fn warnings_alone_do_not_fail() {
    let dir = tree(&[("Dockerfile", "ARG BASE\nFROM ${BASE}\n")]);
    lint(dir.path()).assert().code(0).stdout(predicate::str::contains("warning: FROM ${BASE}"));
}

#[test]
fn under_actions_findings_are_annotations_and_outputs() {
    let dir = tree(&[("compose.yml", "services:\n  db:\n    image: postgres:16\n")]);
    let outputs = dir.path().join("github_output");
    let out = lint(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("::error file=compose.yml,line=3::image postgres:16 is not pinned by digest"),
        "{text}"
    );
    let written = std::fs::read_to_string(outputs).unwrap();
    assert!(written.contains("errors<<") && written.contains("\n1\n"), "{written}");
}

#[test]
fn json_format() {
    let dir = tree(&[("Containerfile", "FROM alpine\n")]);
    let out = lint(dir.path()).args(["--format", "json"]).assert().code(2).get_output().stdout.clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["errors"], 1);
    assert_eq!(json["findings"][0]["file"], "Containerfile");
    assert_eq!(json["findings"][0]["line"], 1);
    assert_eq!(json["findings"][0]["rule"], "unpinned-image");
    assert_eq!(json["findings"][0]["reference"], "alpine");
    assert_eq!(json["findings"][0]["fixable"], true);
}

#[test]
fn configuration_allows_paths_and_excludes() {
    let dir = tree(&[
        (
            ".github/relkit.yml",
            "lint:\n  allow: [\"ghcr.io/myorg/*\", actions/checkout]\n  exclude: [\"vendor/**\"]\n",
        ),
        ("Dockerfile", "FROM ghcr.io/myorg/base:1\n"),
        ("vendor/x/Dockerfile", "FROM debian:12\n"),
        (".github/workflows/ci.yml", "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n"),
    ]);
    lint(dir.path()).assert().code(0).stderr(predicate::str::contains("2 allowlisted"));
    lint(dir.path()).arg("vendor").assert().code(0);
    lint(dir.path()).arg("vendor/x/Dockerfile").assert().code(2);

    std::fs::write(dir.path().join(".github/relkit.yml"), "lint:\n  alow: []\n").unwrap();
    lint(dir.path()).assert().code(2).stderr(predicate::str::contains("alow"));
}

#[test]
fn bad_paths_are_usage_errors() {
    let dir = tree(&[("notes.txt", "FROM x\n")]);
    lint(dir.path()).arg("missing").assert().code(2).stderr(predicate::str::contains("missing"));
    lint(dir.path()).arg("notes.txt").assert().code(2).stderr(predicate::str::contains("notes.txt"));
}

#[test]
fn fix_pins_uses_through_git_ls_remote() {
    if !relkit_testkit::tools::require_tool("fix_pins_uses_through_git_ls_remote", "git") {
        return;
    }
    let server = tempfile::tempdir().unwrap();
    let (v1, v2) = action_repo(server.path(), "acme/setup", "v1", "v2", "release");
    let workflow = "jobs:\n  a:\n    steps:\n      - uses: acme/setup@v1\n      - uses: 'acme/setup/sub@v2'\n      \
                    - uses: acme/setup@release # keep\n  b:\n    uses: acme/setup/.github/workflows/x.yml@v2\n";
    let dir = tree(&[(".github/workflows/ci.yml", workflow)]);
    let server_url = format!("file://{}", server.path().display());
    lint(dir.path()).env("GITHUB_SERVER_URL", &server_url).arg("--fix").assert().code(0);
    let want = format!(
        "jobs:\n  a:\n    steps:\n      - uses: acme/setup@{v1} # v1\n      - uses: 'acme/setup/sub@{v2}' # v2\n      \
         - uses: acme/setup@{v2} # keep\n  b:\n    uses: acme/setup/.github/workflows/x.yml@{v2} # v2\n"
    );
    let path = dir.path().join(".github/workflows/ci.yml");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);

    let broken = "jobs:\n  a:\n    steps:\n      - uses: acme/setup@v9\n      - uses: acme/other@v1\n";
    std::fs::write(&path, broken).unwrap();
    lint(dir.path())
        .env("GITHUB_SERVER_URL", &server_url)
        .arg("--fix")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("acme/setup@v9").and(predicate::str::contains("acme/other@v1")));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

#[test]
fn self_repository_references_are_pinned_and_their_paths_must_exist() {
    let dir = tree(&[
        (
            ".github/actions/build/action.yml",
            "runs:\n  using: composite\n  steps:\n    - uses: $/.github/actions/setup\n",
        ),
        (".github/actions/setup/action.yaml", "runs:\n  using: composite\n  steps: []\n"),
        (".github/workflows/reusable.yml", "on: workflow_call\njobs: {}\n"),
        (
            ".github/workflows/ci.yml",
            "jobs:\n  a:\n    uses: $/.github/workflows/reusable.yml\n  b:\n    steps:\n      - uses: $/.github/actions/build\n      - uses: $/.github/actions/biuld\n",
        ),
    ]);
    let out = lint(dir.path()).assert().code(2).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            ".github/workflows/ci.yml:7: error: uses: $/.github/actions/biuld: no action or workflow at .github/actions/biuld in this repository; fix the path ($/ is the repository root)"
        ],
        "{text}"
    );
}
