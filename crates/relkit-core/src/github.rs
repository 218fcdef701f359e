//! The GitHub Actions context: `GITHUB_*` variables and the event payload (`GITHUB_EVENT_PATH`).

use std::fmt;

use serde_json::Value;

use crate::actions::Env;
use crate::error::{Error, Result};

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the runner tells a step about the run.
#[derive(Debug, Clone, Default)]
pub struct GithubContext {
    /// `GITHUB_EVENT_NAME`, e.g. `push`, `release`, `workflow_dispatch`.
    pub event_name: Option<String>,
    /// `GITHUB_REF`, e.g. `refs/tags/v1.2.3`.
    pub git_ref: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_REPOSITORY`, `owner/name`.
    pub repository: Option<String>,
    /// `GITHUB_SERVER_URL` (default `https://github.com`).
    pub server_url: String,
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub api_url: String,
    /// `GITHUB_GRAPHQL_URL` (default `https://api.github.com/graphql`).
    pub graphql_url: String,
    /// `GITHUB_HEAD_REF` (pull requests).
    pub head_ref: Option<String>,
    /// `GITHUB_BASE_REF` (pull requests).
    pub base_ref: Option<String>,
    /// `GITHUB_WORKSPACE`.
    pub workspace: Option<String>,
    /// `GITHUB_TOKEN`, when the workflow passes it to the step.
    pub token: Option<Secret>,
    /// The parsed event payload; `Value::Null` when there is none.
    pub event: Value,
    /// `GITHUB_ACTIONS=true`: running as a workflow step (CI), not on a laptop.
    pub in_actions: bool,
}

fn non_empty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}

impl GithubContext {
    /// Reads the context from the environment. A payload file that cannot be read or is not a
    /// JSON object is an error (exit 2) naming the file.
    pub fn from_env(env: &dyn Env) -> Result<Self> {
        let event = match non_empty(env, "GITHUB_EVENT_PATH") {
            Some(path) => read_event(&path)?,
            None => Value::Null,
        };
        Ok(Self {
            event_name: non_empty(env, "GITHUB_EVENT_NAME"),
            git_ref: non_empty(env, "GITHUB_REF"),
            sha: non_empty(env, "GITHUB_SHA"),
            repository: non_empty(env, "GITHUB_REPOSITORY"),
            server_url: non_empty(env, "GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            api_url: non_empty(env, "GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            graphql_url: non_empty(env, "GITHUB_GRAPHQL_URL")
                .unwrap_or_else(|| "https://api.github.com/graphql".into()),
            head_ref: non_empty(env, "GITHUB_HEAD_REF"),
            base_ref: non_empty(env, "GITHUB_BASE_REF"),
            workspace: non_empty(env, "GITHUB_WORKSPACE"),
            token: non_empty(env, "GITHUB_TOKEN").map(Secret::new),
            event,
            in_actions: env.var("GITHUB_ACTIONS").as_deref() == Some("true"),
        })
    }

    /// True for this event name.
    pub fn is_event(&self, name: &str) -> bool {
        self.event_name.as_deref() == Some(name)
    }

    /// `release.tag_name` of a `release` event.
    pub fn release_tag(&self) -> Option<&str> {
        if !self.is_event("release") {
            return None;
        }
        self.event.pointer("/release/tag_name").and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// An input of a `workflow_dispatch` (or `workflow_call`) event payload.
    pub fn dispatch_input(&self, name: &str) -> Option<String> {
        if !(self.is_event("workflow_dispatch") || self.is_event("workflow_call")) {
            return None;
        }
        match self.event.get("inputs")?.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    }

    /// The tag name when `GITHUB_REF` is `refs/tags/NAME`.
    pub fn tag_from_ref(&self) -> Option<&str> {
        self.git_ref.as_deref()?.strip_prefix("refs/tags/")
    }

    /// The branch name when `GITHUB_REF` is `refs/heads/NAME`.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.as_deref()?.strip_prefix("refs/heads/")
    }

    /// The pull request number of a `pull_request*` event.
    pub fn pull_request_number(&self) -> Option<u64> {
        self.event.pointer("/pull_request/number").and_then(Value::as_u64)
    }

    /// `number` of a `pull_request*` event payload (the number the merge ref is named after).
    pub fn payload_number(&self) -> Option<u64> {
        self.event.get("number").and_then(Value::as_u64).or_else(|| self.pull_request_number())
    }

    /// `pull_request.head.sha` of a `pull_request*` event payload.
    pub fn pull_request_head_sha(&self) -> Option<&str> {
        self.event.pointer("/pull_request/head/sha").and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// `pull_request.base.ref` of a `pull_request*` event payload.
    pub fn pull_request_base_ref(&self) -> Option<&str> {
        self.event.pointer("/pull_request/base/ref").and_then(Value::as_str)
    }

    /// `base_ref` of a push payload (on a tag push: the branch the tagged commit is on, when
    /// GitHub knows it).
    pub fn payload_base_ref(&self) -> Option<&str> {
        self.event.get("base_ref").and_then(Value::as_str)
    }

    /// The commit time of `sha` as the payload gives it (`commits[].timestamp` of a branch push,
    /// `head_commit.timestamp`), RFC 3339.
    pub fn payload_commit_time(&self, sha: &str) -> Option<&str> {
        fn time_of<'a>(commit: &'a Value, sha: &str) -> Option<&'a str> {
            let id = commit.get("id").and_then(Value::as_str)?;
            (id == sha).then(|| commit.get("timestamp").and_then(Value::as_str)).flatten()
        }
        let commits = self.event.get("commits").and_then(Value::as_array);
        commits
            .and_then(|list| list.iter().find_map(|c| time_of(c, sha)))
            .or_else(|| self.event.get("head_commit").and_then(|c| time_of(c, sha)))
    }

