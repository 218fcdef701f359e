//! Table-driven tests: (event, ref, inputs, existing tags) → resolved version, on real git
//! repositories built with `git`.

use std::collections::BTreeMap;

use relkit_testkit::git;
use serde_json::{Value, json};
use version_resolve::{BumpKind, Options, resolve};

/// A repository: commit messages in order, and tags as (name, commit index, annotated).
struct RepoSpec<'a> {
    commits: &'a [&'a str],
    tags: &'a [(&'a str, usize, bool)],
}

/// Builds the repository; returns its dir and the commit ids in order.
fn build(spec: &RepoSpec) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["remote", "add", "origin", "https://github.com/Acme/Widget.git"]);
    let mut ids = Vec::new();
    for msg in spec.commits {
        git(p, &["commit", "-q", "--allow-empty", "-m", msg]);
        ids.push(git(p, &["rev-parse", "HEAD"]));
    }
    for (name, at, annotated) in spec.tags {
        if *annotated {
            git(p, &["tag", "-a", "-m", name, name, &ids[*at]]);
        } else {
            git(p, &["tag", name, &ids[*at]]);
        }
    }
    (dir, ids)
}

struct Case<'a> {
    name: &'a str,
    repo: RepoSpec<'a>,
    env: &'a [(&'a str, &'a str)],
    event: Option<Value>,
    options: Options,
    /// Expected keys; `"@N"` in `sha` stands for commit N.
    expect: Value,
}

const LINEAR: &[&str] = &["feat: one", "fix: two", "feat: three", "fix: four", "chore: five"];

fn run_case(case: &Case) -> Result<Value, relkit_core::Error> {
    let (dir, ids) = build(&case.repo);
    let mut env: BTreeMap<String, String> =
        case.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(event) = &case.event {
        let path = dir.path().join(".git/event.json");
        std::fs::write(&path, event.to_string()).unwrap();
        env.insert("GITHUB_EVENT_PATH".into(), path.to_str().unwrap().into());
    }
    let options = Options { repo: Some(dir.path().to_path_buf()), ..case.options.clone() };
    let resolved = resolve(&options, &env)?;
    let mut value = serde_json::to_value(resolved).unwrap();
    let sha = value["sha"].as_str().unwrap().to_string();
    let label = ids.iter().position(|i| *i == sha).map(|n| format!("@{n}")).unwrap_or(sha);
    value["sha"] = json!(label);
    Ok(value)
}

fn check(case: &Case) {
    let got = match run_case(case) {
        Ok(v) => v,
        Err(e) => panic!("{}: unexpected error: {e}", case.name),
    };
    for (key, want) in case.expect.as_object().unwrap() {
        assert_eq!(&got[key], want, "{}: key {key} in {got:#}", case.name);
    }
}

fn tag_push(tag: &str) -> Vec<(&'static str, String)> {
    vec![("GITHUB_EVENT_NAME", "push".into()), ("GITHUB_REF", format!("refs/tags/{tag}"))]
}

