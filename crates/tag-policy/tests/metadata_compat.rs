//! `tag-policy metadata` against docker/metadata-action's documented answers.
//!
//! Every case drives the real binary through a workflow step's real inputs: `GITHUB_*`, an
//! event payload file, `INPUT_*`, `DOCKER_METADATA_*`, a real git repository (tags `v0.9.0`,
//! `v1.0.0`, `v1.1.0`), and reads `$GITHUB_OUTPUT`, `$GITHUB_ENV` and the bake files. The
//! expectations are our own table of facts, taken from metadata-action's README and its
//! `__tests__/meta.test.ts` cases (event, inputs → tags, version, labels, json, bake files).
//! A case whose answer differs carries `differs`: metadata-action's tags, and the difference
//! is always the one deliberate one (`latest`, `X`, `X.Y` only for the highest version of
//! their scope; `highest-only: false` turns it off).
//!
//! Side-by-side check: with `METADATA_ACTION_DIST=/path/to/metadata-action/dist/index.cjs`
//! and `node` on PATH, every case also runs metadata-action itself with the same environment
//! and its outputs must equal the table (its `differs` tags where marked). Cases that read the
//! wall clock (`{{date}}`, `created`) are compared without it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use relkit_testkit::{commit, git, init};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The repository as GitHub's REST API and the event payloads describe it.
const REPOSITORY: &str = r#"{"name":"Hello-World","full_name":"octocat/Hello-World","description":"This your first repo!","html_url":"https://github.com/octocat/Hello-World","default_branch":"master","license":{"spdx_id":"MIT"}}"#;
/// The pull request's head commit (`DOCKER_METADATA_PR_HEAD_SHA`).
const PR_HEAD: &str = "a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0";
/// `SOURCE_DATE_EPOCH` of every run: 2020-01-10T00:30:00Z.
const EPOCH: &str = "1578616200";

