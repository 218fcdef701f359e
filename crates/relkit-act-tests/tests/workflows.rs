//! relkit's workflows run locally with act in self-hosted mode: the root action finds the relkit
//! binaries on PATH, version-resolve and tag-policy run as composite actions on a real git
//! repository with tags, and the chained outputs are checked as a later step sees them.

use relkit_act_tests::{
    Act, ActRun, Repo, as_output_text, pull_request_event, relkit_bin_dir, require_tool, sorted_lines,
    tag_push_event,
};
use serde_json::Value;

/// Every output version-resolve's action declares; each must equal the same key of its `json`.
const VERSION_OUTPUTS: [&str; 24] = [
    "version",
    "tag",
    "major",
    "minor",
    "patch",
    "prerelease",
    "build",
    "is_prerelease",
    "channel",
    "is_highest",
    "is_highest_in_major",
    "is_highest_in_minor",
    "previous_tag",
    "previous_stable_tag",
    "sha",
    "short_sha",
    "namespace",
    "next_version",
    "source",
    "component",
    "commit_time",
    "branch",
    "is_default_branch",
    "repository_url",
];

/// A history with a hotfix line: `v1.0.0`, `v1.9.0` and `v2.0.0` on main, then `release/1.9`
/// branched from `v1.9.0`. Returns the repo and the SHA of `v1.9.0`.
fn release_history() -> (Repo, String) {
    let repo = Repo::with_workspace_snapshot();
    repo.tag("v1.0.0");
    let v1_9_0 = repo.commit("feat: widgets can be renamed");
    repo.tag("v1.9.0");
    repo.commit("feat!: widgets need a name");
    repo.tag("v2.0.0");
    (repo, v1_9_0)
}

fn run_or_fail(act: &Act, act_path: &std::path::Path) -> ActRun {
    let run = act.run(act_path);
    assert!(run.success, "act failed:\n{}", run.transcript());
    run
}

/// The plan the workflow recorded, after checking that every version-resolve output equals the
/// matching key of its `json` output and that tag-policy's outputs agree with its `json`.
fn checked_plan(run: &ActRun) -> Value {
    let plan = run.release_plan().unwrap_or_else(|| panic!("no release plan:\n{}", run.transcript()));
    let version = &plan["version"];
    let document: Value = serde_json::from_str(version["json"].as_str().expect("json output"))
        .expect("version-resolve's json output is JSON");
    for key in VERSION_OUTPUTS {
        assert_eq!(
            version[key].as_str(),
            Some(as_output_text(&document[key]).as_str()),
            "output {key} differs from the json document"
        );
    }
    let tags = &plan["tags"];
    let tag_document: Value =
        serde_json::from_str(tags["json"].as_str().expect("json output")).expect("tag-policy's json is JSON");
    assert_eq!(tags["version"], version["version"], "tag-policy planned another version");
    let listed: Vec<String> = match &tag_document["tags"] {
        Value::Array(items) => items.iter().map(as_output_text).collect(),
        other => panic!("tag-policy's json has no tags list: {other}"),
    };
    assert_eq!(sorted_lines(tags["tags"].as_str().expect("tags output")), sorted(listed));
    let names: Vec<String> = match &tag_document["tag_names"] {
        Value::Array(items) => items.iter().map(as_output_text).collect(),
        other => panic!("tag-policy's json has no tag_names list: {other}"),
    };
    assert_eq!(sorted_lines(tags["tag-names"].as_str().expect("tag-names output")), sorted(names));
    plan
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// The root action found the binaries on PATH at the workspace version and built nothing.
fn assert_binaries_were_reused(run: &ActRun) {
    let install = run.step_outputs("install");
    assert_eq!(install.get("installed").map(String::as_str), Some("false"), "{install:?}");
    assert_eq!(
        install.get("version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION")),
        "the root action read another version: {install:?}"
    );
}

