//! Registry credentials: docker `config.json` (`auths`, `credsStore`, `credHelpers` through
//! `docker-credential-*`), `GITHUB_TOKEN` for ghcr.io, or anonymous. Secrets never reach a
//! message or a log: [`Credential`]'s `Debug` prints no secret.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use relkit_core::actions::Env;
use relkit_core::{Error, Result};
use serde::Deserialize;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credential {
    /// No credentials.
    #[default]
    Anonymous,
    /// Username and password (or token), sent as HTTP basic auth or to the token server.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// A ready bearer token.
    Bearer(String),
    /// An OAuth2 refresh token (docker config `identitytoken`, what `az acr login` writes),
    /// exchanged at the token realm with `grant_type=refresh_token`.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// The `Authorization` header value for HTTP basic auth, if this is a basic credential.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{username}:{password}"))))
            }
            _ => None,
        }
    }

    /// The secret part, for `::add-mask::`.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Credential::Anonymous => None,
            Credential::Basic { password, .. } => Some(password),
            Credential::Bearer(token) | Credential::IdentityToken(token) => Some(token),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The credential for `registry` (host as written, e.g. `ghcr.io`, `docker.io`):
/// docker config first (credential helper, then `auths`), then `GITHUB_TOKEN` for ghcr.io, then
/// anonymous.
pub async fn lookup(registry: &str, env: &(dyn Env + Sync)) -> Result<Credential> {
    if let Some(config) = read_docker_config(env)? {
        // Docker keys Docker Hub's credentials as `https://index.docker.io/v1/`, in helpers
        // (Docker Desktop's `desktop`, osxkeychain, pass) as in `credHelpers`.
        let server = if is_docker_hub(registry) { DOCKER_HUB_KEY } else { registry };
        let helper = config.cred_helpers.get(server).or_else(|| config.cred_helpers.get(registry));
        if let Some(helper) = helper.or(config.creds_store.as_ref())
            && let Some(credential) = run_helper(helper, server, env.var("PATH")).await?
        {
            return Ok(credential);
        }
        if let Some(entry) = find_auth_entry(&config, registry) {
            return decode_entry(entry, registry);
        }
    }
    if registry == "ghcr.io"
        && let Some(token) = env.var("GITHUB_TOKEN").filter(|t| !t.is_empty())
    {
        let username =
            env.var("GITHUB_ACTOR").filter(|a| !a.is_empty()).unwrap_or_else(|| "token".to_string());
        return Ok(Credential::Basic { username, password: token });
    }
    Ok(Credential::Anonymous)
}

/// The key Docker stores Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

fn config_path(env: &(dyn Env + Sync)) -> Option<PathBuf> {
    if let Some(dir) = env.var("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    env.var("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

fn read_docker_config(env: &(dyn Env + Sync)) -> Result<Option<DockerConfig>> {
    let Some(path) = config_path(env) else { return Ok(None) };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::usage(format!(
                "{} is not a valid docker config ({e}); fix the file or set DOCKER_CONFIG",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::failed(format!("cannot read {}: {e}", path.display()))),
    }
}

/// The keys docker writes for a registry: `host`, `https://host`, `https://host/v1/`, and for
/// Docker Hub `https://index.docker.io/v1/`.
fn find_auth_entry<'a>(config: &'a DockerConfig, registry: &str) -> Option<&'a AuthEntry> {
    let hub = is_docker_hub(registry);
    config.auths.iter().find_map(|(key, entry)| {
        let host = key.trim_start_matches("https://").trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or(host);
        (host == registry || (hub && is_docker_hub(host))).then_some(entry)
    })
}

