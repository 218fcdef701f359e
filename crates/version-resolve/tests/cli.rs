//! version-resolve as a step runs it: step outputs, summary, and loud failures.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;

fn repo_with_tag(tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    relkit_testkit::init(dir.path());
    relkit_testkit::commit(dir.path(), "feat: first");
    relkit_testkit::git(dir.path(), &["tag", "-a", "-m", tag, tag]);
    dir
}

fn outputs(path: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut map = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delimiter) = line.split_once("<<").expect("heredoc form");
        let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
        map.insert(name.to_string(), value.join("\n"));
    }
    map
}

#[test]
fn writes_every_output_under_actions() {
    let dir = repo_with_tag("v1.2.3-rc.1");
    let out_file = dir.path().join(".git/out");
    let summary = dir.path().join(".git/summary");
    let run = cargo_bin_cmd!("version-resolve")
        .current_dir(dir.path())
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        // In CI the release comes from the tag ref, not from the tag on HEAD.
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REF", "refs/tags/v1.2.3-rc.1")
        .env("GITHUB_OUTPUT", &out_file)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_REPOSITORY", "Acme/Widget")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let o = outputs(&out_file);
    for key in [
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
        "json",
    ] {
        assert!(o.contains_key(key), "missing output {key}");
    }
    assert_eq!(o["version"], "1.2.3-rc.1");
    assert_eq!(o["channel"], "candidate");
    assert_eq!(o["namespace"], "acme/widget");
    assert_eq!(o["previous_tag"], "");
    let doc: serde_json::Value = serde_json::from_str(&o["json"]).unwrap();
    assert_eq!(doc["prerelease"], "rc.1");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("### Version 1.2.3-rc.1"));
}

#[test]
fn failures_are_one_line_with_an_error_annotation() {
    let dir = repo_with_tag("v1.0.0");
    std::fs::write(dir.path().join(".git/event.json"), "{\"release\": ").unwrap();
    let run = cargo_bin_cmd!("version-resolve")
        .current_dir(dir.path())
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_PATH", dir.path().join(".git/event.json"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("malformed event payload"), "{stderr}");
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(stdout.starts_with("::error::version-resolve: malformed event payload"), "{stdout}");

    let run = cargo_bin_cmd!("version-resolve")
        .args(["--bump", "sideways"])
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "clap usage errors exit 2");
}
