//! Who a signature must come from, as pure data and pure checks: an exact identity, an identity
//! regular expression (always anchored: `acme/app` never matches `acme/app-evil`), a GitHub
//! repository preset that reads Fulcio's build extensions, or a public key.

use regex::Regex;
use relkit_core::{Error, Result};
use sigstore_types::DerPublicKey;

use crate::token::GITHUB_ISSUER;

/// How the certificate identity (SAN) must look.
#[derive(Debug, Clone)]
pub enum IdentityMatch {
    /// Exactly this identity.
    Exact(String),
    /// A full match of this expression (the source as given, and the anchored form).
    Regex(String, Regex),
}

impl IdentityMatch {
    /// An anchored regular expression: `^(?:RE)$`.
    pub fn regex(source: &str) -> Result<Self> {
        let anchored = format!("^(?:{source})$");
        let regex = Regex::new(&anchored).map_err(|e| {
            Error::usage(format!(
                "--certificate-identity-regexp `{source}` is not a valid regular expression ({e})"
            ))
        })?;
        Ok(Self::Regex(source.to_string(), regex))
    }

    fn matches(&self, identity: &str) -> bool {
        match self {
            Self::Exact(expected) => identity == expected,
            Self::Regex(_, regex) => regex.is_match(identity),
        }
    }
}

impl std::fmt::Display for IdentityMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "`{s}`"),
            Self::Regex(s, _) => write!(f, "the full match of `{s}`"),
        }
    }
}

/// The GitHub preset: a workflow of `repo` (optionally a given file, optionally refs matching a
/// glob) signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubIdentity {
    /// `owner/repo`.
    pub repo: String,
    /// `.github/workflows/release.yml`: the workflow that ran (the caller of a reusable one).
    pub workflow: Option<String>,
    /// A ref or a glob (`refs/tags/v*`), matched against the certificate's source ref.
    pub git_ref: Option<String>,
    /// `https://github.com` or a GHES server URL.
    pub server_url: String,
}

/// What a signature must satisfy.
#[derive(Debug, Clone)]
pub enum Policy {
    /// Keyless: identity and issuer.
    Identity {
        /// The SAN rule.
        identity: IdentityMatch,
        /// The OIDC issuer, exactly.
        issuer: String,
    },
    /// Keyless from a GitHub Actions workflow of a repository.
    Github(GithubIdentity),
    /// Signed with this key.
    Key(DerPublicKey),
}

/// What a policy reads from a verified Fulcio certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The SAN (URI or e-mail).
    pub identity: String,
    /// The OIDC issuer extension.
    pub issuer: String,
    /// `.1.12` Source Repository URI.
    pub source_repository_uri: Option<String>,
    /// `.1.14` Source Repository Ref.
    pub source_repository_ref: Option<String>,
    /// `.1.18` Build Config URI (the workflow that ran).
    pub build_config_uri: Option<String>,
}

impl From<&sigstore_crypto::CertificateInfo> for CertificateFacts {
    fn from(cert: &sigstore_crypto::CertificateInfo) -> Self {
        Self {
            identity: cert.identity.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
            issuer: cert.issuer.clone().unwrap_or_default(),
            source_repository_uri: cert.ci_claims.source_repository_uri.clone(),
            source_repository_ref: cert.ci_claims.source_repository_ref.clone(),
            build_config_uri: cert.ci_claims.build_config_uri.clone(),
        }
    }
}

/// `*` matches any run of characters (including `/`), everything else literally.
fn glob_matches(glob: &str, value: &str) -> bool {
    let pattern = format!("^{}$", glob.split('*').map(regex::escape).collect::<Vec<_>>().join(".*"));
    Regex::new(&pattern).is_ok_and(|r| r.is_match(value))
}

