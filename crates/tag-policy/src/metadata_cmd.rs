//! `tag-policy metadata`: docker/metadata-action's inputs, environment and outputs, answered by
//! relkit's rules. The I/O edge around [`crate::metadata_rules`] and [`crate::metadata_compat`].
//!
//! Reads the `INPUT_*` variables of metadata-action's inputs, the GitHub context (`GITHUB_*`
//! and the event payload), the repository's tags (to rank versions), and the repository facts
//! for the labels (the payload's `repository`, else one `GET /repos/{owner}/{repo}` with the
//! job token). Writes the step outputs, the `DOCKER_METADATA_OUTPUT_*` variables and the bake
//! definition files.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use relkit_core::actions::{self, Env, Outputs};
use relkit_core::github::{GithubContext, Secret};
use relkit_core::tagset::{Scope, TagSet};
use relkit_core::version::TagGrammar;
use relkit_core::{Error, Result};
use relkit_git::Repo;
use serde_json::Value;

use crate::metadata_compat::{self, MetadataOutputs, OutputInputs, RepoInfo};
use crate::metadata_rules::{self, Dialect, ReleaseVersion, RuleContext};

const BINARY: &str = "tag-policy";

/// Runs `tag-policy metadata` in `repo` (default `GITHUB_WORKSPACE`, else the current
/// directory); prints the tags, one per line, and under Actions writes the outputs.
pub fn run_metadata(repo: Option<&Path>, env: &dyn Env) -> Result<i32> {
    let (outputs, warnings) = compute(repo, env)?;
    for warning in &warnings {
        actions::report_warning(env, BINARY, warning);
    }
    for tag in &outputs.tags {
        println!("{tag}");
    }
    if actions::running_in_actions(env) {
        write_outputs(&outputs, env)?;
    }
    Ok(0)
}