fn decode_entry(entry: &AuthEntry, registry: &str) -> Result<Credential> {
    if let Some(token) = entry.registrytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Credential::Bearer(token.clone()));
    }
    // Before `auth`: `az acr login` writes both, and the identity token is the one to use.
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Credential::IdentityToken(token.clone()));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credential::Basic { username: username.clone(), password: password.clone() });
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())))
            .ok_or_else(|| {
                Error::usage(format!(
                    "the docker config entry for {registry} has an `auth` field that is not base64 `user:password`; run docker login again"
                ))
            })?;
        return Ok(Credential::Basic { username: decoded.0, password: decoded.1 });
    }
    Ok(Credential::Anonymous)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Helpers answer the user name `<token>` for an identity token (a refresh token).
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Runs `docker-credential-<helper> get` with the registry (its docker key) on stdin. `None` when the helper
/// knows no credentials for it.
async fn run_helper(helper: &str, registry: &str, path: Option<String>) -> Result<Option<Credential>> {
    use tokio::io::AsyncWriteExt as _;
    let program = format!("docker-credential-{helper}");
    let mut command = tokio::process::Command::new(&program);
    if let Some(path) = path {
        // The environment's PATH finds the helper (the process's, unless a test gives its own).
        command.env("PATH", path);
    }
    let mut child = command
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::usage(format!(
                "docker config names credential helper `{helper}` but {program} cannot run ({e}); install it or edit the docker config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(registry.as_bytes()).await.map_err(|e| Error::failed(format!("{program}: {e}")))?;
    }
    let output = child.wait_with_output().await.map_err(|e| Error::failed(format!("{program}: {e}")))?;
    if !output.status.success() {
        // Helpers answer "credentials not found in native keychain" with a non-zero exit.
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|_| {
        Error::failed(format!("{program} get answered with something that is not credentials JSON"))
    })?;
    if answer.username == IDENTITY_TOKEN_USER {
        return Ok(Some(Credential::IdentityToken(answer.secret)));
    }
    Ok(Some(Credential::Basic { username: answer.username, password: answer.secret }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env_with_config(json: &str) -> (tempfile::TempDir, BTreeMap<String, String>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let mut env = BTreeMap::new();
        env.insert("DOCKER_CONFIG".to_string(), dir.path().display().to_string());
        (dir, env)
    }

    #[tokio::test]
    async fn auths_entries_decode_base64_user_password() {
        let auth = STANDARD.encode("alice:s3cret");
        let (_d, env) = env_with_config(&format!(r#"{{"auths":{{"https://ghcr.io":{{"auth":"{auth}"}}}}}}"#));
        let c = lookup("ghcr.io", &env).await.unwrap();
        assert_eq!(c, Credential::Basic { username: "alice".into(), password: "s3cret".into() });
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn docker_hub_keys_match_every_hub_alias() {
        let auth = STANDARD.encode("bob:pw");
        let (_d, env) =
            env_with_config(&format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#));
        assert!(matches!(lookup("docker.io", &env).await.unwrap(), Credential::Basic { .. }));
        assert_eq!(lookup("quay.io", &env).await.unwrap(), Credential::Anonymous);
    }

    #[tokio::test]
    async fn identity_tokens_win_over_auth_as_az_acr_login_writes_them() {
        let auth = STANDARD.encode("00000000-0000-0000-0000-000000000000:");
        let (_d, env) = env_with_config(&format!(
            r#"{{"auths":{{"acme.azurecr.io":{{"auth":"{auth}","identitytoken":"refresh-xyz"}}}}}}"#
        ));
        let c = lookup("acme.azurecr.io", &env).await.unwrap();
        assert_eq!(c, Credential::IdentityToken("refresh-xyz".into()));
        assert!(!format!("{c:?}").contains("refresh-xyz"));
    }

    #[tokio::test]
    async fn docker_hub_helpers_are_asked_for_the_hub_key() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-relkithub");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\nread key\n[ \"$key\" = \"{DOCKER_HUB_KEY}\" ] || exit 1\necho '{{\"Username\":\"hubuser\",\"Secret\":\"hubpw\"}}'\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let (_d, mut env) = env_with_config(r#"{"credsStore":"relkithub"}"#);
        let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
        env.insert("PATH".to_string(), path);
        let c = lookup("docker.io", &env).await.unwrap();
        assert_eq!(c, Credential::Basic { username: "hubuser".into(), password: "hubpw".into() });
        assert_eq!(lookup("quay.io", &env).await.unwrap(), Credential::Anonymous);
    }

    #[tokio::test]
    async fn github_token_serves_ghcr_only() {
        let mut env = BTreeMap::new();
        env.insert("GITHUB_TOKEN".to_string(), "ghs_x".to_string());
        env.insert("GITHUB_ACTOR".to_string(), "octo".to_string());
        assert_eq!(
            lookup("ghcr.io", &env).await.unwrap(),
            Credential::Basic { username: "octo".into(), password: "ghs_x".into() }
        );
        assert_eq!(lookup("quay.io", &env).await.unwrap(), Credential::Anonymous);
    }

    #[tokio::test]
    async fn a_missing_credential_helper_is_a_usage_error() {
        let (_d, env) = env_with_config(r#"{"credsStore":"relkit-test-absent"}"#);
        let e = lookup("ghcr.io", &env).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().contains("docker-credential-relkit-test-absent"), "{e}");
    }

    #[tokio::test]
    async fn a_malformed_auth_field_is_a_usage_error_without_the_secret() {
        let (_d, env) = env_with_config(r#"{"auths":{"ghcr.io":{"auth":"bm9jb2xvbg=="}}}"#);
        let e = lookup("ghcr.io", &env).await.unwrap_err();
        assert!(e.message().contains("ghcr.io") && !e.message().contains("bm9jb2xvbg"), "{e}");
    }
}
