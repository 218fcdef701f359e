//! A registry over HTTP(S), on the process's one reqwest client: the challenge from the first
//! 401 (basic, or bearer with a token per scope set), one retrying executor, and what
//! commands need from the protocol: response headers (`Retry-After`, `ETag`, `Link`,
//! `Docker-Content-Digest`), conditional PUTs, DELETE, mounts that accept a 202, and streamed
//! blobs.

use std::collections::{BTreeMap, HashMap};

use crate::tokens::{self, Scopes, Token, TokenCache};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use relkit_core::actions::{Env, ProcessEnv};
use relkit_core::{Error, Result};
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use tokio::sync::OnceCell;
use url::Url;

use crate::auth::{self, Credential};
use crate::digest::Digest;
use crate::manifest::{ACCEPTED_MANIFESTS, Descriptor, OCI_INDEX, RawManifest};
use crate::registry::{BlobStream, Fetched, PutOutcome, Registry, verify_stream};

use crate::retry::Attempt;
pub use crate::retry::RetryPolicy;

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

    /// True when `host` may be reached over plain HTTP: loopback hosts and the listed ones. They
    /// are tried over plain HTTP first and switch to HTTPS when the server answers that it
    /// speaks TLS.
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = host_without_port(host);
        matches!(bare, "127.0.0.1" | "localhost" | "[::1]" | "::1")
            || self.insecure_registries.iter().any(|h| h == host || h == bare)
    }
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

    /// True when `url` is the registry itself (same scheme, host and port): the only place its
    /// credentials and tokens go. An upload `Location` or a `Link` page elsewhere is reached
    /// anonymously.
    fn is_own_origin(&self, url: &Url) -> bool {
        let own = self.url("");
        let url = self.current(url);
        url.scheme() == own.scheme()
            && url.host_str() == own.host_str()
            && url.port_or_known_default() == own.port_or_known_default()
    }

    /// True when the registry's credentials may go to a token realm: over https, or over plain
    /// http only to a host marked insecure.
    fn may_send_credentials_to(&self, realm: &Url) -> bool {
        if realm.scheme() == "https" {
            return true;
        }
        let host = match (realm.host_str(), realm.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return false,
        };
        let options =
            HttpOptions { insecure_registries: self.insecure_registries.clone(), ..Default::default() };
        realm.scheme() == "http" && options.is_insecure(&host)
    }

    async fn credential(&self) -> Result<Credential> {
        if let Some(c) = &self.explicit_credential {
            return Ok(c.clone());
        }
        self.credential
            .get_or_try_init(|| async {
                let credential = auth::lookup(&self.registry, &ProcessEnv).await?;
                if let Some(secret) = credential.secret() {
                    mask(secret);
                }
                Ok::<_, Error>(credential)
            })
            .await
            .cloned()
    }

    fn parse_challenge(&self, header: &str) -> Result<Challenge> {
        let Some(params) = parse_bearer_challenge(header) else { return Ok(Challenge::Basic) };
        let realm = params.get("realm").ok_or_else(|| {
            Error::failed(format!("registry {} sent a bearer challenge without a realm", self.registry))
        })?;
        let realm = Url::parse(realm).map_err(|e| {
            Error::failed(format!("registry {} sent an invalid token realm `{realm}`: {e}", self.registry))
        })?;
        Ok(Challenge::Bearer { realm, service: params.get("service").cloned() })
    }

    /// The `Authorization` header for an access: none for an open registry, basic auth, or a
    /// bearer token scoped to exactly the repositories involved (cached per access).
    async fn authorization(&self, access: &Access) -> Result<Option<String>> {
        match self.challenge.get() {
            // Not learned yet: the first requests go out anonymously and a 401 teaches it.
            None => Ok(None),
            Some(challenge) => self.authorize(challenge, access, None).await,
        }
    }

    /// The `Authorization` for `access`: basic, or a cached bearer token that covers it. `failed`
    /// is the header the registry just refused: that token is not used again.
    async fn authorize(
        &self,
        challenge: &Challenge,
        access: &Access,
        failed: Option<&str>,
    ) -> Result<Option<String>> {
        match challenge {
            Challenge::Basic => Ok(self.credential().await?.basic_header()),
            Challenge::Bearer { realm, service } => {
                let (scopes, cell) = self.tokens.cell(&access.scopes(), failed);
                let token = cell
                    .get_or_try_init(|| self.fetch_token(realm, service.as_deref(), access.repo(), &scopes))
                    .await?;
                Ok(token.header.clone())
            }
        }
    }

    fn auth_error(&self, repo: &str, reason: &str) -> Error {
        let reason: String = reason.chars().take(200).collect();
        Error::failed(format!(
            "registry {} refused to authorize access to {repo} ({reason}); check `docker login {}` or GITHUB_TOKEN",
            self.registry, self.registry
        ))
    }

    /// A token from the realm for every scope of `access` (two for a cross-repository mount:
    /// push on the destination, pull on the source).
    async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        repo: &str,
        scopes: &Scopes,
    ) -> Result<Token> {
        let credential = self.credential().await?;
        if let Credential::Bearer(token) = &credential {
            return Ok(Token::new(Some(format!("Bearer {token}")), Some(u64::from(u32::MAX))));
        }
        let scopes = tokens::scope_params(scopes);
        if credential.secret().is_some() && !self.may_send_credentials_to(realm) {
            return Err(Error::failed(format!(
                "registry {} names the token server {} over plain http; credentials go there only for a host marked insecure (--insecure-registry {})",
                self.registry,
                realm.origin().ascii_serialization(),
                realm.host_str().unwrap_or_default()
            )));
        }
        let answer = match &credential {
            // An identity token (`az acr login`, docker's `identitytoken`) is an OAuth2 refresh
            // token, exchanged by POST as the docker CLI does.
            Credential::IdentityToken(refresh) => {
                let form = {
                    let mut form = url::form_urlencoded::Serializer::new(String::new());
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("client_id", "relkit")
                        .append_pair("refresh_token", refresh)
                        .append_pair("scope", &scopes.join(" "));
                    if let Some(service) = service {
                        form.append_pair("service", service);
                    }
                    form.finish()
                };
                self.send_with_retry(|| {
                    self.client
                        .post(realm.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(form.clone())
                })
                .await?
            }
            _ => {
                let mut url = realm.clone();
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in &scopes {
                        query.append_pair("scope", scope);
                    }
                }
                let basic = credential.basic_header();
                self.send_with_retry(|| {
                    let request = self.client.get(url.clone());
                    match &basic {
                        Some(b) => request.header("Authorization", b),
                        None => request,
                    }
                })
                .await?
            }
        };
        if !answer.status.is_success() {
            return Err(self.auth_error(repo, &format!("token server answered {}", answer.status)));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let token: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|_| self.auth_error(repo, "the token server answered something that is not JSON"))?;
        let value = token.token.or(token.access_token);
        if let Some(t) = &value {
            mask(t);
        }
        Ok(Token::new(value.map(|t| format!("Bearer {t}")), token.expires_in))
    }

    /// Sends a request built by `build` with retries on connection errors, 429 and 5xx.
    async fn send_with_retry<F>(&self, build: F) -> Result<Response>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        self.retry
            .run(|| async {
                let response = self.send_once(build()).await?;
                classify(response)
            })
            .await
    }

    async fn send_once(&self, request: reqwest::RequestBuilder) -> std::result::Result<Response, Attempt> {
        let response = request.send().await.map_err(|e| self.transport_attempt(&e))?;
        self.read(response, MAX_API_BODY).await
    }

    fn transport_attempt(&self, e: &reqwest::Error) -> Attempt {
        // reqwest errors name the URL, never headers, so no credential can leak here.
        Attempt { error: self.transport_error(e), retry: true, after: None }
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut detail = e.to_string();
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        Error::failed(format!("cannot reach registry {}: {detail}", self.registry))
    }

    /// Executes an authorized request with retries and reads the whole answer.
    async fn execute(&self, request: &Request) -> Result<Response> {
        self.retry
            .run(|| async {
                let response = self.attempt(request).await?;
                self.read(response, request.limit).await
            })
            .await
    }

    /// Executes an authorized request with retries, leaving the body unread (blob downloads).
    async fn execute_streaming(&self, request: &Request) -> Result<reqwest::Response> {
        self.retry.run(|| self.attempt(request)).await
    }

    /// One attempt. A 401 re-authorizes once with the challenge it carries (an expired token,
    /// or a registry whose `/v2/` is open but whose repositories are not).
    async fn attempt(&self, request: &Request) -> std::result::Result<reqwest::Response, Attempt> {
        let own = self.is_own_origin(&request.url);
        let authorization = self.authorization_for(request).await.map_err(Attempt::fatal)?;
        let mut response = self
            .build(request, authorization.as_deref())
            .send()
            .await
            .map_err(|e| self.transport_attempt(&e))?;
        if own && response.status() == StatusCode::BAD_REQUEST && self.speaks_tls().await {
            // An insecure registry that serves TLS: use https from now on and send again.
            self.plain_http.store(false, Ordering::Relaxed);
            return Err(Attempt {
                error: Error::failed(format!("registry {} serves TLS", self.registry)),
                retry: true,
                after: Some(Duration::ZERO),
            });
        }
        // Only the registry itself may teach the challenge: another host's 401 is its answer.
        if own && response.status() == StatusCode::UNAUTHORIZED {
            let header = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
            let challenge = self.parse_challenge(header.unwrap_or_default()).map_err(Attempt::fatal)?;
            let _ = self.challenge.set(challenge.clone());
            // A refused token is stale: fetch a new one (once, however many requests it failed).
            let fresh = self
                .authorize(&challenge, &request.access, authorization.as_deref())
                .await
                .map_err(Attempt::fatal)?;
            if fresh.is_some() && fresh != authorization {
                response = self
                    .build(request, fresh.as_deref())
                    .send()
                    .await
                    .map_err(|e| self.transport_attempt(&e))?;
            }
        }
        if retryable_status(response.status()) {
            let response = self.read(response, MAX_API_BODY).await?;
            let mut attempt = retry_attempt(&response);
            attempt.error = attempt.error.context(format!(
                "registry {} ({} {})",
                self.registry,
                request.method,
                request.url.path()
            ));
            return Err(attempt);
        }
        Ok(response)
    }

    /// True when a registry reached over plain HTTP answers, as TLS servers do to a plain HTTP
    /// request (Go's `net/http`, nginx), that it speaks TLS. Asked after a 400 only.
    async fn speaks_tls(&self) -> bool {
        if !self.plain_http.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(response) = self.client.get(self.url("v2/")).send().await else { return false };
        let Ok(answer) = self.read(response, MAX_API_BODY).await else { return false };
        let text = String::from_utf8_lossy(&answer.body);
        text.contains("HTTP request to an HTTPS server")
            || text.contains("plain HTTP request was sent to HTTPS port")
    }

    /// The `Authorization` header for a request: none when its URL is not the registry's own.
    async fn authorization_for(&self, request: &Request) -> Result<Option<String>> {
        if !self.is_own_origin(&request.url) {
            return Ok(None);
        }
        self.authorization(&request.access).await
    }

    fn build(&self, request: &Request, authorization: Option<&str>) -> reqwest::RequestBuilder {
        let mut builder = self.client.request(request.method.clone(), self.current(&request.url));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(a) = authorization.filter(|_| self.is_own_origin(&request.url)) {
            builder = builder.header("Authorization", a);
        }
        match &request.body {
            Some(body) => builder.header("Content-Length", body.len().to_string()).body(body.clone()),
            // Google Artifact Registry answers 411 to a body-less POST without a length.
            None if request.method == Method::POST => builder.header("Content-Length", "0"),
            None => builder,
        }
    }

    fn request(&self, method: Method, path: &str, access: Access) -> Request {
        Request { method, url: self.url(path), access, headers: Vec::new(), body: None, limit: MAX_API_BODY }
    }

    /// The one-line error for an unexpected answer.
    fn unexpected(&self, what: &str, request: &Request, response: &Response) -> Error {
        let kind = match response.status {
            StatusCode::UNAUTHORIZED => {
                return Error::failed(format!(
                    "registry {} answered 401 Unauthorized to {what}: log in with `docker login {}` (or set GITHUB_TOKEN for ghcr.io)",
                    self.registry, self.registry
                ));
            }
            StatusCode::FORBIDDEN => "403 Forbidden (the credentials lack permission)".to_string(),
            s => s.to_string(),
        };
        let detail = describe_body(response);
        Error::failed(format!(
            "registry {} answered {kind} to {what} ({} {}){detail}",
            self.registry,
            request.method,
            request.url.path()
        ))
    }

    fn manifest_path(repo: &str, reference: &str) -> String {
        format!("v2/{repo}/manifests/{reference}")
    }

    fn check_not_html(&self, what: &str, response: &Response) -> Result<()> {
        let content_type = response.header("content-type").unwrap_or_default();
        if content_type.starts_with("text/html") || response.body.starts_with(b"<") {
            return Err(Error::failed(format!(
                "registry {} answered an HTML page instead of {what}; check that {} is an OCI registry and the repository name is right",
                self.registry, self.registry
            )));
        }
        Ok(())
    }

    /// One monolithic upload: open a session, then PUT the content with its digest. A lost
    /// answer to a PUT that succeeded leaves the session gone, so a failure first checks
    /// whether the blob arrived.
    async fn upload_once(&self, repo: &str, digest: &Digest, size: u64, data: BlobStream) -> Result<()> {
        let start =
            self.request(Method::POST, &format!("v2/{repo}/blobs/uploads/"), Access::Push(repo.to_string()));
        let response = self.execute(&start).await?;
        if response.status != StatusCode::ACCEPTED {
            return Err(self.unexpected(&format!("an upload of blob {digest} to {repo}"), &start, &response));
        }
        let mut location = self.location(&response, &start)?;
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        let put = Request {
            method: Method::PUT,
            url: location,
            access: Access::Push(repo.to_string()),
            headers: vec![
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Length", size.to_string()),
            ],
            body: None,
            limit: MAX_API_BODY,
        };
        let authorization = self.authorization_for(&put).await?;
        let sent =
            self.build(&put, authorization.as_deref()).body(reqwest::Body::wrap_stream(data)).send().await;
        let outcome = match sent {
            Ok(r) => self.read(r, MAX_API_BODY).await.map_err(|a| a.error),
            Err(e) => Err(self.transport_error(&e)),
        };
        match outcome {
            Ok(r) if r.status == StatusCode::CREATED => Ok(()),
            outcome => {
                // A token that expired during a long upload: the stream cannot be replayed, so
                // the refused token is dropped and the caller retries with a new stream.
                if let (Ok(r), Some(challenge)) = (&outcome, self.challenge.get())
                    && r.status == StatusCode::UNAUTHORIZED
                {
                    self.authorize(challenge, &put.access, authorization.as_deref()).await?;
                }
                if self.blob_exists(repo, digest).await? {
                    return Ok(());
                }
                match outcome {
                    Ok(r) => Err(self.unexpected(&format!("an upload of blob {digest} to {repo}"), &put, &r)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Deletes a manifest through the GitHub Packages API (its registry answers DELETE with 405).
    async fn delete_package_version(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let base = self.github_api.clone().expect("only called for GitHub Packages");
        let credential = self.credential().await?;
        let token = credential.secret().ok_or_else(|| {
            Error::usage(format!(
                "deleting from {} goes through the GitHub Packages API, which needs a token: set GITHUB_TOKEN (with `packages: write`) or log in with docker/login-action",
                self.registry
            ))
        })?;
        let api =
            crate::github_packages::PackagesApi { client: &self.client, base, token, limit: MAX_API_BODY };
        api.delete_version(repo, digest)
            .await
            .map_err(|e| e.context(format!("delete {repo}@{digest} on {}", self.registry)))
    }

    fn location(&self, response: &Response, request: &Request) -> Result<Url> {
        let location = response.headers.get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Error::failed(format!(
                "registry {} sent no Location for {} {}",
                self.registry,
                request.method,
                request.url.path()
            ))
        })?;
        request.url.join(location).map_err(|e| {
            Error::failed(format!("registry {} sent an invalid Location `{location}`: {e}", self.registry))
        })
    }
}

/// Under Actions, asks the runner to mask a secret in every log line. The workflow command goes
/// to stderr (the runner reads commands there too): stdout carries the JSON report, which
/// `r=$(tag-policy …)` captures.
fn mask(secret: &str) {
    if !secret.is_empty() && relkit_core::actions::running_in_actions(&ProcessEnv) {
        eprintln!("{}", relkit_core::actions::add_mask(secret));
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

impl HttpRegistry {
    /// Reads a whole answer, at most `limit` bytes of body: a broken transfer is retried, a
    /// larger answer is refused (a registry never needs to send that much here).
    async fn read(
        &self,
        mut response: reqwest::Response,
        limit: usize,
    ) -> std::result::Result<Response, Attempt> {
        let status = response.status();
        let headers = response.headers().clone();
        let path = response.url().path().to_string();
        let too_large = || {
            Attempt::fatal(Error::failed(format!(
                "registry {} sent an answer larger than {limit} bytes for {path}; refusing to read it",
                self.registry
            )))
        };
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_attempt(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body: body.freeze() })
    }
}

/// 429 and 5xx (but 501) are worth retrying.
fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// The retryable attempt for a 429/5xx answer, honouring `Retry-After`.
fn retry_attempt(response: &Response) -> Attempt {
    let after = response.header(RETRY_AFTER.as_str()).and_then(parse_retry_after);
    let detail = describe_body(response);
    Attempt { error: Error::failed(format!("answered {}{detail}", response.status)), retry: true, after }
}

/// Turns 429/5xx answers into retryable attempts; everything else is returned as is.
fn classify(response: Response) -> std::result::Result<Response, Attempt> {
    if retryable_status(response.status) { Err(retry_attempt(&response)) } else { Ok(response) }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on registries and falls back to backoff).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A short description of an error body: the OCI error code and message, or the first words.
fn describe_body(response: &Response) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<OciError>,
    }
    #[derive(serde::Deserialize)]
    struct OciError {
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(&response.body)
        && let Some(first) = envelope.errors.first()
    {
        return format!(": {} {}", first.code, first.message);
    }
    let text = String::from_utf8_lossy(&response.body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else if text.starts_with('<') {
        ": an HTML page, not an OCI registry answer".to_string()
    } else {
        format!(": {}", text.chars().take(120).collect::<String>())
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas).
fn parse_bearer_challenge(header: &str) -> Option<HashMap<String, String>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            break;
        }
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some(params)
}

/// The `next` target of a `Link` header: `<url>; rel="next"`.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params.split(';').any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next")).then_some(target)
    })
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

    fn check_can_delete(&self) -> Result<()> {
        if is_docker_hub(&self.registry) {
            return Err(Error::usage(
                "Docker Hub does not delete images through the registry API (it answers 405 UNSUPPORTED); delete tags on hub.docker.com (or with Hub's own API), then its garbage collection removes the images",
            ));
        }
        Ok(())
    }

    async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        let mut request =
            self.request(Method::HEAD, &Self::manifest_path(repo, reference), Access::Pull(repo.to_string()));
        request.headers.push(("Accept", ACCEPTED_MANIFESTS.join(", ")));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let digest = response.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
                let media_type = response.header(CONTENT_TYPE.as_str()).unwrap_or_default().to_string();
                match digest {
                    Some(digest) if !media_type.starts_with("text/html") => {
                        let size =
                            response.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                        Ok(Some(Descriptor {
                            media_type,
                            digest,
                            size,
                            artifact_type: None,
                            annotations: BTreeMap::new(),
                            extra: BTreeMap::new(),
                        }))
                    }
                    _ => Ok(self.get_manifest(repo, reference).await?.map(|f| f.manifest.descriptor())),
                }
            }
            _ => Err(self.unexpected(&format!("a lookup of {repo}:{reference}"), &request, &response)),
        }
    }

    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Option<Fetched>> {
        let mut request =
            self.request(Method::GET, &Self::manifest_path(repo, reference), Access::Pull(repo.to_string()));
        request.headers.push(("Accept", ACCEPTED_MANIFESTS.join(", ")));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let what = format!("the manifest of {repo}:{reference}");
                self.check_not_html(&what, &response)?;
                let content_type = response.header(CONTENT_TYPE.as_str()).map(str::to_string);
                let manifest = RawManifest::new(response.body.clone(), content_type.as_deref())
                    .map_err(|e| e.context(format!("registry {} sent {what}", self.registry)))?;
                if let Ok(expected) = reference.parse::<Digest>()
                    && expected != manifest.digest
                {
                    return Err(Error::failed(format!(
                        "registry {} sent a manifest for {repo}@{expected} whose digest is {}",
                        self.registry, manifest.digest
                    )));
                }
                Ok(Some(Fetched { manifest, etag: response.header("etag").map(str::to_string) }))
            }
            _ => Err(self.unexpected(&format!("a read of {repo}:{reference}"), &request, &response)),
        }
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> Result<PutOutcome> {
        let mut request =
            self.request(Method::PUT, &Self::manifest_path(repo, reference), Access::Push(repo.to_string()));
        request.headers.push(("Content-Type", manifest.media_type.clone()));
        if let Some(etag) = if_match {
            request.headers.push(("If-Match", etag.to_string()));
        }
        request.body = Some(manifest.bytes.clone());
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED => {
                if let Some(stored) =
                    response.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
                    && stored != manifest.digest
                {
                    return Err(Error::failed(format!(
                        "registry {} stored {repo}:{reference} as {stored} instead of {}; it rewrote the manifest",
                        self.registry, manifest.digest
                    )));
                }
                Ok(PutOutcome::Stored)
            }
            StatusCode::PRECONDITION_FAILED => Ok(PutOutcome::PreconditionFailed),
            _ => Err(self.unexpected(&format!("a push of {repo}:{reference}"), &request, &response)),
        }
    }

    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let request = self.request(
            Method::DELETE,
            &Self::manifest_path(repo, digest.as_str()),
            Access::Delete(repo.to_string()),
        );
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::METHOD_NOT_ALLOWED if self.github_api.is_some() => {
                self.delete_package_version(repo, digest).await
            }
            StatusCode::METHOD_NOT_ALLOWED => Err(Error::failed(format!(
                "registry {} does not allow deleting manifests (405){}",
                self.registry,
                if is_docker_hub(&self.registry) {
                    "; Docker Hub deletes only through hub.docker.com"
                } else {
                    "; enable deletes (distribution: storage.delete.enabled: true; Harbor, Quay: the robot account needs delete permission)"
                }
            ))),
            _ => Err(self.unexpected(&format!("a delete of {repo}@{digest}"), &request, &response)),
        }
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        let request =
            self.request(Method::DELETE, &Self::manifest_path(repo, tag), Access::Delete(repo.to_string()));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => {
                Ok(true)
            }
            StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => Ok(false),
            _ => Err(self.unexpected(&format!("a delete of {repo}:{tag}"), &request, &response)),
        }
    }

    async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let request =
            self.request(Method::HEAD, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.unexpected(&format!("a lookup of blob {digest} in {repo}"), &request, &response)),
        }
    }

    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<Bytes> {
        let mut request =
            self.request(Method::GET, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        request.limit = MAX_BLOB_READ;
        let response = self.execute(&request).await?;
        if response.status != StatusCode::OK {
            return Err(self.unexpected(&format!("a read of blob {digest} in {repo}"), &request, &response));
        }
        if Digest::of(&response.body) != *digest {
            return Err(Error::failed(format!(
                "registry {} sent blob {digest} of {repo} with content that does not match its digest",
                self.registry
            )));
        }
        Ok(response.body)
    }

    async fn put_blob(&self, repo: &str, digest: &Digest, data: Bytes) -> Result<()> {
        self.retry
            .run_operation(2, || {
                let chunk: BlobStream = Box::pin(futures::stream::once(std::future::ready(Ok(data.clone()))));
                self.upload_once(repo, digest, data.len() as u64, chunk)
            })
            .await
    }

    async fn open_blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream> {
        use futures::TryStreamExt as _;
        let request =
            self.request(Method::GET, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        let response = self.execute_streaming(&request).await?;
        if response.status() != StatusCode::OK {
            let response = self.read(response, MAX_API_BODY).await.map_err(|a| a.error)?;
            return Err(self.unexpected(&format!("a read of blob {digest} in {repo}"), &request, &response));
        }
        let registry = self.registry.clone();
        let what = format!("blob {digest} of {repo}");
        let chunks = response
            .bytes_stream()
            .map_err(move |e| Error::failed(format!("registry {registry} broke off sending {what}: {e}")));
        Ok(verify_stream(digest.clone(), format!("registry {}", self.registry), Box::pin(chunks)))
    }

    async fn put_blob_stream(&self, repo: &str, digest: &Digest, size: u64, data: BlobStream) -> Result<()> {
        self.upload_once(repo, digest, size, data).await
    }

    async fn mount_blob(&self, repo: &str, from_repo: &str, digest: &Digest) -> Result<bool> {
        let mut request = self.request(
            Method::POST,
            &format!("v2/{repo}/blobs/uploads/"),
            Access::Mount { repo: repo.to_string(), from: from_repo.to_string() },
        );
        request.url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", from_repo);
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                // Mount declined; an upload session was opened instead. Close it, the caller uploads.
                if let Ok(location) = self.location(&response, &request) {
                    let cancel = Request {
                        method: Method::DELETE,
                        url: location,
                        access: Access::Push(repo.to_string()),
                        headers: Vec::new(),
                        body: None,
                        limit: MAX_API_BODY,
                    };
                    let _ = self.execute(&cancel).await;
                }
                Ok(false)
            }
            _ => Err(self.unexpected(
                &format!("a mount of blob {digest} from {from_repo} into {repo}"),
                &request,
                &response,
            )),
        }
    }

    async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut next = Some(self.url(&format!("v2/{repo}/tags/list?n=1000")));
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                break;
            }
            let request = Request {
                method: Method::GET,
                url,
                access: Access::Pull(repo.to_string()),
                headers: Vec::new(),
                body: None,
                limit: MAX_API_BODY,
            };
            let response = self.execute(&request).await?;
            match response.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(Vec::new()),
                _ => return Err(self.unexpected(&format!("a tag listing of {repo}"), &request, &response)),
            }
            self.check_not_html(&format!("the tag list of {repo}"), &response)?;
            let page: TagList = serde_json::from_slice(&response.body).map_err(|e| {
                Error::failed(format!(
                    "registry {} sent a tag list for {repo} that is not valid JSON: {e}",
                    self.registry
                ))
            })?;
            tags.extend(page.tags.unwrap_or_default());
            next = response.header("link").and_then(next_link).and_then(|l| request.url.join(l).ok());
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    async fn referrers(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<Descriptor>>> {
        if self.referrers_api.load(Ordering::Relaxed) == REFERRERS_ABSENT {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let mut list = Vec::new();
        let mut next = Some(self.url(&format!("v2/{repo}/referrers/{digest}")));
        let mut seen = std::collections::HashSet::new();
        // Every page: registries with many referrers page the list with `Link`, as tag lists.
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                break;
            }
            let mut request = self.request(Method::GET, "", Access::Pull(repo.to_string()));
            request.url = url;
            request.headers.push(("Accept", OCI_INDEX.to_string()));
            let response = self.execute(&request).await?;
            if response.status == StatusCode::NOT_FOUND && list.is_empty() && seen.len() == 1 {
                // A registry with the API answers an empty list; 404 means it has none.
                self.referrers_api.store(REFERRERS_ABSENT, Ordering::Relaxed);
                return Ok(None);
            }
            if response.status != StatusCode::OK
                || !response.header(CONTENT_TYPE.as_str()).unwrap_or_default().starts_with(OCI_INDEX)
            {
                return if seen.len() == 1 { Ok(None) } else { Ok(Some(list)) };
            }
            let index: Index = serde_json::from_slice(&response.body).map_err(|e| {
                Error::failed(format!(
                    "registry {} sent a referrers list for {repo}@{digest} that is not valid: {e}",
                    self.registry
                ))
            })?;
            list.extend(index.manifests);
            next = response.header("link").and_then(next_link).and_then(|l| request.url.join(l).ok());
        }
        Ok(Some(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