/// Everything but the printing and writing: the outputs and the warnings.
pub fn compute(repo: Option<&Path>, env: &dyn Env) -> Result<(MetadataOutputs, Vec<String>)> {
    let github = GithubContext::from_env(env)?;
    let mut warnings = Vec::new();
    match actions::input(env, "context").as_deref() {
        None | Some("workflow") => {}
        Some(other) => {
            return Err(Error::usage(format!(
                "context: {other:?} is not supported; relkit reads the workflow context (leave context unset)"
            )));
        }
    }
    let highest_only = match actions::input(env, "highest-only").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(Error::usage(format!("highest-only: {other:?} must be true or false")));
        }
    };
    let dir = repo
        .map(Path::to_path_buf)
        .or_else(|| github.workspace.clone().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    let git = Repo::discover(&dir).ok();
    let tags = match &git {
        Some(git) => TagSet::from_refs(&TagGrammar::plain(), git.tag_refs()?),
        None => TagSet::from_names::<&str>(&TagGrammar::plain(), []),
    };

    let event_name = github.event_name.clone().unwrap_or_default();
    let mut git_ref = github.git_ref.clone().unwrap_or_default();
    if event_name.contains("pull_request_target") {
        // metadata-action names the pull request's merge ref, not the base branch.
        if let Some(number) = github.payload_number() {
            git_ref = format!("refs/pull/{number}/merge");
        }
    }
    let mut sha = github.sha.clone().unwrap_or_default();
    let pr_head = env.var("DOCKER_METADATA_PR_HEAD_SHA").is_some_and(|v| v.to_lowercase().contains("true"));
    if pr_head
        && event_name.contains("pull_request")
        && let Some(head) = github.pull_request_head_sha()
    {
        sha = head.to_owned();
    }
    let now = match env.var("SOURCE_DATE_EPOCH").filter(|s| !s.trim().is_empty()) {
        Some(epoch) => {
            epoch.trim().parse::<i64>().ok().and_then(|s| Timestamp::from_second(s).ok()).ok_or_else(
                || Error::usage(format!("SOURCE_DATE_EPOCH={epoch:?} is not a Unix time in seconds")),
            )?
        }
        None => Timestamp::now(),
    };
    let commit_time =
        github.payload_commit_time(&sha).and_then(|t| t.parse::<Timestamp>().ok()).or_else(|| {
            git.as_ref().and_then(|g| g.commit(&sha).ok()).and_then(|c| Timestamp::from_second(c.time).ok())
        });
    let short_sha_length = match env.var("DOCKER_METADATA_SHORT_SHA_LENGTH").filter(|v| !v.is_empty()) {
        Some(v) => metadata_rules::parse_short_sha_length(&v)?,
        None => metadata_rules::DEFAULT_SHORT_SHA_LENGTH,
    };

    // A version is released only by a tag ref: metadata-action reads nothing else.
    let release = git_ref.strip_prefix("refs/tags/").and_then(|tag| release_of(tag, &tags));
    if highest_only && release.is_some() && tags.is_empty() {
        warnings.push(
            "no release tags in the checkout, so every version counts as the highest; \
             check out with fetch-depth: 0 (or fetch-tags: true) to rank it"
                .to_owned(),
        );
    }
    let ctx = RuleContext {
        event_name,
        git_ref,
        sha,
        default_branch: github.default_branch().map(String::from),
        base_ref: crate::commands::event_base_ref(&github),
        pr_number: github.payload_number(),
        now,
        commit_time,
        release,
        existing_versions: tags.entries().iter().map(|e| e.version().clone()).collect(),
        short_sha_length,
        dialect: Dialect::Compatible { highest_only },
    };
    let rules = metadata_rules::parse_tags(&actions::input(env, "tags").unwrap_or_default())?;
    let flavor = metadata_rules::parse_flavor(&actions::input(env, "flavor").unwrap_or_default())?;
    let evaluation = metadata_rules::evaluate(&rules, &flavor, &ctx)?;
    warnings.extend(evaluation.warnings.iter().cloned());
    if evaluation.tags.is_empty() {
        warnings.push("No Docker image version has been generated. Check tags input.".to_owned());
        warnings.push("No Docker tag has been generated. Check tags input.".to_owned());
    }

    let repo_info = repository_info(&github, env, &mut warnings);
    let levels = env
        .var("DOCKER_METADATA_ANNOTATIONS_LEVELS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "manifest".to_owned());
    let inputs = OutputInputs {
        images: metadata_compat::images(&actions::input(env, "images").unwrap_or_default())?,
        labels: actions::input(env, "labels").unwrap_or_default(),
        annotations: actions::input(env, "annotations").unwrap_or_default(),
        annotation_levels: levels.split(',').map(String::from).collect(),
        bake_target: actions::input(env, "bake-target")
            .unwrap_or_else(|| "docker-metadata-action".to_owned()),
        created: now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    };
    let outputs = metadata_compat::outputs(&evaluation, &repo_info, &ctx, &inputs)?;
    Ok((outputs, warnings))
}

/// The release version a tag names, ranked against the repository's tags; `None` when the tag
/// is not SemVer (the semver rules then warn and yield nothing).
fn release_of(tag: &str, tags: &TagSet) -> Option<ReleaseVersion> {
    let bare = tag.strip_prefix('v').unwrap_or(tag);
    let version = semver::Version::parse(bare).ok()?;
    Some(ReleaseVersion {
        is_highest: tags.is_highest(&version, Scope::All),
        is_highest_in_major: tags.is_highest(&version, Scope::Major(version.major)),
        is_highest_in_minor: tags.is_highest(&version, Scope::Minor(version.major, version.minor)),
        version,
        tag: tag.to_owned(),
    })
}

/// The repository facts: the payload's `repository` when the event has one, else one request
/// to the REST API with the job token; without either, the labels that need them stay empty.
fn repository_info(github: &GithubContext, env: &dyn Env, warnings: &mut Vec<String>) -> RepoInfo {
    if let Some(repository) = github.payload_repository() {
        return RepoInfo::from_json(repository);
    }
    const EMPTY: &str = "org.opencontainers.image.title, description, url, source and licenses stay empty";
    let Some(repository) = github.repository.as_deref() else {
        warnings.push(format!("GITHUB_REPOSITORY is not set: {EMPTY}"));
        return RepoInfo::default();
    };
    let token = actions::input(env, "github-token").map(Secret::new).or_else(|| github.token.clone());
    let Some(token) = token else {
        warnings.push(format!("no github-token to read the repository {repository} from the API: {EMPTY}"));
        return RepoInfo::default();
    };
    if actions::running_in_actions(env) {
        eprintln!("{}", actions::add_mask(token.expose()));
    }
    match fetch_repository(&github.api_url, repository, &token) {
        Ok(value) => RepoInfo::from_json(&value),
        Err(error) => {
            warnings.push(format!("{error}: {EMPTY}"));
            RepoInfo::default()
        }
    }
}

/// `GET {api}/repos/{owner}/{repo}` with the token (one request, no retry: the labels are
/// optional).
pub fn fetch_repository(api_url: &str, repository: &str, token: &Secret) -> Result<Value> {
    let url = format!("{}/repos/{repository}", api_url.trim_end_matches('/'));
    let failed = |why: String| Error::failed(format!("cannot read the repository from {url}: {why}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .user_agent(concat!("relkit/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client
            .get(&url)
            .bearer_auth(token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let body = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| failed(format!("not JSON: {e}")))
    })
}

/// The step outputs, the `DOCKER_METADATA_OUTPUT_*` variables (unless
/// `DOCKER_METADATA_SET_OUTPUT_ENV=false`) and the bake files under `RUNNER_TEMP`.
fn write_outputs(outputs: &MetadataOutputs, env: &dyn Env) -> Result<()> {
    let separator = |name: &str| {
        env.var(&format!("INPUT_{}", name.to_uppercase()))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "\n".into())
    };
    let base = env
        .var("RUNNER_TEMP")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("relkit-metadata-")
        .tempdir_in(&base)
        .map_err(|e| Error::failed(format!("cannot create a directory in {}: {e}", base.display())))?
        .keep();
    let bake = |suffix: &str, value: Value| -> Result<String> {
        let path = dir.join(format!("docker-metadata-action-bake{suffix}.json"));
        let text = serde_json::to_string_pretty(&value).expect("serializable");
        std::fs::write(&path, text)
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(path.display().to_string())
    };
    let mut set = Outputs::new();
    set.set("version", outputs.version.clone())
        .set("tags", outputs.tags.join(&separator("sep-tags")))
        .set("tag-names", outputs.tag_names.join(&separator("sep-tags")))
        .set("labels", outputs.label_lines().join(&separator("sep-labels")))
        .set("annotations", outputs.annotations.join(&separator("sep-annotations")))
        .set("json", outputs.json().to_string())
        .set("bake-file-tags", bake("-tags", outputs.bake_tags())?)
        .set("bake-file-labels", bake("-labels", outputs.bake_labels())?)
        .set("bake-file-annotations", bake("-annotations", outputs.bake_annotations())?)
        .set("bake-file", bake("", outputs.bake_all())?);
    set.write(env)?;
    let export = env.var("DOCKER_METADATA_SET_OUTPUT_ENV").is_none_or(|v| !matches!(v.trim(), "false" | "0"));
    if let Some(path) = env.var("GITHUB_ENV").filter(|p| !p.is_empty() && export) {
        let mut variables = Outputs::new();
        for (name, value) in set.values() {
            variables.set(
                format!("DOCKER_METADATA_OUTPUT_{}", name.replace('-', "_").to_uppercase()),
                value.clone(),
            );
        }
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| file.write_all(variables.render().as_bytes()))
            .map_err(|e| Error::failed(format!("cannot append to GITHUB_ENV={path}: {e}")))?;
    }
    Ok(())
}
