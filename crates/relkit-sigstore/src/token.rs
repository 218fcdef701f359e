//! The OIDC identity token keyless signing trades for a Fulcio certificate: from `--identity-token`,
//! `SIGSTORE_ID_TOKEN`, or the GitHub Actions token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL` with
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, audience `sigstore`). The token is a [`Secret`]: masked under
//! Actions, never printed, and refused when it has expired.

use base64::Engine as _;
use relkit_core::actions::{Env, add_mask, running_in_actions};
use relkit_core::github::Secret;
use relkit_core::{Error, Result};
use serde::Deserialize;

/// The GitHub Actions OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The claims of an identity token that signing and the output need.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// E-mail (interactive identities); Fulcio then uses it as the identity.
    #[serde(default)]
    pub email: Option<String>,
    /// GitHub: `owner/repo/.github/workflows/x.yml@ref` of the workflow that runs the job.
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    /// GitHub: the caller workflow of a reusable workflow (or the workflow itself).
    #[serde(default)]
    pub workflow_ref: Option<String>,
    /// GitHub: `owner/repo`.
    #[serde(default)]
    pub repository: Option<String>,
    /// GitHub: the git ref.
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    /// Every claim as sent, for the provenance predicate.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A bearer identity token and its decoded claims.
#[derive(Clone)]
pub struct IdentityToken {
    jwt: Secret,
    claims: Claims,
}

impl std::fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken").field("claims", &self.claims).finish_non_exhaustive()
    }
}

impl IdentityToken {
    /// Decodes a JWT (the signature is Fulcio's to check) and refuses an expired one. `source`
    /// says where it came from, for messages.
    pub fn parse(jwt: &str, source: &str) -> Result<Self> {
        let jwt = jwt.trim();
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err(Error::usage(format!(
                "the identity token from {source} is not a JWT (header.payload.signature)"
            )));
        }
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1].trim_end_matches('='))
            .map_err(|_| {
                Error::usage(format!("the identity token from {source} has a payload that is not base64url"))
            })?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|e| {
            Error::usage(format!("the identity token from {source} lacks the claims Fulcio needs ({e})"))
        })?;
        let now = jiff::Timestamp::now().as_second();
        if claims.exp <= now {
            return Err(Error::usage(format!(
                "the identity token from {source} expired {} s ago; request a fresh one (tokens live minutes)",
                now - claims.exp
            )));
        }
        Ok(Self { jwt: Secret::new(jwt), claims })
    }

    /// The decoded claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The raw JWT, for the one request that sends it.
    pub fn jwt(&self) -> &Secret {
        &self.jwt
    }

    /// The certificate identity Fulcio will issue for this token: the e-mail when there is one,
    /// `https://github.com/<job_workflow_ref>` for GitHub Actions, else the subject.
    pub fn expected_identity(&self, server_url: &str) -> String {
        if let Some(email) = &self.claims.email {
            return email.clone();
        }
        if self.claims.iss == GITHUB_ISSUER
            && let Some(job) = &self.claims.job_workflow_ref
        {
            return format!("{}/{job}", server_url.trim_end_matches('/'));
        }
        self.claims.sub.clone()
    }
}

/// Where the token comes from, first match wins: an explicit value (or a file holding it),
/// `SIGSTORE_ID_TOKEN`, then the Actions token endpoint.
pub async fn acquire(explicit: Option<&str>, env: &dyn Env, http: &reqwest::Client) -> Result<IdentityToken> {
    let token = if let Some(value) = explicit.filter(|v| !v.trim().is_empty()) {
        let path = std::path::Path::new(value.trim());
        if !value.contains('.') || path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::usage(format!("cannot read the identity token file {} ({e})", path.display()))
            })?;
            IdentityToken::parse(&text, &path.display().to_string())?
        } else {
            IdentityToken::parse(value, "--identity-token")?
        }
    } else if let Some(value) = env.var("SIGSTORE_ID_TOKEN").filter(|v| !v.trim().is_empty()) {
        IdentityToken::parse(&value, "SIGSTORE_ID_TOKEN")?
    } else if let Some(url) = env.var("ACTIONS_ID_TOKEN_REQUEST_URL").filter(|v| !v.is_empty()) {
        let request_token = env.var("ACTIONS_ID_TOKEN_REQUEST_TOKEN").unwrap_or_default();
        if running_in_actions(env) && !request_token.is_empty() {
            eprintln!("{}", add_mask(&request_token));
        }
        actions_token(&url, &Secret::new(request_token), http).await?
    } else {
        return Err(Error::usage(
            "keyless signing needs an identity token: grant `permissions: id-token: write` to the job, \
             or set SIGSTORE_ID_TOKEN, or pass --identity-token, or sign with --key",
        ));
    };
    if running_in_actions(env) {
        eprintln!("{}", add_mask(token.jwt().expose()));
    }
    Ok(token)
}

async fn actions_token(url: &str, request_token: &Secret, http: &reqwest::Client) -> Result<IdentityToken> {
    let mut endpoint = reqwest::Url::parse(url)
        .map_err(|e| Error::usage(format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL ({e})")))?;
    endpoint.query_pairs_mut().append_pair("audience", "sigstore");
    let host = endpoint.host_str().unwrap_or_default().to_string();
    let response = http
        .get(endpoint)
        .bearer_auth(request_token.expose())
        .send()
        .await
        .map_err(|e| Error::failed(format!("cannot reach the Actions token endpoint on {host} ({e})")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::failed(format!(
            "the Actions token endpoint on {host} answered {status}; the job needs `permissions: id-token: write`"
        )));
    }
    #[derive(Deserialize)]
    struct Answer {
        value: String,
    }
    let answer: Answer = response
        .json()
        .await
        .map_err(|e| Error::failed(format!("the Actions token endpoint on {host} sent no token ({e})")))?;
    IdentityToken::parse(&answer.value, "the Actions token endpoint")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An unsigned JWT with these claims (the signature is not checked client-side).
    pub fn jwt(claims: serde_json::Value) -> String {
        let e = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.{}", e(br#"{"alg":"RS256","typ":"JWT"}"#), e(claims.to_string().as_bytes()), e(b"sig"))
    }

    fn future() -> i64 {
        jiff::Timestamp::now().as_second() + 600
    }

    #[test]
    fn github_tokens_name_the_job_workflow() {
        let raw = jwt(serde_json::json!({
                "iss": GITHUB_ISSUER, "sub": "repo:acme/app:ref:refs/tags/v1", "exp": future(),
                "job_workflow_ref": "acme/shared/.github/workflows/release.yml@refs/heads/main",
                "workflow_ref": "acme/app/.github/workflows/ci.yml@refs/tags/v1"
        }));
        let token = IdentityToken::parse(&raw, "test").unwrap();
        assert_eq!(
            token.expected_identity("https://github.com"),
            "https://github.com/acme/shared/.github/workflows/release.yml@refs/heads/main"
        );
        assert!(!format!("{token:?}").contains(&raw), "Debug must not show the JWT");
    }

    #[test]
    fn expired_and_malformed_tokens_are_refused() {
        let expired = jwt(serde_json::json!({"iss": "i", "sub": "s", "exp": 1}));
        assert!(IdentityToken::parse(&expired, "t").unwrap_err().message().contains("expired"));
        assert!(IdentityToken::parse("abc", "t").unwrap_err().message().contains("not a JWT"));
        let no_exp = jwt(serde_json::json!({"iss": "i", "sub": "s"}));
        assert!(IdentityToken::parse(&no_exp, "t").unwrap_err().message().contains("exp"));
    }
}