#[test]
fn table() {
    let v123 = tag_push("v1.2.3");
    let env_v123: Vec<(&str, &str)> = v123.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cases = [
        Case {
            name: "stable tag push",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.2.2", 2, true), ("v1.2.3", 4, true)] },
            env: &env_v123,
            event: None,
            options: Options::default(),
            expect: json!({"version": "1.2.3", "tag": "v1.2.3", "major": 1, "minor": 2, "patch": 3,
                "prerelease": "", "build": "", "is_prerelease": false, "channel": "stable",
                "is_highest": true, "is_highest_in_major": true, "is_highest_in_minor": true,
                "previous_tag": "v1.2.2", "previous_stable_tag": "v1.2.2", "sha": "@4",
                "namespace": "acme/widget", "next_version": "1.2.3", "source": "tag_ref"}),
        },
        Case {
            name: "release candidate on HEAD",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.2.2", 1, true), ("v1.2.3-rc.1", 4, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "1.2.3-rc.1", "is_prerelease": true, "prerelease": "rc.1",
                "channel": "candidate", "is_highest": true, "previous_tag": "v1.2.2", "source": "git_tag"}),
        },
        Case {
            name: "rc.10 is above rc.9",
            repo: RepoSpec { commits: LINEAR, tags: &[("v2.0.0-rc.9", 3, true), ("v2.0.0-rc.10", 4, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "2.0.0-rc.10", "is_highest": true, "previous_tag": "v2.0.0-rc.9",
                "previous_stable_tag": Value::Null}),
        },
        Case {
            name: "build metadata",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.2.3+build.5", 4, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "1.2.3+build.5", "build": "build.5", "is_prerelease": false,
                "channel": "stable", "tag": "v1.2.3+build.5"}),
        },
        Case {
            name: "0.x release",
            repo: RepoSpec { commits: LINEAR, tags: &[("v0.3.1", 1, true), ("v0.4.0", 4, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "0.4.0", "major": 0, "is_highest": true, "previous_tag": "v0.3.1"}),
        },
        Case {
            name: "hotfix after a newer major",
            repo: RepoSpec {
                commits: LINEAR,
                tags: &[("v1.9.0", 0, true), ("v2.0.0", 2, true), ("v1.9.1", 4, true)],
            },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "1.9.1", "is_highest": false, "is_highest_in_major": true,
                "is_highest_in_minor": true, "previous_tag": "v1.9.0", "previous_stable_tag": "v1.9.0"}),
        },
        Case {
            name: "rc and stable tag on one commit",
            repo: RepoSpec {
                commits: LINEAR,
                tags: &[("v1.0.0", 0, true), ("v2.0.0-rc.3", 4, true), ("v2.0.0", 4, true)],
            },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"version": "2.0.0", "channel": "stable", "previous_tag": "v2.0.0-rc.3",
                "previous_stable_tag": "v1.0.0", "sha": "@4"}),
        },
        Case {
            name: "workflow_dispatch input",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.0.0", 1, true)] },
            env: &[("GITHUB_EVENT_NAME", "workflow_dispatch"), ("GITHUB_REF", "refs/heads/main")],
            event: Some(json!({"inputs": {"version": "1.1.0"}})),
            options: Options::default(),
            expect: json!({"version": "1.1.0", "tag": "v1.1.0", "source": "dispatch_input", "channel": "stable",
                "is_highest": true, "previous_tag": "v1.0.0", "sha": "@4", "branch": "main",
                "is_default_branch": true}),
        },
        Case {
            name: "release event payload",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.0.0", 1, true), ("v1.1.0", 3, true)] },
            env: &[
                ("GITHUB_EVENT_NAME", "release"),
                ("GITHUB_REF", "refs/tags/v1.1.0"),
                ("GITHUB_REPOSITORY", "Acme/Widget"),
            ],
            event: Some(
                json!({"action": "published", "release": {"tag_name": "v1.1.0", "prerelease": false},
                "repository": {"default_branch": "main"}}),
            ),
            options: Options::default(),
            expect: json!({"version": "1.1.0", "source": "release_event", "sha": "@3", "namespace": "acme/widget",
                "repository_url": "https://github.com/Acme/Widget", "is_default_branch": false}),
        },
        Case {
            name: "no tags: development version on the default branch",
            repo: RepoSpec { commits: &["feat: a", "fix: b"], tags: &[] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"channel": "next", "source": "development", "next_version": "0.1.0",
                "previous_tag": Value::Null, "is_highest": true}),
        },
        Case {
            name: "CI: a branch push on a released commit is a development build",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.4.0", 1, true), ("v2.0.0", 4, true)] },
            env: &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/heads/main"),
            ],
            event: None,
            options: Options::default(),
            expect: json!({"source": "development", "channel": "next", "major": 2, "minor": 0, "patch": 1,
                "prerelease": "dev.0", "is_prerelease": true, "previous_tag": "v2.0.0"}),
        },
        Case {
            name: "CI: a pull request on a released commit is a development build",
            repo: RepoSpec { commits: LINEAR, tags: &[("v2.0.0", 4, true)] },
            env: &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/3/merge"),
            ],
            event: Some(json!({"number": 3, "pull_request": {"number": 3}})),
            options: Options::default(),
            expect: json!({"source": "development", "prerelease": "dev.0", "major": 2, "minor": 0, "patch": 1}),
        },
        Case {
            name: "CI: the tag push of the same commit is the release",
            repo: RepoSpec { commits: LINEAR, tags: &[("v2.0.0", 4, true)] },
            env: &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/tags/v2.0.0"),
            ],
            event: None,
            options: Options::default(),
            expect: json!({"source": "tag_ref", "version": "2.0.0", "is_highest": true}),
        },
        Case {
            name: "laptop: a tag on HEAD is the release",
            repo: RepoSpec { commits: LINEAR, tags: &[("v2.0.0", 4, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"source": "git_tag", "version": "2.0.0"}),
        },
        Case {
            name: "development version after a release",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.4.0", 1, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"next_version": "1.5.0", "prerelease": "dev.3", "channel": "next",
                "previous_tag": "v1.4.0", "source": "development"}),
        },
        Case {
            name: "development version after a release candidate",
            repo: RepoSpec { commits: &["feat!: a", "fix: b", "fix: c"], tags: &[("v2.0.0-rc.1", 1, true)] },
            env: &[],
            event: None,
            options: Options::default(),
            expect: json!({"next_version": "0.1.0", "prerelease": "dev.1"}),
        },
        Case {
            name: "monorepo prefix",
            repo: RepoSpec {
                commits: LINEAR,
                tags: &[("web/v9.0.0", 1, true), ("api/v1.2.0", 2, true), ("api-v1.3.0", 4, true)],
            },
            env: &[],
            event: None,
            options: Options { component: Some("api".into()), ..Options::default() },
            expect: json!({"version": "1.3.0", "tag": "api-v1.3.0", "component": "api", "previous_tag": "api/v1.2.0",
                "is_highest": true}),
        },
        Case {
            name: "explicit version wins over the tag ref",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.2.3", 4, true)] },
            env: &env_v123,
            event: None,
            options: Options { version: Some("v1.3.0-beta.1".into()), ..Options::default() },
            expect: json!({"version": "1.3.0-beta.1", "channel": "testing", "source": "input", "previous_tag": "v1.2.3"}),
        },
        Case {
            name: "bump auto from conventional commits",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.4.0", 1, true)] },
            env: &[],
            event: None,
            options: Options { bump: Some(BumpKind::Auto), ..Options::default() },
            expect: json!({"version": "1.5.0", "tag": "v1.5.0", "source": "bump", "next_version": "1.5.0"}),
        },
        Case {
            name: "bump prerelease continues the candidate line",
            repo: RepoSpec { commits: LINEAR, tags: &[("v1.4.0", 0, true), ("v1.5.0-rc.1", 2, true)] },
            env: &[],
            event: None,
            options: Options { bump: Some(BumpKind::Prerelease), ..Options::default() },
            expect: json!({"version": "1.5.0-rc.2", "channel": "candidate", "previous_tag": "v1.5.0-rc.1"}),
        },
        Case {
            name: "breaking change in 0.x bumps minor",
            repo: RepoSpec { commits: &["feat: a", "feat!: b"], tags: &[("v0.4.0", 0, true)] },
            env: &[],
            event: None,
            options: Options { bump: Some(BumpKind::Auto), ..Options::default() },
            expect: json!({"version": "0.5.0"}),
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn development_version_shape() {
    let case = Case {
        name: "dev",
        repo: RepoSpec { commits: LINEAR, tags: &[("v1.4.0", 1, true)] },
        env: &[],
        event: None,
        options: Options::default(),
        expect: json!({}),
    };
    let got = run_case(&case).unwrap();
    let version = got["version"].as_str().unwrap();
    let short = got["short_sha"].as_str().unwrap();
    assert_eq!(version, format!("1.5.0-dev.3+g{short}"));
    assert_eq!(got["tag"], json!(format!("v{version}")));
}

#[test]
fn invalid_tags_fail_with_exit_2_naming_the_tag() {
    for tag in ["1.2", "v1.2.3.4", "release1", "v01.2.3"] {
        let push = tag_push(tag);
        let env: Vec<(&str, &str)> = push.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let case = Case {
            name: tag,
            repo: RepoSpec { commits: LINEAR, tags: &[] },
            env: &env,
            event: None,
            options: Options::default(),
            expect: json!({}),
        };
        let err = run_case(&case).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{tag}");
        assert!(err.message().contains(&format!("{tag:?}")), "{tag}: {err}");
        assert!(err.message().contains("GITHUB_REF=refs/tags/"), "{tag}: {err}");
    }
}

#[test]
fn a_shallow_clone_asks_for_full_history() {
    let (origin, _) = build(&RepoSpec { commits: LINEAR, tags: &[("v1.0.0", 1, true)] });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git(dir.path(), &["clone", "-q", "--depth", "1", &url, "clone"]);
    let options = Options { repo: Some(dir.path().join("clone")), ..Options::default() };
    let err = resolve(&options, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.message().contains("fetch-depth: 0"), "{err}");
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    let (dir, _) = build(&RepoSpec { commits: LINEAR, tags: &[] });
    let cases: Vec<(BTreeMap<String, String>, &str)> = vec![
        (
            BTreeMap::from([(
                "GITHUB_EVENT_PATH".into(),
                dir.path().join("missing.json").display().to_string(),
            )]),
            "GITHUB_EVENT_PATH",
        ),
        (BTreeMap::from([("INPUT_BUMP".into(), "sideways".into())]), "invalid bump"),
    ];
    for (env, needle) in cases {
        let options = Options { repo: Some(dir.path().to_path_buf()), ..Options::default() };
        let err = resolve(&options, &env).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains(needle), "{err}");
    }
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(dir.path().join(".github/relkit.yml"), "plan:\n  lates: true\n").unwrap();
    let err =
        resolve(&Options { repo: Some(dir.path().to_path_buf()), ..Options::default() }, &BTreeMap::new())
            .unwrap_err();
    assert!(err.message().contains("lates"), "{err}");
    let not_repo = tempfile::tempdir().unwrap();
    let err = resolve(
        &Options { repo: Some(not_repo.path().to_path_buf()), ..Options::default() },
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.message().contains("git repository"), "{err}");
}
