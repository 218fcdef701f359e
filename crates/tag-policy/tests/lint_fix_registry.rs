//! `tag-policy lint --fix` against a real registry: CNCF distribution (`docker-registry`) on
//! 127.0.0.1 with images pushed by skopeo; skopeo also judges the digests written.

mod lint_support;

use assert_cmd::Command;
use lint_support::{PushImage as _, TestRegistry, tree};

fn lint(root: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("tag-policy")
        .unwrap()
        .args(["lint", "--root"])
        .arg(root)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .assert()
}

#[test]
fn fix_pins_tags_to_the_digests_the_registry_serves_and_is_idempotent() {
    let Some(registry) = TestRegistry::start("fix_pins_tags_to_the_digests_the_registry_serves", None) else {
        return;
    };
    registry.push_image("lint/base", "1.0", "base");
    registry.push_image("lint/tool", "latest", "tool");
    let base = registry.digest("lint/base", "1.0");
    let tool = registry.digest("lint/tool", "latest");
    assert_ne!(base, tool);
    let host = &registry.host;

    let dockerfile = format!(
        "# syntax=docker/dockerfile:1\nARG BASE={host}/lint/base:1.0\nFROM ${{BASE}} AS build\n\
         FROM --platform=$BUILDPLATFORM \\\n    {host}/lint/tool AS tool\nFROM build\n\
         COPY --from={host}/lint/base:1.0 /hello.txt /\n"
    );
    let compose = format!("services:\n  app:\n    image: \"{host}/lint/base:1.0\"  # app\n");
    let dir = tree(&[("Dockerfile", &dockerfile), ("deploy/compose.yaml", &compose)]);

    lint(dir.path(), &[]).code(2);
    lint(dir.path(), &["--fix"]).code(0).stderr(predicates::str::contains("pinned 4 reference(s)"));

    let want_dockerfile = format!(
        "# syntax=docker/dockerfile:1\nARG BASE={host}/lint/base:1.0@{base}\nFROM ${{BASE}} AS build\n\
         FROM --platform=$BUILDPLATFORM \\\n    {host}/lint/tool:latest@{tool} AS tool\nFROM build\n\
         COPY --from={host}/lint/base:1.0@{base} /hello.txt /\n"
    );
    let want_compose = format!("services:\n  app:\n    image: \"{host}/lint/base:1.0@{base}\"  # app\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), want_dockerfile);
    assert_eq!(std::fs::read_to_string(dir.path().join("deploy/compose.yaml")).unwrap(), want_compose);

    lint(dir.path(), &["--fix"]).code(0).stderr(predicates::str::contains("pinned 0 reference(s)"));
    assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), want_dockerfile);
}

#[test]
fn fix_changes_nothing_when_a_tag_is_missing() {
    let Some(registry) = TestRegistry::start("fix_changes_nothing_when_a_tag_is_missing", None) else {
        return;
    };
    registry.push_image("lint/base", "1.0", "base");
    let host = &registry.host;
    let dockerfile = format!("FROM {host}/lint/base:1.0\nFROM {host}/lint/base:nope\n");
    let dir = tree(&[("Dockerfile", &dockerfile)]);
    lint(dir.path(), &["--fix"])
        .code(1)
        .stderr(predicates::str::contains(format!("{host}/lint/base:nope")))
        .stderr(predicates::str::contains("no file was changed"));
    assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), dockerfile);
}