impl Policy {
    /// The issuer a keyless policy requires.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Policy::Identity { issuer, .. } => Some(issuer),
            Policy::Github(_) => Some(GITHUB_ISSUER),
            Policy::Key(_) => None,
        }
    }

    /// Checks a verified certificate against the policy; the error names the failed check and
    /// what was found.
    pub fn check_certificate(&self, cert: &CertificateFacts) -> Result<()> {
        let (san, issuer) = (&cert.identity, &cert.issuer);
        if let Some(expected) = self.issuer()
            && issuer != expected
        {
            return Err(Error::failed(format!(
                "issuer check failed: the certificate was issued for `{issuer}`, not `{expected}`"
            )));
        }
        match self {
            Policy::Identity { identity, .. } => {
                if !identity.matches(san) {
                    return Err(Error::failed(format!(
                        "identity check failed: the certificate identity `{san}` is not {identity}"
                    )));
                }
                Ok(())
            }
            Policy::Github(github) => check_github(github, cert),
            Policy::Key(_) => Err(Error::failed(
                "key check failed: the signature carries a certificate, not a key signature",
            )),
        }
    }
}

fn check_github(github: &GithubIdentity, cert: &CertificateFacts) -> Result<()> {
    let server = github.server_url.trim_end_matches('/');
    let repo_uri = format!("{server}/{}", github.repo);
    let fail = |what: String| Err(Error::failed(format!("identity check failed: {what}")));
    // The repository the build ran from: the Source Repository URI extension, else the SAN.
    let (source_repo, config_uri) = match (&cert.source_repository_uri, &cert.build_config_uri) {
        (Some(repo), Some(config)) => (repo.clone(), config.clone()),
        _ => (repo_uri.clone(), cert.identity.clone()),
    };
    if !source_repo.eq_ignore_ascii_case(&repo_uri) {
        return fail(format!("the build ran in `{source_repo}`, not `{repo_uri}`"));
    }
    // The workflow that ran, `<repo>/<path>@<ref>`: for a reusable workflow the Build Config URI
    // names the caller (this repository's workflow) and the SAN the called one.
    let Some(rest) = config_uri
        .get(..repo_uri.len())
        .filter(|p| p.eq_ignore_ascii_case(&repo_uri))
        .and_then(|_| config_uri[repo_uri.len()..].strip_prefix('/'))
    else {
        return fail(format!("the workflow `{config_uri}` is not in `{repo_uri}`"));
    };
    let (path, config_ref) = rest.rsplit_once('@').unwrap_or((rest, ""));
    if !path.starts_with(".github/workflows/") {
        return fail(format!("`{config_uri}` is not a GitHub Actions workflow"));
    }
    if let Some(workflow) = &github.workflow
        && path != workflow.trim_start_matches("./")
    {
        return fail(format!("the signing workflow is `{path}`, not `{workflow}`"));
    }
    if let Some(wanted) = &github.git_ref {
        let actual = cert.source_repository_ref.clone().unwrap_or_else(|| config_ref.to_string());
        if !glob_matches(wanted, &actual) {
            return fail(format!("the build ran on `{actual}`, which does not match `{wanted}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(san: &str, issuer: &str, claims: CertificateFacts) -> CertificateFacts {
        CertificateFacts { identity: san.into(), issuer: issuer.into(), ..claims }
    }

    fn gh(repo: &str, workflow: Option<&str>, git_ref: Option<&str>) -> Policy {
        Policy::Github(GithubIdentity {
            repo: repo.into(),
            workflow: workflow.map(Into::into),
            git_ref: git_ref.map(Into::into),
            server_url: "https://github.com".into(),
        })
    }

    const SAN: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0";

    #[test]
    fn regexes_are_anchored_so_lookalike_repositories_fail() {
        let policy = Policy::Identity {
            identity: IdentityMatch::regex("https://github.com/acme/app/.*").unwrap(),
            issuer: GITHUB_ISSUER.into(),
        };
        assert!(policy.check_certificate(&cert(SAN, GITHUB_ISSUER, CertificateFacts::default())).is_ok());
        let evil = "https://github.com/acme/app-evil/.github/workflows/release.yml@refs/tags/v1.2.0";
        let prefixed = format!("https://evil.example/?{SAN}");
        for bad in [evil, prefixed.as_str()] {
            let err =
                policy.check_certificate(&cert(bad, GITHUB_ISSUER, CertificateFacts::default())).unwrap_err();
            assert!(err.message().starts_with("identity check failed"), "{err}");
        }
        let unanchored = Policy::Identity {
            identity: IdentityMatch::regex("acme/app").unwrap(),
            issuer: GITHUB_ISSUER.into(),
        };
        assert!(
            unanchored.check_certificate(&cert(SAN, GITHUB_ISSUER, CertificateFacts::default())).is_err()
        );
    }

    #[test]
    fn wrong_issuer_is_named() {
        let policy =
            Policy::Identity { identity: IdentityMatch::Exact(SAN.into()), issuer: GITHUB_ISSUER.into() };
        let err = policy
            .check_certificate(&cert(SAN, "https://accounts.google.com", CertificateFacts::default()))
            .unwrap_err();
        assert!(err.message().starts_with("issuer check failed"), "{err}");
    }

    /// (SAN, Build Config URI, source repo, source ref, policy) → accepted?
    #[test]
    fn github_preset_table() {
        let reusable_san = "https://github.com/acme/shared/.github/workflows/build.yml@refs/heads/main";
        let caller = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0";
        let claims = |config: &str, repo: &str, git_ref: &str| CertificateFacts {
            build_config_uri: Some(config.into()),
            source_repository_uri: Some(repo.into()),
            source_repository_ref: Some(git_ref.into()),
            ..CertificateFacts::default()
        };
        let app = "https://github.com/acme/app";
        let cases: Vec<(&str, CertificateFacts, Policy, bool)> = vec![
            (SAN, claims(caller, app, "refs/tags/v1.2.0"), gh("acme/app", None, None), true),
            (
                SAN,
                claims(caller, app, "refs/tags/v1.2.0"),
                gh("acme/app", Some(".github/workflows/release.yml"), Some("refs/tags/v*")),
                true,
            ),
            (
                SAN,
                claims(caller, app, "refs/tags/v1.2.0"),
                gh("acme/app", Some(".github/workflows/ci.yml"), None),
                false,
            ),
            (SAN, claims(caller, app, "refs/heads/main"), gh("acme/app", None, Some("refs/tags/v*")), false),
            (
                reusable_san,
                claims(caller, app, "refs/tags/v1.2.0"),
                gh("acme/app", Some(".github/workflows/release.yml"), None),
                true,
            ),
            (
                SAN,
                claims(caller, "https://github.com/acme/app-evil", "refs/tags/v1.2.0"),
                gh("acme/app", None, None),
                false,
            ),
            (
                SAN,
                claims(
                    "https://github.com/acme/app-evil/.github/workflows/release.yml@refs/tags/v1",
                    app,
                    "refs/tags/v1",
                ),
                gh("acme/app", None, None),
                false,
            ),
            // Without the build extensions, the SAN decides.
            (
                SAN,
                CertificateFacts::default(),
                gh("acme/app", Some(".github/workflows/release.yml"), Some("refs/tags/v*")),
                true,
            ),
            (
                "https://github.com/acme/app-evil/.github/workflows/release.yml@refs/tags/v1",
                CertificateFacts::default(),
                gh("acme/app", None, None),
                false,
            ),
        ];
        for (i, (san, claims, policy, ok)) in cases.into_iter().enumerate() {
            let result = policy.check_certificate(&cert(san, GITHUB_ISSUER, claims));
            assert_eq!(result.is_ok(), ok, "case {i}: {result:?}");
        }
    }

    #[test]
    fn globs_match_whole_refs() {
        assert!(glob_matches("refs/tags/v*", "refs/tags/v1.2.3"));
        assert!(!glob_matches("refs/tags/v*", "refs/heads/refs/tags/v1"));
        assert!(glob_matches("refs/heads/main", "refs/heads/main"));
        assert!(!glob_matches("refs/heads/main", "refs/heads/main2"));
    }
}
