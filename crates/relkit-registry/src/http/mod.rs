//! A registry over HTTP(S), on the process's one reqwest client (or its own, with its own
//! certificates), speaking the distribution API directly because commands need what client
//! libraries hide: response headers (`Retry-After`, `ETag`, `Link`, `Docker-Content-Digest`),
//! conditional PUTs, DELETE, mounts that accept a 202, and streamed blobs. Split along its
//! seams: [`transport`] (sending, retries, reading, errors), [`authorization`] (challenge,
//! credentials, tokens, who may see them), [`blobs`], [`manifests`], [`tags`] (tag and
//! referrer lists). This module holds the options, the handle and the [`Registry`] methods.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use bytes::Bytes;
use relkit_core::actions::{Env, ProcessEnv};
use relkit_core::{Error, Result};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::sync::OnceCell;
use url::Url;

use crate::auth::Credential;
use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::registry::{BlobStream, Fetched, PutOutcome, Registry};
use crate::tokens::{self, Scopes, TokenCache};

pub use crate::retry::RetryPolicy;

mod authorization;
mod blobs;
mod manifests;
mod tags;
mod transport;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Hosts (`host` or `host:port`) reached over plain HTTP. Loopback hosts always are.
    pub insecure_registries: Vec<String>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Credentials per registry host that replace the docker-config lookup.
    pub credentials: BTreeMap<String, Credential>,
    /// Registry hosts served by GitHub Packages besides `ghcr.io` (GitHub Enterprise Server's
    /// `containers.HOST`): images there are deleted through the GitHub Packages API.
    pub github_packages_hosts: Vec<String>,
    /// The GitHub REST API for those deletions (`GITHUB_API_URL`; default `https://api.github.com`).
    pub github_api_url: Option<String>,
    /// PEM files of extra root certificates trusted for every registry (`--ca-file`).
    pub ca_files: Vec<PathBuf>,
    /// Docker-style `certs.d` directories: `DIR/HOST[:PORT]/*.crt` roots and
    /// `client.cert`/`client.key` client certificates for that registry.
    pub certs_dirs: Vec<PathBuf>,
}

