//! Signer setup shared by the binaries that sign (`sign`, `sbom-attach`): credentials, trust,
//! the verifier for read-back checks and the policy matching the run's own signatures.

use std::path::{Path, PathBuf};

use relkit_core::actions::Env;
use relkit_core::verification::SignatureInput;
use relkit_core::{Error, Result};

use crate::image::SignerSource;
use crate::keys::PrivateKey;
use crate::keys::public_key_from_pem;
use crate::policy::{GithubIdentity, IdentityMatch, Policy};
use crate::signer::SigningSession;
use crate::token::{self, IdentityToken};
use crate::trust;
use crate::verify::BundleVerifier;

/// Which Sigstore instance to trust and sign with.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// `trusted_root.json` of a private instance.
    pub trusted_root: Option<PathBuf>,
    /// `signing_config.json` (v0.2) of a private instance.
    pub signing_config: Option<PathBuf>,
}

/// How to sign: keyless (the default) or with a key.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// A cosign key file or PKCS#8 PEM (password from `COSIGN_PASSWORD`).
    pub key: Option<PathBuf>,
    /// An identity token, or a file holding one.
    pub identity_token: Option<String>,
    /// Log key-based signatures in Rekor (keyless ones always are).
    pub tlog_upload: bool,
    /// The Sigstore instance.
    pub trust: TrustOptions,
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {what} {} ({e})", path.display())))
}

/// The GitHub server of the run (`GITHUB_SERVER_URL`, default `https://github.com`).
pub fn server_url(env: &dyn Env) -> String {
    env.var("GITHUB_SERVER_URL").filter(|s| !s.is_empty()).unwrap_or_else(|| "https://github.com".into())
}

/// The trust a signing run needs: none from the network for key signatures kept out of the log.
async fn load_trust(key: &KeyOptions) -> Result<trust::Trust> {
    let offline = key.key.is_some() && !key.tlog_upload;
    trust::load(key.trust.trusted_root.as_deref(), key.trust.signing_config.as_deref(), offline).await
}

/// The signer of a run and who it signs as.
pub struct Signing {
    /// Signs, opening its session on first use.
    pub source: SignerSource,
    /// The policy the run's own signatures must meet.
    pub policy: Policy,
    /// The identity token (keyless).
    pub token: Option<IdentityToken>,
    /// Where verifiers find the public key (key-based): the file the reports' commands name.
    pub public_key_path: Option<String>,
    /// Whether signatures are logged (and read-back checks require it).
    pub tlog: bool,
    /// Checks what was written.
    pub verifier: BundleVerifier,
}

/// Credentials first (a missing token or a wrong password fails before any network request),
/// then trust, verifier and policy.
pub async fn signing(options: &KeyOptions, env: &dyn Env, http: &reqwest::Client) -> Result<Signing> {
    // Credentials first: a missing token or a wrong password fails before any network request.
    let key = match &options.key {
        Some(path) => {
            let password = env.var("COSIGN_PASSWORD");
            let text = read_text(path, "the key")?;
            Some((
                PrivateKey::from_pem(&text, password.as_deref(), &path.display().to_string())?,
                path.clone(),
            ))
        }
        None => None,
    };
    let token = match key {
        Some(_) => None,
        None => Some(token::acquire(options.identity_token.as_deref(), env, http).await?),
    };
    let trust = load_trust(options).await?;
    let verifier = BundleVerifier::new(&trust.trusted_root)?;
    if let Some((key, path)) = key {
        let public_key_path = Some(published_public_key(&key, &path));
        let policy = Policy::Key(key.public_key.clone());
        let tlog = options.tlog_upload && trust.services.rekor.is_some();
        let session = SigningSession::with_key(key, &trust.services, options.tlog_upload, http)?;
        return Ok(Signing {
            source: SignerSource::key(session),
            policy,
            token: None,
            public_key_path,
            tlog,
            verifier,
        });
    }
    let token = token.expect("keyless has a token");
    let policy = Policy::Identity {
        identity: IdentityMatch::Exact(token.expected_identity(&server_url(env))),
        issuer: token.claims().iss.clone(),
    };
    let source = SignerSource::keyless(token.clone(), trust.services.clone(), http.clone());
    Ok(Signing { source, policy, token: Some(token), public_key_path: None, tlog: true, verifier })
}

