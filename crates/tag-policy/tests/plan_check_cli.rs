//! `tag-policy plan` and `tag-policy check` as a user runs them: real binaries, real git
//! repositories, the Actions environment.

use assert_cmd::cargo::cargo_bin_cmd;
use relkit_testkit::git;
use serde_json::{Value, json};

/// A repository with `v1.9.0` and `v2.0.0` (annotated) and HEAD one commit after `v2.0.0`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["remote", "add", "origin", "https://github.com/Acme/Widget.git"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "feat: one"]);
    git(p, &["tag", "-a", "-m", "v1.9.0", "v1.9.0"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "feat!: two"]);
    git(p, &["tag", "-a", "-m", "v2.0.0", "v2.0.0"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "fix: three"]);
    dir
}

fn resolved(version: &str, highest: bool) -> Value {
    let v = semver::Version::parse(version).unwrap();
    json!({
        "version": version, "tag": format!("v{version}"), "major": v.major, "minor": v.minor, "patch": v.patch,
        "prerelease": v.pre.as_str(), "build": v.build.as_str(), "is_prerelease": !v.pre.is_empty(),
        "channel": if v.pre.is_empty() { "stable" } else { "candidate" },
        "is_highest": highest, "is_highest_in_major": true, "is_highest_in_minor": true,
        "previous_tag": null, "previous_stable_tag": null,
        "sha": "0123456789abcdef0123456789abcdef01234567", "short_sha": "0123456",
        "namespace": "acme/widget", "next_version": version, "source": "tag_ref", "component": null,
        "commit_time": "2026-01-02T03:04:05Z", "branch": null, "is_default_branch": false,
        "repository_url": "https://github.com/Acme/Widget"
    })
}

#[test]
fn plan_from_json_with_registry_tags_and_actions_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("version.json");
    std::fs::write(&from, resolved("1.9.1", true).to_string()).unwrap();
    let existing = dir.path().join("existing.txt");
    std::fs::write(&existing, "latest\n2.0.0\n1.9.0\nsha-abc\n# comment\n").unwrap();
    let output = dir.path().join("output");
    let summary = dir.path().join("summary");
    let out = cargo_bin_cmd!("tag-policy")
        .args(["plan", "--image", "ghcr.io/acme/widget", "--image", "registry.example/w"])
        .arg("--from")
        .arg(&from)
        .arg("--existing-tags")
        .arg(&existing)
        .current_dir(dir.path())
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let refs: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        refs,
        [
            "ghcr.io/acme/widget:v1.9.1",
            "ghcr.io/acme/widget:1.9",
            "ghcr.io/acme/widget:1",
            "ghcr.io/acme/widget:sha-0123456",
            "registry.example/w:v1.9.1",
            "registry.example/w:1.9",
            "registry.example/w:1",
            "registry.example/w:sha-0123456",
        ],
        "a hotfix below 2.0.0 in the registry gets no latest"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("version<<"), "{outputs}");
    assert!(outputs.contains("org.opencontainers.image.created=2023-11-14T22:13:20Z"), "{outputs}");
    assert!(outputs.contains("manifest:org.opencontainers.image.source=https://github.com/Acme/Widget"));
    let json_line = outputs.lines().skip_while(|l| !l.starts_with("json<<")).nth(1).unwrap();
    let doc: Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(doc["tags"].as_array().unwrap().len(), 8);
    assert!(std::fs::read_to_string(&summary).unwrap().contains("| `1.9` |"));
}

#[test]
fn plan_accepts_metadata_action_rules() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("v.json");
    std::fs::write(&from, resolved("2.1.0", true).to_string()).unwrap();
    let out = cargo_bin_cmd!("tag-policy")
        .args(["plan", "--image", "ghcr.io/Acme/Widget", "--tags"])
        .arg("type=semver,pattern={{major}}.{{minor}}\ntype=sha\ntype=raw,value=edge-build")
        .arg("--from")
        .arg(&from)
        .env_clear()
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REF", "refs/tags/v2.1.0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for tag in [":2.1", ":sha-0123456", ":edge-build", ":latest"] {
        assert!(stdout.contains(&format!("ghcr.io/acme/widget{tag}\n")), "{tag} in {stdout}");
    }
}

#[test]
fn plan_resolves_in_process_from_git() {
    let dir = repo();
    let out = cargo_bin_cmd!("tag-policy")
        .args(["plan", "--json", "--release-version", "v2.0.1"])
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["images"], json!(["ghcr.io/acme/widget"]));
    let names: Vec<&str> = doc["tag_names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(&names[..4], ["v2.0.1", "2.0", "2", "latest"]);
    assert_eq!(doc["labels"]["org.opencontainers.image.title"], "widget");
    assert_eq!(doc["labels"]["org.opencontainers.image.created"], "2026-01-02T03:04:05Z");
}