#[test]
fn tag_push_of_a_hotfix_plans_its_line_tags_without_latest() {
    let Some(act) = require_tool("tag_push_of_a_hotfix_plans_its_line_tags_without_latest", "act") else {
        return;
    };
    relkit_bin_dir();
    let (repo, v1_9_0) = release_history();
    repo.branch_from("release/1.9", &v1_9_0);
    let sha = repo.commit("fix: renaming keeps the widget's colour");
    repo.tag("v1.9.1");

    let run = run_or_fail(
        &Act::new(&repo, "push", tag_push_event("v1.9.1", &sha), "release-images.yml", "plan"),
        &act,
    );

    assert_binaries_were_reused(&run);
    let plan = checked_plan(&run);
    let version = &plan["version"];
    assert_eq!(version["version"], "1.9.1");
    assert_eq!(version["tag"], "v1.9.1");
    assert_eq!(version["channel"], "stable");
    assert_eq!(version["is_prerelease"], "false");
    assert_eq!(version["is_highest"], "false");
    assert_eq!(version["is_highest_in_major"], "true");
    assert_eq!(version["is_highest_in_minor"], "true");
    assert_eq!(version["previous_tag"], "v1.9.0");
    assert_eq!(version["sha"], sha.as_str());
    assert_eq!(version["short_sha"], &sha[..7]);
    assert_eq!(version["namespace"], "acme/widget");

    let image = "ghcr.io/acme/widget";
    let mut expected = vec![
        format!("{image}:1"),
        format!("{image}:1.9"),
        format!("{image}:sha-{}", &sha[..7]),
        format!("{image}:v1.9.1"),
    ];
    expected.sort();
    assert_eq!(sorted_lines(plan["tags"]["tags"].as_str().unwrap()), expected);
}

#[test]
fn tag_push_of_the_highest_release_moves_latest() {
    let Some(act) = require_tool("tag_push_of_the_highest_release_moves_latest", "act") else {
        return;
    };
    relkit_bin_dir();
    let (repo, _) = release_history();
    let sha = repo.commit("feat: widgets can be grouped");
    repo.tag("v2.1.0");

    let run = run_or_fail(
        &Act::new(&repo, "push", tag_push_event("v2.1.0", &sha), "release-images.yml", "plan"),
        &act,
    );

    let plan = checked_plan(&run);
    assert_eq!(plan["version"]["version"], "2.1.0");
    assert_eq!(plan["version"]["is_highest"], "true");
    assert_eq!(plan["version"]["previous_stable_tag"], "v2.0.0");
    let tags = sorted_lines(plan["tags"]["tags"].as_str().unwrap());
    for tag in ["latest", "2", "2.1", "v2.1.0"] {
        assert!(tags.contains(&format!("ghcr.io/acme/widget:{tag}")), "{tag} missing from {tags:?}");
    }
    let labels = plan["tags"]["labels"].as_str().unwrap();
    assert!(labels.lines().any(|l| l == "org.opencontainers.image.version=2.1.0"), "{labels}");
    assert!(labels.lines().any(|l| l == format!("org.opencontainers.image.revision={sha}")), "{labels}");
}

#[test]
fn pull_request_validation_resolves_a_development_version() {
    let Some(act) = require_tool("pull_request_validation_resolves_a_development_version", "act") else {
        return;
    };
    relkit_bin_dir();
    let (repo, _) = release_history();
    let base = repo.head();
    repo.branch_from("feature/widget", &base);
    let head = repo.commit("feat: add a widget");

    let run = run_or_fail(
        &Act::new(&repo, "pull_request", pull_request_event(7, &head, &base), "pr-validation.yml", "actions"),
        &act,
    );

    assert_binaries_were_reused(&run);
    let plan = checked_plan(&run);
    let version = &plan["version"];
    assert_eq!(version["is_prerelease"], "true", "{version}");
    assert_eq!(version["previous_tag"], "v2.0.0");
    assert_eq!(version["sha"], head.as_str());
    let resolved = version["version"].as_str().unwrap();
    assert!(resolved.starts_with("2.1.0-"), "a feat after v2.0.0 develops 2.1.0, got {resolved}");
    let tags = sorted_lines(plan["tags"]["tags"].as_str().unwrap());
    assert!(tags.contains(&format!("ghcr.io/acme/widget:sha-{}", &head[..7])), "{tags:?}");
    assert!(!tags.iter().any(|t| t.ends_with(":latest")), "a development build never moves latest: {tags:?}");
}

#[test]
fn tag_push_of_an_invalid_tag_fails_the_job_naming_the_tag() {
    let Some(act) = require_tool("tag_push_of_an_invalid_tag_fails_the_job_naming_the_tag", "act") else {
        return;
    };
    relkit_bin_dir();
    let (repo, _) = release_history();
    let sha = repo.commit("fix: leading zero");
    repo.tag("v01.2.3");

    let run =
        Act::new(&repo, "push", tag_push_event("v01.2.3", &sha), "release-images.yml", "plan").run(&act);

    assert!(!run.success, "the job must fail:\n{}", run.transcript());
    assert!(run.release_plan().is_none(), "no plan may be recorded after a failed resolve");
    assert!(run.transcript().contains("exit status 2"), "bad input must exit 2:\n{}", run.transcript());
    let errors = run.error_annotations();
    assert!(
        errors.iter().any(|message| message.contains("v01.2.3")),
        "no error annotation names the tag: {errors:?}\n{}",
        run.transcript()
    );
}