/// The public key file verifiers are told to use: `KEY.pub` next to the key when it holds this
/// key's public half (what `generate-key-pair` writes), otherwise `cosign.pub`, with a warning
/// that the commands name a file the user must publish.
fn published_public_key(key: &PrivateKey, path: &Path) -> String {
    let sibling = path.with_extension("pub");
    let matches = std::fs::read_to_string(&sibling)
        .ok()
        .and_then(|text| crate::keys::public_key_from_pem(&text, "").ok())
        .is_some_and(|public| public == key.public_key);
    if matches {
        return sibling.display().to_string();
    }
    eprintln!(
        "sign: warning: {} is not the public key of {}; the verification commands name cosign.pub: publish the public key under that name (sign generate-key-pair writes both)",
        sibling.display(),
        path.display()
    );
    "cosign.pub".to_string()
}

impl Signing {
    /// The signer's identity for reports: the certificate's when one was issued.
    pub fn signature_input(&self) -> SignatureInput {
        match (&self.policy, &self.public_key_path) {
            (_, Some(path)) => SignatureInput { key: Some(path.clone()), ..Default::default() },
            (Policy::Identity { identity: IdentityMatch::Exact(id), issuer }, _) => SignatureInput {
                certificate_identity: Some(id.clone()),
                certificate_oidc_issuer: Some(issuer.clone()),
                ..Default::default()
            },
            _ => SignatureInput::default(),
        }
    }
}

/// Who must have signed, from the verify flags.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    /// `--certificate-identity`.
    pub identity: Option<String>,
    /// `--certificate-identity-regexp` (always anchored).
    pub identity_regexp: Option<String>,
    /// `--certificate-oidc-issuer`.
    pub issuer: Option<String>,
    /// `--github-repo owner/repo`.
    pub github_repo: Option<String>,
    /// `--workflow .github/workflows/x.yml`.
    pub workflow: Option<String>,
    /// `--ref refs/tags/v*`.
    pub git_ref: Option<String>,
    /// `--key cosign.pub`.
    pub key: Option<PathBuf>,
    /// `--insecure-ignore-tlog`: accept key signatures without a log entry.
    pub ignore_tlog: bool,
}

impl PolicyOptions {
    /// True when verification needs nothing from the network (a key, no log).
    pub fn offline(&self) -> bool {
        self.key.is_some() && self.ignore_tlog
    }

    /// The policy, or a usage error naming the flags to give.
    pub fn policy(&self, env: &dyn Env) -> Result<Policy> {
        if let Some(path) = &self.key {
            return Ok(Policy::Key(public_key_from_pem(
                &read_text(path, "the public key")?,
                &path.display().to_string(),
            )?));
        }
        if let Some(repo) = &self.github_repo {
            if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
                return Err(Error::usage(format!("--github-repo `{repo}` is not owner/repo")));
            }
            return Ok(Policy::Github(GithubIdentity {
                repo: repo.clone(),
                workflow: self.workflow.clone(),
                git_ref: self.git_ref.clone(),
                server_url: server_url(env),
            }));
        }
        let identity = match (&self.identity, &self.identity_regexp) {
            (Some(id), None) => IdentityMatch::Exact(id.clone()),
            (None, Some(re)) => IdentityMatch::regex(re)?,
            (Some(_), Some(_)) => {
                return Err(Error::usage(
                    "give --certificate-identity or --certificate-identity-regexp, not both",
                ));
            }
            (None, None) => {
                return Err(Error::usage(
                    "say who must have signed: --github-repo owner/repo, --certificate-identity[-regexp] with --certificate-oidc-issuer, or --key",
                ));
            }
        };
        let issuer = self.issuer.clone().ok_or_else(|| {
            Error::usage("--certificate-oidc-issuer is required with a certificate identity")
        })?;
        Ok(Policy::Identity { identity, issuer })
    }
}