impl HttpOptions {
    /// Options from the environment: `RELKIT_INSECURE_REGISTRIES` and
    /// `RELKIT_GITHUB_PACKAGES_HOSTS` (comma or space separated), `GITHUB_API_URL`.
    pub fn from_env(env: &dyn Env) -> Self {
        let list = |name: &str| -> Vec<String> {
            env.var(name)
                .map(|v| v.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default()
        };
        Self {
            insecure_registries: list("RELKIT_INSECURE_REGISTRIES"),
            github_packages_hosts: list("RELKIT_GITHUB_PACKAGES_HOSTS"),
            github_api_url: env.var("GITHUB_API_URL").filter(|u| !u.is_empty()),
            ca_files: list("RELKIT_CA_FILES").into_iter().map(PathBuf::from).collect(),
            certs_dirs: match env.var("RELKIT_CERTS_DIRS") {
                Some(dirs) => dirs.split([',', ':']).filter(|d| !d.is_empty()).map(PathBuf::from).collect(),
                None => DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect(),
            },
            ..Self::default()
        }
    }

    /// True when `host` is a GitHub Packages container registry.
    pub fn is_github_packages(&self, host: &str) -> bool {
        host == "ghcr.io" || self.github_packages_hosts.iter().any(|h| h == host)
    }

    /// True when `host` may be reached over plain HTTP: loopback hosts (as docker allows; a
    /// notice says so unless the host is listed) and the listed ones. They are tried over plain
    /// HTTP first and switch to HTTPS when the server answers that it speaks TLS.
    pub fn is_insecure(&self, host: &str) -> bool {
        is_loopback(host) || self.is_listed_insecure(host)
    }

    /// True when `host` was marked insecure explicitly (`--insecure-registry`,
    /// `RELKIT_INSECURE_REGISTRIES`), with or without its port.
    pub fn is_listed_insecure(&self, host: &str) -> bool {
        let bare = host_without_port(host);
        self.insecure_registries.iter().any(|h| h == host || h == bare)
    }
}

/// True for `127.0.0.1`, `localhost` and `::1`, with or without a port.
fn is_loopback(host: &str) -> bool {
    matches!(host_without_port(host), "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

/// Loopback hosts already announced as reached over plain HTTP in this process.
static ANNOUNCED_PLAIN_LOOPBACK: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The notice for a loopback registry reached over plain HTTP without being listed as insecure.
fn plain_loopback_notice(host: &str) -> String {
    format!(
        "notice: {host} is reached over plain HTTP (loopback); pass --insecure-registry {host} or RELKIT_INSECURE_REGISTRIES to confirm"
    )
}

/// Where docker and podman keep per-registry certificates.
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// What a request needs to be allowed to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Access {
    Pull(String),
    Push(String),
    Delete(String),
    Mount { repo: String, from: String },
}

impl Access {
    fn repo(&self) -> &str {
        match self {
            Access::Pull(r) | Access::Push(r) | Access::Delete(r) | Access::Mount { repo: r, .. } => r,
        }
    }

    fn scopes(&self) -> Scopes {
        match self {
            Access::Pull(r) => tokens::scopes(r, &["pull"]),
            Access::Push(r) => tokens::scopes(r, &["pull", "push"]),
            Access::Delete(r) => tokens::scopes(r, &["pull", "push", "delete"]),
            Access::Mount { repo, from } => {
                let mut s = tokens::scopes(repo, &["pull", "push"]);
                s.extend(tokens::scopes(from, &["pull"]));
                s
            }
        }
    }
}

struct Request {
    method: Method,
    url: Url,
    access: Access,
    headers: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    /// The largest answer body read into memory.
    limit: usize,
}

/// The largest answer read into memory for manifests, tag and referrer lists, token and error
/// answers: distribution refuses manifests over 4 MiB, and a list page is far smaller.
pub const MAX_API_BODY: usize = 4 << 20;

/// The largest blob read whole into memory (image configs, SBOMs); layers are streamed.
pub const MAX_BLOB_READ: usize = 256 << 20;

struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the registry wants requests authorized, learned from its first 401 (requests go out
/// anonymously until then, as container runtimes do; an open registry never sends one).
#[derive(Debug, Clone)]
enum Challenge {
    /// HTTP basic auth with the registry credentials.
    Basic,
    /// A token from the realm, per access scope.
    Bearer { realm: Url, service: Option<String> },
}

/// Whether the registry serves the OCI 1.1 referrers API: unknown until first asked.
const REFERRERS_UNKNOWN: u8 = 0;
const REFERRERS_PRESENT: u8 = 1;
const REFERRERS_ABSENT: u8 = 2;

/// A registry reached over HTTP(S).
pub struct HttpRegistry {
    registry: String,
    /// The registry's URL over https; [`Self::url`] gives the scheme in use.
    base: Url,
    /// Plain HTTP in use (an insecure host that has not shown it speaks TLS).
    plain_http: AtomicBool,
    /// An insecure host: its URLs may change scheme once, from http to https.
    insecure: bool,
    /// A loopback host not listed as insecure: the first plain-HTTP answer is announced.
    unlisted_loopback: bool,
    client: reqwest::Client,
    explicit_credential: Option<Credential>,
    credential: OnceCell<Credential>,
    challenge: OnceCell<Challenge>,
    tokens: TokenCache,
    referrers_api: AtomicU8,
    retry: RetryPolicy,
    insecure_registries: Vec<String>,
    /// The GitHub API deleting images when the registry is GitHub Packages.
    github_api: Option<Url>,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("registry", &self.registry)
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl HttpRegistry {
    /// A client for `registry` (host as written; `docker.io` is served by `registry-1.docker.io`).
    /// Nothing is sent and no credential is read until the first request.
    pub fn new(registry: &str, options: &HttpOptions) -> Result<Self> {
        let endpoint = if registry == "docker.io" || registry == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let base = Url::parse(&format!("https://{endpoint}/"))
            .map_err(|e| Error::usage(format!("registry host `{registry}` is not valid: {e}")))?;
        let material = crate::tls::TlsMaterial::load(registry, &options.ca_files, &options.certs_dirs)?;
        let client = if material.is_empty() {
            crate::tls::shared_client()?
        } else {
            crate::tls::client_with(material)?
        };
        Ok(Self {
            registry: registry.to_string(),
            base,
            plain_http: AtomicBool::new(options.is_insecure(registry)),
            insecure: options.is_insecure(registry),
            unlisted_loopback: is_loopback(registry) && !options.is_listed_insecure(registry),
            client,
            explicit_credential: options.credentials.get(registry).cloned(),
            credential: OnceCell::new(),
            challenge: OnceCell::new(),
            tokens: TokenCache::default(),
            referrers_api: AtomicU8::new(REFERRERS_UNKNOWN),
            retry: options.retry,
            insecure_registries: options.insecure_registries.clone(),
            github_api: options
                .is_github_packages(registry)
                .then(|| {
                    let url = options.github_api_url.as_deref().unwrap_or("https://api.github.com");
                    Url::parse(&format!("{}/", url.trim_end_matches('/')))
                        .map_err(|e| Error::usage(format!("GITHUB_API_URL `{url}` is not a URL: {e}")))
                })
                .transpose()?,
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.join(path).expect("registry paths are valid URL paths");
        if self.plain_http.load(Ordering::Relaxed) {
            url.set_scheme("http").expect("https and http URLs convert");
        }
        url
    }

    /// A URL of this registry with the scheme in use now (an insecure registry found to speak
    /// TLS after the request was built); other URLs as they are.
    fn current(&self, url: &Url) -> Url {
        let mut url = url.clone();
        let scheme = if self.plain_http.load(Ordering::Relaxed) { "http" } else { "https" };
        if self.insecure
            && url.host_str() == self.base.host_str()
            && url.port() == self.base.port()
            && url.scheme() != scheme
        {
            let _ = url.set_scheme(scheme);
        }
        url
    }
}

impl HttpRegistry {
    /// Says once per run, on stderr, that an unlisted loopback registry answers over plain
    /// HTTP (docker allows it too; listing the host confirms it and silences the notice).
    fn announce_plain_loopback(&self) {
        if !self.unlisted_loopback || !self.plain_http.load(Ordering::Relaxed) {
            return;
        }
        let mut announced = ANNOUNCED_PLAIN_LOOPBACK.lock().unwrap_or_else(|e| e.into_inner());
        if announced.insert(self.registry.clone()) {
            eprintln!("{}", plain_loopback_notice(&self.registry));
        }
    }
}

/// A warning for people on stderr; under Actions also a `::warning::` annotation (on stderr
/// too, so stdout keeps only the report).
pub(crate) fn warn(message: &str) {
    eprintln!("warning: {message}");
    if relkit_core::actions::running_in_actions(&ProcessEnv) {
        eprintln!(
            "{}",
            relkit_core::actions::annotation(relkit_core::actions::Level::Warning, None, message)
        );
    }
}

/// Docker Hub's names.
fn is_docker_hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

impl Registry for HttpRegistry {
    fn name(&self) -> String {
        self.registry.clone()
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    fn plan_access(&self, repo: &str, actions: &[&str]) {
        self.tokens.plan(&tokens::scopes(repo, actions));
    }

    fn knows_referrers_api(&self) -> Option<bool> {
        match self.referrers_api.load(Ordering::Relaxed) {
            REFERRERS_PRESENT => Some(true),
            REFERRERS_ABSENT => Some(false),
            _ => None,
        }
    }

    fn check_can_delete(&self) -> Result<()> {
        if is_docker_hub(&self.registry) {
            return Err(Error::usage(
                "Docker Hub does not delete images through the registry API (it answers 405 UNSUPPORTED); delete tags on hub.docker.com (or with Hub's own API), then its garbage collection removes the images",
            ));
        }
        Ok(())
    }

    async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        self.manifest_head(repo, reference).await
    }

    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Option<Fetched>> {
        self.manifest_get(repo, reference).await
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> Result<PutOutcome> {
        self.manifest_put(repo, reference, manifest, if_match).await
    }

    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.manifest_delete(repo, digest).await
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        self.tag_delete(repo, tag).await
    }

    async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.blob_exists_at(repo, digest).await
    }

    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<Bytes> {
        self.read_blob(repo, digest).await
    }

    async fn put_blob(&self, repo: &str, digest: &Digest, data: Bytes) -> Result<()> {
        self.upload_blob(repo, digest, data).await
    }

    async fn open_blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream> {
        self.stream_blob(repo, digest).await
    }

    async fn put_blob_stream(&self, repo: &str, digest: &Digest, size: u64, data: BlobStream) -> Result<()> {
        self.upload_once(repo, digest, size, data).await
    }

    async fn mount_blob(&self, repo: &str, from_repo: &str, digest: &Digest) -> Result<bool> {
        self.mount_blob_from(repo, from_repo, digest).await
    }

    async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        self.tag_list(repo).await
    }

    async fn referrers(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<Descriptor>>> {
        self.referrer_list(repo, digest).await
    }
}

#[cfg(test)]
mod tests {
    use super::authorization::parse_bearer_challenge;
    use super::transport::{next_link, parse_retry_after};
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn bearer_challenges_with_commas_inside_quotes() {
        let p = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        assert!(parse_bearer_challenge(r#"Basic realm="Registry""#).is_none());
    }

    #[test]
    fn link_headers() {
        let cases = [
            (r#"</v2/a/tags/list?last=x&n=2>; rel="next""#, Some("/v2/a/tags/list?last=x&n=2")),
            (r#"<https://h/v2/a/tags/list?last=y>; rel=next"#, Some("https://h/v2/a/tags/list?last=y")),
            (r#"</x>; rel="prev""#, None),
            ("garbage", None),
        ];
        for (header, expected) in cases {
            assert_eq!(next_link(header), expected, "{header}");
        }
    }

    #[test]
    fn loopback_and_listed_hosts_are_plain_http() {
        let options = HttpOptions { insecure_registries: vec!["reg.lan".into()], ..Default::default() };
        for (host, insecure) in [
            ("127.0.0.1:5000", true),
            ("localhost", true),
            ("[::1]:5000", true),
            ("reg.lan:8443", true),
            ("ghcr.io", false),
            ("reg.lan.evil.com", false),
        ] {
            assert_eq!(options.is_insecure(host), insecure, "{host}");
        }
        for (host, listed) in [("127.0.0.1:5000", false), ("reg.lan:8443", true), ("reg.lan", true)] {
            assert_eq!(options.is_listed_insecure(host), listed, "{host}");
        }
        let loopback = |options: &HttpOptions| HttpRegistry::new("127.0.0.1:5000", options).unwrap();
        assert!(loopback(&HttpOptions::default()).unlisted_loopback);
        let listed = HttpOptions { insecure_registries: vec!["127.0.0.1".into()], ..Default::default() };
        assert!(!loopback(&listed).unlisted_loopback);
        assert!(!HttpRegistry::new("reg.lan", &options).unwrap().unlisted_loopback);
        assert_eq!(
            plain_loopback_notice("127.0.0.1:5000"),
            "notice: 127.0.0.1:5000 is reached over plain HTTP (loopback); pass --insecure-registry 127.0.0.1:5000 or RELKIT_INSECURE_REGISTRIES to confirm"
        );
    }

    #[test]
    fn credentials_go_only_to_the_registry_and_to_safe_realms() {
        let options = HttpOptions { insecure_registries: vec!["auth.lan".into()], ..Default::default() };
        let registry = HttpRegistry::new("registry.example:5000", &options).unwrap();
        for (url, own) in [
            ("https://registry.example:5000/v2/a/blobs/uploads/x", true),
            ("https://registry.example:5001/v2/a/blobs/uploads/x", false),
            ("http://registry.example:5000/v2/a/tags/list", false),
            ("https://storage.example/v2/a/blobs/uploads/x", false),
        ] {
            assert_eq!(registry.is_own_origin(&Url::parse(url).unwrap()), own, "{url}");
        }
        for (realm, allowed) in [
            ("https://auth.example/token", true),
            ("http://auth.example/token", false),
            ("http://auth.lan/token", true),
            ("http://auth.lan:8080/token", true),
            ("ftp://auth.lan/token", false),
        ] {
            assert_eq!(registry.may_send_credentials_to(&Url::parse(realm).unwrap()), allowed, "{realm}");
        }
    }

    #[test]
    fn docker_hub_prunes_are_refused_before_anything_is_deleted() {
        let hub = HttpRegistry::new("docker.io", &HttpOptions::default()).unwrap();
        let e = hub.check_can_delete().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().contains("hub.docker.com"), "{e}");
        assert!(HttpRegistry::new("ghcr.io", &HttpOptions::default()).unwrap().check_can_delete().is_ok());
    }

    #[test]
    fn insecure_registries_from_env() {
        let mut env = BTreeMap::new();
        env.insert("RELKIT_INSECURE_REGISTRIES".to_string(), "a.lan:5000, b.lan".to_string());
        let options = HttpOptions::from_env(&env);
        assert_eq!(options.insecure_registries, vec!["a.lan:5000", "b.lan"]);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    proptest! {
        #[test]
        fn challenge_parsing_never_panics(s in "\\PC{0,120}") {
            let _ = parse_bearer_challenge(&s);
            let _ = next_link(&s);
        }
    }
}