    /// The payload's `repository` object, when the event has one (`schedule` has none).
    pub fn payload_repository(&self) -> Option<&Value> {
        self.event.get("repository").filter(|r| r.is_object())
    }

    /// `repository.default_branch` from the payload.
    pub fn default_branch(&self) -> Option<&str> {
        self.event.pointer("/repository/default_branch").and_then(Value::as_str)
    }

    /// `repository.description` from the payload.
    pub fn repository_description(&self) -> Option<&str> {
        self.event.pointer("/repository/description").and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// `repository.license.spdx_id` from the payload (GitHub's `NOASSERTION` counts as none).
    pub fn repository_license(&self) -> Option<&str> {
        self.event
            .pointer("/repository/license/spdx_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "NOASSERTION")
    }

    /// The web URL of the repository, `SERVER/owner/name`.
    pub fn repository_url(&self) -> Option<String> {
        self.repository.as_ref().map(|r| format!("{}/{r}", self.server_url.trim_end_matches('/')))
    }
}

fn read_event(path: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the event payload GITHUB_EVENT_PATH={path}: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "malformed event payload GITHUB_EVENT_PATH={path}: {e}; expected the JSON object the runner writes"
        ))
    })?;
    if !value.is_object() {
        return Err(Error::usage(format!(
            "malformed event payload GITHUB_EVENT_PATH={path}: not a JSON object"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx(pairs: &[(&str, &str)], event: Option<&str>) -> Result<GithubContext> {
        let dir = tempfile::tempdir().unwrap();
        let mut env: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(body) = event {
            let path = dir.path().join("event.json");
            std::fs::write(&path, body).unwrap();
            env.insert("GITHUB_EVENT_PATH".into(), path.to_str().unwrap().into());
        }
        GithubContext::from_env(&env)
    }

    #[test]
    fn release_event() {
        let c = ctx(
            &[("GITHUB_EVENT_NAME", "release"), ("GITHUB_REPOSITORY", "Org/Repo")],
            Some(r#"{"release":{"tag_name":"v1.2.3"},"repository":{"default_branch":"trunk","license":{"spdx_id":"MIT"}}}"#),
        )
        .unwrap();
        assert_eq!(c.release_tag(), Some("v1.2.3"));
        assert_eq!(c.default_branch(), Some("trunk"));
        assert_eq!(c.repository_license(), Some("MIT"));
        assert_eq!(c.repository_url().as_deref(), Some("https://github.com/Org/Repo"));
    }

    #[test]
    fn dispatch_inputs_and_refs() {
        let c = ctx(
            &[("GITHUB_EVENT_NAME", "workflow_dispatch"), ("GITHUB_REF", "refs/heads/main")],
            Some(r#"{"inputs":{"version":" v2.0.0 ","empty":""}}"#),
        )
        .unwrap();
        assert_eq!(c.dispatch_input("version").as_deref(), Some("v2.0.0"));
        assert_eq!(c.dispatch_input("empty"), None);
        assert_eq!(c.branch(), Some("main"));
        assert_eq!(c.tag_from_ref(), None);
        assert_eq!(c.release_tag(), None);
    }

    #[test]
    fn malformed_payloads_are_usage_errors() {
        for body in ["{not json", "[1,2]", ""] {
            let err = ctx(&[], Some(body)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{body}");
            assert!(err.message().contains("GITHUB_EVENT_PATH"), "{err}");
        }
        let err = GithubContext::from_env(&BTreeMap::from([(
            "GITHUB_EVENT_PATH".to_string(),
            "/nonexistent/event.json".to_string(),
        )]))
        .unwrap_err();
        assert!(err.message().contains("cannot read"));
    }

    #[test]
    fn tokens_are_never_shown() {
        let c = ctx(&[("GITHUB_TOKEN", "ghs_supersecret")], None).unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
        assert_eq!(c.token.unwrap().expose(), "ghs_supersecret");
    }
}
