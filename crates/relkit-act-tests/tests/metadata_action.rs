//! `actions/metadata` in a workflow written exactly as docker/metadata-action's README shows it
//! (only the `uses:` line differs), run with act: the outputs a later `docker/build-push-action`
//! step reads (tags, labels, annotations) and the bake files `docker/bake-action` reads.

use std::collections::BTreeMap;

use relkit_act_tests::{Act, Repo, pull_request_event, relkit_bin_dir, require_tool, tag_push_event};
use serde_json::Value;

/// metadata-action's README "Semver" example with `uses: ./actions/metadata` (after a checkout
/// with the tags, which ranks the version), and a step that records what build-push-action
/// would receive.
const WORKFLOW: &str = r#"name: ci

on:
  push:
    branches:
      - 'main'
    tags:
      - 'v*'
  pull_request:
    branches:
      - 'main'

permissions:
  contents: read

jobs:
  docker:
    runs-on: ubuntu-latest
    steps:
      -
        name: Checkout
        uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2
        with:
          fetch-depth: 0
          persist-credentials: false
      -
        name: Docker meta
        id: meta
        uses: ./actions/metadata
        with:
          images: |
            name/app
          tags: |
            type=ref,event=branch
            type=ref,event=pr
            type=semver,pattern={{version}}
            type=semver,pattern={{major}}.{{minor}}
      -
        name: What build-push-action and bake-action read
        id: build
        env:
          TAGS: ${{ steps.meta.outputs.tags }}
          LABELS: ${{ steps.meta.outputs.labels }}
          ANNOTATIONS: ${{ steps.meta.outputs.annotations }}
          BAKE_TAGS: ${{ steps.meta.outputs.bake-file-tags }}
          BAKE_LABELS: ${{ steps.meta.outputs.bake-file-labels }}
          BAKE_ANNOTATIONS: ${{ steps.meta.outputs.bake-file-annotations }}
          BAKE_FILE: ${{ steps.meta.outputs.bake-file }}
        run: |
          set -euo pipefail
          {
            echo "tags<<EOF_TAGS"; echo "$TAGS"; echo "EOF_TAGS"
            echo "labels<<EOF_LABELS"; echo "$LABELS"; echo "EOF_LABELS"
            echo "annotations<<EOF_ANNOTATIONS"; echo "$ANNOTATIONS"; echo "EOF_ANNOTATIONS"
            echo "bake-tags=$(jq -c . "$BAKE_TAGS")"
            echo "bake-labels=$(jq -c . "$BAKE_LABELS")"
            echo "bake-annotations=$(jq -c . "$BAKE_ANNOTATIONS")"
            echo "bake-file=$(jq -c . "$BAKE_FILE")"
            echo "env-version=$DOCKER_METADATA_OUTPUT_VERSION"
          } >>"$GITHUB_OUTPUT"
"#;

fn repo_with_workflow() -> Repo {
    let repo = Repo::with_workspace_snapshot();
    std::fs::write(repo.path().join(".github/workflows/docker-meta.yml"), WORKFLOW).expect("write workflow");
    repo.git(["add", "--all"]);
    repo.git(["commit", "--quiet", "-m", "ci: docker metadata"]);
    repo
}

fn run(repo: &Repo, event: &str, payload: Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let Some(act) = require_tool("metadata_action", "act") else { return Default::default() };
    relkit_bin_dir();
    let run = Act::new(repo, event, payload, "docker-meta.yml", "docker").run(&act);
    assert!(run.success, "act failed:\n{}", run.transcript());
    (run.step_outputs("meta"), run.step_outputs("build"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_tag_push_gives_build_push_action_the_tags_labels_annotations_and_bake_files() {
    if require_tool("metadata_action", "jq").is_none() {
        return;
    }
    let repo = repo_with_workflow();
    let sha = repo.head();
    repo.tag("v1.2.3");
    let (meta, build) = run(&repo, "push", tag_push_event("v1.2.3", &sha));
    if meta.is_empty() {
        return;
    }
    let tags = ["name/app:1.2.3", "name/app:1.2", "name/app:latest"];
    assert_eq!(build["tags"], tags.join("\n"));
    assert_eq!(meta["version"], "1.2.3");
    assert_eq!(build["env-version"], "1.2.3", "DOCKER_METADATA_OUTPUT_VERSION");
    let labels: Vec<&str> = build["labels"].lines().collect();
    assert_eq!(labels.len(), 8, "{labels:?}");
    for label in [
        "org.opencontainers.image.title=Widget".to_owned(),
        "org.opencontainers.image.version=1.2.3".to_owned(),
        "org.opencontainers.image.description=".to_owned(),
        format!("org.opencontainers.image.revision={sha}"),
        "org.opencontainers.image.source=https://github.com/Acme/Widget".to_owned(),
    ] {
        assert!(labels.contains(&label.as_str()), "{label} missing from {labels:?}");
    }
    assert!(build["annotations"].lines().all(|a| a.starts_with("manifest:org.opencontainers.image.")));
    let target = "/target/docker-metadata-action";
    let bake_tags = json(&build["bake-tags"]);
    assert_eq!(bake_tags.pointer(&format!("{target}/tags")), Some(&serde_json::json!(tags)));
    assert_eq!(
        bake_tags.pointer(&format!("{target}/args/DOCKER_META_IMAGES")),
        Some(&Value::from("name/app"))
    );
    assert_eq!(bake_tags.pointer(&format!("{target}/args/DOCKER_META_VERSION")), Some(&Value::from("1.2.3")));
    let bake_labels = json(&build["bake-labels"]);
    assert_eq!(
        bake_labels.pointer(&format!("{target}/labels/org.opencontainers.image.title")),
        Some(&Value::from("Widget"))
    );
    let bake_annotations = json(&build["bake-annotations"]);
    assert_eq!(
        bake_annotations.pointer(&format!("{target}/annotations")).and_then(Value::as_array).map(Vec::len),
        Some(8)
    );
    let bake_file = json(&build["bake-file"]);
    assert_eq!(bake_file.pointer(&format!("{target}/tags")), Some(&serde_json::json!(tags)));
    assert_eq!(
        bake_file.pointer(&format!("{target}/labels")),
        bake_labels.pointer(&format!("{target}/labels"))
    );
    assert_eq!(json(&meta["json"])["tag-names"], serde_json::json!(["1.2.3", "1.2", "latest"]));
}

#[test]
fn a_pull_request_gets_its_pr_tag_and_never_a_version_or_latest() {
    if require_tool("metadata_action", "jq").is_none() {
        return;
    }
    let repo = repo_with_workflow();
    let base = repo.head();
    repo.tag("v1.2.3");
    repo.branch_from("feature/widget", &base);
    let head = repo.commit("feat: add a widget");
    // The pull request's merge commit sits on the tagged commit's history; still no version tag.
    let (meta, build) = run(&repo, "pull_request", pull_request_event(7, &head, &base));
    if meta.is_empty() {
        return;
    }
    assert_eq!(build["tags"], "name/app:pr-7");
    assert_eq!(meta["version"], "pr-7");
    assert!(
        build["labels"].lines().any(|l| l == "org.opencontainers.image.version=pr-7"),
        "{}",
        build["labels"]
    );
}