#[derive(Clone, Copy)]
enum Event {
    /// `push` to `refs/heads/<branch>`.
    Branch(&'static str),
    /// `push` of `refs/tags/<tag>` (payload `base_ref` = `refs/heads/master`).
    Tag(&'static str),
    /// `pull_request` number 15 from `feature` into `master`.
    PullRequest,
    /// `pull_request_target` number 15 (GITHUB_REF is the base branch).
    PullRequestTarget,
    /// `schedule` on `master` (the payload has no repository: the labels come from the API).
    Schedule,
    /// `release` published for `<tag>`.
    Release(&'static str),
    /// `workflow_dispatch` on `refs/heads/<branch>`.
    Dispatch(&'static str),
}

/// A check on the outputs besides the tags and the version.
#[derive(Clone, Copy)]
enum Check {
    /// An output equals this text (placeholders substituted).
    Output(&'static str, &'static str),
    /// The `labels` output has this `key=value` line.
    Label(&'static str),
    /// The JSON at this pointer of the file named by an output equals this JSON text.
    File(&'static str, &'static str, &'static str),
    /// The JSON at this pointer of the `json` output equals this JSON text.
    Json(&'static str, &'static str),
    /// `$GITHUB_ENV` sets this variable (true) or sets no `DOCKER_METADATA_OUTPUT_*` (false).
    Env(&'static str, bool),
}

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    event: Event,
    /// `INPUT_*` values; `images` defaults to `user/app`.
    inputs: &'static [(&'static str, &'static str)],
    /// Extra environment (`DOCKER_METADATA_*`).
    env: &'static [(&'static str, &'static str)],
    /// The `tags` output, split at `sep-tags` (placeholders `{sha}`, `{sha7}`, `{sha12}`, `{pr7}`).
    tags: &'static [&'static str],
    /// The `version` output.
    version: &'static str,
    /// metadata-action's tags when they differ by the one deliberate difference.
    differs: Option<&'static [&'static str]>,
    /// Further checks.
    checks: &'static [Check],
    /// Reads the wall clock in metadata-action (`{{date}}`): not compared side by side.
    clock: bool,
}

const BASE: Case = Case {
    name: "",
    event: Event::Branch("master"),
    inputs: &[],
    env: &[],
    tags: &[],
    version: "",
    differs: None,
    checks: &[],
    clock: false,
};

const SEMVER_SET: &str = "type=ref,event=branch\ntype=ref,event=pr\ntype=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}\ntype=sha";

fn cases() -> Vec<Case> {
    vec![
        // --- the defaults (empty tags:), README "Basic" table -------------------------------------
        Case { name: "default: push master", tags: &["user/app:master"], version: "master", ..BASE },
        Case {
            name: "default: push releases/v1",
            event: Event::Branch("releases/v1"),
            tags: &["user/app:releases-v1"],
            version: "releases-v1",
            ..BASE
        },
        Case {
            name: "default: pull request",
            event: Event::PullRequest,
            tags: &["user/app:pr-15"],
            version: "pr-15",
            ..BASE
        },
        Case {
            name: "default: pull_request_target names the merge ref",
            event: Event::PullRequestTarget,
            tags: &["user/app:pr-15"],
            version: "pr-15",
            ..BASE
        },
        Case {
            name: "default: push tag v1.2.3",
            event: Event::Tag("v1.2.3"),
            tags: &["user/app:v1.2.3", "user/app:latest"],
            version: "v1.2.3",
            ..BASE
        },
        Case {
            name: "default: push tag v2.0.8-beta.67 (highest: latest as in metadata-action)",
            event: Event::Tag("v2.0.8-beta.67"),
            tags: &["user/app:v2.0.8-beta.67", "user/app:latest"],
            version: "v2.0.8-beta.67",
            ..BASE
        },
        Case {
            name: "default: workflow_dispatch on master",
            event: Event::Dispatch("master"),
            tags: &["user/app:master"],
            version: "master",
            ..BASE
        },
        Case {
            name: "default: schedule",
            event: Event::Schedule,
            tags: &["user/app:nightly", "user/app:master"],
            version: "nightly",
            checks: &[Check::Label("org.opencontainers.image.title=Hello-World")],
            ..BASE
        },
        Case {
            name: "default: release event",
            event: Event::Release("v1.2.3"),
            tags: &["user/app:v1.2.3", "user/app:latest"],
            version: "v1.2.3",
            ..BASE
        },
        Case {
            name: "default: non-semver tag release1",
            event: Event::Tag("release1"),
            tags: &["user/app:release1", "user/app:latest"],
            version: "release1",
            ..BASE
        },
        Case {
            name: "default: non-semver tag 20200110-RC2",
            event: Event::Tag("20200110-RC2"),
            tags: &["user/app:20200110-RC2", "user/app:latest"],
            version: "20200110-RC2",
            ..BASE
        },
        Case {
            name: "default: hotfix tag v1.0.5 below v1.1.0",
            event: Event::Tag("v1.0.5"),
            tags: &["user/app:v1.0.5"],
            version: "v1.0.5",
            differs: Some(&["user/app:v1.0.5", "user/app:latest"]),
            ..BASE
        },
        // --- semver rules (README "Semver") ------------------------------------------------------
        Case {
            name: "semver: push tag v1.2.3",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:1.2.3", "user/app:1.2", "user/app:1", "user/app:sha-{sha7}", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "semver: prerelease v2.0.8-beta.67 gets only its version",
            event: Event::Tag("v2.0.8-beta.67"),
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:2.0.8-beta.67", "user/app:sha-{sha7}"],
            version: "2.0.8-beta.67",
            ..BASE
        },
        Case {
            name: "semver: {{raw}} keeps a prerelease as spelled",
            event: Event::Tag("v1.2.3-rc.2"),
            inputs: &[("tags", "type=semver,pattern={{raw}}")],
            tags: &["user/app:v1.2.3-rc.2"],
            version: "v1.2.3-rc.2",
            ..BASE
        },
        Case {
            name: "semver: push master gets no semver tag",
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:master", "user/app:sha-{sha7}"],
            version: "master",
            ..BASE
        },
        Case {
            name: "semver: a pull request never gets a version tag or latest",
            event: Event::PullRequest,
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:pr-15", "user/app:sha-{sha7}"],
            version: "pr-15",
            ..BASE
        },
        Case {
            name: "semver: a non-semver tag is a warning and no tag",
            event: Event::Tag("sometag"),
            inputs: &[("tags", "type=semver,pattern={{version}}")],
            tags: &[],
            version: "",
            checks: &[Check::Label("org.opencontainers.image.version="), Check::Output("tags", "")],
            ..BASE
        },
        Case {
            name: "semver: a non-semver tag still serves type=ref,event=tag",
            event: Event::Tag("sometag"),
            inputs: &[("tags", "type=ref,event=tag\ntype=semver,pattern={{version}}")],
            tags: &["user/app:sometag", "user/app:latest"],
            version: "sometag",
            ..BASE
        },
        Case {
            name: "semver: value= on a branch push (a rule without value= gives nothing there)",
            inputs: &[(
                "tags",
                "type=semver,pattern={{version}},value=v1.2.3\ntype=semver,pattern={{major}}",
            )],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "semver: value= ranked against the git tags",
            inputs: &[(
                "tags",
                "type=semver,pattern={{version}},value=v0.9.5\ntype=semver,pattern={{major}}.{{minor}},value=v0.9.5",
            )],
            tags: &["user/app:0.9.5", "user/app:0.9"],
            version: "0.9.5",
            differs: Some(&["user/app:0.9.5", "user/app:0.9", "user/app:latest"]),
            ..BASE
        },
        Case {
            name: "semver: value= with match= (README)",
            inputs: &[("tags", r"type=semver,pattern={{version}},value=p1/v1.2.0,match=v(\d.\d.\d)$")],
            tags: &["user/app:1.2.0", "user/app:latest"],
            version: "1.2.0",
            ..BASE
        },
        Case {
            name: "semver: match= on a tag with a component prefix",
            event: Event::Tag("p1/v1.3.0"),
            inputs: &[("tags", r"type=semver,pattern={{version}},match=v(\d.\d.\d)$")],
            tags: &["user/app:1.3.0", "user/app:latest"],
            version: "1.3.0",
            ..BASE
        },
        Case {
            name: "semver: value= with build metadata",
            inputs: &[(
                "tags",
                "type=semver,pattern={{version}},value=v1.2.3+build.5\ntype=semver,pattern={{raw}},value=v1.2.3+build.5",
            )],
            tags: &["user/app:1.2.3", "user/app:v1.2.3-build.5", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "semver: match= capturing build metadata",
            event: Event::Tag("app-v1.4.0+linux"),
            inputs: &[("tags", "type=semver,pattern={{version}},match=^app-(.*)$")],
            tags: &["user/app:1.4.0", "user/app:latest"],
            version: "1.4.0",
            ..BASE
        },
        Case {
            name: "semver: hotfix v1.0.5 gets X.Y but neither X nor latest",
            event: Event::Tag("v1.0.5"),
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:1.0.5", "user/app:1.0", "user/app:sha-{sha7}"],
            version: "1.0.5",
            differs: Some(&[
                "user/app:1.0.5",
                "user/app:1.0",
                "user/app:1",
                "user/app:sha-{sha7}",
                "user/app:latest",
            ]),
            ..BASE
        },
        Case {
            name: "semver: hotfix v1.0.5 with highest-only: false is metadata-action's answer",
            event: Event::Tag("v1.0.5"),
            inputs: &[("tags", SEMVER_SET), ("highest-only", "false")],
            tags: &["user/app:1.0.5", "user/app:1.0", "user/app:1", "user/app:sha-{sha7}", "user/app:latest"],
            version: "1.0.5",
            ..BASE
        },
        Case {
            name: "semver: old line v0.9.5 keeps 0.9 and 0, no latest",
            event: Event::Tag("v0.9.5"),
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:0.9.5", "user/app:0.9", "user/app:0", "user/app:sha-{sha7}"],
            version: "0.9.5",
            differs: Some(&[
                "user/app:0.9.5",
                "user/app:0.9",
                "user/app:0",
                "user/app:sha-{sha7}",
                "user/app:latest",
            ]),
            ..BASE
        },
        Case {
            name: "semver: release event",
            event: Event::Release("v1.2.3"),
            inputs: &[("tags", SEMVER_SET)],
            tags: &["user/app:1.2.3", "user/app:1.2", "user/app:1", "user/app:sha-{sha7}", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "semver: workflow_dispatch on master gets no semver tag",
            event: Event::Dispatch("master"),
            inputs: &[("tags", "type=semver,pattern={{version}}\ntype=ref,event=branch")],
            tags: &["user/app:master"],
            version: "master",
            ..BASE
        },
        // --- type=match (README table) -------------------------------------------------------------
        Case {
            name: r"match: \d.\d.\d on v1.2.3",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", r"type=match,pattern=\d.\d.\d")],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "match: v(.*) group 1 on v2.0.8-beta.67",
            event: Event::Tag("v2.0.8-beta.67"),
            inputs: &[("tags", "type=match,pattern=v(.*),group=1")],
            tags: &["user/app:2.0.8-beta.67", "user/app:latest"],
            version: "2.0.8-beta.67",
            ..BASE
        },
        Case {
            name: r"match: \d+ on 20200110-RC2",
            event: Event::Tag("20200110-RC2"),
            inputs: &[("tags", r"type=match,pattern=\d+")],
            tags: &["user/app:20200110", "user/app:latest"],
            version: "20200110",
            ..BASE
        },
        Case {
            name: "match: p1/v(...) group 1 on p1/v1.2.3",
            event: Event::Tag("p1/v1.2.3"),
            inputs: &[("tags", r"type=match,pattern=p1/v(\d.\d.\d),group=1")],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "match: value= on a branch push",
            inputs: &[("tags", "type=match,pattern=v(.*),group=1,value=v1.0.0")],
            tags: &["user/app:1.0.0", "user/app:latest"],
            version: "1.0.0",
            ..BASE
        },
        Case {
            name: "match: no match is a warning and no tag",
            event: Event::Tag("release1"),
            inputs: &[("tags", r"type=match,pattern=\d.\d.\d")],
            tags: &[],
            version: "",
            ..BASE
        },
        // --- other rule types ----------------------------------------------------------------------
        Case {
            name: "edge on the default branch",
            inputs: &[("tags", "type=edge")],
            tags: &["user/app:edge"],
            version: "edge",
            ..BASE
        },
        Case {
            name: "edge,branch=dev on dev",
            event: Event::Branch("dev"),
            inputs: &[("tags", "type=edge,branch=dev")],
            tags: &["user/app:edge"],
            version: "edge",
            ..BASE
        },
        Case {
            name: "edge on another branch: no tag",
            event: Event::Branch("dev"),
            inputs: &[("tags", "type=edge")],
            tags: &[],
            version: "",
            ..BASE
        },
        Case {
            name: "sha long",
            inputs: &[("tags", "type=sha,format=long")],
            tags: &["user/app:sha-{sha}"],
            version: "sha-{sha}",
            ..BASE
        },
        Case {
            name: "sha without prefix",
            inputs: &[("tags", "type=sha,prefix=")],
            tags: &["user/app:{sha7}"],
            version: "{sha7}",
            ..BASE
        },
        Case {
            name: "DOCKER_METADATA_SHORT_SHA_LENGTH=12",
            inputs: &[("tags", "type=sha")],
            env: &[("DOCKER_METADATA_SHORT_SHA_LENGTH", "12")],
            tags: &["user/app:sha-{sha12}"],
            version: "sha-{sha12}",
            ..BASE
        },
        Case {
            name: "DOCKER_METADATA_PR_HEAD_SHA on a pull request",
            event: Event::PullRequest,
            inputs: &[("tags", "type=sha")],
            env: &[("DOCKER_METADATA_PR_HEAD_SHA", "true")],
            tags: &["user/app:sha-{pr7}"],
            version: "sha-{pr7}",
            checks: &[Check::Label(
                "org.opencontainers.image.revision=a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0",
            )],
            ..BASE
        },
        Case {
            name: "raw with global expressions",
            event: Event::Branch("dev"),
            inputs: &[("tags", "type=raw,value={{branch}}-{{sha}}")],
            tags: &["user/app:dev-{sha7}"],
            version: "dev-{sha7}",
            ..BASE
        },
        Case {
            name: "raw {{tag}} on a tag push",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=raw,value=foo-{{tag}}")],
            tags: &["user/app:foo-v1.2.3"],
            version: "foo-v1.2.3",
            ..BASE
        },
        Case {
            name: "{{base_ref}} on a tag push comes from the payload",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=raw,value={{base_ref}}")],
            tags: &["user/app:master"],
            version: "master",
            ..BASE
        },
        Case {
            name: "{{base_ref}} on a pull request",
            event: Event::PullRequest,
            inputs: &[("tags", "type=raw,value=base-{{base_ref}}")],
            tags: &["user/app:base-master"],
            version: "base-master",
            ..BASE
        },
        Case {
            name: "latest on the default branch only ({{is_default_branch}})",
            inputs: &[("tags", "type=raw,value=latest,enable={{is_default_branch}}\ntype=ref,event=branch")],
            tags: &["user/app:master", "user/app:latest"],
            version: "master",
            ..BASE
        },
        Case {
            name: "enable={{is_default_branch}} on another branch",
            event: Event::Branch("dev"),
            inputs: &[("tags", "type=raw,value=latest,enable={{is_default_branch}}\ntype=ref,event=branch")],
            tags: &["user/app:dev"],
            version: "dev",
            ..BASE
        },
        Case {
            name: "schedule counts as the default branch",
            event: Event::Schedule,
            inputs: &[("tags", "type=raw,value=stable,enable={{is_default_branch}}")],
            tags: &["user/app:stable"],
            version: "stable",
            ..BASE
        },
        Case {
            name: "schedule with a date pattern",
            event: Event::Schedule,
            inputs: &[("tags", "type=schedule,pattern={{date 'YYYYMMDD'}}")],
            tags: &["user/app:20200110"],
            version: "20200110",
            clock: true,
            ..BASE
        },
        Case {
            name: "schedule with a time zone",
            event: Event::Schedule,
            inputs: &[("tags", "type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}")],
            tags: &["user/app:20200110-093000"],
            version: "20200110-093000",
            clock: true,
            ..BASE
        },
        Case {
            name: "schedule rule on a push: no tag",
            inputs: &[("tags", "type=schedule")],
            tags: &[],
            version: "",
            ..BASE
        },
        Case {
            name: "priorities reorder the tags",
            inputs: &[("tags", "type=sha,priority=2000\ntype=ref,event=branch")],
            tags: &["user/app:sha-{sha7}", "user/app:master"],
            version: "sha-{sha7}",
            ..BASE
        },
        Case {
            name: "a tag starting with - is emitted as metadata-action does",
            event: Event::Branch("#12-fix"),
            tags: &["user/app:-12-fix"],
            version: "-12-fix",
            ..BASE
        },
        Case {
            name: "semver: a match= that does not match keeps the whole tag",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}},match=^app-(.*)$")],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "expression values are HTML-escaped as Handlebars does",
            event: Event::Branch("a&b"),
            inputs: &[("tags", "type=raw,value={{branch}}\ntype=raw,value=x-{{{branch}}}")],
            tags: &["user/app:a-amp-b", "user/app:x-a-b"],
            version: "a-amp-b",
            ..BASE
        },
        Case {
            name: "characters a tag cannot hold become -",
            event: Event::Branch("feature/my#branch"),
            tags: &["user/app:feature-my-branch"],
            version: "feature-my-branch",
            ..BASE
        },
        // --- flavor ----------------------------------------------------------------------------------
        Case {
            name: "flavor latest=false",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}"), ("flavor", "latest=false")],
            tags: &["user/app:1.2.3"],
            version: "1.2.3",
            ..BASE
        },
        Case {
            name: "flavor latest=true on a branch",
            inputs: &[("flavor", "latest=true")],
            tags: &["user/app:master", "user/app:latest"],
            version: "master",
            ..BASE
        },
        Case {
            name: "flavor prefix (not on latest)",
            event: Event::Tag("v1.2.3"),
            inputs: &[
                ("tags", "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}"),
                ("flavor", "prefix=foo-"),
            ],
            tags: &["user/app:foo-1.2.3", "user/app:foo-1", "user/app:latest"],
            version: "foo-1.2.3",
            ..BASE
        },
        Case {
            name: "flavor prefix onlatest",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}"), ("flavor", "prefix=foo-,onlatest=true")],
            tags: &["user/app:foo-1.2.3", "user/app:foo-latest"],
            version: "foo-1.2.3",
            ..BASE
        },
        Case {
            name: "flavor suffix",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}"), ("flavor", "suffix=-alpine")],
            tags: &["user/app:1.2.3-alpine", "user/app:latest"],
            version: "1.2.3-alpine",
            ..BASE
        },
        Case {
            name: "flavor suffix onlatest",
            event: Event::Tag("v1.2.3"),
            inputs: &[
                ("tags", "type=semver,pattern={{version}}"),
                ("flavor", "latest=auto\nsuffix=-alpine,onlatest=true"),
            ],
            tags: &["user/app:1.2.3-alpine", "user/app:latest-alpine"],
            version: "1.2.3-alpine",
            ..BASE
        },
        Case {
            name: "a rule's prefix= overrides the flavor's (type=sha brings its own sha-)",
            event: Event::Tag("v1.2.3"),
            inputs: &[
                ("tags", "type=semver,pattern={{version}},prefix=v\ntype=sha"),
                ("flavor", "prefix=foo-"),
            ],
            tags: &["user/app:v1.2.3", "user/app:sha-{sha7}", "user/app:latest"],
            version: "v1.2.3",
            ..BASE
        },
        Case {
            name: "flavor latest=auto on a hotfix with the switch off",
            event: Event::Tag("v1.0.5"),
            inputs: &[
                ("tags", "type=semver,pattern={{version}}"),
                ("flavor", "latest=auto"),
                ("highest-only", "false"),
            ],
            tags: &["user/app:1.0.5", "user/app:latest"],
            version: "1.0.5",
            ..BASE
        },
        // --- images ----------------------------------------------------------------------------------
        Case {
            name: "images are lower-cased",
            inputs: &[("images", "ghcr.io/MyOrg/MyApp")],
            tags: &["ghcr.io/myorg/myapp:master"],
            version: "master",
            ..BASE
        },
        Case {
            name: "images as a comma list",
            inputs: &[("images", "name/app,ghcr.io/name/app")],
            tags: &["name/app:master", "ghcr.io/name/app:master"],
            version: "master",
            ..BASE
        },
        Case {
            name: "images with name= and enable= attributes",
            inputs: &[(
                "images",
                "name=name/app\nname=ghcr.io/name/app,enable=false\nname=quay.io/name/app,enable=true",
            )],
            tags: &["name/app:master", "quay.io/name/app:master"],
            version: "master",
            checks: &[Check::File(
                "bake-file-tags",
                "/target/docker-metadata-action/args/DOCKER_META_IMAGES",
                r#""name/app,quay.io/name/app""#,
            )],
            ..BASE
        },
        Case {
            name: "no images: bare tags",
            inputs: &[("images", "")],
            tags: &["master"],
            version: "master",
            checks: &[Check::Output("tag-names", "master")],
            ..BASE
        },
        // --- separators ------------------------------------------------------------------------------
        Case {
            name: "sep-tags",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}\ntype=sha"), ("sep-tags", ",")],
            tags: &["user/app:1.2.3", "user/app:sha-{sha7}", "user/app:latest"],
            version: "1.2.3",
            checks: &[
                Check::Output("tags", "user/app:1.2.3,user/app:sha-{sha7},user/app:latest"),
                Check::Output("tag-names", "1.2.3,sha-{sha7},latest"),
            ],
            ..BASE
        },
        Case {
            name: "sep-labels",
            inputs: &[("sep-labels", ",")],
            tags: &["user/app:master"],
            version: "master",
            checks: &[Check::Output(
                "labels",
                "org.opencontainers.image.created=2020-01-10T00:30:00.000Z,org.opencontainers.image.description=This your first repo!,org.opencontainers.image.licenses=MIT,org.opencontainers.image.revision={sha},org.opencontainers.image.source=https://github.com/octocat/Hello-World,org.opencontainers.image.title=Hello-World,org.opencontainers.image.url=https://github.com/octocat/Hello-World,org.opencontainers.image.version=master",
            )],
            ..BASE
        },
        Case {
            name: "sep-annotations",
            inputs: &[
                ("sep-annotations", ";"),
                ("annotations", "org.opencontainers.image.description=custom"),
            ],
            env: &[("DOCKER_METADATA_ANNOTATIONS_LEVELS", "index")],
            tags: &["user/app:master"],
            version: "master",
            checks: &[Check::Output(
                "annotations",
                "index:org.opencontainers.image.created=2020-01-10T00:30:00.000Z;index:org.opencontainers.image.description=custom;index:org.opencontainers.image.licenses=MIT;index:org.opencontainers.image.revision={sha};index:org.opencontainers.image.source=https://github.com/octocat/Hello-World;index:org.opencontainers.image.title=Hello-World;index:org.opencontainers.image.url=https://github.com/octocat/Hello-World;index:org.opencontainers.image.version=master",
            )],
            ..BASE
        },
        // --- labels and annotations ------------------------------------------------------------------
        Case {
            name: "all eight labels, empty values kept",
            event: Event::Tag("sometag"),
            inputs: &[("tags", "type=semver,pattern={{version}}")],
            tags: &[],
            version: "",
            checks: &[
                Check::Label("org.opencontainers.image.title=Hello-World"),
                Check::Label("org.opencontainers.image.description=This your first repo!"),
                Check::Label("org.opencontainers.image.url=https://github.com/octocat/Hello-World"),
                Check::Label("org.opencontainers.image.source=https://github.com/octocat/Hello-World"),
                Check::Label("org.opencontainers.image.version="),
                Check::Label("org.opencontainers.image.revision={sha}"),
                Check::Label("org.opencontainers.image.licenses=MIT"),
                Check::Json("/tag-names", "[]"),
            ],
            ..BASE
        },
        Case {
            name: "custom labels override and add, sorted",
            inputs: &[(
                "labels",
                "maintainer=CrazyMax\norg.opencontainers.image.title=MyCustomTitle\norg.opencontainers.image.vendor=MyCompany\nbranch={{branch}}",
            )],
            tags: &["user/app:master"],
            version: "master",
            checks: &[
                Check::Label("maintainer=CrazyMax"),
                Check::Label("org.opencontainers.image.title=MyCustomTitle"),
                Check::Label("org.opencontainers.image.vendor=MyCompany"),
                Check::Label("branch=master"),
                Check::Json("/labels/org.opencontainers.image.title", r#""MyCustomTitle""#),
            ],
            ..BASE
        },
        Case {
            name: "annotations at two levels",
            inputs: &[("annotations", "org.opencontainers.image.title=Annotated")],
            env: &[("DOCKER_METADATA_ANNOTATIONS_LEVELS", "manifest,index")],
            tags: &["user/app:master"],
            version: "master",
            checks: &[
                Check::Json("/annotations/5", r#""manifest:org.opencontainers.image.title=Annotated""#),
                Check::Json("/annotations/13", r#""index:org.opencontainers.image.title=Annotated""#),
                Check::File(
                    "bake-file-annotations",
                    "/target/docker-metadata-action/annotations/8",
                    r#""index:org.opencontainers.image.created=2020-01-10T00:30:00.000Z""#,
                ),
            ],
            ..BASE
        },
        Case {
            name: "schedule reads the repository from the API",
            event: Event::Schedule,
            inputs: &[("tags", "type=raw,value=nightly")],
            tags: &["user/app:nightly"],
            version: "nightly",
            checks: &[
                Check::Label("org.opencontainers.image.licenses=MIT"),
                Check::Label("org.opencontainers.image.description=This your first repo!"),
            ],
            ..BASE
        },
        // --- json, bake files and environment ----------------------------------------------------------
        Case {
            name: "json output",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}")],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            checks: &[
                Check::Json("/tags", r#"["user/app:1.2.3","user/app:latest"]"#),
                Check::Json("/tag-names", r#"["1.2.3","latest"]"#),
                Check::Json("/labels/org.opencontainers.image.version", r#""1.2.3""#),
                Check::Json(
                    "/annotations/0",
                    r#""manifest:org.opencontainers.image.created=2020-01-10T00:30:00.000Z""#,
                ),
            ],
            ..BASE
        },
        Case {
            name: "bake-target names the bake target",
            event: Event::Tag("v1.2.3"),
            inputs: &[("tags", "type=semver,pattern={{version}}"), ("bake-target", "meta-helper")],
            tags: &["user/app:1.2.3", "user/app:latest"],
            version: "1.2.3",
            checks: &[
                Check::File(
                    "bake-file-tags",
                    "/target/meta-helper/tags",
                    r#"["user/app:1.2.3","user/app:latest"]"#,
                ),
                Check::File("bake-file-tags", "/target/meta-helper/args/DOCKER_META_VERSION", r#""1.2.3""#),
                Check::File(
                    "bake-file-labels",
                    "/target/meta-helper/labels/org.opencontainers.image.version",
                    r#""1.2.3""#,
                ),
                Check::File("bake-file", "/target/meta-helper/tags/1", r#""user/app:latest""#),
                Check::File(
                    "bake-file",
                    "/target/meta-helper/labels/org.opencontainers.image.title",
                    r#""Hello-World""#,
                ),
                Check::File("bake-file", "/target/meta-helper/args/DOCKER_META_IMAGES", r#""user/app""#),
            ],
            ..BASE
        },
        Case {
            name: "no version: the bake args leave DOCKER_META_VERSION out",
            event: Event::PullRequest,
            inputs: &[("tags", "type=semver,pattern={{version}}")],
            tags: &[],
            version: "",
            checks: &[Check::File(
                "bake-file-tags",
                "/target/docker-metadata-action",
                r#"{"tags":[],"args":{"DOCKER_META_IMAGES":"user/app"}}"#,
            )],
            ..BASE
        },
        Case {
            name: "outputs are exported as DOCKER_METADATA_OUTPUT_*",
            tags: &["user/app:master"],
            version: "master",
            checks: &[
                Check::Env("DOCKER_METADATA_OUTPUT_VERSION", true),
                Check::Env("DOCKER_METADATA_OUTPUT_TAGS", true),
                Check::Env("DOCKER_METADATA_OUTPUT_JSON", true),
                Check::Env("DOCKER_METADATA_OUTPUT_BAKE_FILE_TAGS", true),
            ],
            ..BASE
        },
        Case {
            name: "DOCKER_METADATA_SET_OUTPUT_ENV=false exports nothing",
            env: &[("DOCKER_METADATA_SET_OUTPUT_ENV", "false")],
            tags: &["user/app:master"],
            version: "master",
            checks: &[Check::Env("", false)],
            ..BASE
        },
    ]
}

/// The repository every case runs in: `v0.9.0`, `v1.0.0`, `v1.1.0` on three commits, HEAD one
/// commit later.
struct World {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    sha: String,
    api: MockServer,
    _runtime: tokio::runtime::Runtime,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    init(&repo);
    for tag in ["v0.9.0", "v1.0.0", "v1.1.0"] {
        commit(&repo, &format!("release {tag}"));
        git(&repo, &["tag", tag]);
    }
    let sha = commit(&repo, "feat: next");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/repos/octocat/Hello-World"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(REPOSITORY, "application/json"))
            .mount(&server)
            .await;
        server
    });
    World { _dir: dir, repo, sha, api, _runtime: runtime }
}

fn payload(event: Event, sha: &str) -> (&'static str, String, serde_json::Value) {
    let repository: serde_json::Value = serde_json::from_str(REPOSITORY).unwrap();
    let head = serde_json::json!({ "id": sha, "timestamp": "2020-01-09T22:15:07Z" });
    let pull_request = serde_json::json!({
        "number": 15,
        "head": { "sha": PR_HEAD, "ref": "feature" },
        "base": { "sha": sha, "ref": "master" },
    });
    match event {
        Event::Branch(branch) => (
            "push",
            format!("refs/heads/{branch}"),
            serde_json::json!({ "ref": format!("refs/heads/{branch}"), "head_commit": head, "repository": repository }),
        ),
        Event::Tag(tag) => (
            "push",
            format!("refs/tags/{tag}"),
            serde_json::json!({ "ref": format!("refs/tags/{tag}"), "base_ref": "refs/heads/master", "head_commit": head, "repository": repository }),
        ),
        Event::PullRequest => (
            "pull_request",
            "refs/pull/15/merge".into(),
            serde_json::json!({ "action": "opened", "number": 15, "pull_request": pull_request, "repository": repository }),
        ),
        Event::PullRequestTarget => (
            "pull_request_target",
            "refs/heads/master".into(),
            serde_json::json!({ "action": "opened", "number": 15, "pull_request": pull_request, "repository": repository }),
        ),
        Event::Schedule => {
            ("schedule", "refs/heads/master".into(), serde_json::json!({ "schedule": "0 10 * * *" }))
        }
        Event::Release(tag) => (
            "release",
            format!("refs/tags/{tag}"),
            serde_json::json!({ "action": "published", "release": { "tag_name": tag }, "repository": repository }),
        ),
        Event::Dispatch(branch) => (
            "workflow_dispatch",
            format!("refs/heads/{branch}"),
            serde_json::json!({ "ref": format!("refs/heads/{branch}"), "inputs": {}, "repository": repository }),
        ),
    }
}

/// What a run left behind: the step outputs and the exported variables.
struct Run {
    outputs: BTreeMap<String, String>,
    exported: BTreeMap<String, String>,
}

/// Parses the `name<<DELIMITER` file-command format of `$GITHUB_OUTPUT` and `$GITHUB_ENV`.
fn file_command(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((name, delimiter)) = line.split_once("<<") else { continue };
        let mut value = Vec::new();
        for line in lines.by_ref() {
            if line == delimiter {
                break;
            }
            value.push(line);
        }
        values.insert(name.to_owned(), value.join("\n"));
    }
    values
}

/// Runs `program` as a workflow step of `case`.
fn run_step(world: &World, case: &Case, program: &mut Command) -> Run {
    let work = tempfile::tempdir().unwrap();
    let (event_name, git_ref, body) = payload(case.event, &world.sha);
    let event_path = work.path().join("event.json");
    std::fs::write(&event_path, body.to_string()).unwrap();
    let output = work.path().join("output");
    let exported = work.path().join("env");
    let temp = work.path().join("temp");
    std::fs::create_dir(&temp).unwrap();
    std::fs::write(&output, "").unwrap();
    std::fs::write(&exported, "").unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let command = program
        .env_clear()
        .current_dir(&world.repo)
        .env("PATH", path)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event_name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REF", &git_ref)
        .env("GITHUB_SHA", &world.sha)
        .env("GITHUB_REPOSITORY", "octocat/Hello-World")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_API_URL", world.api.uri())
        .env("GITHUB_WORKSPACE", &world.repo)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_ENV", &exported)
        .env("RUNNER_TEMP", &temp)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("INPUT_GITHUB-TOKEN", "ghs_test")
        .env("INPUT_IMAGES", "user/app");
    for (name, value) in case.inputs {
        command.env(format!("INPUT_{}", name.to_uppercase()), value);
    }
    for (name, value) in case.env {
        command.env(name, value);
    }
    let result = command.output().unwrap();
    assert!(
        result.status.success(),
        "{}: exit {:?}\n{}{}",
        case.name,
        result.status.code(),
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let mut outputs = file_command(&std::fs::read_to_string(&output).unwrap());
    // The bake files live in the step's temporary directory: read them before it goes.
    for name in ["bake-file", "bake-file-tags", "bake-file-labels", "bake-file-annotations"] {
        if let Some(file) = outputs.get(name).cloned() {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {name} {file}: {e}", case.name));
            outputs.insert(format!("{name}:content"), text);
        }
    }
    Run { outputs, exported: file_command(&std::fs::read_to_string(&exported).unwrap()) }
}

fn substitute(text: &str, sha: &str) -> String {
    text.replace("{sha7}", &sha[..7])
        .replace("{sha12}", &sha[..12])
        .replace("{sha}", sha)
        .replace("{pr7}", &PR_HEAD[..7])
}

/// Checks one run against the case; `tags` is the expected tag list; `wall_clock` leaves out
/// what depends on the time of the run.
fn verify(case: &Case, run: &Run, tags: &[&str], sha: &str, wall_clock: bool) -> Vec<String> {
    let failures = std::cell::RefCell::new(Vec::new());
    let expect = |what: &str, got: &str, want: &str| {
        if got != want {
            failures
                .borrow_mut()
                .push(format!("{}: {what}:\n    got  {got:?}\n    want {want:?}", case.name));
        }
    };
    let output = |name: &str| run.outputs.get(name).cloned().unwrap_or_default();
    let separator = case.inputs.iter().find(|(n, _)| *n == "sep-tags").map_or("\n", |(_, v)| *v);
    let want_tags: Vec<String> = tags.iter().map(|t| substitute(t, sha)).collect();
    expect("tags", &output("tags"), &want_tags.join(separator));
    expect("version", &output("version"), &substitute(case.version, sha));
    let labels = output("labels");
    let label_separator = case.inputs.iter().find(|(n, _)| *n == "sep-labels").map_or("\n", |(_, v)| *v);
    let strip_clock = |text: &str| {
        if wall_clock {
            text.split(label_separator)
                .filter(|l| !l.contains(".created="))
                .collect::<Vec<_>>()
                .join(label_separator)
        } else {
            text.to_owned()
        }
    };
    for check in case.checks {
        match *check {
            Check::Output(name, want) => {
                if wall_clock && (name == "labels" || name == "annotations") {
                    let separator = if name == "labels" { label_separator } else { ";" };
                    let strip = |t: &str| {
                        t.split(separator)
                            .filter(|l| !l.contains(".created="))
                            .collect::<Vec<_>>()
                            .join(separator)
                    };
                    expect(name, &strip(&output(name)), &strip(&substitute(want, sha)));
                } else {
                    expect(name, &output(name), &substitute(want, sha));
                }
            }
            Check::Label(line) => {
                let line = substitute(line, sha);
                if !strip_clock(&labels).split(label_separator).any(|l| l == line) {
                    failures.borrow_mut().push(format!("{}: no label {line:?} in {labels:?}", case.name));
                }
            }
            Check::File(name, pointer, want) => {
                if wall_clock && want.contains("created=") {
                    continue;
                }
                let text = output(&format!("{name}:content"));
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let want: serde_json::Value = serde_json::from_str(want).unwrap();
                let got = value.pointer(pointer).cloned().unwrap_or_default();
                expect(&format!("{name} {pointer}"), &got.to_string(), &want.to_string());
            }
            Check::Json(pointer, want) => {
                if wall_clock && want.contains("created=") {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(&output("json")).unwrap_or_default();
                let want: serde_json::Value = serde_json::from_str(&substitute(want, sha)).unwrap();
                let got = value.pointer(pointer).cloned().unwrap_or_default();
                expect(&format!("json {pointer}"), &got.to_string(), &want.to_string());
            }
            Check::Env(name, true) => {
                if run.exported.get(name)
                    != run
                        .outputs
                        .get(&name["DOCKER_METADATA_OUTPUT_".len()..].to_lowercase().replace('_', "-"))
                {
                    failures
                        .borrow_mut()
                        .push(format!("{}: {name} is not exported with the output's value", case.name));
                }
            }
            Check::Env(_, false) => {
                if run.exported.keys().any(|k| k.starts_with("DOCKER_METADATA_OUTPUT_")) {
                    failures.borrow_mut().push(format!(
                        "{}: variables exported: {:?}",
                        case.name,
                        run.exported.keys()
                    ));
                }
            }
        }
    }
    failures.into_inner()
}

#[test]
fn answers_are_metadata_actions_with_one_deliberate_difference() {
    let world = world();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let events = |f: fn(&Event) -> bool| cases.iter().filter(|c| f(&c.event)).count();
    assert!(
        events(|e| matches!(e, Event::PullRequestTarget)) > 0
            && events(|e| matches!(e, Event::Release(_))) > 0
    );
    let mut failures = Vec::new();
    for case in &cases {
        let run = run_step(&world, case, Command::new(env!("CARGO_BIN_EXE_tag-policy")).arg("metadata"));
        failures.extend(verify(case, &run, case.tags, &world.sha, false));
    }
    let differing = cases.iter().filter(|c| c.differs.is_some()).count();
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} cases, {} equal to metadata-action, {differing} with the deliberate difference",
        cases.len(),
        cases.len() - differing
    );
}

/// The same table run through docker/metadata-action itself (`METADATA_ACTION_DIST`), to show
/// the facts are its answers. Skips when the variable is not set.
#[test]
fn side_by_side_with_metadata_action() {
    let Ok(dist) = std::env::var("METADATA_ACTION_DIST") else {
        eprintln!(
            "side_by_side_with_metadata_action: skipped (set METADATA_ACTION_DIST=…/dist/index.cjs and put node on PATH)"
        );
        return;
    };
    assert!(Path::new(&dist).is_file(), "METADATA_ACTION_DIST={dist} is not a file");
    let world = world();
    let mut failures = Vec::new();
    for case in cases() {
        if case.clock {
            continue;
        }
        let run = run_step(&world, &case, Command::new("node").arg(&dist));
        let tags = case.differs.unwrap_or(case.tags);
        failures.extend(verify(&case, &run, tags, &world.sha, true));
    }
    assert!(
        failures.is_empty(),
        "metadata-action disagrees with the table in {} checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `tag-policy metadata` on a schedule event (no repository in the payload) in `repo`.
fn schedule_run(repo: &Path, extra: &[(&str, &str)]) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    let event = work.path().join("event.json");
    std::fs::write(&event, r#"{"schedule":"0 10 * * *"}"#).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tag-policy"))
        .arg("metadata")
        .env_clear()
        .current_dir(repo)
        .env("GITHUB_EVENT_NAME", "schedule")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_REF", "refs/tags/v3.0.0")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REPOSITORY", "octocat/Hello-World")
        .env("GITHUB_WORKSPACE", repo)
        .env("INPUT_TAGS", "type=semver,pattern={{version}}")
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn without_a_token_the_repository_labels_stay_empty_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = schedule_run(dir.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no github-token")
            && stderr.contains("title, description, url, source and licenses stay empty"),
        "{stderr}"
    );
}

#[test]
fn without_release_tags_in_the_checkout_every_version_is_the_highest_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    commit(dir.path(), "first");
    let out = schedule_run(dir.path(), &[("INPUT_GITHUB-TOKEN", "")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3.0.0\nlatest\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fetch-depth: 0"));
}

#[test]
fn context_git_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = schedule_run(dir.path(), &[("INPUT_CONTEXT", "git")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("context: \"git\" is not supported"));
}