#[test]
fn bad_input_is_one_line_exit_2_with_an_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"version\": 1").unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, "not json").unwrap();
    /// (arguments, extra environment, expected message)
    type Case<'a> = (Vec<String>, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["plan".into(), "--from".into(), bad.display().to_string()], vec![], "not version-resolve JSON"),
        (
            vec!["plan".into(), "--from".into(), bad.display().to_string()],
            vec![("GITHUB_EVENT_PATH", event.display().to_string())],
            "malformed event payload",
        ),
        (vec!["check".into(), "v1.2".into()], vec![], "git repository"),
    ];
    for (args, env, needle) in cases {
        let out = cargo_bin_cmd!("tag-policy")
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .env("GITHUB_ACTIONS", "true")
            .envs(env)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        assert!(String::from_utf8(out.stdout).unwrap().starts_with("::error::tag-policy: "));
    }
}

#[test]
fn check_against_a_real_repository() {
    let dir = repo();
    let p = dir.path();
    let check = |args: &[&str]| {
        let out =
            cargo_bin_cmd!("tag-policy").arg("check").args(args).current_dir(p).env_clear().output().unwrap();
        (out.status.code().unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    assert_eq!(check(&["v2.0.1"]).0, 0);
    assert_eq!(check(&["v1.9.1"]).0, 0, "a hotfix is highest in 1.x");
    let (code, err) = check(&["v1.8.0"]);
    assert_eq!(code, 2);
    assert!(err.contains("not above v1.9.0"), "{err}");
    assert_eq!(check(&["v1.8.0", "--allow-lower"]).0, 0);
    let (code, err) = check(&["v2.0.0"]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    git(p, &["tag", "v2.0.1"]);
    let (code, err) = check(&["v2.0.1"]);
    assert_eq!(code, 2);
    assert!(err.contains("lightweight"), "{err}");
    git(p, &["tag", "-f", "-a", "-m", "v2.0.1", "v2.0.1"]);
    assert_eq!(check(&["v2.0.1"]).0, 0);
    let (code, err) = check(&["v2.1"]);
    assert_eq!(code, 2);
    assert!(err.contains("partial version") && err.contains("\"v2.1\""), "{err}");
    let (code, err) = check(&["release1", "--allow-lower"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `tag-policy plan` in CI on a repository whose HEAD carries `v2.1.0`.
fn plan_in_ci_on_a_released_head(event: &str, git_ref: &str, args: &[&str]) -> (bool, String, String) {
    let dir = repo();
    git(dir.path(), &["tag", "-a", "-m", "v2.1.0", "v2.1.0"]);
    let payload = dir.path().join(".git/event.json");
    std::fs::write(&payload, r#"{"number": 4, "pull_request": {"number": 4, "base": {"ref": "main"}}}"#)
        .unwrap();
    let out = cargo_bin_cmd!("tag-policy")
        .arg("plan")
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_REF", git_ref)
        .env("GITHUB_EVENT_PATH", &payload)
        .env("GITHUB_REPOSITORY", "Acme/Widget")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn in_ci_a_branch_push_on_a_released_commit_does_not_plan_the_release_again() {
    let (ok, stdout, stderr) = plan_in_ci_on_a_released_head("push", "refs/heads/main", &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ghcr.io/acme/widget:next\n"), "{stdout}");
    for tag in [":v2.1.0\n", ":2.1\n", ":2\n", ":latest\n"] {
        assert!(!stdout.contains(tag), "{tag} planned again on a branch push: {stdout}");
    }
    let (ok, stdout, stderr) = plan_in_ci_on_a_released_head("push", "refs/tags/v2.1.0", &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(":v2.1.0\n") && stdout.contains(":latest\n"), "the tag push releases: {stdout}");
}

#[test]
fn in_ci_a_pull_request_on_a_released_commit_gets_no_version_tag_from_rules() {
    let rules = "type=ref,event=pr\ntype=semver,pattern={{version}}\ntype=semver,pattern={{major}}";
    let (ok, stdout, stderr) =
        plan_in_ci_on_a_released_head("pull_request", "refs/pull/4/merge", &["--tags", rules]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "ghcr.io/acme/widget:pr-4\n");
    // relkit's own mode stays strict: rules that produce nothing are an error.
    let (ok, _, stderr) = plan_in_ci_on_a_released_head(
        "pull_request",
        "refs/pull/4/merge",
        &["--tags", "type=semver,pattern={{version}}"],
    );
    assert!(!ok && stderr.contains("produced no tag"), "{stderr}");
}

#[test]
fn value_versions_are_ranked_against_the_git_tags_and_may_carry_build_metadata() {
    let rules = "type=semver,pattern={{version}},value=v1.9.5\ntype=semver,pattern={{major}},value=v1.9.5";
    let (ok, stdout, stderr) = plan_in_ci_on_a_released_head("push", "refs/heads/main", &["--tags", rules]);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout, "ghcr.io/acme/widget:1.9.5\nghcr.io/acme/widget:1\n",
        "an old value= never gets latest"
    );
    let rules = "type=semver,pattern={{raw}},value=v3.0.0+build.7\ntype=semver,pattern={{version}},value=v3.0.0+build.7";
    let (ok, stdout, stderr) = plan_in_ci_on_a_released_head("push", "refs/heads/main", &["--tags", rules]);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "ghcr.io/acme/widget:v3.0.0_build.7\nghcr.io/acme/widget:3.0.0\nghcr.io/acme/widget:latest\n"
    );
}