/// The policy of the verify flags and a verifier for the trusted root (none fetched for a key
/// without the log).
pub async fn verification(
    policy: &PolicyOptions,
    trust_options: &TrustOptions,
    env: &dyn Env,
) -> Result<(Policy, BundleVerifier)> {
    let rule = policy.policy(env)?;
    let trust = trust::load(trust_options.trusted_root.as_deref(), None, policy.offline()).await?;
    Ok((rule, BundleVerifier::new(&trust.trusted_root)?))
}

impl PolicyOptions {
    /// True when any signer flag was given (`sbom-attach verify` then checks attestations).
    pub fn is_set(&self) -> bool {
        self.identity.is_some()
            || self.identity_regexp.is_some()
            || self.issuer.is_some()
            || self.github_repo.is_some()
            || self.key.is_some()
    }
}

/// True when a run can sign without asking: a key, an explicit token, `SIGSTORE_ID_TOKEN`, or
/// the Actions token endpoint (`permissions: id-token: write`).
pub fn can_sign(options: &KeyOptions, env: &dyn Env) -> bool {
    let set = |name: &str| env.var(name).is_some_and(|v| !v.trim().is_empty());
    options.key.is_some()
        || options.identity_token.as_deref().is_some_and(|t| !t.trim().is_empty())
        || set("SIGSTORE_ID_TOKEN")
        || set("ACTIONS_ID_TOKEN_REQUEST_URL")
}

/// The HTTP client the Sigstore clients and the token request share, naming the binary.
pub fn http_client(user_agent: &str) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .build()
        .map_err(|e| Error::failed(format!("cannot build the HTTP client: {e}")))
}

/// The current time as `created` of new referrers (RFC 3339 UTC, whole seconds).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    #[test]
    fn signing_is_possible_with_a_key_or_a_token_source() {
        let empty = MapEnv(HashMap::new());
        let keyless = KeyOptions::default();
        assert!(!can_sign(&keyless, &empty));
        let key = KeyOptions { key: Some("cosign.key".into()), ..Default::default() };
        assert!(can_sign(&key, &empty));
        let token = KeyOptions { identity_token: Some("a.b.c".into()), ..Default::default() };
        assert!(can_sign(&token, &empty));
        for name in ["SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL"] {
            assert!(can_sign(&keyless, &MapEnv(HashMap::from([(name, "x")]))), "{name}");
            assert!(!can_sign(&keyless, &MapEnv(HashMap::from([(name, " ")]))), "{name} blank");
        }
    }
}

/// The verify flags `sign verify` and `sbom-attach verify` share: who must have signed, and the
/// trusted root.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The exact certificate identity (SAN).
    #[arg(long)]
    pub certificate_identity: Option<String>,
    /// A regular expression the whole identity must match (always anchored).
    #[arg(long)]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer, e.g. https://token.actions.githubusercontent.com.
    #[arg(long)]
    pub certificate_oidc_issuer: Option<String>,
    /// Signed by a GitHub Actions workflow of this repository (owner/repo).
    #[arg(long)]
    pub github_repo: Option<String>,
    /// With --github-repo: the workflow that ran (the caller of a reusable workflow).
    #[arg(long, requires = "github_repo")]
    pub workflow: Option<String>,
    /// With --github-repo: the ref, or a glob such as refs/tags/v*.
    #[arg(long = "ref", requires = "github_repo")]
    pub git_ref: Option<String>,
    /// Verify with this public key (cosign.pub).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Accept key-based signatures that are not in the transparency log.
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// trusted_root.json of a private Sigstore instance (offline verification).
    #[arg(long, env = "RELKIT_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
}

impl PolicyArgs {
    /// The parsed policy and trust options.
    pub fn options(&self) -> (PolicyOptions, TrustOptions) {
        (
            PolicyOptions {
                identity: self.certificate_identity.clone(),
                identity_regexp: self.certificate_identity_regexp.clone(),
                issuer: self.certificate_oidc_issuer.clone(),
                github_repo: self.github_repo.clone(),
                workflow: self.workflow.clone(),
                git_ref: self.git_ref.clone(),
                key: self.key.clone(),
                ignore_tlog: self.insecure_ignore_tlog,
            },
            TrustOptions { trusted_root: self.trusted_root.clone(), signing_config: None },
        )
    }
}
