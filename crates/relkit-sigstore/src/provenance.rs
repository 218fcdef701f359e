//! The SLSA v1 provenance predicate of a GitHub Actions build, with the shape and values GitHub's
//! own `attest-build-provenance` writes (so `gh attestation verify` accepts it): build type
//! `https://actions.github.io/buildtypes/workflow/v1`, the workflow as external parameters, the
//! repository and owner ids as internal ones, the commit as the resolved dependency, the job's
//! workflow as the builder and the run attempt as the invocation.

use relkit_core::actions::Env;
use relkit_core::{Error, Result};
use serde_json::{Value, json};

use crate::token::Claims;

/// The build type of GitHub Actions workflow provenance.
pub const GITHUB_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";
/// The SLSA provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// What the predicate is made of (all strings, as GitHub's token claims carry them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFacts {
    /// `https://github.com` (or the GHES server).
    pub server_url: String,
    /// `owner/repo`.
    pub repository: String,
    /// The ref the workflow ran on.
    pub git_ref: String,
    /// The commit.
    pub sha: String,
    /// The event that triggered the run.
    pub event_name: String,
    /// `owner/repo/.github/workflows/x.yml@ref` of the triggering workflow.
    pub workflow_ref: String,
    /// The same for the workflow that runs the job (a reusable workflow's own file).
    pub job_workflow_ref: String,
    /// Numeric repository id.
    pub repository_id: String,
    /// Numeric owner id.
    pub repository_owner_id: String,
    /// `github-hosted` or `self-hosted`.
    pub runner_environment: String,
    /// The run id.
    pub run_id: String,
    /// The run attempt.
    pub run_attempt: String,
}

fn claim(claims: &Claims, name: &str) -> Option<String> {
    match claims.other.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl BuildFacts {
    /// From the identity token's claims (what the Fulcio certificate also carries), filling
    /// gaps from the runner's `GITHUB_*` variables.
    pub fn gather(claims: Option<&Claims>, env: &dyn Env) -> Result<Self> {
        let pick = |claim_name: &str, env_name: &str| -> Option<String> {
            claims
                .and_then(|c| match claim_name {
                    "repository" => c.repository.clone(),
                    "ref" => c.git_ref.clone(),
                    "workflow_ref" => c.workflow_ref.clone(),
                    "job_workflow_ref" => c.job_workflow_ref.clone(),
                    other => claim(c, other),
                })
                .or_else(|| env.var(env_name))
                .filter(|v| !v.is_empty())
        };
        let need = |claim_name: &str, env_name: &str| {
            pick(claim_name, env_name).ok_or_else(|| {
                Error::usage(format!(
                    "--provenance github needs the `{claim_name}` claim or {env_name}; run it in a GitHub Actions job"
                ))
            })
        };
        let workflow_ref = need("workflow_ref", "GITHUB_WORKFLOW_REF")?;
        Ok(Self {
            server_url: env.var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            repository: need("repository", "GITHUB_REPOSITORY")?,
            git_ref: need("ref", "GITHUB_REF")?,
            sha: need("sha", "GITHUB_SHA")?,
            event_name: need("event_name", "GITHUB_EVENT_NAME")?,
            job_workflow_ref: pick("job_workflow_ref", "GITHUB_JOB_WORKFLOW_REF")
                .unwrap_or_else(|| workflow_ref.clone()),
            workflow_ref,
            repository_id: need("repository_id", "GITHUB_REPOSITORY_ID")?,
            repository_owner_id: need("repository_owner_id", "GITHUB_REPOSITORY_OWNER_ID")?,
            runner_environment: pick("runner_environment", "RUNNER_ENVIRONMENT")
                .unwrap_or_else(|| "github-hosted".into()),
            run_id: need("run_id", "GITHUB_RUN_ID")?,
            run_attempt: need("run_attempt", "GITHUB_RUN_ATTEMPT")?,
        })
    }
}

/// The predicate (pure).
pub fn github_predicate(facts: &BuildFacts) -> Value {
    let server = facts.server_url.trim_end_matches('/');
    let workflow_path =
        facts.workflow_ref.strip_prefix(&format!("{}/", facts.repository)).unwrap_or(&facts.workflow_ref);
    let workflow_path = workflow_path.split_once('@').map_or(workflow_path, |(path, _)| path);
    json!({
        "buildDefinition": {
            "buildType": GITHUB_BUILD_TYPE,
            "externalParameters": {
                "workflow": {
                    "ref": facts.git_ref,
                    "repository": format!("{server}/{}", facts.repository),
                    "path": workflow_path,
                }
            },
            "internalParameters": {
                "github": {
                    "event_name": facts.event_name,
                    "repository_id": facts.repository_id,
                    "repository_owner_id": facts.repository_owner_id,
                    "runner_environment": facts.runner_environment,
                }
            },
            "resolvedDependencies": [{
                "uri": format!("git+{server}/{}@{}", facts.repository, facts.git_ref),
                "digest": {"gitCommit": facts.sha},
            }]
        },
        "runDetails": {
            "builder": {"id": format!("{server}/{}", facts.job_workflow_ref)},
            "metadata": {
                "invocationId": format!("{server}/{}/actions/runs/{}/attempts/{}", facts.repository, facts.run_id, facts.run_attempt),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of a real attestation made by GitHub's action (a public sample), rebuilt.
    #[test]
    fn predicate_matches_githubs_shape_and_values() {
        let facts = BuildFacts {
            server_url: "https://github.com".into(),
            repository: "loosebazooka/aa-test".into(),
            git_ref: "refs/heads/main".into(),
            sha: "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f".into(),
            event_name: "workflow_dispatch".into(),
            workflow_ref: "loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main".into(),
            job_workflow_ref: "loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main".into(),
            repository_id: "891715444".into(),
            repository_owner_id: "1304826".into(),
            runner_environment: "github-hosted".into(),
            run_id: "11941425487".into(),
            run_attempt: "1".into(),
        };
        let expected: Value = serde_json::from_str(r#"{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
  "externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/loosebazooka/aa-test","path":".github/workflows/provenance.yaml"}},
  "internalParameters":{"github":{"event_name":"workflow_dispatch","repository_id":"891715444","repository_owner_id":"1304826","runner_environment":"github-hosted"}},
  "resolvedDependencies":[{"uri":"git+https://github.com/loosebazooka/aa-test@refs/heads/main","digest":{"gitCommit":"ebff8dfbd609b7b22237c7719ce07f2dc7934f5f"}}]},
 "runDetails":{"builder":{"id":"https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main"},
  "metadata":{"invocationId":"https://github.com/loosebazooka/aa-test/actions/runs/11941425487/attempts/1"}}}"#).unwrap();
        assert_eq!(github_predicate(&facts), expected);
    }

    #[test]
    fn missing_context_is_named() {
        let env = std::collections::BTreeMap::new();
        let err = BuildFacts::gather(None, &env).unwrap_err();
        assert!(err.message().contains("GITHUB_WORKFLOW_REF"), "{err}");
    }
}
